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

The check set of 1990-2015 (datasets/check-1990-2015/) is the same draw over the
annotations' years, from the resolutions no annotation comes from (the held-out gold's
documents are unseen too). Its first 240 paragraphs are the uniform draw; the 120 after them
contain a stem of the human-rights, gender or crime cues, since in a uniform draw of those
years the three frames are too rare to compare classifiers on (13, 1 and 9 of the 240):

  python3 datasets/tools/sample_pre1990.py /tmp/res.jsonl --out DIR \
      --seed frameshift-check-1990-2015-2026 --from-year 1990 --to-year 2015 \
      -n 240 --enrich 120 --enrich-stems all --batch 60 --whole-documents \
      --exclude datasets/annotations/batch-*.jsonl datasets/agreement/second-reading.jsonl

The 1990-2015 training batch (datasets/pending-1990-2015/batch-09.jsonl) is a draw from
the same resolutions under its own seed that also leaves out the check set's documents and
texts:

  python3 datasets/tools/sample_pre1990.py /tmp/res.jsonl --out DIR \
      --seed frameshift-batch-09-2026 --from-year 1990 --to-year 2015 \
      -n 360 --enrich 120 --enrich-stems all --batch 60 --whole-documents \
      --exclude datasets/annotations/batch-*.jsonl datasets/agreement/second-reading.jsonl \
      datasets/check-1990-2015/gold.jsonl

The pre-1990 training batch (datasets/pending/batch-08.jsonl) is a second draw from the same
eligible paragraphs, under its own seed, that never touches the check set:

  python3 datasets/tools/sample_pre1990.py /tmp/res.jsonl --out DIR \
      --seed frameshift-pre1990-train-2026 \
      -n 240 --enrich 80 --batch 40 --exclude datasets/pre1990/gold.jsonl --whole-documents

--exclude drops every paragraph whose id or whose text (sha256) is in the given files, so no
text of the check set can be trained on, even as a repeated formula in another resolution;
with --whole-documents it drops every paragraph of a resolution that has a paragraph in
them, so that a model trained on the batch has not seen the check set's documents (the
cross-validation's grouping by document, kept between training data and check set).
--enrich N adds N further paragraphs, in the same hash order, whose text contains a stem of
the codebook's human-rights cues (the frame the models miss before 1990); like the
annotations' enriched steps, this decides only what is read, never the labels.
"""
import argparse
import collections
import hashlib
import json
import os
import re

SEED = "frameshift-pre1990-2026"
# Stems of the codebook's human_rights cues as they are worded before 1990 (rights, freedoms,
# apartheid and racial discrimination, self-determination, refugees and detainees, the
# Geneva Convention on civilians). Chosen from the codebook before the draw.
RIGHTS_STEMS = re.compile(
    r"right|freedom|apartheid|racial|discriminat|self-determination|refugee|displaced"
    r"|prisoner|detain|detention|execut|humanitarian|civilian|geneva convention|dignity"
    r"|victim|torture|oppress|repress",
    re.IGNORECASE,
)


# Stems of the codebook's gender and crime cues: the annotations' rare-frame draw's
# (sample_for_annotation.py, step 5), imported so that both draws read one list; `--enrich-
# stems all` enriches with these and the rights stems above, for the draws of 1990-2015 where
# all three frames are rare.
from sample_for_annotation import RARE_STEMS  # noqa: E402  (this script's own directory)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segments", help="frameshift segment JSONL output of the resolutions")
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=240)
    ap.add_argument("--batch", type=int, default=60)
    ap.add_argument("--seed", default=SEED)
    ap.add_argument("--enrich", type=int, default=0)
    ap.add_argument("--enrich-stems", choices=["rights", "all"], default="rights")
    ap.add_argument("--exclude", nargs="*", default=[])
    ap.add_argument("--whole-documents", action="store_true")
    # The check set of 1990-2015 (datasets/check-1990-2015/) is the same draw over other
    # years; the defaults are the pre-1990 draws', which they reproduce unchanged.
    ap.add_argument("--from-year", type=int, default=1946)
    ap.add_argument("--to-year", type=int, default=1989)
    args = ap.parse_args()

    excluded_ids, excluded_docs, excluded_texts = set(), set(), set()
    for name in args.exclude:
        with open(name) as f:
            for line in f:
                e = json.loads(line)
                excluded_ids.add(e["id"])
                if args.whole_documents:
                    excluded_docs.add(document(e["id"]))
                excluded_texts.add(e["sha256"])

    eligible = []
    with open(args.segments) as f:
        for line in f:
            p = json.loads(line)
            m = re.match(r"S/RES/(\d+) \((\d{4})\)", p["id"])
            if not m or p.get("doc_kind") != "resolution":
                continue
            number, year = int(m.group(1)), int(m.group(2))
            if not args.from_year <= year <= args.to_year or number % 10 == 7:
                continue
            if p["kind"] not in ("preambular", "operative", "subparagraph"):
                continue
            if (p["id"] in excluded_ids or document(p["id"]) in excluded_docs
                    or text_sha(p) in excluded_texts):
                continue
            eligible.append(p)
    eligible.sort(key=lambda p: hashlib.sha256((args.seed + p["id"]).encode()).hexdigest())
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
    taken = {p["id"] for p in sample}
    enriched = 0
    for p in eligible:
        if enriched == args.enrich:
            break
        if p["id"] in taken or not (RIGHTS_STEMS.search(p["text"]) or (
                args.enrich_stems == "all" and RARE_STEMS.search(p["text"]))):
            continue
        seen[p["text"]] += 1
        if seen[p["text"]] > 2:
            continue
        sample.append(p)
        enriched += 1
    os.makedirs(args.out, exist_ok=True)
    for start in range(0, len(sample), args.batch):
        name = os.path.join(args.out, f"in-{start // args.batch + 1}.jsonl")
        with open(name, "w") as out:
            for p in sample[start : start + args.batch]:
                out.write(json.dumps({
                    "id": p["id"],
                    "sha256": text_sha(p),
                    "year": p["year"], "kind": p["kind"], "text": p["text"],
                }, ensure_ascii=False) + "\n")
        print(name)
    years = collections.Counter(p["year"] // 10 * 10 for p in sample)
    print(f"{len(sample)} of {len(eligible)} eligible ({enriched} enriched); "
          f"by decade {dict(sorted(years.items()))}")


def document(paragraph_id):
    return paragraph_id.split("#")[0]


def text_sha(p):
    return hashlib.sha256(p["text"].encode()).hexdigest()


if __name__ == "__main__":
    main()
