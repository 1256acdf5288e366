"""Privacy: export everything about one member; erase their personal data, keep the totals.

Features that store personal data of their own register an exporter and an eraser here
(:func:`register`), so `/privacy export` and `/privacy delete` cover the whole product.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import NotFound
from bot.events import MemberErased, publish
from bot.models import Activity, AuditEntry, Identity, LinkCode, Member, OutboxMessage
from bot.services.audit import record_audit

Exporter = Callable[[AsyncSession, int], Awaitable[dict[str, Any]]]
Eraser = Callable[[AsyncSession, int, "ErasureContext"], Awaitable[None]]
_FEATURES: dict[str, tuple[Exporter, Eraser]] = {}


@dataclass(frozen=True)
class ErasureContext:
    """What an eraser may need: the clock and the strings that identify the member."""

    clock: Clock
    identifiers: tuple[str, ...]


@dataclass(frozen=True)
class ErasureReport:
    """What deleting a member removed."""

    member_id: int
    identities_removed: int
    activities_kept: int
    points_kept: int


def register(feature: str, exporter: Exporter, eraser: Eraser) -> None:
    """Make a feature's own data part of export and delete."""
    _FEATURES[feature] = (exporter, eraser)


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
    for feature, (exporter, _) in sorted(_FEATURES.items()):
        data[feature] = await exporter(session, member_id)
    return data


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
    identifiers = tuple(
        sorted(
            {
                text
                for text in (
                    member.display_name,
                    member.email,
                    member.stripe_customer_id,
                    *(i.user_id for i in identities),
                    *(i.username for i in identities),
                )
                if text
            }
        )
    )
    context = ErasureContext(clock=clock, identifiers=identifiers)
    for _, eraser in sorted(_FEATURES.values(), key=lambda pair: pair[0].__qualname__):
        await eraser(session, member_id, context)
    activities = (
        await session.scalars(select(Activity).where(Activity.member_id == member_id))
    ).all()
    for activity in activities:
        if not activity.source_key.startswith("erased:"):
            activity.source_key = _anonymous_key(activity.source_key)
        activity.source_ref = None
    if identifiers:
        mentions = [
            or_(
                OutboxMessage.target.contains(text, autoescape=True),
                cast(OutboxMessage.payload, String).contains(text, autoescape=True),
            )
            for text in identifiers
        ]
        # Pending DMs to an erased member must not go out; sent ones are history we may not keep.
        await session.execute(delete(OutboxMessage).where(or_(*mentions)))
        audit_mentions = [
            or_(
                AuditEntry.target.contains(text, autoescape=True),
                cast(AuditEntry.detail, String).contains(text, autoescape=True),
            )
            for text in identifiers
        ]
        await session.execute(
            update(AuditEntry).where(or_(*audit_mentions)).values(target="(erased)", detail={})
        )
    await session.execute(delete(LinkCode).where(LinkCode.member_id == member_id))
    await session.execute(delete(Identity).where(Identity.member_id == member_id))
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
