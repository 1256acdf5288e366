"""The badges a community has: built-ins and bot.toml synced at start-up, moderators' own.

Looked up by name (:func:`bot.inputs.name_key`) or slug; a badge bot.toml stops naming is
disabled, not deleted, so its awards stay. Awarding lives in :mod:`.badges`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.badge_rules import BUILT_INS, BadgeSettings, BadRule, Rule, parse_rule
from bot.clock import Clock
from bot.errors import Invalid, NotFound
from bot.inputs import clean_name, clean_text, name_key, shorten
from bot.models import Badge, MemberBadge
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require

NAME_LENGTH = 60
EMOJI_LENGTH = 32
DESCRIPTION_LENGTH = 300
CHOICES = 25
MANUAL = "manual"


@dataclass(frozen=True)
class BadgeView:
    """A badge as a card or a list shows it."""

    slug: str
    name: str
    emoji: str


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
class BadgeDraft:
    """A new badge as a moderator typed it (``rule`` empty for manual only)."""

    name: str
    emoji: str
    description: str = ""
    rule: str = ""


def view_of(badge: Badge) -> BadgeView:
    return BadgeView(badge.slug, badge.name, badge.emoji)


def rule_of(badge: Badge) -> Rule | None:
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
        if row is not None and row.source == "runtime" and row.name_key != name_key(name):
            # A moderator's badge that only shares the slug keeps its name and awards.
            del by_slug[slug]
            row.slug = f"{slug[:28]}-m{row.id}"
            by_slug[row.slug] = row
            row = None
            await session.flush()
        holder = by_key.get(name_key(name))
        if row is None and holder is not None and holder.source == "runtime":
            row = holder  # bot.toml takes over the moderator's badge of that name
            row.slug = slug
        elif holder is not None and holder is not row:
            # Another config badge had this name before bot.toml changed: free it for now
            # (its own table, later in the loop, names it again).
            del by_key[holder.name_key]
            holder.name = f"{holder.name[:40]} ({holder.slug[:16]})"
            by_key[holder.name_key] = holder
            await session.flush()  # freed before the name is taken (one unique key)
        if row is None:
            row = Badge(
                community_id=community_id, slug=slug, source="config", created_at=clock.now()
            )
            session.add(row)
        rule = entry["rule"]
        assert rule is None or isinstance(rule, Rule)
        if by_key.get(row.name_key or "") is row:
            del by_key[row.name_key]
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
        select(Badge)
        .where(
            Badge.community_id == community_id,
            Badge.enabled.is_(True),
            (Badge.name_key == key) | (Badge.slug == typed.strip()),
        )
        # A name before a slug, should a bot.toml name read like another badge's slug.
        .order_by(case((Badge.name_key == key, 0), else_=1), Badge.id)
        .limit(1)
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


def slug_of(name: str) -> str:
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
    rows = await session.execute(
        select(Badge.slug, Badge.name).where(Badge.community_id == actor.community_id)
    )
    named: dict[str, str] = {slug: badge_name for slug, badge_name in rows}
    slugs = set(named)
    if name_key(name) in slugs:
        # A badge is found by name or slug: this name would make that other badge's slug
        # find either of the two.
        other = named[name_key(name)]
        raise Invalid(
            f"'{name_key(name)}' is the short name of the {shorten(other, 60)} badge in "
            "commands and imports; choose another name.",
            field="name",
            code="name.taken",
        )
    base = slug = slug_of(name)
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
    return CatalogueEntry(view_of(badge), description, rule, 0)


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
    return [CatalogueEntry(view_of(b), b.description, rule_of(b), int(n)) for b, n in rows]
