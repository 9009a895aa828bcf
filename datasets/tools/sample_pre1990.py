#!/usr/bin/env python3
"""Draw the paragraphs of the pre-1990 check set: resolution paragraphs of 1946-1989, the
years the annotation draw never reached, read twice and blind to measure how the
classifiers do there. Reproducible anywhere.

Usage:
  frameshift segment ../shared/corpus/unsc-resolutions-1946-2015 --out /tmp/res.jsonl
  python3 datasets/tools/sample_pre1990.py /tmp/res.jsonl --out DIR

Eligible: resolutions dated before 1990, not held out (number not ending in 7), their
preambular, operative and sub-paragraphs (as for the annotations), identical texts at most
twice. Order: sha256(SEED + id), which does not look at text or labels; the first N are
taken. Writes DIR/in-K.jsonl ({"id", "sha256", "year", "kind", "text"}, BATCH per file)
for the readers. Those files carry corpus text and are NOT committed; the readings'
labels (id, sha256, labels, note) go to datasets/pre1990/.
"""
import argparse
import collections
import hashlib
import json
import os
import re

SEED = "frameshift-pre1990-2026"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segments", help="frameshift segment JSONL output of the resolutions")
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=240)
    ap.add_argument("--batch", type=int, default=60)
    args = ap.parse_args()

    eligible = []
    with open(args.segments) as f:
        for line in f:
            p = json.loads(line)
            m = re.match(r"S/RES/(\d+) \((\d{4})\)", p["id"])
            if not m or p.get("doc_kind") != "resolution":
                continue
            number, year = int(m.group(1)), int(m.group(2))
            if year >= 1990 or number % 10 == 7:
                continue
            if p["kind"] not in ("preambular", "operative", "subparagraph"):
                continue
            eligible.append(p)
    eligible.sort(key=lambda p: hashlib.sha256((SEED + p["id"]).encode()).hexdigest())
    seen = collections.Counter()
    sample = []
    for p in eligible:
        if len(sample) == args.n:
            break
        # Boilerplate ("Decides to remain seized of the question") would otherwise be read
        # over and over.
        seen[p["text"]] += 1
        if seen[p["text"]] > 2:
            continue
        sample.append(p)
    os.makedirs(args.out, exist_ok=True)
    for start in range(0, len(sample), args.batch):
        name = os.path.join(args.out, f"in-{start // args.batch + 1}.jsonl")
        with open(name, "w") as out:
            for p in sample[start : start + args.batch]:
                out.write(json.dumps({
                    "id": p["id"],
                    "sha256": hashlib.sha256(p["text"].encode()).hexdigest(),
                    "year": p["year"], "kind": p["kind"], "text": p["text"],
                }, ensure_ascii=False) + "\n")
        print(name)
    years = collections.Counter(p["year"] // 10 * 10 for p in sample)
    print(f"{len(sample)} of {len(eligible)} eligible; by decade {dict(sorted(years.items()))}")


if __name__ == "__main__":
    main()
