"""Identity linking: a one-time code shown on one platform, entered on the other, merges two members."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.reassign import reassign
from bot.errors import Invalid, LimitReached, NotFound
from bot.events import MembersLinked, publish
from bot.features import discover
from bot.models import (
    Activity,
    AuditEntry,
    Identity,
    LinkCode,
    Member,
    OutboxMember,
    PostRecord,
)
from bot.services.audit import record_audit

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)
MAX_OPEN_CODES = 5


@dataclass(frozen=True)
class IssuedCode:
    """A link code and when it stops working."""

    code: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkResult:
    """The member that remains after linking, with its merged totals."""

    member_id: int
    merged_member_id: int
    points_total: int
    activity_count: int


def normalise_code(raw: str) -> str:
    """Upper-case a typed code and drop spaces and dashes."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t")


async def start_link(
    session: AsyncSession, clock: Clock, *, member_id: int, platform: str
) -> IssuedCode:
    """Issue a one-time code for the member to enter on their other platform."""
    now = clock.now()
    open_codes = await session.scalar(
        select(func.count()).where(
            LinkCode.member_id == member_id, LinkCode.used_at.is_(None), LinkCode.expires_at > now
        )
    )
    if (open_codes or 0) >= MAX_OPEN_CODES:
        raise LimitReached("You have several unused link codes; use one or wait 10 minutes.")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(
        LinkCode(
            code=code,
            member_id=member_id,
            platform=platform,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    await session.flush()
    return IssuedCode(code=code, expires_at=now + CODE_TTL)


async def finish_link(
    session: AsyncSession, clock: Clock, *, member_id: int, platform: str, code: str
) -> LinkResult:
    """Merge the member who issued ``code`` with ``member_id``, atomically, in the caller's transaction."""
    now = clock.now()
    typed = normalise_code(code)
    if len(typed) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in typed):
        raise Invalid(
            f"A link code has {CODE_LENGTH} letters and digits, like `K7PX-2MQA`. Check it and try again."
        )
    link = await session.scalar(select(LinkCode).where(LinkCode.code == typed))
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise NotFound(
            "That link code is unknown, used or expired. Ask for a new code on your other platform."
        )
    if link.platform == platform:
        raise Invalid(f"That code was made on {platform}; enter it on your other platform.")
    issuer = await session.get(Member, link.member_id)
    finisher = await session.get(Member, member_id)
    if issuer is None or finisher is None:
        raise NotFound("That member is not known here.")
    if issuer.community_id != finisher.community_id:
        raise Invalid("That code belongs to another community.")
    if issuer.id == finisher.id:
        raise Invalid("These accounts are already linked.")
    claimed = await session.execute(
        update(LinkCode)
        .where(LinkCode.id == link.id, LinkCode.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("That link code was just used. Ask for a new one.")
    # Keep the older member: its id is the one other records most likely point at.
    kept, merged = (issuer, finisher) if issuer.id < finisher.id else (finisher, issuer)
    await session.execute(
        update(Identity).where(Identity.member_id == merged.id).values(member_id=kept.id)
    )
    await session.execute(
        update(Activity).where(Activity.member_id == merged.id).values(member_id=kept.id)
    )
    await session.execute(delete(LinkCode).where(LinkCode.member_id == merged.id))
    # Everything else that names the merged member follows, so export and erasure of the
    # kept member cover it.
    await reassign(
        session, OutboxMember, "member_id", merged.id, kept.id, unique_with=("outbox_id",)
    )
    await reassign(session, PostRecord, "member_id", merged.id, kept.id)
    await reassign(session, AuditEntry, "actor_member_id", merged.id, kept.id)
    await reassign(session, AuditEntry, "about_member_id", merged.id, kept.id)
    for feature in discover():
        if feature.merger is not None:
            await feature.merger(session, merged.id, kept.id, clock)
    totals = (
        await session.execute(
            select(func.coalesce(func.sum(Activity.points), 0), func.count(Activity.id)).where(
                Activity.member_id == kept.id
            )
        )
    ).one()
    last_active = [t for t in (kept.last_active_at, merged.last_active_at) if t is not None]
    await session.execute(
        update(Member)
        .where(Member.id == kept.id)
        .values(
            points_total=int(totals[0]),
            activity_count=int(totals[1]),
            joined_at=min(kept.joined_at, merged.joined_at),
            last_active_at=max(last_active) if last_active else None,
            display_name=kept.display_name or merged.display_name,
            email=kept.email or merged.email,
            stripe_customer_id=kept.stripe_customer_id or merged.stripe_customer_id,
        )
    )
    await session.execute(
        update(Member)
        .where(Member.id == merged.id)
        .values(
            points_total=0,
            activity_count=0,
            merged_into_id=kept.id,
            display_name=None,
            email=None,
            stripe_customer_id=None,
        )
    )
    await record_audit(
        session,
        clock,
        community_id=kept.community_id,
        actor_member_id=member_id,
        action="members.link",
        target=f"member:{kept.id}",
        detail={"merged_member_id": merged.id},
    )
    await publish(
        session,
        clock,
        MembersLinked(
            community_id=kept.community_id, kept_member_id=kept.id, merged_member_id=merged.id
        ),
    )
    return LinkResult(kept.id, merged.id, int(totals[0]), int(totals[1]))
