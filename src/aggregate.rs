//! Aggregation: per-paragraph frames -> time series with honest uncertainty.
//!
//! Takes one [`Observation`] per paragraph (document, year, agendas, kind, frame
//! probabilities and labels), gives [`ShareRow`]s in long format: for every year x agenda
//! (and `all`), the share of paragraphs carrying each frame (label share and mean
//! probability), P(human_rights | security), P(human_rights | crime), the human-rights-only
//! share and the dilution index, each with a 95% bootstrap confidence interval, plus
//! [`Trend`]s (least-squares slope per year, years weighted by their documents, with a
//! bootstrap CI) and change points (PELT) in a series.
//!
//! Why bootstrap over documents: paragraphs of one resolution are not independent (they
//! share drafters, topic and boilerplate), so resampling paragraphs would give intervals far
//! too narrow. Resampling whole documents within each year keeps that dependence. All
//! randomness comes from a seeded generator per group, so results do not depend on thread
//! scheduling and reruns are identical.

use crate::classify::{Frame, FrameScores, LabelSet};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// One classified paragraph, as aggregation needs it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub doc: String,
    pub year: i32,
    pub agendas: Vec<String>,
    pub scores: FrameScores,
    pub labels: LabelSet,
}

/// The measures computed for each group. Names are the `frame` column of `shares.csv`.
pub const MEASURES: [&str; 8] = [
    "security",
    "crime",
    "human_rights",
    "gender",
    "hr_given_security",
    "hr_given_crime",
    "hr_only",
    "dilution_index",
];

/// One line of `shares.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareRow {
    pub year: i32,
    pub agenda: String,
    /// A frame name or one of the derived measures in [`MEASURES`].
    pub frame: String,
    /// Point estimate from labels (NaN-free: `None` when undefined, e.g. no security
    /// paragraphs for P(HR | security)).
    pub share: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Mean probability (frames only).
    pub mean_prob: Option<f64>,
    pub n_paragraphs: usize,
    pub n_documents: usize,
}

/// Label counts over a set of paragraphs, enough to compute every measure.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    n: f64,
    frame: [f64; 4],
    prob: [f64; 4],
    hr_and_sec: f64,
    hr_and_crime: f64,
    hr_only: f64,
}

impl Counts {
    fn add(&mut self, o: &Observation, w: f64) {
        let has = |f: Frame| o.labels.contains(f);
        self.n += w;
        for f in Frame::ALL {
            if has(f) {
                self.frame[f.index()] += w;
            }
            self.prob[f.index()] += w * o.scores.get(f) as f64;
        }
        let hr = has(Frame::HumanRights);
        if hr && has(Frame::Security) {
            self.hr_and_sec += w;
        }
        if hr && has(Frame::Crime) {
            self.hr_and_crime += w;
        }
        if hr && !has(Frame::Security) && !has(Frame::Crime) {
            self.hr_only += w;
        }
    }

    fn merge(&mut self, other: &Counts, w: f64) {
        self.n += w * other.n;
        for i in 0..4 {
            self.frame[i] += w * other.frame[i];
            self.prob[i] += w * other.prob[i];
        }
        self.hr_and_sec += w * other.hr_and_sec;
        self.hr_and_crime += w * other.hr_and_crime;
        self.hr_only += w * other.hr_only;
    }

    /// Every measure, in [`MEASURES`] order.
    fn measures(&self) -> [Option<f64>; 8] {
        let ratio = |a: f64, b: f64| if b > 0.0 { Some(a / b) } else { None };
        let s = self.frame[Frame::Security.index()];
        let c = self.frame[Frame::Crime.index()];
        let h = self.frame[Frame::HumanRights.index()];
        [
            ratio(s, self.n),
            ratio(c, self.n),
            ratio(h, self.n),
            ratio(self.frame[Frame::Gender.index()], self.n),
            ratio(self.hr_and_sec, s),
            ratio(self.hr_and_crime, c),
            ratio(self.hr_only, self.n),
            dilution_index(h, s, c),
        ]
    }
}

/// The dilution index: the share of security and crime framing in all rights-relevant
/// framing, `(S + C) / (S + C + H)`, from paragraph counts (or shares) carrying each frame.
/// 0 means only human-rights framing, 1 means no paragraph carries human rights (whether it
/// appears beside security is what P(human rights | security) measures); 0.5 means they
/// balance. Undefined when none of the three occurs.
/// It rises when human-rights language loses ground relative to security and crime
/// framings, whether because it falls or because they grow — the "dilution" of the seed
/// literature — and, unlike a raw share, it does not move when procedural (unframed)
/// paragraphs come and go.
pub fn dilution_index(h: f64, s: f64, c: f64) -> Option<f64> {
    let total = h + s + c;
    if total > 0.0 {
        Some((s + c) / total)
    } else {
        None
    }
}

/// SplitMix64: small, fast, and seedable per group, so parallel groups stay reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A stable 64-bit seed for a group from the run seed and the group's key.
pub fn group_seed(seed: u64, key: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(key.as_bytes());
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Options for [`shares`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AggregateOptions {
    pub bootstrap: usize,
    pub seed: u64,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        AggregateOptions {
            bootstrap: 1000,
            seed: 20161220,
        }
    }
}

/// Per-document counts of a group's paragraphs.
fn per_document(obs: &[&Observation]) -> Vec<Counts> {
    let mut docs: BTreeMap<&str, Counts> = BTreeMap::new();
    for o in obs {
        docs.entry(o.doc.as_str()).or_default().add(o, 1.0);
    }
    docs.into_values().collect()
}

/// Point estimates and bootstrap CIs of every measure for one group of documents.
fn summarise(
    docs: &[Counts],
    opts: &AggregateOptions,
    key: &str,
) -> Vec<(Option<f64>, Option<f64>, Option<f64>)> {
    let mut total = Counts::default();
    for d in docs {
        total.merge(d, 1.0);
    }
    let point = total.measures();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(opts.bootstrap); MEASURES.len()];
    if !docs.is_empty() {
        let mut rng = Rng::new(group_seed(opts.seed, key));
        for _ in 0..opts.bootstrap {
            let mut c = Counts::default();
            for _ in 0..docs.len() {
                c.merge(&docs[rng.below(docs.len())], 1.0);
            }
            for (m, v) in c.measures().iter().enumerate() {
                if let Some(v) = v {
                    samples[m].push(*v);
                }
            }
        }
    }
    let per_doc: Vec<[Option<f64>; 8]> = docs.iter().map(Counts::measures).collect();
    (0..MEASURES.len())
        .map(|m| {
            let s = &mut samples[m];
            s.sort_by(|a, b| a.total_cmp(b));
            // An interval only when the measure was defined in most resamples, and never from a
            // single document: resampling one document cannot show how documents vary.
            let enough = docs.len() >= 2 && s.len() * 2 > opts.bootstrap;
            if !enough {
                return (point[m], None, None);
            }
            let defined: Vec<f64> = per_doc.iter().filter_map(|d| d[m]).collect();
            match boundary_interval(&defined) {
                Some((lo, hi)) => (point[m], Some(lo), Some(hi)),
                None => (point[m], percentile(s, 0.025), percentile(s, 0.975)),
            }
        })
        .collect()
}

/// The 95% interval of a measure that sits at 0 (or 1) in every one of the `n` documents
/// where it is defined: the Clopper-Pearson interval for 0 (or `n`) successes in `n`,
/// `[0, 1 - 0.025^(1/n)]` (or `[0.025^(1/n), 1]`); `None` otherwise.
///
/// The percentile bootstrap gave `[0, 0]` there, since every resample of documents that all
/// lack a frame lacks it too, and a zero-width interval reads as certainty: no crime
/// framing in 1990 "with a CI of [0, 0]". Documents are the independent units here, and no
/// document showing the frame is evidence only up to this bound (about 0.31 for 10
/// documents, 0.07 for 50). For a share of paragraphs the bound is conservative: the share
/// cannot exceed the share of documents with any such paragraph.
fn boundary_interval(per_document: &[f64]) -> Option<(f64, f64)> {
    let n = per_document.len();
    if n == 0 {
        return None;
    }
    let edge = 0.025f64.powf(1.0 / n as f64);
    if per_document.iter().all(|v| *v == 0.0) {
        Some((0.0, 1.0 - edge))
    } else if per_document.iter().all(|v| *v == 1.0) {
        Some((edge, 1.0))
    } else {
        None
    }
}

/// The long table of shares: every year x (agenda or `all`) x measure.
pub fn shares(obs: &[Observation], opts: &AggregateOptions) -> Vec<ShareRow> {
    let mut groups: BTreeMap<(i32, String), Vec<&Observation>> = BTreeMap::new();
    for o in obs {
        groups
            .entry((o.year, "all".to_string()))
            .or_default()
            .push(o);
        for a in &o.agendas {
            groups.entry((o.year, a.clone())).or_default().push(o);
        }
    }
    let groups: Vec<((i32, String), Vec<&Observation>)> = groups.into_iter().collect();
    groups
        .par_iter()
        .flat_map_iter(|((year, agenda), members)| {
            let docs = per_document(members);
            let key = format!("{year}/{agenda}");
            let stats = summarise(&docs, opts, &key);
            let n = members.len();
            let mean_prob =
                |f: Frame| members.iter().map(|o| o.scores.get(f) as f64).sum::<f64>() / n as f64;
            MEASURES
                .iter()
                .zip(stats)
                .map(move |(name, (share, lo, hi))| ShareRow {
                    year: *year,
                    agenda: agenda.clone(),
                    frame: name.to_string(),
                    share,
                    ci_low: lo,
                    ci_high: hi,
                    mean_prob: Frame::parse(name).map(mean_prob),
                    n_paragraphs: n,
                    n_documents: docs.len(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A linear trend of a measure over years.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub agenda: String,
    pub measure: String,
    /// Change per year: least squares over the yearly values, each year weighted by its
    /// documents ([`wls_slope`]).
    pub slope: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub first_year: i32,
    pub last_year: i32,
}

/// Weighted least-squares slope of `y` on `x` with weights `w`; `None` with fewer than 3
/// points or no spread in x.
pub fn wls_slope(x: &[f64], y: &[f64], w: &[f64]) -> Option<f64> {
    if x.len() < 3 {
        return None;
    }
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / total;
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().zip(w).map(|(v, k)| k * (v - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = (0..x.len()).map(|i| w[i] * (x[i] - mx) * (y[i] - my)).sum();
    Some(sxy / sxx)
}

/// Trend of `measure` for `agenda` (or `all`): slope of the yearly values, each year
/// weighted by the number of its documents in which the measure is defined, with a CI from
/// a cluster bootstrap that resamples documents from the whole period (a year may then lose
/// or gain documents, which is exactly the uncertainty of a series built from few documents
/// per year; resampling within years would make a year with one document look certain).
///
/// Why weighted: a yearly value from one document is one document's framing, not the
/// Council's in that year. Weighted equally, the three recovered resolutions of 2016, 2017
/// and 2019 each counted as much as a year of 60 resolutions and nearly doubled the slope
/// of the dilution index over 1990-2019. The document is the unit the bootstrap resamples,
/// and the yearly value's variance falls roughly with the number of documents behind it, so
/// documents are the weights; a year's paragraphs would let one long resolution count
/// for many.
pub fn trend(
    obs: &[Observation],
    agenda: &str,
    measure: &str,
    opts: &AggregateOptions,
) -> Option<Trend> {
    let m = MEASURES.iter().position(|x| *x == measure)?;
    let selected: Vec<&Observation> = obs
        .iter()
        .filter(|o| agenda == "all" || o.agendas.iter().any(|a| a == agenda))
        .collect();
    // One entry per document: its year and counts.
    let mut docs: BTreeMap<&str, (i32, Counts)> = BTreeMap::new();
    for o in &selected {
        docs.entry(o.doc.as_str())
            .or_insert((o.year, Counts::default()))
            .1
            .add(o, 1.0);
    }
    // Each document's year, counts, and whether the measure is defined in it (P(HR |
    // crime) is not in a document without crime paragraphs): the year's weight.
    let docs: Vec<(i32, Counts, f64)> = docs
        .into_values()
        .map(|(y, c)| (y, c, if c.measures()[m].is_some() { 1.0 } else { 0.0 }))
        .collect();
    if docs.is_empty() {
        return None;
    }
    let slope_of = |pick: &mut dyn Iterator<Item = usize>| -> Option<f64> {
        let mut by_year: BTreeMap<i32, (Counts, f64)> = BTreeMap::new();
        for i in pick {
            let (y, c, defined) = &docs[i];
            let year = by_year.entry(*y).or_default();
            year.0.merge(c, 1.0);
            year.1 += defined;
        }
        let mut xs = Vec::with_capacity(by_year.len());
        let mut ys = Vec::with_capacity(by_year.len());
        let mut ws = Vec::with_capacity(by_year.len());
        for (y, (c, weight)) in &by_year {
            if let Some(v) = c.measures()[m] {
                xs.push(*y as f64);
                ys.push(v);
                ws.push(*weight);
            }
        }
        wls_slope(&xs, &ys, &ws)
    };
    let slope = slope_of(&mut (0..docs.len()));
    let mut rng = Rng::new(group_seed(opts.seed, &format!("trend/{agenda}/{measure}")));
    let mut slopes = Vec::with_capacity(opts.bootstrap);
    for _ in 0..opts.bootstrap {
        let draw: Vec<usize> = (0..docs.len()).map(|_| rng.below(docs.len())).collect();
        if let Some(s) = slope_of(&mut draw.into_iter()) {
            slopes.push(s);
        }
    }
    slopes.sort_by(|a, b| a.total_cmp(b));
    let enough = slopes.len() * 2 > opts.bootstrap;
    Some(Trend {
        agenda: agenda.to_string(),
        measure: measure.to_string(),
        slope,
        ci_low: if enough {
            percentile(&slopes, 0.025)
        } else {
            None
        },
        ci_high: if enough {
            percentile(&slopes, 0.975)
        } else {
            None
        },
        first_year: docs.iter().map(|d| d.0).min().unwrap_or(0),
        last_year: docs.iter().map(|d| d.0).max().unwrap_or(0),
    })
}

/// The fewest documents a year needs to take part in change-point detection. A yearly share
/// from one to four documents is mostly those documents' subjects, not the Council's year:
/// in the quick start's run the three recovered resolutions of 2016, 2017 and 2019 (one
/// each) made a change point of their own (2016) and, by widening the differences PELT takes
/// its noise from, removed the one of 1999 that the complete years 1990-2015 show. Trends
/// need no such cut: they weight years by their documents ([`trend`]).
pub const MIN_CHANGE_POINT_DOCUMENTS: usize = 5;

/// The measures whose yearly series (agenda `all`) get change points.
pub const CHANGE_POINT_MEASURES: [&str; 2] = ["human_rights", "dilution_index"];

/// Change points of the all-agendas series of [`CHANGE_POINT_MEASURES`], by measure (the
/// years where a new segment starts), and the years left out of every series for having
/// fewer than [`MIN_CHANGE_POINT_DOCUMENTS`] documents.
pub fn change_points(shares: &[ShareRow]) -> (BTreeMap<String, Vec<i32>>, Vec<i32>) {
    // The year's document count is the same on every row of agenda `all`; one measure
    // that is defined in every year (a frame's share) gives each year once.
    let thin_years: Vec<i32> = shares
        .iter()
        .filter(|r| r.agenda == "all" && r.frame == "human_rights")
        .filter(|r| r.n_documents < MIN_CHANGE_POINT_DOCUMENTS)
        .map(|r| r.year)
        .collect();
    let mut found = BTreeMap::new();
    for m in CHANGE_POINT_MEASURES {
        let series: Vec<(i32, f64)> = shares
            .iter()
            .filter(|r| r.agenda == "all" && r.frame == m)
            .filter(|r| !thin_years.contains(&r.year))
            .filter_map(|r| r.share.map(|v| (r.year, v)))
            .collect();
        let ys: Vec<f64> = series.iter().map(|p| p.1).collect();
        let cps = pelt(&ys, default_penalty(&ys), 3);
        found.insert(m.to_string(), cps.iter().map(|&i| series[i].0).collect());
    }
    (found, thin_years)
}

/// Change points in a series by PELT (Killick et al. 2012) with a Gaussian mean-change cost
/// and penalty `beta` per change. Returns the indices where a new segment starts.
pub fn pelt(y: &[f64], beta: f64, min_size: usize) -> Vec<usize> {
    let n = y.len();
    if n < 2 * min_size.max(1) {
        return Vec::new();
    }
    let mut cs = vec![0.0; n + 1];
    let mut cs2 = vec![0.0; n + 1];
    for i in 0..n {
        cs[i + 1] = cs[i] + y[i];
        cs2[i + 1] = cs2[i] + y[i] * y[i];
    }
    // Sum of squared deviations from the mean of y[a..b].
    let cost = |a: usize, b: usize| {
        let len = (b - a) as f64;
        let s = cs[b] - cs[a];
        (cs2[b] - cs2[a]) - s * s / len
    };
    let mut f = vec![f64::INFINITY; n + 1];
    f[0] = -beta;
    let mut last = vec![0usize; n + 1];
    let mut candidates = vec![0usize];
    for t in min_size..=n {
        let mut best = (f64::INFINITY, 0usize);
        for &s in &candidates {
            if t - s >= min_size {
                let v = f[s] + cost(s, t) + beta;
                if v < best.0 {
                    best = (v, s);
                }
            }
        }
        f[t] = best.0;
        last[t] = best.1;
        // Pruning: drop candidates that can never be optimal again.
        candidates.retain(|&s| t - s < min_size || f[s] + cost(s, t) <= f[t]);
        if t + 1 >= min_size {
            candidates.push(t + 1 - min_size);
            candidates.sort_unstable();
            candidates.dedup();
        }
    }
    let mut cps = Vec::new();
    let mut t = n;
    while t > 0 {
        let s = last[t];
        if s > 0 {
            cps.push(s);
        }
        t = s;
    }
    cps.reverse();
    cps
}

/// A default PELT penalty for a series: `2 * sigma^2 * ln(n)` (a BIC-type penalty), with the
/// noise variance estimated robustly from first differences (MAD / 0.6745, divided by sqrt 2),
/// so a single real shift does not inflate the noise estimate.
pub fn default_penalty(y: &[f64]) -> f64 {
    if y.len() < 3 {
        return f64::INFINITY;
    }
    let mut d: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    d.sort_by(|a, b| a.total_cmp(b));
    let mad = percentile(&d, 0.5).unwrap_or(0.0);
    let sigma = (mad / 0.6745) / std::f64::consts::SQRT_2;
    2.0 * sigma.max(1e-6).powi(2) * (y.len() as f64).ln()
}

/// Adjusted classify-and-count: correct a raw label share for the classifier's measured
/// error rates, `(raw - fpr) / (tpr - fpr)`, clipped to [0, 1]. `None` when the classifier
/// does not separate the classes on the gold set (tpr <= fpr).
pub fn adjusted_share(raw: f64, tpr: f64, fpr: f64) -> Option<f64> {
    if tpr - fpr <= 1e-9 {
        return None;
    }
    Some(((raw - fpr) / (tpr - fpr)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(doc: &str, year: i32, labels: &[&str]) -> Observation {
        let labels = LabelSet::from_names(labels).unwrap();
        let mut p = [0.1f32; 4];
        for f in labels.frames() {
            p[f.index()] = 0.9;
        }
        Observation {
            doc: doc.into(),
            year,
            agendas: vec!["wps".into()],
            scores: FrameScores(p),
            labels,
        }
    }

    #[test]
    fn shares_and_derived_measures_by_hand() {
        let data = vec![
            obs("a", 2000, &["security", "human_rights"]),
            obs("a", 2000, &["security"]),
            obs("b", 2000, &["crime", "human_rights"]),
            obs("b", 2000, &["human_rights"]),
            obs("b", 2000, &[]),
        ];
        let rows = shares(
            &data,
            &AggregateOptions {
                bootstrap: 200,
                seed: 1,
            },
        );
        let get = |agenda: &str, m: &str| {
            rows.iter()
                .find(|r| r.agenda == agenda && r.frame == m)
                .unwrap()
                .clone()
        };
        let sec = get("all", "security");
        assert_eq!(sec.share, Some(0.4));
        assert_eq!((sec.n_paragraphs, sec.n_documents), (5, 2));
        assert!((sec.mean_prob.unwrap() - (0.9 * 2.0 + 0.1 * 3.0) / 5.0).abs() < 1e-6);
        assert_eq!(get("all", "hr_given_security").share, Some(0.5));
        assert_eq!(get("all", "hr_given_crime").share, Some(1.0));
        assert_eq!(get("all", "hr_only").share, Some(0.2));
        // S=2, C=1, H=3 -> (2+1)/(2+1+3)
        assert_eq!(get("all", "dilution_index").share, Some(0.5));
        for r in &rows {
            if let (Some(s), Some(lo), Some(hi)) = (r.share, r.ci_low, r.ci_high) {
                assert!(lo <= s + 1e-12 && s <= hi + 1e-12, "{r:?}");
            }
        }
        assert_eq!(get("wps", "security").share, Some(0.4));
        assert_eq!(
            rows,
            shares(
                &data,
                &AggregateOptions {
                    bootstrap: 200,
                    seed: 1
                }
            ),
            "seeded"
        );
    }

    /// Regression: a measure at 0 (or 1) in every document got the zero-width bootstrap
    /// interval [0, 0] (or [1, 1]); it now gets the Clopper-Pearson interval over documents.
    #[test]
    fn zero_width_bootstrap_cis_at_a_boundary_and_wide_otherwise() {
        let same: Vec<Observation> = (0..10)
            .map(|i| obs(&format!("d{i}"), 2001, &["security"]))
            .collect();
        let r = shares(&same, &AggregateOptions::default());
        let row = |frame: &str| {
            r.iter()
                .find(|r| r.frame == frame && r.agenda == "all")
                .unwrap()
                .clone()
        };
        // 0.025^(1/10) = 0.6915 (computed independently: exp(ln(0.025) / 10)).
        let s = row("security");
        assert_eq!(s.share, Some(1.0));
        assert!((s.ci_low.unwrap() - 0.691_503).abs() < 1e-6, "{s:?}");
        assert_eq!(s.ci_high, Some(1.0));
        let c = row("crime");
        assert_eq!(c.share, Some(0.0));
        assert_eq!(c.ci_low, Some(0.0));
        assert!((c.ci_high.unwrap() - 0.308_497).abs() < 1e-6, "{c:?}");
        // Defined in no document (no crime paragraph): still no interval.
        assert_eq!(row("hr_given_crime").ci_low, None);
        // A single document: still no interval.
        let one = shares(&same[..1], &AggregateOptions::default());
        assert!(one
            .iter()
            .all(|r| r.ci_low.is_none() && r.ci_high.is_none()));
        let mixed: Vec<Observation> = (0..10)
            .map(|i| {
                obs(
                    &format!("d{i}"),
                    2001,
                    if i % 2 == 0 { &["security"] } else { &[] },
                )
            })
            .collect();
        let r = shares(&mixed, &AggregateOptions::default());
        let s = r
            .iter()
            .find(|r| r.frame == "security" && r.agenda == "all")
            .unwrap();
        assert!(
            s.ci_low.unwrap() < 0.35 && s.ci_high.unwrap() > 0.65,
            "{s:?}"
        );
    }

    #[test]
    fn trend_recovers_a_rising_share() {
        let mut data = Vec::new();
        for (k, year) in (2000..2010).enumerate() {
            for d in 0..10 {
                let labels: &[&str] = if d < k { &["security"] } else { &[] };
                data.push(obs(&format!("{year}-{d}"), year, labels));
            }
        }
        let t = trend(
            &data,
            "all",
            "security",
            &AggregateOptions {
                bootstrap: 300,
                seed: 3,
            },
        )
        .unwrap();
        assert!((t.slope.unwrap() - 0.1).abs() < 1e-9);
        assert!(
            t.ci_low.unwrap() > 0.05 && t.ci_high.unwrap() < 0.15,
            "{t:?}"
        );
    }

    /// Regression: in the quick start's run (1990-2015 plus the three recovered resolutions
    /// of 2016, 2017 and 2019) each of those one-document years weighed as much in the trend
    /// as a year of 60 resolutions, so three documents of 1,616 nearly doubled the slope of
    /// the dilution index (-0.0018 a year over 1990-2015, -0.0033 with them), and the
    /// bootstrap, which drops each of them from about a third of its resamples, put the
    /// estimate at the edge of its own interval (+0.0081, CI +0.0037 to +0.0086).
    #[test]
    fn one_document_years_outweighed_whole_years_in_the_trend() {
        let mut data = Vec::new();
        // Twenty years of 30 documents at a flat 0.2 share (2 of 10 paragraphs) ...
        for year in 1990..2010 {
            for d in 0..30 {
                for p in 0..10 {
                    let labels: &[&str] = if p < 2 { &["security"] } else { &[] };
                    data.push(obs(&format!("{year}-{d}"), year, labels));
                }
            }
        }
        // ... then three years of one document each, at 0.9.
        for year in [2010, 2011, 2013] {
            for p in 0..10 {
                let labels: &[&str] = if p < 9 { &["security"] } else { &[] };
                data.push(obs(&format!("{year}-only"), year, labels));
            }
        }
        let opts = AggregateOptions {
            bootstrap: 400,
            seed: 5,
        };
        let t = trend(&data, "all", "security", &opts).unwrap();
        let slope = t.slope.unwrap();
        // Equal weights gave +0.021 a year (CI 0 to +0.021); by documents, 3 of 603 move
        // it by well under a tenth of that.
        assert!(slope.abs() < 0.002, "{t:?}");
        let (low, high) = (t.ci_low.unwrap(), t.ci_high.unwrap());
        assert!(low <= slope && slope <= high, "{t:?}");
        // The estimate sits inside its interval, not at one end of it.
        assert!(
            (slope - low) > 0.2 * (high - low) && (high - slope) > 0.2 * (high - low),
            "{t:?}"
        );
        assert_eq!((t.first_year, t.last_year), (1990, 2013));
    }

    #[test]
    fn pelt_finds_a_mean_shift_and_nothing_in_noise() {
        let mut y: Vec<f64> = (0..12)
            .map(|i| 0.2 + 0.01 * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        y.extend((0..12).map(|i| 0.6 + 0.01 * ((i * 3 % 5) as f64 - 2.0)));
        assert_eq!(pelt(&y, default_penalty(&y), 2), vec![12]);
        let flat: Vec<f64> = (0..24)
            .map(|i| 0.3 + 0.01 * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        assert!(pelt(&flat, default_penalty(&flat), 2).is_empty());
    }

    fn all_row(year: i32, frame: &str, share: f64, n_documents: usize) -> ShareRow {
        ShareRow {
            year,
            agenda: "all".into(),
            frame: frame.into(),
            share: Some(share),
            ci_low: None,
            ci_high: None,
            mean_prob: None,
            n_paragraphs: 20 * n_documents,
            n_documents,
        }
    }

    /// The quick start's run covers 1990-2015 whole and 2016, 2017 and 2019 by one recovered
    /// resolution each. Those single documents made a change point of their own and, by
    /// widening the year-to-year differences PELT estimates its noise from, hid the step
    /// the complete years show.
    #[test]
    fn one_document_years_made_change_points_of_their_own() {
        let mut rows = Vec::new();
        for (i, year) in (1990..=2015).enumerate() {
            let wiggle = 0.01 * ((i * 7 % 5) as f64 - 2.0);
            let hr = if year < 2003 { 0.10 } else { 0.20 } + wiggle;
            rows.push(all_row(year, "human_rights", hr, 40));
            rows.push(all_row(year, "dilution_index", 0.80 + wiggle, 40));
        }
        for (year, hr, di) in [(2016, 0.39, 0.83), (2017, 0.95, 0.40), (2019, 0.05, 0.97)] {
            rows.push(all_row(year, "human_rights", hr, 1));
            rows.push(all_row(year, "dilution_index", di, 1));
        }
        // What the series gave with every year in it: the step is lost in the noise the
        // single documents add.
        let every_year: Vec<f64> = rows
            .iter()
            .filter(|r| r.frame == "human_rights")
            .map(|r| r.share.unwrap())
            .collect();
        let before = pelt(&every_year, default_penalty(&every_year), 3);
        assert_ne!(before, vec![13], "the fixture must show the defect");

        let (found, skipped) = change_points(&rows);
        assert_eq!(skipped, vec![2016, 2017, 2019]);
        assert_eq!(found["human_rights"], vec![2003]);
        assert_eq!(found["dilution_index"], Vec::<i32>::new());
        // A year of exactly the minimum takes part.
        for r in rows.iter_mut().filter(|r| r.year == 2016) {
            r.n_documents = MIN_CHANGE_POINT_DOCUMENTS;
        }
        assert_eq!(change_points(&rows).1, vec![2017, 2019]);
    }

    #[test]
    fn weighted_slope_by_hand() {
        let x = [0.0, 1.0, 2.0, 3.0];
        // Equal weights: ordinary least squares (slope of 0, 1, 2, 3 is 1).
        assert_eq!(wls_slope(&x, &[0.0, 1.0, 2.0, 3.0], &[2.0; 4]), Some(1.0));
        // A point of weight 0 does not count at all.
        assert_eq!(
            wls_slope(&x, &[0.0, 1.0, 2.0, 10.0], &[1.0, 1.0, 1.0, 0.0]),
            Some(1.0)
        );
        // Weight 3 on (1, 1) against 1 on (0, 0) and (2, 0): means x = 1, y = 0.6,
        // sxx = 2, sxy = 0 (the ends cancel): slope 0.
        assert_eq!(
            wls_slope(&[0.0, 1.0, 2.0], &[0.0, 1.0, 0.0], &[1.0, 3.0, 1.0]),
            Some(0.0)
        );
        assert_eq!(
            wls_slope(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0], &[1.0; 3]),
            None
        );
        assert_eq!(wls_slope(&[0.0, 1.0], &[0.0, 1.0], &[1.0; 2]), None);
    }

    #[test]
    fn adjusted_share_inverts_known_error_rates() {
        // True share 0.3, tpr 0.8, fpr 0.1 -> raw = 0.3*0.8 + 0.7*0.1 = 0.31
        let a = adjusted_share(0.31, 0.8, 0.1).unwrap();
        assert!((a - 0.3).abs() < 1e-12);
        assert_eq!(adjusted_share(0.5, 0.3, 0.3), None);
    }
}
