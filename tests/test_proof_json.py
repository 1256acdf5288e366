"""GET /proof.json: approved public submissions as the brand's site reads them, consent first."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event
from yarl import URL

from bot.clock import FakeClock
from bot.commands import CommandNames
from bot.media import LocalMediaStore
from bot.process import build_web_app
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.services import ugc
from bot.services.callers import Actor, Role
from bot.services.channels import set_channel
from bot.services.ugc.public import encode_cursor
from bot.settings import load_settings
from bot.web.app import start_site
from bot.web.proof import etag_matches
from tests.conftest import make_spaces
from tests.held_lock import write_lock_held
from tests.services.test_ugc import actor, draft, picture

RULES = ugc.UgcRules(daily_limit=100, max_attachments=4, max_bytes=64 * 1024)
TOML = (
    '[community]\nname = "Acme Makers"\nslug = "acme"\ntimezone = "Europe/Berlin"\n'
    '[web]\npublic_url = "https://proof.example"\n'
)


@dataclass
class Proof:
    """The process's web app on a free port, its runtime, a client and a moderator."""

    runtime: Runtime
    client: aiohttp.ClientSession
    port: int
    clock: FakeClock
    mod: Actor

    def url(self, query: str = "") -> URL:
        return URL(f"http://127.0.0.1:{self.port}/proof.json{query}", encoded=True)

    async def get(self, query: str = "", **headers: str) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.client.get(self.url(query), headers=headers) as response:
            raw = await response.read()
        return response.status, raw, response

    async def page(self, query: str = "") -> dict[str, Any]:
        status, raw, _ = await self.get(query)
        assert status == 200, raw
        document: dict[str, Any] = json.loads(raw)
        return document

    async def share(
        self,
        user: str,
        consent: str,
        *,
        title: str = "",
        story: str = "I baked it with the new mixer.",
        decision: ugc.Decision = ugc.Decision.APPROVE,
        files: bool = True,
    ) -> str:
        """Submit as ``user`` and have it decided; return the submission's public id."""
        runtime = self.runtime
        async with runtime.sessions() as session, session.begin():
            member = await actor(session, self.clock, runtime.community_id, user)
            view = await ugc.submit(
                session,
                self.clock,
                member,
                draft(title or f"{user} post", consent=consent, story=story),
                (picture(),) if files else (),
                store=runtime.media,
                rules=RULES,
            )
            await ugc.decide(
                session,
                self.clock,
                self.mod,
                view.uid,
                decision,
                rules=RULES,
                store=runtime.media,
                commands=CommandNames(),
            )
        return view.uid

    async def withdraw(self, user: str, uid: str) -> None:
        async with self.runtime.sessions() as session, session.begin():
            member = await actor(session, self.clock, self.runtime.community_id, user)
            await ugc.withdraw(
                session, self.clock, member, uid, delete=False, store=self.runtime.media
            )


@pytest.fixture
async def proof(tmp_path, database_url, committed, clock) -> AsyncIterator[Proof]:
    config = tmp_path / "bot.toml"
    config.write_text(TOML + f'[media]\ndir = "{tmp_path / "media"}"\n', encoding="utf-8")
    settings = load_settings(config, environ={"FLYWHEEL_DATABASE_URL": database_url})
    runtime = build_runtime(settings, clock=clock)
    await bootstrap_community(runtime)
    async with runtime.sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        assert discord.community_id == runtime.community_id
        mod = await actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
        for purpose, channel in (("ugc-review", "901"), ("showcase", "902")):
            await set_channel(session, clock, mod, purpose, channel)
    runner, port = await start_site(build_web_app(runtime), "127.0.0.1", 0)
    async with aiohttp.ClientSession() as client:
        yield Proof(runtime, client, port, clock, mod)
    await runner.cleanup()
    await runtime.close()


async def test_each_consent_choice_is_respected_and_a_name_shows_only_when_agreed(proof):
    named = await proof.share("ada", "public_named")
    proof.clock.advance(60)
    anonymous = await proof.share("bob", "public_anonymous", title="A cake")
    proof.clock.advance(60)
    await proof.share("cy", "community", title="Members only")

    status, raw, response = await proof.get()

    assert status == 200
    document = json.loads(raw)
    assert document["community"] == "Acme Makers" and document["next"] is None
    by_id = {item["id"]: item for item in document["items"]}
    assert list(by_id) == [anonymous, named]  # newest first; "community only" is absent
    assert by_id[named]["author"] == "Ada"
    assert by_id[anonymous]["author"] is None
    assert by_id[anonymous]["title"] == "A cake"
    assert b"bob" not in raw.lower()  # no trace of the name anywhere in the body
    assert b"Members only" not in raw and b"Cy" not in raw
    (media,) = by_id[named]["media"]
    assert media["url"].startswith("https://proof.example/media/")
    assert media["content_type"] == "image/png"
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_withdrawn_item_leaves_at_once_and_the_etag_changes(proof):
    named = await proof.share("ada", "public_named")
    anonymous = await proof.share("bob", "public_anonymous", title="bob's cake")
    _, _, before = await proof.get()

    await proof.withdraw("ada", named)

    _, raw, after = await proof.get()
    assert [item["id"] for item in json.loads(raw)["items"]] == [anonymous]
    assert after.headers["ETag"] != before.headers["ETag"]
    # a cache that kept the old page is told it changed
    status, _, _ = await proof.get(**{"If-None-Match": before.headers["ETag"]})
    assert status == 200


async def test_paging_45_items_by_20_gives_20_20_5_newest_first_without_duplicates(proof):
    shared = []
    for index in range(45):
        if index % 3 == 0:
            proof.clock.advance(1)  # the rest share an instant: the id breaks the tie
        shared.append(
            await proof.share(f"m{index}", "public_named", title=f"Post {index}", files=False)
        )

    sizes, seen, query = [], [], "?limit=20"
    while True:
        document = await proof.page(query)
        sizes.append(len(document["items"]))
        seen += [item["id"] for item in document["items"]]
        if document["next"] is None:
            break
        next_url = URL(document["next"])
        assert str(next_url).startswith("https://proof.example/proof.json?")
        assert next_url.query["limit"] == "20"
        query = "?" + next_url.raw_query_string

    assert sizes == [20, 20, 5]
    assert seen == list(reversed(shared))
    assert len(set(seen)) == 45


async def test_featured_only_and_its_next_link_keep_the_filter(proof):
    plain = await proof.share("ada", "public_named")
    featured = [
        await proof.share(f"f{i}", "public_anonymous", decision=ugc.Decision.FEATURE)
        for i in range(3)
    ]

    first = await proof.page("?featured=1&limit=2")
    assert [item["id"] for item in first["items"]] == featured[:0:-1]
    assert all(item["featured"] for item in first["items"])
    assert "featured=1" in first["next"]
    rest = await proof.page("?" + URL(first["next"]).raw_query_string)
    assert [item["id"] for item in rest["items"]] == [featured[0]] and rest["next"] is None
    assert plain in {item["id"] for item in (await proof.page())["items"]}


async def test_an_unchanged_page_is_304_for_its_etag_a_list_holding_it_and_star(proof):
    await proof.share("ada", "public_named")
    _, raw, response = await proof.get()
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    for header in (etag, f'"stale", {etag}', f"W/{etag}", "*"):
        status, body, answer = await proof.get(**{"If-None-Match": header})
        assert status == 304, header
        assert body == b"" and answer.headers["ETag"] == etag
        assert answer.headers["Cache-Control"] == "public, max-age=60"
    status, body, _ = await proof.get(**{"If-None-Match": '"something-else"'})
    assert status == 200 and body == raw


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=", "limit"),
        ("?limit=%D9%A3", "limit"),  # an Arabic-Indic digit
        ("?limit=1&limit=2", "limit"),
        ("?before=not-a-cursor", "before"),
        ("?before=" + "A" * 100, "before"),
        ("?before=MTIzLmFiYw", "before"),  # base64 of "123.abc"
        ("?featured=maybe", "featured"),
    ],
)
async def test_a_bad_parameter_is_400_json_naming_it_and_what_to_send(proof, query, parameter):
    status, raw, response = await proof.get(query)

    assert status == 400
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    document = json.loads(raw)
    assert document["parameter"] == parameter
    assert document["error"].startswith(f"{parameter}: ")
    assert "send" in document["error"] or "follow" in document["error"]


async def test_html_in_a_story_is_inert_json_text(proof):
    story = '<script>alert("x")</script> & <img src=x onerror=alert(1)> \u2028 ok'
    await proof.share("ada", "public_named", story=story)

    _, raw, response = await proof.get()

    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<" not in raw and b">" not in raw and b"&" not in raw
    assert "\u2028".encode() not in raw
    (item,) = json.loads(raw)["items"]
    assert item["story"] == story


async def test_reading_does_not_wait_for_the_write_lock(proof, database_url):
    uid = await proof.share("ada", "public_named")

    with write_lock_held(database_url):
        document = await proof.page()

    assert [item["id"] for item in document["items"]] == [uid]


def test_if_none_match_is_compared_weakly_over_a_list():
    assert etag_matches('"a"', '"a"')
    assert etag_matches(' W/"a" ', '"a"')
    assert etag_matches('"b", "a"', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches("", '"a"')
    assert not etag_matches('"ab"', '"a"')


async def test_a_deep_page_is_a_range_of_the_public_index_not_a_scan(
    session, engine, backend, tmp_path
):
    if backend != "sqlite":
        pytest.skip("reads SQLite's query plan")
    seen: list[tuple[str, Any]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM ugc_submissions" in statement:
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", remember)
    try:
        cursor = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), 5)
        store = LocalMediaStore(tmp_path, public_url="https://proof.example")
        await ugc.public_page(session, 1, store=store, before=cursor)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", remember)

    ((statement, parameters),) = seen
    connection = await session.connection()
    plan = [
        row[-1]
        for row in await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    ]
    # Bounded on both sides by the cursor: a page 9,000 deep does not read the 9,000 above it.
    assert (
        "USING INDEX ix_ugc_submissions_public (community_id=? AND public_at>? AND public_at<?)"
        in plan[0]
    )
    assert not any("TEMP B-TREE" in step for step in plan)
