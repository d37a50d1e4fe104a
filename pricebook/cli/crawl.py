"""Market crawls: crawl (sources, then drift) and scrapyd deploy."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from pricebook.cli.common import open_engine
from pricebook.errors import InvalidInput
from pricebook.settings import Settings

if TYPE_CHECKING:
    from decimal import Decimal

    from pricebook.cli.common import Subcommands
    from pricebook.market.crawl import CrawlReport, CrawlTarget


def cmd_crawl(args: argparse.Namespace, settings: Settings) -> int:
    import time
    from decimal import Decimal, InvalidOperation

    from pricebook.market.crawl import DEFAULT_JOBS, crawl_groups, resolve_targets, run_crawls

    try:
        threshold = Decimal(args.drift_threshold)
    except InvalidOperation:
        raise InvalidInput(f"--drift-threshold {args.drift_threshold!r} is not a number") from None
    if args.jobs is not None and args.jobs < 1:
        raise InvalidInput(f"--jobs {args.jobs}: give at least 1")
    sources_dir = args.sources_dir or settings.sources_dir
    targets = resolve_targets(
        args.sources,
        args.source_file,
        all_sources=args.all,
        sources_dir=sources_dir,
        base_url=args.base_url,
    )
    jobs = min(args.jobs or DEFAULT_JOBS, len(crawl_groups(targets)))
    started = time.perf_counter()
    engine = open_engine(settings)
    try:
        crawl = _crawler(args, settings, engine, targets, sources_dir)
        reports = run_crawls(targets, crawl, jobs=jobs, on_report=_show_crawl)
        if not args.no_drift:
            _crawl_drift(args, engine, threshold, reports)
    finally:
        engine.dispose()
    return _crawl_summary(reports, len(targets), jobs, time.perf_counter() - started)


def _crawler(
    args: argparse.Namespace,
    settings: Settings,
    engine: Engine,
    targets: list[CrawlTarget],
    sources_dir: str | None,
) -> Callable[[CrawlTarget], CrawlReport]:
    """One crawl: a Scrapy process of its own, or a job of the Scrapyd named by --scrapyd."""
    from pricebook.market.crawl import run_crawl

    if not args.scrapyd:
        return lambda target: run_crawl(
            settings,
            engine,
            target,
            actor=args.who,
            base_url=args.base_url,
            sources_dir=sources_dir,
            extra_settings=args.set,
            timeout=args.timeout,
        )
    from pricebook.market.scrapyd import ScrapydClient, require_named, run_scrapyd_crawl

    require_named(targets)
    client = ScrapydClient(args.scrapyd)
    return lambda target: run_scrapyd_crawl(
        engine,
        client,
        target,
        actor=args.who,
        base_url=args.base_url,
        extra_settings=args.set,
        timeout=args.timeout,
        out=sys.stderr,
    )


def _show_crawl(report: CrawlReport) -> None:
    """One block per crawl, whole (`run_crawls` holds its lock meanwhile)."""
    print("\n".join(report.lines()), flush=True)
    if report.status == "failed":
        tail = [f"  | {line}" for line in report.log_tail[-15:]]
        print("\n".join(tail), file=sys.stderr, flush=True)


def _crawl_drift(
    args: argparse.Namespace, engine: Engine, threshold: Decimal, reports: list[CrawlReport]
) -> None:
    from datetime import date

    from pricebook.db import transaction
    from pricebook.market import detect_drift
    from pricebook.market.crawl import record_drift

    with transaction(engine) as session:
        drift = detect_drift(
            session,
            date.today(),
            threshold_pct=threshold,
            min_observations=args.drift_min_observations,
            actor=args.who,
        )
        record_drift(session, [r.run_id for r in reports], drift)
    print(drift.summary())


def _crawl_summary(reports: list[CrawlReport], targets: int, jobs: int, seconds: float) -> int:
    """Print the totals; exit status 1 when a crawl failed or was suspicious."""
    failed = sum(r.status == "failed" for r in reports)
    suspicious = sum(r.status == "suspicious" for r in reports)
    finished = f"{len(reports) - failed} finished" + (
        f" ({suspicious} suspicious)" if suspicious else ""
    )
    print(
        f"crawled {len(reports)} source(s) in {seconds:.1f}s, "
        f"{jobs} at a time: {finished}, {failed} failed; "
        f"items {sum(r.items for r in reports)}, new observations {sum(r.new for r in reports)}",
        flush=True,
    )
    if failed:
        print(f"error: {failed} of {targets} crawl(s) failed", file=sys.stderr)
    if suspicious:
        # a crawl that brought back far less than usual is not a success a scheduler may ignore
        print(
            f"error: {suspicious} of {targets} crawl(s) suspicious (see their reports)",
            file=sys.stderr,
        )
    return 1 if failed or suspicious else 0


def cmd_scrapyd(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.market.scrapyd import PROJECT, ScrapydClient, deploy

    client = ScrapydClient(args.url)
    version, spiders = deploy(client, args.version)
    print(f"deployed {PROJECT} version {version} to {client.address}: {spiders} spiders")
    return 0


def add_crawl(sub: Subcommands) -> None:
    """pricebook crawl: market sources, then drift."""
    crawl = sub.add_parser(
        "crawl",
        help="crawl market sources (Scrapy, one process each), store observations, check drift",
        description="Crawl market price sources, each in its own Scrapy process; the items are "
        "validated, matched and stored as market observations, the run and its report "
        "(pages, items, matched, unmatched, dropped with reasons) are recorded, then drift "
        "detection opens or updates review tasks in the feedback queue. Exit status 1 when a "
        "crawl failed or was suspicious (0 listings kept, pages or listings below half the "
        "median of the source's last 5 finished runs, pagination short of the page count the "
        "site declares); see docs/market-sources.md.",
    )
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="source names (see --all)")
    crawl.add_argument("--all", action="store_true", help="every source (examples skipped)")
    crawl.add_argument(
        "--source-file",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="crawl the source defined in this TOML file (repeatable)",
    )
    crawl.add_argument("--base-url", metavar="URL", help="replaces {base} in the start URLs")
    crawl.add_argument(
        "--sources-dir",
        metavar="DIR",
        help="extra directory of source files, searched before the built-ins (default: "
        "$PRICEBOOK_SOURCES_DIR)",
    )
    crawl.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Scrapy setting for the crawl processes (repeatable), e.g. -s DOWNLOAD_DELAY=2",
    )
    crawl.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="crawl up to N sources at once (default: up to 4; 1: one after another). "
        "Sources on one site (host and port) or with one name still crawl one after another",
    )
    crawl.add_argument("--timeout", type=float, help="stop each crawl after this many seconds")
    crawl.add_argument("--no-drift", action="store_true", help="skip drift detection")
    crawl.add_argument(
        "--drift-threshold",
        default="20",
        metavar="PCT",
        help="drift when a price is more than PCT%% off the market median (default 20)",
    )
    crawl.add_argument(
        "--drift-min-observations",
        type=int,
        default=3,
        metavar="N",
        help="market observations (from as many distinct sellers) needed before a drift "
        "counts (default 3)",
    )
    crawl.add_argument("--who", default=getpass.getuser(), help="recorded on runs and tasks")
    crawl.add_argument(
        "--scrapyd",
        metavar="URL",
        help="run each crawl as a job of the Scrapyd at URL (http://[USER:PASSWORD@]HOST:PORT; "
        "or credentials from ~/.netrc) and wait for it; sources by name, as Scrapyd's host "
        "finds them (see docs/scaling-crawls.md)",
    )
    crawl.set_defaults(handler=cmd_crawl)


def add_scrapyd(sub: Subcommands) -> None:
    """pricebook scrapyd deploy."""
    scrapyd_cmd = sub.add_parser("scrapyd", help="deploy the market scrapers to Scrapyd")
    scrapyd_sub = scrapyd_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    deploy = scrapyd_sub.add_parser(
        "deploy",
        help="build the scrapers' egg from this checkout and upload it (addversion.json)",
        description="Build an egg of the scrapers (spiders, settings, built-in sources) and "
        "upload it to Scrapyd as a new version of the project 'pricebook'; Scrapyd runs the "
        "newest version. The core must be installed in Scrapyd's Python (docs/deploy.md).",
    )
    deploy.add_argument("url", metavar="URL", help="http://[USER:PASSWORD@]HOST:PORT")
    deploy.add_argument("--version", help="version name (default: the UTC time, YYYYmmddHHMMSS)")
    deploy.set_defaults(handler=cmd_scrapyd)
