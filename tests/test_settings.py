"""Settings: the example loads as-is; every mistake is one line naming key, problem and fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.badge_rules import BadgeSettings
from bot.errors import ConfigError
from bot.offers import OfferSettings
from bot.settings import FileSettings, load_settings


def _load(tmp_path, text: str, environ=None):
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ=environ or {})


def test_the_example_file_loads_as_is_and_documents_every_key(project_root):
    example = project_root / "bot.toml.example"
    settings = load_settings(example, environ={})
    assert settings.community.timezone == "UTC"
    text = example.read_text()
    for section, model in FileSettings.model_fields.items():
        tables = {dict[str, BadgeSettings]: BadgeSettings, dict[str, OfferSettings]: OfferSettings}
        if model.annotation in tables:  # [badges.<slug>] and [offers.<slug>] tables
            assert f"[{section}." in text
            for key in tables[model.annotation].model_fields:
                assert f"{key} = " in text, f"bot.toml.example does not document {section}.*.{key}"
            continue
        assert f"[{section}]" in text
        for key in model.annotation.model_fields:
            assert f"\n{key} = " in text, f"bot.toml.example does not document {section}.{key}"


def test_the_environment_overrides_the_database_url(tmp_path):
    settings = _load(
        tmp_path,
        "[database]\nurl = 'sqlite+aiosqlite:///a.db'\n",
        {"FLYWHEEL_DATABASE_URL": "postgresql+asyncpg://u@h/db"},
    )
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[web]\nprot = 8080\n", "unknown key 'web.prot'; remove it or fix its spelling"),
        ("[web]\nport = 'eighty'\n", "'web.port' is invalid: Input should be a valid integer"),
        (
            "[community]\ntimezone = 'Mars/Olympus'\n",
            "'Mars/Olympus' is not an IANA time zone; use a name like 'Europe/Berlin'",
        ),
        (
            "[discord]\ntoken = 'abc'\n",
            "'discord.token' looks like a secret; secrets are never read from bot.toml: remove it and set DISCORD_TOKEN or SLACK_BOT_TOKEN",
        ),
        ("[slack]\nsigning_secret = 'x'\n", "set SLACK_SIGNING_SECRET in the environment"),
        ("[database]\nurl = 'mysql://x'\n", "'mysql' is not supported"),
        ("[web\n", "not valid TOML"),
        (
            "[media]\nmax_bytes = 500\n",
            "'media.max_bytes' is invalid: Input should be greater than or equal to 1024",
        ),
        ("[media]\nmax_bytes = 1_000_000_000\n", "'media.max_bytes' is invalid"),
        ("[media]\ndir = ''\n", "'media.dir' is invalid: give a folder"),
        ("[media]\nfetch_timeout_seconds = 0\n", "'media.fetch_timeout_seconds' is invalid"),
    ],
)
def test_a_bad_setting_gives_one_line_naming_the_key_and_the_fix(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found; pass --config"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_secrets_come_from_the_environment_and_are_never_printed():
    settings = load_settings(environ={"DISCORD_TOKEN": "super-secret-token"})
    assert settings.discord_enabled
    assert "super-secret-token" not in repr(settings) and "super-secret-token" not in str(settings)


def test_the_command_line_prints_one_line_and_exits_2_on_a_bad_file(tmp_path):
    path = tmp_path / "bot.toml"
    path.write_text("[community]\ntimezone = 'Nowhere/Land'\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "migrate", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "community.timezone" in result.stderr and "IANA" in result.stderr


@pytest.mark.parametrize(
    "zone",
    ["Europe", "America", "Z" * 300, "../etc", "Europe/Berlin\\u0000", "zone.tab"],
    ids=["folder", "another-folder", "300-chars", "dot-dot", "nul", "data-file"],
)
def test_a_time_zone_that_is_a_folder_or_too_long_is_one_line_naming_the_key(tmp_path, zone):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f'[community]\ntimezone = "{zone}"\n')

    message = str(caught.value)
    assert "'community.timezone' is invalid" in message and "IANA time zone" in message
    assert "\n" not in message and "Traceback" not in message


def test_the_media_folder_must_be_a_folder_where_it_already_exists(tmp_path):
    (tmp_path / "taken").write_text("a file")

    for folder in (tmp_path / "taken", tmp_path / "taken" / "media"):
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, f"[media]\ndir = '{folder}'\n")
        message = str(caught.value)
        assert "'media.dir' is invalid" in message and "is a file, not a folder" in message
        assert "\n" not in message


def test_the_media_folder_defaults_to_media_in_the_working_directory(tmp_path):
    settings = _load(tmp_path, f"[media]\ndir = '{tmp_path / 'files'}'\n")

    assert load_settings(environ={}).media.path == Path("media")
    assert settings.media.path == tmp_path / "files" and settings.media.max_bytes == 8 * 1024**2
