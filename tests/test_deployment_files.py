"""The files a deployer touches: docker-compose.yml, .env.example, the install scripts, the
Asterisk configuration in deploy/asterisk (read as Asterisk reads it, its `${...}` evaluated for
a sample call, and checked against what the phone service expects)."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from lidia.core.settings import PROJECT_DIR, Settings
from lidia.phone.app import create_app as create_phone_app
from lidia.phone.call_store import SqlCallStore
from tests.conftest import make_settings
from tests.support import asterisk_conf
from tests.support.asterisk_peer import AudioSocketPeer, ChanWebSocketPeer, dial_query
from tests.support.live_server import live_server
from tests.support.replicas import free_port
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


# ---------------------------------------------------------------- Asterisk (deploy/asterisk)

ASTERISK_DIR = PROJECT_DIR / "deploy" / "asterisk"
PROVIDERS = ("Zadarma", "Novofon", "Mango Office", "MTS Exolve", "Beeline", "Rostelecom")
SAMPLE_CALL = {
    "UNIQUEID": "1733561234.42",
    "EPOCH": "1733561234",
    "RAND()": "1804289383",
    "CALLERID(num)": "+7 (495) 123-45-67';System(rm)",  # a SIP From may carry anything
    "EXTEN": "+74957654321",
}


@pytest.fixture(scope="module")
def extensions() -> list[asterisk_conf.Section]:
    return asterisk_conf.read(ASTERISK_DIR / "extensions.conf")


@pytest.fixture(scope="module")
def steps(extensions: list[asterisk_conf.Section]) -> dict[str, list[asterisk_conf.Step]]:
    return asterisk_conf.dialplan(extensions)


@pytest.fixture(scope="module")
def dialplan_globals(extensions: list[asterisk_conf.Section]) -> dict[str, str]:
    return asterisk_conf.globals_of(extensions)


@pytest.fixture(scope="module")
def ws_client() -> asterisk_conf.Section:
    sections = asterisk_conf.read(ASTERISK_DIR / "websocket_client.conf")
    return asterisk_conf.of_type(sections, "lidia", "websocket_client")


def run_sets(steps: list[asterisk_conf.Step], variables: dict[str, str]) -> dict[str, str]:
    """The variables a run of these steps leaves (Set() of plain variables; `__` inherits)."""
    for step in steps:
        if step.app == "Set" and "(" not in step.args[0].split("=", 1)[0]:
            name, value = step.args[0].split("=", 1)
            variables[name.lstrip("_")] = asterisk_conf.substitute(value, variables)
    return variables


def channel_options(dial_string: str) -> dict[str, str]:
    """`c(slin)f(json)v(a=b,c=d)` → {"c": "slin", "f": "json", "v": "a=b,c=d"}."""
    options, i = {}, 0
    while i < len(dial_string):
        letter, i, depth, start = dial_string[i], i + 1, 0, i + 2
        if i < len(dial_string) and dial_string[i] == "(":
            for j in range(i, len(dial_string)):
                depth += {"(": 1, ")": -1}.get(dial_string[j], 0)
                if depth == 0:
                    options[letter], i = dial_string[start:j], j + 1
                    break
        else:
            options[letter] = ""
    return options


def called_lidia(step: asterisk_conf.Step, variables: dict[str, str]) -> dict[str, list[str]]:
    """The query string Asterisk sends for this Dial(WebSocket/...), decoded as the app reads it."""
    tech, connection, options = step.args[0].split("/", 2)
    assert (tech, connection) == ("WebSocket", "lidia")
    opts = channel_options(options)
    assert opts["c"] == "slin" and opts["f"] == "json"
    params = dict(
        pair.split("=", 1)
        for pair in asterisk_conf.split_arguments(asterisk_conf.substitute(opts["v"], variables))
    )
    return parse_qs(dial_query(params), keep_blank_values=True)


def test_asterisk_files_parse_as_asterisk_reads_them() -> None:
    for name in ("pjsip.conf", "extensions.conf", "websocket_client.conf"):
        sections = asterisk_conf.read(ASTERISK_DIR / name)
        assert sections and all(s.entries for s in sections), name
    with pytest.raises(ValueError, match="line 2"):
        asterisk_conf.parse("[a]\nthis is not a setting\n")
    parsed = asterisk_conf.parse("[tpl](!)\nexten => s,1,NoOp(a\\;b) ; comment\n")
    assert parsed[0].marks == "!" and parsed[0].entries == [("exten", "s,1,NoOp(a;b)")]


def test_websocket_client_reaches_the_media_endpoint(ws_client: asterisk_conf.Section) -> None:
    uri = urlsplit(ws_client.get("uri") or "")
    assert uri.scheme == "ws" and uri.path == "/asterisk/media"
    assert uri.port == Settings(_env_file=None).phone_service_port
    assert ws_client.get("protocols") == "media"
    assert ws_client.get("connection_type") == "per_call_config"  # what chan_websocket uses
    assert ws_client.get("username") and ws_client.get("password")


def test_dialplan_and_websocket_client_share_address_and_credentials(
    ws_client: asterisk_conf.Section, dialplan_globals: dict[str, str]
) -> None:
    uri = urlsplit(ws_client.get("uri") or "")
    http = urlsplit(dialplan_globals["LIDIA_HTTP"])
    assert (http.scheme, http.netloc) == ("http", uri.netloc)
    assert dialplan_globals["LIDIA_USER"] == ws_client.get("username")
    assert dialplan_globals["LIDIA_PASSWORD"] == ws_client.get("password")
    assert int(dialplan_globals["LIDIA_TRANSFER_TIMEOUT"]) == (
        Settings(_env_file=None).transfer_timeout_s
    )


def test_calls_from_the_provider_reach_lidia_over_websocket(
    steps: dict[str, list[asterisk_conf.Step]], dialplan_globals: dict[str, str]
) -> None:
    assert dialplan_globals["LIDIA_MEDIA"] == "websocket"  # the default
    for extension in ("_X.", "_+X.", "s"):  # the number called, with or without +, or none
        route = asterisk_conf.steps_of(steps, "from-provider", extension)
        assert route[-1].app == "Goto" and route[-1].args == ["lidia", "start", "1"]
    call = run_sets(asterisk_conf.steps_of(steps, "from-provider", "_+X."), dict(SAMPLE_CALL))
    start = asterisk_conf.steps_of(steps, "lidia", "start")
    call = run_sets(start, call)
    assert call["LIDIA_FROM"] == "+74951234567"  # only digits and + go on
    assert (start[-1].app, start[-1].args) == ("Goto", ["${LIDIA_MEDIA}", "1"])
    auth = [s.args[0] for s in start if s.app == "Set" and s.args[0].startswith("CURLOPT")]
    assert "CURLOPT(userpwd)=${LIDIA_USER}:${LIDIA_PASSWORD}" in auth

    websocket = asterisk_conf.steps_of(steps, "lidia", "websocket")
    call = run_sets(websocket, call)
    assert call["LIDIA_CALL"] == SAMPLE_CALL["UNIQUEID"]
    (dial,) = [s for s in websocket if s.app == "Dial"]
    assert dial.args[2] == "g"  # the dialplan goes on when Лидия's leg ends
    assert called_lidia(dial, call) == {
        "call": ["1733561234.42"],
        "from": ["+74951234567"],
        "to": ["+74957654321"],
    }
    assert websocket[-1].args == ["next", "1"]


def test_after_lidia_the_dialplan_asks_next_and_transfers(
    steps: dict[str, list[asterisk_conf.Step]], dialplan_globals: dict[str, str]
) -> None:
    (ask, *_) = asterisk_conf.steps_of(steps, "lidia", "next")
    assert ask.args == ["LIDIA_NEXT=${CURL(${LIDIA_HTTP}/asterisk/calls/${LIDIA_CALL}/next)}"]
    call = dict(SAMPLE_CALL, LIDIA_HTTP=dialplan_globals["LIDIA_HTTP"], LIDIA_CALL="1733561234.42")
    assert asterisk_conf.substitute(ask.args[0].split("${CURL(", 1)[1][:-2], call) == (
        "http://127.0.0.1:8001/asterisk/calls/1733561234.42/next"
    )
    transfer = asterisk_conf.steps_of(steps, "lidia", "transfer")
    call = run_sets(transfer[:1], dict(call, LIDIA_NEXT="transfer:+74951112233"))
    assert call["LIDIA_TARGET"] == "74951112233"
    (dial,) = [s for s in transfer if s.app == "Dial"]
    assert dial.args[0] == "PJSIP/${LIDIA_TARGET}@${LIDIA_TRUNK}"
    assert dial.args[1] == "${LIDIA_TRANSFER_TIMEOUT}"
    # Unanswered: back to Лидия with the same call and the transfer's DIALSTATUS.
    back = transfer[transfer.index(dial) + 1 :]
    assert any(s.app == "Set" and s.args[0] == "__LIDIA_DIALSTATUS=${DIALSTATUS}" for s in back)
    assert any(s.app == "Goto" and s.args == ["${LIDIA_MEDIA}-return", "1"] for s in back)
    (again,) = [
        s for s in asterisk_conf.steps_of(steps, "lidia", "websocket-return") if s.app == "Dial"
    ]
    call = dict(
        call, LIDIA_FROM="+74951234567", LIDIA_TO="+74957654321", LIDIA_DIALSTATUS="NOANSWER"
    )
    assert called_lidia(again, call)["dialstatus"] == ["NOANSWER"]
    assert called_lidia(again, call)["call"] == ["1733561234.42"]


def test_audiosocket_variant_registers_the_call_before_connecting(
    steps: dict[str, list[asterisk_conf.Step]], dialplan_globals: dict[str, str]
) -> None:
    for extension in ("audiosocket", "audiosocket-return"):
        route = asterisk_conf.steps_of(steps, "lidia", extension)
        apps = [s.app for s in route]
        register = next(s for s in route if "/asterisk/calls/" in s.args[0])
        assert apps.index("Set") <= route.index(register) < apps.index("AudioSocket")
        assert route[apps.index("AudioSocket")].args == ["${LIDIA_CALL}", "${LIDIA_AUDIOSOCKET}"]
        assert route[-1].args == ["next", "1"]
    route = asterisk_conf.steps_of(steps, "lidia", "audiosocket")
    assert "Answer" in [s.app for s in route]  # AudioSocket() needs an answered channel
    call = run_sets(
        route[:2], dict(SAMPLE_CALL, LIDIA_FROM="+74951234567", LIDIA_TO="+74957654321")
    )
    assert str(uuid.UUID(call["LIDIA_CALL"])) == call["LIDIA_CALL"]
    register = next(s for s in route if "/asterisk/calls/" in s.args[0])
    curl = register.args[0].split("${CURL(", 1)[1][:-2]
    url, body = asterisk_conf.split_arguments(curl)
    assert body  # a body makes CURL() POST
    url = urlsplit(asterisk_conf.substitute(url, dict(call, **dialplan_globals)))
    assert url.path == f"/asterisk/calls/{call['LIDIA_CALL']}"
    assert parse_qs(url.query) == {"from": ["+74951234567"], "to": ["+74957654321"]}
    host, port = dialplan_globals["LIDIA_AUDIOSOCKET"].rsplit(":", 1)
    assert host == "127.0.0.1" and port == "9092"  # what the compose file publishes


def test_pjsip_trunk_registers_and_lands_in_the_dialplan(
    steps: dict[str, list[asterisk_conf.Step]], dialplan_globals: dict[str, str]
) -> None:
    text = (ASTERISK_DIR / "pjsip.conf").read_text(encoding="utf-8")
    sections = asterisk_conf.parse(text)
    trunk = dialplan_globals["LIDIA_TRUNK"]
    endpoint = asterisk_conf.of_type(sections, trunk, "endpoint")
    assert endpoint.get("context") == "from-provider" and "from-provider" in steps
    assert (endpoint.get("allow") or "").startswith("alaw")
    registration = asterisk_conf.of_type(sections, trunk, "registration")
    assert registration.get("server_uri") == "sip:SIP_SERVER"
    assert registration.get("client_uri") == "sip:SIP_LOGIN@SIP_SERVER"
    assert asterisk_conf.of_type(sections, trunk, "auth").get("password") == "SIP_PASSWORD"
    assert asterisk_conf.of_type(sections, trunk, "identify").get("endpoint") == trunk
    for kind in ("aor", "auth"):
        asterisk_conf.of_type(sections, trunk, kind)
    for provider in PROVIDERS:
        assert provider in text, provider


def test_asterisk_contract_names_every_shared_url() -> None:
    contract = (ASTERISK_DIR / "CONTRACT.md").read_text(encoding="utf-8")
    for name in (
        "/asterisk/media",
        "/asterisk/calls/<call>/next",
        "POST /asterisk/calls/<uuid>",
        "ASTERISK_WS_USERNAME",
        "ASTERISK_WS_PASSWORD",
        "ASTERISK_AUDIOSOCKET_PORT",
        "dialstatus=",
    ):
        assert name in contract, name


@pytest.fixture(scope="module")
def asterisk_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`docker compose --profile asterisk config`: Asterisk beside the single box."""
    folder = tmp_path_factory.mktemp("compose-asterisk")
    shutil.copytree(ASTERISK_DIR, folder / "deploy" / "asterisk")
    return compose_config_of(folder, "--profile", "asterisk")


def test_asterisk_profile_runs_a_recent_asterisk_with_the_files(asterisk_config: dict) -> None:
    services = asterisk_config["services"]
    asterisk = services["asterisk"]
    assert asterisk["profiles"] == ["asterisk"]  # never started without --profile asterisk
    version = re.match(r"andrius/asterisk:(\d+)\.(\d+)", asterisk["image"])
    assert version is not None
    assert (int(version[1]), int(version[2])) >= (22, 8)  # chan_websocket's marks
    assert asterisk["network_mode"] == "host"  # SIP and RTP on the host's address
    mounts = {
        v["target"] if isinstance(v, dict) else v.split(":")[1]: v for v in asterisk["volumes"]
    }
    for name in ("pjsip.conf", "extensions.conf", "websocket_client.conf"):
        assert f"/etc/asterisk/{name}" in mounts
    published = [
        (str(p.get("host_ip", "")), str(p["published"]))
        if isinstance(p, dict)
        else tuple(p.rsplit(":", 2)[:2])
        for p in services["phone"]["ports"]
    ]
    assert ("127.0.0.1", "9092") in published  # AudioSocket, from this host only


async def test_the_asterisk_files_reach_the_phone_service_as_written(
    tmp_path: Path,
    steps: dict[str, list[asterisk_conf.Step]],
    dialplan_globals: dict[str, str],
    ws_client: asterisk_conf.Section,
) -> None:
    """The dialplan's URLs, evaluated for a call, against the real phone service: its
    credentials are accepted, Лидия greets over chan_websocket and AudioSocket, `next` answers
    what the dialplan reads. (The orchestrator is down: the greeting comes from espeak-ng.)"""
    audiosocket_port = free_port()
    settings = make_settings(
        tmp_path,
        orchestrator_url="http://127.0.0.1:9",
        asterisk_ws_username=ws_client.get("username"),
        asterisk_ws_password=ws_client.get("password"),
        asterisk_audiosocket_host="127.0.0.1",
        asterisk_audiosocket_port=audiosocket_port,
        greeting_text="Здравствуйте!",
    )
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    try:
        with live_server(create_phone_app(settings, call_store=store)) as url:
            here = urlsplit(url).netloc
            call = {**SAMPLE_CALL, **dialplan_globals, "LIDIA_HTTP": url}
            call = run_sets(asterisk_conf.steps_of(steps, "from-provider", "_+X."), call)
            call = run_sets(asterisk_conf.steps_of(steps, "lidia", "start"), call)
            websocket = asterisk_conf.steps_of(steps, "lidia", "websocket")
            call = run_sets(websocket, call)
            (dial,) = [s for s in websocket if s.app == "Dial"]
            params = dict(
                pair.split("=", 1)
                for pair in asterisk_conf.split_arguments(
                    asterisk_conf.substitute(
                        channel_options(dial.args[0].split("/", 2)[2])["v"], call
                    )
                )
            )
            uri = urlsplit(ws_client.get("uri") or "")._replace(netloc=here).geturl()
            peer = ChanWebSocketPeer(
                uri, ws_client.get("username"), ws_client.get("password"), params=params
            )
            async with peer:
                await peer.wait_for(lambda: bool(peer.marks_processed()), within_s=60)
                assert peer.subprotocol == "media" and peer.played
            auth = (dialplan_globals["LIDIA_USER"], dialplan_globals["LIDIA_PASSWORD"])
            (ask, *_) = asterisk_conf.steps_of(steps, "lidia", "next")
            next_url = asterisk_conf.substitute(ask.args[0].split("${CURL(", 1)[1][:-2], call)
            async with httpx.AsyncClient(auth=auth, timeout=30) as http:
                answer = await http.get(next_url)
                assert (answer.status_code, answer.text) == (200, "hangup")

                audiosocket = asterisk_conf.steps_of(steps, "lidia", "audiosocket")
                call = run_sets(audiosocket[:2], call)
                register = next(s for s in audiosocket if "/asterisk/calls/" in s.args[0])
                curl = register.args[0].split("${CURL(", 1)[1][:-2]
                target, body = asterisk_conf.split_arguments(curl)
                registered = await http.post(
                    asterisk_conf.substitute(target, call),
                    content=body,  # as CURL() posts it
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                assert registered.status_code == 200, registered.text
            async with AudioSocketPeer(
                "127.0.0.1", audiosocket_port, call_uuid=uuid.UUID(call["LIDIA_CALL"])
            ) as audio:
                await audio.wait_for(lambda: any(any(s.data) for s in audio.received_audio), 60)
                assert audio.ended is None
    finally:
        store.engine.dispose()
