//! Corpus readers: files on disk (or stdin) -> [`Document`]s with metadata.
//!
//! Takes paths (files, directories searched recursively, or `-` for stdin) and gives a
//! [`ReadOutcome`]: documents sorted by a stable key, plus per-file failures and warnings.
//! Reading never stops for one bad file: a scholar running the whole corpus wants every
//! readable document written and the bad ones listed, not a batch that dies on file 1,712.
//!
//! What each file is, is decided from its name first (names are how the shared corpora
//! identify documents) and from its content second:
//! - `S-RES-<n>(<year>).txt`, or text opening with a resolution heading: a resolution,
//!   symbol `S/RES/<n> (<year>)`;
//! - `<ISO3>_<session>_<year>.txt`: a General Assembly general-debate speech, symbol
//!   `UNGD/<session>/<ISO3>` (e.g. `UNGD/72/USA`), country = the ISO3 code;
//! - text with speaker turns (`The President:`, `Mr. X (Spain) (spoke in Spanish):`) and
//!   procedural lines: a Security Council meeting record, symbol `S/PV.<n>` when the text
//!   names it, else the file stem;
//! - `.jsonl` / `.csv`: one document per record, `text` column plus metadata columns;
//! - any other text: kind `other`, symbol = the file stem.
//!
//! Bytes are decoded here, once: invalid UTF-8 is decoded as Windows-1252 when it has no
//! valid multi-byte UTF-8 at all (the older corpus files are cp1252: `matériel`), else
//! lossily; either way with a warning naming the file. Binary files are refused.

use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// What kind of text a document is; decides how it is segmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Resolution,
    MeetingRecord,
    Speech,
    Other,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Resolution => "resolution",
            DocKind::MeetingRecord => "meeting_record",
            DocKind::Speech => "speech",
            DocKind::Other => "other",
        }
    }

    /// The kind of document a paragraph id of `frameshift segment` belongs to, from the
    /// id's form: `S/RES/...` for resolutions, `UNGD/...` for General Assembly speeches,
    /// anything else `Other`.
    pub fn of_paragraph_id(id: &str) -> DocKind {
        if id.starts_with("S/RES/") {
            DocKind::Resolution
        } else if id.starts_with("UNGD/") {
            DocKind::Speech
        } else {
            DocKind::Other
        }
    }

    /// A kind as a person writes it (`speech`, `Meeting record`, `pv`, ...).
    pub fn parse(s: &str) -> Option<DocKind> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "resolution" => Some(DocKind::Resolution),
            "meeting_record" | "meeting" | "pv" => Some(DocKind::MeetingRecord),
            "speech" => Some(DocKind::Speech),
            "other" | "text" => Some(DocKind::Other),
            _ => None,
        }
    }
}

/// One input document with its metadata. `text` is the decoded text as read (CRLF and
/// furniture still in it); cleaning is the segmenter's job so that it can be tested alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier: `S/RES/1325 (2000)`, `UNGD/72/USA`, `S/PV.9999`, or a file stem.
    pub symbol: String,
    pub kind: DocKind,
    /// Resolution number or meeting number.
    pub number: Option<u32>,
    pub year: Option<i32>,
    /// ISO date (`2000-10-31`) when the text or metadata states one.
    pub date: Option<String>,
    pub title: Option<String>,
    pub speaker: Option<String>,
    /// Country (ISO3 code for speeches; as written for meeting-record speakers).
    pub country: Option<String>,
    /// General Assembly session for speeches.
    pub session: Option<u32>,
    /// Where it came from (`-` for stdin; `file.jsonl:12` for a record of a JSONL file).
    pub source: PathBuf,
    pub text: String,
    /// Every other metadata column or field, verbatim.
    pub meta: BTreeMap<String, String>,
}

impl Document {
    /// A document with only a symbol, kind and text; metadata left empty.
    pub fn new(symbol: impl Into<String>, kind: DocKind, text: impl Into<String>) -> Self {
        Document {
            symbol: symbol.into(),
            kind,
            number: None,
            year: None,
            date: None,
            title: None,
            speaker: None,
            country: None,
            session: None,
            source: PathBuf::new(),
            text: text.into(),
            meta: BTreeMap::new(),
        }
    }

    /// Sort key: kind, then year, then number, then symbol, then source. Puts resolutions
    /// in numeric order (1, 2, ..., 10) rather than string order.
    pub fn sort_key(&self) -> (DocKind, i32, u32, String, PathBuf) {
        (
            self.kind,
            self.year.unwrap_or(i32::MAX),
            self.number.unwrap_or(u32::MAX),
            self.symbol.clone(),
            self.source.clone(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: refused: looks like a binary file ({reason}), not text")]
    Binary { path: String, reason: String },
    #[error("{path}: line {line}: {message}")]
    Record {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Unsupported { path: String, message: String },
    /// Two sources give one document symbol: counting both would give that document double
    /// weight (or merge two different texts), so only the first is kept.
    #[error("{path}: skipped: document `{symbol}` was already read from {first}")]
    Duplicate {
        path: String,
        symbol: String,
        first: String,
    },
}

/// A file that could not be read or was refused; the rest of the batch goes on.
#[derive(Debug)]
pub struct FileFailure {
    pub path: PathBuf,
    pub error: CorpusError,
}

/// Something worth telling the user that did not stop a file from being read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileWarning {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for FileWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// Everything a read produced: documents (sorted by [`Document::sort_key`]), failures and
/// warnings (sorted by path).
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub documents: Vec<Document>,
    pub failures: Vec<FileFailure>,
    pub warnings: Vec<FileWarning>,
}

/// Read every path: files directly, directories recursively (files in sorted order, read in
/// parallel with rayon), `-` from stdin. A file named twice (or inside a directory also
/// named) is read once, with a warning; a document symbol that a second source gives again
/// is a failure of that source (see [`CorpusError::Duplicate`]).
pub fn read_paths(paths: &[PathBuf]) -> ReadOutcome {
    let mut files = Vec::new();
    let mut outcome = ReadOutcome::default();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
        } else if path.is_dir() {
            if let Err(error) = walk(path, &mut files) {
                outcome.failures.push(FileFailure {
                    path: path.clone(),
                    error,
                });
            }
        } else {
            files.push(path.clone());
        }
    }
    let files = read_once(files, &mut outcome.warnings);
    let results: Vec<(PathBuf, Result<FileRead, CorpusError>)> = files
        .par_iter()
        .map(|path| {
            let res = if path.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .map_err(|source| CorpusError::Io {
                        path: "-".into(),
                        source,
                    })
                    .and_then(|_| read_bytes(path, &bytes))
            } else {
                read_file(path)
            };
            (path.clone(), res)
        })
        .collect();
    // In the order the files were named, so which copy of a repeated symbol is kept does
    // not depend on the thread schedule.
    let mut first_source: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, res) in results {
        match res {
            Ok(read) => {
                for doc in read.documents {
                    match first_source.get(&doc.symbol) {
                        Some(first) => outcome.failures.push(FileFailure {
                            path: doc.source.clone(),
                            error: CorpusError::Duplicate {
                                path: doc.source.display().to_string(),
                                symbol: doc.symbol,
                                first: first.display().to_string(),
                            },
                        }),
                        None => {
                            first_source.insert(doc.symbol.clone(), doc.source.clone());
                            outcome.documents.push(doc);
                        }
                    }
                }
                outcome.warnings.extend(read.warnings);
            }
            Err(error) => outcome.failures.push(FileFailure { path, error }),
        }
    }
    outcome.documents.sort_by_key(Document::sort_key);
    outcome.warnings.sort();
    outcome.failures.sort_by(|a, b| a.path.cmp(&b.path));
    outcome
}

/// `files` without repeats (the same file by its canonical path), first naming kept; each
/// repeat is a warning. Stdin (`-`) is never a repeat.
fn read_once(files: Vec<PathBuf>, warnings: &mut Vec<FileWarning>) -> Vec<PathBuf> {
    let mut seen: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut kept = Vec::with_capacity(files.len());
    for path in files {
        if path.as_os_str() == "-" {
            kept.push(path);
            continue;
        }
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        match seen.get(&canonical) {
            Some(first) => warnings.push(FileWarning {
                message: format!(
                    "named more than once (also as {}); read once",
                    first.display()
                ),
                path,
            }),
            None => {
                seen.insert(canonical, path.clone());
                kept.push(path);
            }
        }
    }
    kept
}

/// Collect regular files under `dir`, skipping hidden entries (`.git`, editor files).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    let io = |source| CorpusError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, out)?;
        } else if has_input_extension(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// Extensions read when walking a directory (`.txt`, `.jsonl`/`.ndjson`, `.csv`); other
/// files there (a corpus `README.md`, `.json` sidecars) are not inputs. A file named
/// explicitly is read whatever its extension.
pub fn has_input_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "txt" | "jsonl" | "ndjson" | "csv"
        )
    })
}

/// What one file gave.
#[derive(Debug, Default)]
pub struct FileRead {
    pub documents: Vec<Document>,
    pub warnings: Vec<FileWarning>,
}

/// Read one file from disk.
pub fn read_file(path: &Path) -> Result<FileRead, CorpusError> {
    let bytes = std::fs::read(path).map_err(|source| CorpusError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_bytes(path, &bytes)
}

/// Read one file's bytes; `path` names the document and picks the reader.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<FileRead, CorpusError> {
    let shown = path.display().to_string();
    let mut warnings = Vec::new();
    let mut warn = |message: String| {
        warnings.push(FileWarning {
            path: path.to_path_buf(),
            message,
        })
    };
    if let Some(reason) = binary_reason(bytes) {
        return Err(CorpusError::Binary {
            path: shown,
            reason,
        });
    }
    let (text, note) = decode(bytes);
    if let Some(note) = note {
        warn(note);
    }
    if text.trim().is_empty() {
        warn("empty file: no paragraphs".into());
        return Ok(FileRead {
            documents: Vec::new(),
            warnings,
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let documents = match ext.as_str() {
        "jsonl" | "ndjson" => read_jsonl(path, &text)?,
        "csv" => read_csv(path, &text)?,
        _ => vec![document_from_text(path, text)],
    };
    Ok(FileRead {
        documents,
        warnings,
    })
}

/// Why `bytes` is not text, if it is not: a NUL byte, or more than 10% control characters
/// other than tab, CR, LF and form feed (page breaks are normal in the corpus).
pub fn binary_reason(bytes: &[u8]) -> Option<String> {
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Some(format!("NUL byte at offset {pos}"));
    }
    let control = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    if !bytes.is_empty() && control * 10 > bytes.len() {
        return Some(format!(
            "{control} of {} bytes are control characters",
            bytes.len()
        ));
    }
    None
}

/// Decode bytes to text. Valid UTF-8 (a BOM is dropped) passes unchanged; otherwise
/// Windows-1252 when no valid multi-byte UTF-8 sequence occurs at all, else lossy UTF-8.
/// The second value is the warning to give, if any.
pub fn decode(bytes: &[u8]) -> (String, Option<String>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(e) => {
            let offset = e.valid_up_to();
            let lossy = String::from_utf8_lossy(bytes);
            let has_multibyte = lossy.chars().any(|c| c != '\u{FFFD}' && !c.is_ascii());
            if has_multibyte {
                (
                    lossy.into_owned(),
                    Some(format!(
                        "invalid UTF-8 at byte {offset}; decoded lossily (U+FFFD replaces bad bytes)"
                    )),
                )
            } else {
                (
                    bytes.iter().map(|&b| cp1252(b)).collect(),
                    Some(format!(
                        "invalid UTF-8 at byte {offset}; decoded as Windows-1252"
                    )),
                )
            }
        }
    }
}

/// Windows-1252 byte to char (bytes 0x80-0x9F differ from Latin-1; the five undefined ones
/// map to U+FFFD).
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž',
        '\u{FFFD}', '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ',
        '\u{FFFD}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

static RES_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^S-RES-(\d+)\s*\((\d{4})\)$").unwrap());
static SPEECH_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Z][A-Z0-9]{1,3})_(\d{1,3})_(\d{4})$").unwrap());
/// `S/RES/1325 (2000)` or `Resolution 1325 (2000)` or the yearbook `24 (1947). Resolution`.
static RES_SYMBOL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"S/RES/(\d+)\s*\((\d{4})\)").unwrap());
static RES_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?mi)^\s*(?:resolution\s+(\d+)\s*\((\d{4})\)|(\d+)\s*\((\d{4})\)\.\s*resolution\b)",
    )
    .unwrap()
});
static PV_SYMBOL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"S/PV\.(\d+)(?:\s*\(Resumption\s*\d*\))?").unwrap());
static TURN_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^(?:The President|The Acting President|The Secretary-General|(?:Mr|Mrs|Ms|Miss|Dame|Sir|Lord|Dr|Prince|Sheikh|Archbishop|Cardinal)\.? [^\n:]{1,80}?):")
        .unwrap()
});
static PROCEDURAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^The meeting (?:was called to order|rose|was suspended|resumed)\b").unwrap()
});
static MONTH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2}) (January|February|March|April|May|June|July|August|September|October|November|December),? (\d{4})\b")
        .unwrap()
});

static MEETING_NO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"at its (\d+)(?:st|nd|rd|th) meeting").unwrap());

/// Turn `31 October 2000` into `2000-10-31`.
pub fn iso_date(day: &str, month: &str, year: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(month))? + 1;
    let d: u32 = day.parse().ok()?;
    (1..=31)
        .contains(&d)
        .then(|| format!("{year}-{m:02}-{d:02}"))
}

/// The first date written out in `text` (`31 October 2000`) as ISO.
pub fn first_date(text: &str) -> Option<String> {
    let c = MONTH_DATE.captures(text)?;
    iso_date(&c[1], &c[2], &c[3])
}

/// The name a source gives its documents when they carry none of their own: the file's
/// stem, or `stdin` for `-` (whose stem, `-`, made ids such as `-#p1`, while every message
/// about the same input says `<stdin>`).
fn source_stem(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".into();
    }
    match path.file_stem().and_then(|s| s.to_str()) {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => "-".into(),
    }
}

/// The document a plain-text file (or stdin) holds, recognised by name then content.
pub fn document_from_text(path: &Path, text: String) -> Document {
    let stem = source_stem(path);
    let mut doc = Document::new(stem.clone(), DocKind::Other, String::new());
    doc.source = path.to_path_buf();
    if let Some(c) = RES_FILE.captures(&stem) {
        doc.kind = DocKind::Resolution;
        doc.number = c[1].parse().ok();
        doc.year = c[2].parse().ok();
    } else if let Some(c) = SPEECH_FILE.captures(&stem) {
        doc.kind = DocKind::Speech;
        doc.country = Some(c[1].to_string());
        doc.session = c[2].parse().ok();
        doc.year = c[3].parse().ok();
        doc.symbol = format!("UNGD/{}/{}", &c[2], &c[1]);
    } else {
        doc.kind = sniff_kind(&text);
    }
    doc.text = text;
    fill_from_text(&mut doc);
    doc
}

/// Guess the kind of an unnamed text from its content.
pub fn sniff_kind(text: &str) -> DocKind {
    let head: String = text.chars().take(3000).collect();
    if TURN_LINE.find_iter(text).take(2).count() >= 2 || PROCEDURAL.is_match(text) {
        DocKind::MeetingRecord
    } else if RES_HEADING.is_match(&head)
        || (RES_SYMBOL.is_match(&head) && head.contains("The Security Council"))
    {
        DocKind::Resolution
    } else {
        DocKind::Other
    }
}

/// Fill number, year, date and symbol from the text where the name did not give them.
fn fill_from_text(doc: &mut Document) {
    let head: String = doc.text.chars().take(4000).collect();
    match doc.kind {
        DocKind::Resolution => {
            if doc.number.is_none() {
                if let Some(c) = RES_SYMBOL.captures(&head) {
                    doc.number = c[1].parse().ok();
                    doc.year = c[2].parse().ok();
                } else if let Some(c) = RES_HEADING.captures(&head) {
                    let (n, y) = match (c.get(1), c.get(2)) {
                        (Some(n), Some(y)) => (n.as_str(), y.as_str()),
                        _ => (&c[3], &c[4]),
                    };
                    doc.number = n.parse().ok();
                    doc.year = y.parse().ok();
                }
            }
            if let (Some(n), Some(y)) = (doc.number, doc.year) {
                doc.symbol = format!("S/RES/{n} ({y})");
            }
            if doc.date.is_none() {
                doc.date = resolution_date(&head);
            }
            if let Some(c) = MEETING_NO.captures(&head) {
                doc.meta.insert("meeting".into(), c[1].to_string());
            }
        }
        DocKind::MeetingRecord => {
            if let Some(c) = PV_SYMBOL.captures(&head) {
                doc.symbol = c[0].to_string();
                doc.number = c[1].parse().ok();
            }
            if doc.date.is_none() {
                doc.date = first_date(&head);
            }
            if doc.year.is_none() {
                doc.year = doc.date.as_ref().and_then(|d| d[..4].parse().ok());
            }
        }
        DocKind::Speech | DocKind::Other => {}
    }
}

/// The adoption date of a resolution: the date on the `Adopted ... on <date>` line, else
/// the yearbook `of <date>` / `Resolution of <date>`, else the `Distr.` date.
fn resolution_date(head: &str) -> Option<String> {
    for line in head.lines() {
        let l = line.trim();
        let adoption = l.contains("Adopted by the Security Council")
            || l.starts_with("of ")
            || l.contains("Resolution of ")
            || (l.starts_with("Resolution ") && l.contains(") of "))
            || l.starts_with("on ");
        if adoption {
            if let Some(d) = first_date(l) {
                return Some(d);
            }
        }
    }
    head.lines()
        .find(|l| l.contains("Distr"))
        .and_then(first_date)
}

/// Metadata keys that fill [`Document`] fields rather than `meta`.
const TEXT_KEYS: [&str; 3] = ["text", "body", "paragraph"];

fn document_from_record(
    path: &Path,
    line: usize,
    mut fields: BTreeMap<String, String>,
) -> Result<Document, CorpusError> {
    let text_key = TEXT_KEYS
        .iter()
        .find(|k| fields.contains_key(**k))
        .ok_or_else(|| CorpusError::Record {
            path: path.display().to_string(),
            line,
            message: "no `text` field".into(),
        })?;
    let text = fields.remove(*text_key).unwrap_or_default();
    let stem = source_stem(path);
    let mut take = |k: &str| fields.remove(k).filter(|v| !v.trim().is_empty());
    let symbol = take("symbol").or_else(|| take("doc"));
    let kind = take("kind").and_then(|k| DocKind::parse(&k));
    let mut doc = Document::new(
        symbol.clone().unwrap_or_else(|| format!("{stem}:{line}")),
        kind.unwrap_or_else(|| sniff_kind(&text)),
        text,
    );
    doc.number = take("number").and_then(|v| v.trim().parse().ok());
    doc.year = take("year").and_then(|v| v.trim().parse().ok());
    doc.date = take("date");
    doc.title = take("title");
    doc.speaker = take("speaker");
    doc.country = take("country");
    doc.session = take("session").and_then(|v| v.trim().parse().ok());
    doc.source = PathBuf::from(format!("{}:{line}", path.display()));
    doc.meta = fields;
    let given_symbol = symbol.is_some();
    fill_from_text(&mut doc);
    if given_symbol {
        doc.symbol = symbol.unwrap_or_default();
    }
    Ok(doc)
}

/// JSONL: one JSON object per non-blank line; scalar fields become metadata strings.
fn read_jsonl(path: &Path, text: &str) -> Result<Vec<Document>, CorpusError> {
    let mut docs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| CorpusError::Record {
            path: path.display().to_string(),
            line: i + 1,
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| err(format!("invalid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| err("expected a JSON object".into()))?;
        let fields = obj
            .iter()
            .filter_map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => return None,
                    other => other.to_string(),
                };
                Some((k.clone(), s))
            })
            .collect();
        docs.push(document_from_record(path, i + 1, fields)?);
    }
    Ok(docs)
}

/// CSV with a header row; one document per row.
fn read_csv(path: &Path, text: &str) -> Result<Vec<Document>, CorpusError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let err = |line: usize, message: String| CorpusError::Record {
        path: path.display().to_string(),
        line,
        message,
    };
    let headers = reader
        .headers()
        .map_err(|e| err(1, format!("invalid CSV header: {e}")))?
        .clone();
    let mut docs = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i + 2, |p| p.line() as usize);
        let record = record.map_err(|e| err(line, format!("invalid CSV: {e}")))?;
        let fields = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.trim().to_string(), v.to_string()))
            .collect();
        docs.push(document_from_record(path, line, fields)?);
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file named twice (`analyze DIR DIR/file.txt`) used to be read twice: its paragraphs
    /// counted twice under one document, doubling its weight in its year's shares.
    #[test]
    fn file_named_twice_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("S-RES-2331(2016).txt");
        std::fs::write(&file, "1. Condemns trafficking in persons.\n").unwrap();
        let out = read_paths(&[dir.path().to_path_buf(), file.clone()]);
        assert_eq!(out.documents.len(), 1);
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].message.contains("named more than once"));
    }

    /// Two files giving one symbol (same resolution in two folders, or two notes.txt) are
    /// not merged into one document: the first named is kept, the second is a failure.
    #[test]
    fn second_source_of_a_symbol_is_a_failure_not_a_merge() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (d, text) in [(&a, "First text.\n"), (&b, "Second text.\n")] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("notes.txt"), text).unwrap();
        }
        let out = read_paths(&[b.clone(), a.clone()]);
        assert_eq!(out.documents.len(), 1);
        assert_eq!(out.documents[0].text.trim(), "Second text.");
        assert_eq!(out.failures.len(), 1);
        let message = out.failures[0].error.to_string();
        assert!(
            message.contains("document `notes` was already read from"),
            "{message}"
        );
        assert_eq!(out.failures[0].path, a.join("notes.txt"));
    }

    #[test]
    fn names_pick_kind_and_symbol() {
        let d = document_from_text(Path::new("x/S-RES-1325(2000).txt"), "text".into());
        assert_eq!(d.symbol, "S/RES/1325 (2000)");
        assert_eq!(
            (d.kind, d.number, d.year),
            (DocKind::Resolution, Some(1325), Some(2000))
        );
        let s = document_from_text(Path::new("2017/USA_72_2017.txt"), "Hello.".into());
        assert_eq!(s.symbol, "UNGD/72/USA");
        assert_eq!(
            (s.kind, s.session, s.country.as_deref()),
            (DocKind::Speech, Some(72), Some("USA"))
        );
    }

    #[test]
    fn cp1252_fallback_keeps_accents() {
        let (text, warn) = decode(b"mat\xe9riel cease\x97fire");
        assert_eq!(text, "matériel cease—fire");
        assert!(warn.unwrap().contains("Windows-1252"));
        let (lossy, warn) = decode(
            "é \u{2019}"
                .as_bytes()
                .iter()
                .copied()
                .chain([0xff])
                .collect::<Vec<_>>()
                .as_slice(),
        );
        assert!(lossy.ends_with('\u{FFFD}'));
        assert!(warn.unwrap().contains("lossily"));
    }

    #[test]
    fn binary_is_refused() {
        assert!(binary_reason(b"abc\0def").is_some());
        assert!(binary_reason(&[1u8, 2, 3, 4, b'a']).is_some());
        assert!(binary_reason(b"plain\r\n\x0ctext\t").is_none());
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(
            first_date("on 31 October 2000").as_deref(),
            Some("2000-10-31")
        );
        assert_eq!(
            resolution_date("Resolution 242 (1967)\nof 22 November 1967\n").as_deref(),
            Some("1967-11-22")
        );
    }
}
