"""One asyncio process: platforms, scheduler, event bus, outbox and web server in one task group."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal

from aiohttp import web

from bot.db.migrate import current_revision, head_revision
from bot.errors import ConfigError
from bot.runtime import Platform, Runtime, bootstrap_community
from bot.settings import Settings
from bot.web.app import create_app, start_site

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 10.0


async def require_current_schema(runtime: Runtime) -> None:
    """Refuse to start on a database that is not at the newest migration."""
    try:
        revision = await current_revision(runtime.engine)
    except Exception as exc:
        raise ConfigError(
            f"database.url: cannot open the database ({type(exc).__name__}: {exc}); "
            "check [database] url or FLYWHEEL_DATABASE_URL"
        ) from None
    head = head_revision()
    if revision != head:
        raise ConfigError(
            f"database: schema is at {revision or 'nothing (empty database)'}, this version needs {head}; "
            "run `flywheel migrate` first"
        )


def build_web_app(runtime: Runtime) -> web.Application:
    """Build the web app the process serves: the core routes and each platform's mounts."""
    app = create_app(runtime)
    for platform in runtime.platforms:
        mount = getattr(platform, "mount", None)
        if mount is not None:
            mount(app)  # e.g. Slack in HTTP mode adds POST /slack/events
    return app


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def serve(
    runtime: Runtime,
    *,
    with_platforms: bool,
    stop: asyncio.Event | None = None,
    on_ready: asyncio.Future[int] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``), then shut down gracefully within 10 seconds."""
    stop = stop or asyncio.Event()
    _install_signal_handlers(stop)
    try:
        await require_current_schema(runtime)
        await bootstrap_community(runtime)
        app = build_web_app(runtime)
        runner, port = await _listen(app, runtime.settings)
    except BaseException:
        await runtime.close()
        raise
    log.info("web server on http://%s:%d", runtime.settings.web.host, port)
    if on_ready is not None and not on_ready.done():
        on_ready.set_result(port)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(runtime.bus.run(stop), name="events")
            group.create_task(runtime.dispatcher.run(stop), name="outbox")
            group.create_task(runtime.scheduler.run(stop), name="scheduler")
            # Writes queued chat points every [recognition] flush_seconds; on stop it writes
            # what is still queued before it returns.
            group.create_task(runtime.ingest.run(stop), name="ingest")
            if with_platforms:
                for platform in runtime.platforms:
                    group.create_task(_run_platform(platform, stop), name=platform.name)
            await stop.wait()
            log.info("stopping: no new requests; finishing work in flight")
            await asyncio.wait_for(runner.shutdown(), timeout=SHUTDOWN_SECONDS / 2)
    finally:
        await runner.cleanup()
        # Front ends may have queued chat while they stopped, after the loop's last flush.
        try:
            await asyncio.wait_for(runtime.ingest.flush(), timeout=SHUTDOWN_SECONDS / 2)
        except Exception:
            log.exception("chat points still queued at shutdown were not written")
        await runtime.close()
        log.info("stopped")


async def _listen(app: web.Application, settings: Settings) -> tuple[web.AppRunner, int]:
    """Start the web server; a port in use or a host not of this machine is one ConfigError line."""
    host, port = settings.web.host, settings.web.port
    try:
        return await start_site(app, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"web.port: port {port} on {host} is in use; stop what listens there, or set "
                "another port with FLYWHEEL_WEB_PORT ([web] port in bot.toml, "
                "`flywheel demo --port N`)"
            ) from None
        raise ConfigError(
            f"web.host: cannot listen on {host}:{port} ({exc.strerror}); set [web] host to an "
            "address of this machine (127.0.0.1, 0.0.0.0) and [web] port or FLYWHEEL_WEB_PORT"
        ) from None


async def _run_platform(platform: Platform, stop: asyncio.Event) -> None:
    task = asyncio.create_task(platform.start(), name=f"{platform.name}-client")
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        task.result()  # a platform that ends on its own is an error: let the group stop
        raise RuntimeError(f"{platform.name} disconnected")
    await asyncio.wait_for(platform.stop(), timeout=SHUTDOWN_SECONDS / 2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
