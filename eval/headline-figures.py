#!/usr/bin/env python3
"""Print the figures the README's "Findings" section quotes, from `frameshift analyze` runs.

Usage: eval/headline-figures.py RUN [RUN_TO_2015] [--svg DIR]

RUN is the quick start's run (`analyze ... --from-year 1990 --out RUN`); RUN_TO_2015, if
given, the same command with `--to-year 2015` (its trends are the ones the README gives,
so that the three single documents of 2016-2019 do not weigh in). Everything is read from
the run's own files (shares.csv, trends.csv, report.md, paragraphs.jsonl): nothing here
classifies. Shares over a set of paragraphs (a document, an agenda's resolutions of
2010-2015) are pooled over its paragraphs, as `analyze` pools a year's; the dilution index
of such a set is (S + C) / (S + C + H) of those pooled shares. `--svg DIR` also writes
the first two plots of RUN's report.html (frame shares, dilution index) as the README's
docs/figures/frame-shares-1990-2019.svg and dilution-index-1990-2019.svg.
"""

import csv
import json
import sys
from pathlib import Path

FRAMES = ["security", "crime", "human_rights", "gender"]


def shares(run):
    out = {}
    with open(run / "shares.csv", newline="") as f:
        for row in csv.DictReader(f):
            out[(int(row["year"]), row["agenda"], row["frame"])] = row
    return out


def fmt(row):
    if row is None or row["share"] == "":
        return "-"
    return f"{float(row['share']):.2f} [{float(row['ci_low']):.2f}, {float(row['ci_high']):.2f}]"


def pooled(rows):
    n = len(rows)
    s = {f: sum(f in r["labels"] for r in rows) / n for f in FRAMES}
    s["hr_only"] = (
        sum(
            "human_rights" in r["labels"]
            and "security" not in r["labels"]
            and "crime" not in r["labels"]
            for r in rows
        )
        / n
    )
    denom = s["security"] + s["crime"] + s["human_rights"]
    s["dilution_index"] = (s["security"] + s["crime"]) / denom if denom else float("nan")
    return n, s


def show(name, rows):
    if not rows:
        print(f"  {name}: not in this run")
        return
    n, s = pooled(rows)
    docs = len({r["doc"] for r in rows})
    print(
        f"  {name} ({docs} documents, {n} paragraphs): "
        + ", ".join(f"{k} {v:.2f}" for k, v in s.items())
    )


FIGURES = ["frame-shares-1990-2019.svg", "dilution-index-1990-2019.svg"]


def write_svgs(run, out):
    html = (run / "report.html").read_text()
    svgs = ["<svg" + part.split("</svg>")[0] + "</svg>" for part in html.split("<svg")[1:]]
    out.mkdir(parents=True, exist_ok=True)
    for name, svg in zip(FIGURES, svgs):
        (out / name).write_text(svg + "\n")
        print(f"written {out / name}")


def main():
    args = sys.argv[1:]
    svg_dir = None
    if "--svg" in args:
        i = args.index("--svg")
        svg_dir = Path(args[i + 1])
        del args[i : i + 2]
    if len(args) not in (1, 2):
        sys.exit(__doc__)
    sys.argv = [sys.argv[0]] + args
    run = Path(sys.argv[1])
    if svg_dir is not None:
        write_svgs(run, svg_dir)
    manifest = json.loads((run / "manifest.json").read_text())
    model = manifest.get("model", {}).get("name", "?")
    print(f"run {run}: model {model}, {manifest['counts']['paragraphs_analysed']} paragraphs, "
          f"{manifest['counts']['documents_analysed']} documents")
    sh = shares(run)
    print("shares of all resolutions, 1990 and 2015:")
    for frame in FRAMES + ["dilution_index", "hr_given_security", "hr_only"]:
        print(f"  {frame}: 1990 {fmt(sh.get((1990, 'all', frame)))}, "
              f"2015 {fmt(sh.get((2015, 'all', frame)))}")
    years = sorted({y for (y, a, f) in sh if a == "all"})
    for frame, span in [("hr_given_security", range(1990, 2000)), ("hr_only", years)]:
        vals = [float(sh[(y, "all", frame)]["share"]) for y in span
                if (y, "all", frame) in sh and sh[(y, "all", frame)]["share"] != ""]
        if vals:
            print(f"  {frame} over {span[0]}-{span[-1]}: {min(vals):.2f} to {max(vals):.2f}")
    report = (run / "report.md").read_text()
    part = report.split("## Change points (all agendas)")[1].split("\n## ")[0]
    print("change points:", " ".join(l.strip() for l in part.strip().splitlines() if l.strip()))
    if len(sys.argv) == 3:
        to2015 = Path(sys.argv[2])
        print(f"trends ({to2015}; points a year for shares):")
        with open(to2015 / "trends.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row["agenda"] != "all" or row["slope"] == "":
                    continue
                k = 1.0 if row["measure"] == "dilution_index" else 100.0
                print(f"  {row['measure']}: {k * float(row['slope']):+.4g} "
                      f"[{k * float(row['ci_low']):+.4g}, {k * float(row['ci_high']):+.4g}] "
                      f"{row['first_year']}-{row['last_year']}")
    rows = [json.loads(line) for line in open(run / "paragraphs.jsonl")]
    print("single documents and 2010-2015, pooled over paragraphs:")
    for doc in ["S/RES/2331 (2016)", "S/RES/2388 (2017)", "S/RES/2467 (2019)"]:
        show(doc, [r for r in rows if r["doc"] == doc])
    recent = [r for r in rows if 2010 <= r["year"] <= 2015]
    show("trafficking_in_persons 2010-2015",
         [r for r in recent if "trafficking_in_persons" in r["agendas"]])
    show("all resolutions 2010-2015", recent)
    hr_alone = [r for r in rows if r["doc"] == "S/RES/2331 (2016)"
                and "human_rights" in r["labels"]
                and not {"security", "crime"} & set(r["labels"])]
    for r in hr_alone:
        print(f"  2331 human rights alone: {r['id']} labels {r['labels']} "
              + " ".join(f"{f} {r[f]:.2f}" for f in FRAMES))


if __name__ == "__main__":
    main()
