//! One function per subcommand. Takes the parsed command and the resolved [`Settings`],
//! gives an exit code: 0 when everything worked, 1 when some inputs failed but the rest was
//! processed and written (the batch never stops for one bad document), or an error for
//! failures that stop the command (missing weights, unwritable output).

use crate::cli::Command;
use crate::settings::Settings;
use std::process::ExitCode;

pub mod embed;
pub mod segment;
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
    }
}
