"""`flywheel import`: a roster (CSV, MEE6 leaderboard) becomes imported ledger activity, once."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.models import Activity, Badge, EventRecord, Identity, Member, MemberBadge, OutboxMessage
from bot.roster_formats import read_csv, read_mee6
from bot.services.communities import ensure_community, ensure_space
from bot.services.engagement import ledger_total
from bot.services.recognition.catalogue import sync_configured
from bot.services.roster import import_batch
from tests.fuzz.snapshot import changed_tables, snapshot
from tests.test_cli import QUIET, flywheel, one_line_exit_2

TODAY = date(2026, 3, 2)


def mee6_pages(count: int, *, bad_at: int | None = None) -> bytes:
    players = [
        {
            "id": str(100_000_000_000_000_000 + n),
            "username": f"player{n}",
            "avatar": "abc",
            "xp": (n * 7919) % 250_000,  # some above the ledger's 100,000 per row
            "level": n % 60,
            "message_count": n % 5000,
            "detailed_xp": [1, 2, 3],
        }
        for n in range(count)
    ]
    if bad_at is not None:
        players[bad_at]["xp"] = -5
    half = count // 2
    return json.dumps(
        [{"page": 0, "players": players[:half]}, {"page": 1, "players": players[half:]}], indent=1
    ).encode()


async def run_import(sessions, clock, fmt: str, roster, spaces) -> tuple[int, int, int]:
    imported = unchanged = skipped = 0
    for start in range(0, len(roster.rows), 500):
        async with sessions() as session, session.begin():
            outcome = await import_batch(
                session, clock, source=fmt, spaces=spaces, rows=roster.rows[start : start + 500]
            )
        imported += outcome.imported
        unchanged += outcome.unchanged
        skipped += len(outcome.skipped)
    return imported, unchanged, skipped


async def community(sessions, clock):
    async with sessions() as session, session.begin():
        community_id = await ensure_community(
            session, clock, slug="acme", name="Acme", timezone="UTC"
        )
        discord = await ensure_space(
            session, clock, community_id=community_id, platform="discord", external_id="4242"
        )
        slack = await ensure_space(
            session, clock, community_id=community_id, platform="slack", external_id="T0001"
        )
    return {"discord": discord, "slack": slack}


async def test_a_10000_player_mee6_file_imported_twice_leaves_the_state_of_one_import(
    committed, engine, clock
):
    spaces = await community(committed, clock)
    roster = read_mee6(mee6_pages(10_000))
    assert len(roster.rows) == 10_000 and roster.skipped == ()

    assert await run_import(committed, clock, "mee6", roster, spaces) == (10_000, 0, 0)
    once = await snapshot(engine)
    assert await run_import(committed, clock, "mee6", roster, spaces) == (0, 10_000, 0)

    assert changed_tables(once, await snapshot(engine)) == {}
    async with committed() as session:
        members = (await session.scalars(select(Member))).all()
        assert len(members) == 10_000
        expected = {f"player{n}": (n * 7919) % 250_000 for n in range(10_000)}
        assert {m.display_name: m.points_total for m in members} == expected
        assert all(m.last_active_at is None for m in members)  # imported: not active
        mismatched = [m.id for m in members if await ledger_total(session, m.id) != m.points_total]
        assert mismatched == []


async def test_a_new_total_records_the_difference_and_either_file_can_run_again(sessions, clock):
    spaces = await community(sessions, clock)
    first = read_csv(b"platform,user_id,display_name,points\ndiscord,42,Ada,300\n", today=TODAY)
    second = read_csv(b"platform,user_id,display_name,points\ndiscord,42,Ada,250\n", today=TODAY)

    assert await run_import(sessions, clock, "csv", first, spaces) == (1, 0, 0)
    assert await run_import(sessions, clock, "csv", second, spaces) == (1, 0, 0)
    assert await run_import(sessions, clock, "csv", first, spaces) == (0, 1, 0)
    assert await run_import(sessions, clock, "csv", second, spaces) == (0, 1, 0)

    async with sessions() as session:
        member = await session.scalar(select(Member).join(Identity).where(Identity.user_id == "42"))
        assert member is not None and member.points_total == 250
        assert await ledger_total(session, member.id) == 250
        points = (
            await session.scalars(
                select(Activity.points).where(Activity.member_id == member.id).order_by(Activity.id)
            )
        ).all()
        assert points == [300, -50]
        assert member.last_active_at is None


async def test_joined_dates_badges_and_both_platforms_come_from_the_csv(sessions, clock):
    spaces = await community(sessions, clock)
    roster = read_csv(
        b"platform,user_id,display_name,points,joined,badges\n"
        b"discord,42,Ada,10,2024-05-31,Founding Member; Helper\n"
        b"slack,U0ABCDEF,Grace,20,,\n",
        today=TODAY,
    )
    assert await run_import(sessions, clock, "csv", roster, spaces) == (2, 0, 0)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    Identity.platform, Member.joined_at, Member.points_total, Activity.source_ref
                )
                .join(Member, Identity.member_id == Member.id)
                .join(Activity, Activity.member_id == Member.id)
                .order_by(Identity.platform)
            )
        ).all()
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("discord", 10, "csv import; badges: Founding Member; Helper"),
        ("slack", 20, "csv import"),
    ]
    assert rows[0][1].date() == date(2024, 5, 31) and rows[1][1] == clock.now()


async def test_the_badges_a_row_lists_are_given_once_and_unknown_ones_are_reported(sessions, clock):
    spaces = await community(sessions, clock)
    community_id = spaces["discord"].community_id
    async with sessions() as session, session.begin():
        await sync_configured(session, clock, community_id, {})  # the built-ins
    roster = read_csv(
        b"platform,user_id,display_name,points,joined,badges\n"
        b"discord,42,Ada,10,,founding member; Bug Hunter\n"
        b"slack,U0ABCDEF,Grace,20,,Community Expert\n",
        today=TODAY,
    )

    async def once():
        async with sessions() as session, session.begin():
            return await import_batch(session, clock, source="csv", spaces=spaces, rows=roster.rows)

    first = await once()
    second = await once()

    assert (first.badges, second.badges) == (2, 0)
    assert [(e.where, "Bug Hunter" in e.reason) for e in first.unknown_badges] == [("line 2", True)]
    async with sessions() as session:
        held = (
            await session.execute(
                select(Member.display_name, Badge.slug, MemberBadge.via)
                .join(MemberBadge, MemberBadge.member_id == Member.id)
                .join(Badge, Badge.id == MemberBadge.badge_id)
                .order_by(Member.display_name)
            )
        ).all()
        events = await session.scalar(
            select(func.count()).where(EventRecord.name == "badge.awarded")
        )
        announced = await session.scalar(
            select(func.count()).where(OutboxMessage.key.startswith("badge-"))
        )
    assert [tuple(row) for row in held] == [
        ("Ada", "founding-member", "import"),
        ("Grace", "community-expert", "import"),
    ]
    assert (events, announced) == (2, 0)  # published once each; nothing posted or DMed


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("discord,,Ada,1", "user_id: missing"),
        ("discord,12ab,Ada,1", "is not a user id"),
        ("discord,42,Ada,-5", "points: '-5' is not a whole number"),
        ("discord,42,Ada,1.5", "points: '1.5'"),
        ("teams,42,Ada,1", "platform: 'teams' is not one of discord, slack"),
        ("discord,42," + "x" * 101 + ",1", "has 1 to 100 characters"),
        ("discord,42,Ada,1,2024-13-01", "joined: '2024-13-01' is not a date"),
        ("discord,42,A\u202eda,1", "direction"),
        ("discord,42,A\x07da,1", "control characters"),
        ("slack,42,Ada,1", "a Slack user id looks like"),
    ],
)
def test_a_malformed_csv_row_is_skipped_with_its_line_and_reason(line, reason):
    data = f"platform,user_id,display_name,points,joined\ndiscord,1,Ok,5\n{line}\ndiscord,2,Ok,5\n"
    roster = read_csv(data.encode(), today=TODAY)
    assert [row.user_id for row in roster.rows] == ["1", "2"]
    assert [(s.where, reason in s.reason) for s in roster.skipped] == [("line 3", True)]


def test_a_malformed_player_is_reported_by_index_and_line():
    roster = read_mee6(mee6_pages(10, bad_at=7))
    assert len(roster.rows) == 9
    (skipped,) = roster.skipped
    assert skipped.where.startswith("player 8, line ") and skipped.reason.startswith("xp:")
    line = int(skipped.where.rsplit(" ", 1)[1])
    text = mee6_pages(10, bad_at=7).decode().splitlines()
    assert text[line - 1].strip() == "{" and '"xp": -5' in "\n".join(text[line : line + 6])


# -- the command line -------------------------------------------------------------------------


def prepared(tmp_path, config: str = "[discord]\nguild_ids = [4242]\n"):
    (tmp_path / "bot.toml").write_text(QUIET + config)
    assert flywheel("migrate", "--config", "bot.toml", cwd=tmp_path).returncode == 0


def test_the_cli_imports_a_csv_with_a_bom_and_lists_the_skipped_rows(tmp_path):
    prepared(tmp_path)
    rows = "".join(f"discord,{n},Member {n},{n}\n" for n in range(1, 61))
    (tmp_path / "roster.csv").write_bytes(
        "\ufeffPlatform,User_ID,Display_Name,Points\n".encode()
        + rows.encode()
        + "".join(f"discord,x{n},Bad,1\n" for n in range(55)).encode()
    )
    result = flywheel("import", "csv", "roster.csv", "--config", "bot.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "imported 60 (60 new members), unchanged 0, skipped 55"
    assert lines[1].startswith("  line 62: user_id: 'x0' is not a user id")
    assert lines[-1] == "  …and 5 more" and len(lines) == 52
    again = flywheel("import", "csv", "roster.csv", "--config", "bot.toml", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith(
        "imported 0 (0 new members), unchanged 60, skipped 55"
    )
    with sqlite3.connect(tmp_path / "flywheel.db") as db:
        total, ledger = db.execute(
            "SELECT (SELECT SUM(points_total) FROM members), (SELECT SUM(points) FROM activities)"
        ).fetchone()
    assert total == ledger == sum(range(1, 61))


def test_the_cli_refuses_what_it_cannot_import_in_one_line(tmp_path):
    prepared(tmp_path, config="")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_bytes(b"platform,user_id,display_name,points\n")
    (tmp_path / "board.json").write_bytes(mee6_pages(2))
    (tmp_path / "none.json").write_bytes(b'{"players": []}')
    cases = [
        (("csv", "missing.csv"), "cannot read 'missing.csv'"),
        (("xls", "empty.csv"), "unknown format 'xls'; use one of csv, mee6"),
        (("csv", "empty.csv"), "the file is empty"),
        (("csv", "header.csv"), "no members"),
        (("mee6", "none.json"), "no players"),
        (("mee6", "header.csv"), "not JSON"),
        (("mee6", "board.json"), "[discord] guild_ids is empty"),
    ]
    for args, expected in cases:
        line = one_line_exit_2(flywheel("import", *args, "--config", "bot.toml", cwd=tmp_path))
        assert expected in line, (args, line)
