#!/usr/bin/env python3
"""Reference embeddings from the real sentence-transformers package.

Reads tests/fixtures/reference/paragraphs.jsonl ({"id", "text"} per line), encodes every
paragraph with sentence-transformers all-MiniLM-L6-v2 (max_seq_length 256,
normalize_embeddings=True, batch_size 1 so there is no padding at all) and writes
tests/fixtures/reference/minilm-st.json.

Per row: the untruncated word-piece ids incl. [CLS]/[SEP] ("ids", from tokenizer.json with
truncation and padding switched off), their count ("tokens"), "truncated" (tokens > 256) and
the 384-d unit vector rounded to 7 significant digits. For truncated rows sentence-transformers
embeds ids[:255] + [SEP] (i.e. [CLS], the first 254 word pieces, [SEP]); this script asserts that.

Run:  .venv-eval/bin/python eval/make_reference.py
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import st_common as C  # noqa: E402  (sets HF_HUB_OFFLINE before transformers is imported)


def sig7(x: float) -> float:
    return float(f"{x:.7g}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(C.REPO_ROOT / "tests/fixtures/reference/paragraphs.jsonl"))
    ap.add_argument("--output", default=str(C.REPO_ROOT / "tests/fixtures/reference/minilm-st.json"))
    ap.add_argument("--model-dir", default=None, help="default: $MINILM_DIR or eval/out/minilm-st")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    model_dir = C.resolve_model_dir(args.model_dir)
    model_sha, tok_sha = C.verify_model_dir(model_dir)

    rows_in = []
    with open(args.input, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                r = json.loads(line)
                if not isinstance(r.get("id"), str) or not isinstance(r.get("text"), str):
                    sys.exit(f"{args.input}:{n}: need string fields id and text")
                rows_in.append(r)
    ids_seen = [r["id"] for r in rows_in]
    if len(set(ids_seen)) != len(ids_seen):
        sys.exit("duplicate ids in input")

    import numpy as np
    import torch

    model = C.load_model(model_dir, threads=args.threads)
    tok = C.raw_tokenizer(model_dir)
    texts = [r["text"] for r in rows_in]
    all_ids = C.untruncated_ids(tok, texts)

    cls_id, sep_id = all_ids[0][0], all_ids[0][-1]
    out_rows = []
    t0 = time.perf_counter()
    for r, ids in zip(rows_in, all_ids):
        text = r["text"]
        # 1. The transformers tokenizer sentence-transformers uses agrees with tokenizer.json.
        hf_ids = model.tokenizer(text, truncation=False, padding=False)["input_ids"]
        if list(hf_ids) != list(ids):
            sys.exit(f"{r['id']}: transformers tokenizer and tokenizer.json disagree")
        # 2. What sentence-transformers actually feeds the model: ids[:255] + [SEP] when long.
        feats = C.st_features(model, [text])
        st_ids = feats["input_ids"][0].tolist()
        expect = ids if len(ids) <= C.MAX_SEQ_LENGTH else ids[: C.MAX_SEQ_LENGTH - 1] + [sep_id]
        if st_ids != expect:
            sys.exit(f"{r['id']}: sentence-transformers window differs from ids[:255]+[SEP]")
        if int(feats["attention_mask"].sum()) != len(st_ids):
            sys.exit(f"{r['id']}: unexpected padding in a batch of one")
        vec = model.encode([text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)[0].astype(np.float64)
        # 3. Independent check: plain BERT forward + mean pooling + L2 norm on the same window.
        with torch.no_grad():
            ii = torch.tensor([st_ids])
            hidden = model[0].auto_model(input_ids=ii, attention_mask=torch.ones_like(ii),
                                         token_type_ids=torch.zeros_like(ii)).last_hidden_state[0]
            manual = hidden.mean(dim=0)
            manual = (manual / manual.norm()).double().numpy()
        cos = float(np.dot(vec, manual) / (np.linalg.norm(vec) * np.linalg.norm(manual)))
        if cos < 0.999999:
            sys.exit(f"{r['id']}: manual mean pooling disagrees with sentence-transformers (cos {cos})")
        if vec.shape != (C.DIM,) or abs(np.linalg.norm(vec) - 1.0) > 1e-5:
            sys.exit(f"{r['id']}: bad vector shape/norm")
        out_rows.append({
            "id": r["id"],
            "tokens": len(ids),
            "truncated": len(ids) > C.MAX_SEQ_LENGTH,
            "ids": list(ids),
            "vector": [sig7(x) for x in vec.tolist()],
        })
        print(f"{r['id']}: tokens={len(ids):5d} window={len(st_ids):3d} cos(manual)={cos:.9f}", file=sys.stderr)
    elapsed = time.perf_counter() - t0

    meta = {
        "model": "all-MiniLM-L6-v2",
        "source": C.SOURCE,
        "model_sha256": model_sha,
        "tokenizer_sha256": tok_sha,
        **C.versions(),
        "max_seq_length": C.MAX_SEQ_LENGTH,
        "normalize_embeddings": True,
        "batch_size": 1,
        "pooling": "mean",
        "special_ids": {"cls": cls_id, "sep": sep_id},
        "truncation_note": "rows with tokens > 256 are embedded from ids[:255] + [SEP]",
        "generated_by": "eval/make_reference.py",
    }
    out = Path(args.output)
    C.write_reference(out, meta, out_rows)
    print(f"wrote {out} ({len(out_rows)} rows, {elapsed:.1f}s incl. checks)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
