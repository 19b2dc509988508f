"""Issues 10 and 22 benchmark: how many cases each Russian normaliser reads right, on our
table and on NVIDIA NeMo's public Russian cases, and how fast ours is.

    python -m bench.bench_text

The peers are the dedicated Russian TTS normalisers on PyPI, `ru-normalizr` (pymorphy3
based) and `rutextnorm` (regex only), run on the same cases in the same run.

Our table (tests/text/cases_ru.py): a case counts when the output equals the expected reading
after collapsing whitespace and case. NeMo's cases (read at run time from
`<repo>/../shared/benchmarks/nemo-ru-tn/`, fair subset, see tests/text/nemo_cases.py): exact
match after lower-casing, ё→е, punctuation and hyphens to spaces; printed per class, first
against NeMo's references only ("strict"), then also accepting the other readings listed,
with their reasons, in `tests.text.nemo_cases.ALSO_ACCEPTED` (from every normaliser alike).

- cases read right on our table: ours − the best peer            (goal ≥ 0)
- NeMo cases read right (strict): ours − ru-normalizr (best mode) (goal ≥ 10)
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


def _nemo_scores(peers: dict[str, Callable[[str], str]]) -> dict[str, tuple[int, int]]:
    """Print NeMo's fair cases read right per class; return name -> (strict, also accepted)."""
    from tests.text.nemo_cases import load_cases, reads_right

    cases = load_cases()
    outputs: dict[str, list[str]] = {}
    for name, normalize in peers.items():
        outputs[name] = []
        for case in cases:
            try:
                outputs[name].append(normalize(case.text))
            except Exception:  # a peer crashing on a case reads it wrong
                outputs[name].append("\0")
    kinds = sorted({case.kind for case in cases})
    print(f"\n   NeMo Russian cases, fair subset ({len(cases)}), strict / with alternatives:")
    print(f"   {'class':<12}{'cases':>6}" + "".join(f"{name:>26}" for name in peers))
    totals: dict[str, tuple[int, int]] = {}
    for kind in [*kinds, "total"]:
        indices = [i for i, case in enumerate(cases) if kind in (case.kind, "total")]
        cells = []
        for name in peers:
            strict = sum(reads_right(outputs[name][i], cases[i], False) for i in indices)
            also = sum(reads_right(outputs[name][i], cases[i]) for i in indices)
            cells.append(f"{strict:>3} / {also:<3}".rjust(26))
            totals[name] = (strict, also)
        print(f"   {kind:<12}{len(indices):>6}" + "".join(cells))
    for i, case in enumerate(cases):
        if not reads_right(outputs["ours"][i], case):
            print(f"   ours misses {case.kind}: {case.text!r} -> {outputs['ours'][i]!r}")
    return totals


def run() -> list[Row]:
    from lidia.text.normalizer import normalize_ru
    from tests.text.cases_ru import CASES

    peers = _peers()
    ours = _right(normalize_ru, CASES)
    details = {f"cases read right, ours (of {len(CASES)})": float(len(ours))}
    best_peer = 0
    for name, normalize in peers.items():
        right = _right(normalize, CASES)
        best_peer = max(best_peer, len(right))
        details[f"cases read right, {name}"] = float(len(right))
        for index in sorted(right - ours):
            print(f"   {name} reads right, ours does not: {CASES[index][0]!r}")
    nemo = _nemo_scores({"ours": normalize_ru, **peers})
    for name, (strict, also) in nemo.items():
        details[f"NeMo cases read right, {name} (strict)"] = float(strict)
        details[f"NeMo cases read right, {name} (with alternatives)"] = float(also)
    sentences = [text for text, _ in CASES if len(text.split()) >= 3]
    details["median ms per text, ours (all cases)"] = _median_ms_per_text(
        normalize_ru, [text for text, _ in CASES]
    )
    rows: list[Row] = [
        ("text: cases read right, ours - best peer", float(len(ours) - best_peer), ">= 0"),
        (
            "text: NeMo cases (strict), ours - best ru-normalizr mode",
            float(nemo["ours"][0] - max(v[0] for k, v in nemo.items() if "normalizr" in k)),
            ">= 10",
        ),
        (
            "text: median ms per sentence, ours",
            _median_ms_per_text(normalize_ru, sentences),
            "<= 1",
        ),
    ]
    print_rows("Russian text normalisation (issues 10, 22)", rows, details)
    return rows


if __name__ == "__main__":
    run()
