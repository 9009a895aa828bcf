//! `frameshift agreement`: how far two human readings of the same paragraphs agree, and
//! where cross-validated classifiers stand against each.
//!
//! Takes a second reading (annotation-format JSONL of already annotated paragraphs,
//! labelled again blind to the first labels), the annotations it pairs with by id and text
//! hash, and optionally out-of-fold scores files of `eval` runs. Gives per-frame counts, F1
//! and Cohen's kappa between the readings, and each classifier's per-frame and macro F1
//! against the first and against the second reading on the same paragraphs, as JSON or
//! Markdown on stdout. Why: the project's targets are macro-F1 against one reader's labels,
//! and what two readers achieve against each other on this codebook is the ceiling those
//! figures are read against. The same figures are given again by kind of document
//! (resolution or speech paragraphs, by the id's prefix): the external check scores
//! resolution paragraphs, and readers and classifiers both find speeches harder. Needs
//! neither weights nor the corpus: the text hashes tie the two readings to the same texts.

use super::CommandError;
use crate::classify::{Frame, LabelSet};
use crate::cli::{AgreementArgs, ReportFormat};
use crate::corpus::DocKind;
use crate::dataset::{
    adjudicate, pair_readings, read_annotation_file, read_annotations, TwoReadings,
};
use crate::metrics::{agreement, evaluate, Agreement, Report};
use crate::settings::Settings;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// One classifier's F1 against one reading.
#[derive(Debug, serde::Serialize)]
struct Versus {
    macro_f1: f64,
    f1: BTreeMap<&'static str, f64>,
}

impl From<&Report> for Versus {
    fn from(r: &Report) -> Self {
        Versus {
            macro_f1: r.macro_f1,
            f1: r.per_frame.iter().map(|(k, m)| (*k, m.f1)).collect(),
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct ClassifierRow {
    scores: String,
    vs_first: Versus,
    vs_second: Versus,
    #[serde(skip_serializing_if = "Option::is_none")]
    vs_adjudicated: Option<Versus>,
}

/// The adjudicated labels and how each reading scores against them.
#[derive(Debug, serde::Serialize)]
struct Adjudicated {
    file: String,
    sha256: String,
    /// Paragraphs the adjudication decided (those the readings differ on).
    decided: usize,
    first_reading: Versus,
    second_reading: Versus,
    #[serde(skip)]
    labels: Vec<LabelSet>,
}

pub fn run(args: &AgreementArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let second_path = args.second.clone().unwrap_or_else(|| {
        settings
            .datasets_dir()
            .join("agreement")
            .join("second-reading.jsonl")
    });
    let annotations_dir = args
        .annotations
        .clone()
        .unwrap_or_else(|| settings.datasets_dir().join("annotations"));
    let first = read_annotations(&annotations_dir)?;
    let second = read_annotation_file(&second_path)?;
    let pairs = pair_readings(&first.items, &second)?;
    let firsts: Vec<LabelSet> = pairs.iter().map(|p| p.first).collect();
    let seconds: Vec<LabelSet> = pairs.iter().map(|p| p.second).collect();
    let readers = agreement(&firsts, &seconds);

    // The adjudication is optional: a second reading is worth reporting before anyone has
    // settled its disagreements.
    let default_adjudicated = settings
        .datasets_dir()
        .join("agreement")
        .join("adjudicated.jsonl");
    let adjudicated_path = match &args.adjudicated {
        Some(p) => Some(p.clone()),
        None if args.second.is_none() && default_adjudicated.is_file() => Some(default_adjudicated),
        None => None,
    };
    let adjudicated = match &adjudicated_path {
        None => None,
        Some(path) => {
            let lines = read_annotation_file(path)?;
            let labels = adjudicate(&pairs, &lines)?;
            let (first_reading, second_reading) = readings_against(&labels, &firsts, &seconds);
            Some(Adjudicated {
                file: path.display().to_string(),
                sha256: crate::weights::sha256_file(path)?,
                decided: lines.len(),
                first_reading,
                second_reading,
                labels,
            })
        }
    };

    let mut predictions = Vec::new();
    for path in &args.classifiers {
        predictions.push((path.display().to_string(), predictions_for(path, &pairs)?));
    }
    let everything: Vec<usize> = (0..pairs.len()).collect();
    let adjudicated_labels = adjudicated.as_ref().map(|a| a.labels.as_slice());
    let rows = classifier_rows(
        &everything,
        &firsts,
        &seconds,
        adjudicated_labels,
        &predictions,
    );
    let mut by_kind = BTreeMap::new();
    for kind in [DocKind::Resolution, DocKind::Speech] {
        let rows: Vec<usize> = (0..pairs.len())
            .filter(|&i| DocKind::of_paragraph_id(&pairs[i].id) == kind)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let pick = |v: &[LabelSet]| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let (first_vs_adjudicated, second_vs_adjudicated) = adjudicated_labels
            .map(|a| readings_against(&pick(a), &pick(&firsts), &pick(&seconds)))
            .unzip();
        by_kind.insert(
            kind.as_str(),
            KindFigures {
                readers: agreement(&pick(&firsts), &pick(&seconds)),
                first_vs_adjudicated,
                second_vs_adjudicated,
                classifiers: classifier_rows(
                    &rows,
                    &firsts,
                    &seconds,
                    adjudicated_labels,
                    &predictions,
                ),
            },
        );
    }
    let second_sha256 = crate::weights::sha256_file(&second_path)?;
    match args.format {
        ReportFormat::Json => {
            let v = serde_json::json!({
                "second_reading": second_path.display().to_string(),
                "second_reading_sha256": second_sha256,
                "annotations_sha256": first.sha256,
                "readers": readers,
                "adjudicated": adjudicated,
                "classifiers": rows,
                "by_kind": by_kind,
            });
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        ReportFormat::Markdown => print!(
            "{}",
            markdown(
                // As given, so the committed Markdown names the files as the README does.
                &args
                    .annotations
                    .as_deref()
                    .unwrap_or(Path::new("datasets/annotations"))
                    .display()
                    .to_string(),
                &second_path,
                &readers,
                adjudicated.as_ref(),
                &rows,
                &by_kind
            )
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The first and the second reading, each scored against `labels` (the adjudicated ones).
fn readings_against(
    labels: &[LabelSet],
    firsts: &[LabelSet],
    seconds: &[LabelSet],
) -> (Versus, Versus) {
    (
        (&evaluate(labels, firsts, None)).into(),
        (&evaluate(labels, seconds, None)).into(),
    )
}

/// The figures of one kind of document.
#[derive(Debug, serde::Serialize)]
struct KindFigures {
    readers: Agreement,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_vs_adjudicated: Option<Versus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    second_vs_adjudicated: Option<Versus>,
    classifiers: Vec<ClassifierRow>,
}

/// Each classifier's F1 on the paragraphs `rows` (indices into the pairs) against the
/// first reading, the second, and the adjudicated labels if any.
fn classifier_rows(
    rows: &[usize],
    firsts: &[LabelSet],
    seconds: &[LabelSet],
    adjudicated: Option<&[LabelSet]>,
    predictions: &[(String, Vec<LabelSet>)],
) -> Vec<ClassifierRow> {
    let pick = |v: &[LabelSet]| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
    predictions
        .iter()
        .map(|(scores, predicted)| {
            let predicted = pick(predicted);
            ClassifierRow {
                scores: scores.clone(),
                vs_first: (&evaluate(&pick(firsts), &predicted, None)).into(),
                vs_second: (&evaluate(&pick(seconds), &predicted, None)).into(),
                vs_adjudicated: adjudicated.map(|a| (&evaluate(&pick(a), &predicted, None)).into()),
            }
        })
        .collect()
}

/// A cross-validation's out-of-fold labels for the paragraphs read twice. Each must be a
/// test row of the scores file, or the classifier was cross-validated on other annotations
/// and its figure here would not be out of fold.
fn predictions_for(path: &Path, pairs: &[TwoReadings]) -> Result<Vec<LabelSet>, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|e| CommandError::io(path.display(), e))?;
    let mut test: BTreeMap<String, LabelSet> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| CommandError::Input(format!("{}:{}: {why}", path.display(), n + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        if v["split"].as_str() != Some("test") {
            continue;
        }
        let id = v["id"].as_str().ok_or_else(|| bad("no id"))?;
        let names: Vec<&str> = v["predicted"]
            .as_array()
            .ok_or_else(|| bad("no predicted labels"))?
            .iter()
            .map(|x| x.as_str().unwrap_or("?"))
            .collect();
        let labels = LabelSet::from_names(&names).map_err(|e| bad(&e))?;
        if test.insert(id.to_string(), labels).is_some() {
            return Err(bad(&format!("{id} is a test row twice")));
        }
    }
    pairs
        .iter()
        .map(|p| {
            test.get(&p.id).copied().ok_or_else(|| {
                CommandError::Input(format!(
                    "{}: no out-of-fold prediction for {}: cross-validated on other annotations",
                    path.display(),
                    p.id
                ))
            })
        })
        .collect()
}

/// The readings' per-frame counts, F1 and kappa, and their macro-F1 and exact-match
/// share, ending without a newline after the last sentence.
fn readers_table(s: &mut String, readers: &Agreement) {
    s.push_str(
        "| frame | both | first only | second only | neither | F1 | kappa |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (frame, a) in &readers.per_frame {
        let kappa = a.kappa.map_or("-".to_string(), |k| format!("{k:.3}"));
        s.push_str(&format!(
            "| {frame} | {} | {} | {} | {} | {:.3} | {kappa} |\n",
            a.both, a.first_only, a.second_only, a.neither, a.f1
        ));
    }
    s.push_str(&format!(
        "\nmacro-F1 between the readings **{:.3}**; identical label sets on {:.1}% of the \
         paragraphs.",
        readers.macro_f1,
        100.0 * readers.exact_match
    ));
    // A frame neither reading gives (gender in pre-1990 resolutions) has no F1; it counts
    // as 0 in the macro, as everywhere in frameshift, which says nothing about agreement.
    let unused: Vec<&str> = readers
        .per_frame
        .iter()
        .filter(|(_, a)| a.both + a.first_only + a.second_only == 0)
        .map(|(frame, _)| *frame)
        .collect();
    if !unused.is_empty() {
        s.push_str(&format!(
            " No paragraph here carries {} in either reading: F1 undefined, shown and counted \
             in macro-F1 as 0.",
            unused
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

fn markdown(
    first: &str,
    second: &Path,
    readers: &Agreement,
    adjudicated: Option<&Adjudicated>,
    rows: &[ClassifierRow],
    by_kind: &BTreeMap<&'static str, KindFigures>,
) -> String {
    let mut s = format!(
        "### Two readings of the same {} paragraphs ({})\n\n",
        readers.n,
        second.display()
    );
    readers_table(&mut s, readers);
    s.push('\n');
    let header = |s: &mut String, first_column: &str| {
        s.push_str(&format!("| {first_column} | against |"));
        for f in Frame::ALL {
            s.push_str(&format!(" {} |", f.name()));
        }
        s.push_str(" macro |\n|---|---|---:|---:|---:|---:|---:|\n");
    };
    let row = |s: &mut String, who: &str, against: &str, v: &Versus| {
        s.push_str(&format!("| {who} | {against} |"));
        for f in Frame::ALL {
            s.push_str(&format!(" {:.3} |", v.f1[f.name()]));
        }
        s.push_str(&format!(" {:.3} |\n", v.macro_f1));
    };
    if let Some(a) = adjudicated {
        s.push_str(&format!(
            "\n### Each reading against the adjudicated labels (F1)\n\n{} of the {} paragraphs \
             adjudicated ({}); the others keep the labels both readings gave.\n\n",
            a.decided, readers.n, a.file
        ));
        header(&mut s, "reading");
        row(
            &mut s,
            &format!("first ({first})"),
            "adjudicated",
            &a.first_reading,
        );
        row(&mut s, "second", "adjudicated", &a.second_reading);
    }
    let classifier_lines = |s: &mut String, rows: &[ClassifierRow]| {
        for r in rows {
            row(s, &r.scores, "first reading", &r.vs_first);
            row(s, &r.scores, "second reading", &r.vs_second);
            if let Some(v) = &r.vs_adjudicated {
                row(s, &r.scores, "adjudicated", v);
            }
        }
    };
    if !rows.is_empty() {
        s.push_str("\n### Classifiers on the same paragraphs (out-of-fold F1)\n\n");
        header(&mut s, "classifier scores");
        classifier_lines(&mut s, rows);
    }
    for (kind, k) in by_kind {
        s.push_str(&format!(
            "\n### {kind} paragraphs only ({} of the {})\n\n",
            k.readers.n, readers.n
        ));
        readers_table(&mut s, &k.readers);
        s.push_str(" F1 (a frame no paragraph of this kind carries counts 0):\n\n");
        header(&mut s, "who");
        if let (Some(first), Some(second)) = (&k.first_vs_adjudicated, &k.second_vs_adjudicated) {
            row(&mut s, "first reading", "adjudicated", first);
            row(&mut s, "second reading", "adjudicated", second);
        }
        classifier_lines(&mut s, &k.classifiers);
    }
    s
}
