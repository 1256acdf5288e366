"""Seed points as chat earns them (through the ingest service), for front-end tests."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from bot.runtime import Runtime
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.recognition import ChatRules, MessageSeen, ingest_batch, text_digest

_ids = count(1)


async def seed_chat(
    runtime: Runtime, platform: str, space_id: str, people: dict[str, tuple[str, int]]
) -> dict[str, int]:
    """Give each user (id -> (name, messages)) five points per message, counted this hour;
    return their member ids."""
    clock = runtime.clock
    start = clock.now() - timedelta(hours=1)
    members: dict[str, int] = {}
    async with runtime.sessions() as session, session.begin():
        events = []
        for user_id, (name, messages) in people.items():
            caller = Caller(platform, space_id, user_id, name, Role.MEMBER)
            actor = await resolve_actor(
                session, clock, community_id=runtime.community_id, caller=caller
            )
            members[user_id] = actor.member_id
            for minute in range(messages):
                number = next(_ids)
                text = f"message {number} from {name}"
                events.append(
                    MessageSeen(
                        platform=platform,
                        space_id=space_id,
                        user_id=user_id,
                        display_name=name,
                        channel_id="seed",
                        message_id=f"seed-{number}",
                        text_length=len(text),
                        text_digest=text_digest(text),
                        is_bot=False,
                        at=start + timedelta(minutes=2 * minute),
                    )
                )
        await ingest_batch(session, clock, ChatRules(), events)
    return members
