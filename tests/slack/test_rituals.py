"""Rituals on Slack, end to end: signed commands, modal submissions, button clicks and events
over real HTTP into the real bolt app, the scheduler on a moved FakeClock, and the outbox's
Slack sender delivering to the sandbox's Web API."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.destinations import ChannelRef
from bot.messages import Button, Post, Purpose, bold, rich
from bot.models import (
    Activity,
    Identity,
    Member,
    Ritual,
    RitualCheckin,
    RitualHost,
    RitualLink,
    RitualOccurrence,
)
from bot.outbox import Effect
from bot.runtime import Runtime
from bot.sandbox.slack import BotReply, RecordedCall, SlackSandbox
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.channels import channels_of
from bot.slack.render import content
from bot.slack.rituals import (
    CANCEL_DELETE,
    CONFIRM_DELETE,
    LIST_PAGE,
    MODAL,
    PAGE_SIZE,
)
from bot.slack.sender import SlackSender
from tests.effects import occurrence_uid, prune_sent_rows
from tests.log_waiter import LogWaiter
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served

pytestmark = pytest.mark.e2e

BOB = "U0BOB"
CARA = "U0CARA"
RITUALS = "C0RITUALS"
# Feedback Friday (weekly fri 12:00, Europe/Berlin) first fires on Friday 6 March 2026, CET.
FRIDAY_NOON = datetime(2026, 3, 6, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def workspace(sandbox: SlackSandbox, runtime: Runtime) -> None:
    """Seed two more members and the rituals channel; deliver the outbox to the sandbox."""
    sandbox.add_user(BOB, "bob", real_name="Bob Builder")
    sandbox.add_user(CARA, "cara", real_name="Cara <Crafts> & Co")
    sandbox.add_channel(RITUALS, "rituals")
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))


@pytest.fixture
def ritual_log(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    return log_waiter("bot.slack.rituals")


# -- helpers ------------------------------------------------------------------------------------


async def command(
    served: Served, text: str, user_id: str = MEMBER, channel_id: str = CHANNEL
) -> None:
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=channel_id
    )
    assert reply.status == 200 and reply.body == ""


async def ask(
    served: Served,
    sandbox: SlackSandbox,
    text: str,
    user_id: str = MEMBER,
    channel_id: str = CHANNEL,
) -> RecordedCall:
    """Run a command and return the ephemeral answer it got."""
    seen = len(sandbox.calls)
    await command(served, text, user_id, channel_id)
    reply = await sandbox.wait_for_call("response_url", since=seen)
    assert reply.args["response_type"] == "ephemeral"
    return reply


def selected(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


def conversation(channel_id: str) -> dict[str, Any]:
    return {"type": "conversations_select", "selected_conversation": channel_id}


def form(**overrides: Any) -> dict[str, dict[str, Any]]:
    """Return modal values: a custom Feedback Friday in #rituals unless overridden."""
    fields: dict[str, Any] = {
        "name": "Feedback Friday",
        "template": selected("custom"),
        "schedule": "weekly fri 12:00",
        "timezone": "Europe/Berlin",
        "channel": conversation(RITUALS),
        "prompt": "Share what you are working on & get kind feedback <3",
        "reminders": "24h, 1h",
        **overrides,
    }
    return {block_id: {block_id: value} for block_id, value in fields.items()}


async def open_create_modal(served: Served, sandbox: SlackSandbox) -> str:
    seen = len(sandbox.calls)
    await command(served, "ritual create", MODERATOR)
    opened = await sandbox.wait_for_call("views.open", since=seen)
    assert opened.ok
    return str(opened.response["view"]["id"])


async def submit(
    served: Served, view_id: str, values: dict[str, dict[str, Any]], user_id: str = MODERATOR
) -> BotReply:
    reply = await served.sender.send_view_submission(
        MODAL, values, user_id=user_id, view_id=view_id
    )
    assert reply.status == 200
    return reply


async def create_from_template(
    served: Served, sandbox: SlackSandbox, template: str = "feedback_friday"
) -> RecordedCall:
    reply = await ask(served, sandbox, f"ritual create {template}", MODERATOR, RITUALS)
    assert reply.args["text"].startswith("Created")
    return reply


async def fire(runtime: Runtime, clock: FakeClock, when: datetime) -> None:
    clock.set(when)
    await rituals.tick(runtime.sessions, runtime.clock)
    await runtime.dispatcher.drain()


def posts_in(sandbox: SlackSandbox, channel_id: str) -> list[RecordedCall]:
    return [
        call
        for call in sandbox.calls_to("chat.postMessage")
        if call.ok and call.response["channel"] == channel_id
    ]


def checkin_button(post: RecordedCall) -> dict[str, Any]:
    (element,) = [
        element
        for block in post.args.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"].startswith("ritual-checkin:")
    ]
    return element


def names_in(blocks: list[dict[str, Any]]) -> list[str]:
    """Return the ritual names a list page shows, in order."""
    return re.findall(r"\*(Ritual \d+)\*", json.dumps(blocks))


async def member_id(runtime: Runtime, user_id: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(select(Identity.member_id).where(Identity.user_id == user_id))
    assert found is not None
    return found


async def checkins(runtime: Runtime) -> dict[int, str]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(RitualCheckin.member_id, RitualCheckin.method))).all()
    return {member: method for member, method in rows}


# -- creating a ritual --------------------------------------------------------------------------


@pytest.mark.parametrize("pruned", [False, True], ids=["kept", "outbox-pruned"])
async def test_a_moderator_creates_a_ritual_with_the_modal_and_a_member_checks_in_once(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock, pruned: bool
) -> None:
    view_id = await open_create_modal(served, sandbox)
    modal = sandbox.views[view_id]
    inputs = {block["block_id"]: block["element"] for block in modal["blocks"]}
    assert inputs["timezone"]["initial_value"] == "Europe/Berlin"  # the community's zone
    assert inputs["channel"]["initial_conversation"] == CHANNEL  # where the command was run
    assert inputs["channel"]["type"] == "conversations_select"

    reply = await submit(served, view_id, form())

    assert reply.json() is None  # a bare ack closes the modal
    confirmation = await sandbox.wait_for_call("chat.postEphemeral")
    assert confirmation.args["channel"] == CHANNEL and confirmation.args["user"] == MODERATOR
    text = confirmation.args["text"]
    assert text.startswith("Created *Feedback Friday*: weekly on Fri at 12:00 (Europe/Berlin)")
    assert f"<#{RITUALS}>" in text
    assert "Next: Fri 06 Mar 2026 12:00 CET · 11:00 UTC" in text
    async with runtime.sessions() as session:
        ritual = await session.scalar(select(Ritual))
    assert ritual is not None
    async with runtime.sessions() as session:
        where = await channels_of(session, ritual.destination_id)
    assert (where, ritual.reminder_minutes) == ((ChannelRef("slack", RITUALS),), [1440, 60])
    assert ritual.prompt == "Share what you are working on & get kind feedback <3"

    await fire(runtime, clock, FRIDAY_NOON)
    if pruned:
        await prune_sent_rows(runtime)

    (post,) = posts_in(sandbox, RITUALS)
    async with runtime.sessions() as session:
        occurrence_id = await session.scalar(select(func.max(RitualOccurrence.id)))
        uid = await occurrence_uid(session, occurrence_id)
    button = checkin_button(post)
    assert button["action_id"] == button["value"] == f"ritual-checkin:{uid}"
    assert button["style"] == "primary"
    assert post.args["blocks"][0]["text"]["text"].startswith("*Feedback Friday*")
    assert post.args["text"].startswith("*Feedback Friday*")  # the notification fallback
    ts = str(post.response["ts"])

    answers = []
    for _ in range(2):
        seen = len(sandbox.calls)
        await served.sender.send_block_action(
            button["action_id"], button["value"], user_id=MEMBER, channel_id=RITUALS, message_ts=ts
        )
        answers.append(await sandbox.wait_for_call("response_url", since=seen))

    assert answers[0].args["text"] == "Checked in to *Feedback Friday*, +10 points."
    assert answers[1].args["text"] == "You're already checked in to *Feedback Friday*."
    assert all(a.args["response_type"] == "ephemeral" for a in answers)
    assert all(a.args["replace_original"] is False for a in answers)  # the post stays
    ada = await member_id(runtime, MEMBER)
    assert await checkins(runtime) == {ada: "button"}
    async with runtime.sessions() as session:
        member = await session.get(Member, ada)
        ledger = (
            await session.scalars(select(Activity.points).where(Activity.member_id == ada))
        ).all()
    assert member is not None and member.points_total == 10
    assert list(ledger) == [10]


async def test_a_member_cannot_open_the_create_modal(served: Served, sandbox: SlackSandbox) -> None:
    reply = await ask(served, sandbox, "ritual create")

    assert reply.args["text"] == "Only moderators can do that."
    assert sandbox.calls_to("views.open") == []


async def test_a_template_creates_a_ritual_in_one_step_in_the_current_channel(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    reply = await create_from_template(served, sandbox, "Office-Hours")

    assert reply.args["text"].startswith(
        f"Created *Office Hours*: weekly on Thu at 17:00 (Europe/Berlin) in <#{RITUALS}>."
    )
    assert "Next: Thu 05 Mar 2026 17:00 CET · 16:00 UTC." in reply.args["text"]
    assert sandbox.calls_to("views.open") == []
    async with runtime.sessions() as session:
        ritual = await session.scalar(select(Ritual))
    assert ritual is not None and ritual.kind == "office_hours"
    assert ritual.checkin_window_minutes == 90


async def test_a_template_chosen_in_the_modal_fills_the_blank_fields(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    view_id = await open_create_modal(served, sandbox)
    blank = form(name="", template=selected("monday_wins"), schedule="", prompt="", reminders="")

    assert (await submit(served, view_id, blank)).json() is None

    await sandbox.wait_for_call("chat.postEphemeral")
    async with runtime.sessions() as session:
        ritual = await session.scalar(select(Ritual))
    assert ritual is not None
    assert (ritual.name, ritual.kind, ritual.reminder_minutes) == (
        "Monday Wins",
        "monday_wins",
        [60],
    )
    assert ritual.prompt == rituals.TEMPLATES["monday_wins"].prompt


@pytest.mark.parametrize(
    ("block_id", "value", "says"),
    [
        ("schedule", "every friday at noon", "I can't read the schedule"),
        ("timezone", "Mars/Olympus", "is not a time zone I know"),
        ("reminders", "soon", "is not a lead time"),
        ("reminders", "30d", "Reminders: up to three"),
        ("name", "", "A ritual name has 1 to 80 characters."),
        # Issue 9: each of these closed the modal with "Something went wrong".
        ("timezone", "Europe", "is not a time zone I know"),
        ("timezone", "Z" * 300, "is not a time zone I know"),
        ("schedule", "every ² weeks fri 12:00", "ASCII digits"),
        ("reminders", "9" * 5000, "Reminders: up to three"),
        ("reminders", "٦٠", "is not a lead time"),
        ("name", "\u200b\u200d\ufeff", "invisible"),
        ("name", "\u202eyadiloh", "direction"),
        ("schedule", "once 2026-01-01 10:00", "in the past"),
        ("schedule", "monthly first mon,wed 18:00", "one weekday"),
    ],
)
async def test_a_bad_field_keeps_the_modal_open_with_the_error_under_that_field(
    served: Served,
    sandbox: SlackSandbox,
    runtime: Runtime,
    block_id: str,
    value: str,
    says: str,
) -> None:
    view_id = await open_create_modal(served, sandbox)

    reply = await submit(served, view_id, form(**{block_id: value}))

    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [block_id]
    assert says in answer["errors"][block_id]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ritual)) == 0


async def test_the_modals_typed_inputs_have_a_max_length(
    served: Served, sandbox: SlackSandbox
) -> None:
    seen = len(sandbox.calls)
    await command(served, "ritual create", MODERATOR)
    opened = await sandbox.wait_for_call("views.open", since=seen)

    limits = {
        block["block_id"]: block["element"].get("max_length")
        for block in opened.args["view"]["blocks"]
        if block["element"]["type"] == "plain_text_input"
    }
    assert limits == {"name": 80, "schedule": 60, "timezone": 64, "prompt": 1500, "reminders": 40}


async def test_a_taken_name_is_shown_under_the_name_field(
    served: Served, sandbox: SlackSandbox
) -> None:
    await create_from_template(served, sandbox)
    view_id = await open_create_modal(served, sandbox)

    answer = (await submit(served, view_id, form(name="feedback friday"))).json()

    assert answer["response_action"] == "errors"
    assert "exists already" in answer["errors"]["name"]


async def test_a_forged_submission_by_a_member_is_refused_by_the_service(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    view_id = await open_create_modal(served, sandbox)

    reply = await submit(served, view_id, form(), user_id=MEMBER)

    assert reply.json() is None
    refused = await sandbox.wait_for_call("chat.postEphemeral")
    assert (refused.args["user"], refused.args["text"]) == (MEMBER, "Only moderators can do that.")
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ritual)) == 0


async def test_edit_opens_the_modal_prefilled_and_saves_the_changes(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await create_from_template(served, sandbox)
    seen = len(sandbox.calls)

    await command(served, "ritual edit feedback friday", MODERATOR, RITUALS)

    opened = await sandbox.wait_for_call("views.open", since=seen)
    view = opened.args["view"]
    assert json.loads(view["private_metadata"])["ritual"] == "Feedback Friday"
    inputs = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert inputs["schedule"]["initial_value"] == "weekly fri 12:00"
    assert inputs["reminders"]["initial_value"] == "24h, 1h"
    assert inputs["template"]["initial_option"]["value"] == "feedback_friday"
    assert inputs["channel"]["initial_conversation"] == RITUALS

    changed = form(
        name="Feedback Friday",
        template=selected("feedback_friday"),
        schedule="weekly fri 15:30",
        prompt=inputs["prompt"]["initial_value"],
        reminders="none",
    )
    reply = await submit(served, str(opened.response["view"]["id"]), changed)

    assert reply.json() is None
    saved = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert "Next: Fri 06 Mar 2026 15:30 CET · 14:30 UTC." in saved.args["text"]
    async with runtime.sessions() as session:
        ritual = await session.scalar(select(Ritual))
    assert ritual is not None and ritual.reminder_minutes == []


# -- check-ins by reaction and by reply -------------------------------------------------------


@pytest.mark.parametrize("pruned", [False, True], ids=["kept", "outbox-pruned"])
async def test_a_reaction_and_a_threaded_reply_with_a_link_check_members_in(
    served: Served,
    sandbox: SlackSandbox,
    runtime: Runtime,
    clock: FakeClock,
    ritual_log: LogWaiter,
    pruned: bool,
) -> None:
    await create_from_template(served, sandbox)
    await fire(runtime, clock, FRIDAY_NOON)
    if pruned:
        await prune_sent_rows(runtime)
    (post,) = posts_in(sandbox, RITUALS)
    ts = str(post.response["ts"])
    seen = len(sandbox.calls)

    await served.sender.send_event(
        {
            "type": "reaction_added",
            "user": BOB,
            "reaction": "raised_hands",
            "item": {"type": "message", "channel": RITUALS, "ts": ts},
            "item_user": sandbox.bot_user_id,
        }
    )
    await ritual_log.wait_for("check-in by reaction")
    await served.sender.send_event(
        {
            "type": "message",
            "channel": RITUALS,
            "channel_type": "channel",
            "user": CARA,
            "text": "Here is my demo: <https://cara.example/demo|cara.example/demo> :tada:",
            "ts": f"{float(ts) + 5:.6f}",
            "thread_ts": ts,
        }
    )
    await ritual_log.wait_for("check-in by reply")

    bob, cara = await member_id(runtime, BOB), await member_id(runtime, CARA)
    assert await checkins(runtime) == {bob: "reaction", cara: "reply"}
    async with runtime.sessions() as session:
        links = (await session.execute(select(RitualLink.url, RitualLink.member_id))).all()
        names = dict((await session.execute(select(Member.id, Member.display_name))).all())
    assert [tuple(link) for link in links] == [("https://cara.example/demo", cara)]
    assert names[cara] == "cara"
    # Silent: nobody got an answer for a reaction or a reply.
    answered = {"response_url", "chat.postEphemeral", "chat.postMessage"}
    assert [call.method for call in sandbox.calls[seen:] if call.method in answered] == []


# -- reminders, list, preview -------------------------------------------------------------------


async def test_a_member_who_opts_in_gets_a_reminder_dm_an_hour_before(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    await create_from_template(served, sandbox)

    reply = await ask(served, sandbox, "ritual remind Feedback Friday on")
    assert reply.args["text"] == "I'll DM you before each *Feedback Friday*."

    await fire(runtime, clock, datetime(2026, 3, 6, 10, 0, tzinfo=UTC))

    (dm,) = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert dm["text"].startswith("Feedback Friday starts in 1 hour (Fri 06 Mar 12:00 CET)")
    (reminder,) = posts_in(sandbox, RITUALS)
    assert reminder.args["text"].startswith("Reminder: Feedback Friday starts in 1 hour")


async def test_list_and_preview_show_names_and_times_in_local_time_and_utc(
    served: Served, sandbox: SlackSandbox
) -> None:
    await create_from_template(served, sandbox, "office_hours")
    await create_from_template(served, sandbox, "feedback_friday")

    listed = await ask(served, sandbox, "ritual list")
    shown = json.dumps(listed.args["blocks"], ensure_ascii=False)
    assert shown.index("*Office Hours*") < shown.index("*Feedback Friday*")  # soonest first
    assert "Next: Thu 05 Mar 2026 17:00 CET · 16:00 UTC" in shown
    assert "Next: Fri 06 Mar 2026 12:00 CET · 11:00 UTC" in shown

    preview = await ask(served, sandbox, "ritual preview office hours")
    lines = preview.args["text"].splitlines()
    assert lines[0] == "The next 5 times of *office hours*:"
    assert lines[1:] == [
        "• Thu 05 Mar 2026 17:00 CET · 16:00 UTC",
        "• Thu 12 Mar 2026 17:00 CET · 16:00 UTC",
        "• Thu 19 Mar 2026 17:00 CET · 16:00 UTC",
        "• Thu 26 Mar 2026 17:00 CET · 16:00 UTC",
        "• Thu 02 Apr 2026 17:00 CEST · 15:00 UTC",  # summer time from 29 March
    ]


async def test_an_unknown_ritual_name_is_answered_with_the_services_helpful_text(
    served: Served, sandbox: SlackSandbox
) -> None:
    await create_from_template(served, sandbox, "office_hours")

    reply = await ask(served, sandbox, "ritual preview Book <Club>")

    assert reply.args["text"] == (
        "There is no ritual called 'Book &lt;Club&gt;'. Rituals here: Office Hours."
    )


async def test_a_long_list_is_paged_ten_at_a_time_with_a_next_page_button(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    async with runtime.sessions() as session, session.begin():
        moderator = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=Caller("slack", sandbox.team_id, MODERATOR, "mo", Role.MODERATOR),
        )
        for hour in range(PAGE_SIZE + 2):
            spec = rituals.RitualSpec(
                name=f"Ritual {hour:02d}",
                schedule=f"weekly mon {8 + hour:02d}:00",
                timezone="UTC",
                prompt="Hello",
                channel_id=RITUALS,
            )
            await rituals.create_ritual(session, runtime.clock, moderator, spec)

    first = await ask(served, sandbox, "ritual list")
    (pager,) = [block for block in first.args["blocks"] if block["type"] == "actions"]
    (next_page,) = pager["elements"]
    assert (next_page["text"]["text"], next_page["action_id"]) == ("Next page", LIST_PAGE)
    seen = len(sandbox.calls)

    await served.sender.send_block_action(
        LIST_PAGE, next_page["value"], user_id=MEMBER, channel_id=CHANNEL
    )

    second = await sandbox.wait_for_call("response_url", since=seen)
    assert second.args["replace_original"] is True
    pages = [names_in(first.args["blocks"]), names_in(second.args["blocks"])]
    assert [len(page) for page in pages] == [PAGE_SIZE, 2]
    assert sorted(pages[0] + pages[1]) == [f"Ritual {hour:02d}" for hour in range(PAGE_SIZE + 2)]
    # Soonest first: at 09:00 on Monday, the 08:00 and 09:00 rituals come round next week.
    assert pages[1] == ["Ritual 00", "Ritual 01"]
    assert "page 2 of 2" in second.args["text"]


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000])
async def test_a_page_button_with_a_value_that_is_not_ascii_digits_shows_the_first_page(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, value: str
) -> None:
    # str.isdigit() says yes to these and int() then raises (or refuses 5,000 digits).
    await create_from_template(served, sandbox)
    seen = len(sandbox.calls)

    await served.sender.send_block_action(LIST_PAGE, value, user_id=MEMBER, channel_id=CHANNEL)

    shown = await sandbox.wait_for_call("response_url", since=seen)
    assert "Feedback Friday" in str(shown.args["blocks"])


# -- moderating ---------------------------------------------------------------------------------


async def test_delete_asks_first_and_the_danger_button_deletes(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await create_from_template(served, sandbox)

    asked = await ask(served, sandbox, "ritual delete Feedback Friday", MODERATOR)
    (actions,) = [block for block in asked.args["blocks"] if block["type"] == "actions"]
    confirm, cancel = actions["elements"]
    assert (confirm["action_id"], confirm["style"]) == (CONFIRM_DELETE, "danger")
    assert cancel["action_id"] == CANCEL_DELETE
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ritual)) == 1

    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        CONFIRM_DELETE, confirm["value"], user_id=MODERATOR, channel_id=CHANNEL
    )

    done = await sandbox.wait_for_call("response_url", since=seen)
    assert (done.args["text"], done.args["replace_original"]) == (
        "Deleted *Feedback Friday*.",
        True,
    )
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ritual)) == 0


async def test_a_member_cannot_use_a_delete_button_they_got_hold_of(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await create_from_template(served, sandbox)
    asked = await ask(served, sandbox, "ritual delete Feedback Friday", MODERATOR)
    (actions,) = [block for block in asked.args["blocks"] if block["type"] == "actions"]
    value = actions["elements"][0]["value"]
    # Even a prompt made out to the member themselves: the service checks the role again.
    forged = json.dumps({**json.loads(value), "u": MEMBER})
    answers = []
    for clicked in (value, forged):
        seen = len(sandbox.calls)
        await served.sender.send_block_action(
            CONFIRM_DELETE, clicked, user_id=MEMBER, channel_id=CHANNEL
        )
        answers.append(await sandbox.wait_for_call("response_url", since=seen))

    assert answers[0].args["text"] == "Only the person who asked can use these buttons."
    assert answers[0].args["replace_original"] is False
    assert answers[1].args["text"] == "Only moderators can do that."
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ritual)) == 1


async def test_pause_resume_run_now_and_host_add_answer_the_moderator(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    await create_from_template(served, sandbox)

    paused = await ask(served, sandbox, "ritual pause Feedback Friday", MODERATOR)
    assert paused.args["text"].startswith("Paused *Feedback Friday*")
    resumed = await ask(served, sandbox, "ritual resume Feedback Friday", MODERATOR)
    assert resumed.args["text"] == (
        "Resumed *Feedback Friday*. Next: Fri 06 Mar 2026 12:00 CET · 11:00 UTC."
    )
    hosted = await ask(
        served, sandbox, "ritual host add Feedback Friday <@U0CARA|Cara Crafts>", MODERATOR
    )
    assert hosted.args["text"] == "*cara* now hosts *Feedback Friday*."
    again = await ask(served, sandbox, f"ritual host add Feedback Friday {CARA}", MODERATOR)
    assert again.args["text"] == "*cara* already hosts *Feedback Friday*."
    unresolved = await ask(served, sandbox, "ritual host add Feedback Friday @cara", MODERATOR)
    assert unresolved.args["text"].startswith("Say the ritual and mention the member")
    ran = await ask(served, sandbox, "ritual run-now Feedback Friday", MODERATOR)
    assert ran.args["text"].startswith("Posting *Feedback Friday* now")
    refused = await ask(served, sandbox, "ritual run-now Feedback Friday")
    assert refused.args["text"] == "Only moderators can do that."

    await runtime.dispatcher.drain()
    (post,) = posts_in(sandbox, RITUALS)
    assert checkin_button(post)["action_id"].startswith("ritual-checkin:")
    async with runtime.sessions() as session:
        hosts = (await session.scalars(select(RitualHost.member_id))).all()
    assert list(hosts) == [await member_id(runtime, CARA)]


async def test_checkin_by_command_checks_in_to_the_ritual_open_now(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    await create_from_template(served, sandbox)

    closed = await ask(served, sandbox, "ritual checkin")
    assert closed.args["text"].startswith("No ritual is open for check-in right now.")
    assert "`/flywheel ritual list` shows when the next one starts" in closed.args["text"]
    await fire(runtime, clock, FRIDAY_NOON)
    first = await ask(served, sandbox, "ritual checkin")
    second = await ask(served, sandbox, "ritual checkin feedback friday")

    assert first.args["text"] == "Checked in to *Feedback Friday*, +10 points."
    assert second.args["text"] == "You're already checked in to *Feedback Friday*."


# -- the sender's buttons -----------------------------------------------------------------------


def test_buttons_become_an_actions_block_under_the_text_which_stays_the_fallback() -> None:
    buttons = (
        Button(id="ritual-checkin:7", label="Check in", style="primary"),
        Button(id="skip", label="Not today", style="secondary"),
    )

    rendered = content(rich(bold("Office Hours"), " are open"), buttons)

    assert rendered["text"] == "*Office Hours* are open"
    section, actions = rendered["blocks"]
    assert section == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Office Hours* are open"},
    }
    checkin, skip = actions["elements"]
    assert checkin == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Check in"},
        "action_id": "ritual-checkin:7",
        "value": "ritual-checkin:7",
        "style": "primary",
    }
    assert "style" not in skip  # Slack has primary and danger only


def test_long_text_under_buttons_is_split_into_sections_on_line_breaks() -> None:
    long_text = "\n".join(f"line {i} " + "x" * 90 for i in range(60))
    split = content(rich(long_text), (Button(id="a", label="A"),))

    sections = [b for b in split["blocks"] if b["type"] == "section"]
    assert len(sections) == 2
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert "\n".join(b["text"]["text"] for b in sections) == long_text


async def test_a_post_with_buttons_is_delivered_with_its_blocks(sandbox: SlackSandbox) -> None:
    sender = SlackSender(sandbox.bot_token, api_base=sandbox.api_base)
    effect = Effect(
        id=1,
        key="k",
        platform="slack",
        action="post",
        target=f"channel:{CHANNEL}",
        message=Post(
            to=Purpose(name="rituals"),
            body=rich("Check in!"),
            buttons=(Button(id="ritual-checkin:1", label="Go"),),
        ),
        attempts=0,
    )

    delivered = await sender.send(effect)

    (message,) = sandbox.messages_in(CHANNEL)
    assert delivered is not None and message["ts"] == delivered.message_id
    assert message["blocks"][1]["elements"][0]["action_id"] == "ritual-checkin:1"
