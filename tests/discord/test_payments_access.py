"""Paid access on Discord, end to end: /access why and /link-purchase through the real
discord.py client against the sandbox, on the real runtime; the outbox delivers the DM and
the role."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.discord.sender import DiscordSender
from bot.models import Order, OutboxMessage
from bot.runtime import Runtime
from bot.services import payments
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.payments.claims import TOLD
from bot.settings import Settings, load_settings
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    CONFIGURED_OWNER_ID,
    GUILD_ID,
    MODERATOR_ID,
    MODERATOR_ROLE_ID,
    answer,
)
from tests.services.payments_seed import order

PAID_ROLE_ID = 910_000_000_000_000_300


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with an offer granting the 'paid' access key, mapped to a Discord role."""
    config = tmp_path / "bot.toml"
    config.write_text(
        f"""
[community]
name = "Acme"
[discord]
guild_ids = [{GUILD_ID}]
moderator_role_ids = [{MODERATOR_ROLE_ID}]
owner_user_ids = [{CONFIGURED_OWNER_ID}]
access = {{ paid = {PAID_ROLE_ID} }}
[media]
dir = {str(tmp_path / "media")!r}
[offers.pro]
name = "Pro membership"
price = "price_pro"
access = "paid"
""",
        encoding="utf-8",
    )
    return load_settings(
        config, environ={"FLYWHEEL_DATABASE_URL": database_url, "DISCORD_TOKEN": "sandbox-token"}
    )


@pytest.fixture
async def ready(bot, runtime, sandbox):
    """The bot running, the paid role in the guild, the outbox sending to the sandbox."""
    sandbox.add_role(GUILD_ID, PAID_ROLE_ID, "Paid")
    runtime.dispatcher.register(
        DiscordSender("sandbox-token", api_base=sandbox.api_base, access={"paid": PAID_ROLE_ID})
    )
    return bot


async def discord_member(runtime: Runtime, user_id: int, name: str) -> int:
    caller = Caller("discord", str(GUILD_ID), str(user_id), name, Role.MEMBER)
    async with runtime.sessions() as session, session.begin():
        actor = await resolve_actor(
            session, runtime.clock, community_id=runtime.community_id, caller=caller
        )
    return actor.member_id


async def bought(runtime: Runtime, member_id: int | None, **values: Any) -> Order:
    async with runtime.sessions() as session, session.begin():
        found = await order(session, runtime.clock, runtime.community_id, member_id, **values)
        if member_id is not None:
            await payments.refresh(
                session,
                runtime.clock,
                runtime.settings.offers,
                community_id=runtime.community_id,
                member_id=member_id,
            )
    return found


def why(member: int | None = None) -> list[dict[str, Any]]:
    options = [] if member is None else [{"type": 6, "name": "member", "value": str(member)}]
    return [{"type": 1, "name": "why", "options": options}]


async def test_a_member_asks_why_and_sees_their_order_the_decision_and_the_role_delivered(
    ready, runtime, sandbox, slash
):
    alice = await discord_member(runtime, ALICE_ID, "alice")
    paid = await bought(runtime, alice, amount=1900)
    await runtime.dispatcher.drain()
    assert PAID_ROLE_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)

    shown = await slash("access", user_id=ALICE_ID, options=why())

    text = shown.json["data"]["content"]
    assert shown.json["data"]["flags"] == 64
    assert text.startswith("**Your paid access**\n**Pro membership** \\(pro, access `paid`\\)")
    assert "entitled" in text and "Decision: granted since 02 Mar 2026" in text
    assert "discord: grant sent \\(1 attempt, 02 Mar 2026 09:00 UTC\\)" in text
    assert f"`{paid.session_id}` · pro · complete/paid · 19.00 EUR" in text


async def test_a_moderator_asks_about_another_member_and_a_member_cannot(
    ready, runtime, sandbox, slash
):
    alice = await discord_member(runtime, ALICE_ID, "alice")
    await bought(runtime, alice)

    by_mod = await slash("access", user_id=MODERATOR_ID, options=why(ALICE_ID))
    by_bob = await slash("access", user_id=BOB_ID, options=why(ALICE_ID))

    assert by_mod.json["data"]["content"].startswith("**Paid access of alice**\n")
    refused = by_bob.json["data"]["content"]
    assert refused == payments.why.NOT_YOURS or payments.why.NOT_YOURS in refused
    assert "Pro membership" not in refused


def email(value: str) -> list[dict[str, Any]]:
    return [{"type": 3, "name": "email", "value": value}]


async def test_a_buyer_claims_a_purchase_by_email_and_the_dm_button_links_it_and_grants_the_role(
    ready, runtime, sandbox, slash
):
    alice = await discord_member(runtime, ALICE_ID, "alice")
    waiting = await bought(runtime, None, email="Alice.Buys@Example.org", customer_id="cus_a")

    reply = await slash("link-purchase", user_id=ALICE_ID, options=email("alice.buys@example.org"))
    assert reply.json["data"]["content"] == TOLD
    await runtime.dispatcher.drain()

    (dm,) = sandbox.messages[sandbox.open_dm(ALICE_ID)]
    assert "Pro membership" in dm["content"] and "12.00 EUR" in dm["content"]
    (button,) = dm["components"][0]["components"]
    assert button["custom_id"] == f"purchase-claim:{waiting.uid}"
    click = await sandbox.send_component(
        button["custom_id"], message_id=int(dm["id"]), user_id=ALICE_ID
    )
    done = await answer(sandbox, click)

    assert done.json["data"]["content"].startswith("Done: your **Pro membership** purchase")
    assert done.json["data"]["components"] == []
    async with runtime.sessions() as session:
        linked = await session.get(Order, waiting.id)
        queued = list(
            await session.scalars(
                select(OutboxMessage.key).where(OutboxMessage.key.like("paid-access:%"))
            )
        )
    assert linked is not None and linked.member_id == alice
    assert len(queued) == 1
    await runtime.dispatcher.drain()
    assert PAID_ROLE_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)


async def test_a_wrong_email_or_a_claimed_purchase_gets_the_same_answer_and_no_dm(
    ready, runtime, sandbox, slash
):
    bob = await discord_member(runtime, BOB_ID, "bob")
    await bought(runtime, bob, email="bob@example.org")

    wrong = await slash("link-purchase", user_id=ALICE_ID, options=email("nobody@example.org"))
    taken = await slash("link-purchase", user_id=ALICE_ID, options=email("bob@example.org"))
    await runtime.dispatcher.drain()

    assert wrong.json["data"]["content"] == taken.json["data"]["content"] == TOLD
    assert sandbox.messages[sandbox.open_dm(ALICE_ID)] == []


async def test_an_email_of_the_wrong_shape_is_refused_with_what_to_type(ready, slash):
    reply = await slash("link-purchase", user_id=ALICE_ID, options=email("not an email"))

    assert "doesn't look like an email address" in reply.json["data"]["content"]


async def test_a_long_answer_is_paged(ready, runtime, slash):
    alice = await discord_member(runtime, ALICE_ID, "alice")
    for _ in range(70):
        await bought(runtime, alice, paid=False)

    first = (await slash("access", user_id=ALICE_ID, options=why())).json["data"]["content"]
    found = re.search(r"\nPage 1 of (\d+): `/access why page:2` for more\.$", first)
    assert found is not None and int(found[1]) >= 3
    options = why()
    options[0]["options"].append({"type": 4, "name": "page", "value": int(found[1])})
    last = (await slash("access", user_id=ALICE_ID, options=options)).json["data"]["content"]

    assert first.startswith("**Your paid access**") and len(first) <= 2000
    assert last.endswith(f"Page {found[1]} of {found[1]}: the last page.")
    assert "**Subscriptions \\(0\\)**\nNone." in last
