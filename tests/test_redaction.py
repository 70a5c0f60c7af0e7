"""Secrets never reach a message: the key, upload URLs and their tokens, credentials written into URLs."""

from __future__ import annotations

import uuid

import httpx
import pytest

from reconciler.errors import ActionError, ApiError, ConfigError, TransportError
from reconciler.redact import MARK, redact, register, register_url
from reconciler.remote.client import ApiClient, check_base_url, error_message


def _secret(prefix: str = "sk") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def test_the_clients_key_is_removed_from_errors_built_from_server_text():
    key = _secret()
    ApiClient("https://api.example.com", key).close()
    error = ApiError("PATCH /websets/v0/imports/i1", 400, f"invalid key {key} (x-api-key: {key})", "req_1")
    assert key not in str(error) and key not in error.detail
    assert (
        str(error)
        == f"PATCH /websets/v0/imports/i1: HTTP 400: invalid key {MARK} (x-api-key: {MARK}) (request id req_1)"
    )
    assert key not in str(TransportError("GET /x", f"closed by {key}"))
    # A key of a few characters is no credential; replacing it everywhere would garble every message.
    ApiClient("https://api.example.com", "k").close()
    assert str(ApiError("GET /x", 400, "keep looking", None)) == "GET /x: HTTP 400: keep looking"


def _said(text: str) -> str:
    """What an error built from a server's `text` says."""
    return ApiError("PUT upload", 403, text, None).detail


def test_an_upload_url_its_token_and_its_query_values_are_removed():
    token = uuid.uuid4().hex + uuid.uuid4().hex
    url = f"http://127.0.0.1:8123/uploads/{token}"
    register_url(url)
    assert _said(f"refused PUT {url}") == f"refused PUT {MARK}"
    assert token not in _said(f"token {token} was used")
    signature = uuid.uuid4().hex
    s3 = f"https://bucket.s3.amazonaws.com/imports/obj.csv?X-Amz-Credential=AKIA{signature[:16].upper()}%2F20270101&X-Amz-Signature={signature}"
    register_url(s3)
    # S3 echoes the signature and the access key id without the URL around them.
    body = f"<SignatureProvided>{signature}</SignatureProvided><AWSAccessKeyId>AKIA{signature[:16].upper()}</AWSAccessKeyId>"
    cleaned = _said(body)
    assert signature not in cleaned and signature[:16].upper() not in cleaned


def test_generic_rules_catch_what_was_never_registered():
    cases = {
        "GET https://bob:hunter2@api.example.com/v0 failed": f"GET https://{MARK}@api.example.com/v0 failed",
        "see https://host.example/obj?sig=abc&exp=1 now": f"see https://host.example/obj?{MARK} now",
        "CanonicalQuery X-Amz-Signature=abcdef&X-Amz-Date=1": f"CanonicalQuery X-Amz-Signature={MARK}&X-Amz-Date=1",
        "proxy bob:hunter2@proxy.example:8080": f"proxy {MARK}@proxy.example:8080",
        # Text without credentials is left alone.
        "mail ops@example.com: rejected": "mail ops@example.com: rejected",
        "size: must be at least 1": "size: must be at least 1",
    }
    assert {text: _said(text) for text in cases} == cases
    assert {text: redact(_said(text)) for text in cases} == cases  # cleaning twice changes nothing


def test_nothing_of_a_secret_survives_the_cut_of_a_long_body():
    key = _secret()
    register(key)
    for at in range(180, 205):  # the body is cut to 200 characters; the key straddles the cut
        body = "x" * at + key + " tail"
        message = error_message(httpx.Response(500, text=body))
        assert key[:6] not in message and key[-6:] not in message


def test_json_error_bodies_are_cleaned_too():
    key = _secret()
    register(key)
    for body in ({"error": {"message": f"bad {key}"}}, {"message": f"bad {key}"}, {"error": f"bad {key}"}):
        assert error_message(httpx.Response(400, json=body)) == f"bad {MARK}"


@pytest.mark.parametrize(
    "base_url",
    ["http://bob:pa55-w0rd-xyz@example.com", "bob:pa55-w0rd-xyz@example.com", "ftp://bob:pa55-w0rd-xyz@host"],
)
def test_a_refused_base_url_is_shown_without_its_password(base_url):
    with pytest.raises(ConfigError) as caught:
        check_base_url(base_url)
    assert "pa55-w0rd-xyz" not in str(caught.value) and "EXA_BASE_URL" in str(caught.value)


def test_the_base_urls_password_is_registered():
    password = _secret("pw")
    ApiClient(f"https://bob:{password}@api.example.com", _secret()).close()
    assert password not in redact(f"auth {password} refused")


def test_action_errors_carry_clean_messages():
    key = _secret()
    register(key)
    error = ActionError("create", "a", f"import i1 failed (invalid_format: the key {key} is not a CSV)")
    assert key not in error.message and key not in str(error)
