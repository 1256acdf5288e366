"""Rituals: weekly community moments that post on time, exactly once, with reminders,
check-ins, recaps and attendance.

The package is split by what it does: :mod:`.specs` (what a moderator gives, and its
validation), :mod:`.views` (reading rituals), :mod:`.admin` (running them),
:mod:`.checkins`, :mod:`.scheduler` (firing, reminders, recaps), :mod:`.messages` (the words
of posts, reminders and recaps) and :mod:`.attendance`. Front ends use only what this module
exports.
"""

from __future__ import annotations

from bot.features import Feature, FeatureContext, Job
from bot.services.rituals import data
from bot.services.rituals.admin import (
    add_host,
    create_ritual,
    delete_ritual,
    edit_ritual,
    run_now,
    set_paused,
    set_reminder,
)
from bot.services.rituals.attendance import Attendance, attendance, local_week_start
from bot.services.rituals.checkins import (
    CheckinResult,
    checkin,
    checkin_by_reply,
    checkin_current,
    occurrence_for_post,
)
from bot.services.rituals.messages import (
    CHECKIN_PREFIX,
    checkin_button_id,
    describe_leads,
    occurrence_of_button,
    occurrence_subject,
)
from bot.services.rituals.scheduler import (
    LOOKBACK,
    ON_TIME,
    REMINDER_SLACK,
    TICK_SECONDS,
    OccurrencePosted,
    TickReport,
    tick,
)
from bot.services.rituals.specs import (
    KINDS,
    TEMPLATES,
    RitualChanges,
    RitualSpec,
    Template,
    parse_minutes,
    spec_from_template,
)
from bot.services.rituals.views import (
    FireTime,
    RitualView,
    list_rituals,
    preview,
    ritual_names,
    ritual_spec,
)

__all__ = [
    "CHECKIN_PREFIX",
    "FEATURE",
    "KINDS",
    "LOOKBACK",
    "ON_TIME",
    "REMINDER_SLACK",
    "TEMPLATES",
    "TICK_SECONDS",
    "Attendance",
    "CheckinResult",
    "FireTime",
    "OccurrencePosted",
    "RitualChanges",
    "RitualSpec",
    "RitualView",
    "Template",
    "TickReport",
    "add_host",
    "attendance",
    "checkin",
    "checkin_button_id",
    "checkin_by_reply",
    "checkin_current",
    "create_ritual",
    "delete_ritual",
    "describe_leads",
    "edit_ritual",
    "list_rituals",
    "local_week_start",
    "occurrence_for_post",
    "occurrence_of_button",
    "occurrence_subject",
    "parse_minutes",
    "preview",
    "ritual_names",
    "ritual_spec",
    "run_now",
    "set_paused",
    "set_reminder",
    "spec_from_template",
    "tick",
]


async def _tick_job(context: FeatureContext) -> TickReport:
    return await tick(context.sessions, context.clock, context.commands)


FEATURE = Feature(
    name="rituals",
    summary="Weekly rituals: scheduled posts, reminders, check-ins, recaps, attendance.",
    jobs=(Job("rituals", TICK_SECONDS, _tick_job),),
    exporter=data.export_member,
    eraser=data.erase_member,
    merger=data.merge_members,
    export_tables=data.EXPORT_TABLES,
    member_tables=data.MEMBER_TABLES,
)
