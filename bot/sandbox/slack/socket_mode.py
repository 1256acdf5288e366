"""Socket Mode: apps.connections.open hands out a WebSocket URL; envelopes go out, acks come back."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import JsonObject

# Records a call: (method, args, status, response), as the sandbox's log keeps it.
Recorder = Callable[[str, JsonObject, int, JsonObject], Awaitable[None]]


class SocketMode:
    """The Socket Mode side of the sandbox: connections by ticket, envelopes, acknowledgements."""

    def __init__(self, state: SlackState, record: Recorder) -> None:
        self.state = state
        self.record = record
        self.sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()

    def connections_open(self, args: JsonObject) -> JsonObject:
        """Answer apps.connections.open with a single-use WebSocket URL."""
        ticket = secrets.token_urlsafe(12)
        self._tickets.add(ticket)
        ws_base = self.state.base_url().replace("http://", "ws://", 1)
        return {"url": f"{ws_base}/socket?ticket={ticket}"}

    async def close(self) -> None:
        """Close every connection."""
        for socket in list(self.sockets):
            await socket.close()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Accept a connection, greet it with hello and record each acknowledgement."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        # A ticket opens one connection, as the URL from apps.connections.open does.
        self._tickets.discard(ticket)
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.sockets.append(socket)
        await self.record("socket_connect", {"ticket": ticket}, 200, {"ok": True})
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.sockets),
                "connection_info": {"app_id": self.state.app_id},
                "debug_info": {"host": "sandbox", "approximate_connection_time": 3600},
            }
        )
        try:
            async for frame in socket:
                if frame.type != web.WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(frame.data)
                except json.JSONDecodeError:
                    continue
                if isinstance(message, dict) and "envelope_id" in message:
                    await self.record("socket_ack", message, 200, {"ok": True})
        finally:
            if socket in self.sockets:
                self.sockets.remove(socket)
        return socket

    async def send(
        self, kind: str, payload: JsonObject, *, accepts_response_payload: bool = False
    ) -> str:
        """Push an envelope (slash_commands, interactive, events_api) to the newest connection."""
        if not self.sockets:
            raise RuntimeError("no Socket Mode client is connected to the sandbox")
        envelope_id = secrets.token_hex(16)
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id
