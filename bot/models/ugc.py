"""UGC: prompts moderators ask, submissions members make, and the files they attach."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from bot.db.base import Base, status_enum
from bot.ids import new_uid
from bot.inputs import NAME_KEY_LENGTH, name_key


class PromptStatus(StrEnum):
    """Whether a prompt still takes submissions."""

    OPEN = "open"
    CLOSED = "closed"


class Consent(StrEnum):
    """What a member allows to be done with what they shared."""

    PUBLIC_NAMED = "public_named"  # may be shown publicly with my name
    PUBLIC_ANONYMOUS = "public_anonymous"  # publicly, without my name
    COMMUNITY = "community"  # shown in the community only, never on public surfaces


class SubmissionStatus(StrEnum):
    """Where a submission is in the moderation queue."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the member took it back (consent withdrawn)


class UgcPrompt(Base):
    """A question or challenge members answer with a submission."""

    __tablename__ = "ugc_prompts"
    __table_args__ = (UniqueConstraint("community_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    brief: Mapped[str] = mapped_column(Text, default="")
    # What members start from: prefilled as the story in the submission form.
    template: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[datetime | None]
    # A ritual whose occurrences open this prompt in their thread (a Feedback Friday).
    ritual_id: Mapped[int | None] = mapped_column(
        ForeignKey("rituals.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[PromptStatus] = mapped_column(
        status_enum(PromptStatus, "status"), default=PromptStatus.OPEN
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    @validates("title")
    def _key_title(self, _: str, title: str) -> str:
        self.name_key = name_key(title)
        return title


class UgcSubmission(Base):
    """Something a member shared: text, links and files, with their consent and its review.

    ``public_at`` is set while the submission may appear on public surfaces (approved, and
    the member consented to public display): ``/proof.json`` and the CSV read only rows
    where it is set, newest first, through one index.
    """

    __tablename__ = "ugc_submissions"
    __table_args__ = (
        UniqueConstraint("member_id", "content_key"),
        Index("ix_ugc_submissions_queue", "community_id", "status", "submitted_at"),
        Index("ix_ugc_submissions_public", "community_id", "public_at", "id"),
        Index("ix_ugc_submissions_member_submitted", "member_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    prompt_id: Mapped[int | None] = mapped_column(
        ForeignKey("ugc_prompts.id", ondelete="SET NULL"), index=True
    )
    # The platform the member submitted on: where they are told the outcome.
    platform: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(100), info={"member_text": True})
    story: Mapped[str] = mapped_column(Text, info={"member_text": True})
    links: Mapped[list[str]] = mapped_column(JSON, default=list, info={"member_text": True})
    # A digest of the normalised content: the same member sharing the same thing twice.
    content_key: Mapped[str] = mapped_column(String(64))
    consent: Mapped[Consent] = mapped_column(status_enum(Consent, "consent"))
    status: Mapped[SubmissionStatus] = mapped_column(
        status_enum(SubmissionStatus, "status"), default=SubmissionStatus.PENDING
    )
    featured: Mapped[bool] = mapped_column(default=False)
    submitted_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    public_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class UgcAttachment(Base):
    """A file of a submission: our stored copy, and what the platform reported about it."""

    __tablename__ = "ugc_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("ugc_submissions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    # Our copy in the media store (None once deleted); its type and size are the real ones.
    media_key: Mapped[str | None] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(200), info={"member_text": True})
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    # As the platform reported them (its URL does not last; kept for the record).
    reported_url: Mapped[str] = mapped_column(String(2000), info={"member_text": True})
    reported_type: Mapped[str | None] = mapped_column(String(200))
    reported_size: Mapped[int | None]


class UgcMediaTrash(Base):
    """A stored file to delete: erasure cannot reach the media store, the sweep job can."""

    __tablename__ = "ugc_media_trash"

    media_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    queued_at: Mapped[datetime]
