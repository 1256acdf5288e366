"""The core never imports a platform library; ruff enforces it, this test proves ruff does."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PLATFORM_LIBRARIES = ("discord", "slack_bolt", "slack_sdk")
ALLOWED = ("bot/discord/", "bot/slack/", "bot/sandbox/")


def _ruff(path: str, source: str) -> subprocess.CompletedProcess[str]:
    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run(
        [str(ruff), "check", "--select", "TID251", "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )


@pytest.mark.parametrize("library", PLATFORM_LIBRARIES)
def test_ruff_rejects_a_platform_import_in_the_core(library):
    result = _ruff("bot/services/example.py", f"import {library}\n")
    assert result.returncode == 1 and "TID251" in result.stdout


@pytest.mark.parametrize(
    "path", ["bot/discord/example.py", "bot/slack/example.py", "cogs/example.py"]
)
def test_ruff_allows_platform_imports_in_the_adapters(path):
    assert _ruff(path, "import discord\nimport slack_bolt\n").returncode == 0


def test_no_core_module_imports_a_platform_library(project_root):
    offenders = []
    for path in sorted((project_root / "bot").rglob("*.py")):
        relative = path.relative_to(project_root).as_posix()
        if relative.startswith(ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{relative}: {n}" for n in names if n.split(".")[0] in PLATFORM_LIBRARIES
            ]
    assert offenders == []


SANDBOX_MAY_IMPORT = ("bot.clock", "bot.sandbox")


def _bot_imports(source: str, module: str) -> list[str]:
    """Return the `bot.*` modules a module's source imports, relative imports resolved."""
    package = module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.append(".".join([*base, node.module] if node.module else base))
    return [name for name in found if name == "bot" or name.startswith("bot.")]


def test_the_sandboxes_import_nothing_of_the_bot_but_the_clock(project_root):
    offenders = []
    for path in sorted((project_root / "bot" / "sandbox").rglob("*.py")):
        relative = path.relative_to(project_root)
        module = ".".join(relative.with_suffix("").parts)
        for name in _bot_imports(path.read_text(encoding="utf-8"), module):
            if not any(name == ok or name.startswith(ok + ".") for ok in SANDBOX_MAY_IMPORT):
                offenders.append(f"{relative.as_posix()}: {name}")
    assert offenders == []


def test_the_sandbox_import_check_resolves_relative_imports():
    source = "from ..settings import load_settings\nfrom . import wire\nimport bot.clock\n"
    imports = _bot_imports(source, "bot.sandbox.slack.state")
    assert imports == ["bot.sandbox.settings", "bot.sandbox.slack", "bot.clock"]


ROOT = Path(__file__).resolve().parents[1]


def test_no_tracked_file_holds_a_merge_conflict_marker() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    markers = ("<<<<<<< ", ">>>>>>> ")
    found = []
    for name in tracked:
        path = ROOT / name
        if (
            path.suffix not in (".py", ".md", ".toml", ".example", ".ini", ".cfg", "")
            or not path.is_file()
        ):
            continue
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            if line.startswith(markers) or line == "=======":
                found.append(f"{name}:{number}")
    assert found == []
