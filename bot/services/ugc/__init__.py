"""UGC: prompts, member submissions, a race-free review queue, consent, showcase and export.

Rooms: :mod:`.prompts` (what moderators ask), :mod:`.submissions` (what members share,
checked and copied into the media store; withdrawal), :mod:`.moderation` (the queue and its
one-winner decisions), :mod:`.messages` (the words of every post and DM), :mod:`.public`
(``/proof.json`` and the CSV, consent-filtered) and :mod:`.data` (privacy and export).
Front ends use only what this module exports.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.features import Feature, FeatureContext, Job, Subscription
from bot.services.rituals import OccurrencePosted
from bot.services.ugc import data
from bot.services.ugc.messages import (
    CONSENT_WORDS,
    decision_of_button,
    prompt_of_button,
    review_subject,
    showcase_subject,
)
from bot.services.ugc.moderation import (
    REASON_LENGTH,
    REJECT_REASONS,
    Decision,
    DecisionResult,
    Latency,
    QueueItem,
    QueuePage,
    UgcFeatured,
    check_reason,
    decide,
    moderation_latency,
    pending_count,
    queue,
)
from bot.services.ugc.prompts import (
    BRIEF_LENGTH,
    TEMPLATE_LENGTH,
    PromptSpec,
    PromptView,
    close_prompt,
    create_prompt,
    find_prompt,
    list_prompts,
    open_in_ritual_thread,
    prompt_titles,
)
from bot.services.ugc.public import (
    CSV_COLUMNS,
    DEFAULT_PAGE,
    MAX_PAGE,
    PublicItem,
    PublicPage,
    csv_rows,
    decode_cursor,
    public_page,
)
from bot.services.ugc.submissions import (
    LINKS_LENGTH,
    MAX_LINKS,
    STORY_LENGTH,
    TITLE_LENGTH,
    Draft,
    IncomingFile,
    MinePage,
    SubmissionView,
    UgcRules,
    check_consent,
    check_links,
    find_mine,
    my_page,
    my_submissions,
    submit,
    withdraw,
)

__all__ = [
    "BRIEF_LENGTH",
    "CONSENT_WORDS",
    "CSV_COLUMNS",
    "DEFAULT_PAGE",
    "FEATURE",
    "LINKS_LENGTH",
    "MAX_LINKS",
    "MAX_PAGE",
    "REASON_LENGTH",
    "REJECT_REASONS",
    "STORY_LENGTH",
    "TEMPLATE_LENGTH",
    "TITLE_LENGTH",
    "Decision",
    "DecisionResult",
    "Draft",
    "IncomingFile",
    "Latency",
    "MinePage",
    "PromptSpec",
    "PromptView",
    "PublicItem",
    "PublicPage",
    "QueueItem",
    "QueuePage",
    "SubmissionView",
    "UgcFeatured",
    "UgcRules",
    "check_consent",
    "check_links",
    "check_reason",
    "close_prompt",
    "create_prompt",
    "csv_rows",
    "decide",
    "decision_of_button",
    "decode_cursor",
    "find_mine",
    "find_prompt",
    "list_prompts",
    "moderation_latency",
    "my_page",
    "my_submissions",
    "open_in_ritual_thread",
    "pending_count",
    "prompt_of_button",
    "prompt_titles",
    "public_page",
    "queue",
    "review_subject",
    "showcase_subject",
    "submit",
    "withdraw",
]

TRASH_SECONDS = 30.0


async def _empty_trash(context: FeatureContext) -> int:
    async with context.sessions() as session, session.begin():
        return await data.empty_trash(session, context.media)


async def _open_prompts(
    context: FeatureContext, session: AsyncSession, event: OccurrencePosted
) -> None:
    await open_in_ritual_thread(
        session, context.clock, ritual_id=event.ritual_id, occurrence_uid=event.occurrence_uid
    )


FEATURE = Feature(
    name="ugc",
    summary="Member submissions: prompts, a review queue, consent, the showcase and proof data.",
    jobs=(Job("ugc-media-trash", TRASH_SECONDS, _empty_trash),),
    subscriptions=(Subscription("ugc.open-prompts", OccurrencePosted, _open_prompts),),
    exporter=data.export_member,
    eraser=data.erase_member,
    merger=data.merge_members,
    export_tables=data.EXPORT_TABLES,
    member_tables=data.MEMBER_TABLES,
    anonymous_tables=data.ANONYMOUS_TABLES,
)
