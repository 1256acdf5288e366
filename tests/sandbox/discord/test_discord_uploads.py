"""Members' files and the newer modal components, through the real discord.py client.

Attachment options and file uploads resolve into ``discord.Attachment`` objects whose URLs are
signed and expire on the CDN; modals with labels, file uploads and radio groups are refused over
Discord's limits and answered in the shapes discord.py 2.7.1 parses.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.discord.modals import validate_modal
from bot.sandbox.discord.wire import ApiError
from tests.sandbox.discord.conftest import (
    ALICE_ID,
    GENERAL_ID,
    GUILD_ID,
    WallClock,
    make_bot,
    running,
)

# The smallest valid PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def submit_command(seen: asyncio.Queue[discord.Attachment]) -> app_commands.Command[Any, Any, Any]:
    @app_commands.command(name="submit", description="Submit a file")
    async def submit(interaction: discord.Interaction, file: discord.Attachment) -> None:
        await seen.put(file)
        await interaction.response.send_message(f"got {file.filename}", ephemeral=True)

    return submit


async def test_an_attachment_option_reaches_the_command_as_an_attachment_with_its_bytes(
    sandbox: DiscordSandbox,
) -> None:
    seen: asyncio.Queue[discord.Attachment] = asyncio.Queue()
    bot = make_bot()
    bot.tree.add_command(submit_command(seen))
    # The declared type lies about the bytes and the declared size is not theirs: kept as is.
    upload = sandbox.add_upload("cat.png", b"<html>not a cat</html>", "image/png", size=12)
    async with running(bot, sandbox):
        interaction = await sandbox.send_slash_command(
            "submit",
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
            user_id=ALICE_ID,
            options=[{"type": 11, "name": "file", "value": upload}],
        )
        file = await asyncio.wait_for(seen.get(), timeout=5)
        data = await file.read()
        await sandbox.wait_for_call(lambda c: c.path == interaction.callback_path)

    assert isinstance(file, discord.Attachment)
    assert data == b"<html>not a cat</html>"
    assert (file.id, file.filename, file.size) == (int(upload["id"]), "cat.png", 12)
    assert file.content_type == "image/png"
    assert file.ephemeral
    sent = sandbox.calls_matching("POST", f"/interactions/{interaction.id}")
    assert sent[0].status == 200
    [record] = [r for r in sandbox.state.interactions.values() if r.public.id == interaction.id]
    assert record.payload["data"]["options"][0]["value"] == upload["id"]
    assert upload["id"] in record.payload["data"]["resolved"]["attachments"]


async def test_the_cdn_serves_the_declared_type_and_refuses_expired_or_forged_urls(
    sandbox: DiscordSandbox, wall: WallClock
) -> None:
    upload = sandbox.add_upload("pixel.png", PNG, "text/plain")
    url = str(upload["url"])
    assert "/ephemeral-attachments/" in url
    assert {"ex", "is", "hm"} <= set(url.partition("?")[2].replace("=", "&").split("&"))
    assert (upload["width"], upload["height"]) == (1, 1)  # probed from the bytes
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as fresh:
            assert fresh.status == 200
            assert fresh.headers["Content-Type"] == "text/plain"
            assert await fresh.read() == PNG
        forged = url[: url.index("hm=") + 3] + "0" * 64
        async with http.get(forged) as answer:
            assert answer.status == 404
        async with http.get(url.partition("?")[0]) as unsigned:
            assert unsigned.status == 404
        wall.advance(sandbox.cdn_ttl + 1)
        async with http.get(url) as expired:
            assert expired.status == 404
            assert PNG not in await expired.read()


async def test_a_bot_reading_an_expired_attachment_gets_not_found(
    sandbox: DiscordSandbox, wall: WallClock
) -> None:
    seen: asyncio.Queue[discord.Attachment] = asyncio.Queue()
    bot = make_bot()
    bot.tree.add_command(submit_command(seen))
    upload = sandbox.add_upload("late.txt", b"hello", "text/plain")
    async with running(bot, sandbox):
        await sandbox.send_slash_command(
            "submit",
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
            user_id=ALICE_ID,
            options=[{"type": 11, "name": "file", "value": upload["id"]}],
        )
        file = await asyncio.wait_for(seen.get(), timeout=5)
        wall.advance(25 * 3600)
        with pytest.raises(discord.NotFound):
            await file.read()


async def test_files_the_bot_posts_are_served_at_signed_urls_too(sandbox: DiscordSandbox) -> None:
    async with running(make_bot(), sandbox) as bot:
        channel = bot.get_channel(GENERAL_ID)
        assert isinstance(channel, discord.TextChannel)
        notes = discord.File(io.BytesIO(b"meeting notes"), filename="notes.txt")
        message = await channel.send(file=notes)
        [attachment] = message.attachments
        assert "hm=" in attachment.url
        assert await attachment.read() == b"meeting notes"


# --------------------------------------------------------------------------- modals


class EntryModal(discord.ui.Modal, title="Submit an entry"):
    def __init__(self) -> None:
        super().__init__(custom_id="entry")
        self.pitch: discord.ui.TextInput[EntryModal] = discord.ui.TextInput(custom_id="pitch")
        self.files = discord.ui.FileUpload(custom_id="files", min_values=1, max_values=3)
        self.kind = discord.ui.RadioGroup(
            custom_id="kind",
            options=[
                discord.RadioGroupOption(label="Art", value="art"),
                discord.RadioGroupOption(label="Music", value="music"),
            ],
        )
        self.add_item(discord.ui.Label(text="Pitch", component=self.pitch))
        self.add_item(
            discord.ui.Label(text="Files", description="Up to three", component=self.files)
        )
        self.add_item(discord.ui.Label(text="Kind", component=self.kind))
        self.submitted: asyncio.Future[tuple[str, list[discord.Attachment], str | None]] = (
            asyncio.get_running_loop().create_future()
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.submitted.set_result((self.pitch.value, list(self.files.values), self.kind.value))
        await interaction.response.send_message("Thanks", ephemeral=True)


async def test_a_modal_with_a_file_upload_and_a_radio_group_parses_its_submission(
    sandbox: DiscordSandbox,
) -> None:
    modal: list[EntryModal] = []

    @app_commands.command(name="entry", description="Submit an entry")
    async def entry(interaction: discord.Interaction) -> None:
        modal.append(EntryModal())
        await interaction.response.send_modal(modal[0])

    bot = make_bot()
    bot.tree.add_command(entry)
    first = sandbox.add_upload("a.png", PNG, "image/png")
    second = sandbox.add_upload("b.txt", b"", None)
    async with running(bot, sandbox):
        opened = await sandbox.send_slash_command(
            "entry", guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
        shown = await sandbox.wait_for_call(lambda c: c.path == opened.callback_path)
        assert shown.status == 200
        submitted = await sandbox.send_modal_submit(
            "entry",
            {"pitch": "A song", "files": [first, second["id"]], "kind": "music"},
            channel_id=GENERAL_ID,
            user_id=ALICE_ID,
        )
        pitch, files, kind = await asyncio.wait_for(modal[0].submitted, timeout=5)
        await sandbox.wait_for_call(lambda c: c.path == submitted.callback_path)
        contents = [await f.read() for f in files]

    assert [c["type"] for c in shown.json["data"]["components"]] == [18, 18, 18]
    assert pitch == "A song"
    assert kind == "music"
    assert sorted(f.filename for f in files) == ["a.png", "b.txt"]
    assert all(isinstance(f, discord.Attachment) for f in files)
    assert sorted(contents) == [b"", PNG]
    [record] = [r for r in sandbox.state.interactions.values() if r.public.id == submitted.id]
    labels = record.payload["data"]["components"]
    assert labels[1]["component"] == {
        "type": 19,
        "id": labels[1]["component"]["id"],
        "custom_id": "files",
        "values": [first["id"], second["id"]],
    }
    assert labels[2]["component"]["value"] == "music"
    assert set(record.payload["data"]["resolved"]["attachments"]) == {first["id"], second["id"]}


async def test_a_submission_discord_would_never_send_is_refused_by_the_control_api(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.state.modals["entry"] = {
        "custom_id": "entry",
        "title": "t",
        "components": [
            {"type": 18, "label": "Files", "component": {"type": 19, "custom_id": "files"}},
            {
                "type": 18,
                "label": "Kind",
                "component": {
                    "type": 21,
                    "custom_id": "kind",
                    "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
                },
            },
        ],
    }
    upload = sandbox.add_upload("a.png", PNG, "image/png")
    with pytest.raises(ValueError, match="listed value"):
        await sandbox.send_modal_submit(
            "entry", {"files": [upload], "kind": "c"}, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
    with pytest.raises(ValueError, match="takes 1 to 1 files"):
        await sandbox.send_modal_submit(
            "entry", {"files": [], "kind": "a"}, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
    with pytest.raises(ValueError, match="add_upload"):
        await sandbox.send_modal_submit(
            "entry", {"files": ["42"], "kind": "a"}, channel_id=GENERAL_ID, user_id=ALICE_ID
        )


class TooManyFiles(discord.ui.Modal, title="Too many"):
    def __init__(self) -> None:
        super().__init__(custom_id="too-many")
        upload = discord.ui.FileUpload(custom_id="files", max_values=11)
        self.add_item(discord.ui.Label(text="Files", component=upload))


async def test_a_modal_over_discords_limits_is_refused_with_50035(sandbox: DiscordSandbox) -> None:
    failures: asyncio.Queue[BaseException] = asyncio.Queue()

    @app_commands.command(name="many", description="Open an over-limit modal")
    async def many(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_modal(TooManyFiles())
        except discord.HTTPException as exc:
            await failures.put(exc)

    bot = make_bot()
    bot.tree.add_command(many)
    async with running(bot, sandbox):
        await sandbox.send_slash_command(
            "many", guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
        refused = await asyncio.wait_for(failures.get(), timeout=5)

    assert isinstance(refused, discord.HTTPException)
    assert (refused.status, refused.code) == (400, 50035)
    assert "too-many" not in sandbox.state.modals


def _labelled(component: dict[str, Any], **label: Any) -> dict[str, Any]:
    return {
        "custom_id": "m",
        "title": "Title",
        "components": [{"type": 18, "label": "Label", **label, "component": component}],
    }


RADIO = {"type": 21, "custom_id": "r", "options": [{"label": "A", "value": "a"}] * 2}


@pytest.mark.parametrize(
    ("modal", "field"),
    [
        (_labelled(RADIO) | {"title": "x" * 46}, "data.title"),
        (_labelled(RADIO, label="x" * 46), "data.components.0.label"),
        (_labelled(RADIO, label=""), "data.components.0.label"),
        (_labelled(RADIO, description="x" * 101), "data.components.0.description"),
        (
            {**_labelled(RADIO), "components": _labelled(RADIO)["components"] * 6},
            "data.components",
        ),
        (
            _labelled({**RADIO, "options": RADIO["options"][:1]}),
            "data.components.0.component.options",
        ),
        (
            _labelled({**RADIO, "options": RADIO["options"] * 6}),
            "data.components.0.component.options",
        ),
        (
            _labelled({**RADIO, "options": [{"label": "x" * 101, "value": "a"}] * 2}),
            "data.components.0.component.options.0.label",
        ),
        (
            _labelled({**RADIO, "options": [{"label": "A", "value": "v" * 101}] * 2}),
            "data.components.0.component.options.0.value",
        ),
        (_labelled({**RADIO, "custom_id": "c" * 101}), "data.components.0.component.custom_id"),
        (
            _labelled({"type": 19, "custom_id": "f", "min_values": 11}),
            "data.components.0.component.min_values",
        ),
        (
            _labelled({"type": 19, "custom_id": "f", "max_values": 0}),
            "data.components.0.component.max_values",
        ),
        (
            _labelled({"type": 19, "custom_id": "f", "min_values": 3, "max_values": 2}),
            "data.components.0.component.min_values",
        ),
        (_labelled({"type": 2, "custom_id": "b"}), "data.components.0.component.type"),
    ],
)
def test_modal_limits_refuse_as_discord_does(modal: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as refused:
        validate_modal(modal)
    assert refused.value.status == 400
    assert refused.value.body["code"] == 50035
    assert field in refused.value.body["errors"]


def test_modals_at_the_limits_are_accepted() -> None:
    files = {"type": 19, "custom_id": "f", "min_values": 0, "max_values": 10, "required": False}
    radio = {**RADIO, "options": [{"label": "x" * 100, "value": f"{n}" * 100} for n in range(10)]}
    modal = {
        "custom_id": "m" * 100,
        "title": "t" * 45,
        "components": [
            {"type": 18, "label": "l" * 45, "description": "d" * 100, "component": files},
            {"type": 18, "label": "Kind", "component": radio},
            {"type": 18, "label": "Text", "component": {"type": 4, "custom_id": "t", "style": 1}},
            {"type": 10, "content": "Read this first"},
            {"type": 1, "components": [{"type": 4, "custom_id": "u", "label": "Old", "style": 2}]},
        ],
    }
    validate_modal(modal)
