//! Labelled data: gold files for `frameshift eval --gold`, and the project's annotations in
//! `datasets/annotations/`.
//!
//! Takes JSONL files, gives [`GoldItem`]s (text plus codebook labels) or [`Labelled`]
//! paragraphs (annotations joined with the segmented corpus by id and text hash). A gold line
//! may also name its paragraph the way the annotations do (`id` + `sha256`, no text), so that
//! a gold set drawn from the shared corpus can be kept without copying its text;
//! [`Gold::resolve_references`] fetches those texts from the corpus. Gold lines
//! that cannot be used are returned with their line number and reason rather than aborting
//! the run: one bad line must not cost a scholar the whole evaluation. Annotations, by
//! contrast, must all resolve: they are the project's own data, and a label that silently
//! moved to another paragraph would corrupt every number trained or measured on it.

use crate::classify::LabelSet;
use crate::corpus::DocKind;
use crate::segment::{AgendaRules, Paragraph};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no usable lines")]
    Empty { path: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{count} annotation(s) no longer resolve against the corpus:\n  {first}")]
    Unresolved { count: usize, first: String },
    #[error("{count} line(s) of the second reading or its adjudication do not pair:\n  {first}")]
    Unpaired { count: usize, first: String },
}

/// One gold paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldItem {
    pub text: String,
    pub labels: LabelSet,
    /// 1-based line in the gold file.
    pub line: usize,
    /// The line's `kind` (`resolution`, `speech`, ...) as written, when it is a string.
    /// Only `analyze --gold` reads it (error rates per kind of document); `eval --gold`
    /// ignores it like any other key, so a gold file with kinds of its own still scores.
    /// A line given by reference gets the kind its id names when it writes none.
    pub kind: Option<String>,
    /// The paragraph the line names instead of giving its text (`id` and text `sha256`, as
    /// in the annotations); `text` is empty until [`Gold::resolve_references`] fills it.
    pub reference: Option<Reference>,
}

/// A paragraph of the corpus named by its stable id and the sha256 of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub id: String,
    pub sha256: String,
}

#[derive(Deserialize)]
struct GoldLine {
    #[serde(default)]
    text: Option<String>,
    labels: Vec<String>,
    /// Any JSON value, like `kind`: only a line without text reads them, as a reference.
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    sha256: Option<serde_json::Value>,
    /// Any JSON value: a `kind` that is not a string must not cost the line, since gold
    /// files may carry keys of their own under that name.
    #[serde(default)]
    kind: Option<serde_json::Value>,
}

/// Parsed gold file: usable items and rejected lines with reasons.
#[derive(Debug, Default)]
pub struct Gold {
    pub items: Vec<GoldItem>,
    pub rejected: Vec<(usize, String)>,
}

pub fn read_gold(path: &Path) -> Result<Gold, DatasetError> {
    let text = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut gold = Gold::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<GoldLine>(line) {
            Ok(g) => match gold_item(g, i + 1) {
                Ok(item) => gold.items.push(item),
                Err(why) => gold.rejected.push((i + 1, why)),
            },
            Err(e) => gold.rejected.push((i + 1, e.to_string())),
        }
    }
    if gold.items.is_empty() {
        return Err(DatasetError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(gold)
}

/// A parsed gold line as an item: its text, or else the paragraph it names by reference.
fn gold_item(g: GoldLine, line: usize) -> Result<GoldItem, String> {
    let labels = LabelSet::from_names(&g.labels)?;
    let as_string = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_string));
    let mut kind = as_string(g.kind);
    let (text, reference) = match g.text {
        Some(text) => (text, None),
        None => match (as_string(g.id), as_string(g.sha256)) {
            (Some(id), Some(sha256)) => {
                kind = kind.or_else(|| match DocKind::of_paragraph_id(&id) {
                    DocKind::Other => None,
                    k => Some(k.as_str().to_string()),
                });
                (String::new(), Some(Reference { id, sha256 }))
            }
            _ => {
                return Err(
                    "no `text`, and no `id` and `sha256` naming a paragraph of the corpus".into(),
                )
            }
        },
    };
    Ok(GoldItem {
        text,
        labels,
        line,
        kind,
        reference,
    })
}

impl Gold {
    /// Fill in the text of every line given by reference, by segmenting the documents they
    /// name under `corpus`. A line whose paragraph is not there, or whose text no longer
    /// has the line's hash, is moved to `rejected` with the reason (like any unusable gold
    /// line: named, not scored, the run exits non-zero); scoring another text than the one
    /// that was labelled would be worse than scoring fewer lines.
    pub fn resolve_references(
        &mut self,
        corpus: &Path,
        rules: &AgendaRules,
    ) -> Result<(), DatasetError> {
        let ids = self
            .items
            .iter()
            .filter_map(|g| g.reference.as_ref().map(|r| r.id.as_str()));
        let paragraphs = segment_referenced(ids, corpus, rules);
        let mut kept = Vec::with_capacity(self.items.len());
        for mut item in std::mem::take(&mut self.items) {
            let Some(r) = &item.reference else {
                kept.push(item);
                continue;
            };
            match paragraphs.get(r.id.as_str()) {
                None => self.rejected.push((
                    item.line,
                    format!("{}: no such paragraph in {}", r.id, corpus.display()),
                )),
                Some(p) => {
                    let actual = crate::segment::text_sha256(&p.text);
                    if actual == r.sha256 {
                        item.text = p.text.clone();
                        kept.push(item);
                    } else {
                        self.rejected.push((
                            item.line,
                            format!("{}: text changed (sha256 {} -> {actual})", r.id, r.sha256),
                        ));
                    }
                }
            }
        }
        self.items = kept;
        self.rejected.sort_by_key(|(line, _)| *line);
        if self.items.is_empty() {
            // Say why, or a wrong --corpus reads as an empty gold file.
            let first = self
                .rejected
                .first()
                .map_or_else(String::new, |(line, why)| format!(" (line {line}: {why})"));
            return Err(DatasetError::Invalid {
                path: format!("gold lines resolved against {}", corpus.display()),
                message: format!("no usable lines{first}"),
            });
        }
        Ok(())
    }
}

/// One annotation as stored in `datasets/annotations/*.jsonl`: a reference to a paragraph
/// (stable id + sha256 of its text), never the text itself.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct Annotation {
    pub id: String,
    pub sha256: String,
    pub labels: LabelSet,
    #[serde(default)]
    pub note: String,
}

/// All annotation files of a directory, in file-name order, with a hash over them that
/// names this exact version of the data.
#[derive(Debug, Clone)]
pub struct AnnotationSet {
    pub items: Vec<Annotation>,
    /// sha256 over `name\ncontents` of each file, in name order.
    pub sha256: String,
    pub files: Vec<String>,
}

pub fn read_annotations(dir: &Path) -> Result<AnnotationSet, DatasetError> {
    read_annotation_dirs(&[dir.to_path_buf()])
}

/// The annotation files of several directories read as one set, in file-name order across
/// them, so that its hash is the one a single directory holding all those files would have:
/// a model trained on `annotations/` plus a batch still in `pending/` names the same data as
/// one trained after the batch is moved into `annotations/`. Two files of one name are
/// refused, since the hash could not tell them apart.
pub fn read_annotation_dirs(dirs: &[PathBuf]) -> Result<AnnotationSet, DatasetError> {
    use sha2::{Digest, Sha256};
    let io = |path: &Path, source: std::io::Error| DatasetError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let path = entry.map_err(|e| io(dir, e))?.path();
            if path.extension().is_some_and(|x| x == "jsonl") {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                files.push((name, path));
            }
        }
    }
    files.sort();
    if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DatasetError::Invalid {
            path: w[1].1.display().to_string(),
            message: format!(
                "another annotation file of this name is read too ({}); rename one",
                w[0].1.display()
            ),
        });
    }
    let mut hasher = Sha256::new();
    let mut items = Vec::new();
    let mut names = Vec::new();
    for (name, path) in &files {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        hasher.update(name.as_bytes());
        hasher.update(b"\n");
        hasher.update(text.as_bytes());
        items.extend(parse_annotation_lines(path, &text)?);
        names.push(name.clone());
    }
    if items.is_empty() {
        return Err(DatasetError::Empty {
            path: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(AnnotationSet {
        items,
        sha256: hex::encode(hasher.finalize()),
        files: names,
    })
}

fn parse_annotation_lines(path: &Path, text: &str) -> Result<Vec<Annotation>, DatasetError> {
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let a: Annotation = serde_json::from_str(line).map_err(|e| DatasetError::Invalid {
            path: format!("{}:{}", path.display(), i + 1),
            message: e.to_string(),
        })?;
        items.push(a);
    }
    Ok(items)
}

/// One file in the annotation format (`{"id", "sha256", "labels", "note"}` per line), such as
/// a second reading of some annotated paragraphs (`datasets/agreement/`).
pub fn read_annotation_file(path: &Path) -> Result<Vec<Annotation>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let items = parse_annotation_lines(path, &text)?;
    if items.is_empty() {
        return Err(DatasetError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(items)
}

/// How many problems there are and the first 20 of them, one per line, for an error that
/// lists what to fix without flooding the terminal.
fn listed(problems: Vec<String>) -> (usize, String) {
    let count = problems.len();
    let first = problems
        .into_iter()
        .take(20)
        .collect::<Vec<_>>()
        .join("\n  ");
    (count, first)
}

/// One paragraph read twice: its id and the labels of the first and the second reading.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoReadings {
    pub id: String,
    /// The text hash both readings were made on.
    pub sha256: String,
    pub first: LabelSet,
    pub second: LabelSet,
}

/// Pair a second reading with the first (the annotations), in the second reading's order.
/// Every second-reading line must name an annotated paragraph, once, with the same text
/// hash: a second label for another text, or for a paragraph the first reading never
/// labelled, would make the agreement figure compare different things. Fails listing each
/// such line.
pub fn pair_readings(
    first: &[Annotation],
    second: &[Annotation],
) -> Result<Vec<TwoReadings>, DatasetError> {
    let by_id: BTreeMap<&str, &Annotation> = first.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for b in second {
        if !seen.insert(b.id.as_str()) {
            problems.push(format!("{}: read twice in the second reading", b.id));
            continue;
        }
        match by_id.get(b.id.as_str()) {
            None => problems.push(format!("{}: not among the annotations", b.id)),
            Some(a) if a.sha256 != b.sha256 => problems.push(format!(
                "{}: second reading of another text (sha256 {} in the annotations, {} here)",
                b.id, a.sha256, b.sha256
            )),
            Some(a) => out.push(TwoReadings {
                id: b.id.clone(),
                sha256: b.sha256.clone(),
                first: a.labels,
                second: b.labels,
            }),
        }
    }
    if !problems.is_empty() {
        let (count, first) = listed(problems);
        return Err(DatasetError::Unpaired { count, first });
    }
    Ok(out)
}

/// The adjudicated labels of paragraphs read twice: the agreed labels where the two readings
/// agree, the adjudicator's where they differ. Every disagreement must be adjudicated once,
/// for the same text, and nothing else: an adjudication of a paragraph the readings agree on
/// would overrule two readers with one, and a missing one would leave a label undecided.
pub fn adjudicate(
    pairs: &[TwoReadings],
    adjudications: &[Annotation],
) -> Result<Vec<LabelSet>, DatasetError> {
    let mut by_id: BTreeMap<&str, &Annotation> = BTreeMap::new();
    let mut problems = Vec::new();
    for a in adjudications {
        if by_id.insert(a.id.as_str(), a).is_some() {
            problems.push(format!("{}: adjudicated twice", a.id));
        }
    }
    let mut out = Vec::with_capacity(pairs.len());
    for p in pairs {
        let a = by_id.remove(p.id.as_str());
        match (p.first == p.second, a) {
            (true, None) => out.push(p.first),
            (true, Some(_)) => {
                problems.push(format!("{}: adjudicated, but the two readings agree", p.id))
            }
            (false, None) => problems.push(format!(
                "{}: the readings differ and no adjudication is given",
                p.id
            )),
            (_, Some(a)) if a.sha256 != p.sha256 => problems.push(format!(
                "{}: adjudication of another text (sha256 {} read twice, {} adjudicated)",
                p.id, p.sha256, a.sha256
            )),
            (false, Some(a)) => out.push(a.labels),
        }
    }
    problems.extend(
        by_id
            .keys()
            .map(|id| format!("{id}: adjudicated, but not read twice")),
    );
    if !problems.is_empty() {
        let (count, first) = listed(problems);
        return Err(DatasetError::Unpaired { count, first });
    }
    Ok(out)
}

/// A document symbol of the shared corpus, parsed: `S/RES/1325 (2000)` or `UNGD/72/USA`.
enum Symbol<'a> {
    Resolution { number: &'a str, year: i32 },
    Speech { session: i32, iso: &'a str },
}

impl<'a> Symbol<'a> {
    fn parse(doc: &'a str) -> Option<Self> {
        if let Some(rest) = doc.strip_prefix("S/RES/") {
            let (number, year) = rest.split_once(" (")?;
            let year = year.strip_suffix(')')?.parse().ok()?;
            return Some(Symbol::Resolution { number, year });
        }
        let (session, iso) = doc.strip_prefix("UNGD/")?.split_once('/')?;
        Some(Symbol::Speech {
            session: session.parse().ok()?,
            iso,
        })
    }

    fn year(&self) -> i32 {
        match self {
            Symbol::Resolution { year, .. } => *year,
            // General Assembly session N opens in the year 1945 + N.
            Symbol::Speech { session, .. } => session + 1945,
        }
    }
}

/// The corpus file a document symbol comes from, under the shared corpus root:
/// `S/RES/1325 (2000)` -> `unsc-resolutions-1946-2015/S-RES-1325(2000).txt` (or the
/// 2016-2019 folder), `UNGD/72/USA` -> `ungd-speeches-2000-2024/2017/USA_72_2017.txt`.
pub fn corpus_file_for(doc: &str, corpus: &Path) -> Option<PathBuf> {
    let symbol = Symbol::parse(doc)?;
    let year = symbol.year();
    match symbol {
        Symbol::Resolution { number, .. } => {
            let name = format!("S-RES-{number}({year}).txt");
            ["unsc-resolutions-1946-2015", "unsc-resolutions-2016-2019"]
                .iter()
                .map(|d| corpus.join(d).join(&name))
                .find(|p| p.is_file())
        }
        Symbol::Speech { session, iso } => {
            let p = corpus
                .join("ungd-speeches-2000-2024")
                .join(year.to_string())
                .join(format!("{iso}_{session}_{year}.txt"));
            p.is_file().then_some(p)
        }
    }
}

/// The paragraphs, by id, of the documents that these paragraph ids name (each document
/// segmented once; ids of documents not under `corpus` just find nothing).
fn segment_referenced<'a>(
    ids: impl Iterator<Item = &'a str>,
    corpus: &Path,
    rules: &AgendaRules,
) -> BTreeMap<String, Paragraph> {
    let mut docs: BTreeMap<&str, Option<PathBuf>> = BTreeMap::new();
    for id in ids {
        let doc = id.split('#').next().unwrap_or("");
        docs.entry(doc)
            .or_insert_with(|| corpus_file_for(doc, corpus));
    }
    let paths: Vec<PathBuf> = docs.values().flatten().cloned().collect();
    crate::segment::segment_paths(&paths, rules)
        .paragraphs
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect()
}

/// The year of a paragraph id of `frameshift segment`: `S/RES/1325 (2000)#op8` -> 2000,
/// `UNGD/72/USA#p3` -> 2017 (the session's year); `None` for other ids.
pub fn year_of_id(id: &str) -> Option<i32> {
    Symbol::parse(id.split('#').next()?).map(|s| s.year())
}

/// First and last year of the annotated paragraphs of each kind of document (by their ids).
pub fn years_by_kind(set: &AnnotationSet) -> BTreeMap<DocKind, (i32, i32)> {
    let mut years: BTreeMap<DocKind, (i32, i32)> = BTreeMap::new();
    for a in &set.items {
        if let Some(y) = year_of_id(&a.id) {
            let e = years
                .entry(DocKind::of_paragraph_id(&a.id))
                .or_insert((y, y));
            *e = (e.0.min(y), e.1.max(y));
        }
    }
    years
}

/// An annotation joined with the paragraph it refers to.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub paragraph: Paragraph,
    pub labels: LabelSet,
    pub note: String,
}

/// Segment the documents the annotations refer to and attach each annotation to its
/// paragraph. Fails listing every annotation whose id no longer resolves or whose text hash
/// changed: a silently re-targeted label would corrupt training and evaluation.
pub fn join_annotations(
    set: &AnnotationSet,
    corpus: &Path,
    rules: &AgendaRules,
) -> Result<Vec<Labelled>, DatasetError> {
    let by_id = segment_referenced(set.items.iter().map(|a| a.id.as_str()), corpus, rules);
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for a in &set.items {
        if !seen.insert(a.id.as_str()) {
            problems.push(format!("{}: annotated twice", a.id));
            continue;
        }
        match by_id.get(a.id.as_str()) {
            None => problems.push(format!(
                "{}: no such paragraph in {}",
                a.id,
                corpus.display()
            )),
            Some(p) => {
                let actual = crate::segment::text_sha256(&p.text);
                if actual != a.sha256 {
                    problems.push(format!(
                        "{}: text changed (sha256 {} -> {})",
                        a.id, a.sha256, actual
                    ));
                } else {
                    out.push(Labelled {
                        paragraph: (*p).clone(),
                        labels: a.labels,
                        note: a.note.clone(),
                    });
                }
            }
        }
    }
    if !problems.is_empty() {
        let (count, first) = listed(problems);
        return Err(DatasetError::Unresolved { count, first });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(id: &str, sha: &str, labels: &[&str]) -> Annotation {
        let json = serde_json::json!({"id": id, "sha256": sha, "labels": labels});
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn annotation_dirs_read_together_hash_as_one_dir_holding_their_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (one, main, pending) = (
            tmp.path().join("one"),
            tmp.path().join("main"),
            tmp.path().join("pending"),
        );
        let a = r#"{"id": "d#1", "sha256": "aa", "labels": ["security"]}"#;
        let b = r#"{"id": "d#2", "sha256": "bb", "labels": []}"#;
        for (dir, file, line) in [
            (&one, "batch-01.jsonl", a),
            (&one, "batch-02.jsonl", b),
            (&main, "batch-01.jsonl", a),
            (&pending, "batch-02.jsonl", b),
        ] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(file), format!("{line}\n")).unwrap();
        }
        std::fs::write(pending.join("log-batch-02.md"), "not read").unwrap();
        let whole = read_annotations(&one).unwrap();
        // Order of the directories does not matter: files are taken in name order.
        for dirs in [
            vec![main.clone(), pending.clone()],
            vec![pending.clone(), main.clone()],
        ] {
            let set = read_annotation_dirs(&dirs).unwrap();
            assert_eq!(set.sha256, whole.sha256);
            assert_eq!(set.items, whole.items);
            assert_eq!(set.files, vec!["batch-01.jsonl", "batch-02.jsonl"]);
        }
        // Only the first batch: another set, another hash.
        assert_ne!(read_annotations(&main).unwrap().sha256, whole.sha256);
        // Two files of one name could not be told apart by the hash.
        std::fs::write(pending.join("batch-01.jsonl"), format!("{b}\n")).unwrap();
        let err = read_annotation_dirs(&[main, pending]).unwrap_err();
        assert!(
            err.to_string()
                .contains("another annotation file of this name"),
            "{err}"
        );
    }

    #[test]
    fn adjudication_decides_exactly_the_disagreements() {
        let first = [ann("d#1", "aa", &["security"]), ann("d#2", "bb", &[])];
        let pairs = pair_readings(
            &first,
            &[
                ann("d#1", "aa", &["security"]),
                ann("d#2", "bb", &["crime"]),
            ],
        )
        .unwrap();
        // The agreed paragraph keeps its labels, the disputed one takes the adjudication's.
        let adjudicated = adjudicate(&pairs, &[ann("d#2", "bb", &["crime", "gender"])]).unwrap();
        assert_eq!(adjudicated[0].names(), vec!["security"]);
        assert_eq!(adjudicated[1].names(), vec!["crime", "gender"]);

        let err = adjudicate(&pairs, &[ann("d#1", "aa", &[]), ann("d#7", "zz", &[])])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("3 line(s)"), "{err}");
        assert!(
            err.contains("d#1: adjudicated, but the two readings agree"),
            "{err}"
        );
        assert!(
            err.contains("d#2: the readings differ and no adjudication"),
            "{err}"
        );
        assert!(
            err.contains("d#7: adjudicated, but not read twice"),
            "{err}"
        );
        let other = adjudicate(&pairs, &[ann("d#2", "XX", &["crime"])])
            .unwrap_err()
            .to_string();
        assert!(
            other.contains("d#2: adjudication of another text"),
            "{other}"
        );
    }

    #[test]
    fn second_reading_pairs_by_id_and_refuses_other_texts_unknown_ids_and_repeats() {
        let first = [
            ann("d#1", "aa", &["security"]),
            ann("d#2", "bb", &[]),
            ann("d#3", "cc", &["gender", "human_rights"]),
        ];
        // Paired in the second reading's order, each with both readings' labels.
        let pairs = pair_readings(
            &first,
            &[ann("d#3", "cc", &["gender"]), ann("d#1", "aa", &[])],
        )
        .unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].id, "d#3");
        assert_eq!(pairs[0].first, first[2].labels);
        assert_eq!(pairs[0].second.names(), vec!["gender"]);
        assert_eq!(pairs[1].first.names(), vec!["security"]);
        assert!(pairs[1].second.is_empty());

        let err = pair_readings(
            &first,
            &[
                ann("d#2", "XX", &[]),
                ann("d#9", "zz", &[]),
                ann("d#1", "aa", &[]),
                ann("d#1", "aa", &["crime"]),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("3 line(s)"), "{err}");
        assert!(err.contains("d#2: second reading of another text"), "{err}");
        assert!(err.contains("d#9: not among the annotations"), "{err}");
        assert!(err.contains("d#1: read twice"), "{err}");
    }

    #[test]
    fn gold_lines_parse_and_bad_lines_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        std::fs::write(
            &path,
            "{\"text\": \"a\", \"labels\": [\"crime\"], \"id\": 7}\n\n{\"text\": \"b\", \"labels\": []}\n{\"text\": \"c\", \"labels\": [\"peace\"]}\nnope\n",
        )
        .unwrap();
        let g = read_gold(&path).unwrap();
        assert_eq!(g.items.len(), 2);
        assert_eq!(g.items[0].labels.names(), vec!["crime"]);
        assert!(g.items[1].labels.is_empty());
        assert_eq!(g.items[1].line, 3);
        assert_eq!(
            g.rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(g.rejected[0].1.contains("peace"));
    }

    #[test]
    fn years_come_from_resolution_and_speech_ids() {
        assert_eq!(year_of_id("S/RES/1325 (2000)#op8a"), Some(2000));
        assert_eq!(year_of_id("UNGD/72/USA#p3"), Some(2017));
        assert_eq!(year_of_id("S/PV.9999#p1"), None);
        let set = AnnotationSet {
            items: vec![
                ann("S/RES/2242 (2015)#op1", "a", &[]),
                ann("S/RES/688 (1991)#op1", "b", &[]),
                ann("UNGD/55/FRA#p1", "c", &[]),
            ],
            sha256: String::new(),
            files: vec![],
        };
        let years = years_by_kind(&set);
        assert_eq!(years[&DocKind::Resolution], (1991, 2015));
        assert_eq!(years[&DocKind::Speech], (2000, 2000));
    }

    /// A line without text names its paragraph by id and hash and takes the kind its id
    /// names unless it writes one; a line with text keeps any `id` as a key of its own.
    #[test]
    fn gold_lines_by_reference_parse_with_the_kind_of_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"S/RES/1 (1946)#op1\", \"sha256\": \"aa\", \"labels\": [\"security\"]}\n\
             {\"id\": \"UNGD/72/USA#p3\", \"sha256\": \"bb\", \"labels\": [], \"kind\": \"other\"}\n\
             {\"text\": \"t\", \"id\": \"S/RES/1 (1946)#op1\", \"labels\": []}\n\
             {\"id\": \"S/RES/1 (1946)#op2\", \"labels\": []}\n",
        )
        .unwrap();
        let g = read_gold(&path).unwrap();
        let refs: Vec<Option<&str>> = g
            .items
            .iter()
            .map(|i| i.reference.as_ref().map(|r| r.id.as_str()))
            .collect();
        assert_eq!(
            refs,
            vec![Some("S/RES/1 (1946)#op1"), Some("UNGD/72/USA#p3"), None]
        );
        let kinds: Vec<Option<&str>> = g.items.iter().map(|i| i.kind.as_deref()).collect();
        assert_eq!(kinds, vec![Some("resolution"), Some("other"), None]);
        assert_eq!(g.items[2].text, "t");
        assert_eq!(g.rejected.len(), 1);
        assert_eq!(g.rejected[0].0, 4);
        assert!(g.rejected[0].1.contains("no `text`"), "{:?}", g.rejected);
    }

    /// `kind` is read for `analyze --gold`, but a gold file whose `kind` is not a string (a
    /// key of its own under that name) must still score every line in `eval --gold`.
    #[test]
    fn gold_kind_is_read_when_a_string_and_never_rejects_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        std::fs::write(
            &path,
            "{\"text\": \"a\", \"labels\": [], \"kind\": \"speech\"}\n\
             {\"text\": \"b\", \"labels\": [], \"kind\": 3}\n\
             {\"text\": \"c\", \"labels\": [], \"kind\": null}\n\
             {\"text\": \"d\", \"labels\": []}\n",
        )
        .unwrap();
        let g = read_gold(&path).unwrap();
        assert!(g.rejected.is_empty(), "{:?}", g.rejected);
        let kinds: Vec<Option<&str>> = g.items.iter().map(|i| i.kind.as_deref()).collect();
        assert_eq!(kinds, vec![Some("speech"), None, None, None]);
    }
}
