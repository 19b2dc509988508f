"""At a streamed call's end: the two-sided recording on disk, and where each thing was said.

`calls_log/<CallSid>/call.wav` (stereo: caller left, Лидия right, 8 kHz) is rendered from the
`CallRecorder` in a worker thread. Each reply's offset goes on its turn (`reply_offset_s`);
each fixed prompt heard (greeting, apology, fillers) becomes a `prompt` event with its text
and offset, so the transcript holds both sides in call order.
"""

from __future__ import annotations

from pathlib import Path

from lidia.phone.call.recorder import CallRecorder
from lidia.phone.call_files import CALL_FILE, write_rendered
from lidia.phone.call_store import CallStore

# Close codes a server sends its WebSocket peers when it stops (uvicorn: 1012 "service
# restart"; 1001 "going away"). Twilio itself ends a stream with a `stop` message first.
SHUTDOWN_CLOSE_CODES = frozenset({1001, 1012})


async def save_call_recording(
    store: CallStore, call_sid: str, call_dir: Path, recorder: CallRecorder, inbound: bytes
) -> str:
    """Write `call.wav` (cut at the call's end) and the offsets of everything Лидия said."""
    recorder.ended(len(inbound))
    path = await write_rendered(call_dir / CALL_FILE, lambda: recorder.stereo_wav(inbound))
    for playback, offset_s, heard_s in recorder.playbacks():
        if playback.turn_index is not None:
            await store.update_turn(call_sid, playback.turn_index, reply_offset_s=offset_s)
            continue
        prompt = {"name": playback.name, "text": playback.text}
        await store.add_event(
            call_sid, "prompt", {**prompt, "offset_s": offset_s, "heard_s": heard_s}
        )
    return path
