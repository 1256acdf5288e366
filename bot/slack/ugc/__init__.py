"""The UGC feature on Slack: sharing with a form (files and a consent choice), one's own
submissions, the review queue's buttons and forms, and prompts.

The verbs match the Discord cog's: `share`, `share mine`, `share withdraw`, `ugc prompts`,
and for moderators `ugc queue` and `ugc prompt create|close|list`. The buttons on the
posts the outbox sends carry the public ids (``ugc-approve:<uid>``, ``ugc-share:<uid>``…);
the service checks the role and every typed value again on each of them.

- :mod:`.share`: the share form and copying the member's files from Slack;
- :mod:`.mine`: `share mine` and withdrawing; :mod:`.review`: decisions and the queue;
- :mod:`.prompts`: the prompt verbs and form; :mod:`.render`: how all of them say things.
"""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.services.callers import Role
from bot.slack.front import SlackFront
from bot.slack.ugc import mine, prompts, review, share
from bot.slack.ugc.render import MINE_PAGE, QUEUE_PAGE, WITHDRAW_ASK

__all__ = ["register"]


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the UGC verbs, forms and buttons."""
    moderator = Role.MODERATOR
    withdraw = mine.withdraw_prompt()
    add = front.commands.add
    add("share", share.share_verb, usage="[title]", summary="Share your work: opens a form.")
    add(
        "share mine",
        mine.mine,
        usage="[page]",
        summary="What you shared and where each one is.",
    )
    add(
        "share withdraw",
        mine.withdraw_verb(withdraw),
        usage="<title> [delete]",
        summary="Take back something you shared (delete: remove it for good; asks first).",
    )
    add("ugc prompts", prompts.open_verb, summary="The open prompts, with a Share button.")
    add(
        "ugc queue",
        review.queue_verb,
        usage="[page]",
        summary="Submissions waiting for review, oldest first.",
        role=moderator,
    )
    add(
        "ugc prompt create",
        prompts.create_verb,
        summary="Ask members to share something (a form).",
        role=moderator,
    )
    add(
        "ugc prompt close",
        prompts.close_verb,
        usage="<title>",
        summary="Stop a prompt taking submissions.",
        role=moderator,
    )
    add(
        "ugc prompt list",
        prompts.list_verb,
        summary="Every prompt, closed ones too.",
        role=moderator,
    )
    withdraw.register(app, front)
    app.view(share.MODAL)(front.submission(share.submit, fields=share.FIELDS))
    app.view(review.REJECT_MODAL)(
        front.submission(review.reject_submit, fields=review.REJECT_FIELDS)
    )
    app.view(prompts.MODAL)(front.submission(prompts.create_submit, fields=prompts.FIELDS))
    app.action(re.compile(r"^ugc-(approve|feature):"))(front.action(review.decide_button))
    app.action(re.compile(r"^ugc-reject:"))(front.action(review.reject_button))
    app.action(re.compile(r"^ugc-share:"))(front.action(share.share_button))
    app.action(re.compile(rf"^{QUEUE_PAGE}(_prev)?$"))(front.action(review.queue_page))
    app.action(WITHDRAW_ASK)(front.action(mine.withdraw_button(withdraw)))
    app.action(re.compile(rf"^{MINE_PAGE}(_prev)?$"))(front.action(mine.mine_page))
