"""Chat and reactions feeding points on Slack: nothing is answered, nothing is sent.

Members' messages (thread replies included) become neutral
:class:`~bot.services.recognition.MessageSeen` events (length and digest, never the text)
queued for the ingest pipeline, which applies the chat rules in batches. Edits, deletions,
joins and other subtypes are not chat. A ``reaction_added`` on a message gives its author
(``item_user``) points at once through :func:`~bot.services.recognition.record_reaction`:
never for their own reaction, nothing from or for a bot (users.info says, cached briefly).
Both subscribe through the one event dispatcher, so rituals' check-ins by thread reply and
by reaction hear the same events.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.services import recognition
from bot.slack.directory import as_dict
from bot.slack.front import PLATFORM, EventCall, SlackFront, ids_from_body

log = logging.getLogger(__name__)
# A member's own words: a plain message, a thread reply also sent to the channel, a file
# with a comment. Edits, deletions, joins, topic changes, bot_message... are not chat.
CHAT_SUBTYPES = frozenset({"", "thread_broadcast", "file_share"})
# Direct messages to the app are not community chat.
PRIVATE_CHANNEL_TYPES = frozenset({"im", "mpim"})


def _timestamp(ts: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(str(ts)), UTC)
    except (ValueError, OverflowError, OSError):
        return None


async def is_chat(call: EventCall) -> bool:
    """Match a person's message in a channel (not the app's own, not an edit or a join)."""
    event = call.event
    user = event.get("user")
    return (
        bool(user)
        and user != call.bot_user_id
        and str(event.get("subtype") or "") in CHAT_SUBTYPES
        and event.get("channel_type") not in PRIVATE_CHANNEL_TYPES
        and bool(event.get("channel"))
        and _timestamp(event.get("ts")) is not None
    )


async def chat_message(call: EventCall) -> None:
    """Queue the message for chat points (the pipeline applies the rules)."""
    event = call.event
    runtime = call.runtime
    text = str(event.get("text") or "")
    at = _timestamp(event.get("ts"))
    assert at is not None  # is_chat let only messages with a timestamp through
    await runtime.ingest.submit(
        recognition.MessageSeen(
            platform=PLATFORM,
            space_id=ids_from_body(call.body)[0],
            user_id=str(event["user"]),
            channel_id=str(event["channel"]),
            message_id=str(event["ts"]),
            text_length=recognition.text_length(text),
            text_digest=recognition.text_digest(text),
            at=at,
            # An app posting as itself carries a bot_id; the pipeline skips (and counts) it.
            is_bot=bool(event.get("bot_id")),
            community_id=runtime.community_id,
        )
    )


async def is_reaction(call: EventCall) -> bool:
    """Match a reaction to a message whose author Slack names."""
    event = call.event
    item = as_dict(event.get("item"))
    return (
        item.get("type") == "message"
        and bool(item.get("channel"))
        and bool(item.get("ts"))
        and bool(event.get("user"))
        and bool(event.get("item_user"))
        and bool(event.get("reaction"))
    )


async def reaction_added(call: EventCall) -> None:
    """Give the message's author points for someone else's reaction; only the log says so."""
    event = call.event
    item = as_dict(event.get("item"))
    team_id = ids_from_body(call.body)[0]
    reactor_id, author_id = str(event["user"]), str(event["item_user"])
    bots = {call.bot_user_id}
    reactor_name = author_name = None
    reactor_is_bot, author_is_bot = reactor_id in bots, author_id in bots
    if reactor_id != author_id and not (reactor_is_bot or author_is_bot):
        directory = call.front.directory
        reactor = await directory.lookup(call.client, team_id=team_id, user_id=reactor_id)
        author = await directory.lookup(call.client, team_id=team_id, user_id=author_id)
        reactor_name, reactor_is_bot = reactor.display_name, reactor.is_bot
        author_name, author_is_bot = author.display_name, author.is_bot
    runtime = call.runtime
    reaction = recognition.ReactionSeen(
        platform=PLATFORM,
        space_id=team_id,
        channel_id=str(item["channel"]),
        message_id=str(item["ts"]),
        emoji=str(event["reaction"]),
        reactor_id=reactor_id,
        author_id=author_id,
        reactor_name=reactor_name,
        author_name=author_name,
        reactor_is_bot=reactor_is_bot,
        author_is_bot=author_is_bot,
    )
    rules = recognition.ReactionRules.from_settings(runtime.settings.recognition)
    screened = recognition.screen_reaction(rules, reaction)
    if screened is not None:
        # Decided without the database: no transaction for a self-reaction or a bot's.
        log.info("reaction on message %s: %s (+0)", reaction.message_id, screened.value)
        return
    async with runtime.sessions() as session, session.begin():
        result = await recognition.record_reaction(
            session, runtime.clock, rules, reaction, community_id=runtime.community_id
        )
    log.info(
        "reaction on message %s: %s (+%d)", reaction.message_id, result.outcome.value, result.points
    )


def register_events(front: SlackFront) -> None:
    """Subscribe to members' messages and reactions."""
    front.events.on("message", chat_message, when=is_chat)
    front.events.on("reaction_added", reaction_added, when=is_reaction)
