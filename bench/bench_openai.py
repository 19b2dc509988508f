"""Benchmark of `POST /v1/audio/speech` over real HTTP (uvicorn on 127.0.0.1).

- streamed time to first byte ÷ complete-response time, for a 3-sentence Russian input:
  how much sooner a client can start playback thanks to sentence streaming;
- mp3 and opus total time ÷ wav total time for the same synthesis: the cost of encoding
  (goal ≤ 1.05: encoding must be cheap next to synthesis).

Uses the configured engines (`.env`; XTTS when its checkpoint is installed, else the
RHVoice/espeak fallback). Run: `python -m bench.bench_openai` or `python -m bench openai`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import Row, bench_settings, interleaved, print_rows
from lidia.orchestrator.app import create_app
from tests.support.live_server import live_server

TEXT = (
    "Здравствуйте, вы позвонили в нашу компанию. "
    "Сейчас все сотрудники заняты, но я могу записать ваше сообщение. "
    "Пожалуйста, назовите ваше имя и номер телефона."
)
RUNS = 15


def _timed_request(client: httpx.Client, fmt: str) -> tuple[float, float]:
    """(seconds to the first body byte, seconds to the last) for one speech request."""
    body = {"model": "tts-1-hd", "voice": "lidia", "input": TEXT, "response_format": fmt}
    started = time.perf_counter()
    first: float | None = None
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            if chunk and first is None:
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    return (first if first is not None else total), total


def _medians(client: httpx.Client, formats: list[str]) -> dict[str, tuple[float, float]]:
    """(median first byte, median total) per format, the formats' requests interleaved."""
    samples = interleaved(
        {fmt: (lambda fmt=fmt: _timed_request(client, fmt)) for fmt in formats}, RUNS
    )
    return {
        fmt: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for fmt, runs in samples.items()
    }


def run() -> list[Row]:
    """Measure against a fresh live server; prints the table and returns its rows."""
    with tempfile.TemporaryDirectory() as scratch:
        return _run(bench_settings(Path(scratch), orchestrator_api_key=None))


def _run(settings: object) -> list[Row]:
    app = create_app(settings)  # type: ignore[arg-type]
    with live_server(app) as url, httpx.Client(base_url=url, timeout=300) as client:
        _timed_request(client, "wav")  # warm-up: first-call costs (latents, caches)
        engine = client.post(
            "/v1/audio/speech", json={"model": "tts-1-hd", "voice": "lidia", "input": "Да."}
        ).headers.get("x-tts-engine", "?")
        medians = _medians(client, ["wav", "mp3", "opus"])
        wav_total, (mp3_first, mp3_total), opus_total = (
            medians["wav"][1],
            medians["mp3"],
            medians["opus"][1],
        )
    rows: list[Row] = [
        (
            f"speech TTFB streamed mp3 ÷ complete wav ({engine})",
            mp3_first / wav_total,
            "< 1 (≈ 1/3 for 3 sentences)",
        ),
        (f"speech mp3 total ÷ wav total ({engine})", mp3_total / wav_total, "≤ 1.05"),
        (f"speech opus total ÷ wav total ({engine})", opus_total / wav_total, "≤ 1.05"),
    ]
    details = {
        "wav complete, s": wav_total,
        "mp3 first byte, s": mp3_first,
        "mp3 complete, s": mp3_total,
        "opus complete, s": opus_total,
    }
    print_rows(f"/v1/audio/speech, 3 Russian sentences, median of {RUNS}", rows, details)
    return rows


if __name__ == "__main__":
    run()
