#!/usr/bin/env python3
"""Nested cross-validation of an equal-weight ensemble of fine-tuned models, from their
committed `eval --finetune` scores files alone.

Usage: python3 eval/ensemble_scores.py A.scores.jsonl B.scores.jsonl [...]

`frameshift eval --model M --ensemble-with SCORES` needs its first member to be a head it
can retrain per fold (`src/commands/ensemble.rs`). When every member is a fine-tuned model,
nothing needs retraining: each scores file already holds, per fold, the held-out test rows
and the validation rows (documents the fold's model did not train on) that the ensemble
protocol needs. Same protocol as the CLI: per fold, the members' probabilities are averaged
with equal weights, each frame's threshold is chosen on that fold's validation rows (0.05 to
0.95 in steps of 0.01, best F1, ties to the threshold nearest 0.5, as `best_threshold` in
`src/classify/mod.rs`), and the test rows are labelled at it. The files must come from the
same annotations and fold seed (the script refuses files whose row keys differ).

Self-check: each member is first scored alone the same way and must reproduce the
`macro_f1` of its `.json` result file (to 1e-9), so the protocol here is the one the CLI ran.
Reads only the files given; standard library only.
"""
import json
import sys

FRAMES = ["security", "crime", "human_rights", "gender"]


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            rows[(r["split"], r["fold"], r["id"])] = r
    return rows


def f1(pred, gold):
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def best_threshold(probs, truth):
    best = (float("-inf"), 0.5)
    for step in range(5, 96):
        t = step / 100
        score = f1([p >= t for p in probs], truth)
        if score > best[0] + 1e-12 or (
            abs(score - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)
        ):
            best = (score, t)
    return best[1]


def nested(members):
    """Per-frame F1 over all test rows and over resolution paragraphs."""
    keys = set(members[0])
    for m in members[1:]:
        if set(m) != keys:
            sys.exit("the scores files hold different rows: not the same annotations and folds")
    folds = sorted({k[1] for k in keys})
    mean = lambda k, f: sum(m[k]["scores"][f] for m in members) / len(members)
    pred = {f: [] for f in FRAMES}
    gold = {f: [] for f in FRAMES}
    ids = []
    for fold in folds:
        val = sorted(k for k in keys if k[0] == "validation" and k[1] == fold)
        test = sorted(k for k in keys if k[0] == "test" and k[1] == fold)
        ids += [k[2] for k in test]
        for f in FRAMES:
            t = best_threshold([mean(k, f) for k in val], [f in members[0][k]["gold"] for k in val])
            pred[f] += [mean(k, f) >= t for k in test]
            gold[f] += [f in members[0][k]["gold"] for k in test]
    out = {}
    for name, keep in (("all", lambda i: True), ("resolutions", lambda i: i.startswith("S/RES"))):
        sel = [n for n, i in enumerate(ids) if keep(i)]
        per = {f: f1([pred[f][n] for n in sel], [gold[f][n] for n in sel]) for f in FRAMES}
        per["macro"] = sum(per[f] for f in FRAMES) / len(FRAMES)
        out[name] = per
    return out


def show(label, r):
    a, s = r["all"], r["resolutions"]
    cells = " ".join(f"{f} {a[f]:.3f}" for f in FRAMES)
    print(f"{label}: macro {a['macro']:.4f} ({cells}); resolutions {s['macro']:.4f}")


def main(paths):
    if len(paths) < 2:
        sys.exit(__doc__)
    members = [load(p) for p in paths]
    for path, m in zip(paths, members):
        alone = nested([m])
        committed = json.load(open(path.replace(".scores.jsonl", ".json")))["macro_f1"]
        if abs(alone["all"]["macro"] - committed) > 1e-9:
            sys.exit(f"{path}: recomputed {alone['all']['macro']} != committed {committed}")
        show(path, alone)
    show("equal-weight ensemble", nested(members))


if __name__ == "__main__":
    main(sys.argv[1:])
