//! One function per subcommand. Takes the parsed command and the resolved [`Settings`],
//! gives an exit code: 0 when everything worked, 1 when some inputs failed but the rest was
//! processed and written (the batch never stops for one bad document), or an error for
//! failures that stop the command (missing weights, unwritable output).

use crate::cli::Command;
use crate::settings::Settings;
use std::process::ExitCode;

pub mod agreement;
pub mod analyze;
pub mod embed;
pub mod ensemble;
pub mod eval;
pub mod finetune;
pub mod label;
pub mod scorer;
pub mod segment;
pub mod train;
pub mod weights;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    #[error(transparent)]
    Classify(#[from] crate::classify::ClassifyError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Citation(#[from] crate::citations::CitationError),
    #[error(transparent)]
    Lexicon(#[from] crate::classify::lexicon::LexiconError),
    #[error(transparent)]
    ZeroShot(#[from] crate::classify::zeroshot::ZeroShotError),
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
}

impl CommandError {
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        CommandError::Io {
            path: path.to_string(),
            source,
        }
    }
}

pub fn run(command: &Command, settings: &Settings) -> Result<ExitCode, CommandError> {
    match command {
        Command::Weights(cmd) => weights::run(cmd, settings),
        Command::Embed(args) => embed::run(args, settings),
        Command::Segment(args) => segment::run(args, settings),
        Command::Eval(args) => eval::run(args, settings),
        Command::Agreement(args) => agreement::run(args, settings),
        Command::Analyze(args) => analyze::run(args, settings),
        Command::Merge(args) => analyze::merge(args, settings),
        Command::Label(args) => label::run(args, settings),
        Command::Train(args) => train::run(args, settings),
    }
}

/// An encoder ready to run, with the verified model it came from and the device it runs on.
pub struct LoadedEncoder {
    pub encoder: Box<dyn crate::embed::Encoder>,
    pub model: crate::weights::ResolvedModel,
    pub device: crate::device::Device,
    /// Which implementation runs the model (`candle`, `fast`, `fast-int8`), for records.
    pub backend: &'static str,
}

/// Resolve weights, choose the device once, and load the encoder.
pub fn load_encoder(
    args: &crate::cli::EncoderArgs,
    settings: &Settings,
) -> Result<LoadedEncoder, CommandError> {
    use crate::weights::{Architecture, Registry, ResolveOptions};
    if scorer::is_ensemble_name(args.model.model.as_deref()) {
        return Err(CommandError::Input(format!(
            "{} is an ensemble: `label`, `analyze` and `eval --gold` run it; it has no single \
             encoder to embed, train or cross-validate with",
            args.model.model.as_deref().unwrap_or_default()
        )));
    }
    let model = match args.model.model.as_deref() {
        // A fine-tuned model directory (`train --finetune`): its manifest is its registry entry.
        Some(dir) if finetune::is_model_dir(std::path::Path::new(dir)) => finetune::resolve_dir(
            std::path::Path::new(dir),
            &settings.home,
            args.model.weights.clone(),
        )?,
        // ... or named by the directory `train --finetune` writes by default.
        Some(name) if finetune::is_model_dir(&settings.home.join("weights").join(name)) => {
            finetune::resolve_dir(
                &settings.home.join("weights").join(name),
                &settings.home,
                args.model.weights.clone(),
            )?
        }
        name => {
            let registry = Registry::load(&settings.home)?;
            let spec = registry.get(name)?;
            let opts = ResolveOptions::for_home(&settings.home, args.model.weights.clone());
            crate::weights::resolve(spec, &opts)?
        }
    };
    let spec = &model.spec;
    let device = crate::device::select(args.device)?;
    tracing::info!(
        "model {} from {} on {}",
        spec.name,
        model.dir.display(),
        crate::device::name(&device)
    );
    use crate::cli::{BackendArg, PrecisionArg};
    use crate::embed::cpu::{FastEncoder, Precision};
    let on_cpu = matches!(device, crate::device::Device::Cpu);
    let fast = match args.backend {
        BackendArg::Fast if !on_cpu => {
            return Err(CommandError::Input(
                "--backend fast runs on the CPU only; use --device cpu or --backend candle".into(),
            ))
        }
        BackendArg::Fast => true,
        BackendArg::Candle => false,
        // Both architectures have a fast CPU path; GPUs run candle.
        BackendArg::Auto => on_cpu,
    };
    let precision =
        match args.precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::Int8 if fast => Precision::Int8,
            PrecisionArg::Int8 => return Err(CommandError::Input(
                "--precision int8 needs the fast CPU backend (--device cpu, --backend auto|fast)"
                    .into(),
            )),
        };
    let (encoder, backend): (Box<dyn crate::embed::Encoder>, &'static str) =
        match (spec.architecture, fast, precision) {
            (Architecture::Bert, false, _) => (
                Box::new(crate::embed::BertEncoder::load(&model, &device)?),
                "candle",
            ),
            (_, true, Precision::F32) => (Box::new(FastEncoder::load(&model, precision)?), "fast"),
            (_, true, Precision::Int8) => {
                (Box::new(FastEncoder::load(&model, precision)?), "fast-int8")
            }
            (Architecture::Mpnet, false, _) => (
                Box::new(crate::embed::mpnet::MpnetEncoder::load(&model, &device)?),
                "candle",
            ),
        };
    tracing::info!("encoder backend {backend}");
    Ok(LoadedEncoder {
        encoder,
        model,
        device,
        backend,
    })
}

/// A gold file for `eval --gold` and `analyze --gold`: its lines read, those that name a
/// paragraph by id and hash given their text from `corpus`, and every unusable line named
/// on stderr (it stays in `rejected`: the caller scores the rest and exits non-zero).
pub fn read_gold(
    path: &std::path::Path,
    corpus: &std::path::Path,
    settings: &Settings,
) -> Result<crate::dataset::Gold, CommandError> {
    let mut gold = crate::dataset::read_gold(path)?;
    if gold.items.iter().any(|g| g.reference.is_some()) {
        gold.resolve_references(corpus, &agenda_rules(None, settings)?)?;
    }
    for (line, why) in &gold.rejected {
        eprintln!("{}:{line}: skipped: {why}", path.display());
    }
    Ok(gold)
}

/// The agenda rule table: `explicit` when given, else `datasets/agendas.toml`, else the
/// built-in table (a binary run outside the repository still tags agendas).
pub fn agenda_rules(
    explicit: Option<&std::path::Path>,
    settings: &Settings,
) -> Result<crate::segment::AgendaRules, CommandError> {
    use crate::segment::AgendaRules;
    Ok(match agenda_table(explicit, settings) {
        Some(path) => AgendaRules::load(&path)?,
        None => AgendaRules::builtin(),
    })
}

/// The agenda table file [`agenda_rules`] reads: `explicit`, else `datasets/agendas.toml`
/// when present; `None` means the built-in rules.
pub fn agenda_table(
    explicit: Option<&std::path::Path>,
    settings: &Settings,
) -> Option<std::path::PathBuf> {
    explicit
        .map(std::path::Path::to_path_buf)
        .or_else(|| Some(settings.datasets_dir().join("agendas.toml")).filter(|p| p.is_file()))
}

/// The trained head for `encoder`: `explicit` when given, else `weights/heads/<model>.json`;
/// refused unless it was trained on the same weights. Returns the path too, for manifests.
pub fn load_classifier(
    explicit: Option<&std::path::Path>,
    encoder: &LoadedEncoder,
    settings: &Settings,
) -> Result<(std::path::PathBuf, crate::classify::Classifier), CommandError> {
    let info = encoder.encoder.info();
    let path = explicit
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| {
            if encoder.model.dir.join(finetune::MANIFEST).is_file() {
                finetune::head_path(&encoder.model.dir)
            } else {
                eval::default_head_path(settings, &info.name)
            }
        });
    let head = crate::classify::Classifier::load(&path, &info.name, &info.fingerprint)?;
    Ok((path, head))
}

/// Pretty JSON plus a final newline, written atomically.
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise") + "\n";
    write_atomically(path, |w| std::io::Write::write_all(w, text.as_bytes()))
}

/// Write `path` through a temporary file in the same directory and rename it into place,
/// so an interrupted run never leaves a half-written output behind.
pub fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), CommandError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| CommandError::io(dir.display(), e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".frameshift-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| CommandError::io(dir.display(), e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut w).map_err(|e| CommandError::io(path.display(), e))?;
        std::io::Write::flush(&mut w).map_err(|e| CommandError::io(path.display(), e))?;
    }
    // Temporary files are created private (0600); outputs should read like any other file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .map_err(|e| CommandError::io(path.display(), e.error))?;
    Ok(())
}

/// `candle_core::safetensors::save`, leaving the file readable like any other output.
///
/// safetensors (0.8) writes through a private temporary file and renames it into place, so
/// its files came out 0600: a model directory trained by one user could not be read by
/// the group that shares it, and `cp -p`/`rsync -p` carried the restriction along.
pub fn save_safetensors(
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    path: &std::path::Path,
) -> Result<(), CommandError> {
    candle_core::safetensors::save(tensors, path)
        .map_err(|e| CommandError::Input(format!("{}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| CommandError::io(path.display(), e))?;
    }
    Ok(())
}

/// A progress bar on stderr, or a hidden one when nobody is watching (not a terminal, `-q`).
pub fn progress_bar(settings: &Settings, len: u64, unit: &str) -> indicatif::ProgressBar {
    if !settings.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} (eta {{eta}})"
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Peak resident memory of this process so far (Linux `VmHWM`), for benchmark records;
/// `None` where the kernel does not report it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The embedding cache for this encoder, unless `--no-cache`.
pub fn open_cache(
    args: &crate::cli::EncoderArgs,
    encoder: &LoadedEncoder,
) -> Result<Option<crate::cache::EmbeddingCache>, CommandError> {
    if args.no_cache {
        return Ok(None);
    }
    let dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let info = encoder.encoder.info();
    Ok(Some(crate::cache::EmbeddingCache::open(
        &dir,
        &info.fingerprint,
        encoder.backend,
        info.dim,
        args.window_overlap,
    )?))
}

/// `$XDG_CACHE_HOME/frameshift`, else `~/.cache/frameshift`, else `.frameshift-cache`.
pub fn default_cache_dir() -> std::path::PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return std::path::PathBuf::from(x).join("frameshift");
    }
    match std::env::var_os("HOME") {
        Some(h) => std::path::PathBuf::from(h)
            .join(".cache")
            .join("frameshift"),
        None => std::path::PathBuf::from(".frameshift-cache"),
    }
}

/// Embed through the cache (when enabled), with a progress bar over distinct texts.
pub fn embed_with_cache<S: AsRef<str> + Sync>(
    args: &crate::cli::EncoderArgs,
    encoder: &LoadedEncoder,
    texts: &[S],
    settings: &Settings,
) -> Result<(Vec<crate::embed::Embedding>, crate::cache::CacheStats), CommandError> {
    let mut cache = open_cache(args, encoder)?;
    let opts = crate::embed::EmbedOptions {
        batch_tokens: args.batch_tokens,
        window_overlap: args.window_overlap,
    };
    let bar = progress_bar(settings, texts.len() as u64, "distinct paragraphs");
    let out = crate::cache::embed_cached(
        encoder.encoder.as_ref(),
        texts,
        &opts,
        cache.as_mut(),
        512,
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Regression: safetensors outputs (fine-tuned and BitFit weights) were written 0600,
    /// unreadable by anyone but their owner, unlike every other output.
    #[cfg(unix)]
    #[test]
    fn safetensors_outputs_were_private_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let t = candle_core::Tensor::new(&[1f32, 2.0], &candle_core::Device::Cpu).unwrap();
        let tensors = std::collections::HashMap::from([("t".to_string(), t)]);
        super::save_safetensors(&tensors, &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "mode {mode:o}");
        let back = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
        assert_eq!(back["t"].to_vec1::<f32>().unwrap(), [1.0, 2.0]);
    }
}
