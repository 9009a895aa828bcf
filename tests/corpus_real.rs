//! Whole-corpus tests: every shared resolution and speech file segments, the output holds no
//! page furniture (checked by a detector written here, separately from the remover), and
//! known documents have exactly their known structure.
//!
//! The corpus is read at run time from `FRAMESHIFT_CORPUS` or `<crate>/../shared/corpus`;
//! if it is missing the tests fail and say where to put it. Nothing from it is copied here:
//! assertions are on counts, ids and short prefixes.

mod common;

use frameshift::segment::{self, AgendaRules, ParaKind, Paragraph, Segmented};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;

fn corpus_dir() -> PathBuf {
    common::shared_corpus(&[
        "unsc-resolutions-1946-2015",
        "unsc-resolutions-2016-2019",
        "ungd-speeches-2000-2024",
    ])
}

/// Segmented once per test binary; the tests share it.
static RESOLUTIONS: LazyLock<Segmented> = LazyLock::new(|| {
    let dir = corpus_dir();
    segment::segment_paths(
        &[
            dir.join("unsc-resolutions-1946-2015"),
            dir.join("unsc-resolutions-2016-2019"),
        ],
        &AgendaRules::builtin(),
    )
});
static SPEECHES: LazyLock<Segmented> = LazyLock::new(|| {
    segment::segment_paths(
        &[corpus_dir().join("ungd-speeches-2000-2024")],
        &AgendaRules::builtin(),
    )
});

fn by_doc(paragraphs: &[Paragraph]) -> BTreeMap<&str, Vec<&Paragraph>> {
    let mut map: BTreeMap<&str, Vec<&Paragraph>> = BTreeMap::new();
    for p in paragraphs {
        map.entry(p.doc.as_str()).or_default().push(p);
    }
    map
}

fn doc<'a>(s: &'a Segmented, symbol: &str) -> Vec<&'a Paragraph> {
    s.paragraphs.iter().filter(|p| p.doc == symbol).collect()
}

fn counts(paras: &[&Paragraph]) -> (usize, usize, usize) {
    let n = |k| paras.iter().filter(|p| p.kind == k).count();
    (
        n(ParaKind::Preambular),
        n(ParaKind::Operative),
        n(ParaKind::Subparagraph),
    )
}

#[test]
fn all_resolution_files_segment_with_unique_ids() {
    let s = &*RESOLUTIONS;
    assert!(s.read.failures.is_empty(), "{:?}", s.read.failures);
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(s.read.documents.len(), 2259 + 3);
    let docs = by_doc(&s.paragraphs);
    let empty: Vec<&str> = s
        .read
        .documents
        .iter()
        .map(|d| d.symbol.as_str())
        .filter(|sym| !docs.contains_key(sym))
        .collect();
    assert!(empty.is_empty(), "documents without paragraphs: {empty:?}");
    let ids: BTreeSet<&str> = s.paragraphs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), s.paragraphs.len(), "duplicate ids");
    for p in &s.paragraphs {
        assert!(p.id.starts_with(&format!("{}#", p.doc)), "{}", p.id);
        assert!(!p.text.trim().is_empty(), "{}", p.id);
    }
}

#[test]
fn all_speech_files_segment() {
    let s = &*SPEECHES;
    assert!(s.read.failures.is_empty(), "{:?}", s.read.failures);
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(s.read.documents.len(), 4793);
    let docs = by_doc(&s.paragraphs);
    assert_eq!(docs.len(), 4793, "every speech gives paragraphs");
    let ids: BTreeSet<&str> = s.paragraphs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), s.paragraphs.len(), "duplicate ids");
    let usa = doc(s, "UNGD/72/USA");
    assert!(usa.len() > 20, "{}", usa.len());
    assert!(usa
        .iter()
        .all(|p| p.country.as_deref() == Some("USA") && p.year == Some(2017)));
    // The hard-wrapped 2000 files are rejoined: no paragraph is a single PDF line.
    let y2000: Vec<_> = s
        .paragraphs
        .iter()
        .filter(|p| p.year == Some(2000))
        .collect();
    let short = y2000.iter().filter(|p| p.text.len() < 60).count();
    assert!(short * 10 < y2000.len(), "{short} of {} short", y2000.len());
}

/// Independent furniture detector: patterns written from the UN print layout, not shared
/// with `segment::clean`.
static DETECTORS: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| {
    [
        ("job number", r"\b\d{2}-\d{5}\*?\s*\(E\)"),
        ("bare job number", r"(?:^|\s)\d{2}-\d{5}(?:\s|$)"),
        ("barcode", r"\*\d{7,8}\*"),
        (
            "running head with page",
            r"S/RES/\d+\s*\(\d{4}\)\s*Page\s+\d",
        ),
        ("continuation mark", r"/\.\.\."),
        ("page mark at end", r"\s\d{1,2}/\d{1,2}$"),
        ("rule line", r"[-_=`]{5,}"),
        ("control or tab", r"[\x00-\x1f\x7f]"),
        ("double space", r"  "),
        ("refworld", r"refworld\.org|\[accessed"),
        ("extraction split hyphen", r"\p{L} -\p{L}"),
    ]
    .into_iter()
    .map(|(name, p)| (name, Regex::new(p).unwrap()))
    .collect()
});

fn furniture_hits(paragraphs: &[Paragraph]) -> Vec<String> {
    let mut hits = Vec::new();
    for p in paragraphs {
        for (name, re) in DETECTORS.iter() {
            if re.is_match(&p.text) {
                hits.push(format!("{} {name}", p.id));
            }
        }
        // A resolution never cites its own symbol: its running head leaked in.
        if p.doc.starts_with("S/RES/") && p.text.contains(&p.doc) {
            hits.push(format!("{} own running head", p.id));
        }
    }
    hits
}

#[test]
fn detector_finds_no_furniture_in_resolutions() {
    let hits = furniture_hits(&RESOLUTIONS.paragraphs);
    assert!(
        hits.is_empty(),
        "{} hits: {:?}",
        hits.len(),
        &hits[..hits.len().min(30)]
    );
}

#[test]
fn detector_finds_no_furniture_in_speeches() {
    let hits = furniture_hits(&SPEECHES.paragraphs);
    assert!(
        hits.is_empty(),
        "{} hits: {:?}",
        hits.len(),
        &hits[..hits.len().min(30)]
    );
}

#[test]
fn resolution_1325_structure() {
    let paras = doc(&RESOLUTIONS, "S/RES/1325 (2000)");
    assert_eq!(counts(&paras), (11, 18, 3));
    let subs: Vec<&str> = paras
        .iter()
        .filter(|p| p.kind == ParaKind::Subparagraph)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(
        subs,
        [
            "S/RES/1325 (2000)#op8a",
            "S/RES/1325 (2000)#op8b",
            "S/RES/1325 (2000)#op8c"
        ]
    );
    assert!(paras
        .iter()
        .all(|p| p.date.as_deref() == Some("2000-10-31")));
    assert!(paras[0]
        .agendas
        .contains(&"women_peace_security".to_string()));
    // Operative 16 runs across a page break and is one paragraph.
    let op16 = paras.iter().find(|p| p.id.ends_with("#op16")).unwrap();
    assert!(op16
        .text
        .starts_with("Invites the Secretary-General to carry out a study"));
    assert!(op16
        .text
        .ends_with("all Member States of the United Nations;"));
}

#[test]
fn resolution_242_yearbook_structure() {
    let paras = doc(&RESOLUTIONS, "S/RES/242 (1967)");
    assert_eq!(counts(&paras), (3, 4, 5));
    let ids: Vec<&str> = paras
        .iter()
        .map(|p| p.id.rsplit('#').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "pp1", "pp2", "pp3", "op1", "op1i", "op1ii", "op2", "op2a", "op2b", "op2c", "op3",
            "op4"
        ]
    );
    assert_eq!(paras[0].date.as_deref(), Some("1967-11-22"));
}

#[test]
fn resolution_1000_structure() {
    let paras = doc(&RESOLUTIONS, "S/RES/1000 (1995)");
    assert_eq!(counts(&paras), (7, 11, 0));
    let numbers: Vec<u32> = paras.iter().filter_map(|p| p.number).collect();
    assert_eq!(numbers, (1..=11).collect::<Vec<_>>());
}

fn local(paras: &[&Paragraph]) -> Vec<String> {
    paras
        .iter()
        .map(|p| p.id.rsplit('#').next().unwrap().to_string())
        .collect()
}

#[test]
fn decides_chapeau_is_an_unnumbered_operative_with_subparagraphs() {
    // The UNDOF renewals of 1989-2000: one preamble, then `Decides:` and items (a)-(c).
    for sym in [
        "S/RES/633 (1989)",
        "S/RES/695 (1991)",
        "S/RES/887 (1993)",
        "S/RES/1024 (1995)",
        "S/RES/1276 (1999)",
        "S/RES/1300 (2000)",
    ] {
        let paras = doc(&RESOLUTIONS, sym);
        let ids = local(&paras);
        let at = ids.iter().position(|i| i == "opx1").expect(sym);
        assert_eq!(ids[at..], ["opx1", "opx1a", "opx1b", "opx1c"], "{sym}");
        assert_eq!(paras[at].text, "Decides:", "{sym}");
        assert_eq!(paras[at].kind, ParaKind::Operative, "{sym}");
        assert!(!paras
            .iter()
            .any(|p| p.kind == ParaKind::Preambular && p.text.ends_with(':')));
    }
    // Numbered chapeaux keep their items.
    let p686 = doc(&RESOLUTIONS, "S/RES/686 (1991)");
    let op3 = p686.iter().position(|p| p.id.ends_with("#op3")).unwrap();
    assert!(p686[op3].text.ends_with("Iraq:"));
    assert!(p686[op3 + 1].id.ends_with("#op3a"));
}

#[test]
fn resolves_chapeau_is_an_unnumbered_operative() {
    let p5 = doc(&RESOLUTIONS, "S/RES/5 (1946)");
    assert_eq!(local(&p5), ["pp1", "opx1", "opx1-1", "opx1-2", "opx1-3"]);
    assert_eq!(p5[1].text, "Resolves:");
    let p15 = doc(&RESOLUTIONS, "S/RES/15 (1946)");
    assert_eq!(counts(&p15), (0, 1, 9));
    let all = &RESOLUTIONS.paragraphs;
    assert!(!all.iter().any(|p| p.kind == ParaKind::Preambular
        && (p.text.starts_with("Resolves") || p.text.starts_with("Decides"))
        && p.text.ends_with(':')));
}

#[test]
fn part_letter_headings_are_not_paragraphs() {
    let paras = doc(&RESOLUTIONS, "S/RES/1284 (1999)");
    assert!(!paras.iter().any(|p| p.text.len() <= 2), "section letters");
    assert_eq!(counts(&paras).0, 11);
    let numbers: Vec<u32> = paras
        .iter()
        .filter(|p| p.kind == ParaKind::Operative)
        .filter_map(|p| p.number)
        .collect();
    assert_eq!(numbers, (1..=39).collect::<Vec<_>>());
    assert!(!paras
        .iter()
        .any(|p| p.id.contains("opx") || p.id.contains("pt2.")));
}

#[test]
fn stray_letter_before_opening_is_the_opening_line() {
    let paras = doc(&RESOLUTIONS, "S/RES/876 (1993)");
    assert!(paras[0]
        .text
        .starts_with("Reaffirming its resolutions 849 (1993)"));
    assert_eq!(paras[0].id, "S/RES/876 (1993)#pp1");
    assert!(!RESOLUTIONS
        .paragraphs
        .iter()
        .any(|p| p.text.ends_with("sThe Security Council,")
            || p.text.ends_with("SThe Security Council,")));
}

#[test]
fn footnote_lines_are_not_paragraphs() {
    let p1170 = doc(&RESOLUTIONS, "S/RES/1170 (1998)");
    assert!(!p1170.iter().any(|p| p.text.contains("UNTS")));
    assert!(!p1170.iter().any(|p| p.id.contains("opx")));
    let footnotes = RESOLUTIONS
        .paragraphs
        .iter()
        .filter(|p| {
            p.text.starts_with("Footnotes")
                || (p.text.contains("Ibid.")
                    && p.text.starts_with(|c: char| c.is_ascii_digit() || c == '('))
        })
        .filter(|p| p.text.len() < 120)
        .map(|p| p.id.as_str())
        .collect::<Vec<_>>();
    assert!(footnotes.is_empty(), "{footnotes:?}");
    // Operative paragraphs that lost their dot stay (S/RES/670 (1990) `4 Decides further`).
    assert!(doc(&RESOLUTIONS, "S/RES/670 (1990)")
        .iter()
        .any(|p| p.text.starts_with("4 Decides further")));
}

#[test]
fn truncated_adoption_line_is_not_a_paragraph() {
    let p7 = doc(&RESOLUTIONS, "S/RES/7 (1946)");
    assert_eq!(local(&p7), ["opx1"]);
    assert!(!RESOLUTIONS
        .paragraphs
        .iter()
        .any(|p| p.text.starts_with("Adopted at")));
}

#[test]
fn topic_headings_before_numbered_paragraphs_are_not_paragraphs() {
    for (sym, heads) in [
        ("S/RES/1904 (2009)", 0),
        ("S/RES/2161 (2014)", 0),
        ("S/RES/2255 (2015)", 0),
    ] {
        let paras = doc(&RESOLUTIONS, sym);
        let unnumbered = paras.iter().filter(|p| p.id.contains("opx")).count();
        assert_eq!(unnumbered, heads, "{sym}");
    }
    for head in ["Listing", "Delisting", "Monitoring Team", "Reporting"] {
        assert!(
            !RESOLUTIONS.paragraphs.iter().any(|p| p.text == head),
            "{head}"
        );
    }
}

#[test]
fn resolution_2242_op9_is_one_paragraph_across_page_break() {
    let paras = doc(&RESOLUTIONS, "S/RES/2242 (2015)");
    let op9: Vec<_> = paras.iter().filter(|p| p.number == Some(9)).collect();
    assert_eq!(op9.len(), 1);
    assert!(op9[0]
        .text
        .starts_with("Expresses deep concern over continuing allegations"));
    assert!(op9[0]
        .text
        .contains("exploitation and abuse whenever relevant"));
    assert!(!paras
        .iter()
        .any(|p| p.text.starts_with("exploitation and abuse whenever")));
    let numbers: Vec<u32> = paras
        .iter()
        .filter(|p| p.kind == ParaKind::Operative)
        .filter_map(|p| p.number)
        .collect();
    assert_eq!(numbers, (1..=18).collect::<Vec<_>>());
}

#[test]
fn resolution_2242_broken_words_repaired() {
    let text: String = doc(&RESOLUTIONS, "S/RES/2242 (2015)")
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for broken in ["engage ment", "pro gress", "wide -ranging", "UN -Women"] {
        assert!(!text.contains(broken), "{broken}");
    }
    for fixed in ["engagement", "progress", "wide-ranging", "UN-Women"] {
        assert!(text.contains(fixed), "{fixed}");
    }
    // A real double dash is kept.
    assert!(text.contains("Strategy -- A/RES/60/288"));
}

#[test]
fn partial_2016_2019_files_keep_their_numbering() {
    let paras = doc(&RESOLUTIONS, "S/RES/2388 (2017)");
    let numbers: Vec<u32> = paras
        .iter()
        .filter(|p| p.kind == ParaKind::Operative)
        .filter_map(|p| p.number)
        .collect();
    assert_eq!(numbers, [1, 2, 7, 8, 9, 15, 16, 17, 18, 24, 25, 26]);
    let p2467 = doc(&RESOLUTIONS, "S/RES/2467 (2019)");
    assert_eq!(counts(&p2467).1, 36);
    assert!(p2467.iter().any(|p| p.id.ends_with("#op16d")));
}

#[test]
fn windows_1252_files_decode_with_warning() {
    let s = &*RESOLUTIONS;
    let warned: BTreeSet<String> = s
        .read
        .warnings
        .iter()
        .filter(|w| w.message.contains("Windows-1252"))
        .map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(warned.contains("S-RES-1011(1995).txt"), "{}", warned.len());
    let text: String = doc(s, "S/RES/1011 (1995)")
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert!(text.contains("matériel"));
    assert!(!text.contains('\u{FFFD}'));
}
