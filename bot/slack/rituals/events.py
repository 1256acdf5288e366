"""Check-ins nobody asked an answer for: a reaction on a ritual post, a reply in its thread."""

from __future__ import annotations

import logging
from typing import Any

from bot.runtime import Runtime
from bot.services.rituals import checkin, checkin_by_reply, occurrence_for_post
from bot.slack.front import PLATFORM, EventCall, SlackFront

log = logging.getLogger(__name__)


class RitualPosts:
    """Filters that let only events about ritual posts through to the check-in handlers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def _is_ritual_post(self, ts: Any) -> bool:
        if not ts:
            return False
        async with self.runtime.sessions() as session:
            found = await occurrence_for_post(session, platform=PLATFORM, message_id=str(ts))
        return found is not None

    async def is_reaction(self, call: EventCall) -> bool:
        """Match a person's reaction to a ritual post."""
        event = call.event
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "message":
            return False
        if not event.get("user") or event.get("user") == call.bot_user_id:
            return False
        return await self._is_ritual_post(item.get("ts"))

    async def is_reply(self, call: EventCall) -> bool:
        """Match a person's reply in a ritual post's thread."""
        event = call.event
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts") or not event.get("user"):
            return False
        if event.get("bot_id") or event.get("subtype") not in (None, "thread_broadcast"):
            return False
        return await self._is_ritual_post(thread_ts)


async def reaction_added(call: EventCall) -> None:
    """Check the reacting member in, silently; only the log says so."""
    ts = str(call.event.get("item", {}).get("ts", ""))
    async with call.acting() as (session, actor):
        occurrence = await occurrence_for_post(session, platform=PLATFORM, message_id=ts)
        if occurrence is None:
            return
        result = await checkin(
            session,
            call.runtime.clock,
            occurrence_uid=occurrence,
            member_id=actor.member_id,
            method="reaction",
        )
    log.info(
        "ritual check-in by reaction: occurrence %s, member %s, counted=%s",
        result.occurrence_id,
        actor.member_id,
        result.counted,
    )


async def thread_reply(call: EventCall) -> None:
    """Check a member in who replied in a ritual post's thread, and count their links."""
    thread_ts = str(call.event.get("thread_ts", ""))
    async with call.acting() as (session, actor):
        result = await checkin_by_reply(
            session,
            call.runtime.clock,
            platform=PLATFORM,
            parent_id=thread_ts,
            member_id=actor.member_id,
            text=str(call.event.get("text") or ""),
        )
    if result is None:
        log.info("reply in ritual thread %s was not a check-in (closed)", thread_ts)
        return
    log.info(
        "ritual check-in by reply: occurrence %s, member %s, counted=%s",
        result.occurrence_id,
        actor.member_id,
        result.counted,
    )


def register_events(front: SlackFront) -> None:
    """Subscribe to reactions on and replies to ritual posts."""
    posts = RitualPosts(front.runtime)
    front.events.on("reaction_added", reaction_added, when=posts.is_reaction)
    front.events.on("message", thread_reply, when=posts.is_reply)
