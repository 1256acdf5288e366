"""Accepted answers end to end on Slack: the "Mark as answer" message shortcut on a thread reply
credits the answerer once, keeps the question's times, DMs them without a ping, lets a moderator
move the answer (and its points), and refuses whoever may not mark, marking oneself, the question
itself and a message outside a thread."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.models import AcceptedAnswer, Activity, AuditEntry, Identity, Member
from bot.sandbox.slack import RecordedCall, SlackSandbox
from bot.services.recognition import rank_of
from bot.settings import load_settings
from bot.slack.manifest import slack_manifest
from bot.slack.recognition import answers
from bot.slack.sender import SlackSender
from tests.fuzz.observe import slack_pings
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served

pytestmark = pytest.mark.e2e

BOB = "U0BOB"
CAROL = "U0CAROL"


@pytest.fixture(autouse=True)
def workspace(sandbox: SlackSandbox, runtime, served: Served) -> None:
    """Two more members, and the outbox sending to the sandbox."""
    sandbox.add_user(BOB, "bob", real_name="Bob Builder")
    sandbox.add_user(CAROL, "carol", real_name="Carol Cook")
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))


async def mark(served: Served, sandbox: SlackSandbox, ts: str, user_id: str) -> str:
    """Run the shortcut on a message of #general and return the ephemeral answer's text."""
    seen = len(sandbox.calls)
    reply = await served.sender.send_message_action(
        answers.CALLBACK_ID, user_id=user_id, channel_id=CHANNEL, message_ts=ts
    )
    assert reply.status == 200
    answered: RecordedCall = await sandbox.wait_for_call("response_url", since=seen)
    assert answered.args.get("response_type") == "ephemeral"
    return str(answered.args["text"])


def say(sandbox: SlackSandbox, user: str, text: str, thread: str | None = None) -> str:
    return str(sandbox.add_user_message(CHANNEL, user, text, thread_ts=thread)["ts"])


def posted(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


async def member_id(runtime, user_id: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(select(Identity.member_id).where(Identity.user_id == user_id))
    assert found is not None
    return found


async def test_the_asker_marks_a_thread_reply_and_the_answerer_is_credited_with_the_times(
    served, sandbox, runtime, clock
):
    question = say(sandbox, MEMBER, "How do I reset the mixer?")
    say(sandbox, MEMBER, "anyone?", question)  # the asker: not a response
    first = say(sandbox, CAROL, "Did you try turning it off?", question)
    reply = say(sandbox, BOB, "Hold the button for 10 s.", question)

    told = await mark(served, sandbox, reply, MEMBER)

    assert "Marked *bob*'s reply as the accepted answer: +25 points" in told
    bob = await member_id(runtime, BOB)
    async with runtime.sessions() as session:
        row = await session.scalar(select(AcceptedAnswer))
        credit = await session.scalar(select(Activity).where(Activity.member_id == bob))
    assert (row.platform, row.channel_id, row.message_id) == ("slack", CHANNEL, question)
    assert row.answer_message_id == reply
    assert (row.asked_at, row.first_response_at, row.answered_at) == (
        posted(question),
        posted(first),
        posted(reply),
    )
    assert row.accepted_by == await member_id(runtime, MEMBER)
    assert (credit.kind, credit.points) == ("answer_accepted", 25)
    await runtime.bus.process_pending()
    async with runtime.sessions() as session:
        board = await rank_of(session, runtime.community_id, "helpers", "all", clock.now(), bob)
    assert (board.score, board.rank) == (1, 1)
    # The answerer is told by DM, with a link to the question, pinging nobody.
    await runtime.dispatcher.drain()
    dm = sandbox.messages_in(sandbox.dm_channel_id(BOB))[-1]
    assert "was marked as accepted by the person who asked: +25 points" in dm["text"]
    assert f"archives/{CHANNEL}/p{question.replace('.', '')}" in dm["text"]
    assert slack_pings(dm, {MEMBER, BOB, CAROL, MODERATOR}) == [] and "<@" not in dm["text"]


async def test_a_member_who_did_not_ask_is_refused(served, sandbox, runtime):
    question = say(sandbox, MEMBER, "How do I reset the mixer?")
    reply = say(sandbox, BOB, "Hold it.", question)

    told = await mark(served, sandbox, reply, CAROL)

    assert told == "Only the person who asked, or a moderator, can mark the answer to a question."
    async with runtime.sessions() as session:
        assert await session.scalar(select(AcceptedAnswer)) is None
        assert await session.scalar(select(Activity)) is None


async def test_no_points_for_oneself_and_only_replies_in_a_thread_answer(served, sandbox, runtime):
    question = say(sandbox, MEMBER, "How do I reset the mixer?")
    own = say(sandbox, MEMBER, "Found it myself!", question)
    loose = say(sandbox, BOB, "Hold the button.")

    assert (await mark(served, sandbox, own, MEMBER)).startswith(
        "You cannot mark your own message as the answer"
    )
    outside = await mark(served, sandbox, loose, MEMBER)
    assert outside.startswith("That message is not in a thread")
    assert "reply in the question's thread" in outside
    assert (await mark(served, sandbox, question, MEMBER)).startswith("That is the question itself")
    async with runtime.sessions() as session:
        assert await session.scalar(select(AcceptedAnswer)) is None


async def test_a_moderator_moves_the_answer_and_its_points(served, sandbox, runtime):
    question = say(sandbox, MEMBER, "Which flour for bread?")
    wrong = say(sandbox, BOB, "Cake flour.", question)
    right = say(sandbox, CAROL, "Strong white flour.", question)
    await mark(served, sandbox, wrong, MEMBER)

    refused = await mark(served, sandbox, right, MEMBER)
    moved = await mark(served, sandbox, right, MODERATOR)

    assert refused.startswith("This question already has an accepted answer: bob's")
    assert "Moved the accepted answer from bob to *carol*" in moved
    async with runtime.sessions() as session:
        totals = dict(
            (await session.execute(select(Member.display_name, Member.points_total))).all()
        )
        audited = await session.scalar(select(AuditEntry.action))
    assert (totals["bob"], totals["carol"]) == (0, 25)
    assert audited == "recognition.answer_changed"


def test_the_manifest_offers_the_shortcut(tmp_path: Path):
    config = tmp_path / "bot.toml"
    config.write_text('[community]\nname = "Acme"\n', encoding="utf-8")
    manifest = slack_manifest(load_settings(config, environ={}), public_url="https://a.example")
    (shortcut,) = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", answers.CALLBACK_ID)
    assert len(shortcut["name"]) <= 24 and len(shortcut["description"]) <= 150


async def test_past_the_daily_limit_an_answer_is_marked_without_points_and_the_asker_is_told(
    served, sandbox, runtime
):
    told = []
    for n in range(4):  # the default limit is 3 a day for one asker and one answerer
        question = say(sandbox, MEMBER, f"Question number {n}?")
        reply = say(sandbox, BOB, f"Answer number {n}.", question)
        told.append(await mark(served, sandbox, reply, MEMBER))

    assert all("+25 points" in text for text in told[:3])
    assert "accepted answer, without points: bob already earned points for 3 answers" in told[3]
    bob = await member_id(runtime, BOB)
    async with runtime.sessions() as session:
        total = await session.scalar(select(Member.points_total).where(Member.id == bob))
        marked = len((await session.scalars(select(AcceptedAnswer))).all())
    assert (total, marked) == (75, 4)


async def test_a_deleted_question_leaves_no_question_to_answer(served, sandbox, runtime):
    question = say(sandbox, MEMBER, "How do I reset the mixer?")
    reply = say(sandbox, BOB, "Hold the button for 10 s.", question)
    sandbox.delete_user_message(CHANNEL, question)  # a tombstone keeps the thread

    told = await mark(served, sandbox, reply, MODERATOR)

    assert "first message is gone" in told
    async with runtime.sessions() as session:
        assert await session.scalar(select(AcceptedAnswer)) is None
        slackbot = await session.scalar(select(Identity).where(Identity.user_id == "USLACKBOT"))
    assert slackbot is None
