"""The application-command payload obeys Discord's limits, so a sync can never be refused."""

from __future__ import annotations

import copy
import json
import unicodedata
from typing import Any

import pytest

from bot.discord.commands_json import command_payload
from bot.settings import Settings, load_settings

SUBCOMMAND, GROUP = 1, 2
CHAT_INPUT = 1
MEMBER_COMMANDS = {"about", "link", "privacy", "ritual"}


def _name_char_ok(char: str) -> bool:
    # Discord: ^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ (Python's re has no \p classes).
    if char in "-_" or unicodedata.category(char)[0] in "LN":
        return True
    return unicodedata.name(char, "").startswith(("DEVANAGARI", "THAI"))


def _check_name(name: str, where: str, problems: list[str]) -> None:
    if not 1 <= len(name) <= 32 or not all(_name_char_ok(c) for c in name):
        problems.append(f"{where}: name {name!r} does not match Discord's name pattern")
    if name != name.lower():
        problems.append(f"{where}: name {name!r} is not lowercase")


def _check_description(entry: dict[str, Any], where: str, problems: list[str]) -> None:
    if not 1 <= len(entry.get("description") or "") <= 100:
        problems.append(f"{where}: description must be 1-100 characters")


def _check_unique(entries: list[dict[str, Any]], where: str, problems: list[str]) -> None:
    names = [entry["name"] for entry in entries]
    if len(names) != len(set(names)):
        problems.append(f"{where}: duplicate names in {names}")


def _check_options(
    options: list[dict[str, Any]], where: str, depth: int, problems: list[str]
) -> None:
    if len(options) > 25:
        problems.append(f"{where}: {len(options)} options (at most 25)")
    _check_unique(options, where, problems)
    nested = [o for o in options if o["type"] in (SUBCOMMAND, GROUP)]
    if nested and len(nested) != len(options):
        problems.append(f"{where}: subcommands mixed with plain options")
    required = [bool(o.get("required")) for o in options if o["type"] not in (SUBCOMMAND, GROUP)]
    if required != sorted(required, reverse=True):
        problems.append(f"{where}: a required option follows an optional one")
    for option in options:
        path = f"{where} {option['name']}"
        _check_name(option["name"], path, problems)
        _check_description(option, path, problems)
        choices = option.get("choices") or []
        if len(choices) > 25:
            problems.append(f"{path}: {len(choices)} choices (at most 25)")
        for choice in choices:
            if not 1 <= len(choice["name"]) <= 100:
                problems.append(f"{path}: choice name must be 1-100 characters")
        inner = option.get("options") or []
        if option["type"] == GROUP:
            if depth > 0:
                problems.append(f"{path}: a group inside a group (at most two levels)")
            if any(o["type"] != SUBCOMMAND for o in inner):
                problems.append(f"{path}: a group may hold only subcommands")
            _check_options(inner, path, depth + 1, problems)
        elif option["type"] == SUBCOMMAND:
            if any(o["type"] in (SUBCOMMAND, GROUP) for o in inner):
                problems.append(f"{path}: a subcommand cannot hold subcommands")
            _check_options(inner, path, depth + 1, problems)
        elif inner:
            problems.append(f"{path}: a plain option cannot hold options")


def payload_problems(payload: list[dict[str, Any]]) -> list[str]:
    """Return every way this payload breaks Discord's application-command limits."""
    problems: list[str] = []
    chat_input = [c for c in payload if c.get("type", CHAT_INPUT) == CHAT_INPUT]
    if len(chat_input) > 100:
        problems.append(f"{len(chat_input)} slash commands (at most 100)")
    _check_unique(chat_input, "top level", problems)
    for command in chat_input:
        where = f"/{command['name']}"
        _check_name(command["name"], where, problems)
        _check_description(command, where, problems)
        _check_options(command.get("options") or [], where, 0, problems)
    return problems


@pytest.fixture
def payload(database_url: str) -> list[dict[str, Any]]:
    settings: Settings = load_settings(environ={"FLYWHEEL_DATABASE_URL": database_url})
    return command_payload(settings)


def test_every_command_fits_discords_limits(payload: list[dict[str, Any]]) -> None:
    assert payload_problems(payload) == []


def test_the_payload_holds_the_member_commands_open_to_everyone_in_the_server_only(
    payload: list[dict[str, Any]],
) -> None:
    by_name = {command["name"]: command for command in payload}

    assert set(by_name) >= MEMBER_COMMANDS
    for name in MEMBER_COMMANDS:
        assert by_name[name]["default_member_permissions"] is None
    for command in payload:
        assert command["contexts"] == [0], command["name"]
        assert command["dm_permission"] is False, command["name"]


def test_the_payload_is_plain_json(payload: list[dict[str, Any]]) -> None:
    assert json.loads(json.dumps(payload)) == payload


def test_the_limit_checker_notices_broken_payloads(payload: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(payload)
    privacy = next(c for c in broken if c["name"] == "privacy")
    privacy["name"] = "Privacy"
    privacy["options"][0]["description"] = "x" * 101
    privacy["options"][1]["options"] = [{"type": SUBCOMMAND, "name": "deeper", "description": "d"}]
    broken.append(copy.deepcopy(broken[0]))

    problems = payload_problems(broken)

    assert any("not lowercase" in p for p in problems)
    assert any("1-100 characters" in p for p in problems)
    assert any("cannot hold subcommands" in p for p in problems)
    assert any("duplicate names" in p for p in problems)
