//! The transparent baseline: frame cues from the codebook as editable term lists.
//!
//! Takes paragraph text and `datasets/lexicon.toml`, gives a [`LabelSet`] (every frame with
//! at least one matching term) and the matched terms as evidence. It is what a careful
//! keyword search would do; the trained head has to beat it to earn its complexity, and
//! its matches double as human-readable evidence next to the head's probabilities.

use super::{Frame, LabelSet};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Deserialize)]
struct LexiconFile {
    frames: BTreeMap<String, FrameTerms>,
}

#[derive(Deserialize)]
struct FrameTerms {
    terms: Vec<String>,
}

/// Compiled term lists, one per frame.
#[derive(Debug, Clone)]
pub struct Lexicon {
    entries: Vec<(Frame, String, Regex)>,
}

/// Regex for one term: case-insensitive, word boundaries where the term starts or ends
/// with a word character, `*` = any word ending, any run of spaces = any whitespace.
fn term_regex(term: &str) -> Result<Regex, regex::Error> {
    let (body, wildcard) = match term.strip_suffix('*') {
        Some(b) => (b, true),
        None => (term, false),
    };
    let mut pattern = String::new();
    if body.chars().next().is_some_and(|c| c.is_alphanumeric()) {
        pattern.push_str(r"\b");
    }
    let words: Vec<String> = body.split_whitespace().map(regex::escape).collect();
    // Straight and curly apostrophes read alike: the 2016-2019 texts use curly ones.
    pattern.push_str(&words.join(r"\s+").replace('\'', "['’]"));
    if wildcard {
        pattern.push_str(r"\w*");
    } else if body.chars().last().is_some_and(|c| c.is_alphanumeric()) {
        pattern.push_str(r"\b");
    }
    RegexBuilder::new(&pattern).case_insensitive(true).build()
}

impl Lexicon {
    pub fn parse(text: &str, origin: &str) -> Result<Self, LexiconError> {
        let err = |message: String| LexiconError::Invalid {
            path: origin.to_string(),
            message,
        };
        let file: LexiconFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut entries = Vec::new();
        for (name, terms) in file.frames {
            let frame =
                Frame::parse(&name).ok_or_else(|| err(format!("unknown frame `{name}`")))?;
            for term in terms.terms {
                let re = term_regex(&term).map_err(|e| err(format!("term `{term}`: {e}")))?;
                entries.push((frame, term, re));
            }
        }
        Ok(Lexicon { entries })
    }

    pub fn load(path: &Path) -> Result<Self, LexiconError> {
        let text = std::fs::read_to_string(path).map_err(|e| LexiconError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Frames with at least one matching term, and the terms that matched, by frame.
    pub fn matches(&self, text: &str) -> (LabelSet, BTreeMap<Frame, Vec<&str>>) {
        let mut set = LabelSet::default();
        let mut evidence: BTreeMap<Frame, Vec<&str>> = BTreeMap::new();
        for (frame, term, re) in &self.entries {
            if re.is_match(text) {
                set.insert(*frame);
                evidence.entry(*frame).or_default().push(term.as_str());
            }
        }
        (set, evidence)
    }

    pub fn classify(&self, text: &str) -> LabelSet {
        self.matches(text).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/lexicon.toml");
        Lexicon::load(&path).expect("datasets/lexicon.toml parses")
    }

    #[test]
    fn shipped_lexicon_covers_every_frame() {
        let lx = lexicon();
        for f in Frame::ALL {
            assert!(
                lx.entries.iter().any(|(g, _, _)| *g == f),
                "no terms for {f}"
            );
        }
    }

    #[test]
    fn word_boundaries_wildcards_and_apostrophes() {
        let lx = Lexicon::parse(
            "[frames.security]\nterms = [\"terroris*\", \"ISIL\", \"Da'esh\"]\n[frames.gender]\nterms = [\"women\"]\n",
            "test",
        )
        .unwrap();
        assert_eq!(
            lx.classify("Condemns terrorist acts").names(),
            vec!["security"]
        );
        assert_eq!(
            lx.classify("fight against Da’esh").names(),
            vec!["security"]
        );
        assert!(
            lx.classify("the BASIL programme").is_empty(),
            "ISIL inside a word"
        );
        assert!(
            lx.classify("womenfolk").is_empty(),
            "no wildcard, no match inside a word"
        );
        let (set, ev) = lx.matches("Women and terrorism");
        assert_eq!(set.names(), vec!["security", "gender"]);
        assert_eq!(ev[&Frame::Gender], vec!["women"]);
    }

    #[test]
    fn remain_seized_is_not_asset_seizure() {
        // Regression: `seiz*` made every "remain seized of the matter" a crime paragraph.
        let lx = lexicon();
        assert!(lx
            .classify("Decides to remain seized of the matter.")
            .is_empty());
        assert_eq!(lx.classify("the seizure of assets").names(), vec!["crime"]);
    }

    #[test]
    fn unknown_frame_is_an_error() {
        assert!(Lexicon::parse("[frames.peace]\nterms = [\"x\"]\n", "t").is_err());
    }
}
