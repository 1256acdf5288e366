"""What the UGC cog's commands, forms and buttons share: limits, wording, paging, file copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord

from bot.discord.bot import (
    FlywheelBot,
)
from bot.inputs import shorten
from bot.media import called, fetch, too_large
from bot.models import SubmissionStatus
from bot.services import ugc
from bot.text import discord_escape

Interaction = discord.Interaction[FlywheelBot]
SUBMIT_FORM = "ugc-submit"
REJECT_FORM = "ugc-reject-form"
PROMPT_FORM = "ugc-prompt-form"
QUEUE_PAGE = 8  # queue items a page: ten long titles and names could pass 2,000 characters
LIST_PAGE = 10
MINE_LIMIT = 500  # the most of a member's own submissions /share mine lists
CONFIRM_SECONDS = 120.0
FILES_NOT_KEPT = "Files cannot be kept in a reopened form: attach them again."
UID = r"[0-9A-Za-z]{1,24}"
STATUS_WORDS = {
    SubmissionStatus.PENDING: "waiting for review",
    SubmissionStatus.APPROVED: "approved",
    SubmissionStatus.REJECTED: "not approved",
    SubmissionStatus.WITHDRAWN: "withdrawn",
}


def echo(text: str, limit: int = 60) -> str:
    """Return member text to quote back: cut, then escaped (it renders as typed, pings nobody)."""
    return discord_escape(shorten(text, limit))


def age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


@dataclass(frozen=True)
class PromptChoice:
    """The prompt a submission answers, as the form needs it."""

    uid: str
    title: str
    template: str


async def open_prompt(bot: FlywheelBot, session: Any, reference: str) -> PromptChoice:
    found = await ugc.find_prompt(
        session, bot.runtime.community_id, reference, open_only=True, now=bot.runtime.clock.now()
    )
    return PromptChoice(found.uid, found.title, found.template)


def refuse_oversized(bot: FlywheelBot, attachments: list[discord.Attachment]) -> None:
    """Refuse, before fetching anything, a file Discord reports as over the limit."""
    limit = bot.runtime.settings.media.max_bytes
    for attachment in attachments:
        if attachment.size > limit:
            raise too_large(called(attachment.filename), attachment.size, limit)


async def copy_attachment(bot: FlywheelBot, attachment: discord.Attachment) -> ugc.IncomingFile:
    """Copy an attachment off Discord's CDN (its signed URL expires); the bytes are checked later."""
    media = bot.runtime.settings.media
    fetched = await fetch(
        attachment.url,
        max_bytes=media.max_bytes,
        timeout=media.fetch_timeout_seconds,
        filename=attachment.filename,
    )
    return ugc.IncomingFile(
        filename=attachment.filename,
        data=fetched.data,
        reported_url=attachment.url,
        reported_type=attachment.content_type,
        reported_size=attachment.size,
    )
