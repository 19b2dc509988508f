"""Issue 11 benchmark: turn-taking on ~34 Russian utterances (RHVoice, 8 kHz μ-law).

    python -m bench.bench_turn_taking

Measured directly on the policy, not through whole scripted calls (one call per utterance
would spend most of the run in webhooks and greetings): `tests/support/turn_harness.py`
feeds each utterance frame by frame, at Twilio's real-time pace, through the phone's real
`TurnTaking`, Silero VAD and Smart Turn model, in a real phone context. What needs the
orchestrator is served by a live one on 127.0.0.1 (Whisper base for `/stt`, whole and
`fragment`, RHVoice, the fake OpenAI LLM): a turn streams `/process_call` and its first audio
event is "the first reply frame". A speculative reply (prepared in a pause, held) counts as an
answer when it is released, that is when the caller would hear it, and its first frame is
timed from then at the earliest; one the caller talked over was never heard and is no answer.

- false cut-offs: 10 sentences with a 0.4–0.8 s pause at a mid-sentence word gap; an answer
  before the caller's last word                                             (goal ≤ 5 %)
- backchannels taken as interruptions: «угу», «ага», «да», ... over Лидия's reply, `clear`
  sent                                                                      (goal ≤ 10 %)
- interruption → `clear` p95: a real interruption's first voiced frame → `clear` (goal ≤ 0.6 s)
- end of a complete utterance → first reply frame, p50/p95, against the old rule
  (`END_OF_TURN_MODEL=false`: 300 ms of VAD silence) in the same run, interleaved; the goal
  ratios are over the sentences both rules heard whole (a rule that answered a fragment
  "replies" to the fragment), the ratios over all of them are printed too  (goal: ≤ 1.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.common import Row, percentile, print_rows

PAUSES_S = (0.4, 0.5, 0.6, 0.7, 0.8)
COMPLETE = (
    "Здравствуйте, я хочу записаться на приём в четверг.",
    "Здравствуйте, меня зовут Иван Петров.",
    "Запишите меня к врачу на завтра.",
    "Можно перенести встречу на пятницу?",
    "Перезвоните мне, пожалуйста, после обеда.",
    "Сколько стоит консультация?",
    "Передайте директору, что звонила Анна Смирнова.",
    "Я буду у вас пятнадцатого марта в десять утра.",
    "Подскажите, пожалуйста, когда вы работаете в субботу.",
    "Мне нужно поговорить с бухгалтером по поводу счёта.",
)
BACKCHANNELS = ("Угу.", "Ага.", "Да.", "Да-да.", "Так.", "Хорошо.", "Понятно.", "Ясно.", "М-м.")
BACKCHANNELS += ("Угу, ясно.",)
INTERRUPTIONS = (
    "Подождите.",
    "Нет, стоп, я хотела спросить про субботу.",
    "Нет, подождите, я хотела спросить про субботу.",
    "Извините, можно я перебью?",
)
REPLY = "Конечно, запишу вас. На какое время вам удобно?"
RATE = 8000


def run() -> list[Row]:
    return asyncio.run(_run())


@contextlib.contextmanager
def russian_orchestrator(root: Path) -> Iterator[str]:
    """A live orchestrator (Whisper base for Russian, the offline voice, a fake LLM that
    answers `REPLY`) on 127.0.0.1; yields its URL. Shared with `bench_hearing`."""
    from lidia.orchestrator.app import create_app as create_orchestrator
    from lidia.stt.faster_whisper import FasterWhisperEngine
    from lidia.tts.service import VoiceService
    from tests.conftest import make_settings
    from tests.support.fake_llm_servers import FakeOpenAI, Script
    from tests.support.live_server import live_server
    from tests.support.whisper_ru import russian_model_path

    stt = FasterWhisperEngine.load(str(russian_model_path()), models_dir=root, device="cpu")
    voice = VoiceService.from_settings(make_settings(root / "voice", tts_engine="auto"))
    try:
        with FakeOpenAI() as llm:
            llm.reset(Script(text=REPLY))
            settings = make_settings(
                root / "orchestrator",
                stt_language="ru",
                openai_base_url=llm.base_url,
                openai_model="fake",
                llm_timeout_s=30.0,
            )
            with live_server(create_orchestrator(settings, stt=stt, tts=voice)) as url:
                yield url
    finally:
        voice.close()


async def _run() -> list[Row]:
    from lidia.tts.engines.rhvoice import RHVoiceEngine
    from tests.support.turn_speech import spoken_8k

    root = Path(tempfile.mkdtemp(prefix="bench-turn-taking-"))
    rhvoice = RHVoiceEngine.load()
    speech = {t: spoken_8k(rhvoice, t) for t in COMPLETE + BACKCHANNELS + INTERRUPTIONS}
    rhvoice.close()
    with russian_orchestrator(root) as url:
        rows, details = await _measure(root, url, speech)
    print_rows("turn-taking (issue 11): policy fed in real time, orchestrator live", rows, details)
    return rows


async def _measure(root: Path, url: str, speech: dict[str, np.ndarray]):
    from tests.conftest import make_settings
    from tests.support.turn_harness import policy_context

    settings = {
        "semantic": make_settings(root / "semantic", stt_language="ru"),
        "old": make_settings(root / "old", stt_language="ru", end_of_turn_model=False),
    }
    async with (
        policy_context(settings["semantic"], url) as semantic,
        policy_context(settings["old"], url) as old,
    ):
        cutoffs = {"semantic": await _false_cutoffs(semantic, speech), "old": None}
        cutoffs["old"] = await _false_cutoffs(old, speech)
        taken = await _backchannels_taken(semantic, speech)
        clears = await _interruption_clears(semantic, speech)
        replies, cut = await _first_reply_frames({"semantic": semantic, "old": old}, speech)
    new, before = replies["semantic"], replies["old"]
    # Where a policy answered a fragment (a turn began before the last word), its "first
    # reply" answers the fragment, not the utterance: compare the utterances both heard whole.
    whole = [i for i in range(len(new)) if not cut["semantic"][i] and not cut["old"][i]]
    new_whole, before_whole = [new[i] for i in whole], [before[i] for i in whole]
    details = {
        "false cut-offs, old rule (VAD 300 ms), %": 100 * cutoffs["old"],
        "interruption → clear, p50 s": statistics.median(clears),
        "end of utterance → first reply frame, old rule, p50 s": statistics.median(before),
        "end of utterance → first reply frame, old rule, p95 s": percentile(before, 95),
        "end of utterance → first reply frame, semantic, p50 s": statistics.median(new),
        "end of utterance → first reply frame, semantic, p95 s": percentile(new, 95),
        "utterances the old rule answered before their last word": sum(cut["old"]),
        "utterances the semantic rule answered before their last word": sum(cut["semantic"]),
        "first reply frame p50, semantic ÷ old, all utterances": _ratio(new, before, 50),
        "first reply frame p95, semantic ÷ old, all utterances": _ratio(new, before, 95),
    }
    rows: list[Row] = [
        ("false cut-offs (mid-sentence pauses), %", 100 * cutoffs["semantic"], "≤ 5"),
        ("backchannels taken as interruptions, %", 100 * taken, "≤ 10"),
        ("interruption → clear, p95 s", percentile(clears, 95), "≤ 0.6"),
        (
            "first reply p50, semantic ÷ old (both heard whole)",
            _ratio(new_whole, before_whole, 50),
            "≤ 1.0",
        ),
        (
            "first reply p95, semantic ÷ old (both heard whole)",
            _ratio(new_whole, before_whole, 95),
            "≤ 1.0",
        ),
    ]
    return rows, details


def _ratio(new: list[float], before: list[float], pct: float) -> float:
    return percentile(new, pct) / percentile(before, pct)


def _silence(seconds: float) -> bytes:
    from tests.support.turn_speech import mulaw

    return mulaw(np.zeros(int(seconds * RATE), dtype=np.float32))


async def _false_cutoffs(ctx, speech: dict[str, np.ndarray]) -> float:
    """Share of paused sentences answered (a turn started) before the caller's last word."""
    from tests.support.turn_harness import PolicyCall
    from tests.support.turn_speech import mulaw, with_pause

    cut = 0
    for text, pause in zip(COMPLETE, itertools.cycle(PAUSES_S), strict=False):
        call = PolicyCall(ctx)
        paused = with_pause(speech[text], pause)
        await call.feed(_silence(0.2) + mulaw(paused), realtime=True)
        last_word = int(0.2 * RATE) + paused.size
        early = [t for t in call.turns() if t.position < last_word]
        await call.feed(_silence(0.6), realtime=True)  # let a late turn show up too
        cut += bool(early)
        await _cancel(call)
    return cut / len(COMPLETE)


async def _backchannels_taken(ctx, speech: dict[str, np.ndarray]) -> float:
    """Share of backchannels over Лидия's reply that made her stop (`clear`)."""
    from tests.support.turn_harness import PolicyCall
    from tests.support.turn_speech import mulaw

    taken = []
    for text in BACKCHANNELS:
        call = PolicyCall(ctx, talking=True)
        await call.feed(_silence(0.3) + mulaw(speech[text]) + _silence(1.2), realtime=True)
        await call.settle()  # a `/stt` answer still on its way (≤ BACKCHANNEL_RECOGNITION_S)
        if "clear" in call.kinds():
            taken.append(text)
        await _cancel(call)
    print("   backchannels taken:", taken or "none")
    return len(taken) / len(BACKCHANNELS)


async def _interruption_clears(ctx, speech: dict[str, np.ndarray]) -> list[float]:
    """Seconds from a real interruption's first voiced frame to `clear`, over Лидия."""
    from tests.support.turn_harness import PolicyCall
    from tests.support.turn_speech import mulaw

    delays = []
    for text in INTERRUPTIONS:
        call = PolicyCall(ctx, talking=True)
        await call.feed(_silence(0.3), realtime=True)
        onset = time.perf_counter()
        await call.feed(mulaw(speech[text]) + _silence(1.0), realtime=True)
        await call.settle()
        clears = [d.at for d in call.decisions if d.kind == "clear"]
        delays.append(clears[0] - onset if clears else float("inf"))  # never: a miss
        print(f"   interruption {text!r}: clear after {delays[-1]:.3f} s")
        await _cancel(call)
    return delays


async def _first_reply_frames(contexts: dict, speech: dict[str, np.ndarray]):
    """Caller's last voiced frame → the turn's first audio event, each policy interleaved."""
    results: dict[str, list[float]] = {name: [] for name in contexts}
    cut: dict[str, list[bool]] = {name: [] for name in contexts}
    sessions = itertools.count(1)
    for index, text in enumerate(COMPLETE):
        names = list(contexts) if index % 2 == 0 else list(reversed(contexts))
        for name in names:
            session = f"bench-tt-{next(sessions)}"
            delay, early = await _one_reply(contexts[name], speech[text], session)
            results[name].append(delay)
            cut[name].append(early)
            note = "  (answered before the last word)" if early else ""
            print(f"   first reply frame, {name}: {delay:.3f} s  {text}{note}")
    return results, cut


async def _one_reply(ctx, samples: np.ndarray, session_id: str) -> tuple[float, bool]:
    from lidia.audio.codecs import wav_bytes
    from lidia.audio.mulaw import mulaw_to_pcm
    from tests.support.turn_harness import PolicyCall
    from tests.support.turn_speech import mulaw

    first_audio = asyncio.get_running_loop().create_future()

    async def reply(utterance: bytes, words: str | None, release: asyncio.Event | None) -> None:
        # As the session plays it: a speculative reply's first frame goes out once released.
        wav = wav_bytes(mulaw_to_pcm(utterance), RATE)
        events = ctx.orchestrator.stream_turn(wav, session_id, words)
        async for event in events:
            if event.get("type") == "audio":
                if release is not None:
                    await release.wait()
                first_audio.set_result(time.perf_counter())
                break
        await events.aclose()

    call = PolicyCall(ctx, reply=reply)
    await call.feed(_silence(0.2) + mulaw(samples), realtime=True)
    ended = time.perf_counter()  # the last voiced frame has just been sent
    last_word = len(call.inbound)
    silence = asyncio.ensure_future(call.feed(_silence(20.0), realtime=True))
    try:
        delay = await asyncio.wait_for(first_audio, 60) - ended
        return delay, call.turns()[0].position < last_word
    finally:
        silence.cancel()
        await _cancel(call)


async def _cancel(call) -> None:
    if call.turn_task is not None and not call.turn_task.done():
        call.turn_task.cancel()
    await call.turn_taking.close()


if __name__ == "__main__":
    run()
