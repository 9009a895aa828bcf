//! The sentence-transformers reference fixtures (`tests/fixtures/reference/`): the project's
//! own UN-style paragraphs and, per model, the Python vectors and token ids.

use frameshift::embed::{cosine, embed_texts, EmbedOptions, Encoder};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Reference {
    pub model_sha256: String,
    pub tokenizer_sha256: String,
    pub max_seq_length: usize,
    /// MPNet only: transformers' relative-position buckets from `buckets_from` on.
    #[serde(default)]
    pub buckets_from: i64,
    #[serde(default)]
    pub buckets: Vec<usize>,
    pub rows: Vec<Row>,
}

#[derive(Deserialize)]
pub struct Row {
    pub id: String,
    pub tokens: usize,
    pub ids: Vec<u32>,
    pub vector: Vec<f32>,
}

#[derive(Deserialize)]
pub struct Paragraph {
    pub id: String,
    pub text: String,
}

/// `file` (e.g. `minilm-st.json`) and the paragraphs it was computed from, row for row.
pub fn load(file: &str) -> (Reference, Vec<Paragraph>) {
    let dir = super::repo_root().join("tests/fixtures/reference");
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    let paragraphs: Vec<Paragraph> = std::fs::read_to_string(dir.join("paragraphs.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reference.rows.len(), paragraphs.len());
    for (r, p) in reference.rows.iter().zip(&paragraphs) {
        assert_eq!(r.id, p.id, "fixture files out of step");
    }
    (reference, paragraphs)
}

/// The encoder's ids, with its own special tokens around them, equal Python's for every
/// paragraph (no truncation on either side).
pub fn check_ids(encoder: &dyn Encoder, reference: &Reference, paragraphs: &[Paragraph]) {
    let (cls, sep) = (encoder.info().cls_id, encoder.info().sep_id);
    for (r, p) in reference.rows.iter().zip(paragraphs) {
        let mut ids = vec![cls];
        ids.extend(encoder.tokenize(&p.text).unwrap());
        ids.push(sep);
        assert_eq!(
            ids, r.ids,
            "{}: token ids differ from the Python tokenizer",
            r.id
        );
        assert_eq!(ids.len(), r.tokens);
    }
}

/// Every paragraph within the Python window reaches cosine >= 0.9999 (at least 20 of them);
/// longer ones are windowed on purpose, so they differ from the truncated Python vector but
/// stay close to it (the first window is the same text).
pub fn check_vectors(encoder: &dyn Encoder, reference: &Reference, paragraphs: &[Paragraph]) {
    let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
    let out = embed_texts(encoder, &texts, &EmbedOptions::default()).unwrap();
    let mut checked = 0;
    let mut worst = 1.0f32;
    for (r, e) in reference.rows.iter().zip(&out) {
        assert_eq!(e.tokens, r.tokens, "{}", r.id);
        let c = cosine(&e.vector, &r.vector);
        if r.tokens <= reference.max_seq_length {
            assert_eq!(e.windows, 1, "{}", r.id);
            worst = worst.min(c);
            assert!(c >= 0.9999, "{}: cosine {c} < 0.9999", r.id);
            checked += 1;
        } else {
            assert!(e.windows > 1, "{}", r.id);
            assert!(
                c > 0.7,
                "{}: windowed vector far from the truncated one ({c})",
                r.id
            );
        }
    }
    assert!(checked >= 20, "only {checked} paragraphs within the window");
    eprintln!(
        "{checked} paragraphs within {} tokens, worst cosine {worst:.7}",
        reference.max_seq_length
    );
}
