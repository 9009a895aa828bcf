//! The fast CPU encoder: a hand-built BERT or MPNet forward pass over contiguous `f32`
//! buffers.
//!
//! Takes the same verified safetensors file (or the same tensors, for the tiny test models)
//! as the candle [`super::BertEncoder`] or [`super::mpnet::MpnetEncoder`], gives a
//! [`FastEncoder`] that implements [`Encoder`] with the same pooled vectors (cosine >= 0.9999
//! against sentence-transformers; the tests compare it with candle on the tiny models too).
//! Candle stays the path for CUDA and Metal; this one is the default on the CPU
//! (`--backend auto`).
//!
//! MPNet is BERT's layer stack with three differences, each a field here rather than a
//! second forward pass (see [`super::mpnet`] for the reference followed): positions start
//! after the padding index ([`FastBert::position_offset`]), there are no token types (a zero
//! row), and one relative-position bias table is added to every layer's attention scores
//! ([`FastBert::relative`]). Its layer norms' eps (1e-5) comes from its config.
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
use super::mpnet::{relative_position_bucket, MpnetConfig};
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

/// BERT (or MPNet) weights laid out for the CPU forward pass.
pub struct FastBert {
    hidden: usize,
    heads: usize,
    inter: usize,
    eps: f32,
    vocab: usize,
    /// Most tokens in one row.
    max_positions: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    /// The position-table row of a row's first token: 0 for BERT; the padding index + 1 for
    /// MPNet, whose real tokens count on from the padding index.
    position_offset: usize,
    /// Token type 0's embedding (every window is a single segment); zeros for MPNet, which
    /// has no token types.
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
    /// MPNet's relative-position bias, shared by every layer.
    relative: Option<RelativeBias>,
    level: Level,
}

/// MPNet's relative-position bias, expanded once at load so attention adds it by lookup:
/// for head `h` and offset `key - query = r`, `by_offset[h * span + r + max_positions - 1]`
/// is the table's entry for `r`'s bucket, divided by the attention scale (the softmax
/// kernel scales the raw scores, so the bias is added to them pre-divided).
struct RelativeBias {
    span: usize,
    by_offset: Vec<f32>,
}

impl RelativeBias {
    /// Expand the `[buckets, heads]` table for rows of at most `max_positions` tokens and
    /// heads of `head_dim` dimensions.
    fn expand(
        table: &[f32],
        buckets: usize,
        heads: usize,
        max_positions: usize,
        head_dim: usize,
    ) -> Self {
        let span = 2 * max_positions - 1;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut by_offset = vec![0f32; heads * span];
        for i in 0..span {
            let offset = i as i64 - (max_positions as i64 - 1);
            let bucket = relative_position_bucket(offset, buckets, 128);
            for head in 0..heads {
                by_offset[head * span + i] = table[bucket * heads + head] / scale;
            }
        }
        RelativeBias { span, by_offset }
    }
}

/// Buffers of one forward pass.
struct Scratch {
    threads: usize,
    quantized: Vec<u8>,
}

fn gelu_only(act: &str) -> EmbedError {
    EmbedError::Invalid(format!(
        "the fast CPU encoder implements GELU (erf) only, not {act}; use --backend candle"
    ))
}

/// The names of one architecture's tensors within a layer, after `encoder.layer.{l}.`.
struct LayerNames {
    /// Q, K and V, fused in this order.
    qkv: [&'static str; 3],
    attn_out: &'static str,
    attn_norm: &'static str,
}

const BERT_NAMES: LayerNames = LayerNames {
    qkv: [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
    ],
    attn_out: "attention.output.dense",
    attn_norm: "attention.output.LayerNorm",
};

const MPNET_NAMES: LayerNames = LayerNames {
    qkv: ["attention.attn.q", "attention.attn.k", "attention.attn.v"],
    attn_out: "attention.attn.o",
    attn_norm: "attention.LayerNorm",
};

/// A checkpoint's tensors, read by name (bare or under the architecture's prefix) and
/// checked against the shape the forward pass expects.
struct Tensors<'a> {
    get: &'a dyn Fn(&str) -> Result<Tensor, EmbedError>,
    prefix: &'static str,
    precision: Precision,
    hidden: usize,
}

impl Tensors<'_> {
    fn load(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let t = (self.get)(name).or_else(|_| (self.get)(&format!("{}.{name}", self.prefix)))?;
        if t.dims() != shape {
            return Err(EmbedError::Invalid(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }

    fn norm(&self, prefix: &str) -> Result<Norm, EmbedError> {
        Ok(Norm {
            gamma: self.load(&format!("{prefix}.weight"), &[self.hidden])?,
            beta: self.load(&format!("{prefix}.bias"), &[self.hidden])?,
        })
    }

    fn dense(&self, prefix: &str, n: usize, k: usize) -> Result<Dense, EmbedError> {
        let w = self.load(&format!("{prefix}.weight"), &[n, k])?;
        let b = self.load(&format!("{prefix}.bias"), &[n])?;
        Ok(Dense::new(&w, b, n, k, self.precision))
    }
}

/// The sizes both architectures share.
struct Shape {
    hidden: usize,
    heads: usize,
    inter: usize,
    layers: usize,
    vocab: usize,
    /// Rows of the position table.
    positions: usize,
}

/// What the two architectures do differently before and around the layers.
struct Embeddings {
    max_positions: usize,
    position_offset: usize,
    token_type: Vec<f32>,
    relative: Option<RelativeBias>,
}

impl Shape {
    /// The shape, if its heads split the hidden size.
    fn checked(self) -> Result<Self, EmbedError> {
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return Err(EmbedError::Invalid(format!(
                "hidden size {} is not a multiple of {} heads",
                self.hidden, self.heads
            )));
        }
        Ok(self)
    }

    /// The layer stack and embeddings under `names`, with `embeddings`' differences.
    fn build(
        &self,
        t: &Tensors,
        names: &LayerNames,
        eps: f64,
        embeddings: Embeddings,
    ) -> Result<FastBert, EmbedError> {
        let (h, inter) = (self.hidden, self.inter);
        let mut layers = Vec::with_capacity(self.layers);
        for l in 0..self.layers {
            let p = format!("encoder.layer.{l}");
            let mut w = Vec::with_capacity(3 * h * h);
            let mut b = Vec::with_capacity(3 * h);
            for m in names.qkv {
                w.extend(t.load(&format!("{p}.{m}.weight"), &[h, h])?);
                b.extend(t.load(&format!("{p}.{m}.bias"), &[h])?);
            }
            layers.push(Layer {
                qkv: Dense::new(&w, b, 3 * h, h, t.precision),
                attn_out: t.dense(&format!("{p}.{}", names.attn_out), h, h)?,
                attn_norm: t.norm(&format!("{p}.{}", names.attn_norm))?,
                up: t.dense(&format!("{p}.intermediate.dense"), inter, h)?,
                down: t.dense(&format!("{p}.output.dense"), h, inter)?,
                out_norm: t.norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(FastBert {
            hidden: h,
            heads: self.heads,
            inter,
            eps: eps as f32,
            vocab: self.vocab,
            max_positions: embeddings.max_positions,
            word: t.load("embeddings.word_embeddings.weight", &[self.vocab, h])?,
            position: t.load(
                "embeddings.position_embeddings.weight",
                &[self.positions, h],
            )?,
            position_offset: embeddings.position_offset,
            token_type: embeddings.token_type,
            emb_norm: t.norm("embeddings.LayerNorm")?,
            layers,
            relative: embeddings.relative,
            level: Level::detect(),
        })
    }
}

impl FastBert {
    /// Build from named tensors (safetensors names, with or without a `bert.` prefix).
    pub fn from_tensors(
        config: &BertConfig,
        get: &dyn Fn(&str) -> Result<Tensor, EmbedError>,
        precision: Precision,
    ) -> Result<FastBert, EmbedError> {
        if config.hidden_act != HiddenAct::Gelu {
            return Err(gelu_only(&format!("{:?}", config.hidden_act)));
        }
        let shape = Shape {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            inter: config.intermediate_size,
            layers: config.num_hidden_layers,
            vocab: config.vocab_size,
            positions: config.max_position_embeddings,
        }
        .checked()?;
        let t = Tensors {
            get,
            prefix: "bert",
            precision,
            hidden: shape.hidden,
        };
        let token_types = t.load(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, shape.hidden],
        )?;
        shape.build(
            &t,
            &BERT_NAMES,
            config.layer_norm_eps,
            Embeddings {
                max_positions: config.max_position_embeddings,
                position_offset: 0,
                token_type: token_types[..shape.hidden].to_vec(),
                relative: None,
            },
        )
    }

    /// Build an MPNet from named tensors (the checkpoint's names, with or without an
    /// `mpnet.` prefix): the layers as BERT's under MPNet's names, positions offset past
    /// the padding index, no token type, the relative-position bias expanded per head and
    /// offset.
    pub fn from_mpnet_tensors(
        config: &MpnetConfig,
        get: &dyn Fn(&str) -> Result<Tensor, EmbedError>,
        precision: Precision,
    ) -> Result<FastBert, EmbedError> {
        if config.hidden_act != "gelu" {
            return Err(gelu_only(&config.hidden_act));
        }
        let shape = Shape {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            inter: config.intermediate_size,
            layers: config.num_hidden_layers,
            vocab: config.vocab_size,
            positions: config.max_position_embeddings,
        }
        .checked()?;
        let pad = config.pad_token_id as usize;
        if shape.positions <= pad + 1 {
            return Err(EmbedError::Invalid(format!(
                "{} positions leave no room after the padding index {pad}",
                shape.positions
            )));
        }
        let t = Tensors {
            get,
            prefix: "mpnet",
            precision,
            hidden: shape.hidden,
        };
        let (h, heads) = (shape.hidden, shape.heads);
        let buckets = config.relative_attention_num_buckets;
        let table = t.load("encoder.relative_attention_bias.weight", &[buckets, heads])?;
        let max_positions = shape.positions - pad - 1;
        let relative = RelativeBias::expand(&table, buckets, heads, max_positions, h / heads);
        shape.build(
            &t,
            &MPNET_NAMES,
            config.layer_norm_eps,
            Embeddings {
                max_positions,
                position_offset: pad + 1,
                token_type: vec![0f32; h],
                relative: Some(relative),
            },
        )
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
                    let at = self.position_offset + p;
                    let pos = &self.position[at * h..(at + 1) * h];
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
                    // MPNet: the scores start from the relative-position bias and the
                    // product accumulates onto it.
                    if let Some(rel) = &self.relative {
                        let row0 = head * rel.span + self.max_positions - 1;
                        for (qi, row) in scores.chunks_exact_mut(len).enumerate() {
                            // Offsets key - query run from -qi to len - 1 - qi.
                            let from = row0 - qi;
                            row.copy_from_slice(&rel.by_offset[from..from + len]);
                        }
                    }
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
                            self.relative.is_some(),
                            q.as_ptr().add(c),
                            1,
                            3 * h as isize,
                            q.as_ptr().add(h + c),
                            3 * h as isize,
                            1,
                            // dst = 1 * bias + QK^T when the bias was written (read_dst).
                            1.0,
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
    /// Load a resolved (sha256-verified) BERT or MPNet model. The safetensors file is
    /// memory-mapped and each tensor copied once into the layout above.
    pub fn load(model: &ResolvedModel, precision: Precision) -> Result<Self, EmbedError> {
        let config_path = model.path("config.json");
        let tokenizer = load_tokenizer(&model.path("tokenizer.json"))?;
        // SAFETY: the file was just sha256-verified and is not modified while mapped (the
        // same contract as `BertEncoder::load`); the map is dropped once the tensors are
        // copied out.
        let st = unsafe {
            candle_core::safetensors::MmapedSafetensors::new(model.path("model.safetensors"))?
        };
        let get = |name: &str| -> Result<Tensor, EmbedError> { Ok(st.load(name, &Device::Cpu)?) };
        // What differs by architecture: the config and the special tokens. (The window
        // differs too: an MPNet row's positions start after the padding index, so its
        // table holds fewer; the model knows its own.)
        let (fast, cls, sep, pad) = match model.spec.architecture {
            Architecture::Bert => {
                let c: BertConfig = read_json(&config_path)?;
                let fast = FastBert::from_tensors(&c, &get, precision)?;
                (fast, "[CLS]", "[SEP]", c.pad_token_id as u32)
            }
            Architecture::Mpnet => {
                let c: MpnetConfig = read_json(&config_path)?;
                let fast = FastBert::from_mpnet_tensors(&c, &get, precision)?;
                (fast, "<s>", "</s>", c.pad_token_id)
            }
        };
        let (hidden, window) = (fast.hidden, fast.max_positions);
        if hidden != model.spec.dim {
            return Err(EmbedError::Config {
                path: config_path.display().to_string(),
                message: format!(
                    "hidden_size {hidden} does not match the registry's dim {}",
                    model.spec.dim
                ),
            });
        }
        let info = EncoderInfo {
            name: model.spec.name.clone(),
            dim: model.spec.dim,
            max_tokens: model.spec.max_tokens.min(window),
            cls_id: special_id(&tokenizer, cls)?,
            sep_id: special_id(&tokenizer, sep)?,
            pad_id: pad,
            fingerprint: fingerprint(model.fingerprint(), precision),
        };
        Ok(FastEncoder {
            model: fast,
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

    /// Three texts of different lengths as `[CLS] ... [SEP]` rows of the tiny vocabulary.
    fn tiny_rows(encoder: &dyn Encoder) -> Vec<Vec<u32>> {
        [
            "the security council",
            "calls upon member states to prevent trafficking in persons , women and girls",
            "human rights of all victims of terrorism and crime under international law",
        ]
        .iter()
        .map(|t| {
            let mut r = vec![2];
            r.extend(encoder.tokenize(t).unwrap());
            r.push(3);
            r
        })
        .collect()
    }

    /// Candle pads the batch, the fast path packs it: each pooled vector must agree.
    fn assert_agree(want: &[Vec<f32>], got: &[Vec<f32>]) {
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(got) {
            let c = cosine(w, g);
            assert!(c >= 0.99999, "cosine {c}");
            for (a, b) in w.iter().zip(g) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn fast_path_matches_candle_on_the_tiny_model() {
        let candle = tiny::encoder(24);
        let fast = tiny::fast_encoder(24, Precision::F32);
        assert_eq!(candle.info().fingerprint, fast.info().fingerprint);
        let rows = tiny_rows(&candle);
        let refs: Vec<&[u32]> = rows.iter().map(|r| r.as_slice()).collect();
        let want = candle.pool(&refs).unwrap();
        assert_agree(&want, &fast.pool(&refs).unwrap());
        let int8 = tiny::fast_encoder(24, Precision::Int8);
        assert!(int8.info().fingerprint.starts_with("int8-"));
        for (w, g) in want.iter().zip(&int8.pool(&refs).unwrap()) {
            assert!(cosine(w, g) >= 0.99, "int8 cosine {}", cosine(w, g));
        }
    }

    fn tiny_fast_mpnet(max_tokens: usize, precision: Precision) -> FastEncoder {
        crate::embed::mpnet::tiny::fast_encoder(max_tokens, precision)
    }

    /// MPNet's three differences from BERT (positions after the padding index, no token
    /// types, the relative-position bias in every layer) against the candle MPNet, which
    /// the real-model test ties to sentence-transformers: rows of different lengths, packed
    /// here and padded there, give the same vectors.
    #[test]
    fn fast_mpnet_matches_candle_on_the_tiny_model() {
        let candle = crate::embed::mpnet::tiny::encoder(24);
        let fast = tiny_fast_mpnet(24, Precision::F32);
        assert_eq!(candle.info().fingerprint, fast.info().fingerprint);
        let rows = tiny_rows(&candle);
        let refs: Vec<&[u32]> = rows.iter().map(|r| r.as_slice()).collect();
        let want = candle.pool(&refs).unwrap();
        assert_agree(&want, &fast.pool(&refs).unwrap());
        // The bias and the positions reach the vector: without them it is another one.
        let mut no_bias = tiny_fast_mpnet(24, Precision::F32);
        no_bias.model.relative = None;
        let mut bert_positions = tiny_fast_mpnet(24, Precision::F32);
        bert_positions.model.position_offset = 0;
        for other in [no_bias, bert_positions] {
            let v = other.pool(&refs).unwrap();
            assert!(cosine(&v[1], &want[1]) < 0.9999);
        }
        // The position table (26 rows, padding index 0) holds 25 tokens after the padding
        // index: a row of 25 is taken, one of 26 refused (not read past the table).
        assert_eq!(fast.model.max_positions, 25);
        assert!(fast.pool(&[&[2; 25]]).is_ok());
        assert!(fast.pool(&[&[2; 26]]).is_err());
        let int8 = tiny_fast_mpnet(24, Precision::Int8);
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
