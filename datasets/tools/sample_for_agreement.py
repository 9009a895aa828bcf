#!/usr/bin/env python3
"""Draw the paragraphs for a second, blind reading of the annotations (inter-annotator
agreement), reproducibly, and write them out with their text for the second readers.

Usage:
  frameshift segment ../shared/corpus/unsc-resolutions-1946-2015 --out /tmp/res.jsonl
  frameshift segment ../shared/corpus/ungd-speeches-2000-2024 --out /tmp/sp.jsonl
  python3 datasets/tools/sample_for_agreement.py /tmp/res.jsonl /tmp/sp.jsonl --out DIR

Takes the first N annotations (default 300) of datasets/annotations in the hash order
sha256(SEED + id), a draw independent of the annotation draw (other seed) and of the labels,
and writes DIR/in-K.jsonl ({"id", "sha256", "text"}, BATCH per file) for the second
readers. Those files carry corpus text and are NOT committed; the second reading's labels
(id, sha256, labels, note) go to datasets/agreement/second-reading.jsonl. The first labels
are not written: the second readers must not see them. Held-out material never appears,
since only annotated paragraphs are drawn and the annotations exclude it.
"""
import argparse
import glob
import hashlib
import json
import os

SEED = "frameshift-agreement-2026"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segments", nargs="+", help="frameshift segment JSONL output")
    ap.add_argument("--annotations", default="datasets/annotations")
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--batch", type=int, default=75)
    args = ap.parse_args()

    annotations = []
    for path in sorted(glob.glob(os.path.join(args.annotations, "*.jsonl"))):
        with open(path) as f:
            annotations += [json.loads(line) for line in f if line.strip()]
    annotations.sort(key=lambda a: hashlib.sha256((SEED + a["id"]).encode()).hexdigest())
    sample = annotations[: args.n]

    wanted = {a["id"] for a in sample}
    text = {}
    for path in args.segments:
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if row["id"] in wanted:
                    text[row["id"]] = row["text"]
    os.makedirs(args.out, exist_ok=True)
    for start in range(0, len(sample), args.batch):
        name = os.path.join(args.out, f"in-{start // args.batch + 1}.jsonl")
        with open(name, "w") as out:
            for a in sample[start : start + args.batch]:
                t = text[a["id"]]
                # The annotations name texts by hash; a changed segmenter must not hand the
                # second reader another text than the first one read.
                assert hashlib.sha256(t.encode()).hexdigest() == a["sha256"], a["id"]
                out.write(json.dumps({"id": a["id"], "sha256": a["sha256"], "text": t},
                                     ensure_ascii=False) + "\n")
        print(name)


if __name__ == "__main__":
    main()
