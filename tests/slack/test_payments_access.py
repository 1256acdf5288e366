"""Paid access on Slack, end to end: `access why` and `link purchase` as signed requests
into the real bolt app, through the services, out to the sandbox's Web API; the outbox
delivers the DM and the private-channel membership."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.models import Order, OutboxMessage
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.services import payments
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.payments.claims import TOLD
from bot.slack.payments.claims import typed_email
from bot.slack.sender import SlackSender
from tests.services.payments_seed import order
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served

pytestmark = pytest.mark.e2e

PAID_CHANNEL = "G0PAID"
OTHER = "U0BOB"


@pytest.fixture
def extra_config(sandbox: SlackSandbox) -> tuple[str, dict[str, str]]:
    """An offer granting the 'paid' access key: a private channel on Slack."""
    sandbox.add_user(OTHER, "bob", real_name="Bob Builder")
    sandbox.add_channel(PAID_CHANNEL, "paid-members", is_private=True)
    offer = '[offers.pro]\nname = "Pro membership"\nprice = "price_pro"\naccess = "paid"\n'
    return f'access = {{ paid = "{PAID_CHANNEL}" }}\n' + offer, {}


@pytest.fixture
def runtime(runtime: Runtime, sandbox: SlackSandbox) -> Runtime:
    """The conftest's runtime, its outbox sending to the sandbox."""
    access = {"paid": PAID_CHANNEL}
    runtime.dispatcher.register(
        SlackSender(sandbox.bot_token, api_base=sandbox.api_base, access=access)
    )
    return runtime


async def slack_member(runtime: Runtime, sandbox: SlackSandbox, user_id: str) -> int:
    caller = Caller("slack", sandbox.team_id, user_id, user_id, Role.MEMBER)
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


async def command(served: Served, sandbox: SlackSandbox, text: str, user_id: str = MEMBER) -> str:
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=CHANNEL
    )
    assert reply.status == 200
    answer = await sandbox.wait_for_call("response_url", since=seen)
    assert answer.args["response_type"] == "ephemeral"
    return str(answer.args["text"])


async def test_a_member_asks_why_and_sees_their_order_the_decision_and_the_channel_added(
    served: Served, sandbox: SlackSandbox
) -> None:
    runtime = served.runtime
    ada = await slack_member(runtime, sandbox, MEMBER)
    paid = await bought(runtime, ada)
    await runtime.dispatcher.drain()
    assert MEMBER in sandbox.members_of(PAID_CHANNEL)

    text = await command(served, sandbox, "access why")

    assert text.startswith("*Your paid access*\n*Pro membership* (pro, access `paid`): entitled")
    assert "slack: grant sent (1 attempt, 02 Mar 2026 09:00 UTC)" in text
    assert f"`{paid.session_id}` · pro · complete/paid · 12.00 EUR" in text


async def test_a_moderator_asks_about_another_member_and_a_member_cannot(
    served: Served, sandbox: SlackSandbox
) -> None:
    runtime = served.runtime
    ada = await slack_member(runtime, sandbox, MEMBER)
    await bought(runtime, ada)

    by_mod = await command(
        served, sandbox, f"access why <@{MEMBER}|Ada Lovelace> 1", user_id=MODERATOR
    )
    by_bob = await command(served, sandbox, f"access why <@{MEMBER}>", user_id=OTHER)

    assert by_mod.startswith("*Paid access of ada*\n")  # the workspace's display name
    assert "Pro membership" in by_mod
    assert payments.why.NOT_YOURS in by_bob and "Pro membership" not in by_bob


async def test_a_buyer_claims_a_purchase_by_email_and_the_dm_button_links_it_and_grants_access(
    served: Served, sandbox: SlackSandbox
) -> None:
    runtime = served.runtime
    ada = await slack_member(runtime, sandbox, MEMBER)
    waiting = await bought(runtime, None, email="Ada@Example.org", customer_id="cus_ada")

    told = await command(served, sandbox, "link purchase <mailto:ada@example.org|ada@example.org>")
    assert told == TOLD
    await runtime.dispatcher.drain()

    (dm,) = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert "Pro membership" in dm["text"] and "12.00 EUR" in dm["text"]
    (button,) = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == f"purchase-claim:{waiting.uid}"
    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        button["action_id"],
        button["value"],
        user_id=MEMBER,
        channel_id=sandbox.dm_channel_id(MEMBER),
        message_ts=dm["ts"],
    )
    done = await sandbox.wait_for_call("response_url", since=seen)

    assert done.args["text"].startswith("Done: your *Pro membership* purchase (12.00 EUR)")
    assert done.args.get("replace_original") is True
    async with runtime.sessions() as session:
        linked = await session.get(Order, waiting.id)
        queued = list(
            await session.scalars(
                select(OutboxMessage.key).where(OutboxMessage.key.like("paid-access:%"))
            )
        )
    assert linked is not None and linked.member_id == ada
    assert len(queued) == 1
    await runtime.dispatcher.drain()
    assert MEMBER in sandbox.members_of(PAID_CHANNEL)


async def test_a_wrong_email_or_a_claimed_purchase_gets_the_same_answer_and_no_dm(
    served: Served, sandbox: SlackSandbox
) -> None:
    runtime = served.runtime
    bob = await slack_member(runtime, sandbox, OTHER)
    await bought(runtime, bob, email="bob@example.org")

    wrong = await command(served, sandbox, "link purchase nobody@example.org")
    taken = await command(served, sandbox, "link purchase bob@example.org")
    await runtime.dispatcher.drain()

    assert wrong == taken
    assert sandbox.messages_in(sandbox.dm_channel_id(MEMBER)) == []


def test_the_email_slack_linked_is_read_as_typed() -> None:
    assert typed_email(" <mailto:a@b.org|a@b.org> ") == "a@b.org"
    assert typed_email("<mailto:a@b.org>") == "a@b.org"
    assert typed_email("a&amp;b@c.org") == "a&b@c.org"


async def test_a_long_answer_is_paged_with_buttons(served: Served, sandbox: SlackSandbox) -> None:
    runtime = served.runtime
    ada = await slack_member(runtime, sandbox, MEMBER)
    for _ in range(70):
        await bought(runtime, ada, paid=False)

    first = await command(served, sandbox, "access why")
    assert first.startswith("*Your paid access*") and first.endswith("Page 1 of 3.")
    answer = sandbox.calls_to("response_url")[-1]
    (turn,) = [e for b in answer.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        turn["action_id"], turn["value"], user_id=MEMBER, channel_id=CHANNEL
    )
    second = await sandbox.wait_for_call("response_url", since=seen)

    assert second.args["text"].endswith("Page 2 of 3.")
    assert "Orders (70)" not in second.args["text"]
