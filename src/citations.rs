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
use std::sync::LazyLock;

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

/// A number of up to four digits directly followed by a year in parentheses is how
/// resolutions are cited ("1325 (2000)"); other UN symbols (S/2000/693, A/52/231) never take
/// that shape.
static WITH_YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,4})\s*\((19[4-9]\d|20\d\d)\)").expect("static regex"));

/// "resolution(s) N[, N and N]": group 1 says whether the Security Council is named, group 2
/// is the list (numbers with or without their years).
static LISTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b((?:Security\s+Council|UNSC)\s+)?resolutions?\s+(?:No\.?\s*)?",
        r"(\d{1,4}\b(?:\s*\((?:19|20)\d\d\))?",
        r"(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*)(?:resolution\s+)?",
        r"\d{1,4}\b(?:\s*\((?:19|20)\d\d\))?)*)",
    ))
    .expect("static regex")
});

/// One member of a [`LISTED`] list and its year, if given (matched so that the year is not
/// read as a number).
static MEMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{1,4})\b(\s*\((?:19|20)\d\d\))?").expect("static regex"));

/// The Security Council resolution numbers `text` cites.
///
/// Any number followed by its year counts. Speakers in debates, and some resolutions ("in
/// line with resolutions 1960 and 2106"), drop the year; without it a bare "resolution N"
/// may as well be a General Assembly resolution of before 1976 ("resolution 2758 of 1971")
/// or a national one ("our President adopted resolution 479"), so a yearless number counts
/// only when the phrase names the Security Council (and it has three or four digits: one or
/// two are footnote marks far more often than the Council's resolutions of 1946-1951), or
/// when it is one of `known` (the WPS list for citations, the agendas' lists for agenda
/// tags), whose numbers are unambiguous in these texts. A number directly followed by "/"
/// is a session-numbered symbol ("resolution 70/1" of the General Assembly, 16/18 of the
/// Human Rights Council), and one followed by a parenthesis that is not a year names
/// another organ's session ("resolutions 2253 (ES-V) and 2254 (ES-V)" of the General
/// Assembly, cited by resolution 252 (1968)): neither is a Council number.
pub fn cited_resolutions(text: &str, known: &BTreeSet<u32>) -> BTreeSet<u32> {
    let mut cited: BTreeSet<u32> = WITH_YEAR
        .captures_iter(text)
        .filter_map(|c| c[1].parse().ok())
        .filter(|n| *n > 0)
        .collect();
    for c in LISTED.captures_iter(text) {
        let council = c.get(1).is_some();
        let list = c.get(2).expect("group 2 always takes part");
        for n in MEMBER.captures_iter(list.as_str()) {
            let m = n.get(1).expect("group 1 always takes part");
            let k: u32 = m.as_str().parse().unwrap_or(0);
            let yearless_ok = (council && k >= 100) || known.contains(&k);
            let rest = &text[list.start() + m.end()..];
            // "70/1" is a session-numbered symbol; "2253 (ES-V)", "2199 (LXI)" carry a
            // General Assembly or Trusteeship Council session where the Council's year
            // would be.
            let not_council =
                rest.starts_with('/') || (n.get(2).is_none() && rest.trim_start().starts_with('('));
            if (n.get(2).is_some() || yearless_ok) && k > 0 && !not_council {
                cited.insert(k);
            }
        }
    }
    cited
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
        let resolutions = cited_resolutions(text, &self.wps_resolutions);
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

    /// Regression: debate speakers' yearless citations ("Security Council resolution 2417",
    /// "resolution 1325 on Women, Peace and Security") were not found, so a speech citing
    /// 1325 that way was not flagged WPS.
    #[test]
    fn yearless_council_and_wps_citations_were_missed() {
        let t = table();
        let cases: [(&str, &[u32], bool); 12] = [
            (
                "the 20th anniversary of resolution 1325 on Women, Peace and Security",
                &[1325],
                true,
            ),
            (
                "the implementation of Security Council resolution 2417, which condemns starvation",
                &[2417],
                false,
            ),
            (
                "in line with UN Security Council resolutions 242, 338, and 497, is an inalienable right",
                &[242, 338, 497],
                false,
            ),
            (
                "UNSC Resolution 2231 and Security Council resolutions 1325 (2000) and 1820",
                &[1325, 1820, 2231],
                true,
            ),
            (
                "to prevent and address such crimes in line with resolutions 1960 and 2106, and encourages",
                &[1960, 2106],
                true,
            ),
            // Not the Council's, or not a Council number: left alone.
            ("That is why our President adopted resolution 479 on 1 July", &[], false),
            ("the UN resolution 2758 of 1971 does not preclude", &[], false),
            ("the 2030 Agenda (resolution 70/1) and resolution 1325/2", &[], false),
            ("Human Rights Council resolution 16/18", &[], false),
            (
                "the implementation of Security Council resolution 39 1373 (2001)",
                &[1373],
                false,
            ),
            ("Trusteeship Council resolutions 1082 (XIV) and 1493 (XVII)", &[], false),
            // A WPS number as another organ's resolution (found as a false agenda tag).
            (
                "Assembly resolutions 1960 (ES-V) of 4 July 1967 and 2106 (XX)",
                &[],
                false,
            ),
        ];
        for (text, want, wps) in cases {
            let c = t.extract(text);
            assert_eq!(c.resolutions, want, "{text}");
            assert_eq!(c.wps, wps, "{text}");
        }
    }

    #[test]
    fn other_symbols_and_dates_are_not_resolutions() {
        let t = table();
        let c = t.extract("report of 15 June 1995 (S/1995/488) and document A/52/231 under Article 41 (1) of 8 March 2000");
        assert!(c.resolutions.is_empty(), "{c:?}");
        assert!(c.instruments.is_empty());
    }
}
