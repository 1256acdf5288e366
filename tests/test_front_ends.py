"""Both front ends plug features in from their declarations, and the Slack kit has no import loop."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot.slack
import cogs
from bot.features import discover, front_end_modules

ROOT = Path(__file__).resolve().parents[1]
# The Slack front end's own modules: the app and its kit, not features.
SLACK_KIT = {
    "access_errors",
    "app",
    "blocks",
    "confirm",
    "directory",
    "errors",
    "events",
    "front",
    "manifest",
    "paging",
    "render",
    "requests",
    "sender",
}
SLACK_MODULES = sorted(
    f"bot.slack.{info.name}"
    for info in pkgutil.iter_modules(bot.slack.__path__)
    if info.name not in SLACK_KIT and not info.name.startswith("_")
)


def test_every_feature_with_front_ends_has_a_cog_and_a_slack_module() -> None:
    for feature in discover():
        if not feature.has_front_ends:
            continue
        cogs_dir = ROOT / "cogs"
        assert (cogs_dir / f"{feature.name}.py").is_file() or (
            cogs_dir / feature.name / "__init__.py"
        ).is_file(), feature.name
        slack = ROOT / "bot" / "slack"
        assert (slack / f"{feature.name}.py").is_file() or (
            slack / feature.name / "__init__.py"
        ).is_file(), feature.name


def test_every_cog_and_slack_module_belongs_to_a_declared_feature() -> None:
    cog_modules = sorted(
        f"cogs.{info.name}"
        for info in pkgutil.iter_modules(cogs.__path__)
        if not info.name.startswith("_")
    )

    assert cog_modules == sorted(front_end_modules("cogs"))
    assert sorted(SLACK_MODULES) == sorted(front_end_modules("bot.slack"))


@pytest.mark.parametrize("module", SLACK_MODULES)
def test_a_slack_feature_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    # Imported before the app: a loop between the app and a feature would fail here.
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}; {module}.register"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_no_slack_feature_module_imports_the_app() -> None:
    offenders = []
    for path in sorted((ROOT / "bot" / "slack").rglob("*.py")):
        if path.stem in SLACK_KIT and path.parent.name == "slack":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "bot.slack.app":
                offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("cogs/example.py", "from bot.services import rituals\nrituals._ritual\n"),
        ("bot/slack/example.py", "from bot.services import rituals\nrituals._schedule_text\n"),
    ],
)
def test_ruff_refuses_a_front_end_calling_a_private_service_function(
    path: str, source: str
) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--select", "SLF001", "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1 and "SLF001" in result.stdout
