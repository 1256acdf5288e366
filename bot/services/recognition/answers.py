"""Accepted answers: the asker, or a moderator, marks a reply as the answer to a question.

A front end describes both messages in neutral terms (:class:`MessageRef`, no text) and
calls :func:`accept_answer`. The rules:

- only the person who asked, or a moderator, may mark the answer;
- nobody marks their own message, and the asker's own message is never the answer (no
  points for oneself, also through linked accounts), nor is a bot's;
- one accepted answer per question (its platform, channel or thread, and message id: a
  unique key, so of two marks at the same instant one inserts and the other sees it). The
  asker cannot change it once marked; a **moderator** can mark another reply, which moves
  the points: the earlier answerer gets a negative ledger row of the same kind (so the
  points and helpers boards both go down by what it added), the new one the points.
  Each revision has its own ledger keys (``answer:<uid>:<revision>`` and
  ``answer-moved:<uid>:<revision>``), so nothing is counted twice, whatever is retried.

Two people taking turns asking and answering could trade points without end, so one
asker's questions credit the same answerer at most ``[recognition] answer_daily_limit``
times in 24 hours (counted under a lock on the answerer's row); past it the answer is still
marked (the scorecard keeps its times) but earns nothing, and nobody is told by DM.

The answerer earns ``[recognition] answer_points`` through the ledger (``answer_accepted``,
which the helpers board counts), is told by DM (through the outbox, once per revision,
without a ping), and ``answer.accepted`` is published for badges. The row keeps the
question's times for the scorecard (:func:`answer_times`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Forbidden, Invalid
from bot.events import Event, domain_event, publish
from bot.ids import new_uid
from bot.messages import DirectMessage, Rich, bold, link, rich
from bot.models import AcceptedAnswer, Activity, Member
from bot.outbox import send
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require
from bot.services.engagement import ActivityKind, record_activity
from bot.services.identities import ErasedPerson, resolve_member

ID_LENGTH = 64
MAX_POINTS = 10_000
LIMIT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class MessageRef:
    """A chat message as a front end saw it, without its text.

    ``channel_id`` is where the message is: a channel, or a thread (a forum post) by its
    own id. ``message_id`` is unique within it (a Discord snowflake, a Slack ``ts``).
    ``link`` is a URL that opens the message, shown in the answerer's DM.
    """

    platform: str
    space_id: str
    channel_id: str
    message_id: str
    user_id: str
    posted_at: datetime
    display_name: str | None = None
    is_bot: bool = False
    link: str | None = None


@dataclass(frozen=True)
class QuestionRef(MessageRef):
    """The question: a message, with the first reply by someone else if the front end found one."""

    first_response_at: datetime | None = None


@domain_event("answer.accepted")
@dataclass(frozen=True)
class AnswerAccepted(Event):
    """A member's reply was marked as the answer to a question (the Community Expert signal)."""

    community_id: int
    member_id: int  # the answerer
    question_uid: str
    accepted_by_member_id: int
    revision: int  # 0 for the first answer; a moderator's change adds one


@dataclass(frozen=True)
class AcceptResult:
    """What marking did: ``outcome`` is ``accepted``, ``changed`` or ``unchanged``.

    ``limited``: marked, but the answerer earned nothing (the asker's questions credited
    them ``daily_limit`` times in the last 24 hours already).
    """

    question_uid: str
    outcome: str
    answerer: str
    points: int
    previous_answerer: str | None
    asked_at: datetime
    first_response_at: datetime | None
    answered_at: datetime
    accepted_at: datetime
    limited: bool = False


@dataclass(frozen=True)
class AnswerTimes:
    """Median times for questions whose answer was marked in a period, in seconds."""

    questions: int
    median_first_response_seconds: float | None
    median_answer_seconds: float | None


def _check_ref(ref: MessageRef, actor: Actor, what: str) -> None:
    for value in (ref.channel_id, ref.message_id, ref.user_id, ref.space_id):
        if not value or len(value) > ID_LENGTH:
            raise Invalid(f"The {what} message could not be read; try again.", code="answer.ref")
    if ref.platform != actor.caller.platform or ref.space_id != actor.caller.space_id:
        raise Invalid(
            f"The {what} must be a message in this community's server or workspace.",
            code="answer.elsewhere",
        )
    if ref.posted_at.tzinfo is None:
        raise ValueError("posted_at must be timezone-aware")


def check_marking(actor: Actor, question: QuestionRef, answer: MessageRef) -> bool:
    """Refuse what may not be marked; return whether the caller is the asker."""
    _check_ref(question, actor, "question")
    _check_ref(answer, actor, "answer")
    asker = actor.caller.user_id == question.user_id
    if not asker:
        try:
            require(actor, Role.MODERATOR)
        except Forbidden:
            raise Forbidden(
                "Only the person who asked, or a moderator, can mark the answer to a question."
            ) from None
    if answer.is_bot:
        raise Invalid(
            "A bot's message cannot be the accepted answer: mark a member's reply.",
            code="answer.bot",
        )
    if answer.user_id == actor.caller.user_id:
        raise Invalid(
            "You cannot mark your own message as the answer: the asker or a moderator marks "
            "someone else's reply.",
            code="answer.own",
        )
    if answer.user_id == question.user_id:
        raise Invalid(
            "That message is by the person who asked: the answer must be someone else's reply.",
            code="answer.asker",
        )
    if answer.posted_at < question.posted_at:
        raise Invalid(
            "That message was posted before the question: mark a reply that came after it.",
            code="answer.before",
        )
    return asker


async def _member_of(session: AsyncSession, clock: Clock, actor: Actor, ref: MessageRef) -> int:
    resolved = await resolve_member(
        session,
        clock,
        space=actor.space,
        user_id=ref.user_id,
        display_name=ref.display_name,
        explicit=False,  # someone else's message is a passive signal of theirs
    )
    return resolved.member_id


async def _name(session: AsyncSession, member_id: int | None, fallback: str) -> str:
    if member_id is None:
        return fallback
    name = await session.scalar(select(Member.display_name).where(Member.id == member_id))
    return name or fallback


def _dm_body(question: QuestionRef, points: int, by_asker: bool) -> Rich:
    who = "the person who asked" if by_asker else "a moderator"
    earned = f": +{points} points. Thank you for helping!"
    if question.link:
        return rich(
            "Your answer to ",
            link(question.link, "this question"),
            f" was marked as accepted by {who}{earned}",
        )
    return rich(f"Your answer to a question was marked as accepted by {who}{earned}")


async def accept_answer(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    *,
    question: QuestionRef,
    answer: MessageRef,
    points: int = 25,
    daily_limit: int = 3,
) -> AcceptResult:
    """Mark ``answer`` as the answer to ``question``: credit the answerer once, keep the times."""
    by_asker = check_marking(actor, question, answer)
    if not 1 <= points <= MAX_POINTS:
        raise ValueError(f"answer points must be 1 to {MAX_POINTS}")
    if daily_limit < 1:
        raise ValueError("the daily limit of answers must be at least 1")
    try:
        answerer_id = await _member_of(session, clock, actor, answer)
    except ErasedPerson:
        raise Invalid(
            "The author of that message asked this community to erase their data, so their "
            "answer cannot earn points.",
            code="answer.erased",
        ) from None
    asker_id: int | None = actor.member_id
    if not by_asker:
        try:
            asker_id = await _member_of(session, clock, actor, question)
        except ErasedPerson:
            asker_id = None  # the question still counts for the scorecard, without them
    # Two accounts of one person (linked, even two on one platform through the other) are
    # one member: no points for answering oneself or marking one's own reply that way.
    if answerer_id == asker_id:
        raise Invalid(
            "That reply is by an account linked to the asker's: the answer must be someone "
            "else's reply.",
            code="answer.asker",
        )
    if answerer_id == actor.member_id:
        raise Invalid(
            "That reply is by an account linked to yours: the asker or a moderator marks "
            "someone else's reply.",
            code="answer.own",
        )
    now = clock.now()
    # The answer is itself a reply by someone else: the first response came no later.
    first = min(question.first_response_at or answer.posted_at, answer.posted_at)
    first = max(first, question.posted_at)
    inserted = await session.scalar(
        dialect_insert(session, AcceptedAnswer)
        .values(
            uid=new_uid(),
            community_id=actor.community_id,
            platform=question.platform,
            channel_id=question.channel_id,
            message_id=question.message_id,
            asker_member_id=asker_id,
            asked_at=question.posted_at,
            first_response_at=first,
            answer_channel_id=answer.channel_id,
            answer_message_id=answer.message_id,
            answerer_member_id=answerer_id,
            answered_at=answer.posted_at,
            accepted_at=now,
            accepted_by=actor.member_id,
            revision=0,
        )
        .on_conflict_do_nothing(
            index_elements=["community_id", "platform", "channel_id", "message_id"]
        )
        .returning(AcceptedAnswer.id)
    )
    row = await session.scalar(
        select(AcceptedAnswer)
        .where(
            AcceptedAnswer.community_id == actor.community_id,
            AcceptedAnswer.platform == question.platform,
            AcceptedAnswer.channel_id == question.channel_id,
            AcceptedAnswer.message_id == question.message_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    previous: str | None = None
    if inserted is None:
        current = await _name(session, row.answerer_member_id, "a member who has since left")
        if (row.answer_channel_id, row.answer_message_id) == (answer.channel_id, answer.message_id):
            return _result(row, "unchanged", current, 0, None)
        if actor.caller.role < Role.MODERATOR:
            raise Invalid(
                f"This question already has an accepted answer: {current}'s, marked on "
                f"{row.accepted_at:%d %b %Y}. Only a moderator can change it, by marking "
                "another reply as the answer.",
                code="answer.taken",
            )
        previous = current
        await _move(session, clock, actor, row, answer, answerer_id, first, now)
    outcome = "changed" if previous is not None else "accepted"
    if await _credited_today(session, row, asker_id, answerer_id, now) >= daily_limit:
        if not by_asker:
            await _audit(session, clock, actor, row, previous, answerer_id)
        answerer = await _name(session, answerer_id, answer.display_name or "a member")
        return _result(row, outcome, answerer, 0, previous, limited=True)
    credited = await record_activity(
        session,
        clock,
        member_id=answerer_id,
        kind=ActivityKind.ANSWER_ACCEPTED,
        points=points,
        source_key=f"answer:{row.uid}:{row.revision}",
        occurred_at=now,
        source_ref=f"answer:{row.uid}",
    )
    await publish(
        session,
        clock,
        AnswerAccepted(
            community_id=actor.community_id,
            member_id=credited.member_id,
            question_uid=row.uid,
            accepted_by_member_id=actor.member_id,
            revision=row.revision,
        ),
    )
    if not by_asker:
        await _audit(session, clock, actor, row, previous, credited.member_id)
    await send(
        session,
        clock,
        DirectMessage(
            member_id=credited.member_id,
            platform=question.platform,
            body=_dm_body(question, points, by_asker),
        ),
        key=f"answer-accepted:{row.uid}:{row.revision}",
        community_id=actor.community_id,
    )
    answerer = await _name(session, credited.member_id, answer.display_name or "a member")
    return _result(row, outcome, answerer, points if credited.counted else 0, previous)


async def _credited_today(
    session: AsyncSession,
    row: AcceptedAnswer,
    asker_id: int | None,
    answerer_id: int,
    now: datetime,
) -> int:
    """Return how many other answers of the asker's questions the answerer was marked for
    in the last 24 hours (0 when the asker is unknown)."""
    if asker_id is None:
        return 0
    # The answerer's row is locked first, so two marks at once count one after the other.
    await session.execute(select(Member.id).where(Member.id == answerer_id).with_for_update())
    found = await session.scalar(
        select(func.count())
        .select_from(AcceptedAnswer)
        .where(
            AcceptedAnswer.community_id == row.community_id,
            AcceptedAnswer.asker_member_id == asker_id,
            AcceptedAnswer.answerer_member_id == answerer_id,
            AcceptedAnswer.accepted_at > now - LIMIT_WINDOW,
            AcceptedAnswer.id != row.id,
        )
    )
    return int(found or 0)


async def _audit(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    row: AcceptedAnswer,
    previous: str | None,
    answerer_id: int,
) -> None:
    await audit(
        session,
        clock,
        actor,
        "recognition.answer_changed" if previous is not None else "recognition.answer_accepted",
        f"answer:{row.uid}",
        {"revision": row.revision},
        about_member_id=answerer_id,
    )


async def _move(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    row: AcceptedAnswer,
    answer: MessageRef,
    answerer_id: int,
    first: datetime,
    now: datetime,
) -> None:
    """Point the question at another answer (a moderator) and take back the earlier points."""
    seen = row.revision
    moved = await session.scalar(
        update(AcceptedAnswer)
        .where(AcceptedAnswer.id == row.id, AcceptedAnswer.revision == seen)
        .values(
            answer_channel_id=answer.channel_id,
            answer_message_id=answer.message_id,
            answerer_member_id=answerer_id,
            answered_at=answer.posted_at,
            first_response_at=min(row.first_response_at or first, first),
            accepted_at=now,
            accepted_by=actor.member_id,
            revision=seen + 1,
        )
        .returning(AcceptedAnswer.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Invalid(
            "Someone changed this question's answer at the same moment; look again and retry.",
            code="answer.race",
        )
    await session.refresh(row)
    # What the earlier answer earned, and who holds it now (linking may have moved it);
    # an erased answerer's row has lost its key, and keeps its points, anonymous.
    given = (
        await session.execute(
            select(Activity.member_id, Activity.points).where(
                Activity.community_id == row.community_id,
                Activity.source_key == f"answer:{row.uid}:{seen}",
            )
        )
    ).first()
    if given is not None:
        member_id, points = given
        await record_activity(
            session,
            clock,
            member_id=member_id,
            kind=ActivityKind.ANSWER_ACCEPTED,
            points=-points,
            source_key=f"answer-moved:{row.uid}:{seen}",
            occurred_at=now,
            source_ref=f"answer:{row.uid}",
        )


def _result(
    row: AcceptedAnswer,
    outcome: str,
    answerer: str,
    points: int,
    previous: str | None,
    *,
    limited: bool = False,
) -> AcceptResult:
    return AcceptResult(
        question_uid=row.uid,
        outcome=outcome,
        answerer=answerer,
        points=points,
        previous_answerer=previous,
        asked_at=row.asked_at,
        first_response_at=row.first_response_at,
        answered_at=row.answered_at,
        accepted_at=row.accepted_at,
        limited=limited,
    )


def duration_text(seconds: float) -> str:
    """Return a span of time in words a reply can show ("40 s", "12 min", "3 h", "2 days")."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 48 * 3600:
        return f"{whole // 3600} h"
    return f"{whole // 86400} days"


async def answer_times(
    session: AsyncSession, community_id: int, *, since: datetime, until: datetime
) -> AnswerTimes:
    """Return the median first-response and answer times of questions marked in [since, until).

    Time to answer is from the question to the accepted answer's message (not to when it
    was marked); first response is to the first reply by someone other than the asker.
    """
    rows = (
        await session.execute(
            select(
                AcceptedAnswer.asked_at,
                AcceptedAnswer.first_response_at,
                AcceptedAnswer.answered_at,
            ).where(
                AcceptedAnswer.community_id == community_id,
                AcceptedAnswer.accepted_at >= since,
                AcceptedAnswer.accepted_at < until,
            )
        )
    ).all()
    firsts = [(f - asked).total_seconds() for asked, f, _ in rows if f is not None]
    answers = [(answered - asked).total_seconds() for asked, _, answered in rows]
    return AnswerTimes(
        questions=len(rows),
        median_first_response_seconds=statistics.median(firsts) if firsts else None,
        median_answer_seconds=statistics.median(answers) if answers else None,
    )


def accepted_words(result: AcceptResult, points: int, limit: int) -> Rich:
    """Return what the person who marked an answer is told (each front end renders it);
    ``limit`` is the daily limit a ``limited`` result reached."""
    name = result.answerer
    if result.outcome == "unchanged":
        return rich(
            f"{name}'s reply is already the accepted answer to this question; nothing changed."
        )
    times = f"Answered {duration_text((result.answered_at - result.asked_at).total_seconds())}"
    if result.first_response_at is not None:
        first = duration_text((result.first_response_at - result.asked_at).total_seconds())
        times += f" after the question (first reply after {first})."
    else:
        times += " after the question."
    if result.limited:
        taken = ""
        if result.outcome == "changed":
            earlier = result.previous_answerer or "the earlier answerer"
            taken = f" (moved from {earlier}, whose points were taken back)"
        return rich(
            "Marked ",
            bold(name),
            f"'s reply as the accepted answer{taken}, without points: {name} already earned "
            f"points for {limit} answers to this member's questions in the last 24 hours. {times}",
        )
    if result.outcome == "changed":
        previous = result.previous_answerer or "the earlier answerer"
        return rich(
            f"Moved the accepted answer from {previous} to ",
            bold(name),
            f": the {points} points moved with it, and {name} is told by DM. {times}",
        )
    return rich(
        "Marked ",
        bold(name),
        f"'s reply as the accepted answer: +{points} points for them, and they are told by DM. "
        f"{times}",
    )
