//! Batched embedding equals one-at-a-time embedding bit for bit, and order survives
//! shuffling, for the tiny random BERT (fast, always runs) and the real MiniLM (needs fetched
//! weights). Bit equality, not closeness, because the trained head must reproduce byte for
//! byte whichever way earlier runs happened to batch the cached vectors.

mod common;

use frameshift::embed::cpu::Precision;
use frameshift::embed::{cosine, embed_texts, tiny, EmbedOptions, Encoder};

/// Mixed lengths: short, medium, and long enough to need several windows.
fn mixed_texts() -> Vec<String> {
    let words = [
        "the security council",
        "calls upon member states to prevent trafficking in persons",
        "women and girls",
        "human rights of all victims",
        "terrorism",
        "international law",
        "decides to remain seized of the matter",
    ];
    (0..24)
        .map(|i| {
            let reps = [1, 3, 9, 27, 2, 40][i % 6];
            (0..reps)
                .map(|r| words[(i + r) % words.len()])
                .collect::<Vec<_>>()
                .join(" , ")
        })
        .chain(
            // Same token length, different words: these share a batch, so the test covers
            // multi-row batches as well as single rows.
            ["women", "girls", "states", "children", "victims"]
                .iter()
                .map(|w| format!("the council urges {w} to act now")),
        )
        .collect()
}

/// A fixed permutation (no RNG dependency): stride through the indices.
fn shuffled<T: Clone>(items: &[T]) -> (Vec<T>, Vec<usize>) {
    let n = items.len();
    let perm: Vec<usize> = (0..n).map(|i| (i * 7 + 3) % n).collect();
    let mut seen = perm.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "stride must be coprime with n");
    (perm.iter().map(|&i| items[i].clone()).collect(), perm)
}

fn check_batch_invariance(encoder: &dyn Encoder, texts: &[String], window_forced: bool) {
    let big = EmbedOptions {
        batch_tokens: 1 << 16,
        window_overlap: 8,
    };
    let single = EmbedOptions {
        batch_tokens: 1,
        window_overlap: 8,
    };
    let batched = embed_texts(encoder, texts, &big).unwrap();
    let one_by_one = embed_texts(encoder, texts, &single).unwrap();
    assert_eq!(batched.len(), texts.len());
    if window_forced {
        assert!(
            batched.iter().any(|e| e.windows > 1),
            "test texts must include windowed paragraphs"
        );
    }
    for (i, (a, b)) in batched.iter().zip(&one_by_one).enumerate() {
        assert_eq!(a.vector, b.vector, "paragraph {i}: batched vs single");
        assert_eq!(a.windows, b.windows);
        assert_eq!(a.tokens, b.tokens);
    }
    // Also each text embedded entirely on its own (a call per text).
    for (i, t) in texts.iter().enumerate().step_by(5) {
        let alone = embed_texts(encoder, std::slice::from_ref(t), &big).unwrap();
        assert_eq!(
            alone[0].vector, batched[i].vector,
            "paragraph {i}: alone vs batched"
        );
    }
    // Shuffled input comes back in the shuffled order.
    let (shuffled_texts, perm) = shuffled(texts);
    let shuffled_out = embed_texts(encoder, &shuffled_texts, &big).unwrap();
    for (pos, &orig) in perm.iter().enumerate() {
        assert_eq!(
            shuffled_out[pos].vector, batched[orig].vector,
            "shuffled position {pos} (orig {orig})"
        );
    }
}

/// The tiny models on every backend that packs its batches: candle BERT, fast f32 and
/// int8 for BERT and for MPNet.
fn tiny_backends() -> Vec<(&'static str, Box<dyn Encoder>)> {
    use frameshift::embed::mpnet::tiny as tiny_mpnet;
    vec![
        ("candle", Box::new(tiny::encoder(24))),
        ("fast", Box::new(tiny::fast_encoder(24, Precision::F32))),
        (
            "fast-int8",
            Box::new(tiny::fast_encoder(24, Precision::Int8)),
        ),
        (
            "fast mpnet",
            Box::new(tiny_mpnet::fast_encoder(24, Precision::F32)),
        ),
        (
            "fast-int8 mpnet",
            Box::new(tiny_mpnet::fast_encoder(24, Precision::Int8)),
        ),
    ]
}

#[test]
fn tiny_bert_batched_equals_single_and_preserves_order() {
    for (name, encoder) in tiny_backends() {
        eprintln!("backend {name}");
        check_batch_invariance(encoder.as_ref(), &mixed_texts(), true);
    }
}

#[test]
fn fast_path_is_deterministic() {
    let texts = mixed_texts();
    for precision in [Precision::F32, Precision::Int8] {
        let encoder = tiny::fast_encoder(24, precision);
        let a = embed_texts(&encoder, &texts, &EmbedOptions::default()).unwrap();
        let b = embed_texts(&encoder, &texts, &EmbedOptions::default()).unwrap();
        assert_eq!(
            a, b,
            "{precision:?}: same input must give bit-identical vectors"
        );
    }
}

#[test]
fn tiny_bert_distinct_texts_give_distinct_vectors() {
    // Guards the test above against a degenerate encoder that returns one constant vector.
    let encoder = tiny::encoder(24);
    let out = embed_texts(&encoder, &mixed_texts()[..3], &EmbedOptions::default()).unwrap();
    assert!(cosine(&out[0].vector, &out[1].vector) < 0.999);
}

#[test]
fn real_minilm_batched_equals_single_and_preserves_order() {
    let mut texts = mixed_texts();
    // Real-model window is 256: add one paragraph long enough to be split.
    texts.push(
        "the security council calls upon member states to prevent trafficking in persons ; "
            .repeat(30),
    );
    let mut backends = common::minilm_backends();
    backends.push(("fast-int8", Box::new(common::minilm_fast(Precision::Int8))));
    for (name, encoder) in backends {
        eprintln!("backend {name}");
        check_batch_invariance(encoder.as_ref(), &texts, true);
    }
}
