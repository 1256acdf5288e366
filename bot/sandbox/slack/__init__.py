"""A local fake Slack: a Web API server and a sender of signed requests, for tests and demos.

`SlackSandbox` serves the Web API on 127.0.0.1 with aiohttp, so the real slack-bolt `AsyncApp` and
slack-sdk `AsyncWebClient` run unmodified against it (`AsyncWebClient(base_url=sandbox.api_base)`).
`SlackEventSender` plays Slack's other half: it posts slash commands, interactivity payloads and
Events API envelopes to the bot's request URL, signed with the signing secret as Slack signs them.

It speaks the wire protocol and keeps a small workspace state (users, channels, DMs, messages,
views, user groups); every call is recorded so tests can wait for the call they expect.

Fidelity notes (what a bot sees here, as on Slack):
- Every Web API answer is HTTP 200 with `{"ok": ...}`, except rate limits (HTTP 429, `Retry-After`
  in whole seconds, body `{"ok": false, "error": "ratelimited"}`).
- `auth.test` answers with `bot_id` and the `x-oauth-scopes` header: bolt reads `bot_id` to tell a
  bot token from a user token, and the header for `context.bot_scopes`.
- `close_dms(user)` models a deactivated account, the state in which Slack refuses a bot's DM:
  `conversations.open` then answers `user_disabled` and `chat.postMessage` to the user (by user ID
  or DM channel ID) answers `is_archived`, because Slack archives a deactivated user's DMs.
  (`cannot_dm_bot` is what Slack answers when the target is a bot user, the sandbox's own included.)
- Trigger IDs are single-use and expire after 3 s (`invalid_trigger_id`, `exchanged_trigger_id`,
  `expired_trigger_id`), so a bot that does slow work before `views.open` fails here as on Slack.
- Files go up as `files_upload_v2` sends them: `files.getUploadURLExternal`, a POST of the bytes to
  the returned upload URL (recorded as "upload_url"), then `files.completeUploadExternal`, which
  shares the file in the conversation with the initial comment as the message text.
- An image block needs `alt_text` and exactly one source: `image_url`, or `slack_file` naming an
  uploaded file by `id` or by its `url_private` (not both); a file that is unknown, was never
  uploaded or is no PNG, JPEG or GIF makes `invalid_blocks`, in messages, responses and views.
  Slack processes an upload for a moment after `files.completeUploadExternal`, and a block naming
  it meanwhile is `invalid_blocks` too: `state.processing_uploads = True` keeps uploads there.
  A refused `response_url` post answers `{"ok": false, "error": ...}` and shows nothing.
- `fail_uploads(status)` makes the upload URL (files.slack.com, outside the Web API) answer an
  HTTP error, as `files_upload_v2` then raises `SlackRequestError`.
- `delete_user_message(channel, ts)` deletes a member's message as Slack does: one with replies
  leaves a `tombstone` (by `USLACKBOT`, hidden) that `conversations.replies` still shows first.
- Files members pick in a modal's `file_input` are seeded with `add_user_file(user, name, data,
  mimetype)`, described by `files.info` and served at `url_private` / `url_private_download` only
  with `Authorization: Bearer <bot token>`; without it the answer is a 302 to an HTML sign-in page
  (recorded as "file_download" calls). The declared mimetype and size are kept, never corrected.
- Views: a `file_input` (only in an input block; `max_files` 1-10, `filetypes` a list of
  extensions) and `radio_buttons` / `checkboxes` (1-10 options) outside their limits make
  `invalid_blocks`.
- `chat.postMessage` keeps `metadata` (`{"event_type", "event_payload"}`, else
  `invalid_metadata_format`); `conversations.history` (newest first, top-level messages only) and
  `conversations.replies` (parent first) return it only with `include_all_metadata`, and page with
  `limit`, `cursor` and `response_metadata.next_cursor`, bounded by `oldest` and `latest`.
- Socket Mode: `apps.connections.open` (app token only) hands out a WebSocket URL; the sandbox greets
  with `hello`, `socket_send()` pushes an envelope and the client's acknowledgement is recorded as a
  "socket_ack" call (a new connection as "socket_connect").
- Scopes: `auth.test` reports `scopes` in `x-oauth-scopes`; of them the history scopes
  (`conversations.history`/`.replies`) and `usergroups:read`/`usergroups:write` (`usergroups.*`)
  are enforced: `missing_scope` with `needed`. User groups need a paid plan:
  `state.paid_plan = False` makes `usergroups.*` answer `paid_teams_only`.
- Channel membership: the bot is in every seeded channel unless seeded with `bot_is_member=False`
  (or taken out with `state.set_bot_membership(channel, member=False)`: then
  `conversations.invite`/`.kick` answer `not_in_channel`, an unknown channel `channel_not_found`);
  `conversations.invite` and `.kick` change who is in a channel (`members_of`). Posting does not
  check membership.
- Not modelled: multi-person DMs, other scopes, the five-uses limit of a response URL, and retries
  of unanswered events.

Where things live: `state` (the workspace), `wire` (arguments, signing, limits), `methods/` (the
Web API, one module per method family), `socket_mode`, `sender` (Slack's side of the request URL)
and `sandbox` (the control API tests call).
"""

from __future__ import annotations

from bot.sandbox.slack.sandbox import RecordedCall, SlackSandbox
from bot.sandbox.slack.sender import BotReply, SlackEventSender
from bot.sandbox.slack.wire import (
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_VIEW_BLOCKS,
    STALE_REQUEST_SECONDS,
    TRIGGER_TTL_SECONDS,
    sign_slack_request,
)

__all__ = [
    "MAX_MESSAGE_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_VIEW_BLOCKS",
    "STALE_REQUEST_SECONDS",
    "TRIGGER_TTL_SECONDS",
    "BotReply",
    "RecordedCall",
    "SlackEventSender",
    "SlackSandbox",
    "sign_slack_request",
]
