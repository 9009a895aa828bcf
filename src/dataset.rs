//! Labelled data: gold files for `frameshift eval --gold`, and the project's annotations in
//! `datasets/annotations/`.
//!
//! Takes JSONL files, gives [`GoldItem`]s (text plus codebook labels) or [`Labelled`]
//! paragraphs (annotations joined with the segmented corpus by id and text hash). Gold lines
//! that cannot be used are returned with their line number and reason rather than aborting
//! the run: one bad line must not cost a scholar the whole evaluation. Annotations, by
//! contrast, must all resolve: they are the project's own data, and a label that silently
//! moved to another paragraph would corrupt every number trained or measured on it.

use crate::classify::LabelSet;
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
    pub kind: Option<String>,
}

#[derive(Deserialize)]
struct GoldLine {
    text: String,
    labels: Vec<String>,
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
            Ok(g) => match LabelSet::from_names(&g.labels) {
                Ok(labels) => gold.items.push(GoldItem {
                    text: g.text,
                    labels,
                    line: i + 1,
                    kind: g.kind.and_then(|k| k.as_str().map(str::to_string)),
                }),
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
    use sha2::{Digest, Sha256};
    let io = |path: &Path, source: std::io::Error| DatasetError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut hasher = Sha256::new();
    let mut items = Vec::new();
    let mut names = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        hasher.update(name.as_bytes());
        hasher.update(b"\n");
        hasher.update(text.as_bytes());
        items.extend(parse_annotation_lines(path, &text)?);
        names.push(name);
    }
    if items.is_empty() {
        return Err(DatasetError::Empty {
            path: dir.display().to_string(),
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

/// The corpus file a document symbol comes from, under the shared corpus root:
/// `S/RES/1325 (2000)` -> `unsc-resolutions-1946-2015/S-RES-1325(2000).txt` (or the
/// 2016-2019 folder), `UNGD/72/USA` -> `ungd-speeches-2000-2024/2017/USA_72_2017.txt`.
pub fn corpus_file_for(doc: &str, corpus: &Path) -> Option<PathBuf> {
    if let Some(rest) = doc.strip_prefix("S/RES/") {
        let (number, year) = rest.split_once(" (")?;
        let year = year.strip_suffix(')')?;
        let name = format!("S-RES-{number}({year}).txt");
        return ["unsc-resolutions-1946-2015", "unsc-resolutions-2016-2019"]
            .iter()
            .map(|d| corpus.join(d).join(&name))
            .find(|p| p.is_file());
    }
    if let Some(rest) = doc.strip_prefix("UNGD/") {
        let (session, iso) = rest.split_once('/')?;
        let session: u32 = session.parse().ok()?;
        let year = session + 1945;
        let p = corpus
            .join("ungd-speeches-2000-2024")
            .join(year.to_string())
            .join(format!("{iso}_{session}_{year}.txt"));
        return p.is_file().then_some(p);
    }
    None
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
    let mut docs: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    for a in &set.items {
        let doc = a.id.split('#').next().unwrap_or("").to_string();
        docs.entry(doc.clone())
            .or_insert_with(|| corpus_file_for(&doc, corpus));
    }
    let paths: Vec<PathBuf> = docs.values().flatten().cloned().collect();
    let segmented = crate::segment::segment_paths(&paths, rules);
    let by_id: BTreeMap<&str, &Paragraph> = segmented
        .paragraphs
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
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
