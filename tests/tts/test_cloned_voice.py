"""The cloned voice end to end: an orchestrator that finds an XTTS checkpoint and clips in
its folders picks XTTS by itself (TTS_ENGINE=auto), speaks through it, and reuses the cached
voice latents after a restart. The checkpoint is the tiny random one built at test time,
loaded through the production code path; `python -m manage voice prepare` fills the cache.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lidia.audio.codecs import decode_audio, rms
from lidia.core.settings import PROJECT_DIR
from lidia.orchestrator.app import create_app
from lidia.stt.faster_whisper import FasterWhisperEngine
from tests.conftest import make_settings


@pytest.fixture
def deployment(tmp_path: Path, tiny_checkpoint: Path, voice_clips: list[Path]) -> Path:
    """A deployment's folders as `make models` and the owner leave them."""
    shutil.copytree(tiny_checkpoint, tmp_path / "models" / "xtts_v2")
    (tmp_path / "voice").mkdir()
    for index, clip in enumerate(voice_clips):
        shutil.copy(clip, tmp_path / "voice" / f"2025111{index}_1300.wav")
    return tmp_path


def test_auto_picks_xtts_and_speaks_with_the_cloned_voice(
    deployment: Path, tiny_stt: FasterWhisperEngine
) -> None:
    settings = make_settings(deployment, tts_engine="auto", tts_device="cpu")
    with TestClient(create_app(settings, stt=tiny_stt)) as client:
        tts = client.get("/health").json()["tts"]
        assert tts["primary"] == "xtts"
        assert tts["fallback_reason"] is None
        assert tts["engines"]["xtts"]["voice_clips"] == 3
        assert tts["engines"]["xtts"]["latents_source"] == "computed"
        response = client.post("/tts", json={"text": "Привет, это тест", "language": "ru"})
        assert response.status_code == 200
        assert response.headers["x-tts-engine"] == "xtts"
        audio = decode_audio(response.content, sample_rate=24000)
        assert len(audio) > 0 and rms(audio) > 1e-4
        # the fallback voices stay available beside the clone
        espeak = client.post("/tts", json={"text": "Привет", "voice": "rhvoice-anna"})
        assert espeak.headers["x-tts-engine"] == "rhvoice"

    with TestClient(create_app(settings, stt=tiny_stt)) as restarted:
        xtts = restarted.get("/health").json()["tts"]["engines"]["xtts"]
        assert xtts["latents_source"] == "cache"
        assert xtts["latents_computed"] == 0


def test_broken_checkpoint_falls_back_and_says_why(
    deployment: Path, tiny_stt: FasterWhisperEngine
) -> None:
    (deployment / "models" / "xtts_v2" / "model.pth").write_bytes(b"not a checkpoint")
    settings = make_settings(deployment, tts_engine="xtts", tts_device="cpu")
    with TestClient(create_app(settings, stt=tiny_stt)) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert health["tts"]["primary"] == "rhvoice"
        assert "TTS_ENGINE=xtts" in health["tts"]["fallback_reason"]
        assert client.post("/tts", json={"text": "Привет"}).status_code == 200


def test_voice_prepare_cli_fills_the_cache_the_service_then_uses(
    deployment: Path,
    tiny_stt: FasterWhisperEngine,
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "MODELS_DIR": str(deployment / "models"),
        "VOICE_SAMPLES_DIR": str(deployment / "voice"),
        "TTS_DEVICE": "cpu",
    }
    done = subprocess.run(
        [sys.executable, "-m", "manage", "voice", "prepare"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "from 3 of 3 clips" in done.stdout
    cached = list((deployment / "models" / "voice_cache").iterdir())
    assert len(cached) == 1

    settings = make_settings(deployment, tts_engine="auto", tts_device="cpu", voice_samples_count=0)
    with TestClient(create_app(settings, stt=tiny_stt)) as client:
        xtts = client.get("/health").json()["tts"]["engines"]["xtts"]
        assert xtts["latents_source"] == "cache" and xtts["latents_computed"] == 0
