"""Market prices and feedback: crawl runs, market observations and the feedback queue
(reviewers' items and drift tasks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pricebook.models.base import Base, CreatedAt, _in, _now

#: ``suspicious``: finished, but far below the source's usual pages or listings, or pagination
#: stopped early (`pricebook.market.health.assess_run`).
MARKET_RUN_STATUSES = ("running", "finished", "suspicious", "failed")
OBSERVATION_STATUSES = ("matched", "unmatched", "not_part")
FEEDBACK_KINDS = ("reviewer", "drift")
FEEDBACK_STATUSES = ("open", "need_info", "accepted", "rejected", "resolved_by_market")
#: Statuses that still wait for pricing staff: at most one such item per key and kind.
FEEDBACK_UNRESOLVED = ("open", "need_info")


class MarketRun(Base):
    """One crawl of one source (`pricebook crawl`), with its report in `stats`."""

    __tablename__ = "market_runs"
    __table_args__ = (CheckConstraint(_in("status", MARKET_RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(index=True)
    spider: Mapped[str] = mapped_column(default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(default="running")
    #: pages, items, matched, unmatched, new, updated_last_seen, dropped {reason: n}, errors …
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(default="")


class MarketObservation(Base):
    """A market price as seen on a source: evidence, never a price layer.

    History records changes only: while a listing (source + `item_key` + region + price type)
    shows the same amount, its latest row's `last_seen` moves; a new amount adds a row. A
    listing is the source's item id, else its own page (`listing_url`), else title + OE +
    fitment + `seller` (`pricebook.market.listing_key`): the same title from several sellers is
    several listings. No unique constraint: a listing has one row per price it showed; ingests
    of a source take turns (a lock), so its latest row is never inserted twice.
    """

    __tablename__ = "market_observations"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", OBSERVATION_STATUSES), name="status"),
        CheckConstraint("confidence_bp >= 0 AND confidence_bp <= 10000", name="confidence"),
        Index("ix_market_observations_listing", "item_key", "source"),
        Index("ix_market_observations_part", "part_id", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str]
    #: what identifies the listing within its source (`pricebook.market.listing_key`).
    item_key: Mapped[str]
    #: the page the listing was found on
    url: Mapped[str]
    #: the listing's own page and the source's id of it, where the source gives them
    listing_url: Mapped[str] = mapped_column(default="", server_default="")
    item_id: Mapped[str] = mapped_column(default="", server_default="")
    #: the shop or seller offering it, where the source names one
    seller: Mapped[str] = mapped_column(default="", server_default="")
    #: when the page showing this amount was first fetched; `first_seen`/`last_seen` bound the
    #: period the amount was seen unchanged.
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raw_name: Mapped[str]
    raw_price: Mapped[str]
    raw_oe: Mapped[str] = mapped_column(default="")
    raw_brand_text: Mapped[str] = mapped_column(default="")
    raw_region: Mapped[str] = mapped_column(default="")
    price_type_hint: Mapped[str] = mapped_column(default="")
    #: the label the page gave the amount (会员价, 含税价 …), after ``约`` when it said the amount
    #: is approximate (``约``, ``约 会员价``); None for a bare price (`market.price_text`).
    price_label: Mapped[str | None]
    part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"))
    #: the best candidate when the match was not confident enough (for review).
    suggested_part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    price_type_id: Mapped[int | None] = mapped_column(ForeignKey("price_types.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    confidence_bp: Mapped[int] = mapped_column(default=0)
    #: oe_exact, oe_superseded, learned, alias_exact, fuzzy, pinyin, or '' (no candidate).
    match_reason: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("market_runs.id"), index=True)
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("market_runs.id"))


class FeedbackItem(Base):
    """The shared review queue: reviewers' price-mismatch feedback and market drift tasks.

    At most one unresolved (open / need_info) item per part × branch × price type × kind: two
    partial unique indexes (branch NULL = the system price) make that hold under concurrency.
    A reviewer's feedback on a key that already has an unresolved item is stored linked to it
    (`linked_to_id`, migration 0005): linked items are outside the indexes and follow their
    primary item's status.
    """

    __tablename__ = "feedback_items"
    __table_args__ = (
        CheckConstraint(_in("kind", FEEDBACK_KINDS), name="kind"),
        CheckConstraint(_in("status", FEEDBACK_STATUSES), name="status"),
        CheckConstraint("reference_fen IS NULL OR reference_fen > 0", name="reference_positive"),
        CheckConstraint("observed_fen IS NULL OR observed_fen > 0", name="observed_positive"),
        Index(
            "uq_feedback_items_open_branch",
            "kind",
            "part_id",
            "branch_id",
            "price_type_id",
            unique=True,
            sqlite_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NOT NULL AND linked_to_id IS NULL"
            ),
            postgresql_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NOT NULL AND linked_to_id IS NULL"
            ),
        ),
        Index(
            "uq_feedback_items_open_system",
            "kind",
            "part_id",
            "price_type_id",
            unique=True,
            sqlite_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NULL AND linked_to_id IS NULL"
            ),
            postgresql_where=text(
                "status IN ('open', 'need_info') AND branch_id IS NULL AND linked_to_id IS NULL"
            ),
        ),
        Index("ix_feedback_items_queue", "status", "branch_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle_models.id"))
    #: NULL: the system (national) price.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    price_type_id: Mapped[int] = mapped_column(ForeignKey("price_types.id"))
    #: the reference price as the reviewer saw it / the price in force that drifted.
    reference_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: the market price the reviewer observed / the market median (drift).
    observed_fen: Mapped[int | None] = mapped_column(BigInteger)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(default="")
    url: Mapped[str] = mapped_column(default="")
    estimate_ref: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(default="open")
    created_by: Mapped[str]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    resolved_by: Mapped[str | None]
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_reason: Mapped[str] = mapped_column(default="")
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_items.id"))
    resulting_price_id: Mapped[int | None] = mapped_column(ForeignKey("prices.id"))
