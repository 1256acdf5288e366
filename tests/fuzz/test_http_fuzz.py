"""Every route of the web app, under the requests the internet sends.

The routes are read from the application the process builds (``web_under_test``), so a route a
later feature mounts is fuzzed without a new test. Each request is written byte for byte on a
raw socket — any method token, path, query bytes, headers and body — and for every one:

- the answer is 4xx; 2xx only for a safe method (GET, HEAD) or a correctly signed, valid
  request; never 5xx, never a dropped connection;
- no row of any table changed (``tests.fuzz.snapshot``);
- nothing was logged at ERROR or with a traceback.

A route that takes signed requests has a signer in ``SIGNERS``; without one it still gets
every unsigned, forged, malformed and oversized case.

Runs: a fixed-seed pass and a rotating-seed pass (the seed is in the failure message; set
``FLYWHEEL_FUZZ_SEED`` to replay it). ``FLYWHEEL_FUZZ=long`` multiplies the examples by 20.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, event, given, note, seed, settings
from hypothesis import strategies as st

from bot.web.app import MAX_BODY_BYTES
from tests.fuzz.conftest import WebUnderTest
from tests.fuzz.signers import SIGNERS
from tests.fuzz.snapshot import changed_tables, snapshot

pytestmark = pytest.mark.e2e

LONG = os.environ.get("FLYWHEEL_FUZZ", "") == "long"
EXAMPLES = 200 * (20 if LONG else 1)
ROTATING_SEED = int(os.environ.get("FLYWHEEL_FUZZ_SEED") or time.time_ns() % 2**32)
SAFE_METHODS = {"GET", "HEAD"}


# -- requests on the wire ----------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP/1.1 request as bytes, and whether a 2xx answer to it is legitimate."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    chunked: bool = False
    valid: bool = False  # correctly signed and of the right shape: 2xx is right
    why: str = ""

    def wire(self) -> bytes:
        """Return the request's bytes."""
        lines = [self.method + b" " + self.target + b" HTTP/1.1", b"Host: 127.0.0.1"]
        lines += [b"Connection: close"]
        lines += [name + b": " + value for name, value in self.headers]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            size = 64 * 1024
            chunks = [self.body[i : i + size] for i in range(0, len(self.body), size)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        else:
            lines.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def describe(self) -> str:
        """Return a short, printable account of the request for failure messages."""
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return (
            f"{self.why}: {self.method!r} {self.target[:200]!r} headers={list(self.headers)!r} "
            f"body({len(self.body)} bytes, chunked={self.chunked})={body!r}"
        )


@dataclass(frozen=True)
class Answer:
    """The status line and body the server sent (status 0: it closed without answering)."""

    status: int
    body: bytes


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes, keeping what arrived before a reset.

    A server that refuses a request before its body (a 413, or aiohttp's 400 for a method its
    parser does not know) answers and closes with the body unread, which resets the
    connection; the answer came first, and a client reading as it writes has it.
    """
    raw = b""
    while True:
        try:
            chunk = await reader.read(65536)
        except ConnectionError:
            return raw
        if not chunk:
            return raw
        raw += chunk


async def send(port: int, request: Request) -> Answer:
    """Write the request on a fresh connection while reading the answer to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reading = asyncio.ensure_future(asyncio.wait_for(_read_answer(reader), timeout=10))
    try:
        try:
            writer.write(request.wire())
            await writer.drain()
        except ConnectionError:
            pass  # the server may answer and close before reading an oversized body
        raw = await reading
    finally:
        reading.cancel()
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return Answer(status, body)


# Signed routes that refuse a replayed request (401); Stripe's instead answers a repeated event
# "already processed" and changes nothing (idempotent by event id).
REPLAY_REFUSED = ["/slack/events"]
# Routes that take writes from anyone (public forms): none yet.
UNSIGNED_WRITES: set[str] = set()

# A few bodies each signed route accepts and that change nothing: (content type, body).
VALID_BODIES: dict[str, Callable[[str], tuple[str, bytes]]] = {
    "/slack/events": lambda nonce: (
        "application/json",
        json.dumps({"type": "url_verification", "token": "t", "challenge": nonce}).encode(),
    ),
    # An event of a type Flywheel does not use: recorded (stripe_events), nothing else.
    "/stripe/webhook": lambda nonce: (
        "application/json",
        json.dumps(
            {
                "id": "evt_fuzz_valid",
                "object": "event",
                "type": "customer.created",
                "created": 1772442000,
                "data": {"object": {"id": "cus_fuzz", "object": "customer", "name": nonce}},
            }
        ).encode(),
    ),
}

SIGNATURE_FAULTS = [
    "forged",
    "stale",
    "future",
    "garbage-signature",
    "no-signature",
    "timestamp:abc",
    "timestamp:",
    "timestamp:1e9",
    "timestamp:-1",
    "timestamp: 1700000000",
    "timestamp:\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic digits
    "timestamp:99999999999999999999999999",
]


# -- what the internet sends -------------------------------------------------------------------

JSON_TYPES = ["application/json", "application/json; charset=utf-8"]
FORM_TYPES = ["application/x-www-form-urlencoded"]
CONTENT_TYPES = [
    *JSON_TYPES,
    *FORM_TYPES,
    "application/json; charset=latin-1",
    "text/plain",
    "text/html",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    "application/x-www-form-urlencoded; charset=utf-16",
    ";;;",
    "application/json\x7f",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
not_a_string = st.one_of(st.none(), st.booleans(), st.integers(), st.lists(scalars, max_size=2))
not_an_object = st.one_of(scalars, st.lists(scalars, max_size=3))

# Objects with the keys Slack's payloads have, holding values of the wrong type.
slack_kinds = st.sampled_from(
    ["event_callback", "url_verification", "block_actions", "view_submission", "shortcut", "x"]
)
wrong_shape_objects = st.one_of(
    st.fixed_dictionaries({"type": not_a_string}),
    st.fixed_dictionaries({}, optional={"token": json_values, "challenge": json_values}),
    st.fixed_dictionaries({"type": st.just("url_verification"), "challenge": not_a_string}),
    st.fixed_dictionaries(
        {"type": st.just("event_callback"), "event": not_an_object},
        optional={"team_id": not_a_string},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("event_callback"),
            "event": st.fixed_dictionaries({"type": not_a_string}, optional={"user": not_a_string}),
        }
    ),
    st.fixed_dictionaries(
        {"type": slack_kinds},
        optional={
            "user": not_an_object,
            "team": st.one_of(st.integers(), st.lists(scalars, max_size=2), st.just({})),
            "channel": st.one_of(st.integers(), st.lists(scalars, max_size=2), st.just({})),
            "enterprise": st.one_of(st.integers(), st.lists(scalars, max_size=2)),
            "authorizations": st.one_of(st.integers(), st.just([]), st.lists(scalars, min_size=1)),
            "actions": not_an_object,
            "view": not_an_object,
            "response_urls": st.one_of(st.integers(), st.lists(scalars, min_size=1)),
            "is_ext_shared_channel": st.just(True),
        },
    ),
)
wrong_shape_json = st.one_of(
    st.lists(json_values, max_size=4),
    scalars,
    wrong_shape_objects,
    json_values,
).map(lambda value: json.dumps(value).encode())

malformed_json = st.one_of(
    st.sampled_from(
        [b"{", b"{'type': 1}", b'{"type": "x",}', b"[1,", b"nul", b'{"a": NaN}', b"\x00{}"]
    ),
    st.text(max_size=40).map(lambda text: ("{" + text).encode()),
)
non_utf8 = st.one_of(
    st.sampled_from(
        [b"\xff\xfe\xfd", b'{"type": "\xff"}', b"payload=\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80"]
    ),
    st.binary(min_size=1, max_size=60).filter(lambda raw: not _is_utf8(raw)),
)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


forms = st.one_of(
    # payload= holding bad JSON, an array, a scalar, or an object of the wrong shape
    st.one_of(
        malformed_json.map(lambda raw: raw.decode("utf-8", "replace")),
        wrong_shape_json.map(bytes.decode),
    ).map(lambda payload: urlencode({"payload": payload}).encode()),
    # a slash command missing what Slack always sends
    st.dictionaries(
        st.sampled_from(["command", "text", "user_id", "team_id", "channel_id", "trigger_id"]),
        st.text(max_size=10),
        max_size=4,
    ).map(lambda fields: urlencode(fields).encode()),
    st.sampled_from([b"payload", b"payload=", b"payload=%FF%FE", b"=&&=", b"a=1&a=2&payload=[1]"]),
)
oversized = st.sampled_from(
    [
        b"a" * (MAX_BODY_BYTES + 1),
        b'{"type": "url_verification", "challenge": "' + b"x" * MAX_BODY_BYTES + b'"}',
    ]
)
bodies = st.one_of(
    st.just(b""),
    wrong_shape_json,
    malformed_json,
    non_utf8,
    forms,
    st.binary(max_size=80),
)
queries = st.one_of(
    st.just(b""),
    st.sampled_from(
        [b"?", b"?%FF%FE", b"?a=%C3%28", b"?payload=%7B", b"?&&&==", b"?" + b"a=1&" * 400, b"?%00"]
    ),
    st.text(max_size=30).map(lambda text: b"?" + quote(text, safe="=&").encode()),
)
PATHS_NEARBY = [
    "/",
    "/slack/events/",
    "/SLACK/EVENTS",
    "/slack/%65vents",
    "//healthz",
    "/metrics/../healthz",
    "/%2e%2e/",
    "/media/",
    "/media/..%2F..%2Fbot.toml",
    "/media/0123456789abcdef.png.json",
    # A configured members-only offer: any query is a link to check (never Stripe: no key).
    "/buy/club",
    "/buy/club/thanks",
    "/buy/pro/canceled",
    "/buy/%63lub",
]
method_tokens = st.one_of(
    st.sampled_from(
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW", "PROPFIND"]
    ),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12),
)


def routes_of(app: web.Application) -> list[tuple[str, str]]:
    """Return (method, path) for every route the application serves."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        found.append((route.method, str(path)))
    return sorted(set(found))


def often(one_in: int) -> st.SearchStrategy[bool]:
    """Draw False once in ``one_in`` (st.integers leans on its bounds, this does not)."""
    return st.sampled_from([True] * (one_in - 1) + [False])


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str]], clock: float) -> Request:
    """Draw an unsigned, forged, stale or wrong-shape request to one of ``routes``."""
    # A signed route has several times the cases of the others: it is drawn more often.
    paths = [
        path
        for path in sorted({path for _, path in routes})
        for _ in range(1 + 3 * (path in SIGNERS))
    ]
    path = draw(st.sampled_from(paths) if draw(often(8)) else st.sampled_from(PATHS_NEARBY))
    own = [method for method, route_path in routes if route_path == path] or ["GET"]
    method = draw(st.sampled_from(own) if draw(often(8)) else method_tokens)
    target = path.encode() + draw(queries)
    usual = draw(often(4))
    content_type = draw(
        st.sampled_from([*JSON_TYPES, *FORM_TYPES])
        if usual
        else st.one_of(st.none(), st.sampled_from(CONTENT_TYPES))
    )
    body = draw(bodies if draw(often(40)) else oversized)
    headers: list[tuple[bytes, bytes]] = []
    if content_type is not None:
        headers.append((b"Content-Type", content_type.encode("latin-1")))
    signer = SIGNERS.get(path)
    why = "unsigned"
    if signer is not None:
        how = draw(
            st.sampled_from(["signed-wrong-shape", "replayed-wrong-shape"])
            if draw(st.booleans())
            else st.sampled_from(["unsigned", *SIGNATURE_FAULTS])
        )
        why = how
        # A signed request sent at another second is another request (it is no replay).
        age = draw(st.integers(0, 250))
        headers += signer(body, "signed" if how.endswith("-wrong-shape") else how, age, clock)
    chunked = not draw(often(10))
    return Request(method.encode(), target, tuple(headers), body, chunked, why=why)


# -- the check ---------------------------------------------------------------------------------


@dataclass
class Problems:
    """Log records at ERROR or with a traceback, collected while a request is answered."""

    records: list[logging.LogRecord] = field(default_factory=list)


class _Collector(logging.Handler):
    def __init__(self, problems: Problems) -> None:
        super().__init__(logging.DEBUG)
        self.problems = problems

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.problems.records.append(record)


@contextmanager
def logged_problems() -> Iterator[Problems]:
    """Collect every ERROR or traceback record from any logger."""
    problems = Problems()
    handler = _Collector(problems)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield problems
    finally:
        root.removeHandler(handler)


async def check(
    web_app: WebUnderTest,
    request: Request,
    *,
    context: str = "",
    writes: frozenset[str] = frozenset(),
) -> Answer:
    """Send one request; assert a 4xx (2xx only when legitimate), no writes (but to the tables
    named in ``writes``), no error logged."""
    engine = web_app.runtime.engine
    before = await snapshot(engine)
    with logged_problems() as problems:
        answer = await send(web_app.port, request)
        # Give any work the handler left running a turn of the loop before looking.
        await asyncio.sleep(0)
    after = await snapshot(engine)
    where = f"{context}{request.describe()}"
    safe = request.method.decode("latin-1") in SAFE_METHODS
    ok = 400 <= answer.status < 500 or (200 <= answer.status < 300 and (safe or request.valid))
    assert ok, f"answered {answer.status} {answer.body[:300]!r} to {where}"
    logged = _records(problems.records)
    assert not logged, f"logged {logged} for {where}"
    changes = {t: c for t, c in changed_tables(before, after).items() if t not in writes}
    assert not changes, f"rows changed {changes} by {where}"
    return answer


def _records(records: list[logging.LogRecord]) -> list[str]:
    return [f"{r.name} {r.levelname}: {r.getMessage()[:200]} exc={r.exc_info!r}" for r in records]


# -- the tests ---------------------------------------------------------------------------------


def test_the_harness_sees_every_route_of_the_process(web_under_test: WebUnderTest) -> None:
    routes = routes_of(web_under_test.app)
    assert {("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/slack/events")} <= set(routes)
    unsigned = {path for method, path in routes if method not in SAFE_METHODS} - set(SIGNERS)
    assert unsigned <= UNSIGNED_WRITES, (
        f"{sorted(unsigned - UNSIGNED_WRITES)} take writes: the harness already sends them every "
        "unsigned case; add the route's signer to SIGNERS (and a valid body to VALID_BODIES) so "
        "its signed cases are fuzzed too, or list it in UNSIGNED_WRITES if it is a public form"
    )


FIXED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ROTATING = settings(FIXED, derandomize=False)


async def _fuzz(web_under_test: WebUnderTest, data: st.DataObject, context: str) -> None:
    clock = web_under_test.runtime.clock.now().timestamp()
    request = data.draw(requests(routes_of(web_under_test.app), clock))
    note(context)
    answer = await check(web_under_test, request, context=context)
    event(f"{request.why} -> {answer.status} {answer.body[:30]!r}")
    if request.why == "replayed-wrong-shape":
        again = await check(web_under_test, request, context=f"{context}sent again: ")
        event(f"{request.why}, sent again -> {again.status} {again.body[:30]!r}")


@FIXED
@given(data=st.data())
async def test_every_route_refuses_what_the_internet_sends_fixed_seed(
    web_under_test: WebUnderTest, data: st.DataObject
) -> None:
    await _fuzz(web_under_test, data, "fixed seed (derandomized): ")


@ROTATING
@seed(ROTATING_SEED)
@given(data=st.data())
async def test_every_route_refuses_what_the_internet_sends_rotating_seed(
    web_under_test: WebUnderTest, data: st.DataObject
) -> None:
    await _fuzz(
        web_under_test,
        data,
        f"rotating seed {ROTATING_SEED} (replay with FLYWHEEL_FUZZ_SEED={ROTATING_SEED}): ",
    )


def _clock(web_under_test: WebUnderTest) -> float:
    return web_under_test.runtime.clock.now().timestamp()


@pytest.mark.parametrize("path", REPLAY_REFUSED)
async def test_a_signed_valid_request_is_answered_once_and_its_replay_is_refused(
    web_under_test: WebUnderTest, path: str
) -> None:
    content_type, body = VALID_BODIES[path]("nonce-123")
    signed = Request(
        b"POST",
        path.encode(),
        (
            (b"Content-Type", content_type.encode()),
            *SIGNERS[path](body, "signed", 0, _clock(web_under_test)),
        ),
        body,
        valid=True,
        why="signed and valid",
    )

    first = await check(web_under_test, signed)
    replayed = await check(
        web_under_test, Request(**{**signed.__dict__, "valid": False, "why": "replayed"})
    )

    assert first.status == 200 and b"nonce-123" in first.body
    assert replayed.status == 401


async def test_a_signed_stripe_event_is_recorded_once_and_its_replay_changes_nothing(
    web_under_test: WebUnderTest,
) -> None:
    path = "/stripe/webhook"
    content_type, body = VALID_BODIES[path]("nonce-123")
    signed = Request(
        b"POST",
        path.encode(),
        (
            (b"Content-Type", content_type.encode()),
            *SIGNERS[path](body, "signed", 0, _clock(web_under_test)),
        ),
        body,
        valid=True,
        why="signed and valid",
    )

    first = await check(web_under_test, signed, writes=frozenset({"stripe_events"}))
    replayed = await check(web_under_test, signed)

    assert (first.status, first.body) == (200, b"processed\n")
    assert (replayed.status, replayed.body) == (200, b"already processed\n")


@pytest.mark.parametrize("path", sorted(SIGNERS))
async def test_a_body_past_the_limit_is_refused_with_413(
    web_under_test: WebUnderTest, path: str
) -> None:
    content_type, body = VALID_BODIES[path]("x" * MAX_BODY_BYTES)
    headers = (
        (b"Content-Type", content_type.encode()),
        *SIGNERS[path](body, "signed", 0, _clock(web_under_test)),
    )
    for chunked in (False, True):
        request = Request(b"POST", path.encode(), headers, body, chunked=chunked, why="oversized")
        assert (await check(web_under_test, request)).status == 413


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
async def test_the_public_reads_answer_200_whatever_the_query(
    web_under_test: WebUnderTest, method: str, path: str
) -> None:
    for query in (b"", b"?%FF%FE", b"?a=%C3%28&&=", b"?" + b"x" * 2000):
        request = Request(method.encode(), path.encode() + query, why="public read")
        assert (await check(web_under_test, request)).status == 200
