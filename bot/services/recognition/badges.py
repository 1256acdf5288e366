"""Badges: defined in bot.toml or by moderators, awarded by a rule or by hand, once each.

A badge is a row (:class:`bot.models.Badge`): the built-ins and ``[badges.<slug>]`` are
synced into it at start-up (:func:`.catalogue.sync_configured`), moderators add theirs with
``/badge create``. A rule (``rituals_attended >= 4``) is checked whenever one of its
counters can change: after an activity reaches the score rows (the ``activity.recorded``
subscriber), when UGC is featured, and after a chat batch for ``points`` rules.

**Exactly once.** Whoever crosses a rule, however many transactions do it at once, the
award is ``INSERT … ON CONFLICT (member_id, badge_id) DO NOTHING RETURNING``: the unique
pair gives the row to one transaction, and only that one publishes ``badge.awarded``,
queues the announcement (the ``recognition`` destination, no ping: the member's name is
owned text, not a mention), the member's DM and, if the badge has an access key, the role
grant — each under a key naming the award.

**Revoking** keeps the row with ``revoked_at`` set (audited, the role revoked): a rule
never hands a revoked badge back by itself; a moderator's award brings it back with a new
award id, so its announcement and DM are new messages.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.events import Event, domain_event, publish
from bot.ids import new_uid
from bot.inputs import shorten
from bot.messages import DirectMessage, Post, Purpose, RoleChange, bold, owned, rich
from bot.models import (
    Activity,
    Badge,
    Community,
    Consent,
    Member,
    MemberBadge,
    PaidAccess,
    UgcSubmission,
)
from bot.outbox import send
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require
from bot.services.recognition.catalogue import BadgeView, find_badge, rule_of, view_of
from bot.services.recognition.counters import read_counters
from bot.services.recognition.scores import hidden_among

# Members whose awards one statement reads (well inside every database's limit on values).
HELD_CHUNK = 1_000


@domain_event("badge.awarded")
@dataclass(frozen=True)
class BadgeAwarded(Event):
    """A member was given a badge (``via`` ``rule``, ``manual`` or ``import``), once per award."""

    community_id: int
    member_id: int
    badge_slug: str
    award_uid: str
    via: str


@dataclass(frozen=True)
class HeldBadge:
    """A badge a member holds, and how they got it."""

    badge: BadgeView
    description: str
    awarded_at: datetime
    via: str


@dataclass(frozen=True)
class AwardResult:
    """What a moderator's award or revocation did."""

    member_id: int
    member_name: str
    badge: BadgeView
    # False when the award is only DMed (its holder's latest featured work is anonymous).
    announced: bool = True


# What a moderator is told after an award (plain words, no markup).
AWARD_TOLD = "it is announced and they get a DM."
AWARD_TOLD_QUIETLY = (
    "they get a DM. It is not announced: their latest featured work was shared without "
    "their name, and a post naming them now would say who shared it."
)


# ----------------------------------------------------------------------------- awarding


async def _announce(
    session: AsyncSession,
    clock: Clock,
    badge: Badge,
    member_id: int,
    award_uid: str,
    via: str,
    quiet: bool = False,
) -> bool:
    """Publish the award and queue its messages (only the transaction that made the award);
    return whether it is announced (never when ``quiet``)."""
    await publish(
        session,
        clock,
        BadgeAwarded(
            community_id=badge.community_id,
            member_id=member_id,
            badge_slug=badge.slug,
            award_uid=award_uid,
            via=via,
        ),
    )
    name = await session.scalar(select(Member.display_name).where(Member.id == member_id))
    community = await session.scalar(
        select(Community.name).where(Community.id == badge.community_id)
    )
    rule = rule_of(badge)
    why = f" for {rule.said}" if via == "rule" and rule else ""
    # Naming someone beside "featured" would tell the community who shared without a name,
    # and a rule badge of someone hidden from the boards would tell their score (they are
    # hidden from every public surface): then only the member hears of it.
    hidden = via == "rule" and bool(await hidden_among(session, [member_id]))
    announced = (
        not quiet and not hidden and not await _only_anonymous_work(session, badge, member_id)
    )
    if announced:
        await _post_announcement(session, clock, badge, member_id, award_uid, name, why)
    dm = rich(
        f"{badge.emoji} You earned the ",
        bold(badge.name),
        f" badge in {community or 'the community'}{why}.",
        f" {badge.description}" if badge.description else "",
    )
    await send(
        session,
        clock,
        DirectMessage(member_id=member_id, body=dm),
        key=f"badge-dm:{award_uid}",
        community_id=badge.community_id,
    )
    if badge.access:
        await _role(session, clock, badge, member_id, award_uid, grant=True)
    return announced


async def _only_anonymous_work(session: AsyncSession, badge: Badge, member_id: int) -> bool:
    """Return True for a featured-work badge whose holder's latest featured work is anonymous.

    The latest, not only "all": a second featured piece shared anonymously crosses
    ``ugc_featured >= 2``, and a post naming its holder at that moment would name who
    shared it, whatever they shared with a name before. A member with no featured work (a
    moderator's award by hand) is announced as any award is.
    """
    if badge.rule_counter != "ugc_featured":
        return False
    latest = await session.scalar(
        select(UgcSubmission.consent)
        .where(UgcSubmission.member_id == member_id, UgcSubmission.featured.is_(True))
        .order_by(
            func.coalesce(UgcSubmission.decided_at, UgcSubmission.submitted_at).desc(),
            UgcSubmission.id.desc(),
        )
        .limit(1)
    )
    return latest == Consent.PUBLIC_ANONYMOUS


async def _post_announcement(
    session: AsyncSession,
    clock: Clock,
    badge: Badge,
    member_id: int,
    award_uid: str,
    name: str | None,
    why: str,
) -> None:
    """Queue the award's post in the recognition channel (never pinging)."""
    announcement = rich(
        f"{badge.emoji} ",
        owned(member_id, name or "A member", fallback="A member"),
        " earned the ",
        bold(badge.name),
        f" badge{why}!",
        f" {badge.description}" if badge.description else "",
    )
    await send(
        session,
        clock,
        Post(to=Purpose(name="recognition"), body=announcement),
        key=f"badge-announce:{award_uid}",
        community_id=badge.community_id,
        members=(member_id,),
    )


async def _role(
    session: AsyncSession,
    clock: Clock,
    badge: Badge,
    member_id: int,
    award_uid: str,
    *,
    grant: bool,
) -> None:
    assert badge.access is not None
    await send(
        session,
        clock,
        RoleChange(
            member_id=member_id,
            access=badge.access,
            grant=grant,
            reason=f"Flywheel badge: {badge.name}"[:400],
        ),
        key=f"badge-role:{award_uid}:{'grant' if grant else 'revoke'}",
        community_id=badge.community_id,
    )


async def import_awards(
    session: AsyncSession, clock: Clock, community_id: int, wanted: Collection[tuple[int, str]]
) -> tuple[int, set[str]]:
    """Give members the badges a roster file lists; return how many were new, and the names
    that match no badge here.

    Badges are found by name or slug (case and spacing do not matter). An award already held,
    or revoked, is left as it is, so importing again changes nothing. Nothing is announced or
    DMed (the file says what people earned elsewhere, earlier); ``badge.awarded`` is published
    with ``via`` ``import`` and a badge's role is granted.
    """
    badges = (
        await session.scalars(
            select(Badge).where(Badge.community_id == community_id, Badge.enabled.is_(True))
        )
    ).all()
    by_key: dict[str, Badge] = {}
    for badge in badges:
        by_key[" ".join(badge.name.casefold().split())] = badge
        by_key[badge.slug.casefold()] = badge
    unknown: set[str] = set()
    pairs: dict[tuple[int, int], Badge] = {}
    for member_id, name in wanted:
        found = by_key.get(" ".join(name.casefold().split()))
        if found is None:
            unknown.add(name)
        else:
            pairs[member_id, found.id] = found
    made = 0
    now = clock.now()
    for (member_id, badge_id), badge in sorted(pairs.items()):
        uid = new_uid()
        row = await session.scalar(
            dialect_insert(session, MemberBadge)
            .values(
                uid=uid,
                community_id=community_id,
                member_id=member_id,
                badge_id=badge_id,
                awarded_at=now,
                via="import",
            )
            .on_conflict_do_nothing(index_elements=["member_id", "badge_id"])
            .returning(MemberBadge.id)
        )
        if row is None:
            continue
        made += 1
        await publish(
            session,
            clock,
            BadgeAwarded(
                community_id=community_id,
                member_id=member_id,
                badge_slug=badge.slug,
                award_uid=uid,
                via="import",
            ),
        )
        if badge.access:
            await _role(session, clock, badge, member_id, uid, grant=True)
    return made, unknown


async def award_earned(
    session: AsyncSession,
    clock: Clock,
    community_id: int,
    member_ids: Collection[int],
    *,
    counters: Collection[str] | None = None,
    quiet: bool = False,
) -> int:
    """Award every enabled rule badge these members now qualify for; return how many were new.

    ``counters`` limits the check to rules over those counters (a chat batch changes only
    ``points``). ``quiet`` awards without announcing (DM only): the activity that crossed
    the rule must not be tied to the member in public. Safe to run concurrently: the unique
    (member, badge) pair decides.
    """
    if not member_ids:
        return 0
    query = select(Badge).where(
        Badge.community_id == community_id,
        Badge.enabled.is_(True),
        Badge.rule_counter.is_not(None),
    )
    if counters is not None:
        query = query.where(Badge.rule_counter.in_(list(counters)))
    rules = {b.id: b for b in (await session.scalars(query)).all()}
    if not rules:
        return 0
    live = set(
        await session.scalars(
            select(Member.id).where(
                Member.id.in_(sorted(member_ids)),
                Member.erased_at.is_(None),
                Member.merged_into_id.is_(None),
            )
        )
    )
    needed = {b.rule_counter for b in rules.values() if b.rule_counter}
    values = await read_counters(session, community_id, live, needed, clock.now())
    pairs = [
        (member_id, badge.id)
        for member_id in sorted(live)
        for badge in rules.values()
        if values[member_id][badge.rule_counter or ""] >= (badge.rule_threshold or 0)
    ]
    if not pairs:
        return 0
    # Read by member and badge, a chunk of members at a time: a chat batch of thousands of
    # members holding many `points` badges made a (member, badge) IN list past what one
    # statement may bind (PostgreSQL refused it, and the whole batch with it).
    held: set[tuple[int, int]] = set()
    qualified = sorted({member_id for member_id, _ in pairs})
    for start in range(0, len(qualified), HELD_CHUNK):
        found = await session.execute(
            select(MemberBadge.member_id, MemberBadge.badge_id).where(
                MemberBadge.member_id.in_(qualified[start : start + HELD_CHUNK]),
                MemberBadge.badge_id.in_(sorted(rules)),
            )
        )
        held.update((member_id, badge_id) for member_id, badge_id in found)
    fresh = [pair for pair in pairs if pair not in held]
    if not fresh:
        return 0
    now = clock.now()
    inserted = (
        await session.execute(
            dialect_insert(session, MemberBadge)
            .on_conflict_do_nothing(index_elements=["member_id", "badge_id"])
            .returning(MemberBadge.member_id, MemberBadge.badge_id, MemberBadge.uid),
            [
                {
                    "uid": new_uid(),
                    "community_id": community_id,
                    "member_id": member_id,
                    "badge_id": badge_id,
                    "awarded_at": now,
                    "via": "rule",
                }
                for member_id, badge_id in fresh
            ],
        )
    ).all()
    for member_id, badge_id, uid in inserted:
        await _announce(session, clock, rules[badge_id], member_id, uid, "rule", quiet)
    return len(inserted)


async def _target(session: AsyncSession, actor: Actor, member_id: int) -> str:
    member = await session.get(Member, member_id)
    if (
        member is None
        or member.community_id != actor.community_id
        or member.erased_at is not None
        or member.merged_into_id is not None
    ):
        raise NotFound("That member is not known here.")
    return member.display_name or "That member"


async def award(
    session: AsyncSession, clock: Clock, actor: Actor, member_id: int, typed: str
) -> AwardResult:
    """Give a member a badge by hand (moderators); refuse if they already hold it."""
    require(actor, Role.MODERATOR)
    badge = await find_badge(session, actor.community_id, typed)
    who = await _target(session, actor, member_id)
    now = clock.now()
    uid = new_uid()
    made = await session.scalar(
        dialect_insert(session, MemberBadge)
        .values(
            uid=uid,
            community_id=actor.community_id,
            member_id=member_id,
            badge_id=badge.id,
            awarded_at=now,
            via="manual",
            awarded_by=actor.member_id,
        )
        .on_conflict_do_nothing(index_elements=["member_id", "badge_id"])
        .returning(MemberBadge.id)
    )
    if made is None:
        # Held before: given back only if it was revoked (one UPDATE decides, as above).
        made = await session.scalar(
            update(MemberBadge)
            .where(
                MemberBadge.member_id == member_id,
                MemberBadge.badge_id == badge.id,
                MemberBadge.revoked_at.is_not(None),
            )
            .values(
                uid=uid, awarded_at=now, via="manual", awarded_by=actor.member_id, revoked_at=None
            )
            .returning(MemberBadge.id)
            .execution_options(synchronize_session=False)
        )
    if made is None:
        raise Invalid(
            f"{shorten(who, 40)} already has the {badge.name} badge.", field="badge", code="held"
        )
    await audit(
        session, clock, actor, "badge.award", f"badge:{badge.uid}", about_member_id=member_id
    )
    announced = await _announce(session, clock, badge, member_id, uid, "manual")
    return AwardResult(member_id, who, view_of(badge), announced)


async def revoke(
    session: AsyncSession, clock: Clock, actor: Actor, member_id: int, typed: str
) -> AwardResult:
    """Take a badge back (moderators): the award is kept as revoked, the role revoked."""
    require(actor, Role.MODERATOR)
    badge = await find_badge(session, actor.community_id, typed)
    who = await _target(session, actor, member_id)
    uid = await session.scalar(
        update(MemberBadge)
        .where(
            MemberBadge.member_id == member_id,
            MemberBadge.badge_id == badge.id,
            MemberBadge.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .returning(MemberBadge.uid)
        .execution_options(synchronize_session=False)
    )
    if uid is None:
        raise Invalid(
            f"{shorten(who, 40)} doesn't have the {badge.name} badge.", field="badge", code="absent"
        )
    await audit(
        session, clock, actor, "badge.revoke", f"badge:{badge.uid}", about_member_id=member_id
    )
    if badge.access and not await _access_still_given(session, badge, member_id):
        await _role(session, clock, badge, member_id, uid, grant=False)
    return AwardResult(member_id, who, view_of(badge))


async def _access_still_given(session: AsyncSession, badge: Badge, member_id: int) -> bool:
    """Return True when another badge the member still holds, or paid access they are
    granted (payments), gives the same role."""
    paid = await session.scalar(
        select(PaidAccess.id)
        .where(
            PaidAccess.member_id == member_id,
            PaidAccess.granted.is_(True),
            PaidAccess.access == badge.access,
        )
        .limit(1)
    )
    if paid is not None:
        return True
    other = await session.scalar(
        select(MemberBadge.id)
        .join(Badge, Badge.id == MemberBadge.badge_id)
        .where(
            MemberBadge.member_id == member_id,
            MemberBadge.revoked_at.is_(None),
            Badge.id != badge.id,
            Badge.enabled.is_(True),
            Badge.access == badge.access,
        )
        .limit(1)
    )
    return other is not None


# ----------------------------------------------------------------------------- reading


async def held_badges(session: AsyncSession, member_id: int) -> list[HeldBadge]:
    """Return the badges a member holds now, newest first."""
    rows = await session.execute(
        select(Badge, MemberBadge.awarded_at, MemberBadge.via)
        .join(MemberBadge, MemberBadge.badge_id == Badge.id)
        .where(
            MemberBadge.member_id == member_id,
            MemberBadge.revoked_at.is_(None),
            Badge.enabled.is_(True),
        )
        .order_by(MemberBadge.awarded_at.desc(), Badge.name_key)
    )
    return [HeldBadge(view_of(b), b.description, at, via) for b, at, via in rows]


async def top_badges(session: AsyncSession, member_id: int, limit: int = 3) -> list[BadgeView]:
    """Return a member's most recent badges (for a rank card): emoji and name."""
    return [held.badge for held in (await held_badges(session, member_id))[:limit]]


async def from_anonymous_work(session: AsyncSession, activity_id: int) -> bool:
    """Return whether a ledger row is the reward for work shared without the member's name
    (``ugc-approved:<uid>`` / ``ugc-featured:<uid>``): announcing a badge it crossed would
    say who shared that work."""
    key = await session.scalar(select(Activity.source_key).where(Activity.id == activity_id))
    if key is None or not key.startswith(("ugc-approved:", "ugc-featured:")):
        return False
    consent = await session.scalar(
        select(UgcSubmission.consent).where(UgcSubmission.uid == key.partition(":")[2])
    )
    return consent == Consent.PUBLIC_ANONYMOUS
