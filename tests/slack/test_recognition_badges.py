"""Badges on Slack, end to end: signed commands into the real bolt app, the sandbox answering."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.models import PlatformSpace
from bot.runtime import Runtime
from bot.sandbox.slack import RecordedCall, SlackSandbox
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.engagement import ActivityKind, record_activity
from bot.slack.recognition import badges
from bot.slack.sender import SlackSender
from tests.fuzz.observe import slack_pings
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served

pytestmark = pytest.mark.e2e

KUDOS = "C0KUDOS"
BOB = "U0BOB"


@pytest.fixture(autouse=True)
async def workspace(sandbox: SlackSandbox, runtime: Runtime, served: Served) -> None:
    """Bob, the recognition channel (set by command) and the outbox sending to the sandbox."""
    sandbox.add_user(BOB, "bob", real_name="Bob Builder")
    sandbox.add_channel(KUDOS, "kudos", members=[MEMBER, MODERATOR, BOB])
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))
    answer = await ask(served, sandbox, "channel set recognition", MODERATOR, KUDOS)
    assert "posts now go to" in answer.args["text"]


async def ask(
    served: Served, sandbox: SlackSandbox, text: str, user_id: str = MEMBER, channel: str = CHANNEL
) -> RecordedCall:
    """Run a command and return the ephemeral answer it got."""
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=channel
    )
    assert reply.status == 200
    return await sandbox.wait_for_call("response_url", since=seen)


def posts_in(sandbox: SlackSandbox, channel: str) -> list[RecordedCall]:
    return [
        call
        for call in sandbox.calls_to("chat.postMessage")
        if call.ok and call.response["channel"] == channel
    ]


async def test_a_moderator_awards_a_badge_and_the_member_sees_it(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    given = await ask(served, sandbox, f"badge award <@{MEMBER}|ada> Founding Member", MODERATOR)
    assert given.args["text"] == (
        "*ada* now has 🌱 *Founding Member*; it is announced and they get a DM."
    )
    again = await ask(served, sandbox, f"badge award <@{MEMBER}> founding member", MODERATOR)
    assert "ada already has the Founding Member badge" in again.args["text"]
    await runtime.dispatcher.drain()

    (announced,) = posts_in(sandbox, KUDOS)
    assert "ada" in announced.args["text"]
    assert f"<@{MEMBER}>" not in announced.args["text"]
    assert slack_pings(announced.args, {MEMBER}) == []
    dms = [
        c
        for c in sandbox.calls_to("chat.postMessage")
        if c.ok and "You earned the" in str(c.args.get("text"))
    ]
    assert len(dms) == 1

    mine = await ask(served, sandbox, "badges")
    assert mine.args["text"].startswith("*Your badges*\n🌱 *Founding Member* · ")
    assert "🔁 *Ritual Regular* · earned at 4 ritual check-ins · 0 hold it" in mine.args["text"]
    theirs = await ask(served, sandbox, f"badges <@{MEMBER}>", BOB)
    assert theirs.args["text"].startswith("*ada's badges*\n🌱 *Founding Member*")

    taken = await ask(served, sandbox, f"badge revoke <@{MEMBER}> Founding Member", MODERATOR)
    assert taken.args["text"] == "*ada* no longer has 🌱 *Founding Member*."
    again = await ask(served, sandbox, f"badge revoke <@{MEMBER}> Founding Member", MODERATOR)
    assert "doesn't have the Founding Member badge" in again.args["text"]


async def test_a_member_is_refused_and_an_unknown_badge_gets_suggestions(
    served: Served, sandbox: SlackSandbox
) -> None:
    refused = await ask(served, sandbox, f"badge award <@{BOB}> Advocate", MEMBER)
    assert "Only moderators" in refused.args["text"]
    unknown = await ask(served, sandbox, f"badge award <@{BOB}> Expert", MODERATOR)
    assert (
        "There is no badge called 'Expert'. Try one of: Community Expert." in (unknown.args["text"])
    )
    usage = await ask(served, sandbox, "badge award Advocate", MODERATOR)
    assert "Mention the member" in usage.args["text"]


async def test_a_rule_badge_is_announced_without_pinging(
    sandbox: SlackSandbox, runtime: Runtime, clock
) -> None:
    async with runtime.sessions() as session, session.begin():
        space = await session.scalar(
            select(PlatformSpace.external_id).where(PlatformSpace.platform == "slack")
        )
    caller = Caller("slack", space, BOB, "Bob Builder", Role.MEMBER)
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

    (announced,) = posts_in(sandbox, KUDOS)
    assert announced.args["text"].startswith("🔁 Bob Builder earned the *Ritual Regular* badge")
    assert slack_pings(announced.args, {BOB}) == []


async def test_a_moderator_creates_a_badge_with_the_form(
    served: Served, sandbox: SlackSandbox
) -> None:
    seen = len(sandbox.calls)
    await served.sender.send_slash_command(
        "/flywheel", "badge create", user_id=MODERATOR, channel_id=CHANNEL
    )
    opened = await sandbox.wait_for_call("views.open", since=seen)
    assert opened.ok, opened.response

    def values(rule: str) -> dict:
        typed = {badges.NAME: "Bug Hunter", badges.EMOJI: "🐛", badges.RULE: rule}
        return {
            block: {block: {"type": "plain_text_input", "value": v}} for block, v in typed.items()
        }

    bad = await served.sender.send_view_submission(
        str(opened.args["view"]["callback_id"]),
        values("bugs >= 3"),
        user_id=MODERATOR,
        view_id=str(opened.response["view"]["id"]),
    )
    assert bad.json()["response_action"] == "errors"
    assert "no counter 'bugs'" in bad.json()["errors"][badges.RULE]

    seen = len(sandbox.calls)
    good = await served.sender.send_view_submission(
        str(opened.args["view"]["callback_id"]),
        values("points >= 500"),
        user_id=MODERATOR,
        view_id=str(opened.response["view"]["id"]),
    )
    assert good.status == 200
    told = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert told.args["text"] == "Created the badge 🐛 *Bug Hunter*: earned at 500 points."
    listed = await ask(served, sandbox, "badges")
    assert "🐛 *Bug Hunter* · earned at 500 points · 0 hold it" in listed.args["text"]


async def test_badges_with_long_descriptions_are_paged_within_slacks_section_limit(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock
) -> None:
    """Twelve lines of long names and descriptions (escaped `&` is five characters) went
    over a section's 3,000 characters: Slack refused the answer and `badges` showed nothing."""
    from bot.services import recognition

    async with runtime.sessions() as session, session.begin():
        space = await session.scalar(
            select(PlatformSpace.external_id).where(PlatformSpace.platform == "slack")
        )
        mod = await resolve_actor(
            session,
            clock,
            community_id=runtime.community_id,
            caller=Caller("slack", space, MODERATOR, "Mod", Role.MODERATOR),
        )
        for n in range(12):
            await recognition.create_badge(
                session,
                clock,
                mod,
                recognition.BadgeDraft(
                    name=f"Tools & Tips & Tricks & Things {n:02} " + "&" * 20,
                    emoji="🧰",
                    description="R&D " * 75,
                ),
            )

    seen = 0
    pages = []
    answer = await ask(served, sandbox, "badges")
    while True:
        assert answer.ok, answer.response
        (section, *_) = answer.args["blocks"]
        assert len(section["text"]["text"]) <= 3000
        pages.append(section["text"]["text"])
        buttons = [
            element
            for block in answer.args["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == badges.PAGE_ACTION
        ]
        if not buttons:
            break
        seen = len(sandbox.calls)
        await served.sender.send_block_action(
            badges.PAGE_ACTION, buttons[0]["value"], user_id=MEMBER, channel_id=CHANNEL
        )
        answer = await sandbox.wait_for_call("response_url", since=seen)
    shown = "\n".join(pages)
    assert all(f"Things {n:02}" in shown for n in range(12))


async def test_a_bot_is_refused_a_badge_as_on_discord(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    """`badge award <@bot>` made a member of the bot, gave it the badge and announced it."""
    sandbox.add_user("U0ROBOT", "robot", real_name="Robot", is_bot=True)
    refused = await ask(served, sandbox, "badge award <@U0ROBOT> Advocate", MODERATOR)
    assert "Bots don't hold badges" in refused.args["text"]
    refused = await ask(served, sandbox, "badge award USLACKBOT Advocate", MODERATOR)
    assert "Bots don't hold badges" in refused.args["text"]
    listed = await ask(served, sandbox, "badges <@U0ROBOT>")
    assert "Bots don't hold badges" in listed.args["text"]
    await runtime.dispatcher.drain()
    assert posts_in(sandbox, KUDOS) == []


async def test_a_hand_award_that_is_not_announced_says_so(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock
) -> None:
    """Community Spotlight by hand to someone whose featured work is anonymous is only DMed:
    the moderator was told "it is announced"."""
    from bot.models import Consent, SubmissionStatus, UgcSubmission

    async with runtime.sessions() as session, session.begin():
        space = await session.scalar(
            select(PlatformSpace.external_id).where(PlatformSpace.platform == "slack")
        )
        bob = await resolve_actor(
            session,
            clock,
            community_id=runtime.community_id,
            caller=Caller("slack", space, BOB, "Bob Builder", Role.MEMBER),
        )
        session.add(
            UgcSubmission(
                community_id=runtime.community_id,
                member_id=bob.member_id,
                platform="slack",
                title="My bench",
                story="Made it",
                links=[],
                content_key="bench",
                consent=Consent.PUBLIC_ANONYMOUS,
                status=SubmissionStatus.APPROVED,
                featured=True,
                submitted_at=clock.now(),
                decided_at=clock.now(),
            )
        )
    given = await ask(served, sandbox, f"badge award <@{BOB}> Community Spotlight", MODERATOR)
    assert (
        "now has 🔦 *Community Spotlight*; they get a DM. It is not announced"
        in (given.args["text"])
    )
    other = await ask(served, sandbox, f"badge award <@{BOB}> Advocate", MODERATOR)
    assert other.args["text"].endswith("it is announced and they get a DM.")
    await runtime.dispatcher.drain()
    (announced,) = posts_in(sandbox, KUDOS)
    assert "Advocate" in announced.args["text"]
