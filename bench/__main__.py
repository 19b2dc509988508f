"""`make bench`: every benchmark, one after another, then a summary of the ratios."""

from __future__ import annotations

import importlib
import importlib.util
import sys

from bench.common import Row

# Each module's run() prints its figures and returns the summary rows (ratios against a
# baseline measured in the same run). `python -m bench NAME ...` runs the matching ones.
BENCHES = [
    "bench.bench_speech",  # /stt and /tts against direct engine calls
    "bench.bench_turn",  # streamed vs whole /process_call
    "bench.bench_openai",  # /v1/audio/speech formats
    "bench.bench_phone",  # a phone turn against /process_call
    "bench.bench_text",  # the Russian normaliser against ru-normalizr and rutextnorm
    "bench.bench_russian",  # Russian WER through /stt and the phone path
    "bench.bench_xtts",  # XTTS linear streaming vs coqui's, fair sharing, cancellation
    "bench.bench_load",  # 1..50 concurrent calls: capacity, longest silence
    "bench.bench_turn_taking",  # end of turn by meaning, backchannels, barge-in
    "bench.bench_booking",  # find_free_slots against a real CalDAV server (Radicale)
    "bench.bench_hearing",  # every caller sentence heard whole, on any voice and level
]


def main(names: list[str]) -> int:
    selected = [b for b in BENCHES if not names or any(n in b for n in names)]
    summary: list[Row] = []
    for module_name in selected:
        if importlib.util.find_spec(module_name) is None:
            continue  # a benchmark of a part not built yet
        summary.extend(importlib.import_module(module_name).run())
    print("\n== summary")
    for name, value, goal in summary:
        print(f"   {name:<58} {value:10.3f}   goal {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
