"""The files a deployer touches: docker-compose.yml, .env.example, the install scripts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lidia.core.settings import PROJECT_DIR, Settings
from tests.support.service_guard import service_missing


def compose_command() -> list[str]:
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    service_missing("neither `docker compose` nor `docker-compose` is installed")
    raise AssertionError  # unreachable: service_missing skips or fails


def compose_config_of(folder: Path, *options: str) -> dict:
    """`docker compose [options] config` for the project as a user sets it up (.env copied)."""
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(PROJECT_DIR / name, folder)
    shutil.copy(PROJECT_DIR / ".env.example", folder / ".env")
    done = subprocess.run(
        [*compose_command(), *options, "config"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`docker compose config` output for the project as a user sets it up (.env copied)."""
    return compose_config_of(tmp_path_factory.mktemp("compose"))


def test_compose_reserves_both_gpus_for_the_orchestrator(compose_config: dict) -> None:
    orchestrator = compose_config["services"]["orchestrator"]
    devices = orchestrator["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert sorted(devices[0]["device_ids"]) == ["0", "1"]
    assert "gpu" in devices[0]["capabilities"]
    assert orchestrator["environment"]["WHISPER_DEVICE"] == "cuda:0"
    assert orchestrator["environment"]["TTS_DEVICE"] == "cuda:1"


def test_compose_mounts_voice_models_and_call_logs(compose_config: dict) -> None:
    mounts = {
        str(v["target"] if isinstance(v, dict) else v.split(":")[1])
        for v in compose_config["services"]["orchestrator"]["volumes"]
    }
    assert {"/app/Лидия", "/app/models", "/app/calls_log"} <= mounts
    phone_mounts = {
        str(v["target"] if isinstance(v, dict) else v.split(":")[1])
        for v in compose_config["services"]["phone"]["volumes"]
    }
    assert "/app/calls_log" in phone_mounts


def test_compose_health_checks_hit_health(compose_config: dict) -> None:
    for name, port in (("orchestrator", 8002), ("phone", 8001)):
        check = " ".join(compose_config["services"][name]["healthcheck"]["test"])
        assert f"localhost:{port}/health" in check


def env_example_keys() -> set[str]:
    keys = set()
    for line in (PROJECT_DIR / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            keys.add(line.split("=", 1)[0].strip().lower())
    return keys


def test_env_example_documents_every_setting() -> None:
    missing = set(Settings.model_fields) - env_example_keys()
    assert not missing, f".env.example lacks: {sorted(missing)}"


def test_env_example_loads_as_valid_settings(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    shutil.copy(PROJECT_DIR / ".env.example", env)
    settings = Settings(_env_file=env)
    assert settings.orchestrator_port == 8002
    assert settings.gemini_api_key is None  # an empty line means "not set"
    assert settings.voice_samples_count == 3


def test_original_design_env_still_loads(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "GEMINI_API_KEY=AIzaSy-test\nGEMINI_MODEL=gemini-2.5-pro-latest\n"
        "OPENWEBUI_URL=http://localhost:3000\nOPENWEBUI_API_KEY=\n"
        "ORCHESTRATOR_PORT=8002\nTTS_SERVER_PORT=5002\nVOICE_SAMPLES_DIR=./Лидия\n",
        encoding="utf-8",
    )
    settings = Settings(_env_file=env)
    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.get_secret_value() == "AIzaSy-test"
    assert "AIzaSy" not in repr(settings)  # secrets never show in reprs or logs
    assert settings.openwebui_api_key is None
    assert settings.voice_samples_dir == Path("Лидия")


def test_install_is_idempotent_and_pins_torch_first() -> None:
    script = (PROJECT_DIR / "scripts" / "install.sh").read_text(encoding="utf-8")
    assert script.index("torch==$TORCH_VERSION") < script.index("-r requirements.txt")
    assert "--resume-retries" in script
    for _ in range(2):  # the first run may still have work to do; the second must not
        done = subprocess.run(
            ["bash", "scripts/install.sh", "--dev"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # already installed: the stamp short-cuts everything


@pytest.fixture(scope="module")
def scale_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`docker compose --profile scale config`: the replicas behind nginx."""
    folder = tmp_path_factory.mktemp("compose-scale")
    (folder / "deploy" / "nginx").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "deploy" / "nginx" / "lidia.conf", folder / "deploy" / "nginx")
    return compose_config_of(folder, "--profile", "scale")


def test_default_profile_is_the_single_box(compose_config: dict) -> None:
    services = compose_config["services"]
    assert "profiles" not in services["orchestrator"] and "profiles" not in services["phone"]
    assert services["phone"]["environment"]["ORCHESTRATOR_URL"] == "http://orchestrator:8002"
    for name in ("orchestrator-gpu0", "orchestrator-gpu1", "phone-replica", "nginx"):
        assert services[name]["profiles"] == ["scale"]  # never started without --profile scale


def test_scale_profile_puts_one_orchestrator_on_each_gpu(scale_config: dict) -> None:
    services = scale_config["services"]
    gpus = []
    for name in ("orchestrator-gpu0", "orchestrator-gpu1"):
        replica = services[name]
        (devices,) = replica["deploy"]["resources"]["reservations"]["devices"]
        gpus += devices["device_ids"]
        assert replica["environment"]["WHISPER_DEVICE"] == "cuda:0"  # its one GPU, renumbered
        assert replica["environment"]["TTS_DEVICE"] == "cuda:0"
        assert replica["environment"]["REDIS_URL"].startswith("redis://")  # shared sessions
    assert sorted(gpus) == ["0", "1"]


def test_scale_profile_routes_the_phone_through_nginx(scale_config: dict) -> None:
    services = scale_config["services"]
    phone = services["phone-replica"]
    assert phone["environment"]["ORCHESTRATOR_URL"] == "http://nginx:8002"
    assert phone["environment"]["DATABASE_URL"].startswith("postgresql")  # one call store
    assert "ports" not in phone  # replicas are reached through nginx only
    nginx = services["nginx"]
    mounts = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in nginx["volumes"]}
    assert "/etc/nginx/conf.d/default.conf" in mounts
    published = {
        str(p["published"] if isinstance(p, dict) else p.split(":")[0]) for p in nginx["ports"]
    }
    assert {"8001", "8002"} <= published


def test_nginx_config_balances_and_retries_only_safely() -> None:
    conf = (PROJECT_DIR / "deploy" / "nginx" / "lidia.conf").read_text(encoding="utf-8")
    upstream = conf[conf.index("upstream orchestrators {") :].split("}", 1)[0]
    assert "least_conn;" in upstream and "keepalive" in upstream
    assert upstream.count("max_fails=") == 2 and "fail_timeout=" in upstream
    assert "proxy_next_upstream error timeout http_502 http_503;" in conf
    directives = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert "non_idempotent" not in directives  # a POST that reached a replica is never re-sent
    assert "proxy_next_upstream_tries 2;" in conf
    assert "proxy_buffering off;" in conf and "proxy_http_version 1.1;" in conf
    size_mb = int(conf.split("client_max_body_size ", 1)[1].split("m;", 1)[0])
    assert size_mb * 1024 * 1024 >= Settings(_env_file=None).stt_max_bytes
    media = conf[conf.index("location = /twilio/media") :].split("}", 1)[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in media
    assert "proxy_set_header Connection $connection_upgrade;" in media
    assert int(media.split("proxy_read_timeout ", 1)[1].split("s;", 1)[0]) >= 1800
