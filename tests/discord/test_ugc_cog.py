"""UGC end to end on Discord: a member shares through /share's form (files uploaded in it, or
through the command's attachment option), moderators decide from the queue post's buttons once,
bad input is refused naming the field or shown as inert text, prompts announce a Share button."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

import cogs.ugc._shared
from bot.discord.sender import DiscordSender
from bot.models import Activity, Member, SubmissionStatus, UgcSubmission
from bot.services import ugc
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.channels import set_channel
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    MANAGER_ID,
    MODERATOR_ID,
    answer,
)
from tests.fuzz.observe import discord_pings
from tests.fuzz.snapshot import snapshot
from tests.media_samples import png_1x1

REVIEW_ID = 910_000_000_000_000_020
SHOWCASE_ID = 910_000_000_000_000_021
ANNOUNCE_ID = 910_000_000_000_000_022
MAX_BYTES = 4096
MODAL, DEFERRED = 9, 5


@pytest.fixture
def media_section() -> dict[str, Any]:
    """A small limit, so a file over it is cheap to make."""
    return {"max_bytes": MAX_BYTES}


@pytest.fixture
async def ready(bot, runtime, sandbox, clock):
    """The bot running, the queue, showcase and announcement channels set, the outbox wired."""
    for channel_id, name in (
        (REVIEW_ID, "review"),
        (SHOWCASE_ID, "showcase"),
        (ANNOUNCE_ID, "news"),
    ):
        sandbox.add_channel(GUILD_ID, channel_id, name)
    caller = Caller("discord", str(GUILD_ID), str(MODERATOR_ID), "moderator", Role.MODERATOR)
    async with runtime.sessions() as session, session.begin():
        mod = await resolve_actor(session, clock, community_id=runtime.community_id, caller=caller)
        for purpose, channel_id in (
            ("ugc-review", REVIEW_ID),
            ("showcase", SHOWCASE_ID),
            ("announcements", ANNOUNCE_ID),
        ):
            await set_channel(session, clock, mod, purpose, str(channel_id))
    runtime.dispatcher.register(DiscordSender("sandbox-token", api_base=sandbox.api_base))
    return bot


def _sub(verb: str, options: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"type": 1, "name": verb, "options": options or []}]


def _labelled(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return a modal's inputs by custom id (inside labels or action rows)."""
    found = {}
    for top in modal["components"]:
        for inner in top.get("components") or [top.get("component") or {}]:
            found[inner["custom_id"]] = inner
    return found


async def _open_share(slash, *, user_id=ALICE_ID, options=None):
    opened = await slash("share", user_id=user_id, options=_sub("submit", options))
    assert opened.json["type"] == MODAL, opened.json
    return opened.json["data"]


async def _submit(sandbox, fields: dict[str, Any], *, user_id=ALICE_ID):
    fields = {"title": "My cake", "story": "", "link": "", "consent": "public_named", **fields}
    submitted = await sandbox.send_modal_submit(
        sandbox.opened_form("ugc-submit", user_id=user_id),
        fields,
        channel_id=GENERAL_ID,
        user_id=user_id,
        guild_id=GUILD_ID,
    )
    return (await answer(sandbox, submitted)).json["data"]


async def _share(sandbox, slash, fields: dict[str, Any], **kw):
    await _open_share(slash, **kw)
    return await _submit(sandbox, fields, user_id=kw.get("user_id", ALICE_ID))


def _queue_posts(sandbox) -> list[dict[str, Any]]:
    return [m for m in sandbox.messages[REVIEW_ID] if not int(m.get("flags") or 0) & 64]


async def _click(sandbox, message, custom_id, user_id):
    clicked = await sandbox.send_component(
        custom_id, message_id=int(message["id"]), user_id=user_id, guild_id=GUILD_ID
    )
    return await answer(sandbox, clicked)


def _button(message, label) -> str:
    return next(
        c["custom_id"]
        for row in message["components"]
        for c in row["components"]
        if c["label"] == label
    )


def _assert_nothing_pings(sandbox) -> None:
    for call in sandbox.calls:
        body = call.json if isinstance(call.json, dict) else {}
        message = body.get("data") if "/interactions/" in call.path else body
        if isinstance(message, dict):
            assert not discord_pings(message, set()), (call.path, message.get("content"))


async def _points(runtime, user_id: int) -> int:
    async with runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.coalesce(func.sum(Activity.points), 0))
                .join(Member, Member.id == Activity.member_id)
                .where(Member.display_name == {ALICE_ID: "alice", BOB_ID: "bob"}[user_id])
            )
        )


@pytest.mark.parametrize("via", ["form-upload", "command-option"])
async def test_a_shared_file_is_approved_once_with_one_dm_and_points_once(
    ready, runtime, sandbox, slash, engine, via
):
    upload = sandbox.add_upload("cake.png", png_1x1(), "image/png")
    if via == "form-upload":
        modal = await _open_share(slash)
        assert _labelled(modal)["files"]["type"] == 19
        reply = await _submit(
            sandbox, {"files": [upload], "link": "https://example.com/cake", "story": "Baked"}
        )
    else:
        file_option = [{"type": 11, "name": "file", "value": upload}]
        modal = await _open_share(slash, options=file_option)
        assert "files" not in _labelled(modal)  # the option's file stands in for the upload
        reply = await _submit(sandbox, {"link": "https://example.com/cake", "story": "Baked"})
    assert reply["content"] == (
        "Thanks! “My cake” is in the review queue; you will get a DM when a moderator decides."
    )
    assert reply["flags"] & 64
    await runtime.dispatcher.drain()
    (post,) = _queue_posts(sandbox)
    assert "My cake" in post["content"] and "https://example.com/cake" in post["content"]
    assert "/media/" in post["content"]  # our stored copy, not the expiring CDN link
    approve = _button(post, "Approve")
    await slash("ugc", user_id=MANAGER_ID, options=_sub("queue"))  # the manager is known now

    approved = await _click(sandbox, post, approve, MODERATOR_ID)
    # A second moderator clicks before the queue post's edit reaches them.
    before = await snapshot(engine)
    again = await _click(sandbox, post, approve, MANAGER_ID)
    assert await snapshot(engine) == before
    await runtime.dispatcher.drain()

    assert approved.json["data"]["content"] == "Approved: alice gets 25 points and a DM."
    assert approved.json["data"]["flags"] & 64
    assert again.json["data"]["content"].startswith("Already approved by moderator at <t:")
    assert again.json["data"]["content"].endswith("; nothing changed.")
    dms = sandbox.messages[sandbox.open_dm(ALICE_ID)]
    assert len(dms) == 1 and "approved" in dms[0]["content"]
    edited = sandbox.state.messages_by_id[int(post["id"])]
    assert edited["components"] == [] and "Approved" in edited["content"]
    (showcased,) = sandbox.messages[SHOWCASE_ID]
    assert "My cake" in showcased["content"]
    assert await _points(runtime, ALICE_ID) == 25
    _assert_nothing_pings(sandbox)


async def test_a_javascript_link_is_refused_naming_the_field_with_a_fix_it_button(
    ready, runtime, sandbox, slash
):
    reply = await _share(sandbox, slash, {"link": "javascript:alert(1)", "story": "Hi"})

    assert reply["content"].startswith("Link: ")
    assert "only http:// and https:// links" in reply["content"]
    assert "what you typed is kept" in reply["content"]
    (row,) = reply["components"]
    assert row["components"][0]["label"] == "Fix it"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(UgcSubmission)) == 0


async def test_fix_it_reopens_the_form_as_typed_and_says_files_are_not_kept(
    ready, runtime, sandbox, slash
):
    upload = sandbox.add_upload("cake.png", png_1x1(), "image/png")
    reply = await _share(
        sandbox, slash, {"link": "ftp://x.example/a", "story": "Kept", "files": [upload]}
    )
    assert "Files cannot be kept in a reopened form: attach them again." in reply["content"]
    message = sandbox.messages[GENERAL_ID][-1]
    fix = await _click(sandbox, message, _button(message, "Fix it"), ALICE_ID)

    assert fix.json["type"] == MODAL
    inputs = _labelled(fix.json["data"])
    assert inputs["story"]["value"] == "Kept" and inputs["link"]["value"] == "ftp://x.example/a"
    assert [o.get("default", False) for o in inputs["consent"]["options"]] == [True, False, False]


async def test_the_story_is_capped_by_the_form_and_by_the_service(ready, runtime, sandbox, slash):
    modal = await _open_share(slash)
    assert _labelled(modal)["story"]["max_length"] == ugc.STORY_LENGTH
    assert _labelled(modal)["title"]["max_length"] == ugc.TITLE_LENGTH

    # Discord would not send it; if something did, the service still refuses it.
    reply = await _submit(sandbox, {"story": "x" * 10_000})

    assert reply["content"].startswith("Story: ")


async def test_a_file_reported_over_the_limit_is_refused_before_it_is_fetched(
    ready, runtime, sandbox, slash, monkeypatch
):
    fetched: list[str] = []
    real_fetch = cogs.ugc._shared.fetch

    async def spy(url: str, **options: Any) -> Any:
        fetched.append(url)
        return await real_fetch(url, **options)

    monkeypatch.setattr(cogs.ugc._shared, "fetch", spy)
    upload = sandbox.add_upload("huge.png", png_1x1(), "image/png", size=MAX_BYTES + 1)

    reply = await _share(sandbox, slash, {"files": [upload], "story": "Big"})

    assert reply["content"].startswith("“huge.png” is 4,097 bytes; the limit is 4,096 bytes")
    assert fetched == []


async def test_the_command_option_file_over_the_limit_is_refused_before_the_form(
    ready, runtime, sandbox, slash
):
    upload = sandbox.add_upload("huge.png", png_1x1(), "image/png", size=MAX_BYTES * 3)

    opened = await slash(
        "share", options=_sub("submit", [{"type": 11, "name": "file", "value": upload}])
    )

    assert opened.json["type"] != MODAL
    assert "“huge.png”" in opened.json["data"]["content"]


async def test_a_file_whose_reported_size_lies_is_refused_by_its_bytes(
    ready, runtime, sandbox, slash
):
    data = png_1x1() + b"\0" * (MAX_BYTES * 2)
    upload = sandbox.add_upload("small.png", data, "image/png", size=100)

    reply = await _share(sandbox, slash, {"files": [upload], "story": "Small, it says"})

    assert reply["content"].startswith("“small.png” is 8.1 KB; the limit is 4 KB")
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(UgcSubmission)) == 0


async def test_mass_mentions_html_and_mentions_are_shown_as_inert_text(
    ready, runtime, sandbox, slash
):
    title = "@everyone <!channel> look"
    story = "<script>alert(1)</script> thanks <@123> and @here"
    reply = await _share(sandbox, slash, {"title": title, "story": story})
    assert "@\u200beveryone" in reply["content"] and "@everyone" not in reply["content"]
    await runtime.dispatcher.drain()
    (post,) = _queue_posts(sandbox)
    await _click(sandbox, post, _button(post, "Feature"), MODERATOR_ID)
    await runtime.dispatcher.drain()

    for message in (
        post,
        *sandbox.messages[SHOWCASE_ID],
        *sandbox.messages[sandbox.open_dm(ALICE_ID)],
    ):
        content = message["content"]
        assert "@everyone" not in content and "@here" not in content
        assert "<@123>" not in content
    assert "\\<script>" in post["content"]
    _assert_nothing_pings(sandbox)


async def test_reject_asks_why_with_listed_reasons_or_free_text(ready, runtime, sandbox, slash):
    await _share(sandbox, slash, {"title": "One", "story": "a"})
    await _share(sandbox, slash, {"title": "Two", "story": "b"})
    await runtime.dispatcher.drain()
    first, second = _queue_posts(sandbox)

    asked = await _click(sandbox, first, _button(first, "Reject"), MODERATOR_ID)
    assert asked.json["type"] == MODAL
    reasons = _labelled(asked.json["data"])["reason"]["options"]
    assert [o["value"] for o in reasons] == list(ugc.REJECT_REASONS)
    done = await sandbox.send_modal_submit(
        sandbox.opened_form("ugc-reject-form"),
        {"reason": "off-topic", "own": ""},
        channel_id=REVIEW_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    assert (await answer(sandbox, done)).json["data"]["content"] == (
        "Rejected: alice gets a DM with the reason."
    )

    await _click(sandbox, second, _button(second, "Reject"), MODERATOR_ID)
    empty = await sandbox.send_modal_submit(
        sandbox.opened_form("ugc-reject-form"),
        {"reason": None, "own": " "},
        channel_id=REVIEW_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    assert (await answer(sandbox, empty)).json["data"]["content"].startswith("Reason: ")
    await _click(sandbox, second, _button(second, "Reject"), MODERATOR_ID)
    own = await sandbox.send_modal_submit(
        sandbox.opened_form("ugc-reject-form"),
        {"reason": "rules", "own": "Please crop the faces"},
        channel_id=REVIEW_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    await answer(sandbox, own)
    await runtime.dispatcher.drain()

    dms = [m["content"] for m in sandbox.messages[sandbox.open_dm(ALICE_ID)]]
    assert any("off topic for this community" in dm for dm in dms)
    assert any("Please crop the faces" in dm for dm in dms)


async def test_a_member_cannot_decide(ready, runtime, sandbox, slash):
    await _share(sandbox, slash, {"story": "mine"})
    await runtime.dispatcher.drain()
    (post,) = _queue_posts(sandbox)

    for label in ("Approve", "Reject"):
        refused = await _click(sandbox, post, _button(post, label), BOB_ID)
        assert refused.json["data"]["content"] == "Only moderators can do that."


async def test_withdraw_offers_my_submissions_and_takes_one_off_the_showcase(
    ready, runtime, sandbox, slash
):
    await _share(sandbox, slash, {"title": "Cake", "story": "a"})
    await _share(sandbox, slash, {"title": "Bread", "story": "b"})
    await runtime.dispatcher.drain()
    cake = _queue_posts(sandbox)[0]
    await _click(sandbox, cake, _button(cake, "Approve"), MODERATOR_ID)
    await runtime.dispatcher.drain()

    typed = [{"type": 3, "name": "submission", "value": "cak", "focused": True}]
    asked = await sandbox.send_autocomplete(
        "share",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=ALICE_ID,
        options=_sub("withdraw", typed),
    )
    (choice,) = (await answer(sandbox, asked)).json["data"]["choices"]
    assert choice["name"] == "Cake · approved"
    others = await sandbox.send_autocomplete(
        "share",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=BOB_ID,
        options=_sub("withdraw", typed),
    )
    assert (await answer(sandbox, others)).json["data"]["choices"] == []

    reply = await slash(
        "share",
        options=_sub("withdraw", [{"type": 3, "name": "submission", "value": choice["value"]}]),
    )
    await runtime.dispatcher.drain()

    assert reply.json["data"]["content"] == (
        "“Cake” is withdrawn: it is shown nowhere public any more, and any post of it now says "
        "you withdrew it."
    )
    (showcased,) = sandbox.messages[SHOWCASE_ID]
    assert (
        "Withdrawn by the member" in sandbox.state.messages_by_id[int(showcased["id"])]["content"]
    )
    mine = await slash("share", options=_sub("mine"))
    assert "**Cake** · withdrawn" in mine.json["data"]["content"]
    assert "**Bread** · waiting for review" in mine.json["data"]["content"]


async def test_deleting_a_submission_asks_first(ready, runtime, sandbox, slash):
    await _share(sandbox, slash, {"title": "Cake", "story": "a"})
    option = [
        {"type": 3, "name": "submission", "value": "Cake"},
        {"type": 5, "name": "delete", "value": True},
    ]
    asked = await slash("share", options=_sub("withdraw", option))
    assert asked.json["data"]["content"].startswith("**Delete “Cake”?**")
    message = sandbox.messages[GENERAL_ID][-1]

    done = await _click(sandbox, message, _button(message, "Delete it"), ALICE_ID)

    assert done.json["data"]["content"].startswith("Deleted “Cake”")
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(UgcSubmission)) == 0


async def test_the_queue_lists_pending_oldest_first_in_pages(ready, runtime, sandbox, slash, clock):
    caller = Caller("discord", str(GUILD_ID), str(BOB_ID), "bob", Role.MEMBER)
    rules = ugc.UgcRules(daily_limit=100)
    async with runtime.sessions() as session, session.begin():
        bob = await resolve_actor(session, clock, community_id=runtime.community_id, caller=caller)
        for number in range(11):
            draft = ugc.Draft(title=f"Post {number}", story="s", consent="community")
            await ugc.submit(session, clock, bob, draft, store=runtime.media, rules=rules)
            clock.advance(60)

    refused = await slash("ugc", user_id=ALICE_ID, options=_sub("queue"))
    first = await slash("ugc", user_id=MODERATOR_ID, options=_sub("queue"))
    second = await slash(
        "ugc",
        user_id=MODERATOR_ID,
        options=_sub("queue", [{"type": 4, "name": "page", "value": 2}]),
    )

    assert refused.json["data"]["content"] == "Only moderators can do that."
    lines = first.json["data"]["content"].splitlines()
    assert lines[0] == "**Post 0** by bob · waiting 11 min · community only"
    assert lines[-1] == "Page 1 of 2 (11 waiting): `/ugc queue page:2` for more."
    assert "**Post 8**" in second.json["data"]["content"]
    assert second.json["data"]["content"].endswith("Page 2 of 2 (11 waiting): the last page.")


async def test_a_prompt_is_announced_and_its_share_button_opens_the_form_with_its_template(
    ready, runtime, sandbox, slash
):
    opened = await slash(
        "ugc",
        user_id=MODERATOR_ID,
        options=[{"type": 2, "name": "prompt", "options": _sub("create")}],
    )
    assert opened.json["type"] == MODAL
    created = await sandbox.send_modal_submit(
        sandbox.opened_form("ugc-prompt-form"),
        {
            "title": "Show your desk",
            "brief": "A photo of where you work",
            "template": "My desk has…",
            "deadline": "",
            "ritual": "",
        },
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    assert (await answer(sandbox, created)).json["data"]["content"] == (
        "Created the prompt **Show your desk** and announced it."
    )
    await runtime.dispatcher.drain()
    (announced,) = sandbox.messages[ANNOUNCE_ID]

    shared = await _click(sandbox, announced, _button(announced, "Share yours"), BOB_ID)

    assert shared.json["type"] == MODAL
    assert shared.json["data"]["title"] == "Share: Show your desk"
    assert _labelled(shared.json["data"])["story"]["value"] == "My desk has…"
    reply = await _submit(sandbox, {"story": "My desk has a cat"}, user_id=BOB_ID)
    assert reply["content"].startswith("Thanks!")
    prompts = await slash("ugc", user_id=BOB_ID, options=_sub("prompts"))
    assert "**Show your desk** · 1 shared" in prompts.json["data"]["content"]
    typed = [{"type": 3, "name": "prompt", "value": "desk", "focused": True}]
    asked = await sandbox.send_autocomplete(
        "share",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=BOB_ID,
        options=_sub("submit", typed),
    )
    assert (await answer(sandbox, asked)).json["data"]["choices"] == [
        {"name": "Show your desk", "value": "Show your desk"}
    ]
    closed = await slash(
        "ugc",
        user_id=MODERATOR_ID,
        options=[
            {
                "type": 2,
                "name": "prompt",
                "options": _sub(
                    "close", [{"type": 3, "name": "prompt", "value": "Show your desk"}]
                ),
            }
        ],
    )
    assert closed.json["data"]["content"] == (
        "**Show your desk** is closed: it takes no more submissions."
    )
    async with runtime.sessions() as session:
        statuses = (await session.scalars(select(UgcSubmission.status))).all()
    assert statuses == [SubmissionStatus.PENDING]


# ----------------------------------------------------------------------------- review findings
# discord.py keeps open forms by custom id alone: with one fixed id per form, a second opening
# replaced the first, the first submission was handled with the second's state (another
# submission rejected), and the second was answered by nobody.


async def _status(runtime, title):
    async with runtime.sessions() as session:
        return await session.scalar(
            select(UgcSubmission.status).where(UgcSubmission.title == title)
        )


async def _reject(sandbox, form: str, reason: str, user_id: int) -> str:
    """Submit a reject form with a listed reason; return the answer's text."""
    done = await sandbox.send_modal_submit(
        form,
        {"reason": reason, "own": ""},
        channel_id=REVIEW_ID,
        user_id=user_id,
        guild_id=GUILD_ID,
    )
    return str((await answer(sandbox, done)).json["data"]["content"])


async def test_two_moderators_rejecting_two_submissions_at_once_each_reject_their_own(
    ready, runtime, sandbox, slash
):
    await _share(sandbox, slash, {"title": "One", "story": "a"})
    await _share(sandbox, slash, {"title": "Two", "story": "b"})
    await runtime.dispatcher.drain()
    first, second = _queue_posts(sandbox)
    await _click(sandbox, first, _button(first, "Reject"), MODERATOR_ID)
    await _click(sandbox, second, _button(second, "Reject"), MANAGER_ID)
    mine = sandbox.opened_form("ugc-reject-form", user_id=MODERATOR_ID)
    theirs = sandbox.opened_form("ugc-reject-form", user_id=MANAGER_ID)
    assert mine != theirs

    assert (await _reject(sandbox, mine, "off-topic", MODERATOR_ID)).startswith("Rejected")
    assert await _status(runtime, "One") == SubmissionStatus.REJECTED
    assert await _status(runtime, "Two") == SubmissionStatus.PENDING

    assert (await _reject(sandbox, theirs, "rules", MANAGER_ID)).startswith("Rejected")
    assert await _status(runtime, "Two") == SubmissionStatus.REJECTED


async def test_two_members_sharing_at_once_each_get_their_own_answer(
    ready, runtime, sandbox, slash
):
    await _open_share(slash, user_id=ALICE_ID)
    await _open_share(slash, user_id=BOB_ID)
    alice = await _submit(sandbox, {"title": "Alice's", "story": "a"}, user_id=ALICE_ID)
    bob = await _submit(sandbox, {"title": "Bob's", "story": "b"}, user_id=BOB_ID)
    assert alice["content"].startswith("Thanks!") and "Alice" in alice["content"]
    assert bob["content"].startswith("Thanks!") and "Bob" in bob["content"]


async def test_share_yours_under_a_prompt_past_its_deadline_says_so_before_the_form(
    ready, runtime, sandbox, slash, clock
):
    await slash(
        "ugc",
        user_id=MODERATOR_ID,
        options=[{"type": 2, "name": "prompt", "options": _sub("create")}],
    )
    created = await sandbox.send_modal_submit(
        sandbox.opened_form("ugc-prompt-form"),
        {
            "title": "Show your desk",
            "brief": "",
            "template": "",
            "deadline": "2026-03-03",
            "ritual": "",
        },
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )
    assert "Created the prompt" in (await answer(sandbox, created)).json["data"]["content"]
    await runtime.dispatcher.drain()
    (announced,) = sandbox.messages[ANNOUNCE_ID]
    clock.advance(3 * 24 * 3600)  # past the deadline; the prompt is still open
    shared = await _click(sandbox, announced, _button(announced, "Share yours"), ALICE_ID)
    assert shared.json["type"] != MODAL, "the form opened for a prompt past its deadline"
    assert "deadline" in shared.json["data"]["content"]


async def test_a_link_cannot_inject_markdown_into_the_queue_and_showcase_posts(
    ready, runtime, sandbox, slash
):
    await _open_share(slash)
    tricky = "https://ok.example/>[Claim-your-prize](https://evil.example)<@&910000000000000099>"
    reply = await _submit(sandbox, {"link": tricky, "story": "Look"})
    assert reply["content"].startswith("Thanks!"), reply
    await runtime.dispatcher.drain()
    (post,) = _queue_posts(sandbox)
    await _click(sandbox, post, _button(post, "Approve"), MODERATOR_ID)
    await runtime.dispatcher.drain()
    for message in (post, *sandbox.messages[SHOWCASE_ID]):
        content = message["content"]
        assert "](https://evil.example)" not in content, content
        assert "<@&" not in content, content
