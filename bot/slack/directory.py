"""Who a Slack user is to Flywheel: the role, decided on the server side, and the display name."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.services.callers import Role
from bot.settings import SlackSettings

log = logging.getLogger(__name__)

# users.info answers are reused this long: a promotion or demotion shows within a minute,
# and a burst of clicks costs one Web API call.
ROLE_CACHE_SECONDS = 60.0
ROLE_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class SlackUser:
    """What users.info told us about a workspace member, reduced to what Flywheel uses."""

    role: Role
    display_name: str | None
    is_bot: bool = False


class UserDirectory:
    """Decide a Slack user's role on the server side, from settings and users.info, cached briefly."""

    def __init__(
        self,
        settings: SlackSettings,
        clock: Clock,
        *,
        ttl_seconds: float = ROLE_CACHE_SECONDS,
        max_entries: int = ROLE_CACHE_SIZE,
    ) -> None:
        self._owners = frozenset(settings.owner_user_ids)
        self._moderators = frozenset(settings.moderator_user_ids)
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, SlackUser]] = OrderedDict()

    def _configured_role(self, user_id: str) -> Role:
        if user_id in self._owners:
            return Role.OWNER
        if user_id in self._moderators:
            return Role.MODERATOR
        return Role.MEMBER

    async def lookup(self, client: AsyncWebClient, *, team_id: str, user_id: str) -> SlackUser:
        """Return the user's role and display name."""
        key = (team_id, user_id)
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            answer = await client.users_info(user=user_id)
        except SlackApiError as exc:
            # Least privilege when Slack cannot tell us: settings still make owners owners.
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return SlackUser(role=self._configured_role(user_id), display_name=None)
        user = as_dict(answer.get("user"))
        found = SlackUser(
            role=self._role_of(user_id, user),
            display_name=_display_name(user),
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
        )
        self._cache[key] = (now, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return found

    def _role_of(self, user_id: str, user: dict[str, Any]) -> Role:
        configured = self._configured_role(user_id)
        if user.get("deleted") or user.get("is_bot"):
            return configured
        if user.get("is_owner") or user.get("is_primary_owner"):
            return Role.OWNER
        if user.get("is_admin"):
            return max(configured, Role.MODERATOR)
        return configured

    def forget(self, user_id: str) -> None:
        """Drop a user's cached answer (after they erased their data, for instance)."""
        for key in [key for key in self._cache if key[1] == user_id]:
            del self._cache[key]


def as_dict(value: Any) -> dict[str, Any]:
    """Return the value if it is a dict (of a JSON payload), else an empty dict."""
    return value if isinstance(value, dict) else {}


def _display_name(user: dict[str, Any]) -> str | None:
    profile = as_dict(user.get("profile"))
    for candidate in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:100]
    return None
