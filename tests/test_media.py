"""The media store: types read from the bytes, refusals that say what to do, the local store, fetch."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.errors import Invalid
from bot.media import (
    LocalMediaStore,
    MediaStore,
    StoredMedia,
    check_file,
    fetch,
    safe_filename,
    sniff,
    valid_key,
)
from bot.web.app import start_site
from tests.media_samples import ALLOWED, GIF, JPEG, PDF, REFUSED, png_1x1

LIMIT = 8 * 1024 * 1024
PNG = png_1x1()


# -- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ALLOWED))
def test_each_allowed_kind_is_recognised_from_its_bytes(kind):
    data, content_type = ALLOWED[kind]
    assert sniff(data) == content_type


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_anything_else_sniffs_as_nothing(kind):
    assert sniff(REFUSED[kind]) is None


def test_a_png_claimed_as_text_is_kept_as_a_png_and_the_disagreement_is_noted():
    checked = check_file(PNG, filename="notes.txt", claimed_type="text/plain", max_bytes=LIMIT)

    assert checked.content_type == "image/png"
    assert checked.filename == "notes.png"
    assert checked.claimed_type == "text/plain" and checked.claim_disagreed
    assert checked.size == len(PNG) and checked.data == PNG


def test_a_lie_between_allowed_kinds_is_fine_the_bytes_win():
    checked = check_file(JPEG, filename="cat.png", claimed_type="image/png", max_bytes=LIMIT)

    assert checked.content_type == "image/jpeg" and checked.filename == "cat.jpg"
    assert checked.claim_disagreed


def test_a_truthful_claim_with_parameters_and_aliases_is_not_a_disagreement():
    checked = check_file(
        JPEG, filename="cat.jpeg", claimed_type="Image/JPG; charset=binary", max_bytes=LIMIT
    )

    assert not checked.claim_disagreed and checked.filename == "cat.jpeg"


def test_html_claimed_as_a_png_is_refused_and_the_message_says_the_claim_was_wrong():
    with pytest.raises(Invalid) as refused:
        check_file(REFUSED["html"], filename="photo.png", claimed_type="image/png", max_bytes=LIMIT)

    assert refused.value.field == "file" and refused.value.code == "file.type_mismatch"
    assert "“photo.png” says it is image/png" in refused.value.message
    assert "not an image, a video or a PDF" in refused.value.message


@pytest.mark.parametrize("kind", ["svg", "html", "exe", "text"])
def test_a_file_of_another_kind_is_refused_naming_it_and_what_to_share(kind):
    with pytest.raises(Invalid) as refused:
        check_file(REFUSED[kind], filename=f"thing.{kind}", claimed_type=None, max_bytes=LIMIT)

    assert refused.value.code == "file.type" and refused.value.field == "file"
    message = refused.value.message
    assert message.startswith(f"“thing.{kind}” is not an image, a video or a PDF; share a PNG")


def test_a_file_without_a_visible_name_is_called_the_file():
    with pytest.raises(Invalid) as refused:
        check_file(b"", filename="\u202e/", claimed_type=None, max_bytes=LIMIT)

    assert refused.value.message.startswith("The file is empty; choose the file again")


def test_an_empty_file_is_refused():
    with pytest.raises(Invalid) as refused:
        check_file(b"", filename="blank.png", claimed_type="image/png", max_bytes=LIMIT)

    assert refused.value.code == "file.empty" and "“blank.png” is empty" in refused.value.message


def test_a_file_over_the_limit_is_refused_with_both_sizes_and_what_to_do():
    big = PNG + b"\x00" * int(12.3 * 1024 * 1024)
    with pytest.raises(Invalid) as refused:
        check_file(big, filename="huge.png", claimed_type="image/png", max_bytes=LIMIT)

    assert refused.value.code == "file.too_large"
    assert refused.value.message == (
        "“huge.png” is 12.3 MB; the limit is 8 MB — share a smaller file or a link."
    )


def test_a_file_just_over_the_limit_shows_exact_byte_counts():
    with pytest.raises(Invalid) as refused:
        check_file(PNG + b"\x00" * LIMIT, filename="a.png", claimed_type=None, max_bytes=LIMIT)

    assert f"is {len(PNG) + LIMIT:,} bytes; the limit is {LIMIT:,} bytes" in refused.value.message


def test_the_named_file_in_a_refusal_is_cut_and_its_controls_are_gone():
    with pytest.raises(Invalid) as refused:
        check_file(b"", filename="x" * 300 + "\u202e.png", claimed_type=None, max_bytes=LIMIT)

    quoted = refused.value.message.split("”")[0].removeprefix("“")
    assert len(quoted) == 60 and quoted.endswith("…") and "\u202e" not in quoted


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "content_type", "expected"),
    [
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("..\\..\\windows\\win.ini", "application/pdf", "win.pdf"),
        ("holiday\u202egnp.exe", "image/png", "holidaygnp.png"),
        ("photo\u200b.jpeg", "image/jpeg", "photo.jpeg"),
        ("clip.MOV", "video/quicktime", "clip.mov"),
        ("report.final.pdf", "application/pdf", "report.final.pdf"),
        ("v1.2", "image/gif", "v1.2.gif"),
        (".htaccess", "image/png", "htaccess.png"),
        ('a"b<c>:d|e?f*.png', "image/png", "a_b_c__d_e_f_.png"),
        ("line\nbreak\x00.webm", "video/webm", "linebreak.webm"),
        ("", "video/mp4", "file.mp4"),
        ("/", "video/mp4", "file.mp4"),
        ("   ...   ", "image/webp", "file.webp"),
    ],
)
def test_a_filename_is_made_safe_to_store_and_show(given, content_type, expected):
    assert safe_filename(given, content_type) == expected


def test_a_long_filename_is_cut_to_100_characters_keeping_its_extension():
    name = safe_filename("é" * 300 + ".png", "image/png")

    assert len(name) == 100 and name.endswith("é.png")


# -- the local store -------------------------------------------------------------------------


def store_in(root: Path) -> LocalMediaStore:
    return LocalMediaStore(root, public_url="https://acme.example/")


async def test_a_file_is_stored_read_back_and_deleted(tmp_path):
    store: MediaStore = store_in(tmp_path / "media")
    stored = await store.put(GIF, content_type="image/gif", filename="../wave.gif")

    assert stored == StoredMedia(
        key=stored.key,
        content_type="image/gif",
        size=len(GIF),
        sha256=hashlib.sha256(GIF).hexdigest(),
        filename="wave.gif",
    )
    assert valid_key(stored.key) and stored.key.endswith(".gif")
    assert store.url(stored.key) == f"https://acme.example/media/{stored.key}"
    assert await store.get(stored.key) == (GIF, "image/gif")
    assert await store.stat(stored.key) == stored
    assert await store.read(stored.key, 2, 6) == GIF[2:6]

    assert await store.delete(stored.key) is True
    assert await store.get(stored.key) is None and await store.stat(stored.key) is None
    assert await store.delete(stored.key) is False
    assert sorted(path.name for path in (tmp_path / "media").iterdir()) == []


async def test_the_folder_is_made_on_the_first_write_and_each_file_gets_its_own_key(tmp_path):
    store = store_in(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()

    first = await store.put(PDF, content_type="application/pdf", filename="x.pdf")
    second = await store.put(PDF, content_type="application/pdf", filename="x.pdf")

    assert first.key != second.key and first.sha256 == second.sha256
    names = sorted(path.name for path in (tmp_path / "a" / "b").iterdir())
    assert names == sorted([first.key, f"{first.key}.json", second.key, f"{second.key}.json"])


async def test_bytes_that_are_not_the_type_given_are_never_stored(tmp_path):
    store = store_in(tmp_path)

    with pytest.raises(ValueError, match="sniff as None"):
        await store.put(REFUSED["html"], content_type="image/png", filename="x.png")
    with pytest.raises(ValueError, match="image/jpeg, not image/png"):
        await store.put(JPEG, content_type="image/png", filename="x.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "../../etc/passwd",
        "0123456789abcdef.png.json",
        "0123456789ABCDEF.png",
        "0123456789abcdef.svg",
        "0123456789abcdef",
        "/etc/passwd",
        "0123456789abcdef.png\x00",
        "",
    ],
)
async def test_a_malformed_key_touches_no_file(tmp_path, key):
    store = store_in(tmp_path / "missing")
    stored = await store_in(tmp_path).put(PNG, content_type="image/png", filename="p.png")
    (tmp_path / "missing").symlink_to(tmp_path)  # a store that would find it by a bad key

    assert not valid_key(key)
    assert await store.get(key) is None and await store.stat(key) is None
    assert await store.read(key, 0, 10) is None and await store.delete(key) is False
    assert await store.stat(stored.key) == stored
    with pytest.raises(ValueError, match="not a media key"):
        store.url(key)


async def test_a_damaged_record_is_not_served(tmp_path, caplog):
    store = store_in(tmp_path)
    stored = await store.put(PNG, content_type="image/png", filename="p.png")
    (tmp_path / f"{stored.key}.json").write_text("{not json")

    with caplog.at_level(logging.WARNING):
        assert await store.stat(stored.key) is None
    assert "unreadable" in caplog.text


# -- fetch -----------------------------------------------------------------------------------


@dataclass
class FileServer:
    """A local server of files to fetch, noting what it received and what it sent."""

    port: int = 0
    authorizations: list[str | None] = field(default_factory=list)
    streamed: int = 0
    stream_ended: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


STREAM_TOTAL = 64 * 1024 * 1024


@pytest.fixture
async def file_server() -> AsyncIterator[FileServer]:
    server = FileServer()

    async def private(request: web.Request) -> web.Response:
        server.authorizations.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer xoxb-secret-token":
            return web.Response(status=403, text="not_authed")
        return web.Response(body=PNG, content_type="image/png")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to refuse it by
        await response.prepare(request)
        try:
            while server.streamed < STREAM_TOTAL:
                await response.write(b"\x00" * 65536)
                server.streamed += 65536
        finally:
            server.stream_ended.set()
        return response

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * (2 * 1024 * 1024))

    async def slow(request: web.Request) -> web.Response:
        await server.release.wait()
        return web.Response(body=PNG)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{server.port}/private")

    app = web.Application()
    app.router.add_get("/private", private)
    app.router.add_get("/endless", endless)
    app.router.add_get("/declared", declared)
    app.router.add_get("/slow", slow)
    app.router.add_get("/redirect", redirect)
    runner, server.port = await start_site(app, "127.0.0.1", 0)
    yield server
    server.release.set()
    await runner.cleanup()


async def test_fetch_sends_the_front_ends_auth_header_and_never_logs_it(file_server, caplog):
    token = {"Authorization": "Bearer xoxb-secret-token"}
    with caplog.at_level(logging.DEBUG):
        fetched = await fetch(
            file_server.url("/private?sig=abc"), headers=token, max_bytes=LIMIT, timeout=10
        )
        with pytest.raises(Invalid) as refused:
            await fetch(file_server.url("/private?sig=abc"), max_bytes=LIMIT, timeout=10)

    assert fetched.data == PNG and fetched.content_type_header == "image/png"
    assert file_server.authorizations == ["Bearer xoxb-secret-token", None]
    assert refused.value.code == "file.fetch" and refused.value.field == "file"
    assert refused.value.message == (
        "Could not fetch the file (the server answered 403); try uploading it again."
    )
    assert "xoxb-secret-token" not in caplog.text and "sig=abc" not in caplog.text


async def test_fetch_does_not_carry_the_auth_header_to_another_origin(file_server):
    with pytest.raises(Invalid):
        await fetch(
            file_server.url("/redirect"),
            headers={"Authorization": "Bearer xoxb-secret-token"},
            max_bytes=LIMIT,
            timeout=10,
        )

    assert file_server.authorizations == [None]


async def test_fetch_stops_reading_past_the_limit(file_server):
    with pytest.raises(Invalid) as refused:
        await fetch(
            file_server.url("/endless"), max_bytes=1024 * 1024, timeout=30, filename="clip.mp4"
        )
    await asyncio.wait_for(file_server.stream_ended.wait(), timeout=10)

    assert refused.value.code == "file.too_large"
    assert refused.value.message == (
        "“clip.mp4” is larger than the limit of 1 MB — share a smaller file or a link."
    )
    assert file_server.streamed < STREAM_TOTAL // 4


async def test_fetch_refuses_a_declared_length_over_the_limit_before_reading(file_server):
    with pytest.raises(Invalid) as refused:
        await fetch(file_server.url("/declared"), max_bytes=1024 * 1024, timeout=10)

    assert "is 2 MB; the limit is 1 MB" in refused.value.message


async def test_fetch_gives_up_after_its_timeout(file_server):
    with pytest.raises(Invalid) as refused:
        await fetch(file_server.url("/slow"), max_bytes=LIMIT, timeout=0.2, filename="a.png")

    assert refused.value.code == "file.fetch_timeout"
    assert "“a.png” (it took too long); try uploading it again" in refused.value.message


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)", "http://", "::"]
)
async def test_fetch_takes_only_http_and_https(url):
    with pytest.raises(Invalid) as refused:
        await fetch(url, max_bytes=LIMIT, timeout=1)

    assert refused.value.code == "file.url"


async def test_fetch_names_a_refused_connection_without_a_traceback():
    with pytest.raises(Invalid) as refused:
        await fetch("http://127.0.0.1:9/x", max_bytes=LIMIT, timeout=5)  # discard: closed

    assert refused.value.code == "file.fetch" and "the connection failed" in refused.value.message
