"""A local fake Discord that the real discord.py client talks to over HTTP and WebSocket.

The sandbox speaks Discord's wire protocol (REST under ``/api/v10`` and the JSON gateway) closely
enough that an unmodified discord.py 2.7.1 ``commands.Bot`` logs in, receives its guilds, handles
slash commands, buttons and modals, and sends messages against it. Tests seed guilds, channels,
roles and members, push events with the ``send_*`` dispatchers and assert on ``calls`` (every REST
request, in order) and ``messages`` (what was actually posted, per channel).

Behaviour kept from the real service because bots depend on it: ``enforce_nonce`` de-duplication,
403/50007 for users with closed DMs, 404s with Discord's error codes, one acknowledgement per
interaction, gateway intents (including the MESSAGE_CONTENT redaction), READY → GUILD_CREATE
ordering, RESUME with replay of missed events, modal limits (labels, file uploads, radio
groups) and attachments at signed CDN URLs that expire (``add_upload`` for a member's files).

Not modelled: permission enforcement and channel overwrites, sharding, zlib transport
compression, voice, and routes a community bot does not use (those answer 404 and are recorded,
so a missing route shows up in ``calls``). Seeding after a bot has connected changes state
silently (no CHANNEL_CREATE etc.); use the ``send_*`` dispatchers for events a bot must see.

Where things live: ``state`` (the world), ``wire`` (framing, limits), ``payloads`` (object
shapes), ``messages`` (the message model), ``routes/`` (REST, one module per resource),
``gateway`` (the WebSocket), ``events`` (interactions the control API sends), ``modals``
(modal limits and submissions), ``cdn`` (signed attachment URLs) and ``sandbox`` (the control
API tests call).
"""

from __future__ import annotations

from bot.sandbox.discord.protocol import (
    DEFAULT_APPLICATION_ID,
    DEFAULT_BOT_USER_ID,
    NONCE_WINDOW_SECONDS,
)
from bot.sandbox.discord.sandbox import DiscordSandbox, point_discord_py_at
from bot.sandbox.discord.state import Interaction, RecordedCall

__all__ = [
    "DEFAULT_APPLICATION_ID",
    "DEFAULT_BOT_USER_ID",
    "NONCE_WINDOW_SECONDS",
    "DiscordSandbox",
    "Interaction",
    "RecordedCall",
    "point_discord_py_at",
]
