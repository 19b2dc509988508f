"""The caller's message at call end: the orchestrator's `POST /extract_message` (LLM, with a
fallback to the raw transcript), the phone service storing it after Twilio's final status
callback, and the schema migration that added the `message_*` columns."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app
from lidia.phone.call_store import (
    SCHEMA_VERSION,
    SqlCallStore,
    TurnRecord,
    calls_table,
    downgrade_schema,
    schema_version_table,
)
from lidia.secretary.caller_message import fallback_message, parse_llm_message, phone_digits
from tests.conftest import make_settings
from tests.support.admin_seed import drop_store, make_store
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    signed_headers,
    webhook_form,
)

TRANSCRIPT = (
    "Звонящий: Здравствуйте, меня зовут Анна Смирнова.\n"
    "Лидия: Здравствуйте, Анна! Чем могу помочь?\n"
    "Звонящий: Перезвоните мне, пожалуйста, по номеру +7 916 123-45-67 насчёт доставки."
)
LLM_JSON = {
    "name": "Анна Смирнова",
    "phone": "+7 916 123-45-67",
    "reason": "Просит перезвонить насчёт доставки",
    "summary": "Анна Смирнова: доставка, перезвонить",
    "message_left": True,
}


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    yield fake_openai
    fake_openai.reset(Script())


def orchestrator_client(
    tmp_path: Path, fake_openai: FakeOpenAI | None, tiny_stt, voice
) -> TestClient:
    llm_values = (
        {"openai_base_url": fake_openai.base_url, "openai_model": "fake"} if fake_openai else {}
    )
    settings = make_settings(tmp_path, **llm_values)
    return TestClient(create_orchestrator(settings, stt=tiny_stt, tts=voice))


def test_the_llm_extracts_the_message(
    tmp_path: Path, llm: FakeOpenAI, tiny_stt, fallback_voice
) -> None:
    llm.reset(Script(text="```json\n" + json.dumps(LLM_JSON, ensure_ascii=False) + "\n```"))
    with orchestrator_client(tmp_path, llm, tiny_stt, fallback_voice) as client:
        response = client.post(
            "/extract_message", json={"transcript": TRANSCRIPT, "caller_number": "+79160000000"}
        )
    assert response.status_code == 200
    assert response.json() == {**LLM_JSON, "phone": "+79161234567", "source": "llm"}
    request = llm.requests[-1].body
    assert "JSON" in request["messages"][0]["content"]  # the strict extraction prompt
    assert "Анна Смирнова" in request["messages"][-1]["content"]
    assert "+79160000000" in request["messages"][-1]["content"]


@pytest.mark.parametrize(
    "script",
    [
        Script(fail_first=100, fail_status=500),
        Script(text="Конечно, сейчас разберу."),
        Script(malformed=True),
    ],
    ids=["llm-failing", "not-json", "malformed"],
)
def test_llm_problems_fall_back_to_the_raw_transcript(
    tmp_path: Path, llm: FakeOpenAI, tiny_stt, fallback_voice, script: Script
) -> None:
    llm.reset(script)
    with orchestrator_client(tmp_path, llm, tiny_stt, fallback_voice) as client:
        response = client.post("/extract_message", json={"transcript": TRANSCRIPT})
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "fallback" and body["reason"] == TRANSCRIPT
    assert body["phone"] == "+79161234567" and body["message_left"] is True


def test_without_an_llm_the_fallback_answers(tmp_path: Path, tiny_stt, fallback_voice) -> None:
    with orchestrator_client(tmp_path, None, tiny_stt, fallback_voice) as client:
        body = client.post("/extract_message", json={"transcript": "Звонящий: алло"}).json()
        assert body["source"] == "fallback" and body["reason"] == "Звонящий: алло"
        assert body["phone"] is None
        assert client.post("/extract_message", json={"transcript": "  "}).status_code == 400


def test_parsing_is_strict_about_types() -> None:
    assert parse_llm_message('Ответ: {"summary": "x", "message_left": false}').summary == "x"
    for bad in ("no json", '{"message_left": "yes"}', '{"name": 5}', "[1, 2]"):
        with pytest.raises(ValueError):
            parse_llm_message(bad)
    assert phone_digits("звоните 8 (495) 111-22-33 вечером") == "84951112233"
    assert phone_digits("заказ 42, квартира 7") is None
    assert fallback_message("").message_left is False


# ------------------------------------------------------------------ phone service end to end


@pytest.fixture(scope="module")
def orchestrator_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_stt, fallback_voice, fake_openai: FakeOpenAI
) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("orch"), openai_base_url=fake_openai.base_url, openai_model="fake"
    )
    with live_server(create_orchestrator(settings, stt=tiny_stt, tts=fallback_voice)) as url:
        yield url


async def finished_call_message(tmp_path: Path, kind: str, orchestrator: str) -> SqlCallStore:
    store, schema = await make_store(kind, tmp_path)
    call_sid = "CA" + "d" * 32
    await store.create_call(call_sid, from_number="+79160000000", to_number="+7000")
    await store.add_turn(
        call_sid,
        TurnRecord(
            1, transcript="Здравствуйте, меня зовут Анна Смирнова.", reply="Здравствуйте, Анна!"
        ),
    )
    await store.add_turn(
        call_sid, TurnRecord(2, transcript="Перезвоните по номеру +7 916 123-45-67.")
    )
    settings = make_settings(
        tmp_path, public_base_url=TEST_PUBLIC_BASE, twilio_auth_token=TEST_AUTH_TOKEN
    )
    app = create_app(settings, orchestrator_url=orchestrator, call_store=store)
    form = webhook_form(call_sid, CallStatus="completed", CallDuration="61")

    def status_callback() -> None:
        with live_server(app) as url:  # leaving it waits for the background extraction
            response = httpx.post(
                url + "/twilio/status", data=form, headers=signed_headers("/twilio/status", form)
            )
            assert response.status_code == 204

    await asyncio.to_thread(status_callback)
    store.test_schema = schema  # type: ignore[attr-defined]
    return store


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_status_callback_stores_the_llms_message(
    tmp_path: Path, kind: str, orchestrator_url: str, llm: FakeOpenAI
) -> None:
    llm.reset(Script(text=json.dumps(LLM_JSON, ensure_ascii=False)))
    store = await finished_call_message(tmp_path, kind, orchestrator_url)
    call = await store.get_call("CA" + "d" * 32)
    await drop_store(store, store.test_schema)  # type: ignore[attr-defined]
    assert call is not None and call.duration_s == 61
    assert (call.message_name, call.message_phone) == ("Анна Смирнова", "+79161234567")
    assert call.message_reason == LLM_JSON["reason"] and call.message_left is True
    assert "Звонящий: Перезвоните по номеру" in llm.requests[-1].body["messages"][-1]["content"]


async def test_an_unreachable_orchestrator_still_stores_the_transcript(tmp_path: Path) -> None:
    store = await finished_call_message(tmp_path, "sqlite", "http://127.0.0.1:9")
    call = await store.get_call("CA" + "d" * 32)
    await store.close()
    assert call is not None and call.message_left is True and call.message_name is None
    assert call.message_reason == (
        "Здравствуйте, меня зовут Анна Смирнова.\nПерезвоните по номеру +7 916 123-45-67."
    )
    assert call.message_phone == "+79161234567"


# ---------------------------------------------------------------------------- migration


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_version_1_database_gains_the_message_columns(tmp_path: Path, kind: str) -> None:
    store, schema = await make_store(kind, tmp_path)
    new_columns = {
        "message_name",
        "message_phone",
        "message_reason",
        "message_summary",
        "message_left",
    }

    def downgrade_to_v1() -> None:
        # Alembic revision 0001 is exactly what version 1 of the store created; a database
        # from before Alembic has no `alembic_version` either. Then a call recorded by v1.
        downgrade_schema(store.engine, schema, "0001")
        old_calls = sqlalchemy.Table(
            "calls",
            sqlalchemy.MetaData(),
            *[c._copy() for c in calls_table.columns if c.name not in new_columns],
        )
        with store.engine.begin() as conn:
            sqlalchemy.Table("alembic_version", sqlalchemy.MetaData()).drop(conn)
            conn.execute(
                old_calls.insert().values(
                    call_sid="CAold",
                    status="completed",
                    started_at=sqlalchemy.func.now(),
                    errors=[],
                    dtmf="",
                )
            )
            conn.execute(schema_version_table.update().values(version=1))

    await asyncio.to_thread(downgrade_to_v1)
    await store.start()
    old = await store.get_call("CAold")
    assert old is not None and old.message_left is False and old.message_name is None
    await store.update_call("CAold", message_name="Анна", message_left=True)
    assert (await store.get_call("CAold")).message_name == "Анна"

    def version() -> int:
        with store.engine.connect() as conn:
            return conn.execute(sqlalchemy.select(schema_version_table.c.version)).scalar_one()

    assert await asyncio.to_thread(version) == SCHEMA_VERSION
    await drop_store(store, schema)
