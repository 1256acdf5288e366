"""Rank and leaderboard cards: real PNGs of bounded size, any name drawn, drawn off the loop."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.services.recognition import (
    BadgeMark,
    BoardEntry,
    LeaderboardPage,
    RankCard,
    board_choice,
    cards,
    leaderboard_png,
    rank_png,
)
from tests.fuzz.values import BIDI, CONFUSABLES, CONTROL, MARKUP, NON_BMP, ZERO_WIDTH

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 1, 5, tzinfo=UTC)
NAMES = [
    "Ada Lovelace",
    "Zoë Łukasz-Ørsted",
    "مرحبا بالعالم",  # right to left
    "שלום עולם",
    "你好世界",
    "😀🎉 party",
    "W" * 400,  # far wider than the card
    "\u202eevil\u202c name",
    "",
    " \u200b ",
    "\ud800 lone surrogate",
    *ZERO_WIDTH,
    *BIDI,
    *CONTROL,
    *CONFUSABLES,
    *NON_BMP,
    *MARKUP,
]


def a_card(name: str, **changes: object) -> RankCard:
    fields: dict[str, object] = {
        "member_id": 42,
        "name": name,
        "choice": board_choice("points", "week"),
        "period_start": START,
        "score": 12_345,
        "rank": 3,
        "ranked": 120,
        "badges": (BadgeMark("🏅", "Community Expert"), BadgeMark("⭐", name)),
        "own": True,
    }
    fields.update(changes)
    return RankCard(**fields)  # type: ignore[arg-type]


def a_page(names: list[str]) -> LeaderboardPage:
    entries = tuple(
        BoardEntry(rank, rank * 7, name or None, 1_000 - rank) for rank, name in enumerate(names, 1)
    )
    return LeaderboardPage(board_choice("helpers", "last-month"), START, 2, 5, 47, entries)


def opened(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.verify()
    return Image.open(io.BytesIO(png))


@pytest.mark.parametrize("name", NAMES)
def test_a_rank_card_is_a_small_png_whatever_the_name(name):
    png = cards.draw_rank_card(a_card(name))

    image = opened(png)
    assert image.size == (800, 250)
    assert len(png) < 60_000


def test_a_private_hidden_and_unranked_card_each_draw():
    for card in (
        a_card("Bob", private=True, score=0, rank=None, badges=()),
        a_card("Bob", hidden=True),
        a_card("Bob", rank=None, score=0, member_id=None),
    ):
        assert opened(cards.draw_rank_card(card)).size == (800, 250)


def test_a_leaderboard_page_is_a_png_with_a_row_per_member():
    png = cards.draw_leaderboard_card(a_page(NAMES[:10]))
    empty = cards.draw_leaderboard_card(a_page([]))

    assert opened(png).size == (800, 76 + 10 * 56 + 20)
    assert len(png) < 120_000
    assert opened(empty).size[0] == 800


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_any_text_is_drawn_best_effort_and_never_raises(name):
    shown = cards.drawable(name)
    assert cards.drawable(shown) == shown  # what is left is drawable as it is
    assert opened(cards.draw_rank_card(a_card(name)))


def test_names_keep_what_the_font_can_draw_and_mark_the_rest():
    assert cards.drawable("Zoë Łukasz-Ørsted") == "Zoe Lukasz-Orsted"
    assert cards.drawable("\u202eevil\u200b\u202c") == "evil"
    assert cards.drawable("你好 world") == "? world"
    assert cards.initials("ada lovelace") == "AL"
    assert cards.initials("你好") == "?"
    font = cards._font(26)
    clipped = cards.clip("W" * 400, font, 300)
    assert clipped.endswith("…") and font.getlength(clipped) <= 300


def test_a_member_keeps_their_avatar_colour():
    assert cards.colour_of(7) == cards.colour_of(7)
    assert len({cards.colour_of(n) for n in range(20)}) > 10


async def test_cards_are_drawn_in_the_pool_while_the_loop_keeps_running(monkeypatch):
    real = cards.draw_rank_card
    loop_ran = threading.Event()
    drawn_in: list[str] = []

    def draw_when_the_loop_has_run(card: RankCard) -> bytes:
        # Drawing on the loop's own thread would never see the other coroutine run.
        drawn_in.append(threading.current_thread().name)
        assert loop_ran.wait(timeout=30), "the event loop was blocked while drawing"
        return real(card)

    async def other_interaction() -> None:
        loop_ran.set()

    monkeypatch.setattr(cards, "draw_rank_card", draw_when_the_loop_has_run)
    drawing = asyncio.ensure_future(rank_png(a_card("Ada")))
    await asyncio.sleep(0)
    await other_interaction()
    png = await drawing

    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert drawn_in and drawn_in[0].startswith("flywheel-cards")
    assert drawn_in[0] != threading.current_thread().name


async def test_a_card_that_fails_to_draw_is_none_and_logged_once_with_an_error_id(
    monkeypatch, caplog
):
    def broken(page: LeaderboardPage) -> bytes:
        raise OSError("no font")

    monkeypatch.setattr(cards, "draw_leaderboard_card", broken)
    with caplog.at_level(logging.ERROR, logger="bot.services.recognition.cards"):
        assert await leaderboard_png(a_page(["Ada"])) is None

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "error id" in errors[0].getMessage()
