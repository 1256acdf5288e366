"""Slack's Web API methods, one module per method family; each declares its methods once.

Adding a method is one function decorated with ``@METHODS.method("family.name")`` in the module
of its family. A new family is a new module here, listed below.
"""

from __future__ import annotations

from bot.sandbox.slack.methods import (
    auth,
    chat,
    conversations,
    files,
    reactions,
    usergroups,
    users,
    views,
)
from bot.sandbox.slack.methods.table import Method, MethodTable

_FAMILIES = (auth, chat, conversations, files, reactions, usergroups, users, views)

METHODS: dict[str, Method] = {
    name: handler for family in _FAMILIES for name, handler in family.METHODS.items()
}

__all__ = ["METHODS", "Method", "MethodTable"]
