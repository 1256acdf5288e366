"""Badges on Slack: `badge award|revoke <@member> <badge>` and `badge create` (a form) for
moderators, `badges [@member] [page]` for everyone, paged with buttons.

The service checks the role, the badge and the member; this module parses the mention,
calls it and writes the answer (user text escaped with :func:`bot.text.slack_escape`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot.errors import Invalid
from bot.inputs import ascii_int, shorten
from bot.services import recognition
from bot.services.callers import Caller, Role, resolve_actor
from bot.slack.blocks import Block, actions_block, button, modal, mrkdwn_section, text_input
from bot.slack.front import ActionCall, SlackCall, SlackFront, SubmissionCall, VerbCall
from bot.slack.rituals.verbs import unescape
from bot.text import slack_escape

MODAL = "badge_create"
NAME, EMOJI, DESCRIPTION, RULE = "name", "emoji", "description", "rule"
FIELDS = {NAME: NAME, EMOJI: EMOJI, DESCRIPTION: DESCRIPTION, RULE: RULE}
PAGE_ACTION = "badges_page"
PER_PAGE = 12
# A page's text, leaving room under a section's 3,000 characters for "Page 2 of 3.".
PAGE_TEXT = 2_900
# "<@U123|label> badge name", "<@U123> badge name" or "U123 badge name".
MEMBER_THEN_BADGE = re.compile(
    r"(?:<@(?P<mention>[UW][A-Z0-9]+)(?:\|(?P<label>[^>]*))?>|(?P<user_id>[UW][A-Z0-9]{2,}))"
    r"\s+(?P<badge>.+)",
    re.DOTALL,
)
MENTION = re.compile(r"<@(?P<mention>[UW][A-Z0-9]+)(?:\|[^>]*)?>|(?P<user_id>[UW][A-Z0-9]{2,})")


def _echo(text: str, limit: int = 60) -> str:
    return slack_escape(shorten(text, limit))


def _badge(view: recognition.BadgeView) -> str:
    return f"{_echo(view.emoji, 32)} *{_echo(view.name)}*"


async def _other(call: SlackCall, user_id: str, label: str | None) -> tuple[Caller, str]:
    """Return a Caller for a mentioned member, and the name to show them by."""
    caller = await call.caller()
    found = await call.front.directory.lookup(call.client, team_id=caller.space_id, user_id=user_id)
    if found.is_bot or user_id == "USLACKBOT":
        # As on Discord: a bot (Slackbot included) is no member, and holds no badges.
        raise Invalid("Bots don't hold badges; name a member.", field="member")
    name = found.display_name or unescape(label or "").strip() or None
    return (
        Caller("slack", caller.space_id, user_id, name, Role.MEMBER),
        name or "That member",
    )


def _change(verb: str) -> Callable[[VerbCall], Awaitable[None]]:
    async def run(call: VerbCall) -> None:
        """Give or take back a badge (moderators)."""
        usage = f"{call.front.commands.command} badge {verb} @member <badge>"
        found = MEMBER_THEN_BADGE.fullmatch(call.rest.strip())
        if found is None:
            raise Invalid(
                "Mention the member from Slack's @ menu (or give their member ID, like "
                f"U0123ABCD), then the badge: `{usage}`."
            )
        user_id = found.group("mention") or found.group("user_id")
        badge = unescape(found.group("badge")).strip().strip("\"'“”‘’")
        target, shown = await _other(call, user_id, found.group("label"))
        clock = call.runtime.clock
        async with call.acting() as (session, actor):
            member = await resolve_actor(
                session, clock, community_id=actor.community_id, caller=target, explicit=False
            )
            if verb == "award":
                done = await recognition.award(session, clock, actor, member.member_id, badge)
            else:
                done = await recognition.revoke(session, clock, actor, member.member_id, badge)
        if verb == "award":
            told = recognition.AWARD_TOLD if done.announced else recognition.AWARD_TOLD_QUIETLY
            said = f"*{_echo(shown, 40)}* now has {_badge(done.badge)}; {told}"
        else:
            said = f"*{_echo(shown, 40)}* no longer has {_badge(done.badge)}."
        await call.reply(said)

    return run


def create_modal(channel_id: str | None) -> Block:
    """Build the new-badge form."""
    return modal(
        MODAL,
        "New badge",
        [
            text_input(NAME, "Name", placeholder="Bug Hunter", max_length=60),
            text_input(EMOJI, "Emoji", placeholder="🐛", max_length=32),
            text_input(
                DESCRIPTION,
                "What it is for",
                optional=True,
                multiline=True,
                max_length=300,
            ),
            text_input(
                RULE,
                "Rule",
                placeholder="rituals_attended >= 4",
                hint="Counters: ugc_featured, rituals_attended, answers_accepted, streak_weeks, "
                "points. Leave it empty for a badge only moderators give.",
                optional=True,
                max_length=60,
            ),
        ],
        submit="Create",
        metadata={"channel": channel_id},
    )


async def create_verb(call: VerbCall) -> None:
    """Open the new-badge form (moderators)."""
    await call.open_modal(create_modal(call.channel_id))


async def create_submit(call: SubmissionCall) -> str:
    """Create the badge from the form; return what to tell the moderator."""

    def typed(block_id: str) -> str:
        return str(call.values.get(block_id, {}).get("value") or "")

    draft = recognition.BadgeDraft(typed(NAME), typed(EMOJI), typed(DESCRIPTION), typed(RULE))
    async with call.acting() as (session, actor):
        made = await recognition.create_badge(session, call.runtime.clock, actor, draft)
    return f"Created the badge {_badge(made.badge)}: {made.how}."


def _pages(lines: list[str]) -> list[list[str]]:
    """Return the lines in pages of at most PER_PAGE lines and PAGE_TEXT characters.

    Escaped names and descriptions grow (``&`` is ``&amp;``): twelve long lines went past a
    section's 3,000 characters, and the reply was cut, losing the badges at its end.
    """
    grouped: list[list[str]] = [[]]
    size = 0
    for line in lines:
        current = grouped[-1]
        if current and (len(current) >= PER_PAGE or size + 1 + len(line) > PAGE_TEXT):
            current = []
            grouped.append(current)
            size = 0
        current.append(line)
        size += len(line) + 1
    return grouped


async def _page(call: SlackCall, page: int, user_id: str | None) -> tuple[str, list[Block]]:
    """Render one page of a member's badges and the catalogue."""
    label = None
    target = None
    if user_id is not None and user_id != call.user_id:
        target, label = await _other(call, user_id, None)
    async with call.acting() as (session, actor):
        whose = actor.member_id
        if target is not None:
            found = await resolve_actor(
                session,
                call.runtime.clock,
                community_id=actor.community_id,
                caller=target,
                explicit=False,
            )
            whose = found.member_id
        held = await recognition.held_badges(session, whose)
        every = await recognition.catalogue(session, actor.community_id)
    title = f"*{_echo(label, 40)}'s badges*" if label else "*Your badges*"
    lines = [title]
    lines += [f"{_badge(h.badge)} · {h.awarded_at:%d %b %Y}" for h in held] or ["None yet."]
    lines.append("*Every badge*")
    lines += [
        f"{_badge(e.badge)} · {e.how} · {e.holders} hold it"
        + (f"\n>{_echo(e.description, 150)}" if e.description else "")
        for e in every
    ]
    grouped = _pages(lines)
    pages = len(grouped)
    shown = min(max(page, 1), pages)
    text = "\n".join(grouped[shown - 1])
    blocks: list[Block] = [mrkdwn_section(text)]
    if pages > 1:
        who = user_id or ""
        turns = []
        if shown > 1:
            turns.append(button("Previous page", f"{PAGE_ACTION}_prev", f"{shown - 1} {who}"))
        if shown < pages:
            turns.append(button("Next page", PAGE_ACTION, f"{shown + 1} {who}"))
        blocks.append(actions_block(f"{PAGE_ACTION}s", turns))
        text += f"\nPage {shown} of {pages}."
    return text, blocks


async def badges_verb(call: VerbCall) -> None:
    """Show a member's badges (default: yours) and every badge there is."""
    user_id = None
    page = 1
    for word in call.args:
        found = MENTION.fullmatch(word)
        if found:
            user_id = found.group("mention") or found.group("user_id")
        elif (number := ascii_int(word, max_digits=4)) is not None:
            page = number
        else:
            command = call.front.commands.command
            raise Invalid(
                f"Say whose badges, and a page if you like: `{command} badges @member 2`."
            )
    text, blocks = await _page(call, page, user_id)
    await call.reply(text, blocks=blocks)


async def turn_page(call: ActionCall) -> None:
    """Show another page (the button's value: the page, then whose badges)."""
    page_text, _, user = call.value.partition(" ")
    user_id = user if MENTION.fullmatch(user) else None
    text, blocks = await _page(call, ascii_int(page_text, max_digits=4) or 1, user_id)
    await call.replace(text, blocks=blocks)


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the badge verbs, the form and the page buttons."""
    moderator = Role.MODERATOR
    add = front.commands.add
    add(
        "badges",
        badges_verb,
        usage="[@member] [page]",
        summary="A member's badges (yours by default), and every badge there is.",
    )
    add(
        "badge award",
        _change("award"),
        usage="@member <badge>",
        summary="Give a member a badge.",
        role=moderator,
    )
    add(
        "badge revoke",
        _change("revoke"),
        usage="@member <badge>",
        summary="Take a badge back.",
        role=moderator,
    )
    add("badge create", create_verb, summary="Create a badge (a form).", role=moderator)
    app.view(MODAL)(front.submission(create_submit, fields=FIELDS))
    app.action(re.compile(rf"^{PAGE_ACTION}(_prev)?$"))(front.action(turn_page))
