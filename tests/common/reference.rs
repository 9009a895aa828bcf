//! The sentence-transformers reference fixtures (`tests/fixtures/reference/`): the project's
//! own UN-style paragraphs and, per model, the Python vectors and token ids.

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
