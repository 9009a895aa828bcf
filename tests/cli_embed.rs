//! `frameshift embed` as a user runs it: files and stdin in, `.npy` + sidecar out.
//! Needs the real weights (see tests/common).

mod common;

use assert_cmd::Command;
use frameshift::embed::cosine;
use frameshift::npy;

fn frameshift() -> Command {
    let model = common::minilm(); // fails with fetch instructions when absent
    let mut cmd = Command::cargo_bin("frameshift").unwrap();
    cmd.env("FRAMESHIFT_WEIGHTS", &model.dir)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", common::test_cache_dir())
        .arg("-q");
    cmd
}

const LINES: &str = "Recalling its resolution on the protection of civilians in armed conflict,\n\
\n\
3. Calls upon Member States to criminalize trafficking in persons;\n\
Stressing the need to ensure accountability for sexual violence in conflict,\n";

#[test]
fn embed_lines_file_writes_matrix_and_sidecar_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("paras.txt");
    std::fs::write(&input, LINES).unwrap();
    let out = dir.path().join("vecs.npy");
    frameshift()
        .args([
            "embed",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    let m = npy::read_f32(&out).unwrap();
    assert_eq!((m.rows, m.cols), (3, 384), "blank line is not a paragraph");
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("vecs.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["model"], "minilm");
    assert_eq!(sidecar["dim"], 384);
    assert_eq!(sidecar["lines"], serde_json::json!([1, 3, 4]));
    assert_eq!(sidecar["windows"], serde_json::json!([1, 1, 1]));
    assert_eq!(
        sidecar["files"]["model.safetensors"],
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    );

    // The same paragraphs as JSONL on stdin give the same vectors.
    let jsonl: String = LINES
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::json!({"text": l, "id": "x"}).to_string() + "\n")
        .collect();
    let out2 = dir.path().join("stdin.npy");
    frameshift()
        .args(["embed", "-", "--out", out2.to_str().unwrap()])
        .write_stdin(jsonl)
        .assert()
        .success();
    let m2 = npy::read_f32(&out2).unwrap();
    for i in 0..3 {
        assert!(cosine(m.row(i), m2.row(i)) > 0.99999, "row {i}");
    }
}

#[test]
fn long_paragraph_reports_its_windows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.txt");
    let long =
        "Urges Member States to strengthen judicial cooperation against trafficking in persons, "
            .repeat(60);
    std::fs::write(&input, format!("Short paragraph.\n{long}\n")).unwrap();
    let out = dir.path().join("long.npy");
    frameshift()
        .args([
            "embed",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("long.json")).unwrap())
            .unwrap();
    let windows = sidecar["windows"].as_array().unwrap();
    assert_eq!(windows[0], 1);
    assert!(windows[1].as_u64().unwrap() >= 3, "{windows:?}");
    assert!(sidecar["tokens"][1].as_u64().unwrap() > 512);
}

#[test]
fn bad_jsonl_line_is_reported_rest_written_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.jsonl");
    std::fs::write(&input, "{\"text\": \"Peace and security.\"}\n{\"txt\": 1}\nnot json\n{\"text\": \"Human rights.\"}\n").unwrap();
    let out = dir.path().join("mixed.npy");
    let assert = frameshift()
        .args([
            "embed",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("mixed.jsonl:2"), "{stderr}");
    assert!(stderr.contains("mixed.jsonl:3"), "{stderr}");
    assert_eq!(npy::read_f32(&out).unwrap().rows, 2);
}

/// Run `embed INPUT --out OUT` that must be refused: exit 2, nothing written at OUT; gives
/// stderr so the test can check it says why.
fn embed_refused(input: &std::path::Path, out: &std::path::Path) -> String {
    let assert = frameshift()
        .args([
            "embed",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(2);
    assert!(!out.exists());
    String::from_utf8_lossy(&assert.get_output().stderr).to_string()
}

/// `embed --out vec.json` used to write the matrix, then replace it with its own sidecar
/// (same path) and exit 0: the vectors were lost without a word.
#[test]
fn out_named_json_is_refused_before_the_matrix_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("paras.txt");
    std::fs::write(&input, LINES).unwrap();
    let out = dir.path().join("vec.json");
    let stderr = embed_refused(&input, &out);
    assert!(stderr.contains("same file"), "{stderr}");
}

#[test]
fn binary_input_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("blob.txt");
    std::fs::write(&input, [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    let out = dir.path().join("blob.npy");
    let stderr = embed_refused(&input, &out);
    assert!(stderr.contains("binary"), "{stderr}");
}

#[test]
fn missing_weights_error_says_how_to_fetch() {
    let empty = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.txt");
    std::fs::write(&input, "Peace.\n").unwrap();
    let assert = Command::cargo_bin("frameshift")
        .unwrap()
        .env_remove("FRAMESHIFT_WEIGHTS")
        .env("FRAMESHIFT_WEIGHTS_ROOT", empty.path())
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .args(["embed", input.to_str().unwrap(), "--out"])
        .arg(dir.path().join("p.npy"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("frameshift weights fetch --model minilm"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn backends_agree_and_int8_needs_the_fast_backend() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("paras.txt");
    std::fs::write(&input, LINES).unwrap();
    let mut outs = Vec::new();
    for (backend, precision) in [("candle", "f32"), ("fast", "f32"), ("auto", "int8")] {
        let out = dir.path().join(format!("{backend}-{precision}.npy"));
        frameshift()
            .args(["embed", input.to_str().unwrap(), "--out"])
            .arg(&out)
            .args([
                "--device",
                "cpu",
                "--backend",
                backend,
                "--precision",
                precision,
            ])
            // Each backend must compute its vectors, not read another's from the cache.
            .arg("--no-cache")
            .assert()
            .success();
        let sidecar: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
                .unwrap();
        let fingerprint = sidecar["model_fingerprint"].as_str().unwrap().to_string();
        assert_eq!(fingerprint.starts_with("int8-"), precision == "int8");
        outs.push(npy::read_f32(&out).unwrap());
    }
    for i in 0..3 {
        assert!(cosine(outs[0].row(i), outs[1].row(i)) > 0.9999, "row {i}");
        assert!(cosine(outs[1].row(i), outs[2].row(i)) > 0.99, "row {i}");
    }
    let assert = frameshift()
        .args(["embed", input.to_str().unwrap(), "--out"])
        .arg(dir.path().join("bad.npy"))
        .args(["--backend", "candle", "--precision", "int8"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("int8"), "{stderr}");
}
