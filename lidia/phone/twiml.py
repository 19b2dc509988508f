"""TwiML answers for Twilio's webhooks, built with the twilio library's `VoiceResponse`."""

from __future__ import annotations

from fastapi.responses import Response
from twilio.twiml.voice_response import Connect, Dial, Gather, VoiceResponse

from lidia.core.openapi import error_response
from lidia.core.settings import Settings
from lidia.phone.stream_tokens import TOKEN_PARAMETER

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


def stream_twiml(
    stream_url: str, call_sid: str, caller: str, stream_token: str | None = None
) -> VoiceResponse:
    """`<Connect><Stream>`: the call's audio both ways over a Media Streams WebSocket.

    The stream URL carries no query string; values travel as `<Parameter>`s instead, among
    them the call's one-time `streamToken` (`lidia.phone.stream_tokens`)."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name="callSid", value=call_sid)
    stream.parameter(name="from", value=caller)
    if stream_token is not None:
        stream.parameter(name=TOKEN_PARAMETER, value=stream_token)
    response.append(connect)
    return response


def gather_twiml(
    settings: Settings, base_url: str, play_url: str, *, record_call: bool = False
) -> VoiceResponse:
    """`<Gather>` (with the audio inside, so the caller may talk over it), then a `<Record>`
    for callers Twilio's recognition misses. `record_call` (the call's first answer) starts
    with Twilio's recording of the whole call (`start_call_recording`)."""
    response = VoiceResponse()
    if record_call:
        start_call_recording(response, base_url)
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


CALL_RECORDING_PATH = "/twilio/call-recording"


def start_call_recording(response: VoiceResponse, base_url: str) -> VoiceResponse:
    """`<Start><Recording channels="dual">`: Twilio records the whole call, the caller (the
    inbound track) on the first channel and what Twilio plays (Лидия) on the second, and
    posts `CALL_RECORDING_PATH` once the file is ready (or absent)."""
    response.start().recording(
        channels="dual",
        track="both",
        recording_status_callback=f"{base_url}{CALL_RECORDING_PATH}",
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
    )
    return response


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
    return message_twiml(settings, base_url, play_url, settings.apology_text)


def busy_twiml(settings: Settings, base_url: str, play_url: str | None) -> VoiceResponse:
    """All lines busy (`capacity.py`): «все линии заняты» (cached audio, else Twilio's own
    voice), then a `<Record>` for a message."""
    return message_twiml(settings, base_url, play_url, settings.busy_text)


def message_twiml(
    settings: Settings, base_url: str, play_url: str | None, text: str
) -> VoiceResponse:
    """Лидия's words (`play_url`, else `text` in Twilio's voice), a beep, then a `<Record>`
    of the caller's message (up to MAX_MESSAGE_S) posted to `/twilio/recording`."""
    response = VoiceResponse()
    if play_url is not None:
        response.play(play_url)
    else:
        response.say(text, language="ru-RU")
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


def dial_twiml(
    settings: Settings, number: str, action_url: str, *, notice_url: str | None = None
) -> VoiceResponse:
    """`<Dial>` the person (after the notice, when one is given). Twilio calls `action_url`
    when the dialled leg ends; a call nobody answered comes back to Лидия there."""
    response = VoiceResponse()
    if notice_url is not None:
        response.play(notice_url)
    dial = Dial(
        action=action_url,
        method="POST",
        timeout=settings.transfer_timeout_s,
        answer_on_bridge=True,  # the caller hears ringing, not silence, until the person answers
    )
    dial.number(number)
    response.append(dial)
    return response


def play_then_hangup_twiml(play_url: str) -> VoiceResponse:
    """Lidia's last words (a goodbye), then the call ends."""
    response = VoiceResponse()
    response.play(play_url)
    response.hangup()
    return response


def message_after_dial_twiml(
    settings: Settings, base_url: str, play_url: str | None, text: str
) -> VoiceResponse:
    """Nobody answered the transfer: Лидия offers to take a message, then a `<Record>`."""
    return message_twiml(settings, base_url, play_url, text)


# --- OpenAPI: what Twilio posts and what it gets back --------------------------------------

CALL_FIELDS = ("AccountSid", "CallSid", "From", "To", "CallStatus", "Direction", "ApiVersion")
WEBHOOK_FIELDS = {
    "voice": CALL_FIELDS,
    "gather": (*CALL_FIELDS, "SpeechResult", "Confidence"),
    "recording": (*CALL_FIELDS, "RecordingUrl", "RecordingSid", "RecordingDuration"),
    "dial": (*CALL_FIELDS, "DialCallStatus", "DialCallSid", "DialCallDuration"),
    "status": (*CALL_FIELDS, "CallDuration", "Timestamp", "SequenceNumber"),
    "call-recording": (
        "AccountSid",
        "CallSid",
        "RecordingSid",
        "RecordingUrl",
        "RecordingStatus",
        "RecordingDuration",
        "RecordingChannels",
        "RecordingSource",
        "RecordingStartTime",
        "ErrorCode",
    ),
}
SIGNATURE_REFUSED = {403: error_response(403, "Missing or invalid X-Twilio-Signature")}
TWIML_RESPONSES: dict[int | str, dict] = {
    200: {
        "description": "TwiML; any failure is the apology and a <Record> (never a 5xx)",
        "content": {TWIML_MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
    **SIGNATURE_REFUSED,
}


def twilio_form(webhook: str, *, query: dict[str, str] | None = None) -> dict:
    """`openapi_extra` for a webhook: Twilio's form fields (every one a string; the webhook
    answers TwiML whatever is missing), and its query parameters (name → description)."""
    properties = {name: {"type": "string"} for name in WEBHOOK_FIELDS[webhook]}
    extra: dict = {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": properties}
                }
            },
        }
    }
    if query:
        extra["parameters"] = [
            {"name": name, "in": "query", "description": about, "schema": {"type": "string"}}
            for name, about in query.items()
        ]
    return extra
