"""Semantic end of turn: Smart Turn v3.2 (BSD-2, 23 languages incl. Russian, 8.7 MB ONNX).

The model ships inside the PyPI wheel `pipecat-ai` (installed `--no-deps`). We never import
pipecat (its `__init__` pulls loguru and half a framework): `importlib.util.find_spec` locates
the package without running it, and onnxruntime loads the file. Loading the ONNX ourselves,
rather than using pipecat's `LocalSmartTurnAnalyzerV3`, keeps pipecat's dependency pins out
of our environment and lets one session serve every call with one thread.

Input: the last 8 s of 16 kHz mono audio (zero-padded at the front), zero-mean unit-variance
normalised, as 80 Whisper log-mel bins x 800 frames (faster-whisper's `FeatureExtractor`:
the same features pipecat vendors). Output: P(the speaker has finished their turn).

`probability()` is blocking (~10 ms on a free core, ~80 ms on a loaded one): call it from a
worker thread, never on the event loop.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from lidia.audio.codecs import resample
from lidia.audio.onnx import shared_session

MODEL_RATE = 16000
WINDOW_S = 8
WINDOW = MODEL_RATE * WINDOW_S
FRAMES = 800  # 10 ms hops over 8 s
MODEL_FILE = "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"


class EndOfTurnUnavailable(RuntimeError):
    """The Smart Turn model is not installed (pipecat-ai missing)."""


def smart_turn_model_path() -> Path:
    """The ONNX file inside the installed pipecat-ai wheel (the package is not imported)."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or spec.origin is None:
        raise EndOfTurnUnavailable("pipecat-ai is not installed (pip install --no-deps)")
    path = Path(spec.origin).parent / MODEL_FILE
    if not path.is_file():
        raise EndOfTurnUnavailable(f"Smart Turn model missing: {path}")
    return path


@cache
def _features() -> FeatureExtractor:
    return FeatureExtractor(
        feature_size=80, sampling_rate=MODEL_RATE, hop_length=160, chunk_length=WINDOW_S, n_fft=400
    )


def last_window(samples_16k: np.ndarray) -> np.ndarray:
    """The last 8 s, zero-padded at the front, normalised to zero mean and unit variance."""
    audio = np.asarray(samples_16k, dtype=np.float32)[-WINDOW:]
    if audio.size < WINDOW:
        audio = np.concatenate([np.zeros(WINDOW - audio.size, dtype=np.float32), audio])
    return ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)


class EndOfTurnModel:
    """P(turn complete) for the audio of one utterance so far. Thread-safe; share one."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._session = shared_session(model_path or smart_turn_model_path())
        self._extractor = _features()  # cached: built once, shared read-only
        self._input = self._session.get_inputs()[0].name

    def probability(self, samples: np.ndarray, sample_rate: int = MODEL_RATE) -> float:
        """Blocking: run in a worker thread. `samples` is mono float32 at `sample_rate`."""
        audio = resample(np.asarray(samples, dtype=np.float32), sample_rate, MODEL_RATE)
        mel = self._extractor(last_window(audio), padding=0)[:, :FRAMES]
        features = mel[np.newaxis].astype(np.float32)
        output = self._session.run(None, {self._input: features})[0]
        return float(np.asarray(output).reshape(-1)[0])


_shared: EndOfTurnModel | None = None


def shared_model() -> EndOfTurnModel:
    """The process's one model (loaded on first use, ~0.1 s)."""
    global _shared
    if _shared is None:
        _shared = EndOfTurnModel()
    return _shared
