"""The words of UGC: the review-queue post, its outcome, the member's DM, the showcase post
and a prompt's announcement, in the neutral message vocabulary.

Everything a member typed is plain text (``Text`` spans: escaped by every renderer, never
pinging anyone) and wrapped in :func:`bot.messages.owned`, so erasing the member takes it
out of anything not yet sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.commands import CommandNames
from bot.messages import (
    Button,
    DestinationRow,
    DirectMessage,
    Edit,
    Post,
    Purpose,
    Rich,
    Subject,
    bold,
    italic,
    lines,
    link,
    owned,
    rich,
)
from bot.models import Consent

APPROVE = "ugc-approve:"
REJECT = "ugc-reject:"
FEATURE = "ugc-feature:"
SHARE = "ugc-share:"  # the button under a prompt's post that opens the submission form
DECISION_PREFIXES = (APPROVE, REJECT, FEATURE)
STORY_SHOWN = 600  # of a story, in the queue and the showcase
ANONYMOUS = "A community member"

CONSENT_WORDS = {
    Consent.PUBLIC_NAMED: "may be shown publicly with my name",
    Consent.PUBLIC_ANONYMOUS: "may be shown publicly without my name",
    Consent.COMMUNITY: "community only",
}


@dataclass(frozen=True)
class Shown:
    """What the queue and the showcase show of a submission."""

    uid: str
    member_id: int
    author: str
    title: str
    story: str
    links: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (file name, URL of our stored copy)
    consent: Consent
    prompt: str | None
    featured: bool


def review_subject(uid: str) -> Subject:
    """Return what a submission's review-queue post is about."""
    return Subject(kind="ugc-review", id=uid)


def showcase_subject(uid: str) -> Subject:
    """Return what a submission's showcase post is about."""
    return Subject(kind="ugc-showcase", id=uid)


def prompt_subject(uid: str) -> Subject:
    """Return what a prompt's announcement is about."""
    return Subject(kind="ugc-prompt", id=uid)


def decision_of_button(custom_id: str) -> tuple[str, str] | None:
    """Return (decision, submission uid) a queue button id names, or None if it is not one."""
    for prefix in DECISION_PREFIXES:
        if custom_id.startswith(prefix):
            uid = custom_id.removeprefix(prefix)
            if uid.isascii() and uid.isalnum() and len(uid) <= 24:
                return prefix.removeprefix("ugc-").rstrip(":"), uid
    return None


def _cut(text: str, limit: int = STORY_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _content(shown: Shown, *, author: str | None) -> list[Rich]:
    """Return the lines showing a submission's own content, all of it the member's."""
    mine = shown.member_id
    heading = rich(bold(owned(mine, shown.title, fallback="(removed)")))
    if author is not None:
        heading = heading + rich(" · by ", owned(mine, author, fallback=ANONYMOUS))
    parts = [heading]
    if shown.prompt:
        parts.append(rich(italic("For the prompt: ", shown.prompt)))
    parts.append(rich(owned(mine, _cut(shown.story), fallback="")))
    for url in shown.links:
        parts.append(rich("🔗 ", owned(mine, link(url), fallback="(link removed)")))
    for name, url in shown.files:
        parts.append(
            rich("📎 ", owned(mine, link(url, _cut(name, 100)), fallback="(file removed)"))
        )
    return parts


def queue_post(shown: Shown) -> Post:
    """Return the post in the review queue, with Approve, Reject and Feature buttons."""
    parts = [rich(bold("New submission for review")), *_content(shown, author=shown.author)]
    parts.append(rich(italic("Consent: ", CONSENT_WORDS[shown.consent])))
    return Post(
        to=Purpose(name="ugc-review"),
        body=lines(*parts),
        buttons=(
            Button(id=f"{APPROVE}{shown.uid}", label="Approve", style="success"),
            Button(id=f"{REJECT}{shown.uid}", label="Reject", style="danger"),
            Button(id=f"{FEATURE}{shown.uid}", label="Feature", style="primary"),
        ),
        about=review_subject(shown.uid),
    )


def decided_edit(
    shown: Shown, outcome: str, moderator: tuple[int, str], when: datetime, reason: str | None
) -> Edit:
    """Return the queue post as it reads once decided: the outcome, and no buttons."""
    stamp = when.strftime("%d %b %H:%M UTC")
    moderator_id, moderator_name = moderator
    heading = rich(
        bold(outcome.capitalize()),
        " by ",
        owned(moderator_id, moderator_name, fallback="a moderator"),
        f" · {stamp}",
    )
    if reason:
        heading = heading + rich(" · ", reason)
    parts = [
        heading,
        *_content(shown, author=shown.author),
    ]
    return Edit(subject=review_subject(shown.uid), body=lines(*parts), buttons=())


def withdrawn_review_edit(uid: str, *, decided: bool = False) -> Edit:
    """Return the queue post once the member withdrew the submission (or had their data erased)."""
    if decided:
        body = rich(bold("Removed at the member's request"), "; what they shared is gone.")
    else:
        body = rich(bold("Withdrawn by the member"), " before a decision; nothing to review.")
    return Edit(subject=review_subject(uid), body=body, buttons=())


def showcase_post(shown: Shown) -> Post:
    """Return the showcase post of an approved submission, respecting its consent.

    "Publicly without my name" never shows the name; "community only" is shown here, in the
    community, with the name (it never reaches a public surface).
    """
    author = None if shown.consent == Consent.PUBLIC_ANONYMOUS else shown.author
    parts: list[Rich] = []
    if shown.featured:
        parts.append(rich("⭐ ", bold("Featured")))
    parts.extend(_content(shown, author=author if author is not None else ANONYMOUS))
    return Post(to=Purpose(name="showcase"), body=lines(*parts), about=showcase_subject(shown.uid))


def withdrawn_showcase_edit(uid: str) -> Edit:
    """Return the showcase post once the member withdrew it."""
    return Edit(
        subject=showcase_subject(uid), body=rich(italic("Withdrawn by the member.")), buttons=()
    )


def decision_dm(
    shown: Shown,
    *,
    platform: str,
    outcome: str,
    points: int,
    reason: str | None,
    commands: CommandNames,
) -> DirectMessage:
    """Return the DM telling a member what became of their submission."""
    title = owned(shown.member_id, shown.title, fallback="your submission")
    if outcome == "rejected":
        body = rich("Your submission “", title, "” was not approved")
        body = body + (rich(": ", reason, ".") if reason else rich("."))
        body = body + rich(" You can share something new with ", commands.code(platform, "share"))
    else:
        what = "approved and featured" if outcome == "featured" else "approved"
        body = rich("Your submission “", title, f"” was {what}")
        body = body + (rich(f" (+{points} points).") if points else rich("."))
        if shown.consent != Consent.COMMUNITY:
            body = body + rich(" It may appear on the community's public proof page")
            body = body + rich(
                " without your name." if shown.consent == Consent.PUBLIC_ANONYMOUS else "."
            )
        body = body + rich(" Changed your mind? ", commands.code(platform, "share withdraw"))
    return DirectMessage(
        member_id=shown.member_id, platform=platform, body=body, about=review_subject(shown.uid)
    )


def prompt_post(
    uid: str,
    title: str,
    brief: str,
    deadline: str | None,
    *,
    reply_to: Subject | None = None,
    to: Purpose | DestinationRow | None = None,
) -> Post:
    """Return a prompt's announcement (or its post in a ritual's thread), with a Share button."""
    parts = [rich("📣 ", bold(title))]
    if brief:
        parts.append(rich(brief))
    if deadline:
        parts.append(rich(italic(f"Open until {deadline}.")))
    parts.append(rich("Press ", bold("Share yours"), " to answer: moderators review every post."))
    return Post(
        to=to or Purpose(name="announcements"),
        body=lines(*parts),
        buttons=(Button(id=f"{SHARE}{uid}", label="Share yours", style="primary"),),
        reply_to=reply_to,
        about=prompt_subject(uid),
    )


def prompt_of_button(custom_id: str) -> str | None:
    """Return the prompt a Share button id names, or None if it is not one."""
    if not custom_id.startswith(SHARE):
        return None
    uid = custom_id.removeprefix(SHARE)
    return uid if uid.isascii() and uid.isalnum() and len(uid) <= 24 else None


def files_of(pairs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Return file (name, URL) pairs as the tuple :class:`Shown` keeps."""
    return tuple((name, url) for name, url in pairs)
