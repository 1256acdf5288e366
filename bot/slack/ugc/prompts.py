"""UGC prompts on Slack: `/flywheel ugc prompt create|close|list` for moderators (create is a
form) and `/flywheel ugc prompts` for members, with a Share button on each open prompt."""

from __future__ import annotations

from bot.errors import Invalid
from bot.services import ugc
from bot.services.ugc import PromptSpec
from bot.slack.blocks import Block, modal, text_input
from bot.slack.front import SubmissionCall, VerbCall
from bot.slack.rituals.verbs import unescape
from bot.slack.ugc.render import prompt_text, prompts_blocks

MODAL = "ugc_prompt"
TITLE = "title"
BRIEF = "brief"
TEMPLATE = "template"
DEADLINE = "deadline"
RITUAL = "ritual"
FIELDS = {field: field for field in (TITLE, BRIEF, TEMPLATE, DEADLINE, RITUAL)}


def prompt_modal(channel_id: str | None, timezone: str) -> Block:
    """Build the new-prompt form."""
    return modal(
        MODAL,
        "New prompt",
        [
            text_input(
                TITLE, "Title", placeholder="Show us how you use it", max_length=ugc.TITLE_LENGTH
            ),
            text_input(
                BRIEF,
                "Brief",
                hint="What you ask for, in a few lines; members read it in the announcement.",
                optional=True,
                multiline=True,
                max_length=ugc.BRIEF_LENGTH,
            ),
            text_input(
                TEMPLATE,
                "Template",
                hint="Prefilled in the member's story when they answer this prompt.",
                optional=True,
                multiline=True,
                max_length=ugc.TEMPLATE_LENGTH,
            ),
            text_input(
                DEADLINE,
                "Deadline",
                placeholder="2026-12-31 18:00",
                hint=f"A date, or a date and time, in {timezone}; leave it empty for none.",
                optional=True,
                max_length=16,
            ),
            text_input(
                RITUAL,
                "Ritual",
                placeholder="Feedback Friday",
                hint="A ritual's name: each of its posts opens this prompt in its thread.",
                optional=True,
                max_length=80,
            ),
        ],
        submit="Create",
        metadata={"channel": channel_id},
    )


async def create_verb(call: VerbCall) -> None:
    """Open the new-prompt form (moderators)."""
    timezone = call.runtime.settings.community.timezone
    await call.open_modal(prompt_modal(call.channel_id, timezone))


async def create_submit(call: SubmissionCall) -> str:
    """Create the prompt from the form; return what to tell the moderator."""
    values = call.values

    def typed(block_id: str) -> str:
        return str(values.get(block_id, {}).get("value") or "")

    spec = PromptSpec(
        title=typed(TITLE),
        brief=typed(BRIEF),
        template=typed(TEMPLATE),
        deadline=typed(DEADLINE),
        ritual=typed(RITUAL),
    )
    runtime = call.runtime
    async with call.acting() as (session, actor):
        view = await ugc.create_prompt(
            session, runtime.clock, actor, spec, timezone=runtime.settings.community.timezone
        )
    return prompt_text(view, "Created")


async def close_verb(call: VerbCall) -> None:
    """Stop a prompt taking submissions (moderators)."""
    reference = unescape(call.rest).strip().strip("\"'“”‘’")
    if not reference:
        command = call.front.commands.command
        raise Invalid(f"Say which prompt: `{command} ugc prompt close <title>`.")
    runtime = call.runtime
    async with call.acting() as (session, actor):
        view = await ugc.close_prompt(
            session,
            runtime.clock,
            actor,
            reference,
            timezone=runtime.settings.community.timezone,
        )
    await call.reply(prompt_text(view, "Closed"))


async def _listing(call: VerbCall, *, moderator: bool) -> None:
    runtime = call.runtime
    async with call.acting() as (session, actor):
        views = await ugc.list_prompts(
            session,
            runtime.clock,
            actor.community_id,
            timezone=runtime.settings.community.timezone,
            include_closed=moderator,
        )
    text, blocks = prompts_blocks(views, call.front.commands.command, moderator=moderator)
    await call.reply(text, blocks=blocks)


async def list_verb(call: VerbCall) -> None:
    """List every prompt, closed ones too (moderators)."""
    await _listing(call, moderator=True)


async def open_verb(call: VerbCall) -> None:
    """List the open prompts, each with a Share button."""
    await _listing(call, moderator=False)
