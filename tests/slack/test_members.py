"""The members feature on Slack, end to end: signed requests over real HTTP into the real bolt app,
through the services and the database, out to the sandbox's Web API."""

from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import func, select

from bot.models import Identity, LinkCode, Member, OutboxMessage
from bot.sandbox.slack import RecordedCall, SlackSandbox
from bot.services.communities import ensure_space
from bot.services.engagement import record_activity
from bot.services.identities import resolve_member
from bot.services.linking import start_link
from bot.slack.members import CANCEL_DELETE, CONFIRM_DELETE
from bot.slack.sender import SlackSender
from tests.slack.conftest import CHANNEL, MEMBER, Served, prompt_buttons

pytestmark = pytest.mark.e2e


async def command(served: Served, text: str, user_id: str = MEMBER) -> None:
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=CHANNEL
    )
    assert reply.status == 200
    assert reply.body == ""  # a bare ack: the answer goes to the response URL
    assert reply.elapsed < 2  # well inside Slack's 3 seconds, whatever the verb did


async def answer(sandbox: SlackSandbox, since: int = 0) -> RecordedCall:
    return await sandbox.wait_for_call("response_url", since=since)


async def test_a_signed_link_command_answers_only_the_member_with_an_eight_character_code(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "link")

    reply = await answer(sandbox)
    assert reply.args["response_type"] == "ephemeral"
    found = re.search(r"\*([A-Z2-9]{8})\*", reply.args["text"])
    assert found is not None
    code = found.group(1)
    assert f"`/link code:{code}`" in reply.args["text"]
    assert "On Discord" in reply.args["text"]
    assert sandbox.ephemeral_messages[-1]["recipient"] == MEMBER
    async with served.runtime.sessions() as session:
        stored = await session.scalar(select(LinkCode).where(LinkCode.code == code))
    assert stored is not None and stored.platform == "slack"


async def test_a_forged_signature_is_refused_and_runs_no_handler(
    served: Served, sandbox: SlackSandbox
) -> None:
    forged = await served.sender.send_slash_command(
        "/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL, forge=True
    )

    assert forged.status == 401
    assert sandbox.calls == []
    # A valid request afterwards is answered once: nothing of the forged one was left running.
    await command(served, "about")
    await answer(sandbox)
    assert len(sandbox.calls_to("response_url")) == 1
    async with served.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LinkCode)) == 0


async def test_a_link_code_from_discord_merges_the_members_and_reports_the_points(
    served: Served, sandbox: SlackSandbox
) -> None:
    runtime = served.runtime
    async with runtime.sessions() as session, session.begin():
        discord = await ensure_space(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            platform="discord",
            external_id="111",
        )
        member = await resolve_member(session, runtime.clock, space=discord, user_id="4242")
        await record_activity(
            session,
            runtime.clock,
            member_id=member.member_id,
            kind="message",
            points=30,
            source_key="discord:4242:msg:1",
        )
        issued = await start_link(
            session, runtime.clock, member_id=member.member_id, platform="discord"
        )
    typed = f"{issued.code[:4]}-{issued.code[4:]}"

    await command(served, f"link code:{typed}")

    reply = await answer(sandbox)
    assert "Your accounts are linked" in reply.args["text"]
    assert "*30 points* from 1 activity" in reply.args["text"]
    async with runtime.sessions() as session:
        platforms = (
            await session.scalars(
                select(Identity.platform).where(Identity.member_id == member.member_id)
            )
        ).all()
    assert sorted(platforms) == ["discord", "slack"]


async def test_a_domain_error_becomes_a_polite_ephemeral_reply(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "link ZZZZ2345")

    reply = await answer(sandbox)
    assert reply.args["response_type"] == "ephemeral"
    assert reply.args["replace_original"] is False
    assert reply.args["text"].startswith("That link code is unknown, used or expired.")


ERROR_REPLY = re.compile(
    r"Something went wrong \(error id ([0-9a-f]{8})\); the team has been told\."
)


async def test_an_unexpected_error_shows_an_error_id_that_is_in_the_log(
    served: Served,
    sandbox: SlackSandbox,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("the flux capacitor is empty")

    monkeypatch.setattr("bot.slack.members.about", broken)

    with caplog.at_level(logging.ERROR, logger="bot.slack.errors"):
        reply = await served.sender.send_slash_command(
            "/flywheel", "about", user_id=MEMBER, channel_id=CHANNEL
        )
        answered = await answer(sandbox)

    # Acknowledged at once even though the verb failed right after the ack.
    assert reply.status == 200 and reply.elapsed < 2
    found = ERROR_REPLY.fullmatch(answered.args["text"])
    assert found is not None
    assert answered.args["response_type"] == "ephemeral"
    logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_the_global_error_handler_answers_a_listener_that_fails_unguarded(
    served: Served, sandbox: SlackSandbox
) -> None:
    async def explode() -> None:
        raise RuntimeError("no ack, no guard")

    served.platform.app.action("explode")(explode)

    await served.sender.send_block_action("explode", "1", user_id=MEMBER, channel_id=CHANNEL)

    answered = await answer(sandbox)
    assert ERROR_REPLY.fullmatch(answered.args["text"]) is not None
    assert answered.args["replace_original"] is False


async def test_an_unknown_verb_is_answered_with_the_list_of_verbs_and_user_text_escaped(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "<!everyone>&co please")

    reply = await answer(sandbox)
    text = reply.args["text"]
    assert reply.args["response_type"] == "ephemeral"
    assert "`/flywheel &lt;!everyone&gt;&amp;co` is not something I know." in text
    assert "<!everyone>" not in text
    for verb in ("link [code]", "privacy export", "privacy delete", "about", "help"):
        assert f"`/flywheel {verb}`" in text


async def test_help_lists_every_verb_a_member_may_use(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "help")

    text = (await answer(sandbox)).args["text"]
    assert "is not something I know" not in text
    for verb in ("link [code]", "privacy export", "privacy delete", "about", "help"):
        assert text.count(f"• `/flywheel {verb}`") == 1
    assert "ritual create" not in text  # moderators' verbs are not offered to a member


async def test_privacy_export_queues_a_dm_that_carries_the_data_as_a_json_file(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "privacy export")
    reply = await answer(sandbox)
    assert reply.args["text"].startswith("I'm sending you a DM with your data")
    assert sandbox.calls_to("conversations.open") == []  # nothing leaves before the outbox runs

    runtime = served.runtime
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))
    assert await runtime.dispatcher.drain() == 1

    opened = sandbox.calls_to("conversations.open")
    assert [call.args["users"] for call in opened] == [MEMBER]
    completed = sandbox.calls_to("files.completeUploadExternal")
    assert len(completed) == 1 and completed[0].ok
    file_id = completed[0].response["files"][0]["id"]
    data = json.loads(sandbox.file_content(file_id))
    assert [i["user_id"] for i in data["identities"]] == [MEMBER]
    dm = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    # The name carries a reference to this export, so a retried upload finds its own file.
    assert re.fullmatch(r"flywheel-my-data-[0-9a-f]{8}\.json", dm[-1]["files"][0]["name"])
    assert "everything this community's Flywheel holds about you" in dm[-1]["text"]
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "sent" and row.external_id == file_id


async def test_privacy_delete_asks_first_and_the_confirm_button_erases_the_member(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "link")
    await answer(sandbox)
    await command(served, "privacy delete")
    asked = await sandbox.wait_for_call(
        lambda call: call.method == "response_url" and bool(call.args.get("blocks"))
    )
    buttons = prompt_buttons(asked)
    assert list(buttons) == [CONFIRM_DELETE, CANCEL_DELETE]
    async with served.runtime.sessions() as session:
        member_id = await session.scalar(
            select(Identity.member_id).where(Identity.user_id == MEMBER)
        )
    assert member_id is not None
    seen = len(sandbox.calls)

    await served.sender.send_block_action(
        CONFIRM_DELETE, buttons[CONFIRM_DELETE], user_id=MEMBER, channel_id=CHANNEL
    )

    done = await answer(sandbox, since=seen)
    assert done.args["replace_original"] is True
    assert done.args["text"].startswith("Done: your personal data has been erased.")
    async with served.runtime.sessions() as session:
        member = await session.get(Member, member_id)
        identities = await session.scalar(
            select(func.count()).select_from(Identity).where(Identity.user_id == MEMBER)
        )
        codes = await session.scalar(select(func.count()).select_from(LinkCode))
    assert member is not None and member.erased_at is not None and member.display_name is None
    assert identities == 0 and codes == 0


async def test_keeping_the_data_erases_nothing(served: Served, sandbox: SlackSandbox) -> None:
    await command(served, "link")  # the member exists from their first command on
    await answer(sandbox)
    await command(served, "privacy delete")
    asked = await sandbox.wait_for_call(
        lambda call: call.method == "response_url" and bool(call.args.get("blocks"))
    )
    seen = len(sandbox.calls)

    await served.sender.send_block_action(
        CANCEL_DELETE, prompt_buttons(asked)[CANCEL_DELETE], user_id=MEMBER, channel_id=CHANNEL
    )

    done = await answer(sandbox, since=seen)
    assert done.args["text"] == "Nothing was erased."
    async with served.runtime.sessions() as session:
        member = await session.scalar(
            select(Member).join(Identity).where(Identity.user_id == MEMBER)
        )
    assert member is not None and member.erased_at is None


async def test_about_names_the_community_and_links_the_proof_page(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command(served, "about")

    text = (await answer(sandbox)).args["text"]
    assert "for Acme Makers" in text
    assert "<https://acme.example/proof>" in text


async def test_opening_the_home_tab_publishes_the_members_points_and_platforms(
    served: Served, sandbox: SlackSandbox
) -> None:
    runtime = served.runtime
    async with runtime.sessions() as session, session.begin():
        slack = await ensure_space(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            platform="slack",
            external_id=sandbox.team_id,
        )
        member = await resolve_member(
            session, runtime.clock, space=slack, user_id=MEMBER, display_name="Ada <b>&"
        )
        for index in range(2):
            await record_activity(
                session,
                runtime.clock,
                member_id=member.member_id,
                kind="message",
                points=6,
                source_key=f"slack:{MEMBER}:msg:{index}",
            )

    reply = await served.sender.send_app_home_opened(MEMBER)

    assert reply.status == 200
    published = await sandbox.wait_for_call("views.publish")
    assert published.ok and published.args["user_id"] == MEMBER
    view = sandbox.home_views[MEMBER]
    texts = json.dumps(view["blocks"])
    assert "Hi Ada &lt;b&gt;&amp;!" in texts
    assert "*Points*\\n12" in texts
    assert "*Activities*\\n2" in texts
    assert "*Linked platforms*\\nSlack" in texts
    assert "/flywheel link" in texts  # not linked to Discord yet
    assert "coming soon" not in texts.lower()
