"""`make run` stops both services when make's own process gets SIGINT or SIGTERM.

A real process tree: GNU make (its `install` prerequisite marked up to date with `-o`),
the runner, and both services on free ports with the small engines (espeak-ng, Whisper
tiny.en); the signal goes to make's PID only, as `kill -INT <pid>` would send it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lidia.core.settings import PROJECT_DIR
from tests.support.service_guard import tcp_reachable
from tests.support.speech_fixtures import tiny_en_model_path

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
ENV_PREFIXES = ("GEMINI_", "OPENWEBUI_", "OPENAI_", "ORCHESTRATOR_", "TTS_", "WHISPER_", "STT_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(root: Path, orchestrator_port: int, phone_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIXES)}
    env.update(
        ORCHESTRATOR_HOST="127.0.0.1",
        ORCHESTRATOR_PORT=str(orchestrator_port),
        PHONE_SERVICE_HOST="127.0.0.1",
        PHONE_SERVICE_PORT=str(phone_port),
        ORCHESTRATOR_URL=f"http://127.0.0.1:{orchestrator_port}",
        TTS_ENGINE="espeak",
        WHISPER_MODEL=str(tiny_en_model_path()),
        STT_LANGUAGE="en",
        MODELS_DIR=str(root / "models"),
        CALLS_LOG_DIR=str(root / "calls_log"),
        TEMP_DIR=str(root / "temp"),
        DATABASE_URL="",
        REDIS_URL="",
        LOG_LEVEL="WARNING",
    )
    return env


def wait_until_serving(ports: list[int], make: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = list(ports)
    while pending:
        assert make.poll() is None, f"make exited early with code {make.returncode}"
        assert time.monotonic() < deadline, f"ports {pending} never served /health"
        port = pending[0]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.3)


@pytest.fixture
def running_make(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[int]]]:
    if shutil.which("make") is None:
        pytest.fail("GNU make is not installed")
    ports = [free_port(), free_port()]
    make = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-o",
            "install",
            "run",
            f"PY={PROJECT_DIR}/.venv/bin/python",
        ],
        cwd=PROJECT_DIR,
        env=service_env(tmp_path, *ports),
        start_new_session=True,  # its own process group: the cleanup below reaches every child
    )
    try:
        yield make, ports
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)  # a leftover service would keep a port
        make.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_to_make_stops_both_services(
    running_make: tuple[subprocess.Popen, list[int]], stop_signal: signal.Signals
) -> None:
    make, ports = running_make
    wait_until_serving(ports, make)

    os.kill(make.pid, stop_signal)  # make's own PID only, not its process group

    make.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + 5
    while any(tcp_reachable("127.0.0.1", port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [port for port in ports if tcp_reachable("127.0.0.1", port)] == []
    leftover = subprocess.run(["pgrep", "-g", str(make.pid)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "a process of make's tree outlived it"
