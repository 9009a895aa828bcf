//! Citation extraction on the real resolutions the seed paper discusses.
//! Needs ../shared/corpus (or FRAMESHIFT_CORPUS); fails saying so when absent.

mod common;

use frameshift::citations::{CitationTable, Citations};
use frameshift::segment::{segment_paths, AgendaRules};

fn document_citations(file: &str) -> Citations {
    let corpus =
        common::shared_corpus(&["unsc-resolutions-1946-2015", "unsc-resolutions-2016-2019"]);
    let path = ["unsc-resolutions-1946-2015", "unsc-resolutions-2016-2019"]
        .iter()
        .map(|d| corpus.join(d).join(file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{file} not found under {}: put the shared corpus at ../shared/corpus or set FRAMESHIFT_CORPUS",
                corpus.display()
            )
        });
    let table = CitationTable::load(&common::repo_root().join("datasets/citations.toml")).unwrap();
    let seg = segment_paths(&[path], &AgendaRules::builtin());
    assert!(!seg.paragraphs.is_empty());
    let mut all = Citations::default();
    for p in &seg.paragraphs {
        let c = table.extract(&p.text);
        all.instruments.extend(c.instruments);
        all.resolutions.extend(c.resolutions);
        all.wps |= c.wps;
    }
    all.instruments.sort();
    all.instruments.dedup();
    all
}

#[test]
fn resolution_2331_cites_palermo_and_no_cedaw() {
    let c = document_citations("S-RES-2331(2016).txt");
    assert!(c.instruments.iter().any(|i| i == "palermo_untoc"), "{c:?}");
    assert!(!c.instruments.iter().any(|i| i == "cedaw"), "{c:?}");
}

/// Regression: 2331's operative paragraph 18 cites "resolutions 1960 and 2106" (on sexual
/// violence in conflict, both of the WPS family) without their years, and was reported as
/// citing no WPS resolution.
#[test]
fn resolution_2331_yearless_wps_citations_were_missed() {
    let c = document_citations("S-RES-2331(2016).txt");
    assert!(
        c.resolutions.contains(&1960) && c.resolutions.contains(&2106),
        "{c:?}"
    );
    assert!(c.wps, "{c:?}");
}

#[test]
fn resolution_2242_cites_cedaw_and_1325() {
    let c = document_citations("S-RES-2242(2015).txt");
    assert!(c.instruments.iter().any(|i| i == "cedaw"), "{c:?}");
    assert!(c.resolutions.contains(&1325), "{c:?}");
    assert!(c.wps);
}

/// The table of each year's first resolution number that citations are checked against
/// (`src/citations.rs`) must accept every resolution of the corpus as cited with its own
/// year, in both forms: "N (YYYY)" and "N of 1 July YYYY", the stricter of the two.
#[test]
fn every_corpus_resolution_cited_with_its_year_is_read() {
    let corpus = common::shared_corpus(&["unsc-resolutions-1946-2015"]);
    let table = CitationTable::load(&common::repo_root().join("datasets/citations.toml")).unwrap();
    let name = regex::Regex::new(r"^S-RES-(\d+)\((\d{4})\)\.txt$").unwrap();
    let mut seen = 0;
    for dir in ["unsc-resolutions-1946-2015", "unsc-resolutions-2016-2019"] {
        let Ok(entries) = std::fs::read_dir(corpus.join(dir)) else {
            continue;
        };
        for entry in entries {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            let Some(c) = name.captures(&file) else {
                continue;
            };
            let (n, year): (u32, u32) = (c[1].parse().unwrap(), c[2].parse().unwrap());
            for text in [
                format!("Recalling its resolution {n} ({year}),"),
                format!("Recalling its resolution {n} of 1 July {year},"),
            ] {
                assert_eq!(table.extract(&text).resolutions, vec![n], "{file}: {text}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 2_259, "only {seen} resolution files found");
}
