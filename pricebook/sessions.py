"""Staff UI sessions kept in the database, so that a logout ends them in every process.

The session cookie carries a random token; the database holds only its SHA-256 (`ui_sessions`),
the key it logged in with and when it expires. Every request looks the token up together with
the key (one indexed query); a logout deletes the row, so a copy of the cookie taken before is
refused by any process on its next request. Expired rows are refused and removed at a later login.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from pricebook.db import as_utc
from pricebook.models import ApiKey, UiSession

MAX_TOKEN = 100


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(
    session: Session, key_id: int, *, max_age: int, now: datetime | None = None
) -> str:
    """A new session of key `key_id` for `max_age` seconds: returns its token (stored hashed)."""
    now = now or datetime.now(UTC)
    session.execute(delete(UiSession).where(UiSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        UiSession(
            token_hash=_digest(token), key_id=key_id, expires_at=now + timedelta(seconds=max_age)
        )
    )
    session.flush()
    return token


def session_key(session: Session, token: str, *, now: datetime | None = None) -> ApiKey | None:
    """The active key of a live session, or None (unknown, ended, expired or key revoked)."""
    if not token or len(token) > MAX_TOKEN:
        return None
    row = session.execute(
        select(ApiKey, UiSession.expires_at)
        .join(UiSession, UiSession.key_id == ApiKey.id)
        .where(UiSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    key, expires_at = row
    if key.revoked_at is not None or as_utc(expires_at) <= (now or datetime.now(UTC)):
        return None
    return key


def end_session(session: Session, token: str) -> bool:
    """Ends a session (whether or not it exists); True when one was ended."""
    if not token or len(token) > MAX_TOKEN:
        return False
    result = session.execute(delete(UiSession).where(UiSession.token_hash == _digest(token)))
    return bool(cast(CursorResult[Any], result).rowcount)  # a DML result is a CursorResult
