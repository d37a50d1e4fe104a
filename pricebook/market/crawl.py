"""`pricebook crawl`: run a Scrapy crawl per source in its own process, record it, report it.

The Twisted reactor cannot be restarted inside one process, so every crawl is
``python -m scrapy crawl listing|api_json -a source=… -s PRICEBOOK_RUN_ID=…`` in a subprocess,
with ``PRICEBOOK_DATABASE_URL`` in its environment: its `CorePipeline` hands the items to
`pricebook.market.ingest_items`. This module creates the `MarketRun` row first, relays the
crawl's progress lines (Scrapy's LogStats every few seconds, warnings, errors), reads the final
stats file (`scrapers.extensions.StatsFileExtension`) and stores the report on the run.

A crawl that Scrapyd runs has no such parent: it closes its own run with `record_crawl`
(`scrapers.extensions.RunRecordExtension`), the same report, status rule and assessment
(`pricebook.market.scrapyd` schedules and waits for it).

`run_crawls` runs several such crawls at once (``pricebook crawl --jobs N``): threads, each
waiting on its crawl's subprocess. Crawls that would share rows or a site never overlap (see
`crawl_groups`); a crawl's output lines are written whole (`say`, `output_lock`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pricebook.db import as_utc, transaction
from pricebook.errors import InvalidInput, NotFound
from pricebook.market.health import assess_run
from pricebook.models import MarketRun
from pricebook.paging import Page
from pricebook.settings import Settings

if TYPE_CHECKING:
    from pricebook.market import DriftReport

SPIDERS = {"html": "listing", "json": "api_json"}
#: ``pricebook crawl`` without ``--jobs``: at most this many crawls at once.
DEFAULT_JOBS = 4


@dataclass(frozen=True, slots=True)
class CrawlTarget:
    name: str  # the source's name (what observations record)
    spider: str
    #: ("source", NAME) or ("source_file", PATH): the spider argument that selects it.
    argument: tuple[str, str]
    origin: str
    #: the sites (``host:port``) of its start URLs: politeness is per site.
    sites: tuple[str, ...] = ()


def resolve_targets(
    names: list[str],
    source_files: list[Path],
    *,
    all_sources: bool = False,
    sources_dir: str | None = None,
    base_url: str | None = None,
) -> list[CrawlTarget]:
    """The sources to crawl: by name (built-ins and ``sources_dir``), by file, or all of them
    (example sources on ``.invalid`` domains are skipped)."""
    from scrapers.sources import SourceError, find_source, list_sources, load_source

    targets: list[CrawlTarget] = []
    try:
        chosen = [(name, False) for name in dict.fromkeys(names)]
        if all_sources:
            chosen += [
                (name, True) for name in sorted(list_sources(sources_dir)) if name not in names
            ]
        for name, from_all in chosen:
            src = load_source(find_source(name, sources_dir), base_url=base_url)
            if from_all and _is_example(src.start_urls):
                continue  # documentation, never crawled
            targets.append(
                CrawlTarget(
                    src.name,
                    SPIDERS[src.kind],
                    ("source", name),
                    src.origin,
                    _sites(src.start_urls),
                )
            )
        for path in source_files:
            src = load_source(path, base_url=base_url)
            targets.append(
                CrawlTarget(
                    src.name,
                    SPIDERS[src.kind],
                    ("source_file", str(path.resolve())),
                    str(path),
                    _sites(src.start_urls),
                )
            )
    except SourceError as exc:
        raise NotFound(str(exc)) from None
    if not targets:
        raise InvalidInput("nothing to crawl: give SOURCE names, --source-file or --all")
    return targets


def _is_example(urls: tuple[str, ...]) -> bool:
    return all((urlsplit(u).hostname or "").endswith(".invalid") for u in urls)


def _sites(urls: tuple[str, ...]) -> tuple[str, ...]:
    sites = []
    for url in urls:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
        sites.append(f"{(parts.hostname or '').lower()}:{port}")
    return tuple(dict.fromkeys(sites))


def crawl_groups(targets: list[CrawlTarget]) -> list[list[CrawlTarget]]:
    """The targets in groups that crawl one after another, each group in the given order,
    groups by their first target. Two targets share a group when they have the same source
    name (their crawls would write the same listings) or a site (one request per site at a
    time is a promise of each crawl; two crawls of one site at once would break it)."""
    parent = list(range(len(targets)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, target in enumerate(targets):
        for key in [("name", target.name), *(("site", s) for s in target.sites)]:
            j = first.setdefault(key, i)
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[CrawlTarget]] = {}
    for i, target in enumerate(targets):
        groups.setdefault(root(i), []).append(target)
    return list(groups.values())


#: Held while a crawl's lines are written, so that parallel crawls' lines never interleave
#: (a whole report block, a progress line). Reentrant: `run_crawls` holds it around
#: ``on_report``, which may call `say`.
output_lock = threading.RLock()


def say(out: TextIO, *lines: str) -> None:
    """Write these lines to ``out`` together, flushed."""
    with output_lock:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()


def run_crawls(
    targets: list[CrawlTarget],
    crawl: Callable[[CrawlTarget], CrawlReport],
    *,
    jobs: int = DEFAULT_JOBS,
    on_report: Callable[[CrawlReport], None] | None = None,
) -> list[CrawlReport]:
    """``crawl`` every target, up to ``jobs`` at once (threads: the work is in each crawl's
    subprocess), and return the reports in the order the crawls finished. `crawl_groups`
    decides what may overlap. ``on_report`` gets each report as its crawl finishes, holding
    `output_lock`. ``jobs=1`` crawls in the given order in this thread.

    An exception from ``crawl`` (`run_crawl` records a failing crawl and returns its report;
    this is for what it cannot record, such as a lost database) stops new crawls from
    starting, lets the running ones finish, and propagates; so does KeyboardInterrupt.
    """
    reports: list[CrawlReport] = []

    def finished(report: CrawlReport) -> None:
        with output_lock:
            reports.append(report)
            if on_report is not None:
                on_report(report)

    groups = crawl_groups(targets)
    jobs = max(1, min(jobs, len(groups)))
    if jobs == 1:
        for target in targets:
            finished(crawl(target))
        return reports

    stop = threading.Event()

    def work(group: list[CrawlTarget]) -> None:
        for target in group:
            if stop.is_set():
                return
            try:
                report = crawl(target)
            except BaseException:
                stop.set()  # before this thread takes the next group
                raise
            finished(report)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pricebook-crawl")
    try:
        for future in as_completed([pool.submit(work, group) for group in groups]):
            future.result()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return reports


def start_run(engine: Engine, target: CrawlTarget, actor: str) -> int:
    with transaction(engine) as session:
        run = MarketRun(
            source=target.name, spider=target.spider, status="running", stats={}, created_by=actor
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(engine: Engine, run_id: int, status: str, stats: dict[str, Any]) -> None:
    with transaction(engine) as session:
        session.execute(
            update(MarketRun)
            .where(MarketRun.id == run_id)
            .values(status=status, stats=stats, finished_at=datetime.now(UTC))
        )


@dataclass
class CrawlReport:
    source: str
    run_id: int
    status: str = "failed"
    finish_reason: str = ""
    returncode: int | None = None
    elapsed_s: float = 0.0
    pages: int = 0
    items: int = 0  # rows the spider parsed into items
    matched: int = 0
    unmatched: int = 0
    new: int = 0
    updated_last_seen: int = 0
    #: rows and items dropped, by reason: the spider's (no name, no price, 面议) and the core's.
    dropped: dict[str, int] = field(default_factory=dict)
    page_errors: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    robots_forbidden: int = 0
    errors: int = 0
    #: pages the sites declare (``pagination.last_page``, capped by ``max_pages``), 0 if unknown
    pages_expected: int = 0
    #: start URLs whose pagination stopped before the declared page count
    pagination_short: int = 0
    #: the spider's warnings: "no rows match …", "pagination stopped at page 1 of 3 …"
    warnings: list[str] = field(default_factory=list)
    #: why the run is ``suspicious`` (`assess_run`); notes that do not make it so
    suspicious: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Listings the core kept (matched or not): items minus the core's drops."""
        return self.matched + self.unmatched

    def as_stats(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in {"source", "run_id"}}
        if self.status != "failed":
            out.pop("log_tail")
        return out

    def lines(self) -> list[str]:
        dropped = ", ".join(f"{r} {n}" for r, n in sorted(self.dropped.items())) or "none"
        errors = ", ".join(f"{r} {n}" for r, n in sorted(self.page_errors.items())) or "none"
        return [
            f"{self.source} (run {self.run_id}): {self.status} ({self.finish_reason or '?'}) "
            f"in {self.elapsed_s:.1f}s",
            f"  pages {self.pages}, items {self.items}: matched {self.matched}, "
            f"unmatched {self.unmatched}; new observations {self.new}, "
            f"unchanged (last_seen moved) {self.updated_last_seen}",
            f"  dropped: {sum(self.dropped.values())} ({dropped})",
            f"  page errors: {errors}; retries {self.retries}; "
            f"disallowed by robots.txt {self.robots_forbidden}; errors logged {self.errors}",
            *(f"  suspicious: {reason}" for reason in self.suspicious),
            *(f"  note: {note}" for note in self.notes),
            *(f"  warning: {warning}" for warning in self.warnings),
        ]


def report_from_stats(source: str, run_id: int, stats: dict[str, Any]) -> CrawlReport:
    def n(key: str) -> int:
        value = stats.get(key, 0)
        return int(value) if isinstance(value, int | float) else 0

    def prefixed(prefix: str) -> dict[str, int]:
        return {
            k.removeprefix(prefix): int(v)
            for k, v in stats.items()
            if k.startswith(prefix) and isinstance(v, int | float) and "/" not in k[len(prefix) :]
        }

    dropped = prefixed("pricebook/dropped/")
    for reason, count in prefixed("pricebook/ingest/dropped_by_reason/").items():
        dropped[reason] = dropped.get(reason, 0) + count
    return CrawlReport(
        source=source,
        run_id=run_id,
        finish_reason=str(stats.get("finish_reason", "")),
        elapsed_s=round(float(stats.get("elapsed_time_seconds", 0.0) or 0.0), 2),
        pages=n("pricebook/pages"),
        items=n("pricebook/items"),
        matched=n("pricebook/ingest/matched"),
        unmatched=n("pricebook/ingest/unmatched"),
        new=n("pricebook/ingest/new"),
        updated_last_seen=n("pricebook/ingest/updated_last_seen"),
        dropped=dropped,
        page_errors=prefixed("pricebook/page_errors/"),
        responses=prefixed("downloader/response_status_count/"),
        retries=n("retry/count"),
        robots_forbidden=n("robotstxt/forbidden"),
        errors=n("log_count/ERROR"),
        pages_expected=n("pricebook/pages_expected"),
        pagination_short=n("pricebook/pagination_short"),
        warnings=[str(w) for w in stats.get("pricebook/warnings") or [] if isinstance(w, str)],
    )


def _subprocess_database_url(settings: Settings) -> str:
    """The URL for the crawl process: a relative SQLite path made absolute (its cwd differs)."""
    url = make_url(settings.database_url)
    path = settings.sqlite_path()
    if path is not None and not path.is_absolute():
        url = url.set(database=str(path.resolve()))
    return url.render_as_string(hide_password=False)


def project_root() -> Path:
    import scrapers

    return Path(scrapers.__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    """How one crawl runs: another site address, a folder of sources, Scrapy settings and a time
    limit (seconds), each left to the spider's own when not given."""

    base_url: str | None = None
    sources_dir: str | None = None
    extra_settings: list[str] | None = None
    timeout: float | None = None


def crawl_command(
    target: CrawlTarget, run_id: int, stats_file: Path, options: CrawlOptions = CrawlOptions()
) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", "crawl", target.spider, "-a", "=".join(target.argument)]
    if options.base_url:
        cmd += ["-a", f"base_url={options.base_url}"]
    settings = [
        f"PRICEBOOK_RUN_ID={run_id}",
        f"PRICEBOOK_STATS_FILE={stats_file}",
        "LOGSTATS_INTERVAL=5",
    ]
    if options.sources_dir:
        settings.append(f"PRICEBOOK_SOURCES_DIR={Path(options.sources_dir).resolve()}")
    if options.timeout:
        settings.append(f"CLOSESPIDER_TIMEOUT={options.timeout}")
    for value in [*settings, *(options.extra_settings or [])]:
        cmd += ["-s", value]
    return cmd


def run_crawl(
    settings: Settings,
    engine: Engine,
    target: CrawlTarget,
    *,
    actor: str,
    base_url: str | None = None,
    sources_dir: str | None = None,
    extra_settings: list[str] | None = None,
    timeout: float | None = None,
    out: TextIO | None = None,
) -> CrawlReport:
    """Record a run, crawl in a subprocess while relaying progress to ``out``, store the
    report on the run and return it. A crawl that fails, however it fails, is recorded and
    reported as failed; only the database (recording it) can make this raise."""
    out = out or sys.stderr
    run_id = start_run(engine, target, actor)
    try:
        options = CrawlOptions(base_url, sources_dir, extra_settings, timeout)
        report = _crawl(settings, target, run_id, options, out)
    except Exception as exc:  # a bug or the machine, not the site: still this crawl's failure
        tail = [line.rstrip() for line in traceback.format_exception_only(exc)]
        report = CrawlReport(source=target.name, run_id=run_id, log_tail=tail)
    close_run(engine, report)
    return report


def close_run(engine: Engine, report: CrawlReport) -> None:
    """Assess a finished crawl (`assess_run`) and store its status and report on its run."""
    if report.status == "finished":
        with transaction(engine) as session:
            assess_run(session, report)
    finish_run(engine, report.run_id, report.status, report.as_stats())


def record_crawl(
    engine: Engine, source: str, run_id: int, stats: dict[str, Any], log_tail: list[str]
) -> CrawlReport:
    """Close the run of a crawl from its final Scrapy stats, inside the crawl's own process
    (the crawls Scrapyd starts have no parent to do it): the same report, status rule and
    assessment as `run_crawl`, without a process exit code to look at."""
    report = report_from_stats(source, run_id, stats)
    ok = report.finish_reason == "finished" and report.errors == 0
    report.status = "finished" if ok else "failed"
    if not ok:
        report.log_tail = list(log_tail)
    close_run(engine, report)
    return report


def report_of_run(engine: Engine, run_id: int) -> tuple[str, CrawlReport] | None:
    """A recorded run's status and report (None: no such run). A run still ``running`` has an
    empty report."""
    with transaction(engine) as session:
        run = session.get(MarketRun, run_id)
        if run is None:
            return None
        known = {f for f in CrawlReport.__dataclass_fields__ if f not in {"source", "run_id"}}
        stats = {k: v for k, v in (run.stats or {}).items() if k in known}
        return run.status, CrawlReport(source=run.source, run_id=run.id, **stats)


def _crawl(
    settings: Settings,
    target: CrawlTarget,
    run_id: int,
    options: CrawlOptions,
    out: TextIO,
) -> CrawlReport:
    env = dict(os.environ)
    env["PRICEBOOK_DATABASE_URL"] = _subprocess_database_url(settings)
    env["SCRAPY_SETTINGS_MODULE"] = "scrapers.settings"
    root = project_root()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    started = time.perf_counter()
    tail: deque[str] = deque(maxlen=30)
    with tempfile.TemporaryDirectory(prefix=f"pricebook-crawl-{run_id}-") as work:
        stats_file = Path(work) / "stats.json"
        cmd = crawl_command(target, run_id, stats_file, options)
        say(out, f"crawling {target.name} (run {run_id}, spider {target.spider})")
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            return CrawlReport(source=target.name, run_id=run_id, log_tail=[str(exc)])
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                if _is_progress(line):
                    say(out, f"  [{target.name}] {_short(line)}")
        except Exception:
            proc.kill()  # nobody would read it any more
            proc.wait()
            raise
        returncode = proc.wait()
        stats = json.loads(stats_file.read_text("utf-8")) if stats_file.exists() else {}
    report = report_from_stats(target.name, run_id, stats)
    report.returncode = returncode
    report.elapsed_s = report.elapsed_s or round(time.perf_counter() - started, 1)
    ok = returncode == 0 and report.finish_reason == "finished" and report.errors == 0
    report.status = "finished" if ok else "failed"
    if not ok:
        report.log_tail = list(tail)
    return report


def _is_progress(line: str) -> bool:
    if "WARNING: Disabled " in line:  # optional components not configured: not news
        return False
    return (
        "] INFO: Crawled " in line
        or "] WARNING: " in line
        or "] ERROR: " in line
        or "] CRITICAL: " in line
        or line.startswith("Traceback")
    )


def _short(line: str) -> str:
    """Drop Scrapy's timestamp and logger prefix: '2025-… [scrapy.x] INFO: text' → 'text'."""
    _, sep, rest = line.partition("] ")
    return rest if sep else line


#: the drift report's counts a run record keeps (`pricebook.market.DriftReport`)
DRIFT_COUNTS = (
    "checked",
    "drifting",
    "opened",
    "reopened",
    "updated",
    "unchanged",
    "closed",
    "already_resolved",
)


def record_drift(session: Session, run_ids: Sequence[int], drift: DriftReport) -> None:
    """Keep what the drift check after a crawl did to the queue in each of the crawl's run
    records (``stats["drift"]``): its counts and the tasks by outcome. The check covers every
    price, not one source, so each run of the crawl carries the same summary; a run read
    later still says which tasks its evidence opened, moved or closed."""
    summary: dict[str, Any] = {name: getattr(drift, name) for name in DRIFT_COUNTS}
    tasks: dict[str, list[int]] = {}
    for outcome, task_id in drift.tasks:
        tasks.setdefault(outcome, []).append(task_id)
    summary["tasks"] = tasks
    for run in session.scalars(select(MarketRun).where(MarketRun.id.in_(run_ids))):
        run.stats = {**(run.stats or {}), "drift": summary}


@dataclass(frozen=True, slots=True)
class RunView:
    id: int
    source: str
    spider: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any]
    created_by: str


def page_runs(
    session: Session,
    *,
    source: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[RunView]:
    """Recorded crawls, newest first, with their reports (``GET /api/v1/market/runs``)."""
    stmt = select(MarketRun)
    if source:
        stmt = stmt.where(MarketRun.source == source)
    if status:
        stmt = stmt.where(MarketRun.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(MarketRun.id.desc()).limit(limit).offset(offset))
    items = [
        RunView(
            r.id,
            r.source,
            r.spider,
            r.status,
            as_utc(r.started_at),
            as_utc(r.finished_at),
            dict(r.stats or {}),
            r.created_by,
        )
        for r in rows
    ]
    return Page(items, total, limit, offset)
