#!/usr/bin/env python3
"""Per-part figures of classifiers on the 1990-2015 check set, from the committed scores
files: the uniform 240 paragraphs (lines 1-240 of datasets/check-1990-2015/gold.jsonl), the
enriched 120 (lines 241-360) and all 360; per-frame F1 (tp/fp/fn), macro-F1, identical label
sets, and a 95% bootstrap interval over resolutions (paragraphs of one resolution resampled
together, 2,000 draws, seed 20161220) of the macro-F1 over security, crime and human rights:
gender has 4 gold paragraphs, so a draw without any gives it F1 0 and the four-frame interval
would measure little but that. With two names, also the paired difference of the first minus
the second over the same draws. Classifies nothing.

Usage: python3 eval/check-1990-2015/strata.py default mpnet-bitfit [...]
"""
import json
import os
import random
import sys

FRAMES = ["security", "crime", "human_rights", "gender"]
HERE = os.path.dirname(os.path.abspath(__file__))
GOLD = os.path.join(HERE, "..", "..", "datasets", "check-1990-2015", "gold.jsonl")
UNIFORM = 240


def f1(rows, frame):
    tp = sum(1 for g, p in rows if frame in g and frame in p)
    fp = sum(1 for g, p in rows if frame not in g and frame in p)
    fn = sum(1 for g, p in rows if frame in g and frame not in p)
    return (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0), tp, fp, fn


def macro(rows, frames=FRAMES):
    return sum(f1(rows, f)[0] for f in frames) / len(frames)


THREE = FRAMES[:3]


def main():
    names = sys.argv[1:]
    if not names:
        sys.exit(__doc__)
    ids = [json.loads(line)["id"] for line in open(GOLD)]
    docs = sorted({i.split("#")[0] for i in ids})
    runs = {}
    for name in names:
        rows = [json.loads(line) for line in open(os.path.join(HERE, f"{name}.scores.jsonl"))]
        assert [r["line"] for r in rows] == list(range(1, len(ids) + 1)), name
        runs[name] = [(set(r["gold"]), set(r["predicted"])) for r in rows]
    parts = {
        "uniform": range(0, UNIFORM),
        "enriched": range(UNIFORM, len(ids)),
        "all": range(0, len(ids)),
    }
    for name, rows in runs.items():
        for part, idx in parts.items():
            sub = [rows[i] for i in idx]
            cells = " ".join(
                "{} {:.3f} ({}/{}/{})".format(f, *f1(sub, f)) for f in FRAMES
            )
            same = sum(g == p for g, p in sub) / len(sub)
            print(f"{name} {part} n={len(sub)}: {cells}; macro {macro(sub):.3f}, "
                  f"without gender {macro(sub, THREE):.3f}; identical {same:.3f}")
    # Bootstrap over resolutions, the same draws for every classifier.
    by_doc = {d: [i for i, x in enumerate(ids) if x.split("#")[0] == d] for d in docs}
    rng = random.Random(20161220)
    draws = []
    for _ in range(2000):
        picked = [rng.choice(docs) for _ in docs]
        draws.append([i for d in picked for i in by_doc[d]])
    values = {n: sorted(macro([r[i] for i in d], THREE) for d in draws) for n, r in runs.items()}
    for name in names:
        v = values[name]
        print(f"{name} all: macro-F1 without gender {macro(runs[name], THREE):.3f}, "
              f"95% interval [{v[50]:.3f}, {v[1949]:.3f}]")
    if len(names) >= 2:
        a, b = runs[names[0]], runs[names[1]]
        diff = sorted(macro([a[i] for i in d], THREE) - macro([b[i] for i in d], THREE)
                      for d in draws)
        point = macro(a, THREE) - macro(b, THREE)
        print(f"{names[0]} - {names[1]}, without gender: {point:+.3f} "
              f"[{diff[50]:+.3f}, {diff[1949]:+.3f}]")


if __name__ == "__main__":
    main()
