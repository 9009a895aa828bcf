//! Evaluation measures for multi-label frame predictions.
//!
//! Takes gold [`LabelSet`]s, predicted `LabelSet`s and (optionally) predicted probabilities,
//! gives a [`Report`]: per-frame precision, recall, F1 and support; micro and macro F1;
//! subset accuracy; Hamming loss; and per-frame expected calibration error. For two human
//! readings of the same paragraphs it gives their [`Agreement`] (per-frame F1 and Cohen's
//! kappa), the ceiling a classifier's scores against one reader are read against. Kept apart from
//! the classifier so that every method (trained head, lexicon, zero-shot) is scored by the
//! same code.

use crate::classify::{Frame, FrameScores, LabelSet};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FrameMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold positives.
    pub support: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// Expected calibration error over 10 equal-width probability bins; `None` for
    /// methods without probabilities.
    pub ece: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub n: usize,
    pub macro_f1: f64,
    pub micro_f1: f64,
    pub subset_accuracy: f64,
    pub hamming_loss: f64,
    pub per_frame: BTreeMap<&'static str, FrameMetrics>,
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Score predictions against gold labels (same order, same length).
pub fn evaluate(
    gold: &[LabelSet],
    predicted: &[LabelSet],
    scores: Option<&[FrameScores]>,
) -> Report {
    assert_eq!(gold.len(), predicted.len(), "one prediction per gold item");
    if let Some(s) = scores {
        assert_eq!(s.len(), gold.len(), "one score per gold item");
    }
    let n = gold.len();
    let mut per_frame = BTreeMap::new();
    let (mut tp_all, mut fp_all, mut fn_all) = (0, 0, 0);
    let mut macro_sum = 0.0;
    for frame in Frame::ALL {
        let (mut tp, mut fp, mut fneg) = (0, 0, 0);
        for (g, p) in gold.iter().zip(predicted) {
            match (g.contains(frame), p.contains(frame)) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fneg += 1,
                (false, false) => {}
            }
        }
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fneg);
        let m = FrameMetrics {
            precision,
            recall,
            f1: f1(precision, recall),
            support: tp + fneg,
            true_positives: tp,
            false_positives: fp,
            false_negatives: fneg,
            ece: scores.map(|s| {
                let probs: Vec<f64> = s.iter().map(|x| x.get(frame) as f64).collect();
                let truth: Vec<bool> = gold.iter().map(|g| g.contains(frame)).collect();
                expected_calibration_error(&probs, &truth, 10)
            }),
        };
        macro_sum += m.f1;
        tp_all += tp;
        fp_all += fp;
        fn_all += fneg;
        per_frame.insert(frame.name(), m);
    }
    let micro_p = ratio(tp_all, tp_all + fp_all);
    let micro_r = ratio(tp_all, tp_all + fn_all);
    let exact = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    let wrong_bits: usize = gold
        .iter()
        .zip(predicted)
        .map(|(g, p)| {
            Frame::ALL
                .iter()
                .filter(|f| g.contains(**f) != p.contains(**f))
                .count()
        })
        .sum();
    Report {
        n,
        macro_f1: macro_sum / Frame::ALL.len() as f64,
        micro_f1: f1(micro_p, micro_r),
        subset_accuracy: ratio(exact, n),
        hamming_loss: ratio(wrong_bits, n * Frame::ALL.len()),
        per_frame,
    }
}

/// How two readings of the same paragraphs agree on one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FrameAgreement {
    /// Paragraphs both readings give the frame.
    pub both: usize,
    pub first_only: usize,
    pub second_only: usize,
    pub neither: usize,
    /// F1 of one reading scored against the other (symmetric: swapping the readings swaps
    /// precision and recall), the figure a classifier's F1 against the first reading is
    /// compared with. 0 when neither reading uses the frame.
    pub f1: f64,
    /// Cohen's kappa: agreement beyond what the two readings' base rates give by chance.
    /// `None` when chance agreement is already complete (both readings constant).
    pub kappa: Option<f64>,
}

/// Inter-annotator agreement of two readings of the same paragraphs, per frame and overall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub n: usize,
    pub per_frame: BTreeMap<&'static str, FrameAgreement>,
    /// Mean of the four frames' F1: the ceiling against which a classifier's macro-F1 on
    /// labels made by one reader can be read.
    pub macro_f1: f64,
    /// Share of paragraphs whose two label sets are identical.
    pub exact_match: f64,
}

/// Agreement of `second` with `first`, paragraph by paragraph.
pub fn agreement(first: &[LabelSet], second: &[LabelSet]) -> Agreement {
    assert_eq!(
        first.len(),
        second.len(),
        "one second reading per paragraph"
    );
    let n = first.len();
    let mut per_frame = BTreeMap::new();
    for frame in Frame::ALL {
        let mut a = FrameAgreement::default();
        for (x, y) in first.iter().zip(second) {
            match (x.contains(frame), y.contains(frame)) {
                (true, true) => a.both += 1,
                (true, false) => a.first_only += 1,
                (false, true) => a.second_only += 1,
                (false, false) => a.neither += 1,
            }
        }
        let disagree = a.first_only + a.second_only;
        a.f1 = if a.both == 0 {
            0.0
        } else {
            2.0 * a.both as f64 / (2 * a.both + disagree) as f64
        };
        a.kappa = cohen_kappa(a.both, a.first_only, a.second_only, a.neither);
        per_frame.insert(frame.name(), a);
    }
    let macro_f1 = per_frame.values().map(|a| a.f1).sum::<f64>() / Frame::ALL.len() as f64;
    let same = first.iter().zip(second).filter(|(x, y)| x == y).count();
    Agreement {
        n,
        per_frame,
        macro_f1,
        exact_match: if n == 0 { 0.0 } else { same as f64 / n as f64 },
    }
}

/// Cohen's kappa of a 2x2 table of two raters' binary decisions.
fn cohen_kappa(both: usize, first_only: usize, second_only: usize, neither: usize) -> Option<f64> {
    let n = (both + first_only + second_only + neither) as f64;
    if n == 0.0 {
        return None;
    }
    let observed = (both + neither) as f64 / n;
    let p1 = (both + first_only) as f64 / n;
    let p2 = (both + second_only) as f64 / n;
    let chance = p1 * p2 + (1.0 - p1) * (1.0 - p2);
    (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
}

/// ECE: the bin-size-weighted mean of |mean predicted probability - observed frequency|
/// over `bins` equal-width bins of the predicted probability.
pub fn expected_calibration_error(probs: &[f64], truth: &[bool], bins: usize) -> f64 {
    if probs.is_empty() {
        return 0.0;
    }
    let mut count = vec![0usize; bins];
    let mut conf = vec![0.0; bins];
    let mut hits = vec![0.0; bins];
    for (p, t) in probs.iter().zip(truth) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf[b] += p;
        hits[b] += if *t { 1.0 } else { 0.0 };
    }
    let n = probs.len() as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            (count[b] as f64 / n) * (conf[b] / count[b] as f64 - hits[b] / count[b] as f64).abs()
        })
        .sum()
}

impl Report {
    /// A Markdown table of the per-frame and overall figures.
    pub fn to_markdown(&self, title: &str) -> String {
        let mut s = format!("### {title}\n\n");
        s.push_str(
            "| frame | precision | recall | F1 | support | ECE |\n|---|---:|---:|---:|---:|---:|\n",
        );
        for (name, m) in &self.per_frame {
            let ece = m.ece.map_or("-".to_string(), |e| format!("{e:.3}"));
            s.push_str(&format!(
                "| {name} | {:.3} | {:.3} | {:.3} | {} | {ece} |\n",
                m.precision, m.recall, m.f1, m.support
            ));
        }
        s.push_str(&format!(
            "\nmacro-F1 **{:.3}**, micro-F1 {:.3}, subset accuracy {:.3}, Hamming loss {:.3} (n = {})\n",
            self.macro_f1, self.micro_f1, self.subset_accuracy, self.hamming_loss, self.n
        ));
        s
    }
}

/// Where a method's errors go, per frame: its false positives counted by the gold frames
/// those paragraphs do carry (`none` when they carry none), and its false negatives by the
/// frames it predicted instead. A paragraph with several other frames counts once under
/// each. This is what the README's "confusions that remain" are read from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Confusions {
    /// frame -> (gold frame or `none` -> count) over the frame's false positives.
    pub false_positives_by_gold: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    /// frame -> (predicted frame or `none` -> count) over the frame's false negatives.
    pub false_negatives_by_predicted: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
}

fn others(set: LabelSet, except: Frame) -> Vec<&'static str> {
    let names: Vec<&'static str> = set
        .frames()
        .filter(|f| *f != except)
        .map(|f| f.name())
        .collect();
    if names.is_empty() {
        vec!["none"]
    } else {
        names
    }
}

pub fn confusions(gold: &[LabelSet], predicted: &[LabelSet]) -> Confusions {
    assert_eq!(gold.len(), predicted.len(), "one prediction per gold item");
    let mut c = Confusions::default();
    for f in Frame::ALL {
        let fp = c.false_positives_by_gold.entry(f.name()).or_default();
        let fneg = c.false_negatives_by_predicted.entry(f.name()).or_default();
        for (g, p) in gold.iter().zip(predicted) {
            match (g.contains(f), p.contains(f)) {
                (false, true) => others(*g, f)
                    .into_iter()
                    .for_each(|n| *fp.entry(n).or_default() += 1),
                (true, false) => others(*p, f)
                    .into_iter()
                    .for_each(|n| *fneg.entry(n).or_default() += 1),
                _ => {}
            }
        }
    }
    c
}

impl Confusions {
    pub fn to_markdown(&self, title: &str) -> String {
        let mut s = format!(
            "### {title}\n\n| frame | false positives: gold frames instead | \
             false negatives: predicted instead |\n|---|---|---|\n"
        );
        let fmt = |m: &BTreeMap<&str, usize>| {
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            v.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (frame, fp) in &self.false_positives_by_gold {
            s.push_str(&format!(
                "| {frame} | {} | {} |\n",
                fmt(fp),
                fmt(&self.false_negatives_by_predicted[frame])
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_f1_and_kappa_per_frame() {
        // security: both 2, first only 1, second only 0, neither 1.
        let first = [
            set(&["security"]),
            set(&["security", "gender"]),
            set(&["security"]),
            set(&[]),
        ];
        let second = [
            set(&["security"]),
            set(&["security", "gender"]),
            set(&[]),
            set(&[]),
        ];
        let a = agreement(&first, &second);
        assert_eq!(a.n, 4);
        let s = a.per_frame["security"];
        assert_eq!(
            (s.both, s.first_only, s.second_only, s.neither),
            (2, 1, 0, 1)
        );
        assert!((s.f1 - 0.8).abs() < 1e-12); // 2*2 / (2*2 + 1)
                                             // Observed 3/4; chance 3/4*1/2 + 1/4*1/2 = 1/2; kappa (0.75 - 0.5) / 0.5.
        assert!((s.kappa.unwrap() - 0.5).abs() < 1e-12);
        // gender agrees perfectly: F1 1 and kappa 1.
        assert_eq!(a.per_frame["gender"].f1, 1.0);
        assert_eq!(a.per_frame["gender"].kappa, Some(1.0));
        // crime is used by neither: F1 0 (as macro-F1 counts an absent frame) and kappa
        // undefined, not a perfect 1.
        assert_eq!(a.per_frame["crime"].f1, 0.0);
        assert_eq!(a.per_frame["crime"].kappa, None);
        assert!((a.macro_f1 - (0.8 + 1.0) / 4.0).abs() < 1e-12);
        assert_eq!(a.exact_match, 0.75);
        // F1 between readings is what `evaluate` gives scoring one against the other.
        let r = evaluate(&first, &second, None);
        assert!((r.per_frame["security"].f1 - s.f1).abs() < 1e-12);
        assert!((r.macro_f1 - a.macro_f1).abs() < 1e-12);
    }

    #[test]
    fn kappa_is_zero_at_chance_and_negative_below_it() {
        // Independent raters at 50%: observed agreement equals chance.
        assert_eq!(cohen_kappa(1, 1, 1, 1), Some(0.0));
        // Always disagreeing.
        assert_eq!(cohen_kappa(0, 2, 2, 0), Some(-1.0));
    }

    #[test]
    fn confusions_count_where_errors_go() {
        let gold = [
            set(&["security"]),
            set(&[]),
            set(&["human_rights"]),
            set(&["gender"]),
        ];
        let pred = [
            set(&["security", "crime"]),
            set(&["crime"]),
            set(&["security"]),
            set(&["gender"]),
        ];
        let c = confusions(&gold, &pred);
        let crime_fp = &c.false_positives_by_gold["crime"];
        assert_eq!(crime_fp.get("security"), Some(&1));
        assert_eq!(crime_fp.get("none"), Some(&1));
        assert_eq!(
            c.false_negatives_by_predicted["human_rights"].get("security"),
            Some(&1)
        );
        assert_eq!(
            c.false_positives_by_gold["security"].get("human_rights"),
            Some(&1)
        );
        assert!(c.false_positives_by_gold["gender"].is_empty());
        assert!(c
            .to_markdown("t")
            .contains("| crime | none 1, security 1 |"));
    }

    fn set(names: &[&str]) -> LabelSet {
        LabelSet::from_names(names).unwrap()
    }

    #[test]
    fn hand_computed_example() {
        let gold = [
            set(&["security"]),
            set(&["security", "crime"]),
            set(&[]),
            set(&["gender"]),
        ];
        let pred = [
            set(&["security"]),
            set(&["security"]),
            set(&["crime"]),
            set(&["gender"]),
        ];
        let r = evaluate(&gold, &pred, None);
        let sec = r.per_frame["security"];
        assert_eq!(
            (sec.true_positives, sec.false_positives, sec.support),
            (2, 0, 2)
        );
        assert_eq!(sec.f1, 1.0);
        let crime = r.per_frame["crime"];
        assert_eq!(
            (
                crime.true_positives,
                crime.false_positives,
                crime.false_negatives
            ),
            (0, 1, 1)
        );
        assert_eq!(crime.f1, 0.0);
        assert_eq!(r.per_frame["human_rights"].support, 0);
        // macro over 4 frames: (1 + 0 + 0 + 1) / 4
        assert!((r.macro_f1 - 0.5).abs() < 1e-12);
        // micro: tp 3, fp 1, fn 1 -> p = r = 0.75
        assert!((r.micro_f1 - 0.75).abs() < 1e-12);
        assert!((r.subset_accuracy - 0.5).abs() < 1e-12);
        assert!((r.hamming_loss - 2.0 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn ece_is_zero_when_calibrated_and_large_when_overconfident() {
        // In the 0.2 bin, 1 of 5 true: calibrated.
        let probs = [0.2; 5];
        let truth = [true, false, false, false, false];
        assert!(expected_calibration_error(&probs, &truth, 10) < 1e-12);
        let over = [0.95; 4];
        let truth = [false, false, false, true];
        assert!((expected_calibration_error(&over, &truth, 10) - 0.7).abs() < 1e-12);
    }
}
