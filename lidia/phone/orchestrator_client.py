"""HTTP client for the orchestrator (port 8002): the phone's only way to STT, LLM and TTS.

The phone service never imports those engines; each turn is one HTTP request, so the
orchestrator can run on another box behind a load balancer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import numpy as np

from lidia.audio.codecs import decode_audio

# The caller numbers the orchestrator accepts; others ("anonymous", "client:x") are not sent.
_CALLER_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


class OrchestratorError(Exception):
    """The orchestrator could not be reached or answered with an error."""


class OrchestratorClient:
    """HTTP client for the orchestrator (port 8002). Coroutines; one shared connection pool."""

    def __init__(
        self, base_url: str, *, api_key: str | None = None, timeout_s: float = 15.0
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def healthy(self) -> bool:
        try:
            response = await self._client.get("/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def tts_wav(
        self,
        text: str,
        language: str | None = None,
        *,
        voice: str | None = None,
        engine: str | None = None,
    ) -> bytes:
        """The reply spoken in the cloned voice (or `voice` / `engine`), as a WAV file."""
        body: dict[str, Any] = {"text": text, "format": "wav"}
        optional = {"language": language, "voice": voice, "engine": engine}
        body.update({key: value for key, value in optional.items() if value})
        response = await self._request("POST", "/tts", json=body)
        return response.content

    async def tts_engines(self) -> list[str]:
        """The TTS engine names `/tts` accepts (`GET /`)."""
        response = await self._request("GET", "/")
        return [str(name) for name in response.json().get("tts_engines", [])]

    async def voices(self) -> list[dict[str, Any]]:
        """The orchestrator's voices (`GET /v1/audio/voices`): `[{"id", "name"}, ...]`."""
        response = await self._request("GET", "/v1/audio/voices")
        return list(response.json().get("voices", []))

    async def health_report(self) -> dict[str, Any]:
        """The orchestrator's `/health` body: which engines serve, and why (the dashboard)."""
        response = await self._request("GET", "/health")
        return dict(response.json())

    async def extract_message(self, transcript: str, caller_number: str | None) -> dict[str, Any]:
        """The caller's message from the transcript (`POST /extract_message`)."""
        body = {"transcript": transcript, "caller_number": caller_number}
        response = await self._request("POST", "/extract_message", json=body)
        return response.json()

    async def chat(
        self,
        text: str,
        session_id: str,
        *,
        actions: Sequence[str] | None = None,
        caller: str | None = None,
    ) -> dict[str, Any]:
        """A text turn. `actions`: a phone turn's actions (see `call_actions`)."""
        body: dict[str, Any] = {"text": text, "session_id": session_id}
        if actions is not None:
            body["actions"] = list(actions)
        if number := _caller_number(caller):
            body["caller"] = number
        response = await self._request("POST", "/chat", json=body)
        return response.json()

    async def transcribe(self, wav: bytes, language: str | None = None) -> str:
        """The words in `wav` (`POST /stt`); no conversation state is touched."""
        data = {"language": language} if language else {}
        response = await self._request(
            "POST", "/stt", files={"audio": ("caller.wav", wav, "audio/wav")}, data=data
        )
        return str(response.json().get("text", ""))

    async def first_words(self, wav: bytes) -> tuple[str, float]:
        """A short fragment's first words, fast, and how sure the recogniser was (0-1)."""
        response = await self._request(
            "POST",
            "/stt",
            files={"audio": ("fragment.wav", wav, "audio/wav")},
            data={"fragment": "true"},
        )
        body = response.json()
        return str(body.get("text", "")), float(body.get("confidence", 0.0))

    async def process_call_json(
        self,
        wav: bytes,
        session_id: str,
        *,
        actions: Sequence[str] | None = None,
        caller: str | None = None,
    ) -> dict[str, Any]:
        """One whole turn (STT → LLM → TTS): transcript, reply, audio_base64 (WAV), timings."""
        response = await self._request(
            "POST",
            "/process_call",
            params={"response": "json"},
            files={"audio": ("caller.wav", wav, "audio/wav")},
            data={"session_id": session_id, **_turn_fields(actions, caller)},
        )
        return response.json()

    async def stream_turn(
        self,
        wav: bytes,
        session_id: str,
        transcript: str | None = None,
        turn_id: str | None = None,
        *,
        actions: Sequence[str] | None = None,
        caller: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The streamed turn's events; audio events carry decoded float32 `samples`.

        `transcript`: the words already recognised (speculatively, during the caller's pause):
        they are sent instead of the audio, and the orchestrator skips speech-to-text.
        `turn_id` names the turn in the conversation's history (see `forget_turn`).
        `actions`: what this call can carry out (`call_actions`); `caller`: the caller's number.
        Closing the generator early closes the HTTP stream, which makes the orchestrator stop
        the LLM and the synthesis of that turn.
        """
        form: dict[str, Any] = {"session_id": session_id, **_turn_fields(actions, caller)}
        if turn_id is not None:
            form["turn_id"] = turn_id
        upload: dict[str, Any] | None = {"audio": ("caller.wav", wav, "audio/wav")}
        if transcript and transcript.strip():
            form["transcript"], upload = transcript, None
        try:
            async with self._client.stream(
                "POST",
                "/process_call",
                params={"stream": "true", "response": "events"},
                files=upload,
                data=form,
            ) as response:
                if response.status_code != 200:
                    raise OrchestratorError(
                        _error_text(response.status_code, await response.aread())
                    )
                async for line in response.aiter_lines():
                    if line.strip():
                        yield _decode_event(json.loads(line))
        except httpx.HTTPError as exc:
            raise OrchestratorError(f"orchestrator unreachable: {exc!r}") from exc

    async def forget_turn(self, session_id: str, turn_id: str) -> None:
        """Remove a turn the caller never heard from the conversation's history."""
        body = {"session_id": session_id, "turn_id": turn_id}
        await self._request("POST", "/reset_conversation", json=body)

    async def text_turn(
        self,
        text: str,
        session_id: str,
        *,
        language: str,
        sample_rate: int,
        actions: Sequence[str] | None = None,
        caller: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The events `stream_turn` yields, for a text turn (e.g. DTMF): /chat, then /tts."""
        yield {"type": "transcript", "text": text}
        result = await self.chat(text, session_id, actions=actions, caller=caller)
        reply = str(result["reply"])
        yield {"type": "sentence", "text": reply}
        wav = await self.tts_wav(reply, language)
        samples = await asyncio.to_thread(decode_audio, wav, sample_rate=sample_rate)
        yield {"type": "audio", "samples": samples, "sample_rate": sample_rate}
        actions = list(result.get("actions") or [])
        for action in actions:  # as the streamed turn sends them: after the words
            yield {"type": "action", **action}
        yield {
            "type": "done",
            "reply": reply,
            "fallback": bool(result.get("fallback")),
            "timings": {},
            "actions": actions,
        }

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise OrchestratorError(f"orchestrator unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise OrchestratorError(_error_text(response.status_code, response.content))
        return response


def _caller_number(caller: str | None) -> str | None:
    return caller if caller and _CALLER_NUMBER.match(caller) else None


def _turn_fields(actions: Sequence[str] | None, caller: str | None) -> dict[str, str]:
    """A phone turn's form fields: its actions (comma-separated) and the caller's number."""
    fields: dict[str, str] = {}
    if actions is not None:
        fields["actions"] = ",".join(actions)
    if number := _caller_number(caller):
        fields["caller"] = number
    return fields


def _error_text(status: int, body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode("utf-8", "replace")
    return f"orchestrator HTTP {status}: {message}"


def _decode_event(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") == "audio":
        pcm = np.frombuffer(base64.b64decode(event["data"]), dtype="<i2")
        event = {**event, "samples": pcm.astype(np.float32) / 32768.0}
        event.pop("data", None)
    return event
