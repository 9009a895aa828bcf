//! Paragraph segmentation: a [`Document`] -> [`Paragraph`]s with stable ids.
//!
//! Takes documents from [`crate::corpus`] and an [`AgendaRules`] table, gives one
//! [`Paragraph`] per unit of analysis (the codebook's unit): a preambular or operative
//! paragraph or a sub-paragraph of a resolution, a paragraph of a speech, a paragraph of a
//! speaker turn in a meeting record. Page furniture is removed, paragraphs cut by page
//! breaks are rejoined and extraction damage repaired ([`clean`]), so that the emitted text
//! is deterministic: annotations refer to a paragraph by its id plus [`text_sha256`].
//!
//! Ids (stable across runs; they depend only on the document's own text):
//! - resolutions: `S/RES/1325 (2000)#pp3` (3rd preambular paragraph), `#op8` (operative 8),
//!   `#op8a` / `#op1ii` (sub-paragraphs), `#op8a.ii` (roman item under a lettered one),
//!   `#op4-2` (2nd bullet/unlabelled list item), `#opx1` (1st unnumbered operative
//!   paragraph of the old yearbook texts); parts B, C... of resolutions adopted in parts
//!   get the prefix `pt2.` (`#pt2.op1`); a duplicate id gets `~2`, `~3`, ...;
//! - speeches and other prose: `<doc>#p12`;
//! - meeting records: `<doc>#t3p2` (turn 3, paragraph 2).

pub mod agenda;
pub mod clean;
pub mod meeting;
pub mod prose;
pub mod resolution;

pub use agenda::{AgendaRule, AgendaRules};

use crate::corpus::{self, DocKind, Document, ReadOutcome};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a paragraph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParaKind {
    Preambular,
    Operative,
    Subparagraph,
    /// A paragraph of a speech (general debate) or of a speaker turn (meeting record).
    Speech,
    /// A paragraph of any other text.
    Text,
}

impl ParaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParaKind::Preambular => "preambular",
            ParaKind::Operative => "operative",
            ParaKind::Subparagraph => "subparagraph",
            ParaKind::Speech => "speech",
            ParaKind::Text => "text",
        }
    }
}

/// One unit of analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paragraph {
    /// The document's symbol.
    pub doc: String,
    /// `<doc>#<local id>`, unique within a run over distinct documents.
    pub id: String,
    pub kind: ParaKind,
    /// Operative number; for a sub-paragraph, the number of its operative parent.
    pub number: Option<u32>,
    /// Sub-paragraph label (`a`, `ii`, `a.ii`, `-2` for an unlabelled list item).
    pub letter: Option<String>,
    pub year: Option<i32>,
    /// The document's date (ISO) when known.
    pub date: Option<String>,
    /// Agenda ids of the document (see [`AgendaRules`]), sorted.
    pub agendas: Vec<String>,
    pub speaker: Option<String>,
    pub country: Option<String>,
    /// Language the speech was delivered in (meeting records).
    pub language: Option<String>,
    /// Speaker turn (1-based) in a meeting record.
    pub turn: Option<u32>,
    /// Position of the paragraph in its document (1-based).
    pub index: u32,
    pub doc_kind: DocKind,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("{path}: invalid agenda rules: {message}")]
    Rules { path: String, message: String },
    #[error("{doc}: refused: {reason}")]
    Binary { doc: String, reason: String },
}

/// Hex sha256 of the paragraph text exactly as emitted.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Local parts of a paragraph before the document-level fields are filled in.
struct Local {
    id: String,
    kind: ParaKind,
    number: Option<u32>,
    letter: Option<String>,
    speaker: Option<String>,
    country: Option<String>,
    language: Option<String>,
    turn: Option<u32>,
    text: String,
}

impl Local {
    fn plain(id: String, kind: ParaKind, text: String) -> Self {
        Local {
            id,
            kind,
            number: None,
            letter: None,
            speaker: None,
            country: None,
            language: None,
            turn: None,
            text,
        }
    }
}

/// Segment one document. Never panics on odd text; refuses text that is binary (a
/// document built in memory does not pass through the reader's check).
pub fn segment_document(
    doc: &Document,
    rules: &AgendaRules,
) -> Result<Vec<Paragraph>, SegmentError> {
    if let Some(reason) = corpus::binary_reason(doc.text.as_bytes()) {
        return Err(SegmentError::Binary {
            doc: doc.symbol.clone(),
            reason,
        });
    }
    let locals = match doc.kind {
        DocKind::Resolution => resolution_locals(&doc.text),
        DocKind::MeetingRecord => meeting_locals(&doc.text),
        DocKind::Speech => prose_locals(&doc.text, ParaKind::Speech),
        DocKind::Other => prose_locals(&doc.text, ParaKind::Text),
    };
    // Repair broken words with the document's own vocabulary, then drop what is empty.
    let vocab = clean::Vocabulary::build(locals.iter().map(|l| l.text.as_str()));
    let mut locals: Vec<Local> = locals
        .into_iter()
        .map(|mut l| {
            l.text = clean::repair(&l.text, &vocab);
            l
        })
        .filter(|l| l.text.chars().any(char::is_alphanumeric))
        .collect();
    // Unique ids: a repeated id gets `~2`, `~3`, ...
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for l in &mut locals {
        let n = seen.entry(l.id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            l.id = format!("{}~{}", l.id, n);
        }
    }
    let body: Vec<&str> = locals.iter().map(|l| l.text.as_str()).collect();
    let agendas = rules.tags(doc, &body.join("\n"));
    Ok(locals
        .into_iter()
        .enumerate()
        .map(|(i, l)| Paragraph {
            doc: doc.symbol.clone(),
            id: format!("{}#{}", doc.symbol, l.id),
            kind: l.kind,
            number: l.number,
            letter: l.letter,
            year: doc.year,
            date: doc.date.clone(),
            agendas: agendas.clone(),
            speaker: l.speaker.or_else(|| doc.speaker.clone()),
            country: l.country.or_else(|| doc.country.clone()),
            language: l.language.or_else(|| doc.meta.get("language").cloned()),
            turn: l.turn,
            index: i as u32 + 1,
            doc_kind: doc.kind,
            text: l.text,
        })
        .collect())
}

fn resolution_locals(text: &str) -> Vec<Local> {
    use resolution::UnitKind;
    let mut out = Vec::new();
    let mut pp = 0u32;
    let mut unnumbered = 0u32;
    let mut part = 1;
    // Id and number of the current parent of sub-paragraphs.
    let mut parent = (String::from("pp0"), None::<u32>);
    for u in resolution::units(text) {
        if u.part != part {
            part = u.part;
            pp = 0;
            unnumbered = 0;
            parent = (String::from("pp0"), None);
        }
        let prefix = if part > 1 {
            format!("pt{part}.")
        } else {
            String::new()
        };
        let local = match u.kind {
            UnitKind::Preambular => {
                pp += 1;
                parent = (format!("{prefix}pp{pp}"), None);
                Local::plain(parent.0.clone(), ParaKind::Preambular, u.text)
            }
            UnitKind::Operative(number) => {
                let id = match number {
                    Some(n) => format!("{prefix}op{n}"),
                    None => {
                        unnumbered += 1;
                        format!("{prefix}opx{unnumbered}")
                    }
                };
                parent = (id.clone(), number);
                let mut l = Local::plain(id, ParaKind::Operative, u.text);
                l.number = number;
                l
            }
            UnitKind::Sub(letter) => {
                let mut l = Local::plain(
                    format!("{}{letter}", parent.0),
                    ParaKind::Subparagraph,
                    u.text,
                );
                l.number = parent.1;
                l.letter = Some(letter);
                l
            }
        };
        out.push(local);
    }
    out
}

fn meeting_locals(text: &str) -> Vec<Local> {
    let mut out = Vec::new();
    for (t, turn) in meeting::turns(text).into_iter().enumerate() {
        let t = t as u32 + 1;
        for (p, para) in turn.paragraphs.into_iter().enumerate() {
            let mut l = Local::plain(format!("t{t}p{}", p + 1), ParaKind::Speech, para);
            l.speaker = turn.speaker.clone();
            l.country = turn.country.clone();
            l.language = turn.language.clone();
            l.turn = Some(t);
            out.push(l);
        }
    }
    out
}

fn prose_locals(text: &str, kind: ParaKind) -> Vec<Local> {
    let lines = clean::lines(text);
    prose::paragraphs(&lines, prose::speech_furniture)
        .into_iter()
        .enumerate()
        .map(|(i, p)| Local::plain(format!("p{}", i + 1), kind, p))
        .collect()
}

/// A document that could not be segmented.
#[derive(Debug)]
pub struct DocFailure {
    pub doc: String,
    pub source: PathBuf,
    pub error: SegmentError,
}

/// Segment many documents in parallel (rayon, one task per document); paragraphs come out
/// in document order (the order given), then paragraph order.
pub fn segment_documents(
    docs: &[Document],
    rules: &AgendaRules,
) -> (Vec<Paragraph>, Vec<DocFailure>) {
    segment_documents_with_progress(docs, rules, &|| {})
}

/// [`segment_documents`], calling `done` once per document as it is finished (from any
/// thread), for a progress bar.
pub fn segment_documents_with_progress(
    docs: &[Document],
    rules: &AgendaRules,
    done: &(dyn Fn() + Sync),
) -> (Vec<Paragraph>, Vec<DocFailure>) {
    let results: Vec<_> = docs
        .par_iter()
        .map(|d| {
            let r = segment_document(d, rules);
            done();
            (d, r)
        })
        .collect();
    let mut paragraphs = Vec::new();
    let mut failures = Vec::new();
    for (doc, res) in results {
        match res {
            Ok(p) => paragraphs.extend(p),
            Err(error) => failures.push(DocFailure {
                doc: doc.symbol.clone(),
                source: doc.source.clone(),
                error,
            }),
        }
    }
    (paragraphs, failures)
}

/// What reading and segmenting a set of paths gave.
#[derive(Debug)]
pub struct Segmented {
    /// The read documents, per-file failures and warnings.
    pub read: ReadOutcome,
    pub paragraphs: Vec<Paragraph>,
    pub failures: Vec<DocFailure>,
}

/// Read paths (see [`corpus::read_paths`]) and segment every document.
pub fn segment_paths(paths: &[PathBuf], rules: &AgendaRules) -> Segmented {
    let read = corpus::read_paths(paths);
    let (paragraphs, failures) = segment_documents(&read.documents, rules);
    Segmented {
        read,
        paragraphs,
        failures,
    }
}
