"""The cloned voice (Coqui XTTS v2, with RHVoice / espeak-ng offline fallbacks): the public
names, kept where the original design put them. The code lives in `lidia.tts`.
"""

from lidia.tts.base import SpeechSynthesizer, Voice
from lidia.tts.registry import choose_engine
from lidia.tts.service import VoiceService

__all__ = ["SpeechSynthesizer", "Voice", "VoiceService", "choose_engine"]
