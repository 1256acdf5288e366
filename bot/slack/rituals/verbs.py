"""The `/flywheel ritual …` verbs: each parses its words, runs one service, and answers."""

from __future__ import annotations

import re

from bot.errors import Invalid
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.rituals import (
    TEMPLATES,
    add_host,
    checkin_current,
    create_ritual,
    list_rituals,
    preview,
    ritual_spec,
    run_now,
    set_paused,
    set_reminder,
    spec_from_template,
)
from bot.slack.confirm import ConfirmPrompt
from bot.slack.front import PLATFORM, CommandRouter, VerbCall, VerbHandler
from bot.slack.rituals.modal import CUSTOM, ritual_modal, template_key
from bot.slack.rituals.render import (
    CHANNEL_ID,
    checkin_text,
    fire_text,
    list_blocks,
    next_text,
    summary,
)
from bot.text import slack_escape

PREVIEW_COUNT = 5
# "<name> <@U123|label>", "<name> <@U123>" (how Slack sends a mention when the command
# escapes them) or "<name> U123".
HOST_ARGS = re.compile(
    r"(?P<name>.+?)\s+(?:<@(?P<mention>[UW][A-Z0-9]+)(?:\|(?P<label>[^>]*))?>"
    r"|(?P<user_id>[UW][A-Z0-9]{2,}))",
    re.DOTALL,
)
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def unescape(text: str) -> str:
    """Undo Slack's entities in typed text; a ritual called "Q&A" must match."""
    return re.sub(r"&(lt|gt|amp);", lambda m: _ENTITIES[m.group(0)], text)


def ritual_name(text: str) -> str:
    """Return the ritual name a member typed, without quotes around it."""
    return unescape(text).strip().strip("\"'“”‘’").strip()


def _name(call: VerbCall, usage: str) -> str:
    name = ritual_name(call.rest)
    if not name:
        raise Invalid(f"Say which ritual: `{call.front.commands.command} ritual {usage}`.")
    return name


async def create(call: VerbCall) -> None:
    """Open the modal, or create from a template in this channel in one step."""
    template = template_key(unescape(call.rest))
    channel_id = call.body.get("channel_id") or None
    timezone = call.runtime.settings.community.timezone
    if not template or template == CUSTOM:
        await call.open_modal(ritual_modal(channel_id=channel_id, timezone=timezone))
        return
    if not channel_id or not CHANNEL_ID.fullmatch(str(channel_id)):
        raise Invalid("Run this in the channel the ritual should post in.")
    spec = spec_from_template(template, timezone=timezone, channel_id=str(channel_id))
    async with call.acting() as (session, actor):
        view = await create_ritual(session, call.runtime.clock, actor, spec)
    command = call.front.commands.command
    await call.reply(
        summary(view, "Created")
        + f"\n`{command} ritual edit {slack_escape(view.name)}` changes it."
    )


async def edit(call: VerbCall) -> None:
    """Open the modal prefilled with the ritual's current settings."""
    name = _name(call, "edit <name>")
    async with call.acting() as (session, actor):
        current = await ritual_spec(session, actor.community_id, name, platform=PLATFORM)
    await call.open_modal(
        ritual_modal(
            channel_id=call.body.get("channel_id") or None,
            timezone=call.runtime.settings.community.timezone,
            current=current,
        )
    )


async def pause(call: VerbCall) -> None:
    """Stop a ritual from posting until it is resumed."""
    name = _name(call, "pause <name>")
    async with call.acting() as (session, actor):
        view = await set_paused(session, call.runtime.clock, actor, name, True)
    escaped = slack_escape(view.name)
    command = call.front.commands.command
    await call.reply(
        f"Paused *{escaped}*: nothing posts until `{command} ritual resume {escaped}`."
    )


async def resume(call: VerbCall) -> None:
    """Let a paused ritual post again."""
    name = _name(call, "resume <name>")
    async with call.acting() as (session, actor):
        view = await set_paused(session, call.runtime.clock, actor, name, False)
    await call.reply(f"Resumed *{slack_escape(view.name)}*. Next: {next_text(view)}.")


def delete(prompt: ConfirmPrompt) -> VerbHandler:
    """Return the verb that asks, with ``prompt``, before deleting a ritual."""

    async def ask(call: VerbCall) -> None:
        name = _name(call, "delete <name>")
        async with call.acting() as (session, actor):
            # Look it up now, so a typo is answered before anyone is asked to confirm.
            current = await ritual_spec(session, actor.community_id, name, platform=PLATFORM)
        escaped = slack_escape(current.name)
        await prompt.ask(
            call,
            text=f"Delete {escaped}? Use the buttons below.",
            question=f"*Delete {escaped}?* Its schedule, past occurrences and check-ins go "
            "with it; points already earned stay. This cannot be undone.",
            subject=current.name,
        )

    return ask


async def post_now(call: VerbCall) -> None:
    """Post a ritual now, outside its schedule."""
    name = _name(call, "run-now <name>")
    async with call.acting() as (session, actor):
        await run_now(session, call.runtime.clock, actor, name)
    await call.reply(f"Posting *{slack_escape(name)}* now; check-ins are open from the post.")


async def listing(call: VerbCall) -> None:
    """Show the first page of the rituals, soonest first."""
    async with call.acting() as (session, actor):
        views = await list_rituals(session, call.runtime.clock, actor.community_id)
    text, blocks = list_blocks(views, 1, call.front.commands.command)
    await call.reply(text, blocks=blocks)


async def next_times(call: VerbCall) -> None:
    """Show a ritual's next five times, local and UTC."""
    name = _name(call, "preview <name>")
    async with call.acting() as (session, actor):
        times = await preview(session, call.runtime.clock, actor.community_id, name, PREVIEW_COUNT)
    if not times:
        await call.reply(f"*{slack_escape(name)}* has no upcoming times.")
        return
    lines = [f"• {fire_text(t.local, t.utc)}" for t in times]
    await call.reply(f"The next {len(times)} times of *{slack_escape(name)}*:\n" + "\n".join(lines))


async def remind(call: VerbCall) -> None:
    """Turn reminder DMs for a ritual on or off."""
    usage = f"{call.front.commands.command} ritual remind <name> on|off"
    words = call.rest.rsplit(maxsplit=1)
    name, state = (ritual_name(words[0]), words[1].lower()) if len(words) == 2 else ("", "")
    if state not in ("on", "off") or not name:
        raise Invalid(f"Use it like `{usage}`.")
    async with call.acting() as (session, actor):
        on = await set_reminder(session, actor, name, state == "on")
    escaped = slack_escape(name)
    if on:
        await call.reply(f"I'll DM you before each *{escaped}*.")
    else:
        await call.reply(f"No more reminder DMs for *{escaped}*.")


async def checkin(call: VerbCall) -> None:
    """Check in to the ritual open now (or the one named)."""
    name = ritual_name(call.rest) or None
    async with call.acting() as (session, actor):
        result = await checkin_current(
            session, call.runtime.clock, actor, name, commands=call.runtime.commands
        )
    await call.reply(checkin_text(result))


async def host_add(call: VerbCall) -> None:
    """Make a mentioned member a host of a ritual."""
    usage = f"{call.front.commands.command} ritual host add <name> @member"
    found = HOST_ARGS.fullmatch(call.rest.strip())
    name = ritual_name(found.group("name")) if found else ""
    if found is None or not name:
        raise Invalid(
            "Say the ritual and mention the member from Slack's @ menu (or give their "
            f"member ID, like U0123ABCD): `{usage}`."
        )
    user_id = found.group("mention") or found.group("user_id")
    caller = await call.caller()
    host = await call.front.directory.lookup(call.client, team_id=caller.space_id, user_id=user_id)
    label = host.display_name or unescape(found.group("label") or "").strip() or None
    host_caller = Caller(
        platform=PLATFORM,
        space_id=caller.space_id,
        user_id=user_id,
        display_name=label,
        role=Role.MEMBER,
    )
    clock = call.runtime.clock
    async with call.acting() as (session, actor):
        member = await resolve_actor(
            session, clock, community_id=actor.community_id, caller=host_caller
        )
        added = await add_host(session, clock, actor, name, member.member_id)
    who = slack_escape(label or "That member")
    already = "now" if added else "already"
    await call.reply(f"*{who}* {already} hosts *{slack_escape(name)}*.")


def add_verbs(commands: CommandRouter, *, delete_prompt: ConfirmPrompt) -> None:
    """Register the `ritual …` verbs, in the order help lists them."""
    moderator = Role.MODERATOR
    add = commands.add
    add(
        "ritual create",
        create,
        usage="[template]",
        summary="Create a ritual: a form, or in one step from a template "
        f"({', '.join(TEMPLATES)}) posting in this channel.",
        role=moderator,
    )
    add("ritual edit", edit, usage="<name>", summary="Change a ritual.", role=moderator)
    add("ritual pause", pause, usage="<name>", summary="Pause a ritual.", role=moderator)
    add("ritual resume", resume, usage="<name>", summary="Resume a paused ritual.", role=moderator)
    add(
        "ritual delete",
        delete(delete_prompt),
        usage="<name>",
        summary="Delete a ritual (asks you first).",
        role=moderator,
    )
    add(
        "ritual run-now",
        post_now,
        usage="<name>",
        summary="Post a ritual now, outside its schedule.",
        role=moderator,
    )
    add(
        "ritual host add",
        host_add,
        usage="<name> @member",
        summary="Make a member a host of a ritual.",
        role=moderator,
    )
    add("ritual list", listing, summary="The rituals and when they next happen.")
    add(
        "ritual preview",
        next_times,
        usage="<name>",
        summary="The next five times of a ritual, local and UTC.",
    )
    add(
        "ritual remind",
        remind,
        usage="<name> on|off",
        summary="Get a DM before each time of a ritual, or stop.",
    )
    add("ritual checkin", checkin, usage="[name]", summary="Check in to the ritual happening now.")
