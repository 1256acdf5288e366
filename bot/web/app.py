"""The one HTTP server of a Flywheel process."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from sqlalchemy import func, select, text

from bot import __version__
from bot.db.migrate import current_revision, head_revision
from bot.models import EventRecord, Member, OutboxMessage
from bot.runtime import Runtime
from bot.services import recognition, ugc
from bot.web.checkout import add_checkout_routes
from bot.web.media import serve_media
from bot.web.proof import add_proof_routes
from bot.web.stripe_webhook import add_webhook_routes

log = logging.getLogger(__name__)
RUNTIME = web.AppKey("runtime", Runtime)
METRICS = web.AppKey("metrics", dict[str, Any])
# The largest request body any route reads. Slack's biggest payloads (a modal submitted with
# every field full) stay well under 1 MiB; a larger body is refused with 413 before it is parsed.
MAX_BODY_BYTES = 1024 * 1024


class ClientFaults(logging.Filter):
    """Log a request aiohttp cannot parse as one INFO line, not as an ERROR with a traceback.

    A malformed request line or header is the client's fault (the internet sends plenty);
    aiohttp still answers it 400, and an error in our logs should mean something of ours broke.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Downgrade records about a 4xx parse failure; pass every other record unchanged."""
        fault = record.exc_info[1] if record.exc_info else None
        if isinstance(fault, HttpProcessingError) and 400 <= fault.code < 500:
            record.msg = f"{record.getMessage()}: {fault.code} {fault.message.splitlines()[0]}"
            record.args = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


CLIENT_FAULTS = ClientFaults()


async def healthz(request: web.Request) -> web.Response:
    """Report database, schema, platforms and scheduler as JSON (503 when the database is down)."""
    runtime = request.app[RUNTIME]
    database: dict[str, Any] = {"reachable": False, "schema_current": False}
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        database["reachable"] = True
        revision = await current_revision(runtime.engine)
        database["revision"] = revision
        database["schema_current"] = revision == head_revision()
    except Exception as exc:
        database["error"] = type(exc).__name__
    body = {
        "status": "ok" if database["reachable"] and database["schema_current"] else "degraded",
        "version": __version__,
        "database": database,
        "platforms": {platform.name: platform.status for platform in runtime.platforms},
        "scheduler": {"state": runtime.scheduler.state, "jobs": runtime.scheduler.jobs},
    }
    return web.json_response(body, status=200 if database["reachable"] else 503)


async def metrics(request: web.Request) -> web.Response:
    """Expose Prometheus metrics read from the database at scrape time."""
    runtime = request.app[RUNTIME]
    gauges = request.app[METRICS]
    async with runtime.sessions() as session:
        outbox = (
            await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
        ).all()
        members = await session.scalar(
            select(func.count()).where(Member.erased_at.is_(None), Member.merged_into_id.is_(None))
        )
        events = await session.scalar(select(func.count()).where(EventRecord.done_at.is_(None)))
        now = runtime.clock.now()
        pending = await ugc.pending_count(session, runtime.community_id)
        latency = await ugc.moderation_latency(
            session, runtime.community_id, since=now - timedelta(days=7), until=now
        )
        answers = await recognition.answer_times(
            session, runtime.community_id, since=now - timedelta(days=7), until=now
        )
    for status in ("pending", "claimed", "sending", "sent", "dead"):
        gauges["outbox"].labels(status=status).set(0)
    for status, count in outbox:
        gauges["outbox"].labels(status=status).set(count)
    gauges["members"].set(members or 0)
    gauges["events"].set(events or 0)
    gauges["ugc_pending"].set(pending)
    gauges["ugc_latency"].set(latency.median_seconds or 0)
    gauges["first_response"].set(answers.median_first_response_seconds or 0)
    gauges["time_to_answer"].set(answers.median_answer_seconds or 0)
    gauges["ingest_depth"].set(runtime.ingest.depth)
    # A counter only goes up: add what the pipeline counted since the last scrape.
    waited = runtime.ingest.stats.backpressure
    gauges["ingest_backpressure"].inc(waited - gauges["ingest_backpressure_seen"])
    gauges["ingest_backpressure_seen"] = waited
    registry: CollectorRegistry = gauges["registry"]
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def media(request: web.Request) -> web.StreamResponse:
    """Serve a member's stored file (GET and HEAD) from the runtime's media store."""
    return await serve_media(request, request.app[RUNTIME].media)


def create_app(runtime: Runtime) -> web.Application:
    """Build the aiohttp application for a runtime."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    registry = CollectorRegistry()
    app[METRICS] = {
        "registry": registry,
        "outbox": Gauge(
            "flywheel_outbox_messages", "Outbox rows by status", ["status"], registry=registry
        ),
        "members": Gauge("flywheel_members", "Members (not erased, not merged)", registry=registry),
        "ugc_pending": Gauge(
            "flywheel_ugc_pending", "Submissions waiting for a moderator", registry=registry
        ),
        "ugc_latency": Gauge(
            "flywheel_ugc_moderation_median_seconds",
            "Median time from submission to decision, decisions of the last 7 days",
            registry=registry,
        ),
        "first_response": Gauge(
            "flywheel_answers_first_response_median_seconds",
            "Median time from a question to its first reply by someone else, questions whose "
            "answer was marked in the last 7 days",
            registry=registry,
        ),
        "time_to_answer": Gauge(
            "flywheel_answers_time_to_answer_median_seconds",
            "Median time from a question to its accepted answer's message, answers marked in "
            "the last 7 days",
            registry=registry,
        ),
        "events": Gauge(
            "flywheel_events_pending", "Domain events not yet fully delivered", registry=registry
        ),
        "ingest_depth": Gauge(
            "flywheel_ingest_queue_depth", "Chat messages waiting to be written", registry=registry
        ),
        "ingest_backpressure": Counter(
            "flywheel_ingest_backpressure",
            "Times a front end waited because the chat queue was full",
            registry=registry,
        ),
        "ingest_backpressure_seen": 0,
    }
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/media/{key}", media)
    add_proof_routes(app, runtime)
    add_checkout_routes(app, runtime)
    add_webhook_routes(app, runtime)
    return app


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on host:port (0 picks a free port); return the runner and the bound port."""
    logging.getLogger("aiohttp.server").addFilter(CLIENT_FAULTS)  # once: the same filter object
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()  # e.g. the port is in use: leave nothing half set up
        raise
    # runner.addresses holds each listening socket's getsockname(): (host, port, ...).
    addresses = runner.addresses
    bound = addresses[0][1] if addresses else port
    return runner, int(bound)
