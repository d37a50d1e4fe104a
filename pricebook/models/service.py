"""What the service keeps about itself: the audit log, the generations that keep process
caches fresh, API keys, staff UI sessions, learned matches and the synonym dictionary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pricebook.models.base import ROLES, Base, CreatedAt, Recorded, _in, _now


class AuditEntry(Base):
    """Who changed what, when, from what to what, and why. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now(), index=True)
    actor: Mapped[str] = mapped_column(index=True)
    action: Mapped[str]
    entity: Mapped[str]
    entity_id: Mapped[str] = mapped_column(default="")
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str] = mapped_column(default="")


class CatalogVersion(Base):
    """Append-only change counter: every process compares max(id) with the version its
    in-memory indexes were built from, and rebuilds when it moved."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor: Mapped[str]
    reason: Mapped[str] = mapped_column(default="")


class ReferenceGeneration(Base):
    """One row that the database itself moves forward (triggers, migration 0007) in every
    transaction that changes what a validation reads: the catalogue, prices, labor rates and
    standard hours, operation inclusions, branches and regions, rule profiles. A process keys
    its in-memory copy of that data on (`token`, `value`) and reads the row once per validation:
    a write by any process, or by hand, is seen at once. `token` is drawn when the database is
    created, so two databases (tests recreate them) never share a key.

    `prices` moves instead of `value` for the `prices` table (migration 0010): a price edit
    leaves the rest of what a process keeps in place.

    `catalog` and `catalog_build` do the same for the matching indexes (migration 0008): every
    committed transaction that adds a `catalog_versions` row moves `catalog`, and
    `catalog_build` too unless all its rows are match confirmations (learned mappings only:
    no re-indexing needed). Unlike ``max(catalog_versions.id)`` — ids are taken at insert, not
    at commit — they never miss a change that commits after a newer one."""

    __tablename__ = "reference_generation"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger)
    catalog: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    catalog_build: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    prices: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    role: Mapped[str]
    key_hash: Mapped[str] = mapped_column(unique=True)
    prefix: Mapped[str]
    created_at: Mapped[CreatedAt]
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: when a request with this key last wrote (with read replicas in use): for the
    #: read-your-writes window every API node reads that key's requests from the primary
    last_write_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UiSession(Base):
    """A staff UI login: the session cookie holds a random token, the row only its SHA-256.
    Logging out deletes the row, so a copy of the cookie stops working in every process at
    once; a row past `expires_at` is refused and removed at a later login (migration 0012)."""

    __tablename__ = "ui_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class MatchMapping(Recorded, Base):
    """A person's verdict that custom name X is (accepted) or is not (rejected) part Y,
    optionally only for a brand or a model. The latest verdict per (name, scope, part) counts."""

    __tablename__ = "match_mappings"
    __table_args__ = (Index("ix_match_mappings_name", "name_normalized"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    name_normalized: Mapped[str]
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    accepted: Mapped[bool]


class SynonymTerm(Base):
    """The colloquial dictionary (叶子板 → 翼子板): one row per term, grouped by canonical term.
    Pricing staff import and edit it; the matching index reads it."""

    __tablename__ = "synonym_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    canonical: Mapped[str] = mapped_column(index=True)
    term: Mapped[str] = mapped_column(unique=True)
    created_by: Mapped[str]
    created_at: Mapped[CreatedAt]
