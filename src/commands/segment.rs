//! `frameshift segment` (placeholder: being written for issue 3).

use super::CommandError;
use crate::cli::SegmentArgs;
use crate::settings::Settings;
use std::process::ExitCode;

pub fn run(_args: &SegmentArgs, _settings: &Settings) -> Result<ExitCode, CommandError> {
    Err(CommandError::Input("segment is not implemented yet".into()))
}
