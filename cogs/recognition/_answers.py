"""Accepted answers on Discord: the "Mark as answer" message command (Apps → Mark as answer).

The question is found from where the marked reply is: in a thread, the thread's starter
message (in a forum, the post: its first message, which has the thread's id, by the post's
owner; a thread started without a message: its first message); elsewhere, the message the
reply replies to. The first response is the first message after the question by someone
other than the asker (and not a bot) — in a thread any message, in a channel a reply to the
question — looked for in the :data:`HISTORY_LIMIT` messages after it. Every rule (who may mark,
no points for oneself, one answer per question) is :func:`bot.services.recognition.accept_answer`'s.

In a forum whose moderators made a tag named like "Answered" or "Solved", the post gets it
once an answer is marked (best effort: a post already carrying five tags, or a bot without
Manage Threads there, keeps its tags, and the mark stands).
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import FlywheelBot, acknowledge, send_ephemeral
from bot.discord.render import markdown
from bot.errors import Invalid
from bot.services import recognition
from bot.services.recognition import MessageRef, QuestionRef

log = logging.getLogger(__name__)
Interaction = discord.Interaction[Any]

MENU_NAME = "Mark as answer"
# How many messages after the question are read to find the first response.
HISTORY_LIMIT = 100
# A forum tag with one of these names (any case) marks a post answered.
ANSWERED_TAGS = frozenset({"answered", "solved", "resolved"})
HOW_TO = (
    "Use **Mark as answer** on a reply to the question (Discord's Reply), or on a message "
    "in the question's thread or forum post."
)


def _ref(message: discord.Message) -> dict[str, Any]:
    """Return the neutral description of a message (never its text)."""
    author = message.author
    return {
        "platform": "discord",
        "space_id": str(message.guild.id) if message.guild else "",
        "channel_id": str(message.channel.id),
        "message_id": str(message.id),
        "user_id": str(author.id),
        "posted_at": message.created_at,
        "display_name": author.display_name,
        "is_bot": author.bot or message.webhook_id is not None,
        "link": message.jump_url,
    }


async def _fetch(channel: Any, message_id: int) -> discord.Message | None:
    try:
        found: discord.Message = await channel.fetch_message(message_id)
    except discord.NotFound:
        return None
    return found


async def _tag_answered(post: discord.Thread, forum: discord.ForumChannel) -> None:
    """Give a forum post the forum's "Answered" tag, if it has one and the post has room."""
    tag = next(
        (t for t in forum.available_tags if t.name.strip().casefold() in ANSWERED_TAGS), None
    )
    if tag is None or tag in post.applied_tags:
        return
    try:  # Discord refuses a sixth tag: the post keeps the ones it has
        await post.add_tags(tag, reason="An answer was marked")
    except discord.HTTPException as error:
        log.info("could not tag forum post %s answered: %s", post.id, error)


class Answers(commands.Cog):
    """The "Mark as answer" message command."""

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(
            name=MENU_NAME,
            callback=self.mark_as_answer,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
        )
        self.menu.guild_only = True  # also dm_permission false, for clients that read only that

    async def cog_load(self) -> None:
        """Add the message command to the tree (context menus are not cog attributes)."""
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        """Take the message command out of the tree."""
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def _channel(self, message: discord.Message) -> Any:
        channel: Any = message.channel
        if isinstance(channel, discord.PartialMessageable):
            channel = await self.bot.fetch_channel(channel.id)
        return channel

    async def _question(self, message: discord.Message) -> tuple[discord.Message, Any, Any]:
        """Return the question a reply answers, where the replies to it are, and the forum
        the question is a post in (None elsewhere)."""
        channel = await self._channel(message)
        if isinstance(channel, discord.Thread):
            parent: Any = channel.parent
            if parent is None and channel.parent_id is not None:
                parent = await self.bot.fetch_channel(channel.parent_id)
            forum = parent if isinstance(parent, discord.ForumChannel) else None
            if forum is not None:
                # A forum post: its first message has the thread's id, in the thread.
                question = await _fetch(channel, channel.id)
            else:
                # A thread started from a message: that message, left in the parent; a
                # thread started without one: its first message.
                question = await _fetch(parent, channel.id) if parent is not None else None
                if question is None:
                    async for oldest in channel.history(limit=1, oldest_first=True):
                        question = oldest
            if question is None:
                raise Invalid(
                    "This thread's first message is gone, so there is no question to answer. "
                    + HOW_TO,
                    code="answer.no_question",
                )
            return question, channel, forum
        reference = message.reference
        if reference is None or reference.message_id is None:
            raise Invalid(
                "That message is not a reply and not in a thread, so I can't tell which "
                "question it answers. " + HOW_TO,
                code="answer.no_question",
            )
        resolved = reference.resolved
        question = resolved if isinstance(resolved, discord.Message) else None
        if question is None:
            question = await _fetch(channel, reference.message_id)
        if question is None:
            raise Invalid(
                "The message this replies to was deleted, so there is no question to answer.",
                code="answer.no_question",
            )
        return question, channel, None

    async def _first_response(
        self, question: discord.Message, where: Any
    ) -> discord.Message | None:
        """Return the first message after the question by someone else (not a bot): in a
        thread any message, in a channel only a reply to the question (other talk there is
        not a response to it)."""
        thread = isinstance(where, discord.Thread)
        async for reply in where.history(
            limit=HISTORY_LIMIT, after=discord.Object(question.id), oldest_first=True
        ):
            if reply.author.id == question.author.id or reply.author.bot:
                continue
            replying = reply.reference is not None and reply.reference.message_id == question.id
            if thread or replying:
                found: discord.Message = reply
                return found
        return None

    async def mark_as_answer(self, interaction: Interaction, message: discord.Message) -> None:
        """Mark a reply as the accepted answer to its question."""
        await acknowledge(interaction)  # reading the question and history takes a moment
        try:
            question, where, forum = await self._question(message)
            if question.id == message.id:
                raise Invalid(
                    "That is the question itself: use Mark as answer on the reply that answers it.",
                    code="answer.question",
                )
            first = await self._first_response(question, where)
        except discord.Forbidden:
            raise Invalid(
                "I can't read this channel's messages, so I can't find the question: give me "
                "View Channel and Read Message History here, then try again.",
                code="answer.unreadable",
            ) from None
        runtime = self.bot.runtime
        points = runtime.settings.recognition.answer_points
        limit = runtime.settings.recognition.answer_daily_limit
        async with self.bot.acting(interaction) as (session, actor):
            result = await recognition.accept_answer(
                session,
                runtime.clock,
                actor,
                question=QuestionRef(
                    **_ref(question), first_response_at=first.created_at if first else None
                ),
                answer=MessageRef(**_ref(message)),
                points=points,
                daily_limit=limit,
            )
        if forum is not None and result.outcome != "unchanged":
            await _tag_answered(where, forum)
        await send_ephemeral(
            interaction, markdown(recognition.accepted_words(result, points, limit))[0]
        )


async def setup(bot: FlywheelBot) -> None:
    """Load the accepted-answers cog."""
    await bot.add_cog(Answers(bot))
