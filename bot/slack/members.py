"""The members feature on Slack: link, privacy export and delete, about, and the Home tab profile."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.callers import Actor
from bot.services.identities import get_profile
from bot.services.members import (
    about,
    expires_in_minutes,
    link_finish,
    link_start,
    privacy_delete,
    privacy_export,
)
from bot.slack.app import (
    Block,
    SlackFront,
    VerbCall,
    button,
    context_block,
    header_block,
    mrkdwn_section,
)
from bot.slack.errors import reported
from bot.text import slack_escape

CONFIRM_DELETE = "privacy_delete_confirm"
CANCEL_DELETE = "privacy_delete_cancel"
PLATFORM_NAMES = {"slack": "Slack", "discord": "Discord"}
# People paste the Discord form ("code:K7PX-2MQA") as often as the bare code.
_CODE_PREFIX = re.compile(r"^code:\s*", re.IGNORECASE)


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


class _Members:
    """The members feature's listeners, bound to one front end."""

    def __init__(self, front: SlackFront) -> None:
        self.front = front
        self.runtime = front.runtime

    async def link(self, call: VerbCall) -> None:
        code = _CODE_PREFIX.sub("", call.rest).strip()
        caller = await call.caller()
        clock = self.runtime.clock
        if not code:
            async with self.front.acting(caller) as (session, actor):
                issued = await link_start(session, clock, actor)
            minutes = expires_in_minutes(issued, clock.now())
            await call.reply(
                f"Your link code is *{issued.code}*. On Discord, enter `/link code:{issued.code}` "
                f"within {_plural(minutes, 'minute')} to combine your accounts and points."
            )
            return
        async with self.front.acting(caller) as (session, actor):
            result = await link_finish(session, clock, actor, code)
        await call.reply(
            "Your accounts are linked. Together you have "
            f"*{_plural(result.points_total, 'point')}* from "
            f"{_plural(result.activity_count, 'activity', 'activities')}."
        )

    async def export(self, call: VerbCall) -> None:
        caller = await call.caller()
        async with self.front.acting(caller) as (session, actor):
            queued = await privacy_export(session, self.runtime.clock, actor)
        if queued.already:
            await call.reply("I'm already sending you a DM with your data; it will arrive shortly.")
        else:
            await call.reply(
                "I'm sending you a DM with your data: one JSON file with everything "
                "this community's Flywheel holds about you."
            )

    async def delete(self, call: VerbCall) -> None:
        text = (
            "*Erase your personal data?* Your name, email, linked accounts and open link codes "
            "are deleted from this community's Flywheel. Your points stay only as an anonymous "
            "total. This cannot be undone."
        )
        await call.reply(
            "Erase your personal data? Use the buttons below.",
            blocks=[
                mrkdwn_section(text),
                {
                    "type": "actions",
                    "block_id": "privacy_delete",
                    "elements": [
                        button("Erase my data", CONFIRM_DELETE, style="danger"),
                        button("Keep my data", CANCEL_DELETE),
                    ],
                },
            ],
        )

    async def confirm_delete(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        await ack()
        async with reported(body, respond=respond, client=client):
            # The clicker is who gets erased: Slack signs the payload; only they see the button.
            caller = await self.front.caller_from_body(client, body)
            async with self.front.acting(caller) as (session, actor):
                report = await privacy_delete(session, self.runtime.clock, actor)
            self.front.directory.forget(caller.user_id)
            text = (
                "Done: your personal data has been erased. "
                f"Your points ({report.points_kept}) are kept only as an anonymous total."
            )
            await _replace(respond, client, caller.user_id, text)

    async def cancel_delete(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        await ack()
        async with reported(body, respond=respond, client=client):
            user = body.get("user")
            user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
            await _replace(respond, client, user_id, "Nothing was erased.")

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


async def _replace(
    respond: AsyncRespond | None, client: AsyncWebClient, user_id: str, text: str
) -> None:
    if respond is not None:
        await respond(text=text, replace_original=True)
    elif user_id:
        await client.chat_postMessage(channel=user_id, text=text)


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
    app.action(CONFIRM_DELETE)(members.confirm_delete)
    app.action(CANCEL_DELETE)(members.cancel_delete)
    front.home_sections.append(members.home_section)
