"""Badge rules: ``<counter> >= <whole number>``, parsed strictly (bot.toml and ``/badge create``).

Kept apart from the badges service so bot.toml's validation can use it without importing
the services; ``[badges.<slug>]``'s settings live here too. The counters are read by :mod:`bot.services.recognition.badges`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.destinations import checked_access_key

# Counter name -> what it counts (shown in /badges and in refusals).
COUNTERS: dict[str, str] = {
    "ugc_featured": "featured submissions",
    "rituals_attended": "ritual check-ins",
    "answers_accepted": "accepted answers",
    "streak_weeks": "weeks in a row with a ritual check-in",
    "points": "points",
}
# The words for a threshold of one, where they differ ("1 featured submission").
ONE: dict[str, str] = {
    "ugc_featured": "featured submission",
    "rituals_attended": "ritual check-in",
    "answers_accepted": "accepted answer",
    "streak_weeks": "week with a ritual check-in",
    "points": "point",
}
MAX_THRESHOLD = 10_000_000
EXAMPLE = "rituals_attended >= 4"
_RULE = re.compile(r"[ \t]*([a-z_]+)[ \t]*>=[ \t]*([0-9]{1,9})[ \t]*")


class BadRule(ValueError):
    """A rule that does not read ``<counter> >= <whole number>``; the message says how to fix it."""


@dataclass(frozen=True)
class Rule:
    """Award the badge once ``counter`` reaches ``threshold``."""

    counter: str
    threshold: int

    @property
    def text(self) -> str:
        """Return the rule as it is written."""
        return f"{self.counter} >= {self.threshold}"

    @property
    def said(self) -> str:
        """Return the rule in words (``4 ritual check-ins``)."""
        words = COUNTERS[self.counter]
        if self.threshold == 1:
            words = ONE.get(self.counter, words)
        return f"{self.threshold:,} {words}"


def parse_rule(text: str) -> Rule:
    """Return the rule ``text`` writes, or raise :class:`BadRule` saying what to write."""
    known = ", ".join(COUNTERS)
    found = _RULE.fullmatch(text)
    if found is None:
        raise BadRule(
            f"a rule reads '<counter> >= <whole number>', e.g. '{EXAMPLE}' (counters: {known})"
        )
    counter, number = found.group(1), int(found.group(2))
    if counter not in COUNTERS:
        raise BadRule(f"there is no counter '{counter[:40]}'; use one of {known}")
    if not 1 <= number <= MAX_THRESHOLD:
        raise BadRule(f"the number must be 1 to {MAX_THRESHOLD:,}")
    return Rule(counter, number)


@dataclass(frozen=True)
class BuiltIn:
    """A badge every community has unless bot.toml changes or disables it."""

    slug: str
    name: str
    emoji: str
    description: str
    rule: Rule | None


# Advocate is manual until the stages issue gives it a ``stage >= advocate`` rule.
BUILT_INS: tuple[BuiltIn, ...] = (
    BuiltIn(
        "founding-member",
        "Founding Member",
        "🌱",
        "Here from the start: one of the people who built this community.",
        None,
    ),
    BuiltIn(
        "community-spotlight",
        "Community Spotlight",
        "🔦",
        "Shared something the community featured.",
        Rule("ugc_featured", 1),
    ),
    BuiltIn(
        "community-expert",
        "Community Expert",
        "🧠",
        "Five answers accepted by the people they helped.",
        Rule("answers_accepted", 5),
    ),
    BuiltIn(
        "ritual-regular",
        "Ritual Regular",
        "🔁",
        "Checked in to four rituals.",
        Rule("rituals_attended", 4),
    ),
    BuiltIn(
        "advocate",
        "Advocate",
        "📣",
        "Speaks up for the community and brings others in.",
        None,
    ),
)
BUILT_IN_SLUGS = tuple(b.slug for b in BUILT_INS)
SLUG = r"^[a-z][a-z0-9-]{0,39}$"


class BadgeSettings(BaseModel):
    """One ``[badges.<slug>]`` table: a badge of its own, or changes to a built-in one.

    For a built-in (founding-member, community-spotlight, community-expert, ritual-regular,
    advocate) every key is optional and what is left out keeps the built-in's value;
    ``rule = "manual"`` makes it manual only and ``enabled = false`` takes it away. A badge
    of its own needs ``name`` and ``emoji``; without ``rule`` it is manual only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=60)
    emoji: str | None = Field(default=None, min_length=1, max_length=32)
    description: str | None = Field(default=None, max_length=300)
    # "<counter> >= <whole number>" (counters: ugc_featured, rituals_attended,
    # answers_accepted, streak_weeks, points), or "manual".
    rule: str | None = None
    # A neutral access key of [discord.access] / [slack.access], granted with the badge.
    role: str | None = None
    enabled: bool = True

    @field_validator("rule")
    @classmethod
    def _strict_rule(cls, value: str | None) -> str | None:
        if value is None or value == "manual":
            return value
        try:
            parse_rule(value)
        except BadRule as exc:
            raise ValueError(f"{exc}, or 'manual' for a badge moderators award by hand") from None
        return value

    @field_validator("emoji")
    @classmethod
    def _one_token(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError("give one emoji, e.g. '🏅', with no spaces")
        return value

    @field_validator("role")
    @classmethod
    def _access_key(cls, value: str | None) -> str | None:
        return checked_access_key(value)
