"""Callers share one XTTS model (issue 14): the queue grants it piece by piece.

The tiny random checkpoint, loaded through the production path, speaks one Russian
sentence per caller. Sharing must interleave their pieces (Борис hears his first audio
before Анна's sentence is done), shrink the first piece while the model is shared, put
every new turn's first piece before any later piece, free the model within one piece of
a hang-up, and never change what any caller hears.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lidia.tts.engines.xtts import XttsEngine
from lidia.tts.service import VoiceService

SENTENCES = {
    "анна": "Добрый день, вы позвонили в компанию «Ромашка».",
    "борис": "Оставьте, пожалуйста, ваш номер телефона.",
}
CALLERS = {
    **SENTENCES,
    "вера": "Вера на линии, здравствуйте.",
    "глеб": "Глеб перезвонит вам завтра утром.",
}
REPLY = "Директор сейчас на совещании. Я передам ему ваше сообщение сегодня."


def load_calm(checkpoint: Path, clips: list[Path], cache: Path, **options: Any) -> XttsEngine:
    # A near-zero temperature makes sampling deterministic: the shared torch RNG, drawn
    # in another order when streams take turns, cannot change the tokens.
    return XttsEngine.load(
        checkpoint, clips, device="cpu", cache_dir=cache, temperature=1e-4, **options
    )


@pytest.fixture(scope="module")
def voice(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VoiceService]:
    engine = load_calm(tiny_checkpoint, voice_clips, tmp_path_factory.mktemp("fairness_cache"))
    service = VoiceService({"xtts": engine}, "xtts", reason="test")
    yield service
    service.close()


class CountedStream(Iterator[np.ndarray]):
    """An XTTS stream whose pieces are counted as the engine makes them."""

    def __init__(self, inner: Any, made: Counter[str], text: str) -> None:
        self._inner, self._made, self._text = inner, made, text

    def __next__(self) -> np.ndarray:
        piece = next(self._inner)
        self._made[self._text] += 1
        return piece

    def close(self) -> None:
        self._inner.close()

    def start_small(self) -> None:
        self._inner.start_small()


class CountingXtts:
    """The real XTTS engine, every call passed on, counting each sentence's pieces."""

    def __init__(self, engine: XttsEngine) -> None:
        self.engine = engine
        self.name, self.sample_rate = engine.name, engine.sample_rate
        self.made: Counter[str] = Counter()

    @property
    def languages(self) -> frozenset[str]:
        return self.engine.languages

    def voices(self) -> Any:
        return self.engine.voices()

    def info(self) -> dict:
        return self.engine.info()

    def synthesize(self, text: str, language: str, **kwargs: Any) -> np.ndarray:
        return self.engine.synthesize(text, language, **kwargs)

    def synthesize_stream(self, text: str, language: str, **kwargs: Any) -> CountedStream:
        return CountedStream(
            self.engine.synthesize_stream(text, language, **kwargs), self.made, text
        )


@pytest.fixture(scope="module")
def counting(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> CountingXtts:
    # Pieces of 4, 8, 16, 16 … tokens: several pieces per sentence.
    cache = tmp_path_factory.mktemp("counting_cache")
    return CountingXtts(load_calm(tiny_checkpoint, voice_clips, cache, stream_chunk_size=4))


@pytest.fixture
def fine_voice(counting: CountingXtts) -> Iterator[VoiceService]:
    counting.made.clear()
    service = VoiceService({"xtts": counting}, "xtts", reason="test", chunk_chars=40)
    yield service
    service.close()


async def idle(voice: VoiceService) -> None:
    """Wait until nobody holds the model (a finished producer lets go a moment after its
    reader); the timeout guards against a leak only."""

    async def poll() -> None:
        while voice.queue_depth("xtts"):  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout=30)


async def listen(voice: VoiceService, caller: str, heard: list[str]) -> list[np.ndarray]:
    """One caller's pieces; `heard` records, across callers, whose piece came when."""
    pieces = []
    async for piece in voice.stream(CALLERS[caller], language="ru"):
        heard.append(caller)
        pieces.append(piece)
    return pieces


async def test_two_streams_interleave_pieces_and_keep_their_audio(voice: VoiceService) -> None:
    alone = {caller: await listen(voice, caller, []) for caller in SENTENCES}
    assert all(len(pieces) >= 2 for pieces in alone.values())  # several pieces each

    heard: list[str] = []
    together = dict(
        zip(
            SENTENCES,
            await asyncio.gather(*(listen(voice, caller, heard) for caller in SENTENCES)),
            strict=True,
        )
    )

    # Piece by piece, in turns: not Анна's whole sentence, then Борис's.
    assert heard[:4] == ["анна", "борис", "анна", "борис"]
    for caller, pieces in together.items():
        # Shared, the first piece is small, so both callers hear something early ...
        assert len(pieces[0]) < len(alone[caller][0]) / 2
        # ... and the audio is the same as when speaking alone.
        np.testing.assert_allclose(np.concatenate(pieces), np.concatenate(alone[caller]), atol=1e-4)
    assert voice.queue_depth("xtts") == 0


async def test_four_turns_at_once_all_speak_before_anyone_says_more(voice: VoiceService) -> None:
    alone = {caller: await listen(voice, caller, []) for caller in CALLERS}

    heard: list[str] = []
    together = dict(
        zip(
            CALLERS,
            await asyncio.gather(*(listen(voice, caller, heard) for caller in CALLERS)),
            strict=True,
        )
    )

    # Every turn's (small) first piece before any turn's second one, then in turns.
    assert heard[:4] == list(CALLERS)
    assert heard[4:8] == list(CALLERS)
    for caller, pieces in together.items():
        assert len(pieces[0]) < len(alone[caller][0]) / 2
        np.testing.assert_allclose(np.concatenate(pieces), np.concatenate(alone[caller]), atol=1e-4)
    assert voice.queue_depth("xtts") == 0


async def test_a_new_turn_speaks_before_an_older_turns_third_piece(
    fine_voice: VoiceService,
) -> None:
    heard: list[str] = []
    vera: asyncio.Task[list[np.ndarray]] | None = None
    async for _piece in fine_voice.stream(CALLERS["анна"], language="ru"):
        heard.append("анна")
        if vera is None:  # Анна speaks; Вера's call is answered now
            vera = asyncio.create_task(listen(fine_voice, "вера", heard))
    assert vera is not None
    await vera
    assert heard.count("анна") >= 4
    # The piece in the engine when Вера came, if any, and then Вера, before Анна goes on.
    assert heard.index("вера") <= 2


async def test_a_hang_up_frees_the_model_within_one_piece(
    fine_voice: VoiceService, counting: CountingXtts
) -> None:
    first, second = fine_voice.prepare_text(REPLY, "ru")
    stream = fine_voice.stream(REPLY, language="ru")
    async for _piece in stream:  # Анна hears her first audio, then hangs up
        break
    made_when_heard = counting.made[first]
    await stream.aclose()
    # Борис, calling now, speaks his whole sentence on the freed model.
    boris = await listen(fine_voice, "борис", [])
    assert len(np.concatenate(boris)) > 0
    await idle(fine_voice)
    # The engine finished at most the piece it was making for Анна; no new sentence.
    assert counting.made[first] <= made_when_heard + 1
    assert counting.made[second] == 0
