"""Issue 10 benchmark: how well Russian callers are heard, and that the pipeline loses nothing.

    python -m bench russian          (or: python -m bench.bench_russian)

A fixed set of Russian phrases a caller says (`tests.support.russian_speech.CALLER_PHRASES`:
names, dates, times, numbers, addresses, requests), voiced by RHVoice, transcribed with
`language="ru"`:
- WER through `/stt` ÷ WER of the same model called directly, at 16 kHz     (goal 1.00)
- the same through the phone path: 8 kHz G.711 μ-law, uploaded as the 8 kHz
  WAV the phone service sends                                                 (goal 1.00)
- WER of the phone turn as the phone VAD cuts it ÷ the whole phone utterance (goal 1.00)
- the WERs themselves, and the worst phrases                                 (informative)

Model: WHISPER_MODEL when it is installed and multilingual (on a GPU box: large-v3-turbo),
else Whisper base from the test packages (`tests.support.whisper_ru`).
WER is jiwer's corpus WER (errors over all reference words) after `normalise`: lower case,
ё→е, punctuation dropped, digit groups joined; references write numbers as digits, as
Whisper does.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import jiwer
import numpy as np

from bench.common import Row, bench_settings, print_rows

WORST_SHOWN = 5


@dataclass
class Heard:
    """What one way of listening made of every phrase, in `CALLER_PHRASES` order."""

    name: str
    texts: list[str]
    seconds: list[float]


def run() -> list[Row]:
    from lidia.orchestrator.app import create_app
    from lidia.tts.engines.rhvoice import RHVoiceEngine
    from lidia.tts.service import VoiceService
    from tests.support.live_server import live_server

    with tempfile.TemporaryDirectory() as scratch:
        settings = bench_settings(
            Path(scratch), stt_language="ru", tts_engine="rhvoice", orchestrator_api_key=None
        )
        stt = russian_stt(settings)
        speaker = RHVoiceEngine.load()
        voice = VoiceService.from_settings(settings)
        try:
            speech = [_voiced(speaker, phrase.spoken) for phrase in _phrases()]
            app = create_app(settings, stt=stt, tts=voice)
            with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=300) as http:
                heard = _listen_every_way(stt, http, speech, settings)
        finally:
            voice.close()
            speaker.close()
    return _report(stt, heard)


def russian_stt(settings):
    """The configured Whisper if installed and multilingual, else the test's Whisper base."""
    from lidia.stt.faster_whisper import FasterWhisperEngine
    from tests.support.whisper_ru import russian_model_path

    try:
        engine = FasterWhisperEngine.load(
            settings.whisper_model,
            models_dir=settings.models_dir,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
        )
        if "ru" in engine.languages:
            return engine
    except Exception as exc:  # not installed here: fall back, say so
        print(f"   WHISPER_MODEL {settings.whisper_model!r} unavailable ({exc})")
    return FasterWhisperEngine.load(
        str(russian_model_path()), models_dir=settings.models_dir, device="cpu"
    )


def _phrases():
    from tests.support.russian_speech import CALLER_PHRASES

    return CALLER_PHRASES


def _voiced(speaker, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(16 kHz speech, the same speech after the phone line at 8 kHz)."""
    from tests.support.russian_speech import phone_line_8k, rhvoice_16k

    studio = rhvoice_16k(speaker, text)
    return studio, phone_line_8k(studio)


def _listen_every_way(stt, http: httpx.Client, speech, settings) -> list[Heard]:
    from lidia.audio.codecs import resample, wav_bytes
    from lidia.stt.faster_whisper import STT_SAMPLE_RATE
    from tests.support.russian_speech import PHONE_RATE

    def direct(samples: np.ndarray) -> str:
        return stt.transcribe(samples, "ru").text

    def over_http(wav: bytes) -> str:
        response = http.post("/stt", files={"audio": ("turn.wav", wav)}, data={"language": "ru"})
        response.raise_for_status()
        return response.json()["text"]

    ways = {
        "direct 16k": lambda s, p: direct(s),
        "/stt 16k": lambda s, p: over_http(wav_bytes(s, STT_SAMPLE_RATE)),
        "direct phone": lambda s, p: direct(resample(p, PHONE_RATE, STT_SAMPLE_RATE)),
        "/stt phone": lambda s, p: over_http(wav_bytes(p, PHONE_RATE)),
        "phone VAD turn": lambda s, p: direct(
            resample(_vad_turn(p, settings), PHONE_RATE, STT_SAMPLE_RATE)
        ),
    }
    direct(speech[0][0])  # warm-up: the first call pays for lazy initialisation
    heard = {name: Heard(name, [], []) for name in ways}
    for studio, phone in speech:  # interleaved: machine drift hits every way alike
        for name, listen in ways.items():
            started = time.perf_counter()
            heard[name].texts.append(listen(studio, phone))
            heard[name].seconds.append(time.perf_counter() - started)
    return list(heard.values())


def _vad_turn(phone: np.ndarray, settings) -> np.ndarray:
    """The utterance the phone service would send: from the VAD's speech start to its end."""
    from lidia.audio.vad import StreamingVad

    vad = StreamingVad(
        threshold=settings.vad_threshold,
        min_silence_ms=settings.vad_min_silence_ms,
        min_speech_ms=settings.vad_min_speech_ms,
        speech_pad_ms=settings.vad_speech_pad_ms,
    )
    padded = np.concatenate([phone, np.zeros(len(phone) // 2 + 8000, dtype=np.float32)])
    events = [e for i in range(0, padded.size, 160) for e in vad.feed(padded[i : i + 160])]
    starts = [e.sample for e in events if e.kind == "speech_start"]
    ends = [e.sample for e in events if e.kind == "speech_end"]
    if not starts:
        return np.zeros(0, dtype=np.float32)
    return padded[starts[0] : ends[-1] if ends else padded.size]  # all its turns, joined


def corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    from tests.support.russian_speech import normalise

    refs = [normalise(r) for r in references]
    hyps = [normalise(h) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))


def wer_ratio(measured: float, baseline: float) -> float:
    """measured ÷ baseline; 1.0 when both are perfect (nothing was lost)."""
    if baseline == 0:
        return 1.0 if measured == 0 else float("inf")
    return measured / baseline


def _report(stt, heard: list[Heard]) -> list[Row]:
    references = [phrase.reference for phrase in _phrases()]
    by_name = {h.name: h for h in heard}
    wers = {h.name: corpus_wer(references, h.texts) for h in heard}
    details = {f"WER {name}": value for name, value in wers.items()}
    details.update({f"s/phrase {h.name}": statistics.mean(h.seconds) for h in heard})
    rows: list[Row] = [
        (
            "russian: WER /stt ÷ direct model, 16 kHz",
            wer_ratio(wers["/stt 16k"], wers["direct 16k"]),
            "1.00",
        ),
        (
            "russian: WER /stt ÷ direct model, phone 8 kHz μ-law",
            wer_ratio(wers["/stt phone"], wers["direct phone"]),
            "1.00",
        ),
        (
            "russian: WER phone VAD turn ÷ whole phone utterance",
            wer_ratio(wers["phone VAD turn"], wers["direct phone"]),
            "1.00",
        ),
        ("russian: WER /stt 16 kHz", wers["/stt 16k"], "informative"),
        ("russian: WER /stt phone 8 kHz μ-law", wers["/stt phone"], "informative"),
    ]
    print(f"\n   model {stt.model} on {stt.device}, {len(references)} phrases")
    for name in ("/stt 16k", "/stt phone", "phone VAD turn"):
        _print_worst(name, references, by_name[name].texts)
    print_rows("russian: recognition accuracy (WER) through the pipeline", rows, details)
    return rows


def _print_worst(name: str, references: list[str], texts: list[str]) -> None:
    scored = sorted(
        ((corpus_wer([r], [t]), r, t) for r, t in zip(references, texts, strict=True)),
        reverse=True,
    )
    print(f"   worst phrases, {name}:")
    for wer, reference, text in scored[:WORST_SHOWN]:
        print(f"     {wer:4.2f}  {reference}  →  {text}")


if __name__ == "__main__":
    run()
