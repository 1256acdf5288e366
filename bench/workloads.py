"""The workloads. Each builds its own migrated SQLite database in a scratch directory.

- ``outbox_enqueue``: effects queued 500 to a transaction, with :func:`bot.outbox.enqueue_many`
  (a reminder fan-out) and one :func:`bot.outbox.enqueue` at a time, against raw
  ``sqlite3.executemany`` of the same rows.
- ``outbox_dispatch``: effects claimed, sent to a sender that does nothing and marked sent by
  the :class:`~bot.outbox.Dispatcher`, against raw ``sqlite3`` doing the least work with the
  same durability: one UPDATE to claim each batch, one committed UPDATE per sent row.
- ``slack_dm_fanout``: reminder DMs through the outbox and the real ``SlackSender`` to the
  Slack sandbox on loopback (pacing on a moved clock, so only the work is timed), against
  the same number of ``chat.postMessage`` calls made straight with slack-sdk.
- ``ritual_tick``: one scheduler pass that fires an occurrence of every ritual (claim row,
  post and reminder rows in one transaction each); no baseline, the rate is the figure.
- ``ritual_tick_due``: a scheduler pass over 100,000 rituals (20,000 with ``--quick``) of
  which 100 are due, against a pass over 100 rituals that are all due, in the same run: the
  ratio (big / small time) shows the cost follows what is due, not what exists. The
  rituals are seeded with bulk Core inserts, their due times computed by the service's own
  schedule code; each figure is the median of a few passes, each with 100 fresh due.
- ``discord_burst``, ``slack_burst``: answer times of 500 simultaneous clicks and slash
  commands against the 3 s deadline (see :mod:`bench.bursts`).
- ``proof_json``: ``GET /proof.json`` over 10,000 approved public submissions (2,000 with
  ``--quick``), first page and a deep page, against the same SELECTs in raw ``sqlite3``
  (see :mod:`bench.proof`).
- ``stripe_webhook``: signed ``checkout.session.completed`` events through the web app's
  ``POST /stripe/webhook`` (verified, recorded once, order and access written) and the same
  events repeated, against signature verification alone (see :mod:`bench.payments`).
- ``ingest``, ``leaderboard``: chat points through the recognition pipeline against raw
  ``executemany`` of its ledger rows, and top-10 / own-rank latency over 1,000,000 members and
  10,000,000 ledger rows against a ``GROUP BY`` over the ledger (see :mod:`bench.recognition`).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.report import Result, Stopwatch, Workload
from bot.clock import FakeClock
from bot.db import create_engine
from bot.db.migrate import upgrade
from bot.inputs import name_key
from bot.messages import DirectMessage, dump, rich
from bot.outbox import Dispatcher, Effect, Posted, Queued, RateLimit, enqueue_many
from bot.settings import OutboxSettings

BATCH = 500
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def _database(scratch: Path, name: str) -> str:
    url = f"sqlite+aiosqlite:///{scratch / name}.db"
    # Alembic runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade, url)
    return url


def _rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for index in range(count):
        text = f"Office Hours starts in 1 hour. Reminder {index}."
        message = DirectMessage(member_id=index + 1, body=rich(text))
        rows.append(
            {
                "key": f"bench-dm:{index}",
                "target": f"user:U{index:07d}",
                "text": text,
                "message": message,
                "payload": dump(message),
            }
        )
    return rows


def _raw_insert(path: Path, rows: list[dict[str, Any]]) -> float:
    """Insert the rows with the standard library alone; return rows per second."""
    moment = START.replace(tzinfo=None).isoformat(sep=" ")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    statement = (
        "INSERT INTO outbox (key, platform, action, target, payload, status, attempts, "
        "not_before, created_at) VALUES (?, 'slack', 'dm', ?, ?, 'pending', 0, ?, ?) "
        "ON CONFLICT (key) DO NOTHING"
    )
    with Stopwatch() as watch:
        for start in range(0, len(rows), BATCH):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                statement,
                [
                    (r["key"], r["target"], r["payload"], moment, moment)
                    for r in rows[start : start + BATCH]
                ],
            )
            connection.execute("COMMIT")
    connection.close()
    return len(rows) / watch.seconds


async def _queue(url: str, rows: list[dict[str, Any]], clock: Any, *, bulk: bool = True) -> float:
    """Queue the rows through the outbox, 500 to a transaction; return effects per second."""
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    with Stopwatch() as watch:
        for start in range(0, len(rows), BATCH):
            batch = [
                Queued(
                    key=r["key"],
                    platform="slack",
                    action="dm",
                    target=r["target"],
                    message=r["message"],
                )
                for r in rows[start : start + BATCH]
            ]
            async with sessions() as session, session.begin():
                if bulk:
                    await enqueue_many(session, clock, batch)
                    continue
                for effect in batch:
                    await enqueue_many(session, clock, [effect])
    await engine.dispose()
    return len(rows) / watch.seconds


async def outbox_enqueue(scratch: Path, quick: bool) -> list[Result]:
    """Queue effects through the outbox (a fan-out, and one at a time) against executemany."""
    rows = _rows(5_000 if quick else 20_000)
    clock = FakeClock(START)
    bulk = await _queue(await _database(scratch, "bulk"), rows, clock)
    single = await _queue(await _database(scratch, "single"), rows, clock, bulk=False)
    await _database(scratch, "raw")
    raw = _raw_insert(scratch / "raw.db", rows)
    baseline = "sqlite3.executemany"
    return [
        Result("outbox_enqueue", "fanout_effects_per_s", bulk, "effects/s", baseline, raw),
        Result("outbox_enqueue", "single_effects_per_s", single, "effects/s", baseline, raw),
    ]


class NullSender:
    """Delivers everything at once, so only the outbox's own work is timed."""

    platform = "slack"

    def limits(self, effect: Effect) -> list[tuple[str, RateLimit]]:
        return [("bench:global", RateLimit(10_000_000, 1.0))]

    async def send(self, effect: Effect) -> Posted:
        return Posted("D1", f"ts-{effect.id}")


def _raw_dispatch(path: Path, count: int) -> float:
    """Claim in batches of 100 and mark each row sent in its own commit; return rows/s."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    done = 0
    with Stopwatch() as watch:
        while done < count:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "UPDATE outbox SET status = 'sending', claim_token = 'raw' WHERE id IN "
                "(SELECT id FROM outbox WHERE status = 'pending' ORDER BY not_before, id LIMIT 100)"
            )
            ids = [
                row[0]
                for row in connection.execute("SELECT id FROM outbox WHERE claim_token = 'raw'")
            ]
            connection.execute("COMMIT")
            for row_id in ids:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    "UPDATE outbox SET status = 'sent', claim_token = NULL, external_id = ? "
                    "WHERE id = ?",
                    (f"ts-{row_id}", row_id),
                )
                connection.execute("COMMIT")
            done += len(ids)
            if not ids:
                break
    connection.close()
    return done / watch.seconds


async def outbox_dispatch(scratch: Path, quick: bool) -> list[Result]:
    """Drain queued effects through the dispatcher against raw claim-and-mark SQL."""
    rows = _rows(1_000 if quick else 5_000)
    clock = FakeClock(START)
    url = await _database(scratch, "ours")
    await _queue(url, rows, clock)
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    dispatcher = Dispatcher(sessions, clock, OutboxSettings(), [NullSender()])
    with Stopwatch() as watch:
        delivered = await dispatcher.drain()
    await engine.dispose()
    if delivered != len(rows):
        raise RuntimeError(f"outbox_dispatch delivered {delivered} of {len(rows)}")
    raw_url = await _database(scratch, "raw")
    await _queue(raw_url, rows, clock)
    raw = _raw_dispatch(scratch / "raw.db", len(rows))
    ours = len(rows) / watch.seconds
    return [
        Result("outbox_dispatch", "effects_per_s", ours, "effects/s", "sqlite3 claim+mark", raw)
    ]


async def slack_dm_fanout(scratch: Path, quick: bool) -> list[Result]:
    """Send DMs through the outbox and SlackSender against direct slack-sdk calls."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.sandbox.slack import SlackSandbox
    from bot.slack.sender import SlackSender

    count = 200 if quick else 1_000
    rows = _rows(count)
    users = [r["target"].removeprefix("user:") for r in rows]
    clock = FakeClock(START)
    sandbox = SlackSandbox()
    for user in users:
        sandbox.add_user(user, user.lower())
    await sandbox.start()
    try:
        url = await _database(scratch, "ours")
        await _queue(url, rows, clock)
        engine = create_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        sender = SlackSender(sandbox.bot_token, api_base=sandbox.api_base)
        dispatcher = Dispatcher(sessions, clock, OutboxSettings(), [sender])
        with Stopwatch() as ours_watch:
            delivered = await dispatcher.drain()
        await engine.dispose()
        if delivered != count:
            raise RuntimeError(f"slack_dm_fanout delivered {delivered} of {count}")
        client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
        with Stopwatch() as raw_watch:
            for r, user in zip(rows, users, strict=True):
                await client.chat_postMessage(channel=user, text=r["text"])
    finally:
        await sandbox.stop()
    return [
        Result(
            "slack_dm_fanout",
            "dms_per_s",
            count / ours_watch.seconds,
            "DMs/s",
            "slack-sdk chat.postMessage",
            count / raw_watch.seconds,
        )
    ]


async def ritual_tick(scratch: Path, quick: bool) -> list[Result]:
    """Time one scheduler pass that fires every ritual once."""
    from bot.services import rituals
    from bot.services.callers import Caller, Role, resolve_actor
    from bot.services.communities import ensure_community, ensure_space

    count = 50 if quick else 300
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    url = await _database(scratch, "ours")
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        community_id = await ensure_community(
            session, clock, slug="bench", name="Bench", timezone="UTC"
        )
        await ensure_space(
            session, clock, community_id=community_id, platform="discord", external_id="1"
        )
        mod = await resolve_actor(
            session,
            clock,
            community_id=community_id,
            caller=Caller("discord", "1", "mod", "Mod", Role.MODERATOR, "500"),
        )
        await ensure_space(
            session, clock, community_id=community_id, platform="slack", external_id="T1"
        )
        slack_mod = await resolve_actor(
            session,
            clock,
            community_id=community_id,
            caller=Caller("slack", "T1", "UMOD", "Mod", Role.MODERATOR),
        )
        for index in range(count):
            spec = rituals.RitualSpec(
                name=f"Ritual {index}",
                schedule="weekly mon 10:00",
                timezone="UTC",
                prompt="Share your work",
                channel_id=str(500 + index),
            )
            await rituals.create_ritual(session, clock, mod, spec)
            await rituals.edit_ritual(
                session,
                clock,
                slack_mod,
                spec.name,
                rituals.RitualChanges(channel_id=f"C{index:05d}"),
            )
    clock.set(datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC))
    with Stopwatch() as watch:
        report = await rituals.tick(sessions, clock)
    await engine.dispose()
    if len(report.posted) != count:
        raise RuntimeError(f"ritual_tick fired {len(report.posted)} of {count}")
    return [Result("ritual_tick", "rituals_per_s", count / watch.seconds, "rituals/s")]


DUE = 100  # rituals due in each measured pass


def _ritual_rows(community_id: int, total: int, due_groups: int) -> list[dict[str, Any]]:
    from bot.services.rituals.due import next_fire, next_reminder
    from bot.services.schedules import parse_schedule

    times: dict[tuple[str, tuple[int, ...]], tuple[datetime | None, datetime | None]] = {}

    def due_times(text: str, leads: tuple[int, ...]) -> tuple[datetime | None, datetime | None]:
        if (text, leads) not in times:
            schedule = parse_schedule(text)
            times[text, leads] = (
                next_fire(schedule, "UTC", START, inclusive=True),
                next_reminder(schedule, "UTC", leads, START, inclusive=True),
            )
        return times[text, leads]

    days = ("wed", "thu", "fri", "sat", "sun")
    rows = []
    for index in range(total):
        leads: tuple[int, ...] = ()
        if index < due_groups * DUE:
            text = f"weekly mon 10:{index // DUE:02d}"
        else:
            minutes = 8 * 60 + 15 * (index % 49)
            text = f"weekly {days[index % 5]} {minutes // 60:02d}:{minutes % 60:02d}"
            leads = (1440, 60)
        next_fire_at, next_remind_at = due_times(text, leads)
        rows.append(
            {
                "community_id": community_id,
                "name": f"Ritual {index}",
                "name_key": name_key(f"Ritual {index}"),  # Core inserts skip the model's hook
                "kind": "custom",
                "schedule": parse_schedule(text).to_json(),
                "timezone": "UTC",
                "uid": f"bench{index:011d}",
                "destination_id": index + 1,
                "prompt": "Share your work",
                "thread_per_occurrence": True,
                "reminder_minutes": list(leads),
                "checkin_window_minutes": 120,
                "checkin_points": 10,
                "grace_minutes": 60,
                "paused": False,
                "created_at": START,
                "active_since": START,
                "next_fire_at": next_fire_at,
                "next_remind_at": next_remind_at,
            }
        )
    return rows


async def _seeded(template: Path, path: Path, total: int, due_groups: int) -> str:
    """Copy the migrated template database and bulk-insert its rituals; return its URL."""
    from sqlalchemy import insert

    from bot.models import Destination, DestinationChannel, Ritual
    from bot.services.communities import ensure_community

    shutil.copy(template, path)
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    clock = FakeClock(START)
    async with sessions() as session, session.begin():
        community_id = await ensure_community(
            session, clock, slug="bench", name="Bench", timezone="UTC"
        )
    rows = _ritual_rows(community_id, total, due_groups)
    # Each ritual has its own destination with a channel on both platforms, as if created.
    places = [
        {"id": index + 1, "community_id": community_id, "purpose": None, "created_at": START}
        for index in range(total)
    ]
    channels = [
        {"destination_id": index + 1, "platform": platform, "channel_id": channel}
        for index in range(total)
        for platform, channel in (("discord", str(500 + index)), ("slack", f"C{index:07d}"))
    ]
    for model, batch in ((Destination, places), (DestinationChannel, channels), (Ritual, rows)):
        for start in range(0, len(batch), 1_000):
            async with engine.begin() as connection:
                await connection.execute(insert(model), batch[start : start + 1_000])
    await engine.dispose()
    return url


async def _timed_tick(url: str, moment: datetime) -> float:
    """Run one scheduler pass at ``moment``; return its seconds (it must fire DUE rituals)."""
    from bot.services import rituals

    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    clock = FakeClock(moment)
    with Stopwatch() as watch:
        report = await rituals.tick(sessions, clock)
    await engine.dispose()
    if len(report.posted) != DUE or report.missed or report.late:
        raise RuntimeError(
            f"ritual_tick_due fired {len(report.posted)} of {DUE} "
            f"({len(report.missed)} missed, {len(report.late)} late)"
        )
    return watch.seconds


async def ritual_tick_due(scratch: Path, quick: bool) -> list[Result]:
    """Time a pass over many rituals of which 100 are due against one over 100, all due."""
    total, passes = (20_000, 3) if quick else (100_000, 5)
    template = Path((await _database(scratch, "template")).removeprefix("sqlite+aiosqlite:///"))
    big = await _seeded(template, scratch / "big.db", total, due_groups=passes)
    monday = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)
    small_times, big_times = [], []
    for index in range(passes):
        # A fresh small database each pass: 100 rituals, all due, nothing else in it.
        small = await _seeded(template, scratch / f"small{index}.db", DUE, due_groups=1)
        small_times.append(await _timed_tick(small, monday))
        # The big one: this pass's group of 100 is due at 10:0k; the earlier groups have
        # moved on to next week, the later ones and the rest are not due yet.
        big_times.append(await _timed_tick(big, monday + timedelta(minutes=index)))
    small_ms = statistics.median(small_times) * 1000
    big_ms = statistics.median(big_times) * 1000
    return [
        Result(
            "ritual_tick_due",
            f"tick_ms_{DUE}_due_of_{total}",
            big_ms,
            "ms",
            f"tick over {DUE} rituals, all due",
            small_ms,
        )
    ]


def _bursts() -> dict[str, Workload]:
    from bench.bursts import discord_burst, slack_burst

    return {"discord_burst": discord_burst, "slack_burst": slack_burst}


def _proof() -> dict[str, Workload]:
    from bench.proof import proof_json

    return {"proof_json": proof_json}


def _payments() -> dict[str, Workload]:
    from bench.payments import stripe_webhook

    return {"stripe_webhook": stripe_webhook}


def _recognition() -> dict[str, Workload]:
    from bench.recognition import ingest, leaderboard

    return {"ingest": ingest, "leaderboard": leaderboard}


WORKLOADS: dict[str, Workload] = {
    "outbox_enqueue": outbox_enqueue,
    "outbox_dispatch": outbox_dispatch,
    "slack_dm_fanout": slack_dm_fanout,
    "ritual_tick": ritual_tick,
    "ritual_tick_due": ritual_tick_due,
    **_bursts(),
    **_proof(),
    **_payments(),
    **_recognition(),
}
