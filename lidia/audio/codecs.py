"""Audio in and out: decode any upload, encode replies, stream encoders, G.711 μ-law.

Everything here is CPU-bound and blocking but fast (FFmpeg through PyAV, soxr, numpy);
call it from a worker thread when the input is large. Samples are float32 mono in
[-1, 1] throughout; sample rates are explicit arguments, never guessed.

Formats produced (`CONTENT_TYPES` keys; OpenAI's `response_format` names):
- ``mp3``  MPEG-1/2 layer III (libmp3lame), 64 kbit/s mono.
- ``opus`` Opus in Ogg, 32 kbit/s; Ogg pages are flushed every 100 ms when streaming.
- ``aac``  AAC-LC in ADTS frames (plays from any frame, so it streams).
- ``flac`` FLAC, 16-bit.
- ``wav``  RIFF/WAVE 16-bit PCM. Whole files carry exact sizes; streamed WAV carries
  0xFFFFFFFF in both size fields ("unknown length", what FFmpeg itself writes to a pipe;
  FFmpeg, browsers, VLC and mpv play it to the end of the stream).
- ``pcm``  raw signed 16-bit little-endian samples, no header. Served as
  ``application/octet-stream``: ``audio/L16`` (RFC 2586) means big-endian samples.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import av
import numpy as np
import soxr

from lidia.core import errors

WAV_FORMATS = ("wav", "pcm")
ENCODED_FORMATS = ("mp3", "opus", "aac", "flac")
FORMATS = (*ENCODED_FORMATS, *WAV_FORMATS)

CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "application/octet-stream",
}

# A decoded upload is capped so a tiny, highly compressed file (hours of FLAC silence)
# cannot take the process's memory: 2 h at 16 kHz float32 is 460 MB.
DEFAULT_MAX_DECODE_SECONDS = 2 * 60 * 60

# Size fields at or above this are streaming placeholders ("length unknown"), not a
# promise of 2 GB of audio: FFmpeg writes 0xFFFFFFFF, sox 0x7FFFF000-ish values.
_WAV_UNKNOWN_LENGTH = 0x7FFF0000
_STREAMED_WAV_SIZE = 0xFFFFFFFF

# How many undecodable packets a file may contain before we call it corrupt; FFmpeg's
# CLI also skips the odd damaged packet (a glitch in an otherwise good recording).
_MAX_BAD_PACKETS = 20


# --------------------------------------------------------------------------- basics


def as_float32_mono(samples: np.ndarray) -> np.ndarray:
    """Return `samples` as 1-D float32 in [-1, 1].

    int16 input is scaled by 1/32768; a 2-D array is taken as (frames, channels)
    and averaged to mono.
    """
    array = np.asarray(samples)
    if array.dtype == np.int16:
        array = array.astype(np.float32) / 32768.0
    array = array.astype(np.float32, copy=False)
    if array.ndim == 2:
        array = array.mean(axis=1, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {array.shape}")
    return array


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """Scale float samples to int16, rounding and clipping to the int16 range."""
    # x 32768 and clip, as FFmpeg does: exact inverse of the int16 -> float scaling.
    scaled = np.rint(as_float32_mono(samples) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample float32 mono audio with soxr (high quality). Same rate: no copy."""
    array = as_float32_mono(samples)
    if from_rate == to_rate or array.size == 0:
        return array
    return soxr.resample(array, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def rms(samples: np.ndarray) -> float:
    """Root mean square level of the samples (0.0 for no samples)."""
    array = as_float32_mono(samples)
    if array.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(array, dtype=np.float64))))


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    """`seconds` of digital silence as float32 mono."""
    return np.zeros(max(0, round(seconds * sample_rate)), dtype=np.float32)


def _wav_header(sample_rate: int, data_bytes: int) -> bytes:
    """A 44-byte canonical header for 16-bit PCM mono; `data_bytes` may be a placeholder."""
    riff_size = _STREAMED_WAV_SIZE if data_bytes == _STREAMED_WAV_SIZE else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A complete 16-bit PCM mono WAV file with exact sizes in its header."""
    pcm = float_to_int16(samples).astype("<i2").tobytes()
    return _wav_header(sample_rate, len(pcm)) + pcm


# --------------------------------------------------------------------------- decoding


def decode_audio(
    data: bytes,
    *,
    sample_rate: int = 16_000,
    max_seconds: float | None = DEFAULT_MAX_DECODE_SECONDS,
) -> np.ndarray:
    """Decode an audio file held in memory to float32 mono at `sample_rate`.

    Any container/codec FFmpeg knows (WAV incl. 8/24-bit, float and μ-law, MP3,
    Ogg Opus/Vorbis, WebM, FLAC, M4A/AAC, the audio track of a video), any rate and
    channel count. A file whose tail is missing decodes to what is there, except a
    RIFF/WAVE file whose data chunk is shorter than its header says: that is rejected,
    so a cut upload is reported instead of silently transcribed in part.

    Raises `errors.EmptyAudioError` (0 bytes, no audio frames),
    `errors.InvalidAudioError` (not audio, truncated WAV, corrupt data) and
    `errors.AudioTooLargeError` (longer than `max_seconds`; None = no cap).
    Never raises FFmpeg's own exceptions. Blocking: call from a worker thread.
    """
    if not data:
        raise errors.EmptyAudioError("the audio file is empty (0 bytes)", param="file")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        check_wav_complete(data)
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except Exception as exc:  # untrusted bytes: any FFmpeg failure is the client's problem
        raise errors.InvalidAudioError(_unreadable_message(data, exc), param="file") from exc
    with container:
        if not container.streams.audio:
            raise errors.InvalidAudioError(
                f"not an audio file: no audio track (detected {container.format.name!r})",
                param="file",
            )
        max_samples = None if max_seconds is None else int(max_seconds * sample_rate)
        samples = _decode_stream(container, sample_rate, max_samples, max_seconds)
    if samples.size == 0:
        raise errors.EmptyAudioError("the audio file contains no audio frames", param="file")
    return samples


def check_wav_complete(data: bytes) -> None:
    """Raise `errors.InvalidAudioError` when a RIFF/WAVE file's data chunk is cut short.

    Streamed WAVs (data size 0 or a placeholder ≥ 0x7FFF0000) have no length to check.
    """
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (chunk_size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"data":
            present = len(data) - body
            if 0 < chunk_size < _WAV_UNKNOWN_LENGTH and present < chunk_size:
                raise errors.InvalidAudioError(
                    f"truncated WAV: header says {chunk_size} bytes of audio, file has {present}",
                    param="file",
                )
            return
        offset = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    raise errors.InvalidAudioError(
        "truncated WAV: the file ends before its data chunk", param="file"
    )


def _decode_stream(
    container: av.container.InputContainer,
    sample_rate: int,
    max_samples: int | None,
    max_seconds: float | None,
) -> np.ndarray:
    pieces: list[np.ndarray] = []
    total = 0
    for piece in _decoded_pieces(container, sample_rate):
        pieces.append(piece)
        total += piece.size
        if max_samples is not None and total > max_samples:
            raise errors.AudioTooLargeError(
                f"audio is longer than the {max_seconds:g} s limit", param="file"
            )
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def _decoded_pieces(
    container: av.container.InputContainer, sample_rate: int
) -> Iterator[np.ndarray]:
    """Yield float32 mono pieces at `sample_rate`, converted frame by frame (bounded memory)."""
    stream = container.streams.audio[0]
    converter = _MonoConverter(sample_rate)
    bad_packets = 0
    decoded_any = False
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
            frames = packet.decode()
        except StopIteration:
            break
        except Exception as exc:  # damaged packet or container: skip a few, then give up
            bad_packets += 1
            if bad_packets > _MAX_BAD_PACKETS or not _can_continue(exc):
                if decoded_any:
                    break  # a damaged tail: keep what decoded
                raise errors.InvalidAudioError(
                    f"truncated or corrupt audio: {_reason(exc)}", param="file"
                ) from exc
            continue
        for frame in frames:
            decoded_any = True
            yield from converter.convert(frame)
    yield from converter.flush()
    if not decoded_any and bad_packets:
        raise errors.InvalidAudioError(
            "truncated or corrupt audio: no packet could be decoded", param="file"
        )


def _can_continue(exc: Exception) -> bool:
    # A bad packet raises from packet.decode(); a broken container raises from demux
    # and the generator is then finished, so only decoder errors are worth skipping.
    return isinstance(exc, av.error.InvalidDataError)


class _MonoConverter:
    """Frame-by-frame conversion to float32 mono at one rate, surviving format changes.

    Channels are averaged here rather than by FFmpeg's downmix, which sums stereo at
    -3 dB each and so makes identical channels 1.41x louder (clipping loud uploads).
    """

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._resampler: av.AudioResampler | None = None
        self._input_key: tuple | None = None

    def convert(self, frame: av.AudioFrame) -> Iterator[np.ndarray]:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != self._input_key:
            # Chained Ogg streams and some broadcasts change rate/layout mid-file.
            yield from self.flush()
            self._resampler = av.AudioResampler(
                format="fltp", layout=frame.layout.name, rate=self._rate
            )
            self._input_key = key
        assert self._resampler is not None
        frame.pts = None  # let the resampler count samples itself; input pts may jump
        for out in self._resampler.resample(frame):
            yield _average_channels(out)

    def flush(self) -> Iterator[np.ndarray]:
        if self._resampler is not None:
            for out in self._resampler.resample(None):
                yield _average_channels(out)
        self._resampler = None
        self._input_key = None


def _average_channels(frame: av.AudioFrame) -> np.ndarray:
    planes = frame.to_ndarray()  # planar float: (channels, samples)
    if planes.shape[0] == 1:
        return planes[0].astype(np.float32, copy=False)
    return planes.mean(axis=0, dtype=np.float32)


# Leading bytes of the containers we accept, to tell "cut or damaged" from "not audio".
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"),
    (0, b"ID3", "MP3"),
    (0, b"OggS", "Ogg"),
    (0, b"fLaC", "FLAC"),
    (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"),
    (4, b"ftyp", "MP4/M4A"),
)


def _unreadable_message(data: bytes, exc: BaseException) -> str:
    for offset, magic, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return f"truncated or corrupt audio: a {name} file that cannot be read ({_reason(exc)})"
    return f"not an audio file: the data is in no audio format we can read ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- encoding


def _check_format(fmt: str) -> str:
    normalized = fmt.lower()
    if normalized not in FORMATS:
        raise errors.UnsupportedFormatError(
            f"unsupported audio format {fmt!r}; supported: {', '.join(FORMATS)}",
            param="response_format",
        )
    return normalized


@cache
def _codec_rates(codec_name: str) -> tuple[int, ...] | None:
    rates = av.Codec(codec_name, "w").audio_rates
    return tuple(sorted(rates)) if rates else None


def output_rate(fmt: str, requested_rate: int) -> int:
    """The rate `fmt` will actually carry for `requested_rate`.

    mp3, opus and aac only take certain rates (Opus: 8/12/16/24/48 kHz): the smallest
    allowed rate ≥ the request is used (never lose bandwidth), else the largest.
    """
    fmt = _check_format(fmt)
    spec = _AV_SPECS.get(fmt)
    rates = _codec_rates(spec.codec) if spec else None
    if not rates or requested_rate in rates:
        return requested_rate
    return next((rate for rate in rates if rate >= requested_rate), rates[-1])


@dataclass(frozen=True)
class _AvSpec:
    container: str  # FFmpeg muxer
    codec: str  # FFmpeg encoder
    sample_format: str  # what the encoder takes
    bit_rate: int | None  # None: lossless


_AV_SPECS: dict[str, _AvSpec] = {
    "mp3": _AvSpec("mp3", "libmp3lame", "fltp", 64_000),
    "opus": _AvSpec("ogg", "libopus", "flt", 32_000),
    "aac": _AvSpec("adts", "aac", "fltp", 64_000),
    "flac": _AvSpec("flac", "flac", "s16", None),
}


class _ChunkSink:
    """A write-only (hence non-seekable) file for PyAV: collects what the muxer writes."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class _AvWriter:
    """Encodes float32 mono at its rate with PyAV into `fmt`'s container."""

    def __init__(self, fmt: str, sample_rate: int, *, streaming: bool) -> None:
        spec = _AV_SPECS[fmt]
        self._spec = spec
        self._rate = sample_rate
        self._pts = 0
        # Whole files go to a seekable buffer so the muxer can finish headers (MP3 Xing
        # frame with the duration, FLAC STREAMINFO with total samples and MD5). Streams
        # go to a write-only sink: headers then say "unknown length", which is valid.
        self._sink: _ChunkSink | io.BytesIO = _ChunkSink() if streaming else io.BytesIO()
        options = {"flush_packets": "1"}  # hand each packet to the client at once
        if spec.container == "ogg":
            options["page_duration"] = "100000"  # µs: an Ogg page every 100 ms
        self._container = av.open(self._sink, mode="w", format=spec.container, options=options)
        self._stream = self._container.add_stream(spec.codec, rate=sample_rate, layout="mono")
        codec = self._stream.codec_context
        codec.format = spec.sample_format
        if spec.bit_rate:
            # AAC cannot carry more than 6 bits per sample per channel (6144 bits/frame).
            codec.bit_rate = min(spec.bit_rate, 6 * sample_rate)

    def write(self, samples: np.ndarray) -> bytes:
        if samples.size:
            self._mux(self._stream.encode(self._frame(samples)))
        return self._take()

    def finish(self) -> bytes:
        self._mux(self._stream.encode(None))
        self._container.close()
        if isinstance(self._sink, io.BytesIO):
            return self._sink.getvalue()
        return self._sink.take()

    def _frame(self, samples: np.ndarray) -> av.AudioFrame:
        if self._spec.sample_format.startswith("s16"):
            array = float_to_int16(samples)
        else:
            array = np.clip(samples, -1.0, 1.0).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            array.reshape(1, -1), format=self._spec.sample_format, layout="mono"
        )
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += samples.size
        return frame

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _take(self) -> bytes:
        return self._sink.take() if isinstance(self._sink, _ChunkSink) else b""


class _PcmWriter:
    """Raw s16le, optionally behind a streamed WAV header of unknown length."""

    def __init__(self, sample_rate: int, *, wav_header: bool) -> None:
        self._header = _wav_header(sample_rate, _STREAMED_WAV_SIZE) if wav_header else b""

    def write(self, samples: np.ndarray) -> bytes:
        header, self._header = self._header, b""
        return header + float_to_int16(samples).astype("<i2").tobytes()

    def finish(self) -> bytes:
        header, self._header = self._header, b""
        return header  # a stream with no audio is still a (empty) WAV file


class StreamEncoder:
    """Encode audio chunk by chunk for a streamed HTTP/WebSocket response.

    `encode(samples)` returns the bytes ready so far (possibly b"", e.g. while an
    encoder fills its first frame); `finish()` flushes the encoder and returns the rest.
    The concatenation of all returned bytes is one valid file. Samples are float32
    mono at `sample_rate`; they are resampled (soxr, streaming) to `target_rate` or to
    the nearest rate the format allows (see `output_rate`). Not thread-safe: one
    encoder per response.
    """

    def __init__(self, fmt: str, sample_rate: int, target_rate: int | None = None) -> None:
        self.format = _check_format(fmt)
        self.input_rate = sample_rate
        self.output_rate = output_rate(self.format, target_rate or sample_rate)
        self.content_type = CONTENT_TYPES[self.format]
        self._resampler = (
            soxr.ResampleStream(sample_rate, self.output_rate, 1, dtype="float32", quality="HQ")
            if self.output_rate != sample_rate
            else None
        )
        self._writer: _AvWriter | _PcmWriter = (
            _PcmWriter(self.output_rate, wav_header=self.format == "wav")
            if self.format in WAV_FORMATS
            else _AvWriter(self.format, self.output_rate, streaming=True)
        )
        self._finished = False

    def encode(self, samples: np.ndarray) -> bytes:
        """Feed float32 mono samples; return encoded bytes that are ready now."""
        if self._finished:
            raise RuntimeError("StreamEncoder.encode() called after finish()")
        return self._writer.write(self._resample(as_float32_mono(samples), last=False))

    def finish(self) -> bytes:
        """Flush everything buffered and close the file; returns the final bytes."""
        if self._finished:
            return b""
        self._finished = True
        tail = self._resample(np.zeros(0, dtype=np.float32), last=True)
        return self._writer.write(tail) + self._writer.finish()

    def _resample(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        if self._resampler is None:
            return samples
        return self._resampler.resample_chunk(samples, last=last).astype(np.float32, copy=False)


def encode_audio(
    samples: np.ndarray, sample_rate: int, fmt: str, *, target_rate: int | None = None
) -> bytes:
    """Encode a whole clip as one file of `fmt` (see `FORMATS`).

    `target_rate` resamples first (e.g. pcm at 24 kHz); formats with a fixed set of
    rates pick the nearest allowed one (`output_rate`). Raises
    `errors.UnsupportedFormatError` for unknown formats. Blocking.
    """
    fmt = _check_format(fmt)
    rate = output_rate(fmt, target_rate or sample_rate)
    audio = resample(samples, sample_rate, rate)
    if fmt == "wav":
        return wav_bytes(audio, rate)
    if fmt == "pcm":
        return float_to_int16(audio).astype("<i2").tobytes()
    writer = _AvWriter(fmt, rate, streaming=False)
    writer.write(audio)
    return writer.finish()


# --------------------------------------------------------------------------- G.711 μ-law

_MULAW_BIAS = 0x84  # 132: the bias of the 16-bit form of the μ-law decoder (G.711)


def _build_mulaw_decode_table() -> np.ndarray:
    """int16 value of each of the 256 μ-law codes (identical in every G.711 decoder)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _build_mulaw_encode_table() -> np.ndarray:
    """μ-law code of every int16 value, indexed by `value + 32768`.

    ITU-T G.191 (STL) `ulaw_compress`, the reference implementation of G.711: 14-bit
    magnitude with bias 33, negatives by one's complement (so -1 is "negative zero",
    0x7F). Encoders disagree by one step at some decision boundaries (FFmpeg rounds to
    the nearest level, sox and Sun's g711.c differ again); decoding is exact everywhere.
    """
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    magnitude = np.minimum(np.where(pcm < 0, (~pcm) >> 2, pcm >> 2) + 33, 0x1FFF)
    segment = np.ones_like(magnitude)
    rest = magnitude >> 6
    for _ in range(8):  # segment = 1 + bit length of (magnitude >> 6)
        segment += rest != 0
        rest >>= 1
    code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))
    return np.where(pcm >= 0, code | 0x80, code).astype(np.uint8)


_MULAW_TO_INT16 = _build_mulaw_decode_table()
_INT16_TO_MULAW = _build_mulaw_encode_table()

MULAW_SAMPLE_RATE = 8000
MULAW_FRAME_BYTES = 160  # 20 ms at 8 kHz: one Twilio Media Streams frame


def pcm_to_mulaw(samples: np.ndarray) -> bytes:
    """G.711 μ-law bytes for 8 kHz mono samples (float32 in [-1, 1] or int16).

    The caller resamples to 8 kHz first (`resample(x, rate, MULAW_SAMPLE_RATE)`).
    """
    array = np.asarray(samples)
    pcm = array if array.dtype == np.int16 else float_to_int16(array)
    return _INT16_TO_MULAW[pcm.astype(np.int32) + 32768].tobytes()


def mulaw_to_pcm(data: bytes) -> np.ndarray:
    """Decode G.711 μ-law bytes to float32 samples in [-1, 1] (rate unchanged: 8 kHz)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _MULAW_TO_INT16[codes].astype(np.float32) / 32768.0
