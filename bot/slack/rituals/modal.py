"""The create/edit modal of the rituals feature on Slack: building it and reading it back.

The modal only parses what was typed; the service validates it and says which field a
refusal is about (``Invalid.field``), which :data:`FIELDS` maps to the modal's blocks.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bot.services.rituals import (
    TEMPLATES,
    RitualChanges,
    RitualSpec,
    create_ritual,
    edit_ritual,
    parse_minutes,
    spec_from_template,
)
from bot.services.schedules import FORMS
from bot.slack.blocks import (
    Block,
    input_block,
    modal,
    option,
    selected_value,
    text_input,
    text_value,
)
from bot.slack.front import SubmissionCall
from bot.slack.rituals.render import CHANNEL_ID, leads_field, summary

MODAL = "ritual_modal"

# The modal's blocks; each input's action_id is its block_id.
NAME = "name"
TEMPLATE = "template"
SCHEDULE = "schedule"
TIMEZONE = "timezone"
CHANNEL = "channel"
PROMPT = "prompt"
REMINDERS = "reminders"
CUSTOM = "custom"
TEMPLATE_LABELS = {**{key: t.name for key, t in TEMPLATES.items()}, CUSTOM: "Custom"}
NO_REMINDERS = frozenset({"none", "off", "no", "0"})
# Which block shows a refusal about which of the service's fields.
FIELDS = {
    "name": NAME,
    "kind": TEMPLATE,
    "schedule": SCHEDULE,
    "timezone": TIMEZONE,
    "channel_id": CHANNEL,
    "prompt": PROMPT,
    "reminder_minutes": REMINDERS,
}


def _option(key: str) -> Block:
    return option(TEMPLATE_LABELS[key], key)


def ritual_modal(
    *, channel_id: str | None, timezone: str, current: RitualSpec | None = None
) -> Block:
    """Build the create modal, or the edit modal prefilled with ``current``."""
    editing = current is not None
    blank = "leave blank to keep it" if editing else "leave blank to use the template's"
    kind = current.kind if current and current.kind in TEMPLATE_LABELS else CUSTOM
    template_hint = (
        "Which classic ritual this is; it stays as created."
        if editing
        else "A classic ritual fills in the blank fields: its name, schedule, prompt and reminders."
    )
    channel_element: Block = {
        "type": "conversations_select",
        "action_id": CHANNEL,
        "filter": {
            "include": ["public", "private"],
            "exclude_bot_users": True,
            "exclude_external_shared_channels": True,
        },
    }
    initial_channel = (current.channel_id if current else None) or channel_id
    if initial_channel and CHANNEL_ID.fullmatch(initial_channel):
        channel_element["initial_conversation"] = initial_channel
    else:
        channel_element["default_to_current_conversation"] = True
    template_element: Block = {
        "type": "static_select",
        "action_id": TEMPLATE,
        "options": [_option(key) for key in TEMPLATE_LABELS],
        "initial_option": _option(kind),
    }
    blocks: list[Block] = [
        text_input(
            NAME,
            "Name",
            initial=current.name if current else None,
            placeholder="Office Hours",
            hint=f"Up to 80 characters; {blank}.",
            optional=True,
            max_length=80,
        ),
        input_block(TEMPLATE, "Template", template_element, hint=template_hint),
        text_input(
            SCHEDULE,
            "Schedule",
            initial=current.schedule if current else None,
            placeholder="weekly fri 12:00",
            hint=f"In the time zone below. Write it like {FORMS.replace('`', '')}.",
            optional=True,
            max_length=60,
        ),
        text_input(
            TIMEZONE,
            "Time zone",
            initial=current.timezone if current else timezone,
            placeholder="Europe/Berlin",
            hint="An IANA name, like Europe/Berlin or America/New_York.",
            max_length=64,
        ),
        input_block(
            CHANNEL, "Channel", channel_element, hint="Invite the app to the channel first."
        ),
        text_input(
            PROMPT,
            "Prompt",
            initial=current.prompt if current else None,
            hint=f"What members read in the post; {blank}.",
            optional=True,
            multiline=True,
            max_length=1500,
        ),
        text_input(
            REMINDERS,
            "Reminders",
            initial=leads_field(current.reminder_minutes) if current else None,
            placeholder="24h, 1h",
            hint=f"How long before each time to remind, like 24h, 1h; none for no reminders; "
            f"{blank}.",
            optional=True,
            max_length=40,
        ),
    ]
    return modal(
        MODAL,
        "Edit ritual" if editing else "New ritual",
        blocks,
        submit="Save" if editing else "Create",
        metadata={"ritual": current.name if current else None, "channel": channel_id},
    )


def _leads(text: str) -> tuple[int, ...]:
    return () if text.lower() in NO_REMINDERS else parse_minutes(text)


def _create_spec(values: dict[str, dict[str, Any]], timezone: str, channel: str) -> RitualSpec:
    template = selected_value(values, TEMPLATE) or CUSTOM
    if template == CUSTOM:
        spec = RitualSpec(name="", schedule="", timezone=timezone, prompt="", kind=CUSTOM)
    else:
        spec = spec_from_template(template, timezone=timezone, channel_id=channel or None)
    reminders = text_value(values, REMINDERS)
    return replace(
        spec,
        name=text_value(values, NAME) or spec.name,
        schedule=text_value(values, SCHEDULE) or spec.schedule,
        prompt=text_value(values, PROMPT) or spec.prompt,
        channel_id=channel or None,
        reminder_minutes=_leads(reminders) if reminders else spec.reminder_minutes,
    )


def _changes(values: dict[str, dict[str, Any]], timezone: str, channel: str) -> RitualChanges:
    reminders = text_value(values, REMINDERS)
    # Blank means "keep it".
    return RitualChanges(
        name=text_value(values, NAME) or None,
        schedule=text_value(values, SCHEDULE) or None,
        timezone=timezone or None,
        prompt=text_value(values, PROMPT) or None,
        channel_id=channel or None,
        reminder_minutes=_leads(reminders) if reminders else None,
    )


async def submit(call: SubmissionCall) -> str:
    """Create or edit the ritual from the modal; return what to tell the moderator."""
    values = call.values
    editing = call.metadata.get("ritual")
    clock = call.runtime.clock
    timezone = text_value(values, TIMEZONE)
    channel = str(values.get(CHANNEL, {}).get("selected_conversation") or "")
    if editing:
        changes = _changes(values, timezone, channel)
        async with call.acting() as (session, actor):
            saved = await edit_ritual(session, clock, actor, str(editing), changes)
        return summary(saved, "Saved")
    spec = _create_spec(values, timezone, channel)
    async with call.acting() as (session, actor):
        saved = await create_ritual(session, clock, actor, spec)
    return summary(saved, "Created")


def template_key(text: str) -> str:
    """Turn what was typed after `ritual create` into a template key (``Office-Hours``)."""
    return re.sub(r"[\s-]+", "_", text.strip().lower())
