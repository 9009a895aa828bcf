//! Frame classification: paragraph embeddings -> per-frame probabilities.
//!
//! Takes [`crate::embed::Embedding`] vectors, gives [`FrameScores`] (a probability per frame
//! of the codebook: `security`, `crime`, `human_rights`, `gender`) and, through per-frame
//! thresholds, a [`LabelSet`]. A paragraph may carry several frames or none, so the head is
//! four independent L2-regularised logistic regressions on standardised embedding features
//! (multi-label), fitted by L-BFGS in f64 with a fixed iteration order: the same data gives
//! bit-identical weights on every run.
//!
//! Why logistic regression: its probabilities are close to calibrated out of the box (the
//! analysis averages probabilities over years, so calibration matters as much as accuracy),
//! it trains in seconds on a CPU, and its weights are a small committed file.

use serde::{Deserialize, Serialize};

pub mod ensemble;
pub mod finetune;
pub mod lexicon;
pub mod lowrank;
pub mod zeroshot;

/// One frame of the codebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    Security,
    Crime,
    HumanRights,
    Gender,
}

impl Frame {
    pub const ALL: [Frame; 4] = [
        Frame::Security,
        Frame::Crime,
        Frame::HumanRights,
        Frame::Gender,
    ];

    /// The machine-readable name from the codebook.
    pub fn name(self) -> &'static str {
        match self {
            Frame::Security => "security",
            Frame::Crime => "crime",
            Frame::HumanRights => "human_rights",
            Frame::Gender => "gender",
        }
    }

    pub fn parse(name: &str) -> Option<Frame> {
        Frame::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of frames (possibly empty: the codebook's `none`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet(u8);

impl LabelSet {
    pub fn contains(self, frame: Frame) -> bool {
        self.0 & (1 << frame.index()) != 0
    }

    pub fn insert(&mut self, frame: Frame) {
        self.0 |= 1 << frame.index();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The frames of either set.
    pub fn union(self, other: LabelSet) -> LabelSet {
        LabelSet(self.0 | other.0)
    }

    pub fn frames(self) -> impl Iterator<Item = Frame> {
        Frame::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.frames().map(Frame::name).collect()
    }

    /// Parse frame names; an unknown name is an error naming it.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut set = LabelSet::default();
        for n in names {
            let frame = Frame::parse(n.as_ref()).ok_or_else(|| {
                format!(
                    "unknown frame `{}` (expected one of security, crime, human_rights, gender)",
                    n.as_ref()
                )
            })?;
            set.insert(frame);
        }
        Ok(set)
    }
}

impl Serialize for LabelSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        LabelSet::from_names(&names).map_err(serde::de::Error::custom)
    }
}

/// Probability of each frame for one paragraph, indexed by [`Frame::index`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameScores(pub [f32; 4]);

impl FrameScores {
    pub fn get(&self, frame: Frame) -> f32 {
        self.0[frame.index()]
    }

    /// Frames whose probability reaches its threshold.
    pub fn labels(&self, thresholds: &[f32; 4]) -> LabelSet {
        let mut set = LabelSet::default();
        for f in Frame::ALL {
            if self.get(f) >= thresholds[f.index()] {
                set.insert(f);
            }
        }
        set
    }
}

/// A binary logistic regression `p = sigmoid(w . x + b)` over raw features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl Logistic {
    pub fn predict(&self, x: &[f32]) -> f64 {
        let z: f64 = self
            .weights
            .iter()
            .zip(x)
            .map(|(w, v)| w * *v as f64)
            .sum::<f64>()
            + self.bias;
        sigmoid(z)
    }
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Options for [`fit_logistic`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct FitOptions {
    /// L2 penalty on the weights (not the bias), scaled by the number of rows.
    pub l2: f64,
    /// Weight positives by `negatives / positives` (capped at 10) so rare frames are not
    /// ignored. Off by default: it shifts probabilities upwards, which hurts calibration.
    pub balance: bool,
    pub max_iter: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            l2: 1.0,
            balance: false,
            max_iter: 500,
        }
    }
}

/// Fit one logistic regression by L-BFGS on (standardised) features `x` and targets `y`.
/// Deterministic: sums run in row order, no threads, no randomness.
pub fn fit_logistic(x: &[Vec<f32>], y: &[bool], opts: &FitOptions) -> Logistic {
    assert_eq!(x.len(), y.len());
    let n = x.len();
    let d = x.first().map_or(0, |r| r.len());
    if n == 0 {
        return Logistic {
            weights: vec![0.0; d],
            bias: 0.0,
        };
    }
    let pos = y.iter().filter(|v| **v).count();
    let w_pos = if opts.balance && pos > 0 {
        ((n - pos) as f64 / pos as f64).clamp(1.0, 10.0)
    } else {
        1.0
    };
    let total_weight: f64 = y.iter().map(|&v| if v { w_pos } else { 1.0 }).sum();
    // Parameters: d weights then the bias.
    let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for (row, &label) in x.iter().zip(y) {
            let z: f64 = theta[..d]
                .iter()
                .zip(row)
                .map(|(w, v)| w * *v as f64)
                .sum::<f64>()
                + theta[d];
            let sw = if label { w_pos } else { 1.0 };
            let t = if label { 1.0 } else { 0.0 };
            // log(1 + e^z) - t z, computed stably.
            let softplus = if z > 0.0 {
                z + (-z).exp().ln_1p()
            } else {
                z.exp().ln_1p()
            };
            loss += sw * (softplus - t * z);
            let r = sw * (sigmoid(z) - t);
            for (g, v) in grad[..d].iter_mut().zip(row) {
                *g += r * *v as f64;
            }
            grad[d] += r;
        }
        loss /= total_weight;
        grad.iter_mut().for_each(|g| *g /= total_weight);
        let lambda = opts.l2 / n as f64;
        for j in 0..d {
            loss += 0.5 * lambda * theta[j] * theta[j];
            grad[j] += lambda * theta[j];
        }
        loss
    };
    let theta = lbfgs(vec![0.0; d + 1], objective, opts.max_iter);
    Logistic {
        weights: theta[..d].to_vec(),
        bias: theta[d],
    }
}

/// Limited-memory BFGS (m = 10) with a backtracking Armijo line search.
fn lbfgs(
    mut x: Vec<f64>,
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    max_iter: usize,
) -> Vec<f64> {
    const M: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    for _ in 0..max_iter {
        let gnorm = dot(&g, &g).sqrt();
        if gnorm < 1e-9 {
            break;
        }
        // Two-loop recursion for the search direction.
        let mut q = g.clone();
        let mut alphas = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            alphas[i] = rho * dot(&s_hist[i], &q);
            for (qj, yj) in q.iter_mut().zip(&y_hist[i]) {
                *qj -= alphas[i] * yj;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / gnorm.max(1.0),
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..s_hist.len() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            let beta = rho * dot(&y_hist[i], &q);
            for (qj, sj) in q.iter_mut().zip(&s_hist[i]) {
                *qj += (alphas[i] - beta) * sj;
            }
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        let dir = if slope >= 0.0 {
            // Not a descent direction (can happen with a stale history): fall back to -g.
            s_hist.clear();
            y_hist.clear();
            slope = -dot(&g, &g);
            g.iter().map(|v| -v).collect()
        } else {
            dir
        };
        let mut step = 1.0;
        let mut g_new = vec![0.0; n];
        let mut x_new;
        let mut f_new;
        loop {
            x_new = x
                .iter()
                .zip(&dir)
                .map(|(a, b)| a + step * b)
                .collect::<Vec<_>>();
            f_new = f(&x_new, &mut g_new);
            if f_new <= fx + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let converged = (fx - f_new).abs() <= 1e-12 * fx.abs().max(1.0);
        if dot(&s, &yv) > 1e-12 {
            s_hist.push(s);
            y_hist.push(yv);
            if s_hist.len() > M {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        x = x_new;
        g = g_new.clone();
        fx = f_new;
        if converged {
            break;
        }
    }
    x
}

/// Per-feature mean and standard deviation, so the L2 penalty treats all dimensions alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    pub fn fit(x: &[Vec<f32>]) -> Self {
        let d = x.first().map_or(0, |r| r.len());
        let n = x.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in x {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for row in x {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (*v as f64 - m).powi(2);
            }
        }
        let std = var.iter().map(|s| (s / n).sqrt().max(1e-6)).collect();
        Standardizer { mean, std }
    }

    pub fn apply(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(v, (m, s))| ((*v as f64 - m) / s) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_set_round_trips_names_in_codebook_order() {
        let set = LabelSet::from_names(&["gender", "security"]).unwrap();
        assert_eq!(set.names(), vec!["security", "gender"]);
        assert!(LabelSet::from_names(&["peace"]).is_err());
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["security","gender"]"#);
        let back: LabelSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        assert!(LabelSet::default().is_empty());
    }

    #[test]
    fn logistic_regression_learns_a_separable_rule_and_is_deterministic() {
        // y = x0 + 0.5 x1 > 0 on a fixed grid.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..20 {
            for j in 0..20 {
                let a = i as f32 / 10.0 - 1.0;
                let b = j as f32 / 10.0 - 1.0;
                x.push(vec![a, b, 0.3]);
                y.push(a + 0.5 * b > 0.05);
            }
        }
        let opts = FitOptions {
            l2: 0.01,
            ..FitOptions::default()
        };
        let m = fit_logistic(&x, &y, &opts);
        let acc = x
            .iter()
            .zip(&y)
            .filter(|(r, t)| (m.predict(r) >= 0.5) == **t)
            .count();
        assert!(acc >= 390, "accuracy {acc}/400");
        assert!(m.weights[0] > 0.0 && m.weights[1] > 0.0 && m.weights[0] > m.weights[1]);
        assert_eq!(m, fit_logistic(&x, &y, &opts), "same data, same weights");
    }

    #[test]
    fn scores_threshold_into_labels() {
        let s = FrameScores([0.9, 0.2, 0.5, 0.49]);
        let labels = s.labels(&[0.5; 4]);
        assert_eq!(labels.names(), vec!["security", "human_rights"]);
    }
}

/// Embeddings with gold labels and the document each paragraph belongs to (the unit of
/// cross-validation: paragraphs of one document never sit on both sides of a split).
#[derive(Debug, Clone, Default)]
pub struct LabelledSet {
    pub x: Vec<Vec<f32>>,
    pub y: Vec<LabelSet>,
    pub groups: Vec<String>,
}

impl LabelledSet {
    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    pub fn subset(&self, rows: &[usize]) -> LabelledSet {
        LabelledSet {
            x: rows.iter().map(|&i| self.x[i].clone()).collect(),
            y: rows.iter().map(|&i| self.y[i]).collect(),
            groups: rows.iter().map(|&i| self.groups[i].clone()).collect(),
        }
    }
}

pub(crate) fn seeded_hash(seed: u64, s: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(s.as_bytes());
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Fold (0..k) of every row, grouped by document: groups are shuffled by a seeded hash,
/// then the largest first go to the fold with the fewest rows, which keeps folds balanced
/// even when one resolution has sixty paragraphs and another two.
pub fn grouped_folds(groups: &[String], k: usize, seed: u64) -> Vec<usize> {
    let mut sizes: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for g in groups {
        *sizes.entry(g.as_str()).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    order.sort_by_key(|(g, n)| (std::cmp::Reverse(*n), seeded_hash(seed, g)));
    let mut load = vec![0usize; k];
    let mut fold_of: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (g, n) in order {
        let f = (0..k).min_by_key(|&f| (load[f], f)).expect("k > 0");
        load[f] += n;
        fold_of.insert(g, f);
    }
    groups.iter().map(|g| fold_of[g.as_str()]).collect()
}

/// One frame's part of a trained head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameHead {
    pub frame: Frame,
    pub l2: f64,
    /// Decision threshold on the probability, chosen on out-of-fold predictions.
    pub threshold: f32,
    pub model: Logistic,
}

/// How a head is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub folds: usize,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            folds: 5,
            seed: 20161220,
        }
    }
}

/// The L2 strengths tried by cross-validation (penalty on standardised features).
pub const L2_GRID: [f64; 6] = [1.0, 3.0, 10.0, 30.0, 100.0, 300.0];

/// A trained multi-label head: standardiser plus one logistic regression per frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub standardizer: Standardizer,
    pub frames: Vec<FrameHead>,
}

impl Head {
    pub fn score(&self, x: &[f32]) -> FrameScores {
        assert_eq!(
            x.len(),
            self.standardizer.mean.len(),
            "head features have the wrong dimension"
        );
        let z = self.standardizer.apply(x);
        let mut p = [0f32; 4];
        for fh in &self.frames {
            p[fh.frame.index()] = fh.model.predict(&z) as f32;
        }
        FrameScores(p)
    }

    pub fn thresholds(&self) -> [f32; 4] {
        let mut t = [0.5; 4];
        for fh in &self.frames {
            t[fh.frame.index()] = fh.threshold;
        }
        t
    }

    pub fn predict(&self, x: &[f32]) -> (FrameScores, LabelSet) {
        let s = self.score(x);
        (s, s.labels(&self.thresholds()))
    }
}

/// F1 of `probs >= threshold` against `truth` (0 when there is nothing to find or find).
pub(crate) fn f1_at(probs: &[f64], truth: &[bool], threshold: f64) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for (p, y) in probs.iter().zip(truth) {
        match (*p >= threshold, *y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
    }
    if tp == 0 {
        return 0.0;
    }
    2.0 * tp as f64 / (2 * tp + fp + fneg) as f64
}

fn log_loss(p: f64, t: bool) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    if t {
        -p.ln()
    } else {
        -(1.0 - p).ln()
    }
}

/// The threshold (0.05..0.95 in steps of 0.01) with the best F1; ties go to the threshold
/// closest to 0.5, so an uninformative choice stays at the natural cut.
pub fn best_threshold(probs: &[f64], truth: &[bool]) -> f32 {
    let mut best = (f64::MIN, 0.5f32);
    for step in 5..=95 {
        let t = step as f64 / 100.0;
        let f1 = f1_at(probs, truth, t);
        let better = f1 > best.0 + 1e-12
            || ((f1 - best.0).abs() <= 1e-12 && (t - 0.5).abs() < (best.1 as f64 - 0.5).abs());
        if better {
            best = (f1, t as f32);
        }
    }
    best.1
}

/// Train a head: per frame, choose the L2 strength by grouped cross-validated log-loss,
/// choose the threshold by out-of-fold F1, then fit on all rows.
pub fn train_head(set: &LabelledSet, opts: &TrainOptions) -> Head {
    use rayon::prelude::*;
    let standardizer = Standardizer::fit(&set.x);
    let z: Vec<Vec<f32>> = set.x.iter().map(|r| standardizer.apply(r)).collect();
    let folds = grouped_folds(&set.groups, opts.folds, opts.seed);
    // Frames are independent problems: train them in parallel. Each one's arithmetic is
    // sequential, so the result does not depend on scheduling.
    let frames = Frame::ALL
        .par_iter()
        .map(|&frame| {
            let y: Vec<bool> = set.y.iter().map(|l| l.contains(frame)).collect();
            // L2 strength by out-of-fold log-loss: it rewards calibrated probabilities,
            // which the yearly shares average. (Choosing by out-of-fold F1 instead was tried:
            // macro-F1 0.808 against 0.810, and the gender figure moved by +-0.017 with the
            // tie-break between equal-F1 strengths, i.e. it was noise.)
            let mut best: Option<(f64, f64, Vec<f64>)> = None;
            for &l2 in &L2_GRID {
                let oof = out_of_fold(&z, &y, &folds, opts.folds, l2);
                let loss: f64 = oof.iter().zip(&y).map(|(p, t)| log_loss(*p, *t)).sum();
                if best.as_ref().is_none_or(|b| loss < b.0) {
                    best = Some((loss, l2, oof));
                }
            }
            let (_, l2, oof) = best.expect("the L2 grid is not empty");
            let threshold = best_threshold(&oof, &y);
            let model = fit_logistic(
                &z,
                &y,
                &FitOptions {
                    l2,
                    ..FitOptions::default()
                },
            );
            FrameHead {
                frame,
                l2,
                threshold,
                model,
            }
        })
        .collect();
    Head {
        standardizer,
        frames,
    }
}

/// Out-of-fold probabilities of one logistic regression over the given folds.
fn out_of_fold(z: &[Vec<f32>], y: &[bool], folds: &[usize], k: usize, l2: f64) -> Vec<f64> {
    let fit = FitOptions {
        l2,
        ..FitOptions::default()
    };
    let mut oof = vec![0.0; z.len()];
    for f in 0..k {
        let train: Vec<usize> = (0..z.len()).filter(|&i| folds[i] != f).collect();
        if train.len() == z.len() {
            continue;
        }
        let xs: Vec<Vec<f32>> = train.iter().map(|&i| z[i].clone()).collect();
        let ys: Vec<bool> = train.iter().map(|&i| y[i]).collect();
        let m = fit_logistic(&xs, &ys, &fit);
        for i in (0..z.len()).filter(|&i| folds[i] == f) {
            oof[i] = m.predict(&z[i]);
        }
    }
    oof
}

/// Round embedding components to 1e-5 before training or scoring: floating-point results of
/// the encoder differ in the last bits between CPUs (SIMD widths, thread counts); rounding
/// makes the head, and every number computed from it, reproducible across machines in all
/// but vanishingly rare cases, at a cost far below the encoder's own precision.
pub fn quantize_for_reproducibility(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| (x * 1e5).round() / 1e5).collect()
}

/// What the head reads for one paragraph: its embedding, rounded (see
/// [`quantize_for_reproducibility`]), followed by one 0/1 indicator per frame (in
/// [`Frame::ALL`] order) saying whether any of the lexicon's terms for that frame occurs.
///
/// Why the indicators: mean pooling dilutes a single decisive phrase ("women and girls",
/// "resolution 1325") in a long paragraph, which is exactly what a term list catches. With
/// the four indicators the head learns how far to trust each list; in grouped 5-fold
/// cross-validation on the annotations it raised macro-F1 from 0.787 to the figure in
/// `eval/results/` and the gender F1 above the lexicon's own (see README, Classification).
pub fn head_features(vector: &[f32], text: &str, lexicon: &lexicon::Lexicon) -> Vec<f32> {
    let hits = lexicon.classify(text);
    let mut x = quantize_for_reproducibility(vector);
    x.extend(
        Frame::ALL
            .iter()
            .map(|f| if hits.contains(*f) { 1.0 } else { 0.0 }),
    );
    x
}

/// Synthetic data for tests: frame f is present when feature f is positive; 240 rows from
/// 30 documents.
#[cfg(test)]
pub(crate) fn synthetic_set() -> LabelledSet {
    let mut set = LabelledSet::default();
    for i in 0..240u32 {
        let v: Vec<f32> = (0..6)
            .map(|j| ((i * 37 + j * 101) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let mut l = LabelSet::default();
        for f in Frame::ALL {
            if v[f.index()] > 0.0 {
                l.insert(f);
            }
        }
        set.x.push(v);
        set.y.push(l);
        set.groups.push(format!("doc{}", i % 30));
    }
    set
}

#[cfg(test)]
mod head_tests {
    use super::*;

    fn synthetic() -> LabelledSet {
        synthetic_set()
    }

    #[test]
    fn grouped_folds_never_split_a_document_and_are_balanced() {
        let set = synthetic();
        let folds = grouped_folds(&set.groups, 5, 7);
        for (g, f) in set.groups.iter().zip(&folds) {
            for (g2, f2) in set.groups.iter().zip(&folds) {
                if g == g2 {
                    assert_eq!(f, f2);
                }
            }
        }
        let mut counts = [0; 5];
        folds.iter().for_each(|f| counts[*f] += 1);
        assert!(counts.iter().all(|&c| c == 48), "{counts:?}");
        assert_eq!(folds, grouped_folds(&set.groups, 5, 7));
    }

    #[test]
    fn head_learns_synthetic_frames_reproducibly() {
        let set = synthetic();
        let head = train_head(&set, &TrainOptions::default());
        let correct = set
            .x
            .iter()
            .zip(&set.y)
            .filter(|(x, y)| head.predict(x).1 == **y)
            .count();
        assert!(correct >= 220, "{correct}/240 exact");
        assert_eq!(head, train_head(&set, &TrainOptions::default()));
    }

    #[test]
    fn best_threshold_prefers_half_when_uninformative() {
        assert_eq!(best_threshold(&[0.9, 0.8, 0.1], &[true, true, false]), 0.5);
        let t = best_threshold(&[0.3, 0.35, 0.1, 0.05], &[true, true, false, false]);
        assert_eq!(
            t, 0.3,
            "perfect F1 from 0.11 to 0.30: the tie goes to the value nearest 0.5"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Lexicon(#[from] lexicon::LexiconError),
    #[error("{path}: {message}")]
    HeadFile { path: String, message: String },
    #[error(
        "{path} was trained on encoder {head_model} ({head_fingerprint}), but the loaded encoder is {model} ({fingerprint}); \
         retrain with `frameshift train --model {model}` or load the matching model"
    )]
    EncoderMismatch {
        path: String,
        head_model: String,
        head_fingerprint: String,
        model: String,
        fingerprint: String,
    },
}

/// The encoder a head belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderRef {
    pub model: String,
    /// [`crate::weights::ResolvedModel::fingerprint`] of the encoder's files.
    pub fingerprint: String,
    /// sha256 of each model file.
    pub files: std::collections::BTreeMap<String, String>,
}

/// What a head was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    /// sha256 over the annotation files (sorted by name, contents concatenated).
    pub annotations_sha256: String,
    pub paragraphs: usize,
    pub documents: usize,
    pub positives: std::collections::BTreeMap<String, usize>,
}

/// A trained head as committed under `weights/heads/`: the weights plus everything needed
/// to know whether it may be used (its encoder) and how to reproduce it (data, options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadFile {
    pub format: u32,
    pub encoder: EncoderRef,
    pub data: DataRef,
    pub options: TrainOptions,
    pub head: Head,
    /// Zero-shot baseline thresholds on cosine, chosen on the same annotations.
    pub zeroshot_thresholds: [f32; 4],
    /// The lexicon term lists whose indicators the head reads (see [`head_features`]),
    /// stored here so that editing `datasets/lexicon.toml` cannot silently change a trained
    /// head's inputs.
    pub lexicon: std::collections::BTreeMap<String, Vec<String>>,
}

/// 2: head reads embedding + lexicon indicators, and stores its lexicon.
pub const HEAD_FORMAT: u32 = 2;

/// A loaded head ready to score paragraphs: the file plus its compiled lexicon.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub file: HeadFile,
    lexicon: lexicon::Lexicon,
}

impl Classifier {
    /// [`HeadFile::load`], then compile the head's own lexicon.
    pub fn load(
        path: &std::path::Path,
        model: &str,
        fingerprint: &str,
    ) -> Result<Self, ClassifyError> {
        let file = HeadFile::load(path, model, fingerprint)?;
        Self::new(file, &path.display().to_string())
    }

    pub fn new(file: HeadFile, origin: &str) -> Result<Self, ClassifyError> {
        let lexicon = lexicon::Lexicon::from_terms(&file.lexicon, origin)?;
        Ok(Classifier { file, lexicon })
    }

    /// The lexicon this head was trained with.
    pub fn lexicon(&self) -> &lexicon::Lexicon {
        &self.lexicon
    }

    pub fn score(&self, vector: &[f32], text: &str) -> FrameScores {
        self.file
            .head
            .score(&head_features(vector, text, &self.lexicon))
    }

    pub fn predict(&self, vector: &[f32], text: &str) -> (FrameScores, LabelSet) {
        self.file
            .head
            .predict(&head_features(vector, text, &self.lexicon))
    }

    pub fn thresholds(&self) -> [f32; 4] {
        self.file.head.thresholds()
    }
}

impl HeadFile {
    /// Read a head and refuse it unless it was trained on the encoder with `fingerprint`.
    pub fn load(
        path: &std::path::Path,
        model: &str,
        fingerprint: &str,
    ) -> Result<Self, ClassifyError> {
        let err = |message: String| ClassifyError::HeadFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let head: HeadFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        head.check(&path.display().to_string(), model, fingerprint)?;
        Ok(head)
    }

    /// Refuse this head unless its format is this build's and it was trained on the encoder
    /// with `fingerprint`; `origin` names it in the error.
    pub fn check(&self, origin: &str, model: &str, fingerprint: &str) -> Result<(), ClassifyError> {
        let err = |message: String| ClassifyError::HeadFile {
            path: origin.to_string(),
            message,
        };
        if self.format != HEAD_FORMAT {
            return Err(err(format!(
                "head format {} (this build reads {HEAD_FORMAT})",
                self.format
            )));
        }
        // int8 runs of the same weights are accepted: the head reads their vectors as it
        // reads fp32 ones (the effect on F1 is measured in docs/performance.md).
        if self.encoder.fingerprint != crate::embed::cpu::weights_fingerprint(fingerprint) {
            return Err(ClassifyError::EncoderMismatch {
                path: origin.to_string(),
                head_model: self.encoder.model.clone(),
                head_fingerprint: self.encoder.fingerprint.clone(),
                model: model.to_string(),
                fingerprint: fingerprint.to_string(),
            });
        }
        Ok(())
    }

    /// Deterministic JSON (fixed field order, shortest round-trip floats), so retraining on
    /// the same data reproduces the committed file byte for byte.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("head serialises");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod head_file_tests {
    use super::*;

    fn dummy() -> HeadFile {
        HeadFile {
            format: HEAD_FORMAT,
            encoder: EncoderRef {
                model: "minilm".into(),
                fingerprint: "abc".into(),
                files: Default::default(),
            },
            data: DataRef {
                annotations_sha256: "d".into(),
                paragraphs: 1,
                documents: 1,
                positives: Default::default(),
            },
            options: TrainOptions::default(),
            head: Head {
                standardizer: Standardizer {
                    mean: vec![0.1],
                    std: vec![1.0],
                },
                frames: vec![FrameHead {
                    frame: Frame::Gender,
                    l2: 1.0,
                    threshold: 0.4,
                    model: Logistic {
                        weights: vec![0.123456789012345],
                        bias: -0.5,
                    },
                }],
            },
            zeroshot_thresholds: [0.3; 4],
            lexicon: [("gender".to_string(), vec!["women".to_string()])].into(),
        }
    }

    #[test]
    fn head_round_trips_exactly_and_refuses_another_encoder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let head = dummy();
        std::fs::write(&path, head.to_json()).unwrap();
        let back = HeadFile::load(&path, "minilm", "abc").unwrap();
        assert_eq!(back, head);
        assert_eq!(back.to_json(), head.to_json());
        let err = HeadFile::load(&path, "mpnet", "xyz").unwrap_err();
        assert!(
            matches!(err, ClassifyError::EncoderMismatch { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("frameshift train"));
    }

    #[test]
    fn classifier_reads_its_own_lexicon_indicators() {
        // One embedding dimension plus the four indicators; only the gender indicator
        // carries weight, so the stored lexicon alone decides the gender probability.
        let mut file = dummy();
        file.head.standardizer = Standardizer {
            mean: vec![0.0; 5],
            std: vec![1.0; 5],
        };
        file.head.frames[0].model = Logistic {
            weights: vec![0.0, 0.0, 0.0, 0.0, 4.0],
            bias: -2.0,
        };
        let c = Classifier::new(file, "test").unwrap();
        let with = c.score(&[0.5], "Women mediators");
        let without = c.score(&[0.5], "Mediators");
        assert!((with.get(Frame::Gender) - sigmoid(2.0) as f32).abs() < 1e-6);
        assert!((without.get(Frame::Gender) - sigmoid(-2.0) as f32).abs() < 1e-6);
        assert_eq!(c.predict(&[0.5], "women").1.names(), vec!["gender"]);
        assert!(c.predict(&[0.5], "men").1.is_empty());
    }
}
