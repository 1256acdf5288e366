"""Signed links: a small payload in a URL that only this Flywheel could have written.

A link names a **purpose** (``buy`` today; referral links and invitations later), a
member's public id (``members.uid``, never a rowid), a **subject** (an offer's slug, an
invitation, …) and an expiry. The token is ``<payload>.<signature>``, both base64url without
padding, so it travels in a query string as it is:

- payload: compact JSON ``[version, purpose, member, subject, expires_unix]``;
- signature: HMAC-SHA256 of the payload text with a key derived from ``FLYWHEEL_SECRET_KEY``
  for that purpose alone, so a token made for one purpose never verifies for another, even
  with the same fields.

Verification compares signatures in constant time before it reads the payload, then checks
the purpose and the expiry against the injected clock. Every refusal is a
:class:`LinkRefused` (an :class:`~bot.errors.Invalid` with a code saying which: missing,
tampered, expired) whose message tells the person what to do; without
``FLYWHEEL_SECRET_KEY`` nothing can be signed or checked (:class:`LinksUnavailable`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.errors import FlywheelError, Invalid

VERSION = 1
# Longer than any token we make (a 24-character uid and a 40-character slug): a longer one is
# refused before any decoding work.
MAX_TOKEN = 400
PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,31}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,300}\.[A-Za-z0-9_-]{43}")
UNSET_KEY_TEXT = (
    "Personal links can't be made yet: an owner must set FLYWHEEL_SECRET_KEY in the bot's "
    "environment (a long random value) and restart it."
)


class LinksUnavailable(FlywheelError):
    """FLYWHEEL_SECRET_KEY is not set, so links can be neither signed nor checked."""


class LinkRefused(Invalid):
    """A link is missing, was changed, or has expired (``code`` says which)."""


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link says."""

    purpose: str
    member: str
    subject: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | None, purpose: str) -> bytes:
    """Return the key for one purpose, derived from the secret (never the secret itself)."""
    if not secret:
        raise LinksUnavailable(UNSET_KEY_TEXT)
    if not PURPOSE.fullmatch(purpose):
        raise ValueError(f"a link purpose is a short lower-case word, got {purpose!r}")
    return hmac.new(
        secret.encode(), f"flywheel-link:v{VERSION}:{purpose}".encode(), "sha256"
    ).digest()


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def sign(
    secret: str | None,
    *,
    purpose: str,
    member: str,
    subject: str,
    expires_at: datetime,
) -> str:
    """Return a URL-safe token carrying the claims, signed for ``purpose``."""
    key = _key(secret, purpose)
    fields = [VERSION, purpose, member, subject, int(expires_at.timestamp())]
    payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
    return f"{payload}.{_signature(key, payload)}"


def verify(secret: str | None, token: str | None, *, purpose: str, now: datetime) -> LinkClaims:
    """Return the claims of a token signed for ``purpose`` and not expired at ``now``.

    Raises :class:`LinkRefused` (codes ``link.missing``, ``link.tampered``, ``link.expired``)
    or :class:`LinksUnavailable` without a secret.
    """
    key = _key(secret, purpose)
    if not token:
        raise LinkRefused(
            "This link carries no member: use the link the bot gave you.",
            field="m",
            code="link.missing",
        )
    tampered = LinkRefused(
        "This link is not one the bot made (it may have been cut or changed): ask the bot for "
        "a new one.",
        field="m",
        code="link.tampered",
    )
    if len(token) > MAX_TOKEN or not TOKEN.fullmatch(token):
        raise tampered
    payload, signature = token.split(".")
    if not hmac.compare_digest(_signature(key, payload), signature):
        raise tampered
    try:
        fields = json.loads(_unb64(payload))
        version, said_purpose, member, subject, expires = fields
    except (ValueError, TypeError, binascii.Error):
        raise tampered from None
    if (
        version != VERSION
        or said_purpose != purpose
        or not isinstance(member, str)
        or not isinstance(subject, str)
        or not isinstance(expires, int)
    ):
        raise tampered
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise LinkRefused(
            "This link has expired: ask the bot for a new one.",
            field="m",
            code="link.expired",
        )
    return LinkClaims(purpose, member, subject, expires_at)


def expiry(now: datetime, days: int) -> datetime:
    """Return when a link made ``now`` stops working (whole seconds, as the token keeps it)."""
    return (now + timedelta(days=days)).replace(microsecond=0)
