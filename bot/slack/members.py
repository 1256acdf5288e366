"""The members feature on Slack: link, privacy export and delete, about, and the Home tab profile."""

from __future__ import annotations

import logging
import re

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.callers import Actor
from bot.services.identities import get_profile, joined_as, member_joined
from bot.services.members import (
    about,
    expires_in_minutes,
    link_finish,
    link_start,
    privacy_delete,
    privacy_export,
)
from bot.slack.blocks import Block, context_block, header_block, mrkdwn_section
from bot.slack.confirm import ConfirmPrompt
from bot.slack.directory import as_dict
from bot.slack.front import PLATFORM, ActionCall, EventCall, SlackFront, VerbCall
from bot.text import slack_escape

log = logging.getLogger(__name__)
ERASE_PROMPT = "privacy_delete"
CONFIRM_DELETE = f"{ERASE_PROMPT}_confirm"
CANCEL_DELETE = f"{ERASE_PROMPT}_cancel"
PLATFORM_NAMES = {"slack": "Slack", "discord": "Discord"}
# People paste the Discord form ("code:K7PX-2MQA") as often as the bare code.
_CODE_PREFIX = re.compile(r"^code:\s*", re.IGNORECASE)


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


async def _erase(call: ActionCall, _subject: str) -> str:
    # The clicker is who gets erased: Slack signs the payload, and the prompt answers only
    # the member who asked.
    async with call.acting() as (session, actor):
        report = await privacy_delete(session, call.runtime.clock, actor)
    call.front.directory.forget(call.user_id)
    return (
        "Done: your personal data has been erased. "
        f"Your points ({report.points_kept}) are kept only as an anonymous total."
    )


class _Members:
    """The members feature's listeners, bound to one front end."""

    def __init__(self, front: SlackFront) -> None:
        self.front = front
        self.runtime = front.runtime
        self.erase_prompt = ConfirmPrompt(
            ERASE_PROMPT,
            on_confirm=_erase,
            confirm_label="Erase my data",
            cancel_label="Keep my data",
            cancelled_text="Nothing was erased.",
            expired_text="This request expired; nothing was erased.",
        )

    async def link(self, call: VerbCall) -> None:
        code = _CODE_PREFIX.sub("", call.rest).strip()
        clock = self.runtime.clock
        if not code:
            async with call.acting() as (session, actor):
                issued = await link_start(session, clock, actor)
            minutes = expires_in_minutes(issued, clock.now())
            await call.reply(
                f"Your link code is *{issued.code}*. On Discord, enter `/link code:{issued.code}` "
                f"within {_plural(minutes, 'minute')} to combine your accounts and points."
            )
            return
        async with call.acting() as (session, actor):
            result = await link_finish(session, clock, actor, code)
        await call.reply(
            "Your accounts are linked. Together you have "
            f"*{_plural(result.points_total, 'point')}* from "
            f"{_plural(result.activity_count, 'activity', 'activities')}."
        )

    async def export(self, call: VerbCall) -> None:
        async with call.acting() as (session, actor):
            queued = await privacy_export(session, self.runtime.clock, actor)
        if queued.already:
            await call.reply("I'm already sending you a DM with your data; it will arrive shortly.")
        else:
            await call.reply(
                "I'm sending you a DM with your data: one JSON file with everything "
                "this community's Flywheel holds about you."
            )

    async def delete(self, call: VerbCall) -> None:
        await self.erase_prompt.ask(
            call,
            text="Erase your personal data? Use the buttons below.",
            question="*Erase your personal data?* Your name, email, linked accounts and open "
            "link codes are deleted from this community's Flywheel. Your points stay only as "
            "an anonymous total. This cannot be undone.",
        )

    async def about(self, call: VerbCall) -> None:
        settings = self.runtime.settings
        info = about(settings.community.name, settings.web.public_url)
        await call.reply(
            f"*Flywheel {slack_escape(info.version)}* for "
            f"{slack_escape(info.community_name)}\n{slack_escape(info.summary)}\n"
            f"What this community has built together: <{slack_escape(info.proof_url)}>"
        )

    async def home_section(self, session: AsyncSession, actor: Actor) -> list[Block]:
        profile = await get_profile(session, actor.member_id)
        name = slack_escape(profile.display_name or "there")
        linked = ", ".join(PLATFORM_NAMES.get(p, p) for p in profile.platforms) or "none yet"
        joined = profile.joined_at
        blocks: list[Block] = [
            header_block(self.runtime.settings.community.name),
            mrkdwn_section(f"Hi {name}! Here is where you stand in this community."),
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Points*\n{profile.points_total}"},
                    {"type": "mrkdwn", "text": f"*Activities*\n{profile.activity_count}"},
                    {"type": "mrkdwn", "text": f"*Linked platforms*\n{linked}"},
                    {
                        "type": "mrkdwn",
                        # Slack renders the date in the reader's own time zone.
                        "text": f"*Member since*\n<!date^{int(joined.timestamp())}"
                        f"^{{date_long}}|{joined.date().isoformat()}>",
                    },
                ],
            },
        ]
        command = self.front.commands.command
        if "discord" not in profile.platforms:
            blocks.append(
                context_block(
                    f"On Discord too? `{command} link` gives you a code that combines your points."
                )
            )
        blocks.append(context_block(f"`{command} help` lists everything you can do here."))
        return blocks


async def _is_person_joining(call: EventCall) -> bool:
    user = as_dict(call.event.get("user"))
    return bool(user.get("id")) and not user.get("is_bot") and not user.get("deleted")


async def team_join(call: EventCall) -> None:
    """Tell the core a known member joined the workspace, so features give back their access."""
    user = as_dict(call.event.get("user"))
    team = str(call.body.get("team_id") or user.get("team_id") or "")
    async with call.runtime.sessions() as session, session.begin():
        known = await member_joined(
            session, call.runtime.clock, platform=PLATFORM, space=team, user_id=str(user["id"])
        )
    log.info("user %s joined workspace %s: %s", user["id"], team, joined_as(known))


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the members feature's verbs, buttons and Home tab section."""
    members = _Members(front)
    commands = front.commands
    commands.add(
        "link",
        members.link,
        usage="[code]",
        summary="Link your Slack and Discord accounts: without a code, get one to enter on "
        "Discord; with a code from Discord, finish linking.",
    )
    commands.add(
        "privacy export",
        members.export,
        summary="Get a DM with everything Flywheel holds about you.",
    )
    commands.add(
        "privacy delete",
        members.delete,
        summary="Erase your personal data (asks you first).",
    )
    commands.add("about", members.about, summary="What this bot is and does.")
    members.erase_prompt.register(app, front)
    front.home_sections.append(members.home_section)
    front.events.on("team_join", team_join, when=_is_person_joining)
