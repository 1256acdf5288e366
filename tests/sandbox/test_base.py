"""The shared sandbox base serves on port 0, records calls on its clock and injects faults."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from bot.sandbox.base import Injected, Sandbox


@dataclass(frozen=True)
class Call:
    path: str
    status: int
    at: float


class EchoSandbox(Sandbox[Call]):
    """The smallest platform: GET /echo answers 200 unless a fault was injected."""

    kind = "Echo"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/{tail:.*}", self._echo)

    async def _echo(self, request: web.Request) -> web.Response:
        injected = self.take_injection(request.method, request.path)
        status = injected.status if injected else 200
        await self.record(Call(request.path, status, self.now()))
        return web.json_response(injected.body if injected else {"ok": True}, status=status)


async def test_a_waiter_wakes_on_the_call_it_waits_for_stamped_on_the_sandbox_clock() -> None:
    async with EchoSandbox(clock=lambda: 42.0) as sandbox, aiohttp.ClientSession() as http:
        assert sandbox.base_url.startswith("http://127.0.0.1:") and sandbox.port > 0
        waiter = asyncio.ensure_future(sandbox.wait_for_call(lambda c: c.path == "/second"))
        for path in ("/first", "/second"):
            async with http.get(sandbox.base_url + path) as response:
                assert response.status == 200
        call = await waiter

    assert (call.path, call.at) == ("/second", 42.0)
    assert [c.path for c in sandbox.calls] == ["/first", "/second"]


async def test_injected_faults_answer_the_next_matching_requests_in_order() -> None:
    async with EchoSandbox(clock=lambda: 0.0) as sandbox, aiohttp.ClientSession() as http:
        sandbox.inject(lambda verb, path: path == "/pay", Injected(500, {"error": "boom"}), 2)
        sandbox.inject(lambda verb, path: verb == "GET", Injected(429, {}, retry_after=1.0))
        statuses = []
        for path in ("/pay", "/other", "/pay", "/pay"):
            async with http.get(sandbox.base_url + path) as response:
                statuses.append(response.status)

    assert statuses == [500, 429, 500, 200]


async def test_waiting_for_a_call_that_never_comes_names_the_calls_seen() -> None:
    async with EchoSandbox(clock=lambda: 0.0) as sandbox:
        with pytest.raises(
            TimeoutError, match=r"no matching Echo call within 0\.01 s; calls seen: none$"
        ):
            await sandbox.wait_for_call(lambda call: True, timeout=0.01)
