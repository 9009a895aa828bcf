#!/usr/bin/env python3
"""Draw the paragraphs to annotate, reproducibly, from `frameshift segment` output.

Usage:
  frameshift segment ../shared/corpus/unsc-resolutions-1946-2015 --out /tmp/res.jsonl
  frameshift segment ../shared/corpus/ungd-speeches-2000-2024 --out /tmp/sp.jsonl
  python3 datasets/tools/sample_for_annotation.py /tmp/res.jsonl /tmp/sp.jsonl --out DIR

Writes DIR/batch-NN.jsonl ({"id", "sha256", "doc", "year", "kind", "text"}) for annotators.
These batch files carry corpus text and are NOT committed; only the annotations (id, sha256,
labels, note) are. The procedure is documented in datasets/README.md. Held-out material is
never drawn: resolutions whose number ends in 7, speeches of 2017 (session 72).

"Random" here is a seeded hash order (sha256 of SEED + id), so the draw is the same on every
machine and does not depend on Python's RNG.
"""
import argparse
import collections
import hashlib
import json
import os
import re

SEED = "frameshift-annotation-2026"
# Agendas whose documents are over-sampled so that rare frames (gender, crime) get enough
# positives. This changes which paragraphs are read, never what label they get.
ENRICH_AGENDAS = [
    "women_peace_security",
    "counter_terrorism",
    "trafficking_in_persons",
    "children_armed_conflict",
    "protection_of_civilians",
    "sanctions",
]
# Speech paragraphs matching these stems form the enriched half of the speech sample.
SPEECH_ENRICH = re.compile(
    r"women|gender|sexual|terroris|traffick|crim|human rights|refugee|sanction|impunit|court|"
    r"extremis|drug|violence|girls",
    re.I,
)


# Step 5 (rare frames): stems of the gender and crime cues of the codebook.
RARE_STEMS = re.compile(
    r"women|gender|sexual|girls|rape|prosecut|crimin|impunit|traffick|launder|justice|court|"
    r"tribunal|police|smuggl|extradit|investigat",
    re.I,
)


def order_key(pid):
    return hashlib.sha256((SEED + pid).encode()).hexdigest()


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def doc_number(p):
    m = re.search(r"S/RES/(\d+)", p["doc"])
    return int(m.group(1)) if m else -1


def text_sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("resolutions")
    ap.add_argument("speeches")
    ap.add_argument("--out", required=True)
    ap.add_argument("--res-uniform", type=int, default=26 * 26)
    ap.add_argument("--res-enriched", type=int, default=6 * 85)
    ap.add_argument("--speech-uniform", type=int, default=24 * 13)
    ap.add_argument("--speech-enriched", type=int, default=264)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--exclude", nargs="*", default=[],
                    help="annotation batch files whose ids step 5 must not draw again")
    ap.add_argument("--only-rare", action="store_true",
                    help="write only the step-5 batch (steps 1-4 were drawn before)")
    ap.add_argument("--first-batch", type=int, default=0,
                    help="number of the first step-5 batch file (default: after steps 1-4)")
    ap.add_argument("--rare", type=int, default=0,
                    help="step 5: extra resolution paragraphs enriched for the rare frames")
    args = ap.parse_args()

    copies = collections.Counter()  # at most 2 paragraphs with the same text

    def take(p, chosen):
        if p["id"] in chosen or copies[p["text"]] >= 2:
            return False
        copies[p["text"]] += 1
        chosen[p["id"]] = p
        return True

    res = [
        p for p in load(args.resolutions)
        if p.get("year") and 1990 <= p["year"] <= 2015 and doc_number(p) % 10 != 7
        and p["kind"] in ("preambular", "operative", "subparagraph")
    ]
    sp = [
        p for p in load(args.speeches)
        if p.get("year") and 2000 <= p["year"] <= 2024 and p["year"] != 2017
    ]
    chosen = {}
    # Resolutions, uniform by year.
    by_year = collections.defaultdict(list)
    for p in res:
        by_year[p["year"]].append(p)
    per_year = args.res_uniform // len(by_year)
    for year in sorted(by_year):
        n = 0
        for p in sorted(by_year[year], key=lambda p: order_key(p["id"])):
            if n >= per_year:
                break
            n += take(p, chosen)
    # Resolutions, enriched by agenda, spread over years by the hash order.
    per_agenda = args.res_enriched // len(ENRICH_AGENDAS)
    for agenda in ENRICH_AGENDAS:
        pool = sorted((p for p in res if agenda in p.get("agendas", [])), key=lambda p: order_key(agenda + p["id"]))
        n = 0
        for p in pool:
            if n >= per_agenda:
                break
            n += take(p, chosen)
    # Speeches, uniform: one paragraph per speech, speeches spread over years.
    sp_by_doc = collections.defaultdict(list)
    for p in sp:
        sp_by_doc[p["doc"]].append(p)
    docs_by_year = collections.defaultdict(list)
    for doc, ps in sp_by_doc.items():
        docs_by_year[ps[0]["year"]].append(doc)
    per_year = args.speech_uniform // len(docs_by_year)
    for year in sorted(docs_by_year):
        n = 0
        for doc in sorted(docs_by_year[year], key=order_key):
            if n >= per_year:
                break
            ps = sorted(sp_by_doc[doc], key=lambda p: order_key(p["id"]))
            n += take(ps[0], chosen)
    # Speeches, enriched by a broad term list, again one paragraph per speech at most.
    pool = sorted((p for p in sp if SPEECH_ENRICH.search(p["text"])), key=lambda p: order_key("enrich" + p["id"]))
    used_docs = {p["doc"] for p in chosen.values() if p.get("doc_kind") != "resolution"}
    n = 0
    for p in pool:
        if n >= args.speech_enriched:
            break
        if p["doc"] in used_docs:
            continue
        if take(p, chosen):
            used_docs.add(p["doc"])
            n += 1

    rows = sorted(chosen.values(), key=lambda p: order_key("batch" + p["id"]))
    os.makedirs(args.out, exist_ok=True)
    excluded = set()
    for path in args.exclude:
        with open(path, encoding="utf-8") as f:
            excluded.update(json.loads(l)["id"] for l in f if l.strip())
    if args.only_rare:
        rows = []
    for b in range(0, len(rows), args.batch_size):
        with open(f"{args.out}/batch-{b // args.batch_size + 1:02d}.jsonl", "w", encoding="utf-8") as f:
            for p in rows[b:b + args.batch_size]:
                f.write(json.dumps({
                    "id": p["id"], "sha256": text_sha(p["text"]), "doc": p["doc"], "year": p["year"],
                    "kind": p["kind"], "agendas": p.get("agendas", []), "text": p["text"],
                }, ensure_ascii=False) + "\n")
    nbatches = args.first_batch - 1 if args.first_batch else (len(rows) + args.batch_size - 1) // args.batch_size
    if args.rare:
        # Step 5, drawn after (and without disturbing) steps 1-4: resolution paragraphs whose
        # text contains stems of the two rarest frames, gender and crime.
        pool = sorted((p for p in res if RARE_STEMS.search(p["text"]) and p["id"] not in chosen),
                      key=lambda p: order_key("rare" + p["id"]))
        pool = [p for p in pool if p["id"] not in excluded]
        extra = []
        for p in pool:
            if len(extra) >= args.rare:
                break
            if take(p, chosen):
                extra.append(p)
        extra.sort(key=lambda p: order_key("batch" + p["id"]))
        for b in range(0, len(extra), args.batch_size):
            with open(f"{args.out}/batch-{nbatches + b // args.batch_size + 1:02d}.jsonl", "w", encoding="utf-8") as f:
                for p in extra[b:b + args.batch_size]:
                    f.write(json.dumps({
                        "id": p["id"], "sha256": text_sha(p["text"]), "doc": p["doc"], "year": p["year"],
                        "kind": p["kind"], "agendas": p.get("agendas", []), "text": p["text"],
                    }, ensure_ascii=False) + "\n")
        print(f"step 5: {len(extra)} extra paragraphs for the rare frames")
    kinds = collections.Counter("resolution" if p.get("doc_kind") == "resolution" else "speech" for p in rows)
    print(f"{len(rows)} paragraphs ({dict(kinds)}) in {(len(rows) + args.batch_size - 1) // args.batch_size} batches")


if __name__ == "__main__":
    main()
