"""UGC: submissions checked and copied, one decision per submission, consent everywhere."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.commands import CommandNames
from bot.errors import Forbidden, Invalid, LimitReached, NotFound
from bot.events import EventRecord
from bot.media import LocalMediaStore
from bot.messages import DirectMessage, Edit, Post
from bot.models import (
    Activity,
    Member,
    OutboxMessage,
    Ritual,
    SubmissionStatus,
    UgcAttachment,
    UgcMediaTrash,
    UgcSubmission,
)
from bot.services import privacy, rituals, ugc
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.channels import set_channel
from bot.services.ugc import data as ugc_data
from tests.conftest import make_spaces
from tests.effects import message_of, pretend_sent, text_of
from tests.media_samples import png_1x1

COMMANDS = CommandNames()
RULES = ugc.UgcRules(daily_limit=5, max_attachments=4, max_bytes=64 * 1024)
MANY = ugc.UgcRules(daily_limit=100, max_attachments=4, max_bytes=64 * 1024)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media", public_url="https://proof.example")


async def actor(session, clock, community_id, user_id, role=Role.MEMBER, platform="discord"):
    caller = Caller(
        platform, "111" if platform == "discord" else "T0001", user_id, user_id.title(), role, "c1"
    )
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


async def community(session, clock):
    discord, _ = await make_spaces(session, clock)
    mod = await actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
    for purpose, channel in (("ugc-review", "901"), ("showcase", "902"), ("announcements", "903")):
        await set_channel(session, clock, mod, purpose, channel)
    return discord.community_id, mod


def picture(name="cake.png", data=None, reported_type="image/png"):
    data = png_1x1() if data is None else data
    return ugc.IncomingFile(
        filename=name,
        data=data,
        reported_url=f"https://cdn.example/{name}?ex=1",
        reported_type=reported_type,
        reported_size=len(data),
    )


def draft(title="My cake", consent="public_named", **extra):
    return ugc.Draft(
        title=title,
        story=extra.pop("story", "I baked it with the new mixer."),
        links=extra.pop("links", "https://example.com/cake"),
        consent=consent,
        **extra,
    )


async def rows(session, prefix):
    return (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    ).all()


async def submitted(session, clock, store, *, user="ada", consent="public_named", files=None, **kw):
    community_id, mod = await community(session, clock)
    member = await actor(session, clock, community_id, user)
    view = await ugc.submit(
        session,
        clock,
        member,
        draft(consent=consent, **kw),
        (picture(),) if files is None else files,
        store=store,
        rules=RULES,
    )
    return community_id, mod, member, view


async def test_a_submission_is_stored_with_its_file_and_queued_for_review(session, clock, store):
    _, _, _member, view = await submitted(session, clock, store)
    assert view.status == SubmissionStatus.PENDING and view.files == 1
    attachment = await session.scalar(select(UgcAttachment))
    assert attachment.content_type == "image/png" and attachment.size == len(png_1x1())
    assert attachment.reported_url.startswith("https://cdn.example/cake.png")
    assert await store.get(attachment.media_key) == (png_1x1(), "image/png")
    (queued,) = await rows(session, "ugc-review:")
    post = message_of(queued)
    assert isinstance(post, Post) and post.to.name == "ugc-review"
    assert [b.label for b in post.buttons] == ["Approve", "Reject", "Feature"]
    text = text_of(queued)
    assert "My cake" in text and "https://proof.example/media/" in text
    assert "https://cdn.example" not in text  # public surfaces link our copy


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"links": "javascript:alert(1)"}, "link"),
        ({"links": "https://a.example ftp://b.example"}, "link"),
        ({"story": "x" * 10_000}, "story"),
        ({"title": ""}, "title"),
        ({"title": "a\u202eb"}, "title"),
        ({"consent": ""}, "consent"),
        ({"consent": "everyone"}, "consent"),
        ({"prompt": "no such prompt"}, None),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    session, clock, store, changes, field
):
    community_id, _ = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    values = {"title": "My cake", "consent": "public_named", **changes}
    with pytest.raises((Invalid, NotFound)) as refused:
        await ugc.submit(session, clock, member, draft(**values), store=store, rules=RULES)
    if field is not None:
        assert refused.value.field == field
        assert refused.value.message.lower().startswith(field)
    assert await session.scalar(select(func.count()).select_from(UgcSubmission)) == 0


async def test_a_file_over_the_limit_or_not_media_is_refused_on_its_bytes(session, clock, store):
    community_id, _ = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    big = png_1x1() + b"\0" * (RULES.max_bytes + 1)
    html = b"<html><script>alert(1)</script></html>"
    for file in (picture(data=big), picture("x.png", data=html)):
        with pytest.raises(Invalid) as refused:
            await ugc.submit(session, clock, member, draft(), (file,), store=store, rules=RULES)
        assert refused.value.field == "file"
    assert not store.root.exists() or not any(store.root.iterdir())
    # A PNG whose upload claimed text/plain is kept as what its bytes are.
    await ugc.submit(
        session,
        clock,
        member,
        draft(),
        (picture(reported_type="text/plain"),),
        store=store,
        rules=RULES,
    )
    attachment = await session.scalar(select(UgcAttachment))
    assert attachment.content_type == "image/png" and attachment.reported_type == "text/plain"


async def test_the_same_content_twice_is_refused_politely(session, clock, store):
    _community_id, _, member, _ = await submitted(session, clock, store)
    again = ugc.Draft(
        title="  my CAKE ",
        story="I baked it   with the new mixer.",
        links="https://example.com/cake",
        consent="community",
    )
    with pytest.raises(Invalid) as refused:
        await ugc.submit(
            session, clock, member, again, (picture("other.png"),), store=store, rules=RULES
        )
    assert refused.value.code == "duplicate" and "already" in refused.value.message


async def test_a_member_may_share_five_times_a_day(session, clock, store):
    community_id, _ = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    for index in range(5):
        await ugc.submit(session, clock, member, draft(f"Post {index}"), store=store, rules=RULES)
        clock.advance(10 * 60)
    with pytest.raises(LimitReached) as refused:
        await ugc.submit(session, clock, member, draft("Post 6"), store=store, rules=RULES)
    assert "24 hours" in refused.value.message
    clock.advance(24 * 3600)
    await ugc.submit(session, clock, member, draft("Post 6"), store=store, rules=RULES)


async def decide(session, clock, mod, uid, decision, **kw):
    return await ugc.decide(
        session,
        clock,
        mod,
        uid,
        decision,
        rules=RULES,
        store=store_of(session),
        commands=COMMANDS,
        **kw,
    )


def store_of(session):
    return session.info["store"]


async def test_approval_awards_points_once_dms_once_and_edits_the_queue(session, clock, store):
    session.info["store"] = store
    community_id, mod, member, view = await submitted(session, clock, store)
    clock.advance(42 * 60)
    result = await decide(session, clock, mod, view.uid, ugc.Decision.APPROVE)
    assert (
        result.decided_now
        and result.outcome == "approved"
        and result.points == RULES.approve_points
        and result.author == "Ada"
    )
    second = await actor(session, clock, community_id, "mod2", Role.MODERATOR)
    again = await decide(session, clock, second, view.uid, ugc.Decision.APPROVE)
    assert not again.decided_now and again.outcome == "approved" and again.decided_by == "Mod"
    assert result.author == again.author == "Ada"  # whom the moderator's answer names
    rejected = await decide(session, clock, second, view.uid, ugc.Decision.REJECT, reason="rules")
    assert not rejected.decided_now and rejected.outcome == "approved"
    points = await session.scalar(
        select(func.sum(Activity.points)).where(Activity.member_id == member.member_id)
    )
    assert points == RULES.approve_points
    (dm,) = await rows(session, "ugc-decision:")
    assert isinstance(message_of(dm), DirectMessage) and "approved" in text_of(dm)
    (edit,) = await rows(session, "ugc-decided:")
    edited = message_of(edit)
    assert (
        isinstance(edited, Edit) and edited.buttons == () and "Approved** by Mod" in text_of(edit)
    )
    (showcase,) = await rows(session, "ugc-showcase:")
    assert message_of(showcase).to.name == "showcase" and "Ada" in text_of(showcase)
    latency = await ugc.moderation_latency(
        session,
        community_id,
        since=clock.now() - timedelta(days=1),
        until=clock.now() + timedelta(1),
    )
    assert latency.decisions == 1 and latency.median_seconds == 42 * 60


async def test_only_moderators_decide_and_a_rejection_needs_a_reason(session, clock, store):
    session.info["store"] = store
    _community_id, mod, member, view = await submitted(session, clock, store)
    with pytest.raises(Forbidden):
        await decide(session, clock, member, view.uid, ugc.Decision.APPROVE)
    with pytest.raises(Invalid) as refused:
        await decide(session, clock, mod, view.uid, ugc.Decision.REJECT, reason=" ")
    assert refused.value.field == "reason"
    result = await decide(session, clock, mod, view.uid, ugc.Decision.REJECT, reason="off-topic")
    assert result.outcome == "rejected"
    (dm,) = await rows(session, "ugc-decision:")
    assert "off topic" in text_of(dm)
    assert await rows(session, "ugc-showcase:") == []
    assert (
        await session.scalar(
            select(func.count()).select_from(Activity).where(Activity.kind.like("ugc%"))
        )
        == 0
    )


async def test_featuring_adds_points_and_publishes_the_spotlight_event(session, clock, store):
    session.info["store"] = store
    _, mod, _member, view = await submitted(session, clock, store)
    result = await decide(session, clock, mod, view.uid, ugc.Decision.FEATURE)
    assert result.points == RULES.approve_points + RULES.feature_points
    names = list(await session.scalars(select(EventRecord.name)))
    assert "ugc.featured" in names
    (showcase,) = await rows(session, "ugc-showcase:")
    assert "Featured" in text_of(showcase)


async def test_two_moderators_at_the_same_instant_leave_one_decision_and_one_dm(
    committed, clock, store
):
    async with committed() as session, session.begin():
        community_id, mod, member, _ = await submitted(session, clock, store)
        other = await actor(session, clock, community_id, "mod2", Role.MODERATOR)
        uids = []
        for index in range(6):  # six races: who starts first alternates
            view = await ugc.submit(
                session, clock, member, draft(f"Race {index}"), store=store, rules=MANY
            )
            uids.append(view.uid)

    async def click(moderator, uid, decision, reason=""):
        async with committed() as session, session.begin():
            return await ugc.decide(
                session,
                clock,
                moderator,
                uid,
                decision,
                reason=reason,
                rules=RULES,
                store=store,
                commands=COMMANDS,
            )

    for index, uid in enumerate(uids):
        clicks = [
            click(mod, uid, ugc.Decision.APPROVE),
            click(other, uid, ugc.Decision.REJECT, "rules"),
        ]
        results = await asyncio.gather(*(clicks if index % 2 else clicks[::-1]))
        assert sorted(r.decided_now for r in results) == [False, True]
        winner = next(r for r in results if r.decided_now)
        loser = next(r for r in results if not r.decided_now)
        assert loser.outcome == winner.outcome
        async with committed() as session:
            assert len(await rows(session, f"ugc-decision:{uid}")) == 1
            assert len(await rows(session, f"ugc-decided:{uid}")) == 1
            submission = await session.scalar(select(UgcSubmission).where(UgcSubmission.uid == uid))
            assert submission.status.value == winner.outcome
            awarded = await session.scalar(
                select(func.count())
                .select_from(Activity)
                .where(Activity.source_key == f"ugc-approved:{uid}")
            )
            assert awarded == (1 if winner.outcome == "approved" else 0)


async def consented(session, clock, store):
    session.info["store"] = store
    community_id, mod = await community(session, clock)
    uids = {}
    for user, consent in (
        ("ada", "public_named"),
        ("bob", "public_anonymous"),
        ("cy", "community"),
    ):
        member = await actor(session, clock, community_id, user)
        view = await ugc.submit(
            session,
            clock,
            member,
            draft(f"{user} post", consent=consent),
            (picture(),),
            store=store,
            rules=RULES,
        )
        await decide(session, clock, mod, view.uid, ugc.Decision.APPROVE)
        clock.advance(1 * 60)
        uids[consent] = view.uid
    return community_id, uids


async def test_public_data_respects_each_consent(session, clock, store):
    community_id, uids = await consented(session, clock, store)
    page = await ugc.public_page(session, community_id, store=store)
    shown = {item.uid: item for item in page.items}
    assert set(shown) == {uids["public_named"], uids["public_anonymous"]}
    assert shown[uids["public_named"]].author == "Ada"
    assert shown[uids["public_anonymous"]].author is None
    assert [item.uid for item in page.items] == [uids["public_anonymous"], uids["public_named"]]
    csv = await ugc.csv_rows(session, community_id, store=store)
    body = "\n".join(",".join(row) for row in csv)
    assert "Ada" in body and "Bob" not in body and "cy post" not in body
    assert "bob post" in body and "public_anonymous" in body


async def test_the_showcase_respects_each_consent(session, clock, store):
    await consented(session, clock, store)
    texts = [text_of(row) for row in await rows(session, "ugc-showcase:")]
    named, anonymous, community_only = texts
    assert "Ada" in named
    assert "Bob" not in anonymous and "A community member" in anonymous
    assert "Cy" in community_only  # shown in the community, never on public surfaces


async def test_withdrawal_takes_it_out_of_every_surface_at_once(session, clock, store):
    community_id, uids = await consented(session, clock, store)
    ada = await actor(session, clock, community_id, "ada")
    key = await session.scalar(select(UgcAttachment.media_key))
    assert await store.get(key) is not None
    await pretend_sent(session, clock, await rows(session, "ugc-showcase:"))
    await ugc.withdraw(session, clock, ada, uids["public_named"], delete=False, store=store)
    page = await ugc.public_page(session, community_id, store=store)
    assert [item.uid for item in page.items] == [uids["public_anonymous"]]
    csv = await ugc.csv_rows(session, community_id, store=store)
    assert all("ada post" not in ",".join(row) for row in csv)
    assert await store.get(key) is None
    (edit,) = await rows(session, "ugc-withdrawn:")
    assert isinstance(message_of(edit), Edit) and "withdrawn by the member" in text_of(edit).lower()
    # someone else's submission is not theirs to withdraw
    with pytest.raises(NotFound):
        await ugc.withdraw(session, clock, ada, uids["public_anonymous"], delete=True, store=store)
    bob = await actor(session, clock, community_id, "bob")
    await ugc.withdraw(session, clock, bob, uids["public_anonymous"], delete=True, store=store)
    assert (await ugc.public_page(session, community_id, store=store)).items == ()
    assert (
        await session.scalar(
            select(func.count())
            .select_from(UgcSubmission)
            .where(UgcSubmission.uid == uids["public_anonymous"])
        )
        == 0
    )


async def test_a_member_finds_their_own_submission_by_title_or_id_and_no_one_elses(
    session, clock, store
):
    community_id, _, member, view = await submitted(session, clock, store)
    by_title = await ugc.find_mine(session, member, "  my CAKE ")
    by_id = await ugc.find_mine(session, member, view.uid)
    assert by_title == by_id and (by_id.uid, by_id.title, by_id.files) == (view.uid, "My cake", 1)
    bob = await actor(session, clock, community_id, "bob")
    with pytest.raises(NotFound):
        await ugc.find_mine(session, bob, view.uid)


async def test_a_pending_withdrawal_closes_its_queue_post(session, clock, store):
    _, _, member, _view = await submitted(session, clock, store)
    await ugc.withdraw(session, clock, member, "My cake", delete=False, store=store)
    assert await rows(session, "ugc-review:") == []  # the queued post was never sent: cancelled
    assert await rows(session, "ugc-withdrawn") == []  # and so there is nothing to edit


async def test_erasure_removes_submissions_and_trashes_their_files(session, clock, store):
    community_id, uids = await consented(session, clock, store)
    ada = await session.scalar(select(Member.id).where(Member.display_name == "Ada"))
    key = await session.scalar(
        select(UgcAttachment.media_key)
        .join(UgcSubmission, UgcSubmission.id == UgcAttachment.submission_id)
        .where(UgcSubmission.member_id == ada)
    )
    exported = await privacy.export_member(session, ada)
    assert exported["ugc"]["submissions"][0]["title"] == "ada post"
    await privacy.delete_member(session, clock, member_id=ada)
    assert (
        await session.scalar(
            select(func.count()).select_from(UgcSubmission).where(UgcSubmission.member_id == ada)
        )
        == 0
    )
    page = await ugc.public_page(session, community_id, store=store)
    assert [item.uid for item in page.items] == [uids["public_anonymous"]]
    assert await session.scalar(select(UgcMediaTrash.media_key)) == key
    assert await ugc_data.empty_trash(session, store) == 1
    assert await store.get(key) is None


async def test_prompts_are_announced_and_open_in_a_linked_rituals_thread(session, clock, store):
    community_id, mod = await community(session, clock)
    await rituals.create_ritual(
        session,
        clock,
        mod,
        rituals.RitualSpec(
            name="Feedback Friday",
            schedule="weekly fri 10:00",
            timezone="UTC",
            prompt="Show us",
            channel_id="500",
        ),
    )
    spec = ugc.PromptSpec(
        title="Before and after", brief="Show the change.", ritual="feedback friday"
    )
    view = await ugc.create_prompt(session, clock, mod, spec, timezone="UTC")
    assert view.open and view.ritual == "Feedback Friday"
    (announcement,) = await rows(session, "ugc-prompt:")
    post = message_of(announcement)
    assert post.to.name == "announcements" and post.buttons[0].id == f"ugc-share:{view.uid}"
    with pytest.raises(Invalid) as taken:
        await ugc.create_prompt(
            session, clock, mod, ugc.PromptSpec(title="BEFORE and after"), timezone="UTC"
        )
    assert taken.value.field == "title"
    with pytest.raises(Invalid) as past:
        await ugc.create_prompt(
            session, clock, mod, ugc.PromptSpec(title="Old", deadline="2000-01-01"), timezone="UTC"
        )
    assert past.value.field == "deadline"
    ritual_id = await session.scalar(select(Ritual.id))
    posted = await ugc.open_in_ritual_thread(
        session, clock, ritual_id=ritual_id, occurrence_uid="occ1"
    )
    assert posted >= 1
    threaded = [message_of(r) for r in await rows(session, f"ugc-prompt:{view.uid}:occ1")]
    assert threaded and threaded[0].reply_to.id == "occ1"
    # a member can submit to the prompt by its title; once closed, no more
    member = await actor(session, clock, community_id, "ada")
    done = await ugc.submit(
        session, clock, member, draft(prompt="before and after"), store=store, rules=RULES
    )
    assert done.prompt == "Before and after"
    await ugc.close_prompt(session, clock, mod, view.uid, timezone="UTC")
    with pytest.raises(Invalid) as closed:
        await ugc.submit(
            session, clock, member, draft("Another", prompt=view.uid), store=store, rules=RULES
        )
    assert closed.value.field == "prompt"


async def test_the_queue_lists_pending_oldest_first_in_pages(session, clock, store):
    community_id, mod = await community(session, clock)
    for index in range(12):
        member = await actor(session, clock, community_id, f"m{index}")
        await ugc.submit(session, clock, member, draft(f"Post {index}"), store=store, rules=RULES)
        clock.advance(1 * 60)
    assert await ugc.pending_count(session, community_id) == 12
    first = await ugc.queue(session, mod, page=1)
    assert first.total == 12 and first.pages == 2 and first.items[0].title == "Post 0"
    last = await ugc.queue(session, mod, page=9)
    assert last.page == 2 and [i.title for i in last.items] == ["Post 10", "Post 11"]
