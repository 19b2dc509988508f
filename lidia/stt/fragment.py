"""The first words of a short fragment, fast: what a caller just said over Лидия.

Whisper reads 30 s windows; for a half-second fragment that is ~60 times more encoder work
than the audio holds (0.7 s per fragment on a 2-core CPU). CTranslate2's encoder also accepts
a shorter window: here it reads only the fragment's own frames, and one greedy pass writes at
most `MAX_TOKENS` tokens (~0.1 s on the same CPU). A model that expects 30 s tends to repeat
itself once the audio runs out («Подождите, подождите, подожд…»), so the words are cut at
the first repeat. Good enough to tell «Нет» or «Подождите» from «угу», not for transcripts.

`confidence` is the geometric mean of the tokens' probabilities: on a fragment it cannot
read (RHVoice «Хорошо.» over a phone line, to Whisper base: «Парашу.») it stays low, so a
caller of the result can trust only the words the model was sure of.
"""

from __future__ import annotations

import math
import re

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from lidia.stt.base import STT_SAMPLE_RATE, Fragment

MAX_SECONDS = 4.0  # a longer fragment: its last seconds
MAX_TOKENS = 12
LEAD_IN_SECONDS = 0.2  # as for whole transcriptions: a word at t=0 is often dropped


def first_words(whisper: WhisperModel, audio: np.ndarray, language: str | None) -> Fragment:
    """Blocking (a worker thread): the fragment's first words, repeats removed."""
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)[-int(MAX_SECONDS * STT_SAMPLE_RATE) :]
    lead_in = np.zeros(int(LEAD_IN_SECONDS * STT_SAMPLE_RATE), dtype=np.float32)
    features = whisper.feature_extractor(np.concatenate([lead_in, samples]))
    mel = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[np.newaxis]))
    multilingual = bool(whisper.model.is_multilingual)
    if multilingual and language is None:
        language = _detected_language(whisper, mel)
    tokenizer = Tokenizer(
        whisper.hf_tokenizer, multilingual, task="transcribe", language=language or "en"
    )
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    (result,) = whisper.model.generate(
        mel,
        [prompt],
        beam_size=1,
        max_length=len(prompt) + MAX_TOKENS,
        suppress_blank=True,
        return_scores=True,
    )
    tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
    confidence = math.exp(result.scores[0]) if tokens else 0.0  # length-normalised log-prob
    return Fragment(without_repeats(tokenizer.decode(tokens)), language or "", confidence)


def _detected_language(whisper: WhisperModel, mel: ctranslate2.StorageView) -> str:
    (ranked,) = whisper.model.detect_language(mel)
    return ranked[0][0].strip("<|>")


def without_repeats(text: str) -> str:
    """Words up to the first one that repeats (or begins to repeat) an earlier one."""
    kept: list[str] = []
    seen: list[str] = []
    for word in text.split():
        key = re.sub(r"[^\w-]", "", word.lower())
        if key and any(earlier.startswith(key) for earlier in seen):
            break
        kept.append(word)
        seen.append(key)
    return " ".join(kept).strip(" ,;:-")
