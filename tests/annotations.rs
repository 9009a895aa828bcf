//! The project's annotations (datasets/annotations) against the shared corpus: every one
//! must resolve to its paragraph with an unchanged text hash, none may come from held-out
//! material, and the set must meet the size and balance the classifier needs.
//!
//! Needs ../shared/corpus (or FRAMESHIFT_CORPUS); fails saying so when it is absent.

mod common;

use frameshift::classify::Frame;
use frameshift::dataset::{join_annotations, read_annotations};
use frameshift::segment::AgendaRules;

fn corpus() -> std::path::PathBuf {
    common::shared_corpus(common::ANNOTATED_CORPORA)
}

#[test]
fn every_annotation_resolves_with_unchanged_text_and_none_is_held_out() {
    let set = read_annotations(&common::repo_root().join("datasets/annotations")).unwrap();
    let rules = AgendaRules::load(&common::repo_root().join("datasets/agendas.toml")).unwrap();
    let joined = join_annotations(&set, &corpus(), &rules).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(joined.len(), set.items.len());
    for l in &joined {
        let p = &l.paragraph;
        if let Some(num) = p
            .doc
            .strip_prefix("S/RES/")
            .and_then(|r| r.split(' ').next())
        {
            assert!(
                !num.ends_with('7'),
                "{}: held-out resolution annotated",
                p.id
            );
        } else {
            assert_ne!(
                p.year,
                Some(2017),
                "{}: held-out 2017 speech annotated",
                p.id
            );
        }
    }
    let resolutions = joined
        .iter()
        .filter(|l| {
            l.paragraph.doc.starts_with("S/RES/")
                && (1990..=2015).contains(&l.paragraph.year.unwrap_or(0))
        })
        .count();
    let speeches = joined
        .iter()
        .filter(|l| l.paragraph.doc.starts_with("UNGD/"))
        .count();
    assert!(
        resolutions >= 1000,
        "{resolutions} resolution paragraphs 1990-2015 (need 1,000)"
    );
    assert!(speeches >= 500, "{speeches} speech paragraphs (need 500)");
    for f in Frame::ALL {
        let n = joined.iter().filter(|l| l.labels.contains(f)).count();
        assert!(n >= 150, "{n} positives for {f} (need 150)");
    }
    let none = joined.iter().filter(|l| l.labels.is_empty()).count();
    assert!(none >= 150, "{none} paragraphs labelled none");
}

/// The codebook's citation rule (rule 4), which `label`, `analyze` and `eval --gold` add to
/// the classifier's labels, must agree with every annotation: each annotated paragraph that
/// cites CEDAW, a WPS resolution or the Palermo Protocol carries the frame the rule gives
/// it. Were one to disagree, the rule or the annotation would be wrong. The check also
/// keeps the rule from being a no-op: annotated paragraphs of each kind must exist.
#[test]
fn the_citation_rule_agrees_with_every_annotation() {
    use frameshift::citations::CitationTable;
    let set = read_annotations(&common::repo_root().join("datasets/annotations")).unwrap();
    let rules = AgendaRules::load(&common::repo_root().join("datasets/agendas.toml")).unwrap();
    let joined = join_annotations(&set, &corpus(), &rules).unwrap_or_else(|e| panic!("{e}"));
    let table = CitationTable::load(&common::repo_root().join("datasets/citations.toml")).unwrap();
    let mut hits = std::collections::BTreeMap::new();
    for l in &joined {
        let by_rule = table.frames(&table.extract(&l.paragraph.text));
        for f in by_rule.frames() {
            assert!(
                l.labels.contains(f),
                "{}: cites what the codebook makes `{f}`, annotated {:?}",
                l.paragraph.id,
                l.labels.names()
            );
            *hits.entry(f.name()).or_insert(0) += 1;
        }
    }
    assert!(
        hits.get("gender").copied().unwrap_or(0) >= 20
            && hits.get("crime").copied().unwrap_or(0) >= 1,
        "too few annotated paragraphs the rule applies to: {hits:?}"
    );
}

/// A training batch waiting in datasets/pending*/ (read like the annotations, not yet
/// trained on): every line resolves to its paragraph with an unchanged text hash, comes from
/// a resolution of the batch's years that is not held out, is not already annotated, and
/// shares neither a document nor a text with the check set of those years, so that a model
/// trained on it is scored there on documents it has not seen (the cross-validation's
/// grouping). Its labels obey the citation rule as the annotations' do.
struct PendingBatch {
    file: &'static str,
    n: usize,
    years: std::ops::RangeInclusive<i32>,
    check_gold: &'static str,
    /// Whether no paragraph may come from a resolution that has an annotated paragraph (the
    /// 1990-2015 batch, drawn from the resolutions the annotations never read).
    unannotated_documents: bool,
}

fn check_pending_batch(batch: &PendingBatch) {
    use frameshift::citations::CitationTable;
    use frameshift::dataset::{read_annotation_file, AnnotationSet};
    use std::collections::BTreeSet;
    let root = common::repo_root();
    let items = read_annotation_file(&root.join(batch.file)).unwrap();
    assert_eq!(items.len(), batch.n, "{}: the batch as drawn", batch.file);
    let pending = AnnotationSet {
        items,
        sha256: String::new(),
        files: vec![batch.file.to_string()],
    };
    let annotated = read_annotations(&root.join("datasets/annotations")).unwrap();
    let annotated_docs: BTreeSet<&str> = annotated
        .items
        .iter()
        .map(|a| a.id.split('#').next().unwrap())
        .collect();
    let annotated: BTreeSet<&str> = annotated.items.iter().map(|a| a.id.as_str()).collect();
    let check = std::fs::read_to_string(root.join(batch.check_gold)).unwrap();
    let (mut check_docs, mut check_texts) = (BTreeSet::new(), BTreeSet::new());
    for line in check.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_str().unwrap();
        check_docs.insert(id.split('#').next().unwrap().to_string());
        check_texts.insert(v["sha256"].as_str().unwrap().to_string());
    }
    assert!(
        check_docs.len() > 100,
        "{} check documents",
        check_docs.len()
    );
    let rules = AgendaRules::load(&root.join("datasets/agendas.toml")).unwrap();
    let joined = join_annotations(&pending, &corpus(), &rules).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(joined.len(), pending.items.len());
    let table = CitationTable::load(&root.join("datasets/citations.toml")).unwrap();
    for l in &joined {
        let p = &l.paragraph;
        let num = p
            .doc
            .strip_prefix("S/RES/")
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("{}: not a resolution", p.id));
        assert!(!num.ends_with('7'), "{}: held-out resolution", p.id);
        assert!(
            p.year.is_some_and(|y| batch.years.contains(&y)),
            "{}: not of {:?}",
            p.id,
            batch.years
        );
        assert!(
            !annotated.contains(p.id.as_str()),
            "{}: already annotated",
            p.id
        );
        assert!(
            !batch.unannotated_documents || !annotated_docs.contains(p.doc.as_str()),
            "{}: its resolution has annotated paragraphs",
            p.id
        );
        assert!(
            !check_docs.contains(&p.doc),
            "{}: its resolution is in the check set",
            p.id
        );
        let sha = frameshift::segment::text_sha256(&p.text);
        assert!(
            !check_texts.contains(&sha),
            "{}: same text as a paragraph of the check set",
            p.id
        );
        for f in table.frames(&table.extract(&p.text)).frames() {
            assert!(l.labels.contains(f), "{}: citation rule gives `{f}`", p.id);
        }
    }
}

#[test]
fn pending_pre1990_batch_resolves_and_shares_nothing_with_the_check_set() {
    check_pending_batch(&PendingBatch {
        file: "datasets/pending/batch-08.jsonl",
        n: 320,
        years: 1946..=1989,
        check_gold: "datasets/pre1990/gold.jsonl",
        unannotated_documents: false,
    });
}

#[test]
fn pending_1990_2015_batch_resolves_and_shares_nothing_with_the_check_set() {
    check_pending_batch(&PendingBatch {
        file: "datasets/pending-1990-2015/batch-09.jsonl",
        n: 480,
        years: 1990..=2015,
        check_gold: "datasets/check-1990-2015/gold.jsonl",
        unannotated_documents: true,
    });
}
