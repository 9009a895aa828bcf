//! Every committed cross-validation result under `eval/results/` (GPU runs included, which CI
//! cannot rerun) agrees with its own out-of-fold scores: each annotated paragraph is a test
//! row exactly once, and the macro-F1 the JSON reports is the one its rows give. A result
//! file edited by hand, or written from an annotation set that is not committed (the
//! annotations, or the annotations with the pending batch), fails here. Needs no weights
//! and no corpus.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FRAMES: [&str; 4] = ["security", "crime", "human_rights", "gender"];

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Ids of every annotation of the committed annotation sets a result may be written from,
/// each with how often it occurs (once), by the set's hash: `datasets/annotations`, and it
/// together with the pending batch (`datasets/pending`, the data of
/// `weights/heads/mpnet-1946.json` and of `eval/results/with-batch-08/`).
fn annotation_sets() -> BTreeMap<String, BTreeMap<String, usize>> {
    let root = common::repo_root().join("datasets");
    [
        vec![root.join("annotations")],
        vec![root.join("annotations"), root.join("pending")],
    ]
    .iter()
    .map(|dirs| {
        let set = frameshift::dataset::read_annotation_dirs(dirs).unwrap();
        let mut ids = BTreeMap::new();
        for a in &set.items {
            *ids.entry(a.id.clone()).or_insert(0) += 1;
        }
        (set.sha256, ids)
    })
    .collect()
}

/// Macro-F1 over the four frames of (gold, predicted) label sets.
fn macro_f1(rows: &[(Vec<String>, Vec<String>)]) -> f64 {
    let mut sum = 0.0;
    for frame in FRAMES {
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for (gold, predicted) in rows {
            let (g, p) = (
                gold.iter().any(|l| l == frame),
                predicted.iter().any(|l| l == frame),
            );
            match (g, p) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => {}
            }
        }
        sum += 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64;
    }
    sum / FRAMES.len() as f64
}

fn labels(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_committed_result_matches_its_out_of_fold_scores() {
    let sets = annotation_sets();
    assert_eq!(sets.len(), 2, "two distinct annotation sets");
    assert!(
        sets.values().all(|ids| ids.len() >= 1500),
        "annotations not found"
    );
    let mut files = Vec::new();
    json_files(&common::repo_root().join("eval/results"), &mut files);
    files.sort();
    let mut checked = 0;
    for json in &files {
        let scores = json.with_extension("scores.jsonl");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        let Some(reported) = report["macro_f1"].as_f64() else {
            continue;
        };
        let hash = report["annotations_sha256"].as_str().unwrap_or_default();
        let annotations = sets.get(hash).unwrap_or_else(|| {
            panic!(
                "{}: written from annotations {hash}, not a committed set",
                json.display()
            )
        });
        let text = std::fs::read_to_string(&scores)
            .unwrap_or_else(|e| panic!("{}: {e} (every result has its scores)", scores.display()));
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut rows = Vec::new();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            // Fine-tuning runs also record each fold's validation rows; only test rows score.
            if row.get("split").is_some_and(|s| s != "test") {
                continue;
            }
            *seen
                .entry(row["id"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
            rows.push((labels(&row["gold"]), labels(&row["predicted"])));
        }
        assert_eq!(
            &seen,
            annotations,
            "{}: test rows are not the committed annotations, each once",
            scores.display()
        );
        let recomputed = macro_f1(&rows);
        assert!(
            (recomputed - reported).abs() < 1e-12,
            "{}: reports macro-F1 {reported}, its scores give {recomputed}",
            json.display()
        );
        checked += 1;
    }
    // The CPU results, three seeds, the GPU runs (gpu-h100, gpu-h200) and the frozen MPNet
    // head with the pending batch (with-batch-08, three seeds) at least.
    assert!(checked >= 27, "only {checked} results checked");
}

#[test]
fn macro_f1_by_hand() {
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    // security: tp 1, fp 1 -> 2/3; crime: fn 1 -> 0; human_rights: tp 1 -> 1; gender: tp 1 -> 1.
    let rows = vec![
        (
            s(&["security", "human_rights"]),
            s(&["security", "human_rights"]),
        ),
        (s(&["crime"]), s(&["security"])),
        (s(&["gender"]), s(&["gender"])),
    ];
    let want = (2.0 / 3.0 + 0.0 + 1.0 + 1.0) / 4.0;
    assert!((macro_f1(&rows) - want).abs() < 1e-15);
}
