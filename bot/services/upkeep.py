"""Upkeep: the process's own housekeeping jobs (sent outbox rows pruned after the retention)."""

from __future__ import annotations

from datetime import timedelta

from bot.features import Feature, FeatureContext, Job
from bot.outbox import registry

PRUNE_EVERY_SECONDS = 3600.0


async def prune_outbox(context: FeatureContext) -> int:
    """Delete sent outbox rows older than ``[outbox] retention_days``; return how many."""
    retention = timedelta(days=context.settings.outbox.retention_days)
    async with context.sessions() as session, session.begin():
        return await registry.prune_sent(session, context.clock, retention=retention)


FEATURE = Feature(
    name="upkeep",
    summary="Housekeeping: sent outbox rows are pruned after the retention.",
    jobs=(Job("outbox-prune", PRUNE_EVERY_SECONDS, prune_outbox),),
    has_front_ends=False,
)
