//! What the two double-read check sets (`datasets/pre1990/`, `datasets/check-1990-2015/`)
//! share: each is a sample of resolution paragraphs read twice, blind, with the paragraphs
//! on which the readings differ adjudicated, and each has committed figures in `eval/<dir>/`
//! that `frameshift agreement` and `frameshift eval --gold` must reproduce. Only the paths,
//! the size and the years differ, so the checks are written once here.

use super::{default_classifier, frameshift_on, repo_root, shared_corpus};
use frameshift::dataset::{adjudicate, pair_readings, read_annotation_file, read_annotations};
use serde_json::Value;
use std::collections::BTreeSet;

/// One check set: where its files are and what it must hold.
pub struct CheckSet {
    /// `datasets/<name>/` holds the readings, `eval/<name>/` the committed figures.
    pub name: &'static str,
    pub n: usize,
    /// Inclusive range of the resolutions' years.
    pub years: (u32, u32),
}

impl CheckSet {
    fn data(&self, file: &str) -> String {
        format!("datasets/{}/{file}", self.name)
    }

    fn first(&self) -> String {
        self.data("first-reading")
    }

    fn second(&self) -> String {
        self.data("second-reading.jsonl")
    }

    fn adjudicated(&self) -> String {
        self.data("adjudicated.jsonl")
    }

    pub fn gold(&self) -> String {
        self.data("gold.jsonl")
    }

    fn committed(&self, file: &str) -> String {
        let path = repo_root().join("eval").join(self.name).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Drawn as documented: resolution paragraphs of the set's years, none held out, none
    /// annotated, no corpus text, both readings and the gold over the same paragraphs and
    /// text hashes. Returns the gold ids for checks particular to one set.
    pub fn check_drawn_as_documented(&self) -> Vec<String> {
        let gold = lines(&self.gold());
        assert_eq!(gold.len(), self.n);
        let annotated: BTreeSet<String> =
            read_annotations(&repo_root().join("datasets/annotations"))
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
            let (number, year) = resolution_number_and_year(id);
            assert!(
                (self.years.0..=self.years.1).contains(&year),
                "{id}: not of {}-{}",
                self.years.0,
                self.years.1
            );
            assert_ne!(number % 10, 7, "{id}: a held-out resolution");
            assert!(
                !annotated.contains(id),
                "{id}: also in datasets/annotations"
            );
        }
        let second = lines(&self.second());
        let first = read_annotations(&repo_root().join(self.first())).unwrap();
        assert_eq!(first.items.len(), self.n);
        for (i, g) in gold.iter().enumerate() {
            assert_eq!(first.items[i].id, g["id"].as_str().unwrap());
            assert_eq!(first.items[i].sha256, g["sha256"].as_str().unwrap());
            assert_eq!(second[i]["id"], g["id"]);
            assert_eq!(second[i]["sha256"], g["sha256"]);
        }
        gold.iter()
            .map(|g| g["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The gold labels are the two readings' where they agree and the adjudicator's where
    /// they differ, and the readings do differ somewhere (two readings, not one copied).
    pub fn check_gold_is_agreed_or_adjudicated(&self) {
        let root = repo_root();
        let first = read_annotations(&root.join(self.first())).unwrap();
        let second = read_annotation_file(&root.join(self.second())).unwrap();
        let pairs = pair_readings(&first.items, &second).unwrap();
        let decided = adjudicate(
            &pairs,
            &read_annotation_file(&root.join(self.adjudicated())).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let gold = read_annotation_file(&root.join(self.gold())).unwrap();
        assert_eq!(gold.len(), pairs.len());
        let disputed = pairs.iter().filter(|p| p.first != p.second).count();
        assert!(disputed > 0, "the readings never differ: not two readings");
        for ((g, p), labels) in gold.iter().zip(&pairs).zip(&decided) {
            assert_eq!((&g.id, &g.sha256), (&p.id, &p.sha256));
            assert_eq!(g.labels, *labels, "{}", g.id);
        }
    }

    fn agreement(&self, format: &str) -> String {
        let out = assert_cmd::Command::cargo_bin("frameshift")
            .unwrap()
            .current_dir(repo_root())
            .env("FRAMESHIFT_HOME", repo_root())
            .args([
                "-q",
                "agreement",
                &self.second(),
                "--annotations",
                &self.first(),
            ])
            .args(["--adjudicated", &self.adjudicated(), "--format", format])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }

    /// The committed `eval/<name>/agreement.{json,md}` are what the readings give.
    pub fn check_committed_agreement(&self) {
        let now: Value = serde_json::from_str(&self.agreement("json")).unwrap();
        let then: Value = serde_json::from_str(&self.committed("agreement.json")).unwrap();
        assert_eq!(
            now, then,
            "eval/{}/agreement.json is stale or edited",
            self.name
        );
        assert_eq!(now["readers"]["n"], self.n);
        assert_eq!(
            self.agreement("markdown"),
            self.committed("agreement.md"),
            "eval/{}/agreement.md is stale or edited",
            self.name
        );
    }

    /// `eval --gold` on the set with `args` (none: the default classifier) gives the
    /// committed `eval/<name>/<file>.json` and its scores file. The gold lines name their
    /// paragraphs by id and hash, so this reads the shared corpus; every classifier checked
    /// runs on MPNet, the default's base.
    pub fn check_committed_figures(&self, args: &[&str], file: &str) {
        let (_, base) = default_classifier();
        let dir = tempfile::tempdir().unwrap();
        let scores = dir.path().join(format!("{file}.scores.jsonl"));
        let mut cmd = frameshift_on(&base);
        cmd.current_dir(repo_root())
            .env("FRAMESHIFT_HOME", repo_root())
            .env(
                "FRAMESHIFT_CORPUS",
                shared_corpus(&["unsc-resolutions-1946-2015"]),
            )
            .args(["-q", "eval", "--gold", &self.gold(), "--scores"])
            .arg(&scores)
            .args(args);
        let out = cmd.assert().success().get_output().stdout.clone();
        let now: Value = serde_json::from_slice(&out).unwrap();
        let name = format!("{file}.json");
        let then: Value = serde_json::from_str(&self.committed(&name)).unwrap();
        assert_same(&now, &then, &name);
        assert_eq!(now["n"], self.n);
        let rows = |text: &str| -> Vec<Value> {
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let name = format!("{file}.scores.jsonl");
        assert_same(
            &Value::Array(rows(&std::fs::read_to_string(&scores).unwrap())),
            &Value::Array(rows(&self.committed(&name))),
            &name,
        );
    }
}

fn lines(path: &str) -> Vec<Value> {
    let path = repo_root().join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `S/RES/1234 (1999)#op2` -> (1234, 1999); panics on anything but a resolution paragraph.
fn resolution_number_and_year(id: &str) -> (u32, u32) {
    id.strip_prefix("S/RES/")
        .and_then(|r| r.split_once(" ("))
        .and_then(|(n, rest)| Some((n.parse::<u32>().ok()?, rest.get(..4)?.parse::<u32>().ok()?)))
        .unwrap_or_else(|| panic!("{id}: not a resolution paragraph"))
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
