"""Discord forms whose refusals re-prompt: the message, and a button that reopens the form.

Discord shows no error under a modal's field, and a modal cannot answer with another
modal; so when a service refuses what was typed (:class:`bot.errors.Invalid`), the member
gets the message privately with a **Fix it** button that reopens the same form, prefilled
with what they typed. Nothing is validated here: the service says what is wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import discord

from bot.acting import refused
from bot.discord.bot import Interaction, PrivateView, report_failure, send_ephemeral, send_modal
from bot.errors import Invalid
from bot.text import discord_escape

FIX_SECONDS = 600.0
FORM_SECONDS = 3600.0  # an open form waits this long for its submission
FIX_LABEL = "Fix it"


class FixItView(PrivateView):
    """One button that reopens a form, for the member who submitted it."""

    def __init__(self, owner_id: int, reopen: Callable[[], discord.ui.Modal]) -> None:
        super().__init__(owner_id, timeout=FIX_SECONDS)
        self.reopen = reopen

    @discord.ui.button(label=FIX_LABEL, style=discord.ButtonStyle.primary)
    async def fix(self, interaction: Interaction, _: discord.ui.Button[Any]) -> None:
        """Open the form again, as the member left it."""
        await send_modal(interaction, self.reopen())


async def reprompt(
    interaction: Interaction,
    error: Invalid,
    reopen: Callable[[], discord.ui.Modal],
    *,
    note: str = "",
) -> None:
    """Tell the member what was wrong, privately, with a button to fix it in the same form.

    ``note`` adds what the reopened form cannot keep (files uploaded into it, say).
    """
    refused(error, "Discord form")
    await send_ephemeral(
        interaction,
        f"{discord_escape(error.message)}\nPress **{FIX_LABEL}** to change it; "
        f"what you typed is kept.{f' {note}' if note else ''}",
        view=FixItView(interaction.user.id, reopen),
    )


class ReopeningModal(discord.ui.Modal):
    """A form that answers a refusal with :func:`reprompt`, and any other failure as usual.

    Subclasses implement :meth:`reopened`: a new form prefilled with what was typed.

    Each opening gets a custom id of its own (``<name>:<random>``): discord.py keeps open
    forms by custom id alone, so two people with the same form open at once would otherwise
    share one instance — the second opening replaces the first, the first submission is
    handled with the second's state (another submission to reject, another prompt), and
    the second submission is then answered by nobody. An unsubmitted form is forgotten
    after :data:`FORM_SECONDS`.
    """

    def __init__(self, *, title: str, custom_id: str) -> None:
        super().__init__(
            title=title, custom_id=f"{custom_id}:{secrets.token_hex(6)}", timeout=FORM_SECONDS
        )

    def reopened(self) -> discord.ui.Modal:
        """Return a copy of this form holding what the member typed."""
        raise NotImplementedError

    async def on_error(self, interaction: Interaction, error: Exception, /) -> None:  # type: ignore[override]
        """Re-prompt on a refusal of the input; answer anything else through the one handler."""
        if isinstance(error, Invalid):
            await reprompt(interaction, error, self.reopened)
        else:
            await report_failure(interaction, error)
