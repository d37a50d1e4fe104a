"""A finished crawl's health: whether it brought back far less than its source usually does,
which is how a site's changed markup shows (a wrong selector is valid CSS and fails quietly)."""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from pricebook.models import MarketRun

if TYPE_CHECKING:
    from pricebook.market.crawl import CrawlReport

#: The runs a crawl is compared with: the source's last this many finished ones.
HEALTH_RUNS = 5
#: A crawl with fewer pages or kept listings than this share of their median is suspicious.
HEALTH_SHARE = Decimal("0.5")


def assess_run(session: Session, report: CrawlReport) -> None:
    """Mark a finished crawl ``suspicious`` (with its reasons) when it brought back far less
    than the source usually does: no listing kept; pages or kept listings below half the
    median of the source's last `HEALTH_RUNS` finished runs; pagination stopping before the
    page count the site declares. A wrong item, price or pagination selector is valid CSS
    and fails quietly; this is where it shows. Fewer pages than the previous run is noted."""
    previous = session.scalars(
        select(MarketRun.stats)
        .where(
            MarketRun.source == report.source,
            MarketRun.status == "finished",
            MarketRun.id != report.run_id,
        )
        .order_by(MarketRun.id.desc())
        .limit(HEALTH_RUNS)
    ).all()
    reasons: list[str] = []
    if report.kept == 0:
        reasons.append(f"0 listings kept (items {report.items})")
    if previous:
        pages = [int(s.get("pages", 0) or 0) for s in previous]
        kept = [int(s.get("matched", 0) or 0) + int(s.get("unmatched", 0) or 0) for s in previous]
        checks = [("pages", report.pages, pages)]
        if report.kept:  # 0 is said above
            checks.append(("listings kept", report.kept, kept))
        for what, now, before in checks:
            median = Decimal(str(statistics.median(before)))
            if now < median * HEALTH_SHARE:
                reasons.append(
                    f"{what} {now}: below half the median {median.normalize():f} of the last "
                    f"{len(before)} finished run(s)"
                )
        if report.pages < pages[0]:
            report.notes.append(
                f"pages {report.pages}, the previous finished run crawled {pages[0]}"
            )
    if report.pagination_short:
        reasons.append(
            f"pagination stopped before the page count the site declares "
            f"({report.pages} of {report.pages_expected} pages)"
        )
    if reasons:
        report.status = "suspicious"
        report.suspicious = reasons
