"""Badges on Discord, end to end: the real bot against the sandbox, on the real runtime."""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord.sender import DiscordSender
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.channels import set_channel
from bot.services.engagement import ActivityKind, record_activity
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    MODERATOR_ID,
    answer,
)

RECOGNITION_ID = 910_000_000_000_000_030
MODAL = 9


@pytest.fixture
async def ready(bot, runtime, sandbox, clock):
    """The bot running, the recognition channel set, the outbox sending to the sandbox."""
    sandbox.add_channel(GUILD_ID, RECOGNITION_ID, "kudos")
    caller = Caller("discord", str(GUILD_ID), str(MODERATOR_ID), "moderator", Role.MODERATOR)
    async with runtime.sessions() as session, session.begin():
        mod = await resolve_actor(session, clock, community_id=runtime.community_id, caller=caller)
        await set_channel(session, clock, mod, "recognition", str(RECOGNITION_ID))
    runtime.dispatcher.register(DiscordSender("sandbox-token", api_base=sandbox.api_base))
    return bot


def _verb(verb: str, **values: Any) -> list[dict[str, Any]]:
    options = [
        {"type": 6 if key == "member" else 3, "name": key, "value": value}
        for key, value in values.items()
    ]
    return [{"type": 1, "name": verb, "options": options}]


def _posts(sandbox) -> list[dict[str, Any]]:
    return sandbox.messages[RECOGNITION_ID]


async def test_a_moderator_awards_a_badge_and_the_member_sees_it_in_badges(
    ready, runtime, sandbox, slash
):
    given = await slash(
        "badge",
        user_id=MODERATOR_ID,
        options=_verb("award", member=str(ALICE_ID), badge="Founding Member"),
    )
    assert given.json["data"]["content"] == (
        "alice now has 🌱 **Founding Member**; it is announced and they get a DM."
    )
    again = await slash(
        "badge",
        user_id=MODERATOR_ID,
        options=_verb("award", member=str(ALICE_ID), badge="founding member"),
    )
    assert "alice already has the Founding Member badge" in again.json["data"]["content"]
    await runtime.dispatcher.drain()

    (announced,) = _posts(sandbox)
    assert "alice" in announced["content"] and "Founding Member" in announced["content"]
    (call,) = sandbox.calls_matching("POST", f"/channels/{RECOGNITION_ID}/messages")
    assert call.json["allowed_mentions"]["parse"] == []
    assert f"<@{ALICE_ID}>" not in announced["content"]
    (dm,) = sandbox.messages[sandbox.open_dm(ALICE_ID)]
    assert "You earned the **Founding Member** badge" in dm["content"]

    mine = await slash("badges", user_id=ALICE_ID)
    text = mine.json["data"]["content"]
    assert text.startswith("**Your badges**\n🌱 **Founding Member** · ")
    assert "🔁 **Ritual Regular** · earned at 4 ritual check-ins · 0 hold it" in text
    theirs = await slash(
        "badges", user_id=BOB_ID, options=[{"type": 6, "name": "member", "value": str(ALICE_ID)}]
    )
    assert theirs.json["data"]["content"].startswith("**alice's badges**\n🌱 **Founding Member**")

    taken = await slash(
        "badge",
        user_id=MODERATOR_ID,
        options=_verb("revoke", member=str(ALICE_ID), badge="Founding Member"),
    )
    assert taken.json["data"]["content"] == "alice no longer has 🌱 **Founding Member**."
    mine = await slash("badges", user_id=ALICE_ID)
    assert mine.json["data"]["content"].startswith("**Your badges**\nNone yet.")


async def test_a_member_is_refused_and_an_unknown_badge_gets_suggestions(ready, slash):
    refused = await slash(
        "badge", user_id=ALICE_ID, options=_verb("award", member=str(BOB_ID), badge="Advocate")
    )
    assert "Only moderators" in refused.json["data"]["content"]
    opened = await slash("badge", user_id=ALICE_ID, options=_verb("create"))
    assert "Only moderators" in opened.json["data"]["content"]
    unknown = await slash(
        "badge", user_id=MODERATOR_ID, options=_verb("award", member=str(BOB_ID), badge="Ritual")
    )
    assert (
        "There is no badge called 'Ritual'. Try one of: Ritual Regular."
        in (unknown.json["data"]["content"])
    )


async def test_a_rule_badge_is_announced_without_pinging(ready, runtime, sandbox, clock):
    caller = Caller("discord", str(GUILD_ID), str(BOB_ID), "bob", Role.MEMBER)
    for index in range(4):
        async with runtime.sessions() as session, session.begin():
            bob = await resolve_actor(
                session, clock, community_id=runtime.community_id, caller=caller
            )
            await record_activity(
                session,
                clock,
                member_id=bob.member_id,
                kind=ActivityKind.RITUAL_CHECKIN,
                points=10,
                source_key=f"checkin:{index}",
            )
        await runtime.bus.process_pending()
    await runtime.dispatcher.drain()

    (announced,) = _posts(sandbox)
    assert announced["content"].startswith("🔁 bob earned the **Ritual Regular** badge for 4 ")
    (call,) = sandbox.calls_matching("POST", f"/channels/{RECOGNITION_ID}/messages")
    assert call.json["allowed_mentions"]["parse"] == []
    assert "<@" not in announced["content"]


async def test_a_moderator_creates_a_badge_with_the_form_and_a_bad_rule_is_sent_back(
    ready, sandbox, slash
):
    opened = await slash("badge", user_id=MODERATOR_ID, options=_verb("create"))
    assert opened.json["type"] == MODAL

    async def submit(rule: str) -> str:
        submitted = await sandbox.send_modal_submit(
            sandbox.opened_form("badge-create", user_id=MODERATOR_ID),
            {"name": "Bug *Hunter*", "emoji": "🐛", "description": "Finds bugs", "rule": rule},
            channel_id=GENERAL_ID,
            user_id=MODERATOR_ID,
            guild_id=GUILD_ID,
        )
        return (await answer(sandbox, submitted)).json["data"]["content"]

    said = await submit("bugs >= 3")
    assert "That rule won't work: there is no counter 'bugs'" in said and "Fix it" in said
    await slash("badge", user_id=MODERATOR_ID, options=_verb("create"))
    said = await submit("answers_accepted >= 3")
    assert said == "Created the badge 🐛 **Bug \\*Hunter\\***: earned at 3 accepted answers."

    typed = [
        {"type": 6, "name": "member", "value": str(BOB_ID)},
        {"type": 3, "name": "badge", "value": "bug", "focused": True},
    ]
    asked = await sandbox.send_autocomplete(
        "badge",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        options=[{"type": 1, "name": "award", "options": typed}],
    )
    offered = await answer(sandbox, asked)
    assert offered.json["data"]["choices"] == [{"name": "Bug *Hunter*", "value": "Bug *Hunter*"}]
