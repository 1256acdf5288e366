"""Migrations keep what is there: rituals made before due times keep posting after 0003, and
ledger rows from before recognition get their score rows once (0012)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import FakeClock
from bot.db import Base, create_engine
from bot.db.migrate import alembic_config, upgrade
from bot.events import ActivityRecorded
from bot.models import (
    BoardScoreCount,
    EventDelivery,
    EventRecord,
    MemberScore,
    OutboxMessage,
    Ritual,
    RitualOccurrence,
)
from bot.services import privacy, rituals
from bot.services.engagement import ActivityKind, record_activity
from bot.services.identities import resolve_member
from bot.services.recognition import (
    ChatRules,
    MessageSeen,
    ingest_batch,
    ledger_scores,
    text_digest,
)
from bot.services.recognition.scores import on_activity_recorded
from tests.conftest import make_spaces

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


def _before(revision: str) -> str:
    """Return the revision ``revision`` comes after."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    down = script.get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


def test_0012_gives_ledger_rows_from_before_recognition_their_score_rows_once(database_url):
    """A check-in from before recognition is counted; one the subscriber saw or will see is not
    counted twice; upgrading again sets the same rows (both databases)."""

    clock = FakeClock(datetime(2026, 3, 4, 15, 0, tzinfo=UTC))

    async def seed() -> tuple[int, int, ActivityRecorded]:
        engine = create_engine(database_url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            discord, _ = await make_spaces(session, clock)
            member = await resolve_member(session, clock, space=discord, user_id="42")
            recorded = {}
            for key, kind, points in (
                ("before", ActivityKind.RITUAL_CHECKIN, 10),  # its event finished before 0007
                ("seen", ActivityKind.UGC_APPROVED, 25),  # the subscriber handled it
                ("waiting", ActivityKind.RITUAL_CHECKIN, 10),  # still waiting for it
            ):
                recorded[key] = await record_activity(
                    session,
                    clock,
                    member_id=member.member_id,
                    kind=kind,
                    points=points,
                    source_key=f"mig:{key}",
                )
            events = {
                row.payload["activity_id"]: row
                for row in await session.scalars(
                    select(EventRecord).where(EventRecord.name == "activity.recorded")
                )
            }
            seen = events[recorded["seen"].activity_id]
            await on_activity_recorded(
                session,
                clock,
                ActivityRecorded(
                    community_id=discord.community_id,
                    member_id=member.member_id,
                    activity_id=seen.payload["activity_id"],
                    kind="ugc_approved",
                    points=25,
                ),
            )
            session.add(
                EventDelivery(
                    event_id=seen.id,
                    subscriber="recognition.period-scores",
                    status="done",
                    attempts=1,
                )
            )
            for key in ("before", "seen"):
                events[recorded[key].activity_id].done_at = clock.now()
            waiting = ActivityRecorded(
                community_id=discord.community_id,
                member_id=member.member_id,
                activity_id=recorded["waiting"].activity_id,
                kind="ritual_checkin",
                points=10,
            )
        # Chat points write their own score rows.
        words = "a message long enough"
        message = MessageSeen(
            platform="discord",
            space_id="111",
            user_id="42",
            channel_id="C1",
            message_id="1",
            text_length=len(words),
            text_digest=text_digest(words),
            at=clock.now(),
        )
        async with sessions() as session, session.begin():
            await ingest_batch(session, clock, ChatRules(), [message])
        await engine.dispose()
        return discord.community_id, member.member_id, waiting

    async def scores(member_id: int) -> dict[tuple[str, str], int]:
        engine = create_engine(database_url)
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(MemberScore.board, MemberScore.period, MemberScore.score).where(
                    MemberScore.member_id == member_id, MemberScore.period != "week"
                )
            )
            found = {(row.board, row.period): row.score for row in rows}
            counts = await connection.scalar(
                select(BoardScoreCount.members).where(
                    BoardScoreCount.board == "points",
                    BoardScoreCount.period == "all",
                    BoardScoreCount.score == found.get(("points", "all"), -1),
                )
            )
            found["counted members"] = counts or 0
        await engine.dispose()
        return found

    async def deliver_and_compare(community_id: int, member_id: int, event: ActivityRecorded):
        engine = create_engine(database_url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            await on_activity_recorded(session, clock, event)
        async with sessions() as session:
            expected = await ledger_scores(session, community_id, [member_id])
            stored = {
                (row.member_id, row.board, row.period, row.period_start): row.score
                for row in await session.execute(
                    select(
                        MemberScore.member_id,
                        MemberScore.board,
                        MemberScore.period,
                        MemberScore.period_start,
                        MemberScore.score,
                    )
                )
            }
        await engine.dispose()
        return expected, stored

    async def empty() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
        await engine.dispose()

    previous = _before("0012_score_backfill")
    try:
        community_id, member_id, waiting = asyncio.run(seed())
        # Before the revision the board knows the chat and the handled UGC only.
        assert asyncio.run(scores(member_id))[("points", "all")] == 25 + 5
        command.downgrade(alembic_config(database_url), previous)
        upgrade(database_url)
        after = asyncio.run(scores(member_id))
        assert after[("points", "all")] == 10 + 25 + 5  # the waiting check-in is not in yet
        assert after[("rituals", "all")] == 1
        assert after[("points", "month")] == 40
        assert after["counted members"] == 1
        command.downgrade(alembic_config(database_url), previous)
        upgrade(database_url)
        assert asyncio.run(scores(member_id)) == after  # upgrading again sets the same rows
        expected, stored = asyncio.run(deliver_and_compare(community_id, member_id, waiting))
        assert stored == expected  # the subscriber adds the waiting one: equal to the ledger
        assert expected[member_id, "points", "all", datetime(2000, 1, 1, tzinfo=UTC)] == 50
    finally:
        asyncio.run(empty())
        upgrade(database_url)


def test_0012_gives_no_score_rows_to_a_member_who_was_erased(database_url):
    """Erasure took the member off every board; their anonymous ledger rows stay, and the
    backfill must not put them back (both databases)."""
    clock = FakeClock(datetime(2026, 3, 4, 15, 0, tzinfo=UTC))

    async def seed() -> tuple[int, int]:
        engine = create_engine(database_url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            discord, _ = await make_spaces(session, clock)
            ids = []
            for user in ("kept", "erased"):
                member = await resolve_member(session, clock, space=discord, user_id=user)
                await record_activity(
                    session,
                    clock,
                    member_id=member.member_id,
                    kind=ActivityKind.RITUAL_CHECKIN,
                    points=10,
                    source_key=f"mig:{user}",
                )
                ids.append(member.member_id)
            # Both events finished before the subscriber existed (before 0007).
            for record in await session.scalars(select(EventRecord)):
                record.done_at = clock.now()
            await privacy.delete_member(session, clock, member_id=ids[1])
        await engine.dispose()
        return ids[0], ids[1]

    async def boards() -> tuple[set[int], int]:
        engine = create_engine(database_url)
        async with engine.connect() as connection:
            members = set(await connection.scalars(select(MemberScore.member_id)))
            counted = await connection.scalar(
                select(BoardScoreCount.members).where(
                    BoardScoreCount.board == "points", BoardScoreCount.period == "all"
                )
            )
        await engine.dispose()
        return members, int(counted or 0)

    async def empty() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
        await engine.dispose()

    previous = _before("0012_score_backfill")
    try:
        kept, _erased = asyncio.run(seed())
        command.downgrade(alembic_config(database_url), previous)
        upgrade(database_url)

        assert asyncio.run(boards()) == ({kept}, 1)
    finally:
        asyncio.run(empty())
        upgrade(database_url)
