"""Every model, imported here so the metadata is complete for Alembic."""

from bot.models.activity import Activity
from bot.models.audit import AuditEntry
from bot.models.community import Community, PlatformSpace
from bot.models.events import EventDelivery, EventRecord
from bot.models.member import Identity, LinkCode, Member
from bot.models.outbox import OutboxMessage, OutboxStatus
from bot.models.rituals import (
    CheckinMethod,
    OccurrenceStatus,
    Ritual,
    RitualCheckin,
    RitualHost,
    RitualLink,
    RitualOccurrence,
    RitualReminderOptIn,
)

__all__ = [
    "Activity",
    "AuditEntry",
    "CheckinMethod",
    "Community",
    "EventDelivery",
    "EventRecord",
    "Identity",
    "LinkCode",
    "Member",
    "OccurrenceStatus",
    "OutboxMessage",
    "OutboxStatus",
    "PlatformSpace",
    "Ritual",
    "RitualCheckin",
    "RitualHost",
    "RitualLink",
    "RitualOccurrence",
    "RitualReminderOptIn",
]
