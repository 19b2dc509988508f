"""The calls dashboard over HTTP: auth, CSRF, list, pagination, filters, search, the call page,
audio (Range, traversal), exports, retention action and the voice playground; on SQLite and
on the real PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import base64
import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient

from lidia.admin.security import AdminAuth
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from tests.conftest import make_settings
from tests.support.admin_seed import NOW, SEED_CALLS
from tests.support.live_server import live_server

pytestmark = pytest.mark.time_dependent

USER, PASSWORD = "owner", "s3cret-пароль"
AUTH = (USER, PASSWORD)
DOWN = "http://127.0.0.1:9"  # nothing listens there: the orchestrator is "down"
NEWEST, MIDDLE, OLDEST = (seed.call_sid for seed in reversed(SEED_CALLS))


def dashboard(tmp_path: Path, store: SqlCallStore | None, **overrides: object) -> TestClient:
    values: dict[str, object] = {
        "admin_username": USER,
        "admin_password": PASSWORD,
        "admin_secret": "test-secret",
        "calls_retention_days": None,
    }
    values.update(overrides)
    settings = make_settings(tmp_path, **values)
    return TestClient(create_app(settings, orchestrator_url=DOWN, call_store=store))


@pytest.fixture
def client(tmp_path: Path, seeded_store: SqlCallStore) -> Iterator[TestClient]:
    with dashboard(tmp_path, seeded_store) as client:
        yield client


def csrf(client: TestClient) -> str:
    page = client.get("/admin", auth=AUTH).text
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


def listed(page: str) -> list[str]:
    return re.findall(r'data-call-sid="(CA\w+)"', page)


def excel_text(data: bytes) -> str:
    """How Excel on Windows opens a CSV: UTF-8 only when it starts with a BOM, else cp1251."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    return data.decode("cp1251", errors="replace")


# ------------------------------------------------------------------------------------ auth


def test_without_a_password_the_dashboard_is_disabled(tmp_path: Path) -> None:
    with dashboard(tmp_path, None, admin_password=None) as client:
        for path in ("/admin", f"/admin/calls/{NEWEST}", "/admin/export.csv", "/admin/playground"):
            response = client.get(path, auth=AUTH)
            assert response.status_code == 503
            assert "Панель звонков выключена" in response.text and "ADMIN_PASSWORD" in response.text
            assert "CA" not in response.text and "csrf" not in response.text
        assert client.post("/admin/retention", auth=AUTH).status_code == 503


def test_credentials_are_required(client: TestClient) -> None:
    for auth in (None, (USER, "wrong"), ("someone", PASSWORD), ("", "")):
        response = client.get("/admin", auth=auth)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Basic realm="Lidia calls"')
        assert NEWEST not in response.text
    garbage = client.get("/admin", headers={"Authorization": "Basic !!!not-base64"})
    assert garbage.status_code == 401
    assert client.get("/admin", auth=AUTH).status_code == 200


def test_csrf_tokens_depend_on_user_and_secret() -> None:
    auth = AdminAuth("owner", "pw", b"k1")
    assert auth.csrf_token("owner") == AdminAuth("owner", "pw", b"k1").csrf_token("owner")
    assert auth.csrf_token("owner") != AdminAuth("owner", "pw", b"k2").csrf_token("owner")
    assert auth.csrf_token("owner") != auth.csrf_token("other")
    assert auth.csrf_token("owner") != AdminAuth("owner", "new-pw", b"k1").csrf_token("owner")


def test_post_actions_need_the_token_and_the_same_origin(client: TestClient) -> None:
    token = csrf(client)
    assert client.post("/admin/retention", auth=AUTH).status_code == 403
    assert (
        client.post("/admin/retention", auth=AUTH, data={"csrf_token": "0" * 64}).status_code == 403
    )
    for header in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/x"},
    ):
        response = client.post(
            "/admin/retention", auth=AUTH, data={"csrf_token": token}, headers=header
        )
        assert response.status_code == 403
    assert client.post("/admin/retention", data={"csrf_token": token}).status_code == 401
    same = {"Origin": "http://testserver"}
    response = client.post(
        "/admin/retention",
        auth=AUTH,
        data={"csrf_token": token},
        headers=same,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "Срок хранения не задан" in unquote_plus(response.headers["location"])
    assert client.get("/admin/retention", auth=AUTH).status_code == 405  # actions are POST only


# ------------------------------------------------------------------------------------ list


def test_the_list_shows_newest_first_with_the_message_marker(client: TestClient) -> None:
    page = client.get("/admin", auth=AUTH).text
    assert listed(page) == [NEWEST, MIDDLE, OLDEST]
    assert "+79995550001" in page and "2 реплики" in page and "1 реплика" in page
    assert "3 звонка" in page
    outcomes = re.findall(r'<span class="outcome">([^<]+)</span>', page)
    assert outcomes == ["разговор", "оставил(а) сообщение", "завершён"]
    assert "completed" not in page and "conversation" not in page
    assert "✉ Иван Петров: перезвонить про заказ 42" in page
    assert page.count("message-marker") == 1
    assert '<meta name="viewport"' in page  # made for phone screens too


@pytest.mark.parametrize(
    ("zone", "newest", "middle", "offset"),
    [
        ("Europe/Moscow", "9 марта 2026, 15:00", "5 марта 2026, 15:00", "UTC+3"),
        ("Asia/Vladivostok", "9 марта 2026, 22:00", "5 марта 2026, 22:00", "UTC+10"),
        ("UTC", "9 марта 2026, 12:00", "5 марта 2026, 12:00", "UTC+0"),
    ],
)
def test_times_are_shown_in_the_configured_zone(
    tmp_path: Path,
    seeded_store: SqlCallStore,
    zone: str,
    newest: str,
    middle: str,
    offset: str,
) -> None:
    with dashboard(tmp_path, seeded_store, timezone=zone) as client:
        page = client.get("/admin", auth=AUTH).text
        times = re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", page)
        assert times[:2] == [newest, middle]
        assert f'<span id="timezone">{zone}, {offset}</span>' in page and " UTC</time>" not in page
        call = client.get(f"/admin/calls/{MIDDLE}", auth=AUTH).text
        assert f">{middle}</time>" in call and f"({zone}, {offset})" in call


def test_the_default_zone_is_moscow(tmp_path: Path) -> None:
    assert make_settings(tmp_path).timezone == "Europe/Moscow"
    with pytest.raises(ValueError, match="unknown time zone"):
        make_settings(tmp_path, timezone="Europe/Atlantis")


def test_the_call_page_is_russian(client: TestClient) -> None:
    page = client.get(f"/admin/calls/{MIDDLE}", auth=AUTH).text
    assert '<dd id="outcome">оставил(а) сообщение</dd>' in page
    assert "1 событие" in page  # dtmf is shown as «Нажатые клавиши», not as an event
    assert re.findall(r'<span class="event">([^<]+)</span>', page) == ["звонящий перебил Лидию"]


def test_pagination(client: TestClient) -> None:
    first = client.get("/admin", auth=AUTH, params={"per_page": 2}).text
    assert listed(first) == [NEWEST, MIDDLE] and "страница 1 из 2" in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url, auth=AUTH).text
    assert listed(second) == [OLDEST] and 'rel="next"' not in second and 'rel="prev"' in second
    assert listed(client.get("/admin", auth=AUTH, params={"page": 9}).text) == []
    assert client.get("/admin", auth=AUTH, params={"page": 0}).status_code == 422


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"date_from": (NOW.date().replace(day=3)).isoformat()}, [NEWEST, MIDDLE]),
        ({"date_to": (NOW.date().replace(day=5)).isoformat()}, [MIDDLE, OLDEST]),
        ({"date_from": "2026-03-05", "date_to": "2026-03-05"}, [MIDDLE]),
        ({"caller": "999555"}, [MIDDLE]),
        ({"caller": "+7"}, [NEWEST, MIDDLE, OLDEST]),
        ({"q": "заказа"}, [MIDDLE]),  # the caller's words
        ({"q": "ЗАПИСАТЬСЯ"}, [OLDEST]),  # case-insensitive, Cyrillic included
        ({"q": "восемнадцати"}, [NEWEST]),  # Лидия's reply
        ({"q": "иван петров"}, [MIDDLE]),
        ({"q": "100%"}, [NEWEST]),  # LIKE wildcards are searched literally
        ({"q": "%"}, [NEWEST]),
        ({"q": "_"}, []),
        ({"q": "заказ", "caller": "495"}, []),
    ],
)
def test_filters_and_search(
    client: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    response = client.get("/admin", auth=AUTH, params=params)
    assert response.status_code == 200
    assert listed(response.text) == expected


def test_a_bad_date_is_a_clear_400(client: TestClient) -> None:
    response = client.get("/admin", auth=AUTH, params={"date_from": "yesterday"})
    assert response.status_code == 400 and "ГГГГ-ММ-ДД" in response.json()["error"]["message"]


# ------------------------------------------------------------------------------- call page


def test_the_call_page_shows_the_timeline_message_and_players(client: TestClient) -> None:
    page = client.get(f"/admin/calls/{MIDDLE}", auth=AUTH).text
    for text in (
        "Добрый день, это Иван Петров",
        "Здравствуйте, Иван! Чем помочь?",
        "Перезвоните мне по поводу ЗАКАЗА номер 42",
        "перебил(а), услышано 700 мс",
        "первый звук через 0.90 с",
        "Иван Петров",
        "Просит перезвонить по поводу заказа 42",
        '<dd class="dtmf">5</dd>',
    ):
        assert text in page
    audio = re.findall(r'<audio[^>]*src="([^"]+)"', page)
    assert f"/admin/calls/{MIDDLE}/audio/caller.wav" in audio
    assert f"/admin/calls/{MIDDLE}/audio/turn002_reply.wav" in audio and len(audio) == 5
    oldest = client.get(f"/admin/calls/{OLDEST}", auth=AUTH).text
    assert "orchestrator timed out" in oldest and "не оставил сообщения" in oldest
    assert client.get("/admin/calls/CAnope", auth=AUTH).status_code == 404


def test_audio_is_served_with_ranges_and_only_from_the_call_folder(
    client: TestClient, tmp_path: Path
) -> None:
    url = f"/admin/calls/{MIDDLE}/audio/turn001_caller.wav"
    whole = client.get(url, auth=AUTH)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.content[:4] == b"RIFF" and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, auth=AUTH, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert client.get(url).status_code == 401

    secret = tmp_path / "calls_log" / "secret.wav"
    secret.write_bytes(whole.content)
    (tmp_path / "calls_log" / MIDDLE / "link.wav").symlink_to(secret)
    for name in (
        "..%2Fsecret.wav",
        "link.wav",
        "%2Fetc%2Fpasswd",
        "calls.db",
        "nope.wav",
        ".hidden.wav",
    ):
        assert client.get(f"/admin/calls/{MIDDLE}/audio/{name}", auth=AUTH).status_code == 404
    assert client.get("/admin/calls/..%2F..%2Fetc/audio/passwd.wav", auth=AUTH).status_code == 404


# --------------------------------------------------------------------------------- exports


def test_the_csv_export_honours_the_filters(client: TestClient) -> None:
    response = client.get("/admin/export.csv", auth=AUTH, params={"caller": "+7"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(codecs.BOM_UTF8)  # or Excel reads it as cp1251
    rows = list(csv.DictReader(io.StringIO(excel_text(response.content))))
    assert [row["call_sid"] for row in rows] == [NEWEST, MIDDLE, OLDEST]
    middle = rows[1]
    assert middle["from_number"] == "+79995550001" and middle["turns"] == "2"
    assert middle["message_left"] == "True" and middle["message_name"] == "Иван Петров"
    assert middle["duration_s"] == "60.0" and middle["started_at"].startswith("2026-03-05")
    assert rows[2]["errors"] == "orchestrator timed out"
    searched = excel_text(client.get("/admin/export.csv", auth=AUTH, params={"q": "заказ"}).content)
    assert [row["call_sid"] for row in csv.DictReader(io.StringIO(searched))] == [MIDDLE]
    page = client.get("/admin", auth=AUTH, params={"q": "заказ"}).text
    assert 'href="/admin/export.csv?q=' in page  # the list's export link carries its filters


def test_the_json_export_holds_the_whole_call(client: TestClient) -> None:
    response = client.get(f"/admin/calls/{MIDDLE}/export.json", auth=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    data = json.loads(response.content)
    assert data["call"]["call_sid"] == MIDDLE and data["call"]["message_phone"] == "+79995550001"
    assert [t["transcript"] for t in data["turns"]][1].startswith("Перезвоните")
    assert data["turns"][1]["barge_in"] is True and data["events"][0]["kind"] == "dtmf"
    assert client.get("/admin/calls/CAnope/export.json", auth=AUTH).status_code == 404


# ------------------------------------------------------------------------------ playground


@pytest.fixture(scope="module")
def orchestrator_with_key(
    tmp_path_factory: pytest.TempPathFactory, tiny_stt, fallback_voice
) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("orch"), orchestrator_api_key="orch-key")
    with live_server(create_orchestrator(settings, stt=tiny_stt, tts=fallback_voice)) as url:
        yield url


def test_the_playground_lists_voices_and_speaks_through_the_phone_service(
    tmp_path: Path, orchestrator_with_key: str
) -> None:
    settings = make_settings(
        tmp_path,
        admin_username=USER,
        admin_password=PASSWORD,
        orchestrator_api_key="orch-key",
    )
    app = create_app(settings, orchestrator_url=orchestrator_with_key)
    with TestClient(app) as client:
        page = client.get("/admin/playground", auth=AUTH).text
        voices = re.findall(r'<option value="([^"]*)">', page)
        assert voices[0] == "" and "lidia" in voices and "rhvoice-anna" in voices
        # No XTTS checkpoint here: the page says what speaks instead, why, and how to fix it.
        assert '<strong id="voice-speaking">запасной голос RHVoice</strong>' in page
        assert "Клонированного голоса нет" in page and "xtts" in page.split('id="voice-reason"')[1]
        assert "make models" in page and "make voice" in page
        assert '<option value="lidia">Лидия — сейчас запасной голос RHVoice (клона нет)' in page
        assert "now spoken by" not in page
        assert re.findall(r'<option value="([^"]*)">', page.split('name="engine"')[1]) == [
            "",
            "xtts",
            "rhvoice",
            "espeak",
        ]
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
        form = {"text": "Проверка голоса.", "voice": "rhvoice-anna", "engine": "rhvoice"}
        assert client.post("/admin/playground/speak", auth=AUTH, data=form).status_code == 403
        response = client.post(
            "/admin/playground/speak", auth=AUTH, data={**form, "csrf_token": token}
        )
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        assert response.content[:4] == b"RIFF" and len(response.content) > 10_000
        bad = client.post(
            "/admin/playground/speak", auth=AUTH, data={**form, "engine": "x", "csrf_token": token}
        )
        assert bad.status_code == 400
    # The browser never holds the orchestrator's key: it is not in any page we serve.
    assert "orch-key" not in page


def test_the_playground_explains_an_unreachable_orchestrator(tmp_path: Path) -> None:
    with dashboard(tmp_path, None) as client:
        page = client.get("/admin/playground", auth=AUTH).text
        assert "Оркестратор недоступен" in page
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
        response = client.post(
            "/admin/playground/speak", auth=AUTH, data={"text": "Привет", "csrf_token": token}
        )
        message = response.json()["error"]["message"]
        assert response.status_code == 502 and message.startswith("Оркестратор не озвучил текст")
        assert "unreachable" in message


def test_static_files_are_served(client: TestClient) -> None:
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "speak-form" in client.get("/admin/static/admin.js").text


def test_basic_header_parsing_accepts_utf8_passwords(client: TestClient) -> None:
    header = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert client.get("/admin", headers={"Authorization": header}).status_code == 200
