"""The one place where a failed Slack listener becomes a short, polite, ephemeral reply."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.acting import refused, unexpected_failure
from bot.errors import FlywheelError
from bot.slack.render import fit_text
from bot.text import slack_escape

log = logging.getLogger(__name__)

# Payload types where a person clicked or typed something and is waiting for an answer.
# Events (a message in a channel, a reaction) are nobody's request: failures there are
# only logged, never DMed to the member who happened to trigger them.
_INTERACTIVE_TYPES = frozenset({"block_actions", "view_submission", "shortcut", "message_action"})


def describe_failure(error: BaseException) -> str:
    """Turn a listener's exception into the text to show, logging unexpected ones with an id."""
    if isinstance(error, FlywheelError):
        refused(error, "Slack request")
        return slack_escape(error.message)
    return unexpected_failure(error, "Slack listener", logger=log)


def _user_id(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "") or None
    return str(body.get("user_id") or "") or None


async def tell_user(
    body: dict[str, Any],
    text: str,
    *,
    respond: AsyncRespond | None,
    client: AsyncWebClient | None,
) -> None:
    """Reply ephemerally where the request came from; fall back to the app's DM for modals."""
    text = fit_text(text)
    if respond is not None:
        # replace_original=False: an error must not wipe the message whose button was clicked.
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return
    user_id = _user_id(body)
    if client is None or user_id is None or body.get("type") not in _INTERACTIVE_TYPES:
        return
    channel = body.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if channel_id:
        await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    else:
        # Modals and the Home tab have no channel: the app's Messages tab is where the member looks.
        await client.chat_postMessage(channel=user_id, text=text)


async def tell_author(
    client: AsyncWebClient, user_id: str, channel_id: str | None, text: str
) -> None:
    """Answer someone ephemerally in a channel they were in, else in the app's DM; never raise."""
    text = fit_text(text)
    try:
        if channel_id:
            try:
                await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
                return
            except SlackApiError as exc:
                # Not in that channel any more, or a DM: the app's Messages tab always works.
                log.info("ephemeral answer in %s failed: %s", channel_id, exc.response.get("error"))
        await client.chat_postMessage(channel=user_id, text=text)
    except SlackApiError:
        log.warning("could not answer %s: %s", user_id, text, exc_info=True)


async def report_failure(
    error: BaseException,
    body: dict[str, Any],
    *,
    respond: AsyncRespond | None,
    client: AsyncWebClient | None,
) -> None:
    """Log the failure if unexpected and tell the member, never raising."""
    text = describe_failure(error)
    try:
        await tell_user(body, text, respond=respond, client=client)
    except Exception:
        # The reply itself failed (Slack down, response_url expired): the log is all we have.
        log.warning("could not tell the Slack user about a failure: %s", text, exc_info=True)


@asynccontextmanager
async def reported(
    body: dict[str, Any],
    *,
    respond: AsyncRespond | None,
    client: AsyncWebClient | None,
) -> AsyncIterator[None]:
    """Report what the block raises exactly as the global handler does, after ack().

    Listeners wrap their work in this instead of letting bolt see the exception: bolt
    (1.30, default process_before_response=False) resets the ack when a listener raises,
    so an error within about 10 ms of ack() leaves Slack with a 404 after 3 seconds.
    """
    try:
        yield
    except Exception as error:
        await report_failure(error, body, respond=respond, client=client)


def install_error_handler(app: AsyncApp) -> None:
    """Register the app's one global error handler (middleware and unguarded listeners)."""

    async def on_error(
        error: Exception,
        body: dict[str, Any],
        respond: AsyncRespond | None,
        client: AsyncWebClient | None,
    ) -> None:
        await report_failure(error, body, respond=respond, client=client)

    app.error(on_error)
