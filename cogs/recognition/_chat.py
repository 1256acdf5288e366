"""Chat and reactions feeding points on Discord: nothing is answered, nothing is sent.

Each guild message becomes a neutral :class:`~bot.services.recognition.MessageSeen` (its
length and digest, never its text) queued for the ingest pipeline, which applies the chat
rules (bots, ignored channels, minimum length, cooldown, repeated text) in batches. Reading
a message's length needs the Message Content intent (``[discord] message_content_intent``):
without it Discord sends guild messages with empty text, so chat earns no points and the
cog says so once at start-up. Each reaction is recorded at once for the message's author
(:func:`~bot.services.recognition.record_reaction`): never their own, nothing from or for a
bot; Discord names the author in the event (``message_author_id``). With ``[discord]
guild_ids`` set, chat and reactions in any other guild the bot was invited to count for
nothing (and do not bind that guild to the community).
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.discord.bot import FlywheelBot
from bot.errors import FlywheelError
from bot.services import recognition

log = logging.getLogger(__name__)
PLATFORM = "discord"
# What people write; joins, pins, boosts, thread notices and command replies are not chat.
CHAT_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


def _parent_of(guild: discord.Guild, channel_id: int) -> str | None:
    """Return the channel a thread belongs to (an ignored channel's threads are ignored)."""
    channel = guild.get_channel_or_thread(channel_id)
    if isinstance(channel, discord.Thread) and channel.parent_id:
        return str(channel.parent_id)
    return None


class Chat(commands.Cog):
    """Listens to guild messages and reactions and hands them to recognition."""

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot
        self.runtime = bot.runtime
        self.reading = bot.intents.message_content
        self.reaction_rules = recognition.ReactionRules.from_settings(
            bot.runtime.settings.recognition
        )

    async def cog_load(self) -> None:
        """Say once when chat cannot earn points (the text's length is needed)."""
        if not self.reading:
            log.warning(
                "recognition: chat earns no points on Discord: set [discord] "
                "message_content_intent = true and enable Message Content in the Developer "
                "Portal (Bot → Privileged Gateway Intents); reactions still earn points"
            )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Queue a guild message for chat points (the pipeline applies the rules)."""
        if not self.reading or message.guild is None or message.type not in CHAT_TYPES:
            return
        if not self.bot.serves(message.guild.id):
            return
        channel = message.channel
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        author = message.author
        await self.runtime.ingest.submit(
            recognition.MessageSeen(
                platform=PLATFORM,
                space_id=str(message.guild.id),
                user_id=str(author.id),
                channel_id=str(channel.id),
                parent_id=str(parent) if parent else None,
                message_id=str(message.id),
                text_length=recognition.text_length(message.content),
                text_digest=recognition.text_digest(message.content),
                at=message.created_at,
                display_name=author.display_name,
                is_bot=author.bot or author.system or message.webhook_id is not None,
                community_id=self.runtime.community_id,
            )
        )

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """Give the message's author points for someone else's reaction."""
        reactor = payload.member
        guild = self.bot.get_guild(payload.guild_id) if payload.guild_id else None
        if guild is None or reactor is None or payload.message_author_id is None:
            return
        if not self.bot.serves(guild.id):
            return
        author: discord.abc.User | None = None
        if payload.user_id != payload.message_author_id and not reactor.bot:
            author = await self._author(guild, payload.message_id, payload.message_author_id)
            if author is None:
                log.info("reaction on message %s: its author is unknown", payload.message_id)
                return
        reaction = recognition.ReactionSeen(
            platform=PLATFORM,
            space_id=str(guild.id),
            channel_id=str(payload.channel_id),
            message_id=str(payload.message_id),
            # A custom emoji by its id (its name can change), a unicode one as itself.
            emoji=str(payload.emoji.id or payload.emoji.name or ""),
            reactor_id=str(payload.user_id),
            author_id=str(payload.message_author_id),
            reactor_name=reactor.display_name,
            author_name=author.display_name if author else None,
            reactor_is_bot=reactor.bot,
            author_is_bot=bool(author and (author.bot or author.system)),
            parent_id=_parent_of(guild, payload.channel_id),
        )
        screened = recognition.screen_reaction(self.reaction_rules, reaction)
        if screened is not None:
            # Decided without the database: no transaction for a self-reaction or a bot's.
            log.info("reaction on message %s: %s (+0)", payload.message_id, screened.value)
            return
        try:
            async with self.runtime.sessions() as session, session.begin():
                result = await recognition.record_reaction(
                    session,
                    self.runtime.clock,
                    self.reaction_rules,
                    reaction,
                    community_id=self.runtime.community_id,
                )
        except FlywheelError as exc:
            log.info("reaction on message %s not counted: %s", payload.message_id, exc.message)
            return
        log.info(
            "reaction on message %s: %s (+%d)",
            payload.message_id,
            result.outcome.value,
            result.points,
        )

    async def _author(
        self, guild: discord.Guild, message_id: int, author_id: int
    ) -> discord.abc.User | None:
        """Return who wrote a message (to tell a bot), from the caches or else from Discord."""
        if self.bot.user is not None and author_id == self.bot.user.id:
            return self.bot.user
        member = guild.get_member(author_id)
        if member is not None:
            return member
        for cached in reversed(self.bot.cached_messages):
            if cached.id == message_id:
                return cached.author  # a webhook's message has a bot author
        try:
            return await guild.fetch_member(author_id)
        except discord.NotFound:
            return None  # a webhook, or someone who left: nobody to give points to
        except discord.HTTPException as exc:
            log.warning("reaction on message %s: cannot look up its author: %s", message_id, exc)
            return None
