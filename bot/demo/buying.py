"""The demo's shop in use: a member buys the offer from their /buy link and cancels in the
billing portal (the tour's steps), and the live demo's buy link."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.demo.community import GENERAL, GUILD, STEP_TIMEOUT, Demo, answered
from bot.demo.payments import OFFER, PAID_ROLE
from bot.sandbox.discord import RecordedCall
from bot.services import payments
from bot.services.callers import Caller, Role, resolve_actor

BUYER = 900_000_000_000_001_007  # Hana, seeded on Discord
_URL = re.compile(r"<(https?://[^>\s]+)>")


async def _slash(demo: Demo, name: str, user: int, options: list[dict[str, Any]]) -> str:
    """Run a slash command as a member; return the text of the (ephemeral) answer."""
    interaction = await demo.discord.send_slash_command(
        name, guild_id=GUILD, channel_id=GENERAL, user_id=user, options=options
    )
    call = await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
    body = call.json or {}
    return str((body.get("data") or body).get("content") or "")


def _role_change(user: int, method: str) -> Callable[[RecordedCall], bool]:
    path = f"/guilds/{GUILD}/members/{user}/roles/{PAID_ROLE}"
    return lambda call: call.method == method and call.path == path and call.status == 204


async def step_buy(demo: Demo, state: dict[str, Any]) -> str:
    """A member buys the offer from their /buy link through the pay page; the role appears."""
    text = await _slash(demo, "buy", BUYER, [{"type": 3, "name": "offer", "value": OFFER}])
    links = [url for url in _URL.findall(text) if f"/buy/{OFFER}?" in url]
    assert links, text
    async with aiohttp.ClientSession() as http:
        async with http.get(links[0], allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
            pay_page = answer.headers["Location"]
        session_id = pay_page.rstrip("/").rsplit("/", 1)[-1]
        async with http.post(
            pay_page, data={"email": "hana@example.org"}, allow_redirects=False
        ) as paid:
            assert paid.status in (302, 303), await paid.text()
    demo.runtime.dispatcher.wake()
    await demo.discord.wait_for_call(_role_change(BUYER, "PUT"), timeout=STEP_TIMEOUT)
    assert PAID_ROLE in demo.discord.member_roles(GUILD, BUYER)
    state["subscription"] = str(demo.stripe.get("checkout.session", session_id)["subscription"])
    return f"Hana paid through the pay page ({session_id}); the Insider role was granted"


async def step_cancel(demo: Demo, state: dict[str, Any]) -> str:
    """The member cancels in the billing portal; at the period's end the role goes."""
    text = await _slash(demo, "billing", BUYER, [])
    portals = [url for url in _URL.findall(text) if "/portal/" in url]
    assert portals, text
    subscription = state["subscription"]
    portal = portals[0]
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{portal}/cancel/{subscription}", allow_redirects=False) as canceled,
    ):
        assert canceled.status < 400, await canceled.text()
    assert demo.stripe.get("subscription", subscription)["cancel_at_period_end"] is True
    demo.stripe.end_period(subscription)  # the month runs out
    demo.runtime.dispatcher.wake()
    await demo.discord.wait_for_call(_role_change(BUYER, "DELETE"), timeout=STEP_TIMEOUT)
    assert PAID_ROLE not in demo.discord.member_roles(GUILD, BUYER)
    return "Hana canceled in the billing portal; when the period ended the role was revoked"


PAYMENTS_TOUR = [("buy an offer", step_buy), ("cancel in the billing portal", step_cancel)]


async def buy_link(demo: Demo, user: int, name: str) -> str:
    """Return a Discord member's personal buy link to the demo's offer (as /buy gives it)."""
    runtime = demo.runtime
    async with runtime.sessions() as session, session.begin():
        actor = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=Caller("discord", str(GUILD), str(user), name, Role.MEMBER),
        )
        [link] = await payments.buy_links(session, runtime.clock, actor, runtime.settings, OFFER)
    return link.url
