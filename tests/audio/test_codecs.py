"""audio.py: decoding uploads, encoding replies, streaming encoders, G.711 μ-law.

Inputs are generated at test time (sine tones encoded by PyAV, espeak-ng speech, sox);
outputs are checked by decoding them with PyAV directly, independent of audio.py.
"""

from __future__ import annotations

import io
import struct
import subprocess

import av
import numpy as np
import pytest
import soundfile

from lidia.audio import codecs as audio
from lidia.core import errors
from tests.support.speech_fixtures import encode_with_pyav, espeak_wav, sine

TONE_HZ = 440.0


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / sample_rate)[np.argmax(spectrum)])


def pyav_decode(data: bytes) -> tuple[str, int, np.ndarray]:
    """(codec name, sample rate, float32 samples) of a mono file, straight from PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        to_float = av.AudioResampler(format="flt", layout="mono", rate=rate)
        frames = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in to_float.resample(frame)
        ]
        frames += [out.to_ndarray().reshape(-1) for out in to_float.resample(None)]
        return stream.codec_context.name, rate, np.concatenate(frames)


# --------------------------------------------------------------------------- decoding

# (kind, sample rate, channels): every container at the rates its codec allows.
DECODE_CASES = [
    ("wav", 8000, 1),
    ("wav", 22050, 1),
    ("wav", 44100, 2),
    ("wav", 48000, 1),
    ("wav-u8", 8000, 1),
    ("wav-s24", 48000, 2),
    ("wav-float", 44100, 2),
    ("wav-mulaw", 8000, 1),
    ("mp3", 8000, 1),
    ("mp3", 22050, 1),
    ("mp3", 44100, 2),
    ("mp3", 48000, 1),
    ("ogg-opus", 8000, 1),
    ("ogg-opus", 16000, 1),
    ("ogg-opus", 48000, 2),
    ("ogg-vorbis", 22050, 2),
    ("ogg-vorbis", 44100, 2),
    ("webm-opus", 48000, 1),
    ("webm-opus", 48000, 2),
    ("flac", 8000, 1),
    ("flac", 44100, 2),
    ("flac", 96000, 1),
    ("m4a-aac", 22050, 1),
    ("m4a-aac", 44100, 2),
    ("m4a-aac", 48000, 1),
]


@pytest.mark.parametrize(("kind", "rate", "channels"), DECODE_CASES)
def test_decode_any_container_to_16k_mono(kind: str, rate: int, channels: int) -> None:
    data = encode_with_pyav(sine(1.5, rate, frequency=TONE_HZ), rate, kind, channels=channels)

    samples = audio.decode_audio(data)

    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size / 16000 - 1.5) <= 0.05
    # Channels are averaged, not summed: a 0.3-amplitude tone keeps its level.
    assert 0.17 < audio.rms(samples) < 0.25
    assert abs(dominant_frequency(samples, 16000) - TONE_HZ) < 5


def test_decode_to_other_rate() -> None:
    data = encode_with_pyav(sine(1.0, 44100), 44100, "flac", channels=2)

    samples = audio.decode_audio(data, sample_rate=8000)

    assert abs(samples.size - 8000) <= 8
    assert abs(dominant_frequency(samples, 8000) - TONE_HZ) < 5


def test_decode_espeak_speech_wav() -> None:
    data = espeak_wav("Testing one two three.")
    expected_seconds = soundfile.info(io.BytesIO(data)).duration

    samples = audio.decode_audio(data)

    assert abs(samples.size / 16000 - expected_seconds) <= 0.05
    assert audio.rms(samples) > 0.01


def test_decode_streamed_wav_with_unknown_length() -> None:
    # Size fields 0xFFFFFFFF mean "until the end": not a truncated file.
    pcm = audio.float_to_int16(sine(1.0, 16000)).tobytes()
    header = bytearray(audio.wav_bytes(np.zeros(0, dtype=np.float32), 16000))
    header[4:8] = header[40:44] = struct.pack("<I", 0xFFFFFFFF)

    samples = audio.decode_audio(bytes(header) + pcm)

    assert samples.size == 16000


def test_empty_bytes_is_empty_audio() -> None:
    with pytest.raises(errors.EmptyAudioError, match="empty"):
        audio.decode_audio(b"")


def test_wav_without_frames_is_empty_audio() -> None:
    with pytest.raises(errors.EmptyAudioError, match="no audio frames"):
        audio.decode_audio(audio.wav_bytes(np.zeros(0, dtype=np.float32), 16000))


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is a text file, not audio at all\n" * 20,
        b'{"model": "whisper-1", "file": null}',
        np.random.default_rng(7).bytes(20_000),
        b"\x00" * 4096,
    ],
    ids=["text", "json", "random", "zeros"],
)
def test_garbage_is_invalid_audio(garbage: bytes) -> None:
    with pytest.raises(errors.InvalidAudioError, match="not an audio file") as caught:
        audio.decode_audio(garbage)
    assert caught.value.status_code == 400


def test_image_is_invalid_audio() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)

    with pytest.raises(errors.InvalidAudioError, match="no audio track"):
        audio.decode_audio(buffer.getvalue())


def test_truncated_wav_names_the_problem() -> None:
    whole = audio.wav_bytes(sine(1.0, 16000), 16000)
    cut = whole[: len(whole) // 2]

    with pytest.raises(errors.InvalidAudioError) as caught:
        audio.decode_audio(cut)

    assert caught.value.message == (
        f"truncated WAV: header says 32000 bytes of audio, file has {len(cut) - 44}"
    )
    assert caught.value.status_code == 400


def test_wav_cut_inside_its_header_is_truncated() -> None:
    with pytest.raises(errors.InvalidAudioError, match="truncated WAV"):
        audio.decode_audio(audio.wav_bytes(sine(0.1, 16000), 16000)[:30])


def test_truncated_m4a_is_reported_as_truncated() -> None:
    whole = encode_with_pyav(sine(1.0, 44100), 44100, "m4a-aac")

    with pytest.raises(errors.InvalidAudioError, match="truncated or corrupt"):
        audio.decode_audio(whole[: len(whole) // 2])


def test_truncated_mp3_decodes_what_is_there() -> None:
    whole = encode_with_pyav(sine(2.0, 22050), 22050, "mp3")

    samples = audio.decode_audio(whole[: len(whole) // 2])

    assert 0.7 < samples.size / 16000 < 1.3


def test_decode_refuses_audio_longer_than_the_cap() -> None:
    data = encode_with_pyav(sine(3.0, 8000), 8000, "flac")

    with pytest.raises(errors.AudioTooLargeError, match="2 s limit"):
        audio.decode_audio(data, max_seconds=2)


# --------------------------------------------------------------------------- encoding

LOSSLESS = ("wav", "flac")
LOSSY = ("mp3", "opus", "aac")


@pytest.mark.parametrize("fmt", [*LOSSLESS, *LOSSY])
def test_encode_audio_decodes_back(fmt: str) -> None:
    tone = sine(2.0, 24000)

    data = audio.encode_audio(tone, 24000, fmt)

    codec, rate, decoded = pyav_decode(data)
    assert rate == (48000 if fmt == "opus" else 24000)  # Opus always decodes at 48 kHz
    if fmt in LOSSLESS:
        assert decoded.size == tone.size
        assert np.max(np.abs(decoded - tone)) <= 1 / 32768 + 1e-7
    else:
        # Encoder delay and frame padding add at most ~0.1 s.
        assert 0 <= decoded.size / rate - 2.0 <= 0.1, codec
        assert abs(dominant_frequency(decoded, rate) - TONE_HZ) < 5


def test_encode_pcm_is_raw_s16le_at_target_rate() -> None:
    tone = sine(1.0, 22050)

    data = audio.encode_audio(tone, 22050, "pcm", target_rate=24000)

    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
    assert samples.size == 24000
    assert abs(dominant_frequency(samples, 24000) - TONE_HZ) < 5


def test_encode_wav_resamples_to_target_rate() -> None:
    data = audio.encode_audio(sine(1.0, 22050), 22050, "wav", target_rate=8000)

    info = soundfile.info(io.BytesIO(data))
    assert (info.samplerate, info.frames, info.channels) == (8000, 8000, 1)
    assert info.subtype == "PCM_16"


def test_formats_with_fixed_rates_pick_the_next_allowed_rate() -> None:
    assert audio.output_rate("opus", 22050) == 24000
    assert audio.output_rate("opus", 8000) == 8000
    assert audio.output_rate("mp3", 96000) == 48000
    assert audio.output_rate("pcm", 22050) == 22050
    _, rate, _ = pyav_decode(audio.encode_audio(sine(0.5, 96000), 96000, "mp3"))
    assert rate == 48000


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(errors.UnsupportedFormatError, match="supported: mp3"):
        audio.encode_audio(sine(0.1, 16000), 16000, "wma")
    with pytest.raises(errors.UnsupportedFormatError):
        audio.StreamEncoder("ogg", 16000)


def test_content_types_cover_every_format() -> None:
    assert set(audio.CONTENT_TYPES) == set(audio.FORMATS)
    assert audio.CONTENT_TYPES["mp3"] == "audio/mpeg"
    assert audio.CONTENT_TYPES["opus"].startswith("audio/ogg")


# --------------------------------------------------------------------------- streaming


def feed_in_chunks(encoder: audio.StreamEncoder, samples: np.ndarray, chunk: int) -> list[bytes]:
    return [encoder.encode(samples[i : i + chunk]) for i in range(0, samples.size, chunk)]


@pytest.mark.parametrize("fmt", audio.FORMATS)
def test_stream_encoder_output_is_one_valid_file(fmt: str) -> None:
    tone = sine(3.0, 24000)
    encoder = audio.StreamEncoder(fmt, 24000)

    pieces = [*feed_in_chunks(encoder, tone, 2400), encoder.finish()]

    data = b"".join(pieces)
    if fmt == "pcm":
        decoded = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
        rate = 24000
    else:
        _, rate, decoded = pyav_decode(data)
    assert abs(decoded.size / rate - 3.0) <= 0.1
    assert abs(dominant_frequency(decoded, rate) - TONE_HZ) < 5


@pytest.mark.parametrize("fmt", audio.FORMATS)
def test_stream_encoder_emits_audio_before_finish(fmt: str) -> None:
    tone = sine(3.0, 24000)
    encoder = audio.StreamEncoder(fmt, 24000)

    early = b"".join(feed_in_chunks(encoder, tone[:24000], 2400))  # the first second

    # What a client already has after one second plays as most of that second.
    played = np.frombuffer(early, "<i2") if fmt == "pcm" else audio.decode_audio(early)
    seconds = played.size / (24000 if fmt == "pcm" else 16000)
    assert seconds >= 0.5
    encoder.encode(tone[24000:])
    encoder.finish()


def test_stream_encoder_resamples_to_target_rate() -> None:
    encoder = audio.StreamEncoder("pcm", 22050, target_rate=24000)
    tone = sine(2.0, 22050)

    data = b"".join([*feed_in_chunks(encoder, tone, 1000), encoder.finish()])

    assert encoder.output_rate == 24000
    assert abs(len(data) // 2 - 48000) <= 2
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
    assert abs(dominant_frequency(samples, 24000) - TONE_HZ) < 5


def test_streamed_wav_header_says_unknown_length() -> None:
    encoder = audio.StreamEncoder("wav", 16000)

    data = encoder.encode(sine(0.5, 16000)) + encoder.finish()

    assert data[4:8] == data[40:44] == b"\xff\xff\xff\xff"
    assert soundfile.info(io.BytesIO(data)).frames == 8000


def test_stream_encoder_refuses_audio_after_finish() -> None:
    encoder = audio.StreamEncoder("mp3", 16000)
    encoder.finish()

    with pytest.raises(RuntimeError, match="after finish"):
        encoder.encode(sine(0.1, 16000))


# --------------------------------------------------------------------------- helpers


def test_resample_keeps_duration_and_pitch() -> None:
    resampled = audio.resample(sine(1.0, 44100), 44100, 16000)

    assert resampled.dtype == np.float32 and resampled.size == 16000
    assert abs(dominant_frequency(resampled, 16000) - TONE_HZ) < 2


def test_rms_and_silence() -> None:
    assert audio.rms(sine(1.0, 16000)) == pytest.approx(0.3 / np.sqrt(2), rel=1e-3)
    quiet = audio.silence(0.25, 8000)
    assert quiet.size == 2000 and audio.rms(quiet) == 0.0
    assert audio.rms(np.zeros(0, dtype=np.float32)) == 0.0


def test_wav_bytes_round_trip() -> None:
    tone = sine(0.5, 22050)

    data = audio.wav_bytes(tone, 22050)

    read, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == 22050 and soundfile.info(io.BytesIO(data)).subtype == "PCM_16"
    assert np.max(np.abs(read - tone)) <= 1 / 32768 + 1e-7


# --------------------------------------------------------------------------- μ-law

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def ffmpeg_mulaw_codec(direction: str) -> av.CodecContext:
    codec = av.CodecContext.create("pcm_mulaw", direction)
    codec.sample_rate, codec.layout, codec.format = 8000, "mono", "s16"
    return codec


def ffmpeg_mulaw_encode(values: np.ndarray) -> np.ndarray:
    encoder = ffmpeg_mulaw_codec("w")
    frame = av.AudioFrame.from_ndarray(values.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts = 8000, 0
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    return np.frombuffer(b"".join(bytes(p) for p in packets), dtype=np.uint8)


def ffmpeg_mulaw_decode(codes: bytes) -> np.ndarray:
    frames = ffmpeg_mulaw_codec("r").decode(av.Packet(codes))
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def test_mulaw_decoding_matches_ffmpeg_for_every_code() -> None:
    every_code = bytes(range(256))

    expected = ffmpeg_mulaw_decode(every_code).astype(np.float32) / 32768

    np.testing.assert_array_equal(audio.mulaw_to_pcm(every_code), expected)


def test_mulaw_g711_anchor_codes() -> None:
    values = np.array([0, -1, 32767, -32768, 8, -8], dtype=np.int16)

    codes = audio.pcm_to_mulaw(values)

    # +0, -0, loudest positive, loudest negative; ±8 is one step above zero.
    assert codes == bytes([0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E])


@pytest.mark.parametrize("reference", ["ffmpeg", "sox"])
def test_mulaw_encoding_agrees_with_reference_encoders(reference: str) -> None:
    ours = np.frombuffer(audio.pcm_to_mulaw(ALL_INT16), dtype=np.uint8)
    if reference == "ffmpeg":
        theirs = ffmpeg_mulaw_encode(ALL_INT16)
    else:
        theirs = np.frombuffer(
            subprocess.run(
                [
                    "sox",
                    "-V1",
                    "-t",
                    "raw",
                    "-r",
                    "8000",
                    "-e",
                    "signed",
                    "-b",
                    "16",
                    "-c",
                    "1",
                    "-",
                    "-t",
                    "raw",
                    "-e",
                    "u-law",
                    "-",
                ],
                input=ALL_INT16.astype("<i2").tobytes(),
                capture_output=True,
                check=True,
            ).stdout,
            dtype=np.uint8,
        )

    # Encoders differ only at decision boundaries, by one quantisation level.
    decode = ffmpeg_mulaw_decode(bytes(range(256))).astype(np.int32)
    differ = ours != theirs
    assert differ.mean() < 0.02
    levels = np.unique(decode)  # the 255 distinct output levels (+0 and -0 coincide)
    rank = np.searchsorted(levels, decode)
    assert np.all(np.abs(rank[ours[differ]] - rank[theirs[differ]]) <= 1)
    error_ours = np.abs(decode[ours] - ALL_INT16)
    error_theirs = np.abs(decode[theirs] - ALL_INT16)
    assert error_ours.max() == error_theirs.max()


def test_mulaw_round_trip_keeps_speech_quality() -> None:
    tone = sine(1.0, 8000, frequency=300)

    codes = audio.pcm_to_mulaw(tone)
    back = audio.mulaw_to_pcm(codes)

    assert len(codes) == 8000 and back.dtype == np.float32
    snr_db = 20 * np.log10(audio.rms(tone) / audio.rms(back - tone))
    assert snr_db > 30  # G.711 gives ~38 dB on a loud tone


def test_mulaw_twilio_frame_sizes() -> None:
    frame = audio.pcm_to_mulaw(sine(0.02, audio.MULAW_SAMPLE_RATE))

    assert len(frame) == audio.MULAW_FRAME_BYTES
    assert audio.mulaw_to_pcm(frame).size == 160
