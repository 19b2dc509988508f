"""Test-time builders for a TINY random XTTS v2 checkpoint and realistic reference clips.

Nothing here is committed as data: tests call these plain functions once per session
(into a tmp dir) and load the result through the production path (`XttsEngine.load`).

The checkpoint has the real XTTS v2 architecture shrunk to the bone (GPT: 1 layer,
64 channels, 4 heads, perceiver resampler on, 48 audio tokens by default; HiFi-GAN input 64), random
weights seeded for determinism, and a character-level BPE `vocab.json` with the special
tokens XTTS needs. It loads in well under a second and synthesizes noise-like audio on
CPU in about a second: enough to exercise every code path, never to judge quality.
"""

from __future__ import annotations

import shutil
import string
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

TINY_SEED = 1234
TINY_AUDIO_TOKENS = 48
TINY_LANGUAGES = ("ru", "en")
SPECIAL_TOKENS = ("[STOP]", "[UNK]", "[SPACE]", "[START]")

_RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_PUNCTUATION = ".,!?-:;'\"()…«»—–"
_CLIP_SENTENCES = (
    "Здравствуйте, вы позвонили в нашу компанию. Меня зовут Лидия.",
    "Чем я могу вам помочь сегодня? Оставьте, пожалуйста, ваш номер.",
    "Мы работаем с понедельника по пятницу, с девяти утра до шести вечера.",
    "Спасибо за звонок, хорошего вам дня и до свидания.",
    "Директор сейчас на совещании, я передам ему ваше сообщение.",
)


def build_tiny_vocab(path: Path, languages: tuple[str, ...] = TINY_LANGUAGES) -> Path:
    """Write a character-level BPE `vocab.json` the XTTS `VoiceBpeTokenizer` can load.

    Ids 0..3 are `[STOP] [UNK] [SPACE] [START]` as in the released vocab; language tokens
    such as `[ru]` are added as special tokens so they are never split into characters.
    """
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from tokenizers.pre_tokenizers import Whitespace

    characters = _RUSSIAN + string.ascii_lowercase + string.digits + _PUNCTUATION
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for character in characters:
        vocab.setdefault(character, len(vocab))
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens([*SPECIAL_TOKENS, *(f"[{lang}]" for lang in languages)])
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return path


def tiny_xtts_config(
    languages: tuple[str, ...] = TINY_LANGUAGES, *, max_audio_tokens: int = TINY_AUDIO_TOKENS
):
    """An `XttsConfig` with the real architecture shrunk to test size.

    `max_audio_tokens` is the GPT's audio budget: random weights rarely say stop, so every
    sentence runs to it (48 tokens ≈ 2 s of audio; the bench uses 200 and 400).
    """
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig

    args = XttsArgs(
        gpt_layers=1,
        gpt_n_model_channels=64,
        gpt_n_heads=4,
        decoder_input_dim=64,
        gpt_use_perceiver_resampler=True,
        gpt_max_audio_tokens=max_audio_tokens,
    )
    return XttsConfig(model_args=args, languages=list(languages))


def build_tiny_xtts_checkpoint(
    target_dir: Path, *, seed: int = TINY_SEED, max_audio_tokens: int = TINY_AUDIO_TOKENS
) -> Path:
    """Build `config.json`, `vocab.json` and `model.pth` of a tiny random XTTS in `target_dir`.

    Blocking, about a second on CPU. The weights are saved as fp16 (about 48 MB) as
    `{"model": state_dict}` with no pickled config, i.e. in the converted form that loads
    from a read-only directory. Returns `target_dir`.
    """
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    target_dir.mkdir(parents=True, exist_ok=True)
    vocab_path = build_tiny_vocab(target_dir / "vocab.json")
    config = tiny_xtts_config(max_audio_tokens=max_audio_tokens)
    torch.manual_seed(seed)
    model = Xtts.init_from_config(config)
    # The GPT's text embedding size comes from the tokenizer: attach it, then rebuild.
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(vocab_path))
    model.init_models()
    state_dict = {
        name: tensor.half() if tensor.is_floating_point() else tensor
        for name, tensor in model.state_dict().items()
    }
    torch.save({"model": state_dict}, target_dir / "model.pth")
    config.save_json(str(target_dir / "config.json"))
    return target_dir


def save_with_pickled_config(checkpoint_dir: Path) -> None:
    """Re-save `model.pth` the way the released XTTS v2 file is: with a pickled `XttsConfig`.

    The release pickles `XttsArgs`/`XttsAudioConfig` under their old module
    `TTS.tts.models.xtts`; coqui's own (private) `_legacy_safe_globals` rebinds them there,
    so saving inside it reproduces the released layout byte for byte in structure. Used to
    test the one-time conversion that lets the checkpoint load read-only.
    """
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import _legacy_safe_globals

    model_path = checkpoint_dir / "model.pth"
    checkpoint = torch.load(model_path, map_location="cpu", weights_only=True)
    config = XttsConfig()
    config.load_json(str(checkpoint_dir / "config.json"))
    checkpoint["config"] = config
    with _legacy_safe_globals():
        torch.save(checkpoint, model_path)


def make_voice_clips(target_dir: Path, n: int = 3, *, variant: int = 0) -> list[Path]:
    """Write `n` Russian reference clips as WAV files and return their paths (sorted).

    Real speech from espeak-ng when it is installed (a synthetic voiced signal otherwise),
    at varied formats so the load path sees what real recordings look like: 22.05 kHz
    mono, 16 kHz mono, 44.1 kHz stereo, 48 kHz float. `variant` shifts the sentences and
    pitch, so two calls with different variants give clips with different content.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    formats = (
        (22050, 1, "PCM_16"),
        (16000, 1, "PCM_16"),
        (44100, 2, "PCM_16"),
        (48000, 1, "FLOAT"),
    )
    paths = []
    for index in range(n):
        sentence = _CLIP_SENTENCES[(index + variant) % len(_CLIP_SENTENCES)]
        speech, rate = _speak(sentence, pitch=40 + 7 * variant + 3 * index)
        target_rate, channels, subtype = formats[index % len(formats)]
        audio = _resample(speech, rate, target_rate)
        if channels == 2:
            # A slightly different right channel, like a real stereo recording.
            audio = np.stack([audio, 0.8 * np.roll(audio, 7)], axis=1)
        path = target_dir / f"clip_{index:02d}.wav"
        sf.write(path, audio, target_rate, subtype=subtype)
        paths.append(path)
    return paths


def _speak(sentence: str, *, pitch: int) -> tuple[np.ndarray, int]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return _synthetic_voice(pitch=pitch), 22050
    completed = subprocess.run(
        [espeak, "-v", "ru", "-p", str(pitch), "--stdout", sentence],
        capture_output=True,
        check=True,
        timeout=30,
    )
    import io

    audio, rate = sf.read(io.BytesIO(completed.stdout), dtype="float32")
    return audio, rate


def _synthetic_voice(*, pitch: int, seconds: float = 3.0, rate: int = 22050) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal: a stand-in when espeak-ng is absent."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120.0 + pitch
    harmonics = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t))
    return (0.3 * harmonics * syllables / 2.6).astype(np.float32)


def _resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return audio.astype(np.float32)
    return soxr.resample(audio, source_rate, target_rate).astype(np.float32)
