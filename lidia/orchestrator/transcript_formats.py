"""OpenAI's transcription response formats: json, text, srt, verbose_json and vtt."""

from __future__ import annotations

import zlib
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from lidia.orchestrator.subtitles import to_srt, to_vtt
from lidia.orchestrator.whisper_languages import LANGUAGE_NAMES
from lidia.stt.base import Segment, Transcript

TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")


def transcript_response(transcript: Transcript, fmt: str, granularities: set[str]) -> Response:
    """OpenAI's response for `fmt`: JSON for json/verbose_json, plain text otherwise."""
    text = transcript.text.strip()
    if fmt == "json":
        return JSONResponse({"text": text, "usage": _usage(transcript)})
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(transcript, granularities))
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt == "srt":
        return PlainTextResponse(to_srt(transcript.segments))
    return PlainTextResponse(to_vtt(transcript.segments), media_type="text/vtt")


def _usage(transcript: Transcript) -> dict:
    return {"type": "duration", "seconds": max(1, round(transcript.duration))}


def verbose_json(transcript: Transcript, granularities: set[str]) -> dict:
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": LANGUAGE_NAMES.get(transcript.language, transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text.strip(),
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [_segment_json(s) for s in transcript.segments]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for s in transcript.segments
            for w in s.words
        ]
    body["usage"] = _usage(transcript)
    return body


def _segment_json(segment: Segment) -> dict:
    encoded = segment.text.encode("utf-8")
    compression = len(encoded) / max(1, len(zlib.compress(encoded))) if encoded else 0.0
    return {
        "id": segment.id,
        "seek": round(segment.start * 100),  # Whisper's seek counts 10 ms mel frames
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": round(segment.avg_logprob, 4),
        "compression_ratio": round(compression, 4),
        "no_speech_prob": round(segment.no_speech_prob, 4),
    }
