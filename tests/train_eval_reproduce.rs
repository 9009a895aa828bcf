//! `frameshift train` reproduces the committed head, and `frameshift eval`
//! (cross-validation) reproduces the committed results, from the committed annotations,
//! the real weights and ../shared/corpus. Needs all three (fails saying how to get them).
//! The tests use their own embedding cache, filled by whichever test ran first: vectors do
//! not depend on how they were batched, so neither do the head and the results. On a CPU
//! like the one that wrote them the files are identical byte for byte; on another
//! instruction set (AVX2 against AVX-512) their floats may differ in the last bits, and
//! then every count, label and hash must still be equal and every float within 1e-3
//! (`common::json_close`).

mod common;

use assert_cmd::Command;

/// The committed heads and results were computed with the default backend on a CPU (the
/// fast path, for MiniLM and MPNet alike); the cache is namespaced by backend, so vectors
/// of other backends that other tests put in the shared test cache are never mixed in.
fn frameshift(model: &str) -> Command {
    let resolved = match model {
        "minilm" => common::minilm(),
        "mpnet" => common::mpnet(),
        other => panic!("no test weights helper for {other}"),
    };
    common::frameshift_on_annotations(&resolved)
}

/// The newest committed `eval/results/<date>-<model>.json`.
fn latest_results(model: &str) -> std::path::PathBuf {
    let results = common::repo_root().join("eval/results");
    let suffix = format!("-{model}.json");
    let mut committed: Vec<_> = std::fs::read_dir(&results)
        .unwrap_or_else(|e| panic!("{}: {e}", results.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .collect();
    committed.sort();
    committed
        .pop()
        .unwrap_or_else(|| panic!("a committed eval/results/<date>{suffix}"))
}

fn check_train_reproduces_committed_head(model: &str) {
    check_train_writes_committed(frameshift(model), model, &["--model", model]);
}

/// How far a reproduced float may be from the committed one on another CPU (see
/// `common::json_close`). Measured on an AVX2-only CPU: embeddings within about 1e-8, the
/// heads fitted on them within 4e-5 (MPNet's gender bias, a frame whose optimum is flat),
/// out-of-fold probabilities within about 1e-5; so 1e-3 leaves a margin of 25 while a
/// head trained on other data, or a changed label, is far outside it.
const CROSS_CPU_TOLERANCE: f64 = 1e-3;

/// The bytes of a reproduction, or else (on another CPU) its JSON within the tolerance.
fn assert_reproduces(fresh: &str, committed: &str, what: &str) {
    if fresh == committed {
        return;
    }
    let parse = |t: &str| -> Vec<serde_json::Value> {
        serde_json::Deserializer::from_str(t)
            .into_iter()
            .map(|v| v.unwrap_or_else(|e| panic!("{what}: {e}")))
            .collect()
    };
    let (a, b) = (parse(fresh), parse(committed));
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: {} values, committed {}",
        a.len(),
        b.len()
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if let Err(e) = common::json_close(x, y, CROSS_CPU_TOLERANCE, &format!("[{i}]")) {
            panic!("{what} differs from the committed file: {e}");
        }
    }
}

/// `cmd train <args> --out <tmp>` writes `weights/heads/<name>.json` (byte for byte on the
/// committing CPU, within the tolerance on another).
fn check_train_writes_committed(mut cmd: Command, name: &str, args: &[&str]) {
    let committed = common::repo_root().join(format!("weights/heads/{name}.json"));
    assert!(
        committed.is_file(),
        "no committed head or ensemble record at {}",
        committed.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("{name}.json"));
    cmd.arg("train")
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let a = std::fs::read_to_string(&committed).unwrap();
    let b = std::fs::read_to_string(&out).unwrap();
    assert_reproduces(
        &b,
        &a,
        &format!(
            "`frameshift train {}` against {}",
            args.join(" "),
            committed.display()
        ),
    );
}

fn check_eval_reproduces_committed_results(model: &str) {
    check_eval_reproduces(model, model, &[]);
}

/// `eval --model <model> <extra>` reproduces the newest committed `<date>-<name>.json`, and
/// its scores file the committed one.
fn check_eval_reproduces(model: &str, name: &str, extra: &[std::ffi::OsString]) {
    let latest = latest_results(name);
    let dir = tempfile::tempdir().unwrap();
    let out = frameshift(model)
        .args(["eval", "--model", model])
        .args(extra)
        .arg("--results")
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut fresh: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    // The date stamps when it ran; every number must be identical (within the cross-CPU
    // tolerance for floats).
    fresh["date"] = serde_json::Value::Null;
    old["date"] = serde_json::Value::Null;
    if fresh != old {
        if let Err(e) = common::json_close(&fresh, &old, CROSS_CPU_TOLERANCE, "") {
            panic!("cross-validation differs from {}: {e}", latest.display());
        }
    }

    // The out-of-fold scores beside the results: identical to the committed file, one test
    // row per annotation, and their predicted labels give the reported per-frame F1.
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".scores.jsonl"))
        .collect();
    assert_eq!(written.len(), 1, "one scores file: {written:?}");
    let committed_scores = latest.with_extension("scores.jsonl");
    let fresh_scores = std::fs::read_to_string(&written[0]).unwrap();
    assert_reproduces(
        &fresh_scores,
        &std::fs::read_to_string(&committed_scores).unwrap_or_default(),
        &format!("out-of-fold scores against {}", committed_scores.display()),
    );
    let rows: Vec<serde_json::Value> = fresh_scores
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len() as u64, fresh["paragraphs"].as_u64().unwrap());
    for frame in ["security", "crime", "human_rights", "gender"] {
        let has = |r: &serde_json::Value, key: &str| {
            r[key]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str() == Some(frame))
        };
        let (mut tp, mut fp, mut fneg) = (0u32, 0u32, 0u32);
        for r in &rows {
            assert_eq!(r["split"], "test");
            match (has(r, "predicted"), has(r, "gold")) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fneg += 1,
                _ => {}
            }
        }
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + fneg) as f64;
        let reported = fresh["per_frame"][frame]["f1"].as_f64().unwrap();
        assert!(
            (f1 - reported).abs() < 1e-9,
            "{frame}: F1 {f1} from the scores file, {reported} reported"
        );
    }
}

#[test]
fn train_reproduces_committed_head() {
    check_train_reproduces_committed_head("minilm");
}

#[test]
fn eval_cross_validation_reproduces_committed_results() {
    check_eval_reproduces_committed_results("minilm");
}

/// MPNet's head and results, its two ensembles and its head trained with the pre-1990 batch
/// too, in one test so that its 2,037 paragraphs are embedded once (minutes on 2 cores) and
/// later steps read them from the test cache.
#[test]
fn mpnet_train_and_eval_reproduce_committed_head_and_results() {
    check_train_reproduces_committed_head("mpnet");
    check_eval_reproduces_committed_results("mpnet");
    // The ensemble of MPNet's head with the fine-tuned MiniLM, from the committed
    // fine-tuning cross-validation's scores file (fine-tuning again takes an hour).
    let tuned = latest_results("minilm-finetuned").with_extension("scores.jsonl");
    check_eval_reproduces(
        "mpnet",
        "mpnet+minilm-finetuned",
        &["--ensemble-with".into(), tuned.into()],
    );
    // The ensemble with the committed BitFit MiniLM needs no training run at all: its
    // cross-validation (from the committed BitFit scores file) and its runnable record
    // (built from weights/minilm-bitfit, rebuilt from the fetched MiniLM) both reproduce.
    let bitfit = latest_results("minilm-bitfit").with_extension("scores.jsonl");
    check_eval_reproduces(
        "mpnet",
        "mpnet+minilm-bitfit",
        &["--ensemble-with".into(), bitfit.into()],
    );
    check_ensemble_record_reproduces("mpnet", "minilm-bitfit");
    // The head trained on the annotations and the pre-1990 batch still in datasets/pending
    // (README "How does it do before 1990?"), the two directories read as one set.
    let datasets = common::repo_root().join("datasets");
    let (annotations, pending) = (datasets.join("annotations"), datasets.join("pending"));
    check_train_writes_committed(
        frameshift("mpnet"),
        "mpnet-1946",
        &[
            "--model",
            "mpnet",
            "--annotations",
            annotations.to_str().unwrap(),
            "--annotations",
            pending.to_str().unwrap(),
        ],
    );
}

/// `train --model <model> --ensemble-with <other>` writes the committed
/// `weights/heads/<model>+<other>.json` byte for byte. Both members are found by name under
/// the weights root (FRAMESHIFT_WEIGHTS would stand for one model's files, not two).
fn check_ensemble_record_reproduces(model: &str, other: &str) {
    // Fails saying how to fetch them when the base weights are missing.
    common::minilm();
    let mut cmd = frameshift(model);
    cmd.env_remove("FRAMESHIFT_WEIGHTS");
    check_train_writes_committed(
        cmd,
        &format!("{model}+{other}"),
        &["--model", model, "--ensemble-with", other],
    );
}

/// Issue 4 asks the head to beat both baselines on every frame and on macro-F1. Checked on
/// the committed cross-validation results (which the test above shows are reproducible).
/// The gender margin over the lexicon is small (0.948 vs 0.938 at the committed seed; 0.934
/// to 0.952 over six other fold seeds, see README), so a retrain that loses it fails here.
#[test]
fn head_beats_both_baselines_per_frame_and_macro() {
    for model in ["minilm", "mpnet"] {
        eprintln!("{model}");
        check_head_beats_baselines(model);
    }
}

fn check_head_beats_baselines(model: &str) {
    let latest = latest_results(model);
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
        "{model}: head does not beat the baselines: {failures:#?}"
    );
}

/// Regression (2026-12-06): on an AMD EPYC with AVX2 only, the reproduction tests failed
/// because the ECE, the out-of-fold probabilities and the head weights differed from the
/// committed ones in the last digits (up to 4e-5), every count, F1 and label being equal.
/// The comparison accepts that drift and nothing more: a changed count, F1, label, key or
/// a probability moved by more than 1e-3 still fails.
#[test]
fn reproduction_on_an_avx2_cpu_accepts_last_bit_float_drift_and_nothing_else() {
    use serde_json::json;
    let committed = json!({"per_frame": {"crime": {"ece": 0.013811133166573196,
        "f1": 0.7659574468085107, "false_negatives": 51}}, "predicted": ["crime"]});
    let avx2 = json!({"per_frame": {"crime": {"ece": 0.013811132718751942,
        "f1": 0.7659574468085107, "false_negatives": 51}}, "predicted": ["crime"]});
    assert!(common::json_close(&avx2, &committed, CROSS_CPU_TOLERANCE, "").is_ok());
    for changed in [
        json!({"per_frame": {"crime": {"ece": 0.013811133166573196,
            "f1": 0.7659574468085107, "false_negatives": 52}}, "predicted": ["crime"]}),
        json!({"per_frame": {"crime": {"ece": 0.013811133166573196,
            "f1": 0.7627118644067796, "false_negatives": 51}}, "predicted": ["crime"]}),
        json!({"per_frame": {"crime": {"ece": 0.013811133166573196,
            "f1": 0.7659574468085107, "false_negatives": 51}}, "predicted": []}),
        json!({"per_frame": {"crime": {"ece": 0.013811133166573196,
            "f1": 0.7659574468085107}}, "predicted": ["crime"]}),
    ] {
        assert!(
            common::json_close(&changed, &committed, CROSS_CPU_TOLERANCE, "").is_err(),
            "accepted {changed}"
        );
    }
    // Scores files and heads go through the same check, one JSON value at a time.
    let line = |ece: f64| format!("{{\"ece\":{ece}}}\n{{\"n\":1}}\n");
    assert_reproduces(&line(0.0138111327), &line(0.0138111331), "two lines");
    let caught = std::panic::catch_unwind(|| {
        assert_reproduces(&line(0.0158), &line(0.0138111331), "two lines")
    });
    assert!(caught.is_err(), "a moved ECE passed");
}
