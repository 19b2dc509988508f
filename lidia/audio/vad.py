"""Streaming voice activity detection for phone calls (Silero VAD v6, ONNX).

Uses the Silero model that faster-whisper ships (`faster_whisper/assets/silero_vad_v6.onnx`),
run through onnxruntime one 32 ms window at a time. That model takes 16 kHz audio only
(512 new samples + 64 samples of context per window, LSTM state `h`/`c` of 1x1x128), so the
8 kHz phone audio is upsampled incrementally first.

`StreamingVad` is per call (it holds the LSTM state); the ONNX session is shared and loaded
once per process. One window costs well under a millisecond on CPU, so `feed()` may run on
the event loop for a 20 ms Media Streams frame.

Turn-taking rules (like Silero's own `VADIterator`, but online), with hysteresis:
- speech starts when windows at or above `threshold` have lasted `min_speech_ms`; with
  `energy_start_db`, a window at or above `keep_threshold` that is that much louder than the
  line's noise floor counts too. Silero rates a quiet or far-away phone voice 0.3-0.6 per
  window, so one threshold at 0.5 hears the same sentence one time and misses it the next;
  the level over the noise floor tells a quiet voice from line hiss, which Silero rates ~0.05;
- it ends once the probability stays under `keep_threshold` for `min_silence_ms`
  (200-300 ms suits a phone conversation; faster-whisper's default 2 s would feel dead);
  a window at `min(threshold, keep_threshold + 0.15)` or above (or a loud one at
  `keep_threshold`) is speech again.
`keep_threshold=None, energy_start_db=0` is the old single-threshold rule (`threshold - 0.15`
to keep, `threshold` alone to start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime
import soxr

from lidia.audio.onnx import shared_session

PHONE_RATE = 8000
MODEL_RATE = 16000
WINDOW = 512  # model samples per window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each input
WINDOW_8K = WINDOW * PHONE_RATE // MODEL_RATE  # 256 phone samples per window
WINDOW_MS = WINDOW * 1000 // MODEL_RATE  # 32
HEARING_MS = 100  # `hearing`: a window at the lower threshold this recently
OLD_KEEP_GAP = 0.15  # the old rule (and Silero's iterator): keep = threshold - 0.15
SILENT_DB = -90.0  # the level of digital silence (log of zero)
FLOOR_RISE_DB = 0.03  # per window (~1 dB/s): the noise floor follows a line getting noisier


def silero_model_path() -> Path:
    """The Silero VAD v6 ONNX file inside the installed faster-whisper package."""
    import faster_whisper

    path = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
    if not path.is_file():
        raise RuntimeError(f"Silero VAD model missing from faster-whisper: {path}")
    return path


def load_session(path: Path | None = None) -> onnxruntime.InferenceSession:
    """The shared ONNX session (loaded on first use; ~20 ms). Thread-safe."""
    return shared_session(path or silero_model_path())


@dataclass(frozen=True)
class VadEvent:
    """`sample` counts 8 kHz samples from the start of the stream (padding applied).

    For `speech_end`, `voiced_end` is where the last voiced window ended (no padding):
    the moment the caller actually stopped talking; `decided` is the stream position at
    which the VAD made up its mind (`decided - voiced_end` is the end-of-speech wait).
    """

    kind: Literal["speech_start", "speech_end"]
    sample: int
    voiced_end: int = 0
    decided: int = 0
    voiced_start: int = 0  # speech_start: the first voiced window (no pre-roll)


class StreamingVad:
    """Online speech start/end detection over 8 kHz mono float32 audio. Not thread-safe."""

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        keep_threshold: float | None = None,
        energy_start_db: float = 0.0,
        min_silence_ms: int = 250,
        min_speech_ms: int = 150,
        speech_pad_ms: int = 100,
        pre_roll_ms: int = 500,
        max_speech_s: float | None = None,
        model_path: Path | None = None,
    ) -> None:
        self.threshold = threshold
        keep = threshold - OLD_KEEP_GAP if keep_threshold is None else keep_threshold
        self.neg_threshold = max(min(keep, threshold), 0.01)  # under it: silence
        self.resume_threshold = min(threshold, self.neg_threshold + OLD_KEEP_GAP)
        self.energy_start_db = energy_start_db
        self.noise_floor_db: float | None = None  # the line's level between words
        self._loud = False  # the last window stood `energy_start_db` over the noise floor
        self.min_silence = PHONE_RATE * min_silence_ms // 1000
        self.min_speech = PHONE_RATE * min_speech_ms // 1000
        self.pad = PHONE_RATE * speech_pad_ms // 1000
        # Silero confirms speech on 8 kHz μ-law 200-300 ms after it begins: an utterance
        # starts this long before that point, or its first syllables are lost. It costs no
        # latency (the end of speech is padded by `pad` alone).
        self.pre_roll = max(self.pad, PHONE_RATE * pre_roll_ms // 1000)
        self.max_speech = int(max_speech_s * PHONE_RATE) if max_speech_s else None
        self._session = load_session(model_path)
        self._upsampler = soxr.ResampleStream(
            PHONE_RATE, MODEL_RATE, 1, dtype="float32", quality="LQ"
        )
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._position = 0  # phone samples already judged
        self._candidate: int | None = None  # start of voiced run not yet confirmed
        self._speech_start: int | None = None
        self._silence_start: int | None = None
        self.last_probability = 0.0
        self._maybe_voiced_until = -(1 << 30)  # end of the last window at `neg_threshold`+

    @property
    def in_speech(self) -> bool:
        return self._speech_start is not None

    @property
    def position(self) -> int:
        """Phone samples judged so far (the stream time the VAD has reached)."""
        return self._position

    @property
    def hearing(self) -> bool:
        """Something like speech was just heard (within `HEARING_MS`), even below `threshold`:
        speech may be starting. Silero rates some phone-line syllables 0.3-0.5 for a while."""
        if self._candidate is not None or (self.in_speech and self._silence_start is None):
            return True
        return self._position - self._maybe_voiced_until <= PHONE_RATE * HEARING_MS // 1000

    def voiced_run(self) -> int:
        """Samples of the utterance voiced so far while it is still voiced; 0 otherwise."""
        if self._speech_start is None or self._silence_start is not None:
            return 0
        return self._position - self._speech_start

    def feed(self, samples_8k: np.ndarray) -> list[VadEvent]:
        """Judge new 8 kHz audio; returns the events it completes (often none)."""
        upsampled = self._upsampler.resample_chunk(np.asarray(samples_8k, dtype=np.float32))
        self._buffer = np.concatenate([self._buffer, upsampled])
        events: list[VadEvent] = []
        while self._buffer.size >= WINDOW:
            window, self._buffer = self._buffer[:WINDOW], self._buffer[WINDOW:]
            probability = self._probability(window)
            self._judge_level(window)
            start = self._position
            self._position += WINDOW_8K
            if probability >= self.neg_threshold:
                self._maybe_voiced_until = self._position
            if event := self._step(probability, start, self._position):
                events.append(event)
        return events

    def flush(self) -> list[VadEvent]:
        """End an open utterance (the stream stopped while the caller was speaking)."""
        if self._speech_start is None:
            return []
        end = self._silence_start if self._silence_start is not None else self._position
        self._reset_speech()
        return [VadEvent("speech_end", end, voiced_end=end, decided=self._position)]

    def _probability(self, window: np.ndarray) -> float:
        model_input = np.concatenate([self._context, window])[np.newaxis, :]
        self._context = window[-CONTEXT:]
        output, self._h, self._c = self._session.run(
            None, {"input": model_input, "h": self._h, "c": self._c}
        )
        self.last_probability = float(np.asarray(output).reshape(-1)[0])
        return self.last_probability

    def _judge_level(self, window: np.ndarray) -> None:
        """Track the noise floor (fast down, slowly up) and whether this window is loud."""
        rms = float(np.sqrt(np.mean(np.square(window))))
        level = 20 * np.log10(rms) if rms > 0 else SILENT_DB
        floor = self.noise_floor_db
        if floor is None or level < floor:
            self.noise_floor_db = level
        else:
            self.noise_floor_db = floor + FLOOR_RISE_DB
        self._loud = bool(self.energy_start_db) and (
            level >= (floor if floor is not None else level) + self.energy_start_db
        )

    def _starts(self, probability: float) -> bool:
        """The window counts toward a speech start."""
        if probability >= self.threshold:
            return True
        return self._loud and probability >= self.neg_threshold

    def _keeps(self, probability: float) -> bool:
        """The window is speech again after a moment under `neg_threshold`."""
        if probability >= self.resume_threshold:
            return True
        return self._loud and probability >= self.neg_threshold

    def _step(self, probability: float, start: int, end: int) -> VadEvent | None:
        if self._speech_start is None:
            return self._step_idle(probability, start, end)
        return self._step_speaking(probability, start, end)

    def _step_idle(self, probability: float, start: int, end: int) -> VadEvent | None:
        if self._starts(probability):
            if self._candidate is None:
                self._candidate = start
            if end - self._candidate >= max(self.min_speech, WINDOW_8K):
                self._speech_start = self._candidate
                self._candidate = None
                return VadEvent(
                    "speech_start",
                    max(0, self._speech_start - self.pre_roll),
                    decided=end,
                    voiced_start=self._speech_start,
                )
        elif probability < self.neg_threshold:
            self._candidate = None  # a click or a cough, not a turn
        return None

    def _step_speaking(self, probability: float, start: int, end: int) -> VadEvent | None:
        assert self._speech_start is not None
        if self._keeps(probability):
            self._silence_start = None
        elif probability < self.neg_threshold and self._silence_start is None:
            self._silence_start = start
        if self._silence_start is not None and end - self._silence_start >= self.min_silence:
            voiced_end = self._silence_start
            self._reset_speech()
            return VadEvent(
                "speech_end", min(voiced_end + self.pad, end), voiced_end=voiced_end, decided=end
            )
        if self.max_speech is not None and end - self._speech_start >= self.max_speech:
            self._reset_speech()  # a caller who never pauses still gets an answer
            return VadEvent("speech_end", end, voiced_end=end, decided=end)
        return None

    def _reset_speech(self) -> None:
        self._speech_start = None
        self._silence_start = None
        self._candidate = None
