"""How a Web API method is declared: ``@METHODS.method("chat.postMessage")``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import JsonObject

# A method takes the workspace and the call's arguments and returns the answer's fields beside
# ``"ok": true``; it raises ApiError for ``"ok": false``.
Method = Callable[[SlackState, JsonObject], JsonObject]


class MethodTable:
    """The Web API methods of one resource module, filled by the `method` decorator."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def method(self, name: str) -> Callable[[Method], Method]:
        """Register a handler for a Web API method name."""

        def register(handler: Method) -> Method:
            if name in self._methods:
                raise ValueError(f"{name} is declared twice")
            self._methods[name] = handler
            return handler

        return register

    def items(self) -> Iterator[tuple[str, Method]]:
        """Yield each method name with its handler."""
        return iter(self._methods.items())
