"""Domain errors: raised by services, turned into a polite reply by each front end."""

from __future__ import annotations

from bot.text import redact_urls


class FlywheelError(Exception):
    """Base class of errors a member or moderator can be told about."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(FlywheelError):
    """The thing asked for does not exist (or is not visible to the asker)."""


class Forbidden(FlywheelError):
    """The asker lacks the permission the action needs."""


class Invalid(FlywheelError):
    """The input is malformed; the message says what to send instead.

    ``field`` names the input it is about (a form's field, a command's option), so a form
    can show the message beside that field; ``code`` is a stable machine-readable reason
    (``"schedule.unparsable"``), for tests and for front ends that word things themselves.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


class LimitReached(FlywheelError):
    """A quota or rate limit was hit; the message says when to try again."""


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the key and the fix.

    The message is printed as it is, so any password inside a URL in it is replaced by ***.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_urls(message))


def one_line(exc: BaseException) -> str:
    """Return an exception's message on one line (its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__
