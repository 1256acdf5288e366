"""Buying on Slack: `buy [offer]` gives a member their personal signed links (paged with
buttons when there are many offers), `billing` their Stripe billing page; `offer list` and
`offer show <offer>` are for owners. Every answer is ephemeral.

The service (:mod:`bot.services.payments`) signs the links, checks the role and counts; this
module parses, calls it and writes mrkdwn (bot.toml text escaped with
:func:`bot.text.slack_escape`).
"""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.errors import Invalid
from bot.inputs import ascii_int, shorten
from bot.services import payments
from bot.services.callers import Role
from bot.slack.blocks import Block, mrkdwn_section
from bot.slack.front import ActionCall, SlackCall, SlackFront, VerbCall
from bot.slack.paging import pager
from bot.slack.rituals.verbs import unescape
from bot.text import slack_escape

PAGE_ACTION = "buy_page"
OFFERS_PAGE_ACTION = "offers_page"
PER_PAGE = 8


def _echo(text: str, limit: int = 80) -> str:
    return slack_escape(shorten(text, limit))


def link_line(link: payments.BuyLink) -> str:
    """Return one offer and the member's link to it."""
    kind = " (subscription)" if link.offer.mode == "subscription" else ""
    line = f"*{_echo(link.offer.name)}*{kind}: <{link.url}>"
    if link.offer.description:
        line += f"\n>{_echo(link.offer.description, 150)}"
    return line


def _one_page(lines: list[str], page: int, action_id: str) -> tuple[str, list[Block]]:
    """Return page ``page`` of the lines (PER_PAGE a page) and its blocks, with page buttons."""
    pages = max(1, -(-len(lines) // PER_PAGE))
    shown = min(max(page, 1), pages)
    text = "\n".join(lines[(shown - 1) * PER_PAGE : shown * PER_PAGE])
    blocks: list[Block] = [mrkdwn_section(text)]
    turns = pager(action_id, shown, pages)
    if turns is not None:
        blocks.append(turns)
        text += f"\nPage {shown} of {pages}."
    return text, blocks


async def _links_page(call: SlackCall, offer: str | None, page: int) -> tuple[str, list[Block]]:
    runtime = call.runtime
    async with call.acting() as (session, actor):
        links = await payments.buy_links(
            session, runtime.clock, actor, runtime.settings, offer=offer
        )
    lines = [link_line(link) for link in links]
    text, blocks = _one_page(lines, page, PAGE_ACTION)
    note = (
        f"Your personal link{'s' if len(links) > 1 else ''}, valid until "
        f"{links[0].expires_at:%d %b %Y}: it tells the shop it's you, so keep it to yourself."
    )
    return f"{text}\n{note}", [*blocks, mrkdwn_section(note)]


async def buy_verb(call: VerbCall) -> None:
    """Give the member their link to the offer named, or to every offer (`buy 2`: page 2)."""
    named = unescape(call.rest).strip()
    page = ascii_int(named, max_digits=4) if named else None
    if page is not None:
        named = ""
    text, blocks = await _links_page(call, named or None, page or 1)
    await call.reply(text, blocks=blocks)


async def turn_links_page(call: ActionCall) -> None:
    """Show another page of the member's links."""
    text, blocks = await _links_page(call, None, ascii_int(call.value, max_digits=4) or 1)
    await call.replace(text, blocks=blocks)


async def billing_verb(call: VerbCall) -> None:
    """Give a paying member a link to Stripe's billing portal."""
    runtime = call.runtime
    async with call.acting() as (session, actor):
        customer = await payments.billing_customer(session, actor)
    if customer is None:
        claim = runtime.commands.spell("slack", "link purchase")
        await call.reply(payments.NO_PURCHASE.format(link_purchase=claim))
        return
    portal = await payments.open_portal(runtime.stripe, customer, runtime.settings.web.public_url)
    await call.reply(
        f"Your billing page, to update your card or cancel: <{portal.url}>\n"
        "It is yours alone and works for a short while; ask again for a fresh one."
    )


def figures_text(figures: payments.OfferFigures, *, detailed: bool) -> str:
    """Return one offer's settings and counts as mrkdwn."""
    facts = payments.offer_facts(figures, detailed=detailed)
    head = f"*{_echo(figures.offer.name)}*"
    if detailed and figures.offer.description:
        head += f"\n>{_echo(figures.offer.description, 300)}"
    return "\n".join([head, *(f"{label}: {_echo(value, 200)}" for label, value in facts)])


async def _offers_page(call: SlackCall, page: int) -> tuple[str, list[Block]]:
    async with call.acting() as (session, actor):
        overview = await payments.offer_overview(session, actor, call.runtime.settings.offers)
    lines = [figures_text(f, detailed=False) for f in overview.offers] or [
        "No offers yet: add [offers.<slug>] tables to bot.toml."
    ]
    if overview.unknown_offer_paid:
        lines.append(f"Paid orders naming no offer in bot.toml: {overview.unknown_offer_paid}.")
    return _one_page(lines, page, OFFERS_PAGE_ACTION)


async def offer_list_verb(call: VerbCall) -> None:
    """List the offers with what each sold (owners)."""
    page = (ascii_int(call.args[0], max_digits=4) if call.args else None) or 1
    text, blocks = await _offers_page(call, page)
    await call.reply(text, blocks=blocks)


async def turn_offers_page(call: ActionCall) -> None:
    """Show another page of the offers."""
    text, blocks = await _offers_page(call, ascii_int(call.value, max_digits=4) or 1)
    await call.replace(text, blocks=blocks)


async def offer_show_verb(call: VerbCall) -> None:
    """Show one offer's settings and what it sold (owners)."""
    named = unescape(call.rest).strip()
    if not named:
        command = call.front.commands.command
        raise Invalid(f"Name the offer: `{command} offer show <offer>`.", field="offer")
    async with call.acting() as (session, actor):
        overview = await payments.offer_overview(
            session, actor, call.runtime.settings.offers, named
        )
    await call.reply(figures_text(overview.offers[0], detailed=True))


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the buy, billing and offer verbs and their page buttons."""
    add = front.commands.add
    add("buy", buy_verb, usage="[offer]", summary="Your personal link to buy an offer.")
    add("billing", billing_verb, summary="Your billing page: update your card or cancel.")
    add(
        "offer list",
        offer_list_verb,
        usage="[page]",
        summary="Every offer with what it sold.",
        role=Role.OWNER,
    )
    add(
        "offer show",
        offer_show_verb,
        usage="<offer>",
        summary="One offer's settings and what it sold.",
        role=Role.OWNER,
    )
    app.action(re.compile(rf"^{PAGE_ACTION}(_prev)?$"))(front.action(turn_links_page))
    app.action(re.compile(rf"^{OFFERS_PAGE_ACTION}(_prev)?$"))(front.action(turn_offers_page))
