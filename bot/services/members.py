"""The members feature's commands: /link, /privacy export, /privacy delete, /about.

Front ends parse input into a :class:`Caller`, call one of these inside a transaction, and
render the returned dataclass. Nothing here knows which platform it runs on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import __version__
from bot.clock import Clock
from bot.features import ExportTable, Feature
from bot.messages import DirectMessage, File, rich
from bot.models import Activity, Identity, Member
from bot.outbox import send
from bot.services.callers import Actor
from bot.services.linking import IssuedCode, LinkResult, finish_link, start_link
from bot.services.privacy import CORE_TABLES, ErasureReport, delete_member, export_member

EXPORT_FILENAME = "flywheel-my-data.json"


@dataclass(frozen=True)
class ExportQueued:
    """The export was queued as a DM; ``already`` when an identical request was queued before."""

    key: str
    already: bool
    size_bytes: int


@dataclass(frozen=True)
class About:
    """What /about shows."""

    version: str
    community_name: str
    proof_url: str
    summary: str


async def link_start(session: AsyncSession, clock: Clock, actor: Actor) -> IssuedCode:
    """Issue a code the member enters on their other platform."""
    return await start_link(
        session, clock, member_id=actor.member_id, platform=actor.caller.platform
    )


async def link_finish(session: AsyncSession, clock: Clock, actor: Actor, code: str) -> LinkResult:
    """Merge this member with the one who issued ``code`` on the other platform."""
    return await finish_link(
        session, clock, member_id=actor.member_id, platform=actor.caller.platform, code=code
    )


async def privacy_export(session: AsyncSession, clock: Clock, actor: Actor) -> ExportQueued:
    """Queue a DM to the caller carrying everything Flywheel holds about them, as a JSON file."""
    data = await export_member(session, actor.member_id)
    data["exported_at"] = clock.now().isoformat()
    document = json.dumps(data, ensure_ascii=False, indent=2)
    # One export per member per minute: a double click does not send two DMs.
    minute = clock.now().strftime("%Y%m%d%H%M")
    key = f"privacy-export:{actor.member_id}:{actor.caller.platform}:{minute}"
    message = DirectMessage(
        member_id=actor.member_id,
        platform=actor.caller.platform,
        body=rich("Here is everything this community's Flywheel holds about you."),
        files=(File(name=EXPORT_FILENAME, content=document),),
    )
    queued = await send(session, clock, message, key=key, community_id=actor.community_id)
    return ExportQueued(
        key=f"{key}:{actor.caller.platform}", already=not queued, size_bytes=len(document.encode())
    )


async def privacy_delete(session: AsyncSession, clock: Clock, actor: Actor) -> ErasureReport:
    """Erase the caller's personal data (after they confirmed)."""
    return await delete_member(session, clock, member_id=actor.member_id)


def about(community_name: str, public_url: str) -> About:
    """Describe the bot."""
    return About(
        version=__version__,
        community_name=community_name,
        proof_url=f"{public_url.rstrip('/')}/proof",
        summary=(
            "Flywheel runs this community's weekly rituals, collects and showcases what members "
            "make, recognises helpers with points and badges, and rewards members who bring friends."
        ),
    )


def expires_in_minutes(issued: IssuedCode, now: datetime) -> int:
    """Return the whole minutes left on a link code."""
    return max(1, int((issued.expires_at - now).total_seconds() // 60))


def _identities(community_id: int) -> Any:
    return (
        select(Identity)
        .join(Member, Member.id == Identity.member_id)
        .where(Member.community_id == community_id)
    )


FEATURE = Feature(
    name="members",
    summary="Members: linking accounts across platforms, privacy export and delete, about.",
    export_tables=(
        ExportTable(
            "members",
            Member,
            (
                "id",
                "display_name",
                "email",
                "points_total",
                "activity_count",
                "joined_at",
                "last_active_at",
                "merged_into_id",
                "erased_at",
            ),
        ),
        ExportTable(
            "identities",
            Identity,
            ("id", "member_id", "platform", "user_id", "username", "created_at"),
            _identities,
        ),
        ExportTable(
            "activities",
            Activity,
            (
                "id",
                "member_id",
                "kind",
                "points",
                "occurred_at",
                "source_key",
                "source_ref",
                "imported",
            ),
        ),
    ),
    # The privacy service exports and erases these itself.
    member_tables=CORE_TABLES,
)
