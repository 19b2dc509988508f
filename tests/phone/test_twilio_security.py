"""X-Twilio-Signature checks: real RequestValidator signatures against rebuilt public URLs."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from lidia.phone.twilio_security import TwilioSignatureChecker

TOKEN = "secret-token"
BASE = "https://lidia.example.com"


def checker(**kwargs: object) -> TwilioSignatureChecker:
    values: dict[str, object] = {"auth_token": TOKEN, "public_base_url": BASE, "enabled": True}
    values.update(kwargs)
    return TwilioSignatureChecker(**values)  # type: ignore[arg-type]


def test_public_urls_are_rebuilt_from_the_base() -> None:
    assert checker().public_url("/twilio/voice") == f"{BASE}/twilio/voice"
    assert checker().public_url("/twilio/recording", "purpose=message") == (
        f"{BASE}/twilio/recording?purpose=message"
    )
    assert checker().public_url("/twilio/media", websocket=True) == (
        "wss://lidia.example.com/twilio/media"
    )
    proxied = checker(public_base_url="https://example.org/lidia/")
    assert proxied.public_url("/twilio/voice") == "https://example.org/lidia/twilio/voice"


def test_valid_signatures_pass_and_altered_ones_fail() -> None:
    params = {"CallSid": "CA1", "From": "+100"}
    url = f"{BASE}/twilio/voice"
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    assert checker().is_valid(url, params, signature)
    assert not checker().is_valid(url, {**params, "From": "+999"}, signature)  # replay, altered
    assert not checker().is_valid(f"{BASE}/twilio/gather", params, signature)
    assert not checker().is_valid(url, params, None)
    assert not checker().is_valid(url, params, "forged")
    other = RequestValidator("another-token").compute_signature(url, params)
    assert not checker().is_valid(url, params, other)


def test_no_token_refuses_everything_and_disabled_accepts_everything() -> None:
    url = f"{BASE}/twilio/voice"
    assert not checker(auth_token=None).is_valid(url, {}, "anything")
    assert checker(enabled=False).is_valid(url, {}, None)


def test_disabled_validation_is_a_warning_at_start(caplog) -> None:
    checker(enabled=False).log_configuration()
    assert any(r.levelname == "WARNING" and "NOT checked" in r.message for r in caplog.records)
