"""The Slack command harness: every verb, modal and button, driven with adversarial input.

It reads the verbs from the command router the app answers to, the message shortcuts from
the app's manifest, the modals from what the bot opened in the sandbox and the buttons from
every message and view it sent, and posts
signed requests as Slack does to the bot's HTTP endpoint. A verb added later is covered
without a new test; a modal element the harness cannot fill fails loudly. A file_input gets
adversarial files (``values.file_sample``) uploaded by the submitting member.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hypothesis import note
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.runtime import Runtime
from bot.sandbox.slack import SlackEventSender, SlackSandbox
from bot.sandbox.slack.sender import BotReply
from bot.slack.front import SlackFront
from bot.slack.manifest import slack_manifest
from tests.fuzz import values
from tests.fuzz.cases import RowCheck, owed, settle
from tests.fuzz.observe import UNEXPECTED, LogWatch, slack_pings

ACK_DEADLINE = 3.0  # Slack shows an error when the ack takes longer
PLAIN_TEXT_MAX = 3000  # what Slack lets a plain_text_input hold without a max_length
MESSAGE_METHODS = {"chat.postMessage", "chat.postEphemeral", "chat.update", "response_url"}
MAX_FILES = 10  # a file_input without max_files takes up to ten

# Stores a member's file in the sandbox and returns its file object.
Uploader = Callable[[values.FileSample], dict[str, Any]]


def _no_upload(sample: values.FileSample) -> dict[str, Any]:
    raise AssertionError("a modal has a file_input, but the harness was given no uploader")


def _input_value(
    element: dict[str, Any],
    case: values.Case,
    world: dict[str, list[str]],
    block_id: str = "",
    upload: Uploader = _no_upload,
) -> dict[str, Any]:
    """Return what Slack sends for one input element of a modal."""
    kind = element.get("type")
    if kind == "file_input":
        # An input block holds at least one file unless optional (then view_state may skip it);
        # Slack's picker offers only the listed extensions, so each name ends in one.
        count = case.integer(1, int(element.get("max_files") or MAX_FILES))
        extensions = [str(e) for e in element.get("filetypes") or []]
        files = [upload(values.file_sample(case, extensions=extensions)) for _ in range(count)]
        return {"type": kind, "files": files}
    if kind in ("plain_text_input", "number_input", "url_text_input", "email_text_input"):
        low = int(element.get("min_length") or 0)
        high = int(element.get("max_length") or PLAIN_TEXT_MAX)
        hint = values.field_kind(block_id, str(element.get("action_id", "")))
        return {"type": kind, "value": case.text(high, min_size=low, kind=hint)}
    options = [o for g in element.get("option_groups") or [] for o in g["options"]]
    options += element.get("options") or []
    if kind in ("static_select", "radio_buttons"):
        return {"type": kind, "selected_option": case.pick(options)}
    if kind in ("checkboxes", "multi_static_select"):
        chosen = {o["value"]: o for o in options if case.flag()}
        return {"type": kind, "selected_options": list(chosen.values())}
    if kind in ("conversations_select", "channels_select", "users_select"):
        pool = world["users" if kind == "users_select" else "conversations"]
        key = {
            "conversations_select": "selected_conversation",
            "channels_select": "selected_channel",
        }
        return {"type": kind, key.get(kind, "selected_user"): case.pick(pool)}
    if kind in ("multi_conversations_select", "multi_channels_select", "multi_users_select"):
        pool = world["users" if kind == "multi_users_select" else "conversations"]
        key = (
            kind.removeprefix("multi_")
            .replace("_select", "s")
            .replace("conversations", "conversations")
        )
        return {"type": kind, f"selected_{key}": [v for v in pool if case.flag()]}
    if kind == "timepicker":
        return {
            "type": kind,
            "selected_time": f"{case.integer(0, 23):02d}:{case.integer(0, 59):02d}",
        }
    if kind == "datepicker":
        day = date(2026, 1, 1) + timedelta(days=case.integer(-400, 800))
        return {"type": kind, "selected_date": day.isoformat()}
    raise AssertionError(
        f"a modal has a {kind!r} input that tests/fuzz/slack_harness.py cannot fill yet: teach it"
    )


def view_state(
    view: dict[str, Any],
    case: values.Case,
    world: dict[str, list[str]],
    upload: Uploader = _no_upload,
) -> dict[str, dict[str, Any]]:
    """Fill a modal's state: every required input, the optional ones sometimes."""
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        if block.get("optional") and not case.flag():
            continue
        state[str(block["block_id"])] = {
            str(element["action_id"]): _input_value(element, case, world, upload=upload)
        }
    return state


def buttons_in(blocks: Any) -> list[dict[str, Any]]:
    """Return the buttons (with action_id) among a list of blocks."""
    found = []
    for block in blocks or []:
        for element in block.get("elements") or []:
            if (
                element.get("type") == "button"
                and element.get("action_id")
                and not element.get("url")
            ):
                found.append({**element, "block_id": block.get("block_id")})
        accessory = block.get("accessory") or {}
        if (
            accessory.get("type") == "button"
            and accessory.get("action_id")
            and not accessory.get("url")
        ):
            found.append({**accessory, "block_id": block.get("block_id")})
    return found


@dataclass(repr=False)
class Harness:
    """One Slack app, one sandbox, one database: the state the cases run against, in turn."""

    sandbox: SlackSandbox
    sender: SlackEventSender
    front: SlackFront
    runtime: Runtime
    engine: AsyncEngine
    watch: LogWatch
    members: list[str]
    channel_id: str
    bystanders: set[str]
    cases: int = 0
    rows: RowCheck = field(init=False)
    outcomes: dict[str, int] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)
    tried_order: list[str] = field(default_factory=list)
    opened: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # view -> opener
    conversations: list[str] = field(default_factory=list)
    shortcuts: list[str] = field(init=False)  # message shortcuts' callback ids

    def __post_init__(self) -> None:
        self.rows = RowCheck(self.engine, self.watch)
        manifest = slack_manifest(self.runtime.settings, public_url="https://fuzz.example")
        found = manifest["features"].get("shortcuts") or []
        unknown = [s["callback_id"] for s in found if s.get("type") != "message"]
        assert not unknown, f"tests/fuzz/slack_harness.py cannot drive global shortcuts {unknown}"
        self.shortcuts = [str(s["callback_id"]) for s in found]

    def __repr__(self) -> str:
        return f"<Slack harness after {self.cases} cases>"

    async def run(self, case: values.Case) -> None:
        """Run one case: a verb, a click or a form, then check every property."""
        before = await self.rows.before()
        self.rows.new_case()
        mark = len(self.sandbox.calls)
        user = case.pick(self.members)
        clicks = self._clickable(user)
        modals = sorted(self.opened)
        action = case.pick(["verb", "verb", "click", "form", "shortcut"])
        verbs = {verb.name for verb in self.front.commands.verbs} | {""}
        if owed(len(verbs - self.tried), self.cases):
            action = "verb"
        if action == "shortcut" and self.shortcuts:
            reply = await self._shortcut(case, user)
        elif action == "click" and clicks:
            where, button = case.pick(clicks)
            note(f"click {button['action_id']} by {user}")
            reply = await self.sender.send_block_action(
                str(button["action_id"]),
                button.get("value"),
                user_id=user,
                block_id=button.get("block_id"),
                **where,
            )
        elif action == "form" and modals:
            # A form opened before, opened again by the same member: each submission is new input.
            view_id = case.pick(modals)
            view = self.sandbox.views.get(view_id) or self.opened[view_id][1]
            reply = await self._submit(case, self.opened[view_id][0], view)
        else:
            reply = await self._verb(case, user)
        self._check_ack(reply)
        await settle(self.sandbox.calls)
        refusals = await self.rows.unchanged_if_refused(before)
        opened = [c for c in self.sandbox.calls[mark:] if c.method in ("views.open", "views.push")]
        for call in opened:
            if call.ok:
                self.opened[str(call.response["view"]["id"])] = (user, call.response["view"])
        if opened and opened[-1].ok and case.flag():
            # The form is a request of its own: what opening it wrote is not its to undo.
            before = await self.rows.before()
            self._check_ack(await self._submit(case, user, opened[-1].response["view"]))
            await settle(self.sandbox.calls)
            refusals += await self.rows.unchanged_if_refused(before)
        await self.runtime.dispatcher.drain()
        await settle(self.sandbox.calls)
        self._check(mark)
        key = refusals[0] if refusals else "answered"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.cases += 1

    async def _verb(self, case: values.Case, user: str) -> BotReply:
        verbs = [verb.name for verb in self.front.commands.verbs]
        # Round robin, so every verb is tried in every run (and no verb at all, too).
        verb = [*verbs, ""][len(self.tried_order) % (len(verbs) + 1)]
        self.tried_order.append(verb)
        self.tried.add(verb)
        # Nothing after the verb, a name (most verbs take one) or anything at all.
        rest = case.pick(["", case.text(200, kind="name"), case.text(400)])
        text = f"{verb} {rest}".strip() if verb else rest
        note(f"{self.front.commands.command} {text!r} by {user}")
        return await self.sender.send_slash_command(
            self.front.commands.command, text, user_id=user, channel_id=self.channel_id
        )

    async def _shortcut(self, case: values.Case, user: str) -> BotReply:
        """Run a message shortcut on a message already there, or on a fresh member message
        (adversarial text), perhaps a reply in a thread."""
        callback_id = case.pick(self.shortcuts)
        messages = self.sandbox.messages.get(self.channel_id, [])
        if messages and case.flag():
            ts = str(case.pick(messages)["ts"])
        else:
            parents = [str(m["ts"]) for m in messages if m.get("thread_ts") in (None, m["ts"])]
            posted = self.sandbox.add_user_message(
                self.channel_id,
                case.pick(self.members),
                case.text(400),
                thread_ts=case.pick([None, *parents[-5:]]),
            )
            ts = str(posted["ts"])
        note(f"shortcut {callback_id!r} on {ts} by {user}")
        return await self.sender.send_message_action(
            callback_id, user_id=user, channel_id=self.channel_id, message_ts=ts
        )

    async def _submit(self, case: values.Case, user: str, view: dict[str, Any]) -> BotReply:
        world = {
            "users": self.members + sorted(self.bystanders),
            "conversations": self.conversations,
        }

        def upload(sample: values.FileSample) -> dict[str, Any]:
            return self.sandbox.add_user_file(
                user, sample.name, sample.data, sample.content_type, size=sample.size
            )

        state = view_state(view, case, world, upload)
        note(f"submit {view.get('callback_id')!r} {state!r}")
        return await self.sender.send_view_submission(
            str(view.get("callback_id")),
            state,
            user_id=user,
            private_metadata=str(view.get("private_metadata") or ""),
            view_id=str(view["id"]),
        )

    def _clickable(self, user: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for channel, messages in self.sandbox.messages.items():
            for message in messages:
                where = {"channel_id": channel, "message_ts": message.get("ts")}
                found += [(where, b) for b in buttons_in(message.get("blocks"))]
        for message in self.sandbox.ephemeral_messages:
            if message.get("recipient") == user and message.get("channel"):
                where = {"channel_id": message["channel"], "message_ts": message.get("ts")}
                found += [(where, b) for b in buttons_in(message.get("blocks"))]
        for view in list(self.sandbox.views.values()) + list(self.sandbox.home_views.values()):
            found += [({"view": view}, b) for b in buttons_in(view.get("blocks"))]
        return found

    # -- the properties --------------------------------------------------------------------

    def _check_ack(self, reply: BotReply) -> None:
        assert reply.elapsed < ACK_DEADLINE, f"acknowledged after {reply.elapsed:.2f} s"
        assert reply.status == 200, f"answered {reply.status}: {reply.body[:300]}"
        answer = reply.json() if reply.body.startswith("{") else None
        if isinstance(answer, dict) and answer.get("response_action") == "errors":
            for message in answer.get("errors", {}).values():
                assert UNEXPECTED not in message

    def _check(self, mark: int) -> None:
        failures = self.watch.failures()
        assert not failures, f"our own fault on merely bad input: {failures[:3]}"
        for call in self.sandbox.calls[mark:]:
            if call.method not in MESSAGE_METHODS and not call.method.startswith("views."):
                continue
            shown = json.dumps(call.args)[:300]
            assert call.ok, f"Slack refused {call.method}: {call.response.get('error')} {shown}"
            assert UNEXPECTED not in json.dumps(call.args), f"{call.method}: {shown}"
            args = call.args.get("view") if call.method.startswith("views.") else call.args
            if isinstance(args, str):
                args = json.loads(args)
            pings = slack_pings(args or {}, self.bystanders)
            assert not pings, f"{call.method} would notify {pings}: {shown}"
