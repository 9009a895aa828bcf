#!/usr/bin/env python3
"""Deterministic sample of real Security Council paragraphs for a local ST-vs-frameshift check.

Reads ../shared/corpus/unsc-resolutions-1946-2015/ (the project does not ship these texts;
the output goes to git-ignored eval/out/), keeps lines of resolutions from --from-year to
--to-year that look like paragraphs: operative ("12. Decides ..."), lettered ("(b) ...") or
preambular (starting with a capitalised participle such as "Recalling", "Reaffirming",
"Expressing"), at least --min-chars long after stripping, and samples --count of them with a
fixed seed (files and lines are visited in sorted order, so the sample is reproducible).

  python3 eval/extract_real_paragraphs.py            # -> eval/out/real500.txt (+ .src.tsv)

No third-party packages needed.
"""
from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
REPO_ROOT = EVAL_DIR.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "unsc-resolutions-1946-2015"

FILE_RE = re.compile(r"^S-RES-(\d+)\((\d{4})\)\.txt$")
OPERATIVE_RE = re.compile(r"^\d{1,3}\.\s+\S")
LETTERED_RE = re.compile(r"^\([a-z]{1,4}\)\s+\S")
# Capitalised participle / adjective openings used by preambular paragraphs.
PREAMBLE_RE = re.compile(
    r"^(Recalling|Reaffirming|Expressing|Noting|Welcoming|Recognizing|Recognising|Stressing|"
    r"Emphasizing|Emphasising|Underlining|Underscoring|Condemning|Acknowledging|Affirming|"
    r"Taking note|Bearing in mind|Determining|Deeply concerned|Gravely concerned|Concerned|"
    r"Alarmed|Mindful|Commending|Reiterating|Urging|Considering|Convinced|Encouraging|"
    r"Highlighting|Deploring|Having considered|Acting under)\b")
# Page furniture the compiler left in (headers, job numbers, barcodes, page numbers).
FURNITURE_RE = re.compile(r"^(S/RES/\d+|\d{2}-\d{5}|\*\d+\*|\d+/\d+$)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--from-year", type=int, default=1995)
    ap.add_argument("--to-year", type=int, default=2015)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--min-chars", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20151231)
    ap.add_argument("--output", type=Path, default=EVAL_DIR / "out" / "real500.txt")
    args = ap.parse_args()

    files = []
    for p in args.corpus.iterdir():
        m = FILE_RE.match(p.name)
        if m and args.from_year <= int(m.group(2)) <= args.to_year:
            files.append((int(m.group(1)), p))
    files.sort()

    candidates = []  # (source, text)
    seen = set()
    for _, p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            s = " ".join(line.split())  # strips \r, tabs, runs of spaces
            if len(s) < args.min_chars or FURNITURE_RE.match(s):
                continue
            if not (OPERATIVE_RE.match(s) or LETTERED_RE.match(s) or PREAMBLE_RE.match(s)):
                continue
            if s in seen:  # formulaic lines repeat verbatim across resolutions
                continue
            seen.add(s)
            candidates.append((f"{p.name}:{n}", s))

    if len(candidates) < args.count:
        raise SystemExit(f"only {len(candidates)} candidate paragraphs")
    rng = random.Random(args.seed)
    picked = sorted(rng.sample(range(len(candidates)), args.count))

    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        for i in picked:
            f.write(candidates[i][1] + "\n")
    src = args.output.with_suffix(".src.tsv")
    with open(src, "w", encoding="utf-8") as f:
        f.write("row\tsource\n")
        for row, i in enumerate(picked):
            f.write(f"{row}\t{candidates[i][0]}\n")
    print(f"{len(files)} files, {len(candidates)} distinct candidate lines; wrote {args.count} to "
          f"{args.output} (sources in {src})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
