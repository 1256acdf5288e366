"""Checking what people type: names and their keys, short texts, numbers, time zones.

Every feature takes user input through these, so the same tricks are refused the same way
everywhere: a name is compared by :func:`name_key` (stored in a ``name_key`` column with a
unique index per community, looked up by key), cleaned by :func:`clean_name`; other typed
text by :func:`clean_text`; whole numbers by :func:`ascii_int`; zones by :func:`check_zone`.
Refusals are :class:`~bot.errors.Invalid` naming the field; they quote at most
:data:`ECHO_LIMIT` characters of what was typed (:func:`shorten`).
"""

from __future__ import annotations

import re
import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import Invalid

ECHO_LIMIT = 60
NAME_KEY_LENGTH = 200  # the column; NFKC can make a key longer than its name
ZONE_LENGTH = 64  # the longest IANA name is 32 characters; the columns hold 64

# Bidirectional embeddings, overrides and isolates: they reorder what follows them, so
# "‮txt.exe" shows as "exe.txt". Marks (U+200E, U+200F, U+061C) only nudge and stay.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that render as nothing or as blank, though not spaces (Default_Ignorable
# code points outside Cf, plus blank letters and the braille blank).
_BLANK = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u2800\u3164\uffa0"
    "\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d"
    "\ufe0e\ufe0f"
)
_HIDDEN = frozenset({"Cc", "Cf", "Cs"})  # shown as "?" when quoting typed text back
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"[0-9]+")
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """Return typed text cut to ``limit`` characters with an ellipsis, to quote it back."""
    text = "".join("?" if unicodedata.category(c) in _HIDDEN else c for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _invisible(char: str) -> bool:
    return unicodedata.category(char) == "Cf" or char in _BLANK or char.isspace()


def _trim(text: str) -> str:
    """Strip spaces and invisible characters from both ends."""
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def name_key(name: str) -> str:
    """Return the key two names are the same by: any script's capitals, widths and spacing.

    NFKC folds compatibility forms (fullwidth "Ｗ" is "W"), casefold folds capitals in every
    script ("Straße" is "strasse", "ΟΔΟΣ" is "οδοσ"), invisible and control characters go and
    runs of spaces become one. Compare and look names up by this, never by SQL lower(), which
    SQLite applies to ASCII only.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    # Control characters go too: no stored name has one (input refuses them), and a typed
    # lookup must not carry a NUL to PostgreSQL, which refuses it in text.
    visible = "".join(
        " " if c.isspace() else c
        for c in folded
        if c.isspace() or not (_invisible(c) or unicodedata.category(c) == "Cc")
    )
    return _SPACES.sub(" ", visible).strip()


def _refuse_controls(text: str, *, field: str, what: str, allow: str = "") -> None:
    for char in text:
        if char in _BIDI:
            raise Invalid(
                f"{what} can't contain characters that change the text's direction "
                f"(U+{ord(char):04X}); type it without them.",
                field=field,
                code=f"{field}.bidi",
            )
        category = unicodedata.category(char)
        if (category == "Cc" and char not in allow) or category == "Cs":
            how = "as plain text" if "\n" in allow else "on one line, as plain text"
            raise Invalid(
                f"{what} can't contain control characters (U+{ord(char):04X}); type it {how}.",
                field=field,
                code=f"{field}.control",
            )


def clean_name(name: str, *, field: str = "name", what: str = "A name", max_length: int) -> str:
    """Return a typed name trimmed of spaces and invisible characters at its ends.

    Refuses a name that is empty or only invisible characters, one with bidirectional
    controls or control characters, one over ``max_length`` characters, or one whose
    :func:`name_key` does not fit its column.
    """
    _refuse_controls(name, field=field, what=what)
    cleaned = _trim(name)
    if not name_key(cleaned):
        raise Invalid(
            f"{what} needs visible characters; that one is empty or only invisible ones.",
            field=field,
            code=f"{field}.invisible",
        )
    if len(cleaned) > max_length or len(name_key(cleaned)) > NAME_KEY_LENGTH:
        raise Invalid(
            f"{what} has 1 to {max_length} characters.", field=field, code=f"{field}.length"
        )
    return cleaned


def clean_text(text: str, *, field: str, what: str, max_length: int) -> str:
    """Return typed text (a prompt, a message) trimmed at its ends; lines and tabs stay.

    Refuses text that is empty or only invisible characters, longer than ``max_length``,
    or holding bidirectional controls or other control characters.
    """
    _refuse_controls(text, field=field, what=what, allow="\n\t\r")
    cleaned = _trim(text)
    if not name_key(cleaned) or len(cleaned) > max_length:
        raise Invalid(
            f"{what}: give 1 to {max_length:,} visible characters.",
            field=field,
            code=f"{field}.length",
        )
    return cleaned


def ascii_int(text: str, *, max_digits: int = 6) -> int | None:
    """Return the whole number written in ASCII digits, or None for anything else.

    ``str.isdigit`` and ``int`` accept "²", "٣" and "１０"; people mean something else by
    them, so they are not numbers here. A number longer than ``max_digits`` is None too,
    before ``int`` spends time on (or refuses) thousands of digits.
    """
    if len(text) > max_digits or not _DIGITS.fullmatch(text):
        return None
    return int(text)


class UnknownZone(ValueError):
    """A time zone name that is not an IANA zone."""


def check_zone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``, or raise :class:`UnknownZone`.

    ZoneInfo opens a file named after the key, so a folder ("Europe"), a name too long for
    the file system, a path or a NUL raise OS errors of their own: refuse anything not
    shaped like a zone name before asking it.
    """
    if len(name) > ZONE_LENGTH or not _ZONE.fullmatch(name):
        raise UnknownZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownZone(name) from None
