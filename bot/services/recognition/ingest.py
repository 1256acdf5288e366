"""Points from chat: a bounded queue of neutral message events, written in batches.

A front end turns each message it sees into a :class:`MessageSeen` (no text, only its
length and digest) and awaits :meth:`IngestPipeline.submit`. The pipeline's loop writes the
queue every ``flush_seconds``, or as soon as a batch is full, one transaction per batch
(:func:`ingest_batch`): members resolved (the missing ones created together), the chat
rules applied, the ledger rows inserted in bulk (``ON CONFLICT DO NOTHING`` on
their source key), and the members' totals, the per-period score rows and the rules' state
updated with them. No domain event is written per message.

A full queue makes ``submit`` wait (back-pressure, counted for ``/metrics``). A graceful
stop writes what is queued. A hard kill loses at most ``flush_seconds`` of chat points:
purchases, rewards and decisions never go through this queue, they are written at once.
The rules' memory (each member's last counted message: when, and its text's digest) is a
table written in the same transaction, so the cooldown and the repeated-text rule hold
across batches and restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import aiosqlite
from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import UTCDateTime, dialect_insert
from bot.db.driver import (
    from_sqlite_time,
    select_in,
    sqlite_driver,
    sqlite_time,
    values_returning,
)
from bot.destinations import PLATFORMS
from bot.models import Activity, Community, Member, MessageState
from bot.services.communities import SpaceRef, ensure_space
from bot.services.engagement import ActivityKind
from bot.services.identities import resolve_passive_members
from bot.services.recognition.badges import award_earned
from bot.services.recognition.scores import ScoreKey, add_many, apply_scores, hidden_among
from bot.settings import RecognitionSettings

log = logging.getLogger(__name__)

ACTIVITIES = cast(Table, Activity.__table__)
MEMBERS = cast(Table, Member.__table__)
STATE = cast(Table, MessageState.__table__)
MESSAGE = ActivityKind.MESSAGE.value
MAX_ATTEMPTS = 5


# Characters that show nothing: format characters (zero-width spaces and joiners, direction
# marks, the BOM), controls, the combining marks stacked on a letter ("Zalgo" text), and
# lone surrogates (JSON can carry half an emoji; they cannot even be encoded).
_INVISIBLE = frozenset({"Cf", "Cc", "Mn", "Me", "Cs"})
# Blank characters str.split() does not take for spacing (Hangul fillers, the Braille blank).
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible_text(text: str) -> str:
    """Return the text as a reader sees it: invisible characters dropped, spacing collapsed.

    The chat rules judge this, not the raw text, so five zero-width spaces are not a
    five-character message and a word repeated with an invisible character added is still
    repeated.
    """
    shown = "".join(
        " " if ch in _BLANKS else ch
        for ch in unicodedata.normalize("NFKC", text)
        if unicodedata.category(ch) not in _INVISIBLE or ch.isspace()
    )
    return " ".join(shown.split())


def text_length(text: str) -> int:
    """Return the length the minimum-length rule compares (what a reader sees)."""
    return len(visible_text(text))


def text_digest(text: str) -> str:
    """Return the digest the repeated-text rule compares (case, spacing and invisible
    characters do not matter)."""
    return hashlib.sha256(visible_text(text).casefold().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class MessageSeen:
    """A chat message a front end saw, in neutral terms; its text is not kept.

    ``message_id`` is unique within its channel (a Discord snowflake, a Slack ``ts``);
    ``text_length`` is :func:`text_length` and ``text_digest`` :func:`text_digest` of the text. ``parent_id`` is the channel a
    thread belongs to where the thread is a channel of its own (Discord): a thread in an
    ignored channel is ignored too. ``community_id``, when given, must be the community the
    space belongs to (otherwise the message is skipped); a space not bound to any community
    yet is bound to it, as a command from there would.
    """

    platform: str
    space_id: str
    user_id: str
    channel_id: str
    message_id: str
    text_length: int
    text_digest: str
    at: datetime
    display_name: str | None = None
    is_bot: bool = False
    community_id: int | None = None
    parent_id: str | None = None

    @property
    def source_key(self) -> str:
        """Return the ledger's key for this message (one row per message, ever)."""
        return f"msg:{self.platform}:{self.channel_id}:{self.message_id}"


@dataclass(frozen=True)
class ChatRules:
    """What a chat message must be to earn points."""

    message_points: int = 5
    cooldown_seconds: int = 60
    min_length: int = 5
    ignored_channels: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: RecognitionSettings) -> ChatRules:
        """Return the rules ``[recognition]`` sets."""
        return cls(
            message_points=settings.message_points,
            cooldown_seconds=settings.cooldown_seconds,
            min_length=settings.min_length,
            ignored_channels=frozenset(settings.ignored_channels),
        )


@dataclass(frozen=True)
class BatchResult:
    """What one batch did: messages seen, counted, and skipped by reason."""

    seen: int
    counted: int
    skipped: dict[str, int]
    members_created: int


def _checked(event: MessageSeen) -> str | None:
    """Return why an event cannot be written at all (bad lengths), or None."""
    if len(event.source_key) > 200 or len(event.user_id) > 64 or len(event.space_id) > 64:
        return "malformed"
    if event.at.tzinfo is None:
        return "malformed"
    return None


async def _spaces(
    session: AsyncSession, clock: Clock, wanted: Mapping[tuple[str, str], int | None]
) -> dict[tuple[str, str], SpaceRef]:
    """Return the spaces by (platform, external id), binding new ones to their community."""
    from bot.models import PlatformSpace

    found: dict[tuple[str, str], SpaceRef] = {}
    for (platform, external), community_id in wanted.items():
        row = (
            await session.execute(
                select(PlatformSpace.id, PlatformSpace.community_id).where(
                    PlatformSpace.platform == platform, PlatformSpace.external_id == external
                )
            )
        ).one_or_none()
        if row is not None:
            found[platform, external] = SpaceRef(row.id, row.community_id, platform, external)
        elif community_id is not None and platform in PLATFORMS:
            # The first message from a guild nobody ran a command in yet: bind it, as
            # resolving a command's caller would, so chat counts from the first message.
            found[platform, external] = await ensure_space(
                session, clock, community_id=community_id, platform=platform, external_id=external
            )
    return found


_MEMBER_TOTALS = (
    update(MEMBERS)
    .where(MEMBERS.c.id == bindparam("member"))
    .values(
        points_total=MEMBERS.c.points_total + bindparam("points"),
        activity_count=MEMBERS.c.activity_count + bindparam("count"),
        last_active_at=case(
            (MEMBERS.c.last_active_at.is_(None), bindparam("at", type_=UTCDateTime())),
            (
                MEMBERS.c.last_active_at < bindparam("at", type_=UTCDateTime()),
                bindparam("at", type_=UTCDateTime()),
            ),
            else_=MEMBERS.c.last_active_at,
        ),
    )
)


# On SQLite a batch's big statements go straight to the driver (see bot.db.driver): the same
# SQL as the Core statements, with plain values (times in the text SQLite keeps).
_MEMBER_TOTALS_SQLITE = (
    "UPDATE members SET points_total = points_total + ?1, activity_count = activity_count + ?2, "
    "last_active_at = CASE WHEN last_active_at IS NULL OR last_active_at < ?3 THEN ?3 "
    "ELSE last_active_at END WHERE id = ?4"
)
_LEDGER_SQLITE = (
    "INSERT INTO activities (community_id, member_id, kind, points, occurred_at, recorded_at, "
    "source_key, source_ref, imported)",
    "ON CONFLICT (community_id, source_key) DO NOTHING RETURNING community_id, source_key",
)
_STATE_READ_SQLITE = (
    "SELECT member_id, last_counted_at, last_digest FROM recognition_message_state "
    "WHERE member_id IN"
)
_STATE_SQLITE = (
    "INSERT INTO recognition_message_state (member_id, last_counted_at, last_digest) "
    "VALUES (?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
    "last_counted_at = excluded.last_counted_at, last_digest = excluded.last_digest"
)
# (community id, member id, points, occurred at) of a ledger row written
Written = tuple[int, int, int, datetime]


async def _rules_memory(
    session: AsyncSession, driver: aiosqlite.Connection | None, member_ids: set[int]
) -> dict[int, tuple[datetime, str]]:
    """Return each member's last counted message (when, digest), locking their rows."""
    if driver is None:
        rows = await session.execute(
            select(MessageState.member_id, MessageState.last_counted_at, MessageState.last_digest)
            .where(MessageState.member_id.in_(member_ids))
            .with_for_update()
        )
        return {row.member_id: (row.last_counted_at, row.last_digest) for row in rows}
    found = await select_in(driver, _STATE_READ_SQLITE, (), member_ids)
    return {member_id: (from_sqlite_time(at), digest) for member_id, at, digest in found}


async def _insert_ledger(
    session: AsyncSession, driver: aiosqlite.Connection | None, ledger: list[dict[str, object]]
) -> list[Written]:
    """Insert the ledger rows; return those that were new (a message seen twice counts once)."""
    if driver is None:
        inserted = await session.execute(
            dialect_insert(session, ACTIVITIES)
            .on_conflict_do_nothing(index_elements=["community_id", "source_key"])
            .returning(
                ACTIVITIES.c.community_id,
                ACTIVITIES.c.member_id,
                ACTIVITIES.c.points,
                ACTIVITIES.c.occurred_at,
            ),
            ledger,
        )
        return [cast(Written, tuple(row)) for row in inserted]
    # The first row of a key in the batch is the one the INSERT keeps.
    by_key: dict[tuple[object, object], dict[str, object]] = {}
    for row in ledger:
        by_key.setdefault((row["community_id"], row["source_key"]), row)
    head, tail = _LEDGER_SQLITE
    recorded = sqlite_time(cast(datetime, ledger[0]["recorded_at"]))
    keys = await values_returning(
        driver,
        head,
        [
            (
                row["community_id"],
                row["member_id"],
                row["kind"],
                row["points"],
                sqlite_time(cast(datetime, row["occurred_at"])),
                recorded,
                row["source_key"],
                row["source_ref"],
                row["imported"],
            )
            for row in ledger
        ],
        tail,
    )
    new = [by_key[community_id, key] for community_id, key in keys]
    return [
        cast(Written, (row["community_id"], row["member_id"], row["points"], row["occurred_at"]))
        for row in new
    ]


async def ingest_batch(
    session: AsyncSession, clock: Clock, rules: ChatRules, events: Sequence[MessageSeen]
) -> BatchResult:
    """Apply the chat rules to a batch and write its points, in the caller's transaction."""
    skipped: Counter[str] = Counter()
    candidates: list[MessageSeen] = []
    for event in events:
        if event.is_bot:
            skipped["bot"] += 1
        elif event.channel_id in rules.ignored_channels or (
            event.parent_id is not None and event.parent_id in rules.ignored_channels
        ):
            skipped["ignored_channel"] += 1
        elif event.text_length < rules.min_length:
            skipped["short"] += 1
        elif _checked(event):
            skipped["malformed"] += 1
        else:
            candidates.append(event)
    wanted: dict[tuple[str, str], int | None] = {}
    for event in candidates:
        if wanted.get((event.platform, event.space_id)) is None:
            wanted[event.platform, event.space_id] = event.community_id
    spaces = await _spaces(session, clock, wanted)
    by_space: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for event in candidates:
        by_space[event.platform, event.space_id].setdefault(event.user_id, event.display_name)
    owners: dict[tuple[str, str, str], int] = {}
    erased: set[tuple[str, str, str]] = set()
    created = 0
    for key, people in by_space.items():
        space = spaces.get(key)
        if space is None:
            continue
        # A chat message is a passive signal: someone who asked to be erased is left out.
        resolved = await resolve_passive_members(
            session, clock, space=space, users=list(people.items())
        )
        created += sum(1 for member in resolved.values() if member.created)
        erased.update((*key, u) for u in people if u not in resolved)
        owners.update({(*key, u): member.member_id for u, member in resolved.items()})
    communities = {s.community_id for s in spaces.values()}
    zones = {
        row.id: row.timezone
        for row in await session.execute(
            select(Community.id, Community.timezone).where(Community.id.in_(communities))
        )
    }
    member_ids = set(owners.values())
    driver = await sqlite_driver(session)
    state = await _rules_memory(session, driver, member_ids)
    cooldown = timedelta(seconds=rules.cooldown_seconds)
    now = clock.now()
    ledger: list[dict[str, object]] = []
    touched: set[int] = set()
    for event in sorted(candidates, key=lambda e: e.at):
        space = spaces.get((event.platform, event.space_id))
        if space is None or event.community_id not in (None, space.community_id):
            skipped["unknown_space"] += 1
            continue
        member_id = owners.get((event.platform, event.space_id, event.user_id))
        if member_id is None:
            skipped[
                "erased"
                if (event.platform, event.space_id, event.user_id) in erased
                else "unknown_member"
            ] += 1
            continue
        last = state.get(member_id)
        if last is not None:
            if event.text_digest == last[1]:
                skipped["repeated"] += 1
                continue
            if event.at < last[0] + cooldown:
                skipped["cooldown"] += 1
                continue
        state[member_id] = (event.at, event.text_digest)
        touched.add(member_id)
        ledger.append(
            {
                "community_id": space.community_id,
                "member_id": member_id,
                "kind": MESSAGE,
                "points": rules.message_points,
                "occurred_at": event.at,
                "recorded_at": now,
                "source_key": event.source_key,
                "source_ref": None,
                "imported": False,
            }
        )
    if not ledger:
        return BatchResult(len(events), 0, dict(skipped), created)
    inserted = await _insert_ledger(session, driver, ledger)
    if len(inserted) < len(ledger):
        skipped["duplicate"] += len(ledger) - len(inserted)
    points: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    latest: dict[int, datetime] = {}
    totals: dict[int, dict[ScoreKey, int]] = defaultdict(lambda: defaultdict(int))
    by_community: dict[int, list[tuple[int, str, int, datetime]]] = defaultdict(list)
    for community_id, member_id, amount, occurred_at in inserted:
        points[member_id] += amount
        counts[member_id] += 1
        latest[member_id] = max(latest.get(member_id, occurred_at), occurred_at)
        by_community[community_id].append((member_id, MESSAGE, amount, occurred_at))
    for community_id, written in by_community.items():
        add_many(totals[community_id], written, zones.get(community_id, "UTC"))
    if points:
        # In id order, as every writer locks them: no deadlock between processes.
        moved = [(m, p, counts[m], latest[m]) for m, p in sorted(points.items())]
        if driver is None:
            await session.execute(
                _MEMBER_TOTALS,
                [{"member": m, "points": p, "count": c, "at": at} for m, p, c, at in moved],
            )
        else:
            await driver.executemany(
                _MEMBER_TOTALS_SQLITE,
                [(p, c, sqlite_time(at), m) for m, p, c, at in moved],
            )
    hidden = await hidden_among(session, points.keys())
    for community_id, rows in totals.items():
        await apply_scores(session, clock, community_id, rows, hidden)
        # Badges with a `points >= N` rule (a query for those rules, nothing more if none).
        await award_earned(session, clock, community_id, {k[0] for k in rows}, counters=["points"])
    memory = [(m, state[m][0], state[m][1]) for m in sorted(touched)]
    if driver is None:
        insert_state = dialect_insert(session, STATE)
        await session.execute(
            insert_state.on_conflict_do_update(
                index_elements=["member_id"],
                set_={
                    "last_counted_at": insert_state.excluded.last_counted_at,
                    "last_digest": insert_state.excluded.last_digest,
                },
            ),
            [{"member_id": m, "last_counted_at": at, "last_digest": d} for m, at, d in memory],
        )
    else:
        await driver.executemany(_STATE_SQLITE, [(m, sqlite_time(at), d) for m, at, d in memory])
    return BatchResult(len(events), len(inserted), dict(skipped), created)


@dataclass
class IngestStats:
    """Running totals of one pipeline (read by ``/metrics``)."""

    received: int = 0
    counted: int = 0
    batches: int = 0
    backpressure: int = 0
    dropped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


class IngestPipeline:
    """The bounded queue between the front ends and the ledger, and its flusher loop."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: RecognitionSettings,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self.rules = ChatRules.from_settings(settings)
        self._queue: asyncio.Queue[MessageSeen] = asyncio.Queue(maxsize=settings.queue_size)
        self._full = asyncio.Event()
        self._arrived = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._written = asyncio.Condition()
        self.stats = IngestStats()

    @property
    def depth(self) -> int:
        """Return how many messages wait to be written."""
        return self._queue.qsize()

    async def submit(self, event: MessageSeen) -> None:
        """Queue a message; wait while the queue is full (back-pressure)."""
        if self._queue.full():
            self.stats.backpressure += 1
            self._full.set()
        await self._queue.put(event)
        self.stats.received += 1
        self._arrived.set()
        if self._queue.qsize() >= self._settings.batch_size:
            self._full.set()

    def _take(self) -> list[MessageSeen]:
        batch: list[MessageSeen] = []
        while len(batch) < self._settings.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _write(self, batch: list[MessageSeen]) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._sessions() as session, session.begin():
                    result = await ingest_batch(session, self._clock, self.rules, batch)
            except Exception:
                if attempt == MAX_ATTEMPTS:
                    log.exception("chat points: dropping a batch of %d messages", len(batch))
                    self.stats.dropped += len(batch)
                    return
                log.exception("chat points: writing a batch failed; retrying")
                await asyncio.sleep(min(0.1 * 2**attempt, self._settings.flush_seconds))
                continue
            self.stats.batches += 1
            self.stats.counted += result.counted
            self.stats.skipped.update(result.skipped)
            async with self._written:
                self._written.notify_all()
            return

    async def wait_received(self, count: int) -> None:
        """Return once this many messages were submitted in all (for tests and the demo)."""
        while self.stats.received < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def wait_written(self, batches: int) -> None:
        """Return once this many batches have been written (for tests and the demo's check)."""
        async with self._written:
            await self._written.wait_for(lambda: self.stats.batches >= batches)

    async def flush(self) -> int:
        """Write everything queued now, batch by batch; return how many messages were taken."""
        taken = 0
        async with self._write_lock:
            while batch := self._take():
                taken += len(batch)
                await self._write(batch)
        return taken

    async def run(self, stop: asyncio.Event) -> None:
        """Write the queue every ``flush_seconds`` or when a batch is full; flush on stop."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            deadline = loop.time() + self._settings.flush_seconds
            while self._queue.qsize() < self._settings.batch_size and not stop.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._full.clear()
                full = asyncio.ensure_future(self._full.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {full, stopper}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                full.cancel()
                stopper.cancel()
            await self.flush()
        await self.flush()
