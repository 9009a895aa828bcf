//! `frameshift agreement` on the committed second reading and its adjudication
//! (datasets/agreement/): the committed figures in eval/agreement/ are what the readings and
//! the cross-validations' out-of-fold scores give, and a second reading that does not pair
//! with the annotations, or a classifier cross-validated on other annotations, is refused. Needs no weights and no corpus (the readings are tied by text hash).

mod common;

/// The cross-validations whose out-of-fold labels the committed agreement file compares
/// with the readings: BitFit MPNet (the default until 2026-12-07), the fully fine-tuned
/// MPNet (the default's recipe, uncompressed), and the frozen MiniLM head.
const CLASSIFIERS: [&str; 3] = [
    "eval/results/gpu-h200/2026-12-04-mpnet-bitfit.scores.jsonl",
    "eval/results/gpu-h100/2026-11-24-mpnet-finetuned.scores.jsonl",
    "eval/results/2026-11-24-minilm.scores.jsonl",
];

fn agreement(format: &str) -> assert_cmd::assert::Assert {
    let mut cmd = assert_cmd::Command::cargo_bin("frameshift").unwrap();
    cmd.current_dir(common::repo_root())
        .env("FRAMESHIFT_HOME", common::repo_root())
        .args(["-q", "agreement", "datasets/agreement/second-reading.jsonl"])
        .args(["--adjudicated", "datasets/agreement/adjudicated.jsonl"])
        .args(["--format", format]);
    for c in CLASSIFIERS {
        cmd.args(["--classifier", c]);
    }
    cmd.assert()
}

fn committed(name: &str) -> String {
    let path = common::repo_root().join("eval/agreement").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_agreement_is_what_the_two_readings_give() {
    let out = agreement("json").success().get_output().stdout.clone();
    let now: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let then: serde_json::Value = serde_json::from_str(&committed("second-reading.json")).unwrap();
    assert_eq!(
        now, then,
        "eval/agreement/second-reading.json is stale or edited"
    );
    // The sample the README describes: 300 paragraphs, every frame used by both readings.
    assert_eq!(now["readers"]["n"], 300);
    for frame in ["security", "crime", "human_rights", "gender"] {
        let a = &now["readers"]["per_frame"][frame];
        assert!(a["both"].as_u64().unwrap() > 0, "{frame}: {a}");
    }
    assert_eq!(
        now["classifiers"].as_array().unwrap().len(),
        CLASSIFIERS.len()
    );
    // Every disagreement is adjudicated, and only those (the command refuses otherwise).
    let agreed = (now["readers"]["exact_match"].as_f64().unwrap() * 300.0).round() as u64;
    assert_eq!(
        now["adjudicated"]["decided"].as_u64().unwrap(),
        300 - agreed
    );
    for row in now["classifiers"].as_array().unwrap() {
        assert!(row["vs_adjudicated"]["macro_f1"].is_number(), "{row}");
    }
    // By kind of document: resolution and speech paragraphs partition the sample, so each
    // frame's four counts add up to the pooled ones (205 resolution paragraphs and 95
    // speech paragraphs, as the sampling script drew them).
    let kinds = &now["by_kind"];
    assert_eq!(kinds["resolution"]["readers"]["n"], 205);
    assert_eq!(kinds["speech"]["readers"]["n"], 95);
    for frame in ["security", "crime", "human_rights", "gender"] {
        for count in ["both", "first_only", "second_only", "neither"] {
            let of = |v: &serde_json::Value| v["readers"]["per_frame"][frame][count].as_u64();
            assert_eq!(
                of(&kinds["resolution"]).unwrap() + of(&kinds["speech"]).unwrap(),
                of(&now).unwrap(),
                "{frame} {count}"
            );
        }
    }
    for kind in ["resolution", "speech"] {
        let rows = kinds[kind]["classifiers"].as_array().unwrap();
        assert_eq!(rows.len(), CLASSIFIERS.len(), "{kind}");
        assert!(kinds[kind]["first_vs_adjudicated"]["macro_f1"].is_number());
    }

    let md = agreement("markdown").success().get_output().stdout.clone();
    assert_eq!(
        String::from_utf8(md).unwrap(),
        committed("second-reading.md"),
        "eval/agreement/second-reading.md is stale or edited"
    );
}

/// Runs frameshift on the repository's data with `args`, which must fail; gives its stderr.
fn refused(args: &[&std::ffi::OsStr]) -> String {
    let out = assert_cmd::Command::cargo_bin("frameshift")
        .unwrap()
        .env("FRAMESHIFT_HOME", common::repo_root())
        .arg("-q")
        .args(args)
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn agreement_refuses_a_second_reading_that_does_not_pair_with_the_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::repo_root();
    let first =
        std::fs::read_to_string(root.join("datasets/agreement/second-reading.jsonl")).unwrap();
    let line = first.lines().next().unwrap();
    let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
    row["sha256"] = "0".repeat(64).into();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{row}\n")).unwrap();
    let err = refused(&["agreement".as_ref(), bad.as_os_str()]);
    assert!(err.contains("second reading of another text"), "{err}");

    // A classifier cross-validated on other annotations has no out-of-fold row for the
    // paragraph: refused, not scored as a miss.
    let scores = dir.path().join("other.scores.jsonl");
    std::fs::write(
        &scores,
        "{\"id\":\"elsewhere#p1\",\"fold\":0,\"split\":\"test\",\"gold\":[],\"predicted\":[]}\n",
    )
    .unwrap();
    let err = refused(&[
        "agreement".as_ref(),
        "--classifier".as_ref(),
        scores.as_os_str(),
    ]);
    assert!(err.contains("no out-of-fold prediction"), "{err}");
}
