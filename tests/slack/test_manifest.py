"""The Slack app manifest: the shape and limits of Slack's manifest schema (version 1)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, load_settings
from bot.slack.manifest import slack_manifest

PUBLIC_URL = "https://bot.acme.example/"
REQUEST_URL = "https://bot.acme.example/slack/events"
# Slack scopes are "resource:action[.qualifier]"; "commands" is the one without a colon.
SCOPE = re.compile(r"^[a-z_]+(:[a-z_.]+)*$")

# additionalProperties is false throughout the schema: only these keys are allowed.
TOP_KEYS = {"_metadata", "display_information", "features", "oauth_config", "settings"}
FEATURE_KEYS = {"app_home", "bot_user", "shortcuts", "slash_commands", "unfurl_domains"}
COMMAND_KEYS = {"command", "description", "usage_hint", "should_escape", "url"}
SETTINGS_KEYS = {
    "allowed_ip_address_ranges",
    "event_subscriptions",
    "incoming_webhooks",
    "interactivity",
    "org_deploy_enabled",
    "socket_mode_enabled",
    "token_rotation_enabled",
}


def settings_for(tmp_path: Path, mode: str, command: str = "/flywheel") -> Settings:
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[community]\nname = "Acme Makers"\n[slack]\nmode = "{mode}"\ncommand = "{command}"\n',
        encoding="utf-8",
    )
    return load_settings(config, environ={})


def urls(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield every key path ending in "url" with its value."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if key == "url" or key.endswith("_url"):
                yield here, item
            yield from urls(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from urls(item, f"{path}[{index}]")


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_the_manifest_has_the_required_keys_and_respects_slacks_limits(
    tmp_path: Path, mode: str
) -> None:
    manifest = slack_manifest(settings_for(tmp_path, mode), public_url=PUBLIC_URL)

    assert json.loads(json.dumps(manifest)) == manifest  # plain JSON, as the CLI prints it
    assert set(manifest) <= TOP_KEYS
    assert {"display_information", "features", "oauth_config", "settings"} <= set(manifest)
    display = manifest["display_information"]
    assert len(display["name"]) in range(1, 36)
    assert len(display["description"]) in range(1, 141)
    features = manifest["features"]
    assert set(features) <= FEATURE_KEYS
    assert len(features["bot_user"]["display_name"]) in range(1, 81)
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    (command,) = features["slash_commands"]
    assert set(command) <= COMMAND_KEYS
    assert command["command"].startswith("/") and 2 <= len(command["command"]) <= 32
    assert len(command["description"]) in range(1, 2001)
    assert len(command["usage_hint"]) in range(1, 1001)
    assert command["should_escape"] is True  # mentions arrive as <@U…|name>
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert scopes and len(scopes) == len(set(scopes)) <= 255
    assert all(SCOPE.fullmatch(scope) and len(scope) <= 50 for scope in scopes)
    settings = manifest["settings"]
    assert set(settings) <= SETTINGS_KEYS
    events = settings["event_subscriptions"]["bot_events"]
    assert len(events) == len(set(events)) <= 100
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_http_mode_points_commands_events_and_interactivity_at_our_web_server(
    tmp_path: Path,
) -> None:
    manifest = slack_manifest(settings_for(tmp_path, "http"), public_url=PUBLIC_URL)

    assert dict(urls(manifest)) == {
        "features.slash_commands[0].url": REQUEST_URL,
        "settings.event_subscriptions.request_url": REQUEST_URL,
        "settings.interactivity.request_url": REQUEST_URL,
    }
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_socket_mode_has_no_request_urls(tmp_path: Path) -> None:
    manifest = slack_manifest(settings_for(tmp_path, "socket"), public_url=PUBLIC_URL)

    assert list(urls(manifest)) == []
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_the_configured_command_name_is_the_one_slack_registers(tmp_path: Path) -> None:
    manifest = slack_manifest(settings_for(tmp_path, "socket", "/acme"), public_url=PUBLIC_URL)

    assert manifest["features"]["slash_commands"][0]["command"] == "/acme"


def test_every_subscribed_event_has_the_scope_slack_requires_for_it(tmp_path: Path) -> None:
    manifest = slack_manifest(settings_for(tmp_path, "socket"), public_url=PUBLIC_URL)
    needs = {
        "app_home_opened": set(),
        "message.channels": {"channels:history"},
        "reaction_added": {"reactions:read"},
        "member_joined_channel": {"channels:read"},
        "team_join": {"users:read"},
    }

    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    events = manifest["settings"]["event_subscriptions"]["bot_events"]

    assert set(events) == set(needs)
    for event in events:
        assert needs[event] <= scopes, event
    # What the sender and the listeners call.
    assert {"commands", "chat:write", "im:write", "files:write", "users:read"} <= scopes
    assert "files:read" in scopes  # url_private of the files members share needs it
    assert {"usergroups:read", "usergroups:write"} <= scopes
    # The sender reads back a conversation before re-sending a retried post or DM.
    assert {"channels:history", "groups:history", "im:history"} <= scopes
