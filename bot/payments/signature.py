"""Stripe's webhook signature, checked by Flywheel itself against the process clock.

``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`` where each ``v1`` is
HMAC-SHA256(endpoint secret, ``"<t>.<raw body>"``). During a secret rotation Stripe sends one
``v1`` per live secret: any match is enough. The timestamp must lie within the tolerance of
*our* clock (either side), which is injected, so tests move time rather than sleep. Failures
raise :class:`SignatureError` with a short reason code that never holds the secret or body.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# At most this many parts in the header: Stripe sends t, one v1 per live secret, maybe v0.
MAX_PARTS = 16
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"[0-9a-f]{64}")


class SignatureError(ValueError):
    """A webhook whose signature does not hold; ``reason`` is a short code for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def expected_signature(secret: str, timestamp: int, payload: bytes) -> str:
    """Return the hex HMAC-SHA256 Stripe computes for a payload signed at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def parse_header(header: str) -> tuple[int, list[str]]:
    """Return the header's timestamp and its ``v1`` signatures, or raise SignatureError."""
    parts = header.split(",")
    if len(parts) > MAX_PARTS:
        raise SignatureError("header.too_long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in parts:
        name, equals, value = part.strip().partition("=")
        if not equals:
            raise SignatureError("header.malformed")
        if name == "t":
            if timestamp is not None or not TIMESTAMP.fullmatch(value):
                raise SignatureError("header.timestamp")
            timestamp = int(value)
        elif name == "v1":
            if not SIGNATURE.fullmatch(value):
                raise SignatureError("header.signature")
            signatures.append(value)
        # Other schemes (v0: test-mode legacy) are ignored, as Stripe's libraries do.
    if timestamp is None:
        raise SignatureError("header.no_timestamp")
    if not signatures:
        raise SignatureError("header.no_v1")
    return timestamp, signatures


def verify(payload: bytes, header: str | None, secret: str, *, now: float, tolerance: int) -> int:
    """Check a webhook's signature and age; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError("header.missing")
    timestamp, signatures = parse_header(header)
    expected = expected_signature(secret, timestamp, payload)
    # Compare with every v1 (no early exit), in constant time each.
    matched = False
    for signature in signatures:
        matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise SignatureError("signature.mismatch")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature.stale")
    return timestamp


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return a ``Stripe-Signature`` header for a payload (tests and the bench sign with it)."""
    return f"t={timestamp},v1={expected_signature(secret, timestamp, payload)}"
