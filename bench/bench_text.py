"""Issue 10 benchmark: how many cases of our table each Russian normaliser reads right, and
how fast ours is.

    python -m bench.bench_text

The peers are the dedicated Russian TTS normalisers on PyPI, `ru-normalizr` (pymorphy3
based) and `rutextnorm` (regex only), run on the same table (tests/text/cases_ru.py). A case
counts when the output equals the expected reading after collapsing whitespace and case.

- cases read right: ours − the best peer                        (goal ≥ 0)
- median time of ours per sentence-sized text, ms               (goal ≤ 1)
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from bench.common import Row, print_rows

ROUNDS = 5


def _comparable(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _peers() -> dict[str, Callable[[str], str]]:
    """The peer normalisers that are installed (requirements-dev.txt pins both)."""
    peers: dict[str, Callable[[str], str]] = {}
    try:
        import ru_normalizr

        peers["ru-normalizr"] = ru_normalizr.normalize
        options = ru_normalizr.NormalizeOptions(mode="tts")
        peers["ru-normalizr (tts mode)"] = lambda text: ru_normalizr.normalize(text, options)
    except ImportError:
        print("   ru-normalizr is not installed: pip install -r requirements-dev.txt")
    try:
        import rutextnorm

        peers["rutextnorm"] = rutextnorm.normalize_russian
    except ImportError:
        print("   rutextnorm is not installed: pip install -r requirements-dev.txt")
    return peers


def _right(normalize: Callable[[str], str], cases: list[tuple[str, str]]) -> set[int]:
    right = set()
    for index, (text, expected) in enumerate(cases):
        try:
            if _comparable(normalize(text)) == _comparable(expected):
                right.add(index)
        except Exception:  # a peer crashing on a case reads it wrong
            continue
    return right


def _median_ms_per_text(normalize: Callable[[str], str], texts: list[str]) -> float:
    for text in texts:
        normalize(text)  # warm-up: the dictionary and the caches
    timings = []
    for _ in range(ROUNDS):
        for text in texts:
            started = time.perf_counter()
            normalize(text)
            timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def run() -> list[Row]:
    from lidia.text.normalizer import normalize_ru
    from tests.text.cases_ru import CASES

    ours = _right(normalize_ru, CASES)
    details = {f"cases read right, ours (of {len(CASES)})": float(len(ours))}
    best_peer = 0
    for name, normalize in _peers().items():
        right = _right(normalize, CASES)
        best_peer = max(best_peer, len(right))
        details[f"cases read right, {name}"] = float(len(right))
        for index in sorted(right - ours):
            print(f"   {name} reads right, ours does not: {CASES[index][0]!r}")
    sentences = [text for text, _ in CASES if len(text.split()) >= 3]
    details["median ms per text, ours (all cases)"] = _median_ms_per_text(
        normalize_ru, [text for text, _ in CASES]
    )
    rows: list[Row] = [
        ("text: cases read right, ours - best peer", float(len(ours) - best_peer), ">= 0"),
        (
            "text: median ms per sentence, ours",
            _median_ms_per_text(normalize_ru, sentences),
            "<= 1",
        ),
    ]
    print_rows("Russian text normalisation (issue 10)", rows, details)
    return rows


if __name__ == "__main__":
    run()
