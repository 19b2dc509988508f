"""Re-reading the caller's audio around the VAD's cut: no word lost at a turn's edges.

The VAD decides where an utterance starts and ends from Silero's probability, and Silero
rates a weak first syllable («С-колько»), a trailing «-ов» or a quiet, far-away voice low
(0.1-0.4 per window on 8 kHz μ-law): the turn's audio can begin after the first word has
begun, or end before the last one is over. Whisper then hears «…анальна ячистка» for
«…профессиональная чистка». The call keeps every caller byte (`session.inbound`), so a turn
whose edge still has speech energy in it is widened from that recording: back to where the
sound began, forward to where it ended (as far as has been received), a short pad beyond.

Speech energy is judged against the line's own noise floor (the quiet 10 % of 10 ms frames
around the turn), so a loud line and a quiet caller are judged alike: a frame at least
`SPEECH_OVER_FLOOR_DB` over the floor is speech. Short dips (a stop consonant's closure, up to
`GAP_MS`) do not end the sound. Pure numpy on a few seconds of audio: ~1 ms, on the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_to_pcm

FRAME = MULAW_SAMPLE_RATE // 100  # 10 ms
SPEECH_OVER_FLOOR_DB = 9.0  # a frame this far over the noise floor is sound, not line hiss
MIN_SPEECH_DB = -60.0  # quieter than this is never speech (digital silence, comfort noise)
FLOOR_PERCENTILE = 10
CONTEXT_S = 8.0  # the noise floor is measured over this much audio before the turn
GAP_MS = 150  # a dip shorter than this inside the sound does not end it
PAD_MS = 100  # kept beyond the last frame of sound: a faint fricative, the release of a word
MIN_SPEECH_MS = 120  # `holds_speech`: at least this much sound (a click is not a word)


@dataclass(frozen=True)
class Reach:
    """How far a turn may be widened at each edge (ms)."""

    before_ms: int = 1000
    after_ms: int = 600


DEFAULT_REACH = Reach()


def levels_db(mulaw: bytes) -> np.ndarray:
    """The level of each whole 10 ms frame, dBFS."""
    samples = mulaw_to_pcm(mulaw)
    frames = samples[: samples.size // FRAME * FRAME].reshape(-1, FRAME)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def speech_frames(levels: np.ndarray) -> np.ndarray:
    """Which frames are sound over the line's noise floor."""
    if levels.size == 0:
        return np.zeros(0, dtype=bool)
    floor = float(np.percentile(levels, FLOOR_PERCENTILE))
    return (levels >= floor + SPEECH_OVER_FLOOR_DB) & (levels >= MIN_SPEECH_DB)


def widened(
    inbound: bytes | bytearray,
    start: int,
    end: int,
    *,
    not_before: int = 0,
    reach: Reach = DEFAULT_REACH,
) -> tuple[int, int]:
    """The span `[start, end)` of the caller's recording, widened over sound at its edges.

    `not_before`: where the previous turn's audio ended (never re-read twice). The end never
    passes what has been received. Without sound at an edge, that edge stays where it is.
    """
    start, end = max(start, not_before, 0), min(end, len(inbound))
    if end <= start:
        return start, end
    lo = max(not_before, start - ms_samples(reach.before_ms), 0)
    context_lo = max(0, start - int(CONTEXT_S * MULAW_SAMPLE_RATE))
    hi = min(len(inbound), end + ms_samples(reach.after_ms))
    levels = levels_db(bytes(inbound[context_lo:hi]))
    sound = speech_frames(levels)
    first, last = (start - context_lo) // FRAME, (end - context_lo) // FRAME
    limit_lo = -(-(lo - context_lo) // FRAME)  # the first whole frame at or after `lo`
    new_first = _reach_back(sound, first, limit_lo)
    new_last = _reach_forward(sound, last - 1, sound.size - 1)
    new_start, new_end = start, end
    if new_first < first:
        new_start = max(lo, context_lo + new_first * FRAME - ms_samples(PAD_MS))
    if new_last >= last:
        new_end = min(hi, context_lo + (new_last + 1) * FRAME + ms_samples(PAD_MS))
    return new_start, max(new_end, end)


def holds_speech(inbound: bytes | bytearray, start: int = 0, end: int | None = None) -> bool:
    """Whether the recording holds sound (not a click) in `[start, end)`."""
    return speech_span(inbound, start, end) is not None


def speech_span(
    inbound: bytes | bytearray, start: int = 0, end: int | None = None
) -> tuple[int, int] | None:
    """From the first to the last sound in `[start, end)` (padded), or None without any.

    The noise floor is measured over the whole range: a range of speech alone has none,
    so the caller's whole recording (or a turn with the silence around it) is what to pass.
    """
    end = len(inbound) if end is None else min(end, len(inbound))
    if end - start < FRAME:
        return None
    sound = _without_clicks(speech_frames(levels_db(bytes(inbound[start:end]))))
    voiced = np.flatnonzero(sound)
    if voiced.size == 0:
        return None
    first = max(start, start + int(voiced[0]) * FRAME - ms_samples(PAD_MS))
    last = min(end, start + (int(voiced[-1]) + 1) * FRAME + ms_samples(PAD_MS))
    return first, last


def ms_samples(ms: int) -> int:
    return ms * MULAW_SAMPLE_RATE // 1000


def _reach_back(sound: np.ndarray, first: int, limit: int) -> int:
    """The earliest frame of sound joined to frame `first` (gaps under `GAP_MS` allowed)."""
    gap_frames = GAP_MS // 10
    earliest, gap = first, 0
    index = first
    if not _near(sound, first, gap_frames, forward=True):
        return first  # the edge is not in sound: nothing was cut
    while index - 1 >= limit:
        index -= 1
        if sound[index]:
            earliest, gap = index, 0
        else:
            gap += 1
            if gap > gap_frames:
                break
    return earliest


def _reach_forward(sound: np.ndarray, last: int, limit: int) -> int:
    """The latest frame of sound joined to frame `last` (gaps under `GAP_MS` allowed)."""
    gap_frames = GAP_MS // 10
    if last < 0 or not _near(sound, last, gap_frames, forward=False):
        return last
    latest, gap = last, 0
    index = last
    while index + 1 <= limit:
        index += 1
        if sound[index]:
            latest, gap = index, 0
        else:
            gap += 1
            if gap > gap_frames:
                break
    return latest


def _near(sound: np.ndarray, index: int, frames: int, *, forward: bool) -> bool:
    """Sound within `frames` of the edge, inside the turn (an edge just before a word)."""
    if forward:
        return bool(sound[max(index, 0) : index + 1 + frames].any())
    return bool(sound[max(index - frames, 0) : index + 1].any())


def _without_clicks(sound: np.ndarray) -> np.ndarray:
    """Runs of sound shorter than `MIN_SPEECH_MS` (gaps under `GAP_MS` joined) removed."""
    gap_frames, min_frames = GAP_MS // 10, MIN_SPEECH_MS // 10
    kept = np.zeros_like(sound)
    voiced = np.flatnonzero(sound)
    if voiced.size == 0:
        return kept
    breaks = np.flatnonzero(np.diff(voiced) > gap_frames + 1)
    run_starts = np.concatenate([[0], breaks + 1])
    run_ends = np.concatenate([breaks, [voiced.size - 1]])
    for first, last in zip(run_starts, run_ends, strict=True):
        a, b = int(voiced[first]), int(voiced[last])
        if int(sound[a : b + 1].sum()) >= min_frames:
            kept[a : b + 1] = sound[a : b + 1]
    return kept
