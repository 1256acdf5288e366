"""The Discord sandbox's world: users, guilds, roles, members, channels, messages, interactions."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.discord.cdn import Cdn
from bot.sandbox.discord.protocol import (
    ALL_PERMISSIONS,
    APP_OWNER_ID,
    BACKLOG_SIZE,
    BOT_USERNAME,
    CHANNEL_DM,
    DISCORD_EPOCH_MS,
    FLAG_EPHEMERAL,
    NONCE_WINDOW_SECONDS,
    PERM_ADMINISTRATOR,
)
from bot.sandbox.discord.wire import ApiError, ApiRequest

if TYPE_CHECKING:
    from bot.sandbox.discord.gateway import Gateway


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True)
class RecordedCall:
    """One REST request the sandbox answered."""

    method: str
    path: str  # without the /api/v10 prefix, e.g. "/channels/1/messages"
    json: Any  # the JSON body (or a multipart request's payload_json), None when absent
    query: dict[str, str]
    at: float  # the sandbox clock (time.monotonic() by default) when the request arrived
    status: int
    files: tuple[str, ...] = ()  # uploaded file names, for multipart requests
    reason: str | None = None  # X-Audit-Log-Reason, when sent


@dataclass(frozen=True)
class Interaction:
    """An interaction the sandbox dispatched; its id and token address the callback."""

    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user_id: int

    @property
    def callback_path(self) -> str:
        """Return the REST path of this interaction's initial-response callback."""
        return f"/interactions/{self.id}/{self.token}/callback"


# --------------------------------------------------------------------------- models


@dataclass
class User:
    id: int
    username: str
    bot: bool = False


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    managed: bool = False


@dataclass
class Member:
    user_id: int
    roles: list[int]
    joined_at: str


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    joined_at: str
    bot_role_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    # The roles other than @everyone from the bottom (position 1) to the top.
    role_order: list[int] = field(default_factory=list)


@dataclass
class Channel:
    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    parent_id: int | None = None
    position: int = 0
    recipient_id: int | None = None  # DM channels
    owner_id: int | None = None  # threads
    created_at: str = ""
    message_count: int = 0
    auto_archive_duration: int = 1440
    # Forum and media channels: the tags posts may carry; a post (thread): the ones it has.
    available_tags: list[dict[str, Any]] = field(default_factory=list)
    applied_tags: list[int] = field(default_factory=list)
    archived: bool = False
    locked: bool = False


@dataclass
class InteractionRecord:
    public: Interaction
    created: float
    payload: dict[str, Any]
    acknowledged: bool = False
    original_message_id: int | None = None
    source_message_id: int | None = None  # the message a component was clicked on


@dataclass
class Session:
    session_id: str
    intents: int
    ws: web.WebSocketResponse | None
    seq: int = 0
    # Sent dispatches, replayed to a client that RESUMEs after a dropped connection.
    backlog: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BACKLOG_SIZE))
    # Serialises sequence numbering and sending, so frames leave in `s` order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def iso(epoch_seconds: float) -> str:
    """Return epoch seconds as Discord's ISO 8601 timestamp."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat()


class Snowflakes:
    """Mint increasing snowflakes whose timestamps are now, so ``created_at`` looks right."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self._wall_clock = wall_clock
        self._last = 0

    def next(self) -> int:
        """Return a fresh snowflake."""
        now = (int(self._wall_clock() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return self._last


# --------------------------------------------------------------------------- the world


class DiscordState:
    """Everything the fake Discord knows; routes, the gateway and the control API share it."""

    def __init__(
        self,
        *,
        application_id: int,
        bot_user_id: int,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        base_url: Callable[[], str],
    ) -> None:
        self.application_id = application_id
        self.bot_user_id = bot_user_id
        # The sandbox clock (recorded calls, the nonce window) and the wall clock Discord shows
        # (message times, snowflakes, rate-limit resets), both injectable.
        self.now = clock
        self.wall_clock = wall_clock
        self.base_url = base_url
        # How long enforce_nonce de-duplicates, and (if set) how long an interaction may wait
        # for its initial response before Discord forgets it (3 s live).
        self.nonce_window: float = NONCE_WINDOW_SECONDS
        self.interaction_response_deadline: float | None = None

        self.ids = Snowflakes(wall_clock)
        self.users: dict[int, User] = {
            bot_user_id: User(bot_user_id, BOT_USERNAME, bot=True),
            APP_OWNER_ID: User(APP_OWNER_ID, "sandbox-owner"),
        }
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.dm_channels: dict[int, int] = {}  # recipient id -> DM channel id
        self.closed_dms: set[int] = set()
        self.messages: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.messages_by_id: dict[int, dict[str, Any]] = {}
        # Attachment bytes behind signed, expiring CDN URLs; ``attachments`` is their bytes by id.
        self.cdn = Cdn(wall_clock=wall_clock, base_url=base_url)
        self.attachments: dict[int, bytes] = self.cdn.data
        # Files members uploaded (add_upload), by attachment id: what options and modals resolve.
        self.uploads: dict[str, dict[str, Any]] = {}
        self.reactors: dict[tuple[int, str], set[int]] = {}
        self.nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.command_ids: dict[tuple[int | None, str, int], int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        # Follow-ups address an interaction by its token: an index, so a burst stays linear.
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.modals: dict[str, dict[str, Any]] = {}
        self.modal_openers: dict[str, int] = {}  # who each modal was opened for
        # Set by the sandbox right after: the gateway reads this state to build its events.
        self.gateway: Gateway

    def interaction_by_token(self, token: str) -> InteractionRecord | None:
        """Return the interaction a webhook token addresses, if any."""
        return self.interactions_by_token.get(token)

    def iso_now(self) -> str:
        """Return the wall clock as a Discord timestamp."""
        return iso(self.wall_clock())

    @property
    def bot(self) -> User:
        """Return the bot's own user."""
        return self.users[self.bot_user_id]

    # ------------------------------------------------------------------ lookups for seeding

    def guild(self, guild_id: int) -> Guild:
        """Return a seeded guild (ValueError names the seeding call when it is missing)."""
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise ValueError(f"unknown guild {guild_id}: seed it with add_guild()") from None

    def channel(self, channel_id: int) -> Channel:
        """Return a seeded channel."""
        try:
            return self.channels[channel_id]
        except KeyError:
            raise ValueError(f"unknown channel {channel_id}: seed it with add_channel()") from None

    def user(self, user_id: int) -> User:
        """Return a seeded user."""
        try:
            return self.users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}: seed it with add_member()") from None

    def guild_id_of(self, channel: Channel) -> int:
        """Return the guild of a guild channel."""
        if channel.guild_id is None:
            raise ValueError(f"channel {channel.id} is not in a guild")
        return channel.guild_id

    # ------------------------------------------------------------------ lookups for routes

    def check_application(self, req: ApiRequest, key: str = "app_id") -> None:
        """Refuse a path naming another application (10002)."""
        if req.snowflake(key) != self.application_id:
            raise ApiError(404, 10002, "Unknown Application")

    def channel_or_404(self, req: ApiRequest) -> Channel:
        """Return the path's channel, or answer 10003."""
        channel = self.channels.get(req.snowflake("channel_id"))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def message_or_404(self, channel: Channel, req: ApiRequest) -> dict[str, Any]:
        """Return the path's message, or answer 10008."""
        message = self.channel_message(channel, req.snowflake("message_id"))
        if message is None:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def guild_or_404(self, req: ApiRequest) -> Guild:
        """Return the path's guild, or answer 10004."""
        guild = self.guilds.get(req.snowflake("guild_id"))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def member_or_404(self, guild: Guild, req: ApiRequest) -> Member:
        """Return the path's member, or answer 10007."""
        member = guild.members.get(req.snowflake("user_id"))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return member

    # ------------------------------------------------------------------ derived state

    def dm_channel(self, user: User) -> Channel:
        """Return the bot's DM channel with a user, creating it if needed."""
        channel_id = self.dm_channels.get(user.id)
        if channel_id is None:
            channel_id = self.ids.next()
            self.dm_channels[user.id] = channel_id
            self.channels[channel_id] = Channel(
                channel_id, CHANNEL_DM, None, recipient_id=user.id, created_at=self.iso_now()
            )
        return self.channels[channel_id]

    def channel_message(self, channel: Channel, message_id: int) -> dict[str, Any] | None:
        """Return a visible message of a channel (ephemeral ones are nobody else's to fetch)."""
        message = self.messages_by_id.get(message_id)
        if message is None or int(message["channel_id"]) != channel.id:
            return None
        if int(message.get("flags", 0)) & FLAG_EPHEMERAL:
            return None
        return message

    def permissions_of(self, guild: Guild, user_id: int) -> int:
        """Return a member's guild-level permissions (no channel overwrites)."""
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        permissions = guild.roles[guild.id].permissions
        member = guild.members.get(user_id)
        for role_id in member.roles if member else []:
            role = guild.roles.get(role_id)
            if role is not None:
                permissions |= role.permissions
        return ALL_PERMISSIONS if permissions & PERM_ADMINISTRATOR else permissions

    def role_position(self, guild: Guild, role_id: int) -> int:
        """Return a role's position: @everyone 0, then the role order from the bottom."""
        if role_id == guild.id or role_id not in guild.role_order:
            return 0
        return guild.role_order.index(role_id) + 1

    def top_position(self, guild: Guild, user_id: int) -> int:
        """Return the position of a member's highest role (0: only @everyone)."""
        member = guild.members.get(user_id)
        held = member.roles if member else []
        return max((self.role_position(guild, r) for r in held if r in guild.roles), default=0)

    def command_id(self, guild_id: int | None, name: str, type_: int) -> int:
        """Return the stable id of a command, so re-syncs keep ids as Discord does."""
        key = (guild_id, name, type_)
        if key not in self.command_ids:
            self.command_ids[key] = self.ids.next()
        return self.command_ids[key]
