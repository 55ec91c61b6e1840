"""Webhook signatures, as pure functions over (secrets, headers, raw body).

Inbound, three signing styles are accepted, all HMAC-SHA256:

- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> ...`
  over `id.timestamp.body`, keyed with the base64-decoded part of the `whsec_...` secret.
- MLflow (`mlflow/webhooks/delivery.py`): the same construction in `X-MLflow-Delivery-Id`,
  `X-MLflow-Timestamp`, `X-MLflow-Signature`, but keyed with the secret's text as configured.
- GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body alone, keyed with the secret's
  text; the delivery id is `X-GitHub-Delivery`. GitHub sends no timestamp, so there is no
  window to check: a replay is caught by the delivery id instead (it starts nothing new).

Outbound callbacks are signed the Standard Webhooks way.

Why not `standardwebhooks.Webhook.verify`: it decodes the body as UTF-8 before checking it (a
non-UTF-8 body raises UnicodeDecodeError, not a verification error), lets a malformed signature
entry raise ValueError or binascii.Error, accepts float and exponent timestamps, and knows
neither MLflow's nor GitHub's headers. Every bad delivery must be a clean 401 here, so the checks
are written out below (HMAC and constant-time comparison come from the standard library) and
the package is the independent peer the tests sign and verify with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from app.pipelines.errors import PipelineError

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
MAX_SIGNATURES = 20  # entries in one header; rotation needs two or three, not hundreds

Scheme = Literal["standard", "mlflow", "github"]

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # whole seconds only: no sign, fraction or exponent
_DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII, no spaces
_GITHUB_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class SignatureError(PipelineError, ValueError):
    """Why a delivery is not accepted as signed by us; safe to show to the sender."""


class SecretFormatError(PipelineError, ValueError):
    """A configured secret is not a usable `whsec_` secret (the message never contains it)."""


@dataclass(frozen=True)
class WebhookSecret:
    """One shared secret. `raw` keys MLflow and GitHub; `standard_key` keys Standard Webhooks."""

    text: str

    def __repr__(self) -> str:  # never print the secret
        return "WebhookSecret(***)"

    @property
    def raw(self) -> bytes:
        return self.text.encode()

    @property
    def standard_key(self) -> bytes | None:
        if not self.text.startswith(SECRET_PREFIX):
            return None
        encoded = self.text[len(SECRET_PREFIX) :]
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None


def parse_secrets(value: str) -> tuple[WebhookSecret, ...]:
    """`RUNG_WEBHOOK_SECRET`: one `whsec_` secret, or several separated by spaces or commas
    while rotating (the first signs callbacks first; any of them verifies a delivery)."""
    secrets = tuple(WebhookSecret(part) for part in re.split(r"[\s,]+", value.strip()) if part)
    if not secrets:
        raise SecretFormatError("RUNG_WEBHOOK_SECRET is empty")
    for index, secret in enumerate(secrets):
        key = secret.standard_key
        if key is None or not 24 <= len(key) <= 64:
            raise SecretFormatError(
                f"RUNG_WEBHOOK_SECRET entry {index + 1} is not whsec_ followed by 24 to 64 "
                'base64-encoded bytes; make one with: python -c "import base64, secrets; '
                "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
            )
    return secrets


@dataclass(frozen=True)
class VerifiedDelivery:
    scheme: Scheme
    delivery_id: str
    timestamp: int | None  # None for GitHub, which sends none


def _lower_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in out:
            # Two values for one header: which one was signed is ambiguous, so neither counts.
            raise SignatureError(f"header {key} is repeated")
        out[key] = value
    return out


def _require(headers: dict[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"missing header {name}")
    return value


def _delivery_id(headers: dict[str, str], name: str) -> str:
    value = _require(headers, name)
    if not _DELIVERY_ID.fullmatch(value):
        raise SignatureError(f"header {name} must be 1 to 200 visible ASCII characters")
    return value


def _timestamp(headers: dict[str, str], name: str, now: float) -> int:
    value = _require(headers, name)
    if not _TIMESTAMP.fullmatch(value):
        raise SignatureError(f"header {name} must be whole Unix seconds")
    timestamp = int(value)
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(
            f"header {name} is more than {TOLERANCE_SECONDS // 60} minutes from the server's "
            "clock (a replay, or a clock to fix)"
        )
    return timestamp


def _v1_signatures(header: str) -> list[bytes]:
    """The `v1,<base64>` entries of a signature header; other versions are skipped (the spec
    reserves them), and so are entries that do not decode, since they cannot match anyway."""
    entries = header.split()
    if len(entries) > MAX_SIGNATURES:
        raise SignatureError(f"more than {MAX_SIGNATURES} signatures in one header")
    out = []
    for entry in entries:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            out.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


def _hmac(key: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _any_matches(expected: Iterable[bytes], given: Sequence[bytes]) -> bool:
    # compare_digest is constant-time for equal lengths; every pair is compared, so the time
    # taken says nothing about which secret or which entry came close.
    matched = False
    for mac in expected:
        for signature in given:
            matched |= hmac.compare_digest(mac, signature)
    return matched


_NAMES = {
    "standard": ("webhook-id", "webhook-timestamp", "webhook-signature"),
    "mlflow": ("x-mlflow-delivery-id", "x-mlflow-timestamp", "x-mlflow-signature"),
}


def verify_delivery(
    secrets: Sequence[WebhookSecret],
    headers: Iterable[tuple[str, str]],
    body: bytes,
    now: float,
) -> VerifiedDelivery:
    """Check a delivery's signature over the raw body bytes; raise SignatureError if it fails."""
    found = _lower_headers(headers)
    if any(name in found for name in _NAMES["standard"]):
        return _verify_signed_content(secrets, found, body, now, "standard")
    if any(name in found for name in _NAMES["mlflow"]):
        return _verify_signed_content(secrets, found, body, now, "mlflow")
    if "x-hub-signature-256" in found:
        return _verify_github(secrets, found, body)
    raise SignatureError(
        "unsigned: send webhook-id, webhook-timestamp and webhook-signature (Standard "
        "Webhooks), or MLflow's or GitHub's signature headers"
    )


def _verify_signed_content(
    secrets: Sequence[WebhookSecret],
    headers: dict[str, str],
    body: bytes,
    now: float,
    scheme: Literal["standard", "mlflow"],
) -> VerifiedDelivery:
    id_name, timestamp_name, signature_name = _NAMES[scheme]
    delivery_id = _delivery_id(headers, id_name)
    timestamp = _timestamp(headers, timestamp_name, now)
    given = _v1_signatures(_require(headers, signature_name))
    prefix = f"{delivery_id}.{timestamp}.".encode()
    keys = [s.standard_key if scheme == "standard" else s.raw for s in secrets]
    expected = [_hmac(key, prefix, body) for key in keys if key]
    if not _any_matches(expected, given):
        raise SignatureError(f"no signature in {signature_name} matches")
    return VerifiedDelivery(scheme, delivery_id, timestamp)


def _verify_github(
    secrets: Sequence[WebhookSecret], headers: dict[str, str], body: bytes
) -> VerifiedDelivery:
    delivery_id = _delivery_id(headers, "x-github-delivery")
    match = _GITHUB_SIGNATURE.fullmatch(headers["x-hub-signature-256"])
    if match is None:
        raise SignatureError("header x-hub-signature-256 must be sha256=<64 hex digits>")
    given = [bytes.fromhex(match.group(1))]
    if not _any_matches((_hmac(s.raw, body) for s in secrets), given):
        raise SignatureError("the signature in x-hub-signature-256 does not match")
    return VerifiedDelivery("github", delivery_id, None)


# --- outbound ----------------------------------------------------------------------------


def sign(secrets: Sequence[WebhookSecret], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,<base64>` entry per secret, so receivers holding
    either the new or the old secret verify during a rotation."""
    entries = []
    for secret in secrets:
        key = secret.standard_key
        if key is None:
            raise SecretFormatError("outbound signing needs whsec_ secrets")
        mac = _hmac(key, f"{msg_id}.{timestamp}.".encode(), body)
        entries.append("v1," + base64.b64encode(mac).decode())
    return " ".join(entries)


def signature_headers(
    secrets: Sequence[WebhookSecret], msg_id: str, body: bytes, now: float
) -> dict[str, str]:
    timestamp = int(now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }
