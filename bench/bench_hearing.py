"""Issue 23 benchmark: is every caller sentence heard, and heard whole, on any voice?

    python -m bench hearing

Russian sentences said by several voices (RHVoice anna, aleksandr, elena; espeak-ng), each
at a normal level (as the engine speaks: Silero rates loud RHVoice lowest, 0.3-0.6) and a
quiet one (18 dB under it), over phone-line noise (-56 dBFS),
carried as 8 kHz μ-law. Each voice and level is one call: the sentences one after another,
2.8 s of line noise between them, fed frame by frame through the phone's real turn-taking
(`tests/support/turn_harness.py`: Silero VAD, Smart Turn, `TurnTaking` with its speculative
`/stt`), in a real phone context, against a live orchestrator (Whisper base behind `/stt`).
Both rules hear the same audio in the same run:
- old: one threshold (`VAD_KEEP_THRESHOLD` = `VAD_THRESHOLD` - 0.15, no energy start), the
  turn's audio as the VAD cut it;
- new: the defaults (hysteresis, energy-aware start, the turn re-read around the cut).
Printed, per voice and level and over all:
- utterances missed: a sentence no turn's audio overlaps                      (goal 0)
- turn WER ÷ whole WER: the words of the turns against the same sentence's audio, cut
  generously around it (0.3 s), recognised by the same model                 (goal ≤ 1.05);
  and, less noisy (Whisper base rewrites a noisy sentence differently for a 0.1 s shift of
  its edges), the share of the reference words the whole recognition got right that the
  turns lost
- end of utterance → first reply frame (p50, p95), old and new, interleaved on the same
  sentences (`bench_turn_taking`'s measure: the policy fed in real time, `/process_call`
  streamed, a held reply timed from its release)                              (goal ≤ 1.0)
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.common import Row, percentile, print_rows

RATE = 8000
LEVELS_DB = {"normal": 0.0, "quiet": -18.0}  # the caller's speech, against the engine's level
NOISE_DB = -56.0  # the line's hiss
LEAD_S, GAP_S, MARGIN_S = 0.5, 2.8, 0.3
VOICES = ("anna", "aleksandr", "elena", "espeak")
SENTENCES = (
    "Сколько стоит профессиональная чистка зубов?",
    "Здравствуйте, меня зовут Иван Петров.",
    "Можно перенести встречу на пятницу?",
    "Перезвоните мне, пожалуйста, после обеда.",
    "Я буду у вас пятнадцатого марта в десять утра.",
    "Вы работаете в субботу?",
)
REFERENCES = dict.fromkeys(SENTENCES)  # how Whisper writes them (digits)
REFERENCES["Я буду у вас пятнадцатого марта в десять утра."] = "Я буду у вас 15 марта в 10 утра."
REPLY = "Конечно, запишу вас. На какое время вам удобно?"


@dataclass
class Call:
    """One voice at one level: the line audio and where each sentence lies in it."""

    voice: str
    level: str
    mulaw: bytes
    spans: list[tuple[int, int]]  # samples of each sentence's speech


@dataclass
class Heard:
    """What a rule made of one call."""

    turns: list[tuple[int, int, str]] = field(default_factory=list)  # start, end, words

    def words_of(self, span: tuple[int, int]) -> str | None:
        """The words of the turns over this sentence; None when no turn touched it."""
        lo, hi = span
        touched = [w for s, e, w in self.turns if min(e, hi) - max(s, lo) >= RATE // 10]
        return " ".join(touched) if touched else None


def run() -> list[Row]:
    return asyncio.run(_run())


async def _run() -> list[Row]:
    from bench.bench_turn_taking import russian_orchestrator

    root = Path(tempfile.mkdtemp(prefix="bench-hearing-"))
    calls = _calls()
    with russian_orchestrator(root) as url:
        rows, details = await _measure(root, url, calls)
    print_rows("hearing (issue 23): every sentence heard whole, old rule vs new", rows, details)
    return rows


def rule_settings(root: Path, rule: str):
    """The old single-threshold rule, or today's defaults."""
    from tests.conftest import make_settings

    if rule == "old":
        return make_settings(
            root / "old",
            stt_language="ru",
            vad_keep_threshold=0.35,
            vad_energy_start_db=0.0,
            hearing_reread_edges=False,
        )
    return make_settings(root / "new", stt_language="ru")


async def _measure(root: Path, url: str, calls: list[Call]):
    from bench.bench_russian import corpus_wer, wer_ratio
    from tests.support.russian_speech import normalise, words_of
    from tests.support.turn_harness import policy_context

    references = [REFERENCES[s] or s for s in SENTENCES]
    rows: list[Row] = []
    details: dict[str, float] = {}
    async with (
        policy_context(rule_settings(root, "old"), url) as old,
        policy_context(rule_settings(root, "new"), url) as new,
    ):
        hyps: dict[str, list[str]] = {"old": [], "new": [], "whole": []}
        missed = {"old": 0, "new": 0}
        lost = {"old": [0, 0], "new": [0, 0]}  # right words the whole heard: lost, all
        for call in calls:
            whole = [await _transcribe(new, _cut(call, span)) for span in call.spans]
            hyps["whole"] += whole
            whole_wer = corpus_wer(references, whole)
            line = f"   {call.voice:>9} {call.level:<6} whole WER {whole_wer:.3f}"
            for rule, ctx in (("old", old), ("new", new)):
                heard = await _hear(ctx, call)
                words = [heard.words_of(span) for span in call.spans]
                missed[rule] += sum(w is None for w in words)
                texts = [w or "" for w in words]
                hyps[rule] += texts
                for ref, text, alone in zip(references, texts, whole, strict=True):
                    right = words_of(alone) & words_of(ref)
                    lost[rule][0] += len(right - words_of(text))
                    lost[rule][1] += len(right)
                wer = corpus_wer(references, texts)
                ratio = wer_ratio(wer, whole_wer)
                line += f" | {rule}: missed {sum(w is None for w in words)}, WER {wer:.3f}"
                line += f" (÷ whole {ratio:.2f})"
                details[f"{call.voice} {call.level}, {rule}: turn WER ÷ whole WER"] = ratio
                for text, alone in zip(texts, whole, strict=True):
                    if normalise(text) != normalise(alone):
                        print(f"      {rule} {call.voice} {call.level}: {text!r} / {alone!r}")
            print(line)
        all_refs = references * len(calls)
        whole_wer = corpus_wer(all_refs, hyps["whole"])
        details["whole WER, all voices and levels"] = whole_wer
        for rule in ("old", "new"):
            details[f"turn WER, {rule} rule"] = corpus_wer(all_refs, hyps[rule])
        details["utterances missed, old rule"] = missed["old"]
        for rule in ("old", "new"):
            share = lost[rule][0] / max(lost[rule][1], 1)
            details[f"right words of the whole lost by the turns, {rule} rule, %"] = 100 * share
        details["turn WER ÷ whole WER, old rule"] = wer_ratio(
            corpus_wer(all_refs, hyps["old"]), whole_wer
        )
        replies = await _first_replies({"old": old, "new": new}, calls)
    new_wer = wer_ratio(corpus_wer(all_refs, hyps["new"]), whole_wer)
    rows.append(("utterances missed (new rule)", float(missed["new"]), "0"))
    rows.append(("turn WER ÷ whole WER (new rule, all voices/levels)", new_wer, "≤ 1.05"))
    for pct in (50, 95):
        for rule in ("old", "new"):
            details[f"first reply frame p{pct} s, {rule} rule"] = percentile(replies[rule], pct)
        ratio = percentile(replies["new"], pct) / percentile(replies["old"], pct)
        rows.append((f"first reply p{pct}, new ÷ old", ratio, "≤ 1.0"))
    details["first reply frame median s, new rule"] = statistics.median(replies["new"])
    return rows, details


async def _hear(ctx, call: Call) -> Heard:
    """Feed the call to one rule; each turn's audio span and words."""
    from tests.support.turn_harness import PolicyCall

    heard = Heard()
    spans: dict[int, tuple[int, int]] = {}  # id of a turn's audio → its span in the call
    tasks: list[asyncio.Task[None]] = []

    class Recorded(PolicyCall):
        def _start_turn(self, work) -> None:
            super()._start_turn(work)
            tasks.append(self.turn_task)

        def _conversation_turn(self, utterance, vad_event, detected_at, utterance_start, **kw):
            spans[id(utterance)] = (utterance_start, utterance_start + len(utterance))
            return super()._conversation_turn(
                utterance, vad_event, detected_at, utterance_start, **kw
            )

    policy = Recorded(ctx)
    await policy.feed(call.mulaw)
    await policy.settle()
    await asyncio.gather(*tasks, return_exceptions=True)
    await policy.turn_taking.close()
    for decision in policy.turns():
        span = spans[id(decision.utterance)]
        words = decision.transcript
        if not (words and words.strip()):
            words = await _transcribe(ctx, decision.utterance)  # as the orchestrator would
        heard.turns.append((span[0], span[1], words))
    return heard


async def _transcribe(ctx, mulaw: bytes) -> str:
    from lidia.audio.codecs import wav_bytes
    from lidia.audio.mulaw import mulaw_to_pcm
    from lidia.phone.orchestrator_client import OrchestratorClient

    # Its own client: Whisper on a noisy sentence may think for long on a shared CPU.
    client = OrchestratorClient(ctx.orchestrator.base_url, timeout_s=300.0)
    try:
        return await client.transcribe(wav_bytes(mulaw_to_pcm(mulaw), RATE))
    finally:
        await client.aclose()


def _cut(call: Call, span: tuple[int, int]) -> bytes:
    margin = int(MARGIN_S * RATE)
    return call.mulaw[max(0, span[0] - margin) : span[1] + margin]


async def _first_replies(contexts: dict, calls: list[Call]) -> dict[str, list[float]]:
    """End of utterance → first reply frame, each rule in turn on the same sentences (a rule
    that answered before the last word replied to a fragment: its time is negative)."""
    from bench.bench_turn_taking import _one_reply
    from lidia.audio.mulaw import mulaw_to_pcm

    results: dict[str, list[float]] = {name: [] for name in contexts}
    normal = [c for c in calls if c.level == "normal"][:2]
    cases = [(c, span) for c in normal for span in c.spans[:4]]
    for index, (call, (start, end)) in enumerate(cases):
        names = list(contexts) if index % 2 == 0 else list(reversed(contexts))
        samples = mulaw_to_pcm(call.mulaw[start:end])
        for name in names:
            session = f"bench-hearing-{name}-{index}"
            delay, early = await _one_reply(contexts[name], samples, session)
            results[name].append(delay)
            note = "  (answered before the last word)" if early else ""
            print(f"   first reply frame, {name}: {delay:.3f} s  ({call.voice}){note}")
    return results


# ------------------------------------------------------------------ the callers


def _calls() -> list[Call]:
    from lidia.tts.engines.espeak import EspeakEngine
    from lidia.tts.engines.rhvoice import RHVoiceEngine

    rng = np.random.default_rng(23)
    rhvoice, espeak = RHVoiceEngine.load(), EspeakEngine.load()
    try:
        spoken = {
            voice: [_voiced(rhvoice, espeak, voice, text) for text in SENTENCES] for voice in VOICES
        }
    finally:
        rhvoice.close()
    return [
        _line_call(voice, level, db, spoken[voice], rng)
        for voice in VOICES
        for level, db in LEVELS_DB.items()
    ]


def _voiced(rhvoice, espeak, voice: str, text: str) -> np.ndarray:
    """The sentence at 8 kHz, silence trimmed, at the engine's own level."""
    from lidia.audio.codecs import resample

    if voice == "espeak":
        audio, rate = espeak.synthesize(text, "ru"), espeak.sample_rate
    else:
        audio, rate = rhvoice.synthesize(text, "ru", voice=voice), rhvoice.sample_rate
    samples = resample(audio, rate, RATE)
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1]


def _line_call(voice: str, level: str, db: float, sentences, rng) -> Call:
    from lidia.audio.codecs import pcm_to_mulaw

    gain = 10 ** (db / 20)
    parts = [np.zeros(int(LEAD_S * RATE), dtype=np.float32)]
    spans, position = [], parts[0].size
    for samples in sentences:
        parts += [samples * gain, np.zeros(int(GAP_S * RATE), dtype=np.float32)]
        spans.append((position, position + samples.size))
        position += samples.size + parts[-1].size
    audio = np.concatenate(parts)
    audio = audio + 10 ** (NOISE_DB / 20) * rng.standard_normal(audio.size)
    return Call(voice, level, pcm_to_mulaw(np.clip(audio, -1, 1).astype(np.float32)), spans)


if __name__ == "__main__":
    run()
