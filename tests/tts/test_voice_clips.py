"""The cloned voice's clips: one rule for the service and `python -m manage voice`.

`make voice` precomputes XTTS latents; the service only finds them if both chose the same
clips in the same order. The end-to-end test runs `voice prepare` on a tiny real XTTS
checkpoint, then starts the service with the same settings and reads where its latents
came from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf

import manage
from lidia.core.settings import Settings
from lidia.tts.registry import cloned_voice_clips
from lidia.tts.service import VoiceService
from lidia.tts.voice_clips import voice_clips


def settings_for(root: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "models_dir": root / "models",
        "voice_samples_dir": root / "voice",
        "tts_device": "cpu",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_every_format_xtts_reads_is_listed_sorted(tmp_path: Path) -> None:
    for name in ("b.flac", "a.WAV", "d.mp3", "c.ogg", "notes.txt", "e.wav.bak"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "f.wav").mkdir()  # a folder is not a clip
    assert [p.name for p in voice_clips(tmp_path)] == ["a.WAV", "b.flac", "c.ogg", "d.mp3"]
    assert [p.name for p in voice_clips(tmp_path, 2)] == ["a.WAV", "b.flac"]
    assert len(voice_clips(tmp_path, 0)) == 4  # VOICE_SAMPLES_COUNT=0: all of them
    assert voice_clips(tmp_path / "missing", 3) == []


def test_manage_prepares_and_lists_the_clips_the_service_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "voice").mkdir()
    for name in ("03.wav", "01.flac", "02.ogg", "04.mp3"):
        (tmp_path / "voice" / name).write_bytes(b"")
    settings = settings_for(tmp_path, voice_samples_count=3)

    chosen = manage.clips_to_prepare(settings)

    assert chosen == cloned_voice_clips(settings)
    assert [p.name for p in chosen] == ["01.flac", "02.ogg", "03.wav"]
    assert manage.voice_list(settings) == 0
    marked = [line for line in capsys.readouterr().out.splitlines() if line.startswith("*")]
    assert marked == ["* 01.flac", "* 02.ogg", "* 03.wav"]


@pytest.mark.slow
def test_voice_prepare_fills_the_cache_the_service_then_finds(
    tmp_path: Path, tiny_checkpoint: Path, voice_clips: list[Path]
) -> None:
    shutil.copytree(tiny_checkpoint, tmp_path / "models" / "xtts_v2")
    (tmp_path / "voice").mkdir()
    for index, clip in enumerate(voice_clips):
        audio, rate = sf.read(clip)
        suffix = ".flac" if index == 0 else ".wav"  # a FLAC clip must count for both
        sf.write(tmp_path / "voice" / f"clip_{index}{suffix}", audio, rate)
    shutil.copy(voice_clips[0], tmp_path / "voice" / "zz_extra.wav")  # beyond the count
    settings = settings_for(tmp_path, voice_samples_count=3, tts_engine="xtts")

    assert manage.voice_prepare(settings, None, force=False) == 0

    service = VoiceService.from_settings(settings)
    try:
        xtts = service.info()["engines"]["xtts"]
        assert xtts["voice_clips"] == 3
        assert xtts["latents_source"] == "cache" and xtts["latents_computed"] == 0
    finally:
        service.close()
