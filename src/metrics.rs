//! Evaluation measures for multi-label frame predictions.
//!
//! Takes gold [`LabelSet`]s, predicted `LabelSet`s and (optionally) predicted probabilities,
//! gives a [`Report`]: per-frame precision, recall, F1 and support; micro and macro F1;
//! subset accuracy; Hamming loss; and per-frame expected calibration error. Kept apart from
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

#[cfg(test)]
mod tests {
    use super::*;

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
