"""Recognition: chat points through the ingest pipeline, and reading boards over a big ledger.

- ``ingest``: neutral :class:`~bot.services.recognition.MessageSeen` events submitted to a
  running :class:`~bot.services.recognition.IngestPipeline` (its flusher loop, its default
  queue and batch sizes) until every one is committed: members created on first sight, the
  chat rules applied, ledger rows, members' totals, week/month/all score rows and the rules'
  state written. The stream is a busy community's hour: 10,000 members (2,000 with
  ``--quick``), each writing about every three minutes, with bots, short messages, an
  ignored channel and repeated text mixed in, so about two messages in three earn points.
  Reported: events/s (every event in) and counted events/s, each against raw
  ``sqlite3.executemany`` of the same ledger rows (those the run inserted) into a fresh
  migrated database with the app's SQLite settings, in batches of the same size, in the
  same run.
- ``leaderboard``: 1,000,000 members and 10,000,000 ledger rows over eight weeks (50,000 and
  500,000 with ``--quick``), seeded with raw ``sqlite3`` into a file migrated by Alembic, the
  score rows and per-score counts summed from the ledger by SQL, 1 % of members hidden
  from boards. Reported:
  :func:`~bot.services.recognition.top` (10) and
  :func:`~bot.services.recognition.rank_of` (random members) on the all-time points board
  through the async engine, p50 and p99 in ms, beside the same board computed by a
  ``GROUP BY`` over the ledger in raw ``sqlite3``.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.report import Result, Stopwatch
from bot.clock import FakeClock
from bot.db import create_engine, read_sessions
from bot.db.engine import SQLITE_CACHE_KIB, SQLITE_CHECKPOINT_PAGES
from bot.db.migrate import upgrade
from bot.services.communities import ensure_community, ensure_space
from bot.services.recognition import (
    IngestPipeline,
    MessageSeen,
    Period,
    period_start,
    rank_of,
    text_digest,
    top,
)
from bot.settings import RecognitionSettings

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
ZONE = "Europe/Berlin"
IGNORED = "C-offtopic"


def _stamp(moment: datetime) -> str:
    """Return a time as SQLAlchemy keeps it in SQLite (naive UTC, microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def _database(scratch: Path, name: str) -> Path:
    path = scratch / f"{name}.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


def _stream(members: int, seed: int = 11) -> list[MessageSeen]:
    """Return an hour of a busy community's chat, in time order."""
    rng = random.Random(seed)
    events = []
    last_text: dict[int, str] = {}
    mean_gap = 180.0 / members  # each member writes about every three minutes
    at = NOW - timedelta(hours=1)
    for index in range(members * 20):
        at += timedelta(seconds=rng.expovariate(1 / mean_gap))
        user = rng.randrange(members)
        roll = rng.random()
        text = f"message {index} about the thing member {user} is building this week"
        channel = "C-general"
        if roll < 0.03:
            user = members + rng.randrange(5)  # a few bots
        elif roll < 0.08:
            text = "ok!"
        elif roll < 0.10:
            channel = IGNORED
        elif roll < 0.13 and user in last_text:
            text = last_text[user]
        last_text[user] = text
        events.append(
            MessageSeen(
                platform="discord",
                space_id="111",
                user_id=str(10_000_000 + user),
                display_name=f"Member {user}",
                channel_id=channel,
                message_id=str(900_000_000 + index),
                text_length=len(text),
                text_digest=text_digest(text),
                is_bot=user >= members,
                at=at,
            )
        )
    return events


def _raw_ledger(path: Path, rows: list[tuple[object, ...]], batch: int) -> float:
    """Insert the ledger rows with the standard library alone; return rows per second."""
    connection = sqlite3.connect(path, isolation_level=None)
    # The settings the app's engine gives every SQLite connection (bot.db.engine).
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    statement = (
        "INSERT INTO activities (community_id, member_id, kind, points, occurred_at, "
        "recorded_at, source_key, source_ref, imported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (community_id, source_key) DO NOTHING"
    )
    with Stopwatch() as watch:
        for start in range(0, len(rows), batch):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(statement, rows[start : start + batch])
            connection.execute("COMMIT")
    connection.close()
    return len(rows) / watch.seconds


async def ingest(scratch: Path, quick: bool) -> list[Result]:
    """Push a chat stream through the whole pipeline against raw executemany of its ledger rows."""
    members = 2_000 if quick else 10_000
    events = _stream(members)
    path = await _database(scratch, "ours")
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    clock = FakeClock(NOW)
    async with sessions() as session, session.begin():
        community_id = await ensure_community(
            session, clock, slug="bench", name="Bench", timezone=ZONE
        )
        await ensure_space(
            session, clock, community_id=community_id, platform="discord", external_id="111"
        )
    settings = RecognitionSettings(ignored_channels=(IGNORED,))
    pipeline = IngestPipeline(sessions, clock, settings)
    stop = asyncio.Event()
    with Stopwatch() as watch:
        flusher = asyncio.create_task(pipeline.run(stop))
        for event in events:
            await pipeline.submit(event)
        stop.set()
        await flusher
    await engine.dispose()
    stats = pipeline.stats
    if stats.dropped or sum(stats.skipped.values()) + stats.counted != len(events):
        raise RuntimeError(f"ingest lost messages: {stats}")
    connection = sqlite3.connect(path)
    rows = connection.execute(
        "SELECT community_id, member_id, kind, points, occurred_at, recorded_at, source_key, "
        "source_ref, imported FROM activities ORDER BY id"
    ).fetchall()
    scored = connection.execute(
        "SELECT sum(score) FROM member_scores WHERE board = 'points' AND period = 'all'"
    ).fetchone()[0]
    connection.close()
    if len(rows) != stats.counted or scored != stats.counted * settings.message_points:
        raise RuntimeError(f"ingest wrote {len(rows)} ledger rows for {stats.counted} counted")
    raw = _raw_ledger(await _database(scratch, "raw"), rows, settings.batch_size)
    baseline = "sqlite3.executemany ledger rows"
    return [
        Result("ingest", "events_per_s", len(events) / watch.seconds, "events/s", baseline, raw),
        Result(
            "ingest",
            "counted_events_per_s",
            stats.counted / watch.seconds,
            "events/s",
            baseline,
            raw,
        ),
    ]


def _seed(path: Path, community_id: int, members: int, ledger: int, seed: int = 7) -> None:
    """Fill the ledger and the score rows with raw sqlite3 (indexes built after the rows)."""
    rng = random.Random(seed)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    joined = _stamp(NOW - timedelta(days=400))
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO members (id, community_id, display_name, points_total, activity_count, "
        "joined_at) VALUES (?, ?, ?, 0, 0, ?)",
        ((m, community_id, f"Member {m}", joined) for m in range(1, members + 1)),
    )
    connection.execute("COMMIT")
    indexes = [
        (name, sql)
        for name, sql in connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activities' "
            "AND sql IS NOT NULL"
        )
    ]
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    # Eight weeks of activity; a few members do most of it (as in every community).
    moments = [_stamp(NOW - timedelta(seconds=rng.random() * 56 * 86400)) for _ in range(65_536)]
    recorded = _stamp(NOW)
    kinds = ("message",) * 8 + ("ritual_checkin", "ugc_approved")
    points = {"message": 5, "ritual_checkin": 10, "ugc_approved": 25}
    chunk = 500_000
    for start in range(0, ledger, chunk):
        rows = []
        for index in range(start, min(start + chunk, ledger)):
            kind = kinds[index % 10]
            rows.append(
                (
                    community_id,
                    int(members * rng.random() ** 3) + 1,
                    kind,
                    points[kind],
                    moments[index & 65_535],
                    recorded,
                    f"seed:{index}",
                )
            )
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO activities (community_id, member_id, kind, points, occurred_at, "
            "recorded_at, source_key, imported) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            rows,
        )
        connection.execute("COMMIT")
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("BEGIN")
    for period in (Period.ALL, Period.WEEK, Period.MONTH):
        start_at = period_start(period, NOW, ZONE)
        since = "" if period is Period.ALL else "AND occurred_at >= ?"
        connection.execute(
            "INSERT INTO member_scores (community_id, board, period, period_start, member_id, "
            "score, updated_at) SELECT community_id, 'points', ?, ?, member_id, sum(points), ? "
            f"FROM activities WHERE community_id = ? {since} GROUP BY member_id",
            (period.value, _stamp(start_at), recorded, community_id)
            + (() if period is Period.ALL else (_stamp(start_at),)),
        )
    connection.executemany(
        "INSERT INTO leaderboard_optouts (member_id, community_id, since) VALUES (?, ?, ?)",
        ((m, community_id, recorded) for m in range(1, members + 1) if m % 100 == 37),
    )
    connection.execute(
        "INSERT INTO board_score_counts (community_id, board, period, period_start, score, "
        "members) SELECT community_id, board, period, period_start, score, count(*) "
        "FROM member_scores WHERE score > 0 AND member_id NOT IN "
        "(SELECT member_id FROM leaderboard_optouts) "
        "GROUP BY community_id, board, period, period_start, score"
    )
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()


GROUP_BY = (
    "SELECT member_id, sum(points) AS score FROM activities WHERE community_id = ? "
    "GROUP BY member_id ORDER BY score DESC, member_id LIMIT 10"
)


def _percentile(times: list[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def leaderboard(scratch: Path, quick: bool) -> list[Result]:
    """Time top-10 and own rank on the score rows beside a GROUP BY over the ledger."""
    members, ledger = (50_000, 500_000) if quick else (1_000_000, 10_000_000)
    path = await _database(scratch, "board")
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    clock = FakeClock(NOW)
    async with async_sessionmaker(engine)() as session, session.begin():
        community_id = await ensure_community(
            session, clock, slug="bench", name="Bench", timezone=ZONE
        )
    await engine.dispose()
    await asyncio.to_thread(_seed, path, community_id, members, ledger)
    engine = create_engine(url)
    sessions = read_sessions(engine)
    rng = random.Random(3)
    tops: list[float] = []
    ranks: list[float] = []
    for index in range(520):
        async with sessions() as session:
            started = time.perf_counter()
            page = await top(session, community_id, "points", "all", NOW)
            took = time.perf_counter() - started
            if len(page.entries) != 10:
                raise RuntimeError("leaderboard: the board has fewer than 10 members")
            if index >= 20:  # the first reads warm the cache
                tops.append(took)
        member = rng.randrange(1, members + 1)
        async with sessions() as session:
            started = time.perf_counter()
            await rank_of(session, community_id, "points", "all", NOW, member)
            took = time.perf_counter() - started
            if index >= 20:
                ranks.append(took)
    await engine.dispose()
    connection = sqlite3.connect(path)
    runs = []
    for _ in range(1 if not quick else 3):
        with Stopwatch() as watch:
            connection.execute(GROUP_BY, (community_id,)).fetchall()
        runs.append(watch.seconds)
    connection.close()
    group_by = statistics.median(runs) * 1000
    baseline = "GROUP BY over the ledger"
    return [
        Result("leaderboard", "top10_p50_ms", _percentile(tops, 0.5), "ms", baseline, group_by),
        Result("leaderboard", "top10_p99_ms", _percentile(tops, 0.99), "ms", baseline, group_by),
        Result("leaderboard", "own_rank_p50_ms", _percentile(ranks, 0.5), "ms", baseline, group_by),
        Result(
            "leaderboard", "own_rank_p99_ms", _percentile(ranks, 0.99), "ms", baseline, group_by
        ),
    ]
