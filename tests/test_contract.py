"""The contract: both services' OpenAPI checked against what they really answer (schemathesis).

Each service runs under uvicorn on 127.0.0.1 with real engines (tiny Whisper, RHVoice, the
fake OpenAI-compatible LLM); schemathesis reads its `/openapi.json`, generates valid and
invalid requests per operation, and checks every answer: no 5xx, every status, media type,
body and header documented, schema-valid input accepted, invalid input refused. The
orchestrator runs with an API key (so 401/429 are part of the contract); Twilio's webhooks
are signed by a `before_call` hook exactly as Twilio signs them, and the dashboard gets its
Basic credentials. Bounded: a few examples per operation, no shrinking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis

# Imported at collection, not lazily inside a test: CPython 3.11's AST validator miscounts
# its depth after a RecursionError was caught earlier in the process (the JSON-depth tests
# provoke one), and a lazy import that pytest rewrites would then fail.
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import SqlCallStore
from tests.conftest import make_settings
from tests.support.fake_llm_servers import FakeOpenAI
from tests.support.live_server import live_server
from tests.support.twilio_client import TEST_AUTH_TOKEN, TEST_PUBLIC_BASE, sign

pytestmark = pytest.mark.slow

KEY = "contract-test-key"
ADMIN = ("owner", "contract-пароль")
BOUNDED = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure is reproducible
    database=None,  # nothing written into the checkout (.hypothesis/)
    phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
    suppress_health_check=list(HealthCheck),
)
# Bodies the schema cannot describe: "valid" random bytes are not audio (400 is right), and a
# recording URL that is not Twilio's is not fetched. Every other check still runs on them.
# `/v1/chat/completions` needs its last message to be the user's, with text: a rule across
# array items JSON Schema cannot state. Every other check still runs on these.
OPAQUE_CONTENT = {
    "/stt",
    "/process_call",
    "/v1/audio/transcriptions",
    "/v1/chat/completions",
    "/twilio/recording",
}


@pytest.fixture(scope="module")
def orchestrator_api(
    tmp_path_factory: pytest.TempPathFactory, tiny_stt, fallback_voice, fake_openai: FakeOpenAI
) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("contract-orchestrator")
    config = make_settings(
        root,
        openai_base_url=fake_openai.base_url,
        openai_model="fake",
        orchestrator_api_key=KEY,
        auth_max_failures=1000,  # schemathesis sends key-less probes; no lockout mid-run
    )
    app = create_orchestrator(config, stt=tiny_stt, tts=fallback_voice)
    with live_server(app) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json", headers=_bearer())


@pytest.fixture(scope="module")
def phone_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("contract-phone")
    config = make_settings(
        root,
        public_base_url=TEST_PUBLIC_BASE,
        twilio_auth_token=TEST_AUTH_TOKEN,
        twilio_account_sid="AC" + "0" * 32,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        auth_max_failures=1000,
        calls_retention_days=None,
    )
    store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
    app = create_phone(config, orchestrator_url="http://127.0.0.1:9", call_store=store)
    with live_server(app) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")
    store.engine.dispose()


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


@schemathesis.hook("before_call")
def sign_twilio_webhooks(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Sign `/twilio/*` requests over the public URL and the form, exactly as Twilio does."""
    if not case.path.startswith("/twilio/"):
        return
    query = f"?{urlencode(case.query)}" if case.query else ""
    form = case.body if isinstance(case.body, dict) else {}
    params = {str(k): str(v) for k, v in form.items()}
    url = TEST_PUBLIC_BASE + case.path + query
    case.headers = {
        **(case.headers or {}),
        "X-Twilio-Signature": sign(TEST_AUTH_TOKEN, url, params),
    }


def modes_for(path: str) -> tuple[GenerationMode, ...]:
    """Twilio's webhooks answer TwiML to any signed form (every field an optional string, a
    failure is the apology): there is no invalid form to send them, only valid ones."""
    if path.startswith("/twilio/"):
        return (GenerationMode.POSITIVE,)
    return (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def contract_failures(schema: Any, call: Callable[[Any], None]) -> list[str]:
    """Every operation, valid and invalid cases: what failed, per operation and mode."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes_for(operation.path):

            @given(case=operation.as_strategy(generation_mode=mode))
            @BOUNDED
            def check(case: Any) -> None:
                call(case)

            try:
                check()
            except Unsatisfiable:
                pass  # no invalid input exists (an operation without parameters)
            except (Exception, BaseExceptionGroup) as exc:  # collected: every broken operation
                failures.append(f"{operation.method.upper()} {operation.path} [{mode}]: {exc}")
    return failures


def excluded_for(case: Any) -> list[Any]:
    # Which languages `/tts` speaks depends on the engines loaded at run time (422 otherwise).
    language = isinstance(case.body, dict) and case.body.get("language") is not None
    opaque = case.path in OPAQUE_CONTENT or (case.path == "/tts" and language)
    return [positive_data_acceptance] if opaque else []


def test_the_orchestrator_answers_as_its_openapi_says(orchestrator_api: Any) -> None:
    def call(case: Any) -> None:
        case.call_and_validate(headers=_bearer(), excluded_checks=excluded_for(case))

    failures = contract_failures(orchestrator_api, call)
    assert not failures, "\n\n".join(failures)


def test_the_phone_service_answers_as_its_openapi_says(phone_api: Any) -> None:
    def call(case: Any) -> None:
        auth = ADMIN if case.path.startswith("/admin") else None
        case.call_and_validate(auth=auth, excluded_checks=excluded_for(case))

    failures = contract_failures(phone_api, call)
    assert not failures, "\n\n".join(failures)
