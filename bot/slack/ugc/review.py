"""The review queue on Slack: Approve, Reject and Feature on the queue posts, the rejection
form, and `/flywheel ugc queue [page]`.

The buttons carry the submission's public id; the service checks the clicker's role and lets
the first decision win, so a second click (or a forged one) changes nothing and is told who
decided first.
"""

from __future__ import annotations

from bot.errors import Invalid
from bot.services import ugc
from bot.services.callers import Role, require
from bot.services.ugc import REJECT_REASONS, Decision, DecisionResult, UgcRules
from bot.slack.blocks import Block, input_block, modal, option, selected_value, text_input
from bot.slack.front import ActionCall, SlackCall, SubmissionCall
from bot.slack.paging import paging
from bot.slack.render import fit_view
from bot.slack.ugc.render import QUEUE_PER_PAGE, decision_text, queue_blocks

REJECT_MODAL = "ugc_reject"
REASON = "reason"
NOTE = "note"
# A refusal of the reason (none given, or the typed one unusable) shows under the free text.
REJECT_FIELDS = {"reason": NOTE}


async def _decide(
    call: SlackCall, uid: str, decision: Decision, reason: str = ""
) -> DecisionResult:
    runtime = call.runtime
    async with call.acting() as (session, actor):
        return await ugc.decide(
            session,
            runtime.clock,
            actor,
            uid,
            decision,
            reason=reason,
            rules=UgcRules.of(runtime.settings),
            store=runtime.media,
            commands=runtime.commands,
        )


def _button(call: ActionCall) -> tuple[Decision, str]:
    parsed = ugc.decision_of_button(call.action_id)
    if parsed is None:
        raise Invalid("That button is not a review button.", code="button.unknown")
    decision, uid = parsed
    return Decision(decision), uid


async def decide_button(call: ActionCall) -> None:
    """Approve or feature the submission the clicked button names, and say what happened."""
    decision, uid = _button(call)
    await call.reply(decision_text(await _decide(call, uid, decision)))


def reject_modal(uid: str, channel_id: str | None) -> Block:
    """Build the rejection form: a listed reason, or the moderator's own words."""
    reasons: Block = {
        "type": "radio_buttons",
        "action_id": REASON,
        "options": [option(text.capitalize(), key) for key, text in REJECT_REASONS.items()],
    }
    return modal(
        REJECT_MODAL,
        "Reject",
        [
            input_block(REASON, "Why not?", reasons, optional=True),
            text_input(
                NOTE,
                "Or in your own words",
                hint="The member reads this in a DM; it replaces the reason picked above.",
                optional=True,
                multiline=True,
                max_length=ugc.REASON_LENGTH,
            ),
        ],
        submit="Reject",
        metadata={"uid": uid, "channel": channel_id},
    )


async def reject_button(call: ActionCall) -> None:
    """Open the rejection form (moderators only; the service checks again on submission)."""
    decision, uid = _button(call)
    if decision != Decision.REJECT:
        raise Invalid("That button is not a Reject button.", code="button.unknown")
    require(await call.caller(), Role.MODERATOR)
    view = fit_view(reject_modal(uid, call.channel_id))
    await call.client.views_open(trigger_id=call.body["trigger_id"], view=view)


async def reject_submit(call: SubmissionCall) -> str:
    """Reject with the reason given; return what to tell the moderator."""
    uid = call.metadata.get("uid")
    if not isinstance(uid, str) or not uid:
        raise Invalid("That form does not name a submission; click Reject again.")
    values = call.values
    note = str(values.get(NOTE, {}).get("value") or "")
    reason = note if note.strip() else selected_value(values, REASON) or ""
    return decision_text(await _decide(call, uid, Decision.REJECT, reason))


async def _page(call: SlackCall, page: int) -> tuple[str, list[Block]]:
    async with call.acting() as (session, actor):
        found = await ugc.queue(session, actor, page=page, per_page=QUEUE_PER_PAGE)
    return queue_blocks(found, call.front.commands.command)


# `ugc queue [page]` (moderators: the service checks) and its Next/Previous buttons.
queue_verb, queue_page = paging(_page)
