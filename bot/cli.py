"""The `flywheel` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.errors import ConfigError
from bot.settings import Settings, load_settings
from bot.text import redact_urls

log = logging.getLogger("flywheel")


class RedactingFormatter(logging.Formatter):
    """Format log lines with the password of any URL in them (a database URL) replaced by ***."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record as usual, then redact it, traceback included."""
        return redact_urls(super().format(record))


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.file.logging.level, handlers=[handler])
    # Alembic narrates every step at INFO; operators only need its warnings.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


def require_platform(settings: Settings) -> None:
    """Fail with one line when no platform is configured, or one is half-configured."""
    if not settings.discord_enabled and not settings.slack_enabled:
        raise ConfigError(
            "no platform configured: set DISCORD_TOKEN (Discord) and/or SLACK_BOT_TOKEN (Slack) "
            "in the environment, or try `flywheel demo` without any"
        )
    if settings.slack_enabled:
        if settings.slack.mode == "socket" and settings.secrets.SLACK_APP_TOKEN is None:
            raise ConfigError(
                'SLACK_APP_TOKEN is not set: Socket Mode ([slack] mode = "socket") needs an app-level '
                'token (xapp-…); set it, or set [slack] mode = "http"'
            )
        if settings.secrets.SLACK_SIGNING_SECRET is None and settings.slack.mode == "http":
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests; "
                "copy it from your Slack app's Basic Information page"
            )


def cmd_run(args: argparse.Namespace) -> int:
    """Connect to the configured platforms and serve."""
    settings = _settings(args)
    require_platform(settings)
    from bot.platforms import attach_platforms
    from bot.process import serve
    from bot.runtime import build_runtime

    async def main() -> None:
        runtime = build_runtime(settings)
        attach_platforms(runtime)
        await serve(runtime, with_platforms=True)

    asyncio.run(main())
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """Serve HTTP only."""
    settings = _settings(args)
    from bot.platforms import attach_web_only
    from bot.process import serve
    from bot.runtime import build_runtime

    async def main() -> None:
        runtime = build_runtime(settings)
        attach_web_only(runtime)
        await serve(runtime, with_platforms=False)

    asyncio.run(main())
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Upgrade the database to the newest schema."""
    settings = _settings(args)
    from bot.db.migrate import head_revision, upgrade

    try:
        upgrade(settings.database_url)
    except Exception as exc:
        raise ConfigError(
            f"database.url: migration failed ({type(exc).__name__}: {exc}); "
            "check [database] url or FLYWHEEL_DATABASE_URL"
        ) from None
    print(f"database is at {head_revision()} (newest)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the community's data to a directory (or, with --ugc-csv, its public UGC to a file)."""
    if args.ugc_csv is not None:
        return _export_ugc_csv(args, Path(args.ugc_csv))
    settings = _settings(args)
    from bot.process import require_current_schema
    from bot.runtime import bootstrap_community, build_runtime
    from bot.services.export import export_community

    async def main() -> dict[str, int]:
        runtime = build_runtime(settings)
        try:
            await require_current_schema(runtime)
            community_id = await bootstrap_community(runtime)
            async with runtime.sessions() as session:
                return await export_community(
                    session, community_id, out_dir=Path(args.out), fmt=args.format
                )
        finally:
            await runtime.close()

    counts = asyncio.run(main())
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    print(f"exported {summary} to {args.out}/ as {args.format}")
    return 0


def _export_ugc_csv(args: argparse.Namespace, target: Path) -> int:
    """Write the approved public submissions, with their consent, as CSV (UTF-8, header row)."""
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(
            f"--ugc-csv: the folder {str(folder)!r} does not exist; create it first or give a "
            "file in an existing folder"
        )
    if target.is_dir():
        raise ConfigError(f"--ugc-csv: {str(target)!r} is a folder; give the path of a file")
    settings = _settings(args)
    from bot.db import read_sessions
    from bot.process import require_current_schema
    from bot.runtime import bootstrap_community, build_runtime
    from bot.services.ugc import csv_rows

    async def main() -> list[list[str]]:
        runtime = build_runtime(settings)
        try:
            await require_current_schema(runtime)
            community_id = await bootstrap_community(runtime)
            # One read transaction: every page from the same snapshot, without the write lock.
            async with read_sessions(runtime.engine)() as session:
                return await csv_rows(session, community_id, store=runtime.media)
        finally:
            await runtime.close()

    rows = asyncio.run(main())
    # Written beside the target and renamed over it: a reader never sees half a file.
    partial = folder / f".{target.name}.partial"
    try:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        partial.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ConfigError(
            f"--ugc-csv: cannot write {str(target)!r} ({exc.strerror}); give a file you may write"
        ) from None
    print(f"wrote {len(rows) - 1} public submissions to {target}")
    return 0


IMPORT_BATCH = 500  # rows per transaction
SKIPPED_SHOWN = 50


class Progress:
    """A progress bar on stderr when it is a terminal; nothing otherwise (logs stay clean)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self._total = max(total, 1)
        self._stream = stream or sys.stderr
        self._shown = self._stream.isatty()
        self._done = 0

    def advance(self, count: int) -> None:
        """Count rows done and redraw the bar."""
        self._done += count
        if self._shown:
            filled = 30 * self._done // self._total
            self._stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {self._done:,}/{self._total:,} rows"
            )
            self._stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def cmd_import(args: argparse.Namespace) -> int:
    """Import a roster (CSV or MEE6 leaderboard JSON) as imported activity, idempotently."""
    from bot.roster_formats import FORMATS, RosterFileError, read_roster

    if args.format not in FORMATS:
        raise ConfigError(
            f"import: unknown format {args.format!r}; use one of {', '.join(FORMATS)}"
        )
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"import: cannot read {args.file!r} ({exc.strerror})") from None
    settings = _settings(args)
    from bot.clock import SystemClock
    from bot.process import require_current_schema
    from bot.runtime import Runtime, bootstrap_community, build_runtime
    from bot.services.communities import SpaceRef, ensure_space
    from bot.services.roster import BatchOutcome, Skipped, connected_space, import_batch

    clock = SystemClock()
    try:
        roster = read_roster(args.format, data, today=clock.now().date())
    except RosterFileError as exc:
        raise ConfigError(f"import: {args.file}: {exc}") from None

    async def spaces_for(runtime: Runtime, community_id: int) -> dict[str, SpaceRef]:
        spaces: dict[str, SpaceRef] = {}
        wanted = {row.platform for row in roster.rows}
        async with runtime.sessions() as session, session.begin():
            if "discord" in wanted:
                if not settings.discord.guild_ids:
                    raise ConfigError(
                        "import: [discord] guild_ids is empty; set the guild these members "
                        "belong to (the first id is used) in bot.toml"
                    )
                spaces["discord"] = await ensure_space(
                    session,
                    clock,
                    community_id=community_id,
                    platform="discord",
                    external_id=str(settings.discord.guild_ids[0]),
                )
            if "slack" in wanted:
                space = await connected_space(session, community_id=community_id, platform="slack")
                if space is None:
                    raise ConfigError(
                        "import: no Slack workspace is connected to this community yet; run "
                        "flywheel with SLACK_BOT_TOKEN once (any command binds it), then import"
                    )
                spaces["slack"] = space
        return spaces

    async def main() -> list[BatchOutcome]:
        runtime = build_runtime(settings, clock)
        progress = Progress(roster.size)
        try:
            await require_current_schema(runtime)
            community_id = await bootstrap_community(runtime)
            spaces = await spaces_for(runtime, community_id)
            progress.advance(len(roster.skipped))
            outcomes = []
            rows = roster.rows
            for start in range(0, len(rows), IMPORT_BATCH):
                batch = rows[start : start + IMPORT_BATCH]
                async with runtime.sessions() as session, session.begin():
                    outcomes.append(
                        await import_batch(
                            session, clock, source=args.format, spaces=spaces, rows=batch
                        )
                    )
                progress.advance(len(batch))
            return outcomes
        finally:
            progress.close()
            await runtime.close()

    outcomes = asyncio.run(main())
    imported = sum(outcome.imported for outcome in outcomes)
    created = sum(outcome.created for outcome in outcomes)
    unchanged = sum(outcome.unchanged for outcome in outcomes)
    skipped: list[Skipped] = [*roster.skipped]
    for outcome in outcomes:
        skipped.extend(outcome.skipped)
    print(
        f"imported {imported:,} ({created:,} new members), unchanged {unchanged:,}, "
        f"skipped {len(skipped):,}"
    )
    for entry in skipped[:SKIPPED_SHOWN]:
        print(f"  {entry.where}: {entry.reason}")
    if len(skipped) > SKIPPED_SHOWN:
        print(f"  …and {len(skipped) - SKIPPED_SHOWN:,} more")
    awarded = sum(outcome.badges for outcome in outcomes)
    missing = [entry for outcome in outcomes for entry in outcome.unknown_badges]
    if awarded or missing:
        print(f"badges given {awarded:,}, not found {len(missing):,}")
    for entry in missing[:SKIPPED_SHOWN]:
        print(f"  {entry.where}: {entry.reason}")
    if len(missing) > SKIPPED_SHOWN:
        print(f"  …and {len(missing) - SKIPPED_SHOWN:,} more")
    return 0 if imported or unchanged else 1


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Read recent Stripe history and repair orders and subscriptions that drifted."""
    settings = _settings(args)
    from bot.process import require_current_schema
    from bot.runtime import bootstrap_community, build_runtime
    from bot.services.payments.reconcile import reconcile

    if settings.secrets.STRIPE_API_KEY is None:
        raise ConfigError(
            "STRIPE_API_KEY is not set: reconcile reads Stripe; set it in the environment "
            "(a restricted key with read access to Checkout Sessions, Subscriptions and Events "
            "is enough)"
        )

    async def main() -> list[str]:
        runtime = build_runtime(settings)
        try:
            await require_current_schema(runtime)
            community_id = await bootstrap_community(runtime)
            assert runtime.stripe is not None
            report = await reconcile(
                runtime.sessions,
                runtime.clock,
                settings,
                runtime.stripe,
                community_id,
                days=args.days,
            )
            return [report.summary(), *(f"  {line}" for line in report.repairs)]
        finally:
            await runtime.close()

    import stripe

    try:
        lines = asyncio.run(main())
    except stripe.StripeError as exc:
        # Stripe's own messages mask the key; say what failed and where to look.
        raise ConfigError(
            f"Stripe refused reconcile ({type(exc).__name__}: {exc.user_message or 'no detail'}); "
            "check STRIPE_API_KEY and [stripe] api_base"
        ) from None
    print("\n".join(lines))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the bot against the local sandboxes."""
    from bot.demo import main as demo_main

    if args.port is None:
        # The demo has no bot.toml of its own; FLYWHEEL_WEB_PORT is read as `run` reads it.
        port = load_settings(
            environ={"FLYWHEEL_WEB_PORT": os.environ.get("FLYWHEEL_WEB_PORT", "")}
        ).web.port
    else:
        port = args.port
    return demo_main(check=args.check, port=port)


def cmd_commands(args: argparse.Namespace) -> int:
    """Print the Discord command payload or the Slack app manifest."""
    settings = load_settings(args.config)
    if args.platform == "discord":
        from bot.discord.commands_json import command_payload

        document: object = command_payload(settings)
    else:
        from bot.slack.manifest import slack_manifest

        document = slack_manifest(settings, public_url=settings.web.public_url)
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark workloads and print their figures."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from bench import render_table, run_all

    try:
        results = run_all(quick=args.quick, only=args.workload)
    except ValueError as exc:
        raise ConfigError(f"bench: {exc}") from None
    if args.json:
        print(json.dumps([result.as_json() for result in results], indent=2))
    else:
        print(render_table(results))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Describe the verbs and their options."""
    parser = argparse.ArgumentParser(
        prog="flywheel",
        description="Flywheel: rituals, UGC, recognition and referrals for Discord and Slack communities.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            metavar="PATH",
            default=None,
            help="bot.toml to read (default: $FLYWHEEL_CONFIG, else built-in defaults)",
        )
        return sub

    verb("run", "connect to Discord/Slack, start the web server and scheduler").set_defaults(
        func=cmd_run
    )
    verb(
        "web", "run only the HTTP server (webhooks, pages, admin), no platform connection"
    ).set_defaults(func=cmd_web)
    verb("migrate", "bring the configured database to the newest schema").set_defaults(
        func=cmd_migrate
    )
    export = verb("export", "write everything the community owns (members, identities, activities)")
    export.add_argument(
        "--format", choices=("json", "csv"), default="json", help="file format (default json)"
    )
    export.add_argument(
        "--out", default="export", metavar="DIR", help="directory to write (default ./export)"
    )
    export.add_argument(
        "--ugc-csv",
        default=None,
        metavar="FILE",
        help="instead, write the approved public submissions (with their consent) to FILE as CSV",
    )
    export.set_defaults(func=cmd_export)
    importer = verb(
        "import", "bring in a roster (csv, or a MEE6 leaderboard's JSON) as imported points"
    )
    importer.add_argument("format", metavar="FORMAT", help="csv or mee6")
    importer.add_argument("file", metavar="FILE", help="the file to import")
    importer.set_defaults(func=cmd_import)
    again = verb(
        "reconcile", "compare recent Stripe sessions and subscriptions with ours; repair drift"
    )
    again.add_argument(
        "--days",
        type=int,
        choices=range(1, 31),
        default=None,
        metavar="N",
        help="how many days back to read, 1-30 (default: [stripe] reconcile_days)",
    )
    again.set_defaults(func=cmd_reconcile)
    demo = verb("demo", "run the whole bot against local Discord and Slack sandboxes (no accounts)")
    demo.add_argument(
        "--check", action="store_true", help="run a scripted tour; exit 1 if a step fails"
    )
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        metavar="N",
        help="web port of the live demo (default: $FLYWHEEL_WEB_PORT, else 8080)",
    )
    demo.set_defaults(func=cmd_demo)
    commands = verb(
        "commands", "print the Discord command payload or the Slack app manifest as JSON"
    )
    commands.add_argument("platform", choices=("discord", "slack"))
    commands.set_defaults(func=cmd_commands)
    bench = verb("bench", "run the benchmarks; each figure comes with a baseline from the same run")
    bench.add_argument("--quick", action="store_true", help="smaller sizes (under two minutes)")
    bench.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    bench.add_argument("--workload", metavar="NAME", default=None, help="run only this workload")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; configuration problems exit 2 with one line, no traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"flywheel: {redact_urls(str(exc))}", file=sys.stderr)
        return 2
    except ExceptionGroup as group:
        # A platform that fails at start-up (a rejected token) stops the task group.
        found = group.subgroup(ConfigError)
        if found is None:
            raise
        first: BaseException = found
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        print(f"flywheel: {redact_urls(str(first))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
