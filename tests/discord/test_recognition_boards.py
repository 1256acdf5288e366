"""/rank, /leaderboard and /privacy leaderboard end to end on Discord: PNG cards in the channel,
page buttons that edit the message (after a restart too), opted-out members hidden."""

from __future__ import annotations

from typing import Any

import pytest

from bot.services.recognition import cards
from tests.discord.conftest import ALICE_ID, BOB_ID, GENERAL_ID, GUILD_ID, answer
from tests.fuzz.observe import discord_pings
from tests.recognition_seed import seed_chat

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPHEMERAL = 64


def _options(**values: Any) -> list[dict[str, Any]]:
    kinds = {int: 4, str: 3}
    return [
        {"type": 6 if key == "member" else kinds[type(value)], "name": key, "value": value}
        for key, value in values.items()
    ]


@pytest.fixture
async def ranked(bot, runtime):
    """Alice with 15 points, Bob with 25, and ten more members from 5 to 50 (all this week):
    50 45 40 35 30, Bob and member 5 tied at 25 (#6), 20 (#8), Alice and member 3 at 15 (#9)…"""
    people = {str(ALICE_ID): ("alice", 3), str(BOB_ID): ("bob", 5)}
    people.update({str(700 + n): (f"member {n}", n) for n in range(1, 11)})
    return await seed_chat(runtime, "discord", str(GUILD_ID), people)


def _shown(sandbox, answer_json: dict[str, Any]) -> dict[str, Any]:
    """Return the channel message an answer filled in (with its stored attachments)."""
    posted = [m for m in sandbox.messages[GENERAL_ID] if m["author"]["bot"]]
    assert posted, "the bot posted nothing in the channel"
    return posted[-1]


def _png_of(sandbox, message: dict[str, Any]) -> bytes:
    (attachment,) = message["attachments"]
    data = sandbox.attachments[int(attachment["id"])]
    assert data.startswith(PNG_SIGNATURE)
    return data


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        button["label"]: button["custom_id"]
        for row in message["components"]
        for button in row["components"]
    }


async def _click(sandbox, message, custom_id, user_id=ALICE_ID):
    clicked = await sandbox.send_component(
        custom_id, message_id=int(message["id"]), user_id=user_id, guild_id=GUILD_ID
    )
    return await answer(sandbox, clicked)


async def test_rank_answers_in_the_channel_with_a_png_card_and_pings_nobody(ranked, slash, sandbox):
    shown = await slash("rank")

    body = shown.json["data"]
    assert not int(body.get("flags") or 0) & EPHEMERAL
    assert "**alice** · #9 of 12 · 15 points (Points · all time)" in body["content"]
    assert discord_pings(body, {str(BOB_ID)}) == []
    assert body["allowed_mentions"]["parse"] == []
    message = _shown(sandbox, body)
    assert message["attachments"][0]["filename"] == "rank.png"
    _png_of(sandbox, message)


async def test_rank_of_another_member_shows_theirs(ranked, slash, sandbox):
    shown = await slash("rank", options=_options(member=str(BOB_ID), period="week"))

    assert "**bob** · #6 of 12 · 25 points (Points · this week)" in shown.json["data"]["content"]
    _png_of(sandbox, _shown(sandbox, shown.json["data"]))


async def test_leaderboard_pages_with_buttons_that_edit_the_message_even_after_a_restart(
    ranked, slash, sandbox, start_bot, bot
):
    shown = await slash("leaderboard", options=_options(period="week"))

    body = shown.json["data"]
    assert body["content"].startswith("**Points · this week** · page 1 of 2 (12 ranked)")
    message = _shown(sandbox, body)
    first_png = _png_of(sandbox, message)
    assert set(_buttons(message)) == {"Next"}
    assert _buttons(message)["Next"] == "lb:points:week:2"

    turned = await _click(sandbox, message, _buttons(message)["Next"], user_id=BOB_ID)

    assert turned.json["type"] == 7  # the clicked message itself changed
    edited = sandbox.state.messages_by_id[int(message["id"])]
    assert edited["content"].startswith("**Points · this week** · page 2 of 2")
    assert set(_buttons(edited)) == {"Previous"}
    assert _png_of(sandbox, edited) != first_png

    await bot.close()
    await start_bot()  # a new process: the buttons are rebuilt from their custom ids
    await _click(sandbox, edited, _buttons(edited)["Previous"])

    again = sandbox.state.messages_by_id[int(message["id"])]
    assert again["content"].startswith("**Points · this week** · page 1 of 2")


async def test_privacy_leaderboard_off_hides_the_member_from_others_but_not_from_themselves(
    ranked, slash, sandbox
):
    hidden = await slash(
        "privacy",
        user_id=BOB_ID,
        options=[{"type": 1, "name": "leaderboard", "options": _options(setting="off")}],
    )
    assert int(hidden.json["data"]["flags"]) & EPHEMERAL
    assert "hidden from public leaderboards" in hidden.json["data"]["content"]

    board = await slash("leaderboard")
    asked = await slash("rank", options=_options(member=str(BOB_ID)))
    own = await slash("rank", user_id=BOB_ID)

    assert "(11 ranked)" in board.json["data"]["content"]
    assert asked.json["data"]["content"] == "bob keeps their rank private."
    assert int(own.json["data"]["flags"]) & EPHEMERAL
    assert "**bob** · #6 of 11 · 25 points" in own.json["data"]["content"]
    assert "Only you see this" in own.json["data"]["content"]
    # The public "thinking" message was removed: nothing of Bob's rank stays in the channel.
    public = [m for m in sandbox.messages[GENERAL_ID] if not int(m["flags"]) & EPHEMERAL]
    assert not any("25 points" in m["content"] for m in public)

    await slash(
        "privacy",
        user_id=BOB_ID,
        options=[{"type": 1, "name": "leaderboard", "options": _options(setting="on")}],
    )
    assert "(12 ranked)" in (await slash("leaderboard")).json["data"]["content"]


async def test_a_card_that_cannot_be_drawn_is_answered_as_text(ranked, slash, sandbox, monkeypatch):
    def broken(page: object) -> bytes:
        raise OSError("drawing failed")

    monkeypatch.setattr(cards, "draw_leaderboard_card", broken)
    shown = await slash("leaderboard")

    content = shown.json["data"]["content"]
    assert "#1 member 10 · 50" in content and "#8 member 4 · 20" in content
    assert _shown(sandbox, shown.json["data"])["attachments"] == []


async def test_a_bot_has_no_rank(ranked, slash, sandbox):
    sandbox.add_member(GUILD_ID, 999, "somebot", bot=True)
    refused = await slash("rank", options=_options(member="999"))

    assert int(refused.json["data"]["flags"]) & EPHEMERAL
    assert "Bots are not ranked" in refused.json["data"]["content"]


async def test_a_refusal_after_the_public_thinking_message_goes_to_the_member_alone(
    ranked, slash, sandbox
):
    refused = await slash("leaderboard", options=_options(period="yesterday"))

    assert int(refused.json["data"]["flags"]) & EPHEMERAL
    assert "There is no period 'yesterday'" in refused.json["data"]["content"]
    public = [m for m in sandbox.messages[GENERAL_ID] if not int(m["flags"]) & EPHEMERAL]
    assert public == []  # the "thinking" message everyone saw was removed
