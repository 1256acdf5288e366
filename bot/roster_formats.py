"""Reading roster files for `flywheel import`: a CSV of members, or a MEE6 leaderboard.

Lenient in shape, strict in values. Each reader returns the rows it could read as
:class:`~bot.services.roster.RosterRow` and, for every row it could not, where it is and
why (:class:`~bot.services.roster.Skipped`); a file that cannot be read at all raises
:class:`RosterFileError` with one line saying why.

CSV: UTF-8 (a byte-order mark is fine), a header row naming at least ``platform``,
``user_id``, ``display_name`` and ``points``; optional ``joined`` (an ISO date,
``2024-05-31``) and ``badges`` (names separated by ``;``). Other columns are ignored.

MEE6: the JSON of MEE6's public leaderboard API
(``https://mee6.xyz/api/plugins/levels/leaderboard/<guild>?page=N``): an object with a
``players`` list, a bare list of players, or a list of such pages. A player needs ``id``
(the Discord user id) and ``username``; its points are its ``xp`` (MEE6 gives 15–25 xp
for a message, at most once a minute, so xp is already on Flywheel's scale of points per
message); ``level`` and ``message_count``, when present, are kept beside the points.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from json.decoder import JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from typing import Any

from bot.destinations import PLATFORMS
from bot.errors import Invalid
from bot.inputs import ascii_int, clean_name, name_key, shorten
from bot.services.roster import MAX_IMPORTED_POINTS, RosterRow, Skipped

FORMATS = ("csv", "mee6")
REQUIRED_COLUMNS = ("platform", "user_id", "display_name", "points")
NAME_LENGTH = 100  # members.display_name
BADGE_LENGTH = 50
MAX_BADGES = 20
_USER_IDS = {
    # A Discord snowflake: 17 to 20 digits today; any run of up to 20 digits is accepted.
    "discord": (re.compile(r"[0-9]{1,20}"), "a Discord user id is digits only"),
    # A Slack user id: U… or W… and capitals or digits.
    "slack": (re.compile(r"[UW][A-Z0-9]{2,20}"), "a Slack user id looks like U012ABCDEF"),
}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class RosterFileError(Exception):
    """The file cannot be read as this format; the message is one line saying why."""


@dataclass(frozen=True)
class Roster:
    """What a file held: the rows to import and the rows skipped, in file order."""

    rows: tuple[RosterRow, ...]
    skipped: tuple[Skipped, ...]

    @property
    def size(self) -> int:
        """Return how many rows the file had."""
        return len(self.rows) + len(self.skipped)


class _Refused(Exception):
    """One value of a row is wrong; the message says which and why."""


def _user_id(platform: str, text: str) -> str:
    pattern, hint = _USER_IDS[platform]
    if not text:
        raise _Refused("user_id: missing")
    if not pattern.fullmatch(text):
        raise _Refused(f"user_id: {shorten(text)!r} is not a user id ({hint})")
    return text


def _name(text: str, *, field: str, max_length: int) -> str:
    try:
        return clean_name(text, field=field, what="The name", max_length=max_length)
    except Invalid as exc:
        raise _Refused(f"{field}: {exc.message}") from None


def _points(text: str) -> int:
    value = ascii_int(text.strip(), max_digits=len(str(MAX_IMPORTED_POINTS)))
    if value is None or value > MAX_IMPORTED_POINTS:
        raise _Refused(
            f"points: {shorten(text)!r} is not a whole number from 0 to {MAX_IMPORTED_POINTS:,}"
        )
    return value


def _joined(text: str, today: date) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise _Refused(f"joined: {shorten(text)!r} is not a date like 2024-05-31") from None
    if value > today:
        raise _Refused(f"joined: {text} is after today")
    return value


def _badges(text: str) -> tuple[str, ...]:
    names: dict[str, str] = {}
    for part in text.split(";"):
        if part.strip():
            name = _name(part, field="badges", max_length=BADGE_LENGTH)
            names.setdefault(name_key(name), name)
    if len(names) > MAX_BADGES:
        raise _Refused(f"badges: at most {MAX_BADGES} per member")
    return tuple(names.values())


class _Dedup:
    """Refuses a second row for a user the file already had."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}

    def check(self, platform: str, user_id: str, where: str) -> None:
        first = self._seen.setdefault((platform, user_id), where)
        if first != where:
            raise _Refused(f"the same user as {first}")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError(f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def read_csv(data: bytes, *, today: date) -> Roster:
    """Read a roster CSV (header row, UTF-8 with or without a byte-order mark)."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise RosterFileError("the file is empty; it needs a header row and members")
        columns = [cell.strip().lower() for cell in header]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise RosterFileError(
                f"the header row lacks {', '.join(missing)}; it needs "
                f"{', '.join(REQUIRED_COLUMNS)} (optional: joined, badges)"
            )
        index = {
            name: columns.index(name)
            for name in (*REQUIRED_COLUMNS, "joined", "badges")
            if name in columns
        }
        rows: list[RosterRow] = []
        skipped: list[Skipped] = []
        seen = _Dedup()
        line = reader.line_num + 1
        for record in reader:
            where, line = f"line {line}", reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            try:
                if len(record) > len(columns):
                    raise _Refused(f"{len(record)} fields, the header has {len(columns)}")
                rows.append(_csv_row(record, index, where, today, seen))
            except _Refused as exc:
                skipped.append(Skipped(where, str(exc)))
    except csv.Error as exc:
        raise RosterFileError(f"not a CSV file (line {reader.line_num}: {exc})") from None
    if not rows and not skipped:
        raise RosterFileError("the file has a header but no members")
    return Roster(tuple(rows), tuple(skipped))


def _csv_row(
    record: list[str], index: dict[str, int], where: str, today: date, seen: _Dedup
) -> RosterRow:
    def cell(name: str) -> str:
        at = index.get(name)
        return record[at] if at is not None and at < len(record) else ""

    platform = cell("platform").strip().lower()
    if platform not in PLATFORMS:
        raise _Refused(
            f"platform: {shorten(cell('platform'))!r} is not one of {', '.join(PLATFORMS)}"
        )
    user_id = _user_id(platform, cell("user_id").strip())
    display_name = _name(cell("display_name"), field="display_name", max_length=NAME_LENGTH)
    points = _points(cell("points"))
    joined = _joined(cell("joined"), today)
    badges = _badges(cell("badges"))
    seen.check(platform, user_id, where)
    return RosterRow(where, platform, user_id, display_name, points, joined, badges)


def _players(document: Any) -> Iterator[tuple[int, Any]]:
    """Yield (page, player) for each player of a page, a list of players or a list of pages."""
    if isinstance(document, dict) and "players" in document:
        pages: list[Any] = [document]
    elif isinstance(document, list):
        pages = document
    else:
        raise RosterFileError("not a MEE6 leaderboard: expected an object with players, or a list")
    for number, page in enumerate(pages, start=1):
        if isinstance(page, dict) and "players" in page:
            if not isinstance(page["players"], list):
                raise RosterFileError(f"page {number}: players is not a list")
            for player in page["players"]:
                yield number, player
        else:
            yield 0, page


def _count(player: dict[str, Any], field: str, *, required: bool) -> int | None:
    value = player.get(field)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Refused(f"{field}: {shorten(repr(value))} is not a whole number of 0 or more")
    return value


def _mee6_row(player: Any, where: str, seen: _Dedup) -> RosterRow:
    if not isinstance(player, dict):
        raise _Refused("not a player object")
    raw_id = player.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str):
        raise _Refused("id: missing" if raw_id is None else "id: not a string of digits")
    user_id = _user_id("discord", raw_id.strip())
    username = player.get("username")
    if not isinstance(username, str):
        raise _Refused("username: missing")
    display_name = _name(username, field="username", max_length=NAME_LENGTH)
    xp = _count(player, "xp", required=True)
    assert xp is not None
    if xp > MAX_IMPORTED_POINTS:
        raise _Refused(f"xp: {xp} is over {MAX_IMPORTED_POINTS:,}")
    level = _count(player, "level", required=False)
    messages = _count(player, "message_count", required=False)
    notes = []
    if level is not None:
        notes.append(f"level {level}")
    if messages is not None:
        notes.append(f"{messages} messages")
    seen.check("discord", user_id, where)
    return RosterRow(where, "discord", user_id, display_name, xp, note=", ".join(notes) or None)


def read_mee6(data: bytes) -> Roster:
    """Read a MEE6 leaderboard JSON (one page, a list of players, or a list of pages)."""
    text = _decode(data)
    if not text.strip():
        raise RosterFileError("the file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RosterFileError(
            f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    players = list(_players(document))
    if not players:
        raise RosterFileError("the leaderboard has no players")
    rows: list[RosterRow] = []
    refused: list[tuple[int, str]] = []
    seen = _Dedup()
    for number, (_, player) in enumerate(players, start=1):
        try:
            rows.append(_mee6_row(player, f"player {number}", seen))
        except _Refused as exc:
            refused.append((number, str(exc)))
    lines = _player_lines(text) if refused else []
    skipped = []
    for number, reason in refused:
        where = f"player {number}"
        if number <= len(lines) and lines[number - 1]:
            where += f", line {lines[number - 1]}"
        skipped.append(Skipped(where, reason))
    return Roster(tuple(rows), tuple(skipped))


def _player_lines(text: str) -> list[int]:
    """Return the line each player starts on (0 when unknown); parsed again, only on errors.

    The pure-Python JSON scanner lets us note where every object starts; it is slower than
    the C one, so it runs only when a player was refused and the line is worth reporting.
    """
    starts: dict[int, int] = {}

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        value, end = JSONObject(s_and_end, *args)
        starts[id(value)] = s_and_end[1] - 1
        return value, end

    decoder = json.JSONDecoder()
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        document = decoder.decode(text)
    except (json.JSONDecodeError, RecursionError):  # pragma: no cover - it parsed once already
        return []
    newlines = [at for at, char in enumerate(text) if char == "\n"]
    lines = []
    for _, player in _players(document):
        start = starts.get(id(player))
        lines.append(0 if start is None else bisect.bisect_right(newlines, start) + 1)
    return lines


def read_roster(fmt: str, data: bytes, *, today: date) -> Roster:
    """Read a roster file of a known format."""
    if fmt == "csv":
        return read_csv(data, today=today)
    if fmt == "mee6":
        return read_mee6(data)
    raise RosterFileError(f"unknown format {shorten(fmt)!r}; use one of {', '.join(FORMATS)}")
