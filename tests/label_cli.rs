//! `frameshift label` as a user runs it: labelled output for a meeting record and a speech
//! (snapshots), the same labels from a file and from stdin, and one clear line plus a
//! non-zero exit for each kind of bad input. Needs the real weights and the committed head.

mod common;

use assert_cmd::Command;

/// The binary on the default classifier's base weights (label runs it without --model).
fn frameshift() -> Command {
    let mut cmd = common::frameshift_on(&common::default_classifier().1);
    cmd.env("NO_COLOR", "1");
    cmd
}

fn fixture(rel: &str) -> std::path::PathBuf {
    common::repo_root().join("tests/fixtures").join(rel)
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

#[test]
fn jsonl_rows_have_valid_scores_and_file_equals_stdin() {
    let path = fixture("speech/ATL_86_2031.txt");
    let from_file = frameshift()
        .args(["-q", "label", "--format", "jsonl"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let from_stdin = frameshift()
        .args(["-q", "label", "--format", "jsonl", "-"])
        .write_stdin(std::fs::read(&path).unwrap())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let parse = |b: &[u8]| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(b)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let a = parse(&from_file);
    let b = parse(&from_stdin);
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "one row per paragraph either way");
    // Stdin's paragraphs are named `stdin#p1`, ... (they were `-#p1`, ...).
    for (i, row) in b.iter().enumerate() {
        assert_eq!(row["id"], format!("stdin#p{}", i + 1));
    }
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["labels"], y["labels"]);
        assert_eq!(x["scores"], y["scores"]);
        let scores = x["scores"].as_object().unwrap();
        let mut keys: Vec<&str> = scores.keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["crime", "gender", "human_rights", "security"]);
        assert!(scores
            .values()
            .all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())));
        for key in ["id", "text", "evidence"] {
            assert!(x.get(key).is_some(), "missing {key}");
        }
    }
}

#[test]
fn table_and_jsonl_snapshots_for_meeting_record_and_speech() {
    for rel in ["meeting/S-PV-9999.txt", "speech/ATL_86_2031.txt"] {
        let table = frameshift()
            .args(["-q", "label", "--format", "table", "--width", "90"])
            .arg(fixture(rel))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let jsonl = frameshift()
            .args(["-q", "label", "--format", "jsonl"])
            .arg(fixture(rel))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let name = rel.replace(['/', '.'], "_");
        insta::assert_snapshot!(format!("{name}_table"), String::from_utf8_lossy(&table));
        // Probabilities are rounded so that last-bit differences between CPUs do not churn
        // the snapshot; the labels and evidence are compared exactly.
        let rounded: Vec<serde_json::Value> = String::from_utf8_lossy(&jsonl)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                for (_, p) in v["scores"].as_object_mut().unwrap().iter_mut() {
                    *p = serde_json::json!((p.as_f64().unwrap() * 100.0).round() / 100.0);
                }
                v
            })
            .collect();
        insta::assert_json_snapshot!(format!("{name}_jsonl"), rounded);
    }
}

#[test]
fn summary_per_frame_goes_to_stderr() {
    let a = frameshift()
        .args(["label", "--format", "jsonl"])
        .arg(fixture("speech/ATL_86_2031.txt"))
        .assert()
        .success();
    let err = stderr_of(&a);
    for f in ["security", "crime", "human_rights", "gender"] {
        assert_eq!(err.lines().filter(|l| l.starts_with(f)).count(), 1, "{err}");
    }
}

#[test]
fn missing_file_is_one_line_and_exit_1() {
    let a = frameshift()
        .args(["label", "/nonexistent/speech.txt"])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/speech.txt") && err.contains("no such file"),
        "{err}"
    );
}

#[test]
fn empty_file_says_no_paragraphs_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.txt");
    std::fs::write(&p, "").unwrap();
    let a = frameshift().arg("label").arg(&p).assert().code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("empty.txt") && err.contains("no paragraphs found"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn binary_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scan.pdf");
    std::fs::write(&p, b"%PDF-1.7\n\x00\x01\x02\x03binary").unwrap();
    let a = frameshift().arg("label").arg(&p).assert().code(1);
    let err = stderr_of(&a);
    assert!(err.contains("scan.pdf") && err.contains("binary"), "{err}");
}

#[test]
fn several_files_label_what_can_be_labelled_and_exit_1() {
    let a = frameshift()
        .args(["-q", "label", "--format", "jsonl", "/nonexistent/a.txt"])
        .arg(fixture("speech/ATL_86_2031.txt"))
        .assert()
        .code(1);
    assert!(
        !a.get_output().stdout.is_empty(),
        "the good file is still labelled"
    );
    assert!(stderr_of(&a).contains("/nonexistent/a.txt"));
}

#[test]
fn missing_weights_name_the_fetch_command_and_exit_2() {
    let empty = tempfile::tempdir().unwrap();
    let a = Command::cargo_bin("frameshift")
        .unwrap()
        .env_remove("FRAMESHIFT_WEIGHTS")
        .env("FRAMESHIFT_WEIGHTS_ROOT", empty.path())
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .arg("label")
        .arg(fixture("speech/ATL_86_2031.txt"))
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("frameshift weights fetch --model mpnet"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

/// The table as a person sees it: the binary runs in a real pseudo-terminal (tmux), so the
/// default format, the terminal width and colour detection are the interactive ones.
#[test]
fn table_renders_in_a_real_terminal() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        panic!("tmux is needed for this test: apt-get install tmux");
    }
    let model = common::default_classifier().1;
    let bin = assert_cmd::cargo::cargo_bin("frameshift");
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    let session = format!("frameshift-test-{}", std::process::id());
    let script = format!(
        "FRAMESHIFT_WEIGHTS='{}' FRAMESHIFT_NO_DOWNLOAD=1 FRAMESHIFT_CACHE='{}' '{}' -q label '{}'; echo EXIT=$? > '{}'; sleep 30",
        model.dir.display(),
        common::test_cache_dir().display(),
        bin.display(),
        fixture("speech/ATL_86_2031.txt").display(),
        done.display()
    );
    let status = std::process::Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "96",
            "-y",
            "200",
            "sh",
            "-c",
            &script,
        ])
        .env_remove("TMUX")
        .status()
        .unwrap();
    assert!(status.success(), "tmux did not start");
    let started = std::time::Instant::now();
    while !done.exists() && started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let screen = std::process::Command::new("tmux")
        .args(["capture-pane", "-p", "-S", "-200", "-t", &session])
        .output()
        .unwrap();
    let _ = std::process::Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    let screen = String::from_utf8_lossy(&screen.stdout).to_string();
    assert_eq!(
        std::fs::read_to_string(&done).unwrap().trim(),
        "EXIT=0",
        "{screen}"
    );
    assert!(screen.contains("UNGD/86/ATL#p1"), "{screen}");
    assert!(
        screen.contains("security") && screen.contains("human_rights"),
        "{screen}"
    );
    assert!(screen.contains("──────"), "{screen}");
    for line in screen.lines() {
        assert!(
            line.chars().count() <= 96,
            "line wider than the terminal: {line}"
        );
    }
}

/// `label --help` said the default model was minilm (the registry's `default`), while
/// `label`, `analyze` and `eval --gold` run the committed default classifier unless told
/// otherwise; the flag's help is shared by every command that embeds, so each must say
/// which default is its own.
#[test]
fn help_named_minilm_as_the_default_classifier() {
    for command in ["label", "analyze", "eval", "embed", "train"] {
        let a = Command::cargo_bin("frameshift")
            .unwrap()
            .args([command, "--help"])
            .assert()
            .success();
        let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
        let model_help = out
            .split("--model <MODEL>")
            .nth(1)
            .unwrap_or_else(|| panic!("{command} --help has no --model flag:\n{out}"));
        let model_help = &model_help[..model_help.find("[env: FRAMESHIFT_MODEL=]").unwrap()];
        // clap wraps the text to the terminal: compare it as one line.
        let model_help = model_help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            model_help.contains("`label`, `analyze` and `eval --gold` use the committed fine-tuned classifier `mpnet-finetuned-r64`"),
            "{command} --help: {model_help}"
        );
        assert!(
            !model_help.contains("i.e. minilm)"),
            "{command} --help still names minilm alone as the default: {model_help}"
        );
    }
}
