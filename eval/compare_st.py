#!/usr/bin/env python3
"""Compare frameshift embeddings with sentence-transformers (all-MiniLM-L6-v2).

  .venv-eval/bin/python eval/compare_st.py --input paras.txt --frameshift fs.npy
  .venv-eval/bin/python eval/compare_st.py --input tests/fixtures/reference/paragraphs.jsonl \
      --frameshift fs.npy --st-out st.npy --report report.json

--input: a .jsonl file (one object per line with a "text" field and optionally "id"), or
any other file read as one paragraph per line. Blank lines are skipped: row i of the .npy
files is the i-th non-blank line (its 1-based line number is reported).

sentence-transformers runs on the CPU with max_seq_length 256, normalize_embeddings=True,
--batch-size 32 and --threads 2. Rows whose untruncated word-piece count (incl. [CLS]/[SEP])
exceeds 256 are excluded from the pass/fail verdict (their cosines are still shown, for
information), because frameshift may treat long paragraphs differently from ST's plain
truncation to ids[:255]+[SEP].

Exit status: 0 all within-window rows have cosine >= --min-cos (default 0.9999); 1 some row
is below; 2 bad input (row count or dimension mismatch, unreadable files).
Without --frameshift it only computes (and with --st-out saves) the ST vectors and reports
throughput.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import st_common as C  # noqa: E402  (sets HF_HUB_OFFLINE before transformers is imported)


def read_input(path: Path) -> tuple[list[str], list[str]]:
    """Returns (labels, texts); label is the jsonl id (or 'line N')."""
    labels, texts = [], []
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if is_jsonl:
                try:
                    obj = json.loads(line)
                    text = obj["text"]
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    print(f"{path}:{n}: not a JSON object with a text field ({e})", file=sys.stderr)
                    sys.exit(2)
                rid = obj.get("id")
                labels.append(f"{rid} (line {n})" if rid is not None else f"line {n}")
                texts.append(text)
            else:
                labels.append(f"line {n}")
                texts.append(line)
    return labels, texts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, type=Path)
    ap.add_argument("--frameshift", type=Path, help="frameshift vectors, .npy of shape (rows, 384)")
    ap.add_argument("--st-out", type=Path, help="save the sentence-transformers vectors here (.npy, float32)")
    ap.add_argument("--report", type=Path, help="also write a JSON summary (stats, throughput, failures)")
    ap.add_argument("--min-cos", type=float, default=0.9999)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-dir", default=None, help="default: $MINILM_DIR or eval/out/minilm-st")
    ap.add_argument("--show-worst", type=int, default=5, help="also list the N lowest within-window rows")
    args = ap.parse_args()

    import numpy as np

    labels, texts = read_input(args.input)
    if not texts:
        print(f"{args.input}: no paragraphs", file=sys.stderr)
        return 2

    fs = None
    if args.frameshift is not None:
        try:
            fs = np.load(args.frameshift)
        except (OSError, ValueError) as e:
            print(f"cannot read {args.frameshift}: {e}", file=sys.stderr)
            return 2
        if fs.ndim != 2 or fs.shape[1] != C.DIM or fs.shape[0] != len(texts):
            print(f"{args.frameshift}: shape {fs.shape}, expected ({len(texts)}, {C.DIM})", file=sys.stderr)
            return 2
        fs = fs.astype(np.float64)

    model_dir = C.resolve_model_dir(args.model_dir)
    C.verify_model_dir(model_dir)
    model = C.load_model(model_dir, threads=args.threads)
    tok = C.raw_tokenizer(model_dir)
    n_tokens = np.array([len(ids) for ids in C.untruncated_ids(tok, texts)])
    in_window = n_tokens <= C.MAX_SEQ_LENGTH
    window_tokens = np.minimum(n_tokens, C.MAX_SEQ_LENGTH)

    # Warm-up outside the timed region (first call pays for lazy init / allocator growth).
    model.encode(texts[: min(len(texts), args.batch_size)], batch_size=args.batch_size,
                 normalize_embeddings=True, show_progress_bar=False)
    t0 = time.perf_counter()
    st = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                      convert_to_numpy=True, show_progress_bar=False)
    elapsed = time.perf_counter() - t0
    st = np.asarray(st, dtype=np.float32)

    throughput = {
        "rows": len(texts),
        "seconds": round(elapsed, 3),
        "paragraphs_per_s": round(len(texts) / elapsed, 2),
        "tokens_per_s": round(float(window_tokens.sum()) / elapsed, 1),
        "window_tokens_total": int(window_tokens.sum()),
        "untruncated_tokens_total": int(n_tokens.sum()),
        "batch_size": args.batch_size,
        "threads": args.threads,
    }
    print(f"sentence-transformers encode: {len(texts)} paragraphs in {elapsed:.2f}s = "
          f"{throughput['paragraphs_per_s']} paragraphs/s, {throughput['tokens_per_s']} tokens/s "
          f"(tokens fed to the model, <=256 per row; batch {args.batch_size}, {args.threads} threads)")
    print(f"token counts (untruncated): min {n_tokens.min()}, median {int(np.median(n_tokens))}, "
          f"max {n_tokens.max()}; rows > {C.MAX_SEQ_LENGTH}: {int((~in_window).sum())}")

    if args.st_out is not None:
        args.st_out.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.st_out, st)
        print(f"saved sentence-transformers vectors to {args.st_out} {st.shape}")

    report = {"input": str(args.input), "throughput": throughput,
              "rows_over_256": int((~in_window).sum())}
    status = 0
    if fs is not None:
        a = st.astype(np.float64)
        na = np.linalg.norm(a, axis=1)
        nb = np.linalg.norm(fs, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = (a * fs).sum(axis=1) / (na * nb)
        cos = np.where(np.isfinite(cos), cos, -1.0)  # a zero or NaN frameshift row fails
        win = cos[in_window]
        if win.size:
            print(f"within window (<= {C.MAX_SEQ_LENGTH} tokens): {win.size} rows, cosine "
                  f"min {win.min():.9f}, median {np.median(win):.9f}, mean {win.mean():.9f} "
                  f"(max 1-cos {1.0 - win.min():.2e})")
        else:
            print("within window: no rows")
        out = cos[~in_window]
        if out.size:
            print(f"excluded (> {C.MAX_SEQ_LENGTH} tokens): {out.size} rows, cosine vs ST-truncated "
                  f"min {out.min():.9f}, median {np.median(out):.9f} (information only)")
        nb_dev = np.abs(nb - 1.0).max()
        print(f"frameshift vector norms: max |norm-1| = {nb_dev:.2e}")
        order = [i for i in np.argsort(cos) if in_window[i]][: args.show_worst]
        if order:
            print("lowest within-window rows: " + ", ".join(f"{labels[i]}={cos[i]:.7f}" for i in order))
        bad = [i for i in range(len(texts)) if in_window[i] and cos[i] < args.min_cos]
        if bad:
            status = 1
            print(f"FAIL: {len(bad)} within-window row(s) below --min-cos {args.min_cos}:")
            for i in bad:
                print(f"  {labels[i]}: cos {cos[i]:.7f}, {n_tokens[i]} tokens: {texts[i][:80]!r}")
        else:
            print(f"OK: all {win.size} within-window rows have cosine >= {args.min_cos}")
        report.update({
            "min_cos_threshold": args.min_cos,
            "within_window_rows": int(win.size),
            "cos_min": float(win.min()) if win.size else None,
            "cos_median": float(np.median(win)) if win.size else None,
            "excluded_cos_min": float(out.min()) if out.size else None,
            "failures": [{"row": i, "label": labels[i], "cos": float(cos[i]), "tokens": int(n_tokens[i])}
                         for i in bad],
            "ok": status == 0,
        })
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
