"""The Slack front end's kit: who is calling, the `/flywheel` router, and the listener decorators.

A feature module (``bot/slack/<feature>``) has ``register(app, front)``; it adds verbs to
``front.commands``, wraps its bolt listeners with :meth:`SlackFront.action` or
:meth:`SlackFront.submission`, which ack, describe the caller and answer failures in one
place, and subscribes to Slack events with ``front.events.on`` (:mod:`bot.slack.events`:
one bolt listener per event type hands each event to every feature that asked for it).
A handler only parses the payload, runs one service inside
``async with call.acting() as (session, actor)`` and renders the result after the commit. Feature modules import this module and :mod:`bot.slack.blocks`, never the app.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot import acting as core
from bot.errors import Invalid
from bot.runtime import Runtime
from bot.services.callers import Actor, Caller, Role, require
from bot.slack.blocks import Block, view_metadata, view_values
from bot.slack.directory import UserDirectory, as_dict
from bot.slack.errors import describe_failure, reported, tell_author, tell_user
from bot.slack.events import EventDispatcher
from bot.slack.render import fit_blocks, fit_text, fit_view
from bot.text import slack_escape

PLATFORM = "slack"
# How long a modal submission may work before its ack (Slack waits 3 s, the network some).
SUBMISSION_ACK_SECONDS = 2.0

HomeSection = Callable[[AsyncSession, Actor], Awaitable[list[Block]]]
VerbHandler = Callable[["VerbCall"], Awaitable[None]]
Listener = Callable[[AsyncArgs], Awaitable[None]]


# -- who is calling ------------------------------------------------------------------------------


def ids_from_body(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """Return team, user, channel and the name Slack sent, for commands, actions and events."""
    if "command" in body:
        return (
            str(body.get("team_id", "")),
            str(body.get("user_id", "")),
            body.get("channel_id") or None,
            body.get("user_name") or None,
        )
    event = as_dict(body.get("event"))
    if event:
        return (
            str(body.get("team_id", "")),
            str(event.get("user", "")),
            event.get("channel") or None,
            None,
        )
    user = as_dict(body.get("user"))
    team = as_dict(body.get("team"))
    channel = as_dict(body.get("channel")).get("id") or as_dict(body.get("container")).get(
        "channel_id"
    )
    return (
        str(team.get("id") or user.get("team_id") or ""),
        str(user.get("id", "")),
        channel or None,
        user.get("username") or user.get("name") or None,
    )


# -- one request a handler answers ------------------------------------------------------------


@dataclass
class SlackCall:
    """One acknowledged request from Slack, with what a handler needs to answer it."""

    front: SlackFront
    client: AsyncWebClient
    respond: AsyncRespond | None
    body: dict[str, Any]
    _caller: Caller | None = field(default=None, init=False, repr=False)

    @property
    def runtime(self) -> Runtime:
        """Return the process's runtime."""
        return self.front.runtime

    @property
    def user_id(self) -> str:
        """Return the Slack user id of the member who typed, clicked or did something."""
        return ids_from_body(self.body)[1]

    @property
    def channel_id(self) -> str | None:
        """Return the channel the request came from, if any."""
        return ids_from_body(self.body)[2]

    async def caller(self) -> Caller:
        """Return the caller, asking Slack for their role once per call (and briefly cached)."""
        if self._caller is None:
            self._caller = await self.front.caller_from_body(self.client, self.body)
        return self._caller

    # A command, a click or a form is the member's own explicit action; an event is not.
    explicit: ClassVar[bool] = True

    @asynccontextmanager
    async def acting(self) -> AsyncIterator[tuple[AsyncSession, Actor]]:
        """Open the transaction the service runs in, as the caller; commit when the block ends."""
        async with self.front.acting(await self.caller(), explicit=self.explicit) as (
            session,
            actor,
        ):
            yield session, actor

    async def reply(self, text: str, *, blocks: Sequence[Block] | None = None) -> None:
        """Answer only the caller (ephemeral), where the request came from, fitted to Slack."""
        text = fit_text(text)
        if self.respond is not None:
            # replace_original=False: the message whose button was clicked stays.
            await self.respond(
                text=text,
                blocks=fit_blocks(blocks) if blocks else None,
                response_type="ephemeral",
                replace_original=False,
            )
            return
        await tell_user(self.body, text, respond=None, client=self.client)

    async def replace(self, text: str, *, blocks: Sequence[Block] | None = None) -> None:
        """Replace the message whose button was clicked (its buttons go with it), fitted."""
        text = fit_text(text)
        if self.respond is not None:
            await self.respond(
                text=text, blocks=fit_blocks(blocks) if blocks else None, replace_original=True
            )
        elif self.user_id:
            await self.client.chat_postMessage(channel=self.user_id, text=text)


@dataclass
class VerbCall(SlackCall):
    """One `/flywheel <verb> …`; the router fills in the verb and the words after it."""

    verb: Verb | None = None
    args: tuple[str, ...] = ()
    rest: str = ""

    async def reply(self, text: str, *, blocks: Sequence[Block] | None = None) -> None:
        """Answer only the caller (ephemeral), in the channel the command came from, fitted."""
        if self.respond is None:
            raise RuntimeError("a slash command always comes with a response_url")
        await self.respond(
            text=fit_text(text),
            blocks=fit_blocks(blocks) if blocks else None,
            response_type="ephemeral",
        )

    async def open_modal(self, view: Block) -> None:
        """Open a modal (fitted) for verbs with several fields; call it before slow work (3 s trigger)."""
        await self.client.views_open(trigger_id=self.body["trigger_id"], view=fit_view(view))


@dataclass
class ActionCall(SlackCall):
    """A click on a button or a choice in a menu."""

    @property
    def action(self) -> dict[str, Any]:
        """Return the action Slack sent (action_id, value, …)."""
        actions = self.body.get("actions")
        first = actions[0] if isinstance(actions, list) and actions else None
        return first if isinstance(first, dict) else {}

    @property
    def action_id(self) -> str:
        """Return the clicked element's action_id."""
        return str(self.action.get("action_id") or "")

    @property
    def value(self) -> str:
        """Return the clicked button's value ("" if none)."""
        return str(self.action.get("value") or "")


@dataclass
class SubmissionCall(SlackCall):
    """A modal's submission: its inputs by block id and the metadata it was opened with."""

    @property
    def view(self) -> dict[str, Any]:
        """Return the submitted view."""
        return as_dict(self.body.get("view"))

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        """Return the inputs by block id."""
        return view_values(self.view)

    @property
    def metadata(self) -> dict[str, Any]:
        """Return the private metadata the modal was opened with."""
        return view_metadata(self.view)

    async def tell(self, text: str) -> None:
        """Answer the modal's author where they opened it (metadata ``channel``), else by DM."""
        origin = self.metadata.get("channel")
        await tell_author(
            self.client, self.user_id, origin if isinstance(origin, str) else None, fit_text(text)
        )


@dataclass
class EventCall(SlackCall):
    """An event (a reaction, a message) nobody is waiting for an answer to."""

    explicit: ClassVar[bool] = False
    # The app's own user id: a handler's filter leaves out what the bot itself did.
    bot_user_id: str | None = None

    @property
    def event(self) -> dict[str, Any]:
        """Return the event."""
        return as_dict(self.body.get("event"))


# -- the slash command ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verb:
    """One `/flywheel <verb>`: its words, what it does, and who may use it."""

    name: str
    summary: str
    handler: VerbHandler
    usage: str = ""
    role: Role = Role.MEMBER


class CommandRouter:
    """Route `/flywheel <verb> …` to the handler registered for the longest matching verb."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._verbs: dict[str, Verb] = {}

    def add(
        self,
        name: str,
        handler: VerbHandler,
        *,
        summary: str,
        usage: str = "",
        role: Role = Role.MEMBER,
    ) -> None:
        """Register a verb (one or more lower-case words, e.g. "privacy export")."""
        if not re.fullmatch(r"[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)*", name):
            raise ValueError(f"a verb is lower-case words, got {name!r}")
        if name in self._verbs:
            raise ValueError(f"the verb {name!r} is registered twice")
        self._verbs[name] = Verb(
            name=name, summary=summary, handler=handler, usage=usage, role=role
        )

    @property
    def verbs(self) -> tuple[Verb, ...]:
        """Return the registered verbs in registration order."""
        return tuple(self._verbs.values())

    def match(self, text: str) -> tuple[Verb, tuple[str, ...], str] | None:
        """Return the verb the text starts with, the words after it, and the raw rest of the text."""
        words = text.split()
        for length in range(min(len(words), 3), 0, -1):
            verb = self._verbs.get(" ".join(words[:length]).lower())
            if verb is not None:
                rest = text.strip()
                for word in words[:length]:
                    rest = rest[len(word) :].lstrip()
                return verb, tuple(words[length:]), rest
        return None

    def help_text(self, role: Role) -> str:
        """List the verbs a caller with ``role`` may use."""
        lines = [f"*What `{self.command}` can do:*"]
        for verb in self._verbs.values():
            if verb.role > role:
                continue
            usage = f" {verb.usage}" if verb.usage else ""
            lines.append(f"• `{self.command} {verb.name}{usage}` — {verb.summary}")
        return "\n".join(lines)

    async def dispatch(self, call: VerbCall) -> None:
        """Run the verb the command names, or answer with the list of verbs."""
        text = str(call.body.get("text", ""))
        matched = self.match(text)
        if matched is None:
            caller = await call.caller()
            first = text.split()[0] if text.split() else ""
            intro = (
                f"`{self.command} {slack_escape(first[:50])}` is not something I know.\n"
                if first and first.lower() != "help"
                else ""
            )
            await call.reply(intro + self.help_text(caller.role))
            return
        call.verb, call.args, call.rest = matched
        if call.verb.role > Role.MEMBER:
            require(await call.caller(), call.verb.role)
        await call.verb.handler(call)


# -- the front end's shared parts -------------------------------------------------------------


def _named(listener: Listener, handler: Callable[..., Any]) -> Listener:
    # Not functools.wraps: bolt reads the listener's signature (``args``) to inject it, and
    # wraps would make inspect see the handler's instead.
    listener.__name__ = getattr(handler, "__name__", listener.__name__)
    listener.__qualname__ = getattr(handler, "__qualname__", listener.__qualname__)
    return listener


@dataclass
class SlackFront:
    """What a Slack feature module needs besides the bolt app."""

    runtime: Runtime
    directory: UserDirectory
    commands: CommandRouter
    events: EventDispatcher = field(default_factory=EventDispatcher)
    home_sections: list[HomeSection] = field(default_factory=list)

    async def caller(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        user_id: str,
        channel_id: str | None = None,
        fallback_name: str | None = None,
    ) -> Caller:
        """Describe a Slack user as a Caller, with the role decided here, never by the client."""
        if not team_id or not user_id:
            raise Invalid("Slack did not say who you are; try again from a channel.")
        user = await self.directory.lookup(client, team_id=team_id, user_id=user_id)
        return Caller(
            platform=PLATFORM,
            space_id=team_id,
            user_id=user_id,
            display_name=user.display_name or fallback_name,
            role=user.role,
            channel_id=channel_id,
        )

    async def caller_from_body(self, client: AsyncWebClient, body: dict[str, Any]) -> Caller:
        """Describe the author of a command, action or event payload as a Caller."""
        team_id, user_id, channel_id, name = ids_from_body(body)
        return await self.caller(
            client, team_id=team_id, user_id=user_id, channel_id=channel_id, fallback_name=name
        )

    @asynccontextmanager
    async def acting(
        self, caller: Caller, *, explicit: bool = True
    ) -> AsyncIterator[tuple[AsyncSession, Actor]]:
        """Open a transaction and resolve the caller to a member; commit when the block ends."""
        async with core.acting(self.runtime, caller, explicit=explicit) as (session, actor):
            yield session, actor

    async def publish_home(self, client: AsyncWebClient, caller: Caller) -> None:
        """Build the caller's Home tab from every feature's section and publish it."""
        blocks: list[Block] = []
        async with self.acting(caller) as (session, actor):
            for section in self.home_sections:
                blocks.extend(await section(session, actor))
        await client.views_publish(
            user_id=caller.user_id, view=fit_view({"type": "home", "blocks": blocks})
        )

    # -- the listener decorators ---------------------------------------------------------------

    def action(self, handler: Callable[[ActionCall], Awaitable[None]]) -> Listener:
        """Wrap a block-action handler: ack at once, then run it; failures answer the clicker."""

        async def listener(args: AsyncArgs) -> None:
            await args.ack()  # Slack waits 3 seconds for this; the work happens after.
            async with reported(args.body, respond=args.respond, client=args.client):
                await handler(
                    ActionCall(front=self, client=args.client, respond=args.respond, body=args.body)
                )

        return _named(listener, handler)

    def submission(
        self, handler: Callable[[SubmissionCall], Awaitable[str]], *, fields: Mapping[str, str]
    ) -> Listener:
        """Wrap a modal-submission handler that returns the text to tell its author.

        ``fields`` maps a service's field names (``Invalid.field``) to the modal's block ids:
        a refusal about one of them keeps the modal open with the message under that input;
        any other refusal closes it and is told where the modal was opened. The answer to a
        submission is the ack itself, so the handler runs before it; if it has not finished
        within :data:`SUBMISSION_ACK_SECONDS` (a burst holding the database), the modal is
        closed by a plain ack in time and the outcome, refusal or not, is told afterwards.
        """

        async def listener(args: AsyncArgs) -> None:
            call = SubmissionCall(front=self, client=args.client, respond=None, body=args.body)
            work = asyncio.ensure_future(handler(call))
            done, _ = await asyncio.wait({work}, timeout=SUBMISSION_ACK_SECONDS)
            if not done:
                await args.ack()  # Slack's 3 seconds would pass: close the modal now.
            try:
                text = await work
            except Exception as error:
                errors = field_errors(error, fields)
                if errors is not None and isinstance(error, Invalid):
                    core.refused(error, "Slack form")
                    if done:
                        await args.ack(response_action="errors", errors=errors)
                    else:
                        await call.tell(slack_escape(next(iter(errors.values()))))
                    return
                if done:
                    await args.ack()
                await call.tell(describe_failure(error))
                return
            if done:
                await args.ack()
            await call.tell(text)

        return _named(listener, handler)

    def event_call(self, args: AsyncArgs) -> EventCall:
        """Describe one event for a handler the dispatcher runs (:mod:`bot.slack.events`)."""
        return EventCall(
            front=self,
            client=args.client,
            respond=None,
            body=args.body,
            bot_user_id=args.context.bot_user_id,
        )


def field_errors(error: BaseException, fields: Mapping[str, str]) -> dict[str, str] | None:
    """Return Slack's ``errors`` map for a refusal about one of a modal's fields, else None."""
    if isinstance(error, Invalid) and error.field is not None and error.field in fields:
        # Shown by Slack as plain text under the input: no mrkdwn escaping.
        return {fields[error.field]: error.message}
    return None
