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
            // Errors that already quote their cause (`{path}: cannot read: {source}`) would
            // print it twice; a cause is shown only when the line above does not hold it.
            let mut shown = err.to_string();
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !shown.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
                shown = cause;
            }
            ExitCode::from(2)
        }
    }
}
