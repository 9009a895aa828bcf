//! Fine-tuning: an encoder (BERT or MPNet) and the frame head trained together.
//!
//! Takes tokenised annotated paragraphs ([`Example`]: word-piece ids, the four lexicon
//! indicators of [`super::head_features`], labels, document) and a BERT or MPNet checkpoint
//! ([`Arch`]); gives
//! ([`Finetuned`]) new encoder tensors under the checkpoint's own names and a linear head
//! over the same features the frozen head reads, with decision thresholds. So the result
//! loads like any model: the encoder through [`crate::embed::BertEncoder`] or the fast CPU
//! path, the head as an ordinary [`super::Head`] (identity standardiser).
//!
//! Why it is built this way:
//! - **Its own forward pass from candle primitives**, not candle-transformers' `BertModel`:
//!   candle-nn 0.11's `LayerNorm` and `softmax_last_dim` run fused kernels that have no
//!   backward pass (`apply_op*_no_bwd`), so gradients through `BertModel` would silently
//!   stop at the last layer norm. The arithmetic is the same (post-norm BERT, exact GELU,
//!   masked mean pooling, L2 norm); a test checks this forward against `BertModel`. MPNet
//!   ([`crate::embed::mpnet`], itself built on those fused ops) gets the same treatment:
//!   its differences from BERT (positions after the padding index, one relative-position
//!   bias added in every layer, no token types) are repeated here from primitives, and a
//!   test checks this forward against [`crate::embed::mpnet::MpnetModel`].
//! - **Linear probe, then fine-tune** (LP-FT; Kumar et al., "Fine-Tuning can Distort
//!   Pretrained Features and Underperform Out-of-Distribution", ICLR 2022): the head starts
//!   from the logistic head trained on frozen embeddings of the same training rows, so the
//!   first steps do not push a random head's gradients into the encoder.
//! - **Binary cross-entropy with class weights** (positives weighted by
//!   `(negatives/positives)^pos_weight_power`), AdamW with linear warm-up and decay, and
//!   **early stopping on a grouped validation split** (whole documents held out, as in
//!   evaluation); the thresholds are chosen on that split at the best epoch.
//! - **Deterministic**: batches are length-sorted and fixed, their order shuffled by a
//!   seeded generator, and there is no dropout (candle's CPU generator cannot be seeded);
//!   the word-embedding table (half the parameters) stays frozen, which also keeps the
//!   rows of words the 2,000 annotated paragraphs never use exactly as pretrained.
//! - Training sees each paragraph's first window (the model's `max_tokens`); inference
//!   windows longer paragraphs as for any encoder ([`crate::embed`]).
//! - **What is trained** ([`Scope`]): every tensor, only the biases and layer norms
//!   (BitFit), or those plus low-rank adapters of the attention query and value matrices
//!   (LoRA). The last two are small enough to commit beside the hash-pinned base model;
//!   LoRA's adapters are merged into the base matrices in a fixed summation order
//!   ([`merge_low_rank`]), so a rebuilt model has the same bits on every machine.

use super::{best_threshold, grouped_folds, Frame, FrameHead, Head, LabelSet, Logistic};
use super::{seeded_hash, Standardizer};
use crate::embed::mpnet::{bucket_table, position_ids, MpnetConfig};
use crate::weights::Architecture;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("checkpoint has no tensor `{0}`")]
    Missing(String),
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, FinetuneError>;

/// One annotated paragraph, ready for training.
#[derive(Debug, Clone)]
pub struct Example {
    /// Word-piece ids including `[CLS]`/`[SEP]`, at most the model window long.
    pub ids: Vec<u32>,
    /// The lexicon indicators of [`super::head_features`], in [`Frame::ALL`] order.
    pub lexicon: [f32; 4],
    pub labels: LabelSet,
    /// Document id (validation splits hold out whole documents).
    pub group: String,
}

/// How fine-tuning runs; recorded in the model's manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinetuneOptions {
    /// Most passes over the training rows (early stopping may end sooner).
    pub epochs: usize,
    /// Rows per optimiser step (rows of similar length, so little padding).
    pub batch_rows: usize,
    /// Peak learning rate of the encoder.
    pub lr_encoder: f64,
    /// Peak learning rate of the head (its weights act on unit vectors, so they are large).
    pub lr_head: f64,
    /// Share of the steps spent warming the learning rates up from 0.
    pub warmup_fraction: f64,
    /// AdamW weight decay on weight matrices (none on biases and layer norms).
    pub weight_decay: f64,
    /// Epochs without a lower validation loss before stopping.
    pub patience: usize,
    /// The validation split is one of this many grouped folds of the training rows.
    pub validation_folds: usize,
    /// Positive class weight = (negatives / positives) ^ this.
    pub pos_weight_power: f64,
    pub seed: u64,
    /// Which encoder tensors are trained. Left out of the record when `all`, so the
    /// manifests and results written before the option existed are reproduced as they were.
    #[serde(default, skip_serializing_if = "Scope::is_all")]
    pub scope: Scope,
    /// The low-rank adapters of [`Scope::Lora`]; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraOptions>,
    /// Stop after this many epochs while keeping the learning-rate schedule of `epochs`:
    /// a partial run whose history is the first epochs of the complete one, so a committed
    /// training can be checked against its logged history at a fraction of its cost (the
    /// CI check of `weights/minilm-bitfit/`). Absent for complete runs, so their manifests
    /// read as before the option existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_after_epochs: Option<usize>,
    /// Run each batch as consecutive parts of at most this many rows and sum their
    /// gradients before the optimiser step: the same step as the whole batch, up to float
    /// rounding, while only one part's activations are held at a time (BitFit MPNet on the
    /// CPU peaks at about 21 GB with whole batches of 16). A memory setting, not a recipe
    /// change; recorded because rounding differs. Absent when batches run whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro_batch_rows: Option<usize>,
}

/// LoRA's shape: every adapted matrix `W` (out, in) runs as `W + (alpha / rank) B A` with
/// `A` (rank, in) and `B` (out, rank) trained and `W` frozen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoraOptions {
    pub rank: usize,
    pub alpha: f64,
}

impl LoraOptions {
    fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// Which encoder tensors fine-tuning trains (the head is always trained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every tensor but the word-embedding table (see the module docs).
    #[default]
    All,
    /// BitFit (Ben Zaken et al., "BitFit: Simple Parameter-efficient Fine-tuning for
    /// Transformer-based Masked Language-models", ACL 2022): only the biases, the layer
    /// norms and MPNet's relative-position bias table; the weight matrices stay the base
    /// model's. The trained tensors are 0.1% of MiniLM (129 KB), so a model trained
    /// this way can be committed beside the hash-pinned base it applies to.
    Bias,
    /// BitFit's tensors plus low-rank adapters on every attention query and value matrix
    /// (LoRA: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022):
    /// those matrices change, by a product of two thin trained matrices, so the encoder
    /// can move further than biases allow while what is saved stays small (at rank 8,
    /// 295 KB more than BitFit's tensors for MiniLM, 1.2 MB for MPNet). The adapters are
    /// saved as `<matrix>.lora_A` and `<matrix>.lora_B` (B already multiplied by
    /// alpha / rank) and merged into the base matrices by [`merge_low_rank`].
    Lora,
}

/// Suffixes of the two adapter tensors saved for an adapted matrix `<prefix>.weight`.
pub const LORA_A: &str = ".lora_A";
pub const LORA_B: &str = ".lora_B";

impl FinetuneOptions {
    /// BitFit's options: the defaults, with [`Scope::Bias`] and a 12x higher encoder
    /// learning rate (biases alone move the model less per step; the BitFit paper used
    /// 1e-4 to 1e-3). 5e-4 was chosen before any run and has not been tuned.
    pub fn bitfit() -> Self {
        FinetuneOptions {
            lr_encoder: 5e-4,
            scope: Scope::Bias,
            ..FinetuneOptions::default()
        }
    }

    /// LoRA's options: BitFit's, with rank-8 adapters (alpha 16) on the attention query and
    /// value matrices, the setting of the LoRA authors' RoBERTa-base GLUE runs
    /// (microsoft/LoRA, `examples/NLU/roberta_base_mnli.sh`: `--lora_r 8 --lora_alpha 16`,
    /// learning rate 5e-4, the same as BitFit's here; adapters on the query and value
    /// projections only). Fixed before any run and not tuned.
    pub fn lora() -> Self {
        FinetuneOptions {
            scope: Scope::Lora,
            lora: Some(LoraOptions {
                rank: 8,
                alpha: 16.0,
            }),
            ..FinetuneOptions::bitfit()
        }
    }
}

impl Scope {
    pub fn is_all(&self) -> bool {
        *self == Scope::All
    }

    /// Whether the checkpoint tensor `name` is trained under this scope (frozen tensors
    /// aside, which no scope trains).
    pub fn trains(&self, name: &str) -> bool {
        match self {
            Scope::All => true,
            // The adapters are new tensors beside the checkpoint's, added by
            // [`Trainable::add_lora`]; of the checkpoint's own, LoRA trains BitFit's.
            Scope::Bias | Scope::Lora => {
                name.ends_with(".bias")
                    || name.contains("LayerNorm")
                    || name == "encoder.relative_attention_bias.weight"
            }
        }
    }
}

impl Default for FinetuneOptions {
    fn default() -> Self {
        FinetuneOptions {
            epochs: 4,
            batch_rows: 16,
            lr_encoder: 4e-5,
            lr_head: 1e-3,
            warmup_fraction: 0.1,
            weight_decay: 0.01,
            patience: 1,
            validation_folds: 8,
            pos_weight_power: 0.5,
            seed: 20161220,
            scope: Scope::All,
            lora: None,
            stop_after_epochs: None,
            micro_batch_rows: None,
        }
    }
}

/// A linear head over [`super::head_features`] (embedding, then 4 indicators), unstandardised.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHead {
    /// 4 rows (frames in [`Frame::ALL`] order) of `dim + 4` weights.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

impl LinearHead {
    /// The same function as a trained (standardised) head: `w.(x - m)/s + b` becomes
    /// `(w/s).x + (b - sum(w m / s))`.
    pub fn from_head(head: &Head) -> Self {
        let mut weights = vec![Vec::new(); 4];
        let mut bias = vec![0f32; 4];
        for fh in &head.frames {
            let s = &head.standardizer;
            let w: Vec<f64> = fh
                .model
                .weights
                .iter()
                .zip(&s.std)
                .map(|(w, s)| w / s)
                .collect();
            let shift: f64 = w.iter().zip(&s.mean).map(|(w, m)| w * m).sum();
            weights[fh.frame.index()] = w.iter().map(|w| *w as f32).collect();
            bias[fh.frame.index()] = (fh.model.bias - shift) as f32;
        }
        LinearHead { weights, bias }
    }

    /// As a [`Head`] the rest of the pipeline can load: identity standardiser, these
    /// weights, `thresholds`.
    pub fn to_head(&self, thresholds: [f32; 4]) -> Head {
        let width = self.weights[0].len();
        Head {
            standardizer: Standardizer {
                mean: vec![0.0; width],
                std: vec![1.0; width],
            },
            frames: Frame::ALL
                .iter()
                .map(|&f| FrameHead {
                    frame: f,
                    l2: 0.0,
                    threshold: thresholds[f.index()],
                    model: Logistic {
                        weights: self.weights[f.index()].iter().map(|w| *w as f64).collect(),
                        bias: self.bias[f.index()] as f64,
                    },
                })
                .collect(),
        }
    }
}

/// The parts of a BERT config.json the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertShape {
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub hidden_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
    #[serde(default)]
    pub pad_token_id: u32,
}

/// The architectures fine-tuning implements, with the config fields each forward pass reads.
#[derive(Debug, Clone)]
pub enum Arch {
    Bert(BertShape),
    Mpnet(MpnetConfig),
}

impl Arch {
    /// `config.json` of a checkpoint of `architecture`.
    pub fn load(path: &Path, architecture: Architecture) -> Result<Self> {
        let err = |message: String| FinetuneError::Config {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let parsed = match architecture {
            Architecture::Bert => serde_json::from_str(&text).map(Arch::Bert),
            Architecture::Mpnet => serde_json::from_str(&text).map(Arch::Mpnet),
        };
        let arch = parsed.map_err(|e| err(e.to_string()))?;
        let act = match &arch {
            Arch::Bert(s) => &s.hidden_act,
            Arch::Mpnet(c) => &c.hidden_act,
        };
        if act != "gelu" {
            return Err(err(format!(
                "hidden_act {act} (fine-tuning implements exact GELU only)"
            )));
        }
        Ok(arch)
    }

    pub fn hidden_size(&self) -> usize {
        match self {
            Arch::Bert(s) => s.hidden_size,
            Arch::Mpnet(c) => c.hidden_size,
        }
    }

    fn heads(&self) -> usize {
        match self {
            Arch::Bert(s) => s.num_attention_heads,
            Arch::Mpnet(c) => c.num_attention_heads,
        }
    }

    fn layers(&self) -> usize {
        match self {
            Arch::Bert(s) => s.num_hidden_layers,
            Arch::Mpnet(c) => c.num_hidden_layers,
        }
    }

    fn layer_norm_eps(&self) -> f64 {
        match self {
            Arch::Bert(s) => s.layer_norm_eps,
            Arch::Mpnet(c) => c.layer_norm_eps,
        }
    }

    fn pad_token_id(&self) -> u32 {
        match self {
            Arch::Bert(s) => s.pad_token_id,
            Arch::Mpnet(c) => c.pad_token_id,
        }
    }
}

/// Checkpoint names of one transformer layer's tensors (BERT and MPNet name them apart).
struct LayerNames {
    q: String,
    k: String,
    v: String,
    o: String,
    attention_norm: String,
    intermediate: String,
    output: String,
    output_norm: String,
}

impl LayerNames {
    fn new(arch: &Arch, layer: usize) -> Self {
        let p = format!("encoder.layer.{layer}");
        let (q, k, v, o, attention_norm) = match arch {
            Arch::Bert(_) => (
                format!("{p}.attention.self.query"),
                format!("{p}.attention.self.key"),
                format!("{p}.attention.self.value"),
                format!("{p}.attention.output.dense"),
                format!("{p}.attention.output.LayerNorm"),
            ),
            Arch::Mpnet(_) => (
                format!("{p}.attention.attn.q"),
                format!("{p}.attention.attn.k"),
                format!("{p}.attention.attn.v"),
                format!("{p}.attention.attn.o"),
                format!("{p}.attention.LayerNorm"),
            ),
        };
        LayerNames {
            q,
            k,
            v,
            o,
            attention_norm,
            intermediate: format!("{p}.intermediate.dense"),
            output: format!("{p}.output.dense"),
            output_norm: format!("{p}.output.LayerNorm"),
        }
    }
}

/// An encoder (BERT or MPNet) and a linear head whose parameters are candle `Var`s.
pub struct Trainable {
    arch: Arch,
    /// Trained encoder tensors, by checkpoint name.
    params: BTreeMap<String, Var>,
    /// Tensors kept as loaded (word embeddings, position ids, pooler).
    frozen: BTreeMap<String, Tensor>,
    head_w: Var,
    head_b: Var,
    /// LoRA's adapters by the prefix of the matrix they adapt: `A` (rank, in), `B`
    /// (out, rank); empty unless [`Trainable::add_lora`] was called.
    adapters: BTreeMap<String, (Var, Var)>,
    /// alpha / rank of the adapters.
    lora_scale: f64,
    device: Device,
}

/// Tensors that stay as pretrained: the word-embedding table (see module docs), and what
/// the sentence encoder never reads.
fn is_frozen(name: &str) -> bool {
    name == "embeddings.word_embeddings.weight"
        || name.starts_with("pooler.")
        || name.ends_with("position_ids")
}

impl Trainable {
    /// From named checkpoint tensors (as in `model.safetensors`) and a starting head.
    pub fn new(
        arch: Arch,
        tensors: HashMap<String, Tensor>,
        head: &LinearHead,
        device: &Device,
    ) -> Result<Self> {
        let mut params = BTreeMap::new();
        let mut frozen = BTreeMap::new();
        for (name, t) in tensors {
            if is_frozen(&name) || t.dtype() != DType::F32 {
                frozen.insert(name, t.to_device(device)?);
            } else {
                params.insert(name, Var::from_tensor(&t.to_device(device)?)?);
            }
        }
        let width = head.weights[0].len();
        if width != arch.hidden_size() + 4 {
            return Err(FinetuneError::Invalid(format!(
                "head reads {width} features, the encoder gives {} + 4",
                arch.hidden_size()
            )));
        }
        let flat: Vec<f32> = head.weights.iter().flatten().copied().collect();
        let head_w = Var::from_tensor(&Tensor::from_vec(flat, (4, width), device)?)?;
        let head_b = Var::from_tensor(&Tensor::from_vec(head.bias.clone(), 4, device)?)?;
        Ok(Trainable {
            arch,
            params,
            frozen,
            head_w,
            head_b,
            adapters: BTreeMap::new(),
            lora_scale: 0.0,
            device: device.clone(),
        })
    }

    /// Read `model.safetensors` and `config.json` of an `architecture` checkpoint from `dir`.
    pub fn load(
        dir: &Path,
        architecture: Architecture,
        head: &LinearHead,
        device: &Device,
    ) -> Result<Self> {
        let arch = Arch::load(&dir.join("config.json"), architecture)?;
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), device)?;
        Self::new(arch, tensors, head, device)
    }

    /// Freeze every trained tensor `scope` does not train (no gradient is computed for a
    /// plain tensor, which is most of BitFit's saving).
    pub fn restrict(&mut self, scope: Scope) {
        let names: Vec<String> = self
            .params
            .keys()
            .filter(|n| !scope.trains(n))
            .cloned()
            .collect();
        for name in names {
            if let Some(v) = self.params.remove(&name) {
                // Detached: a variable's tensor would still collect gradients.
                self.frozen.insert(name, v.as_tensor().detach());
            }
        }
    }

    /// Add LoRA adapters to every attention query and value matrix: `A` drawn uniformly
    /// from +-1/sqrt(in) by a generator seeded with `seed` and the matrix's name (the
    /// Kaiming-uniform start of the reference implementations), `B` zero, so training
    /// starts from the model as it was.
    pub fn add_lora(&mut self, lora: LoraOptions, seed: u64) -> Result<()> {
        for layer in 0..self.arch.layers() {
            let names = LayerNames::new(&self.arch, layer);
            for prefix in [&names.q, &names.v] {
                let (out, inp) = self.t(&format!("{prefix}.weight"))?.dims2()?;
                let bound = 1.0 / (inp as f64).sqrt();
                let mut rng = SplitMix(seeded_hash(seed, prefix));
                let a: Vec<f32> = (0..lora.rank * inp)
                    .map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32)
                    .collect();
                let a = Tensor::from_vec(a, (lora.rank, inp), &self.device)?;
                let b = Tensor::zeros((out, lora.rank), DType::F32, &self.device)?;
                self.adapters.insert(
                    prefix.clone(),
                    (Var::from_tensor(&a)?, Var::from_tensor(&b)?),
                );
            }
        }
        self.lora_scale = lora.scale();
        Ok(())
    }

    /// Copies of the encoder tensors training changes, by checkpoint name; with LoRA, also
    /// each adapter as `<prefix>.lora_A` and `<prefix>.lora_B`, B multiplied by
    /// alpha / rank so that [`merge_low_rank`] needs nothing else.
    pub fn trained_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out = BTreeMap::new();
        for (name, v) in &self.params {
            out.insert(name.clone(), v.as_tensor().copy()?);
        }
        for (prefix, (a, b)) in &self.adapters {
            out.insert(format!("{prefix}{LORA_A}"), a.as_tensor().copy()?);
            out.insert(
                format!("{prefix}{LORA_B}"),
                (b.as_tensor() * self.lora_scale)?,
            );
        }
        Ok(out)
    }

    fn t(&self, name: &str) -> Result<&Tensor> {
        if let Some(v) = self.params.get(name) {
            return Ok(v.as_tensor());
        }
        self.frozen
            .get(name)
            .ok_or_else(|| FinetuneError::Missing(name.to_string()))
    }

    /// `x` (rows, in) times the checkpoint's `prefix.weight` (out, in) transposed, plus bias.
    /// With an adapter, `W x` becomes `W x + scale B (A x)`: the product is never formed
    /// while training, only the thin path through the rank.
    fn linear(&self, x: &Tensor, prefix: &str) -> Result<Tensor> {
        let w = self.t(&format!("{prefix}.weight"))?;
        let b = self.t(&format!("{prefix}.bias"))?;
        let y = x.matmul(&w.t()?)?;
        let y = match self.adapters.get(prefix) {
            Some((a, b)) => {
                let low = x.matmul(&a.as_tensor().t()?)?.matmul(&b.as_tensor().t()?)?;
                (y + (low * self.lora_scale)?)?
            }
            None => y,
        };
        Ok(y.broadcast_add(b)?)
    }

    /// Layer norm over the last dimension from differentiable primitives.
    fn layer_norm(&self, x: &Tensor, prefix: &str) -> Result<Tensor> {
        let gamma = self.t(&format!("{prefix}.weight"))?;
        let beta = self.t(&format!("{prefix}.bias"))?;
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.arch.layer_norm_eps())?.sqrt()?)?;
        Ok(normed.broadcast_mul(gamma)?.broadcast_add(beta)?)
    }

    /// Last-layer token states, (rows, width, hidden), for padded `ids` with a 0/1 `mask`.
    pub fn hidden(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (rows, width) = ids.dims2()?;
        let h = self.arch.hidden_size();
        let word = self
            .t("embeddings.word_embeddings.weight")?
            .index_select(&ids.flatten_all()?, 0)?;
        // Embeddings, and what each layer adds to its attention scores besides the padding
        // mask: nothing for BERT, MPNet's relative-position bias.
        let (embedded, position_bias) = match &self.arch {
            Arch::Bert(_) => {
                let pos = self
                    .t("embeddings.position_embeddings.weight")?
                    .narrow(0, 0, width)?
                    .repeat((rows, 1))?;
                let token_type = self
                    .t("embeddings.token_type_embeddings.weight")?
                    .narrow(0, 0, 1)?;
                ((word + pos)?.broadcast_add(&token_type)?, None)
            }
            Arch::Mpnet(c) => {
                // Position ids and bias buckets computed as MpnetModel computes them.
                let positions = position_ids(&mask.to_vec2::<f32>()?, c.pad_token_id);
                let positions = Tensor::from_vec(positions, rows * width, &self.device)?;
                let pos = self
                    .t("embeddings.position_embeddings.weight")?
                    .index_select(&positions, 0)?;
                let buckets = bucket_table(width, c.relative_attention_num_buckets);
                let buckets = Tensor::from_vec(buckets, width * width, &self.device)?;
                let bias = self
                    .t("encoder.relative_attention_bias.weight")?
                    .index_select(&buckets, 0)? // (width * width, heads)
                    .reshape((width, width, c.num_attention_heads))?
                    .permute((2, 0, 1))?
                    .unsqueeze(0)?
                    .contiguous()?;
                ((word + pos)?, Some(bias))
            }
        };
        let mut x = self.layer_norm(&embedded, "embeddings.LayerNorm")?;
        // Padding gets a large negative score before the softmax: exp() makes it 0.
        let blocked = ((mask.ones_like()? - mask)? * -1e9)?.reshape((rows, 1, 1, width))?;
        for layer in 0..self.arch.layers() {
            let names = LayerNames::new(&self.arch, layer);
            x = self.layer(&x, &names, rows, width, position_bias.as_ref(), &blocked)?;
        }
        Ok(x.reshape((rows, width, h))?)
    }

    /// One post-norm transformer layer on `x` (rows * width, hidden): self-attention with
    /// `bias` (if any) and the padding mask `blocked` added to the scores, then the
    /// feed-forward block with exact GELU.
    fn layer(
        &self,
        x: &Tensor,
        names: &LayerNames,
        rows: usize,
        width: usize,
        bias: Option<&Tensor>,
        blocked: &Tensor,
    ) -> Result<Tensor> {
        let h = self.arch.hidden_size();
        let heads = self.arch.heads();
        let dh = h / heads;
        let scale = 1.0 / (dh as f64).sqrt();
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((rows, width, heads, dh))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(self.linear(x, &names.q)?)?;
        let k = split(self.linear(x, &names.k)?)?;
        let v = split(self.linear(x, &names.v)?)?;
        let mut scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        if let Some(bias) = bias {
            // MPNet's order: the position bias first, then the padding mask.
            scores = scores.broadcast_add(bias)?;
        }
        let scores = scores.broadcast_add(blocked)?;
        // Softmax with the row maximum subtracted as a constant (it cancels; detaching it
        // keeps its gradient out of the graph).
        let shifted = scores.broadcast_sub(&scores.max_keepdim(D::Minus1)?.detach())?;
        let e = shifted.exp()?;
        let probs = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((rows * width, h))?;
        let attn = self.linear(&ctx, &names.o)?;
        let x = self.layer_norm(&(attn + x)?, &names.attention_norm)?;
        let inner = self.linear(&x, &names.intermediate)?.gelu_erf()?;
        let out = self.linear(&inner, &names.output)?;
        self.layer_norm(&(out + &x)?, &names.output_norm)
    }

    /// Masked mean of the token states, L2-normalised: the sentence embedding.
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden(ids, mask)?;
        let summed = hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let mean = summed.broadcast_div(&mask.sum_keepdim(1)?)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        Ok(mean.broadcast_div(&norm)?)
    }

    /// Frame logits (rows, 4) from the embedding and the lexicon indicators (rows, 4).
    pub fn logits(&self, ids: &Tensor, mask: &Tensor, lexicon: &Tensor) -> Result<Tensor> {
        let features = Tensor::cat(&[&self.embed(ids, mask)?, lexicon], 1)?;
        Ok(features
            .matmul(&self.head_w.as_tensor().t()?)?
            .broadcast_add(self.head_b.as_tensor())?)
    }

    /// The encoder's tensors under the checkpoint's names (trained and frozen alike), as
    /// copies: a `Var`'s storage is updated in place by every optimiser step.
    /// Adapters are merged into their matrices by [`merge_low_rank`], as a saved model is
    /// rebuilt, so the in-memory model and the saved one are the same bits.
    pub fn encoder_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out: BTreeMap<String, Tensor> = self.frozen.clone();
        out.extend(self.trained_tensors()?);
        merge_adapters(&mut out)?;
        Ok(out)
    }

    pub fn head(&self) -> Result<LinearHead> {
        Ok(LinearHead {
            weights: self.head_w.as_tensor().to_vec2::<f32>()?,
            bias: self.head_b.as_tensor().to_vec1::<f32>()?,
        })
    }

    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// Copies of every trained value, to return to the best epoch.
    fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.all_vars().map(|v| Ok(v.as_tensor().copy()?)).collect()
    }

    fn restore(&self, saved: &[Tensor]) -> Result<()> {
        for (v, t) in self.all_vars().zip(saved) {
            v.set(t)?;
        }
        Ok(())
    }

    fn all_vars(&self) -> impl Iterator<Item = &Var> {
        self.params
            .values()
            .chain(self.adapters.values().flat_map(|(a, b)| [a, b]))
            .chain([&self.head_w, &self.head_b])
    }

    /// Probabilities (rows of 4) for `examples`, in order, `batch_rows` at a time.
    pub fn predict(&self, examples: &[&Example], batch_rows: usize) -> Result<Vec<[f64; 4]>> {
        let mut out = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(batch_rows.max(1)) {
            let batch = Batch::new(chunk, self.arch.pad_token_id(), &[1.0; 4], &self.device)?;
            let logits = self.logits(&batch.ids, &batch.mask, &batch.lexicon)?;
            for row in logits.to_vec2::<f32>()? {
                let mut p = [0f64; 4];
                for (p, z) in p.iter_mut().zip(row) {
                    *p = super::sigmoid(z as f64);
                }
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// `base + b a` for a matrix `base` (out, in) and its saved adapter `a` (rank, in), `b`
/// (out, rank; already scaled), summed in f32 in a fixed order on the CPU, whatever device
/// the tensors are on: the same inputs give the same bits on every machine, which is what
/// lets a LoRA model's rebuilt `model.safetensors` be checked by its sha256 (a BLAS or GPU
/// matmul may sum in another order).
pub fn merge_low_rank(base: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (out, inp) = base.dims2()?;
    let (rank, a_in) = a.dims2()?;
    if b.dims2()? != (out, rank) || a_in != inp {
        return Err(FinetuneError::Invalid(format!(
            "adapter shapes {:?} and {:?} do not fit a {out}x{inp} matrix",
            a.dims(),
            b.dims()
        )));
    }
    let cpu = |t: &Tensor| -> Result<Vec<f32>> {
        Ok(t.to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    };
    let (mut w, a, b) = (cpu(base)?, cpu(a)?, cpu(b)?);
    for i in 0..out {
        let row = &mut w[i * inp..(i + 1) * inp];
        for k in 0..rank {
            let bik = b[i * rank + k];
            for (w, a) in row.iter_mut().zip(&a[k * inp..(k + 1) * inp]) {
                *w += bik * a;
            }
        }
    }
    Ok(Tensor::from_vec(w, (out, inp), base.device())?)
}

/// Replace every `<prefix>.lora_A` / `<prefix>.lora_B` pair in `tensors` by its merge into
/// `<prefix>.weight` ([`merge_low_rank`]).
pub fn merge_adapters(tensors: &mut BTreeMap<String, Tensor>) -> Result<()> {
    let prefixes: Vec<String> = tensors
        .keys()
        .filter_map(|n| n.strip_suffix(LORA_A).map(str::to_string))
        .collect();
    for prefix in prefixes {
        let a = tensors.remove(&format!("{prefix}{LORA_A}"));
        let b = tensors.remove(&format!("{prefix}{LORA_B}"));
        let weight = format!("{prefix}.weight");
        let (Some(a), Some(b), Some(w)) = (a, b, tensors.get(&weight)) else {
            return Err(FinetuneError::Invalid(format!(
                "adapter of `{prefix}` without its {LORA_B} or the matrix `{weight}`"
            )));
        };
        let merged = merge_low_rank(w, &a, &b)?;
        tensors.insert(weight, merged);
    }
    if let Some(stray) = tensors.keys().find(|n| n.ends_with(LORA_B)) {
        return Err(FinetuneError::Invalid(format!(
            "`{stray}` without its {LORA_A}"
        )));
    }
    Ok(())
}

/// Padded tensors for one step.
struct Batch {
    ids: Tensor,
    mask: Tensor,
    lexicon: Tensor,
    targets: Tensor,
    /// Per-element loss weight: `pos_weight[f]` where the frame is present, else 1.
    weights: Tensor,
}

impl Batch {
    fn new(rows: &[&Example], pad: u32, pos_weight: &[f64; 4], device: &Device) -> Result<Self> {
        let width = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let (mut ids, mut mask, mut lex, mut targets, mut weights) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in rows {
            ids.extend_from_slice(&r.ids);
            ids.extend(std::iter::repeat_n(pad, width - r.ids.len()));
            mask.extend(std::iter::repeat_n(1f32, r.ids.len()));
            mask.extend(std::iter::repeat_n(0f32, width - r.ids.len()));
            lex.extend_from_slice(&r.lexicon);
            for f in Frame::ALL {
                let y = r.labels.contains(f);
                targets.push(if y { 1f32 } else { 0.0 });
                weights.push(if y { pos_weight[f.index()] as f32 } else { 1.0 });
            }
        }
        let n = rows.len();
        Ok(Batch {
            ids: Tensor::from_vec(ids, (n, width), device)?,
            mask: Tensor::from_vec(mask, (n, width), device)?,
            lexicon: Tensor::from_vec(lex, (n, 4), device)?,
            targets: Tensor::from_vec(targets, (n, 4), device)?,
            weights: Tensor::from_vec(weights, (n, 4), device)?,
        })
    }
}

/// Weighted binary cross-entropy on logits, averaged over rows and frames; computed as
/// `softplus(z) - y z` with a stable softplus (`relu(z) + ln(1 + e^-|z|)`).
fn weighted_bce(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    let per = (softplus - (targets * logits)?)?;
    Ok((per * weights)?.mean_all()?)
}

/// One batch's loss and the gradients of every trained value. With `micro_rows` smaller
/// than the batch, the batch runs as consecutive parts whose losses are weighted by their
/// share of its rows, so that their gradients, summed, are the whole batch's (the loss is
/// a mean over rows and frames) up to float rounding, and only one part's activations and
/// gradients are alive at a time. Otherwise the batch runs whole, as before the option
/// existed (same operations, same bytes).
fn batch_gradients(
    model: &Trainable,
    rows: &[&Example],
    micro_rows: Option<usize>,
    pos_weight: &[f64; 4],
) -> Result<(f64, GradStore)> {
    let pad = model.arch.pad_token_id();
    let part = micro_rows
        .filter(|&m| m > 0 && m < rows.len())
        .unwrap_or(rows.len());
    if part == rows.len() {
        let b = Batch::new(rows, pad, pos_weight, &model.device)?;
        let logits = model.logits(&b.ids, &b.mask, &b.lexicon)?;
        let loss = weighted_bce(&logits, &b.targets, &b.weights)?;
        let value = loss.to_scalar::<f32>()? as f64;
        return Ok((value, loss.backward()?));
    }
    let vars: Vec<&Var> = model.all_vars().collect();
    let mut summed: Vec<Option<Tensor>> = vec![None; vars.len()];
    let mut value = 0f64;
    for chunk in rows.chunks(part) {
        let b = Batch::new(chunk, pad, pos_weight, &model.device)?;
        let logits = model.logits(&b.ids, &b.mask, &b.lexicon)?;
        let share = chunk.len() as f64 / rows.len() as f64;
        let loss = (weighted_bce(&logits, &b.targets, &b.weights)? * share)?;
        value += loss.to_scalar::<f32>()? as f64;
        // Only the trained values' gradients are kept; the store (with the gradients of
        // frozen inputs) is dropped with this part's activations.
        let grads = loss.backward()?;
        for (v, acc) in vars.iter().zip(summed.iter_mut()) {
            if let Some(g) = grads.get(v.as_tensor()) {
                *acc = Some(match acc.take() {
                    Some(a) => (a + g)?,
                    None => g.clone(),
                });
            }
        }
    }
    let mut store = GradStore::default();
    for (v, g) in vars.iter().zip(summed) {
        if let Some(g) = g {
            store.insert(v.as_tensor(), g);
        }
    }
    Ok((value, store))
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    /// Macro-F1 on the validation split at thresholds chosen on it (optimistic; for
    /// watching, not for reporting).
    pub validation_macro_f1: f64,
}

/// The outcome of [`finetune`]: the model at its best epoch and how it got there.
pub struct Finetuned {
    pub model: Trainable,
    pub thresholds: [f32; 4],
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub steps: usize,
    /// The validation rows (indices into the examples given to [`finetune`], in that
    /// order) and the best epoch's probabilities on them: what the thresholds were chosen
    /// from, kept so threshold policies can be compared without training again.
    pub validation: Vec<(usize, [f64; 4])>,
}

/// Progress reports (for a progress bar or log lines).
pub enum Progress<'a> {
    Step { done: usize, total: usize },
    Epoch(&'a EpochRecord),
}

/// A small seeded generator (SplitMix64) for the batch order; `rand` is not a dependency.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Learning-rate factor at `step` of `total`: linear warm-up, then linear decay to 0.
pub fn schedule(step: usize, total: usize, warmup: usize) -> f64 {
    if step < warmup {
        (step + 1) as f64 / warmup as f64
    } else {
        let rest = total.saturating_sub(warmup).max(1);
        (total.saturating_sub(step)) as f64 / rest as f64
    }
}

/// Train `model` on `examples` (see the module docs). Whole documents of one grouped fold
/// (of `opts.validation_folds`) are held out for early stopping and thresholds.
pub fn finetune(
    mut model: Trainable,
    examples: &[Example],
    opts: &FinetuneOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Finetuned> {
    model.restrict(opts.scope);
    if opts.scope == Scope::Lora {
        let lora = opts.lora.ok_or_else(|| {
            FinetuneError::Invalid("LoRA fine-tuning without a rank and alpha".into())
        })?;
        model.add_lora(lora, opts.seed)?;
    }
    let groups: Vec<String> = examples.iter().map(|e| e.group.clone()).collect();
    let folds = grouped_folds(&groups, opts.validation_folds.max(2), opts.seed);
    let (mut fit, mut val): (Vec<&Example>, Vec<&Example>) = (Vec::new(), Vec::new());
    let mut val_index = Vec::new();
    for (i, (e, f)) in examples.iter().zip(&folds).enumerate() {
        if *f == 0 {
            val.push(e);
            val_index.push(i);
        } else {
            fit.push(e)
        }
    }
    if fit.is_empty() || val.is_empty() {
        return Err(FinetuneError::Invalid(
            "fine-tuning needs examples from several documents".into(),
        ));
    }
    let mut pos_weight = [1f64; 4];
    for f in Frame::ALL {
        let pos = fit.iter().filter(|e| e.labels.contains(f)).count().max(1) as f64;
        let neg = (fit.len() as f64 - pos).max(1.0);
        pos_weight[f.index()] = (neg / pos).powf(opts.pos_weight_power);
    }
    // Length-sorted batches (little padding), fixed; only their order changes per epoch.
    fit.sort_by_key(|e| e.ids.len());
    let mut batches: Vec<Vec<&Example>> = fit
        .chunks(opts.batch_rows.max(1))
        .map(|c| c.to_vec())
        .collect();
    let total = batches.len() * opts.epochs;
    let warmup = ((total as f64 * opts.warmup_fraction).round() as usize).max(1);

    let is_matrix = |name: &str| name.ends_with(".weight") && !name.contains("LayerNorm");
    // LoRA's adapters are matrices too, and decay like them (towards the base model).
    let decayed: Vec<Var> = model
        .params
        .iter()
        .filter(|(n, _)| is_matrix(n))
        .map(|(_, v)| v.clone())
        .chain(
            model
                .adapters
                .values()
                .flat_map(|(a, b)| [a.clone(), b.clone()]),
        )
        .collect();
    let plain: Vec<Var> = model
        .params
        .iter()
        .filter(|(n, _)| !is_matrix(n))
        .map(|(_, v)| v.clone())
        .collect();
    let adamw = |vars: Vec<Var>, lr: f64, weight_decay: f64| {
        AdamW::new(
            vars,
            ParamsAdamW {
                lr,
                weight_decay,
                ..ParamsAdamW::default()
            },
        )
    };
    let mut optimisers = [
        (
            adamw(decayed, opts.lr_encoder, opts.weight_decay)?,
            opts.lr_encoder,
        ),
        (adamw(plain, opts.lr_encoder, 0.0)?, opts.lr_encoder),
        (
            adamw(vec![model.head_w.clone()], opts.lr_head, opts.weight_decay)?,
            opts.lr_head,
        ),
        (
            adamw(vec![model.head_b.clone()], opts.lr_head, 0.0)?,
            opts.lr_head,
        ),
    ];

    let mut rng = SplitMix(opts.seed ^ seeded_hash(opts.seed, "finetune"));
    let mut history = Vec::new();
    // The best epoch so far: validation loss, epoch, weights, thresholds, probabilities.
    struct Best {
        loss: f64,
        epoch: usize,
        saved: Vec<Tensor>,
        thresholds: [f32; 4],
        probs: Vec<[f64; 4]>,
    }
    let mut best: Option<Best> = None;
    let mut step = 0usize;
    let mut stale = 0usize;
    for epoch in 1..=opts.epochs {
        rng.shuffle(&mut batches);
        let mut loss_sum = 0f64;
        for rows in &batches {
            let (loss, grads) = batch_gradients(&model, rows, opts.micro_batch_rows, &pos_weight)?;
            loss_sum += loss;
            let factor = schedule(step, total, warmup);
            for (opt, peak) in optimisers.iter_mut() {
                opt.set_learning_rate(*peak * factor);
                opt.step(&grads)?;
            }
            step += 1;
            progress(Progress::Step { done: step, total });
        }
        let probs = model.predict(&val, opts.batch_rows)?;
        let mut val_loss = 0f64;
        let mut thresholds = [0.5f32; 4];
        let mut f1_sum = 0f64;
        for f in Frame::ALL {
            let p: Vec<f64> = probs.iter().map(|p| p[f.index()]).collect();
            let y: Vec<bool> = val.iter().map(|e| e.labels.contains(f)).collect();
            for (p, y) in p.iter().zip(&y) {
                let p = p.clamp(1e-7, 1.0 - 1e-7);
                val_loss -= if *y {
                    pos_weight[f.index()] * p.ln()
                } else {
                    (1.0 - p).ln()
                };
            }
            let t = best_threshold(&p, &y);
            thresholds[f.index()] = t;
            f1_sum += super::f1_at(&p, &y, t as f64);
        }
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / batches.len() as f64,
            validation_loss: val_loss / (4 * val.len()) as f64,
            validation_macro_f1: f1_sum / 4.0,
        };
        progress(Progress::Epoch(&record));
        if best
            .as_ref()
            .is_none_or(|b| record.validation_loss < b.loss)
        {
            best = Some(Best {
                loss: record.validation_loss,
                epoch,
                saved: model.snapshot()?,
                thresholds,
                probs: probs.clone(),
            });
            stale = 0;
        } else {
            stale += 1;
        }
        history.push(record);
        if stale > opts.patience || opts.stop_after_epochs.is_some_and(|n| epoch >= n) {
            break;
        }
    }
    let best = best.expect("at least one epoch ran");
    model.restore(&best.saved)?;
    Ok(Finetuned {
        model,
        thresholds: best.thresholds,
        history,
        best_epoch: best.epoch,
        train_rows: fit.len(),
        validation_rows: val.len(),
        steps: step,
        validation: val_index.into_iter().zip(best.probs).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::mpnet::MpnetModel;
    use crate::embed::tiny;
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::BertModel;

    fn tiny_trainable(head: &LinearHead) -> (Trainable, BertModel) {
        tiny_trainable_on(head, &Device::Cpu)
    }

    fn tiny_trainable_on(head: &LinearHead, device: &Device) -> (Trainable, BertModel) {
        let (config, tensors, _) = tiny::parts(16);
        let shape = Arch::Bert(BertShape {
            num_hidden_layers: config.num_hidden_layers,
            num_attention_heads: config.num_attention_heads,
            hidden_size: config.hidden_size,
            layer_norm_eps: config.layer_norm_eps,
            hidden_act: "gelu".into(),
            pad_token_id: config.pad_token_id as u32,
        });
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, device);
        let reference = BertModel::load(vb, &config).unwrap();
        (
            Trainable::new(shape, tensors, head, device).unwrap(),
            reference,
        )
    }

    /// Fine-tuning on a CUDA GPU follows the CPU run: same losses epoch by epoch, same best
    /// epoch, same head and encoder to float tolerance (the kernels sum in another order, so
    /// bits differ). Compiled only with `--features cuda`; there it needs a GPU.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_finetuning_follows_the_cpu_run() {
        let cuda = crate::device::cuda_for_tests();
        let (_, _, info) = tiny::parts(16);
        let run = |device: &Device| {
            let (model, _) = tiny_trainable_on(&zero_head(info.dim), device);
            let mut opts = toy_options();
            opts.epochs = 3;
            let done = finetune(model, &toy_examples(), &opts, &mut |_| {}).unwrap();
            let weights = done.model.encoder_tensors().unwrap()
                ["encoder.layer.0.attention.self.query.weight"]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let head = done.model.head().unwrap();
            (done.history, done.best_epoch, weights, head)
        };
        let (h_cpu, best_cpu, w_cpu, head_cpu) = run(&Device::Cpu);
        let (h_gpu, best_gpu, w_gpu, head_gpu) = run(&cuda);
        assert_eq!(best_cpu, best_gpu);
        assert_eq!(h_cpu.len(), h_gpu.len());
        for (a, b) in h_cpu.iter().zip(&h_gpu) {
            for (x, y) in [
                (a.train_loss, b.train_loss),
                (a.validation_loss, b.validation_loss),
            ] {
                assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-3), "{a:?} vs {b:?}");
            }
        }
        let max_diff = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max)
        };
        assert!(max_diff(&w_cpu, &w_gpu) < 1e-3, "encoder weights drifted");
        for (a, b) in head_cpu.weights.iter().zip(&head_gpu.weights) {
            assert!(max_diff(a, b) < 1e-3, "head weights drifted");
        }
        assert!(max_diff(&head_cpu.bias, &head_gpu.bias) < 1e-3);
    }

    fn zero_head(dim: usize) -> LinearHead {
        LinearHead {
            weights: vec![vec![0.0; dim + 4]; 4],
            bias: vec![0.0; 4],
        }
    }

    #[test]
    fn differentiable_forward_matches_candle_bert() {
        let (_, _, info) = tiny::parts(16);
        let (model, reference) = tiny_trainable(&zero_head(info.dim));
        let (ids, mask) = two_rows();
        let theirs = reference
            .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
            .unwrap();
        let worst = worst_real_token_difference(&model, &theirs);
        assert!(worst < 1e-4, "largest difference from BertModel: {worst}");
    }

    /// Two rows of word-piece ids, the second padded (5 and 3 real tokens), and their mask.
    fn two_rows() -> (Tensor, Tensor) {
        let ids = Tensor::new(&[[2u32, 7, 9, 11, 3], [2, 8, 3, 0, 0]], &Device::Cpu).unwrap();
        let mask = Tensor::new(
            &[[1f32, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]],
            &Device::Cpu,
        )
        .unwrap();
        (ids, mask)
    }

    /// Largest difference between `model`'s token states for [`two_rows`] and `theirs`, over
    /// the real tokens (what padding positions hold is not used by anyone).
    fn worst_real_token_difference(model: &Trainable, theirs: &Tensor) -> f32 {
        let (ids, mask) = two_rows();
        let ours = model.hidden(&ids, &mask).unwrap().to_vec3::<f32>().unwrap();
        let theirs = theirs.to_vec3::<f32>().unwrap();
        let mut worst = 0f32;
        for (r, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            let real = if r == 0 { 5 } else { 3 };
            for (x, y) in a.iter().zip(b).take(real) {
                for (u, v) in x.iter().zip(y) {
                    worst = worst.max((u - v).abs());
                }
            }
        }
        worst
    }

    fn tiny_mpnet_on(head: &LinearHead, device: &Device) -> (Trainable, MpnetModel) {
        let (config, tensors, _) = crate::embed::mpnet::tiny::parts(16);
        let tensors: HashMap<String, Tensor> = tensors
            .into_iter()
            .map(|(n, t)| (n, t.to_device(device).unwrap()))
            .collect();
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, device);
        let reference = MpnetModel::load(vb, &config).unwrap();
        (
            Trainable::new(Arch::Mpnet(config), tensors, head, device).unwrap(),
            reference,
        )
    }

    /// The differentiable MPNet forward pass computes what the inference one does (positions
    /// after the padding index, the shared relative-position bias, eps 1e-5), padded rows
    /// included.
    #[test]
    fn differentiable_forward_matches_mpnet_model() {
        let (_, _, info) = crate::embed::mpnet::tiny::parts(16);
        let (model, reference) = tiny_mpnet_on(&zero_head(info.dim), &Device::Cpu);
        let (ids, mask) = two_rows();
        let worst = worst_real_token_difference(&model, &reference.forward(&ids, &mask).unwrap());
        assert!(worst < 1e-4, "largest difference from MpnetModel: {worst}");
    }

    #[test]
    fn mpnet_finetuning_lowers_the_loss_and_trains_the_position_bias() {
        let (_, _, info) = crate::embed::mpnet::tiny::parts(16);
        let (model, _) = tiny_mpnet_on(&zero_head(info.dim), &Device::Cpu);
        // Gradients reach the first layer and the bias table shared by all layers.
        let after = train_toy_and_check_what_moved(
            model,
            &[
                "encoder.layer.0.attention.attn.q.weight",
                "encoder.relative_attention_bias.weight",
                "embeddings.position_embeddings.weight",
            ],
        );
        // Saved under the checkpoint's names, the tensors load as an inference MPNet.
        let (config, _, _) = crate::embed::mpnet::tiny::parts(16);
        let tensors: HashMap<String, Tensor> = after.into_iter().collect();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        MpnetModel::load(vb, &config).unwrap();
    }

    /// As `cuda_finetuning_follows_the_cpu_run`, for MPNet.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_mpnet_finetuning_follows_the_cpu_run() {
        let cuda = crate::device::cuda_for_tests();
        let (_, _, info) = crate::embed::mpnet::tiny::parts(16);
        let run = |device: &Device| {
            let (model, _) = tiny_mpnet_on(&zero_head(info.dim), device);
            let mut opts = toy_options();
            opts.epochs = 3;
            let done = finetune(model, &toy_examples(), &opts, &mut |_| {}).unwrap();
            let bias = done.model.encoder_tensors().unwrap()
                ["encoder.relative_attention_bias.weight"]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (done.history, done.best_epoch, bias)
        };
        let (h_cpu, best_cpu, b_cpu) = run(&Device::Cpu);
        let (h_gpu, best_gpu, b_gpu) = run(&cuda);
        assert_eq!(best_cpu, best_gpu);
        for (a, b) in h_cpu.iter().zip(&h_gpu) {
            assert!(
                (a.validation_loss - b.validation_loss).abs() <= 1e-3 * a.validation_loss.abs(),
                "{a:?} vs {b:?}"
            );
        }
        for (x, y) in b_cpu.iter().zip(&b_gpu) {
            assert!((x - y).abs() < 1e-3, "position bias drifted: {x} vs {y}");
        }
    }

    fn toy_examples() -> Vec<Example> {
        // Frame f is present when token 10+f occurs; 24 documents of 4 paragraphs.
        let mut out = Vec::new();
        for i in 0..96u32 {
            let mut ids = vec![2u32];
            let mut labels = LabelSet::default();
            for f in Frame::ALL {
                if (i / (f.index() as u32 + 1)).is_multiple_of(2) {
                    ids.push(10 + f.index() as u32);
                    labels.insert(f);
                } else {
                    ids.push(20 + (i % 5));
                }
            }
            ids.push(3);
            out.push(Example {
                ids,
                lexicon: [0.0; 4],
                labels,
                group: format!("doc{}", i / 4),
            });
        }
        out
    }

    fn toy_options() -> FinetuneOptions {
        FinetuneOptions {
            epochs: 6,
            batch_rows: 8,
            lr_encoder: 3e-3,
            lr_head: 3e-2,
            patience: 6,
            validation_folds: 4,
            ..FinetuneOptions::default()
        }
    }

    #[test]
    fn finetuning_lowers_the_loss_and_moves_the_encoder() {
        let (_, _, info) = tiny::parts(16);
        let (model, _) = tiny_trainable(&zero_head(info.dim));
        // Gradients reach the first layer (they would stop at a no-backward layer norm).
        train_toy_and_check_what_moved(
            model,
            &[
                "encoder.layer.0.attention.self.query.weight",
                "embeddings.LayerNorm.weight",
            ],
        );
    }

    /// `stop_after_epochs` ends the run early on the complete run's learning-rate schedule:
    /// its history is exactly the complete run's first epochs (what the CI check of the
    /// committed BitFit model compares), not that of a shorter run (`epochs` = 2), whose
    /// learning rate decays sooner.
    #[test]
    fn stopping_after_two_epochs_gives_the_first_two_epochs_of_the_complete_run() {
        let (_, _, info) = tiny::parts(16);
        let run = |opts: &FinetuneOptions| {
            let (model, _) = tiny_trainable(&zero_head(info.dim));
            finetune(model, &toy_examples(), opts, &mut |_| {}).unwrap()
        };
        let complete = toy_options();
        let full = run(&complete);
        assert!(
            full.history.len() > 2,
            "the toy run must go on past epoch 2"
        );
        let partial = run(&FinetuneOptions {
            stop_after_epochs: Some(2),
            ..complete
        });
        assert_eq!(partial.history, full.history[..2]);
        assert_eq!(partial.steps, 2 * full.steps / full.history.len());
        let shorter = run(&FinetuneOptions {
            epochs: 2,
            ..complete
        });
        assert_ne!(shorter.history[1], full.history[1]);
    }

    /// `micro_batch_rows`: a batch run in parts (of unequal size, and of unequal length, so
    /// padded differently) gives the whole batch's loss and the gradient of every trained
    /// value, to float rounding; parts as large as the batch run it whole, bit for bit; and
    /// a short training in parts follows the whole-batch one.
    #[test]
    fn a_batch_run_in_parts_gives_the_whole_batch_loss_and_gradients() {
        let (_, _, info) = tiny::parts(16);
        // A non-zero head, so gradients reach the encoder.
        let head = LinearHead {
            weights: (0..4)
                .map(|f| {
                    (0..info.dim + 4)
                        .map(|i| ((i * 7 + f * 3) % 11) as f32 / 22.0 - 0.25)
                        .collect()
                })
                .collect(),
            bias: vec![0.1, -0.2, 0.0, 0.3],
        };
        // Lengths 6 to 9 tokens in one batch of 8.
        let examples: Vec<Example> = toy_examples()
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                let sep = e.ids.pop().unwrap();
                e.ids.extend((0..i % 4).map(|k| 20 + k as u32));
                e.ids.push(sep);
                e
            })
            .collect();
        let rows: Vec<&Example> = examples[..8].iter().collect();
        let pos_weight = [1.0, 2.0, 0.5, 1.5];
        let (model, _) = tiny_trainable(&head);
        let (whole_loss, whole) = batch_gradients(&model, &rows, None, &pos_weight).unwrap();
        let grad = |store: &GradStore, v: &Var| store.get(v.as_tensor()).unwrap().clone();
        let max_abs = |t: &Tensor| {
            t.abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let query = &model.params["encoder.layer.0.attention.self.query.weight"];
        assert!(
            max_abs(&grad(&whole, query)) > 1e-4,
            "no gradient reaches layer 0"
        );

        let (same_loss, same) = batch_gradients(&model, &rows, Some(8), &pos_weight).unwrap();
        assert_eq!(same_loss, whole_loss);
        let (parts_loss, parts) = batch_gradients(&model, &rows, Some(3), &pos_weight).unwrap();
        assert!((parts_loss - whole_loss).abs() < 1e-6 * whole_loss.abs().max(1.0));
        for v in model.all_vars() {
            let (w, s, p) = (grad(&whole, v), grad(&same, v), grad(&parts, v));
            assert_eq!(max_abs(&(&w - &s).unwrap()), 0.0);
            let scale = max_abs(&w).max(1e-3);
            let diff = max_abs(&(&w - &p).unwrap());
            assert!(
                diff <= 1e-5 * scale,
                "gradient differs by {diff} (scale {scale})"
            );
        }

        let run = |micro: Option<usize>| {
            let (model, _) = tiny_trainable(&head);
            let opts = FinetuneOptions {
                micro_batch_rows: micro,
                stop_after_epochs: Some(2),
                ..toy_options()
            };
            finetune(model, &examples, &opts, &mut |_| {}).unwrap()
        };
        let (whole_run, parts_run) = (run(None), run(Some(3)));
        assert_eq!(run(Some(8)).history, whole_run.history);
        for (a, b) in whole_run.history.iter().zip(&parts_run.history) {
            assert!((a.train_loss - b.train_loss).abs() < 1e-4, "{a:?} vs {b:?}");
            assert!(
                (a.validation_loss - b.validation_loss).abs() < 1e-4,
                "{a:?} vs {b:?}"
            );
        }
    }

    /// Fine-tune `model` on the toy task; check the validation loss fell by a fifth, every
    /// tensor in `moved` changed and the frozen word-embedding table did not. Gives the
    /// trained encoder tensors.
    fn train_toy_and_check_what_moved(
        model: Trainable,
        moved: &[&str],
    ) -> BTreeMap<String, Tensor> {
        train_toy_with(model, &toy_options(), moved).1
    }

    /// [`train_toy_and_check_what_moved`] under `opts`; gives the tensors before and after.
    fn train_toy_with(
        model: Trainable,
        opts: &FinetuneOptions,
        moved: &[&str],
    ) -> (BTreeMap<String, Tensor>, BTreeMap<String, Tensor>) {
        let before = model.encoder_tensors().unwrap();
        let done = finetune(model, &toy_examples(), opts, &mut |_| {}).unwrap();
        let first = &done.history[0];
        let best = &done.history[done.best_epoch - 1];
        assert!(
            best.validation_loss < first.validation_loss * 0.8,
            "validation loss {} -> {}",
            first.validation_loss,
            best.validation_loss
        );
        let after = done.model.encoder_tensors().unwrap();
        let change = |name: &str| {
            (&after[name] - &before[name])
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        for name in moved {
            assert!(change(name) > 0.0, "{name} did not move");
        }
        assert_eq!(change("embeddings.word_embeddings.weight"), 0.0);
        (before, after)
    }

    /// `base + b a`, computed by hand on a 2x3 matrix with rank-2 adapters.
    #[test]
    fn merge_low_rank_adds_the_product_of_the_adapters() {
        let d = Device::Cpu;
        let base = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &d).unwrap();
        let a = Tensor::new(&[[1f32, 0., 1.], [0., 2., 0.]], &d).unwrap(); // (2, 3)
        let b = Tensor::new(&[[0.5f32, 1.], [0., -1.]], &d).unwrap(); // (2, 2)
        let merged = merge_low_rank(&base, &a, &b).unwrap();
        // b a = [[0.5, 2, 0.5], [0, -2, 0]]
        assert_eq!(
            merged.to_vec2::<f32>().unwrap(),
            vec![vec![1.5, 4., 3.5], vec![4., 3., 6.]]
        );
        let wrong = Tensor::new(&[[1f32, 0.], [0., 2.]], &d).unwrap();
        assert!(merge_low_rank(&base, &wrong, &b).is_err());
        let mut tensors = BTreeMap::from([
            ("m.weight".to_string(), base.clone()),
            (format!("m{LORA_A}"), a),
        ]);
        assert!(merge_adapters(&mut tensors).is_err(), "A without B");
    }

    /// LoRA starts as the model it adapts (B is zero), trains the adapters and BitFit's
    /// tensors, and the model it gives (adapters merged into the query and value matrices,
    /// as a saved model is rebuilt) computes what the adapted forward pass computed.
    #[test]
    fn lora_starts_as_the_base_trains_adapters_and_merges_to_the_same_model() {
        let (_, _, info) = tiny::parts(16);
        let head = zero_head(info.dim);
        let (plain, _) = tiny_trainable(&head);
        let (mut adapted, _) = tiny_trainable(&head);
        let lora = LoraOptions {
            rank: 2,
            alpha: 4.0,
        };
        adapted.add_lora(lora, 7).unwrap();
        let (ids, mask) = two_rows();
        let same = |x: &Trainable, y: &Trainable| {
            let (p, q) = (x.embed(&ids, &mask).unwrap(), y.embed(&ids, &mask).unwrap());
            (p - q)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(
            same(&plain, &adapted),
            0.0,
            "B = 0 must leave the model as it was"
        );

        let opts = FinetuneOptions {
            scope: Scope::Lora,
            lora: Some(lora),
            ..toy_options()
        };
        let (model, _) = tiny_trainable(&head);
        let done = finetune(model, &toy_examples(), &opts, &mut |_| {}).unwrap();
        let best = &done.history[done.best_epoch - 1];
        assert!(best.validation_loss < done.history[0].validation_loss * 0.8);
        let delta = done.model.trained_tensors().unwrap();
        let query = "encoder.layer.0.attention.self.query";
        let value = "encoder.layer.1.attention.self.value";
        for prefix in [query, value] {
            let b = &delta[&format!("{prefix}{LORA_B}")];
            let moved = b
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(moved > 0.0, "{prefix}'s adapter did not train");
        }
        assert!(!delta.contains_key("encoder.layer.0.attention.self.key.lora_A"));
        for name in delta.keys() {
            let adapter = name.ends_with(LORA_A) || name.ends_with(LORA_B);
            assert!(adapter || Scope::Lora.trains(name), "{name} saved");
        }
        let (before, _) = tiny_trainable(&head);
        let before = before.encoder_tensors().unwrap();
        let after = done.model.encoder_tensors().unwrap();
        assert!(
            !after.keys().any(|n| n.contains(".lora_")),
            "adapters left unmerged"
        );
        let changed = |n: &str| {
            before[n].flatten_all().unwrap().to_vec1::<f32>().unwrap()
                != after[n].flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert!(
            changed(&format!("{query}.weight")),
            "query matrix not adapted"
        );
        assert!(!changed("encoder.layer.0.attention.self.key.weight"));
        assert!(!changed("encoder.layer.0.intermediate.dense.weight"));

        // The merged tensors as a fresh model: the same embeddings as the adapted one.
        let shape = done.model.arch().clone();
        let merged: HashMap<String, Tensor> = after.into_iter().collect();
        let rebuilt =
            Trainable::new(shape, merged, &done.model.head().unwrap(), &Device::Cpu).unwrap();
        let diff = same(&done.model, &rebuilt);
        assert!(diff < 1e-5, "merged model differs by {diff}");
    }

    #[test]
    fn bitfit_trains_only_biases_and_layer_norms() {
        let (_, _, info) = tiny::parts(16);
        let (model, _) = tiny_trainable(&zero_head(info.dim));
        let opts = FinetuneOptions {
            scope: Scope::Bias,
            ..toy_options()
        };
        // The loss still falls, and biases in the first layer and the embeddings' layer
        // norm move ...
        let (before, after) = train_toy_with(
            model,
            &opts,
            &[
                "encoder.layer.0.attention.self.query.bias",
                "encoder.layer.0.output.dense.bias",
                "embeddings.LayerNorm.weight",
            ],
        );
        // ... while every weight matrix stays bit for bit the base model's.
        let mut matrices = 0;
        for (name, old) in &before {
            if Scope::Bias.trains(name) {
                continue;
            }
            let same = old.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                == after[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(same, "{name} changed under BitFit");
            matrices += 1;
        }
        assert!(matrices >= 12, "only {matrices} frozen tensors checked");
    }

    #[test]
    fn bitfit_scope_names_the_small_tensors_of_both_architectures() {
        for name in [
            "encoder.layer.3.attention.self.key.bias",
            "encoder.layer.3.attention.output.LayerNorm.weight",
            "encoder.layer.0.attention.attn.q.bias",
            "encoder.relative_attention_bias.weight",
        ] {
            assert!(Scope::Bias.trains(name), "{name}");
        }
        for name in [
            "encoder.layer.3.attention.self.key.weight",
            "encoder.layer.0.intermediate.dense.weight",
            "encoder.layer.0.attention.attn.q.weight",
            "embeddings.position_embeddings.weight",
        ] {
            assert!(!Scope::Bias.trains(name), "{name}");
            assert!(Scope::All.trains(name), "{name}");
        }
    }

    #[test]
    fn validation_scores_are_the_best_epochs_and_give_its_thresholds() {
        let (_, _, info) = tiny::parts(16);
        let (model, _) = tiny_trainable(&zero_head(info.dim));
        let examples = toy_examples();
        let mut opts = toy_options();
        opts.epochs = 3;
        let done = finetune(model, &examples, &opts, &mut |_| {}).unwrap();
        assert_eq!(done.validation.len(), done.validation_rows);
        // Whole documents, each row once, none of them trained on.
        let rows: std::collections::BTreeSet<usize> =
            done.validation.iter().map(|(i, _)| *i).collect();
        assert_eq!(rows.len(), done.validation_rows);
        assert_eq!(done.train_rows + done.validation_rows, examples.len());
        for &i in &rows {
            let doc = &examples[i].group;
            assert!(examples
                .iter()
                .enumerate()
                .filter(|(_, e)| &e.group == doc)
                .all(|(j, _)| rows.contains(&j)));
        }
        // The restored model scores them as stored, and the thresholds come from them.
        let refs: Vec<&Example> = done.validation.iter().map(|(i, _)| &examples[*i]).collect();
        let again = done.model.predict(&refs, opts.batch_rows).unwrap();
        for f in Frame::ALL {
            let p: Vec<f64> = done.validation.iter().map(|(_, p)| p[f.index()]).collect();
            let y: Vec<bool> = refs.iter().map(|e| e.labels.contains(f)).collect();
            assert_eq!(best_threshold(&p, &y), done.thresholds[f.index()], "{f}");
            for (a, b) in p.iter().zip(&again) {
                assert!((a - b[f.index()]).abs() < 1e-6, "{a} vs {}", b[f.index()]);
            }
        }
    }

    #[test]
    fn finetuning_is_deterministic() {
        let (_, _, info) = tiny::parts(16);
        let run = || {
            let (model, _) = tiny_trainable(&zero_head(info.dim));
            let mut opts = toy_options();
            opts.epochs = 2;
            let done = finetune(model, &toy_examples(), &opts, &mut |_| {}).unwrap();
            let t = done.model.encoder_tensors().unwrap();
            (
                t["encoder.layer.0.output.dense.weight"]
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                done.model.head().unwrap(),
                done.history,
            )
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn linear_head_computes_what_the_standardised_head_computes() {
        let head = Head {
            standardizer: Standardizer {
                mean: vec![0.5, -1.0, 0.0],
                std: vec![2.0, 0.5, 1.0],
            },
            frames: Frame::ALL
                .iter()
                .map(|&f| FrameHead {
                    frame: f,
                    l2: 1.0,
                    threshold: 0.4,
                    model: Logistic {
                        weights: vec![0.3, -0.7, f.index() as f64],
                        bias: 0.1,
                    },
                })
                .collect(),
        };
        let linear = LinearHead::from_head(&head).to_head([0.4; 4]);
        let x = [1.5f32, 0.25, -2.0];
        let (a, b) = (head.score(&x), linear.score(&x));
        for f in Frame::ALL {
            assert!(
                (a.get(f) - b.get(f)).abs() < 1e-6,
                "{f}: {} vs {}",
                a.get(f),
                b.get(f)
            );
        }
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((schedule(0, 100, 10) - 0.1).abs() < 1e-12);
        assert!((schedule(9, 100, 10) - 1.0).abs() < 1e-12);
        assert!((schedule(10, 100, 10) - 1.0).abs() < 1e-12);
        assert!((schedule(55, 100, 10) - 0.5).abs() < 1e-12);
        assert!(schedule(99, 100, 10) > 0.0);
    }
}
