"""The rituals feature on Slack: `/flywheel ritual …`, the create/edit modal, the check-in
button on ritual posts, and check-ins by reaction and by reply in a post's thread.

The verbs match the Discord cog's (create, edit, pause, resume, delete, run-now, list,
preview, remind, checkin, host add). Moderator verbs are refused by the router before any
modal opens, and again by the service on every write, so a forged submission gains nothing.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import FlywheelError, Invalid
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.rituals import (
    CHECKIN_PREFIX,
    TEMPLATES,
    CheckinResult,
    RitualChanges,
    RitualSpec,
    RitualView,
    add_host,
    checkin,
    checkin_by_reply,
    checkin_current,
    create_ritual,
    delete_ritual,
    describe_leads,
    edit_ritual,
    list_rituals,
    occurrence_for_post,
    parse_minutes,
    preview,
    ritual_spec,
    run_now,
    set_paused,
    set_reminder,
    spec_from_template,
)
from bot.services.schedules import FORMS, parse_schedule, zone
from bot.slack.app import (
    PLATFORM,
    Block,
    SlackFront,
    VerbCall,
    button,
    context_block,
    mrkdwn_section,
)
from bot.slack.errors import report_failure, reported, tell_user
from bot.text import slack_escape

log = logging.getLogger(__name__)

MODAL = "ritual_modal"
CHECKIN_ACTION = re.compile(rf"^{re.escape(CHECKIN_PREFIX)}(\d+)$")
LIST_PAGE = "ritual_list_page"
CONFIRM_DELETE = "ritual_delete_confirm"
CANCEL_DELETE = "ritual_delete_cancel"
PAGE_SIZE = 10
PREVIEW_COUNT = 5

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
# Which modal field a service refusal is about, by how the service words it.
MESSAGE_FIELDS = (
    ("A ritual name", NAME),
    ("A ritual called", NAME),
    ("Kind must", TEMPLATE),
    ("The prompt", PROMPT),
    ("Choose a channel", CHANNEL),
    ("Reminders", REMINDERS),
)
# "<name> <@U123|label>", "<name> <@U123>" (how Slack sends a mention when the command
# escapes them) or "<name> U123".
HOST_ARGS = re.compile(
    r"(?P<name>.+?)\s+(?:<@(?P<mention>[UW][A-Z0-9]+)(?:\|(?P<label>[^>]*))?>"
    r"|(?P<user_id>[UW][A-Z0-9]{2,}))",
    re.DOTALL,
)
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


class FieldError(Exception):
    """A modal field's value is refused; Slack shows the message under that field."""

    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.block_id = block_id
        self.message = message


# -- parsing and rendering -----------------------------------------------------------------------


def _unescape(text: str) -> str:
    # Slack sends &, < and > in typed text as HTML entities; a ritual called "Q&A" must match.
    return re.sub(r"&(lt|gt|amp);", lambda m: _ENTITIES[m.group(0)], text)


def _ritual_name(text: str) -> str:
    return _unescape(text).strip().strip("\"'“”‘’").strip()


def _points(count: int) -> str:
    return f"{count} point" if abs(count) == 1 else f"{count} points"


def fire_text(local: datetime, utc: datetime) -> str:
    """Say a fire time in the ritual's local time and in UTC (with the UTC day if it differs)."""
    utc = utc.astimezone(UTC)
    utc_day = "" if utc.date() == local.date() else f"{utc:%a %d %b} "
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} · {utc_day}{utc:%H:%M} UTC"


def when_text(moment: datetime, timezone: str) -> str:
    """Say a moment in a ritual's time zone and in UTC."""
    return fire_text(moment.astimezone(zone(timezone)), moment)


def _channel_text(view: RitualView) -> str:
    channel = view.channel_on(PLATFORM)
    if channel and CHANNEL_ID.fullmatch(channel):
        return f"<#{channel}>"
    if channel:
        return slack_escape(channel)
    return "Discord only" if view.channel_on("discord") else "no channel"


def _next_text(view: RitualView) -> str:
    if view.paused:
        return "paused"
    if view.next_fire is None:
        return "no upcoming time"
    return when_text(view.next_fire, view.timezone)


def _ritual_block(view: RitualView) -> Block:
    paused = " · _paused_" if view.paused else ""
    lines = [
        f"*{slack_escape(view.name)}*{paused}",
        f"{slack_escape(view.schedule)} ({slack_escape(view.timezone)}) in {_channel_text(view)}",
        f"Next: {_next_text(view)}",
        f"Reminders: {describe_leads(view.reminder_minutes)} · "
        f"{_points(view.checkin_points)} a check-in",
    ]
    if view.hosts:
        lines.append("Hosts: " + ", ".join(slack_escape(h) for h in view.hosts))
    return mrkdwn_section("\n".join(lines))


def list_blocks(views: list[RitualView], page: int, command: str) -> tuple[str, list[Block]]:
    """Render one page of the ritual list, with buttons to the neighbouring pages."""
    if not views:
        text = f"No rituals yet. A moderator creates one with `{command} ritual create`."
        return text, [mrkdwn_section(text)]
    pages = (len(views) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 1), pages)
    shown = views[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    text = f"Rituals ({len(views)}), soonest first" + (
        f", page {page} of {pages}" if pages > 1 else ""
    )
    blocks: list[Block] = [mrkdwn_section(f"*{text}*")]
    blocks += [_ritual_block(view) for view in shown]
    if pages > 1:
        buttons: list[Block] = []
        if page > 1:
            buttons.append(button("Previous page", f"{LIST_PAGE}_prev", str(page - 1)))
        if page < pages:
            buttons.append(button("Next page", LIST_PAGE, str(page + 1)))
        blocks.append({"type": "actions", "block_id": "ritual_list_pages", "elements": buttons})
    blocks.append(context_block(f"`{command} ritual preview <name>` shows the next five times."))
    return text, blocks


def checkin_text(result: CheckinResult) -> str:
    """Say what a check-in did."""
    name = slack_escape(result.ritual_name)
    if not result.counted:
        return f"You're already checked in to *{name}*."
    if result.points:
        return f"Checked in to *{name}*, +{_points(result.points)}."
    return f"Checked in to *{name}*."


def _leads_field(leads: tuple[int, ...]) -> str:
    return ", ".join(f"{m // 60}h" if m % 60 == 0 else f"{m}m" for m in leads) or "none"


def _parse_leads(text: str) -> tuple[int, ...]:
    if text.lower() in NO_REMINDERS:
        return ()
    try:
        return parse_minutes(text)
    except Invalid as error:
        raise FieldError(REMINDERS, error.message) from None


def _text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    placeholder: str | None = None,
    hint: str | None = None,
    optional: bool = False,
    multiline: bool = False,
    max_length: int | None = None,
) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": block_id, "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder[:150]}
    if max_length:
        element["max_length"] = max_length
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint[:2000]}
    return block


def _option(key: str) -> Block:
    return {"text": {"type": "plain_text", "text": TEMPLATE_LABELS[key]}, "value": key}


def ritual_modal(
    *, channel_id: str | None, timezone: str, current: RitualSpec | None = None
) -> Block:
    """Build the create modal, or the edit modal prefilled with ``current``."""
    editing = current is not None
    metadata = {"ritual": current.name if current else None, "channel": channel_id}
    blank = "leave blank to keep it" if editing else "leave blank to use the template's"
    kind = current.kind if current and current.kind in TEMPLATE_LABELS else CUSTOM
    template_hint = (
        "Which classic ritual this is, or Custom."
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
    blocks: list[Block] = [
        _text_input(
            NAME,
            "Name",
            initial=current.name if current else None,
            placeholder="Office Hours",
            hint=f"Up to 80 characters; {blank}.",
            optional=True,
            max_length=80,
        ),
        {
            "type": "input",
            "block_id": TEMPLATE,
            "label": {"type": "plain_text", "text": "Template"},
            "element": {
                "type": "static_select",
                "action_id": TEMPLATE,
                "options": [_option(key) for key in TEMPLATE_LABELS],
                "initial_option": _option(kind),
            },
            "hint": {"type": "plain_text", "text": template_hint},
        },
        _text_input(
            SCHEDULE,
            "Schedule",
            initial=current.schedule if current else None,
            placeholder="weekly fri 12:00",
            hint=f"In the time zone below. Write it like {FORMS.replace('`', '')}.",
            optional=True,
        ),
        _text_input(
            TIMEZONE,
            "Time zone",
            initial=current.timezone if current else timezone,
            placeholder="Europe/Berlin",
            hint="An IANA name, like Europe/Berlin or America/New_York.",
        ),
        {
            "type": "input",
            "block_id": CHANNEL,
            "label": {"type": "plain_text", "text": "Channel"},
            "element": channel_element,
            "hint": {"type": "plain_text", "text": "Invite the app to the channel first."},
        },
        _text_input(
            PROMPT,
            "Prompt",
            initial=current.prompt if current else None,
            hint=f"What members read in the post; {blank}.",
            optional=True,
            multiline=True,
            max_length=1500,
        ),
        _text_input(
            REMINDERS,
            "Reminders",
            initial=_leads_field(current.reminder_minutes) if current else None,
            placeholder="24h, 1h",
            hint=f"How long before each time to remind, like 24h, 1h; none for no reminders; "
            f"{blank}.",
            optional=True,
        ),
    ]
    return {
        "type": "modal",
        "callback_id": MODAL,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": "Edit ritual" if editing else "New ritual"},
        "submit": {"type": "plain_text", "text": "Save" if editing else "Create"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        if isinstance(actions, dict):
            entry = actions.get(block_id)
            if isinstance(entry, dict):
                found[str(block_id)] = entry
    return found


def _text(values: dict[str, dict[str, Any]], block_id: str) -> str:
    return str(values.get(block_id, {}).get("value") or "").strip()


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        metadata = json.loads(str(view.get("private_metadata") or "{}"))
    except json.JSONDecodeError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _check_schedule(text: str) -> None:
    try:
        parse_schedule(text)
    except Invalid as error:
        raise FieldError(SCHEDULE, error.message) from None


def _check_zone(text: str) -> None:
    try:
        zone(text)
    except Invalid as error:
        raise FieldError(TIMEZONE, error.message) from None


def _field_of(error: FlywheelError) -> str | None:
    for prefix, block_id in MESSAGE_FIELDS:
        if error.message.startswith(prefix):
            return block_id
    return None


def _template_key(text: str) -> str:
    return re.sub(r"[\s-]+", "_", _unescape(text).strip().lower())


async def _current_spec(session: AsyncSession, community_id: int, name: str) -> RitualSpec:
    return await ritual_spec(session, community_id, name, platform=PLATFORM)


def _split_last(rest: str, usage: str) -> tuple[str, str]:
    words = rest.rsplit(maxsplit=1)
    if len(words) != 2:
        raise Invalid(f"Use it like `{usage}`.")
    return _ritual_name(words[0]), words[1]


# -- the listeners -----------------------------------------------------------------------------


class _Rituals:
    """The rituals feature's listeners, bound to one front end."""

    def __init__(self, front: SlackFront) -> None:
        self.front = front
        self.runtime = front.runtime

    @property
    def command(self) -> str:
        return self.front.commands.command

    def _name(self, call: VerbCall, usage: str) -> str:
        name = _ritual_name(call.rest)
        if not name:
            raise Invalid(f"Say which ritual: `{self.command} ritual {usage}`.")
        return name

    def _summary(self, view: RitualView, verb: str) -> str:
        return (
            f"{verb} *{slack_escape(view.name)}*: {slack_escape(view.schedule)} "
            f"({slack_escape(view.timezone)}) in {_channel_text(view)}.\n"
            f"Next: {_next_text(view)}.\n"
            f"Reminders: {describe_leads(view.reminder_minutes)}."
        )

    # -- verbs -----------------------------------------------------------------------------------

    async def create(self, call: VerbCall) -> None:
        template = _template_key(call.rest)
        channel_id = call.body.get("channel_id") or None
        timezone = self.runtime.settings.community.timezone
        if not template or template == CUSTOM:
            await call.open_modal(ritual_modal(channel_id=channel_id, timezone=timezone))
            return
        if not channel_id or not CHANNEL_ID.fullmatch(str(channel_id)):
            raise Invalid("Run this in the channel the ritual should post in.")
        spec = spec_from_template(template, timezone=timezone, channel_id=str(channel_id))
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            view = await create_ritual(session, self.runtime.clock, actor, spec)
        await call.reply(
            self._summary(view, "Created")
            + f"\n`{self.command} ritual edit {slack_escape(view.name)}` changes it."
        )

    async def edit(self, call: VerbCall) -> None:
        name = self._name(call, "edit <name>")
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            current = await _current_spec(session, actor.community_id, name)
        await call.open_modal(
            ritual_modal(
                channel_id=call.body.get("channel_id") or None,
                timezone=self.runtime.settings.community.timezone,
                current=current,
            )
        )

    async def pause(self, call: VerbCall) -> None:
        await self._set_paused(call, paused=True)

    async def resume(self, call: VerbCall) -> None:
        await self._set_paused(call, paused=False)

    async def _set_paused(self, call: VerbCall, *, paused: bool) -> None:
        verb = "pause" if paused else "resume"
        name = self._name(call, f"{verb} <name>")
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            view = await set_paused(session, self.runtime.clock, actor, name, paused)
        escaped = slack_escape(view.name)
        if paused:
            await call.reply(
                f"Paused *{escaped}*: nothing posts until `{self.command} ritual resume {escaped}`."
            )
        else:
            await call.reply(f"Resumed *{escaped}*. Next: {_next_text(view)}.")

    async def delete(self, call: VerbCall) -> None:
        name = self._name(call, "delete <name>")
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            # Look it up now, so a typo is answered before anyone is asked to confirm.
            current = await _current_spec(session, actor.community_id, name)
        escaped = slack_escape(current.name)
        await call.reply(
            f"Delete {escaped}? Use the buttons below.",
            blocks=[
                mrkdwn_section(
                    f"*Delete {escaped}?* Its schedule, past occurrences and check-ins go with "
                    "it; points already earned stay. This cannot be undone."
                ),
                {
                    "type": "actions",
                    "block_id": "ritual_delete",
                    "elements": [
                        button("Delete it", CONFIRM_DELETE, current.name, style="danger"),
                        button("Keep it", CANCEL_DELETE),
                    ],
                },
            ],
        )

    async def run_now(self, call: VerbCall) -> None:
        name = self._name(call, "run-now <name>")
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            await run_now(session, self.runtime.clock, actor, name)
        await call.reply(f"Posting *{slack_escape(name)}* now; check-ins are open from the post.")

    async def list(self, call: VerbCall) -> None:
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            views = await list_rituals(session, self.runtime.clock, actor.community_id)
        text, blocks = list_blocks(views, 1, self.command)
        await call.reply(text, blocks=blocks)

    async def preview(self, call: VerbCall) -> None:
        name = self._name(call, "preview <name>")
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            times = await preview(
                session, self.runtime.clock, actor.community_id, name, PREVIEW_COUNT
            )
        if not times:
            await call.reply(f"*{slack_escape(name)}* has no upcoming times.")
            return
        lines = [f"• {fire_text(t.local, t.utc)}" for t in times]
        await call.reply(
            f"The next {len(times)} times of *{slack_escape(name)}*:\n" + "\n".join(lines)
        )

    async def remind(self, call: VerbCall) -> None:
        usage = f"{self.command} ritual remind <name> on|off"
        name, state = _split_last(call.rest, usage)
        if state.lower() not in ("on", "off") or not name:
            raise Invalid(f"Use it like `{usage}`.")
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            on = await set_reminder(session, actor, name, state.lower() == "on")
        escaped = slack_escape(name)
        if on:
            await call.reply(f"I'll DM you before each *{escaped}*.")
        else:
            await call.reply(f"No more reminder DMs for *{escaped}*.")

    async def checkin(self, call: VerbCall) -> None:
        name = _ritual_name(call.rest) or None
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            result = await checkin_current(
                session, self.runtime.clock, actor, name, commands=self.runtime.commands
            )
        await call.reply(checkin_text(result))

    async def host_add(self, call: VerbCall) -> None:
        usage = f"{self.command} ritual host add <name> @member"
        found = HOST_ARGS.fullmatch(call.rest.strip())
        name = _ritual_name(found.group("name")) if found else ""
        if found is None or not name:
            raise Invalid(
                "Say the ritual and mention the member from Slack's @ menu (or give their "
                f"member ID, like U0123ABCD): `{usage}`."
            )
        user_id = found.group("mention") or found.group("user_id")
        caller = await call.caller()
        host = await self.front.directory.lookup(
            call.client, team_id=caller.space_id, user_id=user_id
        )
        label = host.display_name or _unescape(found.group("label") or "").strip() or None
        host_caller = Caller(
            platform=PLATFORM,
            space_id=caller.space_id,
            user_id=user_id,
            display_name=label,
            role=Role.MEMBER,
        )
        clock = self.runtime.clock
        async with self.front.acting(caller) as (session, actor):
            member = await resolve_actor(
                session, clock, community_id=actor.community_id, caller=host_caller
            )
            added = await add_host(session, clock, actor, name, member.member_id)
        who_text = slack_escape(label or "That member")
        if added:
            await call.reply(f"*{who_text}* now hosts *{slack_escape(name)}*.")
        else:
            await call.reply(f"*{who_text}* already hosts *{slack_escape(name)}*.")

    # -- the modal ---------------------------------------------------------------------------------

    def _create_spec(
        self, values: dict[str, dict[str, Any]], timezone: str, channel: str
    ) -> RitualSpec:
        option = values.get(TEMPLATE, {}).get("selected_option")
        template = str(option.get("value")) if isinstance(option, dict) else CUSTOM
        if template not in TEMPLATE_LABELS:
            raise FieldError(TEMPLATE, "Pick one of the listed templates.")
        if template == CUSTOM:
            spec = RitualSpec(name="", schedule="", timezone=timezone, prompt="", kind=CUSTOM)
        else:
            spec = spec_from_template(template, timezone=timezone, channel_id=channel)
        schedule = _text(values, SCHEDULE) or spec.schedule
        _check_schedule(schedule)
        reminders = _text(values, REMINDERS)
        return replace(
            spec,
            name=_text(values, NAME) or spec.name,
            schedule=schedule,
            prompt=_text(values, PROMPT) or spec.prompt,
            channel_id=channel or None,
            reminder_minutes=_parse_leads(reminders) if reminders else spec.reminder_minutes,
        )

    def _edit_changes(
        self, values: dict[str, dict[str, Any]], timezone: str, channel: str
    ) -> RitualChanges:
        schedule = _text(values, SCHEDULE)
        if schedule:
            _check_schedule(schedule)
        reminders = _text(values, REMINDERS)
        # Blank means "keep it": edit_ritual leaves None fields as they are.
        return RitualChanges(
            name=_text(values, NAME) or None,
            schedule=schedule or None,
            timezone=timezone or None,
            prompt=_text(values, PROMPT) or None,
            channel_id=channel or None,
            reminder_minutes=_parse_leads(reminders) if reminders else None,
        )

    async def submit(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]
    ) -> None:
        # The answer to a submission is the ack itself (errors keep the modal open), so the
        # work happens before it, well inside Slack's 3 seconds.
        metadata = _metadata(view)
        origin = metadata.get("channel")
        editing = metadata.get("ritual")
        user_id = str(body.get("user", {}).get("id", ""))
        values = _values(view)
        clock = self.runtime.clock
        try:
            timezone = _text(values, TIMEZONE)
            if timezone or not editing:
                _check_zone(timezone)
            channel = str(values.get(CHANNEL, {}).get("selected_conversation") or "")
            caller = await self.front.caller_from_body(client, body)
            if editing:
                changes = self._edit_changes(values, timezone, channel)
                async with self.front.acting(caller) as (session, actor):
                    saved = await edit_ritual(session, clock, actor, str(editing), changes)
                verb = "Saved"
            else:
                spec = self._create_spec(values, timezone, channel)
                async with self.front.acting(caller) as (session, actor):
                    saved = await create_ritual(session, clock, actor, spec)
                verb = "Created"
        except FieldError as error:
            await ack(response_action="errors", errors={error.block_id: error.message})
            return
        except FlywheelError as error:
            block_id = _field_of(error)
            if block_id is not None:
                await ack(response_action="errors", errors={block_id: error.message})
                return
            await ack()
            await self._tell(client, user_id, origin, slack_escape(error.message))
            return
        except Exception as error:
            await ack()
            await report_failure(error, body, respond=None, client=client)
            return
        await ack()
        await self._tell(client, user_id, origin, self._summary(saved, verb))

    async def _tell(self, client: AsyncWebClient, user_id: str, channel_id: Any, text: str) -> None:
        """Answer a modal's author in the channel they opened it from, else in the app's DM."""
        try:
            if isinstance(channel_id, str) and channel_id:
                try:
                    await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
                    return
                except SlackApiError as exc:
                    # Not in that channel, or a DM: the app's Messages tab always works.
                    log.info(
                        "ephemeral answer in %s failed: %s", channel_id, exc.response.get("error")
                    )
            await client.chat_postMessage(channel=user_id, text=text)
        except SlackApiError:
            log.warning("could not answer %s about their ritual modal", user_id, exc_info=True)

    # -- buttons -----------------------------------------------------------------------------------

    async def checkin_button(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        await ack()
        async with reported(body, respond=respond, client=client):
            matched = CHECKIN_ACTION.fullmatch(str(action.get("action_id", "")))
            if matched is None:
                raise Invalid("That button is not a ritual check-in.")
            caller = await self.front.caller_from_body(client, body)
            async with self.front.acting(caller) as (session, actor):
                result = await checkin(
                    session,
                    self.runtime.clock,
                    occurrence_id=int(matched.group(1)),
                    member_id=actor.member_id,
                    method="button",
                )
            await tell_user(body, checkin_text(result), respond=respond, client=client)

    async def list_page(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        await ack()
        async with reported(body, respond=respond, client=client):
            value = str(action.get("value") or "1")
            page = int(value) if value.isdigit() else 1
            caller = await self.front.caller_from_body(client, body)
            async with self.front.acting(caller) as (session, actor):
                views = await list_rituals(session, self.runtime.clock, actor.community_id)
            text, blocks = list_blocks(views, page, self.command)
            if respond is not None:
                await respond(text=text, blocks=blocks, replace_original=True)

    async def confirm_delete(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        await ack()
        async with reported(body, respond=respond, client=client):
            # The service checks the clicker's role again: the button is not the permission.
            caller = await self.front.caller_from_body(client, body)
            async with self.front.acting(caller) as (session, actor):
                name = await delete_ritual(
                    session, self.runtime.clock, actor, str(action.get("value") or "")
                )
            text = f"Deleted *{slack_escape(name)}*."
            if respond is not None:
                await respond(text=text, replace_original=True)

    async def cancel_delete(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond | None
    ) -> None:
        await ack()
        async with reported(body, respond=respond, client=None):
            if respond is not None:
                await respond(text="Nothing was deleted.", replace_original=True)

    # -- events ------------------------------------------------------------------------------------

    async def _is_ritual_post(self, ts: Any) -> bool:
        if not ts:
            return False
        async with self.runtime.sessions() as session:
            found = await occurrence_for_post(session, platform=PLATFORM, message_id=str(ts))
        return found is not None

    async def is_ritual_reaction(self, event: dict[str, Any], context: AsyncBoltContext) -> bool:
        """Match reactions to a ritual post only, so other features still see the rest."""
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "message":
            return False
        if not event.get("user") or event.get("user") == context.bot_user_id:
            return False
        return await self._is_ritual_post(item.get("ts"))

    async def is_ritual_reply(self, event: dict[str, Any]) -> bool:
        """Match a person's reply in a ritual post's thread."""
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts") or not event.get("user"):
            return False
        if event.get("bot_id") or event.get("subtype") not in (None, "thread_broadcast"):
            return False
        return await self._is_ritual_post(thread_ts)

    async def reaction_added(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        # Nobody asked for an answer: a reaction checks in silently, and only the log says so.
        async with reported(body, respond=None, client=client):
            ts = str(event.get("item", {}).get("ts", ""))
            caller = await self.front.caller_from_body(client, body)
            try:
                async with self.front.acting(caller) as (session, actor):
                    occurrence_id = await occurrence_for_post(
                        session, platform=PLATFORM, message_id=ts
                    )
                    if occurrence_id is None:
                        return
                    result = await checkin(
                        session,
                        self.runtime.clock,
                        occurrence_id=occurrence_id,
                        member_id=actor.member_id,
                        method="reaction",
                    )
            except FlywheelError as error:
                log.info("reaction by %s on ritual post %s: %s", caller.user_id, ts, error.message)
                return
            log.info(
                "ritual check-in by reaction: occurrence %s, member %s, counted=%s",
                result.occurrence_id,
                actor.member_id,
                result.counted,
            )

    async def thread_reply(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        async with reported(body, respond=None, client=client):
            thread_ts = str(event.get("thread_ts", ""))
            caller = await self.front.caller_from_body(client, body)
            try:
                async with self.front.acting(caller) as (session, actor):
                    result = await checkin_by_reply(
                        session,
                        self.runtime.clock,
                        platform=PLATFORM,
                        parent_id=thread_ts,
                        member_id=actor.member_id,
                        text=str(event.get("text") or ""),
                    )
            except FlywheelError as error:
                log.info(
                    "reply by %s in ritual thread %s: %s", caller.user_id, thread_ts, error.message
                )
                return
            if result is None:
                log.info("reply in ritual thread %s was not a check-in (closed)", thread_ts)
                return
            log.info(
                "ritual check-in by reply: occurrence %s, member %s, counted=%s",
                result.occurrence_id,
                actor.member_id,
                result.counted,
            )


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the rituals feature's verbs, modal, buttons and event listeners."""
    feature = _Rituals(front)
    add = front.commands.add
    moderator = Role.MODERATOR
    add(
        "ritual create",
        feature.create,
        usage="[template]",
        summary="Create a ritual: a form, or in one step from a template "
        f"({', '.join(TEMPLATES)}) posting in this channel.",
        role=moderator,
    )
    add("ritual edit", feature.edit, usage="<name>", summary="Change a ritual.", role=moderator)
    add("ritual pause", feature.pause, usage="<name>", summary="Pause a ritual.", role=moderator)
    add(
        "ritual resume",
        feature.resume,
        usage="<name>",
        summary="Resume a paused ritual.",
        role=moderator,
    )
    add(
        "ritual delete",
        feature.delete,
        usage="<name>",
        summary="Delete a ritual (asks you first).",
        role=moderator,
    )
    add(
        "ritual run-now",
        feature.run_now,
        usage="<name>",
        summary="Post a ritual now, outside its schedule.",
        role=moderator,
    )
    add(
        "ritual host add",
        feature.host_add,
        usage="<name> @member",
        summary="Make a member a host of a ritual.",
        role=moderator,
    )
    add("ritual list", feature.list, summary="The rituals and when they next happen.")
    add(
        "ritual preview",
        feature.preview,
        usage="<name>",
        summary="The next five times of a ritual, local and UTC.",
    )
    add(
        "ritual remind",
        feature.remind,
        usage="<name> on|off",
        summary="Get a DM before each time of a ritual, or stop.",
    )
    add(
        "ritual checkin",
        feature.checkin,
        usage="[name]",
        summary="Check in to the ritual happening now.",
    )
    app.view(MODAL)(feature.submit)
    app.action(CHECKIN_ACTION)(feature.checkin_button)
    app.action(re.compile(rf"^{LIST_PAGE}(_prev)?$"))(feature.list_page)
    app.action(CONFIRM_DELETE)(feature.confirm_delete)
    app.action(CANCEL_DELETE)(feature.cancel_delete)
    app.event("reaction_added", matchers=[feature.is_ritual_reaction])(feature.reaction_added)
    app.event("message", matchers=[feature.is_ritual_reply])(feature.thread_reply)
