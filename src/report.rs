//! Report: aggregated series -> a self-contained HTML page (inline SVG plots, no network
//! resources) and the same numbers in Markdown.
//!
//! Takes an [`AnalysisSummary`] (shares with CIs, trends, change points, citation counts,
//! per-document human-rights shares), gives `report.html` and `report.md` text. Plots are
//! drawn as SVG by hand: a scholar can open the page offline, archive it with a paper, and
//! every plotted value also appears in a table.

use crate::aggregate::{ShareRow, Trend};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisSummary {
    pub title: String,
    pub model: String,
    /// Whether the labels include the codebook's citation rule (see `CitationTable::frames`).
    pub citation_rules: bool,
    pub paragraphs: usize,
    pub documents: usize,
    pub shares: Vec<ShareRow>,
    pub trends: Vec<Trend>,
    /// Years where a new segment of the series starts, by measure (agenda `all`).
    pub change_points: BTreeMap<String, Vec<i32>>,
    /// Years left out of the change-point series for having fewer than
    /// [`crate::aggregate::MIN_CHANGE_POINT_DOCUMENTS`] documents (named in both reports).
    pub change_point_skipped_years: Vec<i32>,
    /// (year, instrument or resolution label) -> paragraphs citing it.
    pub citations: BTreeMap<i32, BTreeMap<String, usize>>,
    /// (document, year, paragraphs, human-rights label share).
    pub documents_hr: Vec<(String, i32, usize, f64)>,
    /// Corrected shares by frame and year (`--gold`), when computed.
    pub adjusted: Vec<(i32, String, Option<f64>)>,
    /// The error rates the corrected shares come from, by frame (`--gold`).
    pub adjusted_rates: BTreeMap<&'static str, ErrorRate>,
    /// Paragraphs from years the classifier's training data does not cover, when known.
    pub outside_training: Option<OutsideTraining>,
}

/// The paragraphs of an analysis from years outside those of the annotations the
/// classifier was trained on (for its kind of document). Said in both reports' opening
/// paragraph: a series that runs past the training years looks as solid there as inside
/// them, and the pre-1990 check showed it is not (README, "How does it do before 1990?").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutsideTraining {
    /// The documents, as the sentence names them (`resolutions`, `speeches`).
    pub documents: String,
    /// First and last year of the annotations of this kind.
    pub trained: (i32, i32),
    /// (paragraphs, first year, last year) before the training years, if any.
    pub before: Option<(usize, i32, i32)>,
    /// The same after them.
    pub after: Option<(usize, i32, i32)>,
}

impl OutsideTraining {
    /// `None` when every year is inside `trained`.
    pub fn of(
        documents: &str,
        trained: (i32, i32),
        years: impl Iterator<Item = i32>,
    ) -> Option<Self> {
        let mut before: Option<(usize, i32, i32)> = None;
        let mut after: Option<(usize, i32, i32)> = None;
        for y in years {
            let side = if y < trained.0 {
                &mut before
            } else if y > trained.1 {
                &mut after
            } else {
                continue;
            };
            let e = side.get_or_insert((0, y, y));
            *e = (e.0 + 1, e.1.min(y), e.2.max(y));
        }
        (before.is_some() || after.is_some()).then(|| OutsideTraining {
            documents: documents.to_string(),
            trained,
            before,
            after,
        })
    }

    /// The sentence both reports (and `analyze`'s stderr) give.
    pub fn sentence(&self) -> String {
        let span = |(n, a, b): (usize, i32, i32)| {
            let years = if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            };
            if n == 1 {
                format!("1 paragraph is from {years}")
            } else {
                format!("{n} paragraphs are from {years}")
            }
        };
        let parts: Vec<String> = [
            self.before
                .map(|b| format!("{}, before those years", span(b))),
            self.after.map(|a| format!("{}, after them", span(a))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let checked = if self.documents == "resolutions" && self.before.is_some_and(|b| b.1 < 1990)
        {
            " (a double-read check of resolutions of 1946-1989 found the committed \
             classifiers missing most human-rights language there: README, \"How does it do \
             before 1990?\")"
        } else {
            ""
        };
        format!(
            "The classifier was trained on {} of {}-{}; {}: its labels there are outside \
             what it was trained and cross-validated on{checked}.",
            self.documents,
            self.trained.0,
            self.trained.1,
            parts.join("; ")
        )
    }

    fn note(this: &Option<Self>) -> String {
        this.as_ref()
            .map_or_else(String::new, |o| format!(" {}", o.sentence()))
    }
}

/// The classifier's error rates for one frame on (part of) a gold set, as the corrected
/// shares use them: a reader judges a correction by how many gold items it rests on.
/// Written into both reports and the analysis manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRate {
    pub tpr: f64,
    pub fpr: f64,
    pub positives: usize,
    pub negatives: usize,
    /// Which gold items: `all gold items`, or the kind's own (`speech gold items`).
    pub from: String,
}

/// How the trends table was computed, said above it in both reports: a reader comparing
/// it with a plot of the yearly shares needs to know that a year of one document does not
/// weigh as much as a year of sixty.
const TRENDS_METHOD: &str = "Slope per year: least squares over the yearly values, each \
    year weighted by its number of documents (a year with one document counts as one \
    document, not as a year of many); 95% CI from the same bootstrap over documents.";

/// How the corrected shares were computed, said above their tables in both reports.
const ADJUSTED_METHOD: &str = "Each yearly label share corrected as (raw - fpr) / (tpr - fpr), \
    clipped to [0, 1], with the classifier's true- and false-positive rates measured on the \
    gold set: on the gold items of this kind of document where they hold both positives and \
    negatives of the frame (gold lines with a `kind`), else on all gold items. – where \
    the classifier does not separate the frame on the gold set (tpr <= fpr).";

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Series<'a> {
    name: &'a str,
    /// (x, y, ci_low, ci_high)
    points: Vec<(f64, f64, Option<f64>, Option<f64>)>,
}

/// A line chart with optional CI bands and vertical markers, y in [0, 1].
fn line_chart(title: &str, series: &[Series], markers: &[i32]) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 300.0, 48.0, 150.0, 28.0, 32.0);
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    if xs.is_empty() {
        return format!("<p><em>{}: no data</em></p>", esc(title));
    }
    let xmin = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    let xmax = xs
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(xmin + 1.0);
    let px = |x: f64| left + (x - xmin) / (xmax - xmin) * (w - left - right);
    let py = |y: f64| top + (1.0 - y.clamp(0.0, 1.0)) * (h - top - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<figure><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = esc(title)
    );
    let _ = write!(
        s,
        r#"<text x="{left}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for k in 0..=4 {
        let y = k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{x2}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{tx}" y="{ty}" font-size="10" text-anchor="end">{y:.2}</text>"##,
            x2 = w - right,
            yy = py(y),
            tx = left - 4.0,
            ty = py(y) + 3.0
        );
    }
    let step = ((xmax - xmin) / 8.0).ceil().max(1.0);
    let mut x = xmin;
    while x <= xmax + 1e-9 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            px(x),
            h - bottom + 14.0,
            x as i64
        );
        x += step;
    }
    for m in markers {
        let _ = write!(
            s,
            r##"<line class="change-point" x1="{x}" x2="{x}" y1="{top}" y2="{y2}" stroke="#444" stroke-dasharray="4 3"/>"##,
            x = px(*m as f64),
            y2 = h - bottom
        );
    }
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let band: Vec<&(f64, f64, Option<f64>, Option<f64>)> = ser
            .points
            .iter()
            .filter(|p| p.2.is_some() && p.3.is_some())
            .collect();
        if band.len() >= 2 {
            let mut d = String::new();
            for (j, p) in band.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1} ",
                    if j == 0 { "M" } else { "L" },
                    px(p.0),
                    py(p.3.unwrap_or(p.1))
                );
            }
            for p in band.iter().rev() {
                let _ = write!(d, "L{:.1},{:.1} ", px(p.0), py(p.2.unwrap_or(p.1)));
            }
            let _ = write!(
                s,
                r#"<path class="ci-band" d="{d}Z" fill="{color}" fill-opacity="0.15" stroke="none"/>"#
            );
        }
        let pts: String = ser
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            s,
            r#"<polyline class="series" points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>"#
        );
        let ly = top + 14.0 * i as f64;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{ry}" width="10" height="10" fill="{color}"/><text x="{tx}" y="{ty}" font-size="11">{name}</text>"#,
            lx = w - right + 10.0,
            ry = ly,
            tx = w - right + 24.0,
            ty = ly + 9.0,
            name = esc(ser.name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

fn series_for<'a>(shares: &[ShareRow], agenda: &str, measure: &'a str) -> Series<'a> {
    let mut points: Vec<(f64, f64, Option<f64>, Option<f64>)> = shares
        .iter()
        .filter(|r| r.agenda == agenda && r.frame == measure)
        .filter_map(|r| r.share.map(|v| (r.year as f64, v, r.ci_low, r.ci_high)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Series {
        name: measure,
        points,
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.3}"))
}

impl AnalysisSummary {
    fn top_citations(&self, k: usize) -> Vec<String> {
        let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
        for per in self.citations.values() {
            for (c, n) in per {
                *totals.entry(c.as_str()).or_default() += n;
            }
        }
        let mut v: Vec<(&str, usize)> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(k).map(|(c, _)| c.to_string()).collect()
    }

    fn share_table_md(&self, agenda: &str) -> String {
        let mut s = String::from(
            "| year | measure | share | 95% CI | mean prob. | paragraphs | documents |\n|---:|---|---:|---|---:|---:|---:|\n",
        );
        for r in self.shares.iter().filter(|r| r.agenda == agenda) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {}–{} | {} | {} | {} |",
                r.year,
                r.frame,
                fmt_opt(r.share),
                fmt_opt(r.ci_low),
                fmt_opt(r.ci_high),
                fmt_opt(r.mean_prob),
                r.n_paragraphs,
                r.n_documents
            );
        }
        s
    }

    /// The `--gold` corrected shares, one row per year x frame.
    fn adjusted_md(&self) -> String {
        let mut s = String::from("| year | frame | corrected share |\n|---:|---|---:|\n");
        for (y, f, v) in &self.adjusted {
            let _ = writeln!(s, "| {y} | {f} | {} |", fmt_opt(*v));
        }
        s
    }

    /// The rates behind the corrected shares: `(raw - fpr) / (tpr - fpr)`, clipped to [0, 1].
    fn adjusted_rates_md(&self) -> String {
        let mut s = String::from(
            "| frame | true-positive rate | false-positive rate | gold positives | gold negatives | from |\n\
             |---|---:|---:|---:|---:|---|\n",
        );
        for (frame, r) in &self.adjusted_rates {
            let _ = writeln!(
                s,
                "| {frame} | {:.3} | {:.3} | {} | {} | {} |",
                r.tpr, r.fpr, r.positives, r.negatives, r.from
            );
        }
        s
    }

    fn trends_md(&self) -> String {
        let mut s = String::from(
            "| agenda | measure | slope per year | 95% CI | years |\n|---|---|---:|---|---|\n",
        );
        for t in &self.trends {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {}–{} | {}–{} |",
                t.agenda,
                t.measure,
                t.slope.map_or("–".into(), |v| format!("{v:+.4}")),
                t.ci_low.map_or("–".into(), |v| format!("{v:+.4}")),
                t.ci_high.map_or("–".into(), |v| format!("{v:+.4}")),
                t.first_year,
                t.last_year
            );
        }
        s
    }

    fn documents_md(&self, k: usize) -> String {
        let mut docs = self.documents_hr.clone();
        docs.sort_by(|a, b| a.3.total_cmp(&b.3).then(a.0.cmp(&b.0)));
        let mut s = String::from("| rank | document | year | paragraphs | human-rights share |\n|---|---|---:|---:|---:|\n");
        let n = docs.len();
        for (i, d) in docs.iter().take(k).enumerate() {
            let _ = writeln!(
                s,
                "| lowest {} | {} | {} | {} | {:.3} |",
                i + 1,
                d.0,
                d.1,
                d.2,
                d.3
            );
        }
        for (i, d) in docs
            .iter()
            .rev()
            .take(k.min(n.saturating_sub(k)))
            .enumerate()
        {
            let _ = writeln!(
                s,
                "| highest {} | {} | {} | {} | {:.3} |",
                i + 1,
                d.0,
                d.1,
                d.2,
                d.3
            );
        }
        s
    }

    fn citations_md(&self, top: &[String]) -> String {
        let mut s = format!(
            "| year | {} |\n|---:|{}\n",
            top.join(" | "),
            "---:|".repeat(top.len())
        );
        for (year, per) in &self.citations {
            let cells: Vec<String> = top
                .iter()
                .map(|c| per.get(c).copied().unwrap_or(0).to_string())
                .collect();
            let _ = writeln!(s, "| {year} | {} |", cells.join(" | "));
        }
        s
    }

    /// The sentence saying how labels were made beyond the classifier, if anything.
    fn rules_note(&self) -> &'static str {
        if self.citation_rules {
            " Labels include the codebook's citation rule: a paragraph citing CEDAW or a WPS \
             resolution is gender, one citing the Palermo Protocol crime."
        } else {
            " Labels are the classifier's alone (--no-citation-rules)."
        }
    }

    /// The sentence naming the years left out of change-point detection, if any.
    fn skipped_years_note(&self) -> String {
        if self.change_point_skipped_years.is_empty() {
            return String::new();
        }
        let years: Vec<String> = self
            .change_point_skipped_years
            .iter()
            .map(|y| y.to_string())
            .collect();
        format!(
            " Years of fewer than {} documents are left out of change-point detection \
             (their share speaks for those documents, not for the year): {}.",
            crate::aggregate::MIN_CHANGE_POINT_DOCUMENTS,
            years.join(", ")
        )
    }

    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# {}\n\nModel `{}`; {} paragraphs in {} documents. Shares are label shares with 95% \
             bootstrap confidence intervals over documents; the dilution index is \
             (security + crime) / (security + crime + human rights) over paragraphs carrying each frame.{}{}\n\n",
            self.title,
            self.model,
            self.paragraphs,
            self.documents,
            self.rules_note(),
            OutsideTraining::note(&self.outside_training)
        );
        s.push_str("## Trends\n\n");
        s.push_str(TRENDS_METHOD);
        s.push_str("\n\n");
        s.push_str(&self.trends_md());
        s.push_str("\n## Change points (all agendas)\n\n");
        let note = self.skipped_years_note();
        if !note.is_empty() {
            s.push_str(note.trim_start());
            s.push_str("\n\n");
        }
        for (m, years) in &self.change_points {
            let _ = writeln!(
                s,
                "- {m}: {}",
                if years.is_empty() {
                    "none".to_string()
                } else {
                    years
                        .iter()
                        .map(|y| y.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        if !self.adjusted.is_empty() {
            s.push_str("\n## Corrected shares (adjusted classify-and-count from the gold set)\n\n");
            s.push_str(ADJUSTED_METHOD);
            s.push_str("\n\n");
            s.push_str(&self.adjusted_rates_md());
            s.push('\n');
            s.push_str(&self.adjusted_md());
        }
        s.push_str("\n## Shares per year (all agendas)\n\n");
        s.push_str(&self.share_table_md("all"));
        s.push_str("\n## Citations per year (paragraphs citing)\n\n");
        s.push_str(&self.citations_md(&self.top_citations(8)));
        s.push_str("\n## Documents with the lowest and highest human-rights share\n\n");
        s.push_str(&self.documents_md(10));
        s
    }

    pub fn to_html(&self) -> String {
        let frames = ["security", "crime", "human_rights", "gender"];
        let frame_series: Vec<Series> = frames
            .iter()
            .map(|f| series_for(&self.shares, "all", f))
            .collect();
        let dilution = [series_for(&self.shares, "all", "dilution_index")];
        let conditional = [
            series_for(&self.shares, "all", "hr_given_security"),
            series_for(&self.shares, "all", "hr_given_crime"),
        ];
        let top = self.top_citations(6);
        let mut cite_series = Vec::new();
        for c in &top {
            let total_by_year: BTreeMap<i32, usize> = self
                .shares
                .iter()
                .filter(|r| r.agenda == "all" && r.frame == "security")
                .map(|r| (r.year, r.n_paragraphs))
                .collect();
            let points = self
                .citations
                .iter()
                .map(|(y, per)| {
                    let n = *total_by_year.get(y).unwrap_or(&1) as f64;
                    (
                        *y as f64,
                        per.get(c).copied().unwrap_or(0) as f64 / n.max(1.0),
                        None,
                        None,
                    )
                })
                .collect();
            cite_series.push(Series { name: c, points });
        }
        let md_tables = |t: &str| md_table_to_html(t);
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}\
             table{{border-collapse:collapse;font-size:12px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
             td:first-child,th:first-child{{text-align:left}}figure{{margin:1em 0}}</style></head><body>\n\
             <h1>{t}</h1><p>Model <code>{m}</code>; {p} paragraphs in {d} documents. Shaded bands are 95% bootstrap \
             confidence intervals over documents. Dashed lines mark change points (PELT) of the human-rights share and of the dilution index.{k}{r}{o}</p>\n",
            t = esc(&self.title),
            m = esc(&self.model),
            p = self.paragraphs,
            d = self.documents,
            k = esc(&self.skipped_years_note()),
            r = esc(self.rules_note()),
            o = esc(&OutsideTraining::note(&self.outside_training))
        );
        // Change points are drawn on the chart of the series they were found in: the
        // human-rights share's on the frame shares, the dilution index's on its own.
        let hr_cps = self
            .change_points
            .get("human_rights")
            .cloned()
            .unwrap_or_default();
        s.push_str("<h2>Frame shares over time</h2>");
        s.push_str(&line_chart(
            "Share of paragraphs carrying each frame",
            &frame_series,
            &hr_cps,
        ));
        s.push_str("<h2>Dilution index</h2>");
        let cps = self
            .change_points
            .get("dilution_index")
            .cloned()
            .unwrap_or_default();
        s.push_str(&line_chart(
            "(security + crime) / (security + crime + human rights)",
            &dilution,
            &cps,
        ));
        s.push_str("<h2>Human rights alongside security and crime</h2>");
        s.push_str(&line_chart(
            "P(human rights | security), P(human rights | crime)",
            &conditional,
            &[],
        ));
        s.push_str("<h2>Citations over time</h2>");
        s.push_str(&line_chart(
            "Share of paragraphs citing each instrument",
            &cite_series,
            &[],
        ));
        s.push_str("<h2>Trends</h2>");
        s.push_str(&format!("<p>{}</p>", esc(TRENDS_METHOD)));
        s.push_str(&md_tables(&self.trends_md()));
        s.push_str("<h2>Documents with the lowest and highest human-rights share</h2>");
        s.push_str(&md_tables(&self.documents_md(10)));
        s.push_str("<h2>Shares per year</h2>");
        s.push_str(&md_tables(&self.share_table_md("all")));
        if !self.adjusted.is_empty() {
            s.push_str("<h2>Corrected shares (adjusted classify-and-count from the gold set)</h2>");
            let _ = write!(s, "<p>{}</p>", esc(ADJUSTED_METHOD));
            s.push_str(&md_tables(&self.adjusted_rates_md()));
            s.push_str(&md_tables(&self.adjusted_md()));
        }
        s.push_str("</body></html>\n");
        s
    }
}

/// Render the simple pipe tables this module writes as HTML tables.
fn md_table_to_html(md: &str) -> String {
    let mut s = String::from("<table>");
    for (i, line) in md.lines().enumerate() {
        if i == 1 || !line.starts_with('|') {
            continue;
        }
        let tag = if i == 0 { "th" } else { "td" };
        s.push_str("<tr>");
        for cell in line.trim_matches('|').split('|') {
            let _ = write!(s, "<{tag}>{}</{tag}>", esc(cell.trim()));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> AnalysisSummary {
        let mut shares = Vec::new();
        for year in 2000..2004 {
            for (k, m) in crate::aggregate::MEASURES.iter().enumerate() {
                let v = 0.1 * k as f64 / 2.0 + 0.01 * (year - 2000) as f64;
                shares.push(ShareRow {
                    year,
                    agenda: "all".into(),
                    frame: m.to_string(),
                    share: Some(v),
                    ci_low: Some(v - 0.02),
                    ci_high: Some(v + 0.02),
                    mean_prob: None,
                    n_paragraphs: 10,
                    n_documents: 2,
                });
            }
        }
        AnalysisSummary {
            title: "Test <report>".into(),
            model: "minilm".into(),
            citation_rules: true,
            paragraphs: 40,
            documents: 8,
            shares,
            trends: vec![],
            change_points: [("dilution_index".to_string(), vec![2002])]
                .into_iter()
                .collect(),
            change_point_skipped_years: vec![],
            citations: [(2001, [("cedaw".to_string(), 2)].into_iter().collect())]
                .into_iter()
                .collect(),
            documents_hr: vec![
                ("S/RES/1 (2000)".into(), 2000, 5, 0.2),
                ("S/RES/2 (2001)".into(), 2001, 5, 0.8),
            ],
            adjusted: vec![],
            adjusted_rates: BTreeMap::new(),
            outside_training: None,
        }
    }

    /// Regression: an analysis of 1946-2019 gave its pre-1990 and post-2015 shares with no
    /// word that the classifier was trained on resolutions of 1990-2015 only, though a
    /// check of 1946-1989 found it missing most human-rights language there.
    #[test]
    fn years_outside_the_training_data_were_reported_without_a_word() {
        let years = [1948, 1975, 1989, 1990, 2015, 2016, 2019];
        let o = OutsideTraining::of("resolutions", (1990, 2015), years.into_iter()).unwrap();
        assert_eq!(o.before, Some((3, 1948, 1989)));
        assert_eq!(o.after, Some((2, 2016, 2019)));
        let sentence = o.sentence();
        assert!(sentence.starts_with("The classifier was trained on resolutions of 1990-2015; 3 paragraphs are from 1948-1989, before those years; 2 paragraphs are from 2016-2019, after them"), "{sentence}");
        assert!(
            sentence.contains("How does it do before 1990?"),
            "{sentence}"
        );
        // Speeches after the training years: no word of the resolutions' check.
        let o = OutsideTraining::of("speeches", (2000, 2024), [2025].into_iter()).unwrap();
        assert_eq!(o.before, None);
        assert!(o
            .sentence()
            .contains("1 paragraph is from 2025, after them"));
        assert!(!o.sentence().contains("1990"));
        assert!(
            OutsideTraining::of("resolutions", (1990, 2015), [1990, 2015].into_iter()).is_none()
        );

        let mut s = summary();
        s.outside_training = OutsideTraining::of("resolutions", (1990, 2015), years.into_iter());
        for text in [s.to_markdown(), s.to_html()] {
            assert!(text.contains("The classifier was trained on resolutions of 1990-2015"));
        }
        assert!(!summary().to_markdown().contains("trained on"));
    }

    #[test]
    fn html_is_self_contained_with_inline_svg_plots() {
        let html = summary().to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(html.contains("class=\"ci-band\""));
        assert!(html.contains("class=\"change-point\""));
        assert!(html.contains("Test &lt;report&gt;"), "titles are escaped");
        for bad in ["<script src", "<link", "http://", "https://"] {
            let hits: Vec<_> = html
                .match_indices(bad)
                .filter(|(i, _)| !html[..*i].ends_with("xmlns=\""))
                .collect();
            assert!(hits.is_empty(), "external resource `{bad}` in the report");
        }
    }

    #[test]
    fn both_reports_name_the_years_left_out_of_change_points() {
        let mut summary = summary();
        assert!(!summary
            .to_markdown()
            .contains("left out of change-point detection"));
        assert!(!summary
            .to_html()
            .contains("left out of change-point detection"));
        summary.change_point_skipped_years = vec![2016, 2017, 2019];
        let md = summary.to_markdown();
        let section = md.split("## Change points").nth(1).unwrap();
        assert!(
            section.contains("left out of change-point detection (their share speaks for those documents, not for the year): 2016, 2017, 2019."),
            "{section}"
        );
        assert!(summary
            .to_html()
            .contains("fewer than 5 documents are left out of change-point detection"));
    }

    /// The human-rights share's change points used to be drawn on the P(human rights |
    /// security) chart, and none on the frame-share chart that plots that share.
    #[test]
    fn change_points_are_drawn_on_the_chart_of_their_series() {
        let mut summary = summary();
        summary.change_points = [
            ("human_rights".to_string(), vec![2001]),
            ("dilution_index".to_string(), vec![2002, 2003]),
        ]
        .into_iter()
        .collect();
        let html = summary.to_html();
        let charts: Vec<&str> = html.split("<svg").skip(1).collect();
        let lines = |chart: &str| chart.matches("class=\"change-point\"").count();
        assert_eq!(charts.len(), 4);
        assert!(charts[0].contains("Share of paragraphs carrying each frame"));
        assert_eq!(
            lines(charts[0]),
            1,
            "frame shares: the human-rights share's"
        );
        assert_eq!(lines(charts[1]), 2, "dilution index: its own");
        assert_eq!(lines(charts[2]), 0, "conditional shares: none computed");
        assert_eq!(lines(charts[3]), 0, "citations: none");
    }

    /// The `--gold` corrected shares used to appear only in report.md.
    #[test]
    fn corrected_shares_are_in_both_reports() {
        let mut with_gold = summary();
        with_gold.adjusted = vec![(2001, "human_rights".into(), Some(0.1234))];
        with_gold.adjusted_rates = [(
            "human_rights",
            ErrorRate {
                tpr: 0.8125,
                fpr: 0.0431,
                positives: 48,
                negatives: 139,
                from: "speech gold items".into(),
            },
        )]
        .into_iter()
        .collect();
        for report in [with_gold.to_markdown(), with_gold.to_html()] {
            assert!(report.contains("Corrected shares"), "{report}");
            assert!(report.contains("0.123"), "{report}");
            // The rates the correction rests on, and the gold items they come from.
            for shown in ["0.812", "0.043", "48", "139", "speech gold items"] {
                assert!(report.contains(shown), "{shown} missing: {report}");
            }
        }
        let without_gold = summary().to_html() + &summary().to_markdown();
        assert!(!without_gold.contains("Corrected"));
    }

    #[test]
    fn both_reports_say_whether_labels_include_the_citation_rule() {
        let mut s = summary();
        for rules in [true, false] {
            s.citation_rules = rules;
            let (md, html) = (s.to_markdown(), s.to_html());
            for text in [&md, &html] {
                assert_eq!(
                    text.contains("Labels include the codebook's citation rule"),
                    rules
                );
                assert_eq!(text.contains("classifier's alone"), !rules);
            }
        }
    }

    #[test]
    fn markdown_carries_the_same_numbers() {
        let md = summary().to_markdown();
        assert!(md.contains("| 2003 | dilution_index |"));
        assert!(md.contains("dilution_index: 2002"));
        assert!(md.contains("| lowest 1 | S/RES/1 (2000) | 2000 | 5 | 0.200 |"));
        assert!(md.contains("| cedaw |"));
    }
}
