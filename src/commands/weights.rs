//! (being written)
use super::CommandError;
use crate::settings::Settings;
use std::process::ExitCode;

pub fn run(
    _args: &crate::cli::WeightsCommand,
    _settings: &Settings,
) -> Result<ExitCode, CommandError> {
    Err(CommandError::Input("not implemented yet".into()))
}
