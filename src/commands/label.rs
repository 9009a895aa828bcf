//! `frameshift label`: frames for the paragraphs of a new text, with the reasons visible.
//!
//! Takes files in any format the corpus readers accept (or stdin), gives per paragraph its
//! id, speaker, frame probabilities, labels and evidence — the codebook cues (lexicon terms)
//! and cited instruments found in it — as a wrapped table on a terminal, or JSONL/CSV, then a
//! one-line summary per frame on stderr. Inputs that cannot be labelled are reported one
//! line each and the others are still labelled (exit code 1).

use super::CommandError;
use crate::citations::CitationTable;
use crate::classify::{Frame, LabelSet};
use crate::cli::{LabelArgs, LabelFormat};
use crate::segment::{self, Paragraph};
use crate::settings::Settings;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, Serialize)]
struct Labelled<'a> {
    id: &'a str,
    doc: &'a str,
    speaker: Option<&'a str>,
    country: Option<&'a str>,
    text: &'a str,
    labels: Vec<&'static str>,
    scores: BTreeMap<&'static str, f32>,
    evidence: BTreeMap<&'static str, Vec<String>>,
    citations: Vec<String>,
}

/// Parse `FRAME=P` overrides onto the head's thresholds.
pub fn parse_thresholds(specs: &[String], base: [f32; 4]) -> Result<[f32; 4], CommandError> {
    let mut t = base;
    for spec in specs {
        let (name, value) = spec.split_once('=').ok_or_else(|| {
            CommandError::Input(format!(
                "--threshold {spec}: expected FRAME=P, e.g. gender=0.3"
            ))
        })?;
        let frame = Frame::parse(name.trim()).ok_or_else(|| {
            CommandError::Input(format!(
                "--threshold {spec}: unknown frame `{name}` (security, crime, human_rights, gender)"
            ))
        })?;
        let p: f32 = value
            .trim()
            .parse()
            .ok()
            .filter(|p: &f32| (0.0..=1.0).contains(p))
            .ok_or_else(|| {
                CommandError::Input(format!("--threshold {spec}: P must be a number in [0, 1]"))
            })?;
        t[frame.index()] = p;
    }
    Ok(t)
}

pub fn run(args: &LabelArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let thresholds_override = &args.threshold;
    let rules = super::agenda_rules(None, settings)?;
    // Read every input separately so that each failure names its input.
    let mut failures: Vec<String> = Vec::new();
    let mut paragraphs: Vec<Paragraph> = Vec::new();
    for path in &args.paths {
        let shown = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        if path.as_os_str() != "-" && !path.exists() {
            failures.push(format!("{shown}: no such file"));
            continue;
        }
        let seg = segment::segment_paths(std::slice::from_ref(path), &rules);
        if let Some(f) = seg.read.failures.first() {
            failures.push(f.error.to_string());
            continue;
        }
        if let Some(f) = seg.failures.first() {
            failures.push(format!("{shown}: {}", f.error));
            continue;
        }
        if seg.paragraphs.is_empty() {
            failures.push(format!("{shown}: no paragraphs found"));
            continue;
        }
        paragraphs.extend(seg.paragraphs);
    }
    for f in &failures {
        eprintln!("error: {f}");
    }
    if paragraphs.is_empty() {
        return Ok(ExitCode::from(1));
    }

    let scorer = super::scorer::Scorer::load(&args.encoder, args.head.as_deref(), settings)?;
    let thresholds = parse_thresholds(thresholds_override, scorer.thresholds())?;
    // Evidence from the term lists the head itself reads (stored in the head file).
    let lexicon = scorer.lexicon();
    let table = CitationTable::load(&settings.datasets_dir().join("citations.toml"))?;
    let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
    let (all_scores, _) = scorer.score(&args.encoder, &texts, settings)?;

    let rows: Vec<Labelled> = paragraphs
        .iter()
        .zip(&all_scores)
        .map(|(p, &scores)| {
            let cited = table.extract(&p.text);
            let labels: LabelSet = scorer.labels(&scores, &thresholds, &cited);
            let (_, cues) = lexicon.matches(&p.text);
            Labelled {
                id: &p.id,
                doc: &p.doc,
                speaker: p.speaker.as_deref(),
                country: p.country.as_deref(),
                text: &p.text,
                labels: labels.names(),
                scores: Frame::ALL
                    .iter()
                    .map(|f| (f.name(), scores.get(*f)))
                    .collect(),
                evidence: cues
                    .into_iter()
                    .map(|(f, terms)| (f.name(), terms.into_iter().map(str::to_string).collect()))
                    .collect(),
                citations: cited.labels(),
            }
        })
        .collect();

    let stdout_tty = std::io::stdout().is_terminal();
    let format = args.format.unwrap_or(if stdout_tty {
        LabelFormat::Table
    } else {
        LabelFormat::Jsonl
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match format {
        LabelFormat::Jsonl => rows.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        }),
        LabelFormat::Csv => write_csv(&mut out, &rows),
        LabelFormat::Table => {
            let width = args
                .width
                .or_else(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
                .unwrap_or(100)
                .max(60);
            let color = stdout_tty && std::env::var_os("NO_COLOR").is_none();
            out.write_all(render_table(&rows, width, color).as_bytes())
        }
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| CommandError::io("stdout", e))?;

    if settings.chatty() {
        for f in Frame::ALL {
            let n = rows.iter().filter(|r| r.labels.contains(&f.name())).count();
            // Labels the citation rule added below the threshold, so that a share above
            // what the probabilities suggest is explained.
            let by_rule = rows
                .iter()
                .filter(|r| {
                    r.labels.contains(&f.name()) && r.scores[f.name()] < thresholds[f.index()]
                })
                .count();
            let by_rule = if by_rule > 0 {
                format!("; {by_rule} by the codebook's citation rule")
            } else {
                String::new()
            };
            let mean =
                rows.iter().map(|r| r.scores[f.name()] as f64).sum::<f64>() / rows.len() as f64;
            eprintln!(
                "{:<13} {n:>4} of {} paragraphs ({:.0}%{by_rule}), mean probability {mean:.2}, threshold {:.2}",
                f.name(),
                rows.len(),
                100.0 * n as f64 / rows.len() as f64,
                thresholds[f.index()]
            );
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_csv<W: Write>(w: W, rows: &[Labelled]) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record([
        "id",
        "speaker",
        "labels",
        "p_security",
        "p_crime",
        "p_human_rights",
        "p_gender",
        "evidence",
        "citations",
        "text",
    ])?;
    for r in rows {
        let evidence: Vec<String> = r
            .evidence
            .iter()
            .map(|(f, t)| format!("{f}: {}", t.join(", ")))
            .collect();
        csv.write_record([
            r.id.to_string(),
            r.speaker.unwrap_or("").to_string(),
            r.labels.join(";"),
            format!("{:.3}", r.scores["security"]),
            format!("{:.3}", r.scores["crime"]),
            format!("{:.3}", r.scores["human_rights"]),
            format!("{:.3}", r.scores["gender"]),
            evidence.join("; "),
            r.citations.join(";"),
            r.text.to_string(),
        ])?;
    }
    csv.flush()
}

/// Greedy word wrap to `width` columns (characters, not bytes).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = if line.is_empty() {
            word.chars().count()
        } else {
            line.chars().count() + 1 + word.chars().count()
        };
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One block per paragraph: a header line (id, speaker, frames with probabilities), the
/// evidence, and the start of the text, all wrapped to `width`.
fn render_table(rows: &[Labelled], width: usize, color: bool) -> String {
    let paint = |s: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let frame_color = |f: &str| match f {
        "security" => "31",
        "crime" => "35",
        "human_rights" => "32",
        _ => "34",
    };
    let mut s = String::new();
    let rule = "─".repeat(width);
    for r in rows {
        let who = match (r.speaker, r.country) {
            (Some(sp), Some(c)) => format!("  {sp} ({c})"),
            (Some(sp), None) => format!("  {sp}"),
            (None, Some(c)) => format!("  {c}"),
            (None, None) => String::new(),
        };
        s.push_str(&paint(&format!("{}{who}", r.id), "1"));
        s.push('\n');
        let frames: Vec<String> = Frame::ALL
            .iter()
            .map(|f| {
                let name = f.name();
                let p = r.scores[name];
                let cell = format!("{name} {p:.2}");
                if r.labels.contains(&name) {
                    paint(&format!("[{cell}]"), frame_color(name))
                } else {
                    format!(" {cell} ")
                }
            })
            .collect();
        s.push_str("  ");
        s.push_str(&frames.join("  "));
        s.push('\n');
        let mut evidence: Vec<String> = r
            .evidence
            .iter()
            .map(|(f, t)| format!("{f}: {}", t.join(", ")))
            .collect();
        if !r.citations.is_empty() {
            evidence.push(format!("cites: {}", r.citations.join(", ")));
        }
        if !evidence.is_empty() {
            for (i, line) in wrap(&evidence.join(" | "), width.saturating_sub(12))
                .into_iter()
                .enumerate()
            {
                s.push_str(if i == 0 {
                    "  evidence: "
                } else {
                    "            "
                });
                s.push_str(&line);
                s.push('\n');
            }
        }
        let lines = wrap(r.text, width.saturating_sub(4));
        for line in lines.iter().take(3) {
            s.push_str("  | ");
            s.push_str(line);
            s.push('\n');
        }
        if lines.len() > 3 {
            s.push_str("  | …\n");
        }
        s.push_str(&rule);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_overrides_parse_and_reject_nonsense() {
        let t = parse_thresholds(&["gender=0.3".into(), "crime = 0.9".into()], [0.5; 4]).unwrap();
        assert_eq!(t, [0.5, 0.9, 0.5, 0.3]);
        assert!(parse_thresholds(&["peace=0.3".into()], [0.5; 4]).is_err());
        assert!(parse_thresholds(&["gender=2".into()], [0.5; 4]).is_err());
        assert!(parse_thresholds(&["gender".into()], [0.5; 4]).is_err());
    }

    #[test]
    fn wrap_respects_width_and_keeps_every_word() {
        let text = "Calls upon all parties to armed conflict to respect fully international law";
        let lines = wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), text);
    }
}
