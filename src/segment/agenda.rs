//! Agenda tags: an editable rule table -> the agendas a document belongs to.
//!
//! Takes `datasets/agendas.toml` (or any file of the same shape; the shipped table is also
//! compiled in as the default) and a document's text, gives the sorted ids of the agendas
//! whose rules match. A rule matches when the document cites one of its resolutions
//! (`resolution 1325 (2000)`, `S/RES/1325 (2000)`, or is that resolution) or contains one of
//! its phrases (case-insensitive, whitespace-normalised). The table is plain data so that a
//! scholar can read exactly why a paragraph was tagged and change it without touching code.

use super::SegmentError;
use crate::corpus::Document;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// The shipped rule table.
pub const DEFAULT_RULES: &str = include_str!("../../datasets/agendas.toml");

/// One agenda and the evidence that puts a document on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaRule {
    /// Tag written to the output (`women_peace_security`).
    pub id: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// Resolution numbers whose citation (or adoption) puts a document on the agenda.
    #[serde(default)]
    pub resolutions: Vec<u32>,
    /// Phrases (matched case-insensitively, spaces normalised) that put it on the agenda.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Phrases only looked for in the title and the first `head_chars` characters.
    #[serde(default)]
    pub title_phrases: Vec<String>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaRules {
    /// How many leading characters of the text count as "title" for `title_phrases`.
    #[serde(default = "default_head")]
    pub head_chars: usize,
    #[serde(rename = "agenda", default)]
    pub agendas: Vec<AgendaRule>,
}

fn default_head() -> usize {
    600
}

impl AgendaRules {
    /// Parse a rule table from TOML text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SegmentError> {
        let mut rules: AgendaRules = toml::from_str(text).map_err(|e| SegmentError::Rules {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut ids = BTreeSet::new();
        for rule in &mut rules.agendas {
            // `all` names the group of every document in analyze's outputs; an agenda of that
            // name would add its paragraphs to it a second time. A repeated id would merge two
            // rules' documents under one name without saying so.
            if rule.id == "all" || !ids.insert(rule.id.clone()) {
                return Err(SegmentError::Rules {
                    path: origin.to_string(),
                    message: format!(
                        "agenda id `{}` is {}",
                        rule.id,
                        if rule.id == "all" {
                            "reserved (it names every document in the outputs)"
                        } else {
                            "used twice"
                        }
                    ),
                });
            }
            for p in rule.phrases.iter_mut().chain(rule.title_phrases.iter_mut()) {
                *p = normalise(p);
            }
        }
        Ok(rules)
    }

    /// Load a rule table from a file.
    pub fn load(path: &Path) -> Result<Self, SegmentError> {
        let text = std::fs::read_to_string(path).map_err(|e| SegmentError::Rules {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The compiled-in default table (`datasets/agendas.toml` of this source tree).
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_RULES, "datasets/agendas.toml").expect("shipped agendas.toml parses")
    }

    /// No rules: nothing is tagged.
    pub fn empty() -> Self {
        AgendaRules {
            head_chars: default_head(),
            agendas: Vec::new(),
        }
    }

    /// Sorted agenda ids for a document whose paragraphs, joined, are `body` (the cleaned
    /// text, so that the header and furniture do not count and broken words are repaired).
    pub fn tags(&self, doc: &Document, body: &str) -> Vec<String> {
        if self.agendas.is_empty() {
            return Vec::new();
        }
        let text = normalise(body);
        let mut head: String = text.chars().take(self.head_chars).collect();
        if let Some(title) = &doc.title {
            head = format!("{} {head}", normalise(title));
        }
        // The same reading of citations as `citations` (years optional where unambiguous),
        // with the numbers the rules name accepted after a bare "resolution(s)".
        let known: BTreeSet<u32> = self
            .agendas
            .iter()
            .flat_map(|r| r.resolutions.iter().copied())
            .collect();
        let mut cited = crate::citations::cited_resolutions(body, &known);
        if doc.kind == crate::corpus::DocKind::Resolution {
            cited.extend(doc.number);
        }
        let mut tags: BTreeSet<String> = BTreeSet::new();
        for rule in &self.agendas {
            let hit = rule.resolutions.iter().any(|r| cited.contains(r))
                || rule.phrases.iter().any(|p| text.contains(p.as_str()))
                || rule.title_phrases.iter().any(|p| head.contains(p.as_str()));
            if hit {
                tags.insert(rule.id.clone());
            }
        }
        tags.into_iter().collect()
    }
}

/// Lower case, curly quotes straightened, whitespace collapsed.
fn normalise(s: &str) -> String {
    s.to_lowercase()
        .replace(['’', '‘'], "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::DocKind;

    #[test]
    fn shipped_table_parses_and_tags() {
        let rules = AgendaRules::builtin();
        assert!(rules.agendas.len() >= 7);
        let doc = Document::new(
            "x",
            DocKind::Other,
            "Recalling its resolutions 1325 (2000) and 1373 (2001) on the situation in Haiti,",
        );
        let tags = rules.tags(&doc, &doc.text);
        assert!(
            tags.contains(&"women_peace_security".to_string()),
            "{tags:?}"
        );
        assert!(tags.contains(&"counter_terrorism".to_string()), "{tags:?}");
        assert!(tags.contains(&"country_situation".to_string()), "{tags:?}");
        assert!(!tags.contains(&"sanctions".to_string()), "{tags:?}");
    }

    /// Regression: a yearless citation ("in line with resolutions 1960 and 2106", as in
    /// 2331's op18) did not count for the agenda its numbers belong to.
    #[test]
    fn yearless_citations_of_an_agendas_resolutions_were_missed() {
        let rules = AgendaRules::builtin();
        let tags = |text: &str| {
            let doc = Document::new("x", DocKind::Other, text);
            rules.tags(&doc, &doc.text)
        };
        let wps = "women_peace_security".to_string();
        assert!(tags("address such crimes in line with resolutions 1960 and 2106").contains(&wps));
        assert!(tags("We support Security Council Resolution 2417 fully.")
            .contains(&"protection_of_civilians".to_string()));
        assert!(tags("The President adopted resolution 479 on 1 July.").is_empty());
        // General Assembly resolutions 2253 and 2254 (ES-V) of 1967, cited by S/RES/252
        // (1968), are not the Council's 2253 (2015) on counter-terrorism.
        assert!(tags(
            "Recalling General Assembly resolutions 2253 (ES-V) of 4 July 1967 and 2254 (ES-V)"
        )
        .is_empty());
    }

    /// An agenda called `all` used to be accepted, and its paragraphs were then counted a
    /// second time in analyze's `all` group; a repeated id silently merged two rules.
    #[test]
    fn reserved_and_repeated_agenda_ids_are_refused() {
        let rule =
            |id: &str| format!("[[agenda]]\nid = \"{id}\"\nname = \"x\"\nphrases = [\"x\"]\n");
        let err = AgendaRules::parse(&rule("all"), "t.toml").unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        let twice = rule("sanctions") + &rule("sanctions");
        let err = AgendaRules::parse(&twice, "t.toml").unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        assert!(AgendaRules::parse(&rule("sanctions"), "t.toml").is_ok());
    }
}
