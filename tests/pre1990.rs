//! The pre-1990 check set (datasets/pre1990/): 240 resolution paragraphs of 1946-1989, the
//! years the annotations never reached, read twice and blind, disagreements adjudicated. It
//! is drawn as documented (no held-out resolution, nothing already annotated, no corpus
//! text), its gold labels are exactly what the readings and the adjudication give, and the
//! committed figures in eval/pre1990/ are what `frameshift agreement` and `frameshift eval
//! --gold` give on it. The last test needs the shared corpus and the MPNet weights and fails
//! saying how to get them.

mod common;

use frameshift::dataset::{adjudicate, pair_readings, read_annotation_file, read_annotations};
use serde_json::Value;
use std::collections::BTreeSet;

const FIRST: &str = "datasets/pre1990/first-reading";
const SECOND: &str = "datasets/pre1990/second-reading.jsonl";
const ADJUDICATED: &str = "datasets/pre1990/adjudicated.jsonl";
const GOLD: &str = "datasets/pre1990/gold.jsonl";

fn lines(path: &str) -> Vec<Value> {
    let path = common::repo_root().join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn committed(name: &str) -> String {
    let path = common::repo_root().join("eval/pre1990").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pre1990_set_comes_from_years_the_annotations_never_reached_and_holds_no_text() {
    let gold = lines(GOLD);
    assert_eq!(gold.len(), 240);
    let annotated: BTreeSet<String> =
        read_annotations(&common::repo_root().join("datasets/annotations"))
            .unwrap()
            .items
            .into_iter()
            .map(|a| a.id)
            .collect();
    let mut ids = BTreeSet::new();
    for g in &gold {
        let id = g["id"].as_str().expect("an id");
        assert!(ids.insert(id.to_string()), "{id} twice");
        assert!(
            g.get("text").is_none(),
            "{id}: corpus text in the repository"
        );
        let (number, year) = id
            .strip_prefix("S/RES/")
            .and_then(|r| r.split_once(" ("))
            .and_then(|(n, rest)| {
                Some((n.parse::<u32>().ok()?, rest.get(..4)?.parse::<u32>().ok()?))
            })
            .unwrap_or_else(|| panic!("{id}: not a resolution paragraph"));
        assert!(year < 1990, "{id}: not before 1990");
        assert_ne!(number % 10, 7, "{id}: a held-out resolution");
        assert!(
            !annotated.contains(id),
            "{id}: also in datasets/annotations"
        );
    }
    // Both readings and the gold cover the same paragraphs, with the same text hashes.
    let second = lines(SECOND);
    let first = read_annotations(&common::repo_root().join(FIRST)).unwrap();
    assert_eq!(first.items.len(), 240);
    for (i, g) in gold.iter().enumerate() {
        assert_eq!(first.items[i].id, g["id"].as_str().unwrap());
        assert_eq!(first.items[i].sha256, g["sha256"].as_str().unwrap());
        assert_eq!(second[i]["id"], g["id"]);
        assert_eq!(second[i]["sha256"], g["sha256"]);
    }
}

#[test]
fn pre1990_gold_is_the_agreed_labels_or_the_adjudicated_ones() {
    let root = common::repo_root();
    let first = read_annotations(&root.join(FIRST)).unwrap();
    let second = read_annotation_file(&root.join(SECOND)).unwrap();
    let pairs = pair_readings(&first.items, &second).unwrap();
    let decided = adjudicate(
        &pairs,
        &read_annotation_file(&root.join(ADJUDICATED)).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gold = read_annotation_file(&root.join(GOLD)).unwrap();
    assert_eq!(gold.len(), pairs.len());
    let disputed = pairs.iter().filter(|p| p.first != p.second).count();
    assert!(disputed > 0, "the readings never differ: not two readings");
    for ((g, p), labels) in gold.iter().zip(&pairs).zip(&decided) {
        assert_eq!((&g.id, &g.sha256), (&p.id, &p.sha256));
        assert_eq!(g.labels, *labels, "{}", g.id);
    }
}

fn agreement(format: &str) -> String {
    let out = assert_cmd::Command::cargo_bin("frameshift")
        .unwrap()
        .current_dir(common::repo_root())
        .env("FRAMESHIFT_HOME", common::repo_root())
        .args(["-q", "agreement", SECOND, "--annotations", FIRST])
        .args(["--adjudicated", ADJUDICATED, "--format", format])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn committed_pre1990_agreement_is_what_the_two_readings_give() {
    let now: Value = serde_json::from_str(&agreement("json")).unwrap();
    let then: Value = serde_json::from_str(&committed("agreement.json")).unwrap();
    assert_eq!(now, then, "eval/pre1990/agreement.json is stale or edited");
    assert_eq!(now["readers"]["n"], 240);
    assert_eq!(
        agreement("markdown"),
        committed("agreement.md"),
        "eval/pre1990/agreement.md is stale or edited"
    );
}

/// Counts must match exactly; probabilities (and the ECE computed from them) to 1e-5, so
/// that a CPU with other vector instructions does not fail the check on rounding.
fn assert_same(now: &Value, then: &Value, at: &str) {
    match (now, then) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(a), keys(b), "{at}: other keys");
            for (k, v) in a {
                assert_same(v, &b[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: other length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5, "{at}: {x} now, {y} committed");
        }
        _ => assert_eq!(now, then, "{at}"),
    }
}

/// The default classifier's figures on the pre-1990 set, as the README reports them: the
/// gold lines name their paragraphs by id and hash, so this reads the shared corpus.
#[test]
fn committed_pre1990_figures_of_the_default_are_what_eval_gold_gives() {
    check_committed_pre1990_figures(&[], "default");
}

/// The same for the MPNet head trained with the pre-1990 batch too,
/// `weights/heads/mpnet-1946.json` (README "How does it do before 1990?"): its figures there
/// are the reason it is committed.
#[test]
fn committed_pre1990_figures_of_the_mpnet_1946_head_are_what_eval_gold_gives() {
    let head = common::repo_root().join("weights/heads/mpnet-1946.json");
    check_committed_pre1990_figures(
        &["--model", "mpnet", "--head", head.to_str().unwrap()],
        "mpnet-1946",
    );
}

/// The same for `weights/mpnet-bitfit-1946/`, BitFit MPNet's recipe trained with the
/// pre-1990 batch too, the classifier the README advises for analyses that reach before 1990.
#[test]
fn committed_pre1990_figures_of_mpnet_bitfit_1946_are_what_eval_gold_gives() {
    check_committed_pre1990_figures(&["--model", "mpnet-bitfit-1946"], "mpnet-bitfit-1946");
}

/// The same for `weights/mpnet-bitfit/`, BitFit MPNet, the default until 2026-12-07
/// (the README's pre-1990 table compares it with the default that replaced it).
#[test]
fn committed_pre1990_figures_of_mpnet_bitfit_are_what_eval_gold_gives() {
    check_committed_pre1990_figures(&["--model", "mpnet-bitfit"], "mpnet-bitfit");
}

/// `eval --gold` on the pre-1990 set with `args` (none: the default classifier) gives the
/// committed `eval/pre1990/<name>.json` and its scores file.
fn check_committed_pre1990_figures(args: &[&str], name: &str) {
    // Every classifier checked here runs on MPNet, the default's base.
    let (_, base) = common::default_classifier();
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join(format!("{name}.scores.jsonl"));
    let mut cmd = common::frameshift_on(&base);
    cmd.current_dir(common::repo_root())
        .env("FRAMESHIFT_HOME", common::repo_root())
        .env(
            "FRAMESHIFT_CORPUS",
            common::shared_corpus(&["unsc-resolutions-1946-2015"]),
        )
        .args(["-q", "eval", "--gold", GOLD, "--scores"])
        .arg(&scores)
        .args(args);
    let out = cmd.assert().success().get_output().stdout.clone();
    let now: Value = serde_json::from_slice(&out).unwrap();
    let file = format!("{name}.json");
    let then: Value = serde_json::from_str(&committed(&file)).unwrap();
    assert_same(&now, &then, &file);
    assert_eq!(now["n"], 240);
    let rows = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let file = format!("{name}.scores.jsonl");
    assert_same(
        &Value::Array(rows(&std::fs::read_to_string(&scores).unwrap())),
        &Value::Array(rows(&committed(&file))),
        &file,
    );
}
