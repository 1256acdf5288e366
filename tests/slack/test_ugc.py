"""UGC on Slack, end to end: the share form with a file picked in Slack, the queue post the
outbox delivers, moderators' clicks on it, the rejection form, withdrawal, the queue listing
and prompts — signed requests into the real bolt app, the sandbox's Web API answering."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.media import LocalMediaStore
from bot.models import Activity, SubmissionStatus, UgcAttachment, UgcPrompt, UgcSubmission
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.slack import BotReply, RecordedCall, SlackSandbox
from bot.services import ugc
from bot.services.callers import Caller, Role, resolve_actor
from bot.settings import load_settings
from bot.slack.sender import SlackSender
from bot.slack.ugc import mine, prompts, review, share
from bot.slack.ugc.render import MINE_PAGE, MINE_PER_PAGE, QUEUE_PAGE, QUEUE_PER_PAGE, WITHDRAW_ASK
from tests.fuzz.observe import slack_pings
from tests.media_samples import png_1x1
from tests.slack.conftest import CHANNEL, COMMUNITY_TOML, MEMBER, MODERATOR, Served

pytestmark = pytest.mark.e2e

MOD2 = "U0MOD2"
BYSTANDER = "U0BYSTAND"
REVIEW = "C0REVIEW"
SHOWCASE = "C0SHOWCASE"
NEWS = "C0NEWS"
MAX_BYTES = 4096
MESSAGE_METHODS = {"chat.postMessage", "chat.postEphemeral", "chat.update", "response_url"}


@pytest.fixture
async def runtime(
    tmp_path: Path, database_url: str, committed, clock: FakeClock, sandbox: SlackSandbox
) -> AsyncIterator[Runtime]:
    """The conftest's runtime, with a small file limit and the media store on tmp_path."""
    config = tmp_path / "bot.toml"
    config.write_text(
        COMMUNITY_TOML + f'[media]\ndir = "{tmp_path / "media"}"\nmax_bytes = {MAX_BYTES}\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config,
        environ={
            "FLYWHEEL_DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_SIGNING_SECRET": sandbox.signing_secret,
        },
    )
    runtime = build_runtime(settings, clock=clock)
    runtime.media = LocalMediaStore(tmp_path / "media", public_url="https://acme.example")
    await bootstrap_community(runtime)
    yield runtime
    await runtime.close()


@pytest.fixture(autouse=True)
async def workspace(sandbox: SlackSandbox, runtime: Runtime, served: Served) -> None:
    """A second moderator, a bystander, the review, showcase and news channels, set by command."""
    sandbox.add_user(MOD2, "mia", real_name="Mia Moderator", is_admin=True)
    sandbox.add_user(BYSTANDER, "bystander", real_name="By Stander")
    everyone = [MEMBER, MODERATOR, MOD2]
    for channel, name in ((REVIEW, "ugc-review"), (SHOWCASE, "showcase"), (NEWS, "news")):
        sandbox.add_channel(channel, name, members=everyone)
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))
    for purpose, channel in (
        ("ugc-review", REVIEW),
        ("showcase", SHOWCASE),
        ("announcements", NEWS),
    ):
        answer = await ask(served, sandbox, f"channel set {purpose}", MODERATOR, channel)
        assert "posts now go to" in answer.args["text"]


# -- helpers ------------------------------------------------------------------------------------


async def ask(
    served: Served, sandbox: SlackSandbox, text: str, user_id: str = MEMBER, channel: str = CHANNEL
) -> RecordedCall:
    """Run a command and return the ephemeral answer it got."""
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=channel
    )
    assert reply.status == 200
    return await sandbox.wait_for_call("response_url", since=seen)


async def open_form(
    served: Served, sandbox: SlackSandbox, text: str = "share", user_id: str = MEMBER
) -> RecordedCall:
    seen = len(sandbox.calls)
    await served.sender.send_slash_command("/flywheel", text, user_id=user_id, channel_id=CHANNEL)
    opened = await sandbox.wait_for_call("views.open", since=seen)
    assert opened.ok, opened.response
    return opened


def picture(sandbox: SlackSandbox, data: bytes | None = None, **kw: Any) -> dict[str, Any]:
    return sandbox.add_user_file(
        MEMBER, "cake.png", png_1x1() if data is None else data, "image/png", **kw
    )


def filled(sandbox: SlackSandbox, **overrides: Any) -> dict[str, dict[str, Any]]:
    """Return the share form's values: a cake with a picture and a link unless overridden."""
    fields: dict[str, Any] = {
        share.TITLE: "My cake",
        share.STORY: "Baked with the new mixer.",
        share.LINK: "https://example.com/cake",
        share.FILE: [picture(sandbox)],
        share.CONSENT: "public_named",
        **overrides,
    }
    return {block: {block: value} for block, value in fields.items() if value is not None}


async def submit_form(
    served: Served, opened: RecordedCall, values: dict[str, dict[str, Any]], user_id: str = MEMBER
) -> BotReply:
    reply = await served.sender.send_view_submission(
        str(opened.args["view"]["callback_id"]),
        values,
        user_id=user_id,
        view_id=str(opened.response["view"]["id"]),
    )
    assert reply.status == 200
    return reply


async def shared(served: Served, sandbox: SlackSandbox, **overrides: Any) -> RecordedCall:
    """Share through the form; return the confirmation the member got."""
    opened = await open_form(served, sandbox)
    seen = len(sandbox.calls)
    reply = await submit_form(served, opened, filled(sandbox, **overrides))
    assert reply.json() is None, reply.json()
    return await sandbox.wait_for_call("chat.postEphemeral", since=seen)


def posts_in(sandbox: SlackSandbox, channel: str) -> list[RecordedCall]:
    return [
        call
        for call in sandbox.calls_to("chat.postMessage")
        if call.ok and call.response["channel"] == channel
    ]


def buttons(post: RecordedCall | dict[str, Any]) -> dict[str, str]:
    blocks = post.args.get("blocks") if isinstance(post, RecordedCall) else post.get("blocks")
    return {
        element["action_id"]: element.get("value", "")
        for block in blocks or []
        for element in (
            block.get("elements", []) if block["type"] == "actions" else [block.get("accessory")]
        )
        if element and element.get("type") == "button"
    }


async def click(
    served: Served,
    sandbox: SlackSandbox,
    action_id: str,
    user_id: str,
    channel: str,
    ts: str | None = None,
    value: str | None = None,
    wait_for: str = "response_url",
) -> RecordedCall:
    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        action_id, value or action_id, user_id=user_id, channel_id=channel, message_ts=ts
    )
    return await sandbox.wait_for_call(wait_for, since=seen)


async def snapshot(runtime: Runtime) -> list[tuple[Any, ...]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(
                UgcSubmission.uid,
                UgcSubmission.status,
                UgcSubmission.featured,
                UgcSubmission.decided_by,
                UgcSubmission.decided_at,
                UgcSubmission.reject_reason,
            ).order_by(UgcSubmission.id)
        )
    return [tuple(row) for row in rows]


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def stored_files(runtime: Runtime) -> list[str]:
    folder = Path(runtime.settings.media.dir)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def no_pings(sandbox: SlackSandbox) -> None:
    for call in sandbox.calls:
        if call.method in MESSAGE_METHODS:
            assert slack_pings(call.args, {BYSTANDER}) == [], (call.method, call.args)


# -- the whole flow -----------------------------------------------------------------------------


async def test_a_member_shares_a_file_and_a_link_and_one_approval_pays_and_dms_once(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    opened = await open_form(served, sandbox)
    inputs = {
        b["block_id"]: b["element"] for b in opened.args["view"]["blocks"] if b["type"] == "input"
    }
    assert inputs[share.TITLE]["max_length"] == 100
    assert inputs[share.STORY]["max_length"] == 2000 and inputs[share.STORY]["multiline"]
    assert inputs[share.FILE]["type"] == "file_input" and inputs[share.FILE]["max_files"] == 4
    assert {"png", "jpg", "mp4", "pdf"} <= set(inputs[share.FILE]["filetypes"])
    assert [o["value"] for o in inputs[share.CONSENT]["options"]] == [
        "public_named",
        "public_anonymous",
        "community",
    ]
    assert share.PROMPT not in inputs  # no prompt is open
    titled = await open_form(served, sandbox, "share Q&amp;A &lt;night&gt;")
    (title,) = [b for b in titled.args["view"]["blocks"] if b["block_id"] == share.TITLE]
    assert title["element"]["initial_value"] == "Q&A <night>"  # Slack escaped what was typed
    seen = len(sandbox.calls)

    reply = await submit_form(served, opened, filled(sandbox))

    assert reply.json() is None
    thanks = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert thanks.args["user"] == MEMBER and thanks.args["channel"] == CHANNEL
    assert thanks.args["text"].startswith("Thanks! “My cake” is in the review queue")
    (download,) = sandbox.calls_to("file_download")
    assert download.args["authorized"] and download.status == 200
    async with runtime.sessions() as session:
        attachment = await session.scalar(select(UgcAttachment))
    assert attachment is not None and attachment.content_type == "image/png"
    assert attachment.reported_url.startswith(sandbox.api_base.removesuffix("/api/"))
    assert attachment.media_key and await runtime.media.get(attachment.media_key) is not None

    await runtime.dispatcher.drain()
    (queued,) = posts_in(sandbox, REVIEW)
    ts = str(queued.response["ts"])
    approve, reject, feature = buttons(queued)
    assert approve.startswith("ugc-approve:") and reject.startswith("ugc-reject:")
    assert "https://acme.example/media/" in queued.args["text"]  # our copy, not url_private

    answer = await click(served, sandbox, approve, MODERATOR, REVIEW, ts)

    assert answer.args["response_type"] == "ephemeral" and not answer.args["replace_original"]
    assert answer.args["text"] == "Approved: ada gets 25 points and a DM."
    await runtime.dispatcher.drain()
    (dm,) = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert "“My cake” was approved (+25 points)" in dm["text"]
    (update,) = [c for c in sandbox.calls_to("chat.update") if c.args["ts"] == ts]
    assert update.ok and buttons(update) == {}
    assert buttons(sandbox.find_message(REVIEW, ts) or {}) == {}
    assert update.args["text"].startswith("*Approved* by mo")
    (showcased,) = posts_in(sandbox, SHOWCASE)
    assert "My cake" in showcased.args["text"]
    before = await snapshot(runtime)

    again = await click(served, sandbox, approve, MOD2, REVIEW, ts)
    late = await click(served, sandbox, feature, MOD2, REVIEW, ts)

    assert again.args["text"] == "Already approved by mo; nothing changed."
    assert late.args["text"] == "Already approved by mo; nothing changed."
    await runtime.dispatcher.drain()
    assert await snapshot(runtime) == before
    assert len(sandbox.messages_in(sandbox.dm_channel_id(MEMBER))) == 1
    assert len(posts_in(sandbox, SHOWCASE)) == 1
    async with runtime.sessions() as session:
        ledger = (await session.scalars(select(Activity.points))).all()
    assert list(ledger) == [25]
    no_pings(sandbox)


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "block", "says"),
    [
        ({share.LINK: "javascript:alert(1)"}, share.LINK, "only http:// and https://"),
        ({share.STORY: "x" * 10_000}, share.STORY, "Story"),
        ({share.TITLE: "\u200b\u200b"}, share.TITLE, "Title"),
    ],
    ids=["javascript-link", "long-story", "invisible-title"],
)
async def test_a_bad_field_keeps_the_form_open_with_the_error_under_it(
    served: Served,
    sandbox: SlackSandbox,
    runtime: Runtime,
    overrides: dict[str, Any],
    block: str,
    says: str,
) -> None:
    opened = await open_form(served, sandbox)

    answer = (await submit_form(served, opened, filled(sandbox, **overrides))).json()

    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [block]
    assert says in answer["errors"][block]
    assert await count(runtime, UgcSubmission) == 0


async def test_a_file_said_to_be_over_the_limit_is_refused_before_it_is_fetched(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    opened = await open_form(served, sandbox)
    huge = picture(sandbox, size=50 * 1024 * 1024)

    answer = (await submit_form(served, opened, filled(sandbox, **{share.FILE: [huge]}))).json()

    assert answer["response_action"] == "errors"
    assert "50 MB" in answer["errors"][share.FILE] and "4 KB" in answer["errors"][share.FILE]
    assert sandbox.calls_to("file_download") == []
    assert await count(runtime, UgcSubmission) == 0


async def test_a_file_whose_bytes_are_over_the_limit_is_refused_whatever_its_size_said(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    opened = await open_form(served, sandbox)
    lying = picture(sandbox, data=png_1x1() + b"\0" * (2 * MAX_BYTES), size=120)

    answer = (await submit_form(served, opened, filled(sandbox, **{share.FILE: [lying]}))).json()

    assert answer["response_action"] == "errors"
    assert "cake.png" in answer["errors"][share.FILE]
    assert await count(runtime, UgcSubmission) == 0
    assert stored_files(runtime) == []


async def test_a_file_not_on_slack_is_refused_and_the_token_goes_nowhere_else(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    opened = await open_form(served, sandbox)
    forged = {
        **picture(sandbox),
        "url_private": "https://attacker.example/cake.png",
        "url_private_download": "https://attacker.example/cake.png",
    }

    answer = (await submit_form(served, opened, filled(sandbox, **{share.FILE: [forged]}))).json()

    assert answer["errors"][share.FILE].startswith("“cake.png” is not a file on Slack")
    assert await count(runtime, UgcSubmission) == 0


async def test_mentions_and_html_in_what_a_member_typed_ping_no_one_anywhere(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    thanks = await shared(
        served,
        sandbox,
        **{
            share.TITLE: "<!channel> @everyone look",
            share.STORY: "<b>bold</b><script>alert(1)</script> hi <@U0BYSTAND> <!here> <!everyone>",
        },
    )
    assert "&lt;!channel&gt;" in thanks.args["text"]
    await runtime.dispatcher.drain()
    (queued,) = posts_in(sandbox, REVIEW)
    assert "&lt;script&gt;" in queued.args["text"] and "&lt;@U0BYSTAND&gt;" in queued.args["text"]
    approve = next(a for a in buttons(queued) if a.startswith("ugc-approve:"))
    await click(served, sandbox, approve, MODERATOR, REVIEW, str(queued.response["ts"]))
    await runtime.dispatcher.drain()

    assert len(posts_in(sandbox, SHOWCASE)) == 1
    assert len(sandbox.messages_in(sandbox.dm_channel_id(MEMBER))) == 1
    no_pings(sandbox)


# -- rejecting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "told"),
    [
        ({review.REASON: {review.REASON: "off-topic"}}, ugc.REJECT_REASONS["off-topic"]),
        (
            {
                review.REASON: {review.REASON: "quality"},
                review.NOTE: {review.NOTE: "Add a photo of the <crumb>"},
            },
            "Add a photo of the &lt;crumb&gt;",
        ),
    ],
    ids=["listed-reason", "own-words"],
)
async def test_reject_opens_a_form_and_the_member_is_told_the_reason(
    served: Served,
    sandbox: SlackSandbox,
    runtime: Runtime,
    values: dict[str, dict[str, Any]],
    told: str,
) -> None:
    await shared(served, sandbox)
    await runtime.dispatcher.drain()
    (queued,) = posts_in(sandbox, REVIEW)
    ts = str(queued.response["ts"])
    reject = next(a for a in buttons(queued) if a.startswith("ugc-reject:"))

    opened = await click(served, sandbox, reject, MODERATOR, REVIEW, ts, wait_for="views.open")
    reasons = opened.args["view"]["blocks"][0]["element"]
    assert reasons["type"] == "radio_buttons"
    assert [o["value"] for o in reasons["options"]] == list(ugc.REJECT_REASONS)
    empty = (await submit_form(served, opened, {}, MODERATOR)).json()
    assert empty["response_action"] == "errors" and "pick a reason" in empty["errors"][review.NOTE]
    seen = len(sandbox.calls)
    assert (await submit_form(served, opened, values, MODERATOR)).json() is None

    answer = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert answer.args["text"] == "Rejected: ada gets a DM with the reason."
    assert (answer.args["user"], answer.args["channel"]) == (MODERATOR, REVIEW)
    await runtime.dispatcher.drain()
    (dm,) = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert "was not approved" in dm["text"] and told in dm["text"]
    assert posts_in(sandbox, SHOWCASE) == []
    (status,) = [row[1] for row in await snapshot(runtime)]
    assert status == SubmissionStatus.REJECTED


async def test_a_member_cannot_open_the_reject_form_or_approve(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await shared(served, sandbox)
    await runtime.dispatcher.drain()
    (queued,) = posts_in(sandbox, REVIEW)
    ts = str(queued.response["ts"])
    approve, reject, _ = buttons(queued)

    answers = [await click(served, sandbox, a, MEMBER, REVIEW, ts) for a in (approve, reject)]

    assert [a.args["text"] for a in answers] == ["Only moderators can do that."] * 2
    assert sandbox.calls_to("views.open")[-1].args["view"]["callback_id"] == share.MODAL
    assert [row[1] for row in await snapshot(runtime)] == [SubmissionStatus.PENDING]


# -- one's own submissions ----------------------------------------------------------------------


async def test_share_mine_lists_them_and_withdraw_takes_one_back(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await shared(served, sandbox)
    await shared(served, sandbox, **{share.TITLE: "Second & <best>", share.FILE: None})

    listed = await ask(served, sandbox, "share mine")
    text = json.dumps(listed.args["blocks"], ensure_ascii=False)
    assert text.index("Second &amp; &lt;best&gt;") < text.index("My cake")
    assert "waiting for review" in text
    assert list(buttons(listed)) == [WITHDRAW_ASK]  # one action_id, one per item

    gone = await ask(served, sandbox, "share withdraw my cake")

    assert gone.args["text"].startswith("Withdrew “My cake”: it is off the showcase")
    statuses = {row[1] for row in await snapshot(runtime)}
    assert statuses == {SubmissionStatus.WITHDRAWN, SubmissionStatus.PENDING}
    async with runtime.sessions() as session:
        keys = (await session.scalars(select(UgcAttachment.media_key))).all()
    assert list(keys) == [None]  # the stored copy is deleted
    unknown = await ask(served, sandbox, "share withdraw no such thing")
    assert unknown.args["text"].startswith("You have no submission called 'no such thing'")


async def test_deleting_asks_first_and_the_confirm_button_deletes(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await shared(served, sandbox)

    asked = await ask(served, sandbox, "share withdraw My cake delete")

    assert asked.args["text"].startswith("Delete “My cake”?")
    confirm = buttons(asked)[f"{mine.CONFIRM}_confirm"]
    assert await count(runtime, UgcSubmission) == 1
    done = await click(served, sandbox, f"{mine.CONFIRM}_confirm", MEMBER, CHANNEL, value=confirm)
    assert done.args["text"] == "Deleted “My cake” and its files."
    assert done.args["replace_original"] is True
    assert await count(runtime, UgcSubmission) == 0


async def seed_posts(runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock, count: int) -> None:
    """Have the member share ``count`` posts ("Post 00"…), a minute apart, through the service."""
    rules = ugc.UgcRules(daily_limit=100, max_bytes=MAX_BYTES)
    async with runtime.sessions() as session, session.begin():
        member = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=Caller("slack", sandbox.team_id, MEMBER, "ada", Role.MEMBER),
        )
        for number in range(count):
            draft = ugc.Draft(title=f"Post {number:02d}", story="hi", consent="community")
            await ugc.submit(session, clock, member, draft, store=runtime.media, rules=rules)
            clock.advance(60)


async def test_share_mine_pages_ten_at_a_time_with_next_and_previous_buttons(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    await seed_posts(runtime, sandbox, clock, MINE_PER_PAGE + 3)

    first = await ask(served, sandbox, "share mine")
    assert first.args["text"] == "Your submissions (13), newest first, page 1 of 2"
    shown = json.dumps(first.args["blocks"])
    assert "Post 12" in shown and "Post 03" in shown and "Post 02" not in shown
    assert buttons(first)[MINE_PAGE] == "2"
    second = await click(served, sandbox, MINE_PAGE, MEMBER, CHANNEL, value="2")
    assert second.args["replace_original"] is True
    shown = json.dumps(second.args["blocks"])
    assert "Post 02" in shown and "Post 00" in shown and "Post 03" not in shown
    assert buttons(second)[f"{MINE_PAGE}_prev"] == "1"
    past = await ask(served, sandbox, "share mine 9")
    assert "page 2 of 2" in past.args["text"]


# -- the queue and prompts ----------------------------------------------------------------------


async def test_the_queue_lists_pending_oldest_first_ten_a_page_with_a_next_page_button(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    await seed_posts(runtime, sandbox, clock, QUEUE_PER_PAGE + 2)

    refused = await ask(served, sandbox, "ugc queue")
    assert refused.args["text"] == "Only moderators can do that."
    first = await ask(served, sandbox, "ugc queue", MODERATOR)
    assert first.args["text"] == "Waiting for review (12), oldest first, page 1 of 2"
    assert buttons(first)[QUEUE_PAGE] == "2"
    page = await click(served, sandbox, QUEUE_PAGE, MODERATOR, CHANNEL, value="2")
    forged = await click(served, sandbox, QUEUE_PAGE, MODERATOR, CHANNEL, value="٢")

    assert page.args["replace_original"] is True
    shown = json.dumps(page.args["blocks"])
    assert "Post 10" in shown and "Post 11" in shown and "Post 09" not in shown
    assert "Post 00" in json.dumps(forged.args["blocks"])  # not a number: the first page
    first_shown = json.dumps(first.args["blocks"])
    assert first_shown.index("Post 00") < first_shown.index("Post 09")
    jumped = await ask(served, sandbox, "ugc queue 2", MODERATOR)
    assert "page 2 of 2" in jumped.args["text"]


async def test_a_prompt_is_created_announced_and_its_share_button_opens_the_form_prefilled(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    seen = len(sandbox.calls)
    await served.sender.send_slash_command(
        "/flywheel", "ugc prompt create", user_id=MODERATOR, channel_id=CHANNEL
    )
    opened = await sandbox.wait_for_call("views.open", since=seen)
    seen = len(sandbox.calls)
    values = {
        prompts.TITLE: "Before and after",
        prompts.BRIEF: "Show us what changed in 30 days.",
        prompts.TEMPLATE: "Before: …\nAfter: …",
        prompts.DEADLINE: "2026-12-31",
    }
    reply = await submit_form(served, opened, {k: {k: v} for k, v in values.items()}, MODERATOR)
    assert reply.json() is None
    created = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert created.args["text"].startswith("Created the prompt “Before and after”, open until")
    await runtime.dispatcher.drain()
    (announced,) = posts_in(sandbox, NEWS)
    (share_id,) = buttons(announced)
    assert share_id.startswith("ugc-share:")
    listed = await ask(served, sandbox, "ugc prompts")
    assert list(buttons(listed)) == [share_id]

    form = await click(
        served,
        sandbox,
        share_id,
        MEMBER,
        NEWS,
        str(announced.response["ts"]),
        wait_for="views.open",
    )

    assert form.ok
    inputs = {
        b["block_id"]: b["element"] for b in form.args["view"]["blocks"] if b["type"] == "input"
    }
    assert inputs[share.STORY]["initial_value"] == "Before: …\nAfter: …"
    assert inputs[share.PROMPT]["initial_option"]["text"]["text"] == "Before and after"
    seen = len(sandbox.calls)
    values2 = filled(sandbox, **{share.STORY: "Before: slow. After: fast."})
    values2[share.PROMPT] = {share.PROMPT: inputs[share.PROMPT]["initial_option"]["value"]}
    assert (await submit_form(served, form, values2)).json() is None
    thanks = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert "(for “Before and after”)" in thanks.args["text"]
    async with runtime.sessions() as session:
        prompt_id = await session.scalar(select(UgcPrompt.id))
        linked = await session.scalar(select(UgcSubmission.prompt_id))
    assert linked == prompt_id

    closed = await ask(served, sandbox, "ugc prompt close before and after", MODERATOR)
    assert closed.args["text"] == "Closed “Before and after”: it takes no more submissions."
    late = await click(served, sandbox, share_id, MEMBER, NEWS, str(announced.response["ts"]))
    assert late.args["text"].startswith("That prompt is closed.")
    everything = await ask(served, sandbox, "ugc prompt list", MODERATOR)
    assert "closed" in json.dumps(everything.args["blocks"])
