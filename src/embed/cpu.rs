//! The fast CPU encoder: a hand-built BERT forward pass over contiguous `f32` buffers.
//!
//! Takes the same verified safetensors file (or the same tensors, for the tiny test model)
//! as the candle [`super::BertEncoder`], gives a [`FastEncoder`] that implements
//! [`Encoder`] with the same pooled vectors (cosine >= 0.9999 against sentence-transformers;
//! the tests compare it with candle on the tiny model too). Candle stays the path for CUDA
//! and Metal; this one is the default on the CPU (`--backend auto`).
//!
//! Why it is faster than the generic path (measurements in `docs/performance.md`):
//! - **No padding.** The rows of a batch are packed end to end, so the linear layers run
//!   over exactly the real tokens, and attention runs per sequence at its own length.
//! - **Few, large matrix products.** Q, K and V come from one product with a fused
//!   `[384, 1152]` weight; weights are transposed once at load; products go through the
//!   `gemm` crate (AVX-512/AVX2 micro-kernels, parallel over the rayon pool).
//! - **Fused element-wise work.** The residual is accumulated by the product itself
//!   (`x += h W^T`), then bias + LayerNorm is one pass; bias + GELU is one pass; both use
//!   the vectorised kernels of [`super::simd`].
//! - **Buffers per batch, not per op.** Activations live in a few vectors sized once per
//!   `pool` call.
//! - **Optional int8** ([`Precision::Int8`]): linear layers in integers via
//!   [`super::int8`] (AVX-512 VNNI where available); attention, LayerNorm and GELU stay f32.
//!
//! Parallelism is one level: the matrix products and the per-sequence attention tasks use
//! the rayon pool, never inside each other. Every output element is reduced in a fixed order
//! that depends only on the shapes and the thread count, so results are bit-identical from
//! run to run.

use super::int8::QLinear;
use super::simd::{self, Level};
use super::{load_tokenizer, read_json, special_id, EmbedError, Encoder, EncoderInfo};
use crate::weights::{Architecture, ResolvedModel};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct};
use rayon::prelude::*;
use tokenizers::Tokenizer;

/// Arithmetic of the linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Per-channel int8 weights, per-row dynamic int8 activations.
    Int8,
}

/// A dense layer `y = x W^T + b`, stored for the chosen precision.
struct Dense {
    n: usize,
    k: usize,
    /// `W^T`, `[k, n]` row-major (empty for int8).
    w_t: Vec<f32>,
    bias: Vec<f32>,
    q: Option<QLinear>,
}

impl Dense {
    /// From a PyTorch-layout weight `[n, k]`.
    fn new(w: &[f32], bias: Vec<f32>, n: usize, k: usize, precision: Precision) -> Dense {
        assert_eq!(w.len(), n * k);
        assert_eq!(bias.len(), n);
        match precision {
            Precision::F32 => {
                let mut w_t = vec![0f32; n * k];
                for j in 0..n {
                    for c in 0..k {
                        w_t[c * n + j] = w[j * k + c];
                    }
                }
                Dense {
                    n,
                    k,
                    w_t,
                    bias,
                    q: None,
                }
            }
            Precision::Int8 => Dense {
                n,
                k,
                w_t: Vec::new(),
                bias,
                q: Some(QLinear::new(w, n, k, Level::detect())),
            },
        }
    }

    /// `out = x W^T` (or `out += x W^T` when `accumulate`), bias not applied.
    fn apply(&self, x: &[f32], out: &mut [f32], accumulate: bool, s: &mut Scratch) {
        let m = x.len() / self.k;
        debug_assert_eq!(out.len(), m * self.n);
        if let Some(q) = &self.q {
            debug_assert_eq!(q.n_out(), self.n);
            q.forward(x, out, accumulate, &mut s.quantized);
            return;
        }
        if m == 0 {
            return;
        }
        // SAFETY: `x` is `m x k`, `w_t` is `k x n` and `out` is `m x n`, all row-major and
        // contiguous (lengths checked by the callers' shapes and the assertions above); the
        // three buffers do not overlap (`out` is borrowed mutably, the others immutably).
        unsafe {
            gemm::gemm(
                m,
                self.n,
                self.k,
                out.as_mut_ptr(),
                1,
                self.n as isize,
                accumulate,
                x.as_ptr(),
                1,
                self.k as isize,
                self.w_t.as_ptr(),
                1,
                self.n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(s.threads),
            )
        }
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Q, K and V in one `[3h, h]` product.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    up: Dense,
    down: Dense,
    out_norm: Norm,
}

/// BERT weights laid out for the CPU forward pass.
pub struct FastBert {
    hidden: usize,
    heads: usize,
    inter: usize,
    eps: f32,
    vocab: usize,
    max_positions: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Token type 0's embedding (every window is a single segment).
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
    level: Level,
}

/// Buffers of one forward pass.
struct Scratch {
    threads: usize,
    quantized: Vec<u8>,
}

impl FastBert {
    /// Build from named tensors (safetensors names, with or without a `bert.` prefix).
    pub fn from_tensors(
        config: &BertConfig,
        get: &dyn Fn(&str) -> Result<Tensor, EmbedError>,
        precision: Precision,
    ) -> Result<FastBert, EmbedError> {
        if config.hidden_act != HiddenAct::Gelu {
            return Err(EmbedError::Invalid(format!(
                "the fast CPU encoder implements GELU (erf) only, not {:?}; use --backend candle",
                config.hidden_act
            )));
        }
        let h = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !h.is_multiple_of(heads) {
            return Err(EmbedError::Invalid(format!(
                "hidden size {h} is not a multiple of {heads} heads"
            )));
        }
        let inter = config.intermediate_size;
        let load = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EmbedError> {
            let t = get(name).or_else(|_| get(&format!("bert.{name}")))?;
            if t.dims() != shape {
                return Err(EmbedError::Invalid(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let norm = |prefix: &str| -> Result<Norm, EmbedError> {
            Ok(Norm {
                gamma: load(&format!("{prefix}.weight"), &[h])?,
                beta: load(&format!("{prefix}.bias"), &[h])?,
            })
        };
        let dense = |prefix: &str, n: usize, k: usize| -> Result<Dense, EmbedError> {
            let w = load(&format!("{prefix}.weight"), &[n, k])?;
            let b = load(&format!("{prefix}.bias"), &[n])?;
            Ok(Dense::new(&w, b, n, k, precision))
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let mut w = Vec::with_capacity(3 * h * h);
            let mut b = Vec::with_capacity(3 * h);
            for m in ["query", "key", "value"] {
                w.extend(load(&format!("{p}.attention.self.{m}.weight"), &[h, h])?);
                b.extend(load(&format!("{p}.attention.self.{m}.bias"), &[h])?);
            }
            layers.push(Layer {
                qkv: Dense::new(&w, b, 3 * h, h, precision),
                attn_out: dense(&format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up: dense(&format!("{p}.intermediate.dense"), inter, h)?,
                down: dense(&format!("{p}.output.dense"), h, inter)?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let token_types = load(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        Ok(FastBert {
            hidden: h,
            heads,
            inter,
            eps: config.layer_norm_eps as f32,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            word: load("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: load(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type: token_types[..h].to_vec(),
            emb_norm: norm("embeddings.LayerNorm")?,
            layers,
            level: Level::detect(),
        })
    }

    /// Masked mean of the last hidden states of each row (see [`Encoder::pool`]).
    pub fn pool(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let h = self.hidden;
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0usize);
        for row in rows {
            if row.is_empty() || row.len() > self.max_positions {
                return Err(EmbedError::Invalid(format!(
                    "row of {} tokens; the model takes 1 to {}",
                    row.len(),
                    self.max_positions
                )));
            }
            if let Some(id) = row.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(EmbedError::Invalid(format!(
                    "token id {id} outside the vocabulary of {}",
                    self.vocab
                )));
            }
            offsets.push(offsets.last().copied().unwrap_or(0) + row.len());
        }
        let t = offsets.last().copied().unwrap_or(0);
        let mut s = Scratch {
            threads: rayon::current_num_threads(),
            quantized: Vec::new(),
        };
        let mut x = vec![0f32; t * h];
        let mut qkv = vec![0f32; t * 3 * h];
        let mut ctx = vec![0f32; t * h];
        let mut ffn = vec![0f32; t * self.inter];

        {
            let _span = tracing::trace_span!("embeddings", tokens = t).entered();
            for (row, &o) in rows.iter().zip(&offsets) {
                for (p, &id) in row.iter().enumerate() {
                    let dst = &mut x[(o + p) * h..(o + p + 1) * h];
                    let w = &self.word[id as usize * h..(id as usize + 1) * h];
                    let pos = &self.position[p * h..(p + 1) * h];
                    for i in 0..h {
                        dst[i] = w[i] + pos[i] + self.token_type[i];
                    }
                }
            }
            let zero = vec![0f32; h];
            self.layer_norm(&mut x, &zero, &self.emb_norm);
        }

        for (l, layer) in self.layers.iter().enumerate() {
            let _layer = tracing::trace_span!("layer", l).entered();
            {
                let _span = tracing::trace_span!("attention", tokens = t).entered();
                {
                    let _span = tracing::trace_span!("qkv").entered();
                    layer.qkv.apply(&x, &mut qkv, false, &mut s);
                    add_bias(&mut qkv, &layer.qkv.bias, s.threads);
                }
                {
                    let _span = tracing::trace_span!("softmax_attend").entered();
                    self.attention(&qkv, &mut ctx, &offsets);
                }
                // Residual: the product accumulates into `x`, then bias + LayerNorm.
                let _span = tracing::trace_span!("attn_out_norm").entered();
                layer.attn_out.apply(&ctx, &mut x, true, &mut s);
                self.layer_norm(&mut x, &layer.attn_out.bias, &layer.attn_norm);
            }
            {
                let _span = tracing::trace_span!("ffn", tokens = t).entered();
                {
                    let _span = tracing::trace_span!("up").entered();
                    layer.up.apply(&x, &mut ffn, false, &mut s);
                }
                {
                    let _span = tracing::trace_span!("bias_gelu").entered();
                    let level = self.level;
                    let bias = &layer.up.bias;
                    ffn.par_chunks_mut(self.inter * 64)
                        .for_each(|c| simd::bias_gelu(level, c, bias));
                }
                let _span = tracing::trace_span!("down_norm").entered();
                layer.down.apply(&ffn, &mut x, true, &mut s);
                self.layer_norm(&mut x, &layer.down.bias, &layer.out_norm);
            }
        }

        let _span = tracing::trace_span!("pool", rows = rows.len()).entered();
        Ok(offsets
            .windows(2)
            .map(|w| {
                let mut mean = vec![0f32; h];
                for tok in x[w[0] * h..w[1] * h].chunks_exact(h) {
                    for (m, v) in mean.iter_mut().zip(tok) {
                        *m += v;
                    }
                }
                let n = (w[1] - w[0]) as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                mean
            })
            .collect())
    }

    /// Bias + LayerNorm over every token row of `x`, in parallel chunks of rows.
    fn layer_norm(&self, x: &mut [f32], bias: &[f32], norm: &Norm) {
        let (level, eps) = (self.level, self.eps);
        x.par_chunks_mut(self.hidden * 64)
            .for_each(|c| simd::bias_layer_norm(level, c, bias, &norm.gamma, &norm.beta, eps));
    }

    /// Scaled dot-product attention of every sequence at its own length, all heads;
    /// `qkv` rows are `[q | k | v]`, `ctx` rows receive the heads side by side.
    fn attention(&self, qkv: &[f32], ctx: &mut [f32], offsets: &[usize]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let level = self.level;
        // Split `ctx` into one slice per sequence so tasks write disjoint memory.
        let mut parts: Vec<(usize, &mut [f32])> = Vec::with_capacity(offsets.len());
        let mut rest = ctx;
        for w in offsets.windows(2) {
            let (head, tail) = rest.split_at_mut((w[1] - w[0]) * h);
            parts.push((w[0], head));
            rest = tail;
        }
        parts
            .into_par_iter()
            .for_each_init(Vec::new, |scores, (o, out)| {
                let len = out.len() / h;
                scores.resize(len * len, 0f32);
                let q = &qkv[o * 3 * h..(o + len) * 3 * h];
                for head in 0..self.heads {
                    let c = head * d;
                    // SAFETY: `q` holds `len` rows of `3h` floats; Q, K and V of this head
                    // start at columns `c`, `h + c`, `2h + c` and span `d` columns, so every
                    // index the strides reach is inside `q`; `scores` is `len x len`; `out` is
                    // `len x h` and the head writes columns `c..c + d`. Destinations do not
                    // overlap the sources.
                    unsafe {
                        gemm::gemm(
                            len,
                            len,
                            d,
                            scores.as_mut_ptr(),
                            1,
                            len as isize,
                            false,
                            q.as_ptr().add(c),
                            1,
                            3 * h as isize,
                            q.as_ptr().add(h + c),
                            3 * h as isize,
                            1,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                    simd::softmax_rows(level, scores, len, scale);
                    // SAFETY: see above.
                    unsafe {
                        gemm::gemm(
                            len,
                            d,
                            len,
                            out.as_mut_ptr().add(c),
                            1,
                            h as isize,
                            false,
                            scores.as_ptr(),
                            1,
                            len as isize,
                            q.as_ptr().add(2 * h + c),
                            1,
                            3 * h as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            });
    }
}

fn add_bias(x: &mut [f32], bias: &[f32], threads: usize) {
    let n = bias.len();
    let chunk = (x.len() / n).div_ceil(threads.max(1)).max(1) * n;
    x.par_chunks_mut(chunk).for_each(|c| {
        for row in c.chunks_exact_mut(n) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    });
}

/// [`Encoder`] over [`FastBert`] with the model's tokenizer.
pub struct FastEncoder {
    model: FastBert,
    tokenizer: Tokenizer,
    info: EncoderInfo,
}

impl FastEncoder {
    /// Load a resolved (sha256-verified) model. The safetensors file is memory-mapped and
    /// each tensor copied once into the layout above.
    pub fn load(model: &ResolvedModel, precision: Precision) -> Result<Self, EmbedError> {
        super::require_architecture(model, Architecture::Bert)?;
        let config_path = model.path("config.json");
        let config: BertConfig = read_json(&config_path)?;
        let tokenizer = load_tokenizer(&model.path("tokenizer.json"))?;
        // SAFETY: the file was just sha256-verified and is not modified while mapped (the
        // same contract as `BertEncoder::load`); the map is dropped once the tensors are
        // copied out.
        let st = unsafe {
            candle_core::safetensors::MmapedSafetensors::new(model.path("model.safetensors"))?
        };
        let get = |name: &str| -> Result<Tensor, EmbedError> { Ok(st.load(name, &Device::Cpu)?) };
        let bert = FastBert::from_tensors(&config, &get, precision)?;
        if config.hidden_size != model.spec.dim {
            return Err(EmbedError::Config {
                path: config_path.display().to_string(),
                message: format!(
                    "hidden_size {} does not match the registry's dim {}",
                    config.hidden_size, model.spec.dim
                ),
            });
        }
        let info = EncoderInfo {
            name: model.spec.name.clone(),
            dim: model.spec.dim,
            max_tokens: model.spec.max_tokens.min(config.max_position_embeddings),
            cls_id: special_id(&tokenizer, "[CLS]")?,
            sep_id: special_id(&tokenizer, "[SEP]")?,
            pad_id: config.pad_token_id as u32,
            fingerprint: fingerprint(model.fingerprint(), precision),
        };
        Ok(FastEncoder {
            model: bert,
            tokenizer,
            info,
        })
    }

    /// Assemble from parts (used by [`super::tiny`]).
    pub fn from_parts(model: FastBert, tokenizer: Tokenizer, info: EncoderInfo) -> Self {
        let mut tokenizer = tokenizer;
        super::disable_truncation_and_padding(&mut tokenizer);
        FastEncoder {
            model,
            tokenizer,
            info,
        }
    }
}

/// fp32 vectors match the candle path to ~1e-7, so they share its fingerprint (a trained
/// head accepts both; the cache keeps them apart by backend name); int8 vectors differ
/// more and must not be mixed with them. The marker is a prefix because the embedding
/// cache names its directories by the fingerprint's first 32 characters. A head trained on
/// fp32 vectors of the same weights accepts int8 ones too (see [`weights_fingerprint`]).
pub fn fingerprint(base: String, precision: Precision) -> String {
    match precision {
        Precision::F32 => base,
        Precision::Int8 => format!("int8-{base}"),
    }
}

/// The fingerprint of the weights alone, whatever precision runs them: what a trained head
/// is bound to.
pub fn weights_fingerprint(fingerprint: &str) -> &str {
    fingerprint.strip_prefix("int8-").unwrap_or(fingerprint)
}

impl Encoder for FastEncoder {
    fn info(&self) -> &EncoderInfo {
        &self.info
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>, String> {
        super::plain_ids(&self.tokenizer, text)
    }

    fn pool(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.model.pool(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{cosine, tiny};
    use super::*;

    #[test]
    fn fast_path_matches_candle_on_the_tiny_model() {
        let candle = tiny::encoder(24);
        let fast = tiny::fast_encoder(24, Precision::F32);
        assert_eq!(candle.info().fingerprint, fast.info().fingerprint);
        let texts = [
            "the security council",
            "calls upon member states to prevent trafficking in persons , women and girls",
            "human rights of all victims of terrorism and crime under international law",
        ];
        let rows: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut r = vec![2];
                r.extend(candle.tokenize(t).unwrap());
                r.push(3);
                r
            })
            .collect();
        let refs: Vec<&[u32]> = rows.iter().map(|r| r.as_slice()).collect();
        // Candle pads the batch; the fast path packs it: the pooled vectors must agree.
        let want = candle.pool(&refs).unwrap();
        let got = fast.pool(&refs).unwrap();
        for (w, g) in want.iter().zip(&got) {
            let c = cosine(w, g);
            assert!(c >= 0.99999, "cosine {c}");
            for (a, b) in w.iter().zip(g) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        let int8 = tiny::fast_encoder(24, Precision::Int8);
        assert!(int8.info().fingerprint.starts_with("int8-"));
        for (w, g) in want.iter().zip(&int8.pool(&refs).unwrap()) {
            assert!(cosine(w, g) >= 0.99, "int8 cosine {}", cosine(w, g));
        }
    }

    /// The fallback kernels (what aarch64 and pre-AVX2 x86 run) give the same vectors as
    /// the ones this machine picks: f32 up to rounding, int8 exactly in its integer part.
    #[test]
    fn portable_kernels_agree_with_detected_ones() {
        let tok = tiny::tokenizer();
        let texts = [
            "the security council",
            "human rights of all victims , women and girls",
        ];
        let rows: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut r = vec![2];
                r.extend(tok.encode(*t, false).unwrap().get_ids());
                r.push(3);
                r
            })
            .collect();
        let refs: Vec<&[u32]> = rows.iter().map(|r| r.as_slice()).collect();
        for precision in [Precision::F32, Precision::Int8] {
            let detected = tiny::fast_encoder(24, precision);
            let mut portable = tiny::fast_encoder(24, precision);
            portable.model.level = Level::Portable;
            for layer in portable.model.layers.iter_mut() {
                for dense in [
                    &mut layer.qkv,
                    &mut layer.attn_out,
                    &mut layer.up,
                    &mut layer.down,
                ] {
                    if let Some(q) = dense.q.as_mut() {
                        q.force_portable();
                    }
                }
            }
            let a = detected.pool(&refs).unwrap();
            let b = portable.pool(&refs).unwrap();
            for (x, y) in a.iter().zip(&b) {
                let c = cosine(x, y);
                assert!(
                    c >= 0.99999,
                    "{precision:?}: portable vs detected cosine {c}"
                );
            }
        }
    }

    #[test]
    fn bad_rows_are_errors_not_panics() {
        let fast = tiny::fast_encoder(24, Precision::F32);
        assert!(fast.pool(&[&[]]).is_err());
        assert!(fast.pool(&[&[2, 99_999, 3]]).is_err());
        assert!(fast.pool(&[&[2; 25]]).is_err());
        assert!(fast.pool(&[]).unwrap().is_empty());
    }
}
