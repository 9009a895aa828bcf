//! The weights resolver against broken setups: wrong hashes, missing files, and a hub that
//! refuses connections or accepts them and never answers. All network traffic stays on
//! loopback.

use frameshift::weights::{resolve, Registry, ResolveOptions, WeightsError};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

fn tiny_spec(files: &[(&str, &str)]) -> frameshift::weights::ModelSpec {
    let mut spec = Registry::builtin().get(Some("minilm")).unwrap().clone();
    spec.name = "tiny".into();
    spec.pypi.clear(); // no PyPI step: these tests are about the other steps
    spec.files = files
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    spec
}

fn opts(root: &Path, endpoint: String) -> ResolveOptions {
    ResolveOptions {
        explicit_dir: None,
        root: root.to_path_buf(),
        allow_download: true,
        hub_endpoint: endpoint,
        hub_timeout: Duration::from_secs(2),
        hub_offline: false,
        python: "python3".into(),
    }
}

const SHA_HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

#[test]
fn hash_mismatch_in_local_dir_is_an_error_naming_file_and_hashes() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("tiny")).unwrap();
    std::fs::write(root.path().join("tiny/model.bin"), b"tampered").unwrap();
    let spec = tiny_spec(&[("model.bin", SHA_HELLO)]);
    let err = resolve(&spec, &opts(root.path(), "http://127.0.0.1:9".into())).unwrap_err();
    match &err {
        WeightsError::HashMismatch {
            path,
            expected,
            actual,
        } => {
            assert!(path.ends_with("model.bin"));
            assert_eq!(expected, SHA_HELLO);
            assert_ne!(actual, SHA_HELLO);
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
}

#[test]
fn matching_local_files_resolve_without_network() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("tiny")).unwrap();
    std::fs::write(root.path().join("tiny/model.bin"), b"hello").unwrap();
    let spec = tiny_spec(&[("model.bin", SHA_HELLO)]);
    let found = resolve(&spec, &opts(root.path(), "http://127.0.0.1:9".into())).unwrap();
    assert_eq!(found.files["model.bin"], SHA_HELLO);
}

#[test]
fn missing_files_with_refusing_hub_fail_fast_with_instructions() {
    // Bind then drop: the port is (almost certainly) closed, so connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = tempfile::tempdir().unwrap();
    let spec = tiny_spec(&[("model.bin", SHA_HELLO)]);
    let started = Instant::now();
    let err = resolve(
        &spec,
        &opts(root.path(), format!("http://127.0.0.1:{port}")),
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let msg = err.to_string();
    assert!(
        msg.contains("frameshift weights fetch --model tiny"),
        "{msg}"
    );
    assert!(msg.contains("hub: unreachable"), "{msg}");
}

#[test]
fn silent_hub_that_never_answers_is_given_up_within_seconds() {
    // Accepts connections and never writes a byte: the case that hangs naive clients.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(8);
        while Instant::now() < until {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let root = tempfile::tempdir().unwrap();
    let spec = tiny_spec(&[("model.bin", SHA_HELLO)]);
    let started = Instant::now();
    let err = resolve(
        &spec,
        &opts(root.path(), format!("http://127.0.0.1:{port}")),
    )
    .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "gave up only after {took:?}");
    assert!(matches!(err, WeightsError::NotFound { .. }), "{err}");
    holder.join().unwrap();
}

#[test]
fn partial_download_dir_is_not_mistaken_for_a_model() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("tiny")).unwrap();
    std::fs::write(root.path().join("tiny/model.bin"), b"hello").unwrap();
    let spec = tiny_spec(&[("model.bin", SHA_HELLO), ("tokenizer.json", SHA_HELLO)]);
    let mut o = opts(root.path(), "http://127.0.0.1:9".into());
    o.allow_download = false;
    let err = resolve(&spec, &o).unwrap_err();
    assert!(matches!(err, WeightsError::NotFound { .. }), "{err}");
}
