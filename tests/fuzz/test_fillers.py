"""The harnesses' fillers for files and radio choices, on synthetic modals (no command has them yet).

Each filler is run over many cases and its output handed to the sandbox as a test would: the
sandbox refuses anything Discord or Slack would never send, so a filler that strays fails here.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.discord.events import resolve_options
from bot.sandbox.discord.modals import modal_answer, validate_modal
from bot.sandbox.slack import SlackSandbox
from tests.fuzz import values
from tests.fuzz.discord_harness import Option, World, modal_fields, option_value
from tests.fuzz.slack_harness import view_state

MEMBER = "U0ADA"
DISCORD_MODAL: dict[str, Any] = {
    "custom_id": "entry",
    "title": "Submit an entry",
    "components": [
        {"type": 10, "content": "Read the rules first"},
        {
            "type": 18,
            "label": "Files",
            "component": {"type": 19, "custom_id": "files", "min_values": 0, "max_values": 3},
        },
        {
            "type": 18,
            "label": "More files",
            "component": {
                "type": 19,
                "custom_id": "optional",
                "min_values": 2,
                "max_values": 4,
                "required": False,
            },
        },
        {
            "type": 18,
            "label": "Kind",
            "component": {
                "type": 21,
                "custom_id": "kind",
                "required": False,
                "options": [{"label": "Art", "value": "art"}, {"label": "Music", "value": "music"}],
            },
        },
        {"type": 18, "label": "Pitch", "component": {"type": 4, "custom_id": "pitch", "style": 2}},
    ],
}
SLACK_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "entry",
    "title": {"type": "plain_text", "text": "Entry"},
    "blocks": [
        {
            "type": "input",
            "block_id": "files",
            "label": {"type": "plain_text", "text": "Files"},
            "element": {
                "type": "file_input",
                "action_id": "upload",
                "filetypes": ["png", "jpg"],
                "max_files": 3,
            },
        },
        {
            "type": "input",
            "block_id": "kind",
            "label": {"type": "plain_text", "text": "Kind"},
            "element": {
                "type": "radio_buttons",
                "action_id": "choice",
                "options": [
                    {"text": {"type": "plain_text", "text": "Art"}, "value": "art"},
                    {"text": {"type": "plain_text", "text": "Music"}, "value": "music"},
                ],
            },
        },
    ],
}


def cases(count: int = 60) -> list[values.Case]:
    """Return varied cases, the same every run."""
    rng = random.Random(20261201)
    return [
        values.Case(
            [rng.randrange(2**16) for _ in range(12)],
            [rng.choice(values.PLAUSIBLE + values.SPECIAL) for _ in range(8)],
            [rng.random() < 0.5 for _ in range(8)],
        )
        for _ in range(count)
    ]


@pytest.fixture
async def discord_sandbox() -> AsyncIterator[DiscordSandbox]:
    async with DiscordSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def slack_sandbox() -> AsyncIterator[SlackSandbox]:
    async with SlackSandbox() as sandbox:
        sandbox.add_user(MEMBER, "ada")
        yield sandbox


def test_the_file_samples_cover_every_adversarial_kind() -> None:
    samples = [values.file_sample(case) for case in cases(200)]
    assert any(s.data == values.TINY_PNG and s.size == len(s.data) for s in samples)
    assert any(s.content_type == "image/png" and not s.data.startswith(b"\x89PNG") for s in samples)
    assert any(s.size > len(s.data) for s in samples)
    assert any(s.data == b"" for s in samples)
    assert any("../" in s.name for s in samples)
    assert any("\u202e" in s.name for s in samples)
    assert any(len(s.name) == 300 for s in samples)
    assert values.TINY_PNG.startswith(b"\x89PNG\r\n\x1a\n")
    with_extension = values.file_sample(cases(1)[0], extensions=["jpg"])
    assert with_extension.name.endswith(".jpg")


async def test_discord_fillers_send_what_the_sandbox_accepts(
    discord_sandbox: DiscordSandbox,
) -> None:
    validate_modal(DISCORD_MODAL)
    uploads: list[values.FileSample] = []

    def upload(sample: values.FileSample) -> str:
        uploads.append(sample)
        attachment = discord_sandbox.add_upload(
            sample.name, sample.data, sample.content_type, size=sample.size
        )
        return str(attachment["id"])

    counts = {"optional": set(), "kind": set()}
    for case in cases():
        fields = modal_fields(DISCORD_MODAL, case, upload)
        assert set(fields) == {"files", "optional", "kind", "pitch"}
        files, optional = fields["files"], fields["optional"]
        assert isinstance(files, list) and 1 <= len(files) <= 3
        assert isinstance(optional, list) and (not optional or 2 <= len(optional) <= 4)
        assert fields["kind"] in (None, "art", "music")
        counts["optional"].add(len(optional))
        counts["kind"].add(fields["kind"])
        # The sandbox refuses (ValueError) whatever Discord would never send.
        components, attachments = modal_answer(discord_sandbox.state, DISCORD_MODAL, fields)
        assert len(components) == 4
        assert set(attachments) == {*files, *optional}
    assert 0 in counts["optional"] and None in counts["kind"] and "music" in counts["kind"]
    assert {s.content_type for s in uploads} >= {"image/png", None, "image/jpeg"}

    option = Option({"type": 11, "name": "file", "required": True})
    world = World(users=[], channels=[], roles=[], bystanders=set())
    value = option_value(option, world, cases(1)[0], upload)
    resolved = resolve_options(discord_sandbox.state, None, [{"type": 11, "value": value}])
    assert set(resolved["attachments"]) == {value}


def test_a_discord_modal_component_the_harness_cannot_fill_fails_naming_the_file() -> None:
    modal = {
        "custom_id": "m",
        "title": "t",
        "components": [{"type": 18, "label": "Pick", "component": {"type": 23, "custom_id": "c"}}],
    }
    with pytest.raises(AssertionError, match=r"tests/fuzz/discord_harness\.py"):
        modal_fields(modal, cases(1)[0], lambda sample: "0")


async def test_slack_fillers_send_what_the_sandbox_accepts(slack_sandbox: SlackSandbox) -> None:
    slack_sandbox.state.build_view(SLACK_MODAL)  # a valid view, as views.open would take it

    def upload(sample: values.FileSample) -> dict[str, Any]:
        return slack_sandbox.add_user_file(
            MEMBER, sample.name, sample.data, sample.content_type, size=sample.size
        )

    world = {"users": [MEMBER], "conversations": []}
    for case in cases():
        state = view_state(SLACK_MODAL, case, world, upload)
        files = state["files"]["upload"]
        assert files["type"] == "file_input"
        assert len(files["files"]) in range(1, 4)  # 1..max_files
        for described in files["files"]:
            assert described["name"].lower().endswith((".png", ".jpg"))
            assert described["user"] == MEMBER
            assert slack_sandbox.file_content(described["id"]) is not None
        choice = state["kind"]["choice"]
        assert choice["type"] == "radio_buttons"
        assert choice["selected_option"]["value"] in ("art", "music")
