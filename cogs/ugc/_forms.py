"""The UGC forms on Discord: the submission form (/share, Share yours) and the prompt form."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.discord.bot import (
    FlywheelBot,
    acknowledge,
    report_failure,
    send_ephemeral,
)
from bot.discord.forms import ReopeningModal, reprompt
from bot.discord.render import fit_choices
from bot.errors import FlywheelError, Invalid
from bot.media import describe_size
from bot.services import ugc
from cogs.ugc._shared import (
    FILES_NOT_KEPT,
    PROMPT_FORM,
    STATUS_WORDS,
    SUBMIT_FORM,
    Interaction,
    PromptChoice,
    copy_attachment,
    echo,
    refuse_oversized,
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
        refuse_oversized(self.bot, attachments)
        # Acknowledged before the downloads (Discord waits 3 s), which run outside the
        # transaction so no file holds the database.
        await acknowledge(interaction)
        files = tuple([await copy_attachment(self.bot, attachment) for attachment in attachments])
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
            f"Thanks! “{echo(view.title)}” is in the review queue; you will get a DM when a "
            "moderator decides.",
        )

    async def on_error(self, interaction: Interaction, error: Exception, /) -> None:  # type: ignore[override]
        """Re-prompt on a refusal, saying that files must be attached again."""
        if isinstance(error, Invalid):
            note = FILES_NOT_KEPT if self.had_files else ""
            await reprompt(interaction, error, self.reopened, note=note)
        else:
            await report_failure(interaction, error)


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
            interaction, f"Created the prompt **{echo(view.title)}**{until}{told}."
        )


async def prompt_choices(interaction: Interaction, typed: str) -> list[app_commands.Choice[str]]:
    """Offer the open prompts whose titles contain what is typed."""
    runtime = interaction.client.runtime
    async with runtime.sessions() as session:
        titles = await ugc.prompt_titles(
            session, runtime.community_id, typed, now=runtime.clock.now()
        )
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
