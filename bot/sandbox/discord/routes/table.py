"""How a REST route is declared: ``@ROUTES.route("GET", "/channels/{channel_id}")``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from bot.sandbox.discord.state import DiscordState
from bot.sandbox.discord.wire import ApiRequest, Reply, bucket_id

Handler = Callable[[DiscordState, ApiRequest], Awaitable[Reply]]

_SNOWFLAKE = r"(?P<{}>\d+)"


@dataclass(frozen=True)
class Route:
    """One REST route: ``{name}`` in its template is a snowflake, ``<name>`` any segment."""

    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str] = field(init=False)
    bucket: str = field(init=False)

    def __post_init__(self) -> None:
        # <name> first: the snowflake's own regex contains <name>.
        regex = re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", self.template)
        regex = re.sub(r"\{(\w+)\}", lambda m: _SNOWFLAKE.format(m[1]), regex)
        object.__setattr__(self, "pattern", re.compile(regex))
        object.__setattr__(self, "bucket", bucket_id(self.method, self.template))


class RouteTable:
    """The routes of one resource module, filled by the `route` decorator."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def route(self, method: str, *templates: str) -> Callable[[Handler], Handler]:
        """Register a handler for a method on one or more path templates."""

        def register(handler: Handler) -> Handler:
            for template in templates:
                self._routes.append(Route(method, template, handler))
            return handler

        return register

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)


class Router:
    """Find the route for a request among every resource module's routes."""

    def __init__(self, tables: list[RouteTable]) -> None:
        self.routes = [route for table in tables for route in table]

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return the matching route, its parameters, and whether the path exists at all."""
        path_exists = False
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            path_exists = True
            if route.method == method:
                return route, match.groupdict(), True
        return None, {}, path_exists
