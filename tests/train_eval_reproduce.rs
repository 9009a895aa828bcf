//! `frameshift train` reproduces the committed head byte for byte, and `frameshift eval`
//! (cross-validation) reproduces the committed results, from the committed annotations,
//! the real weights and ../shared/corpus. Needs all three (fails saying how to get them).
//! The tests use their own embedding cache, filled by whichever test ran first: vectors do
//! not depend on how they were batched, so neither do the head and the results.

mod common;

use assert_cmd::Command;

/// The committed head and results were computed with the default backend on a CPU (the
/// fast path); the cache is namespaced by backend, so vectors of other backends that other
/// tests put in the shared test cache are never mixed in.
fn frameshift() -> Command {
    let model = common::minilm();
    let mut cmd = Command::cargo_bin("frameshift").unwrap();
    cmd.env("FRAMESHIFT_WEIGHTS", &model.dir)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", common::test_cache_dir())
        .env("FRAMESHIFT_HOME", common::repo_root())
        .arg("-q");
    cmd
}

/// The newest committed `eval/results/<date>-minilm.json`.
fn latest_results() -> std::path::PathBuf {
    let results = common::repo_root().join("eval/results");
    let mut committed: Vec<_> = std::fs::read_dir(&results)
        .unwrap_or_else(|e| panic!("{}: {e}", results.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-minilm.json"))
        .collect();
    committed.sort();
    committed
        .pop()
        .expect("a committed eval/results/<date>-minilm.json")
}

#[test]
fn train_reproduces_committed_head_byte_for_byte() {
    let committed = common::repo_root().join("weights/heads/minilm.json");
    assert!(
        committed.is_file(),
        "no committed head at {}",
        committed.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("minilm.json");
    frameshift()
        .args(["train", "--out"])
        .arg(&out)
        .assert()
        .success();
    let a = std::fs::read_to_string(&committed).unwrap();
    let b = std::fs::read_to_string(&out).unwrap();
    assert!(
        a == b,
        "retrained head differs from {}",
        committed.display()
    );
}

#[test]
fn eval_cross_validation_reproduces_committed_results() {
    let latest = latest_results();
    let dir = tempfile::tempdir().unwrap();
    let out = frameshift()
        .args(["eval", "--results"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut fresh: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    // The date stamps when it ran; every number must be identical.
    fresh["date"] = serde_json::Value::Null;
    old["date"] = serde_json::Value::Null;
    assert_eq!(
        fresh,
        old,
        "cross-validation differs from {}",
        latest.display()
    );
}

/// Issue 4 asks the head to beat both baselines on every frame and on macro-F1. Checked on
/// the committed cross-validation results (which the test above shows are reproducible).
/// The gender margin over the lexicon is small (0.948 vs 0.938 at the committed seed; 0.934
/// to 0.952 over six other fold seeds, see README), so a retrain that loses it fails here.
#[test]
fn head_beats_both_baselines_per_frame_and_macro() {
    let latest = latest_results();
    let fresh: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    let mut failures = Vec::new();
    let macro_f1 = |m: &str| fresh["methods"][m]["macro_f1"].as_f64().unwrap();
    for baseline in ["lexicon", "zeroshot"] {
        if macro_f1("head") <= macro_f1(baseline) {
            failures.push(format!(
                "macro: head {} <= {baseline} {}",
                macro_f1("head"),
                macro_f1(baseline)
            ));
        }
        for frame in ["security", "crime", "human_rights", "gender"] {
            let f1 = |m: &str| {
                fresh["methods"][m]["per_frame"][frame]["f1"]
                    .as_f64()
                    .unwrap()
            };
            if f1("head") <= f1(baseline) {
                failures.push(format!(
                    "{frame}: head {} <= {baseline} {}",
                    f1("head"),
                    f1(baseline)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "head does not beat the baselines: {failures:#?}"
    );
}
