"""How the HTTP fuzz signs requests: one signer per route that takes signed requests.

A signer returns the headers for a body signed as asked: ``signed``, ``unsigned`` or one of
the fuzz's signature faults (forged, stale, future, a broken timestamp or signature).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from bot.sandbox.slack import sign_slack_request

SLACK_SECRET = "sandbox-signing-secret"  # SlackSandbox's default
STRIPE_SECRET = "whsec_fuzz_secret"  # tests/fuzz/conftest.py sets it as STRIPE_WEBHOOK_SECRET


# (body, how, age in seconds, the process clock's now) -> headers; ``how`` is "signed",
# "unsigned" or a SIGNATURE_FAULT.
Signer = Callable[[bytes, str, int, float], tuple[tuple[bytes, bytes], ...]]


def slack_headers(
    body: bytes, how: str, age: int = 0, _clock: float = 0.0
) -> tuple[tuple[bytes, bytes], ...]:
    """Return Slack's signature headers for ``body``: signed, forged, stale or broken as asked.

    slack-bolt checks the timestamp against the wall clock, not the process clock.
    """
    if how == "unsigned":
        return ()
    now = time.time() - age
    ts: str = str(int(now))
    secret = SLACK_SECRET
    if how == "forged":
        secret = "forged-" + SLACK_SECRET
    elif how == "stale":
        ts = str(int(time.time()) - 301 - age)
    elif how == "future":
        ts = str(int(time.time()) + 301 + age)
    signature = sign_slack_request(secret, int(ts), body)
    if how.startswith("timestamp:"):
        # A timestamp that is not plain ASCII digits, correctly signed with the secret.
        ts = how.removeprefix("timestamp:")
        base = b"v0:" + ts.encode() + b":" + body
        signature = "v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest()
    elif how == "garbage-signature":
        signature = "v0=not-hex"
    elif how == "no-signature":
        return ((b"X-Slack-Request-Timestamp", ts.encode()),)
    return (
        (b"X-Slack-Request-Timestamp", ts.encode("utf-8", "surrogateescape")),
        (b"X-Slack-Signature", signature.encode()),
    )


def stripe_headers(
    body: bytes, how: str, age: int = 0, clock: float = 0.0
) -> tuple[tuple[bytes, bytes], ...]:
    """Return a Stripe-Signature for ``body`` on the process clock: signed, or broken as asked."""
    if how == "unsigned":
        return ()
    ts = str(int(clock) - age)
    secret = "whsec_forged" if how == "forged" else STRIPE_SECRET
    if how == "stale":
        ts = str(int(clock) - 301 - age)
    elif how == "future":
        ts = str(int(clock) + 301 + age)
    elif how.startswith("timestamp:"):
        ts = how.removeprefix("timestamp:")
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    header = f"t={ts},v1={mac}"
    if how == "garbage-signature":
        header = f"t={ts},v1=not-hex"
    elif how == "no-signature":
        header = f"t={ts}"
    return ((b"Stripe-Signature", header.encode("utf-8", "surrogateescape")),)


SIGNERS: dict[str, Signer] = {"/slack/events": slack_headers, "/stripe/webhook": stripe_headers}
