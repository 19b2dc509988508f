"""Two callers share one XTTS model (issue 14): the queue grants it piece by piece.

The tiny random checkpoint, loaded through the production path, speaks one Russian
sentence per caller. Sharing must interleave their pieces (Борис hears his first audio
before Анна's sentence is done), shrink the first piece while the model is shared, and
never change what either caller hears.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lidia.tts.engines.xtts import XttsEngine
from lidia.tts.service import VoiceService

SENTENCES = {
    "анна": "Добрый день, вы позвонили в компанию «Ромашка».",
    "борис": "Оставьте, пожалуйста, ваш номер телефона.",
}


@pytest.fixture(scope="module")
def voice(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VoiceService]:
    # A near-zero temperature makes sampling deterministic: the shared torch RNG, drawn
    # in another order when streams take turns, cannot change the tokens.
    engine = XttsEngine.load(
        tiny_checkpoint,
        voice_clips,
        device="cpu",
        cache_dir=tmp_path_factory.mktemp("fairness_cache"),
        temperature=1e-4,
    )
    service = VoiceService({"xtts": engine}, "xtts", reason="test")
    yield service
    service.close()


async def listen(voice: VoiceService, caller: str, heard: list[str]) -> list[np.ndarray]:
    """One caller's pieces; `heard` records, across callers, whose piece came when."""
    pieces = []
    async for piece in voice.stream(SENTENCES[caller], language="ru"):
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
