"""Points from chat: the batch writer behind the chat queue.

A front end turns each message it sees into a :class:`MessageSeen` (no text, only its
length and digest) and awaits :meth:`~bot.services.recognition.pipeline.IngestPipeline.submit`;
the pipeline writes the queue in batches, one transaction each (:func:`ingest_batch`):
members resolved (the missing ones created together), the chat rules applied, the ledger
rows inserted in bulk (``ON CONFLICT DO NOTHING`` on their source key), and the members'
totals, the per-period score rows and the rules' state updated with them. No domain event
is written per message.

The rules' memory (each member's last counted message: when, and its text's digest) is a
table written in the same transaction, so the cooldown and the repeated-text rule hold
across batches and restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import cast

import aiosqlite
from sqlalchemy import Table, bindparam, case, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import UTCDateTime, dialect_insert
from bot.db.driver import (
    from_sqlite_time,
    select_in,
    sqlite_driver,
    sqlite_time,
    start_values_insert,
)
from bot.destinations import PLATFORMS
from bot.models import Activity, Community, Member, MessageState
from bot.services.communities import SpaceRef, ensure_space
from bot.services.engagement import ActivityKind
from bot.services.identities import passive_member_ids
from bot.services.recognition.badges import award_earned
from bot.services.recognition.chat import ChatRules, MessageSeen
from bot.services.recognition.scores import ScoreKey, add_many, apply_scores, hidden_among

log = logging.getLogger(__name__)

ACTIVITIES = cast(Table, Activity.__table__)
MEMBERS = cast(Table, Member.__table__)
STATE = cast(Table, MessageState.__table__)
MESSAGE = ActivityKind.MESSAGE.value


# The ledger key is "msg:<platform>:<channel>:<message id>" in a 200-character column.
_KEY_ROOM = 200 - len("msg:::")
_AT = attrgetter("at")


@dataclass(frozen=True)
class BatchResult:
    """What one batch did: messages seen, counted, and skipped by reason."""

    seen: int
    counted: int
    skipped: dict[str, int]
    members_created: int


def _candidates(
    rules: ChatRules, events: Sequence[MessageSeen], skipped: Counter[str]
) -> list[MessageSeen]:
    """Return the events the rules may count; count the rest."""
    ignored = rules.ignored_channels
    shortest = rules.min_length
    found: list[MessageSeen] = []
    for event in events:
        if event.is_bot:
            skipped["bot"] += 1
        elif event.channel_id in ignored or (
            event.parent_id is not None and event.parent_id in ignored
        ):
            skipped["ignored_channel"] += 1
        elif event.text_length < shortest:
            skipped["short"] += 1
        # Lengths the columns cannot hold (the ledger key's without building it: see
        # MessageSeen.source_key), or a time without its zone: not writable.
        elif (
            len(event.platform) + len(event.channel_id) + len(event.message_id) > _KEY_ROOM
            or len(event.user_id) > 64
            or len(event.space_id) > 64
            or event.at.tzinfo is None
        ):
            skipped["malformed"] += 1
        else:
            found.append(event)
    return found


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
# Multi-row statements (one step of the driver for a thousand rows: see start_values_insert).
_MEMBER_TOTALS_SQLITE = (
    "UPDATE members SET points_total = points_total + v.column2, "
    "activity_count = activity_count + v.column3, last_active_at = CASE "
    "WHEN last_active_at IS NULL OR last_active_at < v.column4 THEN v.column4 "
    "ELSE last_active_at END FROM (",
    ") AS v WHERE members.id = v.column1",
)
# One community at a time: each row binds only (member id, when, key).
_LEDGER_SQLITE = (
    "INSERT INTO activities (community_id, member_id, kind, points, occurred_at, recorded_at, "
    "source_key, source_ref, imported) SELECT ?1, column1, ?2, ?3, column2, ?4, column3, NULL, 0 "
    "FROM (",
    ") WHERE true ON CONFLICT (community_id, source_key) DO NOTHING",
)
_LEDGER_NEW_SQLITE = "SELECT community_id, source_key FROM activities WHERE id > :after"
_LEDGER_CHUNK = 1_000  # rows a statement (see bot.db.driver)
_RULES_SLICE = 2_000  # messages judged between two sends of ledger rows
_STATE_READ_SQLITE = (
    "SELECT member_id, last_counted_at, last_digest FROM recognition_message_state "
    "WHERE member_id IN"
)
_STATE_SQLITE = (
    "INSERT INTO recognition_message_state (member_id, last_counted_at, last_digest)",
    "ON CONFLICT (member_id) DO UPDATE SET "
    "last_counted_at = excluded.last_counted_at, last_digest = excluded.last_digest",
)
# A message the rules count: (community id, member id, when, its ledger key)
Counted = tuple[int, int, datetime, str]
# A member's last counted message: (when, its text's digest)
Memory = tuple[datetime, str]


async def _rules_memory(
    session: AsyncSession, driver: aiosqlite.Connection | None, member_ids: set[int]
) -> dict[int, Memory]:
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


def _apply_rules(
    rules: ChatRules,
    candidates: Sequence[MessageSeen],
    community_of: Mapping[tuple[str, str], int],
    owners: Mapping[tuple[str, str], Mapping[str, int | None]],
    state: dict[int, Memory],
    touched: dict[int, Memory],
    counted: list[Counted],
    skipped: Counter[str],
) -> None:
    """Add the messages that count (in time order) to ``counted``, their memory to ``touched``.

    ``owners`` maps each space's users to their member (None: erased; absent: unknown).
    ``state`` is each member's last counted message and moves along as messages count.
    """
    cooldown = timedelta(seconds=rules.cooldown_seconds)
    platform = space_id = None
    community_id: int | None = None
    people: Mapping[str, int | None] = {}
    for event in candidates:
        if event.space_id != space_id or event.platform != platform:
            platform, space_id = event.platform, event.space_id
            community_id = community_of.get((platform, space_id))
            people = owners.get((platform, space_id), {})
        if community_id is None or event.community_id not in (None, community_id):
            skipped["unknown_space"] += 1
            continue
        member_id = people.get(event.user_id, 0)
        if not member_id:
            skipped["unknown_member" if member_id == 0 else "erased"] += 1
            continue
        last = state.get(member_id)
        if last is not None:
            if event.text_digest == last[1]:
                skipped["repeated"] += 1
                continue
            if event.at < last[0] + cooldown:
                skipped["cooldown"] += 1
                continue
        state[member_id] = touched[member_id] = (event.at, event.text_digest)
        counted.append((community_id, member_id, event.at, event.source_key))


class _LedgerSender:
    """A batch's ledger rows on SQLite, sent to the driver's thread while the rules run.

    Full chunks go as soon as they are counted (the same statement each time, so SQLite
    keeps it prepared); :meth:`finish` sends the rest.
    """

    def __init__(self, driver: aiosqlite.Connection, points: int, now: datetime) -> None:
        self._driver = driver
        self._points = points
        self._recorded = sqlite_time(now)
        self._waiting: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
        self._sent: list[Awaitable[tuple[int, int | None]]] = []

    def add(self, rows: Sequence[Counted]) -> None:
        """Queue these rows; send every full chunk."""
        for community_id, member_id, at, key in rows:
            waiting = self._waiting[community_id]
            waiting.append((member_id, sqlite_time(at), key))
            if len(waiting) == _LEDGER_CHUNK:
                self._send(community_id)

    def finish(self) -> None:
        """Send what is left."""
        for community_id in list(self._waiting):
            self._send(community_id)

    def _send(self, community_id: int) -> None:
        rows = self._waiting.pop(community_id)
        head, tail = _LEDGER_SQLITE
        fixed = (community_id, MESSAGE, self._points, self._recorded)
        self._sent.append(start_values_insert(self._driver, head, rows, tail, fixed))

    async def written(self) -> tuple[int, int | None]:
        """Return how many rows were new and the last new row's id (see values_insert)."""
        inserted, last = 0, None
        for answer in self._sent:
            count, rowid = await answer
            if count:
                inserted, last = inserted + count, rowid
        return inserted, last


async def _insert_ledger(
    session: AsyncSession,
    sender: _LedgerSender | None,
    counted: list[Counted],
    points: int,
    now: datetime,
    meanwhile: Callable[[], None],
) -> list[Counted]:
    """Insert the ledger rows; return those that were new (a message seen twice counts once).

    On SQLite ``sender`` has sent the rows already. ``meanwhile`` is called while they are
    written (on SQLite the driver's thread writes them while Python works on).
    """
    if sender is None:
        meanwhile()
        returned = await session.execute(
            dialect_insert(session, ACTIVITIES)
            .on_conflict_do_nothing(index_elements=["community_id", "source_key"])
            .returning(ACTIVITIES.c.community_id, ACTIVITIES.c.source_key),
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "kind": MESSAGE,
                    "points": points,
                    "occurred_at": at,
                    "recorded_at": now,
                    "source_key": key,
                    "source_ref": None,
                    "imported": False,
                }
                for community_id, member_id, at, key in counted
            ],
        )
        new = {(community_id, key) for community_id, key in returned}
    else:
        sender.finish()
        await asyncio.sleep(0)  # the statements reach the driver's queue
        meanwhile()
        inserted, last = await sender.written()
        if inserted == len(counted):
            return counted  # every row was new
        # The rows this batch inserted have the ids just below the last one (see values_insert).
        keys = await session.execute(text(_LEDGER_NEW_SQLITE), {"after": (last or 0) - inserted})
        new = {(community_id, key) for community_id, key in keys}
    # The first row of a key in the batch is the one the INSERT keeps.
    kept: list[Counted] = []
    for row in counted:
        mark = (row[0], row[3])
        if mark in new:
            new.discard(mark)
            kept.append(row)
    return kept


# What new ledger rows add: messages and the latest time per member, score rows per community
_Derived = tuple[dict[int, int], dict[int, datetime], dict[int, dict[ScoreKey, int]]]


def _derive(inserted: list[Counted], points: int, zones: Mapping[int, str]) -> _Derived:
    """Return what the ledger rows ``inserted`` (in time order) add to members and boards."""
    counts: dict[int, int] = defaultdict(int)
    latest: dict[int, datetime] = {}
    communities: set[int] = set()
    for community_id, member_id, at, _ in inserted:  # in time order: the last is the latest
        counts[member_id] += 1
        latest[member_id] = at
        communities.add(community_id)
    scores: dict[int, dict[ScoreKey, int]] = {}
    for community_id in communities:
        totals = scores[community_id] = defaultdict(int)
        rows = ((m, MESSAGE, points, at) for c, m, at, _ in inserted if c == community_id)
        add_many(totals, rows, zones.get(community_id, "UTC"))
    return counts, latest, scores


def _stamped(
    moved: list[tuple[int, int, int, datetime]], stamps: Mapping[int, tuple[datetime, str]]
) -> list[tuple[int, int, int, str]]:
    """Return (member id, points, messages, last at) rows with the time as SQLite keeps it."""
    rows = []
    for m, p, c, at in moved:
        known = stamps.get(m)
        rows.append((m, p, c, known[1] if known and known[0] == at else sqlite_time(at)))
    return rows


async def ingest_batch(
    session: AsyncSession, clock: Clock, rules: ChatRules, events: Sequence[MessageSeen]
) -> BatchResult:
    """Apply the chat rules to a batch and write its points, in the caller's transaction."""
    skipped: Counter[str] = Counter()
    candidates = _candidates(rules, events, skipped)
    wanted: dict[tuple[str, str], int | None] = {}
    by_space: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for event in candidates:
        where = (event.platform, event.space_id)
        if wanted.get(where) is None:
            wanted[where] = event.community_id
        people = by_space[where]
        if event.user_id not in people:
            people[event.user_id] = event.display_name
    spaces = await _spaces(session, clock, wanted)
    # Per space: each user's member id, or None for someone who asked to be erased.
    owners: dict[tuple[str, str], dict[str, int | None]] = {}
    created = 0
    for key, people in by_space.items():
        space = spaces.get(key)
        if space is None:
            continue
        # A chat message is a passive signal: someone who asked to be erased is left out.
        ids, new = await passive_member_ids(session, clock, space=space, users=list(people.items()))
        created += len(new)
        mine: dict[str, int | None] = dict.fromkeys(people)
        mine.update(ids)
        owners[key] = mine
    community_of = {key: space.community_id for key, space in spaces.items()}
    zones = {
        row.id: row.timezone
        for row in await session.execute(
            select(Community.id, Community.timezone).where(
                Community.id.in_(set(community_of.values()))
            )
        )
    }
    driver = await sqlite_driver(session)
    member_ids = {m for mine in owners.values() for m in mine.values() if m is not None}
    state = await _rules_memory(session, driver, member_ids)
    points = rules.message_points
    sender = _LedgerSender(driver, points, clock.now()) if driver is not None else None
    counted: list[Counted] = []
    touched: dict[int, Memory] = {}
    candidates.sort(key=_AT)  # stable: messages of one moment stay in arrival order
    for start in range(0, len(candidates), _RULES_SLICE):
        first = len(counted)
        some = candidates[start : start + _RULES_SLICE]
        _apply_rules(rules, some, community_of, owners, state, touched, counted, skipped)
        if sender is not None:  # the driver's thread writes these while the next are judged
            sender.add(counted[first:])
            await asyncio.sleep(0)
    if not counted:
        return BatchResult(len(events), 0, dict(skipped), created)
    # The members' memory as SQLite keeps it (the totals' last-active time reuses it).
    stamps: dict[int, tuple[datetime, str]] = {}
    derived: list[_Derived] = []
    sent: list[Awaitable[object]] = []

    def meanwhile() -> None:  # while the ledger is written: as if every row were new
        if driver is not None:
            stamps.update({m: (at, sqlite_time(at)) for m, (at, _) in touched.items()})
            # The rules' memory does not depend on the ledger: queued behind it at once.
            memory = [(m, stamps[m][1], touched[m][1]) for m in sorted(touched)]
            head, tail = _STATE_SQLITE
            sent.append(start_values_insert(driver, head, memory, tail))
        derived.append(_derive(counted, points, zones))

    inserted = await _insert_ledger(session, sender, counted, points, clock.now(), meanwhile)
    if len(inserted) < len(counted):
        skipped["duplicate"] += len(counted) - len(inserted)
        derived[0] = _derive(inserted, points, zones)
    counts, latest, scores = derived[0]
    if counts:
        # In id order, as every writer locks them: no deadlock between processes.
        moved = [(m, c * points, c, latest[m]) for m, c in sorted(counts.items())]
        if driver is None:
            await session.execute(
                _MEMBER_TOTALS,
                [{"member": m, "points": p, "count": c, "at": at} for m, p, c, at in moved],
            )
        else:
            head, tail = _MEMBER_TOTALS_SQLITE
            sent.append(start_values_insert(driver, head, _stamped(moved, stamps), tail))
    hidden = await hidden_among(session, counts.keys())
    for community_id, totals in scores.items():
        await apply_scores(session, clock, community_id, totals, hidden)
        # Badges with a `points >= N` rule (a query for those rules, nothing more if none).
        await award_earned(
            session, clock, community_id, {k[0] for k in totals}, counters=["points"]
        )
    for answer in sent:
        await answer
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
            [
                {"member_id": m, "last_counted_at": touched[m][0], "last_digest": touched[m][1]}
                for m in sorted(touched)
            ],
        )
    return BatchResult(len(events), len(inserted), dict(skipped), created)
