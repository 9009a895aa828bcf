//! `frameshift eval`: score a classification method against gold labels.
//!
//! Takes `--gold FILE` (JSONL `{"text", "labels"}`) and a method (trained head, lexicon,
//! zero-shot), gives per-frame precision/recall/F1/support, micro and macro F1, subset
//! accuracy, Hamming loss and per-frame ECE, as JSON (machine-readable, stable keys) or
//! Markdown, on stdout.

use super::{load_encoder, CommandError};
use crate::classify::lexicon::Lexicon;
use crate::classify::zeroshot::ZeroShot;
use crate::classify::{FrameScores, HeadFile, LabelSet};
use crate::cli::{EvalArgs, Method, ReportFormat};
use crate::dataset::read_gold;
use crate::embed::{embed_texts, EmbedOptions};
use crate::metrics::{evaluate, Report};
use crate::settings::Settings;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(args: &EvalArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let Some(gold_path) = &args.gold else {
        return Err(CommandError::Input(
            "cross-validation on datasets/annotations needs the annotation set, which is not \
             there yet; pass --gold FILE to score against a gold file"
                .into(),
        ));
    };
    let gold = read_gold(gold_path)?;
    for (line, why) in &gold.rejected {
        eprintln!("{}:{line}: skipped: {why}", gold_path.display());
    }
    let method = args.method.unwrap_or(Method::Head);
    let texts: Vec<&str> = gold.items.iter().map(|g| g.text.as_str()).collect();
    let truth: Vec<LabelSet> = gold.items.iter().map(|g| g.labels).collect();

    let (report, head_sha) = match method {
        Method::Lexicon => {
            let lexicon = Lexicon::load(&settings.datasets_dir().join("lexicon.toml"))?;
            let predicted: Vec<LabelSet> = texts.iter().map(|t| lexicon.classify(t)).collect();
            (evaluate(&truth, &predicted, None), None)
        }
        Method::Head | Method::Zeroshot => {
            let loaded = load_encoder(&args.encoder, settings)?;
            let info = loaded.encoder.info().clone();
            let head_path = args
                .head
                .clone()
                .unwrap_or_else(|| default_head_path(settings, &info.name));
            let head = HeadFile::load(&head_path, &info.name, &info.fingerprint)?;
            let opts = EmbedOptions {
                batch_tokens: args.encoder.batch_tokens,
                window_overlap: args.encoder.window_overlap,
            };
            let vectors = embed_texts(loaded.encoder.as_ref(), &texts, &opts)?;
            let report = if method == Method::Head {
                let (scores, predicted): (Vec<FrameScores>, Vec<LabelSet>) =
                    vectors.iter().map(|v| head.head.predict(&v.vector)).unzip();
                evaluate(&truth, &predicted, Some(&scores))
            } else {
                let zs = ZeroShot::build(
                    loaded.encoder.as_ref(),
                    &settings.datasets_dir().join("frames.toml"),
                )?;
                let predicted: Vec<LabelSet> = vectors
                    .iter()
                    .map(|v| FrameScores(zs.scores(&v.vector)).labels(&head.zeroshot_thresholds))
                    .collect();
                evaluate(&truth, &predicted, None)
            };
            (report, Some(file_sha256(&head_path)?))
        }
    };
    print_report(args.format, method, gold_path, &report, head_sha.as_deref());
    Ok(if gold.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
) {
    match format {
        ReportFormat::Json => {
            let mut v = serde_json::to_value(report).expect("report serialises");
            v["method"] = method_name(method).into();
            v["gold"] = gold.display().to_string().into();
            if let Some(h) = head_sha {
                v["head_sha256"] = h.into();
            }
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        ReportFormat::Markdown => {
            print!(
                "{}",
                report.to_markdown(&format!("{} on {}", method_name(method), gold.display()))
            );
        }
    }
}
