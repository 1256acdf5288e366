"""The feature kit's rules, checked on the code itself (each checker is also shown to catch a
violation):

- no module under ``bot/services/`` names a platform or writes markup: services speak the
  neutral message vocabulary and each platform's sender renders it;
- no model keeps a channel column per platform: destinations are rows;
- front ends use no private name of the core;
- every table holding a member reference or member text is exported and erased by a feature
  (or declared anonymous), so `/privacy` and `flywheel export` cover the whole product.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from bot.db import Base
from bot.features import discover

PLATFORM_NAMES = frozenset({"discord", "slack"})
MARKUP = (
    re.compile(r"\*\*"),  # Discord bold
    re.compile(r"(?<![\w*\\])\*[^\s*][^*\n]*\*(?![\w*])"),  # Slack bold / Discord italics
    re.compile(r"<[^<>\s|]+\|[^<>]*>"),  # Slack links
    re.compile(r"<[@#!][^>]*>"),  # mentions written by hand
    re.compile(r"<https?://[^>]*>|<x>"),  # links in angle brackets
    re.compile(r"\[[^\]\n]+\]\((https?://[^)\s]*|x)\)"),  # Markdown links
    re.compile(r"(?<![\w_])_[^\s_][^_\n]*_(?![\w_])"),  # italics with underscores
    re.compile(r"(?<![\w~])~[^\s~][^~\n]*~(?![\w~])"),  # strike-through
)
FRONT_ENDS = ("cogs", "bot/slack", "bot/discord")


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def service_offences(source: str, where: str = "<source>") -> list[str]:
    """Return platform names and markup written in a service module's code."""
    tree = ast.parse(source)
    skipped = _docstrings(tree)
    offences: list[str] = []
    for node in ast.walk(tree):
        text: str | None = None
        if isinstance(node, ast.JoinedStr):
            # An f-string is checked whole, its placeholders standing for some text.
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    skipped.add(id(value))
                    parts.append(str(value.value))
                else:
                    parts.append("x")
            text = "".join(parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
        ):
            text = node.value
        if text is not None:
            line = getattr(node, "lineno", 0)
            if text.strip().lower() in PLATFORM_NAMES or re.match(r"(discord|slack):", text):
                offences.append(f"{where}:{line}: names the platform {text!r}")
            for pattern in MARKUP:
                if pattern.search(text):
                    offences.append(f"{where}:{line}: writes markup {text!r}")
                    break
        if isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if re.fullmatch(r"(discord|slack)(_\w+)?", name):
                offences.append(f"{where}:{node.lineno}: uses {name}")
    return offences


def private_uses(source: str, where: str = "<source>") -> list[str]:
    """Return private names of ``bot`` a front-end module imports or reaches into."""
    tree = ast.parse(source)
    offences: list[str] = []
    core_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            paths = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            paths += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for path in paths:
                if path.startswith("bot") and any(p.startswith("_") for p in path.split(".")):
                    offences.append(f"{where}:{node.lineno}: imports the private module {path}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and str(node.args[1].value).startswith("_")
            and not str(node.args[1].value).startswith("__")
        ):
            offences.append(f"{where}:{node.lineno}: reaches {node.args[1].value} by getattr")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    offences.append(f"{where}:{node.lineno}: imports {node.module}.{alias.name}")
                core_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bot"):
                    core_modules.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in core_modules
        ):
            offences.append(f"{where}:{node.lineno}: reaches {node.value.id}.{node.attr}")
    return offences


def uncovered_member_tables(metadata: MetaData, claimed: set[str]) -> list[str]:
    """Return tables that hold member data but no feature exports and erases."""
    holding = []
    for table in metadata.sorted_tables:
        refers = any(
            foreign.column.table.name == "members"
            for column in table.columns
            for foreign in column.foreign_keys
        )
        texts = any(column.info.get("member_text") for column in table.columns)
        if table.name == "members" or refers or texts:
            holding.append(table.name)
    return sorted(set(holding) - claimed)


def _sources(root: Path, *folders: str) -> list[tuple[str, str]]:
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            found.append((path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")))
    return found


# ----------------------------------------------------------------------------- the rules hold


def test_no_service_names_a_platform_or_writes_markup(project_root):
    offences = [
        offence
        for where, source in _sources(project_root, "bot/services")
        for offence in service_offences(source, where)
    ]
    assert offences == []


def test_no_model_keeps_a_channel_column_per_platform():
    columns = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if re.fullmatch(r"(discord|slack)_\w*channel\w*", column.name)
    ]
    assert columns == []


def test_no_front_end_uses_a_private_name_of_the_core(project_root):
    offences = [
        offence
        for where, source in _sources(project_root, *FRONT_ENDS)
        for offence in private_uses(source, where)
    ]
    assert offences == []


def test_every_table_with_member_data_is_exported_and_erased_by_a_feature():
    claimed: set[str] = set()
    for feature in discover():
        claimed |= set(feature.member_tables) | set(feature.anonymous_tables)
        if feature.member_tables and feature.name != "members":
            # The members feature's tables are the privacy service's own.
            assert feature.exporter is not None and feature.eraser is not None, feature.name
    assert uncovered_member_tables(Base.metadata, claimed) == []
    known = {table.name for table in Base.metadata.sorted_tables}
    assert claimed <= known, f"declared tables that do not exist: {sorted(claimed - known)}"


# ----------------------------------------------------------------------------- the checkers bite


@pytest.mark.parametrize(
    "source",
    [
        'if platform == "discord":\n    pass\n',
        'PLATFORMS = ("discord", "slack")\n',
        'key = "slack:global"\n',
        'title = f"**{name}** recap"\n',
        'title = f"*{name}* recap"\n',
        'shared = f"<{url}|{label}>"\n',
        "ritual.discord_channel_id = channel\n",
        'ping = f"<@{user_id}>"\n',
        'shown = f"[{label}]({url})"\n',
        'quiet = f"_{name}_"\n',
        'gone = f"~{name}~"\n',
        'raw = f"<{url}>"\n',
        "where = settings.discord.channels\n",
    ],
)
def test_the_service_checker_catches_platform_names_and_markup(source):
    assert service_offences(source) != []


@pytest.mark.parametrize(
    "source",
    [
        '"""A docstring may say Discord and slack and **this**."""\n',
        'body = rich(bold(name), " recap: ", str(count))\n',
        'message = "Check in with the button, a reaction, or a reply in the thread."\n',
        "x = a * b * c\n",
    ],
)
def test_the_service_checker_leaves_neutral_code_alone(source):
    assert service_offences(source) == []


@pytest.mark.parametrize(
    "source",
    [
        "from bot.services.rituals.views import _ritual\n",
        "from bot.services import rituals\nrituals._schedule_text(x)\n",
        "from bot.services.rituals._channels import channels_of\n",
        'helper = getattr(rituals, "_ritual")\n',
    ],
)
def test_the_private_use_checker_catches_reaching_into_the_core(source):
    assert private_uses(source) != []


def test_the_coverage_checker_catches_a_table_with_member_data_nobody_erases():
    metadata = MetaData()
    Table("members", metadata, Column("id", Integer, primary_key=True))
    Table(
        "badges",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("member_id", ForeignKey("members.id")),
    )
    Table(
        "notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("text", String, info={"member_text": True}),
    )
    Table("totals", metadata, Column("id", Integer, primary_key=True))
    assert uncovered_member_tables(metadata, {"members"}) == ["badges", "notes"]
    assert uncovered_member_tables(metadata, {"members", "badges", "notes"}) == []
