//! One resolved settings value for the whole run (in the manner of uv's `settings.rs`).
//!
//! Takes the parsed [`Cli`] plus the environment, gives [`Settings`]: verbosity, whether to
//! draw progress bars, and where the project's data files live. Commands read `Settings`
//! rather than re-inspecting flags or environment variables, so every decision about the
//! terminal or the filesystem layout is made exactly once.

use crate::cli::{Cli, Command};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Trace,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub verbosity: Verbosity,
    /// Progress bars only when a person is watching: stderr is a terminal and not `-q`.
    pub progress: bool,
    /// Root that holds `weights/` and `datasets/` (FRAMESHIFT_HOME, else the source tree
    /// this binary was built from when it still exists, else the current directory).
    pub home: PathBuf,
    /// Whether predicted labels get the codebook's citation rule (`--no-citation-rules` on
    /// `label`, `analyze` and `eval` turns it off).
    pub citation_rules: bool,
}

impl Settings {
    pub fn from_cli(cli: &Cli) -> Self {
        let verbosity = match (cli.quiet, cli.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Trace,
        };
        let progress = verbosity != Verbosity::Quiet && std::io::stderr().is_terminal();
        let no_citation_rules = match &cli.command {
            Command::Label(a) => a.no_citation_rules,
            Command::Analyze(a) => a.no_citation_rules,
            Command::Eval(a) => a.no_citation_rules,
            _ => false,
        };
        Settings {
            verbosity,
            progress,
            home: project_home(),
            citation_rules: !no_citation_rules,
        }
    }

    /// Settings for library callers and tests: quiet, no progress bars.
    pub fn quiet(home: PathBuf) -> Self {
        Settings {
            verbosity: Verbosity::Quiet,
            progress: false,
            home,
            citation_rules: true,
        }
    }

    pub fn datasets_dir(&self) -> PathBuf {
        self.home.join("datasets")
    }

    /// The shared corpora: FRAMESHIFT_CORPUS, else `../shared/corpus` beside the project.
    pub fn corpus_dir(&self) -> PathBuf {
        match std::env::var_os("FRAMESHIFT_CORPUS") {
            Some(dir) => PathBuf::from(dir),
            None => self.home.join("..").join("shared").join("corpus"),
        }
    }

    /// Whether to print informational messages (summaries, hints) on stderr.
    pub fn chatty(&self) -> bool {
        self.verbosity >= Verbosity::Normal
    }
}

/// Where `weights/` and `datasets/` are looked for.
pub fn project_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRAMESHIFT_HOME") {
        return PathBuf::from(dir);
    }
    // A binary built from a checkout keeps finding that checkout's data files wherever it is
    // run from; an installed copy whose source tree is gone falls back to the current dir.
    let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if built_from.join("weights").join("models.toml").is_file() {
        return built_from;
    }
    PathBuf::from(".")
}

/// Log to stderr at the level the user asked for (RUST_LOG overrides).
pub fn init_tracing(settings: &Settings) {
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::EnvFilter;
    let level = match settings.verbosity {
        Verbosity::Quiet => "error",
        Verbosity::Normal => "warn",
        Verbosity::Verbose => "frameshift=debug",
        Verbosity::Trace => "frameshift=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // At -vv spans report their busy/idle time on close: that is the per-stage profile.
    let spans = if settings.verbosity >= Verbosity::Trace {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_writer(std::io::stderr)
        .try_init();
}
