"""`/flywheel link purchase <email>` on Slack, and the "Yes, this was my purchase" button of
its DM (an action whose id carries the order's public uid; the service checks the clicker
was offered that order and that it is still unclaimed)."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.services import payments
from bot.slack.front import ActionCall, SlackFront, VerbCall
from bot.slack.rituals.verbs import unescape
from bot.text import slack_escape

# Slack turns a typed email into a link: <mailto:ada@example.org|ada@example.org>.
MAILTO = re.compile(r"<mailto:[^|>]*\|([^>]*)>|<mailto:([^|>]*)>")


def typed_email(text: str) -> str:
    """Return the email as the member typed it, without Slack's link around it."""
    plain = MAILTO.sub(lambda found: found.group(1) or found.group(2) or "", text)
    return unescape(plain).strip()


async def purchase_verb(call: VerbCall) -> None:
    """DM a confirmation for each purchase waiting under that email (never say if any)."""
    runtime = call.runtime
    async with call.acting() as (session, actor):
        asked = await payments.claim_purchase(
            session, runtime.clock, runtime.settings.offers, actor, typed_email(call.rest)
        )
    await call.reply(asked.told)


async def confirm(call: ActionCall) -> None:
    """Link the purchase to the member who clicked, if they were offered it."""
    runtime = call.runtime
    async with call.acting() as (session, actor):
        done = await payments.confirm_claim(
            session,
            runtime.clock,
            runtime.settings.offers,
            community_id=actor.community_id,
            member_id=actor.member_id,
            button_id=call.action_id,
        )
    what = f"your *{slack_escape(done.offer)}* purchase" if done.offer else "your purchase"
    granted = " Your access is on its way." if any(c.granted for c in done.changes) else ""
    await call.replace(f"Done: {what} ({done.amount}) is now linked to you here.{granted}")


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add `link purchase` and its DM's confirmation button."""
    front.commands.add(
        "link purchase",
        purchase_verb,
        usage="<email>",
        summary="Claim a purchase you paid for with this email (you get a DM to confirm).",
    )
    app.action(re.compile(r"^purchase-claim:[0-9a-f]{16}$"))(front.action(confirm))
