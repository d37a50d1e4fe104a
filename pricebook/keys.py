"""API keys: created once and shown once, stored only as SHA-256, checked in constant time.

Roles are ordered for reads: admin ⊇ pricing_staff ⊇ reviewer ⊇ estimate_tool. A key never
changes role; revoking sets `revoked_at` (the row stays, so the audit log keeps its meaning).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.orm import Session

from pricebook import audit
from pricebook.db import as_utc
from pricebook.errors import InvalidInput, NotFound
from pricebook.models import ROLES, ApiKey

KEY_PREFIX = "pbk_"
RANK = {role: n for n, role in enumerate(ROLES)}


def role_allows(have: str, need: str) -> bool:
    """Whether a key of role `have` may call a route that needs role `need`."""
    return RANK.get(have, -1) >= RANK[need]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime | None
    revoked_at: datetime | None
    #: when a request with this key last wrote, as the primary recorded it (`mark_written`)
    last_write_at: datetime | None = None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(
            row.id, row.name, row.role, row.prefix, as_utc(row.created_at), as_utc(row.revoked_at)
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def create_key(session: Session, *, name: str, role: str, actor: str) -> tuple[KeyInfo, str]:
    """A new key: returns its record and the key itself, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("a key needs a name that says who or what uses it", field="name")
    if role not in RANK:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    key = new_key()
    row = ApiKey(name=name, role=role, key_hash=hash_key(key), prefix=key[: len(KEY_PREFIX) + 6])
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="api_key",
        entity_id=row.id,
        after={"name": name, "role": role, "prefix": row.prefix},
        reason="API key created",
    )
    return KeyInfo.of(row), key


def list_keys(session: Session, *, include_revoked: bool = True) -> list[KeyInfo]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return [KeyInfo.of(row) for row in session.scalars(stmt)]


def revoke_key(session: Session, key_id: int, *, actor: str, reason: str = "") -> KeyInfo:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key with id {key_id}", field="id")
    if row.revoked_at is None:
        now = datetime.now(UTC)
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=now))
        audit.record(
            session,
            actor=actor,
            action="revoke",
            entity="api_key",
            entity_id=key_id,
            before={"revoked_at": None},
            after={"revoked_at": now},
            reason=reason or "revoked",
        )
        session.flush()
        session.refresh(row)
    return KeyInfo.of(row)


_ACTIVE_KEY = select(
    ApiKey.id,
    ApiKey.name,
    ApiKey.role,
    ApiKey.prefix,
    ApiKey.created_at,
    ApiKey.revoked_at,
    ApiKey.key_hash,
    ApiKey.last_write_at,
).where(ApiKey.key_hash == bindparam("digest"))


def authenticate(db: Session | Connection, key: str) -> KeyInfo | None:
    """The active key behind `key`, or None. One indexed lookup by hash (a Core statement: the
    API runs it on a bare autocommit connection, one round trip per request), then a
    constant-time comparison of the hashes (the lookup itself only sees the hash, never the
    key)."""
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    row = db.execute(_ACTIVE_KEY, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return KeyInfo(
        row.id,
        row.name,
        row.role,
        row.prefix,
        as_utc(row.created_at),
        as_utc(row.revoked_at),
        as_utc(row.last_write_at),
    )


_MARK_WRITTEN = (
    update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_write_at=func.now())
)


def mark_written(db: Connection, key_id: int) -> None:
    """Record on the primary that a request with this key wrote: every API node sees it at the
    key's next lookup (`authenticate`) and reads that key's requests from the primary for the
    read-your-writes window (`pricebook.replicas`), whichever node took the write."""
    db.execute(_MARK_WRITTEN, {"key_id": key_id})
