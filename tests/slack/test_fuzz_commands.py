"""Every Slack verb, form and button, fuzzed through the real bolt app (tests/fuzz/).

Two runs: a fixed seed (the same cases every time) and a rotating one, printed on failure
and replayed with FLYWHEEL_FUZZ_SEED=<seed>. FLYWHEEL_FUZZ=long runs twenty times more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack.sender import SlackSender
from tests.fuzz import values
from tests.fuzz.cases import report, seeded_runs, watching
from tests.fuzz.slack_harness import Harness
from tests.payments_setup import FUZZ_PAYMENTS
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR

BYSTANDER = "U0BYSTAND"  # in the workspace; only ever typed, never meant
SHOWCASE = "C0SHOWCASE"


@pytest.fixture
def extra_config() -> tuple[str, dict[str, str]]:
    """Offers and the links' secret key, so /buy, /offer and /billing answer for real."""
    return FUZZ_PAYMENTS


@pytest.fixture
async def harness(served, sandbox, engine) -> AsyncIterator[Harness]:
    sandbox.add_user(BYSTANDER, "bystander", real_name="By Stander")
    sandbox.add_channel(SHOWCASE, "showcase")
    served.runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))
    # Each member says hello once, so their first contact is not mistaken for a write.
    for user in (MEMBER, MODERATOR):
        await served.sender.send_slash_command(
            "/flywheel", "help", user_id=user, channel_id=CHANNEL
        )
    with watching() as watch:
        h = Harness(
            sandbox=sandbox,
            sender=served.sender,
            front=served.platform.front,
            runtime=served.runtime,
            engine=engine,
            watch=watch,
            members=[MEMBER, MODERATOR],
            channel_id=CHANNEL,
            bystanders={BYSTANDER},
            conversations=[CHANNEL, SHOWCASE, "C0NOSUCH", "D0DIRECT"],
        )
        yield h
    report(h.cases, h.outcomes, {v.name for v in h.front.commands.verbs} - h.tried)


async def _run(harness: Harness, case: values.Case) -> None:
    await harness.run(case)


(
    test_every_verb_survives_adversarial_input_fixed_seed,
    test_every_verb_survives_adversarial_input_rotating_seed,
) = seeded_runs(_run)
