"""Slack events, heard once and handed to every feature that asked for them.

Bolt runs only the *first* listener whose matchers accept an event, so two features
listening to ``message`` (rituals' thread check-ins, recognition's points) with two bolt
listeners would starve one of them without a word. Instead the app has exactly one bolt
listener per event type, owned by the :class:`EventDispatcher` (``front.events``), and
features subscribe from their ``register(app, front)``::

    front.events.on("message", thread_reply, when=posts.is_reply)

Each handler gets its own :class:`~bot.slack.front.EventCall` and its own error boundary,
in registration order; ``when`` is the handler's filter (bot messages, subtypes such as
``message_changed``, posts it does not care about), checked before the handler opens a
transaction. :class:`GuardedApp` refuses ``app.event`` and ``app.message`` at start-up, so
a listener that would silently win over the dispatcher cannot be added by accident.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from slack_bolt.async_app import AsyncApp
from slack_bolt.kwargs_injection.async_args import AsyncArgs

from bot.acting import refused, unexpected_failure
from bot.errors import FlywheelError

if TYPE_CHECKING:
    from bot.slack.front import EventCall, SlackFront

log = logging.getLogger(__name__)

EventHandler = Callable[["EventCall"], Awaitable[None]]
EventFilter = Callable[["EventCall"], Awaitable[bool]]

_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*")


class GuardedApp(AsyncApp):
    """The bolt app, with every event listener left to the dispatcher."""

    def event(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: subscribe with ``front.events.on`` instead."""
        raise _listener_refused(f"app.event({_first(args, kwargs, 'event')!r})")

    def message(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: subscribe to ``message`` with ``front.events.on`` instead."""
        raise _listener_refused(f"app.message({_first(args, kwargs, 'keyword')!r})")


def _first(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    return args[0] if args else kwargs.get(name, "")


def _listener_refused(what: str) -> TypeError:
    return TypeError(
        f"{what}: Slack events go through the one dispatcher; subscribe with "
        "front.events.on(event_type, handler, when=…) in register(app, front). "
        "Bolt runs only the first listener that matches an event, so a second "
        "listener would silently starve the dispatcher or be starved by it."
    )


@dataclass(frozen=True)
class Subscription:
    """One feature's handler for one event type, with its filter."""

    event_type: str
    handler: EventHandler
    when: EventFilter | None = None

    @property
    def name(self) -> str:
        """Return the handler's qualified name, for the log."""
        return str(getattr(self.handler, "__qualname__", repr(self.handler)))


class EventDispatcher:
    """Hand each Slack event to every handler subscribed to its type, in registration order."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._installed = False

    def on(
        self, event_type: str, handler: EventHandler, *, when: EventFilter | None = None
    ) -> None:
        """Subscribe ``handler`` to events of ``event_type``; ``when`` lets only some through."""
        if self._installed:
            raise RuntimeError(
                f"front.events.on({event_type!r}) after start-up: subscribe in register(app, front)"
            )
        if not _EVENT_TYPE.fullmatch(event_type):
            raise ValueError(
                f"a Slack event type is a word like 'reaction_added', got {event_type!r}"
            )
        self._subscriptions.setdefault(event_type, []).append(
            Subscription(event_type, handler, when)
        )

    @property
    def event_types(self) -> tuple[str, ...]:
        """Return the event types someone subscribed to, in the order first subscribed."""
        return tuple(self._subscriptions)

    def subscriptions(self, event_type: str) -> tuple[Subscription, ...]:
        """Return the handlers of one event type, in the order they run."""
        return tuple(self._subscriptions.get(event_type, ()))

    def install(self, app: AsyncApp, front: SlackFront) -> None:
        """Add the app's event listeners: one per subscribed type, one for every other type.

        Called once, after every feature registered. Bolt acknowledges each event once,
        before its one listener runs, so Slack never waits for the handlers.
        """
        if self._installed:
            raise RuntimeError("the event dispatcher is installed twice")
        self._installed = True
        owned = frozenset(self._subscriptions)
        for event_type in self._subscriptions:
            # AsyncApp.event, not app.event: GuardedApp refuses everyone but the dispatcher.
            AsyncApp.event(app, event_type)(self._listener(event_type, front))

        async def not_subscribed(event: dict[str, Any]) -> bool:
            return event.get("type") not in owned

        async def ignore_event() -> None:
            # Events no feature listens to are still acknowledged, so Slack neither retries
            # them nor disables the subscription.
            return None

        AsyncApp.event(app, re.compile(r".*"), matchers=[not_subscribed])(ignore_event)

    def _listener(
        self, event_type: str, front: SlackFront
    ) -> Callable[[AsyncArgs], Awaitable[None]]:
        subscriptions = self.subscriptions(event_type)

        async def listener(args: AsyncArgs) -> None:
            for subscription in subscriptions:
                await _deliver(subscription, front, args)

        # Bolt names the listener in its debug log; the signature (``args``) must stay as is.
        listener.__name__ = listener.__qualname__ = f"on_{event_type}"
        return listener


async def _deliver(subscription: Subscription, front: SlackFront, args: AsyncArgs) -> None:
    """Run one handler in its own error boundary: nobody waits for an answer, so only log."""
    call = front.event_call(args)
    try:
        if subscription.when is not None and not await subscription.when(call):
            return
        await subscription.handler(call)
    except FlywheelError as error:
        refused(error, f"Slack {subscription.event_type} event")
        log.info(
            "%s by %s not taken by %s: %s",
            subscription.event_type,
            call.user_id,
            subscription.name,
            error.message,
        )
    except Exception as error:
        unexpected_failure(
            error, f"Slack {subscription.event_type} handler {subscription.name}", logger=log
        )
