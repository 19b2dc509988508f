"""`make bench`: every benchmark, one after another, then a summary of the ratios."""

from __future__ import annotations

import importlib
import importlib.util
import sys

from bench.common import Row

BENCHES = ["bench.bench_speech", "bench.bench_turn", "bench.bench_openai", "bench.bench_phone"]
BENCHES.append("bench.bench_text")  # issue 10: the normaliser against its peers
BENCHES.append("bench.bench_russian")  # issue 10: Russian WER through /stt and the phone path


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
