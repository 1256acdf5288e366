"""Deliver outbox effects to Slack: posts, thread replies, DMs (with a file), edits, access.

Targets: ``channel:<id>`` (a post; a reply goes into the thread of the earlier post the
registry found), ``user:<id>`` (a DM), ``subject:…`` (an edit of the post the registry
found), ``member:<team>:<user>`` (a role change: the access key's user group or private
channel from ``[slack.access]``). Messages are rendered by :mod:`bot.slack.render`.

A DM's file goes up with ``files_upload_v2`` into the DM, the text as its comment, so a
member's data export arrives as one real JSON file, like the attachment Discord sends.
Slack answers that upload with the file's id, not a message timestamp, so that id is what
the outbox records; every other message effect records the message's ``ts``.

Exactly once: a Slack message has no idempotency key, so every post carries the outbox key
in its message ``metadata``. When an earlier try may have reached Slack (the effect failed
after the request left, or its dispatcher died between "sent" and "marked sent"), the
sender first reads the conversation since the effect was queued (``conversations.history``,
or ``conversations.replies`` for a thread reply) and returns the message it finds instead of
posting again. Files cannot carry metadata, so a file's name carries a short reference to
its outbox key, which a retried DM with a file looks for in the DM. Discord solves
the same gap with the message nonce (bot/discord/sender.py); Slack has no equivalent, and a
check before *every* post would double the requests, so only retries pay for it.

The client has no rate-limit retry handler: a 429 becomes :class:`RetryLater` so the
dispatcher, which paces every Slack effect, holds the bucket for Retry-After seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import DirectMessage, Edit, Post, RoleChange
from bot.outbox import Blocked, Effect, PermanentFailure, Posted, RateLimit, RetryLater
from bot.slack.access_errors import blocked_reason, unset_access
from bot.slack.render import content

log = logging.getLogger(__name__)

PLATFORM = "slack"
GLOBAL_BUCKET = "slack:global"
# Slack allows bursts, but about one message per second per conversation over time, and
# roughly 50 calls a minute per method for most of the methods we use; 50 a second across
# the workspace keeps a burst of posts to many channels from tripping anything.
GLOBAL_LIMIT = RateLimit(50, 1.0)
PER_CHANNEL_LIMIT = RateLimit(1, 1.0)
# usergroups.users.update is a Tier 2 method: about 20 calls a minute.
USERGROUP_LIMIT = RateLimit(20, 60.0)
# conversations.open, .history and .replies are Tier 3: about 50 calls a minute each. (The
# stricter history limits Slack set in 2025 for commercially distributed apps outside the
# Marketplace do not apply: each brand creates its own app from our manifest.)
TIER3_LIMIT = RateLimit(50, 60.0)
OPEN_BUCKET = "slack:method:conversations.open"
# The message metadata every post carries (event_type: letters, digits and underscores).
METADATA_EVENT = "flywheel_outbox"
# How far back a retried effect looks for its earlier delivery: from when it was queued, less
# this much for a clock that differs from Slack's, and at most this many pages of messages.
LOOKBACK_SKEW = timedelta(minutes=5)
LOOKBACK_PAGE = 200
LOOKBACK_PAGES = 5

_WHAT = {
    "post": "post",
    "reply": "thread reply",
    "dm": "DM",
    "edit": "edit",
    "role": "access change",
}

# Errors that no retry can fix, in words an owner reading the dead letters understands.
PERMANENT_ERRORS: dict[str, str] = {
    "channel_not_found": "the channel does not exist or the app cannot see it",
    "not_in_channel": "the app is not a member of the channel; invite it with /invite",
    "is_archived": "the conversation is archived",
    "user_disabled": "the user's account is deactivated",
    "user_not_found": "Slack does not know that user",
    "cannot_dm_bot": "the recipient is a bot, and bots cannot be sent DMs",
    "account_inactive": "the app's bot user or workspace is deactivated; reinstall the app",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid; copy the current bot token from the app's settings",
    "not_authed": "no SLACK_BOT_TOKEN was sent",
    "token_revoked": "SLACK_BOT_TOKEN was revoked; reinstall the app and update the token",
    "missing_scope": "the app lacks a permission; add it to the manifest and reinstall the app",
    "msg_too_long": "the message is longer than Slack allows",
    "no_text": "the message has no text",
    "invalid_blocks": "the message's blocks are malformed",
    "restricted_action": "a workspace setting stops the app from posting there",
    "message_not_found": "the message to change no longer exists",
    "cant_update_message": "the message was not posted by this app",
    "edit_window_closed": "the message is too old to be edited",
    "thread_not_found": "the thread's first message no longer exists",
    "no_such_subteam": "the user group does not exist",
    "invalid_users": "Slack does not know that user",
    "invalid_user": "that user cannot be in a user group",
    "permission_denied": "the app is not allowed to manage user groups in this workspace",
    "cant_invite_self": "the app cannot invite itself",
    "cant_kick_self": "the app cannot remove itself",
}
_ARCHIVED_DM = "the DM is archived, which Slack does when the user's account is deactivated"


class SlackSender:
    """Sends Slack effects for the outbox dispatcher."""

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        *,
        api_base: str | None = None,
        access: dict[str, str] | None = None,
    ) -> None:
        self._access = dict(access or {})
        # No retry handlers: the dispatcher owns retries and pacing, so a 429 must reach us.
        self.client = AsyncWebClient(
            token=token, base_url=api_base or AsyncWebClient.BASE_URL, retry_handlers=[]
        )
        # A member's DM channel never changes; remembering it saves a Tier 3 call.
        self._dm_channels: dict[str, str] = {}
        self._name: str | None = None

    # -- pacing ------------------------------------------------------------------------------------

    def limits(self, effect: Effect) -> Sequence[tuple[str, RateLimit]]:
        """Return the buckets an effect counts against: workspace, conversation, Tier 3 calls."""
        try:
            bucket, limit = _own_bucket(effect)
        except PermanentFailure:
            # send() reports the malformed target; pacing it costs nothing.
            return [(GLOBAL_BUCKET, GLOBAL_LIMIT)]
        buckets = [(GLOBAL_BUCKET, GLOBAL_LIMIT), (bucket, limit)]
        if self._needs_dm_channel(effect):
            buckets.append((OPEN_BUCKET, TIER3_LIMIT))
        if effect.attempts and effect.action in ("post", "reply", "dm"):
            # The read-back before a retry (a lookback of several pages counts once).
            in_thread = effect.thread is not None
            buckets.append((_read_bucket(in_thread=in_thread), TIER3_LIMIT))
        return buckets

    # -- sending -----------------------------------------------------------------------------------

    async def send(self, effect: Effect) -> Posted | None:
        """Deliver one effect; return where its message is (a DM's file: the file's id)."""
        try:
            return await self._send(effect)
        except SlackApiError as exc:
            failure = _classify(effect, exc)
            if failure is None:
                raise
            raise failure from exc

    async def _send(self, effect: Effect) -> Posted | None:
        message = effect.message
        if isinstance(message, Post):
            channel = _target(effect, "channel", 1)[0]
            thread = effect.thread
            if thread is not None:
                channel = thread.channel_id
            thread_ts = (thread.thread_id or thread.message_id) if thread else None
            return await self._post(effect, channel, thread_ts=thread_ts)
        if isinstance(message, DirectMessage):
            return await self._dm(effect, message, _target(effect, "user", 1)[0])
        if isinstance(message, Edit) and effect.original is not None:
            original = effect.original
            response = await self.client.chat_update(
                channel=original.channel_id,
                ts=original.message_id,
                **content(message.body, message.buttons, edit=True),
            )
            return Posted(original.channel_id, str(response["ts"]), original.thread_id)
        if isinstance(message, RoleChange):
            user_id = _target(effect, "member", 2)[1]
            await self._change_access(message, user_id)
            return None
        raise PermanentFailure(f"Slack cannot deliver a {effect.action!r} to {effect.target!r}")

    async def _post(
        self, effect: Effect, channel: str, *, thread_ts: str | None, dm_of: str | None = None
    ) -> Posted:
        message = effect.message
        assert isinstance(message, Post | DirectMessage)
        if effect.attempts:
            earlier = await self._earlier_delivery(
                effect, channel, thread_ts, lambda found: _carries_key(found, effect.key)
            )
            if earlier is not None:
                return Posted(channel, earlier, thread_ts)
        response = await self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            # Mentions and links only where the text spells them out; nothing is guessed.
            parse="none",
            link_names=False,
            unfurl_links=False,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": effect.key}},
            **content(message.body, message.buttons),
        )
        posted_in = str(response.get("channel") or channel)
        if dm_of is not None and response.get("channel"):
            # Posting to a user ID answers with the DM's channel: a retry can read it back.
            self._dm_channels[dm_of] = posted_in
        return Posted(posted_in, str(response["ts"]), thread_ts)

    async def _dm(self, effect: Effect, message: DirectMessage, user_id: str) -> Posted:
        if not message.files:
            if not effect.attempts:
                # A user ID as the channel posts in the app's DM with them: no Tier 3
                # conversations.open before each of 500 reminder DMs.
                return await self._post(effect, user_id, thread_ts=None, dm_of=user_id)
            # Reading the DM back before a retry needs its channel id.
            channel = await self._dm_channel(effect, user_id)
            return await self._post(effect, channel, thread_ts=None)
        channel = await self._dm_channel(effect, user_id)
        file = message.files[0]
        # Files carry no metadata: the name carries a reference to this effect instead, so a
        # retry finds this file and not an earlier one of the same name (a second export).
        name = _file_name(effect.key, file.name)
        if effect.attempts:
            earlier = await self._earlier_delivery(
                effect, channel, None, lambda found: _file_named(found, name)
            )
            if earlier is not None:
                return Posted(channel, earlier)
        uploaded = await self.client.files_upload_v2(
            channel=channel,
            filename=name,
            title=name,
            content=file.content,
            initial_comment=content(message.body, ())["text"] or None,
        )
        return Posted(channel, str(uploaded["file"]["id"]))

    def _needs_dm_channel(self, effect: Effect) -> bool:
        if effect.action != "dm" or effect.target.removeprefix("user:") in self._dm_channels:
            return False
        message = effect.message
        return bool(effect.attempts) or (isinstance(message, DirectMessage) and bool(message.files))

    async def _dm_channel(self, effect: Effect, user_id: str) -> str:
        """Return the id of the app's DM with a member, opening it once per process."""
        channel = self._dm_channels.get(user_id)
        if channel is None:
            try:
                opened = await self.client.conversations_open(users=user_id)
            except SlackApiError as exc:
                failure = _classify(effect, exc, bucket=OPEN_BUCKET)
                if isinstance(failure, RetryLater):
                    raise failure from exc
                raise  # send() classifies everything else
            channel = self._dm_channels[user_id] = str(opened["channel"]["id"])
        return channel

    async def _earlier_delivery(
        self, effect: Effect, channel: str, thread_ts: str | None, matches: _Matcher
    ) -> str | None:
        """Return the id of a message an earlier try of this effect posted, if one is found."""
        oldest = _slack_ts(effect.created_at - LOOKBACK_SKEW) if effect.created_at else None
        cursor: str | None = None
        # A thread reply is read back among the thread's replies, anything else in the history.
        read = self.client.conversations_replies if thread_ts else self.client.conversations_history
        thread: dict[str, Any] = {"ts": thread_ts} if thread_ts else {}
        try:
            for _ in range(LOOKBACK_PAGES):
                page = await read(
                    channel=channel,
                    oldest=oldest,
                    limit=LOOKBACK_PAGE,
                    cursor=cursor,
                    include_all_metadata=True,
                    **thread,
                )
                for message in page.get("messages") or []:
                    found = matches(message)
                    if found is not None:
                        log.info(
                            "outbox %s was already delivered to Slack; not sent again", effect.key
                        )
                        return found
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not page.get("has_more") or not cursor:
                    return None
        except SlackApiError as exc:
            failure = _classify(effect, exc, bucket=_read_bucket(in_thread=bool(thread_ts)))
            if isinstance(failure, RetryLater):
                raise failure from exc
            if failure is None:
                raise  # a passing fault: send() lets the dispatcher back off, not guess
            # Looking can never work here (a scope the app lacks, say): deliver, and say so.
            advice = ""
            if exc.response.get("error") == "missing_scope":
                advice = "; update the app from `flywheel commands slack` and reinstall it"
            log.warning(
                "outbox %s: cannot check Slack for an earlier delivery, so it may arrive twice "
                "(%s)%s",
                effect.key,
                failure.reason,
                advice,
            )
            return None
        log.warning(
            "outbox %s: no earlier delivery in the last %d messages; sending it again",
            effect.key,
            LOOKBACK_PAGES * LOOKBACK_PAGE,
        )
        return None

    async def _change_access(self, message: RoleChange, user_id: str) -> None:
        where = self._access.get(message.access)
        if where is None:
            raise Blocked(unset_access(message.access))
        try:
            if where.startswith("S"):
                await self._change_usergroup(where, user_id, add=message.grant)
            elif message.grant:
                await self._invite(where, user_id)
            else:
                await self._kick(where, user_id)
        except SlackApiError as exc:
            app = await self._app_name()
            reason = blocked_reason(exc.response, access=message.access, where=where, app=app)
            if reason is None:
                raise
            raise Blocked(reason) from exc

    async def _invite(self, channel: str, user_id: str) -> None:
        try:
            await self.client.conversations_invite(channel=channel, users=user_id)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_in_channel":
                raise

    async def _kick(self, channel: str, user_id: str) -> None:
        try:
            await self.client.conversations_kick(channel=channel, user=user_id)
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise
            # Slack says not_in_channel both when the user is not there (done already) and
            # when the app itself is not: only the second needs the owner.
            info = await self.client.conversations_info(channel=channel)
            if not (info.get("channel") or {}).get("is_member"):
                raise

    async def _app_name(self) -> str:
        """Return the app's bot user name, as members see it (asked once)."""
        if self._name is None:
            try:
                self._name = str((await self.client.auth_test()).get("user") or "Flywheel")
            except SlackApiError:
                return "Flywheel"
        return self._name

    async def _change_usergroup(self, group: str, user_id: str, *, add: bool) -> None:
        listed = await self.client.usergroups_users_list(usergroup=group)
        users = [str(user) for user in listed.get("users") or []]
        if (user_id in users) == add:
            return  # already as wanted: a retried effect changes nothing
        wanted = [*users, user_id] if add else [user for user in users if user != user_id]
        if not wanted:
            raise PermanentFailure(
                f"Slack cannot remove the last member of user group {group}; "
                "disable the group in Slack instead"
            )
        # A read-modify-write: the per-group bucket keeps one process's changes in order.
        await self.client.usergroups_users_update(usergroup=group, users=wanted)


_Matcher = Callable[[dict[str, Any]], str | None]


def _carries_key(message: dict[str, Any], key: str) -> str | None:
    """Return the message's ts if its metadata names this outbox key."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    if metadata.get("event_type") == METADATA_EVENT and payload.get("key") == key:
        return str(message["ts"])
    return None


def _file_named(message: dict[str, Any], name: str) -> str | None:
    """Return the id of a file with this name shared in the message, if any."""
    for shared in message.get("files") or []:
        if shared.get("name") == name:
            return str(shared["id"])
    return None


def _read_bucket(*, in_thread: bool) -> str:
    """Return the Tier 3 bucket of the read-back: replies in a thread, else the history."""
    return f"slack:method:conversations.{'replies' if in_thread else 'history'}"


def _file_name(key: str, name: str) -> str:
    """Return ``name`` with a short reference to the outbox key before its extension."""
    reference = hashlib.sha256(key.encode()).hexdigest()[:8]
    stem, _, extension = name.rpartition(".")
    if stem and extension:
        return f"{stem}-{reference}.{extension}"
    return f"{name.rstrip('.')}-{reference}"


def _slack_ts(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


def _target(effect: Effect, kind: str, parts: int) -> list[str]:
    prefix, _, rest = effect.target.partition(":")
    values = rest.split(":", parts - 1) if rest else []
    if prefix != kind or len(values) != parts or not all(values):
        shape = ":".join([kind, *(["<id>"] * parts)])
        raise PermanentFailure(
            f"Slack {effect.action} target {effect.target!r} is malformed; expected {shape}"
        )
    return values


def _own_bucket(effect: Effect) -> tuple[str, RateLimit]:
    if effect.original is not None:
        return f"slack:channel:{effect.original.channel_id}", PER_CHANNEL_LIMIT
    if effect.thread is not None:
        return f"slack:channel:{effect.thread.channel_id}", PER_CHANNEL_LIMIT
    if effect.action in ("post", "reply"):
        return f"slack:channel:{_target(effect, 'channel', 1)[0]}", PER_CHANNEL_LIMIT
    if effect.action == "dm":
        # The DM channel's id is only known after conversations.open; one per user anyway.
        return f"slack:dm:{_target(effect, 'user', 1)[0]}", PER_CHANNEL_LIMIT
    if effect.action == "role":
        return f"slack:access:{_target(effect, 'member', 2)[1]}", USERGROUP_LIMIT
    if effect.action == "edit":
        return GLOBAL_BUCKET, GLOBAL_LIMIT
    raise PermanentFailure(f"Slack cannot do {effect.action!r}")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _classify(
    effect: Effect, exc: SlackApiError, *, bucket: str | None = None
) -> RetryLater | PermanentFailure | None:
    """Return RetryLater or PermanentFailure for a Slack error, or None to let it propagate.

    A rate limit holds ``bucket`` (the method's, for a Tier 3 call), else the effect's own.
    """
    response = exc.response
    error = str(response.get("error") or "")
    if response.status_code == 429 or error == "ratelimited":
        raw = _header(response.headers, "Retry-After")
        try:
            retry_after = max(1, int(raw)) if raw else 1
        except ValueError:
            retry_after = 1
        if bucket is None:
            with contextlib.suppress(PermanentFailure):
                bucket = _own_bucket(effect)[0]
        return RetryLater(retry_after=retry_after, bucket=bucket)
    explanation = PERMANENT_ERRORS.get(error)
    if explanation is None:
        return None
    if error == "is_archived" and effect.action == "dm":
        explanation = _ARCHIVED_DM
    if error == "missing_scope" and response.get("needed"):
        explanation = f"{explanation} (it needs {response.get('needed')})"
    what = _WHAT.get(effect.action, effect.action)
    return PermanentFailure(f"Slack refused the {what}: {explanation} ({error})")
