"""Badges: definitions from bot.toml, rules that award once, manual awards, privacy."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from bot.badge_rules import BadRule, parse_rule
from bot.errors import ConfigError, Forbidden, Invalid, NotFound
from bot.events import ActivityRecorded, EventBus, decode
from bot.models import (
    AuditEntry,
    Badge,
    Consent,
    EventRecord,
    MemberBadge,
    OutboxMessage,
    SubmissionStatus,
    UgcSubmission,
)
from bot.services import recognition
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.channels import set_channel
from bot.services.engagement import ActivityKind, record_activity
from bot.services.linking import finish_link, start_link
from bot.services.privacy import delete_member, export_member
from bot.services.recognition import BadgeDraft, ingest_batch
from bot.services.recognition.counters import read_counters, streak_of
from bot.services.recognition.periods import Period, period_start
from bot.settings import load_settings
from tests.conftest import make_spaces
from tests.held_lock import until_blocked_on_a_lock
from tests.services.test_recognition import RULES, seen

_keys = count(1)


async def actor(session, clock, community_id, user, role=Role.MEMBER, platform="discord"):
    space = "111" if platform == "discord" else "T0001"
    caller = Caller(platform, space, user, user.title(), role, "c1")
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


async def community(session, clock, badges: str = ""):
    """Return (community id, a moderator), with the recognition channel set and badges synced."""
    discord, _ = await make_spaces(session, clock)
    mod = await actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
    await set_channel(session, clock, mod, "recognition", "904")
    await sync(session, clock, discord.community_id, badges)
    return discord.community_id, mod


async def sync(session, clock, community_id, badges: str, tmp=None):
    settings = settings_of(badges)
    await recognition.sync_configured(session, clock, community_id, settings.badges)


def settings_of(body: str):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False, encoding="utf-8") as f:
        f.write(body)
    return load_settings(f.name, environ={})


def bus_of(sessions, clock) -> EventBus:
    """A bus with recognition's real subscriptions (scores, then badges; the spotlight)."""
    bus = EventBus(sessions, clock)
    context = SimpleNamespace(clock=clock)
    for subscription in recognition.FEATURE.subscriptions:
        bus.subscribe(
            subscription.event, partial(subscription.handler, context), name=subscription.name
        )
    return bus


async def checkin(session, clock, member_id, kind=ActivityKind.RITUAL_CHECKIN, points=10):
    await record_activity(
        session, clock, member_id=member_id, kind=kind, points=points, source_key=f"k:{next(_keys)}"
    )


async def featured_work(session, clock, community_id, member_id, consent):
    """Add a member's featured submission shared with ``consent``."""
    submission = UgcSubmission(
        community_id=community_id,
        member_id=member_id,
        platform="discord",
        title="My bench",
        story="Made it",
        links=[],
        content_key=f"work-{next(_keys)}",
        consent=consent,
        status=SubmissionStatus.APPROVED,
        featured=True,
        submitted_at=clock.now(),
        decided_at=clock.now(),
    )
    session.add(submission)
    await session.flush()
    return submission


async def outbox(session, prefix):
    return (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    ).all()


async def events(session, name="badge.awarded"):
    return (await session.scalars(select(EventRecord).where(EventRecord.name == name))).all()


async def awards(session, member_id):
    return (
        await session.scalars(select(MemberBadge).where(MemberBadge.member_id == member_id))
    ).all()


# ----------------------------------------------------------------------------- definitions


async def test_the_built_ins_are_there_and_bot_toml_changes_adds_and_disables(session, clock):
    community_id, _ = await community(
        session,
        clock,
        """
[badges.ritual-regular]
rule = "rituals_attended >= 2"
[badges.advocate]
enabled = false
[badges.bug-hunter]
name = "Bug Hunter"
emoji = "🐛"
description = "Found bugs."
rule = "answers_accepted >= 3"
""",
    )
    shown = {e.badge.slug: e for e in await recognition.catalogue(session, community_id)}
    assert set(shown) == {
        "founding-member",
        "community-spotlight",
        "community-expert",
        "ritual-regular",
        "bug-hunter",
    }
    assert shown["ritual-regular"].rule.text == "rituals_attended >= 2"
    assert shown["community-spotlight"].rule.text == "ugc_featured >= 1"
    assert shown["founding-member"].rule is None
    assert shown["founding-member"].how == "given by moderators"
    assert shown["bug-hunter"].how == "earned at 3 accepted answers"

    # A restart with a plainer bot.toml: the built-in comes back as it was, bug-hunter goes.
    await sync(session, clock, community_id, "")
    shown = {e.badge.slug: e for e in await recognition.catalogue(session, community_id)}
    assert "bug-hunter" not in shown and "advocate" in shown
    assert shown["ritual-regular"].rule.text == "rituals_attended >= 4"
    rows = await session.scalar(select(func.count()).select_from(Badge))
    assert rows == 6  # kept (disabled), not deleted: its awards stay


async def test_bot_toml_takes_over_a_moderators_badge_of_the_same_name(session, clock):
    community_id, mod = await community(session, clock)
    made = await recognition.create_badge(session, clock, mod, BadgeDraft("Bug Hunter", "🐞"))
    assert made.badge.slug == "bug-hunter"
    await sync(
        session,
        clock,
        community_id,
        '[badges.bugs]\nname = "bug hunter"\nemoji = "🐛"\nrule = "points >= 100"\n',
    )
    (row,) = (await session.scalars(select(Badge).where(Badge.name_key == "bug hunter"))).all()
    assert (row.slug, row.emoji, row.source, row.rule_threshold) == ("bugs", "🐛", "config", 100)

    # A moderator's badge that only shares a slug with a new table keeps its name and awards.
    mine = await recognition.create_badge(session, clock, mod, BadgeDraft("Helper", "🤝"))
    await sync(session, clock, community_id, '[badges.helper]\nname = "Helpful"\nemoji = "🙌"\n')
    names = dict((await session.execute(select(Badge.name, Badge.source))).all())
    assert (names["Helper"], names["Helpful"]) == ("runtime", "config")
    assert mine.badge.slug == "helper"

    # Two built-ins swap names in bot.toml: each takes the other's, nobody is renamed aside.
    swap = (
        '[badges.advocate]\nname = "Founding Member"\n[badges.founding-member]\nname = "Advocate"\n'
    )
    await sync(session, clock, community_id, swap)
    names = dict((await session.execute(select(Badge.slug, Badge.name))).all())
    assert (names["advocate"], names["founding-member"]) == ("Founding Member", "Advocate")


def test_bot_toml_badge_mistakes_are_refused_naming_the_key(tmp_path):
    def error(body: str) -> str:
        path = tmp_path / "bot.toml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_settings(path, environ={})
        return str(caught.value)

    said = error('[badges.x]\nname = "X"\nemoji = "🏅"\nrule = "stars >= 3"\n')
    assert "'badges.x.rule'" in said and "no counter 'stars'" in said
    assert "rituals_attended" in said
    said = error('[badges.advocate]\nrule = "points > 3"\n')
    assert "'badges.advocate.rule'" in said and "'<counter> >= <whole number>'" in said
    said = error('[badges.advocate]\nrule = "points >= ٣"\n')  # another script's digit
    assert "'badges.advocate.rule'" in said
    said = error('[badges.mine]\nname = "Mine"\n')
    assert "[badges.mine] is not a built-in badge" in said and "give it a name and an emoji" in said
    said = error('[badges.Shiny]\nname = "S"\nemoji = "✨"\n')
    assert "[badges.Shiny]" in said and "lower-case" in said
    said = error('[badges.advocate]\nrole = "champions"\n')
    assert "badges.advocate.role 'champions'" in said and "[discord.access]" in said
    said = error('[badges.voice]\nname = "advocate"\nemoji = "📣"\n')
    assert "[badges.voice] and [badges.advocate] are both called 'advocate'" in said
    said = error('[badges.advocate]\nrulez = "points >= 3"\n')
    assert "unknown key 'badges.advocate.rulez'" in said
    assert (
        load_settings(
            _write(tmp_path, '[discord.access]\nchamps = 1\n[badges.advocate]\nrole = "champs"\n'),
            environ={},
        )
        .badges["advocate"]
        .role
        == "champs"
    )


def _write(tmp_path, body):
    path = tmp_path / "ok.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_rules_parse_strictly():
    assert parse_rule("streak_weeks >= 4").said == "4 weeks in a row with a ritual check-in"
    for bad in ("points>=", "points >= 0", "points >= 1e3", "points >= 3 or 4", "Points >= 3", ""):
        with pytest.raises(BadRule):
            parse_rule(bad)


# ----------------------------------------------------------------------------- rules


async def test_a_rule_badge_is_awarded_once_when_its_counter_crosses(sessions, session, clock):
    community_id, _ = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    await session.commit()
    bus = bus_of(sessions, clock)
    for _ in range(3):
        async with sessions() as writing, writing.begin():
            await checkin(writing, clock, ada.member_id)
        await bus.process_pending()
    assert await awards(session, ada.member_id) == []

    for _ in range(2):  # the fourth crosses; the fifth is past it
        async with sessions() as writing, writing.begin():
            await checkin(writing, clock, ada.member_id)
        await bus.process_pending()

    held = await recognition.held_badges(session, ada.member_id)
    assert [(h.badge.name, h.via) for h in held] == [("Ritual Regular", "rule")]
    assert len(await events(session)) == 1
    announced = await outbox(session, "badge-announce:")
    assert len(announced) == 1 and announced[0].target == "channel:904"
    body = json.loads(announced[0].payload)
    assert "Ada" in announced[0].payload and "Ritual Regular" in announced[0].payload
    assert '"mention"' not in json.dumps(body)  # the name is owned text: nobody is pinged
    assert len(await outbox(session, "badge-dm:")) == 1
    assert await outbox(session, "badge-role:") == []  # no role configured for it
    assert [b.name for b in await recognition.top_badges(session, ada.member_id)] == [
        "Ritual Regular"
    ]


async def test_community_spotlight_is_awarded_when_ugc_is_featured(sessions, session, clock):
    community_id, _ = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    await checkin(session, clock, ada.member_id, ActivityKind.UGC_FEATURED, 50)
    # The spotlight event alone (its subscriber) awards it, before the scores catch up.
    handler = next(
        s for s in recognition.FEATURE.subscriptions if s.name == "recognition.badges-spotlight"
    )
    from bot.services.ugc.moderation import UgcFeatured

    event = UgcFeatured(community_id=community_id, member_id=ada.member_id, submission_uid="x")
    await handler.handler(SimpleNamespace(clock=clock), session, event)
    await handler.handler(SimpleNamespace(clock=clock), session, event)
    assert [h.badge.slug for h in await recognition.held_badges(session, ada.member_id)] == [
        "community-spotlight"
    ]
    assert len(await events(session)) == 1


async def test_a_points_badge_crossed_by_points_for_anonymous_work_is_not_announced(session, clock):
    """The feature's points push one member over `points >= 40`: if the work was shared
    without their name, a post naming them at that moment would say who shared it."""
    community_id, _ = await community(
        session, clock, '[badges.forty]\nname = "Forty"\nemoji = "4"\nrule = "points >= 40"\n'
    )
    handler = next(
        s for s in recognition.FEATURE.subscriptions if s.name == "recognition.period-scores"
    )
    for user, consent in (("named", Consent.PUBLIC_NAMED), ("quiet", Consent.PUBLIC_ANONYMOUS)):
        member = await actor(session, clock, community_id, user)
        submission = await featured_work(session, clock, community_id, member.member_id, consent)
        recorded = await record_activity(
            session,
            clock,
            member_id=member.member_id,
            kind=ActivityKind.UGC_FEATURED,
            points=50,
            source_key=f"ugc-featured:{submission.uid}",
        )
        event = ActivityRecorded(
            community_id=community_id,
            member_id=member.member_id,
            activity_id=recorded.activity_id or 0,
            kind="ugc_featured",
            points=50,
        )
        await handler.handler(SimpleNamespace(clock=clock), session, event)

    posts = json.dumps([row.payload for row in await outbox(session, "badge-announce:")])
    assert "Forty" in posts and "Named" in posts and "Quiet" not in posts
    dms = [json.dumps(row.payload) for row in await outbox(session, "badge-dm:")]
    assert len([dm for dm in dms if "Forty" in dm]) == 2  # both hear of it privately


async def test_the_spotlight_is_announced_only_for_work_shared_with_a_name(session, clock):
    """Featured anonymously: the badge and the DM, but no post naming who shared it."""
    community_id, _ = await community(session, clock)
    handler = next(
        s for s in recognition.FEATURE.subscriptions if s.name == "recognition.badges-spotlight"
    )
    from bot.services.ugc.moderation import UgcFeatured

    held = {}
    for user, consent in (("named", Consent.PUBLIC_NAMED), ("quiet", Consent.PUBLIC_ANONYMOUS)):
        member = await actor(session, clock, community_id, user)
        await featured_work(session, clock, community_id, member.member_id, consent)
        await checkin(session, clock, member.member_id, ActivityKind.UGC_FEATURED, 50)
        event = UgcFeatured(
            community_id=community_id, member_id=member.member_id, submission_uid=user
        )
        await handler.handler(SimpleNamespace(clock=clock), session, event)
        held[user] = [
            h.badge.slug for h in await recognition.held_badges(session, member.member_id)
        ]

    assert held == {"named": ["community-spotlight"], "quiet": ["community-spotlight"]}
    posts = [row.payload for row in await outbox(session, "badge-announce:")]
    assert len(posts) == 1 and "Named" in json.dumps(posts[0])
    assert "Quiet" not in json.dumps(posts)
    assert len(await outbox(session, "badge-dm:")) == 2
    assert len(await events(session)) == 2


async def test_points_badges_are_awarded_from_a_chat_batch(session, clock):
    discord, _ = await make_spaces(session, clock)
    await sync(
        session,
        clock,
        discord.community_id,
        '[badges.chatty]\nname = "Chatty"\nemoji = "💬"\nrule = "points >= 10"\n',
    )
    t0 = clock.now()
    await ingest_batch(session, clock, RULES, [seen(discord, "ada", t0)])
    assert await session.scalar(select(func.count()).select_from(MemberBadge)) == 0
    await ingest_batch(session, clock, RULES, [seen(discord, "ada", t0 + timedelta(minutes=2))])
    badge = await session.scalar(select(MemberBadge))
    assert badge is not None and badge.via == "rule"
    assert len(await events(session)) == 1


def test_a_streak_counts_weeks_in_a_row_ending_this_week_or_last():
    zone = "Europe/Berlin"
    now = datetime(2026, 4, 1, 12, tzinfo=UTC)  # a Wednesday; the week of 30 March (DST 29th)
    weeks = [period_start(Period.WEEK, now - timedelta(weeks=n), zone) for n in range(6)]
    assert streak_of(set(weeks[:4]), now, zone) == 4
    assert streak_of(set(weeks[1:4]), now, zone) == 3  # not yet this week: last week counts
    assert streak_of(set(weeks[2:4]), now, zone) == 0  # nothing last week or this: broken
    assert streak_of({weeks[0], weeks[2]}, now, zone) == 1


async def test_counters_read_the_score_rows_and_the_ledger(session, clock):
    community_id, _ = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    for kind in (
        ActivityKind.RITUAL_CHECKIN,
        ActivityKind.ANSWER_ACCEPTED,
        ActivityKind.UGC_FEATURED,
    ):
        await checkin(session, clock, ada.member_id, kind, 5)
    from bot.services.recognition.scores import on_activity_recorded

    for record in await events(session, "activity.recorded"):
        await on_activity_recorded(session, clock, decode(record.name, record.payload))
    found = await read_counters(
        session,
        community_id,
        [ada.member_id],
        ["points", "rituals_attended", "answers_accepted", "ugc_featured", "streak_weeks"],
        clock.now(),
    )
    assert dict(found[ada.member_id]) == {
        "points": 15,
        "rituals_attended": 1,
        "answers_accepted": 1,
        "ugc_featured": 1,
        "streak_weeks": 1,
    }


# ----------------------------------------------------------------------------- concurrency


async def test_two_activities_crossing_the_threshold_at_once_award_once(committed, clock):
    async with committed() as session, session.begin():
        community_id, _ = await community(session, clock)
        members = [await actor(session, clock, community_id, f"m{i}") for i in range(4)]
        for member in members:
            for _ in range(3):
                await checkin(session, clock, member.member_id)
    bus = bus_of(committed, clock)
    await bus.process_pending()  # the three earlier check-ins reach the score rows
    spotlight_free = [
        s for s in recognition.FEATURE.subscriptions if s.event.name == "activity.recorded"
    ]
    (scores,) = spotlight_free
    context = SimpleNamespace(clock=clock)

    async def record(member_id: int) -> ActivityRecorded:
        async with committed() as session, session.begin():
            await checkin(session, clock, member_id)
            stored = await session.scalar(
                select(EventRecord)
                .where(EventRecord.name == "activity.recorded")
                .order_by(EventRecord.id.desc())
            )
            return decode(stored.name, stored.payload)

    async def deliver(event: ActivityRecorded) -> None:
        # What one process's bus does with one event, racing another process's delivery.
        async with committed() as session, session.begin():
            await scores.handler(context, session, event)

    for member in members:  # two check-ins each, both reaching the fourth
        crossing = await asyncio.gather(record(member.member_id), record(member.member_id))
        await asyncio.gather(*(deliver(event) for event in crossing))
    async with committed() as session:
        for member in members:
            assert len(await awards(session, member.member_id)) == 1
        assert len(await events(session)) == len(members)
        assert len(await outbox(session, "badge-announce:")) == len(members)
        assert len(await outbox(session, "badge-dm:")) == len(members)


async def test_the_unique_pair_decides_when_both_saw_no_award(committed, clock, backend):
    """Both transactions find no award and insert: the second gets nothing back, so it is silent."""
    async with committed() as session, session.begin():
        community_id, _ = await community(session, clock)
        ada = await actor(session, clock, community_id, "ada")
        for _ in range(4):
            await checkin(session, clock, ada.member_id)
    await bus_of(committed, clock).process_pending()
    async with committed() as session:
        await session.execute(text("DELETE FROM member_badges"))
        await session.execute(text("DELETE FROM outbox"))
        await session.execute(text("DELETE FROM events WHERE name = 'badge.awarded'"))
        await session.commit()

    first = committed()
    await first.begin()
    assert await recognition.award_earned(first, clock, community_id, [ada.member_id]) == 1

    async def second() -> int:
        async with committed() as session, session.begin():
            return await recognition.award_earned(session, clock, community_id, [ada.member_id])

    racing = asyncio.ensure_future(second())
    if backend == "postgresql":
        # Wait until the second transaction is blocked on the first one's uncommitted row.
        await until_blocked_on_a_lock(committed)
    await first.commit()
    await first.close()
    assert await racing == 0
    async with committed() as session:
        assert len(await awards(session, ada.member_id)) == 1
        assert len(await events(session)) == 1
        assert len(await outbox(session, "badge-announce:")) == 1


# ----------------------------------------------------------------------------- by hand


async def test_a_moderator_awards_and_revokes_by_hand_and_it_is_audited(session, clock):
    community_id, mod = await community(
        session,
        clock,
        '[discord.access]\nfounders = 5\n[badges.founding-member]\nrole = "founders"\n',
    )
    ada = await actor(session, clock, community_id, "ada")

    given = await recognition.award(session, clock, mod, ada.member_id, "founding member")
    assert (given.member_name, given.badge.name) == ("Ada", "Founding Member")
    with pytest.raises(Invalid, match="Ada already has the Founding Member badge"):
        await recognition.award(session, clock, mod, ada.member_id, "Founding Member")
    assert len(await outbox(session, "badge-role:")) == 1  # the role granted with it

    await recognition.revoke(session, clock, mod, ada.member_id, "Founding Member")
    assert await recognition.held_badges(session, ada.member_id) == []
    with pytest.raises(Invalid, match="doesn't have the Founding Member badge"):
        await recognition.revoke(session, clock, mod, ada.member_id, "Founding Member")
    revokes = [r for r in await outbox(session, "badge-role:") if ":revoke:" in r.key]
    assert len(revokes) == 1

    await recognition.award(session, clock, mod, ada.member_id, "founding-member")  # again
    assert len(await outbox(session, "badge-announce:")) == 2  # a new award, a new message
    actions = (
        await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.about_member_id == ada.member_id)
            .order_by(AuditEntry.id)
        )
    ).all()
    assert actions == ["badge.award", "badge.revoke", "badge.award"]
    assert [e.payload["via"] for e in await events(session)] == ["manual", "manual"]


async def test_refusals_say_what_was_wrong(session, clock):
    community_id, mod = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    with pytest.raises(Forbidden, match="Only moderators"):
        await recognition.award(session, clock, ada, ada.member_id, "Advocate")
    with pytest.raises(NotFound, match=r"no badge called 'Expert'.*Community Expert"):
        await recognition.award(session, clock, mod, ada.member_id, "Expert")
    with pytest.raises(Forbidden):
        await recognition.create_badge(session, clock, ada, BadgeDraft("Mine", "✨"))
    with pytest.raises(Invalid) as bad_rule:
        await recognition.create_badge(
            session, clock, mod, BadgeDraft("Mine", "✨", rule="karma >= 2")
        )
    assert bad_rule.value.field == "rule" and "no counter 'karma'" in bad_rule.value.message
    with pytest.raises(Invalid) as taken:
        await recognition.create_badge(session, clock, mod, BadgeDraft("advocate", "✨"))
    assert taken.value.field == "name"
    with pytest.raises(Invalid) as emoji:
        await recognition.create_badge(session, clock, mod, BadgeDraft("Mine", "✨ ✨"))
    assert emoji.value.field == "emoji"


async def test_a_created_rule_badge_is_earned_and_a_revoked_rule_badge_stays_revoked(
    session, clock
):
    community_id, mod = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    made = await recognition.create_badge(
        session,
        clock,
        mod,
        BadgeDraft("First Answer", "💡", "Helped someone", "answers_accepted >= 1"),
    )
    assert (made.badge.slug, made.rule.text) == ("first-answer", "answers_accepted >= 1")
    assert "First Answer" in await recognition.badge_names(session, community_id, "first")
    await checkin(session, clock, ada.member_id, ActivityKind.ANSWER_ACCEPTED, 20)
    from bot.services.recognition.scores import on_activity_recorded

    (record,) = await events(session, "activity.recorded")
    await on_activity_recorded(session, clock, decode(record.name, record.payload))
    assert await recognition.award_earned(session, clock, community_id, [ada.member_id]) == 1
    await recognition.revoke(session, clock, mod, ada.member_id, "First Answer")
    assert await recognition.award_earned(session, clock, community_id, [ada.member_id]) == 0
    assert await recognition.held_badges(session, ada.member_id) == []


# ----------------------------------------------------------------------------- privacy


async def test_export_erase_and_merge_cover_awards(session, clock):
    community_id, mod = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    twin = await actor(session, clock, community_id, "ada-slack", platform="slack")
    for member in (ada, twin):
        await recognition.award(session, clock, mod, member.member_id, "Advocate")
    await recognition.award(session, clock, mod, twin.member_id, "Founding Member")

    code = await start_link(session, clock, member_id=ada.member_id, platform="discord")
    await finish_link(session, clock, member_id=twin.member_id, platform="slack", code=code.code)
    kept = min(ada.member_id, twin.member_id)
    assert sorted(h.badge.name for h in await recognition.held_badges(session, kept)) == [
        "Advocate",
        "Founding Member",
    ]
    exported = await export_member(session, kept)
    assert sorted(b["badge"] for b in exported["recognition"]["badges"]) == [
        "Advocate",
        "Founding Member",
    ]
    await delete_member(session, clock, member_id=kept)
    assert await awards(session, kept) == []


async def test_a_second_spotlight_crossed_by_anonymous_work_is_not_announced(session, clock):
    """Named work first, then anonymous work crossing ``ugc_featured >= 2``: no post naming
    them as the anonymous piece is featured; a hand award with no featured work is announced."""
    community_id, mod = await community(
        session,
        clock,
        '[badges.spotlight-2]\nname = "Double Spotlight"\nemoji = "✨"\n'
        'rule = "ugc_featured >= 2"\n',
    )
    handler = next(
        s for s in recognition.FEATURE.subscriptions if s.name == "recognition.badges-spotlight"
    )
    from bot.services.ugc.moderation import UgcFeatured

    member = await actor(session, clock, community_id, "ada")
    for consent in (Consent.PUBLIC_NAMED, Consent.PUBLIC_ANONYMOUS):
        clock.advance(3600)
        work = await featured_work(session, clock, community_id, member.member_id, consent)
        await checkin(session, clock, member.member_id, ActivityKind.UGC_FEATURED, 50)
        event = UgcFeatured(
            community_id=community_id, member_id=member.member_id, submission_uid=work.uid
        )
        await handler.handler(SimpleNamespace(clock=clock), session, event)

    held = [h.badge.slug for h in await recognition.held_badges(session, member.member_id)]
    assert sorted(held) == ["community-spotlight", "spotlight-2"]
    posts = json.dumps([row.payload for row in await outbox(session, "badge-announce:")])
    assert "Community Spotlight" in posts and "Double Spotlight" not in posts
    assert len(await outbox(session, "badge-dm:")) == 2

    other = await actor(session, clock, community_id, "bo")
    await recognition.award(session, clock, mod, other.member_id, "Community Spotlight")
    posts = [row.payload for row in await outbox(session, "badge-announce:")]
    assert len(posts) == 2 and "Bo" in json.dumps(posts[1])


async def test_many_members_holding_many_rule_badges_are_checked_without_a_statement_limit(
    session, clock
):
    """A chat batch of 1,000 members who each hold 20 ``points`` badges: 20,000 held pairs.

    Asked in one ``(member, badge) IN (...)`` they were 40,000 bound values, past
    PostgreSQL's (asyncpg's) 32,767: the whole chat batch failed.
    """
    from bot.models import MemberScore
    from bot.services.identities import resolve_passive_members
    from bot.services.recognition.periods import ALL_TIME_START
    from bot.services.recognition.scores import rebuild_member_scores

    tables = "".join(
        f'[badges.level-{n}]\nname = "Level {n}"\nemoji = "⭐"\nrule = "points >= {n}"\n'
        for n in range(1, 21)
    )
    community_id, _ = await community(session, clock, tables)
    discord, _ = await make_spaces(session, clock)
    people = await resolve_passive_members(
        session, clock, space=discord, users=[(f"u{n}", f"U{n}") for n in range(1_000)]
    )
    ids = sorted(m.member_id for m in people.values())
    await session.execute(
        MemberScore.__table__.insert(),
        [
            {
                "community_id": community_id,
                "board": "points",
                "period": "all",
                "period_start": ALL_TIME_START,
                "member_id": member_id,
                "score": 100,
                "updated_at": clock.now(),
            }
            for member_id in ids
        ],
    )
    badges = (await session.scalars(select(Badge.id).where(Badge.slug.startswith("level-")))).all()
    assert len(badges) == 20
    await session.execute(
        MemberBadge.__table__.insert(),
        [
            {
                "uid": f"a{m}-{b}",
                "community_id": community_id,
                "member_id": m,
                "badge_id": b,
                "awarded_at": clock.now(),
                "via": "rule",
            }
            for m in ids
            for b in badges
        ],
    )
    extra = await actor(session, clock, community_id, "late")
    await checkin(session, clock, extra.member_id, ActivityKind.IMPORTED, 3)
    await rebuild_member_scores(session, clock, community_id, extra.member_id)

    made = await recognition.award_earned(
        session, clock, community_id, [*ids, extra.member_id], counters=["points"]
    )

    assert made == 3  # the late member's Level 1 to 3; the others held theirs already
    assert await session.scalar(select(func.count()).select_from(MemberBadge)) == 20_003


async def test_a_badge_named_like_another_badges_slug_is_refused(session, clock):
    """A moderator's badge called "founding-member" made `/badge award @x founding-member`
    pick either it or the built-in (whichever row the database returned first)."""
    community_id, mod = await community(session, clock)
    with pytest.raises(Invalid) as refused:
        await recognition.create_badge(
            session, clock, mod, BadgeDraft(name="Founding-Member", emoji="🎭")
        )
    assert refused.value.field == "name" and "founding-member" in str(refused.value)
    member = await actor(session, clock, community_id, "ada")
    given = await recognition.award(session, clock, mod, member.member_id, "founding-member")
    assert given.badge.slug == "founding-member"


async def test_revoking_one_of_two_badges_with_the_same_role_keeps_the_role(session, clock):
    """Founding Member and Advocate both give "founders": taking one back revoked the role
    the other still gives."""
    community_id, mod = await community(
        session,
        clock,
        '[discord.access]\nfounders = 5\n[badges.founding-member]\nrole = "founders"\n'
        '[badges.advocate]\nrole = "founders"\n',
    )
    ada = await actor(session, clock, community_id, "ada")
    await recognition.award(session, clock, mod, ada.member_id, "Founding Member")
    await recognition.award(session, clock, mod, ada.member_id, "Advocate")

    await recognition.revoke(session, clock, mod, ada.member_id, "Founding Member")
    revokes = [r for r in await outbox(session, "badge-role:") if ":revoke" in r.key]
    assert revokes == []

    await recognition.revoke(session, clock, mod, ada.member_id, "Advocate")
    revokes = [r for r in await outbox(session, "badge-role:") if ":revoke" in r.key]
    assert len(revokes) == 1


async def test_a_member_hidden_from_the_boards_is_not_announced_for_a_rule_badge(session, clock):
    """`/privacy leaderboard off` hides a member from every public surface: a post saying
    they earned a badge "for 500 points" told everyone their score. They get the DM."""
    community_id, mod = await community(
        session,
        clock,
        '[badges.five-hundred]\nname = "Five Hundred"\nemoji = "💯"\nrule = "points >= 500"\n',
    )
    shy = await actor(session, clock, community_id, "shy")
    await recognition.set_leaderboard_public(session, clock, shy.member_id, False)
    await checkin(session, clock, shy.member_id, ActivityKind.IMPORTED, 500)
    from bot.services.recognition.scores import rebuild_member_scores

    await rebuild_member_scores(session, clock, community_id, shy.member_id)

    assert await recognition.award_earned(session, clock, community_id, [shy.member_id]) == 1
    assert await outbox(session, "badge-announce:") == []
    assert len(await outbox(session, "badge-dm:")) == 1

    await recognition.award(session, clock, mod, shy.member_id, "Founding Member")
    assert len(await outbox(session, "badge-announce:")) == 1  # a moderator's award is theirs


async def test_linking_two_accounts_awards_what_their_counters_reach_together(session, clock):
    """Two check-ins on Discord and two on Slack are four once linked: Ritual Regular was
    only given at the next check-in, if one ever came."""
    community_id, _ = await community(session, clock)
    ada = await actor(session, clock, community_id, "ada")
    twin = await actor(session, clock, community_id, "ada-slack", platform="slack")
    from bot.services.recognition.scores import on_activity_recorded

    for member in (ada, twin):
        for _ in range(2):
            await checkin(session, clock, member.member_id)
    for record in await events(session, "activity.recorded"):
        await on_activity_recorded(session, clock, decode(record.name, record.payload))
    assert (
        await recognition.award_earned(
            session, clock, community_id, [ada.member_id, twin.member_id]
        )
        == 0
    )

    code = await start_link(session, clock, member_id=ada.member_id, platform="discord")
    await finish_link(session, clock, member_id=twin.member_id, platform="slack", code=code.code)
    kept = min(ada.member_id, twin.member_id)
    held = [h.badge.slug for h in await recognition.held_badges(session, kept)]
    assert held == ["ritual-regular"]
