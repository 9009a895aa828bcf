//! `frameshift segment PATH... [--out FILE] [--format jsonl|csv] [--agendas FILE]`.
//!
//! Takes files, directories or `-`, gives one JSONL object (or CSV row) per paragraph in a
//! stable order (documents by kind, year, number, symbol; paragraphs in document order).
//! Warnings (lossy decoding, empty files) go to stderr; files that cannot be read or are
//! refused are skipped, listed at the end, and make the exit code 1 while everything else is
//! still written.

use super::CommandError;
use crate::cli::{SegmentArgs, SegmentFormat};
use crate::segment::{self, Paragraph};
use crate::settings::Settings;
use std::io::Write;
use std::process::ExitCode;

/// CSV columns, in order. `agendas` is `;`-separated.
pub const CSV_COLUMNS: [&str; 16] = [
    "doc", "id", "kind", "number", "letter", "year", "date", "agendas", "speaker", "country",
    "language", "turn", "index", "doc_kind", "sha256", "text",
];

pub fn run(args: &SegmentArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let rules = super::agenda_rules(args.agendas.as_deref(), settings)?;
    let result = segment::segment_paths(&args.paths, &rules);

    let out_path = args.out.as_ref().filter(|p| p.as_os_str() != "-");
    let sink: Box<dyn Write> = match out_path {
        Some(p) => {
            Box::new(std::fs::File::create(p).map_err(|e| CommandError::io(p.display(), e))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let shown = out_path.map_or("stdout".to_string(), |p| p.display().to_string());
    let mut sink = std::io::BufWriter::new(sink);
    write_paragraphs(&mut sink, &result.paragraphs, args.format)
        .and_then(|()| sink.flush())
        .map_err(|e| CommandError::io(&shown, e))?;

    for w in &result.read.warnings {
        if settings.chatty() {
            eprintln!("warning: {w}");
        }
    }
    for f in &result.read.failures {
        eprintln!("error: {}", f.error);
    }
    for f in &result.failures {
        eprintln!("error: {} ({}): {}", f.doc, f.source.display(), f.error);
    }
    let failed = result.read.failures.len() + result.failures.len();
    if settings.chatty() {
        eprintln!(
            "segmented {} documents into {} paragraphs -> {shown}; {} warnings, {failed} files skipped",
            result.read.documents.len(),
            result.paragraphs.len(),
            result.read.warnings.len(),
        );
    }
    if failed > 0 {
        eprintln!("error: {failed} input file(s) or document(s) skipped; the rest was written");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Write paragraphs as JSONL (one object per line) or CSV (header + [`CSV_COLUMNS`]).
pub fn write_paragraphs(
    w: &mut dyn Write,
    paragraphs: &[Paragraph],
    format: SegmentFormat,
) -> std::io::Result<()> {
    match format {
        SegmentFormat::Jsonl => {
            for p in paragraphs {
                serde_json::to_writer(&mut *w, p)?;
                w.write_all(b"\n")?;
            }
        }
        SegmentFormat::Csv => {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(CSV_COLUMNS)?;
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let num = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
            for p in paragraphs {
                csv.write_record([
                    p.doc.clone(),
                    p.id.clone(),
                    p.kind.as_str().to_string(),
                    num(p.number),
                    opt(&p.letter),
                    p.year.map(|y| y.to_string()).unwrap_or_default(),
                    opt(&p.date),
                    p.agendas.join(";"),
                    opt(&p.speaker),
                    opt(&p.country),
                    opt(&p.language),
                    num(p.turn),
                    p.index.to_string(),
                    p.doc_kind.as_str().to_string(),
                    segment::text_sha256(&p.text),
                    p.text.clone(),
                ])?;
            }
            csv.flush()?;
        }
    }
    Ok(())
}
