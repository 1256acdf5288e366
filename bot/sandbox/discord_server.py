"""A local fake Discord that the real discord.py client talks to over HTTP and WebSocket.

The sandbox speaks Discord's wire protocol (REST under ``/api/v10`` and the JSON gateway) closely
enough that an unmodified discord.py 2.7.1 ``commands.Bot`` logs in, receives its guilds, handles
slash commands, buttons and modals, and sends messages against it. Tests seed guilds, channels,
roles and members, push events with the ``send_*`` dispatchers and assert on ``calls`` (every REST
request, in order) and ``messages`` (what was actually posted, per channel).

Behaviour kept from the real service because bots depend on it: ``enforce_nonce`` de-duplication,
403/50007 for users with closed DMs, 404s with Discord's error codes, one acknowledgement per
interaction, gateway intents (including the MESSAGE_CONTENT redaction), READY → GUILD_CREATE
ordering, and RESUME with replay of missed events.

Not modelled: permission enforcement and channel overwrites, sharding, zlib transport
compression, voice, and routes a community bot does not use (those answer 404 and are recorded,
so a missing route shows up in ``calls``). Seeding after a bot has connected changes state
silently (no CHANNEL_CREATE etc.); use the ``send_*`` dispatchers for events a bot must see.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import math
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

_log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_APPLICATION_ID",
    "DEFAULT_BOT_USER_ID",
    "DiscordSandbox",
    "Interaction",
    "RecordedCall",
    "point_discord_py_at",
]

API_PREFIX: Final = "/api/v10"
GATEWAY_PATH: Final = "/gw"
DEFAULT_APPLICATION_ID: Final = 1_100_000_000_000_000_001
DEFAULT_BOT_USER_ID: Final = 1_100_000_000_000_000_002
_APP_OWNER_ID: Final = 1_100_000_000_000_000_003
_BOT_USERNAME: Final = "Flywheel"

_DISCORD_EPOCH_MS: Final = 1_420_070_400_000
# Discord only de-duplicates enforce_nonce messages for "a few minutes".
NONCE_WINDOW_SECONDS: Final = 300.0
_HEARTBEAT_INTERVAL_MS: Final = 41_250
_ATTACHMENT_SIZE_LIMIT: Final = 10 * 1024 * 1024
_MAX_CONTENT_LENGTH: Final = 2000
_BACKLOG_SIZE: Final = 1000

# Gateway opcodes.
_OP_DISPATCH: Final = 0
_OP_HEARTBEAT: Final = 1
_OP_IDENTIFY: Final = 2
_OP_RESUME: Final = 6
_OP_RECONNECT: Final = 7
_OP_REQUEST_MEMBERS: Final = 8
_OP_INVALID_SESSION: Final = 9
_OP_HELLO: Final = 10
_OP_HEARTBEAT_ACK: Final = 11

# Gateway intents that decide which events a session receives.
_INTENT_GUILDS: Final = 1 << 0
_INTENT_GUILD_MEMBERS: Final = 1 << 1
_INTENT_GUILD_MESSAGES: Final = 1 << 9
_INTENT_GUILD_MESSAGE_REACTIONS: Final = 1 << 10
_INTENT_DIRECT_MESSAGES: Final = 1 << 12
_INTENT_DIRECT_MESSAGE_REACTIONS: Final = 1 << 13
_INTENT_MESSAGE_CONTENT: Final = 1 << 15

# Channel types.
_CHANNEL_TEXT: Final = 0
_CHANNEL_DM: Final = 1
_CHANNEL_VOICE: Final = 2
_CHANNEL_NEWS: Final = 5
_CHANNEL_NEWS_THREAD: Final = 10
_CHANNEL_PUBLIC_THREAD: Final = 11
_CHANNEL_PRIVATE_THREAD: Final = 12
_CHANNEL_STAGE: Final = 13
_CHANNEL_FORUM: Final = 15
_CHANNEL_MEDIA: Final = 16
_THREAD_TYPES: Final = frozenset(
    {_CHANNEL_NEWS_THREAD, _CHANNEL_PUBLIC_THREAD, _CHANNEL_PRIVATE_THREAD}
)

# Interaction types and the callback types Discord accepts for each.
_INTERACTION_PING: Final = 1
_INTERACTION_COMMAND: Final = 2
_INTERACTION_COMPONENT: Final = 3
_INTERACTION_AUTOCOMPLETE: Final = 4
_INTERACTION_MODAL_SUBMIT: Final = 5
_CALLBACK_CHANNEL_MESSAGE: Final = 4
_CALLBACK_DEFERRED_CHANNEL_MESSAGE: Final = 5
_CALLBACK_DEFERRED_UPDATE: Final = 6
_CALLBACK_UPDATE_MESSAGE: Final = 7
_CALLBACK_AUTOCOMPLETE_RESULT: Final = 8
_CALLBACK_MODAL: Final = 9
# Autocomplete answers: at most 25 choices, names of 1 to 100 characters.
_MAX_CHOICES: Final = 25
_MAX_CHOICE_NAME: Final = 100
_VALID_CALLBACKS: Final[dict[int, frozenset[int]]] = {
    _INTERACTION_PING: frozenset({1}),
    _INTERACTION_COMMAND: frozenset({4, 5, 9, 10, 12}),
    _INTERACTION_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    _INTERACTION_AUTOCOMPLETE: frozenset({8}),
    _INTERACTION_MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

# Message flags.
_FLAG_HAS_THREAD: Final = 1 << 5
_FLAG_EPHEMERAL: Final = 1 << 6
_FLAG_LOADING: Final = 1 << 7
# Flags a client may set on a message it posts; the rest are Discord's to set.
_SETTABLE_FLAGS: Final = (1 << 2) | (1 << 12) | (1 << 13) | (1 << 15)

# Permissions.
_PERM_ADMINISTRATOR: Final = 1 << 3
_ALL_PERMISSIONS: Final = (1 << 51) - 1
_DEFAULT_EVERYONE_PERMISSIONS: Final = (
    (1 << 0)  # CREATE_INSTANT_INVITE
    | (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 18)  # USE_EXTERNAL_EMOJIS
    | (1 << 20)  # CONNECT
    | (1 << 21)  # SPEAK
    | (1 << 26)  # CHANGE_NICKNAME
    | (1 << 31)  # USE_APPLICATION_COMMANDS
    | (1 << 35)  # CREATE_PUBLIC_THREADS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
)
_DEFAULT_BOT_PERMISSIONS: Final = (
    _DEFAULT_EVERYONE_PERMISSIONS
    | (1 << 13)  # MANAGE_MESSAGES
    | (1 << 28)  # MANAGE_ROLES
    | (1 << 34)  # MANAGE_THREADS
    | (1 << 36)  # CREATE_PRIVATE_THREADS
)

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


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


# --------------------------------------------------------------------------- internal models


@dataclass
class _User:
    id: int
    username: str
    bot: bool = False


@dataclass
class _Role:
    id: int
    name: str
    permissions: int
    managed: bool = False


@dataclass
class _Member:
    user_id: int
    roles: list[int]
    joined_at: str


@dataclass
class _Guild:
    id: int
    name: str
    owner_id: int
    joined_at: str
    bot_role_id: int
    roles: dict[int, _Role] = field(default_factory=dict)
    members: dict[int, _Member] = field(default_factory=dict)


@dataclass
class _Channel:
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


@dataclass
class _InteractionRecord:
    public: Interaction
    created: float
    payload: dict[str, Any]
    acknowledged: bool = False
    original_message_id: int | None = None
    source_message_id: int | None = None  # the message a component was clicked on


@dataclass
class _Session:
    session_id: str
    intents: int
    ws: web.WebSocketResponse | None
    seq: int = 0
    # Sent dispatches, replayed to a client that RESUMEs after a dropped connection.
    backlog: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_BACKLOG_SIZE))
    # Serialises sequence numbering and sending, so frames leave in `s` order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _Injection:
    path_substring: str
    method: str | None
    remaining: int
    status: int
    body: dict[str, Any]
    retry_after: float | None = None


@dataclass(frozen=True)
class _Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class _ApiRequest:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    query: dict[str, str]
    files: tuple[_Upload, ...]

    def json_object(self) -> dict[str, Any]:
        """Return the body as a JSON object, or an empty one when absent."""
        return self.body if isinstance(self.body, dict) else {}

    def snowflake(self, name: str) -> int:
        """Return a numeric path parameter."""
        return int(self.params[name])


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any = None  # None with status 204 means "no content"


class _ApiError(Exception):
    """A Discord-style JSON error answer."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors

    def reply(self) -> _Reply:
        """Return the error as an answer."""
        return _Reply(self.status, self.body)


def _validate_choices(choices: Any) -> None:
    """Refuse an autocomplete answer Discord would refuse."""
    if not isinstance(choices, list) or len(choices) > _MAX_CHOICES:
        raise _invalid_form(
            "data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    for choice in choices:
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= _MAX_CHOICE_NAME:
            raise _invalid_form(
                "data.choices.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        value = choice.get("value")
        if not isinstance(value, str | int | float):
            raise _invalid_form(
                "data.choices.value", "BASE_TYPE_REQUIRED", "This field is required"
            )
        if isinstance(value, str) and len(value) > _MAX_CHOICE_NAME:
            raise _invalid_form(
                "data.choices.value", "BASE_TYPE_BAD_LENGTH", "Must be 100 or fewer in length."
            )


def _invalid_form(field_name: str, code: str, message: str) -> _ApiError:
    return _ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


_Handler = Callable[[_ApiRequest], Awaitable[_Reply]]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: _Handler
    bucket: str


# --------------------------------------------------------------------------- wire helpers


def _wire_response(
    reply: _Reply, *, bucket: str, now: float, retry_after: float | None = None
) -> web.Response:
    """Build a REST answer the way Discord's edge sends it.

    Every discord.py wire quirk lives here:
    - ``Content-Type`` must be exactly ``application/json``: discord.py's ``json_or_text``
      compares the header for equality, and aiohttp's ``json_response`` appends
      ``; charset=utf-8``, which makes discord.py treat the body as text.
    - Every answer carries ``X-RateLimit-*`` headers. discord.py keys its buckets on
      ``X-RateLimit-Bucket`` and sleeps pre-emptively when ``X-RateLimit-Remaining`` reaches 0,
      so successes advertise a roomy bucket that resets quickly.
    - A 429 must carry a ``Via`` header (Discord answers through Google's edge, ``Via: 1.1
      google``): without it discord.py assumes a Cloudflare ban and raises instead of retrying.
      The retry delay it honours is the JSON body's ``retry_after``, not the header.
    - 204 answers have no body and no ``Content-Type``.
    """
    headers = {"Via": "1.1 google", "X-RateLimit-Bucket": bucket, "X-RateLimit-Limit": "50"}
    if retry_after is None:
        headers |= {
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Reset": f"{now + 1.0:.3f}",
        }
    else:
        headers |= {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Reset": f"{now + retry_after:.3f}",
            "X-RateLimit-Scope": "user",
        }
    if reply.status == 204:
        return web.Response(status=204, headers=headers)
    headers["Content-Type"] = "application/json"
    return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)


def _bucket_id(method: str, template: str) -> str:
    return hashlib.blake2s(f"{method} {template}".encode(), digest_size=8).hexdigest()


async def _read_body(request: web.Request) -> tuple[Any, tuple[_Upload, ...]]:
    """Return the JSON body (or multipart payload_json) and any uploaded files."""
    if not request.body_exists:
        return None, ()
    if request.content_type == "multipart/form-data":
        body: Any = None
        uploads: list[_Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read())
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                uploads.append(_Upload(part.filename or "file", content_type, data))
        return body, tuple(uploads)
    raw = await request.read()
    if not raw:
        return None, ()
    try:
        return json.loads(raw), ()
    except ValueError:
        raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat()


def _emoji_payload(emoji: str) -> dict[str, Any]:
    """Return the gateway form of a unicode or custom (``name:id``, ``<:name:id>``) emoji."""
    text = emoji[1:-1] if emoji.startswith("<") and emoji.endswith(">") else emoji
    animated = text.startswith("a:")
    name, _, emoji_id = text.removeprefix("a:").lstrip(":").rpartition(":")
    if not (name and emoji_id.isdigit()):
        return {"id": None, "name": emoji}
    return {"id": emoji_id, "name": name, "animated": animated}


def _emoji_key(emoji: dict[str, Any]) -> str:
    return str(emoji["id"]) if emoji.get("id") else str(emoji["name"])


class _Snowflakes:
    """Mint increasing snowflakes whose timestamps are now, so ``created_at`` looks right."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self._wall_clock = wall_clock
        self._last = 0

    def next(self) -> int:
        """Return a fresh snowflake."""
        now = (int(self._wall_clock() * 1000) - _DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return self._last


# --------------------------------------------------------------------------- the sandbox


class DiscordSandbox:
    """A fake Discord (gateway + REST) on 127.0.0.1 that the real discord.py client can use."""

    def __init__(
        self,
        *,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_user_id: int = DEFAULT_BOT_USER_ID,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.application_id = application_id
        # Recorded call times (and the nonce window) read this clock, so a test that paces
        # on a simulated clock can measure the pacing on that same clock.
        self._now = clock
        # Timestamps Discord shows (message times, snowflakes, rate-limit resets) are wall-clock
        # epoch seconds; injectable like the other clock.
        self._wall_clock = wall_clock
        self.bot_user_id = bot_user_id
        # Public knobs: how long enforce_nonce de-duplicates, and (if set) how long an
        # interaction may wait for its initial response before Discord forgets it (3 s live).
        self.nonce_window: float = NONCE_WINDOW_SECONDS
        self.interaction_response_deadline: float | None = None

        self.calls: list[RecordedCall] = []
        self.messages: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.attachments: dict[int, bytes] = {}
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads, token removed

        self._ids = _Snowflakes(wall_clock)
        self._users: dict[int, _User] = {
            bot_user_id: _User(bot_user_id, _BOT_USERNAME, bot=True),
            _APP_OWNER_ID: _User(_APP_OWNER_ID, "sandbox-owner"),
        }
        self._guilds: dict[int, _Guild] = {}
        self._channels: dict[int, _Channel] = {}
        self._dm_channels: dict[int, int] = {}  # recipient id -> DM channel id
        self._closed_dms: set[int] = set()
        self._messages_by_id: dict[int, dict[str, Any]] = {}
        self._reactors: dict[tuple[int, str], set[int]] = {}
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._interactions: dict[int, _InteractionRecord] = {}
        self._modals: dict[str, dict[str, Any]] = {}
        self._injections: list[_Injection] = []

        self._sessions: dict[str, _Session] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._identify_count = 0
        self._resume_count = 0
        self._changed = asyncio.Condition()

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes = self._build_routes()

    def _iso_now(self) -> str:
        return _iso(self._wall_clock())

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving REST and the gateway; port 0 picks a free port."""
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        # A short shutdown timeout: stop() closes the sockets itself, nothing should linger.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner, self._port = runner, site.port

    async def stop(self) -> None:
        """Close every gateway connection and stop serving."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"sandbox stopping")
        self._sessions.clear()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    @property
    def port(self) -> int:
        """Return the bound TCP port."""
        if self._port is None:
            raise RuntimeError("the sandbox has not been started")
        return self._port

    @property
    def api_base(self) -> str:
        """Return the REST base URL, for discord.http.Route.BASE."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Return the gateway URL (without query), for DiscordWebSocket.DEFAULT_GATEWAY."""
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    # ------------------------------------------------------------------ seeding

    def add_guild(self, guild_id: int, name: str, owner_id: int) -> None:
        """Add a guild with its @everyone role and the bot (with a managed role) as a member."""
        bot_role_id = self._ids.next()
        guild = _Guild(guild_id, name, owner_id, self._iso_now(), bot_role_id)
        guild.roles[guild_id] = _Role(guild_id, "@everyone", _DEFAULT_EVERYONE_PERMISSIONS)
        guild.roles[bot_role_id] = _Role(
            bot_role_id, _BOT_USERNAME, _DEFAULT_BOT_PERMISSIONS, managed=True
        )
        guild.members[self.bot_user_id] = _Member(self.bot_user_id, [bot_role_id], self._iso_now())
        self._guilds[guild_id] = guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        type: int = _CHANNEL_TEXT,
        *,
        parent_id: int | None = None,
    ) -> None:
        """Add a guild channel; threads (types 10-12) need the parent_id of their channel."""
        guild = self._guild(guild_id)
        if type in _THREAD_TYPES and parent_id is None:
            raise ValueError("a thread needs parent_id")
        position = sum(1 for c in self._channels.values() if c.guild_id == guild.id)
        self._channels[channel_id] = _Channel(
            channel_id,
            type,
            name,
            guild_id=guild_id,
            parent_id=parent_id,
            position=position,
            owner_id=self.bot_user_id if type in _THREAD_TYPES else None,
            created_at=self._iso_now(),
        )

    def add_role(self, guild_id: int, role_id: int, name: str, permissions: int = 0) -> None:
        """Add (or replace) a role; role_id == guild_id replaces @everyone."""
        self._guild(guild_id).roles[role_id] = _Role(role_id, name, permissions)

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        username: str,
        roles: Iterable[int] = (),
        bot: bool = False,
    ) -> None:
        """Add (or replace) a guild member."""
        guild = self._guild(guild_id)
        self.add_user(user_id, username, bot=bot)
        role_ids = list(roles)
        if user_id == self.bot_user_id:
            role_ids = [guild.bot_role_id, *role_ids]
        guild.members[user_id] = _Member(user_id, role_ids, self._iso_now())

    def add_user(self, user_id: int, username: str, *, bot: bool = False) -> None:
        """Add a user who need not be in any guild (e.g. only reachable by DM)."""
        if user_id == self.bot_user_id:
            return
        self._users[user_id] = _User(user_id, username, bot)

    def close_dms(self, user_id: int) -> None:
        """Make DMs to this user fail with 403 / 50007, as when they block server DMs."""
        self._closed_dms.add(user_id)

    def open_dm(self, user_id: int) -> int:
        """Return the id of the bot's DM channel with a user, creating it if needed."""
        return self._dm_channel(self._user(user_id)).id

    # ------------------------------------------------------------------ recording and waiting

    def calls_matching(self, method: str, path_prefix: str) -> list[RecordedCall]:
        """Return recorded calls with this HTTP method whose path starts with path_prefix."""
        method = method.upper()
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    async def wait_for_call(
        self,
        predicate: Callable[[RecordedCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
    ) -> RecordedCall:
        """Return the first recorded call matching predicate, waiting for it if needed."""
        found: list[RecordedCall] = []
        scanned = 0  # calls already tested; the predicate's answer for them cannot change

        def matched() -> bool:
            nonlocal scanned
            for call in self.calls[scanned:]:
                scanned += 1
                if predicate(call):
                    found.append(call)
                    return True
            return False

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(matched)
        except TimeoutError:
            seen = "\n  ".join(f"{c.method} {c.path} -> {c.status}" for c in self.calls)
            raise TimeoutError(
                f"no matching REST call within {timeout}s; recorded:\n  {seen or '(none)'}"
            ) from None
        return found[0]

    async def wait_until_identified(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
        *,
        count: int = 1,
    ) -> None:
        """Wait until `count` IDENTIFYs were answered with READY and every GUILD_CREATE."""
        await self._wait(lambda: self._identify_count >= count, timeout, "IDENTIFY")

    async def wait_until_resumed(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
        *,
        count: int = 1,
    ) -> None:
        """Wait until `count` RESUMEs were answered with the missed events and RESUMED."""
        await self._wait(lambda: self._resume_count >= count, timeout, "RESUME")

    async def _wait(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        try:
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise TimeoutError(f"no {what} within {seconds}s") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

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
        self._injections.append(
            _Injection(path_substring, method and method.upper(), count, 429, body, retry_after)
        )

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
        self._injections.append(
            _Injection(path_substring, method and method.upper(), count, status, body)
        )

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.path_substring in path and injection.method in (None, method):
                injection.remaining -= 1
                if injection.remaining <= 0:
                    self._injections.remove(injection)
                return injection
        return None

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

        Whether ``data.guild_id`` is set (discord.py looks guild commands up by it) follows
        what the bot synced; for unsynced commands it is set only when guild_command is True.
        """
        return await self._send_command(
            _INTERACTION_COMMAND,
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
            _INTERACTION_AUTOCOMPLETE,
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
        command_guild = self._command_scope(name, guild_id, guild_command)
        command = next(
            (c for c in self._commands.get(command_guild, []) if c["name"] == name), None
        )
        command_id = int(command["id"]) if command else self._command_id(command_guild, name, 1)
        data: dict[str, Any] = {"id": str(command_id), "name": name, "type": 1}
        if options:
            data["options"] = copy.deepcopy(options)
            resolved = self._resolve_options(guild_id, options)
            if resolved:
                data["resolved"] = resolved
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        return await self._create_interaction(
            kind,
            data,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            locale=locale,
        )

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
        message = self._messages_by_id.get(message_id)
        if message is None:
            raise ValueError(f"unknown message {message_id}: components live on sent messages")
        channel = self._channel(channel_id or int(message["channel_id"]))
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type != 2:
            data["values"] = list(values or [])
            kind = {5: 6, 6: 8, 7: 9, 8: 7}.get(component_type)  # select type -> option type
            if kind is not None:
                opts = [{"type": kind, "value": v} for v in data["values"]]
                data["resolved"] = self._resolve_options(channel.guild_id, opts)
        return await self._create_interaction(
            _INTERACTION_COMPONENT,
            data,
            guild_id=guild_id if guild_id is not None else channel.guild_id,
            channel_id=channel.id,
            user_id=user_id,
            message=message,
        )

    async def send_modal_submit(
        self,
        custom_id: str,
        fields: dict[str, str],
        *,
        channel_id: int,
        user_id: int,
        guild_id: int | None = None,
    ) -> Interaction:
        """Dispatch a modal submission; fields maps text-input custom_ids to values.

        When the bot opened this modal through the sandbox, the submission mirrors its layout
        (action rows or labels), as Discord does.
        """
        channel = self._channel(channel_id)
        modal = self._modals.get(custom_id)
        components = self._modal_answer(modal, fields) if modal else []
        if not components:
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
                for key, value in fields.items()
            ]
        return await self._create_interaction(
            _INTERACTION_MODAL_SUBMIT,
            {"custom_id": custom_id, "components": components},
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
        channel = self._channel(channel_id)
        if guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        author = self._user(user_id)
        if channel.guild_id is not None and user_id not in self._guild(channel.guild_id).members:
            raise ValueError(f"user {user_id} is not a member of guild {channel.guild_id}")
        if channel.type == _CHANNEL_DM and channel.recipient_id != user_id:
            raise ValueError(f"user {user_id} is not the recipient of DM channel {channel_id}")
        body: dict[str, Any] = {"content": content}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to)}
        message = self._build_message(channel, author, body, ())
        self._store_message(channel, message)
        await self._dispatch_message("MESSAGE_CREATE", channel, message)
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
        channel = self._channel(channel_id)
        message = self._channel_message(channel, message_id)
        if message is None:
            raise ValueError(f"unknown message {message_id} in channel {channel_id}")
        if guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        await self._add_reaction(channel, message, self._user(user_id), _emoji_payload(emoji))

    async def send_member_add(
        self, guild_id: int, user_id: int, username: str, *, bot: bool = False
    ) -> None:
        """Make a user join a guild and dispatch GUILD_MEMBER_ADD."""
        self.add_member(guild_id, user_id, username, bot=bot)
        guild = self._guild(guild_id)
        event = self._member_payload(guild, guild.members[user_id]) | {"guild_id": str(guild_id)}
        await self._dispatch("GUILD_MEMBER_ADD", event, intent=_INTENT_GUILD_MEMBERS)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connected session, so clients drop and RESUME."""
        for session in list(self._sessions.values()):
            if session.ws is not None:
                await self._send_frame(session.ws, {"op": _OP_RECONNECT, "d": None})

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        session: _Session | None = None
        try:
            await self._send_frame(
                ws, {"op": _OP_HELLO, "d": {"heartbeat_interval": _HEARTBEAT_INTERVAL_MS}}
            )
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue  # discord.py only ever sends JSON text frames
                try:
                    payload = json.loads(frame.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                session = await self._on_gateway_frame(ws, session, payload)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                # A clean close (1000/1001) ends the session; anything else may RESUME.
                if ws.close_code in (1000, 1001):
                    self._sessions.pop(session.session_id, None)
        return ws

    async def _on_gateway_frame(
        self, ws: web.WebSocketResponse, session: _Session | None, payload: dict[str, Any]
    ) -> _Session | None:
        op, data = payload.get("op"), payload.get("d")
        if op == _OP_HEARTBEAT:
            await self._send_frame(ws, {"op": _OP_HEARTBEAT_ACK})
        elif op == _OP_IDENTIFY:
            return await self._identify(ws, data if isinstance(data, dict) else {})
        elif op == _OP_RESUME:
            return await self._resume(ws, data if isinstance(data, dict) else {})
        elif session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
        elif op == _OP_REQUEST_MEMBERS and isinstance(data, dict):
            await self._send_member_chunks(session, data)
        # Presence (3) and voice state (4) updates are accepted and ignored.
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> _Session:
        session = _Session(secrets.token_hex(16), int(data.get("intents") or 0), ws)
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        ready = {
            "v": 10,
            "user": self._user_payload(self._users[self.bot_user_id])
            | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self._guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "session_type": "normal",
            "shard": [0, 1],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
        }
        async with session.lock:
            await self._send_dispatch(session, "READY", ready)
            # GUILD_CREATE right after READY spares discord.py its guild-ready wait per guild.
            for guild in list(self._guilds.values()):
                await self._send_dispatch(session, "GUILD_CREATE", self._guild_create(guild))
            self._sessions[session.session_id] = session
        self._identify_count += 1
        await self._notify()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> _Session | None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None:
            # discord.py then reconnects and IDENTIFYs afresh.
            await self._send_frame(ws, {"op": _OP_INVALID_SESSION, "d": False})
            return None
        last_seen = int(data.get("seq") or 0)
        async with session.lock:
            if session.ws is not None and session.ws is not ws:
                await session.ws.close(code=4009, message=b"Session superseded.")
            session.ws = ws
            for event in list(session.backlog):
                if event["s"] > last_seen:
                    await self._send_frame(ws, event)
            await self._send_dispatch(session, "RESUMED", {})
        self._resume_count += 1
        await self._notify()
        return session

    async def _send_member_chunks(self, session: _Session, data: dict[str, Any]) -> None:
        guild_ids = data.get("guild_id")
        for raw_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            guild = self._guilds.get(int(str(raw_id))) if str(raw_id).isdigit() else None
            if guild is None:
                continue
            wanted = {int(u) for u in data.get("user_ids") or []}
            query = str(data.get("query") or "").lower()
            members = [
                self._member_payload(guild, m)
                for m in guild.members.values()
                if (not wanted or m.user_id in wanted)
                and self._users[m.user_id].username.lower().startswith(query)
            ]
            limit = int(data.get("limit") or 0)
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": members[:limit] if limit else members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [str(u) for u in wanted - set(guild.members)],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            async with session.lock:
                await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_frame(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> bool:
        """Send one JSON text frame; plain text is fine, discord.py only inflates binary."""
        if ws.closed:
            return False
        try:
            await ws.send_str(json.dumps(payload))
        except ConnectionError:
            return False
        return True

    async def _send_dispatch(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        """Number and send one dispatch on a session; the caller holds session.lock."""
        session.seq += 1
        frame = {"op": _OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        session.backlog.append(frame)
        if session.ws is not None:
            await self._send_frame(session.ws, frame)

    async def _dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None,
        message_content: bool = False,
    ) -> None:
        """Send an event to every live session whose intents ask for it.

        Disconnected sessions that may still RESUME get it in their backlog.
        message_content marks message payloads that lose their content for sessions without
        the MESSAGE_CONTENT intent, unless the bot is mentioned or wrote it (Discord's rule).
        """
        for session in list(self._sessions.values()):
            if intent is not None and not session.intents & intent:
                continue
            payload = copy.deepcopy(data)
            if message_content and not session.intents & _INTENT_MESSAGE_CONTENT:
                self._redact_content(payload)
            async with session.lock:
                await self._send_dispatch(session, event, payload)

    def _redact_content(self, message: dict[str, Any]) -> None:
        author_id = int(message.get("author", {}).get("id", 0))
        mentioned = any(int(u["id"]) == self.bot_user_id for u in message.get("mentions", []))
        if "guild_id" not in message or author_id == self.bot_user_id or mentioned:
            return
        message.update(content="", embeds=[], attachments=[], components=[])
        message.pop("poll", None)

    async def _dispatch_message(
        self, event: str, channel: _Channel, message: dict[str, Any]
    ) -> None:
        """Dispatch MESSAGE_CREATE/UPDATE with guild_id and member; ephemeral ones stay private."""
        if int(message.get("flags", 0)) & _FLAG_EPHEMERAL:
            return
        payload = copy.deepcopy(message)
        dm = channel.guild_id is None
        if not dm:
            guild = self._guild(self._guild_id_of(channel))
            payload["guild_id"] = str(guild.id)
            member = guild.members.get(int(payload["author"]["id"]))
            if member is not None and "webhook_id" not in payload:
                payload["member"] = self._member_payload(guild, member, with_user=False)
        intent = _INTENT_DIRECT_MESSAGES if dm else _INTENT_GUILD_MESSAGES
        await self._dispatch(event, payload, intent=intent, message_content=True)

    async def _create_interaction(
        self,
        type_: int,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        if not self._sessions:
            raise RuntimeError("no gateway session: start the bot and wait_until_identified()")
        channel = self._channel(channel_id)
        user = self._user(user_id)
        interaction_id = self._ids.next()
        token = secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "token": token,
            "version": 1,
            "data": data,
            "channel_id": str(channel.id),
            "channel": self._channel_payload(channel),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": _ATTACHMENT_SIZE_LIMIT,
        }
        if guild_id is not None:
            guild = self._guild(guild_id)
            member = guild.members.get(user_id)
            if member is None:
                raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
            payload |= {
                "guild_id": str(guild_id),
                "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "member": self._member_payload(guild, member, permissions=True),
                "app_permissions": str(self._permissions_of(guild, self.bot_user_id)),
                "authorizing_integration_owners": {"0": str(guild_id)},
                "context": 0,
            }
            payload["channel"]["permissions"] = payload["member"]["permissions"]
        else:
            payload |= {
                "user": self._user_payload(user),
                "app_permissions": str(_DEFAULT_EVERYONE_PERMISSIONS),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            }
            payload["channel"]["permissions"] = str(_DEFAULT_EVERYONE_PERMISSIONS)
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        public = Interaction(interaction_id, token, type_, channel.id, guild_id, user_id)
        self._interactions[interaction_id] = _InteractionRecord(
            public,
            time.monotonic(),
            payload,
            source_message_id=int(message["id"]) if message is not None else None,
        )
        await self._dispatch("INTERACTION_CREATE", payload, intent=None)
        return public

    def _command_scope(
        self, name: str, guild_id: int | None, guild_command: bool | None
    ) -> int | None:
        """Return the guild id a command is registered in, or None for a global command."""
        if guild_command is not None:
            return guild_id if guild_command else None
        if guild_id is not None and any(
            c["name"] == name for c in self._commands.get(guild_id, [])
        ):
            return guild_id
        return None

    def _command_id(self, guild_id: int | None, name: str, type_: int) -> int:
        """Return the stable id of a command, so re-syncs keep ids as Discord does."""
        key = (guild_id, name, type_)
        if key not in self._command_ids:
            self._command_ids[key] = self._ids.next()
        return self._command_ids[key]

    def _resolve_options(
        self, guild_id: int | None, options: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Build the ``resolved`` map for user, channel, role and mentionable option values."""
        resolved: dict[str, dict[str, Any]] = {}
        guild = self._guilds.get(guild_id) if guild_id is not None else None
        stack = list(options)
        while stack:
            option = stack.pop()
            stack.extend(option.get("options") or [])
            kind, value = option.get("type"), option.get("value")
            if value is None or kind not in (6, 7, 8, 9):
                continue
            snowflake = int(value)
            if kind in (6, 9) and snowflake in self._users:
                resolved.setdefault("users", {})[str(snowflake)] = self._user_payload(
                    self._users[snowflake]
                )
                member = guild.members.get(snowflake) if guild else None
                if guild is not None and member is not None:
                    resolved.setdefault("members", {})[str(snowflake)] = self._member_payload(
                        guild, member, with_user=False, permissions=True
                    )
            elif kind in (8, 9) and guild is not None and snowflake in guild.roles:
                resolved.setdefault("roles", {})[str(snowflake)] = self._role_payload(
                    guild, guild.roles[snowflake]
                )
            elif kind == 7 and snowflake in self._channels:
                channel_payload = self._channel_payload(self._channels[snowflake])
                channel_payload["permissions"] = str(_ALL_PERMISSIONS)
                resolved.setdefault("channels", {})[str(snowflake)] = channel_payload
        return resolved

    def _modal_answer(self, modal: dict[str, Any], fields: dict[str, str]) -> list[dict[str, Any]]:
        """Mirror the layout of a modal the bot sent, filling its text inputs from fields."""

        def answer(component: dict[str, Any]) -> dict[str, Any] | None:
            custom_id = component.get("custom_id")
            if component.get("type") == 4 and custom_id is not None:
                return {"type": 4, "custom_id": custom_id, "value": fields.get(custom_id, "")}
            return None

        components: list[dict[str, Any]] = []
        for top in modal.get("components") or []:
            if top.get("type") == 1:
                inner = [a for c in top.get("components") or [] if (a := answer(c)) is not None]
                if inner:
                    components.append({"type": 1, "components": inner})
            elif top.get("type") == 18 and (a := answer(top.get("component") or {})):
                components.append({"type": 18, "component": a})
        return components

    # ------------------------------------------------------------------ state lookups

    def _guild(self, guild_id: int) -> _Guild:
        try:
            return self._guilds[guild_id]
        except KeyError:
            raise ValueError(f"unknown guild {guild_id}: seed it with add_guild()") from None

    def _channel(self, channel_id: int) -> _Channel:
        try:
            return self._channels[channel_id]
        except KeyError:
            raise ValueError(f"unknown channel {channel_id}: seed it with add_channel()") from None

    def _user(self, user_id: int) -> _User:
        try:
            return self._users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}: seed it with add_member()") from None

    def _guild_id_of(self, channel: _Channel) -> int:
        if channel.guild_id is None:
            raise ValueError(f"channel {channel.id} is not in a guild")
        return channel.guild_id

    def _dm_channel(self, user: _User) -> _Channel:
        channel_id = self._dm_channels.get(user.id)
        if channel_id is None:
            channel_id = self._ids.next()
            self._dm_channels[user.id] = channel_id
            self._channels[channel_id] = _Channel(
                channel_id, _CHANNEL_DM, None, recipient_id=user.id, created_at=self._iso_now()
            )
        return self._channels[channel_id]

    def _channel_message(self, channel: _Channel, message_id: int) -> dict[str, Any] | None:
        """Return a visible message of a channel (ephemeral ones are nobody else's to fetch)."""
        message = self._messages_by_id.get(message_id)
        if message is None or int(message["channel_id"]) != channel.id:
            return None
        if int(message.get("flags", 0)) & _FLAG_EPHEMERAL:
            return None
        return message

    def _permissions_of(self, guild: _Guild, user_id: int) -> int:
        """Return a member's guild-level permissions (no channel overwrites)."""
        if user_id == guild.owner_id:
            return _ALL_PERMISSIONS
        permissions = guild.roles[guild.id].permissions
        member = guild.members.get(user_id)
        for role_id in member.roles if member else []:
            role = guild.roles.get(role_id)
            if role is not None:
                permissions |= role.permissions
        return _ALL_PERMISSIONS if permissions & _PERM_ADMINISTRATOR else permissions

    # ------------------------------------------------------------------ payload builders

    def _user_payload(self, user: _User) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(user.id),
            "username": user.username,
            "discriminator": "0",
            "global_name": None if user.bot else user.username,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if user.bot:
            payload["bot"] = True
        return payload

    def _member_payload(
        self,
        guild: _Guild,
        member: _Member,
        *,
        with_user: bool = True,
        permissions: bool = False,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in member.roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,  # discord.py raises KeyError without it
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self._user_payload(self._users[member.user_id])
        if permissions:
            payload["permissions"] = str(self._permissions_of(guild, member.user_id))
        return payload

    def _role_payload(self, guild: _Guild, role: _Role) -> dict[str, Any]:
        # @everyone sits at 0, seeded roles follow in insertion order, the bot's role on top
        # (so a bot managing seeded roles passes a hierarchy check, as a well-set-up bot would).
        ordered = [r for r in guild.roles if r not in (guild.id, guild.bot_role_id)]
        position = 0 if role.id == guild.id else len(ordered) + 1
        if role.id in ordered:
            position = ordered.index(role.id) + 1
        payload: dict[str, Any] = {
            "id": str(role.id),
            "name": role.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(role.permissions),
            "managed": role.managed,
            "mentionable": False,
            "flags": 0,
        }
        if role.id == guild.bot_role_id:
            payload["tags"] = {"bot_id": str(self.bot_user_id)}
        return payload

    def _channel_payload(self, channel: _Channel) -> dict[str, Any]:
        history = self.messages.get(channel.id)
        last_message_id = history[-1]["id"] if history else None
        if channel.type == _CHANNEL_DM:
            recipient = self._users[channel.recipient_id or 0]
            return {
                "id": str(channel.id),
                "type": _CHANNEL_DM,
                "last_message_id": last_message_id,
                "flags": 0,
                "recipients": [self._user_payload(recipient)],
            }
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "last_message_id": last_message_id,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if channel.type in (_CHANNEL_VOICE, _CHANNEL_STAGE):
            payload |= {"bitrate": 64000, "user_limit": 0, "rtc_region": None}
        if channel.type in (_CHANNEL_FORUM, _CHANNEL_MEDIA):
            payload |= {
                "available_tags": [],
                "default_reaction_emoji": None,
                "default_thread_rate_limit_per_user": 0,
                "default_sort_order": None,
                "default_forum_layout": 0,
            }
        if channel.type in _THREAD_TYPES:
            payload |= {
                "owner_id": str(channel.owner_id or self.bot_user_id),
                "message_count": channel.message_count,
                "member_count": 1,
                "total_message_sent": channel.message_count,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": channel.auto_archive_duration,
                    "archive_timestamp": channel.created_at,
                    "locked": False,
                    "invitable": True,
                    "create_timestamp": channel.created_at,
                },
            }
        return payload

    def _guild_payload(self, guild: _Guild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "owner_id": str(guild.owner_id),
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "max_members": 500_000,
            "max_presences": None,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [self._role_payload(guild, r) for r in guild.roles.values()],
        }

    def _guild_create(self, guild: _Guild) -> dict[str, Any]:
        channels = [c for c in self._channels.values() if c.guild_id == guild.id]
        return self._guild_payload(guild) | {
            "unavailable": False,
            "large": False,
            "lazy": True,
            "joined_at": guild.joined_at,
            # member_count == len(members) marks the guild as chunked for discord.py.
            "member_count": len(guild.members),
            "members": [self._member_payload(guild, m) for m in guild.members.values()],
            "channels": [self._channel_payload(c) for c in channels if c.type not in _THREAD_TYPES],
            "threads": [self._channel_payload(c) for c in channels if c.type in _THREAD_TYPES],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": _BOT_USERNAME,
            "description": "Flywheel sandbox application",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self._user_payload(self._users[_APP_OWNER_ID]),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "bot": self._user_payload(self._users[self.bot_user_id]),
        }

    # ------------------------------------------------------------------ messages

    def _validate_message_body(self, body: dict[str, Any], files: tuple[_Upload, ...]) -> None:
        content = body.get("content")
        if content is not None and len(str(content)) > _MAX_CONTENT_LENGTH:
            raise _invalid_form(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {_MAX_CONTENT_LENGTH} or fewer in length.",
            )
        if not (
            content
            or body.get("embeds")
            or body.get("components")
            or body.get("sticker_ids")
            or body.get("poll")
            or files
        ):
            raise _ApiError(400, 50006, "Cannot send an empty message")

    def _mentions(self, channel: _Channel, content: str) -> list[dict[str, Any]]:
        guild = self._guilds.get(channel.guild_id) if channel.guild_id is not None else None
        mentions: list[dict[str, Any]] = []
        for raw_id in dict.fromkeys(_USER_MENTION.findall(content)):
            user = self._users.get(int(raw_id))
            if user is None:
                continue
            mention = self._user_payload(user)
            member = guild.members.get(user.id) if guild else None
            if guild is not None and member is not None:
                mention["member"] = self._member_payload(guild, member, with_user=False)
            mentions.append(mention)
        return mentions

    def _attachments(
        self, channel: _Channel, files: tuple[_Upload, ...], body: dict[str, Any]
    ) -> list[dict[str, Any]]:
        described = [a for a in body.get("attachments") or [] if isinstance(a, dict)]
        attachments = []
        for index, upload in enumerate(files):
            attachment_id = self._ids.next()
            self.attachments[attachment_id] = upload.data
            url = (
                f"http://127.0.0.1:{self.port}/attachments/"
                f"{channel.id}/{attachment_id}/{upload.filename}"
            )
            description = next(
                (a.get("description") for a in described if str(a.get("id")) == str(index)), None
            )
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": upload.filename,
                    "description": description,
                    "content_type": upload.content_type,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                    "height": None,
                    "width": None,
                    "ephemeral": False,
                    "flags": 0,
                }
            )
        return attachments

    def _build_message(
        self,
        channel: _Channel,
        author: _User,
        body: dict[str, Any],
        files: tuple[_Upload, ...],
        *,
        message_type: int = 0,
        interaction: _InteractionRecord | None = None,
        extra_flags: int = 0,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        content = str(body.get("content") or "")
        allowed = _SETTABLE_FLAGS | (_FLAG_EPHEMERAL if interaction else 0)
        message: dict[str, Any] = {
            "id": str(message_id or self._ids.next()),
            "channel_id": str(channel.id),
            "type": message_type,
            "author": self._user_payload(author),
            "content": content,
            "timestamp": self._iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": self._mentions(channel, content),
            "mention_roles": list(dict.fromkeys(_ROLE_MENTION.findall(content))),
            "mention_channels": [],
            "attachments": self._attachments(channel, files, body),
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "sticker_items": [],
            "pinned": False,
            "flags": (int(body.get("flags") or 0) & allowed) | extra_flags,
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if body.get("poll"):
            message["poll"] = body["poll"]
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            referenced = self._channel_message(channel, int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise _invalid_form(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            if referenced is not None:
                message["type"] = 19  # REPLY
                message["message_reference"] = {
                    "type": 0,
                    "message_id": referenced["id"],
                    "channel_id": str(channel.id),
                    "guild_id": str(channel.guild_id) if channel.guild_id else None,
                }
                message["referenced_message"] = copy.deepcopy(referenced)
        if interaction is not None:
            public = interaction.public
            user_payload = self._user_payload(self._users[public.user_id])
            owners = interaction.payload["authorizing_integration_owners"]
            message |= {
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": {
                    "id": str(public.id),
                    "type": public.type,
                    "user": user_payload,
                    "authorizing_integration_owners": owners,
                },
            }
            if public.type == _INTERACTION_COMMAND:
                message["interaction"] = {
                    "id": str(public.id),
                    "type": public.type,
                    "name": interaction.payload["data"]["name"],
                    "user": user_payload,
                }
        return message

    def _store_message(self, channel: _Channel, message: dict[str, Any]) -> None:
        self.messages[channel.id].append(message)
        self._messages_by_id[int(message["id"])] = message
        channel.message_count += 1

    def _apply_edit(
        self,
        channel: _Channel,
        stored: dict[str, Any],
        body: dict[str, Any],
        files: tuple[_Upload, ...],
    ) -> None:
        """Merge a PATCH body into a stored message; leave it untouched if the result is invalid."""
        content = body.get("content")
        if content is not None and len(str(content)) > _MAX_CONTENT_LENGTH:
            raise _invalid_form(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {_MAX_CONTENT_LENGTH} or fewer in length.",
            )
        message = copy.deepcopy(stored)
        if "content" in body:
            message["content"] = str(body["content"] or "")
            message["mentions"] = self._mentions(channel, message["content"])
        for key in ("embeds", "components"):
            if key in body:
                message[key] = body[key] or []
        if "attachments" in body:
            kept = {str(a.get("id")) for a in body["attachments"] or [] if isinstance(a, dict)}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
        message["attachments"] = [*message["attachments"], *self._attachments(channel, files, {})]
        locked = _FLAG_EPHEMERAL | _FLAG_HAS_THREAD
        if body.get("flags") is not None:
            message["flags"] = (message["flags"] & locked) | (int(body["flags"]) & _SETTABLE_FLAGS)
        if message["flags"] & _FLAG_LOADING:
            # Filling in a deferred ("thinking") response is not an edit.
            message["flags"] &= ~_FLAG_LOADING
        else:
            message["edited_timestamp"] = self._iso_now()
        if not (
            message["content"]
            or message["embeds"]
            or message["components"]
            or message["attachments"]
        ):
            raise _ApiError(400, 50006, "Cannot send an empty message")
        # Update in place: self.messages and the id index share this dict.
        stored.clear()
        stored.update(message)

    async def _add_reaction(
        self, channel: _Channel, message: dict[str, Any], user: _User, emoji: dict[str, Any]
    ) -> None:
        key = (int(message["id"]), _emoji_key(emoji))
        reactors = self._reactors.setdefault(key, set())
        if user.id in reactors:
            return
        reactors.add(user.id)
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        entry = next((r for r in reactions if _emoji_key(r["emoji"]) == key[1]), None)
        if entry is None:
            entry = {
                "count": 0,
                "count_details": {"burst": 0, "normal": 0},
                "me": False,
                "me_burst": False,
                "burst_colors": [],
                "emoji": emoji,
            }
            reactions.append(entry)
        entry["count"] += 1
        entry["count_details"]["normal"] += 1
        entry["me"] = self.bot_user_id in reactors
        event: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(channel.id),
            "message_id": message["id"],
            "message_author_id": message["author"]["id"],
            "emoji": emoji,
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        intent = _INTENT_DIRECT_MESSAGE_REACTIONS
        if channel.guild_id is not None:
            guild = self._guild(channel.guild_id)
            event["guild_id"] = str(guild.id)
            member = guild.members.get(user.id)
            if member is not None:
                event["member"] = self._member_payload(guild, member)
            intent = _INTENT_GUILD_MESSAGE_REACTIONS
        await self._dispatch("MESSAGE_REACTION_ADD", event, intent=intent)

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> list[_Route]:
        snowflake = r"(?P<{}>\d+)"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway),
            ("GET", "/users/@me", self._get_me),
            ("GET", "/users/{user_id}", self._get_user),
            ("POST", "/users/@me/channels", self._open_dm),
            ("GET", "/oauth2/applications/@me", self._get_app),
            ("GET", "/applications/{app_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/commands", self._put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands),
            ("POST", "/interactions/{interaction_id}/<token>/callback", self._callback),
            ("POST", "/webhooks/{webhook_id}/<token>", self._execute_webhook),
            ("GET", "/webhooks/{webhook_id}/<token>", self._get_webhook),
            ("PATCH", "/webhooks/{webhook_id}/<token>", self._get_webhook),
            ("DELETE", "/webhooks/{webhook_id}/<token>", self._delete_webhook),
            ("GET", "/webhooks/{webhook_id}/<token>/messages/<message>", self._get_wh_message),
            ("PATCH", "/webhooks/{webhook_id}/<token>/messages/<message>", self._edit_wh_message),
            ("DELETE", "/webhooks/{webhook_id}/<token>/messages/<message>", self._del_wh_message),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("GET", "/channels/{channel_id}/messages", self._get_messages),
            ("POST", "/channels/{channel_id}/messages", self._create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            ("POST", "/channels/{channel_id}/threads", self._create_thread),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._create_thread),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/<emoji>/@me",
                self._react,
            ),
            ("GET", "/guilds/{guild_id}", self._get_guild),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self._add_role),
            ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self._remove_role),
        ]
        routes = []
        for method, template, handler in table:
            # <name> is any single path segment, {name} a snowflake (in this order, as the
            # snowflake's regex itself contains <name>).
            regex = re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", template)
            regex = re.sub(r"\{(\w+)\}", lambda m: snowflake.format(m[1]), regex)
            routes.append(_Route(method, re.compile(regex), handler, _bucket_id(method, template)))
        return routes

    def _resolve(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """Return the matching route, its parameters, and whether the path exists at all."""
        path_exists = False
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            path_exists = True
            if route.method == method:
                return route, match.groupdict(), True
        return None, {}, path_exists

    async def _api(self, request: web.Request) -> web.StreamResponse:
        at = self._now()
        method = request.method
        path = request.path.removeprefix(API_PREFIX) or "/"
        query = dict(request.query)
        route, params, path_exists = self._resolve(method, path)
        bucket = route.bucket if route else _bucket_id(method, path)
        body: Any = None
        files: tuple[_Upload, ...] = ()
        retry_after: float | None = None
        try:
            body, files = await _read_body(request)
            injection = self._take_injection(method, path)
            if injection is not None:
                reply = _Reply(injection.status, injection.body)
                retry_after = injection.retry_after
            elif route is not None:
                reply = await route.handler(_ApiRequest(method, path, params, body, query, files))
            elif path_exists:
                reply = _Reply(405, {"message": "405: Method Not Allowed", "code": 0})
            else:
                _log.warning("discord sandbox has no route for %s %s", method, path)
                reply = _Reply(404, {"message": "404: Not Found", "code": 0})
        except _ApiError as exc:
            reply = exc.reply()
        except Exception:
            _log.exception("discord sandbox failed on %s %s", method, path)
            reply = _Reply(500, {"message": "500: Internal Server Error", "code": 0})
        response = _wire_response(
            reply, bucket=bucket, now=self._wall_clock(), retry_after=retry_after
        )
        call = RecordedCall(
            method=method,
            path=path,
            json=body,
            query=query,
            at=at,
            status=reply.status,
            files=tuple(f.filename for f in files),
            reason=request.headers.get("X-Audit-Log-Reason"),
        )
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return response

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        data = self.attachments.get(int(request.match_info["attachment_id"]))
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data)

    def _check_application(self, req: _ApiRequest, key: str = "app_id") -> None:
        if req.snowflake(key) != self.application_id:
            raise _ApiError(404, 10002, "Unknown Application")

    def _channel_or_404(self, req: _ApiRequest) -> _Channel:
        channel = self._channels.get(req.snowflake("channel_id"))
        if channel is None:
            raise _ApiError(404, 10003, "Unknown Channel")
        return channel

    def _message_or_404(self, channel: _Channel, req: _ApiRequest) -> dict[str, Any]:
        message = self._channel_message(channel, req.snowflake("message_id"))
        if message is None:
            raise _ApiError(404, 10008, "Unknown Message")
        return message

    def _guild_or_404(self, req: _ApiRequest) -> _Guild:
        guild = self._guilds.get(req.snowflake("guild_id"))
        if guild is None:
            raise _ApiError(404, 10004, "Unknown Guild")
        return guild

    def _member_or_404(self, guild: _Guild, req: _ApiRequest) -> _Member:
        member = guild.members.get(req.snowflake("user_id"))
        if member is None:
            raise _ApiError(404, 10007, "Unknown Member")
        return member

    # ------------------------------------------------------------------ REST: users, app, gateway

    async def _get_gateway(self, req: _ApiRequest) -> _Reply:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _Reply(200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_me(self, req: _ApiRequest) -> _Reply:
        me = self._user_payload(self._users[self.bot_user_id])
        return _Reply(200, me | {"verified": True, "mfa_enabled": False, "email": None})

    async def _get_user(self, req: _ApiRequest) -> _Reply:
        user = self._users.get(req.snowflake("user_id"))
        if user is None:
            raise _ApiError(404, 10013, "Unknown User")
        return _Reply(200, self._user_payload(user))

    async def _get_app(self, req: _ApiRequest) -> _Reply:
        return _Reply(200, self._app_info())

    async def _open_dm(self, req: _ApiRequest) -> _Reply:
        recipient = str(req.json_object().get("recipient_id"))
        user = self._users.get(int(recipient)) if recipient.isdigit() else None
        if user is None or user.id == self.bot_user_id:
            raise _ApiError(400, 50033, "Invalid Recipient(s)")
        return _Reply(200, self._channel_payload(self._dm_channel(user)))

    # ------------------------------------------------------------------ REST: application commands

    async def _get_commands(self, req: _ApiRequest) -> _Reply:
        self._check_application(req)
        guild_id = req.snowflake("guild_id") if "guild_id" in req.params else None
        return _Reply(200, copy.deepcopy(self._commands.get(guild_id, [])))

    async def _put_commands(self, req: _ApiRequest) -> _Reply:
        """Replace the command set and echo it with ids, as a bulk overwrite does."""
        self._check_application(req)
        guild_id = req.snowflake("guild_id") if "guild_id" in req.params else None
        if guild_id is not None and guild_id not in self._guilds:
            raise _ApiError(404, 10004, "Unknown Guild")
        commands = []
        for raw in req.body if isinstance(req.body, list) else []:
            command = copy.deepcopy(raw)
            type_ = int(command.get("type") or 1)
            command |= {
                "id": str(self._command_id(guild_id, str(command["name"]), type_)),
                "application_id": str(self.application_id),
                "type": type_,
                "version": str(self._ids.next()),
                "description": command.get("description", ""),
                "default_member_permissions": command.get("default_member_permissions"),
                "nsfw": bool(command.get("nsfw")),
            }
            if guild_id is not None:
                command["guild_id"] = str(guild_id)
            commands.append(command)
        self._commands[guild_id] = commands
        return _Reply(200, copy.deepcopy(commands))

    # ------------------------------------------------------------------ REST: interactions

    async def _callback(self, req: _ApiRequest) -> _Reply:
        """Acknowledge an interaction once (type 4/5/6/7/9...), as the initial response."""
        record = self._interactions.get(req.snowflake("interaction_id"))
        if record is None or record.public.token != req.params["token"]:
            raise _ApiError(404, 10062, "Unknown interaction")
        deadline = self.interaction_response_deadline
        if deadline is not None and time.monotonic() - record.created > deadline:
            raise _ApiError(404, 10062, "Unknown interaction")
        if record.acknowledged:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = req.json_object()
        callback_type = body.get("type")
        raw_data = body.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        if callback_type not in _VALID_CALLBACKS[record.public.type]:
            raise _invalid_form("type", "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid type.")
        if callback_type == _CALLBACK_CHANNEL_MESSAGE:
            self._validate_message_body(data, req.files)
        if callback_type == _CALLBACK_AUTOCOMPLETE_RESULT:
            _validate_choices(data.get("choices"))
        # Marked before the first await so a concurrent second callback gets 40060; a response
        # Discord refuses does not count as the acknowledgement.
        record.acknowledged = True
        try:
            message = await self._respond(record, callback_type, data, req.files)
        except _ApiError:
            record.acknowledged = False
            raise

        if req.query.get("with_response") not in ("1", "true", "True"):
            return _Reply(204)
        flags = int(message["flags"]) if message else 0
        interaction: dict[str, Any] = {
            "id": str(record.public.id),
            "type": record.public.type,
            "response_message_loading": callback_type == _CALLBACK_DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": bool(flags & _FLAG_EPHEMERAL),
        }
        answer: dict[str, Any] = {"interaction": interaction}
        if message is not None:
            # discord.py keys views sent with the response by response_message_id.
            interaction["response_message_id"] = message["id"]
            answer["resource"] = {"type": callback_type, "message": copy.deepcopy(message)}
        return _Reply(200, answer)

    async def _respond(
        self,
        record: _InteractionRecord,
        callback_type: int,
        data: dict[str, Any],
        files: tuple[_Upload, ...],
    ) -> dict[str, Any] | None:
        """Carry out an initial response; return the message it created or updated, if any."""
        if callback_type == _CALLBACK_CHANNEL_MESSAGE:
            return await self._post_response_message(record, data, files)
        if callback_type == _CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            deferred = {"flags": int(data.get("flags") or 0)}
            return await self._post_response_message(record, deferred, (), loading=True)
        if callback_type in (_CALLBACK_DEFERRED_UPDATE, _CALLBACK_UPDATE_MESSAGE):
            record.original_message_id = record.source_message_id
            if callback_type == _CALLBACK_UPDATE_MESSAGE and record.source_message_id:
                message = self._messages_by_id[record.source_message_id]
                channel = self._channels[int(message["channel_id"])]
                self._apply_edit(channel, message, data, files)
                await self._dispatch_message("MESSAGE_UPDATE", channel, message)
                return message
        if callback_type == _CALLBACK_MODAL:
            self._modals[str(data.get("custom_id"))] = copy.deepcopy(data)
        return None

    async def _post_response_message(
        self,
        record: _InteractionRecord,
        data: dict[str, Any],
        files: tuple[_Upload, ...],
        *,
        loading: bool = False,
    ) -> dict[str, Any]:
        channel = self._channels[record.public.channel_id]
        message = self._build_message(
            channel,
            self._users[self.bot_user_id],
            data,
            files,
            message_type=20 if record.public.type == _INTERACTION_COMMAND else 0,
            interaction=record,
            extra_flags=_FLAG_LOADING if loading else 0,
        )
        self._store_message(channel, message)
        record.original_message_id = int(message["id"])
        await self._dispatch_message("MESSAGE_CREATE", channel, message)
        return message

    def _webhook_interaction(self, req: _ApiRequest) -> _InteractionRecord:
        """Return the acknowledged interaction whose token addresses this webhook."""
        if req.snowflake("webhook_id") == self.application_id:
            token = req.params["token"]
            for record in self._interactions.values():
                if record.public.token == token and record.acknowledged:
                    return record
        raise _ApiError(404, 10015, "Unknown Webhook")

    def _webhook_message(self, record: _InteractionRecord, req: _ApiRequest) -> dict[str, Any]:
        raw = req.params["message"]
        if raw == "@original":
            message_id = record.original_message_id
        else:
            message_id = int(raw) if raw.isdigit() else None
        message = self._messages_by_id.get(message_id) if message_id else None
        if message is None or int(message["channel_id"]) != record.public.channel_id:
            raise _ApiError(404, 10008, "Unknown Message")
        return message

    async def _execute_webhook(self, req: _ApiRequest) -> _Reply:
        """Post an interaction follow-up message."""
        record = self._webhook_interaction(req)
        body = req.json_object()
        self._validate_message_body(body, req.files)
        channel = self._channels[record.public.channel_id]
        message = self._build_message(
            channel, self._users[self.bot_user_id], body, req.files, interaction=record
        )
        self._store_message(channel, message)
        await self._dispatch_message("MESSAGE_CREATE", channel, message)
        if req.query.get("wait") in ("1", "true", "True"):
            return _Reply(200, copy.deepcopy(message))
        return _Reply(204)

    async def _get_webhook(self, req: _ApiRequest) -> _Reply:
        record = self._webhook_interaction(req)
        return _Reply(
            200,
            {
                "id": str(self.application_id),
                "type": 3,
                "application_id": str(self.application_id),
                "channel_id": str(record.public.channel_id),
                "guild_id": str(record.public.guild_id) if record.public.guild_id else None,
                "name": _BOT_USERNAME,
                "avatar": None,
                "token": record.public.token,
            },
        )

    async def _delete_webhook(self, req: _ApiRequest) -> _Reply:
        self._webhook_interaction(req)
        return _Reply(204)

    async def _get_wh_message(self, req: _ApiRequest) -> _Reply:
        record = self._webhook_interaction(req)
        return _Reply(200, copy.deepcopy(self._webhook_message(record, req)))

    async def _edit_wh_message(self, req: _ApiRequest) -> _Reply:
        record = self._webhook_interaction(req)
        message = self._webhook_message(record, req)
        channel = self._channels[int(message["channel_id"])]
        self._apply_edit(channel, message, req.json_object(), req.files)
        await self._dispatch_message("MESSAGE_UPDATE", channel, message)
        return _Reply(200, copy.deepcopy(message))

    async def _del_wh_message(self, req: _ApiRequest) -> _Reply:
        record = self._webhook_interaction(req)
        await self._remove_message(self._webhook_message(record, req))
        return _Reply(204)

    # ------------------------------------------------------------------ REST: channels and messages

    async def _get_channel(self, req: _ApiRequest) -> _Reply:
        return _Reply(200, self._channel_payload(self._channel_or_404(req)))

    async def _typing(self, req: _ApiRequest) -> _Reply:
        self._channel_or_404(req)
        return _Reply(204)

    async def _get_messages(self, req: _ApiRequest) -> _Reply:
        """List visible messages newest first, honouring limit, before and after."""
        channel = self._channel_or_404(req)
        visible = [
            m
            for m in self.messages.get(channel.id, [])
            if not int(m.get("flags", 0)) & _FLAG_EPHEMERAL
        ]
        limit = max(1, min(100, int(req.query.get("limit", "50"))))
        if "before" in req.query:
            visible = [m for m in visible if int(m["id"]) < int(req.query["before"])][-limit:]
        elif "after" in req.query:
            visible = [m for m in visible if int(m["id"]) > int(req.query["after"])][:limit]
        else:
            visible = visible[-limit:]
        return _Reply(200, copy.deepcopy(visible[::-1]))

    async def _create_message(self, req: _ApiRequest) -> _Reply:
        """Post a message as the bot, de-duplicating by nonce when enforce_nonce is set."""
        channel = self._channel_or_404(req)
        body = req.json_object()
        if channel.type == _CHANNEL_DM and channel.recipient_id in self._closed_dms:
            raise _ApiError(403, 50007, "Cannot send messages to this user")
        self._validate_message_body(body, req.files)
        nonce_key: tuple[int, int, str] | None = None
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            nonce_key = (channel.id, self.bot_user_id, str(body["nonce"]))
            previous = self._nonces.get(nonce_key)
            if previous is not None and self._now() - previous[1] < self.nonce_window:
                existing = self._messages_by_id.get(previous[0])
                if existing is not None:
                    return _Reply(200, copy.deepcopy(existing))
        message = self._build_message(channel, self._users[self.bot_user_id], body, req.files)
        self._store_message(channel, message)
        if nonce_key is not None:
            self._nonces[nonce_key] = (int(message["id"]), self._now())
        await self._dispatch_message("MESSAGE_CREATE", channel, message)
        return _Reply(200, copy.deepcopy(message))

    async def _get_message(self, req: _ApiRequest) -> _Reply:
        channel = self._channel_or_404(req)
        return _Reply(200, copy.deepcopy(self._message_or_404(channel, req)))

    async def _edit_message(self, req: _ApiRequest) -> _Reply:
        channel = self._channel_or_404(req)
        message = self._message_or_404(channel, req)
        if int(message["author"]["id"]) != self.bot_user_id:
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(channel, message, req.json_object(), req.files)
        await self._dispatch_message("MESSAGE_UPDATE", channel, message)
        return _Reply(200, copy.deepcopy(message))

    async def _delete_message(self, req: _ApiRequest) -> _Reply:
        channel = self._channel_or_404(req)
        await self._remove_message(self._message_or_404(channel, req))
        return _Reply(204)

    async def _remove_message(self, message: dict[str, Any]) -> None:
        channel = self._channels[int(message["channel_id"])]
        self.messages[channel.id].remove(message)
        del self._messages_by_id[int(message["id"])]
        if int(message.get("flags", 0)) & _FLAG_EPHEMERAL:
            return
        event = {"id": message["id"], "channel_id": str(channel.id)}
        intent = _INTENT_DIRECT_MESSAGES
        if channel.guild_id is not None:
            event["guild_id"] = str(channel.guild_id)
            intent = _INTENT_GUILD_MESSAGES
        await self._dispatch("MESSAGE_DELETE", event, intent=intent)

    async def _create_thread(self, req: _ApiRequest) -> _Reply:
        """Start a thread: from a message (id == message id), in a channel, or as a forum post."""
        parent = self._channel_or_404(req)
        if parent.guild_id is None or parent.type in _THREAD_TYPES:
            raise _ApiError(400, 50024, "Cannot execute action on this channel type")
        body = req.json_object()
        name = str(body.get("name") or "")
        if not name:
            raise _invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
        forum = parent.type in (_CHANNEL_FORUM, _CHANNEL_MEDIA)
        starter: dict[str, Any] | None = None
        if "message_id" in req.params:
            starter = self._message_or_404(parent, req)
            if int(starter["id"]) in self._channels:
                raise _ApiError(400, 160004, "A thread has already been created for this message")
            thread_id = int(starter["id"])
            thread_type = _CHANNEL_NEWS_THREAD if parent.type == _CHANNEL_NEWS else 11
        elif forum:
            post = body.get("message") if isinstance(body.get("message"), dict) else None
            if post is None:
                raise _invalid_form("message", "BASE_TYPE_REQUIRED", "This field is required")
            self._validate_message_body(post, req.files)
            thread_id, thread_type = self._ids.next(), _CHANNEL_PUBLIC_THREAD
        else:
            if body.get("type") not in (_CHANNEL_PUBLIC_THREAD, _CHANNEL_PRIVATE_THREAD, 10):
                raise _invalid_form("type", "BASE_TYPE_REQUIRED", "This field is required")
            thread_id, thread_type = self._ids.next(), int(body["type"])
        thread = _Channel(
            thread_id,
            thread_type,
            name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
            created_at=self._iso_now(),
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        self._channels[thread_id] = thread
        answer = self._channel_payload(thread)
        if starter is not None:
            starter["flags"] = int(starter.get("flags", 0)) | _FLAG_HAS_THREAD
            starter["thread"] = copy.deepcopy(answer)
        await self._dispatch(
            "THREAD_CREATE", answer | {"newly_created": True}, intent=_INTENT_GUILDS
        )
        if forum:
            post = body["message"]
            first = self._build_message(
                thread, self._users[self.bot_user_id], post, req.files, message_id=thread_id
            )
            self._store_message(thread, first)
            await self._dispatch_message("MESSAGE_CREATE", thread, first)
            answer = self._channel_payload(thread) | {"message": copy.deepcopy(first)}
        return _Reply(201, answer)

    async def _react(self, req: _ApiRequest) -> _Reply:
        channel = self._channel_or_404(req)
        message = self._message_or_404(channel, req)
        emoji = req.params["emoji"]
        if not emoji.strip():
            raise _ApiError(400, 10014, "Unknown Emoji")
        await self._add_reaction(
            channel, message, self._users[self.bot_user_id], _emoji_payload(emoji)
        )
        return _Reply(204)

    # ------------------------------------------------------------------ REST: guilds and members

    async def _get_guild(self, req: _ApiRequest) -> _Reply:
        return _Reply(200, self._guild_payload(self._guild_or_404(req)))

    async def _get_member(self, req: _ApiRequest) -> _Reply:
        guild = self._guild_or_404(req)
        return _Reply(200, self._member_payload(guild, self._member_or_404(guild, req)))

    async def _add_role(self, req: _ApiRequest) -> _Reply:
        return await self._change_role(req, add=True)

    async def _remove_role(self, req: _ApiRequest) -> _Reply:
        return await self._change_role(req, add=False)

    async def _change_role(self, req: _ApiRequest, *, add: bool) -> _Reply:
        """Grant or revoke a role (idempotent, 204) and dispatch GUILD_MEMBER_UPDATE."""
        guild = self._guild_or_404(req)
        member = self._member_or_404(guild, req)
        role_id = req.snowflake("role_id")
        if role_id not in guild.roles or role_id == guild.id:
            raise _ApiError(404, 10011, "Unknown Role")
        if add == (role_id in member.roles):
            return _Reply(204)
        if add:
            member.roles.append(role_id)
        else:
            member.roles.remove(role_id)
        event = self._member_payload(guild, member) | {"guild_id": str(guild.id)}
        await self._dispatch("GUILD_MEMBER_UPDATE", event, intent=_INTENT_GUILD_MEMBERS)
        return _Reply(204)


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
