"""Rank and leaderboard cards: PNG images drawn with Pillow, off the event loop.

Drawing takes tens of milliseconds of CPU, so it runs in a small pool of its own threads
(:func:`rank_png`, :func:`leaderboard_png`): the event loop keeps answering other
interactions meanwhile, and a burst of cards waits for the pool, not for the loop. Each
thread keeps its own fonts (a FreeType face is not shared between threads).

Only Pillow's bundled font is used (``ImageFont.load_default(size=…)``, no system fonts), and
it covers Latin letters only: names are drawn best effort — accents dropped where the
letter decomposes, a few letters spelled out, control and invisible characters removed,
and anything else the font lacks shown as "?" (one per run). Names are clipped to their
box with an ellipsis. The text beside the image always carries the full name. If drawing
fails anyway, :func:`rank_png` / :func:`leaderboard_png` log it once under an error id and
return None, and the front end answers with the text alone.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import io
import logging
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from PIL import Image, ImageDraw, ImageFont

from bot.services.recognition.standing import (
    LeaderboardPage,
    RankCard,
    board_title,
    rank_words,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Font = ImageFont.FreeTypeFont
WIDTH = 800
RANK_HEIGHT = 250
ROW_HEIGHT = 56
HEADER_HEIGHT = 76
BACKGROUND = (30, 33, 46)
PANEL = (40, 44, 60)
TEXT = (240, 241, 245)
MUTED = (160, 165, 185)
ACCENT = (255, 196, 72)
# Letters the bundled font lacks that do not decompose into one it has.
SPELLED = str.maketrans(
    {
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Þ": "Th",
        "þ": "th",
        "ð": "d",
        "ı": "i",
        "–": "-",
        "—": "-",
        "“": '"',
        "”": '"',
    }
)
MISSING = "?"
GLYPH_CACHE = 4096  # characters remembered per thread as drawable or not
NO_GLYPH = "\ue000"  # a private-use character: drawn as the font's "missing" box

_fonts = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _font(size: int) -> Font:
    cache: dict[int, Font] | None = getattr(_fonts, "by_size", None)
    if cache is None:
        cache = _fonts.by_size = {}
    font = cache.get(size)
    if font is None:
        loaded = ImageFont.load_default(size=size)
        if not isinstance(loaded, ImageFont.FreeTypeFont):  # pragma: no cover - no FreeType
            raise RuntimeError("Pillow was built without FreeType: cards need it")
        font = cache[size] = loaded
    return font


def _glyph_key(ch: str) -> tuple[tuple[int, int], bytes]:
    mask = _font(20).getmask(ch)
    return mask.size, bytes(mask)


def _has_glyph(ch: str) -> bool:
    known: dict[str, bool] | None = getattr(_fonts, "glyphs", None)
    if known is None:
        known = _fonts.glyphs = {}
    found = known.get(ch)
    if found is None:
        if len(known) >= GLYPH_CACHE:  # names in many scripts: start over, never grow for ever
            known.clear()
        found = known[ch] = ch == " " or _glyph_key(ch) != _glyph_key(NO_GLYPH)
    return found


def drawable(text: str, *, missing: str = MISSING) -> str:
    """Return ``text`` as the bundled font can draw it (see the module's docstring)."""
    spelled = unicodedata.normalize("NFKC", text).translate(SPELLED)
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", spelled):
        kind = unicodedata.category(ch)
        if kind.startswith("M") or kind in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue  # accents, controls, invisibles, bidi marks, lone surrogates
        if kind.startswith("Z"):
            ch = " "
        if _has_glyph(ch):
            out.append(ch)
        elif missing and (not out or out[-1] != missing):
            out.append(missing)
    return " ".join("".join(out).split())


def clip(text: str, font: Font, width: float) -> str:
    """Return ``text`` cut with an ellipsis to fit ``width`` pixels in ``font``."""
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle].rstrip() + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def colour_of(member_id: int | None) -> tuple[int, int, int]:
    """Return the avatar colour of a member: the same every time, spread over the hues."""
    seed = hashlib.sha256(str(member_id or 0).encode()).digest()
    hue = int.from_bytes(seed[:2], "big") / 65536
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.55, 0.78)
    return int(red * 255), int(green * 255), int(blue * 255)


def initials(name: str) -> str:
    """Return up to two initials the font can draw ("?" when the name has none)."""
    letters = [word[0] for word in drawable(name, missing="").split() if word[0].isalnum()]
    picked = (letters[0] + letters[-1]) if len(letters) > 1 else "".join(letters[:1])
    return picked.upper() or MISSING


def _avatar(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int], member_id: int | None, name: str
) -> None:
    left, top, size = box
    draw.ellipse((left, top, left + size, top + size), fill=colour_of(member_id))
    centre = (left + size / 2, top + size / 2)
    draw.text(centre, initials(name), font=_font(size * 2 // 5), fill=TEXT, anchor="mm")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def draw_rank_card(card: RankCard) -> bytes:
    """Draw a rank card (800×250): avatar, name, rank, score, period and top badges."""
    image = Image.new("RGB", (WIDTH, RANK_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((16, 16, WIDTH - 16, RANK_HEIGHT - 16), radius=24, fill=PANEL)
    name = drawable(card.name) or MISSING
    _avatar(draw, (44, 45, 160), card.member_id, name)
    left, room = 236, WIDTH - 236 - 44
    big, middle, small = _font(40), _font(34), _font(22)
    draw.text((left, 48), clip(name, big, room), font=big, fill=TEXT)
    if card.private:
        draw.text((left, 112), "Keeps their rank private", font=middle, fill=MUTED)
    else:
        rank = rank_words(card)
        draw.text((left, 108), rank, font=middle, fill=ACCENT)
        after = left + middle.getlength(rank) + 18
        score = f"{card.score:,} {card.choice.unit}"
        draw.text(
            (after, 114), clip(score, _font(28), WIDTH - 44 - after), font=_font(28), fill=TEXT
        )
    period = board_title(card.choice)
    if card.hidden:
        period += " · hidden from public boards"
    draw.text((left, 160), clip(period, small, room), font=small, fill=MUTED)
    badges = "   ".join(
        shown
        for badge in card.badges
        if (shown := drawable(f"{badge.emoji} {badge.name}", missing=""))
    )
    if badges:
        draw.text((left, 192), clip(badges, small, room), font=small, fill=TEXT)
    return _png(image)


def draw_leaderboard_card(page: LeaderboardPage) -> bytes:
    """Draw a page of a board (800 wide): a title, then rank, avatar, name and score per row."""
    rows = max(len(page.entries), 1)
    height = HEADER_HEIGHT + rows * ROW_HEIGHT + 20
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, small = _font(30), _font(22)
    draw.text((30, 24), board_title(page.choice), font=title, fill=TEXT)
    draw.text(
        (WIDTH - 30, 38),
        f"Page {page.page} of {page.pages} · {page.ranked:,} ranked",
        font=small,
        fill=MUTED,
        anchor="rm",
    )
    if not page.entries:
        draw.text((30, HEADER_HEIGHT + 12), "Nobody is on this board yet.", font=small, fill=MUTED)
    row_font = _font(26)
    for index, entry in enumerate(page.entries):
        top = HEADER_HEIGHT + index * ROW_HEIGHT
        if index % 2 == 0:
            draw.rectangle((16, top, WIDTH - 16, top + ROW_HEIGHT - 4), fill=PANEL)
        middle = top + (ROW_HEIGHT - 4) / 2
        colour = ACCENT if entry.rank <= 3 else TEXT
        draw.text((34, middle), f"#{entry.rank}", font=row_font, fill=colour, anchor="lm")
        name = drawable(entry.display_name or "A member") or MISSING
        _avatar(draw, (112, top + 6, ROW_HEIGHT - 16), entry.member_id, name)
        score = f"{entry.score:,}"
        score_width = row_font.getlength(score)
        room = WIDTH - 40 - score_width - 24 - 168
        draw.text((168, middle), clip(name, row_font, room), font=row_font, fill=TEXT, anchor="lm")
        draw.text((WIDTH - 40, middle), score, font=row_font, fill=TEXT, anchor="rm")
    return _png(image)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flywheel-cards")
        return _pool


async def off_loop(draw: Callable[[], T]) -> T:
    """Run ``draw`` in the cards' thread pool and return its result."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), draw)


async def _png_or_none(draw: Callable[[], bytes], where: str) -> bytes | None:
    try:
        return await off_loop(draw)
    except Exception:
        # Once per failure, under an id: the member gets the text answer and is not bothered.
        error_id = secrets.token_hex(4)
        log.error(
            "%s card failed (error id %s); answered with text", where, error_id, exc_info=True
        )
        return None


async def rank_png(card: RankCard) -> bytes | None:
    """Return the rank card as PNG bytes drawn off the event loop, or None if drawing failed."""
    return await _png_or_none(partial(draw_rank_card, card), "rank")


async def leaderboard_png(page: LeaderboardPage) -> bytes | None:
    """Return a leaderboard page as PNG bytes drawn off the loop, or None if drawing failed."""
    return await _png_or_none(partial(draw_leaderboard_card, page), "leaderboard")
