"""Escaping user text for each surface it is shown on."""

from __future__ import annotations

import html
import re

# < too: <t:0:R>, </command:1> and <:emoji:1> would otherwise render as Discord objects.
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|\[\]()<])")
# Headings, block quotes and list items only start a line (after optional spaces).
_DISCORD_LINE_START = re.compile(r"(?m)^(\s*)([#>-])")
_DISCORD_ORDERED = re.compile(r"(?m)^(\s*\d+)\.")
_MASS_MENTION = re.compile(r"@(everyone|here)")


def discord_escape(text: str) -> str:
    """Make user text render literally in Discord and unable to mention anyone.

    Mentions are also disabled on every send (allowed_mentions); this is belt and braces
    for text that is later copied somewhere mentions are allowed.
    """
    escaped = _DISCORD_MARKDOWN.sub(r"\\\1", text)
    escaped = _DISCORD_LINE_START.sub(r"\1\\\2", escaped)
    escaped = _DISCORD_ORDERED.sub(r"\1\\.", escaped)
    escaped = _MASS_MENTION.sub("@\u200b\\1", escaped)
    return escaped.replace("<@", "<\u200b@").replace("<#", "<\u200b#")


def slack_escape(text: str) -> str:
    """Escape user text for Slack mrkdwn: &, < and > are the control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_escape(text: str) -> str:
    """Escape user text for HTML, quotes included."""
    return html.escape(text, quote=True)


# scheme://user:password@ — the password runs to the last "@" before the path (an unencoded
# "@" in a password is common enough in pasted URLs).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s'\"]*:)[^/?#\s'\"]*@")


def redact_urls(text: str) -> str:
    """Replace the password of every URL in ``text`` with ***, so it can be shown or logged."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)
