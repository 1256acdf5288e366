"""The neutral message vocabulary: every effect a feature can have on the outside world.

A service never writes Discord markdown, Slack mrkdwn or HTML, and never names a
platform. It builds an effect from these types and queues it through the outbox:

- :class:`Post` — a message to a destination (a purpose such as ``rituals``, or a
  destination row), with buttons, optionally opening a thread, or as a reply in the thread
  of an earlier post (found through the post registry by what it is about);
- :class:`Edit` — a new body and buttons for an earlier post (empty buttons remove them);
- :class:`DirectMessage` — a DM to a member, with buttons and files;
- :class:`RoleChange` — a grant or revoke of a neutral access key (a Discord role; on Slack
  a user group or a private channel's membership, per the ``[access]`` settings);
- :class:`Webhook` — a signed HTTP POST to another system.

Bodies are :class:`Rich` text: a sequence of spans. :class:`Text` is plain user text,
always escaped by whoever renders it; :class:`Bold`, :class:`Italic`, :class:`Link` and
:class:`Code` format; :class:`Mention` is the only way to ping anyone, and pings only the
member it names. Each platform's sender renders the body, in one place.

Effects are pydantic models: frozen, strictly validated, and serialised with a version
(:data:`VERSION`) into the outbox row, which validates them again when it reads them back.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

VERSION = 1
MAX_TEXT = 40_000  # far above any platform's limit; the senders fit text to theirs


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ----------------------------------------------------------------------------- rich text


class Text(_Frozen):
    """Plain text, shown literally: markup in it is escaped, mentions in it never ping."""

    kind: Literal["text"] = "text"
    text: str = Field(max_length=MAX_TEXT)


class Code(_Frozen):
    """Inline code (a command name, a code to type)."""

    kind: Literal["code"] = "code"
    text: str = Field(max_length=2000)


class Link(_Frozen):
    """A link; ``label`` (plain text) is shown where the surface supports labelled links."""

    kind: Literal["link"] = "link"
    url: str = Field(max_length=2000, pattern=r"^https?://\S+$")
    label: str | None = Field(default=None, max_length=500)


class Mention(_Frozen):
    """A member, named so they are pinged. ``user_id`` is filled in per platform when queued."""

    kind: Literal["mention"] = "mention"
    member_id: int
    fallback: str = Field(default="a member", max_length=200)
    user_id: str | None = Field(default=None, max_length=64)


class Owned(_Frozen):
    """Spans that belong to a member (their name, a link they shared), shown as plain spans.

    Erasing the member replaces them with ``fallback`` in every message not yet sent, and
    removes the sent copies: a feature that shows member text wraps it in this.
    """

    kind: Literal["owned"] = "owned"
    member_id: int
    spans: tuple[Inline, ...]
    fallback: str = Field(default="", max_length=200)


class Bold(_Frozen):
    """Spans shown in bold."""

    kind: Literal["bold"] = "bold"
    spans: tuple[Inline, ...]


class Italic(_Frozen):
    """Spans shown in italics."""

    kind: Literal["italic"] = "italic"
    spans: tuple[Inline, ...]


Inline = Annotated[
    Text | Code | Link | Mention | Owned | Bold | Italic, Field(discriminator="kind")
]
Owned.model_rebuild()
Bold.model_rebuild()
Italic.model_rebuild()


class Rich(_Frozen):
    """A message body: spans in order. Newlines inside :class:`Text` separate lines."""

    spans: tuple[Inline, ...] = ()

    def __add__(self, other: Rich) -> Rich:
        return Rich(spans=(*self.spans, *other.spans))

    def plain(self) -> str:
        """Return the body as plain text (notifications, logs, tests)."""
        return "".join(_plain(span) for span in self.spans)

    def mentioned(self) -> tuple[int, ...]:
        """Return the members this body pings."""
        found: list[int] = []
        _walk_mentions(self.spans, found, owned=False)
        return tuple(dict.fromkeys(found))

    def members(self) -> tuple[int, ...]:
        """Return the members this body pings or shows something of."""
        found: list[int] = []
        _walk_mentions(self.spans, found, owned=True)
        return tuple(dict.fromkeys(found))

    def without(self, member_id: int) -> Rich:
        """Return the body with what belongs to ``member_id`` replaced by its fallback."""
        return Rich(spans=tuple(_without(span, member_id) for span in self.spans))


def _plain(span: Any) -> str:
    if isinstance(span, Text | Code):
        return span.text
    if isinstance(span, Link):
        return span.label or span.url
    if isinstance(span, Mention):
        return span.fallback
    return "".join(_plain(inner) for inner in span.spans)  # Bold, Italic, Owned


def _walk_mentions(spans: tuple[Any, ...], found: list[int], *, owned: bool) -> None:
    for span in spans:
        if isinstance(span, Mention):
            found.append(span.member_id)
        elif isinstance(span, Owned):
            if owned:
                found.append(span.member_id)
            _walk_mentions(span.spans, found, owned=owned)
        elif isinstance(span, Bold | Italic):
            _walk_mentions(span.spans, found, owned=owned)


def _without(span: Any, member_id: int) -> Any:
    if isinstance(span, Owned) and span.member_id == member_id:
        return Text(text=span.fallback)
    if isinstance(span, Mention) and span.member_id == member_id:
        return Text(text="a member")
    if isinstance(span, Owned | Bold | Italic):
        return span.model_copy(
            update={"spans": tuple(_without(inner, member_id) for inner in span.spans)}
        )
    return span


Part = str | Text | Code | Link | Mention | Owned | Bold | Italic


def _spans(parts: tuple[Part, ...]) -> tuple[Any, ...]:
    return tuple(Text(text=part) if isinstance(part, str) else part for part in parts)


def rich(*parts: Part) -> Rich:
    """Build a body; a ``str`` part is plain text (escaped when rendered)."""
    return Rich(spans=_spans(parts))


def bold(*parts: Part) -> Bold:
    """Return bold spans."""
    return Bold(spans=_spans(parts))


def italic(*parts: Part) -> Italic:
    """Return italic spans."""
    return Italic(spans=_spans(parts))


def code(text: str) -> Code:
    """Return inline code."""
    return Code(text=text)


def link(url: str, label: str | None = None) -> Link:
    """Return a link."""
    return Link(url=url, label=label)


def owned(member_id: int, *parts: Part, fallback: str = "") -> Owned:
    """Return spans that belong to a member (erasing them leaves ``fallback``)."""
    return Owned(member_id=member_id, spans=_spans(parts), fallback=fallback)


def lines(*bodies: Rich) -> Rich:
    """Join bodies with line breaks."""
    spans: list[Any] = []
    for index, body in enumerate(bodies):
        if index:
            spans.append(Text(text="\n"))
        spans.extend(body.spans)
    return Rich(spans=tuple(spans))


# ----------------------------------------------------------------------------- parts of effects


class Subject(_Frozen):
    """What a message is about (``occurrence`` and its public id): the registry's key."""

    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")
    id: str = Field(min_length=1, max_length=64)


class Button(_Frozen):
    """A button; ``id`` comes back with the click (custom id / action id)."""

    id: str = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=80)
    style: Literal["primary", "secondary", "success", "danger"] = "secondary"


class File(_Frozen):
    """A file attached to a DM (a member's data export)."""

    name: str = Field(min_length=1, max_length=200)
    content: str
    content_type: str = "application/json"


class NewThread(_Frozen):
    """Open a thread under the post (on Slack, replies thread under any message anyway)."""

    name: str = Field(min_length=1, max_length=100)


class Purpose(_Frozen):
    """A community's channels for one purpose (``rituals``, ``announcements``…)."""

    kind: Literal["purpose"] = "purpose"
    name: str = Field(min_length=1, max_length=40)


class DestinationRow(_Frozen):
    """A destination row (a ritual's own channels)."""

    kind: Literal["destination"] = "destination"
    id: int


Address = Annotated[Purpose | DestinationRow, Field(discriminator="kind")]


# ----------------------------------------------------------------------------- effects


class Post(_Frozen):
    """A message to a destination's channels."""

    type: Literal["post"] = "post"
    to: Address
    body: Rich
    buttons: tuple[Button, ...] = ()
    thread: NewThread | None = None
    reply_to: Subject | None = None  # post in the thread of the earlier post about this
    about: Subject | None = None


class Edit(_Frozen):
    """Replace the body and buttons of the earlier posts about ``subject``."""

    type: Literal["edit"] = "edit"
    subject: Subject
    body: Rich
    buttons: tuple[Button, ...] = ()  # empty removes them


class DirectMessage(_Frozen):
    """A DM to a member, on ``platform`` if given, else on each platform they are known on."""

    type: Literal["dm"] = "dm"
    member_id: int
    body: Rich
    buttons: tuple[Button, ...] = ()
    files: tuple[File, ...] = ()
    platform: str | None = None
    about: Subject | None = None


class RoleChange(_Frozen):
    """Grant or revoke a neutral access key for a member on every platform it is set up on."""

    type: Literal["role"] = "role"
    member_id: int
    access: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")
    grant: bool
    reason: str = Field(default="Flywheel", max_length=400)


class Webhook(_Frozen):
    """A signed JSON POST to another system (the owned space)."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(max_length=2000, pattern=r"^https?://\S+$")
    event: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]


Message = Annotated[Post | Edit | DirectMessage | RoleChange | Webhook, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Post | Edit | DirectMessage | RoleChange | Webhook] = TypeAdapter(Message)


class UnreadableEffect(Exception):
    """A stored effect that this version cannot read; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dump(message: Post | Edit | DirectMessage | RoleChange | Webhook) -> str:
    """Serialise an effect for the outbox as JSON text, with the vocabulary's version.

    Fields left at None are omitted (they read back as None); a fan-out of 500 DMs pays for
    one compact JSON encoding per row, done by pydantic's serializer.
    """
    return f'{{"v":{VERSION},"effect":{message.model_dump_json(exclude_none=True)}}}'


def load(stored: Any) -> Post | Edit | DirectMessage | RoleChange | Webhook:
    """Read an effect back from the outbox, validating it; raise UnreadableEffect if it is not."""
    if isinstance(stored, str | bytes):
        try:
            stored = json.loads(stored)
        except ValueError as exc:
            raise UnreadableEffect(f"the stored effect is not JSON ({exc})") from None
    if not isinstance(stored, dict):
        raise UnreadableEffect(f"the stored effect is a {type(stored).__name__}, not an object")
    version = stored.get("v")
    if version != VERSION:
        raise UnreadableEffect(
            f"the stored effect has version {version!r}; this Flywheel reads version {VERSION}"
        )
    try:
        return _ADAPTER.validate_python(stored.get("effect"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "effect"
        raise UnreadableEffect(
            f"the stored effect is malformed at {where}: {first['msg']}"
        ) from None
