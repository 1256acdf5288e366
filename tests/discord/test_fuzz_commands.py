"""Every Discord command, form and button, fuzzed through the real client (tests/fuzz/).

Two runs: a fixed seed (the same cases every time) and a rotating one, printed on failure
and replayed with FLYWHEEL_FUZZ_SEED=<seed>. FLYWHEEL_FUZZ=long runs twenty times more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.discord.sender import DiscordSender
from bot.services.callers import Caller, Role
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    GUILD_OWNER_ID,
    MANAGER_ROLE_ID,
    MODERATOR_ID,
    MODERATOR_ROLE_ID,
)
from tests.fuzz import values
from tests.fuzz.cases import report, seed_posted_ritual, seed_ugc, seeded_runs, watching
from tests.fuzz.discord_harness import Harness, World, commands_of
from tests.payments_setup import FUZZ_PAYMENTS

BYSTANDER_ID = 910_000_000_000_000_109  # in the guild; only ever typed, never meant
STRANGER_ID = 920_000_000_000_000_100  # a member of another server
OTHER_GUILD_ID = 920_000_000_000_000_001
OTHER_CHANNEL_ID = 920_000_000_000_000_010
SECOND_CHANNEL_ID = 910_000_000_000_000_011


@pytest.fixture
def extra_config() -> tuple[str, dict[str, str]]:
    """Offers and the links' secret key, so /buy, /offer and /billing answer for real."""
    return FUZZ_PAYMENTS


@pytest.fixture
async def harness(runtime, sandbox, start_bot, engine) -> AsyncIterator[Harness]:
    sandbox.add_member(GUILD_ID, BYSTANDER_ID, "bystander")
    sandbox.add_channel(GUILD_ID, SECOND_CHANNEL_ID, "showcase")
    sandbox.add_guild(OTHER_GUILD_ID, "Elsewhere", owner_id=STRANGER_ID)
    sandbox.add_channel(OTHER_GUILD_ID, OTHER_CHANNEL_ID, "elsewhere")
    sandbox.add_member(OTHER_GUILD_ID, STRANGER_ID, "stranger")
    sandbox.interaction_response_deadline = 3.0
    bot = await start_bot()
    runtime.dispatcher.register(DiscordSender("sandbox-token", api_base=sandbox.api_base))
    moderator = Caller("discord", str(GUILD_ID), str(MODERATOR_ID), "moderator", Role.MODERATOR)
    await seed_posted_ritual(runtime, moderator, str(GENERAL_ID))
    member = Caller("discord", str(GUILD_ID), str(ALICE_ID), "alice", Role.MEMBER)
    await seed_ugc(runtime, moderator, member, str(SECOND_CHANNEL_ID))
    commands = commands_of(sandbox.state.commands[GUILD_ID])
    assert len(commands) >= 10, f"only {len(commands)} commands found in the synced tree"
    world = World(
        users=[ALICE_ID, BOB_ID, MODERATOR_ID, BYSTANDER_ID, STRANGER_ID, bot.user.id],
        channels=[GENERAL_ID, SECOND_CHANNEL_ID, OTHER_CHANNEL_ID],
        roles=[MODERATOR_ROLE_ID, MANAGER_ROLE_ID, GUILD_ID],
        bystanders={str(BYSTANDER_ID)},
    )
    with watching() as watch:
        h = Harness(
            sandbox=sandbox,
            runtime=runtime,
            engine=engine,
            watch=watch,
            commands=commands,
            world=world,
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
            members=[ALICE_ID, MODERATOR_ID, GUILD_OWNER_ID],
        )
        yield h
    report(h.cases, h.outcomes, {c.path for c in h.commands} - h.tried)


async def _run(harness: Harness, case: values.Case) -> None:
    await harness.run(case)


(
    test_every_command_survives_adversarial_input_fixed_seed,
    test_every_command_survives_adversarial_input_rotating_seed,
) = seeded_runs(_run)
