//! MPNet sentence encoder on candle (candle-transformers has no MPNet).
//!
//! Takes a verified `mpnet` model (sentence-transformers all-mpnet-base-v2: 12 layers, 768
//! hidden) and gives mean-pooled token states per row through the same [`Encoder`] trait as
//! the BERT encoders, so windowing, batching, caching and the classifier work unchanged.
//!
//! Followed: Hugging Face transformers' `models/mpnet/modeling_mpnet.py` (`MPNetEmbeddings`,
//! `MPNetSelfAttention`, `MPNetEncoder.compute_position_bias` and
//! `relative_position_bucket`). Where MPNet differs from BERT, and so why this is not
//! `BertModel` with renamed tensors:
//! - no token-type embeddings;
//! - position ids start after the padding index: a real token at offset `i` gets position
//!   `pad + 1 + i` (pad = 1), a padding token gets `pad` (`create_position_ids_from_input_ids`);
//! - one relative-position bias table (`encoder.relative_attention_bias`, 32 buckets x 12
//!   heads) is computed once per forward pass and added to the attention scores of every
//!   layer, before the padding mask;
//! - layer norms use eps 1e-5 (BERT's is 1e-12); the activation is exact (erf) GELU.
//!
//! f32 throughout: the half-precision attention-mask problem seen with candle's BERT (see
//! README, GPUs) would apply here too.

use super::{load_tokenizer, read_json, EmbedError, Encoder, EncoderInfo};
use crate::device::Device;
use crate::weights::{Architecture, ResolvedModel};
use candle_core::{DType, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;
use tokenizers::Tokenizer;

/// The fields of MPNet's `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct MpnetConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    pub relative_attention_num_buckets: usize,
    pub hidden_act: String,
}

/// T5-style bucket of a relative position (`key - query`), as MPNet's
/// `relative_position_bucket` with its defaults (bidirectional, max distance 128): half the
/// buckets for each direction, exact buckets for distances below a quarter of the buckets,
/// logarithmic ones beyond, the last bucket for everything from `max_distance` on.
/// Computed in f32 like the reference, whose float rounding decides the bucket edges.
pub fn relative_position_bucket(relative: i64, num_buckets: usize, max_distance: usize) -> usize {
    let half = (num_buckets / 2) as i64;
    let n = -relative;
    let mut bucket = if n < 0 { half } else { 0 };
    let n = n.abs();
    let max_exact = half / 2;
    if n < max_exact {
        bucket += n;
    } else {
        let scaled = (n as f32 / max_exact as f32).ln()
            / (max_distance as f32 / max_exact as f32).ln()
            * (half - max_exact) as f32;
        bucket += (max_exact + scaled as i64).min(half - 1);
    }
    bucket as usize
}

/// Position ids for rows of a 0/1 mask, row after row: `pad` + the count of real tokens so
/// far for a real token, `pad` itself for padding (`create_position_ids_from_input_ids`).
pub fn position_ids(mask: &[Vec<f32>], pad: u32) -> Vec<u32> {
    let mut positions = Vec::with_capacity(mask.iter().map(Vec::len).sum());
    for row in mask {
        let mut seen = 0u32;
        for &m in row {
            if m > 0.0 {
                seen += 1;
                positions.push(pad + seen);
            } else {
                positions.push(pad);
            }
        }
    }
    positions
}

/// The relative-position bucket of every (query, key) pair of a `width`-token row, query
/// major: the index into the bias table that every layer adds to its attention scores.
pub fn bucket_table(width: usize, num_buckets: usize) -> Vec<u32> {
    (0..width as i64)
        .flat_map(|query| {
            (0..width as i64)
                .map(move |key| relative_position_bucket(key - query, num_buckets, 128) as u32)
        })
        .collect()
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, c: &MpnetConfig) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let attn = vb.pp("attention");
        Ok(Layer {
            q: linear(h, h, attn.pp("attn.q"))?,
            k: linear(h, h, attn.pp("attn.k"))?,
            v: linear(h, h, attn.pp("attn.v"))?,
            o: linear(h, h, attn.pp("attn.o"))?,
            attention_norm: layer_norm(h, c.layer_norm_eps, attn.pp("LayerNorm"))?,
            intermediate: linear(h, c.intermediate_size, vb.pp("intermediate.dense"))?,
            output: linear(c.intermediate_size, h, vb.pp("output.dense"))?,
            output_norm: layer_norm(h, c.layer_norm_eps, vb.pp("output.LayerNorm"))?,
        })
    }

    /// `position_bias`: (1, heads, t, t); `mask`: (b, 1, 1, t) additive (0 or very negative).
    fn forward(
        &self,
        x: &Tensor,
        heads: usize,
        position_bias: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let d = h / heads;
        let split = |y: Tensor| -> candle_core::Result<Tensor> {
            y.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous()
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
        // Same order as the reference: bias first, then the padding mask.
        let scores = scores.broadcast_add(position_bias)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, h))?;
        let attended = self
            .attention_norm
            .forward(&(self.o.forward(&context)? + x)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output_norm
            .forward(&(self.output.forward(&inner)? + attended)?)
    }
}

/// The MPNet encoder stack (no pooler: sentence-transformers mean-pools the last layer).
pub struct MpnetModel {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    relative_attention_bias: Embedding,
    layers: Vec<Layer>,
    config: MpnetConfig,
}

impl MpnetModel {
    pub fn load(vb: VarBuilder, config: &MpnetConfig) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let emb = vb.pp("embeddings");
        let enc = vb.pp("encoder");
        Ok(MpnetModel {
            word_embeddings: embedding(config.vocab_size, h, emb.pp("word_embeddings"))?,
            position_embeddings: embedding(
                config.max_position_embeddings,
                h,
                emb.pp("position_embeddings"),
            )?,
            embeddings_norm: layer_norm(h, config.layer_norm_eps, emb.pp("LayerNorm"))?,
            relative_attention_bias: embedding(
                config.relative_attention_num_buckets,
                config.num_attention_heads,
                enc.pp("relative_attention_bias"),
            )?,
            layers: (0..config.num_hidden_layers)
                .map(|i| Layer::load(enc.pp(format!("layer.{i}")), config))
                .collect::<candle_core::Result<_>>()?,
            config: config.clone(),
        })
    }

    /// Last-layer token states, (b, t, hidden), for `ids` (b, t) whose real tokens are
    /// marked 1.0 in `mask` (b, t); padded positions must hold the pad id.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let device = ids.device();
        let host_mask = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let positions = position_ids(&host_mask, self.config.pad_token_id);
        let positions = Tensor::from_vec(positions, (b, t), device)?;
        let x =
            (self.word_embeddings.forward(ids)? + self.position_embeddings.forward(&positions)?)?;
        let mut x = self.embeddings_norm.forward(&x)?;

        let heads = self.config.num_attention_heads;
        let buckets = bucket_table(t, self.config.relative_attention_num_buckets);
        let buckets = Tensor::from_vec(buckets, (t * t,), device)?;
        let position_bias = self
            .relative_attention_bias
            .forward(&buckets)? // (t*t, heads)
            .reshape((t, t, heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()?;
        // (1 - mask) * f32::MIN, as the reference's extended attention mask.
        let additive = ((mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)?) * f32::MIN as f64)?
            .reshape((b, 1, 1, t))?;
        for layer in &self.layers {
            x = layer.forward(&x, heads, &position_bias, &additive)?;
        }
        Ok(x)
    }
}

/// all-mpnet-base-v2 as an [`Encoder`]: tokenizer (`<s>`/`</s>` as the special tokens) plus
/// [`MpnetModel`] and attention-masked mean pooling, f32, on any candle device.
pub struct MpnetEncoder {
    model: MpnetModel,
    tokenizer: Tokenizer,
    device: Device,
    info: EncoderInfo,
}

impl MpnetEncoder {
    /// Load a resolved (sha256-verified) model onto `device`, memory-mapping the weights.
    pub fn load(model: &ResolvedModel, device: &Device) -> Result<Self, EmbedError> {
        super::require_architecture(model, Architecture::Mpnet)?;
        let config_path = model.path("config.json");
        let config: MpnetConfig = read_json(&config_path)?;
        let bad = |message: String| EmbedError::Config {
            path: config_path.display().to_string(),
            message,
        };
        if config.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act {} (only exact gelu is implemented)",
                config.hidden_act
            )));
        }
        if config.hidden_size != model.spec.dim {
            return Err(bad(format!(
                "hidden_size {} does not match the registry's dim {}",
                config.hidden_size, model.spec.dim
            )));
        }
        let tokenizer = load_tokenizer(&model.path("tokenizer.json"))?;
        // SAFETY: as for BertEncoder::load; the file was just sha256-verified.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[model.path("model.safetensors")],
                DType::F32,
                device,
            )?
        };
        let mpnet = MpnetModel::load(vb, &config)?;
        // Positions run from pad + 1, so the table holds max_position_embeddings - pad - 1
        // real tokens (512 for this model).
        let room = config.max_position_embeddings - config.pad_token_id as usize - 1;
        let info = EncoderInfo {
            name: model.spec.name.clone(),
            dim: model.spec.dim,
            max_tokens: model.spec.max_tokens.min(room),
            cls_id: super::special_id(&tokenizer, "<s>")?,
            sep_id: super::special_id(&tokenizer, "</s>")?,
            pad_id: config.pad_token_id,
            fingerprint: model.fingerprint(),
        };
        Ok(MpnetEncoder {
            model: mpnet,
            tokenizer,
            device: device.clone(),
            info,
        })
    }

    /// Assemble from parts (the tiny test model).
    pub fn from_parts(
        model: MpnetModel,
        mut tokenizer: Tokenizer,
        device: Device,
        info: EncoderInfo,
    ) -> Self {
        super::disable_truncation_and_padding(&mut tokenizer);
        MpnetEncoder {
            model,
            tokenizer,
            device,
            info,
        }
    }
}

impl Encoder for MpnetEncoder {
    fn info(&self) -> &EncoderInfo {
        &self.info
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>, String> {
        super::plain_ids(&self.tokenizer, text)
    }

    fn pool(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, mask) = super::padded_batch(rows, self.info.pad_id, &self.device)?;
        let hidden = self.model.forward(&ids, &mask)?;
        super::masked_mean(&hidden, &mask)
    }
}

/// A tiny randomly initialised MPNet (2 layers, 32 wide) on the tiny BERT's vocabulary, for
/// tests of the forward pass's masking and positions. Its vectors mean nothing.
pub mod tiny {
    use super::*;
    use std::collections::HashMap;

    pub fn encoder(max_tokens: usize) -> MpnetEncoder {
        encoder_on(max_tokens, &Device::Cpu)
    }

    /// The same tiny MPNet on `device` (the GPU tests compare it with the CPU).
    pub fn encoder_on(max_tokens: usize, device: &Device) -> MpnetEncoder {
        let (config, tensors, info) = parts(max_tokens);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = MpnetModel::load(vb, &config).expect("tiny MPNet tensors match its config");
        MpnetEncoder::from_parts(model, super::super::tiny::tokenizer(), device.clone(), info)
    }

    /// The same tiny MPNet on the fast CPU path ([`crate::embed::cpu`]).
    pub fn fast_encoder(
        max_tokens: usize,
        precision: crate::embed::cpu::Precision,
    ) -> crate::embed::cpu::FastEncoder {
        use crate::embed::cpu::{fingerprint, FastBert, FastEncoder};
        let (config, tensors, mut info) = parts(max_tokens);
        let get = |name: &str| {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| EmbedError::Invalid(format!("tiny MPNet has no tensor {name}")))
        };
        let model = FastBert::from_mpnet_tensors(&config, &get, precision)
            .expect("tiny MPNet tensors match its config");
        info.fingerprint = fingerprint(info.fingerprint, precision);
        FastEncoder::from_parts(model, super::super::tiny::tokenizer(), info)
    }

    /// The tiny MPNet's config, its tensors under the checkpoint's names (on the CPU) and
    /// its encoder info: what fine-tuning's tests build a trainable MPNet from.
    pub fn parts(max_tokens: usize) -> (MpnetConfig, HashMap<String, Tensor>, EncoderInfo) {
        let vocab = super::super::tiny::tokenizer().get_vocab_size(true);
        let config = MpnetConfig {
            vocab_size: vocab,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            max_position_embeddings: max_tokens + 2,
            layer_norm_eps: 1e-5,
            pad_token_id: 0,
            relative_attention_num_buckets: 32,
            hidden_act: "gelu".into(),
        };
        let (_, bert, _) = super::super::tiny::parts(max_tokens + 2);
        // Reuse the tiny BERT's deterministic tensors under MPNet's names (and add the bias
        // table), so the two tiny models share their seed and need no second generator.
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let rename = |name: &str| -> Option<String> {
            let n = name
                .replace("attention.self.query", "attention.attn.q")
                .replace("attention.self.key", "attention.attn.k")
                .replace("attention.self.value", "attention.attn.v")
                .replace("attention.output.dense", "attention.attn.o")
                .replace("attention.output.LayerNorm", "attention.LayerNorm");
            (!n.contains("token_type")).then_some(n)
        };
        for (name, t) in bert {
            if let Some(n) = rename(&name) {
                tensors.insert(n, t);
            }
        }
        let bias: Vec<f32> = (0..32 * 4)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 10.0)
            .collect();
        tensors.insert(
            "encoder.relative_attention_bias.weight".into(),
            Tensor::from_vec(bias, (32, 4), &Device::Cpu).expect("shape matches data"),
        );
        let info = EncoderInfo {
            name: "tiny-mpnet".into(),
            dim: 32,
            max_tokens,
            cls_id: 2,
            sep_id: 3,
            pad_id: 0,
            fingerprint: "tiny-mpnet-seed-1".into(),
        };
        (config, tensors, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets of the reference implementation for a 32-bucket table (computed with
    /// transformers' `MPNetEncoder.relative_position_bucket`): exact up to distance 7,
    /// logarithmic beyond, saturating at 15 (+16 for keys before the query).
    #[test]
    fn buckets_match_reference_edges() {
        let b = |rel| relative_position_bucket(rel, 32, 128);
        assert_eq!(b(0), 0);
        assert_eq!(b(-1), 1);
        assert_eq!(b(-7), 7);
        assert_eq!(b(1), 17);
        assert_eq!(b(7), 23);
        assert_eq!(b(-8), 8);
        assert_eq!(b(-1000), 15);
        assert_eq!(b(1000), 31);
        // Monotone within each direction.
        for d in 1..600 {
            assert!(b(-d) >= b(-(d - 1)));
            assert!(d == 1 || b(d) >= b(d - 1));
        }
    }

    /// Padding must not change a row: a short row pooled beside a longer one (so padded,
    /// with pad positions and masked keys) equals the same row pooled alone.
    #[test]
    fn padded_row_equals_row_alone() {
        let enc = tiny::encoder(16);
        let short: Vec<u32> = vec![2, 5, 6, 7, 3];
        let long: Vec<u32> = vec![2, 5, 6, 7, 8, 9, 10, 11, 12, 3];
        let alone = enc.pool(&[&short]).unwrap();
        let both = enc.pool(&[&long, &short]).unwrap();
        for (a, b) in alone[0].iter().zip(&both[1]) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Word order reaches the vector (positions and the relative bias).
        let reversed: Vec<u32> = vec![2, 7, 6, 5, 3];
        let r = enc.pool(&[&reversed]).unwrap();
        let diff: f32 = r[0].iter().zip(&alone[0]).map(|(a, b)| (a - b).abs()).sum();
        assert!(diff > 1e-3, "word order had no effect ({diff})");
    }
}
