"""Rituals end to end on Discord: a moderator creates one with the modal, it posts, members
check in by button (points once, even when clicking twice), by reaction and by thread reply."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.discord.sender import DiscordSender
from bot.models import Member, RitualCheckin, RitualLink
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    MODERATOR_ID,
    MODERATOR_ROLE_ID,
    answer,
)
from tests.effects import occurrence_uid, prune_sent_rows


@pytest.fixture
def discord_section():
    """Read message text, so links shared in a ritual's thread are counted."""
    return {
        "guild_ids": [GUILD_ID],
        "moderator_role_ids": [MODERATOR_ROLE_ID],
        "message_content_intent": True,
    }


async def _create_with_modal(sandbox, slash) -> None:
    opened = await slash(
        "ritual", user_id=MODERATOR_ID, options=[{"type": 1, "name": "create", "options": []}]
    )
    assert opened.json["type"] == 9  # a modal
    await sandbox.send_modal_submit(
        sandbox.opened_form("ritual-form"),
        {
            "name": "Demo Day",
            "schedule": "weekly fri 12:00",
            "timezone": "UTC",
            "prompt": "Show what you built <@everyone>",
            "reminders": "",
        },
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )


@pytest.mark.parametrize("pruned", [False, True], ids=["kept", "outbox-pruned"])
async def test_a_ritual_created_with_the_modal_posts_and_a_double_click_checks_in_once(
    bot, runtime, sandbox, slash, clock, pruned
):
    await _create_with_modal(sandbox, slash)
    await sandbox.wait_for_call(lambda c: "Created **Demo Day**" in str(c.json))
    (confirmation,) = [
        m for m in sandbox.messages[GENERAL_ID] if m["content"].startswith("Created **Demo Day**")
    ]
    assert confirmation["flags"] & 64  # only the moderator sees it
    runtime.dispatcher.register(DiscordSender("sandbox-token", api_base=sandbox.api_base))
    async with runtime.sessions() as session:
        (view,) = await rituals.list_rituals(session, clock, runtime.community_id)
    clock.set(view.next_fire + timedelta(seconds=3))
    report = await rituals.tick(runtime.sessions, clock)
    await runtime.dispatcher.drain()
    (post,) = [m for m in sandbox.messages[GENERAL_ID] if m.get("components")]
    button = post["components"][0]["components"][0]
    async with runtime.sessions() as session:
        uid = await occurrence_uid(session, report.posted[0])
    assert button["custom_id"] == f"ritual-checkin:{uid}"
    # The prompt is moderator text: shown as typed, escaped, and it pings nobody.
    assert "@\u200beveryone" in post["content"] and "@everyone" not in post["content"]
    (post_call,) = [
        c
        for c in sandbox.calls_matching("POST", f"/channels/{GENERAL_ID}/messages")
        if c.json.get("components")
    ]
    assert post_call.json["allowed_mentions"]["parse"] == []
    if pruned:
        # Nothing depends on sent outbox rows: the post registry finds the post.
        await prune_sent_rows(runtime)
    answers = []
    for _ in range(2):
        click = await sandbox.send_component(
            button["custom_id"],
            message_id=int(post["id"]),
            user_id=ALICE_ID,
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
        )
        answers.append(await answer(sandbox, click))
    assert "+10 points" in answers[0].json["data"]["content"]
    assert "already checked in" in answers[1].json["data"]["content"]
    # A reaction and a thread reply check two more members in.
    await sandbox.send_reaction_add(GENERAL_ID, int(post["id"]), BOB_ID, "👍", guild_id=GUILD_ID)
    await sandbox.send_message_create(
        int(post["id"]), MODERATOR_ID, "my demo https://example.com/x", guild_id=GUILD_ID
    )
    async with runtime.sessions() as session:
        count = await _wait_for_checkins(session, 3)
        alice_points = await session.scalar(
            select(Member.points_total)
            .join(RitualCheckin, RitualCheckin.member_id == Member.id)
            .where(RitualCheckin.method == "button")
        )
        links = (await session.scalars(select(RitualLink.url))).all()
    assert count == 3
    assert alice_points == 10
    assert links == ["https://example.com/x"]


async def _wait_for_checkins(session, expected: int) -> int:
    """The gateway listeners commit on their own; yield to them until the rows are there."""
    count = 0
    for _ in range(500):
        count = await session.scalar(select(func.count()).select_from(RitualCheckin))
        if count >= expected:
            return count
        await session.rollback()
        await asyncio.sleep(0)  # the query above already waited on the database
    return count


async def test_a_member_cannot_create_a_ritual(bot, slash):
    answer = await slash(
        "ritual", user_id=ALICE_ID, options=[{"type": 1, "name": "create", "options": []}]
    )
    assert answer.json["type"] == 4 and "Only moderators" in answer.json["data"]["content"]


def _sub(verb: str, **values) -> list[dict]:
    """The options of `/ritual <name>` with these values (strings, booleans, members)."""
    kinds = {bool: 5, int: 4, str: 3}
    options = [
        {"type": 6 if key == "member" else kinds[type(value)], "name": key, "value": value}
        for key, value in values.items()
    ]
    return [{"type": 1, "name": verb, "options": options}]


async def _seed(runtime, clock, *names: str) -> None:
    """Create rituals as a moderator would, straight through the service."""
    caller = Caller("discord", str(GUILD_ID), str(MODERATOR_ID), "moderator", Role.MODERATOR)
    async with runtime.sessions() as session, session.begin():
        mod = await resolve_actor(session, clock, community_id=runtime.community_id, caller=caller)
        for name in names:
            spec = rituals.RitualSpec(
                name=name,
                schedule="weekly fri 12:00",
                timezone="UTC",
                prompt="Show us",
                channel_id=str(GENERAL_ID),
            )
            await rituals.create_ritual(session, clock, mod, spec)


async def test_ritual_names_are_offered_as_the_member_types(bot, runtime, sandbox, clock):
    await _seed(runtime, clock, "Office Hours", "Feedback Friday", "Monday Wins")

    typed = [{"type": 3, "name": "name", "value": "fri", "focused": True}]
    asked = await sandbox.send_autocomplete(
        "ritual",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=ALICE_ID,
        options=[{"type": 1, "name": "preview", "options": typed}],
    )
    offered = await answer(sandbox, asked)

    assert offered.json["type"] == 8
    assert offered.json["data"]["choices"] == [
        {"name": "Feedback Friday", "value": "Feedback Friday"}
    ]


async def test_delete_asks_first_and_only_the_asker_can_confirm(
    bot, runtime, sandbox, slash, clock
):
    await _seed(runtime, clock, "Demo Day")

    prompt = await slash("ritual", user_id=MODERATOR_ID, options=_sub("delete", name="demo day"))
    assert "**Delete Demo Day?**" in prompt.json["data"]["content"]
    assert prompt.json["data"]["flags"] == 64
    message = sandbox.messages[GENERAL_ID][-1]
    delete, keep = message["components"][0]["components"]
    assert (delete["label"], delete["style"], keep["label"]) == ("Delete it", 4, "Keep it")

    intruder = await sandbox.send_component(
        delete["custom_id"], message_id=int(message["id"]), user_id=ALICE_ID, guild_id=GUILD_ID
    )
    refused = await answer(sandbox, intruder)
    assert "Only the person who asked" in refused.json["data"]["content"]
    async with runtime.sessions() as session:
        assert await rituals.ritual_names(session, runtime.community_id) == ["Demo Day"]

    click = await sandbox.send_component(
        delete["custom_id"], message_id=int(message["id"]), user_id=MODERATOR_ID, guild_id=GUILD_ID
    )
    done = await answer(sandbox, click)
    assert done.json["type"] == 7 and done.json["data"]["content"] == "Deleted **Demo Day**."
    async with runtime.sessions() as session:
        assert await rituals.ritual_names(session, runtime.community_id) == []


async def test_a_typo_in_delete_is_answered_before_any_prompt(bot, runtime, slash, clock):
    await _seed(runtime, clock, "Demo Day")

    answer = await slash("ritual", user_id=MODERATOR_ID, options=_sub("delete", name="demo"))

    assert "There is no ritual called 'demo'" in answer.json["data"]["content"]
    assert "components" not in answer.json["data"]


async def test_a_member_is_not_offered_the_delete_prompt(bot, runtime, slash, clock):
    await _seed(runtime, clock, "Demo Day")

    answer = await slash("ritual", user_id=ALICE_ID, options=_sub("delete", name="Demo Day"))

    assert "Only moderators" in answer.json["data"]["content"]


async def test_list_pages_ten_at_a_time(bot, runtime, slash, clock):
    await _seed(runtime, clock, *(f"Ritual {index:02d}" for index in range(12)))

    first = await slash("ritual", options=_sub("list"))
    second = await slash("ritual", options=_sub("list", page=2))

    first_lines = first.json["data"]["content"].splitlines()
    assert len(first_lines) == 11 and first_lines[-1].startswith("Page 1 of 2")
    assert "`/ritual list page:2`" in first_lines[-1]
    assert [line.split("**")[1] for line in second.json["data"]["content"].splitlines()[:2]] == [
        "Ritual 10",
        "Ritual 11",
    ]


async def test_host_add_says_when_the_member_already_hosts(bot, runtime, slash, clock):
    await _seed(runtime, clock, "Demo Day")
    options = _sub("add", name="Demo Day", member=str(BOB_ID))
    grouped = [{"type": 2, "name": "host", "options": options}]

    first = await slash("ritual", user_id=MODERATOR_ID, options=grouped)
    second = await slash("ritual", user_id=MODERATOR_ID, options=grouped)

    assert first.json["data"]["content"] == "bob hosts **Demo Day**."
    assert second.json["data"]["content"] == "bob already hosts **Demo Day**."


def _message(sandbox, message_id: str) -> dict:
    """The message as the sandbox holds it now (after any edits)."""
    return next(m for m in sandbox.messages[GENERAL_ID] if m["id"] == message_id)


async def test_a_confirm_that_fails_says_why_and_takes_the_buttons_away(
    bot, runtime, sandbox, slash, clock
):
    await _seed(runtime, clock, "Demo Day")
    await slash("ritual", user_id=MODERATOR_ID, options=_sub("delete", name="Demo Day"))
    prompt = sandbox.messages[GENERAL_ID][-1]
    delete = prompt["components"][0]["components"][0]
    await slash("ritual", user_id=MODERATOR_ID, options=_sub("delete", name="Demo Day"))
    other_prompt = sandbox.messages[GENERAL_ID][-1]
    other_delete = other_prompt["components"][0]["components"][0]
    first = await sandbox.send_component(
        other_delete["custom_id"],
        message_id=int(other_prompt["id"]),
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    await answer(sandbox, first)  # deleted there
    seen = len(sandbox.calls)

    late = await sandbox.send_component(
        delete["custom_id"], message_id=int(prompt["id"]), user_id=MODERATOR_ID, guild_id=GUILD_ID
    )
    refused = await answer(sandbox, late)
    assert "There is no ritual called 'Demo Day'" in refused.json["data"]["content"]
    await sandbox.wait_for_call(
        lambda c: (
            c.method == "PATCH"
            and c.path.endswith("/messages/@original")
            and c.json.get("components") == []
        ),
        since=seen,
    )
    assert not _message(sandbox, prompt["id"]).get("components")


async def test_an_unanswered_delete_prompt_expires_and_loses_its_buttons(
    bot, runtime, sandbox, slash, clock, monkeypatch
):
    # The bot loads its cogs itself (discord.py extensions): patch the module it loaded.
    monkeypatch.setattr(sys.modules["cogs.rituals"], "CONFIRM_SECONDS", 0.05)
    await _seed(runtime, clock, "Demo Day")

    await slash("ritual", user_id=MODERATOR_ID, options=_sub("delete", name="Demo Day"))
    prompt = sandbox.messages[GENERAL_ID][-1]
    edited = await sandbox.wait_for_call(
        lambda c: (
            c.method == "PATCH"
            and c.path.endswith("/messages/@original")
            and "expired" in str(c.json.get("content"))
        )
    )

    assert edited.json["content"] == "This request expired; nothing was deleted."
    assert not _message(sandbox, prompt["id"]).get("components")
    async with runtime.sessions() as session:
        assert await rituals.ritual_names(session, runtime.community_id) == ["Demo Day"]


async def test_a_refused_form_is_answered_with_a_fix_it_button_that_reopens_it_as_typed(
    bot, runtime, sandbox, slash
):
    opened = await slash(
        "ritual", user_id=MODERATOR_ID, options=[{"type": 1, "name": "create", "options": []}]
    )
    assert opened.json["type"] == 9
    typed = {
        "name": "Demo Day",
        "schedule": "every friday at noon",
        "timezone": "UTC",
        "prompt": "Show what you built",
        "reminders": "1h",
    }
    submitted = await sandbox.send_modal_submit(
        sandbox.opened_form("ritual-form"),
        typed,
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    refused = await answer(sandbox, submitted)

    assert refused.json["data"]["flags"] == 64
    assert "I can't read the schedule" in refused.json["data"]["content"]
    message = sandbox.messages[GENERAL_ID][-1]
    (fix,) = message["components"][0]["components"]
    assert fix["label"] == "Fix it"

    intruder = await sandbox.send_component(
        fix["custom_id"], message_id=int(message["id"]), user_id=ALICE_ID, guild_id=GUILD_ID
    )
    other = await answer(sandbox, intruder)
    assert "Only the person who asked" in other.json["data"]["content"]
    clicked = await sandbox.send_component(
        fix["custom_id"], message_id=int(message["id"]), user_id=MODERATOR_ID, guild_id=GUILD_ID
    )
    reopened = await answer(sandbox, clicked)

    assert reopened.json["type"] == 9
    inputs = {
        component["custom_id"]: component.get("value")
        for row in reopened.json["data"]["components"]
        for component in row.get("components") or [row.get("component") or {}]
    }
    assert inputs == typed
    async with runtime.sessions() as session:
        assert await rituals.ritual_names(session, runtime.community_id) == []


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("timezone", "Europe", "is not a time zone I know"),
        ("schedule", "every ² weeks fri 12:00", "ASCII digits"),
        ("reminders", "٦٠", "is not a lead time"),
        ("name", "\u200b\u2060\ufeff", "invisible"),
        ("name", "Demo \u202eyaD", "direction"),
        ("schedule", "once 2020-01-01 10:00", "in the past"),
    ],
    ids=["folder-zone", "superscript", "arabic-indic", "zero-width", "rlo", "past"],
)
async def test_bad_input_in_the_form_is_refused_with_what_to_send_instead(
    bot, runtime, sandbox, slash, field, value, says
):
    opened = await slash(
        "ritual", user_id=MODERATOR_ID, options=[{"type": 1, "name": "create", "options": []}]
    )
    assert opened.json["type"] == 9
    typed = {
        "name": "Demo Day",
        "schedule": "weekly fri 12:00",
        "timezone": "UTC",
        "prompt": "Show what you built",
        "reminders": "1h",
        field: value,
    }
    submitted = await sandbox.send_modal_submit(
        sandbox.opened_form("ritual-form"),
        typed,
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    refused = await answer(sandbox, submitted)

    assert says in refused.json["data"]["content"]
    assert "Something went wrong" not in refused.json["data"]["content"]
    async with runtime.sessions() as session:
        assert await rituals.ritual_names(session, runtime.community_id) == []


async def test_a_page_past_the_end_shows_the_last_page(bot, runtime, slash, clock):
    # Found by the fuzz harness: page 2 of one page was an empty answer, which Discord
    # refuses (50035), so the member saw "The application did not respond".
    await _seed(runtime, clock, "Office Hours", "Monday Wins")

    answer = await slash("ritual", options=_sub("list", page=2))

    assert answer.status == 200
    assert "Office Hours" in answer.json["data"]["content"]
