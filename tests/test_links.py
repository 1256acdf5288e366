"""Signed links: what one signs, only the same secret and purpose verify, and only until expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.links import LinkClaims, LinkRefused, LinksUnavailable, expiry, sign, verify

SECRET = "a-long-random-secret-for-tests"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNTIL = expiry(NOW, 7)


def token(secret: str = SECRET, purpose: str = "buy", member: str = "m-uid-1") -> str:
    return sign(secret, purpose=purpose, member=member, subject="pro", expires_at=UNTIL)


def refusal(secret: str | None, given: str | None, *, purpose: str = "buy") -> str:
    with pytest.raises(LinkRefused) as refused:
        verify(secret, given, purpose=purpose, now=NOW)
    return refused.value.code


def test_a_signed_link_verifies_to_what_was_signed() -> None:
    assert verify(SECRET, token(), purpose="buy", now=NOW) == LinkClaims(
        "buy", "m-uid-1", "pro", UNTIL
    )


def test_a_token_is_url_safe_as_it_is() -> None:
    made = token()

    assert set(made) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_link_made_for_one_purpose_does_not_verify_for_another() -> None:
    assert refusal(SECRET, token(purpose="invite")) == "link.tampered"


def test_a_link_signed_with_another_secret_is_refused() -> None:
    assert refusal(SECRET, token(secret="another-secret")) == "link.tampered"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t.replace(".", "x", 1),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: ("A" if t[0] != "A" else "B") + t[1:],
        lambda t: t + "A",
        lambda t: t.split(".")[0] + "." + "A" * 43,
        lambda t: "x" * 500,
        lambda t: t + "\u200b",
    ],
)
def test_a_changed_token_is_refused_as_tampered(spoil: object) -> None:
    assert refusal(SECRET, spoil(token())) == "link.tampered"  # type: ignore[operator]


def test_a_member_swapped_into_a_token_is_refused() -> None:
    mine, theirs = token(member="me"), token(member="someone-else")

    assert refusal(SECRET, theirs.split(".")[0] + "." + mine.split(".")[1]) == "link.tampered"


def test_a_link_expires_at_its_expiry_and_not_before() -> None:
    made = token()

    assert verify(SECRET, made, purpose="buy", now=UNTIL - timedelta(seconds=1)).member == "m-uid-1"
    with pytest.raises(LinkRefused) as refused:
        verify(SECRET, made, purpose="buy", now=UNTIL)
    assert refused.value.code == "link.expired"
    assert "expired" in refused.value.message


@pytest.mark.parametrize("given", [None, ""])
def test_a_missing_token_is_refused_as_missing(given: str | None) -> None:
    assert refusal(SECRET, given) == "link.missing"


@pytest.mark.parametrize("secret", [None, ""])
def test_without_the_secret_key_nothing_is_signed_or_verified(secret: str | None) -> None:
    with pytest.raises(LinksUnavailable) as unavailable:
        sign(secret, purpose="buy", member="m", subject="pro", expires_at=UNTIL)
    assert "an owner must set FLYWHEEL_SECRET_KEY" in unavailable.value.message
    with pytest.raises(LinksUnavailable):
        verify(secret, token(), purpose="buy", now=NOW)
