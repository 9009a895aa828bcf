//! `frameshift eval`: score classification methods against gold labels.
//!
//! With `--gold FILE` (JSONL `{"text", "labels"}`, or `{"id", "sha256", "labels"}` naming a
//! paragraph of the corpus) it scores one method (trained head,
//! lexicon, zero-shot); without, it runs grouped 5-fold cross-validation of all three on
//! `datasets/annotations` (folds by document, head re-trained inside each fold with its own
//! inner cross-validation) and writes `eval/results/<date>-<model>.{json,md}` stamped with the
//! model, head and data hashes, plus the head's out-of-fold scores
//! (`<date>-<model>.scores.jsonl`, see [`write_scores`]). Either way it reports per-frame precision/recall/F1/support,
//! micro and macro F1, subset accuracy, Hamming loss and per-frame ECE, as JSON (stable keys)
//! or Markdown on stdout.

use super::{embed_with_cache, load_encoder, CommandError};
use crate::classify::lexicon::Lexicon;
use crate::classify::zeroshot::ZeroShot;
use crate::classify::{quantize_for_reproducibility, FrameScores, LabelSet};
use crate::cli::{EvalArgs, Method, ReportFormat};
use crate::metrics::{evaluate, Report};
use crate::settings::Settings;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(args: &EvalArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let Some(gold_path) = &args.gold else {
        if args.finetune {
            return super::finetune::cross_validate(args, settings);
        }
        if let Some(member) = &args.ensemble_with {
            return super::ensemble::cross_validate(args, settings, member);
        }
        return cross_validate(args, settings);
    };
    // Lines that name their paragraph (id + sha256, as the annotations do) take its text
    // from the corpus.
    let corpus = args
        .data
        .corpus
        .clone()
        .unwrap_or_else(|| settings.corpus_dir());
    let gold = super::read_gold(gold_path, &corpus, settings)?;
    let method = args.method.unwrap_or(Method::Head);
    let texts: Vec<&str> = gold.items.iter().map(|g| g.text.as_str()).collect();
    let truth: Vec<LabelSet> = gold.items.iter().map(|g| g.labels).collect();

    // Every method gives labels; the head also gives probabilities (for ECE and the
    // scores file).
    let mut rules_applied = false;
    let (predicted, scores, head_sha): (Vec<LabelSet>, Option<Vec<FrameScores>>, _) = match method {
        Method::Lexicon => {
            let lexicon = Lexicon::load(&settings.datasets_dir().join("lexicon.toml"))?;
            let predicted = texts.iter().map(|t| lexicon.classify(t)).collect();
            (predicted, None, None)
        }
        // The head goes through the Scorer that `label` and `analyze` use (one model or an
        // ensemble, embeddings through the cache), so eval scores exactly what they predict.
        Method::Head => {
            let scorer =
                super::scorer::Scorer::load(&args.encoder, args.head.as_deref(), settings)?;
            let (rows, _) = scorer.predict(&args.encoder, &texts, settings)?;
            rules_applied = scorer.citation_rules();
            let (scores, predicted): (Vec<FrameScores>, Vec<LabelSet>) = rows.into_iter().unzip();
            (predicted, Some(scores), Some(file_sha256(&scorer.path)?))
        }
        Method::Zeroshot
            if super::scorer::is_ensemble_name(args.encoder.model.model.as_deref()) =>
        {
            return Err(CommandError::Input(
                "the zero-shot baseline is defined on one base encoder, not on an ensemble".into(),
            ));
        }
        Method::Zeroshot => {
            let loaded = load_encoder(&args.encoder, settings)?;
            // A fine-tuned model's head file carries no trained zero-shot thresholds (the
            // baseline is defined on the frozen base encoder), so scoring it would report a
            // baseline at arbitrary cuts.
            if super::finetune::is_model_dir(&loaded.model.dir) {
                let name = &loaded.model.spec.name;
                return Err(CommandError::Input(format!(
                    "the zero-shot baseline is defined on a base encoder, not on the fine-tuned \
                     model {name}; run it with --model {}",
                    name.strip_suffix("-finetuned")
                        .or_else(|| name.strip_suffix("-bitfit"))
                        .or_else(|| name.strip_suffix("-lora"))
                        .unwrap_or("minilm")
                )));
            }
            let (head_path, head) =
                super::load_classifier(args.head.as_deref(), &loaded, settings)?;
            let (vectors, _) = embed_with_cache(&args.encoder, &loaded, &texts, settings)?;
            let zs = ZeroShot::build(
                loaded.encoder.as_ref(),
                &settings.datasets_dir().join("frames.toml"),
            )?;
            let predicted = vectors
                .iter()
                .map(|v| {
                    FrameScores(zs.scores(&quantize_for_reproducibility(&v.vector)))
                        .labels(&head.file.zeroshot_thresholds)
                })
                .collect();
            (predicted, None, Some(file_sha256(&head_path)?))
        }
    };
    let report = evaluate(&truth, &predicted, scores.as_deref());
    // A gold set without one of the frames (speeches without a gender paragraph, say) has
    // that frame's recall and F1 undefined; they are reported as 0 and pull macro-F1 down
    // by a quarter of a point each, as scikit-learn's default does, so say so rather than
    // let a small gold set read as a failure on that frame.
    for (frame, m) in &report.per_frame {
        if m.support == 0 {
            eprintln!(
                "warning: {}: no gold paragraph carries `{frame}`; its recall and F1 are \
                 undefined, reported as 0 and counted as 0 in macro-F1",
                gold_path.display()
            );
        }
    }
    if let Some(path) = &args.scores {
        write_gold_scores(path, &gold.items, &predicted, scores.as_deref())?;
    }
    let skipped: Vec<usize> = gold.rejected.iter().map(|(line, _)| *line).collect();
    print_report(
        args.format,
        method,
        gold_path,
        &report,
        head_sha.as_deref(),
        &skipped,
        rules_applied,
    );
    Ok(if gold.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The four probabilities of a scores file's line, by frame name.
fn scores_json(scores: &FrameScores) -> serde_json::Value {
    use crate::classify::Frame;
    Frame::ALL
        .iter()
        .map(|f| (f.name().to_string(), scores.get(*f).into()))
        .collect::<serde_json::Map<String, serde_json::Value>>()
        .into()
}

/// Write what `eval --gold --scores FILE` promises: one JSONL line per scored gold line, in
/// the gold file's order, with its line number, gold and predicted labels and (for the head)
/// the four probabilities. No text: the reader has the gold file; this says which of its
/// lines were missed, and lets thresholds be studied without embedding again.
fn write_gold_scores(
    path: &Path,
    items: &[crate::dataset::GoldItem],
    predicted: &[LabelSet],
    scores: Option<&[FrameScores]>,
) -> Result<(), CommandError> {
    super::write_atomically(path, |w| {
        for (i, item) in items.iter().enumerate() {
            let mut line = serde_json::json!({
                "line": item.line,
                "gold": item.labels.names(),
                "predicted": predicted[i].names(),
            });
            if let Some(scores) = scores {
                line["scores"] = scores_json(&scores[i]);
            }
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
}

pub fn default_head_path(settings: &Settings, model: &str) -> PathBuf {
    settings
        .home
        .join("weights")
        .join("heads")
        .join(format!("{model}.json"))
}

fn file_sha256(path: &Path) -> Result<String, CommandError> {
    crate::weights::sha256_file(path).map_err(CommandError::from)
}

pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Head => "head",
        Method::Lexicon => "lexicon",
        Method::Zeroshot => "zeroshot",
    }
}

fn print_report(
    format: ReportFormat,
    method: Method,
    gold: &Path,
    report: &Report,
    head_sha: Option<&str>,
    skipped_lines: &[usize],
    citation_rules: bool,
) {
    match format {
        ReportFormat::Json => {
            let mut v = serde_json::to_value(report).expect("report serialises");
            v["method"] = method_name(method).into();
            // Whether the head's labels include the codebook's citation rule.
            v["citation_rules"] = citation_rules.into();
            v["gold"] = gold.display().to_string().into();
            // The gold lines that were not scored (named on stderr with the reason), so a
            // report read later still says it did not cover the whole file.
            v["skipped_lines"] = skipped_lines.into();
            if let Some(h) = head_sha {
                v["head_sha256"] = h.into();
            }
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        ReportFormat::Markdown => {
            let rules = if citation_rules {
                " (with the codebook's citation rule)"
            } else {
                ""
            };
            print!(
                "{}",
                report.to_markdown(&format!(
                    "{}{rules} on {}",
                    method_name(method),
                    gold.display()
                ))
            );
            if !skipped_lines.is_empty() {
                println!(
                    "\n{} line(s) of the gold file skipped (not scored): {}",
                    skipped_lines.len(),
                    skipped_lines
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
}

/// One row of an out-of-fold scores file (see [`write_scores`]).
#[derive(Clone)]
pub struct ScoreRow<'a> {
    pub id: &'a str,
    pub fold: usize,
    /// `test` (the outer held-out fold) or `validation` (an inner split a model chose its
    /// thresholds or stopping point on).
    pub split: &'static str,
    pub gold: LabelSet,
    pub scores: FrameScores,
    pub predicted: Option<LabelSet>,
}

/// The `test` rows of a scores file: every annotation once, scored by the model that did
/// not see its fold. The arguments are parallel, indexed by annotation.
pub fn test_score_rows<'a>(
    labelled: &'a [crate::dataset::Labelled],
    folds: &[usize],
    gold: &[LabelSet],
    scores: &[FrameScores],
    predicted: &[LabelSet],
) -> Vec<ScoreRow<'a>> {
    let n = labelled.len();
    assert!(
        [folds.len(), gold.len(), scores.len(), predicted.len()]
            .iter()
            .all(|&len| len == n),
        "scores rows: the arguments are not parallel"
    );
    labelled
        .iter()
        .enumerate()
        .map(|(i, l)| ScoreRow {
            id: &l.paragraph.id,
            fold: folds[i],
            split: "test",
            gold: gold[i],
            scores: scores[i],
            predicted: Some(predicted[i]),
        })
        .collect()
}

/// Out-of-fold figures by source (`resolution`, `speech`): the external check scores
/// held-out resolution paragraphs, and speeches read differently, so every
/// cross-validation reports both beside the pooled figures. Arguments are parallel,
/// indexed by annotation.
pub fn by_source(
    labelled: &[crate::dataset::Labelled],
    gold: &[LabelSet],
    predicted: &[LabelSet],
    scores: &[FrameScores],
) -> Vec<(&'static str, Report)> {
    ["resolution", "speech"]
        .into_iter()
        .map(|kind| {
            let rows: Vec<usize> = (0..labelled.len())
                .filter(|&i| labelled[i].paragraph.doc_kind.as_str() == kind)
                .collect();
            let pick = |v: &[LabelSet]| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
            let scores: Vec<FrameScores> = rows.iter().map(|&i| scores[i]).collect();
            (kind, evaluate(&pick(gold), &pick(predicted), Some(&scores)))
        })
        .collect()
}

/// `by_source`'s reports as a JSON object keyed by source.
pub fn by_source_json(reports: &[(&'static str, Report)]) -> serde_json::Value {
    reports
        .iter()
        .map(|(name, r)| {
            (
                name.to_string(),
                serde_json::to_value(r).expect("report serialises"),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Write `<stem>.scores.jsonl` beside a results file: one line per scored paragraph, by
/// annotation id (no corpus text), with its fold, gold labels, probabilities and predicted
/// labels. The results file gives the figures; this one lets a reader check them, draw
/// precision-recall curves or compare threshold policies and ensembles without training.
pub fn write_scores(path: &Path, rows: &[ScoreRow]) -> Result<(), CommandError> {
    super::write_atomically(path, |w| {
        for r in rows {
            let mut line = serde_json::json!({
                "id": r.id,
                "fold": r.fold,
                "split": r.split,
                "gold": r.gold.names(),
                "scores": scores_json(&r.scores),
            });
            if let Some(p) = r.predicted {
                line["predicted"] = p.names().into();
            }
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
}

/// Grouped k-fold cross-validation of every method on the annotations.
fn cross_validate(args: &EvalArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    use crate::classify::{best_threshold, grouped_folds, train_head, Frame, TrainOptions};
    use rayon::prelude::*;
    let loaded = load_encoder(&args.encoder, settings)?;
    let data = super::train::load_training_data(&args.data, &loaded, &args.encoder, settings)?;
    let zs = ZeroShot::build(
        loaded.encoder.as_ref(),
        &settings.datasets_dir().join("frames.toml"),
    )?;
    // The baseline uses the same term lists whose indicators the head reads.
    let lexicon = &data.lexicon;
    let mut opts = TrainOptions::default();
    if let Some(seed) = args.seed {
        opts.seed = seed;
    }
    let set = &data.set;
    let folds = grouped_folds(&set.groups, opts.folds, opts.seed);
    let n = set.len();
    let zs_scores: Vec<[f32; 4]> = data.vectors.iter().map(|x| zs.scores(x)).collect();

    // Each outer fold is independent; train them in parallel (inner work is sequential).
    let per_fold: Vec<Vec<(usize, FrameScores, LabelSet, LabelSet)>> = (0..opts.folds)
        .into_par_iter()
        .map(|f| {
            let train: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
            let test: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
            let head = train_head(&set.subset(&train), &opts);
            let mut zt = [0.5f32; 4];
            for fr in Frame::ALL {
                let s: Vec<f64> = train
                    .iter()
                    .map(|&i| zs_scores[i][fr.index()] as f64)
                    .collect();
                let t: Vec<bool> = train.iter().map(|&i| set.y[i].contains(fr)).collect();
                zt[fr.index()] = best_threshold(&s, &t);
            }
            test.iter()
                .map(|&i| {
                    let (scores, labels) = head.predict(&set.x[i]);
                    (i, scores, labels, FrameScores(zs_scores[i]).labels(&zt))
                })
                .collect()
        })
        .collect();
    let mut head_scores = vec![FrameScores::default(); n];
    let mut head_labels = vec![LabelSet::default(); n];
    let mut zs_labels = vec![LabelSet::default(); n];
    for (i, s, l, z) in per_fold.into_iter().flatten() {
        head_scores[i] = s;
        head_labels[i] = l;
        zs_labels[i] = z;
    }
    let lex_labels: Vec<LabelSet> = data
        .labelled
        .iter()
        .map(|l| lexicon.classify(&l.paragraph.text))
        .collect();

    let reports = [
        ("head", evaluate(&set.y, &head_labels, Some(&head_scores))),
        ("lexicon", evaluate(&set.y, &lex_labels, None)),
        ("zeroshot", evaluate(&set.y, &zs_labels, None)),
    ];
    // The head's figures by source, since resolutions and speeches read differently.
    let sources = by_source(&data.labelled, &set.y, &head_labels, &head_scores);

    let model = &loaded.model;
    let head_path = args
        .head
        .clone()
        .unwrap_or_else(|| default_head_path(settings, &model.spec.name));
    let head_sha = crate::weights::sha256_file(&head_path).ok();
    let date = today_utc();
    let documents: std::collections::BTreeSet<&str> =
        set.groups.iter().map(|g| g.as_str()).collect();
    let mut methods = serde_json::Map::new();
    for (name, r) in &reports {
        methods.insert(
            name.to_string(),
            serde_json::to_value(r).expect("report serialises"),
        );
    }
    let result = serde_json::json!({
        "date": date,
        "frameshift_version": env!("CARGO_PKG_VERSION"),
        "model": model.spec.name,
        "model_files": model.files,
        "model_fingerprint": model.fingerprint(),
        "backend": loaded.backend,
        "head_sha256": head_sha,
        "annotations_sha256": data.annotations.sha256,
        "paragraphs": n,
        "documents": documents.len(),
        "folds": opts.folds,
        "seed": opts.seed,
        "protocol": "grouped k-fold by document; head re-trained per fold with inner grouped CV for L2 and thresholds; zero-shot thresholds chosen on the training folds; lexicon untrained",
        "macro_f1": reports[0].1.macro_f1,
        "micro_f1": reports[0].1.micro_f1,
        "per_frame": serde_json::to_value(&reports[0].1.per_frame).expect("serialises"),
        "methods": methods,
        "head_by_source": by_source_json(&sources),
        "head_confusions": crate::metrics::confusions(&set.y, &head_labels),
    });
    let mut md = format!(
        "# frameshift eval: grouped {}-fold cross-validation ({date})\n\n\
         Model `{}` (fingerprint `{}`), annotations sha256 `{}`, {} paragraphs from {} documents, seed {}.\n\
         Committed head sha256: `{}`.\n\n",
        opts.folds,
        model.spec.name,
        &model.fingerprint()[..16],
        &data.annotations.sha256[..16],
        n,
        documents.len(),
        opts.seed,
        head_sha.as_deref().unwrap_or("(none)")
    );
    for (name, r) in &reports {
        md.push_str(&r.to_markdown(name));
        md.push('\n');
    }
    for (name, r) in &sources {
        md.push_str(&r.to_markdown(&format!("head, {name} paragraphs only")));
        md.push('\n');
    }
    md.push_str(
        &crate::metrics::confusions(&set.y, &head_labels)
            .to_markdown("head: where the errors go (out-of-fold)"),
    );
    let score_rows = test_score_rows(&data.labelled, &folds, &set.y, &head_scores, &head_labels);
    publish(
        args,
        settings,
        &format!("{date}-{}", model.spec.name),
        &result,
        &md,
        &score_rows,
    )
}

/// Write a cross-validation's `<stem>.json`, `.md` and `.scores.jsonl` to `--results`
/// (default `eval/results/`) and print the report on stdout in the asked format.
pub fn publish(
    args: &EvalArgs,
    settings: &Settings,
    stem: &str,
    result: &serde_json::Value,
    md: &str,
    rows: &[ScoreRow],
) -> Result<ExitCode, CommandError> {
    let dir = args
        .results
        .clone()
        .unwrap_or_else(|| settings.home.join("eval").join("results"));
    let json_text = serde_json::to_string_pretty(result).expect("json") + "\n";
    super::write_atomically(&dir.join(format!("{stem}.json")), |w| {
        std::io::Write::write_all(w, json_text.as_bytes())
    })?;
    super::write_atomically(&dir.join(format!("{stem}.md")), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    write_scores(&dir.join(format!("{stem}.scores.jsonl")), rows)?;
    match args.format {
        ReportFormat::Json => print!("{json_text}"),
        ReportFormat::Markdown => print!("{md}"),
    }
    if settings.chatty() {
        eprintln!("wrote {}/{stem}.json, .md and .scores.jsonl", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock (civil-from-days algorithm).
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!("{year:04}-{month:02}-{day:02}")
}
