"""Accepted answers: who may mark one, no points for oneself, one per question, the times kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.errors import Forbidden, Invalid
from bot.events import decode
from bot.messages import DirectMessage
from bot.models import (
    AcceptedAnswer,
    Activity,
    AuditEntry,
    EventRecord,
    Member,
    MemberScore,
    OutboxMessage,
)
from bot.services import members, privacy
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.recognition import (
    MessageRef,
    QuestionRef,
    accept_answer,
    answer_times,
    ledger_scores,
    rank_of,
)
from bot.services.recognition.scores import on_activity_recorded
from tests.conftest import make_spaces
from tests.effects import message_of, text_of

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POINTS = 25


async def actor(session, clock, community_id, user_id, role=Role.MEMBER):
    caller = Caller("discord", "111", user_id, user_id.title(), role, "c1")
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


def question(user="ada", message="q1", *, at=T0, first=None, channel="c1"):
    return QuestionRef(
        platform="discord",
        space_id="111",
        channel_id=channel,
        message_id=message,
        user_id=user,
        posted_at=at,
        display_name=user.title(),
        link=f"https://chat.example/{channel}/{message}",
        first_response_at=first,
    )


def reply(user="bob", message="r1", *, at=T0 + timedelta(minutes=30), bot=False, channel="c1"):
    return MessageRef(
        platform="discord",
        space_id="111",
        channel_id=channel,
        message_id=message,
        user_id=user,
        posted_at=at,
        display_name=user.title(),
        is_bot=bot,
    )


async def score(session, clock) -> None:
    """Deliver the activity.recorded events to the score rows, as the bus would."""
    records = (
        await session.scalars(
            select(EventRecord).where(
                EventRecord.name == "activity.recorded", EventRecord.done_at.is_(None)
            )
        )
    ).all()
    for record in records:
        await on_activity_recorded(session, clock, decode(record.name, record.payload))
        record.done_at = clock.now()


async def member(session, community_id, name) -> Member:
    found = await session.scalar(
        select(Member).where(Member.community_id == community_id, Member.display_name == name)
    )
    assert found is not None
    await session.refresh(found)
    return found


async def helpers(session, clock, community_id, member_id) -> tuple[int, int]:
    board = await rank_of(session, community_id, "helpers", "all", clock.now(), member_id)
    points = await rank_of(session, community_id, "points", "all", clock.now(), member_id)
    return board.score, points.score


@pytest.fixture
async def community(spaces):
    return spaces[0].community_id


async def test_the_asker_marks_a_reply_and_the_answerer_is_credited_with_the_times_kept(
    session, clock, community
):
    ada = await actor(session, clock, community, "ada")
    clock.set(T0 + timedelta(hours=2))
    first = T0 + timedelta(minutes=10)

    result = await accept_answer(
        session, clock, ada, question=question(first=first), answer=reply(), points=POINTS
    )
    await score(session, clock)

    assert (result.outcome, result.answerer, result.points) == ("accepted", "Bob", POINTS)
    bob = await member(session, community, "Bob")
    assert bob.points_total == POINTS
    assert await helpers(session, clock, community, bob.id) == (1, POINTS)
    row = await session.scalar(select(AcceptedAnswer))
    assert (row.asked_at, row.first_response_at) == (T0, first)
    # Time to answer runs to the answer's own message; when it was marked is kept apart.
    assert row.answered_at == T0 + timedelta(minutes=30)
    assert row.accepted_at == T0 + timedelta(hours=2)
    assert (row.asker_member_id, row.answerer_member_id, row.accepted_by) == (
        ada.member_id,
        bob.id,
        ada.member_id,
    )
    ledger = await session.scalar(select(Activity).where(Activity.member_id == bob.id))
    assert (ledger.kind, ledger.source_key) == ("answer_accepted", f"answer:{row.uid}:0")
    events = list(
        await session.scalars(select(EventRecord).where(EventRecord.name.like("answer%")))
    )
    assert [(e.name, e.payload["member_id"]) for e in events] == [("answer.accepted", bob.id)]
    (dm,) = (await session.scalars(select(OutboxMessage))).all()
    assert isinstance(message_of(dm), DirectMessage) and message_of(dm).member_id == bob.id
    assert dm.key.startswith(f"answer-accepted:{row.uid}:0")
    assert "marked as accepted by the person who asked: +25 points" in text_of(dm)
    # The asker's own mark is not a moderator action: nothing audited.
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0


async def test_without_a_first_response_found_the_answer_is_the_first_response(
    session, clock, community
):
    ada = await actor(session, clock, community, "ada")
    later = T0 + timedelta(hours=5)
    await accept_answer(
        session,
        clock,
        ada,
        question=question(first=later),  # a "first" reply after the answer cannot be first
        answer=reply(),
        points=POINTS,
    )
    row = await session.scalar(select(AcceptedAnswer))
    assert row.first_response_at == row.answered_at == T0 + timedelta(minutes=30)


async def test_someone_who_neither_asked_nor_moderates_is_refused(session, clock, community):
    carol = await actor(session, clock, community, "carol")
    with pytest.raises(Forbidden, match="Only the person who asked, or a moderator"):
        await accept_answer(session, clock, carol, question=question(), answer=reply())
    assert await session.scalar(select(func.count()).select_from(AcceptedAnswer)) == 0
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0


@pytest.mark.parametrize(
    ("marker", "role", "answer", "code"),
    [
        ("ada", Role.MEMBER, reply(user="ada"), "answer.own"),  # the asker's own message
        ("mod", Role.MODERATOR, reply(user="ada"), "answer.asker"),  # a moderator marks it
        ("mod", Role.MODERATOR, reply(user="mod"), "answer.own"),  # a moderator's own reply
        ("ada", Role.MEMBER, reply(user="helperbot", bot=True), "answer.bot"),
        ("ada", Role.MEMBER, reply(at=T0 - timedelta(minutes=1)), "answer.before"),
    ],
)
async def test_no_points_for_oneself_for_a_bot_or_for_a_message_before_the_question(
    session, clock, community, marker, role, answer, code
):
    caller = await actor(session, clock, community, marker, role)
    with pytest.raises(Invalid) as refused:
        await accept_answer(session, clock, caller, question=question(), answer=answer)
    assert refused.value.code == code
    assert await session.scalar(select(func.count()).select_from(AcceptedAnswer)) == 0
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0


async def test_a_question_has_one_answer_and_the_asker_cannot_change_it(session, clock, community):
    ada = await actor(session, clock, community, "ada")
    await accept_answer(session, clock, ada, question=question(), answer=reply(), points=POINTS)

    again = await accept_answer(
        session, clock, ada, question=question(), answer=reply(), points=POINTS
    )
    with pytest.raises(Invalid, match="already has an accepted answer: Bob's") as refused:
        await accept_answer(
            session, clock, ada, question=question(), answer=reply("carol", "r2"), points=POINTS
        )

    assert (again.outcome, again.points) == ("unchanged", 0)
    assert "Only a moderator can change it" in refused.value.message
    assert await session.scalar(select(func.count()).select_from(Activity)) == 1
    assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_a_moderator_moves_the_answer_and_its_points(session, clock, community):
    ada = await actor(session, clock, community, "ada")
    mod = await actor(session, clock, community, "mod", Role.MODERATOR)
    await accept_answer(session, clock, ada, question=question(), answer=reply(), points=POINTS)
    clock.advance(3600)

    moved = await accept_answer(
        session,
        clock,
        mod,
        question=question(),
        answer=reply("carol", "r2", at=T0 + timedelta(minutes=45)),
        points=POINTS,
    )
    await score(session, clock)

    assert (moved.outcome, moved.answerer, moved.previous_answerer) == ("changed", "Carol", "Bob")
    bob, carol = await member(session, community, "Bob"), await member(session, community, "Carol")
    assert (bob.points_total, carol.points_total) == (0, POINTS)
    assert await helpers(session, clock, community, bob.id) == (0, 0)
    assert await helpers(session, clock, community, carol.id) == (1, POINTS)
    row = await session.scalar(select(AcceptedAnswer))
    assert (row.revision, row.answerer_member_id, row.accepted_by) == (1, carol.id, mod.member_id)
    assert row.answered_at == T0 + timedelta(minutes=45)
    keys = set(await session.scalars(select(Activity.source_key)))
    assert keys == {f"answer:{row.uid}:0", f"answer-moved:{row.uid}:0", f"answer:{row.uid}:1"}
    (entry,) = (await session.scalars(select(AuditEntry))).all()
    assert (entry.action, entry.about_member_id) == ("recognition.answer_changed", carol.id)
    # The score rows still say what the ledger says.
    rows = {
        (r.member_id, r.board, r.period, r.period_start): r.score
        for r in await session.scalars(select(MemberScore))
        if r.score
    }
    assert rows == {k: v for k, v in (await ledger_scores(session, community)).items() if v}


async def test_the_medians_cover_the_questions_marked_in_the_window(session, clock, community):
    ada = await actor(session, clock, community, "ada")
    # (first response, answer) after each question, in minutes
    for number, (first, answered) in enumerate([(5, 60), (10, 20), (30, 90)]):
        asked = T0 + timedelta(days=number)
        clock.set(asked + timedelta(hours=3))
        await accept_answer(
            session,
            clock,
            ada,
            question=question(
                message=f"q{number}", at=asked, first=asked + timedelta(minutes=first)
            ),
            answer=reply(message=f"r{number}", at=asked + timedelta(minutes=answered)),
            points=POINTS,
        )

    everything = await answer_times(session, community, since=T0, until=T0 + timedelta(days=7))
    last_two = await answer_times(
        session, community, since=T0 + timedelta(days=1), until=T0 + timedelta(days=7)
    )
    nothing = await answer_times(session, community, since=T0 - timedelta(days=7), until=T0)

    assert (everything.questions, everything.median_first_response_seconds) == (3, 600.0)
    assert everything.median_answer_seconds == 3600.0
    assert (last_two.questions, last_two.median_answer_seconds) == (2, 55 * 60.0)
    assert (nothing.questions, nothing.median_answer_seconds) == (0, None)


async def test_export_shows_the_answers_and_erasure_forgets_the_member_but_keeps_the_times(
    session, clock, community
):
    ada = await actor(session, clock, community, "ada")
    await accept_answer(session, clock, ada, question=question(), answer=reply(), points=POINTS)
    bob = await member(session, community, "Bob")

    exported = await privacy.export_member(session, bob.id)
    asked = await privacy.export_member(session, ada.member_id)
    await privacy.delete_member(session, clock, member_id=bob.id)

    answers = exported["recognition"]["answers"]
    assert [a["answer"]["message"] for a in answers["answers_accepted"]] == ["r1"]
    assert answers["questions_asked"] == []
    mine = asked["recognition"]["answers"]
    assert [q["question"]["message"] for q in mine["questions_asked"]] == ["q1"]
    row = await session.scalar(select(AcceptedAnswer).execution_options(populate_existing=True))
    assert row.answerer_member_id is None and row.asker_member_id == ada.member_id
    times = await answer_times(session, community, since=T0, until=T0 + timedelta(days=1))
    assert (times.questions, times.median_answer_seconds) == (1, 1800.0)
    # Someone who asked to be erased is not brought back by a later mark of their reply.
    with pytest.raises(Invalid, match="asked this community to erase their data"):
        await accept_answer(
            session, clock, ada, question=question(message="q2"), answer=reply(message="r9")
        )


async def test_two_marks_at_the_same_instant_leave_one_answer_and_one_credit(committed, clock):
    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        ada = await actor(session, clock, discord.community_id, "ada")

    async def marking(number: int, replier: str):
        async with committed() as session, session.begin():
            return await accept_answer(
                session,
                clock,
                ada,
                question=question(message=f"q{number}"),
                answer=reply(replier, f"r{number}-{replier}"),
                points=POINTS,
                daily_limit=10,  # one replier may win all four
            )

    for number in range(4):  # who starts first alternates
        marks = [marking(number, "bob"), marking(number, "carol")]
        results = await asyncio.gather(
            *(marks if number % 2 else marks[::-1]), return_exceptions=True
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(accepted) == 1 and accepted[0].outcome == "accepted"
        assert [getattr(r, "code", r) for r in refused] == ["answer.taken"]
    async with committed() as session:
        credits = (await session.scalars(select(Activity.source_key))).all()
        dms = await session.scalar(select(func.count()).select_from(OutboxMessage))
        questions = await session.scalar(select(func.count()).select_from(AcceptedAnswer))
    assert (len(credits), len(set(credits)), dms, questions) == (4, 4, 4, 4)


async def test_one_askers_questions_credit_the_same_answerer_at_most_the_daily_limit(
    session, clock, community
):
    ada = await actor(session, clock, community, "ada")
    clock.set(T0 + timedelta(hours=1))

    async def mark(n: int, who: str = "bob"):
        return await accept_answer(
            session,
            clock,
            ada,
            question=question(message=f"q{n}", at=T0 + timedelta(minutes=n)),
            answer=reply(who, f"r{n}", at=T0 + timedelta(minutes=n, seconds=30)),
            points=POINTS,
            daily_limit=2,
        )

    results = [await mark(n) for n in range(4)]
    await score(session, clock)

    # Two people taking turns could otherwise trade 25 points a message, without end.
    assert [(r.outcome, r.points, r.limited) for r in results] == [
        ("accepted", POINTS, False),
        ("accepted", POINTS, False),
        ("accepted", 0, True),
        ("accepted", 0, True),
    ]
    bob = await member(session, community, "Bob")
    assert bob.points_total == 2 * POINTS
    assert await helpers(session, clock, community, bob.id) == (2, 2 * POINTS)
    # Every answer is still marked (the scorecard keeps its times); only two were told by DM.
    assert await session.scalar(select(func.count()).select_from(AcceptedAnswer)) == 4
    assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    # Someone else answering her is not limited by Bob's count, and a day later Bob earns again.
    assert (await mark(4, "carol")).points == POINTS
    clock.advance(24 * 3600)
    assert (await mark(5)).points == POINTS


async def test_no_points_for_a_reply_by_an_account_linked_to_the_asker_or_the_marker(
    session, clock, community
):
    # Ada links her Slack account, and then from Slack a second Discord account, "ada-alt":
    # three accounts, one member.
    slack_ada = Caller("slack", "T1", "U-ADA", "Ada", Role.MEMBER)
    ada = await actor(session, clock, community, "ada")
    first = await resolve_actor(session, clock, community_id=community, caller=slack_ada)
    await members.link_finish(
        session, clock, first, (await members.link_start(session, clock, ada)).code
    )
    again = await resolve_actor(session, clock, community_id=community, caller=slack_ada)
    alt = await actor(session, clock, community, "ada-alt")
    await members.link_finish(
        session, clock, alt, (await members.link_start(session, clock, again)).code
    )
    assert (await actor(session, clock, community, "ada-alt")).member_id == ada.member_id
    mod = await actor(session, clock, community, "mod", Role.MODERATOR)

    refused = []
    for marker in (ada, mod):
        with pytest.raises(Invalid) as caught:
            await accept_answer(
                session, clock, marker, question=question(), answer=reply("ada-alt"), points=POINTS
            )
        refused.append(caught.value.code)
    # Ada as a moderator marking her alt's reply to Bob's question: her own, by another name.
    ada_moderating = await actor(session, clock, community, "ada", Role.MODERATOR)
    with pytest.raises(Invalid) as own:
        await accept_answer(
            session,
            clock,
            ada_moderating,
            question=question("bob", "q2"),
            answer=reply("ada-alt", "r2"),
            points=POINTS,
        )
    refused.append(own.value.code)

    assert refused == ["answer.asker", "answer.asker", "answer.own"]
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0
    assert await session.scalar(select(func.count()).select_from(AcceptedAnswer)) == 0
