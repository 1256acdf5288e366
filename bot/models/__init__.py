"""Every model, imported here so the metadata is complete for Alembic."""

from bot.models.activity import Activity
from bot.models.audit import AuditEntry
from bot.models.badges import Badge, MemberBadge
from bot.models.community import Community, PlatformSpace
from bot.models.destinations import Destination, DestinationChannel
from bot.models.events import EventDelivery, EventRecord
from bot.models.member import ErasedIdentity, Identity, LinkCode, Member
from bot.models.outbox import OutboxMember, OutboxMessage, OutboxStatus
from bot.models.payments import Order, PaidAccess, StripeEvent, Subscription
from bot.models.posts import PostRecord
from bot.models.recognition import (
    AcceptedAnswer,
    BoardScoreCount,
    LeaderboardOptOut,
    MemberScore,
    MessageState,
)
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
from bot.models.ugc import (
    Consent,
    PromptStatus,
    SubmissionStatus,
    UgcAttachment,
    UgcMediaTrash,
    UgcPrompt,
    UgcSubmission,
)

__all__ = [
    "AcceptedAnswer",
    "Activity",
    "AuditEntry",
    "Badge",
    "BoardScoreCount",
    "CheckinMethod",
    "Community",
    "Consent",
    "Destination",
    "DestinationChannel",
    "ErasedIdentity",
    "EventDelivery",
    "EventRecord",
    "Identity",
    "LeaderboardOptOut",
    "LinkCode",
    "Member",
    "MemberBadge",
    "MemberScore",
    "MessageState",
    "OccurrenceStatus",
    "Order",
    "OutboxMember",
    "OutboxMessage",
    "OutboxStatus",
    "PaidAccess",
    "PlatformSpace",
    "PostRecord",
    "PromptStatus",
    "Ritual",
    "RitualCheckin",
    "RitualHost",
    "RitualLink",
    "RitualOccurrence",
    "RitualReminderOptIn",
    "StripeEvent",
    "SubmissionStatus",
    "Subscription",
    "UgcAttachment",
    "UgcMediaTrash",
    "UgcPrompt",
    "UgcSubmission",
]
