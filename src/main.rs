//! The `frameshift` binary: parse flags, resolve them into one `Settings`, run the command.
//! Everything else lives in the library so that tests drive the same code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = frameshift::cli::Cli::parse();
    let settings = frameshift::settings::Settings::from_cli(&cli);
    frameshift::settings::init_tracing(&settings);
    match frameshift::commands::run(&cli.command, &settings) {
        Ok(code) => code,
        Err(err) => {
            // One line per cause, no backtrace: the user needs the reason, not our stack.
            let err = anyhow::Error::from(err);
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
