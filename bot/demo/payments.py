"""The demo's shop: a Stripe sandbox with one monthly offer that gives a paid role.

The offer ``insiders`` sells a monthly price; paying grants the access key ``paid``: the
"Insider" role in the Discord sandbox and the private channel #insiders in the Slack one.
"""

from __future__ import annotations

import secrets

from bot.clock import Clock
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.slack import SlackSandbox
from bot.sandbox.stripe import StripeSandbox

OFFER = "insiders"
PAID_ROLE = 900_000_000_000_000_200
SLACK_PAID_CHANNEL = "G0INSIDERS"
# Test-mode secrets the demo's bot and sandbox share, fresh for each run.
STRIPE_KEY = f"sk_test_{secrets.token_hex(12)}"
WEBHOOK_SECRET = f"whsec_{secrets.token_hex(16)}"
SIGNING_KEY = secrets.token_hex(32)


def start_stripe(clock: Clock) -> StripeSandbox:
    """Return the Stripe sandbox on the demo's clock (its signatures carry that time)."""
    return StripeSandbox(api_key=STRIPE_KEY, clock=lambda: clock.now().timestamp())


def seed_shop(
    stripe: StripeSandbox, discord: DiscordSandbox, slack: SlackSandbox, guild: int
) -> str:
    """Add the product, its monthly price, the paid role and channel; return the price id."""
    product = stripe.add_product("Acme Insiders", description="Monthly deep dives with the team")
    price = stripe.add_price(product["id"], 900, "usd", recurring={"interval": "month"})
    discord.add_role(guild, PAID_ROLE, "Insider")
    slack.add_channel(SLACK_PAID_CHANNEL, "insiders", is_private=True)
    return str(price["id"])


def shop_config(price: str) -> str:
    """Return the bot.toml lines of the shop (the [stripe] section and the offer)."""
    return (
        f"[offers.{OFFER}]\n"
        'name = "Acme Insiders"\n'
        'description = "Monthly deep dives and office hours with the team."\n'
        f'price = "{price}"\n'
        'mode = "subscription"\n'
        'access = "paid"\n'
    )


def shop_environ() -> dict[str, str]:
    """Return the secrets the demo's bot uses to reach the Stripe sandbox."""
    return {
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FLYWHEEL_SECRET_KEY": SIGNING_KEY,
    }
