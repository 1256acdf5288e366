"""The neutral message vocabulary: typed, versioned, rendered and escaped by each platform."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bot.discord.render import markdown
from bot.discord.render import message_body as discord_body
from bot.messages import (
    Button,
    DirectMessage,
    Mention,
    Post,
    Purpose,
    Subject,
    UnreadableEffect,
    bold,
    code,
    dump,
    italic,
    lines,
    link,
    load,
    rich,
)
from bot.slack.render import content, mrkdwn

HOSTILE = "@everyone <@&123> <!channel> **bold** _it_ <https://evil.example|click> `x` # h"


def test_an_effect_survives_the_round_trip_through_the_outbox_unchanged() -> None:
    post = Post(
        to=Purpose(name="rituals"),
        body=lines(rich(bold("Office Hours"), " · Thu"), rich("Check in ", code("/ritual"))),
        buttons=(Button(id="ritual-checkin:abc", label="Check in", style="primary"),),
        about=Subject(kind="occurrence", id="abc"),
    )
    stored = dump(post)
    assert json.loads(stored)["v"] == 1
    assert load(stored) == post


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ({"text": "old shape"}, "version None"),
        ({"v": 2, "effect": {}}, "version 2"),
        ({"v": 1, "effect": {"type": "shout"}}, "malformed at effect"),
        ({"v": 1, "effect": {"type": "post", "to": {"kind": "purpose", "name": "x"}}}, "body"),
        ([1, 2], "list, not an object"),
        ("{not json", "not JSON"),
    ],
)
def test_a_stored_effect_that_cannot_be_read_says_why(stored: object, reason: str) -> None:
    with pytest.raises(UnreadableEffect) as caught:
        load(stored)
    assert reason in caught.value.reason


def test_effects_are_frozen_and_refuse_unknown_fields() -> None:
    post = Post(to=Purpose(name="rituals"), body=rich("hi"))
    with pytest.raises(ValidationError):
        post.body = rich("changed")  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Post(to=Purpose(name="rituals"), body=rich("hi"), colour="red")  # type: ignore[call-arg]


def test_user_text_renders_literally_on_discord_and_pings_nobody() -> None:
    text, pinged = markdown(rich(HOSTILE))
    assert pinged == []
    assert "@everyone" not in text and "<@&" not in text
    assert "**bold**" not in text and "\\*\\*bold\\*\\*" in text
    body = discord_body(rich(HOSTILE), ())
    assert body["allowed_mentions"] == {"parse": [], "users": []}


def test_user_text_renders_literally_on_slack_and_pings_nobody() -> None:
    text = mrkdwn(rich(HOSTILE))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://evil.example|click>" not in text
    assert "*bold*" not in text  # marks are neutralised with a zero-width space


def test_formatting_spans_become_each_platforms_markup() -> None:
    body = rich(
        bold("Bold"), " ", italic("it"), " ", link("https://e.example/a", "site"), " ", code("/x")
    )
    assert markdown(body)[0] == "**Bold** *it* [site](<https://e.example/a>) `/x`"
    assert mrkdwn(body) == "*Bold* _it_ <https://e.example/a|site> `/x`"


def test_only_a_mention_span_pings_and_only_the_member_it_names() -> None:
    body = rich("Welcome ", Mention(member_id=7, user_id="4242", fallback="Ada"), "!")
    text, pinged = markdown(body)
    assert text == "Welcome <@4242>!" and pinged == ["4242"]
    assert mrkdwn(rich(Mention(member_id=7, user_id="U42"))) == "<@U42>"
    # A member not known on the platform is named, not pinged.
    assert markdown(rich(Mention(member_id=7, fallback="Ada <@1>")))[1] == []


def test_long_bodies_are_cut_with_an_ellipsis_to_each_platforms_limit() -> None:
    text, _ = markdown(rich("x" * 5000))
    assert len(text) == 2000 and text.endswith("…")
    slack = content(rich("y" * 7000), (Button(id="b", label="Go"),))
    assert all(len(block["text"]["text"]) <= 3000 for block in slack["blocks"][:-1])
    assert slack["blocks"][-1]["type"] == "actions"


def test_an_edit_without_buttons_removes_them_on_both_platforms() -> None:
    assert discord_body(rich("done"), (), edit=True)["components"] == []
    assert content(rich("done"), (), edit=True)["blocks"][-1]["type"] == "section"


def test_a_dm_names_its_member_not_a_platform_user() -> None:
    dm = DirectMessage(member_id=3, body=rich("hi"))
    assert load(dump(dm)) == dm and dm.platform is None


def test_discord_objects_and_slack_quotes_in_user_text_render_as_text() -> None:
    text, _ = markdown(rich("<t:0:R> </ritual remind:1> <:party:1>"))
    # Each < is escaped, so Discord shows the text instead of a timestamp, command or emoji.
    assert text == "\\<t:0:R> \\</ritual remind:1> \\<:party:1>"
    assert mrkdwn(rich("> not a quote")).startswith("\u200b&gt;")
