//! Citations: which legal instruments and Security Council resolutions a paragraph cites.
//!
//! Takes paragraph text and the pattern table `datasets/citations.toml`, gives
//! [`Citations`]: instrument ids (`cedaw`, `palermo_untoc`, ...) and resolution numbers, with
//! resolution 1325 (2000) and its successors flagged as WPS. Citations are the most explicit
//! trace of framing a text leaves (recalling CEDAW versus the Palermo Protocol), so they are
//! counted next to the classifier's frames, from a table a scholar can read and extend.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CitationError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Deserialize)]
struct TableFile {
    wps_resolutions: Vec<u32>,
    instrument: Vec<InstrumentSpec>,
}

#[derive(Deserialize)]
struct InstrumentSpec {
    id: String,
    name: String,
    patterns: Vec<String>,
}

/// One instrument with its compiled patterns.
#[derive(Debug, Clone)]
pub struct Instrument {
    pub id: String,
    pub name: String,
    patterns: Vec<Regex>,
}

/// The compiled citation table.
#[derive(Debug, Clone)]
pub struct CitationTable {
    pub instruments: Vec<Instrument>,
    pub wps_resolutions: BTreeSet<u32>,
    resolution: Regex,
}

/// What one paragraph cites.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citations {
    /// Instrument ids, in table order.
    pub instruments: Vec<String>,
    /// Security Council resolution numbers, ascending.
    pub resolutions: Vec<u32>,
    /// Whether any cited resolution is 1325 (2000) or a successor.
    pub wps: bool,
}

impl Citations {
    /// Flat labels for tables: instrument ids, then `S/RES/<n>`.
    pub fn labels(&self) -> Vec<String> {
        self.instruments
            .iter()
            .cloned()
            .chain(self.resolutions.iter().map(|n| format!("S/RES/{n}")))
            .collect()
    }
}

fn phrase_regex(phrase: &str) -> Result<Regex, regex::Error> {
    let words: Vec<String> = phrase.split_whitespace().map(regex::escape).collect();
    let mut p = words.join(r"\s+");
    if phrase.chars().next().is_some_and(char::is_alphanumeric) {
        p = format!(r"\b{p}");
    }
    if phrase.chars().last().is_some_and(char::is_alphanumeric) {
        p.push_str(r"\b");
    }
    RegexBuilder::new(&p).case_insensitive(true).build()
}

impl CitationTable {
    pub fn parse(text: &str, origin: &str) -> Result<Self, CitationError> {
        let err = |message: String| CitationError::Invalid {
            path: origin.to_string(),
            message,
        };
        let file: TableFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut instruments = Vec::new();
        for spec in file.instrument {
            let patterns = spec
                .patterns
                .iter()
                .map(|p| phrase_regex(p).map_err(|e| err(format!("{}: {e}", spec.id))))
                .collect::<Result<_, _>>()?;
            instruments.push(Instrument {
                id: spec.id,
                name: spec.name,
                patterns,
            });
        }
        Ok(CitationTable {
            instruments,
            wps_resolutions: file.wps_resolutions.into_iter().collect(),
            // A number of up to four digits directly followed by a year in parentheses is how
            // resolutions are cited ("1325 (2000)"); other UN symbols (S/2000/693,
            // A/52/231) never take that shape.
            resolution: Regex::new(r"\b(\d{1,4})\s*\((19[4-9]\d|20\d\d)\)").expect("static regex"),
        })
    }

    pub fn load(path: &Path) -> Result<Self, CitationError> {
        let text = std::fs::read_to_string(path).map_err(|e| CitationError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn extract(&self, text: &str) -> Citations {
        let instruments = self
            .instruments
            .iter()
            .filter(|i| i.patterns.iter().any(|p| p.is_match(text)))
            .map(|i| i.id.clone())
            .collect();
        let resolutions: BTreeSet<u32> = self
            .resolution
            .captures_iter(text)
            .filter_map(|c| c[1].parse().ok())
            .filter(|n| *n > 0)
            .collect();
        let wps = resolutions.iter().any(|n| self.wps_resolutions.contains(n));
        Citations {
            instruments,
            resolutions: resolutions.into_iter().collect(),
            wps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CitationTable {
        CitationTable::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/citations.toml"))
            .unwrap()
    }

    #[test]
    fn instruments_and_resolutions_are_found() {
        let t = table();
        let c = t.extract(
            "Recalling the Convention on the Elimination of All Forms of Discrimination against Women \
             and its resolutions 1325 (2000), 1820 (2008) and 2106 (2013), as well as S/RES/2331 (2016),",
        );
        assert_eq!(c.instruments, vec!["cedaw"]);
        assert_eq!(c.resolutions, vec![1325, 1820, 2106, 2331]);
        assert!(c.wps);
        let c = t.extract(
            "the Protocol to Prevent, Suppress and Punish Trafficking in Persons, Especially Women",
        );
        assert_eq!(c.instruments, vec!["palermo_untoc"]);
        assert!(!c.wps);
    }

    #[test]
    fn other_symbols_and_dates_are_not_resolutions() {
        let t = table();
        let c = t.extract("report of 15 June 1995 (S/1995/488) and document A/52/231 under Article 41 (1) of 8 March 2000");
        assert!(c.resolutions.is_empty(), "{c:?}");
        assert!(c.instruments.is_empty());
    }
}
