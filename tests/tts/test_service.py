"""VoiceService and choose_engine with the real offline engines (RHVoice, espeak-ng).

XTTS is tested in engines/test_xtts.py; here its absence is what makes RHVoice primary.
Fair sharing between concurrent streams is in test_fair_queue.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lidia.core.errors import (
    EngineUnavailableError,
    InvalidTextError,
    LidiaError,
    TextTooLongError,
    UnknownVoiceError,
    UnsupportedLanguageError,
)
from lidia.core.settings import Settings
from lidia.tts.engines.espeak import EspeakEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.registry import choose_engine
from lidia.tts.service import VoiceService

LONG_TEXT = (
    "Здравствуйте! Вы позвонили в компанию «Ромашка». Наш офис работает с понедельника "
    "по пятницу, с девяти утра до шести вечера. В субботу мы принимаем звонки до 15:00, "
    "а в воскресенье отдыхаем. Стоимость консультации составляет 1500 рублей, первая "
    "консультация бесплатная. Если вы хотите записаться на приём, назовите, пожалуйста, "
    "ваше имя и удобное время. Если вопрос срочный, оставьте номер телефона, и менеджер "
    "перезвонит вам в течение часа. Наш адрес: улица Ленина, дом 12, офис 5. "
    "Спасибо, что выбрали нашу компанию, хорошего дня!"
)


def settings_for(root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "models_dir": root / "models",
        "voice_samples_dir": root / "voice",
        "tts_language": "ru",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def service(rhvoice: RHVoiceEngine, espeak: EspeakEngine) -> VoiceService:
    return VoiceService(
        {"rhvoice": rhvoice, "espeak": espeak},
        "rhvoice",
        reason="test",
        chunk_chars=120,
        pause_ms=250,
    )


class ProbedEspeak(EspeakEngine):
    """The real espeak-ng engine, counting how many calls are inside it at once.

    Each call sleeps a little inside the counted region: that widens the window in which
    a broken queue would show up as two calls inside at once. `gate` lets a test hold a
    call inside the engine for as long as it wants.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay_s = 0.02
        self.gate = threading.Event()
        self.gate.set()
        self.inside = 0
        self.max_inside = 0
        self.streams_opened = 0
        self.streams_closed = 0
        self._count_lock = threading.Lock()

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._count_lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        try:
            time.sleep(self.delay_s)
            self.gate.wait(timeout=30)  # a failing test must not block threads forever
            yield
        finally:
            with self._count_lock:
                self.inside -= 1

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        with self._counted():
            return super().synthesize(text, language, voice=voice, speed=speed)

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        self.streams_opened += 1
        try:
            audio = self.synthesize(text, language, voice=voice, speed=speed)
            for piece in np.array_split(audio, 4):
                with self._counted():
                    pass
                yield piece
        finally:
            self.streams_closed += 1


@pytest.fixture
def probed() -> Iterator[ProbedEspeak]:
    engine = ProbedEspeak.load()
    assert isinstance(engine, ProbedEspeak)
    yield engine
    engine.gate.set()


# --- choose_engine ---------------------------------------------------------------------


def test_without_xtts_checkpoint_rhvoice_is_primary(tmp_path: Path) -> None:
    choice = choose_engine(settings_for(tmp_path))
    try:
        assert choice.engine is not None and choice.engine.name == "rhvoice"
        assert "XTTS: no checkpoint at" in choice.reason
        assert "make models" in choice.reason
        assert choice.tried == ["xtts", "rhvoice"]
        assert set(choice.engines) == {"rhvoice", "espeak"}  # espeak-ng loaded beside it
    finally:
        VoiceService(choice.engines, "rhvoice", reason=choice.reason).close()


def test_checkpoint_without_voice_clips_is_named(tmp_path: Path) -> None:
    checkpoint = tmp_path / "models" / "xtts_v2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "model.pth").write_bytes(b"")
    (tmp_path / "voice").mkdir()
    service = VoiceService.from_settings(settings_for(tmp_path))
    try:
        assert service.primary == "rhvoice"
        assert "XTTS: no voice clips in" in service.reason
    finally:
        service.close()


def test_configured_xtts_that_cannot_load_still_speaks_and_says_why(tmp_path: Path) -> None:
    service = VoiceService.from_settings(settings_for(tmp_path, tts_engine="xtts"))
    try:
        assert service.primary == "rhvoice"
        assert service.reason.startswith("configured TTS_ENGINE=xtts failed to load")
        assert "no checkpoint" in service.reason
        assert service.reason.endswith("falling back to rhvoice")
    finally:
        service.close()


def test_configured_espeak_is_primary_with_rhvoice_beside(tmp_path: Path) -> None:
    service = VoiceService.from_settings(settings_for(tmp_path, tts_engine="espeak"))
    try:
        assert service.primary == "espeak"
        assert service.reason == "TTS_ENGINE=espeak: using espeak"
        assert service.engine_for("rhvoice-anna").name == "rhvoice"
        assert service.info()["primary"] == "espeak"
    finally:
        service.close()


def test_no_engine_at_all_raises_with_every_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # espeak-ng can no longer be found
    settings = settings_for(tmp_path, tts_engine="rhvoice", rhvoice_lib="libRHVoice-missing.so")
    with pytest.raises(EngineUnavailableError) as caught:
        VoiceService.from_settings(settings)
    message = caught.value.message
    assert "RHVoice: library not installed" in message
    assert "apt-get install espeak-ng" in message


# --- Engines and voices ----------------------------------------------------------------


def test_engine_for_routes_voices_to_their_engine(service: VoiceService) -> None:
    assert service.engine_for(None).name == "rhvoice"
    assert service.engine_for("rhvoice-irina").name == "rhvoice"
    assert service.engine_for("espeak-en").name == "espeak"
    assert service.engine_for(None, "espeak").name == "espeak"
    assert service.sample_rate_of() == 24_000
    assert service.sample_rate_of(voice="espeak-ru") == 22_050


def test_unknown_voice_lists_the_voice_ids(service: VoiceService) -> None:
    with pytest.raises(UnknownVoiceError, match=r"rhvoice-anna.*espeak-ru"):
        service.engine_for("alloy")
    with pytest.raises(UnknownVoiceError, match="of engine espeak"):
        service.engine_for("rhvoice-anna", "espeak")
    with pytest.raises(EngineUnavailableError, match=r"xtts.*not loaded"):
        service.engine_for(None, "xtts")


def test_voices_and_info(service: VoiceService) -> None:
    voices = service.voices()
    assert voices[0].engine == "rhvoice"  # the primary engine's voices first
    assert {"rhvoice-anna", "espeak-ru", "espeak-en"} <= {v.id for v in voices}
    info = service.info()
    assert info["reason"] == "test"
    assert info["queue_depth"] == {"rhvoice": 0, "espeak": 0}
    assert set(info["engines"]) == {"rhvoice", "espeak"}
    assert service.languages == frozenset({"ru"})


# --- Text preparation ------------------------------------------------------------------


def test_long_text_is_normalised_and_chunked(service: VoiceService) -> None:
    assert len(LONG_TEXT) > 500
    chunks = service.prepare_text(LONG_TEXT, "ru")
    assert len(chunks) >= 4
    assert all(len(chunk) <= 120 for chunk in chunks)
    spoken = " ".join(chunks)
    assert not any(ch.isdigit() for ch in spoken)  # "15:00", "1500" spelled out
    assert "пятнадцати" in spoken or "пятнадцать" in spoken


@pytest.mark.parametrize("text", ["", "   \n\t "])
async def test_empty_text_is_rejected(service: VoiceService, text: str) -> None:
    with pytest.raises(InvalidTextError):
        await service.synthesize(text)


async def test_too_long_text_names_the_limit(rhvoice: RHVoiceEngine) -> None:
    service = VoiceService({"rhvoice": rhvoice}, "rhvoice", reason="test", max_chars=100)
    with pytest.raises(TextTooLongError, match="100") as caught:
        await service.synthesize("а" * 101)
    assert caught.value.status_code == 413


async def test_unsupported_language_lists_supported_ones(service: VoiceService) -> None:
    with pytest.raises(UnsupportedLanguageError, match="supported: ru"):
        await service.synthesize("Guten Tag", language="de")
    audio, rate = await service.synthesize("Guten Tag", language="de", engine="espeak")
    assert rate == 22_050 and len(audio) > 0


async def test_unknown_voice_and_bad_speed_are_rejected(service: VoiceService) -> None:
    with pytest.raises(UnknownVoiceError, match="rhvoice-anna"):
        await service.synthesize("Привет", voice="nova")
    with pytest.raises(LidiaError, match="speed") as caught:
        await service.synthesize("Привет", speed=5.0)
    assert caught.value.param == "speed"


async def test_language_codes_with_regions_are_accepted(service: VoiceService) -> None:
    audio, _ = await service.synthesize("Привет", language="ru-RU")
    assert len(audio) > 0


# --- Synthesis -------------------------------------------------------------------------


async def test_synthesize_joins_chunks_with_pauses(
    service: VoiceService, rhvoice: RHVoiceEngine
) -> None:
    chunks = service.prepare_text(LONG_TEXT, "ru")
    alone = [rhvoice.synthesize(chunk, "ru") for chunk in chunks]  # deterministic engine
    pause = round(24_000 * 250 / 1000)

    audio, rate = await service.synthesize(LONG_TEXT)

    assert rate == 24_000 and audio.dtype == np.float32
    assert len(audio) == sum(len(a) for a in alone) + pause * (len(chunks) - 1)
    first_pause = audio[len(alone[0]) : len(alone[0]) + pause]
    assert not first_pause.any()  # real silence between chunks
    assert audio[-pause:].any()  # no pause after the last chunk
    # Click-free edges: each chunk starts and ends faded, the middle is untouched.
    assert abs(audio[0]) < 1e-3
    middle = slice(len(alone[0]) // 2 - 100, len(alone[0]) // 2 + 100)
    assert np.array_equal(audio[middle], alone[0][middle])


async def test_stream_yields_the_same_audio_in_order(service: VoiceService) -> None:
    audio, _ = await service.synthesize(LONG_TEXT)
    pieces = [piece async for piece in service.stream(LONG_TEXT)]
    assert len(pieces) > len(service.prepare_text(LONG_TEXT, "ru"))
    assert all(piece.dtype == np.float32 and len(piece) for piece in pieces)
    assert np.array_equal(np.concatenate(pieces), audio)


async def test_stream_validates_before_iteration(service: VoiceService) -> None:
    with pytest.raises(InvalidTextError):
        service.stream("   ")  # raises at the call, before any response has started


async def test_speed_reaches_the_engine(service: VoiceService) -> None:
    normal, _ = await service.synthesize("Добрый день, чем могу помочь?")
    fast, _ = await service.synthesize("Добрый день, чем могу помочь?", speed=2.0)
    assert len(fast) < 0.6 * len(normal)


# --- The one-at-a-time queue -----------------------------------------------------------


async def watch_depth(
    service: VoiceService, engine: str, tasks: list[asyncio.Task], seen: list[int]
) -> None:
    while not all(task.done() for task in tasks):
        seen.append(service.queue_depth(engine))
        await asyncio.sleep(0.002)


async def test_concurrent_requests_run_one_at_a_time(probed: ProbedEspeak) -> None:
    service = VoiceService({"espeak": probed}, "espeak", reason="test", chunk_chars=60)
    texts = [f"Это проверочная фраза номер {n}. И ещё одно предложение для неё." for n in "123"]

    # Control: called straight from three threads, the probe does see them overlap.
    await asyncio.gather(*(asyncio.to_thread(probed.synthesize, t, "ru") for t in texts))
    assert probed.max_inside > 1
    probed.max_inside = 0

    tasks = [asyncio.create_task(service.synthesize(t)) for t in texts]
    seen: list[int] = []
    await asyncio.gather(watch_depth(service, "espeak", tasks, seen), *tasks)

    assert probed.max_inside == 1
    assert max(seen) == 3
    assert service.queue_depth("espeak") == 0
    assert all(len(task.result()[0]) > 0 for task in tasks)


async def test_concurrent_streams_never_overlap_in_the_engine(probed: ProbedEspeak) -> None:
    service = VoiceService({"espeak": probed}, "espeak", reason="test", chunk_chars=60)
    text = "Первое предложение этого текста. Второе предложение этого текста. Третье."
    alone, _ = await service.synthesize(text)

    async def collect() -> np.ndarray:
        return np.concatenate([piece async for piece in service.stream(text)])

    first, second = await asyncio.gather(collect(), collect())
    assert probed.max_inside == 1
    assert np.array_equal(first, alone) and np.array_equal(second, alone)


async def test_stream_closed_mid_way_frees_the_engine(probed: ProbedEspeak) -> None:
    service = VoiceService({"espeak": probed}, "espeak", reason="test", chunk_chars=60)
    stream = service.stream(LONG_TEXT)
    assert len(await anext(stream)) > 0
    assert service.queue_depth("espeak") == 1
    await stream.aclose()  # the client went away between pieces
    await wait_for_depth(service, "espeak", 0)
    # The engine's own iterators were closed too (the chunk read, and the next one if the
    # look-ahead had started it).
    assert 1 <= probed.streams_opened == probed.streams_closed
    audio, _ = await asyncio.wait_for(service.synthesize("Следующий звонок."), timeout=30)
    assert len(audio) > 0


async def test_stream_cancelled_while_the_engine_works_frees_it(probed: ProbedEspeak) -> None:
    service = VoiceService({"espeak": probed}, "espeak", reason="test", chunk_chars=60)
    first_piece = asyncio.Event()

    async def listen() -> None:
        async for _ in service.stream(LONG_TEXT):
            probed.gate.clear()  # the next piece will stay inside the engine
            first_piece.set()

    listener = asyncio.create_task(listen())
    await first_piece.wait()
    await eventually(lambda: probed.inside == 1)
    listener.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listener

    # The worker thread cannot be stopped: it keeps the engine (and the depth) until it
    # really returns, so the next request waits instead of running the model beside it.
    assert service.queue_depth("espeak") == 1
    next_call = asyncio.create_task(service.synthesize("Следующий звонок."))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not next_call.done() and probed.inside == 1

    probed.gate.set()
    audio, _ = await asyncio.wait_for(next_call, timeout=30)  # a deadlock guard
    assert len(audio) > 0
    assert probed.max_inside == 1
    assert probed.streams_opened == probed.streams_closed  # the abandoned one too
    assert service.queue_depth("espeak") == 0


async def test_cancelled_waiter_leaves_no_depth_behind(probed: ProbedEspeak) -> None:
    service = VoiceService({"espeak": probed}, "espeak", reason="test", chunk_chars=60)
    probed.gate.clear()
    running = asyncio.create_task(service.synthesize(LONG_TEXT))
    waiting = asyncio.create_task(service.synthesize("Жду своей очереди."))
    await eventually(lambda: service.queue_depth("espeak") == 2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert service.queue_depth("espeak") == 1
    probed.gate.set()
    await running
    assert service.queue_depth("espeak") == 0


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds; the timeout guards against deadlocks only."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - state set by worker threads, no event
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout=30)


def test_one_service_serves_one_event_loop_after_another(service: VoiceService) -> None:
    # The app's lifespan, TestClient portals and tests each run their own loop in turn.
    for _ in range(2):
        audio, _ = asyncio.run(service.synthesize("Привет"))
        assert len(audio) > 0


async def wait_for_depth(service: VoiceService, engine: str, depth: int) -> None:
    await eventually(lambda: service.queue_depth(engine) == depth)


async def test_a_stream_nobody_reads_does_not_hold_the_engine(probed: ProbedEspeak) -> None:
    """A client that stops reading its streamed response must not stall other callers."""
    service = VoiceService({"espeak": probed}, "espeak", reason="test", chunk_chars=60)
    stalled = service.stream(LONG_TEXT)
    assert len(await anext(stalled)) > 0  # ... and then the client never reads again
    audio, _ = await asyncio.wait_for(service.synthesize("Следующий звонок."), timeout=30)
    assert len(audio) > 0
    assert probed.max_inside == 1  # still one call at a time inside the engine
    await stalled.aclose()
    await wait_for_depth(service, "espeak", 0)
