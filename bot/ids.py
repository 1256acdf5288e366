"""Public ids: what leaves the process (outbox keys, button ids, nonces) is never a rowid.

SQLite hands a deleted row's id to the next row unless the table says otherwise, so a key
built from an id could name two things over time (a new ritual's post colliding with an
old, sent one). Rows that are named outside the database carry a random public id.
"""

from __future__ import annotations

import secrets

UID_LENGTH = 16


def new_uid() -> str:
    """Return a fresh public id: 16 lower-case hex characters, unique for all time."""
    return secrets.token_hex(UID_LENGTH // 2)
