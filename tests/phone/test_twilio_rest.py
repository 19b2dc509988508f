"""The `twilio` SDK's REST client, pointed at `TWILIO_API_BASE_URL`: the credentials go to
that host only, and Twilio's refusals become `TwilioRestError` (a fake Twilio REST API)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lidia.phone.twilio_rest import TwilioCalls, TwilioRestError
from tests.support.fake_twilio_api import FakeTwilioApi

ACCOUNT_SID = "AC" + "1" * 32
TOKEN = "rest-test-token"
CALL_SID = "CA" + "2" * 32


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi(ACCOUNT_SID, TOKEN).running() as fake:
        yield fake


async def test_hang_up_reaches_the_configured_host_with_the_account(api: FakeTwilioApi) -> None:
    api.reset()
    await TwilioCalls(ACCOUNT_SID, TOKEN, api.base_url).hang_up(CALL_SID)
    (update,) = api.updates
    assert (update.account_sid, update.call_sid, update.form) == (
        ACCOUNT_SID,
        CALL_SID,
        {"Status": "completed"},
    )


async def test_a_wrong_token_is_a_clear_error(api: FakeTwilioApi) -> None:
    api.reset()
    with pytest.raises(TwilioRestError, match="refused"):
        await TwilioCalls(ACCOUNT_SID, "wrong", api.base_url).redirect(CALL_SID, "<Response/>")
    assert api.updates == []


async def test_credentials_never_leave_the_configured_host(
    api: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.reset()
    monkeypatch.setenv("TWILIO_EDGE", "sydney")  # the SDK would rewrite the host for an edge
    with pytest.raises(TwilioRestError, match="refused to send Twilio credentials"):
        await TwilioCalls(ACCOUNT_SID, TOKEN, api.base_url).hang_up(CALL_SID)
    assert api.updates == []
