//! The HTML report renders its plots in a real browser: headless Chromium (the Debian
//! `chromium` package; no downloaded browser) screenshots a report that `frameshift
//! analyze` wrote for the 2016-2019 resolutions, and the test checks that the screenshot
//! shows the charts' line colours, not a blank or broken page. The screenshot stays in a
//! temporary directory (never in git). Needs the real weights, the committed head,
//! ../shared/corpus and Chromium (fails saying how to install it).

mod common;

use std::path::{Path, PathBuf};

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("FRAMESHIFT_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = std::process::Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!(
        "headless Chromium not found: install Debian's package (`apt-get install chromium`, as \
         .ci/run does) or set FRAMESHIFT_CHROMIUM to its binary"
    );
}

/// RGB pixels of a PNG screenshot.
fn decode(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "unexpected PNG colour type {:?}",
        info.color_type
    );
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, info.height as usize, px)
}

fn near(p: [u8; 3], hex: &str) -> bool {
    let c = |i: usize| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap();
    (0..3).all(|i| (p[i] as i32 - c(i) as i32).abs() <= 16)
}

#[test]
fn report_html_renders_its_plots_in_headless_chromium() {
    let browser = chromium();
    let model = common::default_classifier().1;
    let input =
        common::shared_corpus(&["unsc-resolutions-2016-2019"]).join("unsc-resolutions-2016-2019");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("frameshift"))
        .env("FRAMESHIFT_WEIGHTS", &model.dir)
        .env("FRAMESHIFT_NO_DOWNLOAD", "1")
        .env("FRAMESHIFT_CACHE", common::test_cache_dir())
        .args(["-q", "analyze", "--bootstrap", "100", "--out"])
        .arg(&out)
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success(), "analyze: {status}");

    let report = out.join("report.html");
    let (w, h, px) = screenshot(&browser, dir.path(), &report, "report.png");
    assert_eq!((w, h), (1000, 3000));
    let ink = px.iter().filter(|p| p.iter().any(|&v| v < 200)).count();
    assert!(
        ink > px.len() / 100,
        "the page is nearly blank ({ink} dark pixels of {})",
        px.len()
    );
    // The first three series colours of the charts (lines, CI bands' edges, legend
    // swatches): drawn only if the inline SVG rendered.
    for colour in SERIES {
        let n = px.iter().filter(|p| near(**p, colour)).count();
        eprintln!("{colour}: {n} pixels");
        assert!(
            n >= 100,
            "only {n} pixels of {colour}: the plots did not render"
        );
    }

    // Control: the same report with its <svg> elements cut out shows none of those colours,
    // so the check above measures the plots, not the page's text or tables.
    let html = std::fs::read_to_string(&report).unwrap();
    let mut stripped = String::new();
    let mut rest = html.as_str();
    while let Some(i) = rest.find("<svg") {
        stripped.push_str(&rest[..i]);
        let end = rest[i..].find("</svg>").expect("closed svg") + i + "</svg>".len();
        rest = &rest[end..];
    }
    stripped.push_str(rest);
    let control = dir.path().join("no-svg.html");
    std::fs::write(&control, stripped).unwrap();
    let (_, _, px) = screenshot(&browser, dir.path(), &control, "no-svg.png");
    for colour in SERIES {
        let n = px.iter().filter(|p| near(**p, colour)).count();
        assert!(
            n < 100,
            "{n} pixels of {colour} without any plot: the check is not specific"
        );
    }
}

const SERIES: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

fn screenshot(browser: &Path, dir: &Path, page: &Path, name: &str) -> (usize, usize, Vec<[u8; 3]>) {
    let shot = dir.join(name);
    let run = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1000,3000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "Chromium wrote no screenshot of {} ({}): {}",
        page.display(),
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    decode(&shot)
}
