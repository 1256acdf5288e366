"""Discord's numbers: ids the sandbox hands out, gateway opcodes and intents, types and flags."""

from __future__ import annotations

import re
from typing import Final

API_PREFIX: Final = "/api/v10"
GATEWAY_PATH: Final = "/gw"
DEFAULT_APPLICATION_ID: Final = 1_100_000_000_000_000_001
DEFAULT_BOT_USER_ID: Final = 1_100_000_000_000_000_002
APP_OWNER_ID: Final = 1_100_000_000_000_000_003
BOT_USERNAME: Final = "Flywheel"

DISCORD_EPOCH_MS: Final = 1_420_070_400_000
# Discord only de-duplicates enforce_nonce messages for "a few minutes".
NONCE_WINDOW_SECONDS: Final = 300.0
HEARTBEAT_INTERVAL_MS: Final = 41_250
ATTACHMENT_SIZE_LIMIT: Final = 10 * 1024 * 1024
BACKLOG_SIZE: Final = 1000

# Application command option types the sandbox resolves beyond users, channels and roles.
OPTION_ATTACHMENT: Final = 11
# What an HTTP header (a declared content type) cannot hold.
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f]")

# Gateway opcodes.
OP_DISPATCH: Final = 0
OP_HEARTBEAT: Final = 1
OP_IDENTIFY: Final = 2
OP_RESUME: Final = 6
OP_RECONNECT: Final = 7
OP_REQUEST_MEMBERS: Final = 8
OP_INVALID_SESSION: Final = 9
OP_HELLO: Final = 10
OP_HEARTBEAT_ACK: Final = 11

# Gateway intents that decide which events a session receives.
INTENT_GUILDS: Final = 1 << 0
INTENT_GUILD_MEMBERS: Final = 1 << 1
INTENT_GUILD_MESSAGES: Final = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS: Final = 1 << 10
INTENT_DIRECT_MESSAGES: Final = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS: Final = 1 << 13
INTENT_MESSAGE_CONTENT: Final = 1 << 15

# Channel types.
CHANNEL_TEXT: Final = 0
CHANNEL_DM: Final = 1
CHANNEL_VOICE: Final = 2
CHANNEL_NEWS: Final = 5
CHANNEL_NEWS_THREAD: Final = 10
CHANNEL_PUBLIC_THREAD: Final = 11
CHANNEL_PRIVATE_THREAD: Final = 12
CHANNEL_STAGE: Final = 13
CHANNEL_FORUM: Final = 15
CHANNEL_MEDIA: Final = 16
THREAD_TYPES: Final = frozenset(
    {CHANNEL_NEWS_THREAD, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD}
)

# Application command types: slash (chat input), user and message context menus.
COMMAND_CHAT_INPUT: Final = 1
COMMAND_USER: Final = 2
COMMAND_MESSAGE: Final = 3

# Interaction types and the callback types Discord accepts for each.
INTERACTION_PING: Final = 1
INTERACTION_COMMAND: Final = 2
INTERACTION_COMPONENT: Final = 3
INTERACTION_AUTOCOMPLETE: Final = 4
INTERACTION_MODAL_SUBMIT: Final = 5
CALLBACK_CHANNEL_MESSAGE: Final = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE: Final = 5
CALLBACK_DEFERRED_UPDATE: Final = 6
CALLBACK_UPDATE_MESSAGE: Final = 7
CALLBACK_AUTOCOMPLETE_RESULT: Final = 8
CALLBACK_MODAL: Final = 9
VALID_CALLBACKS: Final[dict[int, frozenset[int]]] = {
    INTERACTION_PING: frozenset({1}),
    INTERACTION_COMMAND: frozenset({4, 5, 9, 10, 12}),
    INTERACTION_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    INTERACTION_AUTOCOMPLETE: frozenset({8}),
    INTERACTION_MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

# Message flags.
FLAG_HAS_THREAD: Final = 1 << 5
FLAG_EPHEMERAL: Final = 1 << 6
FLAG_LOADING: Final = 1 << 7
# Flags a client may set on a message it posts; the rest are Discord's to set.
SETTABLE_FLAGS: Final = (1 << 2) | (1 << 12) | (1 << 13) | (1 << 15)

# Permissions.
PERM_ADMINISTRATOR: Final = 1 << 3
PERM_MANAGE_ROLES: Final = 1 << 28
ALL_PERMISSIONS: Final = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS: Final = (
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
DEFAULT_BOT_PERMISSIONS: Final = (
    DEFAULT_EVERYONE_PERMISSIONS
    | (1 << 13)  # MANAGE_MESSAGES
    | (1 << 28)  # MANAGE_ROLES
    | (1 << 34)  # MANAGE_THREADS
    | (1 << 36)  # CREATE_PRIVATE_THREADS
)
