//! Resolution segmentation: a resolution's text -> preambular, operative and sub-paragraph
//! units in document order.
//!
//! Takes the raw text of one resolution in any of the corpus layouts (modern UN-document
//! layout with page furniture, one paragraph per line; refworld layout with CRLF and
//! NBSP-padded numbers; yearbook layout with blank-line-separated paragraphs), gives
//! [`Unit`]s with their labels. The header (symbol, distribution, title, adoption line) is
//! skipped; headings and adoption/vote lines are not paragraphs. Paragraphs cut by a page
//! break are rejoined: a unit that does not end closed (see [`clean::ends_closed`]) and is
//! followed across a page break by an unlabelled line continues there, and a lower-case line
//! after a page break always continues the unit before it.

use super::clean::{self, Line};
use regex::Regex;
use std::sync::LazyLock;

/// What a unit is, with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitKind {
    Preambular,
    Operative(Option<u32>),
    /// A lettered, numbered-roman or bulleted item under the current parent.
    Sub(String),
}

/// One paragraph of a resolution before ids are given: its kind and its text (label
/// removed, whitespace normalised, not yet repaired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub kind: UnitKind,
    /// Part of a resolution adopted in parts (A, B, ...): 1 for the first.
    pub part: u32,
    pub text: String,
}

static SC_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.*\s)?The Security Council\s*[,:;]?\s*(.*)$").unwrap());

/// If the line opens a resolution body (`The Security Council,`, possibly after a title on
/// the same line, possibly with the first paragraph after the comma), the text after it.
fn sc_line(t: &str) -> Option<&str> {
    let c = SC_LINE.captures(t)?;
    let rest = c.get(2).map_or("", |m| m.as_str());
    // Alone, or after a title on the same line (`RESOLUTION 893 (1994) Adopted ... The
    // Security Council, Reaffirming ...` in some refworld files).
    let starts = c
        .get(1)
        .is_none_or(|m| m.as_str().to_lowercase().contains("resolution"));
    let upper = rest.chars().next().is_some_and(char::is_uppercase);
    ((starts && upper) || rest.is_empty()).then_some(rest)
}
static ADOPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\(?(?:Adopted|Adopté)\b.{0,200}(?:meeting|votes?|unanimously|consensus|abstentions?)\b.*$")
        .unwrap()
});
static NOTE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[\d{1,3}\]\s").unwrap());
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,3})\s?\.(?:\s+|$)(.*)$").unwrap());
static PAREN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(([a-z]{1,2}|[ivxl]{1,6})\)(?:\s+|$)(.*)$").unwrap());
static LETTER_DOT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-z]|[ivx]{2,5})[.)](?:\s+|$)(.*)$").unwrap());
static BULLET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-–—•·▪◦*](?:\s+|$)(.*)$").unwrap());
static HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:united nations|security council|s|distr\b.*|general|",
        r"resolution\s+\d+\s*\(\d{4}\).*|\d+\s*\(\d{4}\)\.\s*resolution\b.*|",
        r"\d+\s+resolution of\b.*|of \d{1,2} \w+ \d{4}\.?|on \d{1,2} \w+ \d{4}\.?|",
        r"s/res/\d+.*|security council resolution\b.*)$"
    ))
    .unwrap()
});

/// A label at the start of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Number(u32),
    Letter(String),
    Bullet,
}

fn parse_label(text: &str) -> Option<(Label, &str)> {
    if let Some(c) = NUMBER.captures(text) {
        let n = c[1].parse().ok()?;
        return Some((Label::Number(n), c.get(2).map_or("", |m| m.as_str())));
    }
    if let Some(c) = PAREN.captures(text).or_else(|| LETTER_DOT.captures(text)) {
        let rest = c.get(2).map_or("", |m| m.as_str());
        return Some((Label::Letter(c[1].to_string()), rest));
    }
    if let Some(c) = BULLET.captures(text) {
        return Some((Label::Bullet, c.get(1).map_or("", |m| m.as_str())));
    }
    None
}

/// A block of text between breaks, before labels are read.
#[derive(Debug)]
struct Block {
    text: String,
    /// A page break (or removed furniture) came right before it.
    after_break: bool,
    /// A blank line came right before it.
    after_blank: bool,
}

/// Split a resolution's raw text into units.
pub fn units(raw: &str) -> Vec<Unit> {
    let lines = clean::lines(raw);
    let start = body_start(&lines);
    // Body lines, with furniture and non-paragraph lines turned into markers.
    #[derive(PartialEq)]
    enum L {
        Text(String),
        Blank,
        Break,
        NewPart,
    }
    let mut body = Vec::new();
    let mut in_footnotes = false;
    for line in &lines[start..] {
        // Footnotes: a rule of underscores, then notes until the page ends.
        if let Line::Text(t) = line {
            if let Some(pos) = t.find("_____") {
                let before = t[..pos].trim();
                if !before.is_empty() {
                    body.push(L::Text(before.to_string()));
                }
                in_footnotes = true;
                continue;
            }
        }
        if in_footnotes {
            match line {
                Line::PageBreak => in_footnotes = false,
                Line::Text(t) if clean::is_furniture(t) => in_footnotes = false,
                _ => continue,
            }
        }
        if let Line::Text(t) = line {
            if !clean::is_furniture(t) {
                let (t, glued) = clean::strip_inline_furniture(t);
                let pieces = if t.is_empty() {
                    Vec::new()
                } else {
                    split_run_on(&t)
                };
                if glued || pieces.len() > 1 {
                    for piece in pieces {
                        match sc_line(&piece) {
                            Some(rest) => {
                                body.push(L::NewPart);
                                if !rest.is_empty() {
                                    body.push(L::Text(rest.to_string()));
                                }
                            }
                            None if ADOPTION.is_match(&piece) => body.push(L::Blank),
                            None => body.push(L::Text(piece)),
                        }
                    }
                    if glued {
                        body.push(L::Break);
                    }
                    continue;
                }
            }
        }
        match line {
            Line::Text(t) if clean::is_furniture(t) => body.push(L::Break),
            Line::Text(t) if ADOPTION.is_match(t) || NOTE.is_match(t) => body.push(L::Blank),
            Line::Text(t) => match sc_line(t) {
                Some(rest) => {
                    body.push(L::NewPart);
                    if !rest.trim().is_empty() {
                        body.push(L::Text(rest.trim().to_string()));
                    }
                }
                _ => body.push(L::Text(t.clone())),
            },
            Line::Blank => body.push(L::Blank),
            Line::PageBreak => body.push(L::Break),
        }
    }
    let texts = body.iter().filter(|l| matches!(l, L::Text(_))).count();
    let blank_runs = body
        .windows(2)
        .filter(|w| matches!(w[0], L::Text(_)) && w[1] == L::Blank)
        .count();
    // Yearbook layout: paragraphs separated by blank lines, possibly hard-wrapped inside.
    let blank_mode = texts > 0 && blank_runs * 2 >= texts;

    let mut blocks: Vec<Block> = Vec::new();
    let mut parts_at: Vec<usize> = Vec::new();
    let (mut after_break, mut after_blank, mut joinable) = (false, false, false);
    for l in body {
        match l {
            L::Text(t) => {
                let labelled = parse_label(&t).is_some();
                if blank_mode && joinable && !after_blank && !after_break && !labelled {
                    let last = blocks.last_mut().expect("joinable implies a block");
                    join(&mut last.text, &t);
                } else {
                    blocks.push(Block {
                        text: t,
                        after_break,
                        after_blank,
                    });
                }
                joinable = true;
                after_break = false;
                after_blank = false;
            }
            L::Blank => {
                after_blank = true;
                joinable = false;
            }
            L::Break => {
                after_break = true;
                joinable = false;
            }
            L::NewPart => {
                parts_at.push(blocks.len());
                joinable = false;
            }
        }
    }

    // Rejoin paragraphs cut by page breaks (and, in the yearbook layout, by stray blanks).
    let mut merged: Vec<(Block, bool)> = Vec::new(); // (block, starts a new part)
    for (i, b) in blocks.into_iter().enumerate() {
        let new_part = parts_at.contains(&i) && i > 0;
        let first_lower = b.text.chars().next().is_some_and(char::is_lowercase);
        let labelled = parse_label(&b.text).is_some();
        if let Some((prev, _)) = merged.last_mut() {
            let prev_open = !clean::ends_closed(&prev.text);
            let prev_bare_label = parse_label(&prev.text).is_some_and(|(_, rest)| rest.is_empty());
            let crosses = b.after_break || (blank_mode && b.after_blank);
            let continues = !new_part
                && !labelled
                && (prev_bare_label
                    || (crosses && (prev_open || first_lower))
                    || (first_lower && prev_open));
            if continues {
                join(&mut prev.text, &b.text);
                continue;
            }
        }
        merged.push((b, new_part));
    }

    classify(merged)
}

static RUN_ON_OPERATIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[;:.] (\d{1,3})\. [A-Z]").unwrap());
static RUN_ON_PREAMBULAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[,;] ((?:Deeply |Gravely |Further |Strongly )?(?:[A-Z][a-z]+ing|Mindful|Conscious|",
        r"Determined|Convinced|Concerned|Alarmed|Aware|Noting|Acting|Bearing|Having|Taking|",
        r"Welcoming|Emphasizing|Stressing|Underlining|Reaffirming|Recalling|Recognizing|",
        r"Expressing|Affirming|Commending|Condemning|Deploring|Reiterating|Considering|",
        r"Acknowledging|Encouraging|Urging|Calling|Determining|Underscoring)\b)"
    ))
    .unwrap()
});

static SC_INLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"The Security Council[,:]? ").unwrap());

/// Split a run-on line that holds several paragraphs (some extractions put a whole
/// resolution on one line: `The Security Council, Recalling ..., Affirming ..., 1. Demands
/// ...; 2. Calls ...`). Only long lines with at least two boundaries are split, so that an
/// ordinary paragraph mentioning `, Recalling` is left alone.
fn split_run_on(line: &str) -> Vec<String> {
    if line.len() < 800 {
        return vec![line.to_string()];
    }
    let mut cuts: Vec<usize> = RUN_ON_OPERATIVE
        .captures_iter(line)
        .filter_map(|c| c.get(1).map(|m| m.start()))
        .collect();
    cuts.extend(
        RUN_ON_PREAMBULAR
            .captures_iter(line)
            .filter_map(|c| c.get(1))
            .filter(|m| !matches!(m.as_str(), "Beijing" | "Nanjing" | "Kunming" | "Wellington"))
            .map(|m| m.start()),
    );
    if let Some(m) = SC_INLINE.find(line) {
        cuts.push(m.end());
    }
    if cuts.len() < 2 {
        return vec![line.to_string()];
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for c in cuts {
        let piece = line[last..c].trim();
        if !piece.is_empty() {
            out.push(piece.to_string());
        }
        last = c;
    }
    out.push(line[last..].trim().to_string());
    out.retain(|p| !p.is_empty());
    out
}

/// Append a continuation, keeping a line-end hyphen (`peace-` + `keeping`) without a space.
fn join(prev: &mut String, next: &str) {
    let hyphen_end =
        prev.ends_with('-') && prev.chars().rev().nth(1).is_some_and(char::is_alphabetic);
    if !hyphen_end && !prev.is_empty() {
        prev.push(' ');
    }
    prev.push_str(next);
}

/// Index of the first body line: after the `The Security Council,` line, or after the
/// header lines when there is none.
fn body_start(lines: &[Line]) -> usize {
    // A refworld header block ends at its `Cite as` paragraph; the body follows it.
    for (i, l) in lines.iter().enumerate().take(80) {
        if let Line::Text(t) = l {
            if sc_line(t).is_some() {
                // Keep the line: units() turns it into a part start and keeps any text
                // after the comma.
                return i;
            }
        }
    }
    // A refworld header block (Publisher, Publication Date, ..., Cite as) ends with the
    // citation line naming refworld.org; the body starts after it.
    let mut i = 0;
    let cite = lines
        .iter()
        .take(80)
        .position(|l| matches!(l, Line::Text(t) if t == "Cite as"));
    if let Some(c) = cite {
        i = lines[c..]
            .iter()
            .position(
                |l| matches!(l, Line::Text(t) if t.contains("refworld") || t.contains("[accessed")),
            )
            .map_or(c + 1, |p| c + p + 1);
    }
    while i < lines.len() {
        match &lines[i] {
            Line::Blank | Line::PageBreak => {}
            Line::Text(t)
                if HEADER_LINE.is_match(t) || clean::is_furniture(t) || ADOPTION.is_match(t) => {}
            Line::Text(_) => return i,
        }
        i += 1;
    }
    i
}

/// Words that open an operative paragraph although they end in `s` like a noun.
static OPERATIVE_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Z][a-z]+ly\s+)?[A-Z][a-z]+(?:s|es)\b(?:\s+(?:to|that|the|its|all|upon|on|further|also|with|in|by|a|an|once|again|this|these|his|her|their|both|any|each|every|as|for|of|strongly|unanimously))?\b")
        .unwrap()
});

/// Whether an unlabelled block reads like a heading (`Protection of civilians`, `A`,
/// `Therefore`) rather than a paragraph: open end, short, not a verb opening.
fn is_heading(text: &str, is_last: bool) -> bool {
    if is_last || clean::ends_closed(text) || text.split_whitespace().count() > 12 {
        return false;
    }
    let first = text.split_whitespace().next().unwrap_or("");
    !(first.ends_with("ing") || first.ends_with("ed") || looks_operative(text))
}

fn looks_operative(text: &str) -> bool {
    OPERATIVE_START.captures(text).is_some_and(|c| {
        let first = c[0].split_whitespace().last().unwrap_or("");
        !matches!(first, "Bearing" | "Acting" | "Mindful" | "Conscious") && c[0].contains(' ')
            || text.ends_with('.')
    }) && !text.ends_with(',')
}

/// Whether a `(i)`-style label is roman here: it is alphabetic only right after `(h)`,
/// `(u)`, `(w)` (or `(k)`/`(c)` for `l`/`d`-like runs do not occur in practice).
fn roman_here(label: &str, last_alpha: Option<&str>) -> bool {
    let roman = label.chars().all(|c| matches!(c, 'i' | 'v' | 'x' | 'l'));
    if !roman {
        return false;
    }
    match (label, last_alpha) {
        ("i", Some("h")) | ("v", Some("u")) | ("x", Some("w")) | ("l", Some("k")) => false,
        _ => label.len() > 1 || last_alpha.is_none() || label == "i",
    }
}

fn classify(blocks: Vec<(Block, bool)>) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut part = 1;
    let mut seen_operative = false;
    let mut last_number: Option<u32> = None;
    // Sub-paragraph state under the current parent.
    let mut last_alpha: Option<String> = None;
    let mut in_roman_under: Option<String> = None;
    let mut bullets = 0u32;
    let mut after_chapeau = false;
    let n = blocks.len();
    for (i, (block, new_part)) in blocks.into_iter().enumerate() {
        if new_part && !units.is_empty() {
            part += 1;
            seen_operative = false;
            last_number = None;
        }
        let reset_sub = |la: &mut Option<String>, r: &mut Option<String>, b: &mut u32| {
            *la = None;
            *r = None;
            *b = 0;
        };
        match parse_label(&block.text) {
            Some((Label::Number(num), rest)) => {
                if seen_operative && num == 1 && last_number.is_some_and(|l| l >= 1) {
                    part += 1;
                }
                seen_operative = true;
                last_number = Some(num);
                reset_sub(&mut last_alpha, &mut in_roman_under, &mut bullets);
                after_chapeau = rest.ends_with(':');
                units.push(Unit {
                    kind: UnitKind::Operative(Some(num)),
                    part,
                    text: rest.to_string(),
                });
            }
            Some((Label::Letter(l), rest)) => {
                let letter = if roman_here(&l, last_alpha.as_deref()) {
                    match (&last_alpha, &in_roman_under) {
                        (Some(a), _) => {
                            in_roman_under = Some(a.clone());
                            format!("{a}.{l}")
                        }
                        _ => l.clone(),
                    }
                } else {
                    last_alpha = Some(l.clone());
                    in_roman_under = None;
                    l.clone()
                };
                units.push(Unit {
                    kind: UnitKind::Sub(letter),
                    part,
                    text: rest.to_string(),
                });
            }
            Some((Label::Bullet, rest)) => {
                bullets += 1;
                units.push(Unit {
                    kind: UnitKind::Sub(format!("-{bullets}")),
                    part,
                    text: rest.to_string(),
                });
            }
            None => {
                let text = block.text;
                if is_heading(&text, i + 1 == n) {
                    continue;
                }
                if after_chapeau && seen_operative && !text.ends_with(',') {
                    // Unlabelled items of a list introduced by `... as follows:`.
                    bullets += 1;
                    units.push(Unit {
                        kind: UnitKind::Sub(format!("-{bullets}")),
                        part,
                        text,
                    });
                    continue;
                }
                let preambular_shape = text.ends_with(',') || !looks_operative(&text);
                if seen_operative && preambular_shape && text.ends_with(',') {
                    // A new preamble after operative paragraphs: the next part.
                    part += 1;
                    seen_operative = false;
                    last_number = None;
                }
                reset_sub(&mut last_alpha, &mut in_roman_under, &mut bullets);
                after_chapeau = text.ends_with(':');
                if !seen_operative && preambular_shape {
                    units.push(Unit {
                        kind: UnitKind::Preambular,
                        part,
                        text,
                    });
                } else {
                    seen_operative = true;
                    units.push(Unit {
                        kind: UnitKind::Operative(None),
                        part,
                        text,
                    });
                }
            }
        }
    }
    units.retain(|u| !u.text.trim().is_empty());
    units
}
