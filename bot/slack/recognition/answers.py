"""Accepted answers on Slack: the "Mark as answer" message shortcut (a message's ⋯ menu).

On Slack a question's replies are its thread: the shortcut works on a reply, the question
is the thread's parent, and ``conversations.replies`` gives both it and the first reply by
someone other than the asker (and not an app). Every rule (who may mark, no points for
oneself, one answer per question) is :func:`bot.services.recognition.accept_answer`'s; the
answer is ephemeral, through the shortcut's ``response_url``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.errors import Invalid
from bot.services import recognition
from bot.services.recognition import MessageRef, QuestionRef
from bot.slack.directory import as_dict
from bot.slack.front import PLATFORM, ActionCall, SlackFront
from bot.slack.render import mrkdwn

CALLBACK_ID = "mark_answer"
SHORTCUT_NAME = "Mark as answer"
# How many messages of the thread are read to find the question and its first response.
HISTORY_LIMIT = 100
HOW_TO = (
    "Use *Mark as answer* (the message's ⋯ menu) on a reply in the question's thread: "
    "the thread's first message is the question."
)
# What conversations.replies answers when the bot cannot read the channel.
UNREADABLE = frozenset({"not_in_channel", "channel_not_found", "missing_scope"})


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the Mark as answer shortcut."""
    app.shortcut(CALLBACK_ID)(front.action(mark_answer))


def _posted(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        raise Invalid("Slack sent a message I could not read; try again.") from None


def _is_bot(message: dict[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _permalink(domain: str, channel_id: str, ts: str) -> str | None:
    # Slack's documented permalink form; without the workspace's domain there is none.
    if not domain or not domain.replace("-", "").isalnum():
        return None
    return f"https://{domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"


async def _replies(call: ActionCall, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
    try:
        answer = await call.client.conversations_replies(
            channel=channel_id, ts=thread_ts, limit=HISTORY_LIMIT
        )
    except SlackApiError as error:
        if error.response.get("error") in UNREADABLE:
            raise Invalid(
                "I can't read this channel's threads: invite me to the channel "
                "(`/invite @Flywheel`) and try again.",
                code="answer.unreadable",
            ) from None
        raise
    return [as_dict(message) for message in answer.get("messages") or []]


async def mark_answer(call: ActionCall) -> None:
    """Mark a thread reply as the accepted answer to the thread's question."""
    message = as_dict(call.body.get("message"))
    team = as_dict(call.body.get("team"))
    team_id = str(team.get("id") or "")
    channel_id = call.channel_id or ""
    ts = str(message.get("ts") or "")
    thread_ts = str(message.get("thread_ts") or "")
    if not thread_ts:
        raise Invalid(
            "That message is not in a thread, so I can't tell which question it answers. " + HOW_TO,
            code="answer.no_question",
        )
    if thread_ts == ts:
        raise Invalid(
            "That is the question itself: use Mark as answer on the reply that answers it.",
            code="answer.question",
        )
    thread = await _replies(call, channel_id, thread_ts)
    parent = thread[0] if thread and thread[0].get("ts") == thread_ts else None
    # A deleted question that had replies stays as a tombstone (by USLACKBOT): no asker.
    if parent is None or parent.get("subtype") == "tombstone":
        raise Invalid(
            "This thread's first message is gone, so there is no question to answer.",
            code="answer.no_question",
        )
    asker = str(parent.get("user") or "")
    first = next(
        (m for m in thread[1:] if str(m.get("user") or "") != asker and not _is_bot(m)), None
    )
    domain = str(team.get("domain") or "")

    async def ref(of: dict[str, Any]) -> dict[str, Any]:
        user_id = str(of.get("user") or of.get("bot_id") or "")
        name = None
        if user_id and not _is_bot(of):
            found = await call.front.directory.lookup(call.client, team_id=team_id, user_id=user_id)
            name = found.display_name
        stamp = str(of.get("ts") or "")
        return {
            "platform": PLATFORM,
            "space_id": team_id,
            "channel_id": channel_id,
            "message_id": stamp,
            "user_id": user_id,
            "posted_at": _posted(stamp),
            "display_name": name,
            "is_bot": _is_bot(of),
            "link": _permalink(domain, channel_id, stamp),
        }

    question = QuestionRef(
        **await ref(parent),
        first_response_at=_posted(str(first["ts"])) if first else None,
    )
    answer = MessageRef(**await ref(message))
    runtime = call.runtime
    points = runtime.settings.recognition.answer_points
    limit = runtime.settings.recognition.answer_daily_limit
    async with call.acting() as (session, actor):
        result = await recognition.accept_answer(
            session,
            runtime.clock,
            actor,
            question=question,
            answer=answer,
            points=points,
            daily_limit=limit,
        )
    await call.reply(mrkdwn(recognition.accepted_words(result, points, limit)))
