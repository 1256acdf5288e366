"""Domain errors: raised by services, turned into a polite reply by each front end."""

from __future__ import annotations


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
    """The input is malformed; the message says what to send instead."""


class LimitReached(FlywheelError):
    """A quota or rate limit was hit; the message says when to try again."""


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the key and the fix."""
