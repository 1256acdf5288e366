"""GET /media/{key}: stored files served with their sniffed type, safely, cacheably, in ranges."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from yarl import URL

from bot.media import LocalMediaStore, StoredMedia
from bot.process import build_web_app
from bot.runtime import Runtime, build_runtime
from bot.settings import load_settings
from bot.web.app import start_site
from bot.web.media import CHUNK_BYTES
from tests.media_samples import MP4, PDF, png_1x1

PNG = png_1x1()


@dataclass
class Served:
    """The process's web app on a free port, its runtime and a client."""

    runtime: Runtime
    client: aiohttp.ClientSession
    port: int

    def url(self, key: str) -> URL:
        return URL(f"http://127.0.0.1:{self.port}/media/{key}", encoded=True)

    async def put(self, data: bytes, content_type: str, filename: str) -> StoredMedia:
        return await self.runtime.media.put(data, content_type=content_type, filename=filename)


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[Served]:
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[web]\npublic_url = "https://acme.example"\n[media]\ndir = "{tmp_path / "media"}"\n',
        encoding="utf-8",
    )
    database = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"  # the route reads no table
    runtime = build_runtime(load_settings(config, environ={"FLYWHEEL_DATABASE_URL": database}))
    runner, port = await start_site(build_web_app(runtime), "127.0.0.1", 0)
    async with aiohttp.ClientSession() as client:
        yield Served(runtime, client, port)
    await runner.cleanup()
    await runtime.close()


async def test_the_runtime_keeps_files_in_the_configured_folder_under_the_public_url(
    served, tmp_path
):
    stored = await served.put(PNG, "image/png", "p.png")

    assert isinstance(served.runtime.media, LocalMediaStore)
    assert (tmp_path / "media" / stored.key).read_bytes() == PNG
    assert served.runtime.media.url(stored.key) == f"https://acme.example/media/{stored.key}"


async def test_an_image_is_served_inline_with_its_sniffed_type_and_no_way_to_run_script(served):
    stored = await served.put(PNG, "image/png", "../../sunset.png")

    async with served.client.get(served.url(stored.key)) as response:
        body = await response.read()
        headers = response.headers

    assert response.status == 200 and body == PNG
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert headers["Content-Disposition"] == (
        "inline; filename=\"sunset.png\"; filename*=UTF-8''sunset.png"
    )
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["ETag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Length"] == str(len(PNG))


async def test_a_pdf_is_served_as_an_attachment_and_a_name_in_any_script_survives(served):
    stored = await served.put(PDF, "application/pdf", 'Résumé "final".pdf')

    async with served.client.get(served.url(stored.key)) as response:
        assert response.status == 200 and await response.read() == PDF
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"] == (
            'attachment; filename="R_sum_ _final_.pdf"; '
            "filename*=UTF-8''R%C3%A9sum%C3%A9%20_final_.pdf"
        )


async def test_a_cached_copy_is_confirmed_with_304(served):
    stored = await served.put(PNG, "image/png", "p.png")
    etag = f'"{stored.sha256}"'

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        async with served.client.get(
            served.url(stored.key), headers={"If-None-Match": header}
        ) as response:
            assert response.status == 304, header
            assert await response.read() == b"" and response.headers["ETag"] == etag
    async with served.client.get(
        served.url(stored.key), headers={"If-None-Match": '"other"'}
    ) as response:
        assert response.status == 200 and await response.read() == PNG


async def test_head_gives_the_headers_without_the_body(served):
    stored = await served.put(MP4, "video/mp4", "clip.mp4")

    async with served.client.head(served.url(stored.key)) as response:
        assert response.status == 200 and await response.read() == b""
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.headers["Content-Length"] == str(len(MP4))


async def test_a_video_is_served_in_ranges(served):
    video = MP4 + bytes(range(256)) * 4000  # over a chunk, so the body is streamed in parts
    assert len(video) > CHUNK_BYTES
    stored = await served.put(video, "video/mp4", "clip.mp4")
    url = served.url(stored.key)

    cases = {
        "bytes=2-5": (206, video[2:6], f"bytes 2-5/{len(video)}"),
        "bytes=-4": (206, video[-4:], f"bytes {len(video) - 4}-{len(video) - 1}/{len(video)}"),
        f"bytes={CHUNK_BYTES - 1}-": (
            206,
            video[CHUNK_BYTES - 1 :],
            f"bytes {CHUNK_BYTES - 1}-{len(video) - 1}/{len(video)}",
        ),
        "bytes=0-999999999": (206, video, f"bytes 0-{len(video) - 1}/{len(video)}"),
        "bytes=0-1,4-5": (200, video, None),  # several ranges: the whole file
        "lines=1-2": (200, video, None),
    }
    for header, (status, body, content_range) in cases.items():
        async with served.client.get(url, headers={"Range": header}) as response:
            assert response.status == status, header
            assert await response.read() == body, header
            assert response.headers.get("Content-Range") == content_range, header

    async with served.client.get(url, headers={"Range": f"bytes={len(video)}-"}) as response:
        assert response.status == 416
        assert response.headers["Content-Range"] == f"bytes */{len(video)}"
    async with served.client.get(
        url, headers={"Range": "bytes=2-5", "If-Range": '"an-older-version"'}
    ) as response:
        assert response.status == 200 and await response.read() == video
    async with served.client.get(url) as response:
        assert response.status == 200 and await response.read() == video


async def test_an_unknown_malformed_or_deleted_key_is_404(served):
    stored = await served.put(PNG, "image/png", "p.png")
    await served.put(PNG, "image/png", "other.png")

    keys = [
        "..%2Fx",
        "..%2F..%2Fbot.toml",
        "%2E%2E%2Fmedia",
        f"{stored.key}.json",
        f"{stored.key[:-4]}.svg",
        stored.key.upper(),
        "0123456789abcdef.png",
    ]
    for key in keys:
        async with served.client.get(served.url(key)) as response:
            assert response.status == 404, key

    assert await served.runtime.media.delete(stored.key)
    async with served.client.get(served.url(stored.key)) as response:
        assert response.status == 404
        assert "withdrawn" in await response.text()
