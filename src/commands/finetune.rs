//! `frameshift train --finetune` and `frameshift eval --finetune`: the encoder and the head
//! trained together ([`crate::classify::finetune`]).
//!
//! Takes the annotations (joined and embedded as for the frozen head) and a BERT or MPNet
//! model;
//! `train --finetune` gives a model directory (`weights/<model>-finetuned/` by default:
//! `model.safetensors` under the base checkpoint's names, its `config.json` and
//! `tokenizer.json`, a `manifest.json` with the base model's and the data's hashes, the
//! options and the training history, and `head.json`), which every command loads with
//! `--model DIR`; `eval --finetune` runs the grouped 5-fold cross-validation of the
//! committed results with fine-tuning inside each fold and scores the held-out fold through
//! the ordinary embedding path (windows and all), writing
//! `eval/results/<date>-<model>-finetuned.{json,md}` and the out-of-fold scores, with each
//! fold's validation rows and the probabilities its thresholds were chosen from
//! (`.scores.jsonl`).
//!
//! Zero-shot thresholds are not trained for a fine-tuned model (the baseline belongs to the
//! frozen base encoder); `eval --method zeroshot` refuses one.

use super::eval::{test_score_rows, write_scores, ScoreRow};
use super::train::{load_training_data, TrainingData};
use super::{load_encoder, progress_bar, write_json, CommandError, LoadedEncoder};
use crate::classify::finetune::{
    finetune, merge_adapters, Example, FinetuneError, FinetuneOptions, Finetuned, LinearHead,
    Progress, Scope, Trainable, LORA_A, LORA_B,
};
use crate::classify::{
    grouped_folds, head_features, train_head, DataRef, EncoderRef, FrameScores, HeadFile, LabelSet,
    TrainOptions, HEAD_FORMAT,
};
use crate::cli::{
    CompressArgs, EvalArgs, FactorDtype, TrainArgs, COMPRESS_DTYPE, COMPRESS_ITERATIONS,
};
use crate::embed::mpnet::{MpnetConfig, MpnetEncoder, MpnetModel};
use crate::embed::{embed_texts, BertEncoder, EmbedOptions, Encoder, EncoderInfo};
use crate::metrics::evaluate;
use crate::settings::Settings;
use crate::weights::Architecture;
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

impl From<FinetuneError> for CommandError {
    fn from(e: FinetuneError) -> Self {
        CommandError::Input(format!("fine-tuning: {e}"))
    }
}

/// `manifest.json` of a fine-tuned model directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Name the model goes by (`minilm-finetuned`); heads and caches are keyed by it.
    pub name: String,
    pub description: String,
    pub architecture: Architecture,
    pub dim: usize,
    pub max_tokens: usize,
    /// The model it was fine-tuned from: name, fingerprint and file hashes.
    pub base: EncoderRef,
    pub data: DataRef,
    pub options: FinetuneOptions,
    pub history: Vec<crate::classify::finetune::EpochRecord>,
    pub best_epoch: usize,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub steps: usize,
    /// sha256 of every file the model needs (checked on every load).
    pub files: BTreeMap<String, String>,
    /// For a model made by `weights compress` from a fully fine-tuned one: how. Absent
    /// otherwise, so manifests written before it existed read and hash as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
}

/// How `weights compress` made a model from a fully fine-tuned one
/// ([`crate::classify::lowrank`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compression {
    /// Rank kept of each encoder weight matrix's change from the base.
    pub rank: usize,
    /// Rounds of subspace iteration per matrix.
    pub iterations: usize,
    /// Seed of the iteration's random start (with each matrix's name).
    pub seed: u64,
    /// `f16` or `f32`: the stored factors' arithmetic.
    pub dtype: String,
    /// The fully fine-tuned model approximated: its name and the sha256 of its
    /// `model.safetensors`, which is not distributed.
    pub source: String,
    pub source_model_sha256: String,
    /// Matrices stored as factors, and the least and the mean share of their change (squared
    /// Frobenius norm) the rank keeps.
    pub matrices: usize,
    pub kept_min: f64,
    pub kept_mean: f64,
    /// Other tensors that changed (biases, layer norms, position tables), stored whole.
    pub whole: usize,
}

impl Manifest {
    /// Whether the directory holds only what differs from its base (BitFit, LoRA, or a
    /// compressed model) and is rebuilt from it.
    fn rebuilt_from_base(&self) -> bool {
        self.options.scope != Scope::All || self.compression.is_some()
    }
}

pub const MANIFEST: &str = "manifest.json";

/// Options from the command line (clap keeps `--bitfit` and `--lora` apart).
fn options(epochs: Option<usize>, bitfit: bool, lora: bool) -> FinetuneOptions {
    let mut opts = if lora {
        FinetuneOptions::lora()
    } else if bitfit {
        FinetuneOptions::bitfit()
    } else {
        FinetuneOptions::default()
    };
    if let Some(e) = epochs {
        opts.epochs = e;
    }
    opts
}

/// The annotated paragraphs as training examples: `[CLS]` + the first window's word
/// pieces + `[SEP]`, and the lexicon indicators the frozen head reads.
pub fn examples(
    data: &TrainingData,
    encoder: &LoadedEncoder,
) -> Result<Vec<Example>, CommandError> {
    let info = encoder.encoder.info();
    let dim = info.dim;
    data.labelled
        .iter()
        .zip(&data.set.x)
        .map(|(l, x)| {
            let pieces = encoder
                .encoder
                .tokenize(&l.paragraph.text)
                .map_err(|e| CommandError::Input(format!("{}: {e}", l.paragraph.id)))?;
            let mut ids = Vec::with_capacity(info.max_tokens);
            ids.push(info.cls_id);
            ids.extend(pieces.iter().take(info.max_tokens - 2));
            ids.push(info.sep_id);
            let mut lexicon = [0f32; 4];
            lexicon.copy_from_slice(&x[dim..dim + 4]);
            Ok(Example {
                ids,
                lexicon,
                labels: l.labels,
                group: l.paragraph.doc.clone(),
            })
        })
        .collect()
}

/// Fine-tune the base model on `rows` of the data: linear probe on the frozen features of
/// those rows first (the head's own training), then encoder and head together.
fn finetune_rows(
    base: &LoadedEncoder,
    data: &TrainingData,
    all: &[Example],
    rows: &[usize],
    opts: &FinetuneOptions,
    settings: &Settings,
    label: &str,
) -> Result<Finetuned, CommandError> {
    let probe = train_head(&data.set.subset(rows), &TrainOptions::default());
    let start = LinearHead::from_head(&probe);
    let model = Trainable::load(
        &base.model.dir,
        base.model.spec.architecture,
        &start,
        &base.device,
    )?;
    let chosen: Vec<Example> = rows.iter().map(|&i| all[i].clone()).collect();
    let bar = progress_bar(settings, 0, "steps");
    bar.set_message(label.to_string());
    let chatty = settings.chatty();
    let done = finetune(model, &chosen, opts, &mut |p| match p {
        Progress::Step { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Progress::Epoch(r) => {
            if chatty {
                bar.suspend(|| {
                    eprintln!(
                        "{label} epoch {}: train loss {:.4}, validation loss {:.4}, validation macro-F1 {:.3}",
                        r.epoch, r.train_loss, r.validation_loss, r.validation_macro_f1
                    )
                });
            }
        }
    })?;
    bar.finish_and_clear();
    if chatty {
        eprintln!(
            "{label}: best epoch {} of {} ({} training rows, {} validation rows)",
            done.best_epoch,
            done.history.len(),
            done.train_rows,
            done.validation_rows
        );
    }
    Ok(done)
}

/// An ordinary candle encoder running fine-tuned tensors (what `--model DIR` loads, without
/// the round trip through a file).
fn encoder_from(
    base: &LoadedEncoder,
    tuned: &Finetuned,
    name: String,
) -> Result<Box<dyn Encoder>, CommandError> {
    let tensors: HashMap<String, Tensor> = tuned.model.encoder_tensors()?.into_iter().collect();
    encoder_from_tensors(base, tensors, name)
}

/// An in-memory encoder of `base`'s architecture, tokenizer and device on `tensors`.
fn encoder_from_tensors(
    base: &LoadedEncoder,
    tensors: HashMap<String, Tensor>,
    name: String,
) -> Result<Box<dyn Encoder>, CommandError> {
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &base.device);
    let tokenizer = crate::embed::load_tokenizer(&base.model.path("tokenizer.json"))?;
    let info = EncoderInfo {
        name,
        fingerprint: "in-memory".into(),
        ..base.encoder.info().clone()
    };
    let device = base.device.clone();
    let config = base.model.path("config.json");
    Ok(match base.model.spec.architecture {
        Architecture::Bert => {
            let model = BertModel::load(vb, &read_json::<BertConfig>(&config)?)
                .map_err(crate::embed::EmbedError::from)?;
            Box::new(BertEncoder::from_parts(model, tokenizer, device, info))
        }
        Architecture::Mpnet => {
            let model = MpnetModel::load(vb, &read_json::<MpnetConfig>(&config)?)
                .map_err(crate::embed::EmbedError::from)?;
            Box::new(MpnetEncoder::from_parts(model, tokenizer, device, info))
        }
    })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|e| CommandError::io(path.display(), e))?;
    serde_json::from_str(&text).map_err(|e| CommandError::Input(format!("{}: {e}", path.display())))
}

/// What both commands start from: the base encoder, the embedded annotations, their
/// training examples and the options.
fn prepare(
    encoder: &crate::cli::EncoderArgs,
    data: &crate::cli::DataArgs,
    epochs: Option<usize>,
    (bitfit, lora): (bool, bool),
    settings: &Settings,
) -> Result<(LoadedEncoder, TrainingData, Vec<Example>, FinetuneOptions), CommandError> {
    let base = load_encoder(encoder, settings)?;
    let data = load_training_data(data, &base, encoder, settings)?;
    let all = examples(&data, &base)?;
    Ok((base, data, all, options(epochs, bitfit, lora)))
}

/// The name a fine-tuned model goes by (`minilm-finetuned`, `minilm-bitfit`,
/// `minilm-lora`).
fn finetuned_name(base: &LoadedEncoder, scope: Scope) -> String {
    let suffix = match scope {
        Scope::All => "finetuned",
        Scope::Bias => "bitfit",
        Scope::Lora => "lora",
    };
    format!("{}-{suffix}", base.model.spec.name)
}

/// The file of a BitFit or LoRA model directory that holds the trained tensors; the full
/// `model.safetensors` is rebuilt from the base model and them by [`materialise`].
pub const TRAINED: &str = "trained.safetensors";

/// The files of a model directory that are derived from the base model: what
/// [`materialise`] writes for a BitFit or LoRA directory (and not committed).
const DERIVED: [&str; 3] = ["model.safetensors", "config.json", "tokenizer.json"];

/// Write a BitFit or LoRA directory's `model.safetensors` (the base checkpoint's tensors
/// with the trained ones put in their place, and LoRA's adapters merged into their
/// matrices), `config.json` and `tokenizer.json` from the base model in `base_dir`.
/// Deterministic: the same base and trained tensors give the same bytes on every machine
/// (BitFit's tensors are copied; LoRA's merge sums in a fixed order,
/// [`crate::classify::finetune::merge_low_rank`]; safetensors orders tensors by dtype and
/// name), so the manifest's sha256 of `model.safetensors` checks the result.
fn materialise(dir: &Path, base_dir: &Path) -> Result<(), CommandError> {
    let fail = |path: &Path, e: candle_core::Error| {
        CommandError::Input(format!("{}: {e}", path.display()))
    };
    let base_path = base_dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&base_path, &candle_core::Device::Cpu)
        .map_err(|e| fail(&base_path, e))?;
    let trained_path = dir.join(TRAINED);
    let trained = candle_core::safetensors::load(&trained_path, &candle_core::Device::Cpu)
        .map_err(|e| fail(&trained_path, e))?;
    let (adapters, trained): (HashMap<_, _>, HashMap<_, _>) = trained
        .into_iter()
        .partition(|(name, _)| name.ends_with(LORA_A) || name.ends_with(LORA_B));
    for (name, t) in trained {
        match tensors.get(&name) {
            Some(old) if old.shape() == t.shape() && old.dtype() == t.dtype() => {
                tensors.insert(name, t);
            }
            _ => {
                return Err(CommandError::Input(format!(
                    "{}: tensor `{name}` has no counterpart of its shape in {}",
                    trained_path.display(),
                    base_path.display()
                )))
            }
        }
    }
    if !adapters.is_empty() {
        let mut merged: BTreeMap<String, Tensor> = tensors.into_iter().collect();
        merged.extend(adapters);
        merge_adapters(&mut merged)
            .map_err(|e| CommandError::Input(format!("{}: {e}", trained_path.display())))?;
        tensors = merged.into_iter().collect();
    }
    // Each file appears whole or not at all (written aside, then renamed; the aside name is
    // the process's, as two commands started together on a fresh clone may both rebuild).
    let aside = |file: &str| dir.join(format!("{file}.{}.tmp", std::process::id()));
    let place = |from: &Path, file: &str| {
        std::fs::rename(from, dir.join(file)).map_err(|e| CommandError::io(from.display(), e))
    };
    for file in ["config.json", "tokenizer.json"] {
        let tmp = aside(file);
        std::fs::copy(base_dir.join(file), &tmp).map_err(|e| CommandError::io(tmp.display(), e))?;
        place(&tmp, file)?;
    }
    let tmp = aside("model.safetensors");
    super::save_safetensors(&tensors, &tmp)?;
    place(&tmp, "model.safetensors")
}

/// `frameshift train --finetune`: fine-tune on all annotations and write a model directory.
pub fn train(args: &TrainArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    // Refused before the training, not after it: a base model's name would send the default
    // directory onto its fetched weights and make `--model NAME` ambiguous.
    if let Some(n) = &args.name {
        if crate::weights::Registry::load(&settings.home)?
            .models
            .contains_key(n)
        {
            return Err(CommandError::Input(format!(
                "--name {n}: that is a base model's name in weights/models.toml; choose another"
            )));
        }
    }
    let (base, data, all, mut opts) = prepare(
        &args.encoder,
        &args.data,
        args.epochs,
        (args.bitfit, args.lora),
        settings,
    )?;
    opts.stop_after_epochs = args.stop_after_epochs.map(|n| n as usize);
    opts.micro_batch_rows = args.micro_batch.map(|n| n as usize);
    let rows: Vec<usize> = (0..all.len()).collect();
    let tuned = finetune_rows(&base, &data, &all, &rows, &opts, settings, "fine-tuning")?;

    let name = args
        .name
        .clone()
        .unwrap_or_else(|| finetuned_name(&base, opts.scope));
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| settings.home.join("weights").join(&name));
    std::fs::create_dir_all(&dir).map_err(|e| CommandError::io(dir.display(), e))?;
    let mut written = DERIVED.to_vec();
    match opts.scope {
        Scope::All => {
            let tensors: HashMap<String, Tensor> =
                tuned.model.encoder_tensors()?.into_iter().collect();
            super::save_safetensors(&tensors, &dir.join("model.safetensors"))?;
            for file in ["config.json", "tokenizer.json"] {
                std::fs::copy(base.model.path(file), dir.join(file))
                    .map_err(|e| CommandError::io(dir.join(file).display(), e))?;
            }
        }
        // Only the trained tensors are the model's own; the rest is rebuilt from the base
        // by the same function that rebuilds it on a user's machine.
        Scope::Bias | Scope::Lora => {
            let trained: HashMap<String, Tensor> =
                tuned.model.trained_tensors()?.into_iter().collect();
            super::save_safetensors(&trained, &dir.join(TRAINED))?;
            materialise(&dir, &base.model.dir)?;
            written.push(TRAINED);
        }
    }
    let mut files = BTreeMap::new();
    for file in written {
        files.insert(
            file.to_string(),
            crate::weights::sha256_file(&dir.join(file))?,
        );
    }
    let head_data = super::train::fit_head_file_data(&data);
    let manifest = Manifest {
        name: name.clone(),
        description: format!(
            "{} fine-tuned with the frame head on the project's annotations",
            base.model.spec.description
        ),
        architecture: base.model.spec.architecture,
        dim: base.model.spec.dim,
        max_tokens: base.model.spec.max_tokens,
        base: EncoderRef {
            model: base.model.spec.name.clone(),
            fingerprint: base.model.fingerprint(),
            files: base.model.files.clone(),
        },
        data: head_data.clone(),
        options: opts,
        history: tuned.history.clone(),
        best_epoch: tuned.best_epoch,
        train_rows: tuned.train_rows,
        validation_rows: tuned.validation_rows,
        steps: tuned.steps,
        files: files.clone(),
        compression: None,
    };
    write_json(
        &dir.join(MANIFEST),
        &serde_json::to_value(&manifest).expect("manifest serialises"),
    )?;
    let resolved = resolve_dir(&dir, &settings.home, None)?;
    let head = HeadFile {
        format: HEAD_FORMAT,
        encoder: EncoderRef {
            model: name.clone(),
            fingerprint: resolved.fingerprint(),
            files,
        },
        data: head_data,
        options: TrainOptions::default(),
        head: tuned.model.head()?.to_head(tuned.thresholds),
        // The zero-shot baseline belongs to the base model's head file; it is not retrained.
        zeroshot_thresholds: [0.5; 4],
        lexicon: data.lexicon.terms(),
    };
    let json = head.to_json();
    super::write_atomically(&dir.join("head.json"), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;
    if settings.chatty() {
        eprintln!(
            "fine-tuned {} on {} paragraphs ({} for validation), best epoch {} -> {}",
            base.model.spec.name,
            tuned.train_rows + tuned.validation_rows,
            tuned.validation_rows,
            tuned.best_epoch,
            dir.display()
        );
    }
    if let Some(n) = opts.stop_after_epochs.filter(|&n| n < opts.epochs) {
        // Said even with -q: the directory is not the model a complete run would write.
        eprintln!(
            "note: stopped after {n} of {} epochs (--stop-after-epochs): a partial run, recorded as such in its manifest",
            opts.epochs
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `frameshift weights compress`: a fully fine-tuned model directory as one that holds each
/// encoder weight matrix's change from the base at `--rank` ([`crate::classify::lowrank`],
/// saved as LoRA's adapters are) and the other changed tensors whole, with the source's
/// manifest (plus [`Compression`]) and head (its thresholds included, as chosen for the full
/// model); [`materialise`] rebuilds it from the base as it rebuilds a LoRA model.
pub fn compress(args: &CompressArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let src = if is_model_dir(&args.model) {
        args.model.clone()
    } else {
        settings.home.join("weights").join(&args.model)
    };
    let manifest: Manifest = read_json(&src.join(MANIFEST))?;
    if manifest.rebuilt_from_base() {
        return Err(CommandError::Input(format!(
            "{}: holds only what differs from its base already; `weights compress` takes a \
             fully fine-tuned model (`train --finetune` without --bitfit or --lora)",
            src.display()
        )));
    }
    if args.rank == 0 {
        return Err(CommandError::Input("--rank 0 keeps nothing".into()));
    }
    // The full model as its manifest hashes it, and the base it was trained from.
    resolve_dir(&src, &settings.home, None)?;
    let registry = crate::weights::Registry::load(&settings.home)?;
    let base = resolve_base(&manifest, &src, &settings.home, args.weights.clone())?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-r{}", manifest.name, args.rank));
    if registry.models.contains_key(&name) {
        return Err(CommandError::Input(format!(
            "--name {name}: that is a base model's name in weights/models.toml; choose another"
        )));
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| settings.home.join("weights").join(&name));
    if dir.canonicalize().ok() == src.canonicalize().ok() {
        return Err(CommandError::Input(format!(
            "{}: the output would overwrite the model it compresses",
            dir.display()
        )));
    }

    let load = |path: PathBuf| {
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
            .map_err(|e| CommandError::Input(format!("{}: {e}", path.display())))
    };
    let tuned: BTreeMap<String, Tensor> =
        load(src.join("model.safetensors"))?.into_iter().collect();
    let base_tensors = load(base.dir.join("model.safetensors"))?;
    let dtype = factor_dtype(args.dtype);
    let seed = manifest.options.seed;
    let Compressed {
        trained,
        kept,
        whole,
    } = compress_tensors(
        &tuned,
        &base_tensors,
        args.rank,
        args.iterations,
        seed,
        dtype,
    )
    .map_err(|e| CommandError::Input(format!("{}: {e}", src.display())))?;
    std::fs::create_dir_all(&dir).map_err(|e| CommandError::io(dir.display(), e))?;
    super::save_safetensors(&trained, &dir.join(TRAINED))?;
    materialise(&dir, &base.dir)?;
    let mut files = BTreeMap::new();
    for file in DERIVED.iter().chain([&TRAINED]) {
        files.insert(
            file.to_string(),
            crate::weights::sha256_file(&dir.join(file))?,
        );
    }
    let kept_min = kept.iter().copied().fold(1.0, f64::min);
    let kept_mean = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
    let compressed = Manifest {
        name: name.clone(),
        description: format!(
            "{}; each encoder weight matrix's change from the base kept at rank {}",
            manifest.description, args.rank
        ),
        files: files.clone(),
        compression: Some(Compression {
            rank: args.rank,
            iterations: args.iterations,
            seed,
            dtype: format!("{:?}", args.dtype).to_lowercase(),
            source: manifest.name.clone(),
            source_model_sha256: manifest.files["model.safetensors"].clone(),
            matrices: kept.len(),
            kept_min,
            kept_mean,
            whole,
        }),
        ..manifest
    };
    write_json(
        &dir.join(MANIFEST),
        &serde_json::to_value(&compressed).expect("manifest serialises"),
    )?;
    let resolved = resolve_dir(&dir, &settings.home, args.weights.clone())?;
    let mut head: HeadFile = read_json(&head_path(&src))?;
    head.encoder = EncoderRef {
        model: name.clone(),
        fingerprint: resolved.fingerprint(),
        files,
    };
    let json = head.to_json();
    super::write_atomically(&head_path(&dir), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;
    if settings.chatty() {
        let size = std::fs::metadata(dir.join(TRAINED))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!(
            "compressed {} into {}: {} matrices at rank {} (share of their change kept: least \
             {kept_min:.3}, mean {kept_mean:.3}), {whole} other tensors whole; {} is {:.1} MB",
            src.display(),
            dir.display(),
            kept.len(),
            args.rank,
            TRAINED,
            size as f64 / 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What [`compress_tensors`] keeps of a fully fine-tuned encoder: the tensors of a
/// `trained.safetensors` (factors under LoRA's adapter names, other changed tensors
/// whole), the share of each factored matrix's change kept, and how many are whole.
struct Compressed {
    trained: HashMap<String, Tensor>,
    kept: Vec<f64>,
    whole: usize,
}

/// The fine-tuned encoder `tuned` as its difference from `base`: each transformer layer's
/// weight matrix that changed as rank-`rank` factors in `dtype`
/// ([`crate::classify::lowrank`], seeded by `seed` and the matrix's name), every other
/// tensor that changed whole, unchanged ones left out (the base supplies them).
fn compress_tensors(
    tuned: &BTreeMap<String, Tensor>,
    base: &HashMap<String, Tensor>,
    rank: usize,
    iterations: usize,
    seed: u64,
    dtype: DType,
) -> Result<Compressed, FinetuneError> {
    let mut trained: HashMap<String, Tensor> = HashMap::new();
    let (mut kept, mut whole) = (Vec::new(), 0usize);
    for (tensor_name, t) in tuned {
        let mismatch = || {
            FinetuneError::Invalid(format!(
                "tensor `{tensor_name}` has no counterpart of its shape in the base model"
            ))
        };
        let b = base.get(tensor_name).ok_or_else(mismatch)?;
        if b.shape() != t.shape() || b.dtype() != t.dtype() {
            return Err(mismatch());
        }
        let t = t.to_device(&candle_core::Device::Cpu)?;
        if t.dtype() != DType::F32 {
            // Integer tables (position ids) are never trained; one that differs is stored.
            if flat::<f64>(&t)? != flat::<f64>(b)? {
                trained.insert(tensor_name.clone(), t);
                whole += 1;
            }
            continue;
        }
        let (tv, bv) = (flat::<f32>(&t)?, flat::<f32>(b)?);
        if tv == bv {
            continue;
        }
        let prefix = tensor_name.strip_suffix(".weight");
        match (prefix, t.dims()) {
            // The transformer layers' matrices: nearly all of the parameters that change,
            // and the only tensors large enough to need the rank.
            (Some(prefix), &[rows, cols])
                if tensor_name.starts_with("encoder.layer.")
                    && !tensor_name.contains("LayerNorm") =>
            {
                let delta: Vec<f64> = tv
                    .iter()
                    .zip(&bv)
                    .map(|(t, b)| *t as f64 - *b as f64)
                    .collect();
                let lr = crate::classify::lowrank::low_rank(
                    &delta,
                    rows,
                    cols,
                    rank,
                    iterations,
                    crate::classify::seeded_hash(seed, tensor_name),
                );
                let factor = |v: Vec<f32>, shape: (usize, usize)| {
                    Tensor::from_vec(v, shape, &candle_core::Device::Cpu)
                        .and_then(|t| t.to_dtype(dtype))
                };
                trained.insert(format!("{prefix}{LORA_A}"), factor(lr.a, (lr.rank, cols))?);
                trained.insert(format!("{prefix}{LORA_B}"), factor(lr.b, (rows, lr.rank))?);
                kept.push(lr.kept);
            }
            _ => {
                trained.insert(tensor_name.clone(), t);
                whole += 1;
            }
        }
    }
    Ok(Compressed {
        trained,
        kept,
        whole,
    })
}

/// `base` with `trained` (from [`compress_tensors`]) put in: changed tensors replaced,
/// factors merged into their matrices as [`materialise`] merges them.
fn rebuild_tensors(
    base: &HashMap<String, Tensor>,
    trained: &HashMap<String, Tensor>,
) -> Result<HashMap<String, Tensor>, FinetuneError> {
    let mut merged: BTreeMap<String, Tensor> = base.clone().into_iter().collect();
    merged.extend(trained.clone());
    merge_adapters(&mut merged)?;
    Ok(merged.into_iter().collect())
}

/// The base model `manifest` (of the directory `dir`) was trained from, found under `home`
/// (or in `weights`) like any registry model, and refused unless its files are the ones the
/// manifest hashes.
fn resolve_base(
    manifest: &Manifest,
    dir: &Path,
    home: &Path,
    weights: Option<PathBuf>,
) -> Result<crate::weights::ResolvedModel, CommandError> {
    let registry = crate::weights::Registry::load(home)?;
    let base = crate::weights::resolve(
        registry.get(Some(&manifest.base.model))?,
        &crate::weights::ResolveOptions::for_home(home, weights),
    )?;
    if base.files != manifest.base.files {
        return Err(CommandError::Input(format!(
            "{}: trained from a `{}` whose files differ from the ones at {}",
            dir.display(),
            manifest.base.model,
            base.dir.display()
        )));
    }
    Ok(base)
}

/// The tensor type of `weights compress --dtype`.
fn factor_dtype(dtype: FactorDtype) -> DType {
    match dtype {
        FactorDtype::F16 => DType::F16,
        FactorDtype::F32 => DType::F32,
    }
}

/// A tensor's values, flattened, in `T`.
fn flat<T: candle_core::WithDType>(t: &Tensor) -> Result<Vec<T>, FinetuneError> {
    Ok(t.flatten_all()?.to_dtype(T::DTYPE)?.to_vec1::<T>()?)
}

/// A fine-tuned model directory as a resolved, hash-checked model. A BitFit directory
/// whose derived files are missing (a fresh clone) gets them from its base model, found
/// under `home` (or in `base_weights`, `--weights`) like any registry model and checked
/// against the manifest's hashes.
pub fn resolve_dir(
    dir: &Path,
    home: &Path,
    base_weights: Option<PathBuf>,
) -> Result<crate::weights::ResolvedModel, CommandError> {
    let manifest: Manifest = read_json(&dir.join(MANIFEST))?;
    // A BitFit or LoRA model is its base plus the trained tensors, so the base must be at
    // hand and be the one it was trained from even when the rebuilt files are already
    // there: the model works (or fails for want of the base, saying how to fetch it) the
    // same way on a fresh clone and on a machine that rebuilt it before.
    if manifest.rebuilt_from_base() {
        let base = resolve_base(&manifest, dir, home, base_weights)?;
        // Checked before anything is built from it (the built model is checked again below).
        let trained = dir.join(TRAINED);
        let sha = crate::weights::sha256_file(&trained)?;
        if manifest.files.get(TRAINED) != Some(&sha) {
            return Err(CommandError::Input(format!(
                "{}: sha256 {sha} is not the one its manifest records",
                trained.display()
            )));
        }
        if DERIVED.iter().any(|f| !dir.join(f).is_file()) {
            tracing::info!("rebuilding {} from {}", dir.display(), base.dir.display());
            materialise(dir, &base.dir)?;
        }
    }
    let spec = crate::weights::ModelSpec {
        name: manifest.name,
        description: manifest.description,
        architecture: manifest.architecture,
        dim: manifest.dim,
        max_tokens: manifest.max_tokens,
        pooling: "mean".into(),
        normalize: true,
        hf_repo: None,
        hf_revision: None,
        pypi: Vec::new(),
        pypi_dir: None,
        pypi_split_zip: None,
        files: manifest.files,
    };
    let opts = crate::weights::ResolveOptions {
        explicit_dir: Some(dir.to_path_buf()),
        allow_download: false,
        ..crate::weights::ResolveOptions::for_home(dir, None)
    };
    Ok(crate::weights::resolve(&spec, &opts)?)
}

/// Whether `--model` names a fine-tuned model directory rather than a registry entry.
pub fn is_model_dir(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
}

/// Where a model directory's head lives.
pub fn head_path(dir: &Path) -> PathBuf {
    dir.join("head.json")
}

/// `frameshift eval --finetune`: grouped k-fold cross-validation with fine-tuning per fold.
pub fn cross_validate(args: &EvalArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let (base, data, all, mut opts) = prepare(
        &args.encoder,
        &args.data,
        args.epochs,
        (args.bitfit, args.lora),
        settings,
    )?;
    opts.micro_batch_rows = args.micro_batch.map(|n| n as usize);
    let compress_rank = args.compress_rank.map(|r| r as usize);
    if compress_rank.is_some() && opts.scope != Scope::All {
        return Err(CommandError::Input(
            "--compress-rank compresses a fully fine-tuned model; not with --bitfit or --lora"
                .into(),
        ));
    }
    // The base's tensors, which each fold's compressed model is the difference from.
    let base_tensors = match compress_rank {
        Some(_) => {
            let path = base.model.path("model.safetensors");
            Some(
                candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
                    .map_err(|e| CommandError::Input(format!("{}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let mut cv = TrainOptions::default();
    if let Some(seed) = args.seed {
        cv.seed = seed;
    }
    let set = &data.set;
    let n = set.len();
    let folds = grouped_folds(&set.groups, cv.folds, cv.seed);
    let embed_opts = EmbedOptions {
        batch_tokens: args.encoder.batch_tokens,
        window_overlap: args.encoder.window_overlap,
    };
    let mut scores = vec![FrameScores::default(); n];
    let mut labels = vec![LabelSet::default(); n];
    // The same for each fold's model compressed (with --compress-rank), and what it kept.
    let mut compressed_scores = vec![FrameScores::default(); n];
    let mut compressed_labels = vec![LabelSet::default(); n];
    let mut kept_by_fold = Vec::new();
    let mut fold_records = Vec::new();
    let mut validation_rows = Vec::new();
    for f in 0..cv.folds {
        let train: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
        let label = format!("fold {}/{}", f + 1, cv.folds);
        let tuned = finetune_rows(&base, &data, &all, &train, &opts, settings, &label)?;
        let encoder = encoder_from(&base, &tuned, finetuned_name(&base, opts.scope))?;
        let head = tuned.model.head()?.to_head(tuned.thresholds);
        let texts: Vec<&str> = test
            .iter()
            .map(|&i| data.labelled[i].paragraph.text.as_str())
            .collect();
        let vectors = embed_texts(encoder.as_ref(), &texts, &embed_opts)?;
        for ((&i, v), t) in test.iter().zip(&vectors).zip(&texts) {
            let (s, l) = head.predict(&head_features(&v.vector, t, &data.lexicon));
            scores[i] = s;
            labels[i] = l;
        }
        if let (Some(rank), Some(base_tensors)) = (compress_rank, &base_tensors) {
            // As `weights compress` would compress this fold's model (its default rounds and
            // factor type), rebuilt as a user's machine rebuilds it; the head and thresholds
            // are the full model's, as in a compressed directory.
            let c = compress_tensors(
                &tuned.model.encoder_tensors()?,
                base_tensors,
                rank,
                COMPRESS_ITERATIONS,
                opts.seed,
                factor_dtype(COMPRESS_DTYPE),
            )?;
            let rebuilt = rebuild_tensors(base_tensors, &c.trained)?;
            let encoder = encoder_from_tensors(
                &base,
                rebuilt,
                format!("{}-r{rank}", finetuned_name(&base, opts.scope)),
            )?;
            let vectors = embed_texts(encoder.as_ref(), &texts, &embed_opts)?;
            for ((&i, v), t) in test.iter().zip(&vectors).zip(&texts) {
                let (s, l) = head.predict(&head_features(&v.vector, t, &data.lexicon));
                compressed_scores[i] = s;
                compressed_labels[i] = l;
            }
            kept_by_fold.push(serde_json::json!({
                "fold": f,
                "matrices": c.kept.len(),
                "kept_min": c.kept.iter().copied().fold(1.0, f64::min),
                "kept_mean": c.kept.iter().sum::<f64>() / c.kept.len().max(1) as f64,
                "whole": c.whole,
            }));
        }
        for (k, p) in &tuned.validation {
            let i = train[*k];
            let s = FrameScores([p[0] as f32, p[1] as f32, p[2] as f32, p[3] as f32]);
            validation_rows.push(ScoreRow {
                id: &data.labelled[i].paragraph.id,
                fold: f,
                split: "validation",
                gold: set.y[i],
                scores: s,
                predicted: Some(s.labels(&tuned.thresholds)),
            });
        }
        fold_records.push(serde_json::json!({
            "fold": f,
            "train_rows": tuned.train_rows,
            "validation_rows": tuned.validation_rows,
            "test_rows": test.len(),
            "best_epoch": tuned.best_epoch,
            "history": tuned.history,
            "thresholds": tuned.thresholds,
        }));
    }
    let documents: std::collections::BTreeSet<&str> =
        set.groups.iter().map(|g| g.as_str()).collect();
    let date = super::eval::today_utc();
    let dir = args
        .results
        .clone()
        .unwrap_or_else(|| settings.home.join("eval").join("results"));
    // Writes one cross-validation's JSON, markdown and scores files under `name`.
    let write = |name: &str,
                 scores: &[FrameScores],
                 labels: &[LabelSet],
                 compression: Option<serde_json::Value>|
     -> Result<(serde_json::Value, String), CommandError> {
        let report = evaluate(&set.y, labels, Some(scores));
        let sources = super::eval::by_source(&data.labelled, &set.y, labels, scores);
        let mut result = serde_json::json!({
            "date": date,
            "frameshift_version": env!("CARGO_PKG_VERSION"),
            "model": name,
            "base_model": base.model.spec.name,
            "base_model_files": base.model.files,
            "base_model_fingerprint": base.model.fingerprint(),
            "annotations_sha256": data.annotations.sha256,
            "paragraphs": n,
            "documents": documents.len(),
            "folds": cv.folds,
            "seed": cv.seed,
            "finetune_options": opts,
            // Where the training ran: kernels sum in another order on a GPU, so the same run
            // gives other bits there (README, "Fine-tuned MiniLM").
            "device": crate::device::name(&base.device),
            "protocol": "grouped k-fold by document; in each fold: linear probe on frozen embeddings of the training folds, then encoder + head fine-tuned on them with early stopping and thresholds on a grouped validation split of the training folds; held-out fold embedded through the ordinary windowed path",
            "macro_f1": report.macro_f1,
            "micro_f1": report.micro_f1,
            "per_frame": serde_json::to_value(&report.per_frame).expect("serialises"),
            "report": serde_json::to_value(&report).expect("serialises"),
            "by_source": super::eval::by_source_json(&sources),
            "confusions": crate::metrics::confusions(&set.y, labels),
            "folds_detail": fold_records,
        });
        if let Some(c) = compression {
            result["compression"] = c;
            result["protocol"] = serde_json::Value::String(format!(
                "{} Each fold's model then compressed as `weights compress` compresses it (each encoder weight matrix's change from the base at the rank of `compression`), rebuilt, and the held-out fold scored with the full model's head and thresholds.",
                result["protocol"].as_str().unwrap_or_default()
            ));
        }
        let mut md = format!(
            "# frameshift eval --finetune: grouped {}-fold cross-validation ({date})\n\n\
             Base model `{}` (fingerprint `{}`), annotations sha256 `{}`, {} paragraphs from {} documents, seed {}.\n\
             Fine-tuning: {} epochs at most, batch {}, lr {} (encoder) / {} (head), warm-up {}, weight decay {}, \
             patience {}, validation = 1 of {} grouped folds of the training rows, positive weight (neg/pos)^{}.{}\n\n{}\n{}",
            cv.folds,
            base.model.spec.name,
            &base.model.fingerprint()[..16],
            &data.annotations.sha256[..16],
            n,
            documents.len(),
            cv.seed,
            opts.epochs,
            opts.batch_rows,
            opts.lr_encoder,
            opts.lr_head,
            opts.warmup_fraction,
            opts.weight_decay,
            opts.patience,
            opts.validation_folds,
            opts.pos_weight_power,
            match opts.scope {
                Scope::All => String::new(),
                Scope::Bias => " Trained: the biases and layer norms of the encoder (BitFit) and the head; weight matrices frozen.".to_string(),
                Scope::Lora => format!(
                    " Trained: the biases and layer norms of the encoder, rank-{} adapters (alpha {}) on its attention query and value matrices (LoRA), and the head; the other weight matrices frozen.",
                    opts.lora.map_or(0, |l| l.rank),
                    opts.lora.map_or(0.0, |l| l.alpha)
                ),
            },
            report.to_markdown(&format!(
                "{} {}",
                match opts.scope {
                    Scope::All => "fine-tuned",
                    Scope::Bias => "BitFit",
                    Scope::Lora => "LoRA",
                },
                base.model.spec.name
            )),
            crate::metrics::confusions(&set.y, labels).to_markdown("Remaining confusions"),
        );
        for (kind, r) in &sources {
            md.push('\n');
            md.push_str(&r.to_markdown(&format!("{kind} paragraphs only")));
        }
        write_json(&dir.join(format!("{date}-{name}.json")), &result)?;
        let mut score_rows = test_score_rows(&data.labelled, &folds, &set.y, scores, labels);
        score_rows.extend(validation_rows.iter().cloned());
        write_scores(
            &dir.join(format!("{date}-{name}.scores.jsonl")),
            &score_rows,
        )?;
        let md_path = dir.join(format!("{date}-{name}.md"));
        super::write_atomically(&md_path, |w| std::io::Write::write_all(w, md.as_bytes()))?;
        Ok((result, md))
    };
    let name = finetuned_name(&base, opts.scope);
    let (result, md) = write(&name, &scores, &labels, None)?;
    if let Some(rank) = compress_rank {
        let kept: Vec<f64> = kept_by_fold
            .iter()
            .filter_map(|k| k["kept_mean"].as_f64())
            .collect();
        let compression = serde_json::json!({
            "rank": rank,
            "iterations": COMPRESS_ITERATIONS,
            "dtype": format!("{COMPRESS_DTYPE:?}").to_lowercase(),
            "kept_mean": kept.iter().sum::<f64>() / kept.len().max(1) as f64,
            "by_fold": kept_by_fold,
        });
        let (compressed, _) = write(
            &format!("{name}-r{rank}"),
            &compressed_scores,
            &compressed_labels,
            Some(compression),
        )?;
        if settings.chatty() {
            eprintln!(
                "compressed at rank {rank}: macro-F1 {:.4} against the full models' {:.4}",
                compressed["macro_f1"].as_f64().unwrap_or(f64::NAN),
                result["macro_f1"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    match args.format {
        crate::cli::ReportFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&result).expect("json"))
        }
        crate::cli::ReportFormat::Markdown => print!("{md}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn matrix(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f32) -> Tensor {
        let v: Vec<f32> = (0..rows * cols).map(|i| f(i / cols, i % cols)).collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    /// A base checkpoint of four tensors and a "fine-tuned" one in which a layer's matrix
    /// moved by a change of rank above 1, its bias moved, and the rest stayed.
    fn checkpoints() -> (HashMap<String, Tensor>, BTreeMap<String, Tensor>) {
        let q = "encoder.layer.0.attention.attn.q";
        let base: HashMap<String, Tensor> = [
            (
                format!("{q}.weight"),
                matrix(6, 5, |i, j| (i * 5 + j) as f32 * 0.1),
            ),
            (
                format!("{q}.bias"),
                matrix(1, 6, |_, j| j as f32).squeeze(0).unwrap(),
            ),
            (
                "embeddings.word_embeddings.weight".to_string(),
                matrix(7, 5, |i, j| (i + j) as f32),
            ),
            (
                "embeddings.position_ids".to_string(),
                Tensor::arange(0i64, 6, &Device::Cpu).unwrap(),
            ),
        ]
        .into_iter()
        .collect();
        let mut tuned: BTreeMap<String, Tensor> = base.clone().into_iter().collect();
        let change = matrix(6, 5, |i, j| {
            0.01 * (i as f32 - 2.0) * (j as f32 + 1.0) + 0.003 * ((i * j) % 3) as f32
        });
        tuned.insert(
            format!("{q}.weight"),
            (&base[&format!("{q}.weight")] + change).unwrap(),
        );
        tuned.insert(
            format!("{q}.bias"),
            (&base[&format!("{q}.bias")] + 0.5).unwrap(),
        );
        (base, tuned)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// What `weights compress` and `eval --finetune --compress-rank` keep: factors for the
    /// changed layer matrix, the changed bias whole, nothing for unchanged tensors; rebuilt at
    /// full rank, the fine-tuned checkpoint comes back to f32 rounding, and at rank 1 it
    /// does not.
    #[test]
    fn compressed_tensors_rebuild_the_fine_tuned_checkpoint_at_full_rank() {
        let (base, tuned) = checkpoints();
        let q = "encoder.layer.0.attention.attn.q";
        let c = compress_tensors(&tuned, &base, 5, 6, 1, DType::F32).unwrap();
        let mut names: Vec<&String> = c.trained.keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                &format!("{q}.bias"),
                &format!("{q}{LORA_A}"),
                &format!("{q}{LORA_B}")
            ]
        );
        assert_eq!((c.kept.len(), c.whole), (1, 1));
        let rebuilt = rebuild_tensors(&base, &c.trained).unwrap();
        assert_eq!(rebuilt.len(), base.len());
        for (name, t) in &tuned {
            if t.dtype() != DType::F32 {
                continue;
            }
            for (x, y) in values(&rebuilt[name]).iter().zip(values(t)) {
                assert!((x - y).abs() < 1e-5, "{name}: {x} against {y}");
            }
        }

        let low = compress_tensors(&tuned, &base, 1, 6, 1, DType::F32).unwrap();
        assert!(
            low.kept[0] < 0.9999,
            "rank 1 of a rank-2 change: {}",
            low.kept[0]
        );
        let rebuilt = rebuild_tensors(&base, &low.trained).unwrap();
        let w = format!("{q}.weight");
        let off = values(&rebuilt[&w])
            .iter()
            .zip(values(&tuned[&w]))
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(off > 1e-4, "rank 1 reproduced the change: {off}");
    }

    #[test]
    fn a_tensor_without_its_counterpart_in_the_base_is_refused() {
        let (mut base, tuned) = checkpoints();
        base.remove("encoder.layer.0.attention.attn.q.bias");
        let err = compress_tensors(&tuned, &base, 2, 1, 1, DType::F16)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("no counterpart"), "{err}");
    }
}
