//! `frameshift analyze` end to end on real resolutions: the outputs the issue lists, CIs
//! that contain their estimates, a manifest with hashes, a self-contained HTML report, and
//! a killed-then-restarted run that finishes with the same outputs as an uninterrupted one.
//! Needs the real weights, the committed head and ../shared/corpus.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

fn corpus() -> PathBuf {
    common::shared_corpus(&["unsc-resolutions-1946-2015", "unsc-resolutions-2016-2019"])
}

/// The eight WPS resolutions 1325-2242 and the 2016-2019 files.
fn inputs() -> Vec<PathBuf> {
    let c = corpus();
    let mut v: Vec<PathBuf> = [
        "1325(2000)",
        "1820(2008)",
        "1888(2009)",
        "1889(2009)",
        "1960(2010)",
        "2106(2013)",
        "2122(2013)",
        "2242(2015)",
    ]
    .iter()
    .map(|r| {
        c.join("unsc-resolutions-1946-2015")
            .join(format!("S-RES-{r}.txt"))
    })
    .collect();
    v.push(c.join("unsc-resolutions-2016-2019"));
    v
}

/// `frameshift analyze` as a user runs it, on the default classifier (no --model).
fn analyze(out: &Path, cache: &Path) -> std::process::Command {
    let model = common::default_classifier().1;
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("frameshift"));
    cmd.env("FRAMESHIFT_WEIGHTS", &model.dir)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", cache)
        .args(["-q", "analyze", "--bootstrap", "200", "--out"])
        .arg(out)
        .args(inputs());
    cmd
}

/// `frameshift merge SHARDS... --out OUT` (merge embeds nothing: no weights needed).
fn merge(out: &Path, shards: &[&PathBuf]) -> std::process::Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("frameshift"))
        .args(["-q", "merge", "--out"])
        .arg(out)
        .args(shards)
        .output()
        .unwrap()
}

const TABLES: [&str; 7] = [
    "paragraphs.csv",
    "paragraphs.jsonl",
    "shares.csv",
    "trends.csv",
    "citations.csv",
    "report.md",
    "report.html",
];

#[test]
fn analyze_writes_consistent_outputs_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    let status = analyze(&clean, &dir.path().join("cache-a"))
        .status()
        .unwrap();
    assert!(status.success());

    // shares.csv: long format, CIs contain the estimates.
    let mut rdr = csv::Reader::from_path(clean.join("shares.csv")).unwrap();
    let header = rdr.headers().unwrap().clone();
    for col in [
        "year",
        "agenda",
        "frame",
        "share",
        "ci_low",
        "ci_high",
        "n_paragraphs",
        "n_documents",
    ] {
        assert!(header.iter().any(|h| h == col), "shares.csv lacks {col}");
    }
    let mut with_ci = 0;
    for row in rdr.records() {
        let row = row.unwrap();
        let get = |c: &str| {
            row[header.iter().position(|h| h == c).unwrap()]
                .parse::<f64>()
                .ok()
        };
        if let (Some(s), Some(lo), Some(hi)) = (get("share"), get("ci_low"), get("ci_high")) {
            assert!(lo <= s + 1e-9 && s <= hi + 1e-9, "{row:?}");
            with_ci += 1;
        }
    }
    assert!(with_ci > 0, "no confidence intervals at all");

    // manifest: model, head and input hashes.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(clean.join("manifest.json")).unwrap())
            .unwrap();
    // Without --model the run is the default classifier's, and says so.
    assert_eq!(manifest["model"]["name"], common::default_classifier().0);
    assert_eq!(
        manifest["model"]["files"]["model.safetensors"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(manifest["head"]["sha256"].as_str().unwrap().len(), 64);
    let inputs = manifest["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 11);
    assert!(inputs
        .iter()
        .all(|i| i["sha256"].as_str().is_some_and(|h| h.len() == 64)));

    // report.html: inline SVG, nothing fetched from outside.
    let html = std::fs::read_to_string(clean.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 4);
    for bad in [
        "<script src",
        "<link",
        "src=\"http",
        "href=\"http",
        "url(http",
    ] {
        assert!(!html.contains(bad), "external resource `{bad}`");
    }

    // Kill a run mid-way, restart it with the same cache, compare with the clean run.
    let killed = dir.path().join("killed");
    let cache_b = dir.path().join("cache-b");
    let mut child = analyze(&killed, &cache_b).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = child.kill();
    let _ = child.wait();
    for t in TABLES {
        // Whatever is there after the kill is complete (atomic writes), never half a file.
        if let Ok(text) = std::fs::read_to_string(killed.join(t)) {
            assert_eq!(
                text,
                std::fs::read_to_string(clean.join(t)).unwrap(),
                "{t} after kill"
            );
        }
    }
    assert!(analyze(&killed, &cache_b).status().unwrap().success());
    for t in TABLES {
        let a = std::fs::read(clean.join(t)).unwrap();
        let b = std::fs::read(killed.join(t)).unwrap();
        assert!(
            a == b,
            "{t} differs between the clean and the restarted run"
        );
    }
}

/// `analyze --shard K/N` three times, then `merge`, writes exactly the files of one
/// unsharded run (the manifest differs only in the command line, timings and cache counts).
#[test]
fn three_shards_merged_equal_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = common::test_cache_dir();
    let single = dir.path().join("single");
    let status = analyze(&single, &cache).status().unwrap();
    assert!(status.success(), "single run: {status}");
    let mut shard_dirs = Vec::new();
    for k in 1..=3 {
        let out = dir.path().join(format!("shard{k}"));
        let status = analyze(&out, &cache)
            .args(["--shard", &format!("{k}/3")])
            .status()
            .unwrap();
        assert!(status.success(), "shard {k}/3: {status}");
        let rows = std::fs::read_to_string(out.join("shard.jsonl")).unwrap();
        assert!(
            rows.lines().count() > 0,
            "shard {k}/3 is empty: the test inputs must reach every shard"
        );
        assert!(
            !out.join("shares.csv").exists(),
            "a shard writes no aggregates"
        );
        shard_dirs.push(out);
    }
    let merged = dir.path().join("merged");
    // Shards given out of order: merge restores the run's order.
    let status = merge(&merged, &[&shard_dirs[2], &shard_dirs[0], &shard_dirs[1]]).status;
    assert!(status.success(), "merge: {status}");
    for name in TABLES {
        let a = std::fs::read(single.join(name)).unwrap();
        let b = std::fs::read(merged.join(name)).unwrap();
        assert!(a == b, "{name} differs between one run and merged shards");
    }
    let manifest = |p: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("manifest.json")).unwrap())
                .unwrap();
        for k in [
            "command",
            "timings",
            "embedding_cache",
            "embedding_cache_hit_rate",
        ] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(manifest(&single), manifest(&merged));

    // A missing shard is refused, naming it.
    let out = merge(&dir.path().join("bad"), &[&shard_dirs[0], &shard_dirs[2]]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing shards: 2/3"), "{err}");

    // Regression (merge did not compare versions): a shard written by another frameshift
    // version is refused, naming both versions.
    let older = dir.path().join("shard3-older");
    std::fs::create_dir(&older).unwrap();
    for f in ["shard.jsonl", "shard.json"] {
        std::fs::copy(shard_dirs[2].join(f), older.join(f)).unwrap();
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(older.join("shard.json")).unwrap()).unwrap();
    v["frameshift_version"] = "0.0.1-older".into();
    std::fs::write(older.join("shard.json"), v.to_string()).unwrap();
    let out = merge(
        &dir.path().join("versions"),
        &[&shard_dirs[0], &shard_dirs[1], &older],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("frameshift 0.0.1-older") && err.contains(env!("CARGO_PKG_VERSION")),
        "{err}"
    );

    // A shard run with another agenda table is refused: merge used to accept it and mix
    // two tables' agendas in one shares.csv.
    let table = dir.path().join("agendas.toml");
    let edited = std::fs::read_to_string(common::repo_root().join("datasets/agendas.toml"))
        .unwrap()
        .replace(
            "id = \"counter_terrorism\"",
            "id = \"counter_terrorism_edited\"",
        );
    std::fs::write(&table, edited).unwrap();
    let other = dir.path().join("shard3-other-table");
    let status = analyze(&other, &cache)
        .args(["--shard", "3/3", "--agendas"])
        .arg(&table)
        .status()
        .unwrap();
    assert!(status.success(), "shard 3/3 with another table: {status}");
    let out = merge(
        &dir.path().join("mixed"),
        &[&shard_dirs[0], &shard_dirs[1], &other],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shard 3/3"), "{err}");
}

/// Resolutions and speeches given together used to be pooled into one `all` series, which
/// then moved with which corpora were present (speech paragraphs outnumber resolution
/// paragraphs three to one). Each kind is now a complete analysis of its own, in
/// `out/<kind>/`, and the resolutions' one is exactly the resolutions-only run.
#[test]
fn resolutions_and_speeches_are_analysed_apart_not_pooled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = common::test_cache_dir();
    let alone = dir.path().join("resolutions");
    let status = analyze(&alone, &cache).status().unwrap();
    assert!(status.success(), "resolutions only: {status}");
    let speeches =
        common::shared_corpus(&["ungd-speeches-2000-2024"]).join("ungd-speeches-2000-2024");
    let mixed = dir.path().join("mixed");
    let status = analyze(&mixed, &cache)
        .arg(speeches.join("2015/DEU_70_2015.txt"))
        .arg(speeches.join("2019/FRA_74_2019.txt"))
        .status()
        .unwrap();
    assert!(status.success(), "resolutions and speeches: {status}");
    assert!(
        !mixed.join("shares.csv").exists(),
        "no pooled analysis at the top"
    );
    for name in TABLES {
        let a = std::fs::read(alone.join(name)).unwrap();
        let b = std::fs::read(mixed.join("resolution").join(name)).unwrap();
        assert!(
            a == b,
            "resolution/{name} differs from the resolutions-only run"
        );
    }
    let shares = std::fs::read_to_string(mixed.join("speech/shares.csv")).unwrap();
    let years: std::collections::BTreeSet<&str> = shares
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        years.into_iter().collect::<Vec<_>>(),
        ["2015", "2019"],
        "the speech analysis holds the two speeches' years only"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mixed.join("speech/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["document_kind"], "speech");
    assert_eq!(manifest["counts"]["documents_analysed"], 2);
    let report = std::fs::read_to_string(mixed.join("speech/report.md")).unwrap();
    assert!(report.contains("General Assembly speeches"), "{report}");

    // Regression (stale outputs in a reused --out): each directory rerun with the other
    // inputs holds that run's analysis only.
    let status = analyze(&mixed, &cache).status().unwrap();
    assert!(
        status.success(),
        "resolutions only into the mixed dir: {status}"
    );
    for kind in ["resolution", "speech"] {
        assert!(!mixed.join(kind).exists(), "stale {kind}/ left behind");
    }
    for name in TABLES {
        let a = std::fs::read(alone.join(name)).unwrap();
        let b = std::fs::read(mixed.join(name)).unwrap();
        assert!(a == b, "{name} differs after reusing the directory");
    }
    let status = analyze(&alone, &cache)
        .arg(speeches.join("2015/DEU_70_2015.txt"))
        .status()
        .unwrap();
    assert!(status.success(), "mixed into the resolutions dir: {status}");
    for name in TABLES.iter().chain(&["manifest.json"]) {
        assert!(
            !alone.join(name).exists(),
            "stale top-level {name} left behind"
        );
    }
    assert!(alone.join("speech/shares.csv").is_file());
}

/// Gold lines written for this test (not corpus text), labelled against the codebook, with
/// the kind of document each stands for.
const GOLD: &[(&str, &[&str], &str)] = &[
    ("Condemns in the strongest terms the terrorist attacks carried out by armed groups and demands that they cease at once.", &["security"], "resolution"),
    ("Calls upon Member States to criminalize trafficking in persons and to investigate and prosecute those responsible.", &["crime"], "resolution"),
    ("Reaffirms that all parties must comply with international human rights law and respect the right to life and freedom of expression.", &["human_rights"], "resolution"),
    ("Urges the full and equal participation of women in all peace negotiations and mediation efforts.", &["gender"], "resolution"),
    ("Decides to remain actively seized of the matter.", &[], "resolution"),
    ("Requests the Secretary-General to report to the Council on the implementation of this resolution within ninety days.", &[], "resolution"),
    ("Terrorism and violent extremism threaten the peace and stability of our whole region, and we will not yield to them.", &["security"], "speech"),
    ("We thank the President for his able stewardship of the session and wish him every success.", &[], "speech"),
    ("Climate change is raising the sea around our islands and our farmers need investment in resilient agriculture.", &[], "speech"),
];

/// Regression: `analyze --gold` corrected every kind's series with error rates pooled over
/// the whole gold set. Each kind's analysis now takes its rates from the gold items of its
/// kind where they hold a frame's positives and negatives, and says so; its corrected
/// shares are `(raw - fpr) / (tpr - fpr)` of its own raw shares with those rates.
#[test]
fn analyze_gold_corrects_each_kind_with_its_own_error_rates() {
    let dir = tempfile::tempdir().unwrap();
    let gold = dir.path().join("gold.jsonl");
    let lines: Vec<String> = GOLD
        .iter()
        .map(|(text, labels, kind)| {
            serde_json::json!({"text": text, "labels": labels, "kind": kind}).to_string()
        })
        .collect();
    std::fs::write(&gold, lines.join("\n") + "\n").unwrap();
    let fixtures = common::repo_root().join("tests/fixtures");
    let model = common::default_classifier().1;
    let out = dir.path().join("out");
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("frameshift"))
        .env("FRAMESHIFT_WEIGHTS", &model.dir)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", common::test_cache_dir())
        .args(["-q", "analyze", "--bootstrap", "50", "--gold"])
        .arg(&gold)
        .arg("--out")
        .arg(&out)
        .arg(fixtures.join("resolution"))
        .arg(fixtures.join("speech"))
        .status()
        .unwrap();
    assert!(status.success(), "analyze --gold: {status}");

    // The fixture resolutions are of 1961 and 2031, both outside the years of the
    // annotations the default was trained on (1990-2015): the manifest and both reports say
    // so, and point to the pre-1990 check; the fixture speech (2031) is after the
    // speeches' years, without the resolutions' check.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("resolution/manifest.json")).unwrap(),
    )
    .unwrap();
    let outside = &manifest["outside_training_years"];
    assert_eq!(
        outside["trained"],
        serde_json::json!([1990, 2015]),
        "{outside}"
    );
    assert_eq!(outside["before"][1], 1961, "{outside}");
    assert_eq!(outside["after"][2], 2031, "{outside}");
    for report in ["report.md", "report.html"] {
        let text = std::fs::read_to_string(out.join("resolution").join(report)).unwrap();
        assert!(
            text.contains("The classifier was trained on resolutions of 1990-2015;")
                && text.contains("How does it do"),
            "{report}: no word of the years outside the training data"
        );
        let text = std::fs::read_to_string(out.join("speech").join(report)).unwrap();
        assert!(
            text.contains("The classifier was trained on speeches of 2000-2024;")
                && text.contains("from 2031, after them")
                && !text.contains("How does it do"),
            "speech/{report}"
        );
    }

    // (kind, frame) -> where its rates come from, by the gold file alone: resolutions hold
    // a positive and a negative of every frame; speeches only of security.
    for (kind, frame, from, positives, negatives) in [
        ("resolution", "security", "resolution gold items", 1, 5),
        ("resolution", "gender", "resolution gold items", 1, 5),
        ("speech", "security", "speech gold items", 1, 2),
        ("speech", "crime", "all gold items", 1, 8),
        ("speech", "human_rights", "all gold items", 1, 8),
    ] {
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(kind).join("manifest.json")).unwrap(),
        )
        .unwrap();
        let r = &manifest["gold_error_rates"][frame];
        assert_eq!(r["from"], from, "{kind}/{frame}: {r}");
        assert_eq!(
            (r["positives"].as_u64(), r["negatives"].as_u64()),
            (Some(positives), Some(negatives)),
            "{kind}/{frame}: {r}"
        );
        let (tpr, fpr) = (r["tpr"].as_f64().unwrap(), r["fpr"].as_f64().unwrap());
        assert!(
            (0.0..=1.0).contains(&tpr) && (0.0..=1.0).contains(&fpr),
            "{r}"
        );

        // The corrected share in report.md is the raw share of shares.csv corrected with
        // exactly these rates.
        let shares = std::fs::read_to_string(out.join(kind).join("shares.csv")).unwrap();
        let report = std::fs::read_to_string(out.join(kind).join("report.md")).unwrap();
        assert!(report.contains(from), "{kind}: the report names {from}");
        let mut checked = 0;
        for row in shares.lines().skip(1) {
            let cells: Vec<&str> = row.split(',').collect();
            if cells[1] != "all" || cells[2] != frame || cells[3].is_empty() {
                continue;
            }
            let raw: f64 = cells[3].parse().unwrap();
            let expected = if tpr - fpr > 1e-9 {
                format!("{:.3}", ((raw - fpr) / (tpr - fpr)).clamp(0.0, 1.0))
            } else {
                "–".to_string()
            };
            let line = format!("| {} | {frame} | {expected} |", cells[0]);
            assert!(report.contains(&line), "{kind}: no `{line}` in\n{report}");
            checked += 1;
        }
        assert!(checked > 0, "{kind}/{frame}: no yearly share to check");
    }
}
