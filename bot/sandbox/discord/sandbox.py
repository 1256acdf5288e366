"""The Discord sandbox's control API: what tests call to seed, drive and watch a fake Discord."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yarl
from aiohttp import web

from bot.sandbox.base import Injected, Sandbox
from bot.sandbox.discord.events import (
    command_data,
    create_interaction,
    member_upload,
    message_command_data,
    resolve_options,
)
from bot.sandbox.discord.gateway import Gateway
from bot.sandbox.discord.messages import add_reaction, build_message, store_message
from bot.sandbox.discord.modals import FieldValue, modal_answer, plain_answer
from bot.sandbox.discord.payloads import channel_payload
from bot.sandbox.discord.protocol import (
    API_PREFIX,
    BOT_USERNAME,
    CHANNEL_DM,
    CHANNEL_FORUM,
    CHANNEL_MEDIA,
    CHANNEL_NEWS,
    CHANNEL_NEWS_THREAD,
    CHANNEL_PUBLIC_THREAD,
    CHANNEL_TEXT,
    DEFAULT_APPLICATION_ID,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_BOT_USER_ID,
    DEFAULT_EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    GATEWAY_PATH,
    INTENT_GUILDS,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_COMMAND,
    INTERACTION_COMPONENT,
    INTERACTION_MODAL_SUBMIT,
    THREAD_TYPES,
)
from bot.sandbox.discord.rest import RestApi
from bot.sandbox.discord.roles import RoleControls
from bot.sandbox.discord.state import (
    Channel,
    DiscordState,
    Guild,
    Interaction,
    Member,
    RecordedCall,
    Role,
    User,
)
from bot.sandbox.discord.wire import emoji_payload


class DiscordSandbox(RoleControls, Sandbox[RecordedCall]):
    """A fake Discord (gateway + REST) on 127.0.0.1 that the real discord.py client can use."""

    kind = "Discord"
    client_max_size = 64 * 1024 * 1024
    # A short shutdown timeout: stop() closes the sockets itself, nothing should linger.
    shutdown_timeout = 1.0

    def __init__(
        self,
        *,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_user_id: int = DEFAULT_BOT_USER_ID,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        self.application_id = application_id
        self.bot_user_id = bot_user_id
        self.state = DiscordState(
            application_id=application_id,
            bot_user_id=bot_user_id,
            clock=clock,
            wall_clock=wall_clock,
            base_url=lambda: self.base_url,
        )
        self.gateway = Gateway(self.state, gateway_url=lambda: self.gateway_url, notify=self.notify)
        self.state.gateway = self.gateway
        self.rest = RestApi(self.state, take_injection=self.take_injection, record=self.record)

    # ------------------------------------------------------------------ what tests read

    @property
    def messages(self) -> defaultdict[int, list[dict[str, Any]]]:
        """Return what was posted, per channel id, oldest first."""
        return self.state.messages

    @property
    def attachments(self) -> dict[int, bytes]:
        """Return the uploaded files' bytes by attachment id."""
        return self.state.attachments

    @property
    def cdn_ttl(self) -> float:
        """Return how long a signed CDN URL works, in seconds of the wall clock (a day)."""
        return self.state.cdn.ttl

    @cdn_ttl.setter
    def cdn_ttl(self, seconds: float) -> None:
        self.state.cdn.ttl = seconds

    @property
    def identifies(self) -> list[dict[str, Any]]:
        """Return the IDENTIFY payloads received, token removed."""
        return self.gateway.identifies

    @property
    def nonce_window(self) -> float:
        """Return how long enforce_nonce de-duplicates, in seconds of the sandbox clock."""
        return self.state.nonce_window

    @nonce_window.setter
    def nonce_window(self, seconds: float) -> None:
        self.state.nonce_window = seconds

    @property
    def interaction_response_deadline(self) -> float | None:
        """Return how long an interaction waits for its initial response (None: forever)."""
        return self.state.interaction_response_deadline

    @interaction_response_deadline.setter
    def interaction_response_deadline(self, seconds: float | None) -> None:
        self.state.interaction_response_deadline = seconds

    # ------------------------------------------------------------------ lifecycle

    def add_routes(self, app: web.Application) -> None:
        """Serve the gateway, the CDN's attachment URLs and REST under /api/v10."""
        app.router.add_get(GATEWAY_PATH, self.gateway.serve)
        cdn = self.state.cdn.serve
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename:.+}", cdn)
        app.router.add_get("/ephemeral-attachments/{app_id}/{attachment_id}/{filename:.+}", cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.rest.serve)

    async def stop(self) -> None:
        """Close every gateway connection and stop serving."""
        await self.gateway.close()
        await super().stop()

    @property
    def api_base(self) -> str:
        """Return the REST base URL, for discord.http.Route.BASE."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Return the gateway URL (without query), for DiscordWebSocket.DEFAULT_GATEWAY."""
        return f"ws://{self._host}:{self.port}{GATEWAY_PATH}"

    # ------------------------------------------------------------------ seeding

    def add_guild(self, guild_id: int, name: str, owner_id: int) -> None:
        """Add a guild with its @everyone role and the bot (with a managed role) as a member."""
        bot_role_id = self.state.ids.next()
        guild = Guild(guild_id, name, owner_id, self.state.iso_now(), bot_role_id)
        guild.roles[guild_id] = Role(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS)
        guild.roles[bot_role_id] = Role(
            bot_role_id, BOT_USERNAME, DEFAULT_BOT_PERMISSIONS, managed=True
        )
        guild.role_order.append(bot_role_id)
        guild.members[self.bot_user_id] = Member(
            self.bot_user_id, [bot_role_id], self.state.iso_now()
        )
        self.state.guilds[guild_id] = guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        type: int = CHANNEL_TEXT,
        *,
        parent_id: int | None = None,
    ) -> None:
        """Add a guild channel; threads (types 10-12) need the parent_id of their channel."""
        guild = self.state.guild(guild_id)
        if type in THREAD_TYPES and parent_id is None:
            raise ValueError("a thread needs parent_id")
        position = sum(1 for c in self.state.channels.values() if c.guild_id == guild.id)
        self.state.channels[channel_id] = Channel(
            channel_id,
            type,
            name,
            guild_id=guild_id,
            parent_id=parent_id,
            position=position,
            owner_id=self.bot_user_id if type in THREAD_TYPES else None,
            created_at=self.state.iso_now(),
        )

    def add_forum_tag(self, channel_id: int, name: str) -> int:
        """Add a tag that posts in a forum (or media) channel may carry; return its id."""
        channel = self.state.channel(channel_id)
        if channel.type not in (CHANNEL_FORUM, CHANNEL_MEDIA):
            raise ValueError(f"channel {channel_id} is not a forum or media channel")
        tag_id = self.state.ids.next()
        channel.available_tags.append(
            {
                "id": str(tag_id),
                "name": name,
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
            }
        )
        return tag_id

    def applied_tags(self, thread_id: int) -> list[int]:
        """Return the tag ids a forum post carries now."""
        return list(self.state.channel(thread_id).applied_tags)

    def add_role(self, guild_id: int, role_id: int, name: str, permissions: int = 0) -> None:
        """Add (or replace) a role, just below the bot's; role_id == guild_id replaces @everyone."""
        guild = self.state.guild(guild_id)
        guild.roles[role_id] = Role(role_id, name, permissions)
        if role_id != guild_id and role_id not in guild.role_order:
            guild.role_order.insert(guild.role_order.index(guild.bot_role_id), role_id)

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        username: str,
        roles: Iterable[int] = (),
        bot: bool = False,
    ) -> None:
        """Add (or replace) a guild member."""
        guild = self.state.guild(guild_id)
        self.add_user(user_id, username, bot=bot)
        role_ids = list(roles)
        if user_id == self.bot_user_id:
            role_ids = [guild.bot_role_id, *role_ids]
        guild.members[user_id] = Member(user_id, role_ids, self.state.iso_now())

    def add_user(self, user_id: int, username: str, *, bot: bool = False) -> None:
        """Add a user who need not be in any guild (e.g. only reachable by DM)."""
        if user_id == self.bot_user_id:
            return
        self.state.users[user_id] = User(user_id, username, bot)

    def member_roles(self, guild_id: int, user_id: int) -> list[int]:
        """Return the role ids a guild member holds now (the bot's managed role included)."""
        return list(self.state.guild(guild_id).members[user_id].roles)

    def close_dms(self, user_id: int) -> None:
        """Make DMs to this user fail with 403 / 50007, as when they block server DMs."""
        self.state.closed_dms.add(user_id)

    def open_dm(self, user_id: int) -> int:
        """Return the id of the bot's DM channel with a user, creating it if needed."""
        return self.state.dm_channel(self.state.user(user_id)).id

    def add_upload(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        size: int | None = None,
    ) -> dict[str, Any]:
        """Store a file a member uploads and return its attachment object.

        Pass the object (or its ``id``) as an attachment option's value in
        ``send_slash_command`` or in a file upload's field of ``send_modal_submit``. Its
        ``url`` is signed and expires after ``cdn_ttl`` on the wall clock. ``content_type`` is
        kept as declared (None: Discord did not know it) and ``size`` may claim another size
        than the bytes have, as a test of the bot's own checks.
        """
        return member_upload(self.state, filename, data, content_type, size=size)

    # ------------------------------------------------------------------ recording and waiting

    def describe(self, call: RecordedCall) -> str:
        """Return a call as a timeout message lists it."""
        return f"{call.method} {call.path} -> {call.status}"

    def calls_matching(self, method: str, path_prefix: str) -> list[RecordedCall]:
        """Return recorded calls with this HTTP method whose path starts with path_prefix."""
        method = method.upper()
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    async def wait_until_identified(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
        *,
        count: int = 1,
    ) -> None:
        """Wait until `count` IDENTIFYs were answered with READY and every GUILD_CREATE."""
        await self.wait_until(lambda: self.gateway.identify_count >= count, timeout, "IDENTIFY")

    async def wait_until_resumed(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
        *,
        count: int = 1,
    ) -> None:
        """Wait until `count` RESUMEs were answered with the missed events and RESUMED."""
        await self.wait_until(lambda: self.gateway.resume_count >= count, timeout, "RESUME")

    # ------------------------------------------------------------------ fault injection

    def rate_limit_next(
        self, path_substring: str, retry_after: float, count: int = 1, *, method: str | None = None
    ) -> None:
        """Answer the next `count` requests whose path contains path_substring with a 429."""
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        self.inject(_path_matcher(path_substring, method), Injected(429, body, retry_after), count)

    def fail_next(
        self,
        path_substring: str,
        *,
        status: int,
        code: int,
        message: str,
        count: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with a Discord JSON error."""
        body = {"message": message, "code": code}
        self.inject(_path_matcher(path_substring, method), Injected(status, body), count)

    # ------------------------------------------------------------------ dispatchers

    async def send_slash_command(
        self,
        name: str,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        options: list[dict[str, Any]] | None = None,
        guild_command: bool | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a chat-input command; options may nest subcommands (type 1) and groups (2).

        An attachment option (type 11) takes the object ``add_upload`` returned (or its id) as
        its value; Discord sends the id and the attachment in ``data.resolved.attachments``.

        Whether ``data.guild_id`` is set (discord.py looks guild commands up by it) follows
        what the bot synced; for unsynced commands it is set only when guild_command is True.
        """
        return await self._send_command(
            INTERACTION_COMMAND,
            name,
            guild_id,
            channel_id,
            user_id,
            options,
            guild_command,
            locale,
        )

    async def send_autocomplete(
        self,
        name: str,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        options: list[dict[str, Any]],
        guild_command: bool | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch what Discord sends while a member types an option marked ``"focused": True``.

        The bot answers with callback type 8 and up to 25 choices; read them with
        ``wait_for_call`` on the interaction's callback path.
        """
        return await self._send_command(
            INTERACTION_AUTOCOMPLETE,
            name,
            guild_id,
            channel_id,
            user_id,
            options,
            guild_command,
            locale,
        )

    async def _send_command(
        self,
        kind: int,
        name: str,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        options: list[dict[str, Any]] | None,
        guild_command: bool | None,
        locale: str,
    ) -> Interaction:
        data = command_data(self.state, name, guild_id, options, guild_command)
        return await create_interaction(
            self.state,
            kind,
            data,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            locale=locale,
        )

    async def send_message_command(
        self,
        name: str,
        *,
        message_id: int,
        user_id: int,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a message context command (Apps → ``name`` on a message) run by ``user_id``.

        The interaction comes from the message's channel (a thread, for a message in one),
        with ``data.type`` 3, ``data.target_id`` and the message in ``data.resolved.messages``.
        """
        message = self.state.messages_by_id.get(message_id)
        if message is None or int(message.get("flags", 0)) & FLAG_EPHEMERAL:
            raise ValueError(f"unknown message {message_id}: post it with send_message_create()")
        channel = self.state.channel(int(message["channel_id"]))
        data = message_command_data(self.state, name, channel.guild_id, message)
        return await create_interaction(
            self.state,
            INTERACTION_COMMAND,
            data,
            guild_id=channel.guild_id,
            channel_id=channel.id,
            user_id=user_id,
            locale=locale,
        )

    async def send_thread_create(
        self,
        parent_id: int,
        user_id: int,
        name: str,
        *,
        message_id: int | None = None,
        content: str | None = None,
    ) -> int:
        """Let a member start a thread and dispatch THREAD_CREATE; return the thread's id.

        From a message (``message_id``): the thread takes the message's id and the message,
        left in the parent channel, becomes its starter. In a forum or media channel, a post:
        ``content`` is its first message, which Discord gives the thread's own id. Otherwise
        a thread with no starter message.
        """
        parent = self.state.channel(parent_id)
        guild = self.state.guild(self.state.guild_id_of(parent))
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        forum = parent.type in (CHANNEL_FORUM, CHANNEL_MEDIA)
        starter = None
        if message_id is not None:
            starter = self.state.channel_message(parent, message_id)
            if starter is None or forum:
                raise ValueError(f"no message {message_id} in channel {parent_id} to start from")
            thread_id = message_id
        elif forum:
            if not content:
                raise ValueError("a forum post needs content: its first message")
            thread_id = self.state.ids.next()
        else:
            thread_id = self.state.ids.next()
        kind = CHANNEL_NEWS_THREAD if parent.type == CHANNEL_NEWS else CHANNEL_PUBLIC_THREAD
        thread = Channel(
            thread_id,
            kind,
            name,
            guild_id=guild.id,
            parent_id=parent.id,
            owner_id=user_id,
            created_at=self.state.iso_now(),
        )
        self.state.channels[thread_id] = thread
        described = channel_payload(self.state, thread)
        if starter is not None:
            starter["flags"] = int(starter.get("flags", 0)) | FLAG_HAS_THREAD
            starter["thread"] = dict(described)
        await self.gateway.dispatch(
            "THREAD_CREATE", described | {"newly_created": True}, intent=INTENT_GUILDS
        )
        if forum:
            author = self.state.user(user_id)
            first = build_message(
                self.state, thread, author, {"content": content}, (), message_id=thread_id
            )
            store_message(self.state, thread, first)
            await self.gateway.dispatch_message("MESSAGE_CREATE", thread, first)
        return thread_id

    async def send_component(
        self,
        custom_id: str,
        *,
        message_id: int,
        user_id: int,
        component_type: int = 2,
        values: list[str] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> Interaction:
        """Dispatch a click on a button (type 2) or a choice in a select menu (types 3, 5-8)."""
        message = self.state.messages_by_id.get(message_id)
        if message is None:
            raise ValueError(f"unknown message {message_id}: components live on sent messages")
        channel = self.state.channel(channel_id or int(message["channel_id"]))
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type != 2:
            data["values"] = list(values or [])
            kind = {5: 6, 6: 8, 7: 9, 8: 7}.get(component_type)  # select type -> option type
            if kind is not None:
                opts = [{"type": kind, "value": v} for v in data["values"]]
                data["resolved"] = resolve_options(self.state, channel.guild_id, opts)
        return await create_interaction(
            self.state,
            INTERACTION_COMPONENT,
            data,
            guild_id=guild_id if guild_id is not None else channel.guild_id,
            channel_id=channel.id,
            user_id=user_id,
            message=message,
        )

    def opened_form(self, prefix: str, *, user_id: int | None = None) -> str:
        """Return the custom id of the modal last opened whose id is ``prefix`` or starts
        with ``prefix:`` (forms carry a per-opening suffix), for ``user_id`` if given."""
        for custom_id in reversed(list(self.state.modals)):
            if custom_id != prefix and not custom_id.startswith(f"{prefix}:"):
                continue
            if user_id is None or self.state.modal_openers.get(custom_id) == user_id:
                return custom_id
        raise LookupError(
            f"no modal {prefix!r} was opened" + (f" for {user_id}" if user_id else "")
        )

    async def send_modal_submit(
        self,
        custom_id: str,
        fields: Mapping[str, FieldValue],
        *,
        channel_id: int,
        user_id: int,
        guild_id: int | None = None,
    ) -> Interaction:
        """Dispatch a modal submission; fields maps custom_ids to what the member entered.

        A text input or a radio group takes a str (a radio group's value must be one it lists,
        or None when it is optional); a file upload takes a list of attachments, each the
        object ``add_upload`` returned or its id, within the upload's min and max. When the
        bot opened this modal through the sandbox, the submission mirrors its layout (action
        rows or labels, with component ids), as Discord does, and the attachments go in
        ``data.resolved.attachments``.
        """
        channel = self.state.channel(channel_id)
        modal = self.state.modals.get(custom_id)
        components, attachments = modal_answer(self.state, modal, fields) if modal else ([], {})
        if not components:
            components, attachments = plain_answer(self.state, fields)
        data: dict[str, Any] = {"custom_id": custom_id, "components": components}
        if attachments:
            data["resolved"] = {"attachments": attachments}
        return await create_interaction(
            self.state,
            INTERACTION_MODAL_SUBMIT,
            data,
            guild_id=guild_id if guild_id is not None else channel.guild_id,
            channel_id=channel.id,
            user_id=user_id,
        )

    async def send_message_create(
        self,
        channel_id: int,
        user_id: int,
        content: str,
        guild_id: int | None = None,
        *,
        reply_to: int | None = None,
    ) -> int:
        """Post a message as a user (in a guild channel, thread or DM channel); return its id."""
        channel = self.state.channel(channel_id)
        if guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        author = self.state.user(user_id)
        if (
            channel.guild_id is not None
            and user_id not in self.state.guild(channel.guild_id).members
        ):
            raise ValueError(f"user {user_id} is not a member of guild {channel.guild_id}")
        if channel.type == CHANNEL_DM and channel.recipient_id != user_id:
            raise ValueError(f"user {user_id} is not the recipient of DM channel {channel_id}")
        body: dict[str, Any] = {"content": content}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to)}
        message = build_message(self.state, channel, author, body, ())
        store_message(self.state, channel, message)
        await self.gateway.dispatch_message("MESSAGE_CREATE", channel, message)
        return int(message["id"])

    async def send_reaction_add(
        self,
        channel_id: int,
        message_id: int,
        user_id: int,
        emoji: str,
        guild_id: int | None = None,
    ) -> None:
        """Add a user's reaction (unicode, ``name:id`` or ``<:name:id>``) to a message."""
        channel = self.state.channel(channel_id)
        message = self.state.channel_message(channel, message_id)
        if message is None:
            raise ValueError(f"unknown message {message_id} in channel {channel_id}")
        if guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        await add_reaction(
            self.state, channel, message, self.state.user(user_id), emoji_payload(emoji)
        )

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connected session, so clients drop and RESUME."""
        await self.gateway.request_reconnect()


def _path_matcher(path_substring: str, method: str | None) -> Callable[[str, str], bool]:
    wanted = method.upper() if method else None

    def matches(verb: str, path: str) -> bool:
        return path_substring in path and wanted in (None, verb)

    return matches


def point_discord_py_at(sandbox: DiscordSandbox) -> None:
    """Point discord.py's REST base and default gateway at the sandbox.

    Both are class attributes, so this is process-global: every discord.py client in the
    process (including interaction callbacks and webhook follow-ups, which also build on
    ``Route.BASE``) talks to this sandbox until they are set back.
    """
    # Imported here: the server itself speaks the wire protocol and needs no discord.py.
    import discord.gateway
    import discord.http

    discord.http.Route.BASE = sandbox.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sandbox.gateway_url)
