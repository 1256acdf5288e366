"""UGC on Discord: /share (submit, withdraw, mine), /ugc (prompts, the queue) and the buttons
on the posts the outbox sends (Approve, Reject, Feature under a queue post; Share yours under a
prompt). Everything typed is checked by :mod:`bot.services.ugc`; this module parses, calls it
inside ``acting`` and renders the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import (
    ConfirmView,
    FlywheelBot,
    acknowledge,
    report_failure,
    send_ephemeral,
    send_modal,
)
from bot.discord.forms import ReopeningModal, reprompt
from bot.discord.render import fit_choices, pages
from bot.errors import FlywheelError, Invalid
from bot.inputs import shorten
from bot.media import called, describe_size, fetch, too_large
from bot.models import Consent, SubmissionStatus
from bot.services import ugc
from bot.services.callers import Role, require
from bot.text import discord_escape

Interaction = discord.Interaction[FlywheelBot]
SUBMIT_FORM = "ugc-submit"
REJECT_FORM = "ugc-reject-form"
PROMPT_FORM = "ugc-prompt-form"
QUEUE_PAGE = 8  # queue items a page: ten long titles and names could pass 2,000 characters
LIST_PAGE = 10
MINE_LIMIT = 500  # the most of a member's own submissions /share mine lists
CONFIRM_SECONDS = 120.0
FILES_NOT_KEPT = "Files cannot be kept in a reopened form: attach them again."
UID = r"[0-9A-Za-z]{1,24}"
STATUS_WORDS = {
    SubmissionStatus.PENDING: "waiting for review",
    SubmissionStatus.APPROVED: "approved",
    SubmissionStatus.REJECTED: "not approved",
    SubmissionStatus.WITHDRAWN: "withdrawn",
}


def _echo(text: str, limit: int = 60) -> str:
    """Return member text to quote back: cut, then escaped (it renders as typed, pings nobody)."""
    return discord_escape(shorten(text, limit))


def _age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def _paged(lines: list[str], page: int, more: str, per_page: int = LIST_PAGE) -> str:
    """Return one page of lines, fitted to a message, with a "Page 2 of 3" line when paged."""
    found = [
        part
        for start in range(0, len(lines), per_page)
        for part in pages(lines[start : start + per_page])
    ]
    shown = min(max(page, 1), len(found))
    text = found[shown - 1]
    if len(found) > 1:
        following = f"`{more} page:{shown + 1}` for more" if shown < len(found) else "the last page"
        text += f"\nPage {shown} of {len(found)}: {following}."
    return text


@dataclass(frozen=True)
class PromptChoice:
    """The prompt a submission answers, as the form needs it."""

    uid: str
    title: str
    template: str


async def _open_prompt(bot: FlywheelBot, session: Any, reference: str) -> PromptChoice:
    found = await ugc.find_prompt(session, bot.runtime.community_id, reference, open_only=True)
    return PromptChoice(found.uid, found.title, found.template)


def _refuse_oversized(bot: FlywheelBot, attachments: list[discord.Attachment]) -> None:
    """Refuse, before fetching anything, a file Discord reports as over the limit."""
    limit = bot.runtime.settings.media.max_bytes
    for attachment in attachments:
        if attachment.size > limit:
            raise too_large(called(attachment.filename), attachment.size, limit)


async def _copy(bot: FlywheelBot, attachment: discord.Attachment) -> ugc.IncomingFile:
    """Copy an attachment off Discord's CDN (its signed URL expires); the bytes are checked later."""
    media = bot.runtime.settings.media
    fetched = await fetch(
        attachment.url,
        max_bytes=media.max_bytes,
        timeout=media.fetch_timeout_seconds,
        filename=attachment.filename,
    )
    return ugc.IncomingFile(
        filename=attachment.filename,
        data=fetched.data,
        reported_url=attachment.url,
        reported_type=attachment.content_type,
        reported_size=attachment.size,
    )


class SubmissionModal(ReopeningModal):
    """The /share form: title, story, links, files and the consent choice (five components)."""

    def __init__(
        self,
        bot: FlywheelBot,
        *,
        prompt: PromptChoice | None,
        fallback: discord.Attachment | None = None,
        typed: dict[str, str] | None = None,
    ) -> None:
        heading = f"Share: {prompt.title}" if prompt else "Share your work"
        super().__init__(title=heading, custom_id=SUBMIT_FORM)
        self.bot = bot
        self.prompt = prompt
        self.fallback = fallback
        self.had_files = False
        shown = typed or {}
        rules = ugc.UgcRules.of(bot.runtime.settings)
        self.headline = discord.ui.TextInput[SubmissionModal](
            custom_id="title", max_length=ugc.TITLE_LENGTH, default=shown.get("title") or None
        )
        story = shown.get("story", prompt.template if prompt else "")
        self.story = discord.ui.TextInput[SubmissionModal](
            custom_id="story",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=ugc.STORY_LENGTH,
            default=story or None,
        )
        self.links = discord.ui.TextInput[SubmissionModal](
            custom_id="link",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=ugc.LINKS_LENGTH,
            placeholder="https://…",
            default=shown.get("link") or None,
        )
        self.add_item(discord.ui.Label(text="Title", component=self.headline))
        self.add_item(discord.ui.Label(text="Your story", component=self.story))
        self.add_item(
            discord.ui.Label(
                text="Links (optional)",
                description=f"Up to {ugc.MAX_LINKS} http(s) links, one a line",
                component=self.links,
            )
        )
        self.upload: discord.ui.FileUpload[SubmissionModal] | None = None
        if fallback is None and rules.max_attachments > 0:
            self.upload = discord.ui.FileUpload(
                custom_id="files", required=False, min_values=0, max_values=rules.max_attachments
            )
            self.add_item(
                discord.ui.Label(
                    text="Files (optional)",
                    description=f"Images, videos or PDFs, each up to {describe_size(rules.max_bytes)}",
                    component=self.upload,
                )
            )
        chosen = shown.get("consent", "")
        self.consent = discord.ui.RadioGroup[SubmissionModal](
            custom_id="consent",
            options=[
                discord.RadioGroupOption(
                    label=words[:1].upper() + words[1:],
                    value=choice.value,
                    default=choice == chosen,
                )
                for choice, words in ugc.CONSENT_WORDS.items()
            ],
        )
        self.add_item(discord.ui.Label(text="Where may it be shown?", component=self.consent))

    def reopened(self) -> SubmissionModal:
        """Return the form as the member typed it (files cannot be put back into it)."""
        typed = {
            "title": self.headline.value,
            "story": self.story.value,
            "link": self.links.value,
            "consent": self.consent.value or "",
        }
        return SubmissionModal(self.bot, prompt=self.prompt, typed=typed)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Copy the files, then submit everything to the review queue."""
        attachments = list(self.upload.values) if self.upload else []
        if self.fallback is not None:
            attachments.append(self.fallback)
        self.had_files = bool(attachments)
        _refuse_oversized(self.bot, attachments)
        # Acknowledged before the downloads (Discord waits 3 s), which run outside the
        # transaction so no file holds the database.
        await acknowledge(interaction)
        files = tuple([await _copy(self.bot, attachment) for attachment in attachments])
        runtime = self.bot.runtime
        draft = ugc.Draft(
            title=self.headline.value,
            story=self.story.value,
            links=self.links.value,
            consent=self.consent.value or "",
            prompt=self.prompt.uid if self.prompt else "",
        )
        async with self.bot.acting(interaction) as (session, actor):
            view = await ugc.submit(
                session,
                runtime.clock,
                actor,
                draft,
                files,
                store=runtime.media,
                rules=ugc.UgcRules.of(runtime.settings),
                author=interaction.user.display_name,
            )
        await send_ephemeral(
            interaction,
            f"Thanks! “{_echo(view.title)}” is in the review queue; you will get a DM when a "
            "moderator decides.",
        )

    async def on_error(self, interaction: Interaction, error: Exception, /) -> None:  # type: ignore[override]
        """Re-prompt on a refusal, saying that files must be attached again."""
        if isinstance(error, Invalid):
            note = FILES_NOT_KEPT if self.had_files else ""
            await reprompt(interaction, error, self.reopened, note=note)
        else:
            await report_failure(interaction, error)


def _decided(result: ugc.DecisionResult) -> str:
    """Tell the moderator what their click did, or who decided first."""
    if not result.decided_now:
        if result.outcome == SubmissionStatus.WITHDRAWN:
            return "The member withdrew this submission; there is nothing to decide."
        by = discord_escape(result.decided_by or "a moderator")
        at = f" at <t:{int(result.decided_at.timestamp())}:t>" if result.decided_at else ""
        return f"Already {result.outcome} by {by}{at}; nothing changed."
    author = _echo(result.author or "The member", 80)
    if result.outcome == "rejected":
        return f"Rejected: {author} gets a DM with the reason."
    gains = f"{result.points} points and a DM" if result.points else "a DM"
    if result.outcome == "featured":
        return f"Featured: {author} gets {gains}; the showcase marks it as featured."
    return f"Approved: {author} gets {gains}."


async def _decide(
    interaction: Interaction, uid: str, decision: ugc.Decision, reason: str = ""
) -> None:
    bot = interaction.client
    runtime = bot.runtime
    async with bot.acting(interaction) as (session, actor):
        result = await ugc.decide(
            session,
            runtime.clock,
            actor,
            uid,
            decision,
            reason=reason,
            rules=ugc.UgcRules.of(runtime.settings),
            store=runtime.media,
            commands=runtime.commands,
        )
    await send_ephemeral(interaction, _decided(result))


class RejectModal(ReopeningModal):
    """Why a submission is rejected: a listed reason, or the moderator's own words."""

    def __init__(self, uid: str, *, typed: dict[str, str] | None = None) -> None:
        super().__init__(title="Reject this submission", custom_id=REJECT_FORM)
        self.uid = uid
        shown = typed or {}
        self.listed = discord.ui.RadioGroup[RejectModal](
            custom_id="reason",
            required=False,
            options=[
                discord.RadioGroupOption(
                    label=words[:1].upper() + words[1:],
                    value=key,
                    default=key == shown.get("reason"),
                )
                for key, words in ugc.REJECT_REASONS.items()
            ],
        )
        self.own = discord.ui.TextInput[RejectModal](
            custom_id="own",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=ugc.REASON_LENGTH,
            default=shown.get("own") or None,
        )
        self.add_item(discord.ui.Label(text="Reason (the member is told)", component=self.listed))
        self.add_item(
            discord.ui.Label(
                text="Or in your own words",
                description="Used instead when given",
                component=self.own,
            )
        )

    def reopened(self) -> RejectModal:
        """Return the form as the moderator left it."""
        return RejectModal(
            self.uid, typed={"reason": self.listed.value or "", "own": self.own.value}
        )

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Reject with the moderator's words if given, else the listed reason."""
        reason = self.own.value if self.own.value.strip() else (self.listed.value or "")
        await _decide(interaction, self.uid, ugc.Decision.REJECT, reason)


class DecisionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"ugc-(?:approve|reject|feature):{UID}",
):
    """Approve, Reject and Feature under a queue post; they work across restarts."""

    def __init__(self, custom_id: str) -> None:
        super().__init__(discord.ui.Button(label="Decide", custom_id=custom_id))

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> DecisionButton:
        """Rebuild the button from its custom id."""
        return cls(match.group(0))

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Decide at once, or ask why first (Reject)."""
        parsed = ugc.decision_of_button(self.custom_id)
        if parsed is None:
            return
        decision, uid = ugc.Decision(parsed[0]), parsed[1]
        try:
            if decision == ugc.Decision.REJECT:
                async with interaction.client.looking_up(interaction) as (_, caller):
                    require(caller, Role.MODERATOR)
                await send_modal(interaction, RejectModal(uid))
            else:
                await _decide(interaction, uid, decision)
        except Exception as exc:  # every failure is answered by the one handler
            await report_failure(interaction, exc)


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"ugc-share:(?P<prompt>{UID})"
):
    """Share yours, under a prompt's post: opens the form for that prompt."""

    def __init__(self, prompt_uid: str) -> None:
        super().__init__(
            discord.ui.Button(label="Share yours", custom_id=f"ugc-share:{prompt_uid}")
        )
        self.prompt_uid = prompt_uid

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> ShareButton:
        """Rebuild the button from its custom id."""
        return cls(match["prompt"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Open the submission form, its story started from the prompt's template."""
        bot = interaction.client
        try:
            async with bot.looking_up(interaction) as (session, _):
                prompt = await _open_prompt(bot, session, self.prompt_uid)
            await send_modal(interaction, SubmissionModal(bot, prompt=prompt))
        except Exception as exc:  # every failure is answered by the one handler
            await report_failure(interaction, exc)


class PromptModal(ReopeningModal):
    """A new prompt: title, brief, template, deadline and a linked ritual."""

    def __init__(
        self, bot: FlywheelBot, *, announce: bool, typed: dict[str, str] | None = None
    ) -> None:
        super().__init__(title="New UGC prompt", custom_id=PROMPT_FORM)
        self.bot = bot
        self.announce = announce
        shown = typed or {}

        def field(key: str, label: str, **options: Any) -> discord.ui.TextInput[PromptModal]:
            text = discord.ui.TextInput[PromptModal](
                custom_id=key, label=label, default=shown.get(key) or None, **options
            )
            self.add_item(text)
            return text

        paragraph = discord.TextStyle.paragraph
        self.headline = field("title", "Title", max_length=ugc.TITLE_LENGTH)
        self.brief = field(
            "brief", "What to share", style=paragraph, required=False, max_length=ugc.BRIEF_LENGTH
        )
        self.template = field(
            "template",
            "Template members start from (optional)",
            style=paragraph,
            required=False,
            max_length=ugc.TEMPLATE_LENGTH,
        )
        self.deadline = field(
            "deadline", "Deadline (YYYY-MM-DD[ HH:MM], optional)", required=False, max_length=16
        )
        self.ritual = field("ritual", "Open it in a ritual's thread (optional)", required=False)

    def reopened(self) -> PromptModal:
        """Return the form as the moderator typed it."""
        typed = {
            "title": self.headline.value,
            "brief": self.brief.value,
            "template": self.template.value,
            "deadline": self.deadline.value,
            "ritual": self.ritual.value,
        }
        return PromptModal(self.bot, announce=self.announce, typed=typed)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Create the prompt, and announce it if asked."""
        runtime = self.bot.runtime
        spec = ugc.PromptSpec(
            title=self.headline.value,
            brief=self.brief.value,
            template=self.template.value,
            deadline=self.deadline.value,
            ritual=self.ritual.value,
            announce=self.announce,
        )
        async with self.bot.acting(interaction) as (session, actor):
            view = await ugc.create_prompt(
                session,
                runtime.clock,
                actor,
                spec,
                timezone=runtime.settings.community.timezone,
            )
        until = f", open until {view.deadline_text}" if view.deadline_text else ""
        told = " and announced it" if self.announce else ""
        await send_ephemeral(
            interaction, f"Created the prompt **{_echo(view.title)}**{until}{told}."
        )


async def prompt_choices(interaction: Interaction, typed: str) -> list[app_commands.Choice[str]]:
    """Offer the open prompts whose titles contain what is typed."""
    runtime = interaction.client.runtime
    async with runtime.sessions() as session:
        titles = await ugc.prompt_titles(session, runtime.community_id, typed)
    return [
        app_commands.Choice(name=name, value=value)
        for name, value in fit_choices((title, title) for title in titles)
    ]


async def my_submission_choices(
    interaction: Interaction, typed: str
) -> list[app_commands.Choice[str]]:
    """Offer the member's own submissions (newest first) whose titles contain what is typed."""
    try:
        async with interaction.client.acting(interaction) as (session, actor):
            mine = await ugc.my_submissions(session, actor, typed=typed)
    except FlywheelError:
        return []  # someone outside the community, or erased: nothing of theirs to offer
    return [
        app_commands.Choice(name=name, value=value)
        for name, value in fit_choices(
            (f"{view.title} · {STATUS_WORDS[view.status]}", view.uid) for view in mine
        )
    ]


def _prompt_line(view: ugc.PromptView) -> str:
    parts = [f"**{_echo(view.title, 100)}**"]
    if not view.open:
        parts.append("closed")
    elif view.deadline_text:
        parts.append(f"open until {view.deadline_text}")
    if view.ritual:
        parts.append(f"in {_echo(view.ritual)}")
    parts.append(f"{view.submissions} shared")
    line = " · ".join(parts)
    return f"{line}\n> {_echo(view.brief, 150)}" if view.brief else line


class Ugc(commands.Cog):
    """/share for members, /ugc for prompts and the review queue."""

    share = app_commands.Group(
        name="share", description="Share your work with the community", guild_only=True
    )
    ugc_group = app_commands.Group(
        name="ugc", description="Prompts and the review queue", guild_only=True
    )
    prompt = app_commands.Group(name="prompt", description="UGC prompts", parent=ugc_group)

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Make the buttons of earlier posts work after a restart."""
        self.bot.add_dynamic_items(DecisionButton, ShareButton)

    @app_commands.autocomplete(prompt=prompt_choices)
    @share.command(name="submit", description="Share your work: moderators review it")
    @app_commands.describe(
        prompt="The prompt you are answering (optional)",
        file="A file, if the form's upload does not work for you",
    )
    async def submit(
        self,
        interaction: Interaction,
        prompt: str | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        """Open the submission form."""
        chosen = None
        # The first answer is the modal: no deferral, no transaction (see looking_up).
        async with self.bot.looking_up(interaction) as (session, _):
            if prompt is not None and prompt.strip():
                chosen = await _open_prompt(self.bot, session, prompt)
        if file is not None:
            _refuse_oversized(self.bot, [file])
        await send_modal(interaction, SubmissionModal(self.bot, prompt=chosen, fallback=file))

    @app_commands.autocomplete(submission=my_submission_choices)
    @share.command(name="withdraw", description="Take back something you shared")
    @app_commands.describe(
        submission="One of your submissions", delete="Delete it entirely, not only withdraw it"
    )
    async def withdraw(
        self, interaction: Interaction, submission: str, delete: bool = False
    ) -> None:
        """Withdraw consent for a submission, or (after asking) delete it."""
        runtime = self.bot.runtime
        if not delete:
            async with self.bot.acting(interaction) as (session, actor):
                view = await ugc.withdraw(
                    session, runtime.clock, actor, submission, delete=False, store=runtime.media
                )
            await send_ephemeral(
                interaction,
                f"“{_echo(view.title)}” is withdrawn: it is off the proof page and the showcase "
                "post says so.",
            )
            return
        async with self.bot.acting(interaction) as (session, actor):
            mine = await ugc.my_submissions(session, actor, typed=submission, limit=2)
        named = mine[0].title if len(mine) == 1 else submission

        async def delete_it(clicked: Interaction) -> str:
            view = await self.bot.in_transaction(
                clicked,
                lambda session, actor: ugc.withdraw(
                    session, runtime.clock, actor, submission, delete=True, store=runtime.media
                ),
            )
            return (
                f"Deleted “{_echo(view.title)}”: its files are gone, it is off the proof page "
                "and the showcase post says it was withdrawn."
            )

        confirm = ConfirmView(
            interaction,
            on_confirm=delete_it,
            confirm_label="Delete it",
            cancel_label="Keep it",
            cancelled_text="Nothing was deleted.",
            expired_text="This request expired; nothing was deleted.",
            timeout=CONFIRM_SECONDS,
        )
        await send_ephemeral(
            interaction,
            f"**Delete “{_echo(named)}”?** Its text and files are removed for good; points "
            "already earned stay.",
            view=confirm,
        )

    @share.command(name="mine", description="What you have shared, and where it stands")
    async def mine(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List the member's submissions, newest first."""
        async with self.bot.acting(interaction) as (session, actor):
            views = await ugc.my_submissions(session, actor, limit=MINE_LIMIT)
        if not views:
            await send_ephemeral(
                interaction, "You have not shared anything yet: try `/share submit`."
            )
            return
        lines = []
        for view in views:
            status = "featured" if view.featured else STATUS_WORDS[view.status]
            extra = f" · for {_echo(view.prompt)}" if view.prompt else ""
            files = f" · {view.files} file{'s' * (view.files != 1)}" if view.files else ""
            lines.append(
                f"**{_echo(view.title, 100)}** · {status} · {view.submitted_at:%d %b %Y}{files}{extra}"
            )
        await send_ephemeral(interaction, _paged(lines, page, "/share mine"))

    @prompt.command(name="create", description="Ask members to share something (moderators)")
    @app_commands.describe(announce="Post it to the announcements channel (default: yes)")
    async def prompt_create(self, interaction: Interaction, announce: bool = True) -> None:
        """Open the prompt form."""
        async with self.bot.looking_up(interaction) as (_, caller):
            require(caller, Role.MODERATOR)
        await send_modal(interaction, PromptModal(self.bot, announce=announce))

    @app_commands.autocomplete(prompt=prompt_choices)
    @prompt.command(name="close", description="Stop a prompt taking submissions (moderators)")
    async def prompt_close(self, interaction: Interaction, prompt: str) -> None:
        """Close a prompt."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            view = await ugc.close_prompt(
                session,
                runtime.clock,
                actor,
                prompt,
                timezone=runtime.settings.community.timezone,
            )
        await send_ephemeral(
            interaction, f"**{_echo(view.title)}** is closed: it takes no more submissions."
        )

    async def _prompts(self, interaction: Interaction, page: int, *, everything: bool) -> None:
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            if everything:
                require(actor, Role.MODERATOR)
            views = await ugc.list_prompts(
                session,
                runtime.clock,
                actor.community_id,
                timezone=runtime.settings.community.timezone,
                include_closed=everything,
            )
        if not views:
            await send_ephemeral(interaction, "No prompts are open right now.")
            return
        more = "/ugc prompt list" if everything else "/ugc prompts"
        await send_ephemeral(interaction, _paged([_prompt_line(v) for v in views], page, more))

    @prompt.command(name="list", description="Every prompt, closed ones too (moderators)")
    async def prompt_list(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List all prompts for moderators."""
        await self._prompts(interaction, page, everything=True)

    @ugc_group.command(name="prompts", description="What the community asks you to share")
    async def prompts(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List the open prompts."""
        await self._prompts(interaction, page, everything=False)

    @ugc_group.command(name="queue", description="Submissions waiting for review (moderators)")
    async def queue(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        """List pending submissions, oldest first."""
        async with self.bot.acting(interaction) as (session, actor):
            found = await ugc.queue(session, actor, page=page, per_page=QUEUE_PAGE)
        if not found.items:
            await send_ephemeral(interaction, "Nothing is waiting for review.")
            return
        now = self.bot.runtime.clock.now()
        lines = [
            f"**{_echo(item.title)}** by {_echo(item.author, 40)} · waiting "
            f"{_age(item.submitted_at, now)}"
            + (" · community only" if item.consent == Consent.COMMUNITY else "")
            for item in found.items
        ]
        text = "\n".join(lines)
        if found.pages > 1:
            following = (
                f"`/ugc queue page:{found.page + 1}` for more"
                if found.page < found.pages
                else "the last page"
            )
            text += f"\nPage {found.page} of {found.pages} ({found.total} waiting): {following}."
        await send_ephemeral(interaction, text)


async def setup(bot: FlywheelBot) -> None:
    """Load the UGC cog."""
    await bot.add_cog(Ugc(bot))
