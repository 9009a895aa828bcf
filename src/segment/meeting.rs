//! Meeting-record (S/PV) segmentation: a verbatim record -> speaker turns -> paragraphs.
//!
//! Takes the raw text of a Security Council meeting record, gives [`Turn`]s in order, each
//! with the speaker, the country in brackets and the interpretation language
//! (`(spoke in Spanish)`), and the turn's paragraphs. The front matter (symbol, date,
//! attendance list, agenda) before the meeting is called to order is not speech;
//! procedural lines (`The meeting was called to order at ...`, `The meeting rose at ...`,
//! `The agenda was adopted.`) are not paragraphs and close the current turn. Page furniture
//! is removed and a paragraph cut by a page break is rejoined.

use super::clean::{self, Line};
use regex::Regex;
use std::sync::LazyLock;

/// One speaker turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `The President`, `Mr. Rajoy Brey`; `None` for text outside any turn.
    pub speaker: Option<String>,
    pub country: Option<String>,
    /// Language of the original speech; `English` when no `(spoke in ...)` is given, which
    /// is how verbatim records mark speeches delivered in English.
    pub language: Option<String>,
    pub paragraphs: Vec<String>,
}

static TURN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(The President|The Acting President|The Secretary-General|The Deputy Secretary-General|",
        r"(?:Mr|Mrs|Ms|Miss|Dame|Sir|Lord|Dr|Prince|Princess|Sheikh|Sheikha|Archbishop|Cardinal|Baroness)\.? ",
        r"[^():\n]{1,60}?)",
        r"(?: \(([^()]{2,60})\))?",
        r"(?: \((?:spoke|interpretation from|spoke in) (?:in )?([A-Z][a-z]+)\))?",
        r":\s*(.*)$"
    ))
    .unwrap()
});
static PROCEDURAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:The meeting (?:was called to order|rose|was suspended|was resumed|resumed)\b.*",
        r"|The agenda was adopted\.?|A vote was taken by show of hands\.?",
        r"|The meeting (?:was )?adjourned\b.*)$"
    ))
    .unwrap()
});

/// Speaker turns of a meeting record, in order.
pub fn turns(raw: &str) -> Vec<Turn> {
    let lines = clean::lines(raw);
    let start = lines
        .iter()
        .position(
            |l| matches!(l, Line::Text(t) if t.starts_with("The meeting was called to order")),
        )
        .unwrap_or(0);
    let mut turns: Vec<Turn> = Vec::new();
    let mut open = false; // whether the last turn still takes paragraphs
    let mut after_break = false;
    for line in &lines[start..] {
        let t = match line {
            Line::Text(t) if clean::is_pv_furniture(t) => {
                after_break = true;
                continue;
            }
            Line::PageBreak => {
                after_break = true;
                continue;
            }
            Line::Blank => continue,
            Line::Text(t) => t,
        };
        if PROCEDURAL.is_match(t) {
            open = false;
            after_break = false;
            continue;
        }
        if let Some(c) = TURN.captures(t) {
            let language = c
                .get(3)
                .map(|m| m.as_str().to_string())
                .or_else(|| Some("English".into()));
            let rest = c.get(4).map_or("", |m| m.as_str()).trim();
            turns.push(Turn {
                speaker: Some(c[1].trim().to_string()),
                country: c.get(2).map(|m| m.as_str().to_string()),
                language,
                paragraphs: if rest.is_empty() {
                    Vec::new()
                } else {
                    vec![rest.to_string()]
                },
            });
            open = true;
            after_break = false;
            continue;
        }
        if !open && !clean::ends_closed(t) {
            // An agenda-item heading between turns, not speech.
            continue;
        }
        if !open {
            turns.push(Turn {
                speaker: None,
                country: None,
                language: None,
                paragraphs: Vec::new(),
            });
            open = true;
        }
        let turn = turns.last_mut().expect("a turn is open");
        let first_lower = t.chars().next().is_some_and(char::is_lowercase);
        match turn.paragraphs.last_mut() {
            Some(prev) if after_break && (!clean::ends_closed(prev) || first_lower) => {
                prev.push(' ');
                prev.push_str(t);
            }
            _ => turn.paragraphs.push(t.clone()),
        }
        after_break = false;
    }
    turns.retain(|t| !t.paragraphs.is_empty());
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_line_parts() {
        let c = TURN
            .captures("Mr. Rajoy Brey (Spain) (spoke in Spanish): Thank you.")
            .unwrap();
        assert_eq!(&c[1], "Mr. Rajoy Brey");
        assert_eq!(&c[2], "Spain");
        assert_eq!(&c[3], "Spanish");
        assert_eq!(&c[4], "Thank you.");
        let c = TURN.captures("The President: I thank her.").unwrap();
        assert_eq!(&c[1], "The President");
        assert!(c.get(2).is_none());
    }

    #[test]
    fn procedural_lines_are_not_paragraphs() {
        let t = turns(
            "S/PV.1\nThe meeting was called to order at 10.05 a.m.\nThe President: One.\nThe agenda was adopted.\nThe President: Two.\nThe meeting rose at 1.10 p.m.\n",
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].paragraphs, ["One."]);
        assert_eq!(t[1].paragraphs, ["Two."]);
    }
}
