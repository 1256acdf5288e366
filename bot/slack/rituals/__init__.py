"""The rituals feature on Slack: `/flywheel ritual …`, the create/edit modal, the check-in
button on ritual posts, and check-ins by reaction and by reply in a post's thread.

The verbs match the Discord cog's (create, edit, pause, resume, delete, run-now, list,
preview, remind, checkin, host add). Moderator verbs are refused by the router before any
modal opens, and again by the service on every write, so a forged submission gains nothing.

- :mod:`.verbs`: the `ritual …` verbs; :mod:`.modal`: the create/edit form;
- :mod:`.actions`: the buttons; :mod:`.events`: reactions and thread replies;
- :mod:`.render`: how all of them say things.
"""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.slack.front import SlackFront
from bot.slack.rituals.actions import (
    CANCEL_DELETE,
    CHECKIN_ACTION,
    CONFIRM_DELETE,
    checkin_button,
    delete_prompt,
    list_page,
)
from bot.slack.rituals.events import register_events
from bot.slack.rituals.modal import FIELDS, MODAL, submit
from bot.slack.rituals.render import LIST_PAGE, PAGE_SIZE
from bot.slack.rituals.verbs import add_verbs

__all__ = ["CANCEL_DELETE", "CONFIRM_DELETE", "LIST_PAGE", "MODAL", "PAGE_SIZE", "register"]


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the rituals feature's verbs, modal, buttons and event listeners."""
    prompt = delete_prompt()
    add_verbs(front.commands, delete_prompt=prompt)
    prompt.register(app, front)
    app.view(MODAL)(front.submission(submit, fields=FIELDS))
    app.action(CHECKIN_ACTION)(front.action(checkin_button))
    app.action(re.compile(rf"^{LIST_PAGE}(_prev)?$"))(front.action(list_page))
    register_events(front)
