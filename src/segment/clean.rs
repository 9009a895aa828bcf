//! Text cleaning shared by every segmenter: line normalisation, page-furniture removal and
//! repair of words broken by PDF extraction.
//!
//! Takes raw document text, gives normalised lines (LF only, no tabs, NBSPs or form feeds,
//! trimmed) and a yes/no per line for "page furniture" (running heads, job numbers,
//! barcodes, page marks, rule lines). Kept apart from the segmenters so that the tests can
//! hold an independent furniture detector against this remover.

use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// One line after normalisation; a form feed becomes its own [`Line::PageBreak`] so that
/// the segmenters know a page ended there even when the page number is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Text(String),
    Blank,
    PageBreak,
}

/// Split raw text into normalised lines. CRLF and CR end lines, so the refworld files'
/// CR CR LF paragraph end gives a blank line while their soft CRLF breaks inside a paragraph
/// do not (the blank-separated layout then rejoins those); a form feed is a page break; tabs, NBSPs and other Unicode spaces become one space; zero-width characters
/// and soft hyphens inside words are dropped (a soft hyphen opening a line is a bullet and
/// becomes `-`).
pub fn lines(raw: &str) -> Vec<Line> {
    let text = raw.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    for physical in text.split('\n') {
        let mut parts = physical.split('\x0c').peekable();
        while let Some(part) = parts.next() {
            let line = normalise_spaces(part);
            out.push(if line.is_empty() {
                Line::Blank
            } else {
                Line::Text(line)
            });
            if parts.peek().is_some() {
                out.push(Line::PageBreak);
            }
        }
    }
    out
}

/// Collapse whitespace, map odd spaces to ASCII space, drop invisible characters, trim.
pub fn normalise_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for (i, c) in s.trim().char_indices() {
        let c = match c {
            '\u{AD}' if i == 0 => '-',
            '\u{AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' | '\u{2060}' => continue,
            c if c.is_whitespace() || c.is_control() => {
                pending_space = true;
                continue;
            }
            c => c,
        };
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

/// Page furniture of UN documents: text the printer adds to every page, never part of a
/// paragraph. Each pattern matches a whole (normalised) line.
static FURNITURE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // Job numbers `15-17716 (E)`, `11-38950* (E)`, with trailing junk the extraction
        // leaves (`00-72018 (E) `````), a page mark or date before or after.
        r"^(?:\d{1,3}(?:/\d{1,3})?\s+)?\d{2}-\d{5}\s*\*?\s*(?:\([A-Z]\)?)?(?:\s+\d{6})?[\s`'*.]*(?:\s+\d{1,3}(?:/\d{1,3})?)?$",
        // Barcodes `*1517716*`.
        r"^\*\d{5,}\*$",
        // Page marks `3/7`, bare page numbers, `Page 2`, `- 3 -`.
        r"^(?:Page\s+)?\d{1,3}(?:\s*/\s*\d{1,3})?$",
        r"^-\s*\d{1,3}\s*-$",
        // Continuation marks `/...` and `...`.
        r"^/?\.{3}/?$",
        // Running heads `S/RES/1000 (1995) Page 2`, `S/RES/1990 (2011)*`.
        // ... `S/RES/992 (1995) English Page 2`, `S/RES/992 (1995) English 3`, and with a
        // stray bracket `S/RES/2091 (2013))`.
        r"^S/RES/\d+\s*\(\d{4}\)\)?\s*\*?(?:\s*English)?(?:\s*(?:Page\s+)?\d{1,3})?$",
        // Rule lines.
        r"^[-_=*`~.•·]{3,}$",
        // Reissue notes `* Reissued for technical reasons on 29 June 2011.`
        r"^\*\s*Reissued for technical reasons\b.*$",
    ]
    .iter()
    .map(|p| Regex::new(p).unwrap())
    .collect()
});

/// Meeting-record furniture: running heads `S/PV.9999 Title 12/03/2024` and the
/// `24-12345 3/20` page foot.
static PV_FURNITURE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"^S/PV\.\d+(?:\s*\(Resumption\s*\d*\))?(?:\s+.{0,120}\s+\d{2}/\d{2}/\d{4})?$",
        r"^\d{1,2}/\d{2}/\d{4}\s+.{0,120}\s+S/PV\.\d+(?:\s*\(Resumption\s*\d*\))?$",
    ]
    .iter()
    .map(|p| Regex::new(p).unwrap())
    .collect()
});

/// Furniture glued to the start or end of a text line by the extraction: `30/56 16-29296 `
/// before a speech line, `... matter. 02-28359 (E) *0228359*` or `...;S/RES/908 (1994)` after
/// a resolution line.
static INLINE_FURNITURE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"^\d{1,3}/\d{1,3}\s+\d{2}-\d{5}\s+",
        r"^\d{2}-\d{5}\s+\d{1,3}/\d{1,3}\s+",
        r"\s+\d{1,3}/\d{1,3}\s+\d{2}-\d{5}$",
        r"\s+\d{2}-\d{5}\s+\d{1,3}/\d{1,3}$",
        r"\s*\b\d{2}-\d{5}\*?\s*\([A-Z]\)?(?:\s*\*\d{6,}\*)?$",
        r"\s*\*\d{6,}\*$",
        r"([;:,.])\s*S/RES/\d+\s*\(\d{4}\)\s*\*?$",
    ]
    .iter()
    .map(|p| Regex::new(p).unwrap())
    .collect()
});

/// Remove furniture glued to a line; the flag says whether any was found (a page ended
/// there, so the line may continue a paragraph from the page before).
pub fn strip_inline_furniture(line: &str) -> (String, bool) {
    let mut out = line.to_string();
    let mut found = false;
    for re in INLINE_FURNITURE.iter() {
        if let Some(m) = re.find(&out) {
            // Keep the punctuation the running-head pattern captured before the symbol.
            let keep = re
                .captures(&out)
                .and_then(|c| c.get(1))
                .map(|g| g.as_str().to_string())
                .unwrap_or_default();
            out = format!("{}{keep}{}", &out[..m.start()], &out[m.end()..]);
            found = true;
        }
    }
    (out.trim().to_string(), found)
}

/// Whether a normalised line is page furniture.
pub fn is_furniture(line: &str) -> bool {
    FURNITURE.iter().any(|r| r.is_match(line))
}

/// Whether a normalised line is page furniture of a meeting record.
pub fn is_pv_furniture(line: &str) -> bool {
    is_furniture(line) || PV_FURNITURE.iter().any(|r| r.is_match(line))
}

static SPACED_HYPHEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\p{L}) -(\p{L})").unwrap());
static SPACED_APOSTROPHE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\p{L}) ([’']s)\b").unwrap());
static FOOTNOTE_MARK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s*\[\d{1,3}\]").unwrap());
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\p{L}+").unwrap());

/// Endings that are never English words on their own, so `engage ment` is always one word.
const SUFFIXES: [&str; 18] = [
    "ment", "ments", "tion", "tions", "sion", "sions", "ional", "ity", "ities", "ness", "ance",
    "ances", "ence", "ences", "ization", "isation", "ing", "ings",
];

/// Word counts of a document, used to decide whether `internat ional` is a broken word:
/// it is when `international` occurs as a word in the same document and one of the halves
/// never occurs except in this split.
///
/// Hash maps are used for lookups only; nothing is iterated, so output order is unaffected.
#[derive(Debug, Default)]
pub struct Vocabulary {
    words: HashMap<String, usize>,
    /// Counts of adjacent pairs `a b` whose concatenation `ab` is itself a word.
    pairs: HashMap<(String, String), usize>,
}

impl Vocabulary {
    /// Count words and adjacent word pairs (lower case) over the given texts.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str> + Clone) -> Self {
        let mut v = Vocabulary::default();
        for text in texts.clone() {
            for m in WORD.find_iter(text) {
                *v.words.entry(m.as_str().to_lowercase()).or_default() += 1;
            }
        }
        for text in texts {
            let mut prev: Option<regex::Match> = None;
            for m in WORD.find_iter(text) {
                if let Some(p) = prev {
                    if &text[p.end()..m.start()] == " " {
                        let (a, b) = (p.as_str().to_lowercase(), m.as_str().to_lowercase());
                        if v.words.contains_key(&format!("{a}{b}")) {
                            *v.pairs.entry((a, b)).or_default() += 1;
                        }
                    }
                }
                prev = Some(m);
            }
        }
        v
    }

    fn count(&self, w: &str) -> usize {
        self.words.get(w).copied().unwrap_or(0)
    }

    /// Whether `a b` is one word broken in two.
    fn broken(&self, a: &str, b: &str) -> bool {
        let (la, lb) = (a.to_lowercase(), b.to_lowercase());
        let lower_tail = b.chars().all(|c| c.is_lowercase());
        if !lower_tail {
            return false;
        }
        if SUFFIXES.contains(&lb.as_str()) && a.chars().count() >= 2 {
            return true;
        }
        let joined = format!("{la}{lb}");
        if self.count(&joined) == 0 {
            return false;
        }
        let pair = self
            .pairs
            .get(&(la.clone(), lb.clone()))
            .copied()
            .unwrap_or(0);
        pair > 0 && (self.count(&la) == pair || self.count(&lb) == pair)
    }
}

/// Repair extraction damage in one paragraph: `money -laundering` -> `money-laundering`,
/// `women 's` -> `women's`, `internat ional` -> `international` (see [`Vocabulary`]), and
/// drop refworld footnote marks `[1]`. Real hyphens (`peace-building`, `pre- and post-`)
/// and dashes with spaces on both sides are left alone.
pub fn repair(text: &str, vocab: &Vocabulary) -> String {
    let text = FOOTNOTE_MARK.replace_all(text, "");
    let text = SPACED_HYPHEN.replace_all(&text, "$1-$2");
    let text = SPACED_APOSTROPHE.replace_all(&text, "$1$2");
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let words: Vec<_> = WORD.find_iter(&text).collect();
    let mut i = 0;
    while i + 1 < words.len() {
        let (a, b) = (words[i], words[i + 1]);
        if &text[a.end()..b.start()] == " " && vocab.broken(a.as_str(), b.as_str()) {
            out.push_str(&text[last..a.end()]);
            last = b.start();
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[last..]);
    normalise_spaces(&out)
}

/// Whether a paragraph ends like a complete unit (`.`, `,`, `;`, `:`, `!`, `?`, maybe
/// followed by closing quotes or brackets). Open ends mark a paragraph cut by a page break.
pub fn ends_closed(text: &str) -> bool {
    let t = text.trim_end_matches(|c: char| {
        matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '*' | ' ') || c.is_ascii_digit()
    });
    let t = if t.is_empty() { text } else { t };
    t.ends_with(['.', ',', ';', ':', '!', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_form_feed_nbsp_are_normalised() {
        let l = lines("a\r\r\nb\u{a0}\u{a0} c\t d\x0cS/RES/1 (1946)\r\n");
        assert_eq!(
            l,
            vec![
                Line::Text("a".into()),
                Line::Blank,
                Line::Text("b c d".into()),
                Line::PageBreak,
                Line::Text("S/RES/1 (1946)".into()),
                Line::Blank,
            ]
        );
    }

    #[test]
    fn furniture_lines_are_recognised() {
        for f in [
            "15-17716 (E)",
            "11-38950* (E)",
            "00-72018 (E) `````````",
            "*1517716*",
            "3/7",
            "2/7 15-17716",
            "6/7 15-17716",
            "15-17716",
            "/...",
            "S/RES/1000 (1995) Page 2",
            "S/RES/1990 (2011)*",
            "S/RES/992 (1995) English Page 2",
            "S/RES/992 (1995) English 3",
            "S/RES/2091 (2013))",
            "-----",
            "12",
        ] {
            assert!(is_furniture(f), "{f}");
        }
        for t in [
            "23 March 2015 (S/2015/203), and further noting",
            "1. Decides to remain seized of the matter.",
            "S/RES/1325 (2000) is recalled here,",
        ] {
            assert!(!is_furniture(t), "{t}");
        }
    }

    #[test]
    fn broken_words_are_rejoined_real_hyphens_kept() {
        let v = Vocabulary::build(["international law; internat ional law"]);
        assert_eq!(repair("internat ional law", &v), "international law");
        assert_eq!(repair("money -laundering", &v), "money-laundering");
        assert_eq!(repair("women 's groups", &v), "women's groups");
        assert_eq!(repair("engage ment", &v), "engagement");
        assert_eq!(
            repair("peace-building, pre- and post-conflict", &v),
            "peace-building, pre- and post-conflict"
        );
        assert_eq!(
            repair("Strategy -- A/RES/60/288", &v),
            "Strategy -- A/RES/60/288"
        );
        // Both halves are words used elsewhere: not a split.
        let v = Vocabulary::build(["in to into in the to the"]);
        assert_eq!(repair("in to", &v), "in to");
    }

    #[test]
    fn glued_furniture_is_stripped() {
        assert_eq!(
            strip_inline_furniture("30/56 16-29296 together we can"),
            ("together we can".to_string(), true)
        );
        assert_eq!(
            strip_inline_furniture("of the matter. 02-28359 (E) *0228359*").0,
            "of the matter."
        );
        assert_eq!(
            strip_inline_furniture("as appropriate;S/RES/908 (1994)").0,
            "as appropriate;"
        );
        assert_eq!(
            strip_inline_furniture("recalling resolution 1325 (2000),"),
            ("recalling resolution 1325 (2000),".to_string(), false)
        );
    }

    #[test]
    fn closed_ends() {
        assert!(ends_closed("Recalling its resolutions,"));
        assert!(ends_closed("Decides to remain seized of the matter."));
        assert!(ends_closed("as follows:\""));
        assert!(!ends_closed("and further invites him to"));
    }
}
