"""The Discord gateway: HELLO, IDENTIFY → READY → GUILD_CREATE, heartbeats, RESUME, dispatch."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.discord.payloads import guild_create, member_payload, user_payload
from bot.sandbox.discord.protocol import (
    FLAG_EPHEMERAL,
    HEARTBEAT_INTERVAL_MS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    OP_REQUEST_MEMBERS,
    OP_RESUME,
)
from bot.sandbox.discord.state import Channel, DiscordState, Session


class Gateway:
    """The JSON gateway every discord.py client connects to, and the events it is sent."""

    def __init__(
        self,
        state: DiscordState,
        *,
        gateway_url: Callable[[], str],
        notify: Callable[[], Awaitable[None]],
    ) -> None:
        self.state = state
        self.gateway_url = gateway_url
        # Wakes the sandbox's waiters (wait_until_identified, wait_until_resumed).
        self.notify = notify
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads, token removed
        self.sessions: dict[str, Session] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self.identify_count = 0
        self.resume_count = 0

    async def close(self) -> None:
        """Close every connection and forget every session."""
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"sandbox stopping")
        self.sessions.clear()

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connected session, so clients drop and RESUME."""
        for session in list(self.sessions.values()):
            if session.ws is not None:
                await self.send_frame(session.ws, {"op": OP_RECONNECT, "d": None})

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """Run one gateway connection: HELLO, then answer frames until it closes."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        session: Session | None = None
        try:
            await self.send_frame(
                ws, {"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}
            )
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue  # discord.py only ever sends JSON text frames
                try:
                    payload = json.loads(frame.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                session = await self.on_gateway_frame(ws, session, payload)
        finally:
            self.sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                # A clean close (1000/1001) ends the session; anything else may RESUME.
                if ws.close_code in (1000, 1001):
                    self.sessions.pop(session.session_id, None)
        return ws

    async def on_gateway_frame(
        self, ws: web.WebSocketResponse, session: Session | None, payload: dict[str, Any]
    ) -> Session | None:
        """Answer one client frame; return the session it belongs to now."""
        op, data = payload.get("op"), payload.get("d")
        if op == OP_HEARTBEAT:
            await self.send_frame(ws, {"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            return await self.identify(ws, data if isinstance(data, dict) else {})
        elif op == OP_RESUME:
            return await self.resume(ws, data if isinstance(data, dict) else {})
        elif session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
        elif op == OP_REQUEST_MEMBERS and isinstance(data, dict):
            await self.send_member_chunks(session, data)
        # Presence (3) and voice state (4) updates are accepted and ignored.
        return session

    async def identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session:
        """Start a session: READY, then a GUILD_CREATE per guild."""
        session = Session(secrets.token_hex(16), int(data.get("intents") or 0), ws)
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        ready = {
            "v": 10,
            "user": user_payload(self.state, self.state.users[self.state.bot_user_id])
            | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.state.guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url(),
            "session_type": "normal",
            "shard": [0, 1],
            "application": {"id": str(self.state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
        }
        async with session.lock:
            await self.send_dispatch(session, "READY", ready)
            # GUILD_CREATE right after READY spares discord.py its guild-ready wait per guild.
            for guild in list(self.state.guilds.values()):
                await self.send_dispatch(session, "GUILD_CREATE", guild_create(self.state, guild))
            self.sessions[session.session_id] = session
        self.identify_count += 1
        await self.notify()
        return session

    async def resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        """Resume a session: replay what it missed, then RESUMED."""
        session = self.sessions.get(str(data.get("session_id")))
        if session is None:
            # discord.py then reconnects and IDENTIFYs afresh.
            await self.send_frame(ws, {"op": OP_INVALID_SESSION, "d": False})
            return None
        last_seen = int(data.get("seq") or 0)
        async with session.lock:
            if session.ws is not None and session.ws is not ws:
                await session.ws.close(code=4009, message=b"Session superseded.")
            session.ws = ws
            for event in list(session.backlog):
                if event["s"] > last_seen:
                    await self.send_frame(ws, event)
            await self.send_dispatch(session, "RESUMED", {})
        self.resume_count += 1
        await self.notify()
        return session

    async def send_member_chunks(self, session: Session, data: dict[str, Any]) -> None:
        """Answer a REQUEST_GUILD_MEMBERS with one chunk per guild."""
        guild_ids = data.get("guild_id")
        for raw_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            guild = self.state.guilds.get(int(str(raw_id))) if str(raw_id).isdigit() else None
            if guild is None:
                continue
            wanted = {int(u) for u in data.get("user_ids") or []}
            query = str(data.get("query") or "").lower()
            members = [
                member_payload(self.state, guild, m)
                for m in guild.members.values()
                if (not wanted or m.user_id in wanted)
                and self.state.users[m.user_id].username.lower().startswith(query)
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
                await self.send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def send_frame(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> bool:
        """Send one JSON text frame; plain text is fine, discord.py only inflates binary."""
        if ws.closed:
            return False
        try:
            await ws.send_str(json.dumps(payload))
        except ConnectionError:
            return False
        return True

    async def send_dispatch(self, session: Session, event: str, data: dict[str, Any]) -> None:
        """Number and send one dispatch on a session; the caller holds session.lock."""
        session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        session.backlog.append(frame)
        if session.ws is not None:
            await self.send_frame(session.ws, frame)

    async def dispatch(
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
        for session in list(self.sessions.values()):
            if intent is not None and not session.intents & intent:
                continue
            payload = copy.deepcopy(data)
            if message_content and not session.intents & INTENT_MESSAGE_CONTENT:
                self.redact_content(payload)
            async with session.lock:
                await self.send_dispatch(session, event, payload)

    def redact_content(self, message: dict[str, Any]) -> None:
        """Blank a message for a session without MESSAGE_CONTENT, as Discord does."""
        author_id = int(message.get("author", {}).get("id", 0))
        mentioned = any(int(u["id"]) == self.state.bot_user_id for u in message.get("mentions", []))
        if "guild_id" not in message or author_id == self.state.bot_user_id or mentioned:
            return
        message.update(content="", embeds=[], attachments=[], components=[])
        message.pop("poll", None)

    async def dispatch_message(self, event: str, channel: Channel, message: dict[str, Any]) -> None:
        """Dispatch MESSAGE_CREATE/UPDATE with guild_id and member; ephemeral ones stay private."""
        if int(message.get("flags", 0)) & FLAG_EPHEMERAL:
            return
        payload = copy.deepcopy(message)
        dm = channel.guild_id is None
        if not dm:
            guild = self.state.guild(self.state.guild_id_of(channel))
            payload["guild_id"] = str(guild.id)
            member = guild.members.get(int(payload["author"]["id"]))
            if member is not None and "webhook_id" not in payload:
                payload["member"] = member_payload(self.state, guild, member, with_user=False)
        intent = INTENT_DIRECT_MESSAGES if dm else INTENT_GUILD_MESSAGES
        await self.dispatch(event, payload, intent=intent, message_content=True)
