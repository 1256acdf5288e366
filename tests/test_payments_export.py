"""`flywheel export` carries the community's books: orders and subscriptions with their Stripe
ids (what an owner needs to find each one in Stripe's dashboard)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from bot.clock import FakeClock
from bot.db import create_engine, create_sessionmaker
from tests.conftest import make_spaces
from tests.services.payments_seed import member, order, subscription
from tests.test_cli import flywheel


def test_the_export_includes_orders_and_subscriptions_with_their_stripe_ids(tmp_path):
    assert flywheel("migrate", cwd=tmp_path).returncode == 0

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'flywheel.db'}")
        clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        async with create_sessionmaker(engine)() as session, session.begin():
            discord, _ = await make_spaces(session, clock)
            ada = await member(session, clock, discord.community_id, "ada")
            await subscription(
                session, clock, discord.community_id, ada.member_id, subscription_id="sub_ada"
            )
            await order(
                session,
                clock,
                discord.community_id,
                ada.member_id,
                "club",
                subscription_id="sub_ada",
                customer_id="cus_ada",
                payment_intent_id="pi_ada",
                charge_id="ch_ada",
            )
        await engine.dispose()

    asyncio.run(seed())
    (tmp_path / "bot.toml").write_text(
        '[community]\nname = "Acme Makers"\nslug = "acme"\n[logging]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    result = flywheel("export", "--config", "bot.toml", "--out", "out", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    orders = json.loads((tmp_path / "out" / "orders.json").read_text())
    subscriptions = json.loads((tmp_path / "out" / "subscriptions.json").read_text())
    assert [
        (o["session_id"], o["customer_id"], o["payment_intent_id"], o["charge_id"]) for o in orders
    ] == [(orders[0]["session_id"], "cus_ada", "pi_ada", "ch_ada")]
    assert orders[0]["session_id"].startswith("cs_") and orders[0]["subscription_id"] == "sub_ada"
    assert [(s["subscription_id"], s["status"], s["offer_slug"]) for s in subscriptions] == [
        ("sub_ada", "active", "club")
    ]
    assert subscriptions[0]["customer_id"].startswith("cus_")
