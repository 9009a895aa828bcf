//! Prose segmentation: speeches and other running text -> paragraphs.
//!
//! Takes normalised lines of a text that is either one paragraph per line (the general-debate
//! files from 2016 on, JSONL/CSV cells) or hard-wrapped at a fixed width (the 2000-2015
//! general-debate files, extracted from PDF), gives paragraph texts in order. Page numbers,
//! rule lines and form feeds are furniture. A hard-wrapped paragraph ends at a line that ends
//! a sentence and is too short for the next word to have fitted on it: the typesetter only
//! breaks a line early at a paragraph end.

use super::clean::{self, Line};

/// Paragraph texts of a prose document, in order. `furniture` decides which lines are
/// page furniture for this kind of document.
pub fn paragraphs(lines: &[Line], furniture: fn(&str) -> bool) -> Vec<String> {
    // Furniture glued to a line (`30/56 16-29296 together ...`) marks a page end inside a
    // paragraph: strip it and remember that the line may continue the one before.
    let mut glued = vec![false; lines.len()];
    let lines: Vec<Line> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Line::Text(t) if !furniture(t) => {
                let (t, g) = clean::strip_inline_furniture(t);
                glued[i] = g;
                if t.is_empty() {
                    Line::Blank
                } else {
                    Line::Text(t)
                }
            }
            other => other.clone(),
        })
        .collect();
    let lines = &lines[..];
    let texts: Vec<&str> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Text(t) if !furniture(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        return Vec::new();
    }
    if !hard_wrapped(&texts) {
        let mut out: Vec<String> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let Line::Text(t) = l else { continue };
            if furniture(t) {
                continue;
            }
            let lower = t.chars().next().is_some_and(char::is_lowercase);
            match out.last_mut() {
                Some(prev) if glued[i] && (lower || !clean::ends_closed(prev)) => join(prev, t),
                _ => out.push(t.clone()),
            }
        }
        return out;
    }
    let width = wrap_width(&texts);
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut open_after_gap = false;
    for (i, line) in lines.iter().enumerate() {
        let t = match line {
            Line::Text(t) if !furniture(t) => {
                if glued[i] {
                    open_after_gap = true;
                }
                t
            }
            _ => {
                open_after_gap = true;
                continue;
            }
        };
        if !current.is_empty() {
            let ends_sentence = ends_sentence(&current);
            let first_word = t.split_whitespace().next().unwrap_or("");
            let last_line_len = last_line_len(lines, i, furniture);
            let fits = last_line_len + 1 + first_word.chars().count() <= width;
            let upper = t.chars().next().is_some_and(|c| !c.is_lowercase());
            let gap_break =
                open_after_gap && upper && ends_sentence && last_line_len * 10 < width * 9;
            if ends_sentence && upper && (fits || gap_break) {
                out.push(std::mem::take(&mut current));
            }
        }
        open_after_gap = false;
        if current.is_empty() {
            current.push_str(t);
        } else {
            join(&mut current, t);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Length of the last text line before index `i` (skipping furniture and blanks).
fn last_line_len(lines: &[Line], i: usize, furniture: fn(&str) -> bool) -> usize {
    lines[..i]
        .iter()
        .rev()
        .find_map(|l| match l {
            Line::Text(t) if !furniture(t) => Some(t.chars().count()),
            _ => None,
        })
        .unwrap_or(0)
}

fn ends_sentence(text: &str) -> bool {
    let t = text.trim_end_matches(['"', '\'', '”', '’', ')', ']']);
    t.ends_with(['.', '!', '?', ':'])
}

fn join(prev: &mut String, next: &str) {
    let hyphen_end =
        prev.ends_with('-') && prev.chars().rev().nth(1).is_some_and(char::is_alphabetic);
    if !hyphen_end {
        prev.push(' ');
    }
    prev.push_str(next);
}

/// Hard-wrapped: at least 20 lines and most of them short and of similar length.
fn hard_wrapped(texts: &[&str]) -> bool {
    if texts.len() < 20 {
        return false;
    }
    let short = texts.iter().filter(|t| t.chars().count() < 90).count();
    short * 10 >= texts.len() * 8
}

/// The wrap width: the 90th percentile of line lengths.
fn wrap_width(texts: &[&str]) -> usize {
    let mut lens: Vec<usize> = texts.iter().map(|t| t.chars().count()).collect();
    lens.sort_unstable();
    lens[(lens.len() * 9 / 10).min(lens.len() - 1)]
}

/// Furniture of speech files: page numbers, rule lines, and the general furniture set.
pub fn speech_furniture(line: &str) -> bool {
    clean::is_furniture(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_paragraph_per_line_is_kept() {
        let lines = clean::lines("First paragraph.\nSecond one.\n\n12\n");
        assert_eq!(
            paragraphs(&lines, speech_furniture),
            ["First paragraph.", "Second one."]
        );
    }

    #[test]
    fn hard_wrapped_paragraphs_are_rejoined() {
        let mut text = String::new();
        for _ in 0..6 {
            text.push_str("Allow me to begin by\n");
            text.push_str("congratulating you, Sir, on behalf of my Government\n");
            text.push_str("and on my own behalf, on your election to the post of\n");
            text.push_str("President of this Assembly.\n");
        }
        let paras = paragraphs(&clean::lines(&text), speech_furniture);
        assert_eq!(paras.len(), 6, "{paras:#?}");
        assert!(paras[0].starts_with("Allow me to begin by congratulating"));
        assert!(paras[0].ends_with("Assembly."));
    }
}
