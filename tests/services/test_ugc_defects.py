"""Regression tests for the defects an adversarial review of UGC found (each failed before)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from sqlalchemy import select

from bot.errors import FlywheelError, Invalid
from bot.media import LocalMediaStore
from bot.models import SubmissionStatus, UgcAttachment, UgcSubmission
from bot.services import privacy, ugc
from bot.services.linking import finish_link, start_link
from bot.services.ugc import data as ugc_data
from tests.effects import message_of, pretend_sent
from tests.services.test_ugc import (
    COMMANDS,
    MANY,
    RULES,
    actor,
    community,
    draft,
    picture,
    rows,
)


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media", public_url="https://proof.example")


async def decide(session, clock, mod, uid, decision, store, reason=""):
    return await ugc.decide(
        session,
        clock,
        mod,
        uid,
        decision,
        reason=reason,
        rules=RULES,
        store=store,
        commands=COMMANDS,
    )


async def test_a_withdrawal_racing_an_approval_leaves_nothing_public(
    committed, clock, store, backend
):
    async with committed() as session, session.begin():
        community_id, mod = await community(session, clock)
        member = await actor(session, clock, community_id, "ada")
        view = await ugc.submit(
            session, clock, member, draft(), (picture(),), store=store, rules=RULES
        )
    async with committed() as member_session:
        async with member_session.begin():
            # The member's /share withdraw has read the row while it was pending (and the
            # session still holds it)...
            held = await member_session.scalar(
                select(UgcSubmission).where(UgcSubmission.uid == view.uid)
            )
            assert held.status == SubmissionStatus.PENDING
            if backend == "postgresql":
                # ...and a moderator's Approve commits before the withdrawal does. (On
                # SQLite the member's write transaction holds the lock: they cannot overlap.)
                async with committed() as mod_session, mod_session.begin():
                    approved = await decide(
                        mod_session, clock, mod, view.uid, ugc.Decision.APPROVE, store
                    )
                    assert approved.decided_now
            await ugc.withdraw(member_session, clock, member, view.uid, delete=False, store=store)
        if backend != "postgresql":
            async with committed() as mod_session, mod_session.begin():
                late = await decide(mod_session, clock, mod, view.uid, ugc.Decision.APPROVE, store)
                assert not late.decided_now
    async with committed() as session:
        row = await session.scalar(select(UgcSubmission).where(UgcSubmission.uid == view.uid))
        assert row.status == SubmissionStatus.WITHDRAWN
        assert row.public_at is None
        assert (await ugc.public_page(session, community_id, store=store)).items == ()
        assert len(await ugc.csv_rows(session, community_id, store=store)) == 1  # the header


async def test_linking_two_accounts_that_shared_the_same_thing_leaves_no_file_behind(
    session, clock, store
):
    community_id, mod = await community(session, clock)
    on_discord = await actor(session, clock, community_id, "ada")
    on_slack = await actor(session, clock, community_id, "U0ADA", platform="slack")
    for who in (on_discord, on_slack):
        view = await ugc.submit(
            session, clock, who, draft(), (picture(),), store=store, rules=RULES
        )
        await decide(session, clock, mod, view.uid, ugc.Decision.APPROVE, store)
    keys = set(await session.scalars(select(UgcAttachment.media_key)))
    assert len(keys) == 2
    code = await start_link(session, clock, member_id=on_discord.member_id, platform="discord")
    await finish_link(
        session, clock, member_id=on_slack.member_id, platform="slack", code=code.code
    )
    await ugc_data.empty_trash(session, store)
    kept = set(await session.scalars(select(UgcAttachment.media_key)))
    assert len(kept) == 1
    assert [key for key in keys - kept if await store.get(key) is not None] == []
    await privacy.delete_member(session, clock, member_id=on_discord.member_id)
    await ugc_data.empty_trash(session, store)
    assert [key for key in keys if await store.get(key) is not None] == []


async def test_a_withdrawn_submission_can_be_shared_again(session, clock, store):
    community_id, _ = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    view = await ugc.submit(
        session, clock, member, draft(consent="community"), store=store, rules=RULES
    )
    await ugc.withdraw(session, clock, member, view.uid, delete=False, store=store)
    again = await ugc.submit(
        session, clock, member, draft(consent="public_named"), store=store, rules=RULES
    )
    assert again.status == SubmissionStatus.PENDING


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"story": "I baked it"}, {"story": "I bak\u200bed it"}),
        ({"story": "I baked it"}, {"story": "I BAKED  it"}),
        ({"links": "https://example.com/cake"}, {"links": "https://EXAMPLE.com/cake/"}),
    ],
)
async def test_duplicates_are_found_through_invisible_characters_case_and_slashes(
    session, clock, store, first, second
):
    community_id, _ = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    await ugc.submit(session, clock, member, draft(**first), store=store, rules=MANY)
    with pytest.raises(Invalid) as refused:
        await ugc.submit(session, clock, member, draft(**second), store=store, rules=MANY)
    assert refused.value.code == "duplicate"


async def test_the_same_form_sent_twice_at_once_is_refused_politely(committed, clock, store):
    async with committed() as session, session.begin():
        community_id, _ = await community(session, clock)
        member = await actor(session, clock, community_id, "ada")

    async def send():
        async with committed() as session, session.begin():
            return await ugc.submit(session, clock, member, draft(), store=store, rules=RULES)

    results = await asyncio.gather(send(), send(), return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], FlywheelError), errors
    async with committed() as session:
        assert len((await session.scalars(select(UgcSubmission))).all()) == 1


async def test_erasure_also_empties_the_decided_queue_post(session, clock, store):
    community_id, mod = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    view = await ugc.submit(
        session,
        clock,
        member,
        draft("Ada's kitchen", story="My address is 1 Main St"),
        store=store,
        rules=RULES,
    )
    await pretend_sent(session, clock, await rows(session, "ugc-review:"))
    await decide(session, clock, mod, view.uid, ugc.Decision.APPROVE, store)
    await pretend_sent(session, clock, await rows(session, "ugc-"))
    await privacy.delete_member(session, clock, member_id=member.member_id)
    edits = {
        (message.subject.kind, message.subject.id): message
        for message in (message_of(row) for row in await rows(session, "ugc-withdrawn"))
    }
    assert ("ugc-showcase", view.uid) in edits
    assert ("ugc-review", view.uid) in edits
    assert "Main St" not in edits[("ugc-review", view.uid)].body.plain()


async def test_a_public_photo_keeps_no_exif_and_no_file_name_without_consent(session, clock, store):
    exif = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08Artist\x00Ada Lovelace\x00GPS 51.5N"
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    jpeg = b"\xff\xd8" + app1 + b"\xff\xdb\x00\x43" + bytes(65) + b"\xff\xd9"
    community_id, mod = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    view = await ugc.submit(
        session,
        clock,
        member,
        draft(consent="public_anonymous"),
        (picture("Ada Lovelace at home.jpg", data=jpeg, reported_type="image/jpeg"),),
        store=store,
        rules=RULES,
    )
    await decide(session, clock, mod, view.uid, ugc.Decision.APPROVE, store)
    (item,) = (await ugc.public_page(session, community_id, store=store)).items
    (file,) = item.files
    assert file.filename == "image-1.jpg"
    data, _ = await store.get(file.url.rsplit("/", 1)[-1])
    assert b"Ada Lovelace" not in data


async def test_a_withdrawn_featured_submission_is_listed_as_withdrawn(session, clock, store):
    community_id, mod = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    view = await ugc.submit(session, clock, member, draft(), store=store, rules=RULES)
    await decide(session, clock, mod, view.uid, ugc.Decision.FEATURE, store)
    await ugc.withdraw(session, clock, member, view.uid, delete=False, store=store)
    (mine,) = await ugc.my_submissions(session, member)
    assert mine.status == SubmissionStatus.WITHDRAWN
    assert not mine.featured


async def test_a_prompt_past_its_deadline_takes_no_submissions_and_is_not_offered(
    session, clock, store
):
    community_id, mod = await community(session, clock)
    spec = ugc.PromptSpec(title="Show your desk", deadline="2026-03-03", announce=False)
    await ugc.create_prompt(session, clock, mod, spec, timezone="UTC")
    assert await ugc.prompt_titles(session, community_id, "desk", now=clock.now()) == [
        "Show your desk"
    ]
    clock.advance(3 * 24 * 3600)
    assert await ugc.prompt_titles(session, community_id, "desk", now=clock.now()) == []
    with pytest.raises(Invalid) as refused:
        await ugc.find_prompt(
            session, community_id, "show your desk", open_only=True, now=clock.now()
        )
    assert refused.value.field == "prompt"


async def test_two_submissions_matching_what_was_typed_are_not_guessed(session, clock, store):
    community_id, _ = await community(session, clock)
    member = await actor(session, clock, community_id, "ada")
    for title in ("Cake one", "Cake two"):
        await ugc.submit(session, clock, member, draft(title), store=store, rules=RULES)
    with pytest.raises(Invalid) as refused:
        await ugc.withdraw(session, clock, member, "cake", delete=False, store=store)
    assert refused.value.code == "submission.ambiguous"
    assert "Several" in refused.value.message
