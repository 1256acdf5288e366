"""Privacy: export everything about one member; erase their personal data, keep the totals.

Every feature that stores data about members declares an exporter and an eraser in its
:class:`bot.features.Feature`; `/privacy export` and `/privacy delete` run them all, so
they cover the whole product. Erasure finds what belongs to the member by reference (their
id, their identities, the outbox rows and posts linked to them), never by searching text
for their name: another member's data never matches by accident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import NotFound
from bot.events import MemberErased, publish
from bot.features import discover
from bot.messages import DirectMessage, Edit, Post, RoleChange, UnreadableEffect, dump, load
from bot.models import (
    Activity,
    AuditEntry,
    Identity,
    LinkCode,
    Member,
    OutboxMember,
    OutboxMessage,
    PostRecord,
)
from bot.services.audit import record_audit
from bot.services.identities import forget_identities

# The tables the core erases itself (the members feature's; see its declaration).
CORE_TABLES = (
    "members",
    "identities",
    "link_codes",
    "activities",
    "audit_log",
    "outbox",
    "outbox_members",
    "posts",
    "erased_identities",
)


@dataclass(frozen=True)
class ErasureReport:
    """What deleting a member removed."""

    member_id: int
    identities_removed: int
    activities_kept: int
    points_kept: int


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def export_member(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return everything Flywheel holds about one member, as JSON-ready data."""
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("There is no data about you here.")
    identities = (
        await session.scalars(select(Identity).where(Identity.member_id == member_id))
    ).all()
    activities = (
        await session.scalars(
            select(Activity).where(Activity.member_id == member_id).order_by(Activity.id)
        )
    ).all()
    audit = (
        await session.scalars(select(AuditEntry).where(AuditEntry.actor_member_id == member_id))
    ).all()
    data: dict[str, Any] = {
        "member": {
            "id": member.id,
            "display_name": member.display_name,
            "email": member.email,
            "stripe_customer_id": member.stripe_customer_id,
            "points_total": member.points_total,
            "activity_count": member.activity_count,
            "joined_at": _iso(member.joined_at),
            "last_active_at": _iso(member.last_active_at),
        },
        "identities": [
            {
                "platform": i.platform,
                "user_id": i.user_id,
                "username": i.username,
                "since": _iso(i.created_at),
            }
            for i in identities
        ],
        "activities": [
            {
                "kind": a.kind,
                "points": a.points,
                "occurred_at": _iso(a.occurred_at),
                "source": a.source_ref,
                "imported": a.imported,
            }
            for a in activities
        ],
        "actions": [
            {"action": e.action, "target": e.target, "at": _iso(e.at), "detail": e.detail}
            for e in audit
        ],
    }
    for feature in discover():
        if feature.exporter is not None:
            data[feature.name] = await feature.exporter(session, member_id)
    return data


async def _erase_from_outbox(session: AsyncSession, member_id: int) -> None:
    """Remove the member from every outbox row linked to them.

    A DM or role grant for them is not sent (a revoke still is); a copy already sent (or dead)
    is not kept; a message for others still to go out (a recap naming them) goes without what
    was theirs.
    """
    linked = select(OutboxMember.outbox_id).where(OutboxMember.member_id == member_id)
    rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(linked)))).all()
    for row in rows:
        try:
            message = load(row.payload)
        except UnreadableEffect:
            await session.delete(row)
            continue
        theirs = isinstance(message, DirectMessage | RoleChange) and message.member_id == member_id
        if (
            theirs
            and isinstance(message, RoleChange)
            and not message.grant
            and row.status not in ("sent", "dead")
        ):
            # Taking access away still goes out (paid access revoked on erasure): once the
            # identities are forgotten nothing else could. The row keeps its platform address
            # until it is sent and pruned; it is no longer linked to the member.
            continue
        if (
            theirs
            or row.status in ("sent", "dead")
            or not isinstance(message, Post | Edit | DirectMessage)
        ):
            await session.delete(row)
            continue
        row.payload = dump(message.model_copy(update={"body": message.body.without(member_id)}))
    await session.execute(delete(OutboxMember).where(OutboxMember.member_id == member_id))


def _anonymous_key(source_key: str) -> str:
    # Keeps the ledger's idempotency (the same source still collides) without the raw id.
    return "erased:" + hashlib.sha256(source_key.encode()).hexdigest()[:40]


async def delete_member(session: AsyncSession, clock: Clock, *, member_id: int) -> ErasureReport:
    """Erase a member's personal data and identities; keep anonymous activity so totals stay right."""
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("There is no data about you here.")
    identities = (
        await session.scalars(select(Identity).where(Identity.member_id == member_id))
    ).all()
    for feature in discover():
        if feature.eraser is not None:
            await feature.eraser(session, member_id, clock)
    activities = (
        await session.scalars(select(Activity).where(Activity.member_id == member_id))
    ).all()
    for activity in activities:
        if not activity.source_key.startswith("erased:"):
            activity.source_key = _anonymous_key(activity.source_key)
        activity.source_ref = None
    await _erase_from_outbox(session, member_id)
    await session.execute(delete(PostRecord).where(PostRecord.member_id == member_id))
    # Entries about the member lose what they said about them; their own actions stay,
    # without them as the actor.
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.about_member_id == member_id)
        .values(target="(erased)", detail={}, about_member_id=None)
    )
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.actor_member_id == member_id)
        .values(actor_member_id=None)
    )
    await session.execute(delete(LinkCode).where(LinkCode.member_id == member_id))
    await forget_identities(session, clock, identities)
    member.display_name = None
    member.email = None
    member.stripe_customer_id = None
    member.erased_at = clock.now()
    await record_audit(
        session,
        clock,
        community_id=member.community_id,
        actor_member_id=None,
        action="privacy.delete",
        target=f"member:{member_id}",
    )
    await publish(
        session, clock, MemberErased(community_id=member.community_id, member_id=member_id)
    )
    await session.flush()
    return ErasureReport(
        member_id=member_id,
        identities_removed=len(identities),
        activities_kept=len(activities),
        points_kept=member.points_total,
    )
