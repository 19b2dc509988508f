# Image for both services. GPU build by default (CUDA torch); CPU with
#   docker build --build-arg TORCH_DEVICE=cpu .
FROM python:3.11-slim-bookworm

ARG TORCH_DEVICE=cuda
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TORCH_DEVICE=${TORCH_DEVICE}

WORKDIR /app
# System packages first (espeak-ng, ffmpeg, sox, RHVoice from Debian non-free).
COPY scripts/install_system_packages.sh scripts/
RUN bash scripts/install_system_packages.sh && rm -rf /var/lib/apt/lists/*

# Python packages: torch first and pinned, the rest held at it (see scripts/install.sh).
COPY requirements.txt requirements-dev.txt requirements-torch-extras.txt constraints.txt ./
COPY scripts/install.sh scripts/
RUN --mount=type=cache,target=/root/.cache/pip SKIP_SYSTEM_PACKAGES=1 bash scripts/install.sh

COPY . .
ENV PATH="/app/.venv/bin:${PATH}"
EXPOSE 8002 8001
CMD ["python", "orchestrator.py"]
