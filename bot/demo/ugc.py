"""UGC in the demo: members share through both sandboxes, moderators approve and feature.

The tour (:mod:`bot.demo.tour`) and the live demo (:mod:`bot.demo.live`) act the same
scene: a member runs the share command, fills in the form with a picture and a link, the
queue post reaches the ugc-review channels, a moderator clicks Approve or Feature on it, the
member gets a DM, the showcase post goes out, and the item appears in ``/proof.json``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.demo.community import (
    GENERAL,
    GUILD,
    OWNER,
    REVIEW,
    SHOWCASE,
    SLACK_GENERAL,
    SLACK_OWNER,
    SLACK_REVIEW,
    STEP_TIMEOUT,
    Demo,
    answered,
)
from bot.sandbox.discord import RecordedCall

SUBMIT_FORM = "ugc-submit"  # the Discord form's name (cogs/ugc); each opening adds a suffix


def picture(rgb: tuple[int, int, int] = (230, 120, 40)) -> bytes:
    """Return a real 1×1 PNG of one colour (a member's "photo")."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes((0, *rgb)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Shared:
    """A submission in the queue: its public id and its queue post on Discord."""

    uid: str
    title: str
    review_message_id: int


def _content(call: RecordedCall) -> str:
    body = call.json or {}
    return str((body.get("data") or body).get("content") or "")


async def _queue_post(demo: Demo, title: str, since: int) -> Shared:
    """Wait for the queue post of ``title`` on Discord; return its submission's id."""
    demo.runtime.dispatcher.wake()
    await demo.discord.wait_for_call(
        lambda c: (
            c.method == "POST" and c.path == f"/channels/{REVIEW}/messages" and title in _content(c)
        ),
        timeout=STEP_TIMEOUT,
        since=since,
    )
    message = next(m for m in reversed(demo.discord.messages[REVIEW]) if title in m["content"])
    approve = next(
        c["custom_id"]
        for row in message["components"]
        for c in row["components"]
        if c["custom_id"].startswith("ugc-approve:")
    )
    return Shared(approve.removeprefix("ugc-approve:"), title, int(message["id"]))


async def share_on_discord(demo: Demo, user_id: int, title: str, consent: str) -> Shared:
    """Share a picture and a link as a Discord member, through /share submit and its form."""
    since = len(demo.discord.calls)
    opened = await demo.discord.send_slash_command(
        "share",
        guild_id=GUILD,
        channel_id=GENERAL,
        user_id=user_id,
        options=[{"type": 1, "name": "submit", "options": []}],
    )
    await demo.discord.wait_for_call(
        lambda c: (
            c.path.startswith(f"/interactions/{opened.id}/") and (c.json or {}).get("type") == 9
        ),
        timeout=STEP_TIMEOUT,
    )
    upload = demo.discord.add_upload("my-setup.png", picture(), "image/png")
    submitted = await demo.discord.send_modal_submit(
        demo.discord.opened_form(SUBMIT_FORM, user_id=user_id),
        {
            "title": title,
            "story": "Week three with the kit: the new mixer made it in half the time.",
            "link": "https://acme.example/recipes/cake",
            "files": [upload],
            "consent": consent,
        },
        channel_id=GENERAL,
        user_id=user_id,
        guild_id=GUILD,
    )
    answer = await demo.discord.wait_for_call(answered(submitted), timeout=STEP_TIMEOUT)
    assert "review queue" in _content(answer), _content(answer)
    return await _queue_post(demo, title, since)


async def share_on_slack(demo: Demo, user_id: str, title: str, consent: str) -> Shared:
    """Share a picture as a Slack member, through /flywheel share and its form."""
    since = len(demo.discord.calls)
    seen = len(demo.slack.calls)
    await demo.slack_sender.send_slash_command(
        "/flywheel", "share", user_id=user_id, channel_id=SLACK_GENERAL
    )
    opened = await demo.slack.wait_for_call("views.open", since=seen, timeout=STEP_TIMEOUT)
    file = demo.slack.add_user_file(
        user_id, "before-after.png", picture((40, 160, 90)), "image/png"
    )
    values: dict[str, Any] = {
        "title": title,
        "story": "Before and after thirty days: the difference is in the crumb.",
        "link": "https://acme.example/blog/thirty-days",
        "file": [file],
        "consent": consent,
    }
    reply = await demo.slack_sender.send_view_submission(
        str(opened.args["view"]["callback_id"]),
        {block: {block: value} for block, value in values.items()},
        user_id=user_id,
        view_id=str(opened.response["view"]["id"]),
    )
    assert reply.status == 200, reply.status
    return await _queue_post(demo, title, since)


async def decide_on_discord(demo: Demo, shared: Shared, decision: str) -> str:
    """Click Approve or Feature on the Discord queue post as the owner; return the answer."""
    clicked = await demo.discord.send_component(
        f"ugc-{decision}:{shared.uid}",
        message_id=shared.review_message_id,
        user_id=OWNER,
        guild_id=GUILD,
        channel_id=REVIEW,
    )
    answer = await demo.discord.wait_for_call(answered(clicked), timeout=STEP_TIMEOUT)
    return _content(answer)


async def decide_on_slack(demo: Demo, shared: Shared, decision: str) -> None:
    """Click Approve or Feature on the Slack queue post as the Slack owner."""
    demo.runtime.dispatcher.wake()
    posted = await demo.slack.wait_for_call(
        lambda c: (
            c.method == "chat.postMessage"
            and c.args.get("channel") == SLACK_REVIEW
            and shared.title in str(c.args)
        ),
        timeout=STEP_TIMEOUT,
    )
    action = f"ugc-{decision}:{shared.uid}"
    await demo.slack_sender.send_block_action(
        action,
        action,
        user_id=SLACK_OWNER,
        channel_id=SLACK_REVIEW,
        message_ts=str(posted.response.get("ts")),
    )


async def showcased(demo: Demo, title: str, *, featured: bool) -> str:
    """Wait for the showcase post of ``title`` on Discord; return its text."""
    demo.runtime.dispatcher.wake()
    call = await demo.discord.wait_for_call(
        lambda c: (
            c.method == "POST"
            and c.path == f"/channels/{SHOWCASE}/messages"
            and title in _content(c)
            and (not featured or "Featured" in _content(c))
        ),
        timeout=STEP_TIMEOUT,
    )
    return _content(call)


async def proof(demo: Demo) -> dict[str, Any]:
    """Read ``/proof.json`` as the brand's store would."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{demo.port}/proof.json") as response,
    ):
        assert response.status == 200, response.status
        body: dict[str, Any] = await response.json()
        return body


# ----------------------------------------------------------------------------- tour steps

MEMBER = 900_000_000_000_001_007  # Hana, on Discord
SLACK_MEMBER = "U0M009"  # Jun, on Slack


async def step_share(demo: Demo, state: dict[str, Any]) -> str:
    shared = await share_on_discord(demo, MEMBER, "My first cake with the kit", "public_named")
    state["shared"] = shared
    return "a member shared a picture and a link with /share submit; it reached #ugc-review"


async def step_approve(demo: Demo, state: dict[str, Any]) -> str:
    shared: Shared = state["shared"]
    since = len(demo.discord.calls)
    answer = await decide_on_discord(demo, shared, "approve")
    assert answer.startswith("Approved"), answer
    demo.runtime.dispatcher.wake()
    dm = await demo.discord.wait_for_call(
        lambda c: (
            c.method == "POST"
            and "was approved" in _content(c)
            and c.path not in (f"/channels/{REVIEW}/messages", f"/channels/{SHOWCASE}/messages")
        ),
        timeout=STEP_TIMEOUT,
        since=since,
    )
    text = await showcased(demo, shared.title, featured=False)
    assert "Hana" in text, text
    return (
        f"a moderator approved it from the queue post: the member got a DM ({dm.path}) "
        "and the showcase post went out"
    )


async def step_feature(demo: Demo, state: dict[str, Any]) -> str:
    shared = await share_on_slack(demo, SLACK_MEMBER, "Thirty days later", "public_anonymous")
    await decide_on_slack(demo, shared, "feature")
    text = await showcased(demo, shared.title, featured=True)
    assert "Jun" not in text, text  # "publicly without my name"
    state["featured"] = shared
    return "a Slack member shared through the form; the owner featured it from Slack; the showcase marks it ⭐ without the name"


async def step_proof(demo: Demo, state: dict[str, Any]) -> str:
    body = await proof(demo)
    items = {item["title"]: item for item in body["items"]}
    first, featured = items["My first cake with the kit"], items["Thirty days later"]
    assert first["author"] == "Hana", first
    assert not first["featured"], first
    assert featured["author"] is None, featured
    assert featured["featured"], featured
    assert [m["content_type"] for m in first["media"]] == ["image/png"], first
    return f"/proof.json lists both, the featured one marked and without its author's name ({len(body['items'])} items)"


UGC_TOUR = [
    ("ugc share", step_share),
    ("ugc approve", step_approve),
    ("ugc feature", step_feature),
    ("ugc proof.json", step_proof),
]
