"""A yes/no prompt on Slack for something that cannot be undone, like Discord's ConfirmView.

The prompt is an ephemeral message with two buttons. It is answered once (the answer
replaces the message, buttons and all, and a second click on a stale copy does nothing),
only by the member who asked (anyone else is told so, politely), and it expires: each
button's value carries who asked, until when, and what about, so no table is needed and
a click after the expiry says so and takes the buttons away.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp

from bot.errors import Invalid
from bot.slack.blocks import actions_block, button, mrkdwn_section
from bot.slack.errors import describe_failure
from bot.slack.front import ActionCall, SlackCall, SlackFront

log = logging.getLogger(__name__)

CONFIRM_SECONDS = 120.0
WRONG_USER = "Only the person who asked can use these buttons."
NOT_A_PROMPT = "That button does not belong to a question I asked; run the command again."

# (the click, the prompt's subject) -> the text that replaces the prompt
OnConfirm = Callable[[ActionCall, str], Awaitable[str]]


@dataclass(frozen=True)
class _Ticket:
    """What a prompt's buttons carry: a one-time id, who asked, until when, about what."""

    nonce: str
    asker: str
    expires: int
    subject: str

    def encode(self) -> str:
        return json.dumps(
            {"n": self.nonce, "u": self.asker, "x": self.expires, "s": self.subject},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, value: str) -> _Ticket:
        try:
            data = json.loads(value)
            return cls(str(data["n"]), str(data["u"]), int(data["x"]), str(data["s"]))
        except (ValueError, TypeError, KeyError):
            raise Invalid(NOT_A_PROMPT, code="confirm.unknown") from None


class ConfirmPrompt:
    """Ask before something irreversible; ``on_confirm`` runs only for the asker's first yes."""

    def __init__(
        self,
        name: str,
        *,
        on_confirm: OnConfirm,
        confirm_label: str,
        cancel_label: str,
        cancelled_text: str,
        expired_text: str,
        seconds: float = CONFIRM_SECONDS,
    ) -> None:
        self.confirm_action = f"{name}_confirm"
        self.cancel_action = f"{name}_cancel"
        self.block_id = name
        self.on_confirm = on_confirm
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label
        self.cancelled_text = cancelled_text
        self.expired_text = expired_text
        self.seconds = seconds
        # Answered prompts until they expire: a double click must not act twice.
        self._answered: dict[str, int] = {}

    def register(self, app: AsyncApp, front: SlackFront) -> None:
        """Listen for the prompt's two buttons."""
        app.action(self.confirm_action)(front.action(self._confirm))
        app.action(self.cancel_action)(front.action(self._cancel))

    async def ask(self, call: SlackCall, *, text: str, question: str, subject: str = "") -> None:
        """Show the caller the question (mrkdwn) with the two buttons; ``text`` is the fallback."""
        now = call.runtime.clock.now().timestamp()
        ticket = _Ticket(
            nonce=secrets.token_hex(8),
            asker=call.user_id,
            expires=math.ceil(now + self.seconds),
            subject=subject,
        )
        value = ticket.encode()
        await call.reply(
            text,
            blocks=[
                mrkdwn_section(question),
                actions_block(
                    self.block_id,
                    [
                        button(self.confirm_label, self.confirm_action, value, style="danger"),
                        button(self.cancel_label, self.cancel_action, value),
                    ],
                ),
            ],
        )

    async def _answer(self, call: ActionCall) -> _Ticket | None:
        """Return the ticket if this click is the asker's first answer in time, else say why."""
        ticket = _Ticket.decode(call.value)
        if call.user_id != ticket.asker:
            await call.reply(WRONG_USER)
            return None
        now = call.runtime.clock.now().timestamp()
        if now > ticket.expires:
            await call.replace(self.expired_text)
            return None
        for nonce in [n for n, expires in self._answered.items() if expires < now]:
            del self._answered[nonce]
        if ticket.nonce in self._answered:
            log.info("prompt %s answered twice; the second click is ignored", self.block_id)
            return None
        self._answered[ticket.nonce] = ticket.expires
        return ticket

    async def _confirm(self, call: ActionCall) -> None:
        ticket = await self._answer(call)
        if ticket is None:
            return
        try:
            text = await self.on_confirm(call, ticket.subject)
        except Exception as error:
            # Say why in place of the prompt: its buttons would only fail again.
            await call.replace(describe_failure(error))
            return
        await call.replace(text)

    async def _cancel(self, call: ActionCall) -> None:
        if await self._answer(call) is not None:
            await call.replace(self.cancelled_text)
