"""How the UGC feature says things on Slack: decisions, the queue, one's own submissions, prompts.

Everything a member or moderator typed (titles, names, briefs) goes through
:func:`bot.slack.render.plain`, so it shows as typed and can ping no one.
"""

from __future__ import annotations

from datetime import datetime

from bot.models import SubmissionStatus
from bot.services.ugc import (
    CONSENT_WORDS,
    DecisionResult,
    MinePage,
    PromptView,
    QueuePage,
    SubmissionView,
)
from bot.slack.blocks import Block, actions_block, button, context_block, mrkdwn_section
from bot.slack.paging import pager
from bot.slack.render import plain

QUEUE_PAGE = "ugc_queue_page"
MINE_PAGE = "ugc_mine_page"
MINE_PER_PAGE = 10
WITHDRAW_ASK = "ugc_withdraw_ask"
SHARE_PREFIX = "ugc-share:"
QUEUE_PER_PAGE = 10
LIST_MOST = 20  # prompts or submissions shown in one answer
STATUS_WORDS = {
    SubmissionStatus.PENDING: "waiting for review",
    SubmissionStatus.APPROVED: "approved",
    SubmissionStatus.REJECTED: "not approved",
    SubmissionStatus.WITHDRAWN: "withdrawn",
}


def quoted(title: str) -> str:
    """Return a title in quotes, escaped."""
    return f"“{plain(title)}”"


def points(count: int) -> str:
    """Say a number of points."""
    return f"{count} point" if count == 1 else f"{count} points"


def _day(moment: datetime) -> str:
    return f"{moment:%d %b %Y}"


def thanks_text(view: SubmissionView, command: str) -> str:
    """Say that a submission is in the review queue."""
    prompt = f" (for {quoted(view.prompt)})" if view.prompt else ""
    return (
        f"Thanks! {quoted(view.title)}{prompt} is in the review queue; I'll DM you when a "
        f"moderator has looked at it. `{command} share mine` shows where it is."
    )


def decision_text(result: DecisionResult) -> str:
    """Say what a moderator's click did, or who decided first."""
    who = plain(result.author or "The member")
    if not result.decided_now:
        by = f" by {plain(result.decided_by)}" if result.decided_by else ""
        return f"Already {result.outcome}{by}; nothing changed."
    if result.outcome == "rejected":
        return f"Rejected: {who} gets a DM with the reason."
    gets = f"{points(result.points)} and a DM" if result.points else "a DM"
    return f"{result.outcome.capitalize()}: {who} gets {gets}."


def withdrawn_text(view: SubmissionView, *, deleted: bool) -> str:
    """Say what withdrawing or deleting a submission did."""
    if deleted:
        return f"Deleted {quoted(view.title)} and its files."
    return (
        f"Withdrew {quoted(view.title)}: it is off the showcase and the public page, and its "
        "files are deleted."
    )


def mine_blocks(mine: MinePage, command: str) -> tuple[str, list[Block]]:
    """List a page of a member's own submissions, newest first, each with a Withdraw button."""
    views = mine.items
    if not views:
        text = f"You have not shared anything yet. `{command} share` opens the form."
        return text, [mrkdwn_section(text)]
    text = f"Your submissions ({mine.total}), newest first" + (
        f", page {mine.page} of {mine.pages}" if mine.pages > 1 else ""
    )
    blocks: list[Block] = [mrkdwn_section(f"*{text}*")]
    for view in views:
        status = "featured" if view.featured else STATUS_WORDS[view.status]
        prompt = f" · for {quoted(view.prompt)}" if view.prompt else ""
        block = mrkdwn_section(
            f"*{plain(view.title)}* · {status} · shared {_day(view.submitted_at)}{prompt}"
        )
        if view.status != SubmissionStatus.WITHDRAWN:
            block["accessory"] = button("Withdraw", WITHDRAW_ASK, view.uid)
        blocks.append(block)
    turns = pager(MINE_PAGE, mine.page, mine.pages)
    if turns is not None:
        blocks.append(turns)
    blocks.append(context_block(f"`{command} share withdraw <title> delete` deletes one for good."))
    return text, blocks


def queue_blocks(page: QueuePage, command: str) -> tuple[str, list[Block]]:
    """Render one page of the review queue, oldest first, with decision and page buttons."""
    if not page.items:
        text = "Nothing is waiting for review."
        return text, [mrkdwn_section(text)]
    text = f"Waiting for review ({page.total}), oldest first" + (
        f", page {page.page} of {page.pages}" if page.pages > 1 else ""
    )
    blocks: list[Block] = [mrkdwn_section(f"*{text}*")]
    for item in page.items:
        blocks.append(
            mrkdwn_section(
                f"*{plain(item.title)}* · by {plain(item.author)} · shared "
                f"{item.submitted_at:%d %b %H:%M} UTC\n_{CONSENT_WORDS[item.consent]}_"
            )
        )
        blocks.append(
            actions_block(
                f"ugc_queue_{item.uid}",
                [
                    button("Approve", f"ugc-approve:{item.uid}", style="primary"),
                    button("Reject", f"ugc-reject:{item.uid}", style="danger"),
                    button("Feature", f"ugc-feature:{item.uid}"),
                ],
            )
        )
    turns = pager(QUEUE_PAGE, page.page, page.pages)
    if turns is not None:
        blocks.append(turns)
    blocks.append(context_block(f"`{command} ugc queue <page>` jumps to a page."))
    return text, blocks


def _prompt_line(view: PromptView, *, moderator: bool) -> str:
    parts = [f"*{plain(view.title)}*"]
    if moderator:
        parts.append("open" if view.open else "closed")
    if view.deadline_text:
        parts.append(f"until {plain(view.deadline_text)}")
    if view.ritual:
        parts.append(f"in {plain(view.ritual)}'s thread")
    if moderator:
        parts.append(f"{view.submissions} shared")
    line = " · ".join(parts)
    if view.brief:
        line += f"\n{plain(view.brief)}"
    return line


def prompts_blocks(
    views: list[PromptView], command: str, *, moderator: bool
) -> tuple[str, list[Block]]:
    """List prompts; members get a Share button on each open one."""
    if not views:
        text = "No prompts are open right now" + (
            f"; `{command} ugc prompt create` asks members for one." if moderator else "."
        )
        return text, [mrkdwn_section(text)]
    text = f"Prompts ({len(views)})" if moderator else f"Open prompts ({len(views)})"
    blocks: list[Block] = [mrkdwn_section(f"*{text}*")]
    for view in views[:LIST_MOST]:
        block = mrkdwn_section(_prompt_line(view, moderator=moderator))
        if view.open and not moderator:
            block["accessory"] = button("Share yours", f"{SHARE_PREFIX}{view.uid}", style="primary")
        blocks.append(block)
    if len(views) > LIST_MOST:
        blocks.append(context_block(f"…and {len(views) - LIST_MOST} more."))
    return text, blocks


def prompt_text(view: PromptView, verb: str) -> str:
    """Say what creating or closing a prompt did."""
    if verb == "Closed":
        return f"Closed {quoted(view.title)}: it takes no more submissions."
    until = f", open until {plain(view.deadline_text)}" if view.deadline_text else ""
    ritual = f"; it opens in each {plain(view.ritual)} thread" if view.ritual else ""
    return f"Created the prompt {quoted(view.title)}{until}{ritual}."
