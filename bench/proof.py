"""``proof_json``: ``GET /proof.json`` over 10,000 approved public submissions, end to end.

The database is seeded with bulk Core inserts (every column given: Core skips the models'
Python-side hooks such as ``name_key``), as a real community would have it: members, a few
prompts, public submissions (a tenth featured, each with one stored file) and, among them,
community-only and pending ones that must not show. Our figure is the route served by our
web server on a loopback port and read with aiohttp over a kept-alive connection, one request
after another: the first page, and a deep page (90 % of the way down, through a cursor). The
baseline is the same two SELECTs the page runs — the page with its joins and LIMIT 21, then
the attachments of its 20 items — through raw ``sqlite3`` on the same file, in the same run.

Reported for each page: p50 and p99 in ms against the raw queries' p50 and p99 (the ratio is
how many times slower the whole request is), and requests/s against the raw queries' pages/s.
The issue's goal: p99 under 20 ms at 10,000 items.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Result

START = datetime(2025, 1, 1, tzinfo=UTC)
PAGE = 20
DEPTH = 0.9  # the deep page starts this far down the list

# The page's SELECT as the service sends it (joins, newest first, one more than a page), and
# the attachments of the page's items: what the route costs at the very least.
RAW_PAGE = """
SELECT s.id, s.uid, s.title, s.story, s.links, s.consent, s.featured, s.public_at,
       m.display_name, p.title
FROM ugc_submissions AS s
JOIN members AS m ON m.id = s.member_id
LEFT OUTER JOIN ugc_prompts AS p ON p.id = s.prompt_id
WHERE s.community_id = ? AND s.public_at IS NOT NULL {after}
ORDER BY s.public_at DESC, s.id DESC
LIMIT ?
"""
RAW_AFTER = "AND (s.public_at, s.id) < (?, ?)"  # the cursor, as a row value (see public.py)
RAW_FILES = """
SELECT submission_id, media_key, filename, content_type, size
FROM ugc_attachments
WHERE submission_id IN ({marks}) AND media_key IS NOT NULL
ORDER BY submission_id, position
"""


def _stamp(moment: datetime) -> str:
    """Return a time as SQLAlchemy keeps it in SQLite (naive UTC, microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def _seed(url: str, community_id: int, total: int) -> None:
    """Bulk-insert members, prompts, submissions and their files."""
    from sqlalchemy import insert

    from bot.db import create_engine
    from bot.inputs import name_key
    from bot.models import Member, UgcAttachment, UgcPrompt, UgcSubmission

    people = max(total // 10, 10)
    members = [
        {
            "id": index + 1,
            "community_id": community_id,
            "display_name": f"Member {index}",
            "points_total": 0,
            "activity_count": 0,
            "joined_at": START,
        }
        for index in range(people)
    ]
    prompts = [
        {
            "id": index + 1,
            "uid": f"benchprompt{index:05d}",
            "community_id": community_id,
            "title": f"Prompt {index}",
            "name_key": name_key(f"Prompt {index}"),
            "brief": "",
            "template": "",
            "status": "open",
            "created_at": START,
        }
        for index in range(5)
    ]
    submissions, files = [], []
    extra = total // 5  # community-only and pending ones, which never show
    for index in range(total + extra):
        public = index < total
        consent = ("public_named", "public_anonymous")[index % 2] if public else "community"
        at = START + timedelta(minutes=index)
        submissions.append(
            {
                "id": index + 1,
                "uid": f"bench{index:011d}",
                "community_id": community_id,
                "member_id": index % people + 1,
                "prompt_id": index % 5 + 1 if index % 3 else None,
                "platform": "discord",
                "title": f"How I use it, part {index}",
                "story": "It changed how our team ships. " * 8,
                "links": [f"https://example.com/story/{index}"],
                "content_key": f"{index:064x}",
                "consent": consent,
                "status": "approved" if index % 7 else "pending",
                "featured": index % 10 == 0,
                "submitted_at": at - timedelta(minutes=30),
                "decided_at": at if index % 7 else None,
                "public_at": at if public else None,
            }
        )
        files.append(
            {
                "submission_id": index + 1,
                "position": 0,
                "media_key": f"{index:016x}.png",
                "filename": f"shot-{index}.png",
                "content_type": "image/png",
                "size": 40_000 + index,
                "sha256": f"{index:064x}",
                "reported_url": f"https://cdn.example/{index}.png",
                "reported_type": "image/png",
                "reported_size": 40_000 + index,
            }
        )
    engine = create_engine(url)
    for model, rows in (
        (Member, members),
        (UgcPrompt, prompts),
        (UgcSubmission, submissions),
        (UgcAttachment, files),
    ):
        for start in range(0, len(rows), 1_000):
            async with engine.begin() as connection:
                await connection.execute(insert(model), rows[start : start + 1_000])
    await engine.dispose()


def _deep_cursor(path: Path, community_id: int, total: int) -> tuple[str, tuple[str, int]]:
    """Return the cursor of the row at DEPTH of the public list, and its (public_at, id)."""
    from bot.services.ugc.public import encode_cursor

    connection = sqlite3.connect(path)
    at, row_id = connection.execute(
        "SELECT public_at, id FROM ugc_submissions WHERE community_id = ? AND public_at IS NOT "
        "NULL ORDER BY public_at DESC, id DESC LIMIT 1 OFFSET ?",
        (community_id, int(total * DEPTH)),
    ).fetchone()
    connection.close()
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return encode_cursor(moment, row_id), (at, row_id)


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _figures(page: str, ours: list[float], raw: list[float]) -> list[Result]:
    """Return p50, p99 (ms) and requests/s of ours against the raw queries'."""
    ours, raw = sorted(ours), sorted(raw)
    baseline = "sqlite3 page+files SELECTs"
    return [
        Result(
            "proof_json",
            f"{page}_p50_ms",
            statistics.median(ours) * 1000,
            "ms",
            baseline,
            statistics.median(raw) * 1000,
        ),
        Result(
            "proof_json",
            f"{page}_p99_ms",
            _percentile(ours, 0.99) * 1000,
            "ms",
            baseline,
            _percentile(raw, 0.99) * 1000,
        ),
        Result(
            "proof_json",
            f"{page}_requests_per_s",
            len(ours) / sum(ours),
            "requests/s",
            baseline,
            len(raw) / sum(raw),
        ),
    ]


def _raw_pages(
    path: Path, community_id: int, after: tuple[str, int] | None, count: int
) -> list[float]:
    """Run the page's two SELECTs ``count`` times through raw sqlite3; return each time."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    page_sql = RAW_PAGE.format(after=RAW_AFTER if after else "")
    params: tuple[Any, ...] = (community_id, *(after or ()), PAGE + 1)
    files_sql = RAW_FILES.format(marks=", ".join("?" * PAGE))
    times = []
    for _ in range(count):
        started = time.perf_counter()
        connection.execute("BEGIN")
        rows = connection.execute(page_sql, params).fetchall()
        ids = [row[0] for row in rows[:PAGE]]
        found = connection.execute(files_sql, ids).fetchall()
        connection.execute("COMMIT")
        times.append(time.perf_counter() - started)
        if len(rows) != PAGE + 1 or len(found) != PAGE:
            raise RuntimeError(
                f"proof_json: the raw page read {len(rows)} rows, {len(found)} files"
            )
    connection.close()
    return times


async def _our_pages(
    get: Callable[[str], Any], query: str, count: int, check: Callable[[dict[str, Any]], None]
) -> list[float]:
    """GET /proof.json<query> ``count`` times, one after another; return each time."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        async with get(query) as response:
            body = await response.json()
        times.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(
                f"proof_json: {query or 'the first page'} answered {response.status}"
            )
        check(body)
    return times


async def proof_json(scratch: Path, quick: bool) -> list[Result]:
    """Time /proof.json's first page and a deep page against the same SELECTs in raw sqlite3."""
    import aiohttp

    from bench.workloads import _database
    from bot.runtime import bootstrap_community, build_runtime
    from bot.settings import load_settings
    from bot.web.app import create_app, start_site

    total, requests = (2_000, 200) if quick else (10_000, 1_000)
    url = await _database(scratch, "proof")
    path = scratch / "proof.db"
    config = scratch / "bot.toml"
    config.write_text(
        f'[community]\nname = "Bench"\n[media]\ndir = "{scratch / "media"}"\n', encoding="utf-8"
    )
    runtime = build_runtime(load_settings(config, environ={"FLYWHEEL_DATABASE_URL": url}))
    community_id = await bootstrap_community(runtime)
    await _seed(url, community_id, total)
    cursor, after = _deep_cursor(path, community_id, total)
    deep_query = f"?before={cursor}"

    def check_page(body: dict[str, Any]) -> None:
        items = body["items"]
        if len(items) != PAGE or body["next"] is None or len(items[0]["media"]) != 1:
            raise RuntimeError(f"proof_json: a page held {len(items)} items")

    runner, port = await start_site(create_app(runtime), "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{port}/proof.json"
        connector = aiohttp.TCPConnector(limit=1)  # one kept-alive connection
        async with aiohttp.ClientSession(connector=connector) as client:

            def get(query: str) -> Any:
                return client.get(base + query)

            await _our_pages(get, "", 20, check_page)  # warm up: connection, caches
            await _our_pages(get, deep_query, 20, check_page)
            first = await _our_pages(get, "", requests, check_page)
            deep = await _our_pages(get, deep_query, requests, check_page)
    finally:
        await runner.cleanup()
        await runtime.close()
    _raw_pages(path, community_id, None, 20)
    raw_first = _raw_pages(path, community_id, None, requests)
    raw_deep = _raw_pages(path, community_id, after, requests)
    return [*_figures("first_page", first, raw_first), *_figures("deep_page", deep, raw_deep)]
