"""The OpenAI-compatible API, driven by the official `openai` SDK against a live server.

Real engines throughout: RHVoice (primary) + espeak-ng speak, tiny.en transcribes, and the
secretary talks to the fake OpenAI-compatible LLM server through the real backend code.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import openai
import pytest

from lidia.audio.codecs import CONTENT_TYPES
from lidia.orchestrator.app import create_app
from lidia.orchestrator.openai_voices import engine_for_model
from lidia.orchestrator.routes.openai_chat import ChatMessageIn, last_user_text, session_for
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.espeak import EspeakEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.fake_llm_servers import DEFAULT_REPLY, EventLog, FakeOpenAI
from tests.support.live_server import live_server
from tests.support.speech_fixtures import ENGLISH_EXPECTED_WORDS, ENGLISH_SENTENCE, espeak_wav

RUSSIAN = "Здравствуйте! Вы позвонили в нашу компанию. Чем я могу вам помочь?"
THREE_SENTENCES = (
    "Первое предложение довольно длинное. "
    "Второе предложение тоже не короткое. "
    "Третье предложение завершает этот текст."
)
# What PyAV reports for each format from a 24 kHz engine (RHVoice); Opus always decodes at 48k.
DECODED_RATES = {"mp3": 24_000, "opus": 48_000, "aac": 24_000, "flac": 24_000, "wav": 24_000}


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    fake_openai: FakeOpenAI,
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("openai-api")
    settings = make_settings(root, openai_base_url=fake_openai.base_url, llm_timeout_s=5)
    with live_server(create_app(settings, stt=tiny_stt, tts=fallback_voice)) as url:
        yield url


@pytest.fixture
def sdk(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="not-checked", max_retries=0) as client:
        yield client


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode any container with PyAV: float32 mono samples and the stream's sample rate."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        to_float = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pieces = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in to_float.resample(frame)
        ]
    return np.concatenate(pieces), rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def pcm_samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


# --------------------------------------------------------------------------- discovery


def test_models_list_names_chat_speech_and_stt_models(sdk: openai.OpenAI) -> None:
    ids = [m.id for m in sdk.models.list()]
    for expected in ("lidia", "tts-1", "tts-1-hd", "whisper-1", "rhvoice", "espeak"):
        assert expected in ids
    assert all(m.object == "model" and m.owned_by for m in sdk.models.list())


def test_audio_models_and_voices_have_openwebui_shapes(base_url: str) -> None:
    models = httpx.get(f"{base_url}/v1/audio/models").json()["models"]
    assert {"id": "tts-1"} in models and {"id": "tts-1-hd"} in models
    voices = httpx.get(f"{base_url}/v1/audio/voices").json()["voices"]
    ids = [v["id"] for v in voices]
    assert ids[0] == "lidia"
    assert "rhvoice-anna" in ids and "espeak-ru" in ids
    assert all(set(v) == {"id", "name"} and v["name"] for v in voices)


# --------------------------------------------------------------------------- speech


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_speech_in_each_container_format_is_real_audio(sdk: openai.OpenAI, fmt: str) -> None:
    response = sdk.audio.speech.create(
        model="tts-1", voice="alloy", input=RUSSIAN, response_format=fmt
    )
    assert response.response.headers["content-type"] == CONTENT_TYPES[fmt]
    samples, rate = decode(response.content)
    assert rate == DECODED_RATES[fmt]
    assert len(samples) / rate > 1.0  # a whole sentence, not a click
    assert rms(samples) > 0.02


def test_pcm_is_raw_24khz_s16le_resampled_from_the_engine_rate(sdk: openai.OpenAI) -> None:
    # espeak-ng speaks at 22.05 kHz: the pcm must be resampled, keeping the duration.
    wav = sdk.audio.speech.create(
        model="espeak", voice="espeak-ru", input=RUSSIAN, response_format="wav"
    )
    pcm = sdk.audio.speech.create(
        model="espeak", voice="espeak-ru", input=RUSSIAN, response_format="pcm"
    )
    assert pcm.response.headers["content-type"] == CONTENT_TYPES["pcm"]
    wav_samples, wav_rate = decode(wav.content)
    assert wav_rate == 22_050
    samples = pcm_samples(pcm.content)
    assert len(pcm.content) % 2 == 0
    assert len(samples) / 24_000 == pytest.approx(len(wav_samples) / wav_rate, rel=0.01)
    assert rms(samples) > 0.02


def test_openwebui_request_without_format_gets_mp3(base_url: str) -> None:
    # Exactly what OpenWebUI sends: model, input, voice; no response_format, no speed.
    response = httpx.post(
        f"{base_url}/v1/audio/speech",
        json={"model": "tts-1-hd", "input": "Добрый день.", "voice": "lidia"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    samples, _ = decode(response.content)
    assert rms(samples) > 0.02


def test_speed_is_applied_by_the_engine(sdk: openai.OpenAI) -> None:
    def seconds(speed: float) -> float:
        data = sdk.audio.speech.create(
            model="tts-1", voice="rhvoice-anna", input=RUSSIAN, response_format="wav", speed=speed
        ).content
        samples, rate = decode(data)
        return len(samples) / rate

    normal, fast, slow = seconds(1.0), seconds(2.0), seconds(0.5)
    assert fast < 0.8 * normal < slow


@pytest.mark.parametrize(
    ("model", "voice", "engine", "voice_id"),
    [
        ("tts-1", "ash", "rhvoice", "rhvoice-aleksandr"),  # male OpenAI voice → male voice
        ("tts-1", "onyx", "rhvoice", "rhvoice-vitaliy"),  # male, rank 5
        ("tts-1", "nova", "rhvoice", "rhvoice-tatiana"),  # female, rank 3
        ("tts-1", "alloy", "rhvoice", "rhvoice-anna"),  # OpenWebUI's default → default voice
        ("tts-1-hd", "lidia", "rhvoice", "default"),  # no XTTS here: the primary voice
        ("tts-1", "espeak-en", "espeak", "espeak-en"),  # an engine voice picks its engine
        ("espeak", "shimmer", "espeak", "default"),
        ("tts-1", "no-such-voice", "rhvoice", "default"),  # unknown: default, not a 422
        ("gpt-4o-mini-tts", "coral", "rhvoice", "rhvoice-elena"),  # unknown model: primary
    ],
)
def test_models_and_voices_map_to_engines(
    sdk: openai.OpenAI, model: str, voice: str, engine: str, voice_id: str
) -> None:
    response = sdk.audio.speech.create(
        model=model, voice=voice, input="Проверка.", response_format="wav"
    )
    assert response.response.headers["x-tts-engine"] == engine
    assert response.response.headers["x-tts-voice"] == voice_id
    assert rms(decode(response.content)[0]) > 0.02


def test_model_names_choose_engines() -> None:
    everything = ["xtts", "rhvoice", "espeak"]
    assert engine_for_model("tts-1", everything, "xtts") == "rhvoice"
    assert engine_for_model("tts-1", ["xtts", "espeak"], "xtts") == "espeak"
    assert engine_for_model("tts-1-hd", everything, "xtts") == "xtts"
    assert engine_for_model("tts-1-hd", ["rhvoice", "espeak"], "rhvoice") == "rhvoice"
    assert engine_for_model("espeak", everything, "xtts") == "espeak"
    assert engine_for_model("xtts", ["espeak"], "espeak") == "espeak"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": "   "}, 400, "input"),
        ({"input": "а" * 5001}, 413, "input"),
        ({"input": "Текст.", "response_format": "ogg"}, 422, "response_format"),
        ({"input": "Текст.", "speed": 5}, 422, "speed"),
        ({"input": "Текст.", "speed": 0.1}, 422, "speed"),
        ({"voice": "alloy"}, 422, "input"),
    ],
)
def test_invalid_speech_requests_get_openai_errors_before_any_audio(
    base_url: str, body: dict, status: int, param: str
) -> None:
    request = {"model": "tts-1", "voice": "alloy", "response_format": "mp3", **body}
    response = httpx.post(f"{base_url}/v1/audio/speech", json=request, timeout=30)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["param"] == param and error["message"] and error["type"]


def test_sdk_raises_bad_request_for_empty_input(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        sdk.audio.speech.create(model="tts-1", voice="alloy", input="")


class GatedEspeak(EspeakEngine):
    """The real espeak-ng engine, logging each synthesis; the last sentence waits for a gate.

    The gate opens when the client has received its first audio bytes. If the server only
    sent audio after synthesizing everything, the client's first bytes would come after
    the last synthesis ended (the gate times out): the event order proves streaming. (The
    voice service may start the next sentence before the client has read the current one.)
    """

    log: EventLog
    gate: threading.Event
    last_sentence_marker = "Третье"

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        self.log.add("engine", "synthesis-start", text=text)
        if self.last_sentence_marker in text:
            self.gate.wait(timeout=20)
        audio = super().synthesize(text, language, voice=voice, speed=speed)
        self.log.add("engine", "synthesis-end", text=text)
        return audio


@pytest.fixture(scope="module")
def gated() -> GatedEspeak:
    engine = GatedEspeak.load("ru")
    engine.log = EventLog()
    engine.gate = threading.Event()
    return engine


@pytest.fixture(scope="module")
def gated_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_stt: FasterWhisperEngine, gated: GatedEspeak
) -> Iterator[str]:
    # 40-character chunks: each sentence is synthesized on its own.
    settings = make_settings(tmp_path_factory.mktemp("gated"), tts_chunk_chars=40)
    with live_server(create_app(settings, stt=tiny_stt, tts=gated)) as url:
        yield url
    gated.gate.set()


@pytest.mark.parametrize("fmt", ["pcm", "mp3", "opus"])
def test_speech_streams_before_the_last_sentence_is_synthesized(
    gated_url: str, gated: GatedEspeak, fmt: str
) -> None:
    gated.log.clear()
    gated.gate.clear()
    client = openai.OpenAI(base_url=f"{gated_url}/v1", api_key="x", max_retries=0)
    chunks: list[bytes] = []
    try:
        with (
            client,
            client.audio.speech.with_streaming_response.create(
                model="espeak", voice="espeak-ru", input=THREE_SENTENCES, response_format=fmt
            ) as response,
        ):
            assert response.headers.get("transfer-encoding") == "chunked"
            for chunk in response.iter_bytes():
                if not chunks:
                    gated.log.add("client", "first-bytes")
                    gated.gate.set()
                chunks.append(chunk)
    finally:
        gated.gate.set()
    starts = gated.log.events("engine", "synthesis-start")
    assert len(starts) == 3, [e.data["text"] for e in starts]
    ends = gated.log.events("engine", "synthesis-end")
    last_end = next(e for e in ends if "Третье" in e.data["text"])
    first_bytes = gated.log.events("client", "first-bytes")[0]
    assert first_bytes.seq < last_end.seq
    assert len(chunks) > 1
    audio = b"".join(chunks)
    samples = pcm_samples(audio) if fmt == "pcm" else decode(audio)[0]
    assert rms(samples) > 0.02


# --------------------------------------------------------------------------- transcription


@pytest.fixture(scope="module")
def english_wav() -> bytes:
    return espeak_wav(ENGLISH_SENTENCE)


def assert_heard(text: str) -> None:
    lowered = text.lower()
    for word in ENGLISH_EXPECTED_WORDS:
        assert word in lowered, text


def test_transcription_json(sdk: openai.OpenAI, english_wav: bytes) -> None:
    result = sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", english_wav))
    assert_heard(result.text)


def test_transcription_text(sdk: openai.OpenAI, english_wav: bytes) -> None:
    result = sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", english_wav), response_format="text", language="en"
    )
    assert isinstance(result, str)
    assert_heard(result)


def test_transcription_srt_and_vtt(sdk: openai.OpenAI, english_wav: bytes) -> None:
    srt = sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", english_wav), response_format="srt"
    )
    lines = srt.splitlines()
    assert lines[0] == "1"
    assert lines[1].startswith("00:00:0") and " --> " in lines[1] and "," in lines[1]
    assert_heard(srt)
    vtt = sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", english_wav), response_format="vtt"
    )
    assert vtt.startswith("WEBVTT\n\n")
    assert " --> " in vtt and "." in vtt.splitlines()[2]
    assert_heard(vtt)


def test_transcription_verbose_json_with_words_and_segments(
    sdk: openai.OpenAI, english_wav: bytes
) -> None:
    result = sdk.audio.transcriptions.create(
        model="whisper-1",
        file=("a.wav", english_wav),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        temperature=0.0,
        prompt="A test recording.",
    )
    assert result.language == "english"
    assert result.duration == pytest.approx(len(english_wav[44:]) / 2 / 22_050, rel=0.05)
    assert_heard(result.text)
    assert result.segments and result.segments[0].start >= 0
    assert all(s.end > s.start for s in result.segments)
    words = result.words or []
    assert "hello" in words[0].word.lower()
    assert all(0 <= w.start <= w.end <= result.duration + 0.5 for w in words)


def test_transcription_verbose_json_without_granularities_has_segments_only(
    base_url: str, english_wav: bytes
) -> None:
    response = httpx.post(
        f"{base_url}/v1/audio/transcriptions",
        files={"file": ("a.wav", english_wav, "audio/wav")},
        data={"model": "whisper-1", "response_format": "verbose_json"},
        timeout=60,
    )
    body = response.json()
    assert body["task"] == "transcribe" and body["segments"] and "words" not in body


def test_transcription_language_the_model_lacks_is_a_4xx(
    sdk: openai.OpenAI, english_wav: bytes
) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        sdk.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", english_wav), language="ru"
        )
    assert caught.value.body["param"] == "language"


@pytest.mark.parametrize(
    ("files", "data", "status", "param"),
    [
        (None, {"model": "whisper-1"}, 400, "file"),
        ({"file": ("a.wav", b"not audio at all", "audio/wav")}, {}, 400, "file"),
        (
            {"file": ("a.wav", b"RIFF", "audio/wav")},
            {"response_format": "docx"},
            422,
            "response_format",
        ),
        (
            {"file": ("a.wav", b"RIFF", "audio/wav")},
            {"timestamp_granularities[]": "char"},
            422,
            "timestamp_granularities",
        ),
    ],
)
def test_invalid_transcription_requests(
    base_url: str, files: dict | None, data: dict, status: int, param: str
) -> None:
    response = httpx.post(
        f"{base_url}/v1/audio/transcriptions",
        files=files or {"other": ("x", b"x")},
        data=data,
        timeout=30,
    )
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


# --------------------------------------------------------------------------- chat


def test_chat_completion_is_the_secretary(sdk: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset()
    completion = sdk.chat.completions.create(
        model="lidia",
        messages=[
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "old question"},
            {"role": "assistant", "content": "old answer"},
            {"role": "user", "content": "Когда вы работаете?"},
        ],
        user="chat-test-1",
    )
    assert completion.object == "chat.completion"
    assert completion.model == "lidia"
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    sent = fake_openai.requests[-1].body["messages"]
    contents = [m["content"] for m in sent]
    # The secretary's persona replaces the client's system prompt; its own memory (empty
    # for a new session) replaces the client's history.
    assert contents[-1] == "Когда вы работаете?"
    assert "old question" not in contents and "You are a pirate." not in contents


def test_chat_memory_is_keyed_by_user_and_session_header(
    sdk: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reset()
    sdk.chat.completions.create(
        model="lidia",
        messages=[{"role": "user", "content": "Меня зовут Иван."}],
        user="memory-test",
    )
    sdk.chat.completions.create(
        model="lidia",
        messages=[{"role": "user", "content": "Как меня зовут?"}],
        user="memory-test",
    )
    remembered = [m["content"] for m in fake_openai.requests[-1].body["messages"]]
    assert "Меня зовут Иван." in remembered and DEFAULT_REPLY in remembered
    sdk.chat.completions.create(
        model="lidia",
        messages=[{"role": "user", "content": "Кто я?"}],
        user="memory-test",
        extra_headers={"X-Session-Id": "another-session"},
    )
    fresh = [m["content"] for m in fake_openai.requests[-1].body["messages"]]
    assert "Меня зовут Иван." not in fresh


def test_chat_completion_streams_openai_chunks(sdk: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset()
    stream = sdk.chat.completions.create(
        model="lidia",
        messages=[{"role": "user", "content": "Здравствуйте"}],
        stream=True,
        stream_options={"include_usage": True},
        user="stream-test",
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_REPLY
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_chat_stream_ends_with_done(base_url: str, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset()
    with httpx.stream(
        "POST",
        f"{base_url}/v1/chat/completions",
        timeout=30,
        json={
            "model": "lidia",
            "stream": True,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Привет"}]}],
        },
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert fake_openai.requests[-1].body["messages"][-1]["content"] == "Привет"


@pytest.mark.parametrize(
    "messages",
    [[{"role": "system", "content": "hi"}], [{"role": "user", "content": "  "}], []],
)
def test_chat_without_user_text_is_a_400(base_url: str, messages: list) -> None:
    response = httpx.post(
        f"{base_url}/v1/chat/completions", timeout=30, json={"model": "lidia", "messages": messages}
    )
    assert response.status_code in (400, 422)
    assert response.json()["error"]["param"] == "messages"


def test_last_user_text_and_session_ids() -> None:
    messages = [
        ChatMessageIn(role="user", content="a"),
        ChatMessageIn(role="assistant", content="b"),
        ChatMessageIn(
            role="user",
            content=[{"type": "text", "text": "c"}, {"type": "image_url", "image_url": {}}],
        ),
    ]
    assert last_user_text(messages) == "c"
    assert session_for(None, None, None) == "openai-default"
    assert session_for("s1", "chat", "u") == "s1"
    assert session_for(None, "chat-1", "u") == "chat-1"
    assert session_for(None, None, "u-1") == "u-1"
    hashed = session_for(None, None, "Ivan Petrov <ivan@example.com>")
    assert hashed.startswith("openai-") and hashed == session_for(
        None, None, "Ivan Petrov <ivan@example.com>"
    )


def test_live_server_serves_until_closed(
    tmp_path: Path, tiny_stt: FasterWhisperEngine, fallback_voice: VoiceService
) -> None:
    app = create_app(make_settings(tmp_path), stt=tiny_stt, tts=fallback_voice)
    with live_server(app) as url:
        assert httpx.get(f"{url}/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)
