"""TwiML answers for Twilio's webhooks, built with the twilio library's `VoiceResponse`."""

from __future__ import annotations

from fastapi.responses import Response
from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

from lidia.core.settings import Settings

TWIML_MEDIA_TYPE = "application/xml"

GATHER_LOCALES = {
    "ru": "ru-RU",
    "en": "en-US",
    "uk": "uk-UA",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "it": "it-IT",
    "pt": "pt-BR",
    "pl": "pl-PL",
    "tr": "tr-TR",
}


def gather_locale(stt_language: str, tts_language: str) -> str:
    """Twilio's `<Gather language>` for the orchestrator's STT language ("ru" → "ru-RU")."""
    language = tts_language if stt_language == "auto" else stt_language
    return GATHER_LOCALES.get(language.lower(), "ru-RU" if "-" not in language else language)


def twiml_response(response: VoiceResponse) -> Response:
    return Response(str(response), media_type=TWIML_MEDIA_TYPE)


def stream_twiml(stream_url: str, call_sid: str, caller: str) -> VoiceResponse:
    """`<Connect><Stream>`: the call's audio both ways over a Media Streams WebSocket.

    The stream URL carries no query string; values travel as `<Parameter>`s instead."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name="callSid", value=call_sid)
    stream.parameter(name="from", value=caller)
    response.append(connect)
    return response


def gather_twiml(settings: Settings, base_url: str, play_url: str) -> VoiceResponse:
    """`<Gather>` (with the audio inside, so the caller may talk over it), then a `<Record>`
    for callers Twilio's recognition misses."""
    response = VoiceResponse()
    gather = Gather(
        input="speech",
        language=gather_locale(settings.stt_language, settings.tts_language),
        speech_timeout="auto",
        action=f"{base_url}/twilio/gather",
        method="POST",
    )
    gather.play(play_url)
    response.append(gather)
    return _record_turn(response, settings, base_url)


def record_turn_twiml(settings: Settings, base_url: str) -> VoiceResponse:
    """Nothing recognised: record the caller's words for the orchestrator's own STT."""
    return _record_turn(VoiceResponse(), settings, base_url)


def _record_turn(response: VoiceResponse, settings: Settings, base_url: str) -> VoiceResponse:
    response.record(
        action=f"{base_url}/twilio/recording?purpose=turn",
        method="POST",
        max_length=int(settings.max_utterance_s),
        timeout=2,
        play_beep=False,
    )
    return response


def apology_twiml(settings: Settings, base_url: str, play_url: str | None) -> VoiceResponse:
    """The apology (cached audio, else Twilio's own voice), then a `<Record>` for a message."""
    response = VoiceResponse()
    if play_url is not None:
        response.play(play_url)
    else:
        response.say(settings.apology_text, language="ru-RU")
    response.record(
        action=f"{base_url}/twilio/recording?purpose=message",
        method="POST",
        max_length=settings.max_message_s,
        play_beep=True,
    )
    return response


def hangup_twiml() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response
