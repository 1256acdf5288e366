"""Every Discord reply fits Discord's limits: long lists page, long echoed input is cut.

The sandbox refuses what Discord refuses (50035 Invalid Form Body), so a reply that does
not fit shows up here as no answer at all, the way a member would see it.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from bot.models import Ritual
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from tests.discord.conftest import (
    ALICE_ID,
    GENERAL_ID,
    GUILD_ID,
    MODERATOR_ID,
    answer_of,
)

pytestmark = pytest.mark.e2e

RITUALS = 60
LONG_ZONE = "America/Argentina/ComodRivadavia"


def long_name(index: int) -> str:
    """Return an 80-character ritual name full of underscores, which Discord markdown escapes."""
    return f"Sync_{index:02d}_" + "a_" * 40


async def seed_rituals(runtime: Runtime, count: int) -> list[str]:
    """Create ``count`` rituals with the longest names a ritual may have; return the names."""
    names = [long_name(index)[:80] for index in range(count)]
    async with runtime.sessions() as session, session.begin():
        moderator = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=Caller("discord", str(GUILD_ID), str(MODERATOR_ID), "mod", Role.MODERATOR),
        )
        for index, name in enumerate(names):
            spec = rituals.RitualSpec(
                name=name,
                schedule=f"weekly fri {index % 24:02d}:{index % 60:02d}",
                timezone=LONG_ZONE,
                prompt="Hello",
                channel_id=str(GENERAL_ID),
            )
            await rituals.create_ritual(session, runtime.clock, moderator, spec)
    return names


def listed(content: str) -> list[str]:
    """Return the (unescaped) ritual names a list page shows."""
    return [match.replace("\\_", "_") for match in re.findall(r"\*\*(.+?)\*\*:", content)]


async def run(sandbox: DiscordSandbox, name: str, options: list[dict[str, object]]) -> dict:
    interaction = await sandbox.send_slash_command(
        name, guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID, options=options
    )
    return await answer_of(sandbox, interaction)


async def test_a_list_of_sixty_long_rituals_fits_and_pages_through_all_of_them(
    bot, runtime, sandbox
):
    names = await seed_rituals(runtime, RITUALS)

    first = await run(sandbox, "ritual", [{"type": 1, "name": "list", "options": []}])

    assert len(first["content"]) <= 2000
    found = re.search(r"Page 1 of (\d+)", first["content"])
    assert found, first["content"]
    pages = int(found.group(1))
    shown = listed(first["content"])
    for page in range(2, pages + 1):
        answer = await run(
            sandbox,
            "ritual",
            [{"type": 1, "name": "list", "options": [{"type": 4, "name": "page", "value": page}]}],
        )
        assert len(answer["content"]) <= 2000
        assert f"Page {page} of {pages}" in answer["content"]
        shown += listed(answer["content"])
    # Every ritual is on exactly one page, none cut.
    assert sorted(shown) == sorted(names)


async def test_autocomplete_offers_names_longer_than_discord_allows_cut_to_fit(
    bot, runtime, sandbox, backend
):
    if backend != "sqlite":
        pytest.skip("PostgreSQL enforces the 80-character name column; SQLite can hold more")
    (name,) = await seed_rituals(runtime, 1)
    long = name + " and a much longer tail that an older version let through" * 2
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Ritual).values(name=long))
    await seed_rituals_more(runtime, "Sync_zz")

    interaction = await sandbox.send_autocomplete(
        "ritual",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=ALICE_ID,
        options=[
            {
                "type": 1,
                "name": "pause",
                "options": [{"type": 3, "name": "name", "value": "sync", "focused": True}],
            }
        ],
    )
    answer = await sandbox.wait_for_call(lambda call: call.path == interaction.callback_path)

    assert answer.status < 300, answer.json
    choices = answer.json["data"]["choices"]
    assert 0 < len(choices) <= 25
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)


async def seed_rituals_more(runtime: Runtime, prefix: str) -> None:
    """Add 30 more rituals, so autocomplete has more than Discord's 25 choices to offer."""
    async with runtime.sessions() as session, session.begin():
        moderator = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=Caller("discord", str(GUILD_ID), str(MODERATOR_ID), "mod", Role.MODERATOR),
        )
        for index in range(30):
            spec = rituals.RitualSpec(
                name=f"{prefix} extra {index:02d}",
                schedule="weekly mon 10:00",
                timezone="UTC",
                prompt="Hello",
                channel_id=str(GENERAL_ID),
            )
            await rituals.create_ritual(session, runtime.clock, moderator, spec)


async def test_a_long_option_value_echoed_in_an_error_is_cut_with_an_ellipsis(
    bot, runtime, sandbox
):
    typed = "no such ritual " * 300  # 4,500 characters: Discord lets an option have 6,000

    answer = await run(
        sandbox,
        "ritual",
        [
            {
                "type": 1,
                "name": "preview",
                "options": [{"type": 3, "name": "name", "value": typed}],
            }
        ],
    )

    assert answer["flags"] & 64  # only the member sees it
    assert answer["content"].startswith("There is no ritual called 'no such ritual no such")
    assert len(answer["content"]) <= 2000
    assert "…" in answer["content"] and typed not in answer["content"]  # quoted, cut
    assert "Something went wrong" not in answer["content"]
