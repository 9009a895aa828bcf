//! Fine-tuning with the real models (`frameshift train --finetune`): the differentiable
//! forward pass gives the encoder's own vectors (MiniLM's and MPNet's), the command writes a
//! model directory that every command loads with `--model DIR` (MiniLM's and MPNet's),
//! reruns give the same bytes, and the directory's head refuses another encoder. Needs the
//! real weights and ../shared/corpus (fails saying how to get them). The plumbing tests
//! train on a small subset for one epoch (about a minute each). The full run (14 minutes in
//! release, about 20 in the test profile) is not repeated here; README, "Fine-tuned
//! MiniLM", says how to check a rerun against the committed record
//! `weights/heads/minilm-finetuned/`.

mod common;

use assert_cmd::Command;
use frameshift::classify::finetune::{LinearHead, Scope, Trainable};
use frameshift::embed::mpnet::MpnetEncoder;
use frameshift::embed::{embed_texts, EmbedOptions, Encoder};
use frameshift::weights::ResolvedModel;
use std::path::Path;

const TEXTS: [&str; 3] = [
    "Condemns in the strongest terms all acts of trafficking in persons by terrorist groups.",
    "Urges Member States to investigate, prosecute and punish those responsible, in accordance with international law.",
    "Calls upon all parties to protect women and girls from sexual and gender-based violence and to respect human rights.",
];

/// The differentiable forward pass of `model` (loaded as fine-tuning loads it) gives
/// `encoder`'s vectors for whole paragraphs.
fn forward_matches_encoder(model: &ResolvedModel, encoder: &dyn Encoder) {
    let info = encoder.info();
    let zero = LinearHead {
        weights: vec![vec![0.0; info.dim + 4]; 4],
        bias: vec![0.0; 4],
    };
    let cpu = candle_core::Device::Cpu;
    let trainable = Trainable::load(&model.dir, model.spec.architecture, &zero, &cpu).unwrap();
    let expected = embed_texts(encoder, &TEXTS, &EmbedOptions::default()).unwrap();
    for (text, want) in TEXTS.iter().zip(&expected) {
        let mut ids = vec![info.cls_id];
        ids.extend(encoder.tokenize(text).unwrap());
        ids.push(info.sep_id);
        let n = ids.len();
        let ids = candle_core::Tensor::from_vec(ids, (1, n), &cpu).unwrap();
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
            "{}: {text}: cosine {cos} to the encoder's vector",
            model.spec.name
        );
    }
}

#[test]
fn differentiable_forward_gives_the_encoders_vectors_on_real_minilm() {
    forward_matches_encoder(&common::minilm(), &common::minilm_encoder());
}

#[test]
fn differentiable_forward_gives_the_encoders_vectors_on_real_mpnet() {
    let model = common::mpnet();
    let encoder = MpnetEncoder::load(&model, &candle_core::Device::Cpu).expect("MPNet loads");
    forward_matches_encoder(&model, &encoder);
}

fn frameshift() -> Command {
    common::frameshift_on_annotations(&common::minilm())
}

/// Run a command that must be refused and give its stderr, so the test can check it says why.
fn refusal(cmd: &mut Command) -> String {
    let out = cmd.assert().failure().get_output().stderr.clone();
    String::from_utf8_lossy(&out).into_owned()
}

/// Every 25th committed annotation (about 80, from many documents): enough for a
/// validation split of whole documents, small enough for a test.
/// Every `step`-th committed annotation, in file order, as `dir/subset.jsonl`.
fn annotation_subset(dir: &Path, step: usize) {
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
    let total = lines.len();
    let subset: Vec<String> = lines.into_iter().step_by(step).collect();
    assert!(total > 1500, "expected the committed annotations");
    std::fs::write(dir.join("subset.jsonl"), subset.join("\n") + "\n").unwrap();
}

fn train_into(annotations: &Path, out: &Path) {
    train_with(annotations, out, &[]);
}

/// One epoch of `train --finetune` on `annotations`, with `extra` flags, into `out`.
fn train_with(annotations: &Path, out: &Path, extra: &[&str]) {
    frameshift()
        .args(["train", "--finetune", "--epochs", "1"])
        .args(extra)
        .arg("--annotations")
        .arg(annotations)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

/// A model directory's `manifest.json`.
fn manifest_of(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn finetune_writes_a_model_dir_that_loads_like_any_model_and_reproduces() {
    let tmp = tempfile::tempdir().unwrap();
    let annotations = tmp.path().join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations, 25);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    train_into(&annotations, &a);

    // The manifest names the base model and the data, and hashes the files as written.
    let manifest = manifest_of(&a);
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

/// `train --finetune --bitfit` writes only the trained tensors beside the manifest; a copy
/// of the directory without the derived files (what a clone of the repository holds) is
/// rebuilt from the base model on first use, to the hashed bytes, and labels exactly as
/// the original; a changed trained file is refused.
#[test]
fn bitfit_dir_holds_only_the_trained_tensors_and_rebuilds_from_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, manifest, trained) = train_subset(tmp.path(), "--bitfit");
    assert_eq!(manifest["name"], "minilm-bitfit");
    assert_eq!(manifest["options"]["scope"], "bias");
    assert_eq!(manifest["options"]["lr_encoder"], 5e-4);
    assert!(trained.len() >= 6 * 8, "{} trained tensors", trained.len());
    for name in trained.keys() {
        assert!(
            Scope::Bias.trains(name),
            "{name} is not a bias or layer norm"
        );
    }
    delta_dir_rebuilds_from_the_base(tmp.path(), &dir, 200_000);
}

/// `train --finetune --lora` saves BitFit's tensors and the adapters of every query and
/// value matrix; rebuilt from the base (adapters merged), the model is the hashed one and
/// labels as the original, and a changed trained file is refused.
#[test]
fn lora_dir_holds_the_adapters_and_rebuilds_from_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, manifest, trained) = train_subset(tmp.path(), "--lora");
    assert_eq!(manifest["name"], "minilm-lora");
    assert_eq!(manifest["options"]["scope"], "lora");
    assert_eq!(manifest["options"]["lora"]["rank"], 8);
    assert_eq!(manifest["options"]["lora"]["alpha"], 16.0);
    let adapters: Vec<&String> = trained.keys().filter(|n| n.contains(".lora_")).collect();
    // MiniLM: 6 layers x (query, value) x (A, B).
    assert_eq!(adapters.len(), 24, "{adapters:?}");
    for layer in 0..6 {
        for m in ["query", "value"] {
            let a = &trained[&format!("encoder.layer.{layer}.attention.self.{m}.lora_A")];
            assert_eq!(a.dims(), [8, 384]);
        }
    }
    for name in trained.keys().filter(|n| !n.contains(".lora_")) {
        assert!(Scope::Lora.trains(name), "{name} saved");
    }
    // The rebuilt model has the adapters merged: its query matrices are not the base's.
    delta_dir_rebuilds_from_the_base(tmp.path(), &dir, 600_000);
    let base = candle_core::safetensors::load(
        common::minilm().dir.join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let rebuilt = candle_core::safetensors::load(
        tmp.path().join("clone/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(!rebuilt.keys().any(|n| n.contains(".lora_")));
    let values = |t: &candle_core::Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let query = "encoder.layer.3.attention.self.query.weight";
    let key = "encoder.layer.3.attention.self.key.weight";
    assert_ne!(values(&rebuilt[query]), values(&base[query]), "not merged");
    assert_eq!(values(&rebuilt[key]), values(&base[key]), "key changed");
}

/// `weights compress` turns a fully fine-tuned model into a directory of low-rank factors
/// that rebuilds from the base: at full rank it labels as the full model does (to float
/// rounding), which checks the factors, their layout and the merge; at rank 8 in f16 it is
/// a LoRA-sized file that rebuilds to its hashes, labels as it did before the rebuild and
/// refuses tampering (`delta_dir_rebuilds_from_the_base`); its manifest says what it
/// approximates; and a directory that is already rebuilt from its base is refused.
#[test]
fn full_finetune_compresses_to_low_rank_factors_that_rebuild_from_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let annotations = tmp.path().join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations, 25);
    let full = tmp.path().join("full");
    train_into(&annotations, &full);
    let compress = |out: &Path, extra: &[&str]| {
        frameshift()
            .args(["weights", "compress", "--model"])
            .arg(&full)
            .args(extra)
            .arg("--out")
            .arg(out)
            .assert()
            .success();
    };
    let text = tmp.path().join("speech.txt");
    std::fs::write(&text, TEXTS.join("\n\n")).unwrap();
    let scores = |model: &Path| -> Vec<f64> {
        label_rows(
            frameshift()
                .arg("label")
                .arg("--model")
                .arg(model)
                .arg(&text),
        )
        .iter()
        .flat_map(|r| {
            ["security", "crime", "human_rights", "gender"]
                .map(|f| r["scores"][f].as_f64().unwrap())
        })
        .collect()
    };
    let original = scores(&full);
    assert_eq!(original.len(), 12);

    // Full rank (MiniLM's matrices are 384 on their short side): exact up to rounding.
    // No iterations are needed there, as the random start spans everything.
    let exact = tmp.path().join("exact");
    compress(
        &exact,
        &["--rank", "384", "--iterations", "0", "--dtype", "f32"],
    );
    let m = manifest_of(&exact);
    let kept = m["compression"]["kept_min"].as_f64().unwrap();
    assert!(
        kept > 0.999_999,
        "full rank keeps all of the change: {kept}"
    );
    for (x, y) in scores(&exact).iter().zip(&original) {
        assert!(
            (x - y).abs() < 1e-4,
            "full-rank compression moved {y} to {x}"
        );
    }

    // Rank 8 in f16: small, rebuilt from the base, and it records what it approximates.
    let small = tmp.path().join("model");
    compress(&small, &["--rank", "8", "--name", "small-test"]);
    let m = manifest_of(&small);
    let full_manifest = manifest_of(&full);
    assert_eq!(m["name"], "small-test");
    assert_eq!(m["compression"]["rank"], 8);
    assert_eq!(m["compression"]["dtype"], "f16");
    assert_eq!(m["compression"]["source"], "minilm-finetuned");
    assert_eq!(
        m["compression"]["source_model_sha256"],
        full_manifest["files"]["model.safetensors"]
    );
    // MiniLM: 6 layers x 6 matrices (query, key, value, attention output, intermediate,
    // output) as factors.
    assert_eq!(m["compression"]["matrices"], 36);
    let kept = m["compression"]["kept_mean"].as_f64().unwrap();
    assert!(
        kept > 0.0 && kept < 1.0,
        "rank 8 keeps part of the change: {kept}"
    );
    assert_eq!(m["history"], full_manifest["history"]);
    let head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(small.join("head.json")).unwrap()).unwrap();
    assert_eq!(head["encoder"]["model"], "small-test");
    let trained = candle_core::safetensors::load(
        small.join("trained.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let a = &trained["encoder.layer.2.intermediate.dense.lora_A"];
    assert_eq!(a.dims(), [8, 384]);
    assert_eq!(a.dtype(), candle_core::DType::F16);
    assert_eq!(
        trained["encoder.layer.2.intermediate.dense.lora_B"].dims(),
        [1536, 8]
    );
    // MiniLM's trained tensors stored whole are biases, layer norms and embedding tables
    // (the position table is the largest, 0.8 MB); the factors add about 0.7 MB.
    delta_dir_rebuilds_from_the_base(tmp.path(), &small, 2_000_000);

    // A model already rebuilt from its base is not compressed again.
    let message = refusal(
        frameshift()
            .args(["weights", "compress", "--model"])
            .arg(&small)
            .arg("--out")
            .arg(tmp.path().join("again")),
    );
    assert!(
        message.contains("fully fine-tuned model"),
        "unexpected refusal: {message}"
    );
}

/// `eval --finetune --compress-rank R` writes, beside the full models' cross-validation,
/// the same folds' models compressed as `weights compress` compresses them (its default
/// rounds and f16 factors, recorded in the result): at full rank (384 for MiniLM) every
/// held-out paragraph's probabilities are the full fold model's to f16 rounding, so the
/// factors, the rebuild and the scoring with the full model's head line up.
#[test]
fn eval_compress_rank_scores_each_fold_model_compressed_beside_the_full_one() {
    let tmp = tempfile::tempdir().unwrap();
    let annotations = tmp.path().join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations, 25);
    let results = tmp.path().join("results");
    frameshift()
        .args([
            "eval",
            "--finetune",
            "--epochs",
            "1",
            "--compress-rank",
            "384",
        ])
        .arg("--annotations")
        .arg(&annotations)
        .arg("--results")
        .arg(&results)
        .assert()
        .success();
    let file = |suffix: &str| -> std::path::PathBuf {
        let mut hits: Vec<_> = std::fs::read_dir(&results)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        assert_eq!(hits.len(), 1, "one {suffix} in {}", results.display());
        hits.pop().unwrap()
    };
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("-minilm-finetuned.json")).unwrap())
            .unwrap();
    let compressed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(file("-minilm-finetuned-r384.json")).unwrap(),
    )
    .unwrap();
    assert!(full.get("compression").is_none());
    assert_eq!(compressed["model"], "minilm-finetuned-r384");
    let c = &compressed["compression"];
    assert_eq!(
        (c["rank"].as_u64(), c["iterations"].as_u64()),
        (Some(384), Some(6))
    );
    assert_eq!(c["dtype"], "f16");
    assert_eq!(c["by_fold"].as_array().unwrap().len(), 5);
    assert!(c["kept_mean"].as_f64().unwrap() > 0.999999, "{c}");
    let rows = |suffix: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(file(suffix))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (a, b) = (
        rows("-minilm-finetuned.scores.jsonl"),
        rows("-minilm-finetuned-r384.scores.jsonl"),
    );
    assert_eq!(a.len(), b.len());
    let mut tested = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["id"], y["id"]);
        if x["split"] != "test" {
            continue;
        }
        tested += 1;
        for frame in ["security", "crime", "human_rights", "gender"] {
            let (p, q) = (
                x["scores"][frame].as_f64().unwrap(),
                y["scores"][frame].as_f64().unwrap(),
            );
            assert!(
                (p - q).abs() < 1e-3,
                "{} {frame}: {p} full, {q} compressed",
                x["id"]
            );
        }
    }
    assert!(tested > 50, "{tested} held-out rows");
}

/// One epoch of `train --finetune FLAG` on every 25th annotation, into `tmp/model`: the
/// directory, its manifest and its `trained.safetensors`.
fn train_subset(
    tmp: &Path,
    flag: &str,
) -> (
    std::path::PathBuf,
    serde_json::Value,
    std::collections::HashMap<String, candle_core::Tensor>,
) {
    let annotations = tmp.join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations, 25);
    let dir = tmp.join("model");
    train_with(&annotations, &dir, &[flag]);
    let trained =
        candle_core::safetensors::load(dir.join("trained.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    (dir.clone(), manifest_of(&dir), trained)
}

/// A BitFit or LoRA directory `dir` just trained: its trained file is under `max_bytes`
/// and readable, its model is not the base; a copy without the derived files (what a
/// clone of the repository holds) is rebuilt from the base model on first use, as
/// `tmp/clone`, to the hashed bytes, and labels exactly as the original; a changed trained
/// file is refused.
fn delta_dir_rebuilds_from_the_base(tmp: &Path, dir: &Path, max_bytes: u64) {
    let manifest = manifest_of(dir);
    let trained_path = dir.join("trained.safetensors");
    // Readable like every other output (safetensors' own writer left them 0600).
    #[cfg(unix)]
    for file in ["trained.safetensors", "model.safetensors"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{file}: mode {mode:o}");
    }
    let size = std::fs::metadata(&trained_path).unwrap().len();
    assert!(size < max_bytes, "trained.safetensors is {size} bytes");
    let base = common::minilm();
    assert_ne!(
        manifest["files"]["model.safetensors"],
        base.files["model.safetensors"].as_str(),
        "the trained tensors did not move"
    );

    let text = tmp.join("speech.txt");
    std::fs::write(&text, TEXTS.join("\n\n")).unwrap();
    let label = |model: &Path| {
        label_rows(
            frameshift()
                .arg("label")
                .arg("--model")
                .arg(model)
                .arg(&text),
        )
    };
    let original = label(dir);
    assert_eq!(original.len(), 3, "one row per paragraph");

    // A clone holds the manifest, the head and the trained tensors only.
    let clone = tmp.join("clone");
    std::fs::create_dir_all(&clone).unwrap();
    for file in BITFIT_FILES {
        std::fs::copy(dir.join(file), clone.join(file)).unwrap();
    }
    assert_eq!(
        label(&clone),
        original,
        "the rebuilt model labels differently"
    );
    for file in ["model.safetensors", "config.json", "tokenizer.json"] {
        let sha = frameshift::weights::sha256_file(&clone.join(file)).unwrap();
        assert_eq!(manifest["files"][file], sha.as_str(), "rebuilt {file}");
    }

    // Trained tensors that are not the ones the manifest hashed are refused.
    let tampered = tmp.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    for file in ["manifest.json", "head.json"] {
        std::fs::copy(dir.join(file), tampered.join(file)).unwrap();
    }
    let mut changed =
        candle_core::safetensors::load(&trained_path, &candle_core::Device::Cpu).unwrap();
    let (name, t) = changed
        .iter()
        .next()
        .map(|(n, t)| (n.clone(), t.clone()))
        .unwrap();
    changed.insert(name, (t + 0.001).unwrap());
    candle_core::safetensors::save(&changed, tampered.join("trained.safetensors")).unwrap();
    let message = refusal(
        frameshift()
            .arg("label")
            .arg("--model")
            .arg(&tampered)
            .arg(&text),
    );
    assert!(
        message.contains("trained.safetensors"),
        "unexpected refusal: {message}"
    );
}

/// The files a clone of a BitFit or LoRA directory holds (the rest is rebuilt from the
/// base).
const BITFIT_FILES: [&str; 3] = ["manifest.json", "head.json", "trained.safetensors"];

/// `tmp/name`: a copy of the committed default classifier as a fresh clone holds it, not yet
/// rebuilt; and `tmp/speech.txt`, the three test paragraphs.
fn committed_bitfit_copy(tmp: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    committed_copy_of(tmp, "minilm-bitfit", name)
}

/// `tmp/name`: a copy of the committed BitFit model `weights/<model>/` as a fresh clone holds
/// it; and `tmp/speech.txt`, the three test paragraphs.
fn committed_copy_of(
    tmp: &Path,
    model: &str,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let committed = common::repo_root().join("weights").join(model);
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for file in BITFIT_FILES {
        std::fs::copy(committed.join(file), dir.join(file))
            .unwrap_or_else(|e| panic!("committed weights/{model}/{file}: {e}"));
    }
    let text = tmp.join("speech.txt");
    std::fs::write(&text, TEXTS.join("\n\n")).unwrap();
    (dir, text)
}

/// A BitFit directory, once loaded, holds the rebuilt weights and the trained tensors its
/// manifest hashes.
fn assert_rebuilt_to_manifest(dir: &Path, manifest: &serde_json::Value) {
    for file in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "trained.safetensors",
    ] {
        let sha = frameshift::weights::sha256_file(&dir.join(file)).unwrap();
        assert_eq!(manifest["files"][file], sha.as_str(), "{file}");
    }
}

/// The committed `weights/minilm-bitfit/` (the default classifier until 2026-12-04), as a
/// fresh clone holds it (manifest, head, trained tensors): it rebuilds from the fetched
/// MiniLM to the bytes its manifest hashes and labels the test paragraphs; and the first
/// of its four training epochs is reproduced: `frameshift train --finetune --bitfit
/// --stop-after-epochs 1` on the committed annotations, on the complete run's schedule,
/// logs the committed first epoch's training loss, validation loss and validation
/// macro-F1 (equal on one kind of CPU; within `RETRAIN_TOLERANCE` on another instruction
/// set, AVX2 against AVX-512, whose matrix kernels round differently), after the same 112
/// steps over the same rows and with the same options and data hashes. Those losses
/// average over every row of the epoch, so a change to the data, its order, tokenisation,
/// forward or backward pass, or the optimiser moves them. The complete retrain (about 25
/// minutes on 2 cores, too long for CI's 90 minutes on an AVX2 machine) is
/// `committed_bitfit_default_is_reproduced_by_a_complete_retrain`, run on demand.
#[test]
fn committed_bitfit_default_rebuilds_and_its_first_epoch_is_reproduced_by_train() {
    let committed = common::repo_root().join("weights/minilm-bitfit");
    let tmp = tempfile::tempdir().unwrap();
    let (clone, text) = committed_bitfit_copy(tmp.path(), "clone");
    let rows = label_rows(
        frameshift()
            .arg("label")
            .arg("--model")
            .arg(&clone)
            .arg(&text),
    );
    assert_eq!(rows.len(), 3, "one row per paragraph");
    let manifest = manifest_of(&clone);
    assert_rebuilt_to_manifest(&clone, &manifest);

    let partial = tmp.path().join("partial");
    let out = frameshift()
        .args([
            "train",
            "--finetune",
            "--bitfit",
            "--stop-after-epochs",
            "1",
            "--out",
        ])
        .arg(&partial)
        .assert()
        .success()
        .get_output()
        .clone();
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("stopped after 1 of 4 epochs"),
        "the partial run must say so: {note}"
    );
    let mut m = manifest_of(&partial);
    let n = manifest_of(&committed);
    assert_eq!(m["options"]["stop_after_epochs"], 1, "recorded as partial");
    m["options"]
        .as_object_mut()
        .unwrap()
        .remove("stop_after_epochs");
    for key in [
        "name",
        "architecture",
        "dim",
        "max_tokens",
        "base",
        "data",
        "options",
        "train_rows",
        "validation_rows",
    ] {
        assert_eq!(m[key], n[key], "{key}");
    }
    let epochs = n["history"].as_array().unwrap().len() as u64;
    assert_eq!(epochs, 4, "the committed run trained all four epochs");
    assert_eq!(
        m["steps"].as_u64().unwrap() * epochs,
        n["steps"].as_u64().unwrap()
    );
    let history = m["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "one epoch logged");
    common::json_close(
        &history[0],
        &n["history"][0],
        RETRAIN_TOLERANCE,
        "history[0]",
    )
    .unwrap_or_else(|e| panic!("the first epoch differs from the committed one: {e}"));
}

/// The committed `weights/minilm-bitfit/` is what `frameshift train --finetune --bitfit`
/// writes from the committed annotations: the same three files byte for byte on one kind
/// of CPU; on another instruction set every tensor, head weight and logged loss within
/// `RETRAIN_TOLERANCE` and everything else (shapes, names, epochs, thresholds, data hashes)
/// equal, only the hashes of the trained and rebuilt tensors allowed to differ. About 25
/// minutes on 2 cores (estimated from the finetune suite's times with and without it), so
/// CI runs only its first epoch (`committed_bitfit_default_rebuilds_and_its_first_epoch_is_reproduced_by_train`).
#[test]
#[ignore = "complete retrain of minilm-bitfit, about 25 min on 2 cores; CI runs its first epoch. \
            Run: cargo test --test finetune -- --ignored committed_bitfit_default_is_reproduced"]
fn committed_bitfit_default_is_reproduced_by_a_complete_retrain() {
    let committed = common::repo_root().join("weights/minilm-bitfit");
    let tmp = tempfile::tempdir().unwrap();
    let retrained = tmp.path().join("retrained");
    frameshift()
        .args(["train", "--finetune", "--bitfit", "--out"])
        .arg(&retrained)
        .assert()
        .success();
    let same = |file: &str| {
        std::fs::read(committed.join(file)).unwrap() == std::fs::read(retrained.join(file)).unwrap()
    };
    if ["trained.safetensors", "head.json", "manifest.json"]
        .iter()
        .all(|f| same(f))
    {
        return;
    }
    assert_retrained_within_tolerance(&committed, &retrained);
}

/// How far a BitFit model retrained on a CPU of another instruction set may be from the
/// committed one, per float (absolute below 1, relative above; `common::json_close`).
/// The same bound as the other reproduction tests (`tests/train_eval_reproduce.rs`).
const RETRAIN_TOLERANCE: f64 = 1e-3;

/// The cross-CPU comparison of `committed_bitfit_default_is_reproduced_by_a_complete_retrain`.
fn assert_retrained_within_tolerance(committed: &Path, retrained: &Path) {
    let cpu = candle_core::Device::Cpu;
    let load =
        |dir: &Path| candle_core::safetensors::load(dir.join("trained.safetensors"), &cpu).unwrap();
    let (a, b) = (load(committed), load(retrained));
    let names = |m: &std::collections::HashMap<String, candle_core::Tensor>| {
        let mut n: Vec<String> = m.keys().cloned().collect();
        n.sort();
        n
    };
    assert_eq!(names(&a), names(&b), "retrained tensor names");
    for (name, t) in &a {
        let u = &b[name];
        assert_eq!(t.dims(), u.dims(), "{name}: shape");
        let x: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = u.flatten_all().unwrap().to_vec1().unwrap();
        for (i, (p, q)) in x.iter().zip(&y).enumerate() {
            let (p, q) = (*p as f64, *q as f64);
            assert!(
                (p - q).abs() <= RETRAIN_TOLERANCE * p.abs().max(q.abs()).max(1.0),
                "{name}[{i}]: retrained {q}, committed {p}"
            );
        }
    }
    let json = |dir: &Path, file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
    };
    // The hashes of the trained tensors and of the model rebuilt from them hash floats, and
    // so does the encoder fingerprint the head records (a hash over those file hashes);
    // everything else in head and manifest must agree.
    let head = |dir: &Path| {
        let mut h = json(dir, "head.json");
        h["encoder"]["fingerprint"] = serde_json::Value::Null;
        for file in ["trained.safetensors", "model.safetensors"] {
            h["encoder"]["files"][file] = serde_json::Value::Null;
        }
        h
    };
    common::json_close(
        &head(retrained),
        &head(committed),
        RETRAIN_TOLERANCE,
        "head.json",
    )
    .unwrap_or_else(|e| panic!("retrained head differs from the committed one: {e}"));
    let manifest = |dir: &Path| {
        let mut m = manifest_of(dir);
        for file in ["trained.safetensors", "model.safetensors"] {
            m["files"][file] = serde_json::Value::Null;
        }
        m
    };
    let (m, n) = (manifest(retrained), manifest(committed));
    common::json_close(&m, &n, RETRAIN_TOLERANCE, "manifest.json")
        .unwrap_or_else(|e| panic!("retrained manifest differs from the committed one: {e}"));
}

/// Regression (CI of ad64f1d, on an AVX2-only machine): the cross-CPU comparison of a
/// complete retrain passed every trained tensor, then failed on head.json's
/// `encoder.files.model.safetensors`, a hash of the rebuilt floats it had left out of the
/// manifest comparison only. A copy of the committed model as another CPU writes it
/// (tensors and floats moved in the last digits, the hashes of trained and rebuilt tensors
/// and the fingerprint over them different) must pass; a moved threshold, a tensor moved
/// by 1e-2, or another hash (of the tokenizer) must still fail. Needs no training.
#[test]
fn retrain_comparison_across_cpus_leaves_out_the_float_hashes_in_head_json_too() {
    let committed = common::repo_root().join("weights/minilm-bitfit");
    let tmp = tempfile::tempdir().unwrap();
    let json = |dir: &Path, file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
    };
    // `committed` rewritten as another CPU would: every trained value scaled by `1 + eps`
    // (plus `shift` on the first), one head weight and one logged loss moved by 1e-6.
    let other_cpu = |name: &str, eps: f32, shift: f32| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let cpu = candle_core::Device::Cpu;
        let tensors =
            candle_core::safetensors::load(committed.join("trained.safetensors"), &cpu).unwrap();
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let first = names[0].clone();
        let moved: std::collections::HashMap<String, candle_core::Tensor> = tensors
            .iter()
            .map(|(n, t)| {
                let mut v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                for x in v.iter_mut() {
                    *x *= 1.0 + eps;
                }
                if *n == first {
                    v[0] += shift;
                }
                let t = candle_core::Tensor::from_vec(v, t.dims(), &cpu).unwrap();
                (n.clone(), t)
            })
            .collect();
        candle_core::safetensors::save(&moved, dir.join("trained.safetensors")).unwrap();
        let mut head = json(&committed, "head.json");
        head["encoder"]["fingerprint"] = "0".repeat(64).into();
        head["encoder"]["files"]["model.safetensors"] = "1".repeat(64).into();
        head["encoder"]["files"]["trained.safetensors"] = "2".repeat(64).into();
        let w = &mut head["head"]["frames"][0]["model"]["weights"][0];
        *w = (w.as_f64().unwrap() + 1e-6).into();
        let mut manifest = json(&committed, "manifest.json");
        manifest["files"]["model.safetensors"] = "1".repeat(64).into();
        manifest["files"]["trained.safetensors"] = "2".repeat(64).into();
        let l = &mut manifest["history"][0]["train_loss"];
        *l = (l.as_f64().unwrap() + 1e-6).into();
        (dir, head, manifest)
    };
    let write = |dir: &Path, head: &serde_json::Value, manifest: &serde_json::Value| {
        std::fs::write(dir.join("head.json"), head.to_string()).unwrap();
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    };
    let fails = |dir: &Path| {
        let (c, d) = (committed.clone(), dir.to_path_buf());
        std::panic::catch_unwind(move || assert_retrained_within_tolerance(&c, &d)).is_err()
    };

    let (dir, head, manifest) = other_cpu("drift", 1e-6, 0.0);
    write(&dir, &head, &manifest);
    assert_retrained_within_tolerance(&committed, &dir);

    let mut moved_threshold = head.clone();
    moved_threshold["head"]["frames"][0]["threshold"] = 0.35.into();
    write(&dir, &moved_threshold, &manifest);
    assert!(fails(&dir), "a threshold moved by 0.01 must fail");

    let mut other_tokenizer = manifest.clone();
    other_tokenizer["files"]["tokenizer.json"] = "3".repeat(64).into();
    write(&dir, &head, &other_tokenizer);
    assert!(fails(&dir), "another tokenizer hash must fail");

    let (far, head, manifest) = other_cpu("far", 1e-6, 1e-2);
    write(&far, &head, &manifest);
    assert!(fails(&far), "a trained value moved by 1e-2 must fail");
}

/// The committed BitFit MPNet, `weights/mpnet-bitfit/` (trained on an H200, README "BitFit
/// MPNet"; a CPU rerun takes about 50 minutes and rounds differently, so it is not rerun
/// here), as a fresh clone holds it: it rebuilds from the fetched all-mpnet-base-v2 to the
/// bytes its manifest hashes, names the base it was trained from, and labels the three test
/// paragraphs as the codebook does (terrorist groups: security; trafficking and prosecution:
/// crime; sexual violence against women and girls, human rights: gender and human rights).
#[test]
fn committed_mpnet_bitfit_rebuilds_from_mpnet_and_labels() {
    // Trained on the committed annotations alone (the pending batch is not in it).
    check_committed_mpnet_bitfit("mpnet-bitfit", &["datasets/annotations"]);
}

/// The same for `weights/mpnet-bitfit-1946/`, the default's recipe trained on the
/// annotations and the pre-1990 batch of `datasets/pending/` (README "How does it do before
/// 1990?"; 64 to 76 minutes on 2 CPU cores with `--micro-batch 4`, not rerun here): its manifest
/// names it and that data set, so runs made with it are told apart from the default's.
#[test]
fn committed_mpnet_bitfit_1946_rebuilds_from_mpnet_and_labels() {
    check_committed_mpnet_bitfit(
        "mpnet-bitfit-1946",
        &["datasets/annotations", "datasets/pending"],
    );
}

/// The committed `weights/mpnet-finetuned-r64/`: MPNet fully fine-tuned on the annotations
/// on 2 CPU cores (71 min with `--micro-batch 4`; the 438 MB result is not distributed) and
/// compressed by `weights compress --rank 64` into 23 MB of f16 factors and whole tensors
/// (README "Fine-tuned MPNet, compressed"). As a fresh clone holds it, it rebuilds from the
/// fetched MPNet to the bytes its manifest hashes and labels the test paragraphs; its
/// manifest records the compression and the full model's hash.
#[test]
fn committed_mpnet_finetuned_r64_rebuilds_from_mpnet_and_labels() {
    check_committed_mpnet("mpnet-finetuned-r64", &["datasets/annotations"], "all");
    let manifest = manifest_of(&common::repo_root().join("weights/mpnet-finetuned-r64"));
    assert_eq!(manifest["compression"]["rank"], 64);
    assert_eq!(manifest["compression"]["source"], "mpnet-finetuned");
    assert_eq!(manifest["compression"]["matrices"], 72);
}

/// A committed BitFit MPNet `weights/<model>/`, copied as a fresh clone holds it, is named
/// `model`, was trained on the annotation directories `data` read as one set and from the
/// fetched MPNet, rebuilds to the bytes its manifest hashes and labels the test paragraphs.
fn check_committed_mpnet_bitfit(model: &str, data: &[&str]) {
    check_committed_mpnet(model, data, "bias");
}

/// [`check_committed_mpnet_bitfit`] for a committed MPNet model trained with `scope`
/// (`bias` for BitFit, `all` for a fully fine-tuned model committed compressed).
fn check_committed_mpnet(model: &str, data: &[&str], scope: &str) {
    let mpnet = common::mpnet();
    let tmp = tempfile::tempdir().unwrap();
    let (clone, text) = committed_copy_of(tmp.path(), model, "clone");
    let manifest = manifest_of(&clone);
    assert_eq!(manifest["name"], model);
    assert_eq!(manifest["architecture"], "mpnet");
    // A fully fine-tuned model's options leave the scope out (it is the default, `all`).
    assert_eq!(
        manifest["options"]["scope"].as_str().unwrap_or("all"),
        scope
    );
    assert_eq!(manifest["base"]["model"], "mpnet");
    let dirs: Vec<std::path::PathBuf> = data.iter().map(|d| common::repo_root().join(d)).collect();
    let annotations = frameshift::dataset::read_annotation_dirs(&dirs).unwrap();
    assert_eq!(
        manifest["data"]["annotations_sha256"],
        annotations.sha256.as_str()
    );
    assert_eq!(manifest["data"]["paragraphs"], annotations.items.len());
    for (file, sha) in &mpnet.files {
        assert_eq!(manifest["base"]["files"][file], sha.as_str(), "base {file}");
    }
    let rows = label_rows(
        common::frameshift_on_annotations(&mpnet)
            .arg("label")
            .arg("--model")
            .arg(&clone)
            .arg(&text),
    );
    assert_rebuilt_to_manifest(&clone, &manifest);
    let labels: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| {
            let mut l: Vec<&str> = r["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            l.sort();
            l
        })
        .collect();
    assert_eq!(
        labels,
        vec![
            vec!["crime", "security"],
            vec!["crime"],
            vec!["gender", "human_rights"]
        ]
    );
}

/// Regression: a BitFit directory whose full weights had been rebuilt once labelled without
/// its base model, so a missing base was reported on a fresh clone and not on a machine
/// that had run the model before. The base is required either way.
#[test]
fn rebuilt_bitfit_dir_still_needs_its_base() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, text) = committed_bitfit_copy(tmp.path(), "bitfit");
    label_rows(
        frameshift()
            .arg("label")
            .arg("--model")
            .arg(&dir)
            .arg(&text),
    );
    assert!(dir.join("model.safetensors").is_file(), "not rebuilt");

    let empty = tmp.path().join("no-weights");
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::cargo_bin("frameshift")
        .unwrap()
        .env_remove("FRAMESHIFT_WEIGHTS")
        .env("FRAMESHIFT_WEIGHTS_ROOT", &empty)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", common::test_cache_dir())
        .arg("label")
        .arg("--model")
        .arg(&dir)
        .arg(&text)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let message = String::from_utf8_lossy(&out);
    assert!(
        message.contains("frameshift weights fetch --model minilm"),
        "unexpected message: {message}"
    );
}

/// MPNet fine-tunes through the same command (its own differentiable forward pass) and the
/// result loads as an MPNet model directory. A few dozen paragraphs and one epoch: this is
/// the plumbing, on the CPU; the cross-validated run took 4 min on an H100
/// (eval/results/gpu-h100/). Batches run in parts of 4 rows (`--micro-batch`, which keeps
/// this test's memory down beside the others), and the manifest records it.
#[test]
fn mpnet_finetune_writes_a_model_dir_that_loads_as_mpnet() {
    let tmp = tempfile::tempdir().unwrap();
    let annotations = tmp.path().join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations, 60);
    let dir = tmp.path().join("mpnet-tuned");
    let mpnet = common::mpnet();
    common::frameshift_on_annotations(&mpnet)
        .args(["train", "--finetune", "--model", "mpnet", "--epochs", "1"])
        .args(["--micro-batch", "4", "--name", "mpnet-test-run"])
        .arg("--annotations")
        .arg(&annotations)
        .arg("--out")
        .arg(&dir)
        .assert()
        .success();
    let manifest = manifest_of(&dir);
    // --name replaces the recipe's name (mpnet-finetuned) in the manifest.
    assert_eq!(manifest["name"], "mpnet-test-run");
    assert_eq!(manifest["options"]["micro_batch_rows"], 4);
    assert_eq!(manifest["architecture"], "mpnet");
    assert_eq!(manifest["base"]["model"], "mpnet");
    assert_eq!(manifest["dim"], 768);
    assert_ne!(
        manifest["files"]["model.safetensors"],
        mpnet.files["model.safetensors"].as_str(),
        "the encoder did not move"
    );
    let text = tmp.path().join("speech.txt");
    std::fs::write(&text, TEXTS.join("\n\n")).unwrap();
    let rows = label_rows(
        common::frameshift_on_annotations(&mpnet)
            .arg("label")
            .arg("--model")
            .arg(&dir)
            .arg(&text),
    );
    assert_eq!(rows.len(), 3, "one row per paragraph");
    for r in &rows {
        let p = r["scores"]["human_rights"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "probability {p}");
    }
}

/// `train --finetune --name` refuses, before any training, a base model's name (its default
/// directory would be the fetched base weights) and names that `--model` would read as a
/// path or an ensemble.
#[test]
fn finetune_name_of_a_base_model_or_an_ensemble_is_refused_before_training() {
    let err = refusal(frameshift().args(["train", "--finetune", "--name", "minilm"]));
    assert!(err.contains("base model's name"), "{err}");
    for bad in ["a+b", "x/y"] {
        let err = refusal(frameshift().args(["train", "--finetune", "--name", bad]));
        assert!(err.contains("letters, digits"), "{bad}: {err}");
    }
    let err = refusal(frameshift().args(["train", "--name", "m"]));
    assert!(err.contains("--finetune"), "{err}");
}

/// `frameshift` in a home of its own: the repository's datasets and model registry, the real
/// weights, and `tuned` as `weights/minilm-finetuned`, so an ensemble naming its members
/// finds this test's fine-tuned model (not whatever a developer's checkout holds).
fn frameshift_in(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("frameshift").unwrap();
    let weights_root = common::mpnet().dir.parent().unwrap().to_path_buf();
    // The corpus the annotations refer to stays where the repository's home expects it.
    let corpus = common::shared_corpus(common::ANNOTATED_CORPORA);
    cmd.env("FRAMESHIFT_HOME", home)
        .env("FRAMESHIFT_CORPUS", corpus)
        .env("FRAMESHIFT_WEIGHTS_ROOT", weights_root)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", common::test_cache_dir())
        .env_remove("FRAMESHIFT_WEIGHTS")
        .env_remove("FRAMESHIFT_MODEL")
        .arg("-q");
    cmd
}

fn label_rows(cmd: &mut Command) -> Vec<serde_json::Value> {
    let out = cmd
        .args(["--format", "jsonl"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `train --ensemble-with` builds the runnable ensemble of MPNet's head and a fine-tuned
/// MiniLM; `label` and `eval --gold` run it as the mean of its members' probabilities at its
/// own thresholds; rebuilding gives the same bytes; a member on other weights is refused.
#[test]
#[cfg(unix)]
fn ensemble_is_the_mean_of_its_members_and_runs_like_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    let annotations = tmp.path().join("annotations");
    std::fs::create_dir_all(&annotations).unwrap();
    annotation_subset(&annotations, 25);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("weights/heads")).unwrap();
    let repo = common::repo_root();
    std::os::unix::fs::symlink(repo.join("datasets"), home.join("datasets")).unwrap();
    std::os::unix::fs::symlink(
        repo.join("weights/models.toml"),
        home.join("weights/models.toml"),
    )
    .unwrap();
    train_into(&annotations, &home.join("weights/minilm-finetuned"));

    let build = |out: &Path| {
        frameshift_in(&home)
            .args([
                "train",
                "--model",
                "mpnet",
                "--ensemble-with",
                "minilm-finetuned",
            ])
            .arg("--annotations")
            .arg(&annotations)
            .arg("--out")
            .arg(out)
            .assert()
            .success();
    };
    let record = home.join("weights/heads/mpnet+minilm-finetuned.json");
    build(&record);
    let again = tmp.path().join("again.json");
    build(&again);
    assert!(
        std::fs::read(&record).unwrap() == std::fs::read(&again).unwrap(),
        "two builds of the same ensemble differ"
    );

    // The record: the MPNet head trained without the fine-tuned model's validation
    // documents, the fine-tuned model's own head, thresholds chosen on those documents.
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("weights/minilm-finetuned/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(e["name"], "mpnet+minilm-finetuned");
    let members = e["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["encoder"]["model"], "mpnet");
    let tuned_head: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("weights/minilm-finetuned/head.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        members[1], tuned_head,
        "the fine-tuned member is its own head"
    );
    assert_eq!(e["validation"]["paragraphs"], manifest["validation_rows"]);
    let all = e["data"]["paragraphs"].as_u64().unwrap();
    assert_eq!(
        members[0]["data"]["paragraphs"].as_u64().unwrap(),
        all - manifest["validation_rows"].as_u64().unwrap(),
        "the MPNet member must not train on the validation documents"
    );
    let frames = ["security", "crime", "human_rights", "gender"];
    let thresholds: Vec<f64> = (0..4)
        .map(|i| e["thresholds"][i].as_f64().unwrap())
        .collect();
    assert!(thresholds.iter().all(|t| (0.05..=0.95).contains(t)));

    // `label --model mpnet+minilm-finetuned` = the mean of the members run one by one.
    let text = tmp.path().join("speech.txt");
    std::fs::write(&text, TEXTS.join("\n\n")).unwrap();
    let both = label_rows(
        frameshift_in(&home)
            .args(["label", "--model", "mpnet+minilm-finetuned"])
            .arg(&text),
    );
    let member_head = tmp.path().join("mpnet-member.json");
    std::fs::write(&member_head, serde_json::to_string(&members[0]).unwrap()).unwrap();
    let mpnet = label_rows(
        frameshift_in(&home)
            .args(["label", "--model", "mpnet", "--head"])
            .arg(&member_head)
            .arg(&text),
    );
    let tuned = label_rows(
        frameshift_in(&home)
            .args(["label", "--model", "minilm-finetuned"])
            .arg(&text),
    );
    assert_eq!(both.len(), 3);
    for ((b, m), t) in both.iter().zip(&mpnet).zip(&tuned) {
        for (i, f) in frames.iter().enumerate() {
            let (pb, pm, pt) = (
                b["scores"][f].as_f64().unwrap(),
                m["scores"][f].as_f64().unwrap(),
                t["scores"][f].as_f64().unwrap(),
            );
            assert!(
                (pb - (pm + pt) / 2.0).abs() < 1e-6,
                "{f}: ensemble {pb}, members {pm} and {pt}"
            );
            let labelled = b["labels"].as_array().unwrap().iter().any(|l| l == f);
            assert_eq!(labelled, pb >= thresholds[i] - 1e-6, "{f} at {pb}");
        }
    }

    // `eval --gold` scores it, naming the ensemble record.
    let gold = tmp.path().join("gold.jsonl");
    std::fs::write(
        &gold,
        TEXTS
            .iter()
            .zip([
                r#"["security"]"#,
                r#"["crime"]"#,
                r#"["human_rights","gender"]"#,
            ])
            .map(|(t, l)| format!("{{\"text\": {}, \"labels\": {l}}}\n", serde_json::json!(t)))
            .collect::<String>(),
    )
    .unwrap();
    let out = frameshift_in(&home)
        .args(["eval", "--model", "mpnet+minilm-finetuned", "--gold"])
        .arg(&gold)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["method"], "head");
    assert_eq!(
        report["head_sha256"],
        frameshift::weights::sha256_file(&record).unwrap().as_str()
    );
    assert_eq!(report["n"], 3);

    // A member whose encoder is not the one its head was trained on is refused.
    let mut forged = e.clone();
    forged["members"][1]["encoder"]["fingerprint"] = "0".repeat(64).into();
    std::fs::write(&record, serde_json::to_string(&forged).unwrap()).unwrap();
    let message = refusal(
        frameshift_in(&home)
            .args(["label", "--model", "mpnet+minilm-finetuned"])
            .arg(&text),
    );
    assert!(
        message.contains("member 2") && message.contains("was trained on encoder"),
        "unexpected refusal: {message}"
    );
}
