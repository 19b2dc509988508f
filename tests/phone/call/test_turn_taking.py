"""The turn-taking policy's decisions (issue 11), on Russian speech voiced by RHVoice.

The real policy, VAD and Smart Turn model judge 8 kHz μ-law audio fed frame by frame
(`tests/support/turn_harness.py`); stream time stands still while they think, so every
decision is deterministic. Only the test that needs words heard uses a real orchestrator
(Whisper base behind `/stt`); the rest run without network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import numpy as np
import pytest

from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.live_server import live_server
from tests.support.turn_harness import NO_ORCHESTRATOR, PolicyCall, policy_context, recorded_call
from tests.support.turn_speech import (
    BOOKING_THURSDAY,
    INTERRUPTION,
    mulaw,
    spoken_8k,
    with_pause,
    word_gap,
)

pytestmark = pytest.mark.slow  # Silero, Smart Turn and RHVoice are real models
RATE = 8000
_sids = count(0x7A00)


def silence(seconds: float) -> bytes:
    return mulaw(np.zeros(int(seconds * RATE), dtype=np.float32))


@pytest.fixture(scope="module")
def voiced(rhvoice: RHVoiceEngine) -> Callable[[str], np.ndarray]:
    cache: dict[str, np.ndarray] = {}
    return lambda text: cache.setdefault(text, spoken_8k(rhvoice, text))


@pytest.fixture(scope="module")
def rhvoice() -> Iterator[RHVoiceEngine]:  # module-wide: synthesised once for every test
    engine = RHVoiceEngine.load()
    yield engine
    engine.close()


def new_sid() -> str:
    return f"CA{next(_sids):032x}"


async def events_of(call: PolicyCall) -> list[str]:
    assert call.call_sid
    return [event.kind for event in await call.ctx.store.events(call.call_sid)]


# ---------------------------------------------------------------- end of turn


async def test_a_complete_sentence_is_answered_once_the_pause_is_confirmed(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    sentence = voiced(BOOKING_THURSDAY)
    async with policy_context(make_settings(tmp_path), NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(sentence) + silence(2.5))
    (turn,) = call.turns()
    assert 0.95 <= turn.vad_wait_s < 1.3  # END_OF_TURN_CONFIRM_MS (1 s), not the 2 s limit
    assert len(turn.utterance) >= sentence.size  # the whole sentence, nothing cut


async def test_without_a_confirming_silence_complete_answers_at_the_first_pause(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    settings = make_settings(tmp_path, end_of_turn_confirm_ms=0)
    async with policy_context(settings, NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(voiced(BOOKING_THURSDAY)) + silence(2.5))
    (turn,) = call.turns()
    assert turn.vad_wait_s < 0.5  # END_OF_TURN_PAUSE_MS and the model's verdict alone


async def test_an_unfinished_sentence_waits_for_the_silence_limit(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    sentence = voiced(BOOKING_THURSDAY)
    first_half = sentence[: word_gap(sentence)]  # «…записаться на | приём…»: P(complete) low
    async with policy_context(make_settings(tmp_path), NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(first_half) + silence(1.5))
        assert call.turns() == []  # 1.5 s of silence: still waiting for the rest
        await call.feed(silence(1.5))
    (turn,) = call.turns()
    assert 1.9 <= turn.vad_wait_s <= 2.2  # END_OF_TURN_MAX_SILENCE_MS (2 s): answered anyway


async def test_speech_resumed_after_a_pause_is_one_utterance(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    paused = with_pause(voiced(BOOKING_THURSDAY), 0.6)
    async with policy_context(make_settings(tmp_path), NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(paused) + silence(2.5))
    (turn,) = call.turns()  # answered once, never on the first half
    assert len(turn.utterance) >= paused.size  # both halves and the pause between them


async def test_a_reply_prepared_in_the_pause_is_dropped_when_the_caller_goes_on(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    # «Запишите меня | к врачу на завтра.»: the first half sounds finished (P≈0.96).
    paused = with_pause(voiced("Запишите меня к врачу на завтра."), 0.6)
    prepared: list[int] = []
    heard: list[int] = []

    async def reply(utterance: bytes, words: str | None, release: object) -> None:
        prepared.append(len(utterance))
        assert release is not None  # prepared speculatively, at the pause
        await release.wait()  # type: ignore[attr-defined]
        heard.append(len(utterance))

    async with policy_context(make_settings(tmp_path), NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx, reply=reply)
        await call.feed(mulaw(paused) + silence(2.5))
    assert len(prepared) == 2 and prepared[0] < paused.size * 0.7  # one on the first half
    (turn,) = call.turns()  # heard once: the whole sentence
    assert heard == [len(turn.utterance)] and len(turn.utterance) >= paused.size
    assert call.turns_started == 1  # the dropped reply left no turn number behind


async def test_the_old_rule_answers_the_first_half_when_the_model_is_off(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    paused = with_pause(voiced(BOOKING_THURSDAY), 0.6)
    settings = make_settings(tmp_path, end_of_turn_model=False)
    async with policy_context(settings, NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(paused) + silence(2.5))
    first = call.turns()[0]  # VAD_MIN_SILENCE_MS (300) of silence ended the turn mid-way
    assert len(first.utterance) < paused.size * 0.7 and 0.25 <= first.vad_wait_s <= 0.45


# ---------------------------------------------------------------- over Лидия's reply


async def test_a_short_backchannel_does_not_stop_lidia(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    settings = make_settings(tmp_path, backchannel_recognition_s=0)  # the model's verdict only
    async with policy_context(settings, NO_ORCHESTRATOR) as ctx:
        call = await recorded_call(ctx, new_sid(), talking=True)
        await call.feed(silence(0.3) + mulaw(voiced("Угу.")) + silence(1.5))
        assert call.decisions == [] and call.talking  # no clear, no turn: she goes on
        assert "backchannel" in await events_of(call)


async def test_long_speech_over_lidia_clears_before_it_ends(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    interruption = voiced(INTERRUPTION)
    async with policy_context(make_settings(tmp_path), NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx, talking=True)
        await call.feed(silence(0.3) + mulaw(interruption) + silence(2.5))
    clear, turn = call.decisions
    assert clear.kind == "clear" and turn.kind == "turn"
    onset = int(0.3 * RATE)
    # BARGE_IN_MIN_SPEECH_MS (450) voiced, plus Silero confirming speech: not its whole length.
    assert clear.position - onset < 0.8 * RATE < interruption.size
    assert len(turn.utterance) >= interruption.size  # the interruption is the next turn, whole


@pytest.fixture(scope="module")
def russian_orchestrator(
    tmp_path_factory: pytest.TempPathFactory,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("orchestrator-stt"), stt_language="ru")
    with live_server(create_orchestrator(settings, stt=russian_stt, tts=fallback_voice)) as url:
        yield url


async def test_a_short_no_is_an_interruption_once_its_word_is_heard(
    tmp_path: Path, voiced: Callable[[str], np.ndarray], russian_orchestrator: str
) -> None:
    # «Нет.» is short and sounds finished (P≈0.99) like «угу»: only its word tells them apart.
    settings = make_settings(tmp_path, backchannel_recognition_s=60.0)  # a loaded CI box
    async with policy_context(settings, russian_orchestrator) as ctx:
        backchannel = await recorded_call(ctx, new_sid(), talking=True)
        await backchannel.feed(silence(0.3) + mulaw(voiced("Ага.")) + silence(1.0))
        no = await recorded_call(ctx, new_sid(), talking=True)
        await no.feed(silence(0.3) + mulaw(voiced("Нет.")) + silence(1.5))  # + CONFIRM_MS
        assert backchannel.decisions == [] and "backchannel" in await events_of(backchannel)
        assert no.kinds() == ["clear", "turn"] and "backchannel" not in await events_of(no)


async def test_fragments_a_short_gap_apart_count_together_as_an_interruption(
    tmp_path: Path, voiced: Callable[[str], np.ndarray]
) -> None:
    # «Нет, … я хотела спросить про субботу»: a short «Нет», a breath, then the rest.
    no, rest = voiced("Нет."), voiced("Я хотела спросить про субботу.")
    settings = make_settings(tmp_path, backchannel_recognition_s=0)
    async with policy_context(settings, NO_ORCHESTRATOR) as ctx:
        call = PolicyCall(ctx, talking=True)
        await call.feed(silence(0.3) + mulaw(no) + silence(0.25) + mulaw(rest) + silence(2.5))
    assert call.kinds()[0] == "clear"
    rest_onset = int(0.3 * RATE) + no.size + int(0.25 * RATE)
    # «Нет»'s voiced time counts: the rest alone would need BARGE_IN_MIN_SPEECH_MS (450).
    assert call.decisions[0].position - rest_onset < 0.45 * RATE


async def test_words_recognised_in_the_pause_go_with_the_turn(
    tmp_path: Path, voiced: Callable[[str], np.ndarray], russian_orchestrator: str
) -> None:
    paused = with_pause(voiced(BOOKING_THURSDAY), 0.6)
    async with policy_context(make_settings(tmp_path), russian_orchestrator) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(paused) + silence(2.0))
        assert call.turn_task is not None
        await call.turn_task  # it waits for the words recognised in the pause
    (turn,) = call.turns()
    # The turn carries the whole sentence's words, recognised in the last pause (the first
    # half sounded unfinished: P≈0.02, so nothing was recognised there).
    assert turn.transcript is not None
    words = turn.transcript.lower()
    assert "здравствуйте" in words and "четверг" in words, turn.transcript


async def test_without_speculative_recognition_the_turn_sends_its_audio(
    tmp_path: Path, voiced: Callable[[str], np.ndarray], russian_orchestrator: str
) -> None:
    settings = make_settings(tmp_path, end_of_turn_speculative_stt=False)
    async with policy_context(settings, russian_orchestrator) as ctx:
        call = PolicyCall(ctx)
        await call.feed(mulaw(voiced(BOOKING_THURSDAY)) + silence(2.0))
    (turn,) = call.turns()
    assert turn.transcript is None
