"""Badges: defined in bot.toml or by moderators, awarded by a rule or by hand, once each.

A badge is a row (:class:`bot.models.Badge`): the built-ins and ``[badges.<slug>]`` are
synced into it at start-up (:func:`sync_configured`), moderators add theirs with
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

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.badge_rules import BUILT_INS, BadRule, Rule, parse_rule
from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.events import Event, domain_event, publish
from bot.ids import new_uid
from bot.inputs import clean_name, clean_text, name_key, shorten
from bot.messages import DirectMessage, Post, Purpose, RoleChange, bold, owned, rich
from bot.models import Badge, Community, Member, MemberBadge
from bot.outbox import send
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require
from bot.services.recognition.counters import read_counters
from bot.settings import BadgeSettings

NAME_LENGTH = 60
EMOJI_LENGTH = 32
DESCRIPTION_LENGTH = 300
CHOICES = 25
MANUAL = "manual"


@domain_event("badge.awarded")
@dataclass(frozen=True)
class BadgeAwarded(Event):
    """A member was given a badge (``via`` ``rule`` or ``manual``), once per award."""

    community_id: int
    member_id: int
    badge_slug: str
    award_uid: str
    via: str


@dataclass(frozen=True)
class BadgeView:
    """A badge as a card or a list shows it."""

    slug: str
    name: str
    emoji: str


@dataclass(frozen=True)
class HeldBadge:
    """A badge a member holds, and how they got it."""

    badge: BadgeView
    description: str
    awarded_at: datetime
    via: str


@dataclass(frozen=True)
class CatalogueEntry:
    """A badge in the catalogue: how it is earned, and how many hold it."""

    badge: BadgeView
    description: str
    rule: Rule | None
    holders: int

    @property
    def how(self) -> str:
        """Return how the badge is earned, in words."""
        return f"earned at {self.rule.said}" if self.rule else "given by moderators"


@dataclass(frozen=True)
class AwardResult:
    """What a moderator's award or revocation did."""

    member_id: int
    member_name: str
    badge: BadgeView


@dataclass(frozen=True)
class BadgeDraft:
    """A new badge as a moderator typed it (``rule`` empty for manual only)."""

    name: str
    emoji: str
    description: str = ""
    rule: str = ""


def _view(badge: Badge) -> BadgeView:
    return BadgeView(badge.slug, badge.name, badge.emoji)


def _rule(badge: Badge) -> Rule | None:
    if badge.rule_counter is None or badge.rule_threshold is None:
        return None
    return Rule(badge.rule_counter, badge.rule_threshold)


# ----------------------------------------------------------------------------- definitions


async def sync_configured(
    session: AsyncSession,
    clock: Clock,
    community_id: int,
    configured: Mapping[str, BadgeSettings],
) -> None:
    """Make the badge rows say what the built-ins and bot.toml say (at start-up).

    A config badge bot.toml no longer names is disabled (its awards stay); a moderator's
    badge holding a name bot.toml now uses becomes the config badge.
    """
    wanted: dict[str, dict[str, object]] = {}
    for built_in in BUILT_INS:
        wanted[built_in.slug] = {
            "name": built_in.name,
            "emoji": built_in.emoji,
            "description": built_in.description,
            "rule": built_in.rule,
            "access": None,
            "enabled": True,
        }
    for slug, given in configured.items():
        entry = wanted.setdefault(slug, {"description": "", "rule": None, "access": None})
        for key in ("name", "emoji", "description"):
            if getattr(given, key) is not None:
                entry[key] = getattr(given, key)
        if given.rule is not None:
            entry["rule"] = None if given.rule == MANUAL else parse_rule(given.rule)
        entry["access"] = given.role
        entry["enabled"] = given.enabled
    rows = (await session.scalars(select(Badge).where(Badge.community_id == community_id))).all()
    by_slug = {row.slug: row for row in rows}
    by_key = {row.name_key: row for row in rows}
    for slug, entry in wanted.items():
        name = str(entry["name"])
        row = by_slug.get(slug)
        holder = by_key.get(name_key(name))
        if row is None and holder is not None and holder.source == "runtime":
            row = holder  # bot.toml takes over the moderator's badge of that name
            row.slug = slug
        elif holder is not None and holder is not row:
            # Another config badge had this name before bot.toml changed: free it.
            holder.name = f"{holder.name[:40]} ({holder.slug[:16]})"
        if row is None:
            row = Badge(
                community_id=community_id, slug=slug, source="config", created_at=clock.now()
            )
            session.add(row)
        rule = entry["rule"]
        assert rule is None or isinstance(rule, Rule)
        row.name = name
        row.emoji = str(entry["emoji"])
        row.description = str(entry["description"])
        row.rule_counter = rule.counter if rule else None
        row.rule_threshold = rule.threshold if rule else None
        row.access = entry["access"] if isinstance(entry["access"], str) else None
        row.enabled = bool(entry["enabled"])
        row.source = "config"
        by_slug[slug] = row
        by_key[row.name_key] = row
        await session.flush()
    for row in rows:
        if row.source == "config" and row.slug not in wanted:
            row.enabled = False
    await session.flush()


async def find_badge(session: AsyncSession, community_id: int, typed: str) -> Badge:
    """Return the enabled badge called ``typed`` (its name or slug), or refuse with suggestions."""
    key = name_key(typed)
    badge = await session.scalar(
        select(Badge).where(
            Badge.community_id == community_id,
            Badge.enabled.is_(True),
            (Badge.name_key == key) | (Badge.slug == typed.strip()),
        )
    )
    if badge is not None:
        return badge
    names = (
        await session.scalars(
            select(Badge.name)
            .where(Badge.community_id == community_id, Badge.enabled.is_(True))
            .order_by(Badge.name_key)
        )
    ).all()
    close = [n for n in names if key and (key in name_key(n) or name_key(n) in key)]
    offered = ", ".join((close or list(names))[:8])
    raise NotFound(
        f"There is no badge called {shorten(typed, 60)!r}."
        + (f" Try one of: {offered}." if offered else " Create one with /badge create.")
    )


async def badge_names(session: AsyncSession, community_id: int, typed: str = "") -> list[str]:
    """Return up to 25 enabled badge names containing what is typed (for autocomplete)."""
    key = name_key(typed)
    names = (
        await session.scalars(
            select(Badge.name)
            .where(Badge.community_id == community_id, Badge.enabled.is_(True))
            .order_by(Badge.name_key)
        )
    ).all()
    return [n for n in names if key in name_key(n)][:CHOICES]


def _slug_of(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:32].strip("-")
    return slug if slug and slug[0].isalpha() else f"badge-{slug}".strip("-")


async def create_badge(
    session: AsyncSession, clock: Clock, actor: Actor, draft: BadgeDraft
) -> CatalogueEntry:
    """Create a badge (moderators): a name, an emoji, a description and an optional rule."""
    require(actor, Role.MODERATOR)
    name = clean_name(draft.name, field="name", what="A badge's name", max_length=NAME_LENGTH)
    emoji = clean_name(draft.emoji, field="emoji", what="The emoji", max_length=EMOJI_LENGTH)
    if any(c.isspace() for c in emoji):
        raise Invalid("Give one emoji, with no spaces (e.g. 🏅).", field="emoji", code="emoji")
    description = ""
    if draft.description.strip():
        description = clean_text(
            draft.description,
            field="description",
            what="The description",
            max_length=DESCRIPTION_LENGTH,
        )
    rule = None
    if draft.rule.strip() and draft.rule.strip() != MANUAL:
        try:
            rule = parse_rule(draft.rule)
        except BadRule as exc:
            raise Invalid(
                f"That rule won't work: {exc}. Leave it empty for a badge moderators give.",
                field="rule",
                code="rule",
            ) from None
    taken = await session.scalar(
        select(Badge.name).where(
            Badge.community_id == actor.community_id, Badge.name_key == name_key(name)
        )
    )
    if taken is not None:
        raise Invalid(
            f"There is already a badge called {shorten(taken, 60)!r}; choose another name.",
            field="name",
            code="name.taken",
        )
    slugs = set(
        await session.scalars(select(Badge.slug).where(Badge.community_id == actor.community_id))
    )
    base = slug = _slug_of(name)
    counter = 1
    while slug in slugs:
        counter += 1
        slug = f"{base}-{counter}"
    badge = Badge(
        community_id=actor.community_id,
        slug=slug,
        name=name,
        emoji=emoji,
        description=description,
        rule_counter=rule.counter if rule else None,
        rule_threshold=rule.threshold if rule else None,
        source="runtime",
        enabled=True,
        created_by=actor.member_id,
        created_at=clock.now(),
    )
    session.add(badge)
    await session.flush()
    await audit(
        session,
        clock,
        actor,
        "badge.create",
        f"badge:{badge.uid}",
        {"name": name, "rule": rule.text if rule else MANUAL},
    )
    return CatalogueEntry(_view(badge), description, rule, 0)


# ----------------------------------------------------------------------------- awarding


async def _announce(
    session: AsyncSession,
    clock: Clock,
    badge: Badge,
    member_id: int,
    award_uid: str,
    via: str,
) -> None:
    """Publish the award and queue its messages (only the transaction that made the award)."""
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
    rule = _rule(badge)
    why = f" for {rule.said}" if via == "rule" and rule else ""
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


async def award_earned(
    session: AsyncSession,
    clock: Clock,
    community_id: int,
    member_ids: Collection[int],
    *,
    counters: Collection[str] | None = None,
) -> int:
    """Award every enabled rule badge these members now qualify for; return how many were new.

    ``counters`` limits the check to rules over those counters (a chat batch changes only
    ``points``). Safe to run concurrently: the unique (member, badge) pair decides.
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
    found = await session.execute(
        select(MemberBadge.member_id, MemberBadge.badge_id).where(
            tuple_(MemberBadge.member_id, MemberBadge.badge_id).in_(pairs)
        )
    )
    held = {(member_id, badge_id) for member_id, badge_id in found}
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
        await _announce(session, clock, rules[badge_id], member_id, uid, "rule")
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
    await _announce(session, clock, badge, member_id, uid, "manual")
    return AwardResult(member_id, who, _view(badge))


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
    if badge.access:
        await _role(session, clock, badge, member_id, uid, grant=False)
    return AwardResult(member_id, who, _view(badge))


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
    return [HeldBadge(_view(b), b.description, at, via) for b, at, via in rows]


async def top_badges(session: AsyncSession, member_id: int, limit: int = 3) -> list[BadgeView]:
    """Return a member's most recent badges (for a rank card): emoji and name."""
    return [held.badge for held in (await held_badges(session, member_id))[:limit]]


async def catalogue(session: AsyncSession, community_id: int) -> list[CatalogueEntry]:
    """Return every enabled badge, how it is earned and how many hold it, by name."""
    holders = (
        select(MemberBadge.badge_id, func.count().label("n"))
        .where(MemberBadge.community_id == community_id, MemberBadge.revoked_at.is_(None))
        .group_by(MemberBadge.badge_id)
        .subquery()
    )
    rows = await session.execute(
        select(Badge, func.coalesce(holders.c.n, 0))
        .outerjoin(holders, holders.c.badge_id == Badge.id)
        .where(Badge.community_id == community_id, Badge.enabled.is_(True))
        .order_by(Badge.name_key)
    )
    return [CatalogueEntry(_view(b), b.description, _rule(b), int(n)) for b, n in rows]
