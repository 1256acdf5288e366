"""What the harnesses watch while they fuzz: logs, the database and what the bot sent."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from tests.fuzz.snapshot import Snapshot, changed_tables, snapshot

__all__ = ["changed_tables", "snapshot"]

UNEXPECTED = "Something went wrong"

Rows = Snapshot


class LogWatch(logging.Handler):
    """Collect every log record while a case runs: failures, and the refusals the kit notes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()

    def failures(self) -> list[str]:
        """Return the records that mean our own fault: an error, or any traceback."""
        return [
            f"{record.name}: {record.getMessage()}"
            + (
                f" [{record.exc_info[0].__name__}: {record.exc_info[1]}]"
                if record.exc_info and record.exc_info[0]
                else ""
            )
            for record in self.records
            if record.levelno >= logging.ERROR or record.exc_info
        ]

    def refusals(self) -> list[str]:
        """Return the reason codes of requests the front ends refused."""
        return [str(r.refusal) for r in self.records if hasattr(r, "refusal")]


# -- pings ---------------------------------------------------------------------------------------

_DISCORD_USER = re.compile(r"<@!?(\d+)>")
_DISCORD_ROLE = re.compile(r"<@&(\d+)>")
_DISCORD_MASS = re.compile(r"@(everyone|here)")


def discord_pings(body: Mapping[str, Any], bystanders: set[str]) -> list[str]:
    """Return who a Discord message body would notify, by Discord's allowed_mentions rules.

    Mentions the bot lists explicitly in ``allowed_mentions.users`` are intended (a host
    named in a ritual post) unless they name a bystander, someone the harness only ever
    types; anything else that would notify is a leak.
    """
    content = str(body.get("content") or "")
    allowed = body.get("allowed_mentions")
    parse = (
        set(allowed.get("parse") or [])
        if isinstance(allowed, dict)
        else {"everyone", "users", "roles"}
    )
    users = {str(u) for u in (allowed.get("users") or [])} if isinstance(allowed, dict) else set()
    roles = {str(r) for r in (allowed.get("roles") or [])} if isinstance(allowed, dict) else set()
    pings: list[str] = []
    if "everyone" in parse and _DISCORD_MASS.search(content):
        pings.append("@everyone/@here")
    for role in _DISCORD_ROLE.findall(content):
        if "roles" in parse or role in roles:
            pings.append(f"role {role}")
    for user in _DISCORD_USER.findall(content):
        if "users" in parse or (user in users and user in bystanders):
            pings.append(f"user {user}")
    return pings


_SLACK_SPECIAL = re.compile(r"<!(channel|here|everyone|subteam\^[^>|]*)[^>]*>")
_SLACK_USER = re.compile(r"<@([UW][A-Z0-9]+)[^>]*>")


def _mrkdwn_texts(value: Any) -> Iterator[str]:
    """Yield every piece of Slack text that is rendered as mrkdwn (where mentions notify)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for key, inner in value.items():
            if key != "text" or isinstance(inner, (dict, list)):
                yield from _mrkdwn_texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _mrkdwn_texts(inner)


def slack_pings(args: Mapping[str, Any], bystanders: set[str]) -> list[str]:
    """Return the notifications a Slack message would send that nobody intended.

    Special mentions (@channel, @here, @everyone, user groups) are never intended; a user
    mention is a leak when it names a bystander, someone the harness only ever types.
    """
    texts = list(_mrkdwn_texts(args.get("blocks")))
    if isinstance(args.get("text"), str) and args.get("mrkdwn") is not False:
        texts.append(args["text"])
    pings: list[str] = []
    for text in texts:
        pings += [f"<!{m}>" for m in _SLACK_SPECIAL.findall(text)]
        pings += [f"user {u}" for u in _SLACK_USER.findall(text) if u in bystanders]
    return pings
