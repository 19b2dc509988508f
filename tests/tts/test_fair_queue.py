"""Fair sharing of one engine between concurrent callers (issue 14), with real espeak-ng.

Three callers speak at once: the engine must take their streamed pieces in turn, so
nobody's first audio waits behind another caller's whole sentence, let alone reply; a new
turn's first piece jumps the rotation; a caller who hangs up stops the engine's work for
it after the piece in the engine. Whole syntheses take turns sentence by sentence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from lidia.tts.engines.espeak import EspeakEngine
from lidia.tts.service import VoiceService
from tests.support.recording_engine import EngineEvent, RecordingEngine

REPLIES = {
    "анна": "Анна слушает вас внимательно. Анна записала ваш вопрос. Анна перезвонит завтра.",
    "борис": "Борис уточняет расписание врача. Борис нашёл свободное окно. Борис ждёт ответа.",
    "вера": "Вера проверяет вашу заявку сейчас. Вера видит оплату счёта. Вера желает удачи.",
}


@pytest.fixture
def engine(espeak: EspeakEngine) -> Iterator[RecordingEngine]:
    recording = RecordingEngine(espeak, delay_s=0.01)
    yield recording
    recording.gate.set()


@pytest.fixture
def service(engine: RecordingEngine) -> VoiceService:
    return VoiceService({"espeak": engine}, "espeak", reason="test", chunk_chars=40)


def caller_of(text: str) -> str:
    """Whose sentence a chunk is: every sentence starts with its caller's name."""
    return text.split()[0].lower()


def pieces_by(engine: RecordingEngine) -> list[str]:
    """Whose pieces the engine made, in order."""
    return [caller_of(event.text) for event in engine.events if event.kind == "piece"]


def after_the_held_piece(engine: RecordingEngine, held_at: int) -> list[EngineEvent]:
    """The engine's events once the piece held in it (by the gate) at `held_at` is done."""
    after = engine.events[held_at:]
    return after[1:] if after and after[0].kind == "piece" else after


async def collect(service: VoiceService, text: str, **kwargs: object) -> np.ndarray:
    return np.concatenate([piece async for piece in service.stream(text, **kwargs)])


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds; the timeout guards against deadlocks only."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - state set by worker threads, no event
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout=30)


async def test_three_streams_take_turns_piece_by_piece(
    service: VoiceService, engine: RecordingEngine
) -> None:
    for text in REPLIES.values():
        assert len(service.prepare_text(text, "ru")) == 3  # one chunk per sentence

    spoken = await asyncio.gather(*(collect(service, text) for text in REPLIES.values()))

    # Round-robin piece by piece: no caller waits for another's whole sentence.
    assert pieces_by(engine) == ["анна", "борис", "вера"] * 3 * engine.pieces_per_chunk
    assert [caller_of(text) for text in engine.started()] == ["анна", "борис", "вера"] * 3
    assert engine.max_inside == 1  # still one call at a time inside the engine
    for audio, text in zip(spoken, REPLIES.values(), strict=True):
        alone, _ = await service.synthesize(text)
        assert np.array_equal(audio, alone)  # sharing changes the timing, never the audio
    assert service.queue_depth("espeak") == 0


async def test_whole_utterances_also_take_turns(
    service: VoiceService, engine: RecordingEngine
) -> None:
    await asyncio.gather(*(service.synthesize(text) for text in REPLIES.values()))
    order = [caller_of(text) for text in engine.started()]
    assert order == ["анна", "борис", "вера"] * 3


async def hold_the_engine_mid_reply(service: VoiceService, engine: RecordingEngine):
    """Анна and Борис speaking, both past their first piece; the engine then held on
    whichever piece comes next. Returns their tasks."""
    anna = asyncio.create_task(collect(service, REPLIES["анна"]))
    boris = asyncio.create_task(collect(service, REPLIES["борис"]))
    await eventually(lambda: pieces_by(engine)[:3] == ["анна", "борис", "анна"])
    engine.gate.clear()
    await eventually(lambda: engine.inside == 1)
    return anna, boris


async def test_a_new_turns_first_piece_jumps_the_rotation(
    service: VoiceService, engine: RecordingEngine
) -> None:
    anna, boris = await hold_the_engine_mid_reply(service, engine)
    vera = asyncio.create_task(collect(service, "Вера на линии, здравствуйте."))
    await eventually(lambda: service.queue_depth("espeak") == 3)
    held_at = len(engine.events)
    engine.gate.set()
    await asyncio.gather(anna, boris, vera)

    # Вера, a new turn, starts right after the piece that was in the engine.
    first = after_the_held_piece(engine, held_at)[0]
    assert (first.kind, caller_of(first.text)) == ("start", "вера")
    assert sorted(pieces_by(engine)) == sorted(["анна"] * 9 + ["борис"] * 9 + ["вера"] * 3)


async def test_without_priority_a_new_stream_queues_behind_the_rotation(
    service: VoiceService, engine: RecordingEngine
) -> None:
    anna, boris = await hold_the_engine_mid_reply(service, engine)
    later = "Вера продолжает свой ответ."
    vera = asyncio.create_task(collect(service, later, first_chunk_priority=False))
    await eventually(lambda: service.queue_depth("espeak") == 3)
    held_at = len(engine.events)
    engine.gate.set()
    await asyncio.gather(anna, boris, vera)

    # The other caller, already waiting, takes one step; then Вера; then the held one.
    held_by = caller_of(engine.events[held_at].text)  # the held piece is logged first
    after = after_the_held_piece(engine, held_at)
    vera_starts = next(i for i, e in enumerate(after) if caller_of(e.text) == "вера")
    before_vera = after[:vera_starts]
    assert before_vera and {caller_of(e.text) for e in before_vera} == (
        {"анна", "борис"} - {held_by}
    )
    assert len([e for e in before_vera if e.kind == "piece"]) <= 1


async def test_a_caller_who_hangs_up_stops_the_engine_within_one_piece(
    service: VoiceService, engine: RecordingEngine
) -> None:
    long_reply = " ".join(
        f"Анна говорит предложение номер {n}."
        for n in ("один", "два", "три", "четыре", "пять", "шесть")
    )
    got_audio = asyncio.Event()

    async def anna_listens() -> None:
        async for _ in service.stream(long_reply):
            got_audio.set()

    anna = asyncio.create_task(anna_listens())
    boris = asyncio.create_task(collect(service, REPLIES["борис"]))
    await got_audio.wait()
    engine.gate.clear()  # whatever enters the engine next stays there
    await eventually(lambda: engine.inside == 1)
    anna.cancel()  # the caller hung up (or barged in)
    with pytest.raises(asyncio.CancelledError):
        await anna
    seen = len(engine.events)
    assert service.queue_depth("espeak") >= 1  # Борис, and Анна while her piece runs
    engine.gate.set()
    boris_audio = await asyncio.wait_for(boris, timeout=30)
    await eventually(lambda: service.queue_depth("espeak") == 0)

    after = [e for e in engine.events[seen:] if caller_of(e.text) == "анна"]
    assert [e for e in after if e.kind == "start"] == []  # no new sentence for her
    assert len([e for e in after if e.kind == "piece"]) <= 1  # only the piece in the engine
    anna_started = [e for e in engine.events if e.kind == "start" and caller_of(e.text) == "анна"]
    anna_closed = [e for e in engine.events if e.kind == "closed" and caller_of(e.text) == "анна"]
    assert len(anna_started) < 6 and len(anna_closed) == len(anna_started)
    alone, _ = await service.synthesize(REPLIES["борис"])
    assert np.array_equal(boris_audio, alone)
