"""Gather mode's two-sided recording: Twilio records the whole call (`<Start><Recording
channels="dual">`, `twiml.start_call_recording`) and posts `/twilio/call-recording` when the
file is ready; we download it and keep it as `calls_log/<CallSid>/call.wav`, in the layout a
streamed call's recording has (stereo 8 kHz 16-bit: caller left, Лидия right), so the call
page plays both kinds alike.

Which side is which: the recording is of the caller's own (inbound) call leg; its first
channel is the inbound track (what Twilio hears: the caller), the second the outbound track
(what Twilio plays: Лидия's `<Play>`s). PyAV keeps that order as left, right.
"""

from __future__ import annotations

import logging

from lidia.audio.stereo_import import call_stereo_wav
from lidia.phone.call_files import CALL_FILE, write_rendered
from lidia.phone.context import PhoneContext
from lidia.phone.recordings import (
    call_recording_max_bytes,
    call_recording_wav_url,
    fetch_recording,
)

log = logging.getLogger("phone")

CALL_RECORDING_EVENT = "call_recording"


async def save_twilio_call_recording(phone: PhoneContext, form: dict[str, str]) -> None:
    """Download the completed recording and write `call.wav`; a recording Twilio reports
    absent, or one that cannot be fetched, becomes an event or an error on the call
    (never raises: it runs after Twilio got its 204)."""
    call_sid = form["CallSid"]
    status = form.get("RecordingStatus", "completed")
    facts = {
        "RecordingSid": form.get("RecordingSid"),
        "RecordingStatus": status,
        "RecordingChannels": form.get("RecordingChannels"),
        "RecordingDuration": form.get("RecordingDuration"),
    }
    try:
        if status != "completed" or not form.get("RecordingUrl"):
            await phone.store.add_event(call_sid, CALL_RECORDING_EVENT, facts)
            return
        url = call_recording_wav_url(form["RecordingUrl"])
        limit = call_recording_max_bytes(phone.settings)
        data = await fetch_recording(phone.settings, url, max_bytes=limit)
        target = phone.call_dir(call_sid) / CALL_FILE
        path = await write_rendered(target, lambda: call_stereo_wav(data))  # off the loop
        await phone.store.add_event(call_sid, CALL_RECORDING_EVENT, {**facts, "path": path})
    except Exception as exc:
        log.exception("whole-call recording of %s not saved", call_sid)
        await _note_error(phone, call_sid, f"call recording not saved: {exc!r}")


async def _note_error(phone: PhoneContext, call_sid: str, message: str) -> None:
    try:
        await phone.store.add_error(call_sid, message)
    except Exception:  # the database is down too; the log has it
        log.exception("error for call %s not recorded", call_sid)
