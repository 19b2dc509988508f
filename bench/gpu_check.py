"""The GPU check's measurements: XTTS and Whisper on CUDA (or the CPU), figures to report.

    bench/gpu_check.sh [--cpu]        sets Python up offline, then runs this
    python -m bench.gpu_check [--cpu] [--budget 200] [--rounds 2]

XTTS: the tiny random checkpoint with a `--budget`-token sentence, and the real
checkpoint too when `models/xtts_v2` (XTTS_MODEL_DIR) and the voice clips are there:
load and warm-up seconds, first audio, real-time factor (synthesis ÷ audio seconds),
streamed ÷ whole for ours and coqui's streaming, the precision in use, peak GPU memory.
Whisper: WHISPER_MODEL from `models/` when present, else tiny.en: load (with its warm-up)
and real-time factor. Settings come from `.env` as for the services.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_xtts import (
    SENTENCE,
    build_engine,
    median_of,
    paired_ratio,
    rotating_rounds,
    timed_stream,
    timed_whole,
)


def say(label: str, value: Any) -> None:
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"   {label:<52} {shown}", flush=True)


def device_report(device: str) -> None:
    import torch

    from lidia.tts.engines.xtts_device import half_precision_dtype, resolve_device

    print(f"\n== device ({device})")
    say("torch", torch.__version__)
    say("CUDA available", torch.cuda.is_available())
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        say("GPU", torch.cuda.get_device_name(resolved))
        say("compute capability", ".".join(map(str, torch.cuda.get_device_capability(resolved))))
    say("XTTS_HALF_PRECISION=auto gives", half_precision_dtype(resolved, "auto") or "float32")


def reset_peak_memory(device: str) -> None:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib(device: str) -> float | str:
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return "n/a (CPU)"
    return torch.cuda.max_memory_allocated() / 2**20


def xtts_figures(engine, label: str, rounds: int, device: str) -> None:
    """Warm-up, then whole / ours / coqui's streaming of one sentence in rotating rounds."""
    print(f"\n== XTTS: {label}")
    say("precision", engine.info()["half_precision"])
    say("warm-up s", engine.warm_up())
    reset_peak_memory(device)
    results = rotating_rounds(
        {
            "whole": lambda: timed_whole(engine, SENTENCE),
            "linear": lambda: timed_stream(engine, SENTENCE, "linear"),
            "coqui": lambda: timed_stream(engine, SENTENCE, "coqui"),
        },
        rounds,
    )
    engine.stream_mode = "linear"
    whole = median_of(results["whole"], "total")
    audio = median_of(results["whole"], "audio")
    say("audio s", audio)
    say("whole synthesis s", whole)
    say("first audio s (linear stream)", median_of(results["linear"], "first"))
    say("real-time factor (whole ÷ audio)", whole / audio)
    say("real-time factor (linear stream ÷ audio)", median_of(results["linear"], "total") / audio)
    say("streamed ÷ whole, linear      (goal ≤ 1.15)", paired_ratio(results, "linear"))
    say("streamed ÷ whole, coqui       (was 4-11)", paired_ratio(results, "coqui"))
    say("first audio ÷ whole, linear   (goal ≤ 0.25)", paired_ratio(results, "linear", "first"))
    say("peak GPU memory MiB (torch)", peak_memory_mib(device))


def tiny_xtts(device: str, budget: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        engine = build_engine(Path(scratch), budget, device, warmup="off")
        print(f"\n   (tiny checkpoint built and loaded in {time.perf_counter() - started:.1f} s)")
        xtts_figures(engine, f"tiny random checkpoint, {budget}-token sentence", rounds, device)


def real_xtts(device: str, rounds: int) -> None:
    from lidia.core.settings import Settings
    from lidia.tts.engines.xtts import XttsEngine
    from lidia.tts.voice_clips import voice_clips

    settings = Settings()
    checkpoint = settings.xtts_dir
    clips = voice_clips(settings.voice_samples_dir, settings.voice_samples_count)
    if not (checkpoint / "model.pth").is_file() or not clips:
        print(f"\n== XTTS: real checkpoint skipped (no {checkpoint}/model.pth or no voice clips)")
        return
    started = time.perf_counter()
    engine = XttsEngine.load(
        checkpoint,
        clips,
        device=device,
        cache_dir=settings.models_dir / "voice_cache",
        half_precision=settings.xtts_half_precision,
        warmup="off",
    )
    print(f"\n   (real checkpoint loaded in {time.perf_counter() - started:.1f} s)")
    xtts_figures(engine, f"real checkpoint {checkpoint}", rounds, device)


def whisper_figures(device: str) -> None:
    from lidia.core.settings import Settings
    from lidia.stt.faster_whisper import FasterWhisperEngine
    from tests.support.speech_fixtures import tiny_en_model_path

    settings = Settings()
    print("\n== Whisper")
    started = time.perf_counter()
    try:
        stt = FasterWhisperEngine.load(
            settings.whisper_model, models_dir=settings.models_dir, device=device
        )
    except Exception as exc:  # not downloaded here: the tests' tiny.en shows the path works
        say(f"{settings.whisper_model} not loaded", str(exc)[:60])
        stt = FasterWhisperEngine.load(
            str(tiny_en_model_path()), models_dir=settings.models_dir, device=device
        )
    say("model", stt.model)
    say("device / compute type", f"{stt.device} / {stt.compute_type}")
    say("load + warm-up s", time.perf_counter() - started)
    audio = speech_16k()
    language = "ru" if "ru" in stt.languages else "en"
    times = []
    for _ in range(3):
        began = time.perf_counter()
        stt.transcribe(audio, language)
        times.append(time.perf_counter() - began)
    say("audio s", len(audio) / 16000)
    say("real-time factor (median of 3)", statistics.median(times) / (len(audio) / 16000))
    say("GPU memory used MiB (nvidia-smi, whole card)", nvidia_memory_used())


def speech_16k():
    """About ten seconds of Russian speech (espeak-ng, or the synthetic stand-in) at 16 kHz."""
    import numpy as np
    import soundfile as sf
    import soxr

    from tests.support.xtts_tiny import make_voice_clips

    with tempfile.TemporaryDirectory() as scratch:
        parts = []
        for path in make_voice_clips(Path(scratch), n=4):
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            parts.append(soxr.resample(audio.mean(axis=1), rate, 16000))
    return np.concatenate(parts).astype(np.float32)


def nvidia_memory_used() -> str:
    if shutil.which("nvidia-smi") is None:
        return "n/a (no nvidia-smi)"
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip().replace("\n", ", ") or done.stderr.strip()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (proves the script)")
    parser.add_argument("--budget", type=int, default=0, help="audio tokens (0: 200 GPU, 80 CPU)")
    parser.add_argument("--rounds", type=int, default=0, help="0: 3 on a GPU, 1 on the CPU")
    args = parser.parse_args(argv)
    device = "cpu" if args.cpu else "cuda"
    budget = args.budget or (80 if args.cpu else 200)
    rounds = args.rounds or (1 if args.cpu else 3)
    started = time.perf_counter()
    device_report(device)
    tiny_xtts(device, budget, rounds)
    real_xtts(device, rounds)
    whisper_figures(device)
    print(f"\n== GPU check done in {time.perf_counter() - started:.0f} s ({device})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
