"""Speech to text (faster-whisper): the public names, kept where the original design put them.

The engine interface is `lidia.stt.base`; the faster-whisper engine is `lidia.stt.faster_whisper`.
"""

from lidia.stt.base import STT_SAMPLE_RATE, Segment, SpeechToText, Transcript, Word
from lidia.stt.faster_whisper import FasterWhisperEngine

__all__ = [
    "STT_SAMPLE_RATE",
    "FasterWhisperEngine",
    "Segment",
    "SpeechToText",
    "Transcript",
    "Word",
]
