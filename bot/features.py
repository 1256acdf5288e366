"""One place where a feature plugs in.

A feature declares itself once, as ``FEATURE = Feature(...)`` in its service module or
package under ``bot/services/``: its name, its scheduled jobs, its event subscriptions,
its privacy exporter and eraser, and its tables for ``flywheel export``. The runtime (jobs),
the event bus (subscriptions), the privacy service, the export and both front ends read
these declarations; nothing else keeps a list of features.

A feature keeps one name in its three places: ``bot/services/<name>``, the Discord cog
``cogs/<name>.py`` and the Slack module ``bot/slack/<name>``. The front ends load the
modules of the declared features by that name; a test checks that every declared feature
with commands has both, and that no cog or Slack module exists without a feature.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.commands import CommandNames

if TYPE_CHECKING:
    from bot.events import Event
    from bot.media import MediaStore
    from bot.payments import StripeGateway
    from bot.settings import Settings

SERVICES_PACKAGE = "bot.services"


class FeatureContext(Protocol):
    """What a feature's jobs and subscribers may use (the runtime gives it)."""

    @property
    def settings(self) -> Settings:
        """Return the validated settings."""

    @property
    def clock(self) -> Clock:
        """Return the process clock."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Return the session factory (commits wake the event bus and the outbox)."""

    @property
    def commands(self) -> CommandNames:
        """Return how members type commands on each platform."""

    @property
    def media(self) -> MediaStore:
        """Return the media store (members' files, copied from the platforms)."""

    @property
    def stripe(self) -> StripeGateway | None:
        """Return the Stripe client, when STRIPE_API_KEY is set."""

    @property
    def community_id(self) -> int:
        """Return the id of the community this process serves."""


@dataclass(frozen=True)
class Job:
    """Work the scheduler runs about every ``every_seconds``; it claims due rows itself."""

    name: str
    every_seconds: float | Callable[[Settings], float]
    run: Callable[[FeatureContext], Awaitable[object]]

    def cadence(self, settings: Settings) -> float:
        """Return the interval in seconds under these settings."""
        if callable(self.every_seconds):
            return float(self.every_seconds(settings))
        return float(self.every_seconds)


@dataclass(frozen=True)
class Subscription:
    """Handle every event of a type, once, in the handler's own transaction."""

    name: str  # stored with each delivery: never rename one that has run
    event: type[Event]
    handler: Callable[[FeatureContext, AsyncSession, Any], Awaitable[None]]


# (session, member id) -> JSON-ready data about the member
Exporter = Callable[[AsyncSession, int], Awaitable[dict[str, Any] | list[Any]]]
# (session, member id, clock) -> erase what belongs to the member, found by reference
Eraser = Callable[[AsyncSession, int, Clock], Awaitable[None]]
# (session, old member id, new member id, clock) -> move the member's rows (linking accounts)
Merger = Callable[[AsyncSession, int, int, Clock], Awaitable[None]]


@dataclass(frozen=True)
class ExportTable:
    """A table in ``flywheel export``: its file name, model, columns and community filter."""

    name: str
    model: type[Any]
    columns: tuple[str, ...]
    # Returns a SELECT of the model's rows in the community (a join for tables without a
    # community_id column of their own).
    query: Callable[[int], Any] | None = None


@dataclass(frozen=True)
class Feature:
    """A feature's declaration: everything the process needs to plug it in."""

    name: str
    summary: str
    jobs: tuple[Job, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    exporter: Exporter | None = None
    eraser: Eraser | None = None
    merger: Merger | None = None
    export_tables: tuple[ExportTable, ...] = ()
    # Tables with a member reference or member text that this feature's exporter and eraser
    # cover; the coverage test checks every such table is claimed by some feature.
    member_tables: tuple[str, ...] = ()
    # Tables that hold only anonymous aggregates (counts, totals), named so on purpose.
    anonymous_tables: tuple[str, ...] = ()
    # False for a feature with no commands of its own (no cog, no Slack module).
    has_front_ends: bool = True


@cache
def discover(package: str = SERVICES_PACKAGE) -> tuple[Feature, ...]:
    """Import every service module and return the features they declare, by name."""
    root = importlib.import_module(package)
    found: dict[str, Feature] = {}
    for info in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):
        module = importlib.import_module(info.name)
        feature = getattr(module, "FEATURE", None)
        if not isinstance(feature, Feature):
            continue
        if feature.name in found:
            raise ValueError(f"two features are called {feature.name!r}")
        if info.name.rsplit(".", 1)[1] != feature.name:
            raise ValueError(
                f"{info.name} declares feature {feature.name!r}: a feature's service module "
                "carries its name"
            )
        found[feature.name] = feature
    return tuple(found[name] for name in sorted(found))


def front_end_modules(prefix: str, features: Sequence[Feature] | None = None) -> list[str]:
    """Return ``prefix.<name>`` for every declared feature with commands (cogs, Slack)."""
    chosen = discover() if features is None else features
    return [f"{prefix}.{feature.name}" for feature in chosen if feature.has_front_ends]
