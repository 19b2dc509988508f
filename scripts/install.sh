#!/usr/bin/env bash
# Installs everything the services need into .venv. Idempotent and fast on a second run:
# a stamp file records the hash of the requirement files that were installed.
#
#   scripts/install.sh          runtime only        (make run)
#   scripts/install.sh --dev    runtime + test tools (make test)
#
# Environment:
#   PYTHON=python3.11           interpreter for the venv
#   TORCH_DEVICE=cpu|cuda       default: cuda when nvidia-smi sees a GPU, else cpu
#   TORCH_INDEX_URL=...         where torch comes from (default: PyTorch's CPU index on CPU
#                               machines, PyPI's CUDA build on GPU machines)
#   SKIP_SYSTEM_PACKAGES=1      do not apt-get anything
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PYTHON="${PYTHON:-python3}"
VENV=.venv
PIP_FLAGS=(--resume-retries 10 --progress-bar off --disable-pip-version-check)
TORCH_VERSION=2.13.0

if [ -z "${TORCH_DEVICE:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    TORCH_DEVICE=cuda
  else
    TORCH_DEVICE=cpu
  fi
fi

# 1. System packages (espeak-ng, ffmpeg, sox, RHVoice).
if [ "${SKIP_SYSTEM_PACKAGES:-0}" != "1" ]; then
  if [ $DEV -eq 1 ]; then
    bash scripts/install_system_packages.sh --dev
  else
    bash scripts/install_system_packages.sh
  fi
fi

# 2. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  echo ">> Creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

stamp_inputs=(requirements.txt constraints.txt requirements-torch-extras.txt pyproject.toml scripts/install.sh)
[ $DEV -eq 1 ] && stamp_inputs+=(requirements-dev.txt)
STAMP="$VENV/.installed-$TORCH_DEVICE-$(cat "${stamp_inputs[@]}" | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ]; then
  exit 0
fi

# 3. pip itself: resumable downloads (--resume-retries) need pip >= 25.1. pip keeps its
#    download cache (~/.cache/pip), so an interrupted install resumes instead of restarting.
echo ">> Upgrading pip"
"$PY" -m pip install --quiet --upgrade "pip>=25.1"

# 4. torch FIRST, pinned, so nothing later can pull a different (CUDA, gigabytes) build.
if "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo ">> torch $TORCH_VERSION already installed"
elif [ "$TORCH_DEVICE" = "cpu" ]; then
  echo ">> Installing torch $TORCH_VERSION (CPU build)"
  if [ -z "${TORCH_INDEX_URL:-}" ] \
     && "$PY" -m pip install "${PIP_FLAGS[@]}" --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
    # A local CPU wheel (pip's find-links) is in; its dependencies come from the index.
    "$PY" -m pip install "${PIP_FLAGS[@]}" "torch==$TORCH_VERSION"
  else
    "$PY" -m pip install "${PIP_FLAGS[@]}" "torch==$TORCH_VERSION" \
      --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
  fi
else
  echo ">> Installing torch $TORCH_VERSION (CUDA build)"
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "$PY" -m pip install "${PIP_FLAGS[@]}" "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
  else
    "$PY" -m pip install "${PIP_FLAGS[@]}" "torch==$TORCH_VERSION"
  fi
fi

# 5. Everything else, with torch held at the installed version.
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
"$PY" -c "import torch; print('torch==' + torch.__version__)" > "$CONSTRAINTS"
echo ">> Installing Python packages"
"$PY" -m pip install "${PIP_FLAGS[@]}" -c "$CONSTRAINTS" -c constraints.txt -r requirements.txt
if [ $DEV -eq 1 ]; then
  "$PY" -m pip install "${PIP_FLAGS[@]}" -c "$CONSTRAINTS" -c constraints.txt \
    -r requirements-dev.txt
fi

# 6. Wheels without their declared dependencies (requirements-torch-extras.txt says why):
#    torchaudio/torchcodec (they would pull other torch builds), pipecat-ai, caldav.
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps -r requirements-torch-extras.txt
if [ "$TORCH_DEVICE" = "cpu" ]; then
  # These torchaudio binaries link CUDA libraries; XTTS only needs its pure-Python parts.
  rm -f "$VENV"/lib/python3*/site-packages/torchaudio/lib/*.so
fi

# 7. The project itself (the `lidia` package, editable: the checkout is the code), so
#    `importlib.metadata` knows its version and `lidia` imports from any directory.
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps -e .

rm -f "$VENV"/.installed-*
touch "$STAMP"
echo ">> Install complete ($TORCH_DEVICE)"
