//! `frameshift analyze`: the main job, corpus -> segment -> embed -> classify -> aggregate ->
//! report, in one run.
//!
//! Takes corpus paths (or the corpora of `datasets/corpora.toml` that are present), gives in
//! `--out`: `paragraphs.csv`/`.jsonl` (per-paragraph frames, probabilities and citations),
//! `shares.csv` (long format with bootstrap CIs), `trends.csv`, `citations.csv`,
//! `report.html`/`.md` and `manifest.json` (versions, hashes of the model, head and every
//! input file, parameters, counts, timings). Every file is written atomically; embeddings go
//! through the resumable cache, so a killed run restarted with the same arguments re-embeds
//! nothing it already had and finishes with identical outputs.

use super::{write_atomically, CommandError};
use crate::aggregate::{self, AggregateOptions, Observation, ShareRow};
use crate::citations::{CitationTable, Citations};
use crate::classify::{Frame, FrameScores, LabelSet};
use crate::cli::AnalyzeArgs;
use crate::corpus::DocKind;
use crate::report::{AnalysisSummary, ErrorRate};
use crate::segment::{self, Paragraph};
use crate::settings::Settings;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Deserialize)]
struct CorporaFile {
    corpus: Vec<CorpusEntry>,
}

#[derive(Deserialize)]
struct CorpusEntry {
    id: String,
    path: String,
    source: String,
}

/// The corpora to read when no PATH is given: those of `datasets/corpora.toml` that exist;
/// the missing ones are named with their public source.
fn default_paths(settings: &Settings) -> Result<Vec<PathBuf>, CommandError> {
    let file = settings.datasets_dir().join("corpora.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| CommandError::io(file.display(), e))?;
    let corpora: CorporaFile = toml::from_str(&text)
        .map_err(|e| CommandError::Input(format!("{}: {e}", file.display())))?;
    let mut present = Vec::new();
    for c in corpora.corpus {
        let path = settings.home.join(&c.path);
        if path.exists() {
            present.push(path);
        } else if settings.chatty() {
            eprintln!(
                "note: corpus `{}` is not at {}; obtain it from: {}",
                c.id,
                path.display(),
                c.source
            );
        }
    }
    if present.is_empty() {
        return Err(CommandError::Input(format!(
            "none of the corpora in {} is present; pass corpus paths or fetch them (sources listed there)",
            file.display()
        )));
    }
    Ok(present)
}

/// One classified paragraph as written to paragraphs.jsonl.
#[derive(serde::Serialize)]
struct ParagraphOut<'a> {
    doc: &'a str,
    id: &'a str,
    kind: String,
    number: Option<u32>,
    letter: Option<&'a str>,
    year: Option<i32>,
    agendas: &'a [String],
    security: f32,
    crime: f32,
    human_rights: f32,
    gender: f32,
    labels: Vec<&'static str>,
    citations: Vec<String>,
    text: &'a str,
}

fn sha256_hex(path: &Path) -> Option<String> {
    crate::weights::sha256_file(path).ok()
}

fn kind_name(p: &Paragraph) -> String {
    serde_json::to_value(p.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Which shard (1-based) a document belongs to: the first 8 bytes of the sha256 of its
/// symbol, modulo `n`. Depends on nothing but the symbol, so every shard of a run, on any
/// machine, agrees on the split.
pub fn shard_of(doc: &str, n: usize) -> usize {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(doc.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_le_bytes(b) % n as u64) as usize + 1
}

/// One classified paragraph of a shard (`shard.jsonl`), with its position in the whole
/// run's paragraph order, so that `merge` restores exactly that order.
#[derive(serde::Serialize, Deserialize)]
struct ShardRecord {
    position: usize,
    paragraph: Paragraph,
    scores: FrameScores,
    labels: Vec<String>,
    citations: Citations,
}

/// What the manifest says beyond what aggregation computes: the same for a single run and
/// for a merge of shards (where it is read back from the shards' `shard.json`).
#[derive(Clone, serde::Serialize, Deserialize)]
struct RunRecord {
    model: serde_json::Value,
    head: serde_json::Value,
    parameters: serde_json::Value,
    documents_read: usize,
    paragraphs_segmented: usize,
    paragraphs_without_year: usize,
    /// Paragraphs in the year range, over all shards.
    paragraphs_in_range: usize,
    warnings: usize,
    failures: Vec<String>,
    inputs: serde_json::Value,
    embedding_cache: crate::cache::CacheStats,
}

pub fn run(args: &AnalyzeArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let started = Instant::now();
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    let paths = if args.paths.is_empty() {
        default_paths(settings)?
    } else {
        args.paths.clone()
    };
    if args.shard.is_some() && args.gold.is_some() {
        return Err(CommandError::Input(
            "--gold needs every paragraph: run the shards without it (adjusted shares are not computed for merged runs)".into(),
        ));
    }

    // corpus -> segment
    let t = Instant::now();
    let rules = super::agenda_rules(args.agendas.as_deref(), settings)?;
    let read = crate::corpus::read_paths(&paths);
    let bar = super::progress_bar(settings, read.documents.len() as u64, "documents segmented");
    let (paragraphs, doc_failures) =
        segment::segment_documents_with_progress(&read.documents, &rules, &|| bar.inc(1));
    bar.finish_and_clear();
    let seg = segment::Segmented {
        read,
        paragraphs,
        failures: doc_failures,
    };
    let mut failures: Vec<String> = seg
        .read
        .failures
        .iter()
        // Every corpus error names its file already.
        .map(|f| f.error.to_string())
        .chain(
            seg.failures
                .iter()
                .map(|f| format!("{}: {}", f.source.display(), f.error)),
        )
        .collect();
    failures.sort();
    let in_range = |p: &Paragraph| {
        p.year.is_some_and(|y| {
            args.from_year.is_none_or(|f| y >= f) && args.to_year.is_none_or(|t| y <= t)
        })
    };
    let all_in_range: Vec<&Paragraph> = seg.paragraphs.iter().filter(|p| in_range(p)).collect();
    let paragraphs_in_range = all_in_range.len();
    // (position in the whole run, paragraph): a shard keeps its documents' paragraphs.
    let selected: Vec<(usize, &Paragraph)> = all_in_range
        .into_iter()
        .enumerate()
        .filter(|(_, p)| args.shard.is_none_or(|s| shard_of(&p.doc, s.n) == s.k))
        .collect();
    let paragraphs: Vec<&Paragraph> = selected.iter().map(|(_, p)| *p).collect();
    let skipped_no_year = seg.paragraphs.iter().filter(|p| p.year.is_none()).count();
    timings.insert("segment_s", t.elapsed().as_secs_f64());
    if settings.chatty() {
        eprintln!(
            "segmented {} documents into {} paragraphs ({} in the year range{})",
            seg.read.documents.len(),
            seg.paragraphs.len(),
            paragraphs_in_range,
            match args.shard {
                Some(s) => format!(", {} in shard {}/{}", paragraphs.len(), s.k, s.n),
                None => String::new(),
            }
        );
    }
    if paragraphs_in_range == 0 {
        // Say why: often every input failed to read, and the failures are the reason.
        for f in &failures {
            eprintln!("failed: {f}");
        }
        return Err(CommandError::Input(
            "no paragraphs found in the given corpus and year range".into(),
        ));
    }

    // embed
    let t = Instant::now();
    let scorer = super::scorer::Scorer::load(&args.encoder, args.head.as_deref(), settings)?;
    let head_path = scorer.path.clone();
    let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
    // Embedding and the head's arithmetic together (the head is a dot product per frame).
    let (scores, cache_stats) = scorer.score(&args.encoder, &texts, settings)?;
    timings.insert("embed_s", t.elapsed().as_secs_f64());

    // classify + citations
    let t = Instant::now();
    let table = CitationTable::load(&settings.datasets_dir().join("citations.toml"))?;
    let thresholds = scorer.thresholds();
    let classified: Vec<(FrameScores, LabelSet, Citations)> = {
        use rayon::prelude::*;
        paragraphs
            .par_iter()
            .zip(scores.par_iter())
            .map(|(p, s)| {
                let cited = table.extract(&p.text);
                (*s, scorer.labels(s, &thresholds, &cited), cited)
            })
            .collect()
    };
    timings.insert("classify_s", t.elapsed().as_secs_f64());

    let mut inputs: Vec<(String, Option<String>)> = seg
        .read
        .documents
        .iter()
        .map(|d| (d.source.display().to_string(), None))
        .collect();
    inputs.sort();
    inputs.dedup();
    {
        use rayon::prelude::*;
        inputs
            .par_iter_mut()
            .for_each(|(p, h)| *h = sha256_hex(Path::new(p)));
    }
    let agenda_table = super::agenda_table(args.agendas.as_deref(), settings);
    let record = RunRecord {
        model: scorer.model_record(),
        head: json!({"path": head_path.display().to_string(), "sha256": sha256_hex(&head_path), "annotations_sha256": scorer.annotations_sha256()}),
        parameters: json!({
            "paths": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "from_year": args.from_year, "to_year": args.to_year,
            "bootstrap": args.bootstrap, "seed": args.seed,
            "batch_tokens": args.encoder.batch_tokens, "window_overlap": args.encoder.window_overlap,
            "gold": args.gold.as_ref().map(|g| g.display().to_string()),
            "gold_sha256": args.gold.as_ref().and_then(|g| sha256_hex(g)),
            // The tables that decide agendas and citations: shards made with other tables
            // must not be merged (merge compares these parameters).
            "agendas": agenda_table.as_ref().map(|p| p.display().to_string()),
            "agendas_sha256": agenda_table.as_ref().and_then(|p| sha256_hex(p)),
            "citations_sha256": sha256_hex(&settings.datasets_dir().join("citations.toml")),
            // Labels with or without the codebook's citation rule.
            "citation_rules": scorer.citation_rules(),
            // The years of each kind of document the classifier was trained on, when known.
            "training_years": training_years(settings, scorer.annotations_sha256()),
        }),
        documents_read: seg.read.documents.len(),
        paragraphs_segmented: seg.paragraphs.len(),
        paragraphs_without_year: skipped_no_year,
        paragraphs_in_range,
        warnings: seg.read.warnings.len(),
        failures,
        inputs: inputs
            .iter()
            .map(|(p, h)| json!({"path": p, "sha256": h}))
            .collect(),
        embedding_cache: cache_stats,
    };

    if let Some(shard) = args.shard {
        return write_shard(
            args,
            settings,
            shard,
            &selected,
            &classified,
            &record,
            timings,
            started,
        );
    }

    let adjusted = match &args.gold {
        Some(gold) => adjusted_shares_for(gold, &scorer, &args.encoder, settings)?,
        None => None,
    };
    finish(
        &args.out,
        settings,
        &paragraphs,
        &classified,
        &record,
        adjusted,
        args.bootstrap,
        args.seed,
        timings,
        started,
    )
}

/// Write one shard's classified paragraphs and its run record.
#[allow(clippy::too_many_arguments)]
fn write_shard(
    args: &AnalyzeArgs,
    settings: &Settings,
    shard: crate::cli::Shard,
    selected: &[(usize, &Paragraph)],
    classified: &[(FrameScores, LabelSet, Citations)],
    record: &RunRecord,
    mut timings: BTreeMap<&str, f64>,
    started: Instant,
) -> Result<ExitCode, CommandError> {
    let out = &args.out;
    // A shard writes no aggregates: any in its directory are an earlier run's.
    clear_previous_outputs(out)?;
    write_atomically(&out.join("shard.jsonl"), |w| {
        for ((position, p), (s, l, c)) in selected.iter().zip(classified) {
            let rec = ShardRecord {
                position: *position,
                paragraph: (*p).clone(),
                scores: *s,
                labels: l.names().into_iter().map(str::to_string).collect(),
                citations: c.clone(),
            };
            serde_json::to_writer(&mut *w, &rec).map_err(std::io::Error::other)?;
            std::io::Write::write_all(w, b"\n")?;
        }
        Ok(())
    })?;
    timings.insert("total_s", started.elapsed().as_secs_f64());
    let manifest = json!({
        "frameshift_version": env!("CARGO_PKG_VERSION"),
        "command": std::env::args().collect::<Vec<_>>(),
        "shard": {"k": shard.k, "n": shard.n},
        "paragraphs": selected.len(),
        "run": record,
        "timings": timings,
    });
    super::write_json(&out.join("shard.json"), &manifest)?;
    for f in &record.failures {
        eprintln!("failed: {f}");
    }
    if settings.chatty() {
        eprintln!(
            "shard {}/{}: {} paragraphs in {:.1}s -> {} (combine the shards with `frameshift merge`)",
            shard.k,
            shard.n,
            selected.len(),
            started.elapsed().as_secs_f64(),
            out.display()
        );
    }
    Ok(if record.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `frameshift merge`: read the shards of one partitioned run, check that they belong
/// together and are complete, and write what the unsharded run writes.
pub fn merge(args: &crate::cli::MergeArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    let started = Instant::now();
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    let bad = |m: String| CommandError::Input(m);
    let mut shards: BTreeMap<usize, (PathBuf, RunRecord, usize)> = BTreeMap::new();
    let mut n_of_run: Option<usize> = None;
    // Shards of one run come from one frameshift: another version may segment, classify or
    // tag agendas differently, and the merged files would mix the two without a trace.
    let mut version_of_run: Option<(String, PathBuf)> = None;
    for dir in &args.shards {
        let path = dir.join("shard.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| CommandError::io(path.display(), e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let k = v["shard"]["k"].as_u64().unwrap_or(0) as usize;
        let n = v["shard"]["n"].as_u64().unwrap_or(0) as usize;
        let count = v["paragraphs"].as_u64().unwrap_or(0) as usize;
        let record: RunRecord = serde_json::from_value(v["run"].clone())
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let version = v["frameshift_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        match &version_of_run {
            None => version_of_run = Some((version, path.clone())),
            Some((first, first_path)) if *first != version => {
                return Err(bad(format!(
                    "{} was written by frameshift {version}, {} by frameshift {first}: \
                     rerun the shards with one version",
                    path.display(),
                    first_path.display()
                )))
            }
            Some(_) => {}
        }
        if *n_of_run.get_or_insert(n) != n {
            return Err(bad(format!(
                "{}: shard of {n}, but other shards are of {}",
                path.display(),
                n_of_run.unwrap_or(0)
            )));
        }
        if let Some((other, _, _)) = shards.insert(k, (dir.clone(), record, count)) {
            return Err(bad(format!(
                "shard {k}/{n} given twice ({} and {})",
                other.display(),
                dir.display()
            )));
        }
    }
    let n = n_of_run.unwrap_or(0);
    let missing: Vec<String> = (1..=n)
        .filter(|k| !shards.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if n == 0 || !missing.is_empty() {
        return Err(bad(format!("missing shards: {}", missing.join(", "))));
    }
    // Every shard must come from the same inputs, model, head and parameters.
    let first = shards[&1].1.clone();
    for (k, (dir, r, _)) in &shards {
        let same = r.model["fingerprint"] == first.model["fingerprint"]
            && r.model["backend"] == first.model["backend"]
            && r.head["sha256"] == first.head["sha256"]
            && r.parameters == first.parameters
            && r.inputs == first.inputs
            && r.paragraphs_in_range == first.paragraphs_in_range;
        if !same {
            return Err(bad(format!(
                "shard {k}/{n} ({}) was run with other inputs, model, head or parameters than shard 1/{n}",
                dir.display()
            )));
        }
    }
    let mut records: Vec<ShardRecord> = Vec::with_capacity(first.paragraphs_in_range);
    for (k, (dir, _, count)) in &shards {
        let path = dir.join("shard.jsonl");
        let text =
            std::fs::read_to_string(&path).map_err(|e| CommandError::io(path.display(), e))?;
        let before = records.len();
        for (i, line) in text.lines().enumerate() {
            let r: ShardRecord = serde_json::from_str(line)
                .map_err(|e| bad(format!("{}:{}: {e}", path.display(), i + 1)))?;
            records.push(r);
        }
        if records.len() - before != *count {
            return Err(bad(format!(
                "{}: {} paragraphs, but shard {k}/{n} recorded {count} (incomplete shard?)",
                path.display(),
                records.len() - before
            )));
        }
    }
    records.sort_by_key(|r| r.position);
    let complete = records.len() == first.paragraphs_in_range
        && records.iter().enumerate().all(|(i, r)| r.position == i);
    if !complete {
        return Err(bad(format!(
            "the shards hold {} paragraphs, the run has {}: shards overlap or are incomplete",
            records.len(),
            first.paragraphs_in_range
        )));
    }
    let paragraphs: Vec<&Paragraph> = records.iter().map(|r| &r.paragraph).collect();
    let classified: Vec<(FrameScores, LabelSet, Citations)> = records
        .iter()
        .map(|r| {
            let labels = LabelSet::from_names(&r.labels).map_err(bad)?;
            Ok((r.scores, labels, r.citations.clone()))
        })
        .collect::<Result<_, CommandError>>()?;
    let mut record = first;
    record.embedding_cache = crate::cache::CacheStats::default();
    for (_, r, _) in shards.values() {
        let c = &mut record.embedding_cache;
        c.requested += r.embedding_cache.requested;
        c.distinct += r.embedding_cache.distinct;
        c.hits += r.embedding_cache.hits;
        c.embedded += r.embedding_cache.embedded;
    }
    timings.insert("read_shards_s", started.elapsed().as_secs_f64());
    let bootstrap = record.parameters["bootstrap"].as_u64().unwrap_or(1000) as usize;
    let seed = record.parameters["seed"].as_u64().unwrap_or(20161220);
    finish(
        &args.out,
        settings,
        &paragraphs,
        &classified,
        &record,
        None,
        bootstrap,
        seed,
        timings,
        started,
    )
}

/// The files an analysis writes into its directory (see [`write_outputs`] and
/// [`finish_kind`]).
const ANALYSIS_FILES: [&str; 8] = [
    "paragraphs.jsonl",
    "paragraphs.csv",
    "shares.csv",
    "trends.csv",
    "citations.csv",
    "report.md",
    "report.html",
    "manifest.json",
];

/// Remove the analysis files an earlier run left in `out` and in its per-kind directories,
/// so that a reused `--out` holds this run's results only.
///
/// Without this, a run of resolutions alone into the directory of an earlier run of
/// resolutions and speeches wrote `out/shares.csv` beside the earlier `out/resolution/` and
/// `out/speech/`, and a reader could open the stale one; the reverse left a stale
/// `out/report.html` at the top. Only the names frameshift writes are removed (nothing else a
/// user keeps there), and a per-kind directory only when that leaves it empty. Called after
/// the paragraphs are classified, so a run killed while embedding leaves the earlier
/// results intact.
fn clear_previous_outputs(out: &Path) -> Result<usize, CommandError> {
    let mut removed = 0;
    let kinds = [
        DocKind::Resolution,
        DocKind::MeetingRecord,
        DocKind::Speech,
        DocKind::Other,
    ];
    let dirs = std::iter::once(out.to_path_buf()).chain(kinds.map(|k| out.join(k.as_str())));
    for dir in dirs {
        for name in ANALYSIS_FILES {
            let path = dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CommandError::io(path.display(), e)),
            }
        }
        if dir != out {
            // Fails (and is meant to) when the directory is absent or holds other files.
            let _ = std::fs::remove_dir(&dir);
        }
    }
    Ok(removed)
}

/// aggregate -> report: everything after classification, shared by a single run and a
/// merge of shards, so both write the same files.
///
/// One analysis per kind of document: resolutions, speeches and meeting records are
/// different genres, and speeches outnumber resolution paragraphs about three to one where
/// both exist, so one pooled series would move with which corpora are present rather than
/// with framing. Inputs of one kind are analysed into `out` itself; inputs of several kinds
/// into `out/<kind>/` each (`resolution`, `speech`, ...), every one a complete analysis.
#[allow(clippy::too_many_arguments)]
fn finish(
    out: &Path,
    settings: &Settings,
    paragraphs: &[&Paragraph],
    classified: &[(FrameScores, LabelSet, Citations)],
    record: &RunRecord,
    adjusted: Option<AdjustRates>,
    bootstrap: usize,
    seed: u64,
    timings: BTreeMap<&str, f64>,
    started: Instant,
) -> Result<ExitCode, CommandError> {
    let removed = clear_previous_outputs(out)?;
    if removed > 0 && settings.chatty() {
        eprintln!(
            "removed {removed} files of an earlier analysis in {}",
            out.display()
        );
    }
    let mut by_kind: BTreeMap<DocKind, Vec<usize>> = BTreeMap::new();
    for (i, p) in paragraphs.iter().enumerate() {
        by_kind.entry(p.doc_kind).or_default().push(i);
    }
    let split = by_kind.len() > 1;
    let mut outside = Vec::new();
    if !split {
        // One kind (or none): the paragraphs as given, into `out` itself.
        let kind = by_kind.keys().next().copied();
        outside.extend(finish_kind(
            out,
            kind,
            paragraphs,
            classified,
            record,
            adjusted.as_ref(),
            bootstrap,
            seed,
            timings,
            started,
        )?);
    } else {
        for (kind, rows) in &by_kind {
            let ps: Vec<&Paragraph> = rows.iter().map(|&i| paragraphs[i]).collect();
            let cs: Vec<(FrameScores, LabelSet, Citations)> =
                rows.iter().map(|&i| classified[i].clone()).collect();
            outside.extend(finish_kind(
                &out.join(kind.as_str()),
                Some(*kind),
                &ps,
                &cs,
                record,
                adjusted.as_ref(),
                bootstrap,
                seed,
                timings.clone(),
                started,
            )?);
        }
    }
    if settings.chatty() {
        for sentence in &outside {
            eprintln!("note: {sentence}");
        }
    }
    for f in &record.failures {
        eprintln!("failed: {f}");
    }
    if settings.chatty() {
        eprintln!(
            "analysed {} paragraphs in {:.1}s (embedding cache hit rate {:.0}%) -> {}{}",
            paragraphs.len(),
            started.elapsed().as_secs_f64(),
            100.0 * record.embedding_cache.hit_rate(),
            out.display(),
            if split {
                format!(
                    " (one analysis per kind of document: {})",
                    by_kind
                        .keys()
                        .map(|k| format!("{}/", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        );
    }
    Ok(if record.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// First and last year of each kind of document in the annotations the classifier was
/// trained on (`{"resolution": [1990, 2015], ...}`), read from `datasets/annotations`, or
/// from it together with `datasets/pending` (the data of the head
/// `weights/heads/mpnet-1946.json`), whichever has the hash the classifier records; else
/// `null`, since the annotations here say nothing about the years of a classifier trained
/// on others.
fn training_years(settings: &Settings, annotations_sha256: &str) -> serde_json::Value {
    training_years_in(&settings.datasets_dir(), annotations_sha256)
}

/// [`training_years`] with the annotations under `datasets`.
fn training_years_in(datasets: &std::path::Path, annotations_sha256: &str) -> serde_json::Value {
    let candidates = [
        vec![datasets.join("annotations")],
        vec![datasets.join("annotations"), datasets.join("pending")],
    ];
    let set = candidates.iter().find_map(|dirs| {
        crate::dataset::read_annotation_dirs(dirs)
            .ok()
            .filter(|set| set.sha256 == annotations_sha256)
    });
    match set {
        Some(set) => crate::dataset::years_by_kind(&set)
            .into_iter()
            .map(|(kind, years)| (kind.as_str().to_string(), json!([years.0, years.1])))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => serde_json::Value::Null,
    }
}

/// The paragraphs of `kind` outside the years its training data covers (see
/// [`training_years`]), as the reports say it.
fn outside_training(
    record: &RunRecord,
    kind: Option<DocKind>,
    paragraphs: &[&Paragraph],
) -> Option<crate::report::OutsideTraining> {
    let kind = kind?;
    let years = &record.parameters["training_years"][kind.as_str()];
    let trained = (years[0].as_i64()? as i32, years[1].as_i64()? as i32);
    let documents = match kind {
        DocKind::Resolution => "resolutions",
        DocKind::Speech => "speeches",
        DocKind::MeetingRecord => "meeting records",
        DocKind::Other => "texts",
    };
    crate::report::OutsideTraining::of(documents, trained, paragraphs.iter().filter_map(|p| p.year))
}

/// What the report calls the documents of one kind (`None`: a run with no paragraphs).
fn kind_title(kind: Option<DocKind>) -> &'static str {
    match kind {
        Some(DocKind::Resolution) => "Security Council resolutions",
        Some(DocKind::MeetingRecord) => "Security Council meeting records",
        Some(DocKind::Speech) => "General Assembly speeches",
        Some(DocKind::Other) => "texts",
        None => "Security Council texts",
    }
}

/// [`finish`] for the paragraphs of one kind of document, into `out`. Gives the reports'
/// sentence on paragraphs outside the classifier's training years, if any, for stderr.
#[allow(clippy::too_many_arguments)]
fn finish_kind(
    out: &Path,
    kind: Option<DocKind>,
    paragraphs: &[&Paragraph],
    classified: &[(FrameScores, LabelSet, Citations)],
    record: &RunRecord,
    adjusted: Option<&AdjustRates>,
    bootstrap: usize,
    seed: u64,
    mut timings: BTreeMap<&str, f64>,
    started: Instant,
) -> Result<Option<String>, CommandError> {
    // aggregate
    let t = Instant::now();
    let observations: Vec<Observation> = paragraphs
        .iter()
        .zip(classified)
        .map(|(p, (s, l, _))| Observation {
            doc: p.doc.clone(),
            year: p.year.expect("filtered to paragraphs with a year"),
            agendas: p.agendas.clone(),
            scores: *s,
            labels: *l,
        })
        .collect();
    let opts = AggregateOptions { bootstrap, seed };
    let shares = aggregate::shares(&observations, &opts);
    let mut agendas: Vec<String> = vec!["all".into()];
    let mut tags: Vec<String> = observations
        .iter()
        .flat_map(|o| o.agendas.iter().cloned())
        .collect();
    tags.sort();
    tags.dedup();
    agendas.extend(tags);
    let trend_measures = [
        "human_rights",
        "security",
        "crime",
        "gender",
        "hr_given_security",
        "dilution_index",
    ];
    let trends: Vec<_> = agendas
        .iter()
        .flat_map(|a| trend_measures.iter().map(move |m| (a.clone(), *m)))
        .filter_map(|(a, m)| aggregate::trend(&observations, &a, m, &opts))
        .collect();
    // Years of too few documents to stand for the Council's year are left out of the
    // change-point series (and named in the report).
    let (change_points, thin_years) = aggregate::change_points(&shares);
    let mut citations: BTreeMap<i32, BTreeMap<String, usize>> = BTreeMap::new();
    for (p, (_, _, c)) in paragraphs.iter().zip(classified) {
        let year = p.year.unwrap_or_default();
        for label in c.labels() {
            *citations.entry(year).or_default().entry(label).or_default() += 1;
        }
        if c.wps {
            *citations
                .entry(year)
                .or_default()
                .entry("wps_resolution".into())
                .or_default() += 1;
        }
    }
    let mut per_doc: BTreeMap<&str, (i32, usize, usize)> = BTreeMap::new();
    for o in &observations {
        let e = per_doc.entry(o.doc.as_str()).or_insert((o.year, 0, 0));
        e.1 += 1;
        if o.labels.contains(Frame::HumanRights) {
            e.2 += 1;
        }
    }
    let documents_hr: Vec<(String, i32, usize, f64)> = per_doc
        .iter()
        .map(|(d, (y, n, h))| (d.to_string(), *y, *n, *h as f64 / *n as f64))
        .collect();
    let gold_rates = adjusted.map(|a| a.for_kind(kind));
    let adjusted = match &gold_rates {
        Some(rates) => apply_rates(rates, &shares),
        None => Vec::new(),
    };
    timings.insert("aggregate_s", t.elapsed().as_secs_f64());

    // report + outputs
    let t = Instant::now();
    let summary = AnalysisSummary {
        title: format!("frameshift: framing of {} over time", kind_title(kind)),
        model: record.model["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        // Shards merged keep their runs' setting (merge refuses a mix).
        citation_rules: record.parameters["citation_rules"]
            .as_bool()
            .unwrap_or(false),
        paragraphs: paragraphs.len(),
        documents: per_doc.len(),
        shares,
        trends,
        change_points,
        change_point_skipped_years: thin_years,
        citations,
        documents_hr,
        adjusted,
        adjusted_rates: gold_rates.clone().unwrap_or_default(),
        outside_training: outside_training(record, kind, paragraphs),
    };
    write_outputs(out, paragraphs, classified, &summary)?;
    timings.insert("report_s", t.elapsed().as_secs_f64());
    timings.insert("total_s", started.elapsed().as_secs_f64());

    // manifest
    let label_counts: BTreeMap<&str, usize> = Frame::ALL
        .iter()
        .map(|f| {
            (
                f.name(),
                classified.iter().filter(|c| c.1.contains(*f)).count(),
            )
        })
        .collect();
    let manifest = json!({
        "frameshift_version": env!("CARGO_PKG_VERSION"),
        "command": std::env::args().collect::<Vec<_>>(),
        "model": record.model,
        "head": record.head,
        "parameters": record.parameters,
        "document_kind": kind.map(DocKind::as_str),
        // What the corrected shares rest on (`--gold`): per frame, the rates and the gold
        // items they were measured on.
        "gold_error_rates": gold_rates,
        "counts": {
            "documents_read": record.documents_read,
            "documents_analysed": per_doc.len(),
            "paragraphs_segmented": record.paragraphs_segmented,
            "paragraphs_analysed": paragraphs.len(),
            "paragraphs_without_year": record.paragraphs_without_year,
            "failed_inputs": record.failures.len(),
            "warnings": record.warnings,
            "labels": label_counts,
        },
        "embedding_cache": record.embedding_cache,
        "embedding_cache_hit_rate": record.embedding_cache.hit_rate(),
        "timings": timings,
        "failures": record.failures,
        "inputs": record.inputs,
        // The same as the reports' sentence: the paragraphs outside the training years.
        "outside_training_years": summary.outside_training,
    });
    super::write_json(&out.join("manifest.json"), &manifest)?;
    Ok(summary.outside_training.map(|o| o.sentence()))
}

fn write_outputs(
    out: &Path,
    paragraphs: &[&Paragraph],
    classified: &[(FrameScores, LabelSet, Citations)],
    summary: &AnalysisSummary,
) -> Result<(), CommandError> {
    let rows: Vec<ParagraphOut> = paragraphs
        .iter()
        .zip(classified)
        .map(|(p, (s, l, c))| ParagraphOut {
            doc: &p.doc,
            id: &p.id,
            kind: kind_name(p),
            number: p.number,
            letter: p.letter.as_deref(),
            year: p.year,
            agendas: &p.agendas,
            security: s.get(Frame::Security),
            crime: s.get(Frame::Crime),
            human_rights: s.get(Frame::HumanRights),
            gender: s.get(Frame::Gender),
            labels: l.names(),
            citations: c.labels(),
            text: &p.text,
        })
        .collect();
    write_atomically(&out.join("paragraphs.jsonl"), |w| {
        for r in &rows {
            serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
            std::io::Write::write_all(w, b"\n")?;
        }
        Ok(())
    })?;
    write_atomically(&out.join("paragraphs.csv"), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record([
            "doc",
            "id",
            "kind",
            "number",
            "letter",
            "year",
            "agendas",
            "p_security",
            "p_crime",
            "p_human_rights",
            "p_gender",
            "labels",
            "citations",
        ])
        .map_err(std::io::Error::other)?;
        for r in &rows {
            csv.write_record([
                r.doc.to_string(),
                r.id.to_string(),
                r.kind.clone(),
                r.number.map_or(String::new(), |n| n.to_string()),
                r.letter.unwrap_or("").to_string(),
                r.year.map_or(String::new(), |y| y.to_string()),
                r.agendas.join(";"),
                format!("{:.4}", r.security),
                format!("{:.4}", r.crime),
                format!("{:.4}", r.human_rights),
                format!("{:.4}", r.gender),
                r.labels.join(";"),
                r.citations.join(";"),
            ])
            .map_err(std::io::Error::other)?;
        }
        csv.flush()
    })?;
    write_atomically(&out.join("shares.csv"), |w| {
        write_shares(w, &summary.shares)
    })?;
    write_atomically(&out.join("trends.csv"), |w| {
        let mut csv = csv::Writer::from_writer(w);
        for t in &summary.trends {
            csv.serialize(t).map_err(std::io::Error::other)?;
        }
        csv.flush()
    })?;
    write_atomically(&out.join("citations.csv"), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["year", "citation", "paragraphs"])
            .map_err(std::io::Error::other)?;
        for (year, per) in &summary.citations {
            for (c, n) in per {
                csv.write_record([year.to_string(), c.clone(), n.to_string()])
                    .map_err(std::io::Error::other)?;
            }
        }
        csv.flush()
    })?;
    let md = summary.to_markdown();
    write_atomically(&out.join("report.md"), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    let html = summary.to_html();
    write_atomically(&out.join("report.html"), |w| {
        std::io::Write::write_all(w, html.as_bytes())
    })?;
    Ok(())
}

fn write_shares<W: std::io::Write>(w: W, shares: &[ShareRow]) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record([
        "year",
        "agenda",
        "frame",
        "share",
        "ci_low",
        "ci_high",
        "mean_prob",
        "n_paragraphs",
        "n_documents",
    ])?;
    let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
    for r in shares {
        csv.write_record([
            r.year.to_string(),
            r.agenda.clone(),
            r.frame.clone(),
            f(r.share),
            f(r.ci_low),
            f(r.ci_high),
            f(r.mean_prob),
            r.n_paragraphs.to_string(),
            r.n_documents.to_string(),
        ])?;
    }
    csv.flush()
}

/// Error rates from the gold set: over all its items, and per kind of document for the
/// items whose `kind` names one. Resolutions and speeches are different genres and the
/// classifier errs differently on them (cross-validated macro-F1 about 0.87 against 0.80),
/// so one pooled rate would over- or under-correct each kind's series.
#[derive(Debug, Clone)]
struct AdjustRates {
    pooled: BTreeMap<&'static str, ErrorRate>,
    by_kind: BTreeMap<DocKind, BTreeMap<&'static str, ErrorRate>>,
}

impl AdjustRates {
    /// The rates to correct one kind's series with, per frame: the kind's own where its gold
    /// items hold both positives and negatives of the frame (otherwise its rates are not
    /// estimable), else the pooled ones.
    fn for_kind(&self, kind: Option<DocKind>) -> BTreeMap<&'static str, ErrorRate> {
        let own = kind.and_then(|k| self.by_kind.get(&k));
        self.pooled
            .iter()
            .map(|(f, pooled)| {
                let rate = own
                    .and_then(|o| o.get(f))
                    .filter(|r| r.positives > 0 && r.negatives > 0)
                    .unwrap_or(pooled);
                (*f, rate.clone())
            })
            .collect()
    }
}

/// True- and false-positive rates per frame over the gold items `rows` (indices into
/// `gold` and `predicted`).
fn rates_over(
    gold: &[crate::dataset::GoldItem],
    predicted: &[LabelSet],
    rows: &[usize],
    from: &str,
) -> BTreeMap<&'static str, ErrorRate> {
    Frame::ALL
        .iter()
        .map(|&f| {
            let (mut tp, mut pos, mut fp, mut neg) = (0usize, 0usize, 0usize, 0usize);
            for &i in rows {
                let hit = predicted[i].contains(f);
                if gold[i].labels.contains(f) {
                    pos += 1;
                    tp += usize::from(hit);
                } else {
                    neg += 1;
                    fp += usize::from(hit);
                }
            }
            let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
            let rate = ErrorRate {
                tpr: ratio(tp, pos),
                fpr: ratio(fp, neg),
                positives: pos,
                negatives: neg,
                from: from.to_string(),
            };
            (f.name(), rate)
        })
        .collect()
}

/// Adjusted classify-and-count, step 1: the classifier's rates on the gold set.
fn adjusted_shares_for(
    gold: &Path,
    scorer: &super::scorer::Scorer,
    enc: &crate::cli::EncoderArgs,
    settings: &Settings,
) -> Result<Option<AdjustRates>, CommandError> {
    let path = gold;
    // As `eval --gold` does: lines that are not gold items are named, not silently dropped.
    let gold = super::read_gold(path, &settings.corpus_dir(), settings)?;
    let texts: Vec<&str> = gold.items.iter().map(|g| g.text.as_str()).collect();
    let (predictions, _) = scorer.predict(enc, &texts, settings)?;
    let predicted: Vec<LabelSet> = predictions.into_iter().map(|(_, l)| l).collect();
    let all: Vec<usize> = (0..gold.items.len()).collect();
    let pooled = rates_over(&gold.items, &predicted, &all, "all gold items");
    let mut rows_by_kind: BTreeMap<DocKind, Vec<usize>> = BTreeMap::new();
    for (i, g) in gold.items.iter().enumerate() {
        let Some(written) = &g.kind else { continue };
        match DocKind::parse(written) {
            Some(kind) => rows_by_kind.entry(kind).or_default().push(i),
            // Counted in the pooled rates only; said, since the user meant something by it.
            None => eprintln!(
                "{}:{}: kind {written:?} is not resolution, speech, meeting_record or other; \
                 the line counts in the pooled error rates only",
                path.display(),
                g.line
            ),
        }
    }
    let by_kind = rows_by_kind
        .iter()
        .map(|(kind, rows)| {
            let from = format!("{} gold items", kind.as_str());
            (*kind, rates_over(&gold.items, &predicted, rows, &from))
        })
        .collect();
    Ok(Some(AdjustRates { pooled, by_kind }))
}

/// Adjusted classify-and-count, step 2: the rates applied to every yearly label share
/// (agenda `all`).
fn apply_rates(
    rates: &BTreeMap<&'static str, ErrorRate>,
    shares: &[ShareRow],
) -> Vec<(i32, String, Option<f64>)> {
    shares
        .iter()
        .filter(|r| r.agenda == "all")
        .filter_map(|r| {
            let rate = rates.get(r.frame.as_str())?;
            Some((
                r.year,
                r.frame.clone(),
                r.share
                    .and_then(|s| aggregate::adjusted_share(s, rate.tpr, rate.fpr)),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold_item(labels: &[&str], kind: Option<&str>) -> crate::dataset::GoldItem {
        crate::dataset::GoldItem {
            reference: None,
            text: String::new(),
            labels: LabelSet::from_names(labels).unwrap(),
            line: 0,
            kind: kind.map(str::to_string),
        }
    }

    #[test]
    fn training_years_are_those_of_the_annotation_set_the_classifier_names() {
        let datasets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
        let read = |dirs: &[&str]| {
            let dirs: Vec<_> = dirs.iter().map(|d| datasets.join(d)).collect();
            crate::dataset::read_annotation_dirs(&dirs).unwrap().sha256
        };
        let annotations = training_years_in(&datasets, &read(&["annotations"]));
        assert_eq!(annotations["resolution"], json!([1990, 2015]));
        assert_eq!(annotations["speech"], json!([2000, 2024]));
        // With the pre-1990 batch (the mpnet-1946 head's data) the resolutions reach back.
        let with_batch = training_years_in(&datasets, &read(&["annotations", "pending"]));
        let first = with_batch["resolution"][0].as_i64().unwrap();
        assert!((1946..1990).contains(&first), "{with_batch}");
        assert_eq!(with_batch["resolution"][1], 2015);
        assert_eq!(with_batch["speech"], annotations["speech"]);
        // Data that is not here says nothing about the years.
        assert!(training_years_in(&datasets, &"0".repeat(64)).is_null());
    }

    /// Regression: `--gold` corrected every kind's series with one error rate pooled over the
    /// whole gold set, though the classifier errs differently on speeches and resolutions.
    #[test]
    fn gold_error_rates_are_per_kind_where_the_kind_can_estimate_them() {
        // Four speech items (two security, two not) and four resolution items (all security).
        let gold = vec![
            gold_item(&["security"], Some("speech")),
            gold_item(&["security"], Some("speech")),
            gold_item(&[], Some("speech")),
            gold_item(&[], Some("speech")),
            gold_item(&["security"], Some("resolution")),
            gold_item(&["security"], Some("resolution")),
            gold_item(&["security"], Some("resolution")),
            gold_item(&["security"], Some("resolution")),
        ];
        let sec = LabelSet::from_names(&["security"]).unwrap();
        let none = LabelSet::default();
        // Speeches: one of two positives found, one of two negatives flagged.
        // Resolutions: all four found.
        let predicted = vec![sec, none, sec, none, sec, sec, sec, sec];
        let pooled = rates_over(
            &gold,
            &predicted,
            &(0..8).collect::<Vec<_>>(),
            "all gold items",
        );
        let by_kind = [
            (
                DocKind::Speech,
                rates_over(&gold, &predicted, &[0, 1, 2, 3], "speech gold items"),
            ),
            (
                DocKind::Resolution,
                rates_over(&gold, &predicted, &[4, 5, 6, 7], "resolution gold items"),
            ),
        ]
        .into_iter()
        .collect();
        let rates = AdjustRates { pooled, by_kind };

        let speech = rates.for_kind(Some(DocKind::Speech));
        let r = &speech["security"];
        assert_eq!((r.tpr, r.fpr, r.positives, r.negatives), (0.5, 0.5, 2, 2));
        assert_eq!(r.from, "speech gold items");

        // Resolutions hold no security negative: their false-positive rate cannot be
        // estimated, so the pooled rates (5 of 6 found, 1 of 2 flagged) are used and named.
        let resolution = rates.for_kind(Some(DocKind::Resolution));
        let r = &resolution["security"];
        assert_eq!((r.positives, r.negatives), (6, 2));
        assert!((r.tpr - 5.0 / 6.0).abs() < 1e-12 && r.fpr == 0.5);
        assert_eq!(r.from, "all gold items");

        // A kind without gold items of its own, and a run of no kind, get the pooled rates.
        for kind in [Some(DocKind::MeetingRecord), None] {
            assert_eq!(rates.for_kind(kind)["security"].from, "all gold items");
        }
        // Every frame is there, whatever the gold carries.
        assert_eq!(speech.len(), Frame::ALL.len());
    }

    /// Regression: a reused `--out` kept the files of an earlier analysis (a stale
    /// `out/resolution/` beside a new top-level analysis, or the reverse).
    #[test]
    fn stale_outputs_of_an_earlier_run_in_a_reused_out_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        for f in ["shares.csv", "report.html", "manifest.json"] {
            std::fs::write(out.join(f), "old").unwrap();
        }
        std::fs::create_dir(out.join("resolution")).unwrap();
        std::fs::write(out.join("resolution/shares.csv"), "old").unwrap();
        std::fs::create_dir(out.join("speech")).unwrap();
        std::fs::write(out.join("speech/trends.csv"), "old").unwrap();
        std::fs::write(out.join("speech/notes.txt"), "mine").unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        assert_eq!(clear_previous_outputs(out).unwrap(), 5);
        let mut left: Vec<String> = walk(out);
        left.sort();
        assert_eq!(left, ["notes.txt", "speech", "speech/notes.txt"]);
        assert_eq!(clear_previous_outputs(out).unwrap(), 0);
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                names.extend(walk(&p).into_iter().map(|n| format!("{name}/{n}")));
            }
            names.push(name);
        }
        names
    }

    #[test]
    fn shards_partition_documents_by_a_stable_hash() {
        // Computed independently (Python: int.from_bytes(sha256(doc)[:8], "little") % 3 + 1).
        assert_eq!(shard_of("S/RES/1325 (2000)", 3), 1);
        assert_eq!(shard_of("S/RES/1820 (2008)", 3), 2);
        assert_eq!(shard_of("S/RES/2242 (2015)", 3), 3);
        for n in 1..6 {
            for d in ["a", "S/RES/2331 (2016)", "UNGD/72/USA"] {
                let k = shard_of(d, n);
                assert!((1..=n).contains(&k));
            }
        }
    }
}
