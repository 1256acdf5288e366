"""REST plumbing: find the route, apply an injected fault, frame the answer, record the call."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.sandbox.base import Injected
from bot.sandbox.discord.protocol import API_PREFIX
from bot.sandbox.discord.routes import ROUTER
from bot.sandbox.discord.state import DiscordState, RecordedCall
from bot.sandbox.discord.wire import (
    ApiError,
    ApiRequest,
    Reply,
    Upload,
    bucket_id,
    read_body,
    wire_response,
)

_log = logging.getLogger("bot.sandbox.discord")


class RestApi:
    """Discord's REST API under /api/v10, answered by the routes of ``routes/``."""

    def __init__(
        self,
        state: DiscordState,
        *,
        take_injection: Callable[[str, str], Injected | None],
        record: Callable[[RecordedCall], Awaitable[None]],
    ) -> None:
        self.state = state
        self._take_injection = take_injection
        self._record = record

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Answer one REST request: an injected fault, its route, a 405 or a 404; record it."""
        at = self.state.now()
        method = request.method
        path = request.path.removeprefix(API_PREFIX) or "/"
        query = dict(request.query)
        route, params, path_exists = ROUTER.resolve(method, path)
        bucket = route.bucket if route else bucket_id(method, path)
        body: Any = None
        files: tuple[Upload, ...] = ()
        retry_after: float | None = None
        try:
            body, files = await read_body(request)
            injection = self._take_injection(method, path)
            if injection is not None:
                reply = Reply(injection.status, injection.body)
                retry_after = injection.retry_after
            elif route is not None:
                api_request = ApiRequest(method, path, params, body, query, files)
                reply = await route.handler(self.state, api_request)
            elif path_exists:
                reply = Reply(405, {"message": "405: Method Not Allowed", "code": 0})
            else:
                _log.warning("discord sandbox has no route for %s %s", method, path)
                reply = Reply(404, {"message": "404: Not Found", "code": 0})
        except ApiError as exc:
            reply = exc.reply()
        except Exception:
            _log.exception("discord sandbox failed on %s %s", method, path)
            reply = Reply(500, {"message": "500: Internal Server Error", "code": 0})
        response = wire_response(
            reply, bucket=bucket, now=self.state.wall_clock(), retry_after=retry_after
        )
        await self._record(
            RecordedCall(
                method=method,
                path=path,
                json=body,
                query=query,
                at=at,
                status=reply.status,
                files=tuple(f.filename for f in files),
                reason=request.headers.get("X-Audit-Log-Reason"),
            )
        )
        return response
