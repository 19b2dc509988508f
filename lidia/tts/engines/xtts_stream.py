"""XTTS streaming in linear time: GPT latents token by token, each new piece vocoded once.

coqui's `Xtts.inference_stream` re-runs the HiFi-GAN decoder over every latent generated
so far on each chunk, so a sentence costs the square of its length. Here the same public
parts are driven incrementally:

1. `GptLatents` pulls latents from coqui's own token generator (`gpt.get_generator`,
   the one `inference_stream` uses; its latents equal `inference`'s for the same seed);
2. `LinearResampler` stretches them exactly as `HifiDecoder.forward` does (speed, ×4 to
   the vocoder's frame rate, 22.05 → 24 kHz), but only for frames whose inputs are known;
3. `WindowedVocoder` decodes only the new frames plus a fixed context on each side that
   covers the decoder's receptive field (`vocoder_context_frames`), so every sample equals
   one-shot decoding; joins are still crossfaded over a few milliseconds against any
   residual seam.

Pieces grow (first `chunk_tokens`, then doubling up to `MAX_CHUNK_GROWTH` times that):
the first audio comes early, and the fixed context costs little on long sentences. When
callers share the model, `start_small` makes the first piece just long enough to yield a
given amount of audio (a turn's first words come sooner; the growth goes on as usual).
Everything here blocks and must run inside `xtts_device.inference_context`, one step at
a time (`next_piece`), never across a `yield` (torch's modes are per thread).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from TTS.tts.models.xtts import Xtts

# Later pieces are up to this many times the first: fewer joins, same first-audio time.
MAX_CHUNK_GROWTH = 4
CROSSFADE_SAMPLES = 256  # about 10 ms at 24 kHz


@dataclass(frozen=True)
class Sampling:
    """GPT sampling parameters; the defaults are those of `Xtts.inference`."""

    temperature: float = 0.75
    length_penalty: float = 1.0
    repetition_penalty: float = 10.0
    top_k: int = 50
    top_p: float = 0.85
    do_sample: bool = True

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


class PieceSource(Protocol):
    """One sentence's audio, one piece per blocking call."""

    def next_piece(self) -> torch.Tensor | None:
        """The next piece of 1-D audio, or None when the sentence is done."""
        ...

    def close(self) -> None: ...


# --- Resampling ------------------------------------------------------------------------------


def ready_outputs(scale: float, inputs: int) -> int:
    """Output frames `LinearResampler(scale)` has made final after `inputs` frames (not
    the last): those whose right neighbour, `(j + 0.5) / scale - 0.5` rounded up, is in."""
    if inputs <= 1:  # one input has no right neighbour yet
        return 0
    return max(0, min(math.floor(inputs * scale), math.ceil(scale * (inputs - 0.5) - 0.5)))


class LinearResampler:
    """`F.interpolate(x, scale_factor=scale, mode="linear")` along time, fed incrementally.

    Frames are `[time, channels]`. PyTorch maps output `j` to input `(j + 0.5) / scale
    - 0.5` (clamped at 0) and blends its two neighbours; an output is final once both
    neighbours have arrived, and the total length is `floor(inputs × scale)`.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._frames: torch.Tensor | None = None  # inputs from absolute index `_offset` on
        self._offset = 0
        self._received = 0
        self._emitted = 0

    def push(self, frames: torch.Tensor, *, final: bool) -> torch.Tensor:
        """Add input frames; return the output frames that no later input can change."""
        if frames.shape[0]:
            self._frames = frames if self._frames is None else torch.cat([self._frames, frames])
            self._received += frames.shape[0]
        if self._frames is None:
            return frames
        dst, src = self._new_positions(final)
        low = src.astype(np.int64)
        high = np.minimum(low + 1, self._received - 1)
        weight = torch.from_numpy(src - low).to(self._frames.device, self._frames.dtype)[:, None]
        out = (
            self._frames[low - self._offset] * (1 - weight)
            + self._frames[high - self._offset] * weight
        )
        self._emitted += len(dst)
        self._drop_unneeded()
        return out

    def _source_of(self, dst: np.ndarray) -> np.ndarray:
        return np.maximum((dst + 0.5) / self.scale - 0.5, 0.0)

    def _new_positions(self, final: bool) -> tuple[np.ndarray, np.ndarray]:
        total = math.floor(self._received * self.scale)
        dst = np.arange(self._emitted, total)
        src = self._source_of(dst)
        if not final:  # the right neighbour must be a real input, not the clamped edge
            ready = int(np.count_nonzero(src.astype(np.int64) < self._received - 1))
            dst, src = dst[:ready], src[:ready]
        return dst, src

    def _drop_unneeded(self) -> None:
        assert self._frames is not None
        first_needed = int(self._source_of(np.array([self._emitted]))[0])
        drop = min(first_needed - self._offset, self._frames.shape[0])
        if drop > 0:
            self._frames = self._frames[drop:]
            self._offset += drop


# --- Vocoding --------------------------------------------------------------------------------


def _conv_reach(conv: nn.Conv1d) -> float:
    """Input samples either side that one output sample of a "same" convolution sees."""
    return (conv.kernel_size[0] - 1) * conv.dilation[0] / 2


def _upsample_reach(up: nn.ConvTranspose1d) -> float:
    """Input frames either side (the wider side) one output sample of an upsampling sees."""
    kernel, stride, padding = up.kernel_size[0], up.stride[0], up.padding[0]
    return max(kernel - 1 - padding, padding) / stride


def vocoder_context_frames(generator: nn.Module) -> int:
    """Frames of decoder input either side that can reach an output sample (HiFi-GAN).

    Summed from the layers themselves, so it is an upper bound: the input convolution,
    each transposed-convolution upsampling and the widest of its residual blocks, the
    output convolution, each converted to input frames by the upsampling done before it.
    14 for XTTS v2's decoder (upsampling 8·8·2·2, residual kernels 3, 7, 11).
    """
    samples_per_frame = 1
    reach = _conv_reach(generator.conv_pre)
    blocks_per_level = len(generator.resblocks) // len(generator.ups)
    for level, up in enumerate(generator.ups):
        reach += _upsample_reach(up) / samples_per_frame
        samples_per_frame *= up.stride[0]
        blocks = generator.resblocks[level * blocks_per_level : (level + 1) * blocks_per_level]
        widest = max(
            sum(_conv_reach(m) for m in block.modules() if isinstance(m, nn.Conv1d))
            for block in blocks
        )
        reach += widest / samples_per_frame
    reach += _conv_reach(generator.conv_post) / samples_per_frame
    return math.ceil(reach)


class WindowedVocoder:
    """HiFi-GAN over a growing frame sequence, each output sample decoded once.

    Every call decodes the frames not yet spoken plus `context` frames before them and
    holds back the last `context` frames (their right neighbours are still unknown), so
    with `context` ≥ the receptive field the audio equals decoding everything at once.
    The first `crossfade` samples of each new piece are blended with the previous
    window's decode of the same samples.
    """

    def __init__(
        self,
        decoder: nn.Module,
        speaker: torch.Tensor,
        *,
        hop: int,
        context: int,
        crossfade: int = CROSSFADE_SAMPLES,
    ) -> None:
        self._decoder = decoder
        self._speaker = speaker
        self._hop = hop
        self.context = context
        self._crossfade = crossfade
        self._frames: torch.Tensor | None = None  # [time, channels] from `_offset` on
        self._offset = 0
        self._received = 0
        self._spoken = 0  # frames whose audio has been returned
        self._tail: torch.Tensor | None = None  # the previous window's next samples

    def push(self, frames: torch.Tensor, *, final: bool) -> torch.Tensor:
        """Add frames; return the audio (1-D) that is now final."""
        if frames.shape[0]:
            self._frames = frames if self._frames is None else torch.cat([self._frames, frames])
            self._received += frames.shape[0]
        end = self._received if final else self._received - self.context
        if self._frames is None or end <= self._spoken:
            return frames.new_zeros(0)
        start = max(0, self._spoken - self.context)
        window = self._frames[start - self._offset :].transpose(0, 1).unsqueeze(0)
        audio = self._decoder(window, g=self._speaker).reshape(-1)
        cut = (end - start) * self._hop
        piece = self._blend(audio[(self._spoken - start) * self._hop : cut])
        self._tail = None if final else audio[cut : cut + self._crossfade]
        self._spoken = end
        self._drop_before(end - self.context)
        return piece

    def _blend(self, piece: torch.Tensor) -> torch.Tensor:
        if self._tail is None:
            return piece
        count = min(len(self._tail), len(piece))
        ramp = torch.linspace(0.0, 1.0, count, device=piece.device, dtype=piece.dtype)
        piece = piece.clone()
        piece[:count] = self._tail[:count] * (1 - ramp) + piece[:count] * ramp
        return piece

    def _drop_before(self, first_needed: int) -> None:
        assert self._frames is not None
        drop = min(first_needed - self._offset, self._frames.shape[0])
        if drop > 0:
            self._frames = self._frames[drop:]
            self._offset += drop


# --- The GPT ---------------------------------------------------------------------------------


class GptLatents:
    """One sentence's GPT latents, taken a few tokens at a time.

    Wraps coqui's streaming token generator, which yields `(token, latent)` per step. The
    GPT keeps the sentence's prefix (voice + text embedding) in the model itself; it is
    put back before every step, so several sentences may advance in turns on one model.
    """

    def __init__(
        self, model: Xtts, text: str, language: str, cond: torch.Tensor, sampling: Sampling
    ) -> None:
        self._model = model
        tokens = model.tokenizer.encode(text.strip().lower(), lang=language)
        text_tokens = torch.IntTensor(tokens).unsqueeze(0).to(cond.device)
        inputs = model.gpt.compute_embeddings(cond, text_tokens)
        self._prefix = model.gpt.gpt_inference.cached_prefix_emb
        self._steps: Iterator[tuple[torch.Tensor, torch.Tensor]] = model.gpt.get_generator(
            fake_inputs=inputs,
            num_beams=1,
            num_return_sequences=1,
            output_attentions=False,
            output_hidden_states=True,
            return_dict_in_generate=True,
            **sampling.as_kwargs(),
        )
        self.finished = False
        self.aborted = False  # set from another thread: stop at the next token

    def take(self, count: int) -> torch.Tensor:
        """Up to `count` latents `[n, channels]`; fewer (and `finished`) at the end."""
        self._model.gpt.gpt_inference.store_prefix_emb(self._prefix)
        latents: list[torch.Tensor] = []
        while len(latents) < count and not self.finished:
            if self.aborted:  # the caller is gone: free the model now, not after the piece
                self.finished = True
                break
            step = next(self._steps, None)
            if step is None:
                self.finished = True
            else:
                latents.append(step[1].reshape(1, -1))
        if not latents:
            return self._prefix.new_zeros(0, self._prefix.shape[-1])
        return torch.cat(latents)

    def close(self) -> None:
        close = getattr(self._steps, "close", None)
        if close is not None:
            close()


# --- The two sources ---------------------------------------------------------------------------


class LinearPieces:
    """`PieceSource` of our linear streaming for one sentence (built lazily, first step)."""

    def __init__(
        self,
        model: Xtts,
        text: str,
        language: str,
        voice: tuple[torch.Tensor, torch.Tensor],
        *,
        sampling: Sampling,
        speed: float,
        chunk_tokens: int,
    ) -> None:
        self._model = model
        self._text = text
        self._language = language
        self._cond, self._speaker = voice
        self._sampling = sampling
        self._speed = speed
        self._chunk = chunk_tokens
        self._max_chunk = chunk_tokens * MAX_CHUNK_GROWTH
        self._gpt: GptLatents | None = None
        self._stages: list[LinearResampler] = []
        self._vocoder: WindowedVocoder | None = None
        self._first_audio: int | None = None  # samples the first piece must yield, if small
        self._first_take: int | None = None
        self._aborted = False

    def start_small(self, samples: int) -> None:
        """Make the first piece the fewest tokens that yield `samples` of audio (never
        more than usual). Before the first `next_piece` only."""
        self._first_audio = samples

    def _start(self) -> None:
        decoder = self._model.hifigan_decoder
        self._gpt = GptLatents(self._model, self._text, self._language, self._cond, self._sampling)
        scales = [
            1.0 / max(self._speed, 0.05),  # as `Xtts.inference`: speed stretches the latents
            decoder.ar_mel_length_compression / decoder.output_hop_length,
            decoder.output_sample_rate / decoder.input_sample_rate,
        ]
        self._stages = [LinearResampler(scale) for scale in scales if scale != 1.0]
        generator = decoder.waveform_decoder
        self._vocoder = WindowedVocoder(
            generator,
            self._speaker,
            hop=decoder.output_hop_length,
            context=vocoder_context_frames(generator),
        )
        if self._first_audio is not None:
            self._first_take = self._tokens_for(self._first_audio, hop=decoder.output_hop_length)

    def _tokens_for(self, samples: int, *, hop: int) -> int:
        """The fewest GPT tokens after which the vocoder has `samples` of final audio."""
        assert self._vocoder is not None
        needed = self._vocoder.context + math.ceil(samples / hop)
        for tokens in range(1, self._chunk):
            frames = tokens
            for stage in self._stages:
                frames = ready_outputs(stage.scale, frames)
            if frames >= needed:
                return tokens
        return self._chunk

    def abort(self) -> None:
        """From any thread: the piece being made stops at its next GPT token (no audio)."""
        self._aborted = True
        if self._gpt is not None:
            self._gpt.aborted = True

    def next_piece(self) -> torch.Tensor | None:
        if self._gpt is None:
            self._start()
        assert self._gpt is not None and self._vocoder is not None
        self._gpt.aborted = self._aborted
        while not self._gpt.finished:
            frames = self._gpt.take(self._first_take or self._chunk)
            self._first_take = None
            self._chunk = min(self._chunk * 2, self._max_chunk)
            if self._gpt.aborted:
                return None  # nobody will hear it: skip the vocoder too
            audio = self._vocode(frames, final=self._gpt.finished)
            if audio.numel():
                return audio
        return None

    def _vocode(self, frames: torch.Tensor, *, final: bool) -> torch.Tensor:
        assert self._vocoder is not None
        for stage in self._stages:
            frames = stage.push(frames, final=final)
        return self._vocoder.push(frames, final=final)

    def close(self) -> None:
        if self._gpt is not None:
            self._gpt.close()


class CoquiPieces:
    """`PieceSource` of coqui's own `inference_stream` (quadratic; kept for comparison)."""

    def __init__(
        self,
        model: Xtts,
        text: str,
        language: str,
        voice: tuple[torch.Tensor, torch.Tensor],
        *,
        sampling: Sampling,
        speed: float,
        chunk_tokens: int,
    ) -> None:
        self._model = model
        self._make = lambda: model.inference_stream(
            text,
            language,
            *voice,
            stream_chunk_size=chunk_tokens,
            speed=speed,
            enable_text_splitting=False,
            **sampling.as_kwargs(),
        )
        self._pieces: Iterator[torch.Tensor] | None = None
        self._prefix: torch.Tensor | None = None

    def next_piece(self) -> torch.Tensor | None:
        inference = self._model.gpt.gpt_inference
        if self._pieces is None:
            self._pieces = self._make()
        elif self._prefix is not None:
            inference.store_prefix_emb(self._prefix)
        piece = next(self._pieces, None)
        self._prefix = getattr(inference, "cached_prefix_emb", None)
        return piece

    def close(self) -> None:
        if self._pieces is not None:
            self._pieces.close()  # type: ignore[attr-defined]


STREAM_SOURCES = {"linear": LinearPieces, "coqui": CoquiPieces}
