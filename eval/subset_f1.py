#!/usr/bin/env python3
"""Per-frame and macro F1 of cross-validation scores files on a common set of paragraphs.

Usage: python3 eval/subset_f1.py BASE.scores.jsonl OTHER.scores.jsonl ...

Every file is scored on the paragraph ids of the first one (rows whose `split` is not
`test` are left out), over all of them and over the resolution paragraphs among them. It
compares cross-validations run on different annotation sets on the paragraphs they share,
e.g. the committed annotations against the annotations plus a pending batch
(eval/results/with-batch-08/README.md). Reads only the files given; standard library only.
"""
import json
import sys

FRAMES = ["security", "crime", "human_rights", "gender"]


def test_rows(path):
    rows = {}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if row.get("split", "test") == "test":
                rows[row["id"]] = row
    return rows


def f1s(rows):
    out = {}
    for frame in FRAMES:
        tp = sum(frame in r["gold"] and frame in r["predicted"] for r in rows)
        fp = sum(frame not in r["gold"] and frame in r["predicted"] for r in rows)
        fn = sum(frame in r["gold"] and frame not in r["predicted"] for r in rows)
        # As frameshift counts it: a frame with no gold and no predicted positive scores 0.
        out[frame] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    out["macro"] = sum(out[f] for f in FRAMES) / len(FRAMES)
    return out


def main(paths):
    if not paths:
        sys.exit(__doc__)
    ids = sorted(test_rows(paths[0]))
    for path in paths:
        rows = test_rows(path)
        missing = [i for i in ids if i not in rows]
        if missing:
            sys.exit(f"{path}: {len(missing)} paragraphs of the first file missing, e.g. {missing[0]}")
        shared = [rows[i] for i in ids]
        resolutions = [r for r in shared if r["id"].startswith("S/RES/")]
        every, res = f1s(shared), f1s(resolutions)
        frames = " ".join(f"{f} {every[f]:.3f}" for f in FRAMES)
        print(
            f"{path}: {len(shared)} paragraphs, macro {every['macro']:.4f}; "
            f"{len(resolutions)} resolution paragraphs, macro {res['macro']:.4f}; {frames}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
