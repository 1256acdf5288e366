"""The Discord command harness: every command the bot registers, driven with adversarial input.

It reads what the bot synced to the sandbox (every slash command, subcommand and option with
its type, choices and limits), the modals it opens and the components on the messages it
sent, and drives them through the real discord.py client. A command added later is covered
without a new test; an option type or modal component the harness cannot fill fails loudly.
Attachment options and file uploads get adversarial files (``values.file_sample``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import note
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox, RecordedCall
from tests.fuzz import values
from tests.fuzz.cases import RowCheck, owed, settle
from tests.fuzz.observe import UNEXPECTED, LogWatch, discord_pings

DEADLINE = 3.0  # Discord drops an interaction not answered within 3 s
FOLLOW_UP = 10.0  # generous: a deferred answer must arrive, but it has 15 minutes

CHAT_INPUT, SUB_COMMAND, SUB_GROUP = 1, 1, 2
MESSAGE_COMMAND = 3  # a context-menu command on a message (Apps → name)
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
CALLBACK_MESSAGE, CALLBACK_DEFERRED, CALLBACK_MODAL, CALLBACK_AUTOCOMPLETE = 4, 5, 9, 8
ATTACHMENT = 11
TEXT_INPUT, LABEL, ACTION_ROW, BUTTON, LINK_STYLE = 4, 18, 1, 2, 5
TEXT_DISPLAY, FILE_UPLOAD, RADIO_GROUP = 10, 19, 21

# Stores a member's upload in the sandbox and returns its attachment id.
Uploader = Callable[[values.FileSample], str]


@dataclass(frozen=True)
class Option:
    """One option of a command, as the bot registered it."""

    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def required(self) -> bool:
        return bool(self.spec.get("required"))


@dataclass(frozen=True)
class Command:
    """One invocable command: its path (``ritual host add``) and options, or a message command."""

    path: tuple[str, ...]
    options: tuple[Option, ...]
    kind: int = CHAT_INPUT

    def payload(self, filled: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Nest filled options under the subcommand (and group) names, as Discord sends them."""
        nested = filled
        for depth, name in reversed(list(enumerate(self.path[1:], start=1))):
            kind = SUB_COMMAND if depth == len(self.path) - 1 else SUB_GROUP
            nested = [{"type": kind, "name": name, "options": nested}]
        return nested


def commands_of(synced: list[dict[str, Any]]) -> list[Command]:
    """Return every invocable command in what the bot synced; fail on kinds not driven yet."""
    found: list[Command] = []

    def walk(path: tuple[str, ...], options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o.get("type") in (SUB_COMMAND, SUB_GROUP)]
        if subs:
            for sub in subs:
                walk((*path, str(sub["name"])), list(sub.get("options") or []))
            return
        found.append(Command(path, tuple(Option(o) for o in options)))

    for command in synced:
        kind = command.get("type", CHAT_INPUT)
        if kind == MESSAGE_COMMAND:
            found.append(Command((str(command["name"]),), (), MESSAGE_COMMAND))
            continue
        if kind != CHAT_INPUT:
            raise AssertionError(
                f"the bot registers a context-menu command {command['name']!r} (type {kind}) "
                "that tests/fuzz/discord_harness.py cannot drive yet: teach it"
            )
        walk((str(command["name"]),), list(command.get("options") or []))
    return found


@dataclass
class World:
    """The ids the harness may pick for user, channel and role options."""

    users: list[int]
    channels: list[int]
    roles: list[int]
    bystanders: set[str]


def option_value(option: Option, world: World, case: values.Case, upload: Uploader) -> Any:
    """Return one option's value, within what Discord itself enforces."""
    spec = option.spec
    kind = spec.get("type")
    if spec.get("choices"):
        return case.pick([choice["value"] for choice in spec["choices"]])
    if kind == STRING:
        low = max(int(spec.get("min_length") or 0), 1 if option.required else 0)
        high = int(spec.get("max_length") or 6000)
        return case.text(high, min_size=low, kind=values.field_kind(option.name))
    if kind == INTEGER:
        return case.integer(int(spec.get("min_value", -(2**53))), int(spec.get("max_value", 2**53)))
    if kind == NUMBER:
        return float(
            case.integer(int(spec.get("min_value", -1e15)), int(spec.get("max_value", 1e15)))
        )
    if kind == BOOLEAN:
        return case.flag()
    if kind == USER:
        return str(case.pick(world.users))
    if kind == CHANNEL:
        return str(case.pick(world.channels))
    if kind == ROLE:
        return str(case.pick(world.roles))
    if kind == MENTIONABLE:
        return str(case.pick(world.users + world.roles))
    if kind == ATTACHMENT:
        return upload(values.file_sample(case))
    raise AssertionError(
        f"option {option.name!r} has type {kind}, which tests/fuzz/discord_harness.py cannot "
        "fill yet: teach option_value() to"
    )


def filled_options(
    command: Command, world: World, case: values.Case, upload: Uploader
) -> list[dict[str, Any]]:
    """Fill a command's options: every required one, some of the others."""
    filled = []
    for option in command.options:
        if option.required or case.flag():
            value = option_value(option, world, case, upload)
            filled.append({"type": option.spec["type"], "name": option.name, "value": value})
    return filled


def modal_inputs(modal: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the inputs of a modal the bot opened, in action rows or labels; fail on new kinds."""
    inputs = []
    for top in modal.get("components") or []:
        if top.get("type") == TEXT_DISPLAY:
            continue  # text to read, nothing to fill
        inner = top.get("components") or [top.get("component") or {}]
        for component in inner:
            if component.get("type") not in (TEXT_INPUT, FILE_UPLOAD, RADIO_GROUP):
                raise AssertionError(
                    f"a modal has a component of type {component.get('type')} that "
                    "tests/fuzz/discord_harness.py cannot fill yet: teach modal_fields() to"
                )
            inputs.append(component)
    return inputs


def _files(component: dict[str, Any], case: values.Case, upload: Uploader) -> list[str]:
    """Upload what a member picks for a file upload: none if optional, else min to max files."""
    low = component.get("min_values")
    high = component.get("max_values")
    low, high = (1 if low is None else int(low)), (1 if high is None else int(high))
    if not component.get("required", True) and case.flag():
        return []
    count = case.integer(max(low, 1), max(high, 1))
    return [upload(values.file_sample(case)) for _ in range(count)]


def modal_fields(
    modal: dict[str, Any], case: values.Case, upload: Uploader
) -> dict[str, str | list[str] | None]:
    """Fill what a member enters into a modal, within what Discord's client enforces.

    Text within its lengths; a radio group's listed value (Discord sends nothing else), or
    none when optional; a file upload's adversarial files (values.file_sample).
    """
    fields: dict[str, str | list[str] | None] = {}
    for component in modal_inputs(modal):
        custom_id = str(component["custom_id"])
        required = component.get("required", True)
        if component["type"] == FILE_UPLOAD:
            fields[custom_id] = _files(component, case, upload)
        elif component["type"] == RADIO_GROUP:
            listed = [str(o["value"]) for o in component.get("options") or []]
            optional = not required and case.flag()
            fields[custom_id] = None if optional or not listed else case.pick(listed)
        else:
            low = max(int(component.get("min_length") or 0), 1 if required else 0)
            high = int(component.get("max_length") or 4000)
            kind = values.field_kind(custom_id, str(component.get("label", "")))
            fields[custom_id] = case.text(high, min_size=low, kind=kind)
    return fields


def components_on(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the clickable buttons and selects of a message."""
    found = []
    for row in message.get("components") or []:
        for component in row.get("components") or []:
            if component.get("disabled") or component.get("style") == LINK_STYLE:
                continue
            if component.get("type") != ACTION_ROW and component.get("custom_id"):
                found.append(component)
    return found


@dataclass(repr=False)
class Harness:
    """One bot, one sandbox, one database: the state the cases run against, in turn."""

    sandbox: DiscordSandbox
    runtime: Runtime
    engine: AsyncEngine
    watch: LogWatch
    commands: list[Command]
    world: World
    guild_id: int
    channel_id: int
    members: list[int]
    cases: int = 0
    rows: RowCheck = field(init=False)
    outcomes: dict[str, int] = field(default_factory=dict)
    tried: set[tuple[str, ...]] = field(default_factory=set)
    tried_order: list[tuple[str, ...]] = field(default_factory=list)
    opened: dict[str, int] = field(default_factory=dict)  # form custom_id -> who opened it

    def __post_init__(self) -> None:
        self.rows = RowCheck(self.engine, self.watch)

    def __repr__(self) -> str:
        return f"<Discord harness after {self.cases} cases>"

    # -- what a case does ------------------------------------------------------------------

    async def run(self, case: values.Case) -> None:
        """Run one case: a command, an autocomplete or a click, then check every property."""
        before = await self.rows.before()
        self.rows.new_case()
        mark = len(self.sandbox.calls)
        user = case.pick(self.members)
        clickable = self._clickable(user)
        action = case.pick(["command", "command", "autocomplete", "click", "form"])
        if owed(len({c.path for c in self.commands} - self.tried), self.cases):
            action = "command"
        modals = sorted(self.opened)
        if action == "form" and modals:
            # A form opened earlier (perhaps several cases ago), submitted by whoever opened it.
            # Discord closes a form when it is submitted, whatever the answer, and every opening
            # has its own custom id: each is submitted at most once.
            custom_id = case.pick(modals)
            answer = None
            opener = self.opened.pop(custom_id)
            await self._submit(case, opener, self.sandbox.state.modals[custom_id])
        elif action == "click" and clickable:
            message, component = case.pick(clickable)
            answer = await self._click(case, user, message, component)
        else:
            # Round robin, so every command is tried in every run; the case picks the rest.
            command = self.commands[len(self.tried_order) % len(self.commands)]
            self.tried_order.append(command.path)
            self.tried.add(command.path)
            note(f"/{' '.join(command.path)} by {user}")
            answer = await self._command(case, user, command, autocomplete=action == "autocomplete")
        await settle(self.sandbox.calls)
        refusals = await self.rows.unchanged_if_refused(before)
        if answer is not None and answer.json and answer.json.get("type") == CALLBACK_MODAL:
            if case.pick([True, True, False]):
                # The form is a request of its own: what opening it wrote is not its to undo.
                before = await self.rows.before()
                await self._submit(case, user, answer.json["data"])
                await settle(self.sandbox.calls)
                refusals += await self.rows.unchanged_if_refused(before)
            else:
                # Left open while other cases run (a ritual deleted meanwhile, say); submitted
                # by its opener in a later "form" case.
                self.opened[str(answer.json["data"]["custom_id"])] = user
        await self.runtime.dispatcher.drain()
        await settle(self.sandbox.calls)
        self._check(mark)
        key = refusals[0] if refusals else "answered"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.cases += 1

    async def _command(
        self, case: values.Case, user: int, command: Command, *, autocomplete: bool
    ) -> RecordedCall | None:
        if command.kind == MESSAGE_COMMAND:
            if autocomplete:
                return None  # a message command has no options to type
            target = await self._message(case)
            note(f"{command.path[0]!r} on message {target} by {user}")
            interaction = await self.sandbox.send_message_command(
                command.path[0], message_id=target, user_id=user
            )
            return await self._answered(interaction.callback_path, interaction.token)
        filled = filled_options(command, self.world, case, self._upload)
        if autocomplete:
            typed = [o for o in command.options if o.spec.get("autocomplete")]
            if not typed:
                return None
            option = case.pick(typed)
            partial = case.text(100)
            filled = [f for f in filled if f["name"] != option.name]
            filled.append({"type": STRING, "name": option.name, "value": partial, "focused": True})
            send = self.sandbox.send_autocomplete
        else:
            send = self.sandbox.send_slash_command  # type: ignore[assignment]
        note(f"options {filled!r}")
        interaction = await send(
            command.path[0],
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            user_id=user,
            options=command.payload(filled),
        )
        return await self._answered(interaction.callback_path, interaction.token)

    async def _message(self, case: values.Case) -> int:
        """Return a message to run a message command on: one already there, or a fresh one
        by a member (adversarial text), perhaps a reply to another."""
        seen = [
            int(m["id"])
            for m in self.sandbox.messages[self.channel_id]
            if not int(m.get("flags") or 0) & 64
        ]
        if seen and case.pick([True, False]):
            return int(case.pick(seen))
        reply_to = case.pick([None, *seen[-5:]])
        return await self.sandbox.send_message_create(
            self.channel_id, case.pick(self.members), case.text(200), reply_to=reply_to
        )

    async def _click(
        self, case: values.Case, user: int, message: dict[str, Any], component: dict[str, Any]
    ) -> RecordedCall | None:
        kind = int(component["type"])
        chosen: list[str] | None = None
        if kind == 3:
            options = [str(o["value"]) for o in component.get("options") or []]
            chosen = [case.pick(options)] if options else []
        elif kind in (5, 6, 7, 8):
            pool = {
                5: self.world.users,
                6: self.world.roles,
                7: self.world.users,
                8: self.world.channels,
            }[kind]
            chosen = [str(case.pick(pool))]
        note(f"click {component['custom_id']!r} by {user} values {chosen!r}")
        interaction = await self.sandbox.send_component(
            str(component["custom_id"]),
            message_id=int(message["id"]),
            user_id=user,
            component_type=kind,
            values=chosen,
        )
        return await self._answered(interaction.callback_path, interaction.token)

    async def _submit(self, case: values.Case, user: int, modal: dict[str, Any]) -> None:
        fields = modal_fields(modal, case, self._upload)
        note(f"form {modal.get('custom_id')!r} {fields!r}")
        interaction = await self.sandbox.send_modal_submit(
            str(modal["custom_id"]), fields, channel_id=self.channel_id, user_id=user
        )
        await self._answered(interaction.callback_path, interaction.token)

    def _upload(self, sample: values.FileSample) -> str:
        attachment = self.sandbox.add_upload(
            sample.name, sample.data, sample.content_type, size=sample.size
        )
        return str(attachment["id"])

    async def _answered(self, callback_path: str, token: str) -> RecordedCall:
        """Wait for the interaction's first answer (3 s), and its follow-up when deferred."""
        try:
            answer = await self.sandbox.wait_for_call(
                lambda call: call.path == callback_path, timeout=DEADLINE
            )
        except TimeoutError:
            raise AssertionError(f"no answer within Discord's {DEADLINE} s") from None
        assert answer.status < 400, (
            f"Discord refused the answer: {answer.status} {answer.json!r:.300}"
        )
        if answer.json and answer.json.get("type") == CALLBACK_DEFERRED:
            prefix = f"/webhooks/{self.sandbox.application_id}/{token}"
            follow = await self.sandbox.wait_for_call(
                lambda call: call.path.startswith(prefix) and call.method in ("POST", "PATCH"),
                timeout=FOLLOW_UP,
            )
            assert follow.status < 400, (
                f"Discord refused the follow-up: {follow.status} {follow.json!r:.300}"
            )
        return answer

    def _clickable(self, user: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        clickable = []
        for message in self.sandbox.state.messages_by_id.values():
            if int(message.get("flags") or 0) & 64:
                owner = ((message.get("interaction_metadata") or {}).get("user") or {}).get("id")
                if str(owner) != str(user):
                    continue  # an ephemeral message is seen, and clicked, by one member only
            clickable += [(message, component) for component in components_on(message)]
        return clickable

    # -- the properties --------------------------------------------------------------------

    def _check(self, mark: int) -> None:
        failures = self.watch.failures()
        assert not failures, f"our own fault on merely bad input: {failures[:3]}"
        for call in self.sandbox.calls[mark:]:
            body = call.json if isinstance(call.json, dict) else {}
            message = body.get("data") if "/interactions/" in call.path else body
            if not isinstance(message, dict):
                continue
            content = str(message.get("content") or "")
            assert UNEXPECTED not in content, f"{call.method} {call.path}: {content[:200]}"
            if "/interactions/" in call.path or "/webhooks/" in call.path:
                # An interaction's answer inherits nothing: it must fit, or Discord refuses it.
                assert call.status < 400, f"{call.method} {call.path} refused: {call.status}"
            pings = discord_pings(message, self.world.bystanders)
            assert not pings, f"{call.method} {call.path} would notify {pings}: {content[:200]}"
