"""Sharing on Slack: `/flywheel share` and a prompt's Share button open the form; submitting it
copies the member's files from Slack (``url_private`` needs the bot token) and hands them to
the service, which checks everything typed and every file's bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import Invalid
from bot.media import EXTENSIONS, called, fetch
from bot.media.files import too_large
from bot.models import Consent
from bot.services import ugc
from bot.services.ugc import CONSENT_WORDS, Draft, IncomingFile, PromptView, UgcRules
from bot.slack.blocks import (
    Block,
    input_block,
    modal,
    mrkdwn_section,
    option,
    selected_value,
    text_input,
)
from bot.slack.front import ActionCall, SlackCall, SubmissionCall, VerbCall
from bot.slack.render import fit_view, plain
from bot.slack.rituals.verbs import unescape
from bot.slack.ugc.render import thanks_text

MODAL = "ugc_share"
TITLE = "title"
STORY = "story"
LINK = "link"
PROMPT = "prompt"
FILE = "file"
CONSENT = "consent"
# Which block shows a refusal about which of the service's fields.
FIELDS = {
    "title": TITLE,
    "story": STORY,
    "link": LINK,
    "prompt": PROMPT,
    "file": FILE,
    "consent": CONSENT,
}
MAX_PROMPT_OPTIONS = 100
# What Slack's file picker offers: the extensions of the types the media store keeps.
FILETYPES = sorted({*EXTENSIONS.values(), "jpeg"})


def _prompt_option(view: PromptView) -> Block:
    return option(view.title[:75], view.uid)


def share_modal(
    *,
    prompts: list[PromptView],
    chosen: PromptView | None,
    channel_id: str | None,
    max_files: int,
    title: str = "",
) -> Block:
    """Build the share form: for a prompt, its brief on top and its template in the story."""
    blocks: list[Block] = []
    if chosen is not None:
        brief = f"\n{plain(chosen.brief)}" if chosen.brief else ""
        blocks.append(mrkdwn_section(f"*For the prompt: {plain(chosen.title)}*{brief}"))
    blocks += [
        text_input(TITLE, "Title", initial=title or None, max_length=ugc.TITLE_LENGTH),
        text_input(
            STORY,
            "Your story",
            initial=chosen.template if chosen and chosen.template else None,
            hint="What you made or what changed for you. Optional with a link or a file.",
            optional=True,
            multiline=True,
            max_length=ugc.STORY_LENGTH,
        ),
        text_input(
            LINK,
            "Links",
            placeholder="https://…",
            hint="Up to three http:// or https:// links, separated by spaces.",
            optional=True,
            max_length=ugc.LINKS_LENGTH,
        ),
    ]
    listed = ([chosen] if chosen else []) + [
        p for p in prompts if not chosen or p.uid != chosen.uid
    ]
    if listed:
        select: Block = {
            "type": "static_select",
            "action_id": PROMPT,
            "placeholder": {"type": "plain_text", "text": "None"},
            "options": [_prompt_option(p) for p in listed[:MAX_PROMPT_OPTIONS]],
        }
        if chosen is not None:
            select["initial_option"] = _prompt_option(chosen)
        blocks.append(input_block(PROMPT, "Prompt", select, optional=True))
    if max_files > 0:
        picker: Block = {
            "type": "file_input",
            "action_id": FILE,
            "filetypes": FILETYPES,
            "max_files": min(max_files, 10),
        }
        blocks.append(
            input_block(FILE, "Files", picker, hint="Images, videos or PDFs.", optional=True)
        )
    consent: Block = {
        "type": "radio_buttons",
        "action_id": CONSENT,
        "options": [option(CONSENT_WORDS[c].capitalize(), c.value) for c in Consent],
    }
    blocks.append(input_block(CONSENT, "May we show it?", consent))
    return modal(
        MODAL,
        "Share",
        blocks,
        submit="Send for review",
        metadata={"channel": channel_id, "prompt": chosen.uid if chosen else None},
    )


async def open_share(call: SlackCall, *, prompt_uid: str | None = None, title: str = "") -> None:
    """Open the share form (for a prompt, if given) with the trigger of the command or click."""
    settings = call.runtime.settings
    async with call.acting() as (session, actor):
        prompts = await ugc.list_prompts(
            session,
            call.runtime.clock,
            actor.community_id,
            timezone=settings.community.timezone,
            include_closed=False,
        )
    chosen = None
    if prompt_uid is not None:
        chosen = next((p for p in prompts if p.uid == prompt_uid), None)
        if chosen is None:
            command = call.front.commands.command
            raise Invalid(
                f"That prompt is closed. `{command} ugc prompts` lists the open ones.",
                code="prompt.closed",
            )
    view = share_modal(
        prompts=prompts,
        chosen=chosen,
        channel_id=call.channel_id,
        max_files=settings.ugc.max_attachments,
        title=title[: ugc.TITLE_LENGTH],
    )
    await call.client.views_open(trigger_id=call.body["trigger_id"], view=fit_view(view))


async def share_verb(call: VerbCall) -> None:
    """Open the share form; words after `share` start its title."""
    await open_share(call, title=unescape(call.rest).strip())


async def share_button(call: ActionCall) -> None:
    """Open the share form for the prompt whose Share button was clicked."""
    uid = ugc.prompt_of_button(call.action_id)
    if uid is None:
        raise Invalid("That button is not a prompt's Share button.", code="button.unknown")
    await open_share(call, prompt_uid=uid)


# -- copying the files ------------------------------------------------------------------------


def _slack_hosted(url: str, client: AsyncWebClient) -> bool:
    """Say whether a file URL is on the Slack the client talks to (the token goes nowhere else)."""
    api_host = (urlsplit(client.base_url).hostname or "").lower()
    host = (urlsplit(url).hostname or "").lower()
    return bool(api_host) and (host == api_host or host.endswith(f".{api_host}"))


def _reported_size(file: dict[str, Any]) -> int | None:
    size = file.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


async def _copy(call: SubmissionCall, file: dict[str, Any]) -> IncomingFile:
    """Fetch one picked file from Slack with the bot token, refusing an oversized one first."""
    media = call.runtime.settings.media
    name = str(file.get("name") or file.get("title") or "")
    size = _reported_size(file)
    if size is not None and size > media.max_bytes:
        raise too_large(called(name), size, media.max_bytes)
    shown = str(file.get("url_private") or "")
    url = str(file.get("url_private_download") or shown)
    token = call.client.token
    if not token or not _slack_hosted(url, call.client):
        what = called(name)
        raise Invalid(
            f"{what[:1].upper()}{what[1:]} is not a file on Slack; upload it again.",
            field="file",
            code="file.url",
        )
    fetched = await fetch(
        url,
        headers={"Authorization": f"Bearer {token}"},
        max_bytes=media.max_bytes,
        timeout=media.fetch_timeout_seconds,
        filename=name,
    )
    mimetype = file.get("mimetype")
    return IncomingFile(
        filename=name,
        data=fetched.data,
        reported_url=shown or url,
        reported_type=mimetype if isinstance(mimetype, str) else None,
        reported_size=size,
    )


async def _copy_all(call: SubmissionCall, files: list[Any]) -> tuple[IncomingFile, ...]:
    picked = [file for file in files if isinstance(file, dict)]
    results = await asyncio.gather(*(_copy(call, f) for f in picked), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return tuple(r for r in results if isinstance(r, IncomingFile))


async def submit(call: SubmissionCall) -> str:
    """Copy the files, then record the submission; return what to tell the member."""
    values = call.values
    files = values.get(FILE, {}).get("files")
    # Fetched before the transaction opens: the network is slow, the database is shared.
    incoming = await _copy_all(call, files if isinstance(files, list) else [])
    draft = Draft(
        title=str(values.get(TITLE, {}).get("value") or ""),
        story=str(values.get(STORY, {}).get("value") or ""),
        links=str(values.get(LINK, {}).get("value") or ""),
        consent=selected_value(values, CONSENT) or "",
        prompt=selected_value(values, PROMPT) or "",
    )
    runtime = call.runtime
    caller = await call.caller()
    async with call.acting() as (session, actor):
        view = await ugc.submit(
            session,
            runtime.clock,
            actor,
            draft,
            incoming,
            store=runtime.media,
            rules=UgcRules.of(runtime.settings),
            author=caller.display_name,
        )
    return thanks_text(view, call.front.commands.command)
