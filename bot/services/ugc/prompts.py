"""UGC prompts: what moderators ask members to share (``/ugc prompt create|close|list``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import Invalid, NotFound
from bot.inputs import clean_name, clean_text, name_key, shorten
from bot.messages import DestinationRow
from bot.models import PromptStatus, Ritual, UgcPrompt, UgcSubmission
from bot.outbox import send
from bot.outbox.registry import cancel_about
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require
from bot.services.rituals.messages import local_time, occurrence_subject
from bot.services.schedules import zone
from bot.services.ugc.messages import prompt_post, prompt_subject

TITLE_LENGTH = 100
BRIEF_LENGTH = 1000
TEMPLATE_LENGTH = 1500
MAX_DEADLINE_DAYS = 366
DEADLINE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d")


@dataclass(frozen=True)
class PromptSpec:
    """What a moderator gives for a new prompt (validated by :func:`create_prompt`)."""

    title: str
    brief: str = ""
    template: str = ""
    deadline: str = ""  # "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" in the community's time zone
    ritual: str = ""  # a ritual's name: its occurrences open this prompt in their thread
    announce: bool = True


@dataclass(frozen=True)
class PromptView:
    """A prompt as members and moderators see it."""

    uid: str
    title: str
    brief: str
    template: str
    deadline: datetime | None
    deadline_text: str | None
    ritual: str | None
    open: bool
    submissions: int


def _deadline(text: str, timezone: str, now: datetime) -> datetime | None:
    """Read a deadline in the community's time zone; refuse the past and the far future."""
    cleaned = text.strip()
    if not cleaned:
        return None
    for shape in DEADLINE_FORMATS:
        try:
            local = datetime.strptime(cleaned, shape)  # noqa: DTZ007 (the zone is set below)
        except ValueError:
            continue
        if shape == "%Y-%m-%d":
            local = local.replace(hour=23, minute=59)
        moment = local.replace(tzinfo=zone(timezone))
        if moment <= now:
            raise Invalid(
                f"Deadline: {shorten(cleaned)} has passed; give a date after today.",
                field="deadline",
                code="deadline.past",
            )
        if moment > now + timedelta(days=MAX_DEADLINE_DAYS):
            raise Invalid(
                "Deadline: give a date within a year.", field="deadline", code="deadline.far"
            )
        return moment
    raise Invalid(
        f"Deadline: {shorten(cleaned)!r} is not a date; write it as 2026-12-31 or "
        "2026-12-31 18:00 (the community's time zone), or leave it empty.",
        field="deadline",
        code="deadline.unparsable",
    )


async def _view(session: AsyncSession, prompt: UgcPrompt, timezone: str) -> PromptView:
    count = await session.scalar(
        select(func.count()).select_from(UgcSubmission).where(UgcSubmission.prompt_id == prompt.id)
    )
    ritual = await session.scalar(select(Ritual.name).where(Ritual.id == prompt.ritual_id))
    return PromptView(
        uid=prompt.uid,
        title=prompt.title,
        brief=prompt.brief,
        template=prompt.template,
        deadline=prompt.deadline,
        deadline_text=local_time(prompt.deadline, timezone) if prompt.deadline else None,
        ritual=ritual,
        open=prompt.status == PromptStatus.OPEN,
        submissions=int(count or 0),
    )


async def create_prompt(
    session: AsyncSession, clock: Clock, actor: Actor, spec: PromptSpec, *, timezone: str
) -> PromptView:
    """Create a prompt (moderators) and, if asked, announce it to the announcements channels."""
    require(actor, Role.MODERATOR)
    title = clean_name(spec.title, field="title", what="Title", max_length=TITLE_LENGTH)
    brief = (
        clean_text(spec.brief, field="brief", what="Brief", max_length=BRIEF_LENGTH)
        if spec.brief.strip()
        else ""
    )
    template = (
        clean_text(spec.template, field="template", what="Template", max_length=TEMPLATE_LENGTH)
        if spec.template.strip()
        else ""
    )
    now = clock.now()
    deadline = _deadline(spec.deadline, timezone, now)
    ritual_id = None
    if spec.ritual.strip():
        ritual_id = await session.scalar(
            select(Ritual.id).where(
                Ritual.community_id == actor.community_id,
                Ritual.name_key == name_key(spec.ritual),
            )
        )
        if ritual_id is None:
            raise Invalid(
                f"Ritual: there is no ritual called {shorten(spec.ritual.strip())!r}.",
                field="ritual",
                code="ritual.unknown",
            )
    taken = await session.scalar(
        select(UgcPrompt.id).where(
            UgcPrompt.community_id == actor.community_id, UgcPrompt.name_key == name_key(title)
        )
    )
    if taken is not None:
        raise Invalid(
            f"Title: a prompt called {shorten(title)!r} exists already; pick another title.",
            field="title",
            code="title.taken",
        )
    prompt = UgcPrompt(
        community_id=actor.community_id,
        title=title,
        brief=brief,
        template=template,
        deadline=deadline,
        ritual_id=ritual_id,
        created_by=actor.member_id,
        created_at=now,
    )
    session.add(prompt)
    await session.flush()
    await audit(
        session, clock, actor, "ugc.prompt.create", f"prompt:{prompt.uid}", {"title": title}
    )
    view = await _view(session, prompt, timezone)
    if spec.announce:
        await send(
            session,
            clock,
            prompt_post(prompt.uid, title, brief, view.deadline_text),
            key=f"ugc-prompt:{prompt.uid}",
            community_id=actor.community_id,
        )
    return view


async def find_prompt(
    session: AsyncSession,
    community_id: int,
    reference: str,
    *,
    open_only: bool = False,
    now: datetime | None = None,
) -> UgcPrompt:
    """Return a prompt by its public id or its title, or raise NotFound.

    With ``open_only`` a closed prompt is refused, and so is one whose deadline is before
    ``now`` (a prompt stays open past its deadline until a moderator closes it).
    """
    cleaned = reference.strip()
    prompt = await session.scalar(
        select(UgcPrompt).where(
            UgcPrompt.community_id == community_id,
            or_(UgcPrompt.uid == cleaned, UgcPrompt.name_key == name_key(cleaned)),
        )
    )
    if prompt is None:
        raise NotFound(f"There is no prompt called {shorten(cleaned)!r}.")
    if open_only and prompt.status != PromptStatus.OPEN:
        raise Invalid(
            f"Prompt: {shorten(prompt.title)!r} is closed; pick an open one or none.",
            field="prompt",
            code="prompt.closed",
        )
    if open_only and now is not None and prompt.deadline is not None and prompt.deadline <= now:
        raise Invalid(
            f"Prompt: {shorten(prompt.title)!r} closed at its deadline; pick an open one or none.",
            field="prompt",
            code="prompt.closed",
        )
    return prompt


async def close_prompt(
    session: AsyncSession, clock: Clock, actor: Actor, reference: str, *, timezone: str
) -> PromptView:
    """Stop a prompt taking submissions (moderators); its queued posts are cancelled."""
    require(actor, Role.MODERATOR)
    prompt = await find_prompt(session, actor.community_id, reference)
    if prompt.status == PromptStatus.OPEN:
        prompt.status = PromptStatus.CLOSED
        prompt.closed_at = clock.now()
        await cancel_about(session, [prompt_subject(prompt.uid)])
        await audit(session, clock, actor, "ugc.prompt.close", f"prompt:{prompt.uid}")
    return await _view(session, prompt, timezone)


async def list_prompts(
    session: AsyncSession, clock: Clock, community_id: int, *, timezone: str, include_closed: bool
) -> list[PromptView]:
    """Return the prompts, open ones first and newest first; closed ones only if asked."""
    query = select(UgcPrompt).where(UgcPrompt.community_id == community_id)
    if not include_closed:
        query = query.where(UgcPrompt.status == PromptStatus.OPEN)
    prompts = await session.scalars(
        query.order_by(UgcPrompt.status, UgcPrompt.created_at.desc(), UgcPrompt.id.desc())
    )
    views = [await _view(session, prompt, timezone) for prompt in prompts]
    now = clock.now()
    return [v for v in views if include_closed or v.deadline is None or v.deadline > now]


async def prompt_titles(
    session: AsyncSession, community_id: int, typed: str, *, now: datetime | None = None
) -> list[str]:
    """Return open prompts' titles matching what is typed (autocomplete), none past its deadline."""
    key = name_key(typed)
    query = (
        select(UgcPrompt.title)
        .where(UgcPrompt.community_id == community_id, UgcPrompt.status == PromptStatus.OPEN)
        .order_by(UgcPrompt.created_at.desc())
        .limit(100)
    )
    if now is not None:
        query = query.where(or_(UgcPrompt.deadline.is_(None), UgcPrompt.deadline > now))
    titles = await session.scalars(query)
    return [title for title in titles if key in name_key(title)][:25]


async def open_in_ritual_thread(
    session: AsyncSession, clock: Clock, *, ritual_id: int, occurrence_uid: str
) -> int:
    """Post the open prompts linked to a ritual in its new occurrence's thread; return how many."""
    ritual = await session.get(Ritual, ritual_id)
    if ritual is None:
        return 0
    prompts = await session.scalars(
        select(UgcPrompt).where(
            UgcPrompt.ritual_id == ritual_id, UgcPrompt.status == PromptStatus.OPEN
        )
    )
    now = clock.now()
    posted = 0
    for prompt in prompts:
        if prompt.deadline is not None and prompt.deadline <= now:
            continue
        deadline = local_time(prompt.deadline, ritual.timezone) if prompt.deadline else None
        post = prompt_post(
            prompt.uid,
            prompt.title,
            prompt.brief,
            deadline,
            reply_to=occurrence_subject(occurrence_uid),
            to=DestinationRow(id=ritual.destination_id),
        )
        posted += await send(
            session,
            clock,
            post,
            key=f"ugc-prompt:{prompt.uid}:{occurrence_uid}",
            community_id=ritual.community_id,
        )
    return posted
