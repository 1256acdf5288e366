"""Migrations keep what is there: rituals made before due times keep posting after 0003."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import FakeClock
from bot.db import create_engine
from bot.db.migrate import alembic_config, upgrade
from bot.models import OutboxMessage, Ritual, RitualOccurrence
from bot.services import rituals

SCHEDULE = (
    '{"kind": "weekly", "at": "10:00", "weekdays": [0], "every_weeks": 1, "nth": 1, "on": null}'
)


def _legacy_rows(path: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO communities (id, slug, name, timezone, created_at)"
            " VALUES (1, 'acme', 'Acme', 'UTC', '2026-02-01 00:00:00.000000')"
        )
        for ritual_id, name, paused in ((1, "Wins", 0), (2, "Resting", 1)):
            db.execute(
                "INSERT INTO rituals (id, community_id, name, kind, schedule, timezone,"
                " discord_channel_id, prompt, thread_per_occurrence, reminder_minutes,"
                " checkin_window_minutes, checkin_points, grace_minutes, paused, created_at)"
                " VALUES (?, 1, ?, 'custom', ?, 'UTC', '500', 'Hi', 0, '[]', 120, 10, 60, ?,"
                " '2026-02-01 00:00:00.000000')",
                (ritual_id, name, SCHEDULE, paused),
            )
        db.execute(
            "INSERT INTO ritual_occurrences (ritual_id, scheduled_at, status, fired_at, closes_at)"
            " VALUES (1, '2026-02-23 10:00:00.000000', 'posted', '2026-02-23 10:00:00.000000',"
            " '2026-02-23 12:00:00.000000')"
        )


def test_rituals_from_before_due_times_keep_their_history_and_keep_posting(tmp_path):
    path = str(tmp_path / "legacy.db")
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0002")
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(communities)")}
    assert {"id", "slug", "name", "timezone", "created_at"} <= columns
    _legacy_rows(path)

    upgrade(url)

    async def after() -> tuple[list[Ritual], list[RitualOccurrence], rituals.TickReport]:
        engine = create_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            rows = list((await session.scalars(select(Ritual).order_by(Ritual.id))).all())
        report = await rituals.tick(sessions, FakeClock(datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)))
        async with sessions() as session:
            held = list((await session.scalars(select(RitualOccurrence))).all())
            again = list((await session.scalars(select(Ritual).order_by(Ritual.id))).all())
        await engine.dispose()
        return rows + again, held, report

    (wins, resting, wins_after, _), held, report = asyncio.run(after())
    created = datetime(2026, 2, 1, tzinfo=UTC)
    assert (wins.active_since, wins.next_fire_at, wins.next_remind_at) == (created,) * 3
    assert (resting.active_since, resting.next_fire_at) == (created, None)  # paused: not due
    # The first tick did what the old one did: the Mondays since creation that never posted
    # are recorded as missed, 23 Feb stays posted, today's posts.
    assert len(report.posted) == 1
    statuses = sorted(((o.scheduled_at.month, o.scheduled_at.day), o.status) for o in held)
    assert statuses == [
        ((2, 2), "missed"),
        ((2, 9), "missed"),
        ((2, 16), "missed"),
        ((2, 23), "posted"),
        ((3, 2), "posted"),
    ]
    assert wins_after.next_fire_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def test_a_rituals_two_channel_columns_become_its_destination_and_it_posts_on_both(tmp_path):
    path = str(tmp_path / "channels.db")
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0003_ritual_due_times")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO communities (id, slug, name, timezone, created_at)"
            " VALUES (1, 'acme', 'Acme', 'UTC', '2026-02-01 00:00:00.000000')"
        )
        for ritual_id, discord, slack in ((1, "500", "C0WINS"), (2, None, "C0ONLY")):
            db.execute(
                "INSERT INTO rituals (id, community_id, name, kind, schedule, timezone,"
                " discord_channel_id, slack_channel_id, prompt, thread_per_occurrence,"
                " reminder_minutes, checkin_window_minutes, checkin_points, grace_minutes,"
                " paused, created_at, active_since, next_fire_at, next_remind_at)"
                " VALUES (?, 1, ?, 'custom', ?, 'UTC', ?, ?, 'Hi', 0, '[]', 120, 10, 60, 0,"
                " '2026-03-01 00:00:00.000000', '2026-03-01 00:00:00.000000',"
                " '2026-03-01 00:00:00.000000', '2026-03-01 00:00:00.000000')",
                (ritual_id, f"Ritual {ritual_id}", SCHEDULE, discord, slack),
            )
        db.execute(
            "INSERT INTO ritual_occurrences (ritual_id, scheduled_at, status, fired_at, closes_at)"
            " VALUES (1, '2026-02-23 10:00:00.000000', 'posted', '2026-02-23 10:00:00.000000',"
            " '2026-02-23 12:00:00.000000')"
        )
        db.execute(
            "INSERT INTO outbox (key, platform, action, target, payload, status, attempts,"
            " not_before, created_at) VALUES ('old:1', 'discord', 'post', 'channel:500',"
            " '{\"text\": \"queued before\"}', 'pending', 0, '2026-03-01 00:00:00.000000',"
            " '2026-03-01 00:00:00.000000')"
        )
        db.execute(
            "INSERT INTO outbox (key, community_id, platform, action, target, payload, status,"
            " attempts, not_before, created_at, sent_at, external_id) VALUES"
            " ('ritual-post:1:slack', 1, 'slack', 'post', 'channel:C0WINS', '{}', 'sent', 1,"
            " '2026-02-23 10:00:00.000000', '2026-02-23 10:00:00.000000',"
            " '2026-02-23 10:00:01.000000', '1771840800.000100')"
        )

    upgrade(url)

    with sqlite3.connect(path) as db:
        places = db.execute(
            "SELECT r.id, c.platform, c.channel_id FROM rituals r JOIN destination_channels c"
            " ON c.destination_id = r.destination_id ORDER BY r.id, c.platform"
        ).fetchall()
        uids = [row[0] for row in db.execute("SELECT uid FROM rituals ORDER BY id")]
        occurrence_uids = [row[0] for row in db.execute("SELECT uid FROM ritual_occurrences")]
        old = db.execute("SELECT status, last_error FROM outbox WHERE key = 'old:1'").fetchone()
        columns = {row[1] for row in db.execute("PRAGMA table_info(rituals)")}
    assert places == [(1, "discord", "500"), (1, "slack", "C0WINS"), (2, "slack", "C0ONLY")]
    # Rows from before keep their ids as public ids: old buttons and keys still name them.
    assert uids == ["1", "2"] and occurrence_uids == ["1"]
    assert old[0] == "dead" and "older Flywheel" in old[1]
    assert not {"discord_channel_id", "slack_channel_id"} & columns

    async def tick() -> list[tuple[str, str]]:
        engine = create_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            # The post sent before the upgrade is in the registry: a reply still checks in.
            found = await rituals.occurrence_for_post(
                session, platform="slack", message_id="1771840800.000100"
            )
            assert found == "1"
        await rituals.tick(sessions, FakeClock(datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)))
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.platform, OutboxMessage.target)
                    .where(
                        OutboxMessage.key.startswith("ritual-post:"),
                        OutboxMessage.status == "pending",
                    )
                    .order_by(OutboxMessage.target)
                )
            ).all()
        await engine.dispose()
        return [tuple(row) for row in rows]

    assert asyncio.run(tick()) == [
        ("discord", "channel:500"),
        ("slack", "channel:C0ONLY"),
        ("slack", "channel:C0WINS"),
    ]
    command.downgrade(alembic_config(url), "0003_ritual_due_times")
    with sqlite3.connect(path) as db:
        back = db.execute(
            "SELECT id, discord_channel_id, slack_channel_id FROM rituals ORDER BY id"
        ).fetchall()
    assert back == [(1, "500", "C0WINS"), (2, None, "C0ONLY")]


def test_0005_keys_every_ritual_name_and_renames_the_later_of_two_that_now_collide(database_url):
    """On the test database (SQLite or PostgreSQL): back to 0004, rows, then up again."""
    created = datetime(2026, 3, 1, tzinfo=UTC)

    async def run(statement: str, rows: list[dict[str, object]] | None = None) -> list[Any]:
        engine = create_engine(database_url)
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), rows or [{}])
            found = [tuple(row) for row in result] if result.returns_rows else []
        await engine.dispose()
        return found

    command.downgrade(alembic_config(database_url), "0004_feature_kit")
    try:
        asyncio.run(
            run(
                "INSERT INTO communities (id, slug, name, timezone, created_at)"
                " VALUES (9005, 'keys', 'Keys', 'UTC', :at)",
                [{"at": created}],
            )
        )
        asyncio.run(
            run(
                "INSERT INTO destinations (id, community_id, created_at) VALUES (:id, 9005, :at)",
                [{"id": 9005 + n, "at": created} for n in range(3)],
            )
        )
        asyncio.run(
            run(
                "INSERT INTO rituals (id, uid, community_id, name, kind, schedule, timezone,"
                " destination_id, prompt, thread_per_occurrence, reminder_minutes,"
                " checkin_window_minutes, checkin_points, grace_minutes, paused, created_at,"
                " active_since) VALUES (:id, :uid, 9005, :name, 'custom', :schedule, 'UTC', :id,"
                " 'Hi', false, '[]', 120, 10, 60, false, :at, :at)",
                [
                    {
                        "id": 9005 + n,
                        "uid": f"k{n}",
                        "name": name,
                        "schedule": SCHEDULE,
                        "at": created,
                    }
                    for n, name in enumerate(("Ödön", "ödön", "Straße  Club"))
                ],
            )
        )
        asyncio.run(
            run(
                "INSERT INTO ritual_occurrences (uid, ritual_id, scheduled_at, status, fired_at,"
                " closes_at) VALUES ('o1', 9006, :at, 'posted', :at, :at)",
                [{"at": created}],
            )
        )

        upgrade(database_url)

        keyed = asyncio.run(
            run("SELECT name, name_key FROM rituals WHERE community_id = 9005 ORDER BY id")
        )
        kept = asyncio.run(run("SELECT uid FROM ritual_occurrences WHERE ritual_id = 9006"))
        assert keyed == [
            ("Ödön", "ödön"),
            ("ödön (2)", "ödön (2)"),
            ("Straße  Club", "strasse club"),
        ]
        assert kept == [("o1",)]  # the rebuilt table kept its children
        command.downgrade(alembic_config(database_url), "0004_feature_kit")
        assert asyncio.run(run("SELECT name FROM rituals WHERE id = 9006")) == [("ödön (2)",)]
    finally:
        upgrade(database_url)
        asyncio.run(run("DELETE FROM ritual_occurrences WHERE ritual_id >= 9005"))
        asyncio.run(run("DELETE FROM rituals WHERE community_id = 9005"))
        asyncio.run(run("DELETE FROM destinations WHERE community_id = 9005"))
        asyncio.run(run("DELETE FROM communities WHERE id = 9005"))
