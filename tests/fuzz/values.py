"""Adversarial values: what members type, moderators paste and clients send.

One strategy per kind of input, shared by the command harnesses (Discord and Slack) and the
HTTP harness. Each mixes plausible input (so the harness reaches past the first refusal)
with input that is merely bad: the property under test is that bad input is refused
politely, never that it is accepted.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from dataclasses import dataclass
from typing import TypeVar

from hypothesis import strategies as st

# The seed rotates per run (printed on failure); FLYWHEEL_FUZZ_SEED replays one.
ROTATING_SEED = int(os.environ.get("FLYWHEEL_FUZZ_SEED") or time.time_ns() % 2**32)
# FLYWHEEL_FUZZ=long runs many more cases (minutes, not the CI minute).
LONG = os.environ.get("FLYWHEEL_FUZZ", "") == "long"


def examples(ci: int) -> int:
    """Return how many cases a harness runs: ``ci`` in CI, twenty times more when asked."""
    return ci * 20 if LONG else ci


ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\r", "\t", "\x0b", "\u2028", "\u2029"]
CONFUSABLES = ["Оffice Hоurs", "Ｏｆｆｉｃｅ", "ⅰⅱⅲ", "ﬁle", "ǅ", "İstanbul", "ß", "Σίσυφος"]
OTHER_DIGITS = ["²", "٣", "۴", "७", "１０", "𝟠", "⑤", "Ⅻ", "½", "1e3", "-0", "0x10", "1_000"]
NON_BMP = ["😀", "𝕬𝖈𝖒𝖊", "👩‍👩‍👧‍👦", "🏳️‍🌈", "𠜎"]
MARKUP = [
    "**bold** _it_ ~~s~~ `c` ```block```",
    "# Heading\n> quote\n- item\n1. one",
    "*bold* _it_ ~s~ `c` <https://evil.example|click>",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "&amp; &lt; &gt; &#0; &",
    "[link](https://evil.example)",
    "||spoiler||",
    "{{ 7*7 }} ${7*7} %s %(x)s {0}",
    "'; DROP TABLE rituals; --",
    "../../etc/passwd",
]
MENTIONS = [
    "@everyone",
    "@here",
    "<@&910000000000000200>",
    "<@910000000000000104>",
    "<@!910000000000000104>",
    "<#910000000000000010>",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0ADA>",
    "<!subteam^S0TEAM>",
    "<#C0GENERAL>",
    "</ritual list:1>",
    "<t:0:R>",
    "<:emoji:1>",
]
PLAUSIBLE = [
    "Office Hours",
    "Monday Wins",
    "Feedback Fridays",
    "every monday at 10:00",
    "every 2 weeks on friday at 16:00",
    "every day at 09:30",
    "2026-03-10 18:00",
    "Europe/Berlin",
    "UTC",
    "Europe",  # a folder of zones, not a zone
    "America/",
    "Etc/GMT+5",
    "15",
    "60",
    "1",
    "https://example.org/post",
]
SPECIAL = ["", " ", "   ", "\n", "\t \n", "0", "-1", "99999999999999999999", "None", "null", "true"]

# What a field of one kind is sent besides anything at all: its plausible values beside its
# near misses, so a harness reaches each field's own parser, not only its length check.
FIELD_VALUES = {
    "zone": [
        "Europe/Berlin",
        "UTC",
        "Europe",
        "America",
        "America/Argentina",
        "Etc",
        "posixrules",
        "europe/berlin",
        "../../etc/passwd",
        "Europe/Berlin\x00",
        "😀" * 70,
        "E" * 300,
        " UTC ",
    ],
    "schedule": [
        "weekly mon 10:00",
        "weekly mon,thu 10:00",
        "every 2 weeks fri 16:00",
        "every ² weeks fri 16:00",
        "every ٣ weeks mon 10:00",
        "every 0 weeks mon 10:00",
        "every 99999999999999999999 weeks mon 10:00",
        "once 2020-01-01 10:00",
        "once 2026-02-30 10:00",
        "once 9999-12-31 23:59",
        "monthly 1st mon 10:00",
        "weekly monwed 10:00",
        "weekly mon-wed 10:00",
        "weekly mon&wed 10:00",
        "weekly mon 25:00",
        "weekly mon 1０:00",
        "weekly mon 10:00 " + "x" * 3000,
    ],
    "minute": ["15", "0", "-5", "²", "٣٠", "１０", "5" * 5000, "1e3", "15,30", "99999999", " 15 "],
    "name": [
        "Office Hours",
        "OFFICE HOURS",
        "Ödön",
        "ÖDÖN",
        "ΣΟΦΙΑ",
        "σοφια",
        "Straße",
        "STRASSE",
        "\u200b\u200b",
        "\u202eshruoH eciffO",
        "Office\x00Hours",
        "x" * 200,
        "@everyone",
    ],
}
_HINTS = {
    "zone": "zone",
    "schedule": "schedule",
    "remind": "minute",
    "minute": "minute",
    "name": "name",
    "title": "name",
}


def field_kind(*names: str) -> str | None:
    """Return the kind of field (a key of FIELD_VALUES) its id or label suggests, if any."""
    joined = " ".join(names).lower()
    return next((kind for hint, kind in _HINTS.items() if hint in joined), None)


_pieces = st.sampled_from(
    ZERO_WIDTH + BIDI + CONTROL + CONFUSABLES + OTHER_DIGITS + NON_BMP + MARKUP + MENTIONS
)


def _huge(limit: int) -> st.SearchStrategy[str]:
    """Text at or just past ``limit``, of one repeated piece (cheap to build, hard to fit)."""
    return st.tuples(
        st.sampled_from(["x", "é", "😀", "@everyone ", "\u200b", "9", "*_"]), st.integers(0, 3)
    ).map(lambda t: (t[0] * (limit // max(len(t[0]), 1) + t[1] + 1))[: limit + t[1]])


def text(max_size: int = 6000, *, min_size: int = 0) -> st.SearchStrategy[str]:
    """Return adversarial text no longer than ``max_size`` (what the client lets through)."""
    mixed = st.lists(
        st.one_of(_pieces, st.sampled_from(PLAUSIBLE), st.text(max_size=12)), max_size=6
    ).map("".join)
    candidates = st.one_of(
        st.sampled_from(PLAUSIBLE),
        st.sampled_from(SPECIAL),
        _pieces,
        mixed,
        st.text(max_size=40),
        _huge(max_size),
    )
    return candidates.map(lambda value: value[:max_size]).filter(lambda v: len(v) >= min_size)


def number_text() -> st.SearchStrategy[str]:
    """Return text that a numeric field might receive."""
    return st.one_of(
        st.sampled_from(OTHER_DIGITS + SPECIAL + ["15", "60", "1440", "5" * 5000]),
        st.integers().map(str),
        text(40),
    )


def _png(width: int, height: int) -> bytes:
    """Return a real (tiny, blank) PNG, built here so no binary file is checked in."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x00\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class FileSample:
    """A file a member uploads: its name, bytes, declared type and the size the platform reports."""

    name: str
    data: bytes
    content_type: str | None
    size: int


TINY_PNG = _png(2, 2)
# What members name files: plausible, path traversal, a right-to-left override hiding ".exe",
# 300 characters, reserved device names, other scripts, markup.
FILE_NAMES = [
    "entry.png",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/shadow",
    "photo\u202egnp.exe",
    "x" * 296 + ".png",
    "CON.png",
    ".htaccess",
    "résumé 😀 final (2).png",
    "<img src=x onerror=alert(1)>.png",
    "@everyone.png",
]
# (bytes, declared content type, reported size): a real PNG, a type that lies about the bytes,
# a reported size far over any limit, an empty file, no declared type, an executable as JPEG.
FILE_BODIES: list[tuple[bytes, str | None, int | None]] = [
    (TINY_PNG, "image/png", None),
    (b"<script>alert(1)</script>", "image/png", None),
    (TINY_PNG, "image/png", 2**31),
    (b"", "image/png", None),
    (b"\x00\x01\x02binary", None, None),
    (b"MZ\x90\x00\x03\x00\x00\x00PE\x00\x00", "image/jpeg", None),
    (b"%PDF-1.7\n" + b"A" * 64, "text/plain", 1),
]


T = TypeVar("T")


class Case:
    """One case's raw material, drawn up front in a fixed shape, then fitted to the state.

    The harnesses pick commands, buttons and fields from what the bot has sent so far,
    which changes from case to case; drawing that choice straight from Hypothesis would make
    generation depend on outside state. Instead each case draws a fixed list of picks,
    texts and flags, and the harness consumes them in order: Hypothesis still shrinks them.
    """

    def __init__(self, picks: list[int], texts: list[str], flags: list[bool]) -> None:
        self.picks, self.texts, self.flags = picks, texts, flags
        self._pick = self._text = self._flag = 0

    def __repr__(self) -> str:
        return f"Case(picks={self.picks!r}, texts={[t[:80] for t in self.texts]!r})"

    def pick(self, seq: list[T] | tuple[T, ...]) -> T:
        """Return one element of a non-empty sequence."""
        value = self.picks[self._pick % len(self.picks)]
        self._pick += 1
        return seq[value % len(seq)]

    def integer(self, low: int, high: int) -> int:
        """Return an integer in [low, high], the ends and zero more often than not."""
        edges = [v for v in (low, high, 0, 1, -1) if low <= v <= high]
        value = self.picks[self._pick % len(self.picks)]
        self._pick += 1
        if value % 2 and edges:
            return edges[value % len(edges)]
        return low + value % (high - low + 1)

    def flag(self) -> bool:
        """Return a yes or no."""
        value = self.flags[self._flag % len(self.flags)]
        self._flag += 1
        return value

    def text(self, max_size: int = 6000, *, min_size: int = 0, kind: str | None = None) -> str:
        """Return the next text, cut to ``max_size`` and padded to ``min_size``.

        For a field of a known ``kind``, half the time one of that kind's values instead.
        """
        if kind in FIELD_VALUES and self.flag():
            value = self.pick(FIELD_VALUES[kind])[:max_size]
        else:
            value = self.texts[self._text % len(self.texts)][:max_size]
            self._text += 1
        return value + "x" * (min_size - len(value))


def cases() -> st.SearchStrategy[Case]:
    """Return cases: picks, texts (numbers among them) and flags, always the same shape."""
    return st.builds(
        Case,
        st.lists(st.integers(0, 2**16 - 1), min_size=12, max_size=12),
        st.lists(st.one_of(text(6000), number_text()), min_size=8, max_size=8),
        st.lists(st.booleans(), min_size=8, max_size=8),
    )


def file_sample(case: Case, *, extensions: list[str] | None = None) -> FileSample:
    """Return an adversarial upload; with ``extensions`` (a picker's filter) its name ends in one."""
    name = case.pick(FILE_NAMES)
    data, content_type, size = case.pick(FILE_BODIES)
    if extensions and not any(name.lower().endswith(f".{e.lower()}") for e in extensions):
        name = f"{name}.{case.pick(extensions)}"
    return FileSample(name, data, content_type, len(data) if size is None else size)
