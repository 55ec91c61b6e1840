"""Webhook signatures (app/webhooks.py), checked against independent signers.

The `standardwebhooks` package signs and verifies as a peer; MLflow- and GitHub-style
deliveries come from fixtures/webhooks/, written by a script that follows those senders' own
code and documentation (fixtures/webhooks/make_fixtures.py), including GitHub's test vector.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.pipelines.signing import (
    TOLERANCE_SECONDS,
    SecretFormatError,
    SignatureError,
    WebhookSecret,
    parse_secrets,
    sign,
    signature_headers,
    verify_delivery,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example
OTHER = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
NOW = 1_767_225_600
BODY = b'{"type":"review.requested","data":{"model":"builtin/reader","suite_name":"s"}}'


def peer_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The standardwebhooks package's signature."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return str(Webhook(secret).sign(msg_id, when, body.decode()))


def standard(
    msg_id: str = "msg_1", timestamp: int = NOW, signature: str | None = None, body: bytes = BODY
) -> list[tuple[str, str]]:
    return [
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signature or peer_sign(SECRET, msg_id, timestamp, body)),
    ]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


# --- Standard Webhooks, both directions, against the peer ---------------------------------


def test_a_delivery_signed_by_the_peer_verifies() -> None:
    delivery = verify_delivery(parse_secrets(SECRET), standard(), BODY, NOW)
    assert (delivery.scheme, delivery.delivery_id, delivery.timestamp) == ("standard", "msg_1", NOW)


def test_our_signature_equals_the_peers_and_the_peer_verifies_it() -> None:
    secrets = parse_secrets(SECRET)
    assert sign(secrets, "msg_1", NOW, BODY) == peer_sign(SECRET, "msg_1", NOW, BODY)
    now = time.time()
    headers = signature_headers(secrets, "msg_2", BODY, now)
    assert headers["webhook-timestamp"] == str(int(now))
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(BODY, headers)


def test_header_names_are_case_insensitive() -> None:
    headers = [(name.title(), value) for name, value in standard()]
    assert verify_delivery(parse_secrets(SECRET), headers, BODY, NOW).delivery_id == "msg_1"


def test_rotation_several_signatures_and_several_secrets() -> None:
    good = peer_sign(SECRET, "msg_1", NOW, BODY)
    wrong = peer_sign(OTHER, "msg_1", NOW, BODY)
    # The sender signs with old and new secrets; we hold one of them.
    for header in (f"{wrong} {good}", f"{good} {wrong}", f"v1a,xyz {good}", f"v2,abc {good}"):
        verify_delivery(parse_secrets(SECRET), standard(signature=header), BODY, NOW)
    # We hold two secrets while rotating; the sender uses either.
    both = parse_secrets(f"{OTHER} {SECRET}")
    verify_delivery(both, standard(), BODY, NOW)
    verify_delivery(both, standard(signature=wrong), BODY, NOW)
    # We sign with both; a receiver holding either one verifies.
    headers = signature_headers(both, "msg_3", BODY, time.time())
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (SECRET, OTHER):
        Webhook(secret).verify(BODY, headers)


def test_the_timestamp_window_is_five_minutes_each_way() -> None:
    secrets = parse_secrets(SECRET)
    for offset in (-TOLERANCE_SECONDS, 0, TOLERANCE_SECONDS):
        verify_delivery(secrets, standard(timestamp=NOW + offset), BODY, NOW)
    for offset, word in ((-TOLERANCE_SECONDS - 1, "minutes"), (TOLERANCE_SECONDS + 1, "minutes")):
        with pytest.raises(SignatureError, match=word):
            verify_delivery(secrets, standard(timestamp=NOW + offset), BODY, NOW)


def test_verification_is_over_the_raw_bytes() -> None:
    """Not over a decoded or re-serialised body: any byte changed fails, and a body that is
    not UTF-8 still verifies (its payload is judged after, as a 400)."""
    secrets = parse_secrets(SECRET)
    key = secrets[0].standard_key
    assert key is not None
    raw = b"\xff\xfe not utf-8 \x80"
    mac = hmac.new(key, b"msg_1.%d." % NOW + raw, "sha256").digest()
    header = "v1," + base64.b64encode(mac).decode()
    verify_delivery(secrets, standard(signature=header, body=raw), raw, NOW)
    for tampered in (BODY + b" ", BODY.replace(b"reader", b"Reader"), b" " + BODY):
        with pytest.raises(SignatureError, match="no signature"):
            verify_delivery(secrets, standard(), tampered, NOW)


BAD_STANDARD: list[tuple[str, list[tuple[str, str]], str]] = [
    ("no headers at all", [], "unsigned"),
    ("no id", [h for h in standard() if h[0] != "webhook-id"], "missing header webhook-id"),
    ("no timestamp", [h for h in standard() if h[0] != "webhook-timestamp"], "webhook-timestamp"),
    ("no signature", [h for h in standard() if h[0] != "webhook-signature"], "webhook-signature"),
    ("empty signature", standard(signature=" "), "no signature"),
    ("v1 without value", standard(signature="v1,"), "no signature"),
    ("not base64", standard(signature="v1,@@@###"), "no signature"),
    ("no comma", standard(signature="v1"), "no signature"),
    ("unknown version only", standard(signature="v9,AAAA"), "no signature"),
    ("hex instead of base64", standard(signature="v1," + "ab" * 32), "no signature"),
    ("wrong secret", standard(signature=peer_sign(OTHER, "msg_1", NOW, BODY)), "no signature"),
    ("signed for another id", standard(signature=peer_sign(SECRET, "x", NOW, BODY)), "no sig"),
    ("signed at another time", standard(signature=peer_sign(SECRET, "msg_1", NOW - 1, BODY)), "no"),
    (
        "float timestamp",
        [*standard()[:1], ("webhook-timestamp", f"{NOW}.0"), standard()[2]],
        "whole",
    ),
    (
        "exponent timestamp",
        [*standard()[:1], ("webhook-timestamp", "1.7e9"), standard()[2]],
        "whole",
    ),
    ("negative timestamp", [*standard()[:1], ("webhook-timestamp", "-1"), standard()[2]], "whole"),
    ("huge timestamp", [*standard()[:1], ("webhook-timestamp", "9" * 40), standard()[2]], "whole"),
    ("stale", standard(timestamp=NOW - 3600), "minutes"),
    ("future", standard(timestamp=NOW + 3600), "minutes"),
    ("id with a space", standard(msg_id="msg 1"), "visible ASCII"),
    ("id too long", standard(msg_id="m" * 201), "visible ASCII"),
    ("repeated signature header", [*standard(), ("Webhook-Signature", "v1,AAAA")], "repeated"),
    ("too many signatures", standard(signature=" ".join(["v1,AAAA"] * 21)), "more than"),
]


@pytest.mark.parametrize(
    ("name", "headers", "reason"), BAD_STANDARD, ids=[b[0] for b in BAD_STANDARD]
)
def test_bad_standard_deliveries_are_refused_with_a_reason(
    name: str, headers: list[tuple[str, str]], reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_delivery(parse_secrets(SECRET), headers, BODY, NOW)


# --- MLflow and GitHub ---------------------------------------------------------------------


def test_mlflow_fixtures_verify() -> None:
    for name in ("mlflow-review-requested.json", "mlflow-model-version-created.json"):
        data = fixture(name)
        delivery = verify_delivery(
            [WebhookSecret(data["secret"])],
            data["headers"].items(),
            data["body"].encode(),
            data["received_at"],
        )
        assert delivery.scheme == "mlflow"
        assert delivery.delivery_id == data["headers"]["X-MLflow-Delivery-Id"]
        assert delivery.timestamp == int(data["headers"]["X-MLflow-Timestamp"])


def test_mlflow_deliveries_are_refused_when_tampered_stale_or_keyed_differently() -> None:
    data = fixture("mlflow-review-requested.json")
    secrets = [WebhookSecret(data["secret"])]
    headers, body, at = data["headers"], data["body"].encode(), data["received_at"]
    with pytest.raises(SignatureError, match="no signature"):
        verify_delivery(secrets, headers.items(), body + b" ", at)
    with pytest.raises(SignatureError, match="minutes"):
        verify_delivery(secrets, headers.items(), body, at + TOLERANCE_SECONDS + 1)
    swapped = {**headers, "X-MLflow-Delivery-Id": "another-id"}
    with pytest.raises(SignatureError, match="no signature"):
        verify_delivery(secrets, swapped.items(), body, at)
    # MLflow keys HMAC with the secret's text, Standard Webhooks with its decoded bytes:
    # the same headers under Standard Webhooks names do not verify.
    renamed = [
        ("webhook-id", headers["X-MLflow-Delivery-Id"]),
        ("webhook-timestamp", headers["X-MLflow-Timestamp"]),
        ("webhook-signature", headers["X-MLflow-Signature"]),
    ]
    with pytest.raises(SignatureError, match="no signature"):
        verify_delivery(secrets, renamed, body, at)


def test_github_fixtures_verify_including_the_published_test_vector() -> None:
    for name in ("github-docs-test-vector.json", "github-review-requested.json"):
        data = fixture(name)
        delivery = verify_delivery(
            [WebhookSecret(data["secret"])],
            data["headers"].items(),
            data["body"].encode(),
            data["received_at"],
        )
        assert delivery.scheme == "github"
        assert delivery.delivery_id == data["headers"]["X-GitHub-Delivery"]
        assert delivery.timestamp is None
    vector = fixture("github-docs-test-vector.json")
    assert vector["headers"]["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.mark.parametrize(
    ("signature", "delivery", "reason"),
    [
        ("sha256=" + "0" * 64, "d1", "does not match"),
        ("sha1=" + "0" * 40, "d1", "sha256="),
        ("sha256=" + "z" * 64, "d1", "sha256="),
        ("sha256=abc", "d1", "sha256="),
        ("", "d1", "sha256="),
        (None, "", "x-github-delivery"),
    ],
)
def test_bad_github_deliveries(signature: str | None, delivery: str, reason: str) -> None:
    data = fixture("github-docs-test-vector.json")
    headers = dict(data["headers"], **{"X-GitHub-Delivery": delivery})
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    with pytest.raises(SignatureError, match=reason):
        verify_delivery(
            [WebhookSecret(data["secret"])], headers.items(), data["body"].encode(), NOW
        )


# --- the configured secret ------------------------------------------------------------------


def test_secrets_are_whsec_with_24_to_64_bytes_and_never_echoed() -> None:
    assert len(parse_secrets(SECRET)) == 1
    assert len(parse_secrets(f" {SECRET},{OTHER} ")) == 2
    for bad in ("", "   ", "not-a-whsec", "whsec_", "whsec_@@@@", "whsec_" + "QUFB" * 5):
        with pytest.raises(SecretFormatError) as caught:
            parse_secrets(bad)
        if len(bad.strip()) > len("whsec_"):
            assert bad.strip() not in str(caught.value)
    assert "MfKQ" not in repr(parse_secrets(SECRET))
