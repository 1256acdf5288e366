"""Issue 9's input defects at the service level, on both databases: names in any script,
time zones that are folders or too long, digits that are not ASCII, invisible and
misleading input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.errors import Invalid, NotFound
from bot.models import Ritual
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.schedules import parse_schedule
from tests.conftest import make_spaces

SPEC = rituals.RitualSpec(
    name="Feedback Friday",
    schedule="weekly fri 10:00",
    timezone="UTC",
    prompt="Share your work!",
    channel_id="500",
    reminder_minutes=(),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
async def mod(session, clock):
    discord, _ = await make_spaces(session, clock)
    caller = Caller("discord", "111", "mod", "Mod", Role.MODERATOR)
    return await resolve_actor(session, clock, community_id=discord.community_id, caller=caller)


async def _count(session) -> int:
    return int(await session.scalar(select(func.count()).select_from(Ritual)) or 0)


async def _refused(session, clock, mod, **changes) -> Invalid:
    with pytest.raises(Invalid) as refused:
        await rituals.create_ritual(session, clock, mod, replace(SPEC, **changes))
    assert await _count(session) == 0
    return refused.value


# -- defect 2: names compare case-insensitively in every script, on both databases ---------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Ödön", "ödön"),
        ("ΣΟΦΙΑ", "σοφια"),
        ("ΟΔΟΣ", "οδος"),  # a final sigma: lower() gives ς on one side and σ on the other
        ("Straße", "STRASSE"),
        ("Ｗins", "wins"),  # fullwidth letters are the same name
        ("Demo  Day", "demo day"),  # runs of spaces are one space
    ],
)
async def test_a_name_in_any_script_is_taken_whatever_its_capitals_and_found_by_either(
    session, clock, mod, first, second
):
    await rituals.create_ritual(session, clock, mod, replace(SPEC, name=first))

    with pytest.raises(Invalid) as taken:
        await rituals.create_ritual(session, clock, mod, replace(SPEC, name=second))

    assert (taken.value.field, taken.value.code) == ("name", "name.taken")
    assert await _count(session) == 1
    paused = await rituals.set_paused(session, clock, mod, second, True)
    assert paused.name == first.strip() and paused.paused
    assert await rituals.ritual_names(session, mod.community_id, second[:2]) == [first]


async def test_a_typed_name_with_control_characters_is_looked_up_without_them(session, clock, mod):
    """A NUL in a typed name reached PostgreSQL, which refuses it in text (a 500-like error)."""
    await rituals.create_ritual(session, clock, mod, replace(SPEC, name="Office Hours"))

    paused = await rituals.set_paused(session, clock, mod, "Office \x00Hours\x07", True)

    assert paused.name == "Office Hours" and paused.paused
    with pytest.raises(NotFound):
        await rituals.set_paused(session, clock, mod, "office\x00hours", True)


async def test_a_rename_to_another_rituals_name_in_another_script_case_is_refused(
    session, clock, mod
):
    await rituals.create_ritual(session, clock, mod, replace(SPEC, name="Ödön"))
    await rituals.create_ritual(session, clock, mod, replace(SPEC, name="Wins"))

    with pytest.raises(Invalid) as taken:
        await rituals.edit_ritual(session, clock, mod, "wins", rituals.RitualChanges(name="ÖDÖN"))

    assert taken.value.code == "name.taken"
    # Renaming a ritual to its own name in other capitals is fine.
    renamed = await rituals.edit_ritual(
        session, clock, mod, "ödön", rituals.RitualChanges(name="ÖDÖN")
    )
    assert renamed.name == "ÖDÖN"


# -- defect 3: time zones that are folders, too long, or not names -------------------------


@pytest.mark.parametrize(
    "timezone",
    ["Europe", "America", "Z" * 300, "../etc", "Europe/Berlin\x00", "zone.tab", "/etc/passwd"],
    ids=["folder", "another-folder", "300-chars", "dot-dot", "nul", "data-file", "absolute"],
)
async def test_a_time_zone_that_is_a_folder_or_too_long_is_a_field_error(
    session, clock, mod, timezone
):
    refused = await _refused(session, clock, mod, timezone=timezone)

    assert (refused.field, refused.code) == ("timezone", "timezone.unknown")
    assert "Europe/Berlin" in refused.message  # says what to send instead
    assert len(refused.message) < 200  # never echoes all of a long input


# -- defect 6: numbers that are not plain ASCII digits -----------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        "every ² weeks fri 10:00",
        "every ٣ weeks fri 10:00",
        "every １０ weeks fri 10:00",
        "weekly fri １０:００",
        "weekly fri 1٠:00",
        "every 99999999999999999999 weeks fri 10:00",
    ],
    ids=["superscript", "arabic-indic", "fullwidth", "fullwidth-time", "mixed-time", "huge"],
)
async def test_a_schedule_with_digits_that_are_not_ascii_is_a_field_error(
    session, clock, mod, schedule
):
    refused = await _refused(session, clock, mod, schedule=schedule)

    assert refused.field == "schedule"


@pytest.mark.parametrize(
    "text", ["9" * 5000, "٦٠", "１０m", "²h", "99999999999999999999d"], ids=lambda t: t[:8]
)
def test_reminder_lead_times_that_are_not_plain_digits_are_field_errors(text):
    with pytest.raises(Invalid) as refused:
        rituals.parse_minutes(text)

    assert refused.value.field == "reminder_minutes"
    assert len(refused.value.message) < 200


def test_plain_lead_times_still_parse():
    assert rituals.parse_minutes("24h, 1h") == (1440, 60)
    assert rituals.parse_minutes("1440 60m 1d") == (1440, 60)


# -- defect 7: invisible and misleading input --------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("\u200b\u200d\ufeff\u2060", "name.invisible"),
        ("  \u200b \u00a0\u3000", "name.invisible"),
        ("\u2800\u3164", "name.invisible"),  # braille blank and hangul filler look empty
        ("\u202eyadiloh", "name.bidi"),
        ("Demo\u2066Day\u2069", "name.bidi"),
        ("Demo\x07Day", "name.control"),
        ("Demo\nDay", "name.control"),
        ("Demo\x85Day", "name.control"),
        ("Demo\ud800Day", "name.control"),  # a lone surrogate, as a JSON body can carry
    ],
    ids=[
        "zero-width",
        "spaces",
        "blank-letters",
        "rlo",
        "isolates",
        "bel",
        "newline",
        "c1",
        "lone-surrogate",
    ],
)
async def test_an_invisible_or_misleading_name_is_refused_and_says_why(
    session, clock, mod, name, code
):
    refused = await _refused(session, clock, mod, name=name)

    assert (refused.field, refused.code) == ("name", code)


async def test_zero_width_characters_at_the_ends_are_trimmed_and_inside_do_not_make_a_new_name(
    session, clock, mod
):
    created = await rituals.create_ritual(
        session, clock, mod, replace(SPEC, name="\u200b Demo Day\ufeff ")
    )
    assert created.name == "Demo Day"

    with pytest.raises(Invalid) as taken:
        await rituals.create_ritual(session, clock, mod, replace(SPEC, name="Demo\u200b Day"))

    assert taken.value.code == "name.taken"
    # Emoji sequences keep their joiners.
    emoji = await rituals.create_ritual(
        session, clock, mod, replace(SPEC, name="👩\u200d💻 Coders")
    )
    assert emoji.name == "👩\u200d💻 Coders"


async def test_an_invisible_rename_is_refused_and_changes_nothing(session, clock, mod):
    await rituals.create_ritual(session, clock, mod, SPEC)

    with pytest.raises(Invalid) as refused:
        await rituals.edit_ritual(
            session, clock, mod, SPEC.name, rituals.RitualChanges(name="\u200b\u200b")
        )

    assert refused.value.code == "name.invisible"
    assert await rituals.ritual_names(session, mod.community_id) == [SPEC.name]


@pytest.mark.parametrize(
    "prompt", ["\u200b\u200b", "Hello \u202eworld", "Hello\x00"], ids=["invisible", "rlo", "nul"]
)
async def test_an_invisible_or_misleading_prompt_is_refused(session, clock, mod, prompt):
    refused = await _refused(session, clock, mod, prompt=prompt)

    assert refused.field == "prompt"


async def test_a_prompt_keeps_its_line_breaks(session, clock, mod):
    await rituals.create_ritual(session, clock, mod, replace(SPEC, prompt="Line one\nLine two"))

    spec = await rituals.ritual_spec(session, mod.community_id, SPEC.name, platform="discord")
    assert spec.prompt == "Line one\nLine two"


async def test_a_one_off_schedule_in_the_past_is_refused_and_says_when_now_is(session, clock, mod):
    refused = await _refused(session, clock, mod, schedule="once 2026-03-01 10:00")

    assert (refused.field, refused.code) == ("schedule", "schedule.past")
    assert "2026-03-02" in refused.message  # now, in the ritual's zone
    created = await rituals.create_ritual(
        session, clock, mod, replace(SPEC, schedule="once 2026-03-02 10:00")
    )
    assert created.next_fire == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def test_an_edit_to_a_past_one_off_is_refused_but_other_edits_of_a_spent_one_are_not(
    session, clock, mod
):
    await rituals.create_ritual(
        session, clock, mod, replace(SPEC, schedule="once 2026-03-02 10:00")
    )
    with pytest.raises(Invalid) as refused:
        await rituals.edit_ritual(
            session, clock, mod, SPEC.name, rituals.RitualChanges(schedule="once 2026-02-01 10:00")
        )
    assert refused.value.code == "schedule.past"

    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))  # the one-off is spent now
    edited = await rituals.edit_ritual(
        session, clock, mod, SPEC.name, rituals.RitualChanges(prompt="See you next time")
    )
    assert edited.next_fire is None


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("monthly first mon,wed 18:00", "one weekday"),
        ("monthly last mon wed 18:00", "one weekday"),
        ("weekly mon-wed 10:00", "mon-wed"),
        ("weekly monwed 10:00", "monwed"),
        ("weekly mon&wed 10:00", "mon&wed"),
        ("weekly mon;wed 10:00", "mon;wed"),
        ("weekly thursdayy 10:00", "thursdayy"),
    ],
)
def test_a_schedule_that_would_drop_a_weekday_is_refused_naming_it(schedule, says):
    with pytest.raises(Invalid) as refused:
        parse_schedule(schedule)

    assert says in refused.value.message


@pytest.mark.parametrize(
    "schedule",
    [
        "weekly mon,wed 10:00",
        "weekly mon, wed 10:00",
        "weekly mon and wed 10:00",
        "weekly Monday and Wednesday 10:00",
        "weekly mondays, wednesdays 10:00",
        "every 2 weeks mon and wed 10:00",
    ],
)
def test_two_weekdays_written_in_any_usual_way_are_both_kept(schedule):
    assert parse_schedule(schedule).weekdays == (0, 2)
