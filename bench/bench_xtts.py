"""Issue 14 benchmark: XTTS streaming without re-decoding, on the tiny random checkpoint.

    python -m bench.bench_xtts [--device auto|cpu|cuda] [--budgets 200,400] [--rounds 2]
                               [--only streaming|cancel|concurrency]

The tiny checkpoint's random GPT never says stop, so every sentence runs to its audio
budget (200 or 400 tokens ≈ 9 or 18 s of audio): a long sentence, where quadratic
streaming hurts. All figures are ratios between runs in this process, in interleaved
rounds (the order rotates), so they hold on a noisy shared machine.

- streamed total ÷ whole WAV, same sentence, 200 and 400 tokens           (goal ≤ 1.15)
  coqui's own `inference_stream` measured beside it                        (was 4–11×)
  on a CPU also with one intra-op thread: a stream makes one decoder call per piece,
  each a few hundred parallel regions that wait for their slowest thread, so with two
  threads on a box that other processes load it loses more than the one-call whole;
  with one thread the ratio is the work's own (about 0.85 here, load or not)
- first audio ÷ whole WAV                                                  (goal ≤ 0.25)
- 4 concurrent streamed turns of 3 sentences through VoiceService:
  p95 first audio ÷ a single turn's                                        (goal ≤ 2.5)
  audio per second of wall time, concurrent ÷ sequential                   (goal ≥ 1.0)
- cancel → model free (VoiceService queue depth 0) ÷ one piece's synthesis  (goal ≤ 1.0)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Row, percentile, print_rows

SENTENCE = "Здравствуйте, вы позвонили в компанию «Ромашка», меня зовут Лидия."
# Three short sentences: with 40-character chunks each is its own chunk.
TURN = (
    "Здравствуйте, компания «Ромашка». Чем я могу вам помочь сегодня? Оставьте, пожалуйста, номер."
)
TURNS = 4
TURN_BUDGET = 48  # tokens per sentence in the concurrency bench (the tests' tiny model)


def build_engine(root: Path, budget: int, device: str, **options: Any):
    """The tiny random XTTS with `budget` audio tokens, loaded through the production path."""
    from lidia.tts.engines.xtts import XttsEngine
    from tests.support.xtts_tiny import build_tiny_xtts_checkpoint, make_voice_clips

    checkpoint = build_tiny_xtts_checkpoint(root / f"xtts_{budget}", max_audio_tokens=budget)
    clips = make_voice_clips(root / "clips", n=3)
    return XttsEngine.load(checkpoint, clips, device=device, cache_dir=root / "cache", **options)


def timed_stream(engine, text: str, mode: str) -> dict[str, float]:
    """One sentence streamed in `mode`: total and first-audio seconds, audio seconds."""
    engine.stream_mode = mode
    started = time.perf_counter()
    first = None
    samples = 0
    for piece in engine.synthesize_stream(text, "ru"):
        first = time.perf_counter() - started if first is None else first
        samples += len(piece)
    total = time.perf_counter() - started
    return {"total": total, "first": first or total, "audio": samples / engine.sample_rate}


def timed_whole(engine, text: str) -> dict[str, float]:
    started = time.perf_counter()
    audio = engine.synthesize(text, "ru")
    total = time.perf_counter() - started
    return {"total": total, "first": total, "audio": len(audio) / engine.sample_rate}


def rotating_rounds(cases: dict[str, Callable[[], dict]], rounds: int) -> dict[str, list[dict]]:
    """Every case once per round, the order rotating; each call with the same seed.

    No warm-up call per case (coqui's at 400 tokens takes minutes): warm the engine first.
    """
    import torch

    names = list(cases)
    results: dict[str, list[dict]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            torch.manual_seed(0)  # the same tokens, so the same work, in every case
            results[name].append(cases[name]())
    return results


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(result[key] for result in results)


def paired_ratio(results: dict[str, list[dict]], name: str, key: str = "total") -> float:
    """Median over rounds of `name`'s `key` ÷ the whole synthesis of the same round.

    Pairing the runs of one round cancels the drift of a shared machine better than a
    ratio of medians: a burst of other work hits a round, not one case alone.
    """
    pairs = zip(results[name], results["whole"], strict=True)
    return statistics.median(run[key] / whole["total"] for run, whole in pairs)


def streaming_figures(engine, budget: int, rounds: int, details: dict) -> list[Row]:
    """Streamed (ours and coqui's) against whole synthesis of the same sentence."""
    cases = {
        "whole": lambda: timed_whole(engine, SENTENCE),
        "linear": lambda: timed_stream(engine, SENTENCE, "linear"),
        "coqui": lambda: timed_stream(engine, SENTENCE, "coqui"),
    }
    results = rotating_rounds(cases, rounds)
    engine.stream_mode = "linear"
    for name, values in results.items():
        details[f"{budget} tokens: {name} total s (median)"] = median_of(values, "total")
    details[f"{budget} tokens: audio s"] = median_of(results["whole"], "audio")
    details[f"{budget} tokens: whole real-time factor"] = median_of(
        results["whole"], "total"
    ) / median_of(results["whole"], "audio")
    return [
        (f"{budget} tokens: streamed ÷ whole (linear)", paired_ratio(results, "linear"), "≤ 1.15"),
        (f"{budget} tokens: streamed ÷ whole (coqui)", paired_ratio(results, "coqui"), "was 4–11"),
        (
            f"{budget} tokens: first audio ÷ whole (linear)",
            paired_ratio(results, "linear", "first"),
            "≤ 0.25",
        ),
    ]


def one_thread_figures(engine, budget: int, rounds: int, details: dict) -> list[Row]:
    """Ours against whole with torch on one intra-op thread (CPU only): the same work,
    without the wait of each parallel region for a thread another process holds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cases = {
            "whole": lambda: timed_whole(engine, SENTENCE),
            "linear": lambda: timed_stream(engine, SENTENCE, "linear"),
        }
        results = rotating_rounds(cases, rounds)
    finally:
        torch.set_num_threads(threads)
    for name, values in results.items():
        details[f"{budget} tokens, 1 thread: {name} total s (median)"] = median_of(values, "total")
    return [
        (
            f"{budget} tokens, 1 CPU thread: streamed ÷ whole (linear)",
            paired_ratio(results, "linear"),
            "≤ 1.15",
        )
    ]


# --- Through VoiceService ----------------------------------------------------------------------


def voice_service(engine):
    from lidia.tts.service import VoiceService

    return VoiceService({"xtts": engine}, "xtts", reason="bench", chunk_chars=40)


async def timed_turn(voice, text: str) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    samples = 0
    async for piece in voice.stream(text, language="ru"):
        first = time.perf_counter() - started if first is None else first
        samples += len(piece)
    total = time.perf_counter() - started
    return {"first": first or total, "total": total, "samples": samples}


async def sequential_turns(voice) -> dict[str, Any]:
    started = time.perf_counter()
    turns = [await timed_turn(voice, TURN) for _ in range(TURNS)]
    return {"turns": turns, "wall": time.perf_counter() - started}


async def concurrent_turns(voice) -> dict[str, Any]:
    started = time.perf_counter()
    turns = await asyncio.gather(*(timed_turn(voice, TURN) for _ in range(TURNS)))
    return {"turns": list(turns), "wall": time.perf_counter() - started}


def concurrency_figures(engine, rounds: int, details: dict) -> list[Row]:
    voice = voice_service(engine)
    cases = {
        "sequential": lambda: asyncio.run(sequential_turns(voice)),
        "concurrent": lambda: asyncio.run(concurrent_turns(voice)),
    }
    results = rotating_rounds(cases, rounds)
    single_first = statistics.median(
        turn["first"] for run in results["sequential"] for turn in run["turns"]
    )
    p95_first = percentile(
        [turn["first"] for run in results["concurrent"] for turn in run["turns"]], 95
    )
    throughput = {
        name: statistics.median(
            sum(turn["samples"] for turn in run["turns"]) / run["wall"] for run in runs
        )
        for name, runs in results.items()
    }
    details["turns: single turn first audio s"] = single_first
    details["turns: concurrent p95 first audio s"] = p95_first
    details["turns: sequential wall s"] = statistics.median(
        r["wall"] for r in results["sequential"]
    )
    details["turns: concurrent wall s"] = statistics.median(
        r["wall"] for r in results["concurrent"]
    )
    return [
        ("4 concurrent turns: p95 first audio ÷ single turn", p95_first / single_first, "≤ 2.5"),
        (
            "4 concurrent turns: throughput ÷ sequential",
            throughput["concurrent"] / throughput["sequential"],
            "≥ 1.0",
        ),
    ]


def piece_times(engine, text: str) -> list[float]:
    """Seconds each streamed piece took the engine to make."""
    times = []
    stream = engine.synthesize_stream(text, "ru")
    while True:
        started = time.perf_counter()
        if next(stream, None) is None:
            return times
        times.append(time.perf_counter() - started)


async def cancel_to_free(voice) -> float:
    """Seconds from closing a stream (after its first audio) to the engine being idle."""
    stream = voice.stream(SENTENCE, language="ru")
    async for _piece in stream:
        break
    closed = time.perf_counter()
    await stream.aclose()
    # The queue depth is the public sign of a busy engine; there is no event to wait on.
    while voice.queue_depth("xtts") > 0:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    return time.perf_counter() - closed


def cancellation_figures(engine, rounds: int, details: dict) -> list[Row]:
    """Cancel right after the first audio: the engine is then making its second piece,
    so "one chunk's synthesis" is that piece's time, measured alone in the same round."""
    voice = voice_service(engine)
    cases = {
        "pieces": lambda: {"times": piece_times(engine, SENTENCE)},
        "cancel": lambda: {"seconds": asyncio.run(cancel_to_free(voice))},
    }
    results = rotating_rounds(cases, rounds)
    ratios = [
        cancel["seconds"] / pieces["times"][1]
        for cancel, pieces in zip(results["cancel"], results["pieces"], strict=True)
    ]
    details["cancel: second piece's synthesis s (median)"] = statistics.median(
        run["times"][1] for run in results["pieces"]
    )
    details["cancel: cancel → model free s (median)"] = median_of(results["cancel"], "seconds")
    return [("cancel → model free ÷ one piece's synthesis", statistics.median(ratios), "≤ 1.0")]


# --- Entry points ------------------------------------------------------------------------------


PARTS = ("streaming", "cancel", "concurrency")


def run(
    device: str = "auto",
    budgets: tuple[int, ...] = (200, 400),
    rounds: int = 0,
    only: str | None = None,
) -> list[Row]:
    """Every figure (or the `only` part); `rounds=0` picks 3 rounds at 200 tokens, 1 at 400
    (coqui's is slow), 2 for the concurrency part."""
    parts = (only,) if only else PARTS
    rows: list[Row] = []
    details: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for budget in budgets if {"streaming", "cancel"} & set(parts) else ():
            engine = build_engine(root, budget, device)
            engine.warm_up()
            if "streaming" in parts:
                rounds_here = rounds or (3 if budget <= 200 else 1)
                rows += streaming_figures(engine, budget, rounds_here, details)
                if budget == budgets[0] and engine.info()["device"] == "cpu":
                    rows += one_thread_figures(engine, budget, rounds or 3, details)
            if budget == budgets[0] and "cancel" in parts:
                rows += cancellation_figures(engine, rounds or 3, details)
        if "concurrency" in parts:
            turn_engine = build_engine(root, TURN_BUDGET, device)
            turn_engine.warm_up()
            rows += concurrency_figures(turn_engine, rounds or 2, details)
    print_rows(f"xtts streaming ({device})", rows, details)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budgets", default="200,400", help="audio tokens, comma separated")
    parser.add_argument("--rounds", type=int, default=0, help="0: 3 at 200 tokens, 1 at 400")
    parser.add_argument("--only", choices=PARTS, help="one part of the bench (default: all)")
    args = parser.parse_args(argv)
    budgets = tuple(int(value) for value in args.budgets.split(","))
    run(args.device, budgets, args.rounds, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
