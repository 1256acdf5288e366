"""Queueing: neutral messages become addressed outbox rows in the caller's transaction.

A feature calls :func:`send` (or :func:`send_many` for a fan-out) with a unique key. The
message is addressed here, once: a post to the channels of its destination, a DM to the
member's identity, a role change to each platform the member is on, a mention to the
member's user id there. Each platform gets one row (key ``<key>:<platform>``), written
with the change that caused it, so the effect exists exactly when the change does and can
never be queued twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, literal, or_, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.db.driver import run_core
from bot.db.hooks import wake_after_commit
from bot.messages import (
    Bold,
    DestinationRow,
    DirectMessage,
    Edit,
    Italic,
    Mention,
    Owned,
    Post,
    Purpose,
    Rich,
    RoleChange,
    Subject,
    Webhook,
    dump,
)
from bot.models import (
    Destination,
    DestinationChannel,
    Identity,
    OutboxMember,
    OutboxMessage,
    PlatformSpace,
    PostRecord,
)
from bot.outbox.effects import Message, Queued

WEBHOOK_PLATFORM = "webhook"
# Role-change rows are about the member whose access they change: the dispatcher finds a
# newer change that supersedes an older one, and access_state finds a member's changes,
# through the subject index.
ACCESS_SUBJECT = "access"


def access_subject(member_id: int) -> Subject:
    """Return the subject of a member's role-change rows."""
    return Subject(kind=ACCESS_SUBJECT, id=str(member_id))


ACTIONS: dict[type[Any], str] = {
    Post: "post",
    Edit: "edit",
    DirectMessage: "dm",
    RoleChange: "role",
    Webhook: "webhook",
}


@dataclass(frozen=True)
class Outgoing:
    """A neutral message to queue under a unique key, in a community."""

    key: str
    message: Message
    community_id: int
    not_before: datetime | None = None
    # Members whose data the message carries besides a DM's recipient and those it
    # mentions (a recap naming first-timers): erasing one of them removes the row.
    members: tuple[int, ...] = ()


async def send(
    session: AsyncSession,
    clock: Clock,
    message: Message,
    *,
    key: str,
    community_id: int,
    not_before: datetime | None = None,
    members: Sequence[int] = (),
) -> int:
    """Queue a message in the caller's transaction; return how many platform rows are new."""
    item = Outgoing(key, message, community_id, not_before, tuple(members))
    return await send_many(session, clock, [item])


async def send_many(session: AsyncSession, clock: Clock, items: Iterable[Outgoing]) -> int:
    """Address and queue messages in one pass; return how many platform rows are new."""
    items = list(items)
    if not items:
        return 0
    if len(items) == 1 and _plain_post(items[0]):
        return await _post_to_channels(session, clock, items[0])
    if len(items) == 1 and isinstance(items[0].message, RoleChange):
        return await _role_change(session, clock, items[0])
    book = await _AddressBook.load(session, items)
    rows = [row for item in items for row in book.rows(item)]
    return await enqueue_many(session, clock, rows)


def _plain_post(item: Outgoing) -> bool:
    """Return whether the item is a post whose rows differ only by their channel."""
    message = item.message
    return isinstance(message, Post) and not item.members and not message.body.members()


def _post_statement(dialect: Any, by_purpose: bool) -> Any:
    """Build (once per dialect and address kind) the INSERT … SELECT that queues a post."""
    channels = DestinationChannel.__table__.c
    outbox = OutboxMessage.__table__.c
    if by_purpose:
        destination: Any = (
            select(Destination.id)
            .where(
                Destination.community_id == bindparam("community_id"),
                Destination.purpose == bindparam("purpose"),
            )
            .scalar_subquery()
        )
    else:
        destination = bindparam("destination_id")
    values = {
        "key": bindparam("key_prefix", type_=outbox.key.type) + channels.platform,
        "community_id": bindparam("community_id", type_=outbox.community_id.type),
        "platform": channels.platform,
        "action": bindparam("action", type_=outbox.action.type),
        "target": literal("channel:") + channels.channel_id,
        "payload": bindparam("payload", type_=outbox.payload.type),
        "subject_kind": bindparam("subject_kind", type_=outbox.subject_kind.type),
        "subject_id": bindparam("subject_id", type_=outbox.subject_id.type),
        "status": literal("pending", outbox.status.type),
        "attempts": literal(0),
        "not_before": bindparam("not_before", type_=outbox.not_before.type),
        "created_at": bindparam("created_at", type_=outbox.created_at.type),
    }
    rows = select(*values.values()).where(
        channels.destination_id == destination, channels.channel_id != ""
    )
    return _insert_selected(dialect, values, rows)


def _role_statement(dialect: Any) -> Any:
    """Build (once per dialect) the INSERT … SELECT that queues a role change to each identity.

    The rows :meth:`_AddressBook.rows` makes for a ``RoleChange``, made by the database:
    key ``<key>:<platform>:<space>``, target ``member:<space>:<user>``, the access subject.
    """
    identities = Identity.__table__.c
    spaces = PlatformSpace.__table__.c
    outbox = OutboxMessage.__table__.c
    values = {
        "key": bindparam("key_prefix", type_=outbox.key.type)
        + identities.platform
        + literal(":")
        + spaces.external_id,
        "community_id": bindparam("community_id", type_=outbox.community_id.type),
        "platform": identities.platform,
        "action": literal(ACTIONS[RoleChange], outbox.action.type),
        "target": literal("member:") + spaces.external_id + literal(":") + identities.user_id,
        "payload": bindparam("payload", type_=outbox.payload.type),
        "subject_kind": literal(ACCESS_SUBJECT, outbox.subject_kind.type),
        "subject_id": bindparam("subject_id", type_=outbox.subject_id.type),
        "status": literal("pending", outbox.status.type),
        "attempts": literal(0),
        "not_before": bindparam("not_before", type_=outbox.not_before.type),
        "created_at": bindparam("created_at", type_=outbox.created_at.type),
    }
    rows = (
        select(*values.values())
        .select_from(Identity.__table__.join(PlatformSpace.__table__))
        .where(identities.member_id == bindparam("member_id"))
        .order_by(identities.platform, identities.id)
    )
    return _insert_selected(dialect, values, rows)


def _insert_selected(dialect: Any, values: dict[str, Any], rows: Any) -> Any:
    """``INSERT INTO outbox (values' columns) SELECT …`` skipping keys already queued,
    returning the new rows' ids."""
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        # The table, not the entity: parameters are this one row's, not an ORM bulk insert.
        insert_for(cast(Table, OutboxMessage.__table__))
        .from_select(list(values), rows)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxMessage.__table__.c.id)
    )


_POST_STATEMENTS: dict[tuple[str, bool], Any] = {}
_ROLE_STATEMENTS: dict[str, Any] = {}


async def _post_to_channels(session: AsyncSession, clock: Clock, item: Outgoing) -> int:
    """Queue a post to each channel of its destination in one INSERT … SELECT.

    The common case (a ritual's post, a reminder) needs no round trip to read the channels
    first: the rows are made from the destination's channel rows by the database itself.
    The statement is built once and reused with new parameters.
    """
    message = item.message
    assert isinstance(message, Post)
    by_purpose = isinstance(message.to, Purpose)
    dialect = session.get_bind().dialect.name
    statement = _POST_STATEMENTS.get((dialect, by_purpose))
    if statement is None:
        statement = _POST_STATEMENTS[dialect, by_purpose] = _post_statement(dialect, by_purpose)
    now = clock.now()
    subject = message.about or message.reply_to
    params = {
        "key_prefix": f"{item.key}:",
        "community_id": item.community_id,
        "action": "reply" if message.reply_to is not None else "post",
        "payload": dump(message),
        "subject_kind": subject.kind if subject else None,
        "subject_id": subject.id if subject else None,
        "not_before": item.not_before or now,
        "created_at": now,
    }
    if isinstance(message.to, Purpose):
        params["purpose"] = message.to.name
    else:
        params["destination_id"] = message.to.id
    inserted = (await session.execute(statement, params)).all()
    wake_after_commit(session)
    return len(inserted)


async def _role_change(session: AsyncSession, clock: Clock, item: Outgoing) -> int:
    """Queue a role change to each of the member's identities in one INSERT … SELECT.

    One statement where addressing would read the identities first; the rows are linked to
    the member (and ``item.members``) as :func:`enqueue_many` links them.
    """
    message = item.message
    assert isinstance(message, RoleChange)
    dialect = session.get_bind().dialect.name
    statement = _ROLE_STATEMENTS.get(dialect)
    if statement is None:
        statement = _ROLE_STATEMENTS[dialect] = _role_statement(dialect)
    now = clock.now()
    params = {
        "key_prefix": f"{item.key}:",
        "community_id": item.community_id,
        "payload": dump(message),
        "subject_id": access_subject(message.member_id).id,
        "not_before": item.not_before or now,
        "created_at": now,
        "member_id": message.member_id,
    }
    inserted = [row_id for (row_id,) in await run_core(session, statement, params)]
    members = dict.fromkeys((message.member_id, *item.members))
    await _link(session, [(row_id, member_id) for row_id in inserted for member_id in members])
    wake_after_commit(session)
    return len(inserted)


# The table, not the entity: no ORM bulk-insert bookkeeping for rows nothing loads back.
_LINK = insert(cast(Table, OutboxMember.__table__))


async def _link(session: AsyncSession, pairs: list[tuple[int, int]]) -> None:
    """Link outbox rows to the members whose data they carry (erasure finds them so)."""
    if len(pairs) == 1:  # a role change to one identity: straight to SQLite's driver
        await run_core(session, _LINK, {"outbox_id": pairs[0][0], "member_id": pairs[0][1]})
    elif pairs:
        await session.execute(
            _LINK, [{"outbox_id": row_id, "member_id": member_id} for row_id, member_id in pairs]
        )


async def enqueue_many(session: AsyncSession, clock: Clock, effects: Iterable[Queued]) -> int:
    """Insert addressed rows in one statement; return how many were new (others were queued).

    A fan-out (500 reminder DMs) holds the write lock for one executemany, not 500 round trips.
    """
    now = clock.now()
    effects = list(effects)
    if not effects:
        return 0
    rows = [
        {
            "key": effect.key,
            "community_id": effect.community_id,
            "platform": effect.platform,
            "action": effect.action,
            "target": effect.target,
            "payload": dump(effect.message),
            "subject_kind": effect.subject.kind if effect.subject else None,
            "subject_id": effect.subject.id if effect.subject else None,
            "status": "pending",
            "attempts": 0,
            "not_before": effect.not_before or now,
            "created_at": now,
        }
        for effect in effects
    ]
    table = OutboxMessage.__table__
    statement = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["key"])
        # RETURNING names the rows really inserted, on both databases and for any batch size.
        .returning(table.c.id, table.c.key)
    )
    inserted = (await session.execute(statement, rows)).all()
    members_of = {effect.key: effect.members for effect in effects if effect.members}
    await _link(
        session,
        [(row_id, member_id) for row_id, key in inserted for member_id in members_of.get(key, ())],
    )
    wake_after_commit(session)
    return len(inserted)


class _AddressBook:
    """Everything addressing a batch needs, read in a few queries."""

    def __init__(self) -> None:
        self.channels: dict[tuple[int, str | int], list[tuple[str, str]]] = defaultdict(list)
        self.identities: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
        self.subject_platforms: dict[tuple[str, str], set[str]] = defaultdict(set)

    @classmethod
    async def load(cls, session: AsyncSession, items: list[Outgoing]) -> _AddressBook:
        book = cls()
        purposes = {
            (i.community_id, i.message.to.name)
            for i in items
            if isinstance(i.message, Post) and isinstance(i.message.to, Purpose)
        }
        rows = {
            i.message.to.id
            for i in items
            if isinstance(i.message, Post) and isinstance(i.message.to, DestinationRow)
        }
        if purposes or rows:
            query = select(
                Destination.id,
                Destination.community_id,
                Destination.purpose,
                DestinationChannel.platform,
                DestinationChannel.channel_id,
            ).join(DestinationChannel, DestinationChannel.destination_id == Destination.id)
            wanted = []
            if purposes:
                wanted.append(Destination.purpose.in_({p for _, p in purposes}))
            if rows:
                wanted.append(Destination.id.in_(rows))

            # An empty channel id is one a moderator cleared on purpose.
            chosen = query.where(or_(*wanted), DestinationChannel.channel_id != "")
            for dest_id, community_id, purpose, platform, channel in await session.execute(
                chosen.order_by(DestinationChannel.platform)
            ):
                book.channels[(community_id, dest_id)].append((platform, channel))
                if purpose is not None:
                    book.channels[(community_id, purpose)].append((platform, channel))
        members: set[int] = set()
        for item in items:
            message = item.message
            if isinstance(message, DirectMessage | RoleChange):
                members.add(message.member_id)
            if isinstance(message, Post | Edit | DirectMessage):
                members.update(message.body.mentioned())
        if members:
            identities = await session.execute(
                select(
                    Identity.member_id,
                    Identity.platform,
                    Identity.user_id,
                    PlatformSpace.external_id,
                )
                .join(PlatformSpace, PlatformSpace.id == Identity.space_id)
                .where(Identity.member_id.in_(members))
                .order_by(Identity.member_id, Identity.platform, Identity.id)
            )
            for member_id, platform, user_id, space in identities:
                book.identities[member_id].append((platform, user_id, space))
        subjects = {
            (i.message.subject.kind, i.message.subject.id)
            for i in items
            if isinstance(i.message, Edit)
        }
        if subjects:
            kinds = {kind for kind, _ in subjects}
            ids = {subject_id for _, subject_id in subjects}
            known = union(
                select(PostRecord.subject_kind, PostRecord.subject_id, PostRecord.platform).where(
                    PostRecord.subject_kind.in_(kinds), PostRecord.subject_id.in_(ids)
                ),
                select(
                    OutboxMessage.subject_kind, OutboxMessage.subject_id, OutboxMessage.platform
                ).where(
                    OutboxMessage.subject_kind.in_(kinds),
                    OutboxMessage.subject_id.in_(ids),
                    OutboxMessage.action == "post",
                ),
            )
            for kind, subject_id, platform in await session.execute(known):
                if kind is not None and subject_id is not None:
                    book.subject_platforms[(kind, subject_id)].add(platform)
        return book

    def _user(self, member_id: int, platform: str) -> str | None:
        for known, user_id, _ in self.identities.get(member_id, ()):
            if known == platform:
                return user_id
        return None

    def _resolve(self, body: Rich, platform: str) -> Rich:
        """Fill in each mention's user id on ``platform`` (a member not there is named)."""
        if not body.mentioned():
            return body
        return Rich(spans=tuple(self._span(span, platform) for span in body.spans))

    def _span(self, span: Any, platform: str) -> Any:
        if isinstance(span, Mention):
            return span.model_copy(update={"user_id": self._user(span.member_id, platform)})
        if isinstance(span, Owned | Bold | Italic):
            return span.model_copy(
                update={"spans": tuple(self._span(inner, platform) for inner in span.spans)}
            )
        return span

    def rows(self, item: Outgoing) -> list[Queued]:
        message = item.message
        action = ACTIONS[type(message)]
        if isinstance(message, Post) and message.reply_to is not None:
            # A reply waits for the post it answers; it must never wait for a reply.
            action = "reply"
        body = getattr(message, "body", None)
        named = (*item.members, *(body.members() if isinstance(body, Rich) else ()))

        def row(platform: str, target: str, resolved: Message, *extra: int) -> Queued:
            subject = getattr(resolved, "about", None) or getattr(resolved, "subject", None)
            return Queued(
                key=f"{item.key}:{platform}",
                platform=platform,
                action=action,
                target=target,
                message=resolved,
                community_id=item.community_id,
                not_before=item.not_before,
                subject=subject,
                members=tuple(dict.fromkeys((*extra, *named))),
            )

        if isinstance(message, Post):
            where = message.to.name if isinstance(message.to, Purpose) else message.to.id
            return [
                row(
                    platform,
                    f"channel:{channel}",
                    message.model_copy(update={"body": self._resolve(message.body, platform)}),
                )
                for platform, channel in self.channels.get((item.community_id, where), ())
            ]
        if isinstance(message, Edit):
            key = (message.subject.kind, message.subject.id)
            return [
                row(
                    platform,
                    f"subject:{message.subject.kind}:{message.subject.id}",
                    message.model_copy(update={"body": self._resolve(message.body, platform)}),
                )
                for platform in sorted(self.subject_platforms.get(key, ()))
            ]
        if isinstance(message, DirectMessage):
            seen: set[str] = set()
            found: list[Queued] = []
            for platform, user_id, _ in self.identities.get(message.member_id, ()):
                if platform in seen or (message.platform and platform != message.platform):
                    continue
                seen.add(platform)
                resolved = message.model_copy(
                    update={"body": self._resolve(message.body, platform)}
                )
                found.append(row(platform, f"user:{user_id}", resolved, message.member_id))
            return found
        if isinstance(message, RoleChange):
            # One row per identity: a member can be in two guilds of one platform.
            return [
                replace(
                    row(platform, f"member:{space}:{user_id}", message, message.member_id),
                    key=f"{item.key}:{platform}:{space}",
                    subject=access_subject(message.member_id),
                )
                for platform, user_id, space in self.identities.get(message.member_id, ())
            ]
        return [
            Queued(
                key=item.key,
                platform=WEBHOOK_PLATFORM,
                action=action,
                target=message.url,
                message=message,
                community_id=item.community_id,
                not_before=item.not_before,
                members=item.members,
            )
        ]
