"""Chunk edges and pauses: the streamed fade is sample-exact with the whole-chunk fade."""

from __future__ import annotations

import numpy as np
import pytest

from lidia.audio.dsp import StreamFader, fade_edges, fade_samples, join_with_pauses, pause


def tone(n: int) -> np.ndarray:
    return (0.5 * np.sin(np.arange(n) * 0.07)).astype(np.float32)


@pytest.mark.parametrize("sizes", [[1000], [3, 5, 900, 1, 91], [120, 0, 880], [7] * 143])
def test_streamed_fade_equals_the_whole_chunk_fade(sizes: list[int]) -> None:
    audio = tone(sum(sizes))
    n = fade_samples(24_000)
    fader = StreamFader(n)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(fader.push(audio[start : start + size]))
        start += size
    pieces.append(fader.finish())
    np.testing.assert_array_equal(np.concatenate(pieces), fade_edges(audio, n))


def test_a_fader_is_ready_for_the_next_chunk_after_finish() -> None:
    fader = StreamFader(10)
    first = np.concatenate([fader.push(tone(300)), fader.finish()])
    second = np.concatenate([fader.push(tone(300)), fader.finish()])
    np.testing.assert_array_equal(first, second)


def test_fades_touch_only_the_edges() -> None:
    audio = tone(1000)
    faded = fade_edges(audio, 120)
    assert abs(faded[0]) < abs(audio[1]) and faded[-1] == pytest.approx(0, abs=0.01)
    np.testing.assert_array_equal(faded[120:-120], audio[120:-120])
    assert len(fade_edges(audio[:5], 120)) == 5  # shorter than two fades: still fine


def test_join_puts_pauses_between_parts_only() -> None:
    gap = pause(1000, 250)
    assert len(gap) == 250 and not gap.any()
    joined = join_with_pauses([tone(10), tone(20), tone(30)], gap)
    assert len(joined) == 60 + 2 * 250
    assert len(join_with_pauses([], gap)) == 0
