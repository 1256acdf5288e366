"""Discord's REST routes, one module per resource; each declares its routes with ``@ROUTES.route``.

Adding an endpoint is one decorated handler in the module of its resource. A new resource is a
new module here, listed in ``ROUTER``.
"""

from __future__ import annotations

from bot.sandbox.discord.routes import (
    channels,
    commands,
    guilds,
    interactions,
    messages,
    users,
    webhooks,
)
from bot.sandbox.discord.routes.table import Route, Router, RouteTable

ROUTER = Router(
    [
        users.ROUTES,
        commands.ROUTES,
        interactions.ROUTES,
        webhooks.ROUTES,
        channels.ROUTES,
        messages.ROUTES,
        guilds.ROUTES,
    ]
)

__all__ = ["ROUTER", "Route", "RouteTable", "Router"]
