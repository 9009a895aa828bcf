//! Paragraph embeddings from a sentence encoder.
//!
//! Takes paragraph texts and an [`Encoder`], gives one L2-normalised [`Embedding`] per text,
//! in input order, with the number of windows and tokens it used.
//!
//! Why it is built this way:
//! - **No silent truncation.** Tokenizers shipped with sentence-transformers models often
//!   carry a baked-in truncation (128 tokens for all-MiniLM-L6-v2); we switch it off and
//!   split long paragraphs into overlapping windows of the model's size. Each window is
//!   mean-pooled; the windows are combined by a token-weighted mean and renormalised, so a
//!   600-token operative paragraph is represented by all of its words, not its first 256.
//! - **Batches by token budget, never padded.** Windows are sorted by length and packed,
//!   rows of one length per batch, so that `rows x length <= batch_tokens`: memory per
//!   forward pass is bounded whatever the input, and a vector is bit-identical whatever it
//!   was batched with (padding changes the last bits of the attention sums; see
//!   `tests/embed_batching.rs`). On 500 real paragraphs, 2 CPU cores, this took 10.0 s
//!   against 13.3 s for padded mixed-length batches. Results are put back in input order.
//! - **One trait around the encoder** ([`Encoder`]) so that tests run on a tiny randomly
//!   initialised BERT ([`tiny`]) and other backends (another architecture, a fused CPU
//!   path) can stand in without touching the batching logic.
//!
//! Three implementations: [`BertEncoder`] (candle's `BertModel`, any device),
//! [`cpu::FastEncoder`] (a specialised CPU forward pass for BERT and MPNet, the default on
//! the CPU, with an optional int8 mode) and [`mpnet::MpnetEncoder`] (MPNet on candle, any
//! device);
//! `commands::load_encoder` picks one from the model's architecture and `--backend`.

pub mod cpu;
pub mod int8;
pub mod mpnet;
pub mod simd;

use crate::device::Device;
use crate::weights::{Architecture, ResolvedModel};
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use rayon::prelude::*;
use std::path::Path;
use tokenizers::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: String, message: String },
    #[error("tokenizing paragraph {index}: {message}")]
    Tokenize { index: usize, message: String },
    #[error("model config {path}: {message}")]
    Config { path: String, message: String },
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("model `{model}` has architecture {arch:?}, which this build cannot run")]
    Unsupported { model: String, arch: Architecture },
    #[error("{0}")]
    Invalid(String),
}

/// What the rest of the pipeline needs to know about an encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderInfo {
    /// Registry name (`minilm`) or a test name.
    pub name: String,
    pub dim: usize,
    /// Window size in tokens, including the special tokens.
    pub max_tokens: usize,
    pub cls_id: u32,
    pub sep_id: u32,
    pub pad_id: u32,
    /// Identifies the exact weights (see [`ResolvedModel::fingerprint`]); caches and trained
    /// heads are keyed by it.
    pub fingerprint: String,
}

/// A sentence encoder: a tokenizer plus a model that mean-pools token states.
pub trait Encoder: Send + Sync {
    fn info(&self) -> &EncoderInfo;

    /// Word-piece ids of `text` without special tokens and without any truncation.
    fn tokenize(&self, text: &str) -> Result<Vec<u32>, String>;

    /// For each row (a complete window including special tokens, at most `max_tokens`
    /// long), the mean of its last-layer token states over its own tokens (padding masked
    /// out), not normalised. Rows may differ in length; implementations pad as they need.
    fn pool(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// How to cut and batch.
#[derive(Debug, Clone, Copy)]
pub struct EmbedOptions {
    /// Most tokens (rows x length; rows in a batch share one length) per forward pass.
    pub batch_tokens: usize,
    /// Tokens shared by consecutive windows of a long paragraph.
    pub window_overlap: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            batch_tokens: 8192,
            window_overlap: 32,
        }
    }
}

/// One paragraph's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// L2-normalised, `dim` long.
    pub vector: Vec<f32>,
    /// Windows the paragraph was split into (1 when it fits the model).
    pub windows: usize,
    /// Word-piece tokens of the paragraph including one pair of special tokens, i.e. what
    /// the model would see without a window limit.
    pub tokens: usize,
}

/// Start/end (exclusive) of each window over `len` content tokens, where a window holds at
/// most `width` content tokens and consecutive windows share `overlap` of them. The last
/// window is aligned to the end so every window is full and no tail is left out.
pub fn plan_windows(len: usize, width: usize, overlap: usize) -> Vec<(usize, usize)> {
    assert!(width > 0, "window width must be positive");
    if len <= width {
        return vec![(0, len)];
    }
    let overlap = overlap.min(width - 1);
    let stride = width - overlap;
    let mut spans = Vec::new();
    let mut start = 0;
    loop {
        if start + width >= len {
            spans.push((len - width, len));
            break;
        }
        spans.push((start, start + width));
        start += stride;
    }
    spans
}

/// Embed `texts` in input order. See the module docs for windowing and batching.
pub fn embed_texts<S: AsRef<str> + Sync>(
    encoder: &dyn Encoder,
    texts: &[S],
    opts: &EmbedOptions,
) -> Result<Vec<Embedding>, EmbedError> {
    embed_texts_with_progress(encoder, texts, opts, &|_, _| {})
}

/// As [`embed_texts`], calling `progress(windows_done, windows_total)` after each forward pass.
pub fn embed_texts_with_progress<S: AsRef<str> + Sync>(
    encoder: &dyn Encoder,
    texts: &[S],
    opts: &EmbedOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Embedding>, EmbedError> {
    let info = encoder.info();
    if info.max_tokens < 3 {
        return Err(EmbedError::Invalid(format!(
            "model window of {} tokens leaves no room for text",
            info.max_tokens
        )));
    }
    let ids: Vec<Vec<u32>> = {
        let _span = tracing::debug_span!("tokenize", paragraphs = texts.len()).entered();
        texts
            .par_iter()
            .enumerate()
            .map(|(index, t)| {
                encoder
                    .tokenize(t.as_ref())
                    .map_err(|message| EmbedError::Tokenize { index, message })
            })
            .collect::<Result<_, _>>()?
    };

    // Every window as (paragraph index, full token row with special tokens).
    let width = info.max_tokens - 2;
    let mut windows: Vec<(usize, Vec<u32>)> = Vec::with_capacity(ids.len());
    for (p, content) in ids.iter().enumerate() {
        for (start, end) in plan_windows(content.len(), width, opts.window_overlap) {
            let mut row = Vec::with_capacity(end - start + 2);
            row.push(info.cls_id);
            row.extend_from_slice(&content[start..end]);
            row.push(info.sep_id);
            windows.push((p, row));
        }
    }

    // Longest first, ties by input position: a deterministic order. Batches hold rows of one
    // length only, so no row is ever padded: with padding, the attention sums over the padded
    // length change a vector's last bits depending on its batch-mates, and results (and the
    // head trained on them) would depend on how a run happened to batch. Measured on 500 real
    // paragraphs on 2 CPU cores this is also faster than padded batches (10.0 s vs 13.3 s).
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by(|&a, &b| windows[b].1.len().cmp(&windows[a].1.len()).then(a.cmp(&b)));

    let mut pooled: Vec<Option<Vec<f32>>> = vec![None; windows.len()];
    let mut done = 0;
    for batch in token_budget_batches(&order, |i| windows[i].1.len(), opts.batch_tokens) {
        let rows: Vec<&[u32]> = batch.iter().map(|&i| windows[i].1.as_slice()).collect();
        let _span = tracing::debug_span!(
            "forward",
            rows = rows.len(),
            padded = rows.first().map_or(0, |r| r.len())
        )
        .entered();
        let vectors = encoder.pool(&rows)?;
        if vectors.len() != rows.len() {
            return Err(EmbedError::Invalid(format!(
                "encoder returned {} vectors for {} rows",
                vectors.len(),
                rows.len()
            )));
        }
        for (&i, v) in batch.iter().zip(vectors) {
            pooled[i] = Some(v);
        }
        done += batch.len();
        progress(done, windows.len());
    }

    // Combine windows per paragraph: token-weighted mean of the pooled vectors, renormalised.
    let mut out: Vec<Embedding> = ids
        .iter()
        .map(|content| Embedding {
            vector: vec![0.0; info.dim],
            windows: 0,
            tokens: content.len() + 2,
        })
        .collect();
    let mut weight = vec![0f32; ids.len()];
    for ((p, row), v) in windows.iter().zip(pooled) {
        let v = v.expect("every window was assigned to exactly one batch");
        let w = row.len() as f32;
        for (acc, x) in out[*p].vector.iter_mut().zip(&v) {
            *acc += w * x;
        }
        weight[*p] += w;
        out[*p].windows += 1;
    }
    for (e, w) in out.iter_mut().zip(weight) {
        for x in e.vector.iter_mut() {
            *x /= w;
        }
        l2_normalize(&mut e.vector);
    }
    Ok(out)
}

/// Split `order` (already sorted longest first) into consecutive batches of rows of one
/// length whose `rows x length` stays within `budget` (a row longer than the budget goes
/// alone).
fn token_budget_batches(
    order: &[usize],
    len: impl Fn(usize) -> usize,
    budget: usize,
) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut padded = 0;
    for &i in order {
        if current.is_empty() {
            padded = len(i);
        } else if len(i) != padded || (current.len() + 1) * padded > budget {
            batches.push(std::mem::take(&mut current));
            padded = len(i);
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(f32::MIN_POSITIVE)
}

/// A BERT sentence encoder on candle: `BertModel` + attention-masked mean pooling, f32.
pub struct BertEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    info: EncoderInfo,
}

impl BertEncoder {
    /// Load a resolved (sha256-verified) model onto `device`. The safetensors file is
    /// memory-mapped, not read into a copy.
    pub fn load(model: &ResolvedModel, device: &Device) -> Result<Self, EmbedError> {
        require_architecture(model, Architecture::Bert)?;
        let config_path = model.path("config.json");
        let config: BertConfig = read_json(&config_path)?;
        let tokenizer = load_tokenizer(&model.path("tokenizer.json"))?;
        // SAFETY: the file was just sha256-verified and is not modified while mapped; a
        // concurrent writer is outside what any mmap-based loader can defend against.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[model.path("model.safetensors")],
                DType::F32,
                device,
            )?
        };
        let bert = BertModel::load(vb, &config)?;
        let info = EncoderInfo {
            name: model.spec.name.clone(),
            dim: model.spec.dim,
            max_tokens: model.spec.max_tokens.min(config.max_position_embeddings),
            cls_id: special_id(&tokenizer, "[CLS]")?,
            sep_id: special_id(&tokenizer, "[SEP]")?,
            pad_id: config.pad_token_id as u32,
            fingerprint: model.fingerprint(),
        };
        if config.hidden_size != info.dim {
            return Err(EmbedError::Config {
                path: config_path.display().to_string(),
                message: format!(
                    "hidden_size {} does not match the registry's dim {}",
                    config.hidden_size, info.dim
                ),
            });
        }
        Ok(BertEncoder {
            model: bert,
            tokenizer,
            device: device.clone(),
            info,
        })
    }

    /// Assemble from parts (used by [`tiny`] and by tests).
    pub fn from_parts(
        model: BertModel,
        tokenizer: Tokenizer,
        device: Device,
        info: EncoderInfo,
    ) -> Self {
        let mut tokenizer = tokenizer;
        disable_truncation_and_padding(&mut tokenizer);
        BertEncoder {
            model,
            tokenizer,
            device,
            info,
        }
    }
}

impl Encoder for BertEncoder {
    fn info(&self) -> &EncoderInfo {
        &self.info
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>, String> {
        plain_ids(&self.tokenizer, text)
    }

    fn pool(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, mask) = padded_batch(rows, self.info.pad_id, &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
        masked_mean(&hidden, &mask)
    }
}

/// Word-piece ids of `text` without special tokens (the tokenizer's truncation was removed
/// when it was loaded).
pub(crate) fn plain_ids(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, String> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| e.to_string())
}

/// `rows` padded with `pad_id` to the longest, as (rows, width) ids and a 0/1 f32 mask.
pub(crate) fn padded_batch(
    rows: &[&[u32]],
    pad_id: u32,
    device: &Device,
) -> Result<(Tensor, Tensor), EmbedError> {
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(rows.len() * width);
    let mut mask = Vec::with_capacity(rows.len() * width);
    for row in rows {
        ids.extend_from_slice(row);
        ids.extend(std::iter::repeat_n(pad_id, width - row.len()));
        mask.extend(std::iter::repeat_n(1f32, row.len()));
        mask.extend(std::iter::repeat_n(0f32, width - row.len()));
    }
    let shape = (rows.len(), width);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// Mean of `hidden` (rows, width, dim) over each row's real tokens (`mask`, rows x width):
/// sentence-transformers' mean pooling, before normalisation.
pub(crate) fn masked_mean(hidden: &Tensor, mask: &Tensor) -> Result<Vec<Vec<f32>>, EmbedError> {
    let _span = tracing::trace_span!("pool").entered();
    let mask = mask.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?;
    let mean = summed.broadcast_div(&counts)?;
    Ok(mean.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

/// Refuse a model of another architecture before reading any of its files.
fn require_architecture(model: &ResolvedModel, arch: Architecture) -> Result<(), EmbedError> {
    if model.spec.architecture == arch {
        Ok(())
    } else {
        Err(EmbedError::Unsupported {
            model: model.spec.name.clone(),
            arch: model.spec.architecture,
        })
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let err = |message: String| EmbedError::Config {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(e.to_string()))
}

/// Load a tokenizer.json and remove any truncation or padding it carries (the MiniLM file
/// fixes both at 128, which would silently cut every longer paragraph).
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| EmbedError::Tokenizer {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    disable_truncation_and_padding(&mut tokenizer);
    Ok(tokenizer)
}

fn disable_truncation_and_padding(tokenizer: &mut Tokenizer) {
    tokenizer.with_padding(None);
    // Only errors for invalid truncation parameters, and `None` has none.
    let _ = tokenizer.with_truncation(None);
}

fn special_id(tokenizer: &Tokenizer, token: &str) -> Result<u32, EmbedError> {
    tokenizer
        .token_to_id(token)
        .ok_or_else(|| EmbedError::Tokenizer {
            path: "tokenizer.json".into(),
            message: format!("no {token} token in the vocabulary"),
        })
}

/// A tiny, randomly initialised BERT with a small word-piece vocabulary, for fast tests of
/// pooling, windowing and batching. Its vectors mean nothing; its arithmetic is the real
/// `BertModel`'s.
pub mod tiny {
    use super::*;
    use std::collections::HashMap;

    pub const DIM: usize = 32;

    /// Words the tiny vocabulary knows; anything else becomes `[UNK]` or word pieces.
    const WORDS: &[&str] = &[
        "the",
        "security",
        "council",
        "calls",
        "upon",
        "member",
        "states",
        "to",
        "prevent",
        "trafficking",
        "in",
        "persons",
        "women",
        "and",
        "girls",
        "human",
        "rights",
        "terrorism",
        "peace",
        "of",
        "all",
        "victims",
        "crime",
        "law",
        "international",
        "resolution",
        "a",
        ",",
        ".",
        ";",
        "(",
        ")",
        "1",
        "2",
        "3",
        "recalling",
        "urges",
        "decides",
        "remain",
        "seized",
        "matter",
        "##s",
        "##ing",
        "##ed",
        "un",
        "##der",
    ];

    /// Deterministic pseudo-random values (SplitMix64), so every run builds the same model.
    fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    pub fn tokenizer() -> Tokenizer {
        let mut vocab = serde_json::Map::new();
        for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().chain(WORDS) {
            let id = vocab.len();
            vocab.entry(t.to_string()).or_insert(id.into());
        }
        // Built through the same tokenizer.json schema the real models ship, so the tiny
        // model exercises the same loading path.
        let spec = serde_json::json!({
            "version": "1.0",
            "truncation": {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0},
            "padding": null,
            "added_tokens": [],
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                           "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}
        });
        // The spec deliberately carries a truncation, like MiniLM's file does: the encoder
        // must remove it (`BertEncoder::from_parts`), and the tests check that it does.
        spec.to_string()
            .parse()
            .expect("static tokenizer spec is valid")
    }

    /// The tiny model's config, tensors and [`EncoderInfo`] (shared by both backends).
    pub fn parts(max_tokens: usize) -> (BertConfig, HashMap<String, Tensor>, EncoderInfo) {
        let vocab = tokenizer().get_vocab_size(true);
        let config = BertConfig {
            vocab_size: vocab,
            hidden_size: DIM,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            max_position_embeddings: max_tokens.max(8),
            ..BertConfig::default()
        };
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let mut seed = 1u64;
        let mut add = |name: String, shape: &[usize], kind: &str| {
            let n: usize = shape.iter().product();
            let data = match kind {
                "one" => vec![1.0; n],
                "zero" => vec![0.0; n],
                _ => values(seed, n, 0.2),
            };
            seed += 1;
            let t = Tensor::from_vec(data, shape, &Device::Cpu).expect("shape matches data");
            tensors.insert(name, t);
        };
        let h = DIM;
        add(
            "embeddings.word_embeddings.weight".into(),
            &[vocab, h],
            "rand",
        );
        add(
            "embeddings.position_embeddings.weight".into(),
            &[config.max_position_embeddings, h],
            "rand",
        );
        add(
            "embeddings.token_type_embeddings.weight".into(),
            &[2, h],
            "rand",
        );
        add("embeddings.LayerNorm.weight".into(), &[h], "one");
        add("embeddings.LayerNorm.bias".into(), &[h], "zero");
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            for m in ["query", "key", "value"] {
                add(format!("{p}.attention.self.{m}.weight"), &[h, h], "rand");
                add(format!("{p}.attention.self.{m}.bias"), &[h], "rand");
            }
            add(
                format!("{p}.attention.output.dense.weight"),
                &[h, h],
                "rand",
            );
            add(format!("{p}.attention.output.dense.bias"), &[h], "rand");
            add(
                format!("{p}.attention.output.LayerNorm.weight"),
                &[h],
                "one",
            );
            add(format!("{p}.attention.output.LayerNorm.bias"), &[h], "zero");
            add(format!("{p}.intermediate.dense.weight"), &[64, h], "rand");
            add(format!("{p}.intermediate.dense.bias"), &[64], "rand");
            add(format!("{p}.output.dense.weight"), &[h, 64], "rand");
            add(format!("{p}.output.dense.bias"), &[h], "rand");
            add(format!("{p}.output.LayerNorm.weight"), &[h], "one");
            add(format!("{p}.output.LayerNorm.bias"), &[h], "zero");
        }
        let info = EncoderInfo {
            name: "tiny-bert".into(),
            dim: DIM,
            max_tokens,
            cls_id: 2,
            sep_id: 3,
            pad_id: 0,
            fingerprint: "tiny-bert-seed-1".into(),
        };
        (config, tensors, info)
    }

    /// A 2-layer, 32-wide BERT whose window is `max_tokens` tokens, on candle.
    pub fn encoder(max_tokens: usize) -> BertEncoder {
        encoder_on(max_tokens, &Device::Cpu)
    }

    /// The same tiny BERT on `device` (the GPU tests compare it with the CPU).
    pub fn encoder_on(max_tokens: usize, device: &Device) -> BertEncoder {
        let (config, tensors, info) = parts(max_tokens);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = BertModel::load(vb, &config).expect("tiny BERT tensors match its config");
        BertEncoder::from_parts(model, tokenizer(), device.clone(), info)
    }

    /// The same tiny BERT (same weights) on the fast CPU path.
    pub fn fast_encoder(max_tokens: usize, precision: cpu::Precision) -> cpu::FastEncoder {
        let (config, tensors, mut info) = parts(max_tokens);
        let get = |name: &str| {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| EmbedError::Invalid(format!("tiny model has no tensor {name}")))
        };
        let model = cpu::FastBert::from_tensors(&config, &get, precision)
            .expect("tiny BERT tensors match its config");
        info.fingerprint = cpu::fingerprint(info.fingerprint, precision);
        cpu::FastEncoder::from_parts(model, tokenizer(), info)
    }
}

/// The GPU path against the CPU. Compiled only with `--features cuda`; there these tests
/// need a CUDA GPU and fail, saying so, without one.
#[cfg(all(test, feature = "cuda"))]
mod cuda_tests {
    use super::*;

    const TEXTS: [&str; 4] = [
        "The Security Council calls upon Member States to prevent trafficking.",
        "security",
        // Longer than the tiny models' 16-token window: exercises the windowed path.
        "The Security Council calls upon Member States to prevent trafficking and the \
         council calls upon the states to prevent the trafficking of the member states \
         and calls upon the council.",
        "Member States",
    ];

    fn agree(cpu: &dyn Encoder, gpu: &dyn Encoder) {
        // A small token budget forces several batches; one item per batch on the CPU side.
        let batched = EmbedOptions {
            batch_tokens: 40,
            window_overlap: 4,
        };
        let single = EmbedOptions {
            batch_tokens: 1,
            window_overlap: 4,
        };
        let a = embed_texts(cpu, &TEXTS, &single).unwrap();
        let b = embed_texts(gpu, &TEXTS, &batched).unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            let dot: f32 = x.vector.iter().zip(&y.vector).map(|(p, q)| p * q).sum();
            let diff = x
                .vector
                .iter()
                .zip(&y.vector)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            assert!(
                dot > 0.99999 && diff < 1e-4,
                "cosine {dot}, max diff {diff}"
            );
            assert_eq!((x.tokens, x.windows), (y.tokens, y.windows));
        }
    }

    #[test]
    fn cuda_bert_gives_the_cpu_vectors() {
        let cuda = crate::device::cuda_for_tests();
        agree(&tiny::encoder(16), &tiny::encoder_on(16, &cuda));
    }

    #[test]
    fn cuda_mpnet_gives_the_cpu_vectors() {
        let cuda = crate::device::cuda_for_tests();
        agree(
            &mpnet::tiny::encoder(16),
            &mpnet::tiny::encoder_on(16, &cuda),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_everything_with_overlap_and_full_last_window() {
        assert_eq!(plan_windows(0, 10, 3), vec![(0, 0)]);
        assert_eq!(plan_windows(10, 10, 3), vec![(0, 10)]);
        assert_eq!(plan_windows(11, 10, 3), vec![(0, 10), (1, 11)]);
        let w = plan_windows(25, 10, 3);
        assert_eq!(w, vec![(0, 10), (7, 17), (14, 24), (15, 25)]);
        for pair in w.windows(2) {
            assert!(pair[1].0 <= pair[0].1, "gap between windows {pair:?}");
        }
        // Overlap >= width must not loop forever.
        assert_eq!(plan_windows(5, 2, 9).last(), Some(&(3, 5)));
    }

    #[test]
    fn batches_respect_token_budget_and_keep_every_item_once() {
        let lens = [50usize, 40, 40, 10, 10, 10, 3];
        let order: Vec<usize> = (0..lens.len()).collect();
        let batches = token_budget_batches(&order, |i| lens[i], 100);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, order);
        for b in &batches {
            assert!(b.len() == 1 || b.len() * lens[b[0]] <= 100, "{b:?}");
        }
        // An item larger than the budget still gets a batch of its own.
        assert_eq!(token_budget_batches(&[0], |_| 500, 100), vec![vec![0]]);
    }

    /// Regression: padded batches made a paragraph's vector depend on its batch-mates (last
    /// bits of the attention sums), so a head trained from a cache filled by other runs did
    /// not reproduce byte for byte. Batches now never mix token lengths.
    #[test]
    fn padded_batches_broke_head_reproduction_so_batches_never_mix_lengths() {
        let lens = [50usize, 40, 40, 10, 10, 10, 3];
        let order: Vec<usize> = (0..lens.len()).collect();
        let batches = token_budget_batches(&order, |i| lens[i], 1000);
        assert_eq!(batches, vec![vec![0], vec![1, 2], vec![3, 4, 5], vec![6]]);
    }

    #[test]
    fn tiny_encoder_tokenizes_without_truncation() {
        let enc = tiny::encoder(16);
        let long = "the security council ".repeat(100);
        assert_eq!(enc.tokenize(&long).unwrap().len(), 300);
    }

    #[test]
    fn long_paragraph_is_windowed_and_recorded() {
        let enc = tiny::encoder(16);
        let texts = [
            "peace and security".to_string(),
            "human rights of all victims ".repeat(20),
        ];
        let out = embed_texts(
            &enc,
            &texts,
            &EmbedOptions {
                batch_tokens: 64,
                window_overlap: 4,
            },
        )
        .unwrap();
        assert_eq!(out[0].windows, 1);
        assert_eq!(out[0].tokens, 5);
        assert_eq!(out[1].tokens, 102);
        assert_eq!(out[1].windows, plan_windows(100, 14, 4).len());
        for e in &out {
            let norm: f32 = e.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }
    }
}
