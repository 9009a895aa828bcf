//! `frameshift embed INPUT --out FILE.npy`: paragraphs in, a float32 matrix out.
//!
//! Takes one paragraph per line (or JSONL with a `text` field, or stdin), gives `FILE.npy`
//! (`[rows, dim]`, input order) and `FILE.json` beside it recording the model, its file
//! hashes, the windows and tokens of every row and the input line each row came from, so a
//! matrix can always be traced back to its text and its exact weights.

use super::{load_encoder, write_atomically, CommandError};
use crate::cli::{EmbedArgs, InputFormat};
use crate::embed::EmbedOptions;
use crate::settings::Settings;
use serde_json::json;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Paragraphs read from the input, with the 1-based line each came from.
#[derive(Debug, Default)]
pub struct EmbedInput {
    pub texts: Vec<String>,
    pub lines: Vec<usize>,
    /// Lines that could not be used, with the reason (reported, then exit code 1).
    pub rejected: Vec<(usize, String)>,
}

/// Parse INPUT. Blank lines are not paragraphs and are skipped silently; JSONL lines that
/// are not objects with a string `text` are rejected and reported.
pub fn read_input(path: &Path, format: InputFormat) -> Result<EmbedInput, CommandError> {
    let is_stdin = path.as_os_str() == "-";
    let mut raw = Vec::new();
    if is_stdin {
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| CommandError::io("<stdin>", e))?;
    } else {
        raw = std::fs::read(path).map_err(|e| CommandError::io(path.display(), e))?;
    }
    if raw.contains(&0) {
        return Err(CommandError::Input(format!(
            "{}: looks like a binary file (NUL bytes); expected text",
            path.display()
        )));
    }
    let text = String::from_utf8_lossy(&raw);
    let jsonl = match format {
        InputFormat::Jsonl => true,
        InputFormat::Lines => false,
        InputFormat::Auto => {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            matches!(ext, "jsonl" | "ndjson")
                || (is_stdin
                    && text
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .is_some_and(|l| l.trim_start().starts_with('{')))
        }
    };
    let mut input = EmbedInput::default();
    for (i, line) in text.as_bytes().lines().enumerate() {
        let line = line.map_err(|e| CommandError::io(path.display(), e))?;
        let number = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if jsonl {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => match v.get("text").and_then(|t| t.as_str()) {
                    Some(t) => {
                        input.texts.push(t.to_string());
                        input.lines.push(number);
                    }
                    None => input
                        .rejected
                        .push((number, "no string field `text`".to_string())),
                },
                Err(e) => input.rejected.push((number, format!("invalid JSON: {e}"))),
            }
        } else {
            input.texts.push(line.to_string());
            input.lines.push(number);
        }
    }
    Ok(input)
}

/// Where the sidecar of the matrix at `out` goes: beside it, as `.json`. Refused (before any
/// work) when that is `out` itself, which would silently replace the matrix by its sidecar.
fn sidecar_path(out: &Path) -> Result<PathBuf, CommandError> {
    // Case-insensitively: on macOS and Windows `x.JSON` and `x.json` are one file.
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return Err(CommandError::Input(format!(
            "--out {}: the matrix and its .json sidecar would be the same file; name the matrix \
             FILE.npy",
            out.display()
        )));
    }
    Ok(out.with_extension("json"))
}

pub fn run(args: &EmbedArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let sidecar_path = sidecar_path(&args.out)?;
    let input = read_input(&args.input, args.input_format)?;
    for (line, why) in &input.rejected {
        eprintln!("{}:{line}: skipped: {why}", args.input.display());
    }
    let loaded = load_encoder(&args.encoder, settings)?;
    let opts = EmbedOptions {
        batch_tokens: args.encoder.batch_tokens,
        window_overlap: args.encoder.window_overlap,
    };
    let started = Instant::now();
    let (embeddings, cache_stats) =
        super::embed_with_cache(&args.encoder, &loaded, &input.texts, settings)?;
    let elapsed = started.elapsed().as_secs_f64();

    let info = loaded.encoder.info();
    let mut data = Vec::with_capacity(embeddings.len() * info.dim);
    for e in &embeddings {
        data.extend_from_slice(&e.vector);
    }
    write_atomically(&args.out, |w| {
        crate::npy::write_f32(w, embeddings.len(), info.dim, &data)
    })?;

    let tokens: Vec<usize> = embeddings.iter().map(|e| e.tokens).collect();
    let total_tokens: usize = tokens.iter().sum();
    let sidecar = json!({
        "frameshift_version": env!("CARGO_PKG_VERSION"),
        "model": info.name,
        "architecture": loaded.model.spec.architecture,
        "files": loaded.model.files,
        "model_fingerprint": info.fingerprint,
        "weights_source": loaded.model.source,
        "device": crate::device::name(&loaded.device),
        "backend": loaded.backend,
        "dim": info.dim,
        "rows": embeddings.len(),
        "max_tokens": info.max_tokens,
        "batch_tokens": opts.batch_tokens,
        "window_overlap": opts.window_overlap,
        "pooling": "mean over tokens of each window; windows combined by token-weighted mean; L2-normalised",
        "input": args.input.display().to_string(),
        "windows": embeddings.iter().map(|e| e.windows).collect::<Vec<_>>(),
        "tokens": tokens,
        "lines": input.lines,
        "rejected_lines": input.rejected.iter().map(|(l, why)| json!({"line": l, "reason": why})).collect::<Vec<_>>(),
        "seconds": elapsed,
        "paragraphs_per_second": embeddings.len() as f64 / elapsed.max(1e-9),
        "tokens_per_second": total_tokens as f64 / elapsed.max(1e-9),
        "peak_rss_mib": super::peak_rss_mib(),
        "cache": {
            "enabled": !args.encoder.no_cache,
            "requested": cache_stats.requested,
            "distinct": cache_stats.distinct,
            "hits": cache_stats.hits,
            "embedded": cache_stats.embedded,
            "hit_rate": cache_stats.hit_rate(),
        },
    });
    write_atomically(&sidecar_path, |mut w| {
        serde_json::to_writer_pretty(&mut w, &sidecar)?;
        std::io::Write::write_all(&mut w, b"\n")
    })?;
    if settings.chatty() {
        let multi = embeddings.iter().filter(|e| e.windows > 1).count();
        eprintln!(
            "embedded {} paragraphs ({} tokens, {} split into windows; {} distinct, {} from cache, hit rate {:.0}%) in {:.1}s: {:.1} paragraphs/s, {:.0} tokens/s -> {}",
            embeddings.len(),
            total_tokens,
            multi,
            cache_stats.distinct,
            cache_stats.hits,
            100.0 * cache_stats.hit_rate(),
            elapsed,
            embeddings.len() as f64 / elapsed.max(1e-9),
            total_tokens as f64 / elapsed.max(1e-9),
            args.out.display()
        );
    }
    Ok(if input.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_goes_beside_the_matrix() {
        assert_eq!(
            sidecar_path(Path::new("out/vec.npy")).unwrap(),
            Path::new("out/vec.json")
        );
        assert_eq!(
            sidecar_path(Path::new("vectors")).unwrap(),
            Path::new("vectors.json")
        );
    }

    /// `embed --out vec.json` used to write the matrix, then overwrite it with the sidecar
    /// and exit 0.
    #[test]
    fn out_named_json_is_refused_not_overwritten_by_its_sidecar() {
        for out in ["vec.json", "dir/vec.JSON"] {
            let err = sidecar_path(Path::new(out)).unwrap_err().to_string();
            assert!(err.contains("same file"), "{out}: {err}");
        }
    }
}
