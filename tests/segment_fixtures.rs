//! Segmentation of the hand-written fixtures (invented wording in the UN layouts), bad input
//! handling, the `segment` command end to end, and property tests: segmentation neither
//! loses nor duplicates words, and arbitrary bytes never make it panic.

use assert_cmd::Command;
use frameshift::corpus::{self, DocKind, Document};
use frameshift::segment::{self, AgendaRules, ParaKind, Paragraph};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn segment_file(rel: &str) -> Vec<Paragraph> {
    let out = segment::segment_paths(&[fixture(rel)], &AgendaRules::builtin());
    assert!(out.read.failures.is_empty() && out.failures.is_empty());
    out.paragraphs
}

fn local_ids(paras: &[Paragraph]) -> Vec<&str> {
    paras
        .iter()
        .map(|p| p.id.rsplit('#').next().unwrap())
        .collect()
}

#[test]
fn modern_resolution_fixture_structure() {
    let p = segment_file("resolution/S-RES-9001(2031).txt");
    assert_eq!(
        local_ids(&p),
        ["pp1", "pp2", "pp3", "op1", "op2", "op2a", "op2b", "op3", "op4"]
    );
    assert_eq!(p[0].doc, "S/RES/9001 (2031)");
    assert_eq!(p[0].date.as_deref(), Some("2031-05-02"));
    assert_eq!(p[5].letter.as_deref(), Some("a"));
    assert_eq!(p[5].number, Some(2));
    // Operative 3 is rejoined across the page break, its broken word repaired.
    assert!(p[7].text.contains("the international support"));
    assert!(p[7]
        .text
        .ends_with("including on the measures taken to protect women and girls;"));
    assert!(p[6].text.contains("money-laundering"));
    assert!(p.iter().all(|x| x.agendas == ["women_peace_security"]));
}

#[test]
fn yearbook_resolution_fixture_structure() {
    let p = segment_file("resolution/S-RES-9002(1961).txt");
    assert_eq!(local_ids(&p), ["pp1", "pp2", "op1", "op2", "op2a", "op2b"]);
    assert_eq!(
        p[2].text,
        "Calls upon the parties to refrain from any action which might aggravate the situation;"
    );
    assert_eq!(p[0].date.as_deref(), Some("1961-04-04"));
    assert!(!p.iter().any(|x| x.text.starts_with("Adopted")));
}

#[test]
fn meeting_record_fixture_turns_and_languages() {
    let p = segment_file("meeting/S-PV-9999.txt");
    assert_eq!(
        local_ids(&p),
        ["t1p1", "t1p2", "t2p1", "t2p2", "t2p3", "t3p1", "t4p1", "t4p2"]
    );
    assert!(p
        .iter()
        .all(|x| x.doc == "S/PV.9999" && x.kind == ParaKind::Speech));
    assert_eq!(p[0].date.as_deref(), Some("2031-03-14"));
    assert_eq!(p[2].speaker.as_deref(), Some("Mr. Halvorsen"));
    assert_eq!(p[2].country.as_deref(), Some("Borduria"));
    assert_eq!(p[2].language.as_deref(), Some("French"));
    assert_eq!(p[6].language.as_deref(), Some("English"));
    // The paragraph cut by the page break (and its running head) is one paragraph.
    assert!(p[4]
        .text
        .ends_with("and to follow up on those listings with the States concerned."));
    assert!(p
        .iter()
        .all(|x| !x.text.contains("S/PV.9999") && !x.text.contains("31-04567")));
    assert!(!p.iter().any(|x| x.text.starts_with("The meeting")));
}

#[test]
fn speech_fixture_symbol_and_page_number() {
    let p = segment_file("speech/ATL_86_2031.txt");
    assert_eq!(local_ids(&p), ["p1", "p2", "p3", "p4"]);
    assert_eq!(p[0].doc, "UNGD/86/ATL");
    assert_eq!(
        (p[0].year, p[0].country.as_deref()),
        (Some(2031), Some("ATL"))
    );
}

#[test]
fn jsonl_and_csv_carry_metadata() {
    let p = segment_file("generic/notes.jsonl");
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].id, "NOTE/1#p1");
    assert_eq!(
        (p[0].year, p[0].country.as_deref()),
        (Some(2030), Some("ATL"))
    );
    assert_eq!(p[2].id, "notes:2#p1");
    assert_eq!(p[2].speaker.as_deref(), Some("Ms. Example"));
    let c = segment_file("generic/speeches.csv");
    assert_eq!(local_ids(&c), ["p1", "p2", "p1"]);
    assert_eq!(c[0].speaker.as_deref(), Some("Mr. Example"));
    let out = corpus::read_paths(&[fixture("generic/notes.jsonl")]);
    let note = out.documents.iter().find(|d| d.symbol == "NOTE/1").unwrap();
    assert_eq!(note.meta["source_url"], "https://example.org/1");
}

/// Segment an invented resolution text; local ids and kinds, in order.
fn resolution_ids(text: &str) -> Vec<(String, ParaKind)> {
    let doc = Document::new("S/RES/9100 (2031)", DocKind::Resolution, text.to_string());
    segment::segment_document(&doc, &AgendaRules::empty())
        .unwrap()
        .into_iter()
        .map(|p| (p.id.rsplit('#').next().unwrap().to_string(), p.kind))
        .collect()
}

fn ids(out: &[(String, ParaKind)]) -> Vec<&str> {
    out.iter().map(|(id, _)| id.as_str()).collect()
}

#[test]
fn decides_chapeau_is_an_unnumbered_operative_with_subparagraphs() {
    let out = resolution_ids(
        "The Security Council,\n\nHaving considered the report of the Secretary-General on the \
         observer mission,\n\nDecides:\n\n(a) To call upon the parties to act at once;\n\n\
         (b) To renew the mandate of the mission for six months;\n\n(c) To request a report.\n",
    );
    assert_eq!(ids(&out), ["pp1", "opx1", "opx1a", "opx1b", "opx1c"]);
    assert_eq!(out[1].1, ParaKind::Operative);
    assert!(out[2..].iter().all(|(_, k)| *k == ParaKind::Subparagraph));
    // A numbered chapeau keeps its items.
    let out = resolution_ids(
        "The Security Council,\nRecalling its resolutions,\n1. Demands that Iraq:\n\
         (a) Withdraw at once;\n(b) Release all detainees;\n2. Decides to remain seized.\n",
    );
    assert_eq!(ids(&out), ["pp1", "op1", "op1a", "op1b", "op2"]);
}

#[test]
fn resolves_chapeau_is_an_unnumbered_operative() {
    let out = resolution_ids(
        "The Security Council,\n\nHaving considered the statement of the Government,\n\n\
         Resolves:\n\nTo defer further proceedings on the matter;\n\n\
         To request the Government to report by an early date.\n",
    );
    assert_eq!(ids(&out), ["pp1", "opx1", "opx1-1", "opx1-2"]);
    assert_eq!(out[1].1, ParaKind::Operative);
}

#[test]
fn part_letter_headings_are_not_paragraphs() {
    let out = resolution_ids(
        "The Security Council,\nRecalling its resolutions,\nA.\n1. Decides to establish a \
         commission;\n2. Requests a report;\nB.\n3. Reiterates its demands;\nC.\n\
         4. Decides to remain seized of the matter.\n",
    );
    assert_eq!(ids(&out), ["pp1", "op1", "op2", "op3", "op4"]);
}

#[test]
fn stray_letter_before_opening_is_the_opening_line() {
    let out = resolution_ids(
        "S/RES/9100 (2031)\nSThe Security Council,\nReaffirming its resolutions,\n\
         1. Decides to remain seized of the matter.\n",
    );
    assert_eq!(ids(&out), ["pp1", "op1"]);
}

#[test]
fn footnote_lines_are_not_paragraphs() {
    let out = resolution_ids(
        "The Security Council,\nRecalling the Convention,1\n1. Decides to remain seized of the \
         matter.\n1 999 UNTS, p. 1.\n",
    );
    assert_eq!(ids(&out), ["pp1", "op1"]);
    // Yearbook footnotes, and a footnote run that goes on without a citation.
    let out = resolution_ids(
        "The Security Council,\n\nHaving examined the application,\n\n\
         Recommends that the applicant be admitted.\n\nFootnotes (12) Ibid., document S/1.\n\n\
         1 See Official Records, First Year.\n\n2 The draft was put to the vote in parts.\n",
    );
    assert_eq!(ids(&out), ["pp1", "opx1"]);
    // A paragraph that lost its number's dot is not a footnote; nor is an item `(1) ...;`.
    let out = resolution_ids(
        "The Security Council,\nRecalling its resolutions,\n1. Decides that:\n\
         (1) The parties should see to it;\n2. Requests a report;\n\
         3 Decides to remain seized of the matter, adopted today.\n",
    );
    assert_eq!(ids(&out), ["pp1", "op1", "op1-1", "op2", "opx1"]);
}

#[test]
fn truncated_adoption_line_is_not_a_paragraph() {
    let out = resolution_ids(
        "The Security Council,\n\nHaving appointed a committee,\n\n\
         Decides to keep the situation under observation.\n\nAdopted at the 12th[1]\n",
    );
    assert_eq!(ids(&out), ["pp1", "opx1"]);
}

#[test]
fn topic_headings_before_numbered_paragraphs_are_not_paragraphs() {
    let out = resolution_ids(
        "The Security Council,\nRecalling its resolutions,\n1. Decides to extend the mandate;\n\
         Listing\n2. Encourages States to submit names;\nMonitoring Team\n\
         3. Requests the Team to report;\nListing (as amended)\n\
         4. Decides to remain seized of the matter.\n",
    );
    // A line with brackets (names in a list, quoted titles) is left as it was.
    assert_eq!(ids(&out), ["pp1", "op1", "op2", "op3", "opx1", "op4"]);
}

#[test]
fn ids_and_hashes_are_stable_across_runs() {
    let a = segment::segment_paths(&[fixture("")], &AgendaRules::builtin()).paragraphs;
    let b = segment::segment_paths(&[fixture("")], &AgendaRules::builtin()).paragraphs;
    assert_eq!(a, b);
    assert_eq!(
        segment::text_sha256("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn invalid_utf8_is_decoded_with_warning_naming_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin.txt");
    std::fs::write(&path, b"Arms and mat\xe9riel.\n").unwrap();
    let out = segment::segment_paths(std::slice::from_ref(&path), &AgendaRules::builtin());
    assert_eq!(out.paragraphs[0].text, "Arms and matériel.");
    assert!(out.read.warnings[0].to_string().contains("latin.txt"));
}

#[test]
fn empty_file_yields_nothing_and_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.txt");
    std::fs::write(&path, b"  \n\n").unwrap();
    let out = segment::segment_paths(std::slice::from_ref(&path), &AgendaRules::builtin());
    assert!(out.paragraphs.is_empty());
    assert!(out.read.warnings[0].message.contains("empty"));
    assert!(out.read.failures.is_empty());
}

#[test]
fn binary_file_is_refused_with_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob.txt");
    std::fs::write(&path, b"PK\x03\x04\x00\x00binary").unwrap();
    let out = corpus::read_paths(std::slice::from_ref(&path));
    assert_eq!(out.failures.len(), 1);
    let msg = out.failures[0].error.to_string();
    assert!(msg.contains("blob.txt") && msg.contains("binary"), "{msg}");
}

/// Regression: one bad file in a directory must not stop the others, and the command must
/// still exit 1 after writing them.
#[test]
fn bad_file_in_directory_is_skipped_counted_and_exit_code_is_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("speech/ATL_86_2031.txt"),
        dir.path().join("ATL_86_2031.txt"),
    )
    .unwrap();
    std::fs::write(dir.path().join("blob.txt"), b"\x00\x01\x02").unwrap();
    let out = dir.path().join("out.jsonl");
    let assert = Command::cargo_bin("frameshift")
        .unwrap()
        .args(["segment"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("blob.txt") && stderr.contains("1 input file"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 4);
    let first: Paragraph = serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(first.id, "UNGD/86/ATL#p1");
}

#[test]
fn cli_csv_and_stdin() {
    let assert = Command::cargo_bin("frameshift")
        .unwrap()
        .args(["segment", "--format", "csv"])
        .arg(fixture("resolution/S-RES-9002(1961).txt"))
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(rows.headers().unwrap().get(1), Some("id"));
    assert_eq!(rows.records().count(), 6);

    let assert = Command::cargo_bin("frameshift")
        .unwrap()
        .args(["segment", "-"])
        .write_stdin("First paragraph.\nSecond paragraph.\n")
        .assert()
        .success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let ids: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Paragraph>(l).unwrap().id)
        .collect();
    // Named `stdin`, as messages about it say `<stdin>` (the ids were `-#p1`, `-#p2`).
    assert_eq!(ids, ["stdin#p1", "stdin#p2"]);
}

// ---------------------------------------------------------------------------------------
// Property tests.

/// Words that never combine into one another (`in`+`to`) and are not suffix fragments.
const WORDS: [&str; 24] = [
    "peace",
    "security",
    "council",
    "women",
    "girls",
    "states",
    "member",
    "urges",
    "region",
    "support",
    "armed",
    "conflict",
    "report",
    "further",
    "measures",
    "all",
    "parties",
    "calls",
    "upon",
    "the",
    "of",
    "and",
    "civilians",
    "mission",
];

fn words(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(&WORDS[..]), n)
}

fn letters(text: &str) -> Vec<String> {
    regex::Regex::new(r"\p{L}+")
        .unwrap()
        .find_iter(text)
        .map(|m| m.as_str().to_lowercase())
        .collect()
}

/// A synthetic modern resolution: paragraphs of known words, with furniture blocks and
/// page breaks (some splitting a paragraph) inserted between lines.
fn resolution() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        prop::collection::vec(words(3..20), 1..6),
        prop::collection::vec(
            (words(3..30), prop::collection::vec(words(2..10), 0..3)),
            1..8,
        ),
        prop::collection::vec(any::<u8>(), 20),
    )
        .prop_map(|(pre, ops, noise)| {
            let mut lines: Vec<String> = vec![
                "United Nations".into(),
                "Security Council".into(),
                String::new(),
                "S/RES/4242 (2042)".into(),
                "Distr.: General 1 May 2042".into(),
                "Resolution 4242 (2042)".into(),
                "Adopted by the Security Council at its 9999th meeting, on 1 May 2042".into(),
                "The Security Council,".into(),
            ];
            let mut expected = Vec::new();
            for w in &pre {
                lines.push(format!("Recalling {},", w.join(" ")));
                expected.push("recalling".to_string());
                expected.extend(w.iter().map(|s| s.to_string()));
            }
            let letters_ab = ["a", "b", "c"];
            for (i, (w, subs)) in ops.iter().enumerate() {
                let chapeau = if subs.is_empty() { ";" } else { ":" };
                lines.push(format!("{}. Decides {}{chapeau}", i + 1, w.join(" ")));
                expected.push("decides".into());
                expected.extend(w.iter().map(|s| s.to_string()));
                for (j, s) in subs.iter().enumerate() {
                    lines.push(format!("({}) {};", letters_ab[j], s.join(" ")));
                    expected.extend(s.iter().map(|x| x.to_string()));
                }
            }
            // Insert page furniture after some lines; split some lines by a page break.
            let mut out = Vec::new();
            for (k, line) in lines.into_iter().enumerate() {
                let r = noise[k % noise.len()];
                if k > 8 && r % 4 == 0 && line.split(' ').count() > 4 {
                    // Split after a word, before a lower-case word: a cut paragraph.
                    let cut: Vec<&str> = line.split(' ').collect();
                    let at = 2 + (r as usize % (cut.len() - 3));
                    out.push(cut[..at].join(" "));
                    out.push(format!("42-{:05} (E)", r as u32 * 7));
                    out.push(format!("*42{:05}*", r as u32 * 7));
                    out.push(String::new());
                    out.push("\x0cS/RES/4242 (2042)".into());
                    out.push(cut[at..].join(" "));
                } else {
                    out.push(line);
                    if k > 8 && r % 5 == 1 {
                        out.push(format!("{}/9", 1 + r % 8));
                        out.push(String::new());
                        out.push("\x0cS/RES/4242 (2042)".into());
                    }
                }
            }
            let sep = if noise[0] % 2 == 0 { "\n" } else { "\r\n" };
            (out.join(sep) + sep, expected)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Segmentation never loses or duplicates a non-furniture word, and keeps their order.
    #[test]
    fn resolution_words_are_kept_exactly((text, expected) in resolution()) {
        let mut doc = Document::new("S/RES/4242 (2042)", DocKind::Resolution, text);
        doc.number = Some(4242);
        let paras = segment::segment_document(&doc, &AgendaRules::empty()).unwrap();
        let got: Vec<String> = paras.iter().flat_map(|p| letters(&p.text)).collect();
        prop_assert_eq!(got, expected);
    }

    /// Same for prose: one paragraph per line, page numbers in between.
    #[test]
    fn speech_words_are_kept_exactly(paras in prop::collection::vec(words(1..40), 1..30), noise in any::<u8>()) {
        let mut text = String::new();
        let mut expected = Vec::new();
        for (i, p) in paras.iter().enumerate() {
            text.push_str(&format!("{}.\n", p.join(" ")));
            expected.extend(p.iter().map(|s| s.to_string()));
            if (i as u8).wrapping_add(noise) % 7 == 0 {
                text.push_str(&format!("{}\n\x0c\n", i + 1));
            }
        }
        let doc = Document::new("UNGD/1/ATL", DocKind::Speech, text);
        let out = segment::segment_document(&doc, &AgendaRules::empty()).unwrap();
        let got: Vec<String> = out.iter().flat_map(|p| letters(&p.text)).collect();
        prop_assert_eq!(got, expected);
    }

    /// Arbitrary bytes under any reader: an error or some paragraphs, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), which in 0usize..6) {
        let name = ["S-RES-1(1946).txt", "ATL_1_2000.txt", "S-PV-1.txt", "x.jsonl", "x.csv", "x.txt"][which];
        if let Ok(read) = corpus::read_bytes(Path::new(name), &bytes) {
            for mut doc in read.documents {
                let _ = segment::segment_document(&doc, &AgendaRules::builtin());
                for kind in [DocKind::Resolution, DocKind::MeetingRecord, DocKind::Speech, DocKind::Other] {
                    doc.kind = kind;
                    let _ = segment::segment_document(&doc, &AgendaRules::builtin());
                }
            }
        }
    }

    /// Structured garbage: lines made of the characters the segmenters react to.
    #[test]
    fn structured_garbage_never_panics(text in "([0-9(). a-zA-Z:;,\\-_*/\\r\\n\\x0c\\t]|The Security Council,|The President:|S/RES/1 \\(2000\\)|\\(spoke in French\\)){0,200}") {
        for kind in [DocKind::Resolution, DocKind::MeetingRecord, DocKind::Speech, DocKind::Other] {
            let doc = Document::new("X", kind, text.clone());
            if let Ok(paras) = segment::segment_document(&doc, &AgendaRules::builtin()) {
                let ids: std::collections::BTreeSet<_> = paras.iter().map(|p| p.id.clone()).collect();
                prop_assert_eq!(ids.len(), paras.len());
            }
        }
    }
}
