"""Chat messages in neutral terms, and the rules they must meet to earn points.

A front end turns each message it sees into a :class:`MessageSeen` (no text: only the
length and digest of what a reader sees) and queues it
(:class:`~bot.services.recognition.pipeline.IngestPipeline`); :class:`ChatRules` is what
:func:`~bot.services.recognition.ingest.ingest_batch` applies.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from bot.settings import RecognitionSettings

# Characters that show nothing: format characters (zero-width spaces and joiners, direction
# marks, the BOM), controls, the combining marks stacked on a letter ("Zalgo" text), and
# lone surrogates (JSON can carry half an emoji; they cannot even be encoded).
_INVISIBLE = frozenset({"Cf", "Cc", "Mn", "Me", "Cs"})
# Blank characters str.split() does not take for spacing (Hangul fillers, the Braille blank).
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible_text(text: str) -> str:
    """Return the text as a reader sees it: invisible characters dropped, spacing collapsed.

    The chat rules judge this, not the raw text, so five zero-width spaces are not a
    five-character message and a word repeated with an invisible character added is still
    repeated.
    """
    shown = "".join(
        " " if ch in _BLANKS else ch
        for ch in unicodedata.normalize("NFKC", text)
        if unicodedata.category(ch) not in _INVISIBLE or ch.isspace()
    )
    return " ".join(shown.split())


def text_length(text: str) -> int:
    """Return the length the minimum-length rule compares (what a reader sees)."""
    return len(visible_text(text))


def text_digest(text: str) -> str:
    """Return the digest the repeated-text rule compares (case, spacing and invisible
    characters do not matter)."""
    return hashlib.sha256(visible_text(text).casefold().encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class MessageSeen:
    """A chat message a front end saw, in neutral terms; its text is not kept.

    ``message_id`` is unique within its channel (a Discord snowflake, a Slack ``ts``);
    ``text_length`` is :func:`text_length` and ``text_digest`` :func:`text_digest` of the text. ``parent_id`` is the channel a
    thread belongs to where the thread is a channel of its own (Discord): a thread in an
    ignored channel is ignored too. ``community_id``, when given, must be the community the
    space belongs to (otherwise the message is skipped); a space not bound to any community
    yet is bound to it, as a command from there would.
    """

    platform: str
    space_id: str
    user_id: str
    channel_id: str
    message_id: str
    text_length: int
    text_digest: str
    at: datetime
    display_name: str | None = None
    is_bot: bool = False
    community_id: int | None = None
    parent_id: str | None = None

    @property
    def source_key(self) -> str:
        """Return the ledger's key for this message (one row per message, ever)."""
        return f"msg:{self.platform}:{self.channel_id}:{self.message_id}"


@dataclass(frozen=True)
class ChatRules:
    """What a chat message must be to earn points."""

    message_points: int = 5
    cooldown_seconds: int = 60
    min_length: int = 5
    ignored_channels: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: RecognitionSettings) -> ChatRules:
        """Return the rules ``[recognition]`` sets."""
        return cls(
            message_points=settings.message_points,
            cooldown_seconds=settings.cooldown_seconds,
            min_length=settings.min_length,
            ignored_channels=frozenset(settings.ignored_channels),
        )
