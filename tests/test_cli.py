"""The command line: verbs, migrate, run's refusals, web serving /healthz, export, UGC CSV."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.db.migrate import head_revision
from bot.sandbox.stripe import StripeSandbox

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
# Run the code under test, not whatever `bot` the interpreter would find (a git worktree
# tested with PYTHONPATH=$PWD against another checkout's virtualenv).
if "PYTHONPATH" in os.environ:
    ENV["PYTHONPATH"] = os.environ["PYTHONPATH"]


def flywheel(*args: str, cwd, env=None, timeout=60) -> subprocess.CompletedProcess[str]:
    """Run the CLI; ``timeout`` only guards against a hang (speed is the bench's business)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**ENV, **(env or {})},
        timeout=timeout,
        check=False,
    )


def test_help_lists_every_verb(tmp_path):
    result = flywheel("--help", cwd=tmp_path)
    assert result.returncode == 0
    for verb in ("run", "web", "migrate", "reconcile", "export", "demo", "commands", "bench"):
        assert re.search(rf"^\s+{verb}\s", result.stdout, re.MULTILINE), verb
    assert flywheel("export", "--help", cwd=tmp_path).stdout.count("--format") >= 1


def test_migrate_on_an_empty_directory_creates_the_database_at_the_newest_revision(tmp_path):
    result = flywheel("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "flywheel.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head_revision()
    assert flywheel("migrate", cwd=tmp_path).returncode == 0  # idempotent


def test_run_without_tokens_exits_2_with_one_line_naming_the_variables(tmp_path):
    result = flywheel("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "DISCORD_TOKEN" in result.stderr and "SLACK_BOT_TOKEN" in result.stderr


def test_run_refuses_an_out_of_date_schema_and_says_to_migrate(tmp_path):
    result = flywheel("run", cwd=tmp_path, env={"DISCORD_TOKEN": "x"})
    assert result.returncode == 2
    assert "run `flywheel migrate` first" in result.stderr and "Traceback" not in result.stderr


async def test_web_serves_healthz_with_only_a_database_and_stops_on_sigterm(tmp_path):
    assert flywheel("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "bot.toml").write_text("[web]\nport = 0\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "web",
        "--config",
        "bot.toml",
        cwd=tmp_path,
        env=ENV,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    port = None
    while port is None:
        line = (await asyncio.wait_for(process.stderr.readline(), timeout=30)).decode()
        assert line, "flywheel web exited before serving"
        found = re.search(r"web server on http://127\.0\.0\.1:(\d+)", line)
        port = int(found.group(1)) if found else None
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/json")
            body = await response.json()
        async with client.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
    assert body["status"] == "ok"
    assert body["database"] == {
        "reachable": True,
        "schema_current": True,
        "revision": head_revision(),
    }
    assert body["platforms"] == {} and "scheduler" in body
    assert 'flywheel_outbox_messages{status="pending"} 0.0' in metrics
    assert "flywheel_ugc_pending 0.0" in metrics
    assert "flywheel_ugc_moderation_median_seconds 0.0" in metrics
    assert "flywheel_answers_first_response_median_seconds 0.0" in metrics
    assert "flywheel_answers_time_to_answer_median_seconds 0.0" in metrics
    assert "flywheel_ingest_backpressure_total 0.0" in metrics
    assert "flywheel_ingest_queue_depth 0.0" in metrics
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=10) == 0


def test_export_writes_members_identities_and_activities(tmp_path):
    assert flywheel("migrate", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "flywheel.db") as db:
        db.execute(
            "INSERT INTO communities (slug, name, timezone, created_at) "
            "VALUES ('community', 'C', 'UTC', '2026-01-01 00:00:00')"
        )
        db.execute(
            "INSERT INTO members (community_id, display_name, points_total, activity_count, joined_at) "
            "VALUES (1, 'Ada, \"the\" first', 5, 1, '2026-01-01 00:00:00')"
        )
    for fmt in ("json", "csv"):
        result = flywheel("export", "--format", fmt, "--out", f"out-{fmt}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "1 members, 0 identities, 0 activities" in result.stdout
    members = json.loads((tmp_path / "out-json" / "members.json").read_text())
    assert members[0]["display_name"] == 'Ada, "the" first' and members[0]["points_total"] == 5
    csv_text = (tmp_path / "out-csv" / "members.csv").read_text()
    assert '"Ada, ""the"" first"' in csv_text


# -- start-up failures: one line, exit 2, naming the fix -----------------------------------------

QUIET = '[logging]\nlevel = "WARNING"\n'


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the command failed with exit 2 and exactly one line on stderr; return the line."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("flywheel: "), result.stderr
    return result.stderr


def busy_port() -> socket.socket:
    """Listen on a free loopback port, as another program would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


@pytest.mark.parametrize(
    ("content", "fix"),
    [
        (None, "is a directory; pass --config the path of bot.toml"),
        (b'[community]\nname = "Caf\xe9"\n', "not UTF-8 text (byte 23); save it as UTF-8"),
        (b"[community\nname = 1\n", "not valid TOML"),
        pytest.param(
            b"[web]\nport = 0\n",
            "permission denied; make it readable by the user running flywheel",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file"),
            id="unreadable",
        ),
    ],
    ids=["directory", "not-utf8", "invalid-toml", "unreadable"],
)
def test_an_unreadable_bot_toml_is_one_line_and_exit_2(tmp_path, content, fix):
    config = tmp_path / "bot.toml"
    if content is None:
        config.mkdir()
    else:
        config.write_bytes(content)
        config.chmod(0o000 if "permission" in fix else 0o644)

    line = one_line_exit_2(flywheel("run", "--config", "bot.toml", cwd=tmp_path))

    assert fix in line and "Traceback" not in line


def test_a_web_port_in_use_is_one_line_naming_the_variable_to_change(tmp_path):
    assert flywheel("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "bot.toml").write_text(QUIET)
    with busy_port() as listener:
        port = listener.getsockname()[1]
        result = flywheel(
            "web", "--config", "bot.toml", cwd=tmp_path, env={"FLYWHEEL_WEB_PORT": str(port)}
        )

    line = one_line_exit_2(result)
    assert f"port {port} on 127.0.0.1 is in use" in line and "FLYWHEEL_WEB_PORT" in line


def test_the_demo_with_its_port_in_use_fails_at_once_naming_the_option(tmp_path):
    with busy_port() as listener:
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = flywheel("demo", "--port", str(port), cwd=tmp_path)
        took = time.monotonic() - started

    line = one_line_exit_2(result)
    assert f"port {port} on 127.0.0.1 is in use" in line and "flywheel demo --port" in line
    assert took < 20, f"took {took:.0f} s: the demo waited for a server that could not start"


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


@pytest.mark.skipif(
    _resolves("discord.com") or _resolves("slack.com"),
    reason="needs a host where Discord and Slack are unreachable (CI has no network)",
)
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DISCORD_TOKEN": "x"}, "discord: cannot reach Discord"),
        ({"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_APP_TOKEN": "xapp-x"}, "slack: cannot reach Slack"),
    ],
    ids=["discord", "slack"],
)
def test_an_unreachable_platform_is_one_line_without_unclosed_sessions(tmp_path, env, named):
    assert flywheel("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "bot.toml").write_text(QUIET + "[web]\nport = 0\n")

    result = flywheel("run", "--config", "bot.toml", cwd=tmp_path, env=env)

    line = one_line_exit_2(result)  # an "Unclosed client session" ERROR would be a second line
    assert named in line and "check this host's network" in line


@pytest.mark.parametrize("verb", ["migrate", "run", "export"])
def test_a_bad_database_url_is_shown_without_its_password(tmp_path, verb):
    url = "postgres://bob:hunter2@db.example/flywheel"

    line = one_line_exit_2(
        flywheel(verb, cwd=tmp_path, env={"FLYWHEEL_DATABASE_URL": url, "DISCORD_TOKEN": "x"})
    )

    assert "hunter2" not in line
    assert "postgres://bob:***@db.example/flywheel" in line and "postgresql+asyncpg://" in line


def test_an_unreachable_database_is_named_without_its_password(tmp_path):
    url = "postgresql+asyncpg://bob:p@ss-hunter2@127.0.0.1:1/flywheel"

    line = one_line_exit_2(flywheel("migrate", cwd=tmp_path, env={"FLYWHEEL_DATABASE_URL": url}))

    assert "hunter2" not in line and "FLYWHEEL_DATABASE_URL" in line


# -- UGC in the export, and the public CSV -------------------------------------------------------

UGC_TOML = (
    '[community]\nname = "Acme Makers"\nslug = "acme"\ntimezone = "Europe/Berlin"\n'
    '[web]\npublic_url = "https://proof.example"\n[logging]\nlevel = "WARNING"\n'
)


def seed_ugc(tmp_path) -> dict[str, str]:
    """Migrate, then share and approve one submission per consent choice and one withdrawn.

    Return the public ids by consent (and "withdrawn").
    """
    from bot.clock import FakeClock
    from bot.commands import CommandNames
    from bot.db import create_engine, create_sessionmaker
    from bot.media import LocalMediaStore
    from bot.services import ugc
    from bot.services.callers import Role
    from tests.conftest import make_spaces
    from tests.services.test_ugc import RULES, actor, draft, picture

    assert flywheel("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "bot.toml").write_text(
        UGC_TOML + f'[media]\ndir = "{tmp_path / "media"}"\n', encoding="utf-8"
    )

    async def seed() -> dict[str, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'flywheel.db'}")
        store = LocalMediaStore(tmp_path / "media", public_url="https://proof.example")
        clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        uids: dict[str, str] = {}
        async with create_sessionmaker(engine)() as session, session.begin():
            discord, _ = await make_spaces(session, clock)
            mod = await actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
            for user, consent, title in (
                ("ada", "public_named", "=HYPERLINK(1)"),
                ("bob", "public_anonymous", 'A cake, with "quotes"'),
                ("cy", "community", "Members only"),
                ("dee", "public_named", "Taken back"),
            ):
                member = await actor(session, clock, discord.community_id, user)
                view = await ugc.submit(
                    session,
                    clock,
                    member,
                    draft(title, consent=consent),
                    (picture(),),
                    store=store,
                    rules=RULES,
                )
                await ugc.decide(
                    session,
                    clock,
                    mod,
                    view.uid,
                    ugc.Decision.APPROVE,
                    rules=RULES,
                    store=store,
                    commands=CommandNames(),
                )
                clock.advance(60)
                uids["withdrawn" if user == "dee" else consent] = view.uid
            dee = await actor(session, clock, discord.community_id, "dee")
            await ugc.withdraw(session, clock, dee, uids["withdrawn"], delete=False, store=store)
        await engine.dispose()
        return uids

    return asyncio.run(seed())


def test_ugc_csv_holds_only_public_items_a_name_only_with_consent(tmp_path):
    uids = seed_ugc(tmp_path)

    result = flywheel("export", "--config", "bot.toml", "--ugc-csv", "proof.csv", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wrote 2 public submissions to proof.csv"
    with (tmp_path / "proof.csv").open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[:3] == ["id", "approved_at", "title"] and "consent" in header
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(by_id) == [uids["public_anonymous"], uids["public_named"]]  # newest first
    named, anonymous = by_id[uids["public_named"]], by_id[uids["public_anonymous"]]
    assert named["author"] == "Ada" and named["consent"] == "public_named"
    assert named["title"] == "'=HYPERLINK(1)"  # never read as a formula
    assert named["media"].startswith("https://proof.example/media/")
    assert anonymous["author"] == "" and anonymous["title"] == 'A cake, with "quotes"'
    text = (tmp_path / "proof.csv").read_text(encoding="utf-8")
    assert "Bob" not in text and "Members only" not in text  # "community only" never leaves
    assert uids["withdrawn"] not in text and "Taken back" not in text and "Dee" not in text


def test_ugc_csv_in_a_missing_folder_is_one_line_naming_the_option(tmp_path):
    result = flywheel("export", "--ugc-csv", "nowhere/proof.csv", cwd=tmp_path)

    line = one_line_exit_2(result)
    assert "--ugc-csv" in line and "nowhere" in line and "does not exist" in line
    assert not (tmp_path / "flywheel.db").exists()  # refused before touching anything


def test_the_whole_export_includes_the_ugc_tables(tmp_path):
    uids = seed_ugc(tmp_path)

    result = flywheel("export", "--config", "bot.toml", "--out", "out", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "0 ugc_prompts, 4 ugc_submissions, 4 ugc_attachments" in result.stdout
    submissions = json.loads((tmp_path / "out" / "ugc_submissions.json").read_text())
    by_uid = {row["uid"]: row for row in submissions}
    assert set(by_uid) == {*uids.values()}
    assert by_uid[uids["community"]]["consent"] == "community"
    assert by_uid[uids["withdrawn"]]["withdrawn_at"] is not None
    assert json.loads((tmp_path / "out" / "ugc_prompts.json").read_text()) == []


def test_reconcile_without_a_stripe_key_exits_2_naming_it(tmp_path):
    assert flywheel("migrate", cwd=tmp_path).returncode == 0
    result = flywheel("reconcile", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "STRIPE_API_KEY" in result.stderr and "Traceback" not in result.stderr


async def test_reconcile_records_a_purchase_stripe_holds_and_says_what_it_repaired(tmp_path):
    stripe_sandbox = StripeSandbox()
    await stripe_sandbox.start()
    try:
        product = stripe_sandbox.add_product("Guide")
        price = stripe_sandbox.add_price(product["id"], 2500)
        (tmp_path / "bot.toml").write_text(
            f'[stripe]\napi_base = "{stripe_sandbox.api_base}"\n'
            f'[offers.guide]\nname = "The guide"\nprice = "{price["id"]}"\n'
        )
        assert flywheel("migrate", cwd=tmp_path).returncode == 0
        session = stripe_sandbox.state.create_session(
            {
                "mode": "payment",
                "line_items": [{"price": price["id"], "quantity": "1"}],
                "success_url": "https://acme.example/thanks",
                "metadata": {"flywheel_offer": "guide"},
            }
        )
        stripe_sandbox.complete_session(session["id"])
        env = {**ENV, "STRIPE_API_KEY": stripe_sandbox.api_key}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "reconcile",
            "--config",
            "bot.toml",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        printed = out.decode()
        assert "1 checkout sessions" in printed and "repaired" in printed
        assert f"order {session['id']} recorded" in printed
        with sqlite3.connect(tmp_path / "flywheel.db") as db:
            rows = db.execute(
                "SELECT session_id, payment_status, offer_slug FROM orders"
            ).fetchall()
        assert rows == [(session["id"], "paid", "guide")]
    finally:
        await stripe_sandbox.stop()
