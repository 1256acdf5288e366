"""Addressing and the post registry: neutral messages reach the right rows, and what was sent is
remembered apart from the outbox."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.messages import (
    DirectMessage,
    Edit,
    Mention,
    NewThread,
    Post,
    Purpose,
    RoleChange,
    Subject,
    load,
    rich,
)
from bot.models import Identity, OutboxMessage, PostRecord
from bot.outbox import Dispatcher, Effect, PermanentFailure, Posted, RateLimit, registry, send
from bot.services.channels import place_channel, purpose_destination
from bot.services.communities import ensure_space
from bot.services.identities import resolve_member
from bot.settings import OutboxSettings

ABOUT = Subject(kind="occurrence", id="abc123")


class Platform:
    """An in-memory platform that answers like Discord or Slack would, per platform name."""

    def __init__(self, name: str) -> None:
        self.platform = name
        self.sent: list[Effect] = []

    def limits(self, effect: Effect):
        return [(f"{self.platform}:all", RateLimit(1000, 1.0))]

    async def send(self, effect: Effect) -> Posted:
        self.sent.append(effect)
        channel = effect.target.split(":", 1)[1]
        number = f"{self.platform}-{len(self.sent)}"
        message = effect.message
        thread = number if isinstance(message, Post) and message.thread else None
        return Posted(channel, number, thread)


async def _community(session, clock, spaces):
    discord, _ = spaces
    destination = await purpose_destination(session, clock, discord.community_id, "rituals")
    await place_channel(session, destination, "discord", "500")
    await place_channel(session, destination, "slack", "C500")
    return discord.community_id


def _dispatcher(sessions, clock, *platforms: Platform) -> Dispatcher:
    return Dispatcher(sessions, clock, OutboxSettings(max_attempts=3), platforms)


async def _sent_post(sessions, clock, spaces, session, *platforms: Platform) -> int:
    """Post about ABOUT to the rituals channels and deliver it; return the community id."""
    community_id = await _community(session, clock, spaces)
    await session.commit()
    async with sessions() as writing, writing.begin():
        post = Post(to=Purpose(name="rituals"), body=rich("v1"), about=ABOUT)
        await send(writing, clock, post, key="post", community_id=community_id)
    await _dispatcher(sessions, clock, *platforms).drain()
    return community_id


async def _rows(session) -> list[OutboxMessage]:
    return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_a_post_to_a_purpose_becomes_one_row_per_platform_channel(session, clock, spaces):
    community_id = await _community(session, clock, spaces)
    post = Post(to=Purpose(name="rituals"), body=rich("hello"), about=ABOUT)
    assert await send(session, clock, post, key="k", community_id=community_id) == 2
    assert await send(session, clock, post, key="k", community_id=community_id) == 0
    rows = await _rows(session)
    assert [(r.key, r.platform, r.target) for r in rows] == [
        ("k:discord", "discord", "channel:500"),
        ("k:slack", "slack", "channel:C500"),
    ]
    assert {(r.subject_kind, r.subject_id) for r in rows} == {("occurrence", "abc123")}
    unset = Post(to=Purpose(name="announcements"), body=rich("nobody hears"))
    assert await send(session, clock, unset, key="u", community_id=community_id) == 0


async def test_a_dm_goes_to_the_members_identity_and_mentions_resolve_per_platform(
    session, clock, spaces
):
    discord, _ = spaces
    ada = await resolve_member(session, clock, space=discord, user_id="4242", display_name="Ada")
    community_id = await _community(session, clock, spaces)
    dm = DirectMessage(member_id=ada.member_id, body=rich("psst"))
    assert await send(session, clock, dm, key="dm", community_id=community_id) == 1
    slack_only = DirectMessage(member_id=ada.member_id, body=rich("x"), platform="slack")
    assert await send(session, clock, slack_only, key="dm2", community_id=community_id) == 0
    hello = Post(
        to=Purpose(name="rituals"),
        body=rich("Hi ", Mention(member_id=ada.member_id, fallback="Ada")),
    )
    await send(session, clock, hello, key="hi", community_id=community_id)
    rows = {row.key: row for row in await _rows(session)}
    assert rows["dm:discord"].target == "user:4242"
    mentions = {
        key.split(":")[1]: load(rows[key].payload).body.spans[1].user_id
        for key in ("hi:discord", "hi:slack")
    }
    assert mentions == {"discord": "4242", "slack": None}


async def test_a_delivered_post_is_registered_and_found_by_its_message_or_thread(
    sessions, clock, spaces, session
):
    community_id = await _community(session, clock, spaces)
    await session.commit()
    async with sessions() as writing, writing.begin():
        post = Post(
            to=Purpose(name="rituals"), body=rich("x"), thread=NewThread(name="t"), about=ABOUT
        )
        await send(writing, clock, post, key="p", community_id=community_id)
    discord, slack = Platform("discord"), Platform("slack")
    assert await _dispatcher(sessions, clock, discord, slack).drain() == 2
    async with sessions() as reading:
        for platform in ("discord", "slack"):
            found = await registry.subject_of(
                reading, platform=platform, message_id=f"{platform}-1"
            )
            assert found == ABOUT
        assert await registry.subject_of(reading, platform="slack", message_id="nope") is None
        where = await registry.post_about(reading, ABOUT, "discord")
    assert where is not None and where.thread_id == "discord-1"


async def test_a_reply_waits_for_its_post_then_goes_into_its_thread(
    sessions, clock, spaces, session
):
    community_id = await _community(session, clock, spaces)
    await session.commit()
    async with sessions() as writing, writing.begin():
        reply = Post(to=Purpose(name="rituals"), body=rich("recap"), reply_to=ABOUT)
        await send(writing, clock, reply, key="recap", community_id=community_id)
        post = Post(
            to=Purpose(name="rituals"), body=rich("post"), about=ABOUT, thread=NewThread(name="t")
        )
        # Queued later, but claimed after the reply: the reply must wait for it.
        await send(
            writing,
            clock,
            post,
            key="post",
            community_id=community_id,
            not_before=clock.now() + timedelta(seconds=1),
        )
    discord = Platform("discord")
    dispatcher = Dispatcher(sessions, clock, OutboxSettings(), [discord])
    assert await dispatcher.drain() == 2
    assert [e.key for e in discord.sent] == ["post:discord", "recap:discord"]
    assert discord.sent[1].thread is not None and discord.sent[1].thread.thread_id == "discord-1"


async def test_an_edit_finds_its_post_and_one_about_nothing_posted_queues_nothing(
    sessions, clock, spaces, session
):
    discord, slack = Platform("discord"), Platform("slack")
    community_id = await _sent_post(sessions, clock, spaces, session, discord, slack)
    async with sessions() as writing, writing.begin():
        edit = Edit(subject=ABOUT, body=rich("v2"))
        assert await send(writing, clock, edit, key="edit", community_id=community_id) == 2
        lost = Edit(subject=Subject(kind="occurrence", id="gone"), body=rich("v2"))
        assert await send(writing, clock, lost, key="lost", community_id=community_id) == 0
    await _dispatcher(sessions, clock, discord, slack).drain()
    assert discord.sent[-1].original is not None
    assert discord.sent[-1].original.message_id == "discord-1"


async def test_a_row_whose_effect_cannot_be_read_is_dead_lettered_with_the_reason(
    sessions, clock, session
):
    session.add(
        OutboxMessage(
            key="old",
            platform="discord",
            action="post",
            target="channel:1",
            payload='{"text": "an old shape"}',
            status="pending",
            attempts=0,
            not_before=clock.now(),
            created_at=clock.now(),
        )
    )
    await session.commit()
    discord = Platform("discord")
    assert await _dispatcher(sessions, clock, discord).drain() == 0
    async with sessions() as reading:
        row = await reading.scalar(select(OutboxMessage))
    assert row.status == "dead" and "cannot read the stored effect" in row.last_error
    assert discord.sent == []


async def test_sent_rows_are_pruned_after_the_retention_and_the_registry_stays(
    sessions, clock, spaces, session
):
    await _sent_post(sessions, clock, spaces, session, Platform("discord"), Platform("slack"))
    clock.advance(timedelta(days=29).total_seconds())
    async with sessions() as writing, writing.begin():
        assert await registry.prune_sent(writing, clock, retention=timedelta(days=30)) == 0
    clock.advance(timedelta(days=2).total_seconds())
    async with sessions() as writing, writing.begin():
        assert await registry.prune_sent(writing, clock, retention=timedelta(days=30)) == 2
    async with sessions() as reading:
        assert await reading.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert await reading.scalar(select(func.count()).select_from(PostRecord)) == 2
        found = await registry.subject_of(reading, platform="slack", message_id="slack-1")
    assert found == ABOUT


async def test_cancelling_a_subject_removes_only_what_is_queued_about_it(session, clock, spaces):
    community_id = await _community(session, clock, spaces)
    other = Subject(kind="occurrence", id="other")
    for key, about in (("a", ABOUT), ("b", other)):
        await send(
            session,
            clock,
            Post(to=Purpose(name="rituals"), body=rich(key), about=about),
            key=key,
            community_id=community_id,
        )
    assert await registry.cancel_about(session, [ABOUT]) == 2
    assert {row.key for row in await _rows(session)} == {"b:discord", "b:slack"}


class Refusing(Platform):
    """Refuses posts for good (a channel the bot may not write in)."""

    async def send(self, effect: Effect) -> Posted:
        if effect.key.startswith("post"):
            raise PermanentFailure("Missing Access")
        return await super().send(effect)


async def test_a_reply_whose_post_was_refused_goes_in_the_channel_instead_of_waiting(
    sessions, clock, spaces, session
):
    community_id = await _community(session, clock, spaces)
    await session.commit()
    post = Post(to=Purpose(name="rituals"), body=rich("post"), about=ABOUT)
    recap = Post(to=Purpose(name="rituals"), body=rich("recap"), reply_to=ABOUT, about=ABOUT)
    async with sessions() as writing, writing.begin():
        await send(writing, clock, post, key="post", community_id=community_id)
    platform = Refusing("discord")
    dispatcher = Dispatcher(sessions, clock, OutboxSettings(), [platform])
    await dispatcher.drain()
    async with sessions() as writing, writing.begin():
        await send(writing, clock, recap, key="recap", community_id=community_id)
    assert await dispatcher.drain(max_passes=50) == 1
    assert [e.key for e in platform.sent] == ["recap:discord"]
    assert platform.sent[0].thread is None


async def test_two_replies_about_one_post_never_wait_for_each_other(
    sessions, clock, spaces, session
):
    community_id = await _community(session, clock, spaces)
    await session.commit()
    async with sessions() as writing, writing.begin():
        for key in ("a", "b"):
            reply = Post(to=Purpose(name="rituals"), body=rich(key), reply_to=ABOUT, about=ABOUT)
            await send(writing, clock, reply, key=key, community_id=community_id)
    platform = Platform("discord")
    assert await Dispatcher(sessions, clock, OutboxSettings(), [platform]).drain(max_passes=50) == 2


async def test_a_role_change_reaches_every_identity_even_two_on_one_platform(
    session, clock, spaces
):
    discord, _ = spaces
    other_guild = await ensure_space(
        session, clock, community_id=discord.community_id, platform="discord", external_id="222"
    )
    ada = await resolve_member(session, clock, space=discord, user_id="42")
    session.add(
        Identity(
            member_id=ada.member_id,
            space_id=other_guild.space_id,
            platform="discord",
            user_id="42",
            created_at=clock.now(),
        )
    )
    await session.flush()
    change = RoleChange(member_id=ada.member_id, access="inner-circle", grant=True)
    assert await send(session, clock, change, key="grant", community_id=ada.community_id) == 2
    assert sorted(row.target for row in await _rows(session)) == [
        "member:111:42",
        "member:222:42",
    ]
