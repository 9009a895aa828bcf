//! Fine-tuning with the real MiniLM (`frameshift train --finetune`): the differentiable
//! forward pass gives the encoder's own vectors, the command writes a model directory that
//! every command loads with `--model DIR`, reruns give the same bytes, and the directory's
//! head refuses another encoder. Needs the real weights and ../shared/corpus (fails saying
//! how to get them). The plumbing test trains on a small subset for one epoch (about a
//! minute). The full run (14 minutes in release, about 20 in the test profile) is not
//! repeated here; README, "Fine-tuned MiniLM", says how to check a rerun against the
//! committed record `weights/heads/minilm-finetuned/`.

mod common;

use assert_cmd::Command;
use frameshift::classify::finetune::{LinearHead, Trainable};
use frameshift::embed::{embed_texts, EmbedOptions, Encoder};
use std::path::Path;

const TEXTS: [&str; 3] = [
    "Condemns in the strongest terms all acts of trafficking in persons by terrorist groups.",
    "Urges Member States to investigate, prosecute and punish those responsible, in accordance with international law.",
    "Calls upon all parties to protect women and girls from sexual and gender-based violence and to respect human rights.",
];

#[test]
fn differentiable_forward_gives_the_encoders_vectors_on_real_minilm() {
    let model = common::minilm();
    let encoder = common::minilm_encoder();
    let zero = LinearHead {
        weights: vec![vec![0.0; 384 + 4]; 4],
        bias: vec![0.0; 4],
    };
    let trainable = Trainable::load(&model.dir, &zero, &candle_core::Device::Cpu).unwrap();
    let expected = embed_texts(&encoder, &TEXTS, &EmbedOptions::default()).unwrap();
    let info = encoder.info();
    for (text, want) in TEXTS.iter().zip(&expected) {
        let mut ids = vec![info.cls_id];
        ids.extend(encoder.tokenize(text).unwrap());
        ids.push(info.sep_id);
        let n = ids.len();
        let ids = candle_core::Tensor::from_vec(ids, (1, n), &candle_core::Device::Cpu).unwrap();
        let mask = ids
            .ones_like()
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap();
        let got = trainable
            .embed(&ids, &mask)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let cos = frameshift::embed::cosine(&got[0], &want.vector);
        assert!(
            cos > 0.99999,
            "{text}: cosine {cos} to the encoder's vector"
        );
    }
}

fn frameshift() -> Command {
    let mut cmd = common::frameshift_on(&common::minilm());
    cmd.env("FRAMESHIFT_HOME", common::repo_root()).arg("-q");
    cmd
}

/// Run a command that must be refused and give its stderr, so the test can check it says why.
fn refusal(cmd: &mut Command) -> String {
    let out = cmd.assert().failure().get_output().stderr.clone();
    String::from_utf8_lossy(&out).into_owned()
}

/// Every 25th committed annotation (about 80, from many documents): enough for a
/// validation split of whole documents, small enough for a test.
fn annotation_subset(dir: &Path) {
    let source = common::repo_root().join("datasets/annotations");
    let mut files: Vec<_> = std::fs::read_dir(&source)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        lines.extend(
            std::fs::read_to_string(&f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    let subset: Vec<String> = lines.into_iter().step_by(25).collect();
    assert!(subset.len() > 60, "expected the committed annotations");
    std::fs::write(dir.join("subset.jsonl"), subset.join("\n") + "\n").unwrap();
}

fn train_into(annotations: &Path, out: &Path) {
    frameshift()
        .args(["train", "--finetune", "--epochs", "1", "--annotations"])
        .arg(annotations)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

#[test]
fn finetune_writes_a_model_dir_that_loads_like_any_model_and_reproduces() {
    let tmp = tempfile::tempdir().unwrap();
    let annotations = tmp.path().join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    train_into(&annotations, &a);

    // The manifest names the base model and the data, and hashes the files as written.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], "minilm-finetuned");
    assert_eq!(manifest["base"]["model"], "minilm");
    assert_eq!(manifest["options"]["epochs"], 1);
    assert_eq!(manifest["history"].as_array().unwrap().len(), 1);
    for file in ["model.safetensors", "config.json", "tokenizer.json"] {
        let sha = frameshift::weights::sha256_file(&a.join(file)).unwrap();
        assert_eq!(manifest["files"][file], sha.as_str(), "{file}");
    }
    // The encoder moved away from the base weights.
    let base = common::minilm();
    assert_ne!(
        manifest["files"]["model.safetensors"],
        base.files["model.safetensors"].as_str()
    );

    // Loads like any model: label a text with --model DIR, on both CPU backends.
    let text = tmp.path().join("speech.txt");
    std::fs::write(&text, TEXTS.join("\n\n")).unwrap();
    for backend in ["fast", "candle"] {
        let out = frameshift()
            .arg("label")
            .arg("--model")
            .arg(&a)
            .args(["--backend", backend, "--format", "jsonl"])
            .arg(&text)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let rows: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 3, "{backend}: one row per paragraph");
        for r in &rows {
            let p = r["scores"]["security"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&p), "{backend}: probability {p}");
        }
    }

    // Its head belongs to the fine-tuned encoder: the base model refuses it.
    let message = refusal(
        frameshift()
            .arg("label")
            .arg("--head")
            .arg(a.join("head.json"))
            .arg(&text),
    );
    assert!(
        message.contains("was trained on encoder minilm-finetuned"),
        "unexpected refusal: {message}"
    );

    // The zero-shot baseline is refused on a fine-tuned model (its head file has no trained
    // zero-shot thresholds), rather than scored at arbitrary cuts.
    let gold = tmp.path().join("gold.jsonl");
    std::fs::write(
        &gold,
        "{\"text\": \"The Council condemns the terrorist attacks.\", \"labels\": [\"security\"]}\n",
    )
    .unwrap();
    let message = refusal(
        frameshift()
            .args(["eval", "--method", "zeroshot", "--gold"])
            .arg(&gold)
            .arg("--model")
            .arg(&a),
    );
    assert!(
        message.contains("zero-shot baseline is defined on a base encoder")
            && message.contains("--model minilm"),
        "unexpected message: {message}"
    );

    // Deterministic: a second run writes the same bytes.
    train_into(&annotations, &b);
    for file in ["model.safetensors", "head.json", "manifest.json"] {
        assert!(
            std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap(),
            "{file} differs between two identical fine-tuning runs"
        );
    }
}
