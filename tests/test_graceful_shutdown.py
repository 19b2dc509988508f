"""One Ctrl+C stops both services gracefully, with a call in progress (issue 23).

A terminal's Ctrl+C is SIGINT to every process of its foreground process group. The runner
is started as a terminal would start it, in a process group of its own (`setsid`), both
services behind it with the small engines (espeak-ng, Whisper tiny.en); a call is streamed
to the phone service by the scripted Twilio client, and SIGINT goes to the whole group.
Every service must shut down once, gracefully: "Application shutdown complete" from each,
no traceback, exit code 0, and the call closed as `interrupted` with its audio saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from lidia.audio.codecs import pcm_to_mulaw
from lidia.core.settings import PROJECT_DIR
from lidia.phone.call_store import SqlCallStore
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    TwilioMediaClient,
    signed_headers,
    stream_parameters,
    webhook_form,
)
from tests.test_run_services import free_port, service_env, wait_until_serving

STOP_TIMEOUT_S = 40.0
CALL_SID = "CA" + "5" * 32
WS_PUBLIC = TEST_PUBLIC_BASE.replace("https://", "wss://") + "/twilio/media"


@pytest.fixture
def runner_group(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[int], Path]]:
    """`run_services.py` leading a process group of its own, as a shell in a terminal runs it."""
    ports = [free_port(), free_port()]
    env = service_env(tmp_path, *ports)
    env.update(
        LOG_LEVEL="INFO",  # uvicorn's "Application shutdown complete" is an INFO line
        TWILIO_AUTH_TOKEN=TEST_AUTH_TOKEN,
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        PUBLIC_BASE_URL=TEST_PUBLIC_BASE,
        PYTHONUNBUFFERED="1",
    )
    output = tmp_path / "services.log"
    with output.open("wb") as sink:
        runner = subprocess.Popen(
            [sys.executable, str(PROJECT_DIR / "run_services.py")],
            cwd=PROJECT_DIR,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: the group a terminal would signal
        )
    try:
        yield runner, ports, output
    finally:
        if runner.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner.pid, signal.SIGKILL)  # the services then get SIGTERM
            runner.wait()


async def call_in_progress(phone_port: int) -> TwilioMediaClient:
    """A signed call, answered, streaming: the greeting played, the caller mid-sentence."""
    base = f"http://127.0.0.1:{phone_port}"
    form = webhook_form(CALL_SID)
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
        )
    assert response.status_code == 200, response.text
    ws_url = base.replace("http://", "ws://") + "/twilio/media"
    parameters = stream_parameters(response.text)
    return TwilioMediaClient(ws_url, WS_PUBLIC, TEST_AUTH_TOKEN, CALL_SID, parameters=parameters)


def caller_sound(seconds: float) -> bytes:
    """A voiced tone with a syllable rhythm: audio to keep, whatever the VAD makes of it."""
    t = np.arange(int(seconds * 8000)) / 8000
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 4 * t) > 0)
    return pcm_to_mulaw(tone.astype(np.float32))


async def test_a_group_sigint_stops_both_services_once_and_gracefully(
    runner_group: tuple[subprocess.Popen, list[int], Path], tmp_path: Path
) -> None:
    runner, ports, output = runner_group
    await asyncio.to_thread(wait_until_serving, ports, runner)
    twilio = await call_in_progress(ports[1])
    async with twilio:
        await twilio.connected()
        await twilio.start()
        await twilio.wait_for_mark("greeting-end", within_s=60)
        sent = caller_sound(1.0)
        await twilio.media(sent)
        await asyncio.sleep(0.3)  # the frames are in the service's hands

        os.killpg(runner.pid, signal.SIGINT)  # Ctrl+C: the terminal signals the whole group

        assert await twilio.closed(within_s=STOP_TIMEOUT_S)
        code = await asyncio.to_thread(runner.wait, STOP_TIMEOUT_S)

    log = output.read_text(errors="replace")
    assert code == 0, log
    assert log.count("Application shutdown complete") == 2, log  # each service, gracefully
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert "did not stop cleanly" not in log, log
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls_log' / 'calls.db'}")
    try:
        record = await store.get_call(CALL_SID)
    finally:
        await store.close()
    assert record is not None and record.outcome == "interrupted" and record.ended_at
    folder = tmp_path / "calls_log" / CALL_SID
    assert (folder / "caller.wav").stat().st_size > len(sent)  # the caller's audio is kept
    assert (folder / "call.wav").is_file()
