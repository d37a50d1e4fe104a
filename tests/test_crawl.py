"""`pricebook crawl`: real crawls of the fixture market (3 sources) into a migrated database.

Each crawl runs the CLI in a subprocess, which runs Scrapy in its own subprocess with
PRICEBOOK_DATABASE_URL pointing at the test database (SQLite file or PostgreSQL copy).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select

from pricebook.db import transaction
from pricebook.market import ingest_items
from pricebook.market.crawl import CrawlReport, CrawlTarget, crawl_groups, run_crawls
from pricebook.models import FeedbackItem, MarketObservation, MarketRun, Part, PriceType, Region
from tests.market_data import TITLES, load_market_catalog, scraped_item
from tests.market_site.server import SITE_DIR, SOURCES_DIR, MarketSite
from tests.net import free_port
from tests.processes import FAST, REPO, pricebook

SOURCES = ["a_huaqiang.toml", "b_chepei.toml", "c_api.toml"]


def crawl_all(site: MarketSite, database_url: str) -> subprocess.CompletedProcess[str]:
    site.reset()
    files = [a for name in SOURCES for a in ("--source-file", str(SOURCES_DIR / name))]
    result = pricebook(
        "crawl", *files, "--base-url", site.base_url, *FAST, database_url=database_url
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_crawl_help():
    result = pricebook("crawl", "--help", database_url="sqlite:///unused.db")
    assert result.returncode == 0
    for option in ("--all", "--source-file", "--base-url", "--drift-threshold", "--jobs", "SOURCE"):
        assert option in result.stdout


def test_crawl_without_sources_is_one_clear_error(tmp_path):
    result = pricebook("crawl", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: nothing to crawl: give SOURCE names, --source-file or --all"
    )
    result = pricebook("crawl", "no_such_source", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 1 and "no source named 'no_such_source'" in result.stderr
    result = pricebook(
        "crawl", "--all", "--jobs", "0", database_url=f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert (result.returncode, result.stderr.strip()) == (1, "error: --jobs 0: give at least 1")


def test_the_sources_directory_comes_from_the_environment_too(tmp_path, monkeypatch):
    """PRICEBOOK_SOURCES_DIR names a directory of source files for `pricebook crawl` and for
    the Scrapy processes Scrapyd starts (docs/scaling-crawls.md); `--sources-dir` wins."""
    import importlib

    import scrapers.settings
    from pricebook.settings import Settings

    assert Settings.from_env({"PRICEBOOK_SOURCES_DIR": str(tmp_path)}).sources_dir == str(tmp_path)
    assert Settings.from_env({}).sources_dir is None
    monkeypatch.setenv("PRICEBOOK_SOURCES_DIR", str(tmp_path))
    assert str(tmp_path) == importlib.reload(scrapers.settings).PRICEBOOK_SOURCES_DIR
    monkeypatch.delenv("PRICEBOOK_SOURCES_DIR")
    assert importlib.reload(scrapers.settings).PRICEBOOK_SOURCES_DIR is None
    # the CLI finds a source by name in it (the crawl itself then fails: nothing listens)
    text = (SOURCES_DIR / "a_huaqiang.toml").read_text("utf-8")
    (tmp_path / "from_env.toml").write_text(
        text.replace("{base}", f"http://127.0.0.1:{free_port()}"), "utf-8"
    )
    database_url = f"sqlite:///{tmp_path / 'x.db'}"
    assert pricebook("db", "upgrade", database_url=database_url).returncode == 0
    env_run = subprocess.run(
        [sys.executable, "-m", "pricebook.cli", "crawl", "from_env", *FAST, "--timeout", "60"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "PRICEBOOK_SOURCES_DIR": str(tmp_path),
            "PRICEBOOK_DATABASE_URL": database_url,
        },
    )
    assert "no source named" not in env_run.stdout, env_run.stdout
    assert "crawling fixture_a_huaqiang" in env_run.stdout  # the file's source, found by name
    without = pricebook("crawl", "from_env", database_url=database_url)
    assert "no source named 'from_env'" in without.stderr


@pytest.mark.postgres_only
@pytest.mark.slow
def test_crawl_fixture_market_observations_recrawl_and_one_drift_task(settings, engine):
    load_market_catalog(engine)
    with MarketSite() as site:
        first = crawl_all(site, settings.database_url)
        paths = site.paths()
        with transaction(engine) as session:
            runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
            observations = session.scalars(
                select(MarketObservation).order_by(MarketObservation.id)
            ).all()
            parts = {id_: code for id_, code in session.execute(select(Part.id, Part.code))}
            types = {
                id_: code for id_, code in session.execute(select(PriceType.id, PriceType.code))
            }
            regions = {id_: code for id_, code in session.execute(select(Region.id, Region.code))}
            last_seen_before = {o.id: o.last_seen for o in observations}

        # --- the report, printed and stored on each run
        assert "fixture_a_huaqiang (run 1): finished" in first.stdout
        assert "pages 3, items 9: matched 5, unmatched 4; new observations 9" in first.stdout
        assert "dropped: 4 (missing_name 1, missing_price 2, price_not_given 1)" in first.stdout
        assert "http_404 1, robots_disallowed 1" in first.stdout
        assert "tasks opened 1" in first.stdout
        assert "[fixture_b_chepei] WARNING" in first.stderr  # progress relayed
        assert [(r.source, r.spider, r.status) for r in runs] == [
            ("fixture_a_huaqiang", "listing", "finished"),
            ("fixture_b_chepei", "listing", "finished"),
            ("fixture_c_api", "api_json", "finished"),
        ]
        a, b, c = (r.stats for r in runs)
        assert (a["pages"], a["items"], a["matched"], a["unmatched"], a["new"]) == (3, 9, 5, 4, 9)
        assert a["dropped"] == {"missing_name": 1, "missing_price": 2, "price_not_given": 1}
        assert a["retries"] == 1  # list_2 answered 503 once
        assert (b["pages"], b["items"], b["matched"], b["unmatched"]) == (3, 9, 2, 7)
        assert b["page_errors"] == {"http_404": 1, "robots_disallowed": 1}
        assert (c["pages"], c["items"], c["matched"], c["unmatched"]) == (3, 8, 5, 3)
        assert all(r.finished_at is not None for r in runs)

        # --- robots.txt obeyed
        assert "/robots.txt" in paths
        assert not [p for p in paths if p.startswith("/private/")]
        assert b["robots_forbidden"] == 1

        # --- the stored observations
        assert len(observations) == 26
        assert {o.run_id for o in observations} == {r.id for r in runs}
        matched = {
            (
                o.source,
                o.raw_name,
                parts[o.part_id],
                types.get(o.price_type_id),
                regions.get(o.region_id),
                o.amount_fen,
                o.match_reason,
            )
            for o in observations
            if o.status == "matched"
        }
        assert matched == {
            ("fixture_a_huaqiang", "前杠", "GF7-0001", "oem", "440300", 145000, "oe_exact"),
            (
                "fixture_a_huaqiang",
                "左前叶子板",
                "VW1-0001",
                "brand",
                "440300",
                38000,
                "oe_superseded",
            ),
            ("fixture_a_huaqiang", "水箱", "TY1-0001", "brand", "440300", 56000, "oe_exact"),
            ("fixture_a_huaqiang", "机油 4L", "OIL-0001", "brand", "440300", 39800, "alias_exact"),
            (
                "fixture_a_huaqiang",
                "后视镜总成 左",
                "GF7-0002",
                "brand",
                "440300",
                46000,
                "oe_exact",
            ),
            ("fixture_b_chepei", "左前叶子板", "SG-0001", "oem", "440100", 128000, "oe_exact"),
            ("fixture_b_chepei", "机油 4L", "OIL-0001", "brand", "440100", 39900, "alias_exact"),
            ("fixture_c_api", "水箱", "TY1-0001", "oem", "320500", 98000, "oe_exact"),
            ("fixture_c_api", "左前叶子板", "VW1-0001", "brand", "320500", 36500, "oe_superseded"),
            ("fixture_c_api", "前杠", "GF7-0001", "brand", "320500", 108000, "oe_exact"),
            ("fixture_c_api", "机油 4L", "OIL-0001", "brand", "320500", 32900, "alias_exact"),
            ("fixture_c_api", "后视镜总成 左", "GF7-0002", "oem", "320500", 135000, "oe_exact"),
        }
        oe_matches = [o for o in observations if o.match_reason.startswith("oe")]
        assert all(o.confidence_bp == 10000 for o in oe_matches)
        # --- the unmatched ones, kept for review with the raw text (ranges → midpoint)
        unmatched = {
            o.raw_name: (o.raw_price, o.amount_fen)
            for o in observations
            if o.status == "unmatched" and o.source == "fixture_b_chepei"
        }
        assert unmatched == {
            "前杠": ("0.35万元", 350000),  # a Camry's bumper: the catalogue has only the Golf's
            "大灯总成（右）": ("850-920元", 88500),
            "后杠": ("¥ 960", 96000),
            "前叶子板（右）": ("￥420.00", 42000),
            "引擎盖": ("1,650元", 165000),
            "防冻液 -25℃ 4kg": ("¥89.00", 8900),
            "刹车油 DOT4 1L": ("¥45.00", 4500),
        }
        assert all(o.part_id is None for o in observations if o.status == "unmatched")
        toyota_bumper = next(o for o in observations if o.raw_name == "前保险杠皮")
        assert toyota_bumper.status == "unmatched"  # only a Golf part by that name
        assert parts[toyota_bumper.suggested_part_id] == "GF7-0001"  # offered for review

        # --- exactly one drift task: SZ01's 品牌件 机油 at 300 vs the market median 398
        with transaction(engine) as session:
            task = session.scalars(select(FeedbackItem)).one()
            assert (task.kind, task.status, parts[task.part_id]) == ("drift", "open", "OIL-0001")
            assert (task.reference_fen, task.observed_fen) == (30000, 39800)
            assert task.evidence["market"]["count"] == 3

        # --- an idempotent re-crawl: no new rows, last_seen moved, still one task
        second = crawl_all(site, settings.database_url)
        assert "new observations 0, unchanged (last_seen moved) 9" in second.stdout
        assert "tasks opened 0, updated 0, unchanged 1" in second.stdout
        with transaction(engine) as session:
            assert session.scalar(select(func.count()).select_from(MarketObservation)) == 26
            again = session.scalars(select(MarketObservation)).all()
            assert all(o.last_seen >= last_seen_before[o.id] for o in again)
            assert any(o.last_seen > last_seen_before[o.id] for o in again)
            assert {o.last_run_id for o in again} == {4, 5, 6}
            assert {o.run_id for o in again} == {1, 2, 3}
            assert session.scalar(select(func.count()).select_from(FeedbackItem)) == 1
            assert session.scalar(select(func.count()).select_from(MarketRun)) == 6


# --- shop titles over the demo catalogue, sellers kept apart ------------------------------------


@pytest.mark.postgres_only
def test_crawl_title_shop_matches_by_vehicle_and_keeps_sellers_apart(settings, engine):
    """The fixture title shop (tests/market_site/site/titles) lists `TITLES` — name-only
    listings whose titles carry the vehicle — over the demo catalogue, each with its own page,
    item id and seller; one title comes from three sellers."""
    from pricebook.demo import load_demo

    load_demo(engine)
    files = ["--source-file", str(SOURCES_DIR / "titles_shop.toml")]
    with MarketSite() as site:
        first = pricebook(
            "crawl",
            *files,
            "--base-url",
            site.base_url,
            "--no-drift",
            *FAST,
            database_url=settings.database_url,
        )
        assert first.returncode == 0, first.stdout + first.stderr
        with transaction(engine) as session:
            codes = dict(session.execute(select(Part.id, Part.code)).all())
            rows = session.scalars(select(MarketObservation)).all()
        assert len(rows) == len(TITLES) + 2
        seller_rows = [r for r in rows if r.raw_name == "大众朗逸 左后叶子板 原厂"]
        assert sorted(r.seller for r in seller_rows) == ["华强汽配", "南方配件", "车配优选"]
        assert {codes.get(r.part_id) for r in seller_rows} == {"VW1-0092"}
        assert all(r.listing_url.startswith(f"{site.base_url}/titles/goods/T") for r in rows)
        assert all(r.item_id.startswith("T") for r in rows)
        # the goal, on the crawled listings: ≥ 90% of those whose part exists matched right,
        # none matched wrong (a side word never wrong), the rest never matched
        got = {r.raw_name: codes.get(r.part_id) for r in rows}
        exists = [t for t, code in TITLES.items() if code is not None]
        right = [t for t in exists if got[t] == TITLES[t]]
        assert [t for t, code in got.items() if code is not None and code != TITLES[t]] == []
        assert len(right) / len(exists) >= 0.9
        assert all(got[t] is None for t, code in TITLES.items() if code is None)

        # a re-crawl: every listing moves its own last_seen, nothing new
        again = pricebook(
            "crawl",
            *files,
            "--base-url",
            site.base_url,
            "--no-drift",
            *FAST,
            database_url=settings.database_url,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"unchanged (last_seen moved) {len(TITLES) + 2}" in again.stdout
        with transaction(engine) as session:
            assert (
                session.scalar(select(func.count()).select_from(MarketObservation))
                == len(TITLES) + 2
            )


# --- drift follows the market across re-crawls ------------------------------------------------

#: Where the fixture pages state 品牌件 机油 4L's price (source A, B; C stays at 329).
OIL_PRICES = {
    Path("a/list_2.html"): ('<td class="price">{}</td>', 398),
    Path("b/cat/fluids.html"): ('<em class="price">¥{}.00</em>', 399),
}


def _set_oil_prices(root: Path, a: int, b: int) -> None:
    for (path, (template, shipped)), price in zip(OIL_PRICES.items(), (a, b), strict=True):
        original = (SITE_DIR / path).read_text(encoding="utf-8")
        assert original.count(template.format(shipped)) == 1
        changed = original.replace(template.format(shipped), template.format(price))
        (root / path).write_text(changed, encoding="utf-8")


@pytest.mark.postgres_only
def test_recrawls_with_changed_prices_open_update_close_and_reopen_the_drift_task(
    settings, engine, tmp_path
):
    """SZ01's localized 品牌件 机油 is 300; sources A and B move their price between crawls."""
    load_market_catalog(engine)
    root = tmp_path / "site"
    shutil.copytree(SITE_DIR, root)

    def task() -> FeedbackItem:
        with transaction(engine) as session:
            return session.scalars(select(FeedbackItem)).one()

    with MarketSite(root=root) as site:
        # 398, 399, 329 → median 398: 24.6% below, a task opens
        first = crawl_all(site, settings.database_url)
        assert "tasks opened 1, updated 0" in first.stdout
        opened = task()
        assert (opened.status, opened.observed_fen) == ("open", 39800)
        assert f"opened: #{opened.id}" in first.stdout
        assert opened.note.startswith("价格 300.00 元比市场中位数 398.00 元低 24.6%")

        # 380, 385, 329 → median 380: still beyond 20%, the task's figures follow
        _set_oil_prices(root, 380, 385)
        second = crawl_all(site, settings.database_url)
        assert "tasks opened 0, updated 1, unchanged 0, closed 0" in second.stdout
        assert f"updated: #{opened.id}" in second.stdout
        updated = task()
        assert (updated.id, updated.status, updated.observed_fen) == (opened.id, "open", 38000)
        assert updated.evidence["deviation_pct"] == "-21.05"
        assert updated.evidence["market"]["count"] == 3

        # 340, 345, 329 → median 340: 11.8% below, back within 20% — closed by the market
        _set_oil_prices(root, 340, 345)
        third = crawl_all(site, settings.database_url)
        assert "tasks opened 0, updated 0, unchanged 0, closed 1" in third.stdout
        assert f"closed: #{opened.id}" in third.stdout
        closed = task()
        assert (closed.status, closed.observed_fen) == ("resolved_by_market", 34000)
        assert "已回到阈值 20.0% 以内" in closed.note
        # the crawl's runs say so too (each run of the crawl carries the drift summary)
        with transaction(engine) as session:
            runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
        summaries = [r.stats["drift"] for r in runs[-len(SOURCES) :]]
        assert {(d["opened"], d["updated"], d["closed"]) for d in summaries} == {(0, 0, 1)}
        assert summaries[0]["tasks"] == {"closed": [opened.id]}

        # 420, 430, 329 → median 420: 28.6% below again — the same task reopens
        _set_oil_prices(root, 420, 430)
        fourth = crawl_all(site, settings.database_url)
        assert "closed 0 (back within the threshold), reopened 1" in fourth.stdout
        assert f"reopened: #{opened.id}" in fourth.stdout
        reopened = task()
        assert (reopened.id, reopened.status, reopened.observed_fen) == (
            opened.id,
            "open",
            42000,
        )
        assert reopened.resolved_at is None


# --- parallel crawls (--jobs) ----------------------------------------------------------------


def test_concurrent_ingests_of_one_source_never_duplicate_a_listing(engine):
    """Ingests of one source at once (the source twice in one `pricebook crawl`, or two crawls
    overlapping): the later waits for the earlier to commit, then sees its rows. A hook holds
    each ingest a moment between reading the listings and writing, where, without the lock,
    both would read "no row yet" and both insert. Another source's ingest runs alongside."""
    load_market_catalog(engine)
    ingest_items(engine, [scraped_item(source="warm-up")], None)  # the process's catalogue cache
    names = ["机油 4L", "雾灯 右", "前杠", "水箱"]
    batches = [
        [scraped_item(name, "398", source=source) for name in names]
        for source in ("s1", "s1", "s2", "s2", "s1")
    ]

    def hold(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO MARKET_OBSERVATIONS"):
            time.sleep(0.3)

    start = threading.Barrier(len(batches))
    results: list[Any] = [None] * len(batches)

    def ingest(i: int) -> None:
        start.wait()
        results[i] = ingest_items(engine, batches[i], None)

    event.listen(engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=ingest, args=(i,)) for i in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    assert all(r is not None for r in results)  # none failed (no deadlock, no busy database)
    for source, batch_ids in (("s1", [0, 1, 4]), ("s2", [2, 3])):
        news = sorted(results[i].new for i in batch_ids)
        unchanged = sorted(results[i].updated_last_seen for i in batch_ids)
        assert news == [0] * (len(batch_ids) - 1) + [len(names)], source
        assert unchanged == [0] + [len(names)] * (len(batch_ids) - 1), source
    with transaction(engine) as session:
        rows = session.execute(
            select(MarketObservation.source, func.count())
            .where(MarketObservation.source != "warm-up")
            .group_by(MarketObservation.source)
        ).all()
    assert sorted(rows) == [("s1", len(names)), ("s2", len(names))]


def _target(name: str, *sites: str) -> CrawlTarget:
    return CrawlTarget(name, "listing", ("source", name), f"{name}.toml", sites)


def test_crawl_groups_keep_one_source_and_one_site_to_one_crawl_at_a_time():
    a, b, a2, c, d = (
        _target("a", "x.test:80"), _target("b", "y.test:80"), _target("a", "z.test:443"),
        _target("c", "z.test:443", "x.test:80"), _target("d", "w.test:80"),
    )  # fmt: skip
    assert crawl_groups([a, b, a2, c, d]) == [[a, a2, c], [b], [d]]
    assert crawl_groups([b, d]) == [[b], [d]]


def test_run_crawls_runs_up_to_jobs_at_once_and_reports_each_as_it_finishes():
    targets = [_target(n, f"{n}.test:80") for n in "abcde"] + [_target("f", "a.test:80")]
    lock = threading.Lock()
    running: set[str] = set()
    most = 0
    together: list[set[str]] = []

    def crawl(target: CrawlTarget) -> CrawlReport:
        nonlocal most
        with lock:
            running.add(target.name)
            most = max(most, len(running))
            together.append(set(running))
        time.sleep(0.1)
        with lock:
            running.discard(target.name)
        return CrawlReport(target.name, 0, status="finished", items=1)

    shown: list[str] = []
    reports = run_crawls(targets, crawl, jobs=3, on_report=lambda r: shown.append(r.source))
    assert most == 3
    assert not any({"a", "f"} <= names for names in together)  # one site: one after another
    assert sorted(shown) == sorted(r.source for r in reports) == list("abcdef")
    assert shown.index("a") < shown.index("f")

    order: list[str] = []
    sequential = run_crawls(targets, lambda t: order.append(t.name) or crawl(t), jobs=1)
    assert order == [r.source for r in sequential] == list("abcdef")


def test_run_crawls_stops_starting_crawls_after_an_unexpected_error():
    b_running = threading.Event()
    started: list[str] = []
    done: list[str] = []

    def crawl(target: CrawlTarget) -> CrawlReport:
        started.append(target.name)
        if target.name == "a":
            assert b_running.wait(10)
            raise RuntimeError("the database went away")
        b_running.set()
        time.sleep(0.2)
        done.append(target.name)
        return CrawlReport(target.name, 0, status="finished")

    targets = [_target(n, f"{n}.test:80") for n in "abcdef"]
    with pytest.raises(RuntimeError, match="went away"):
        run_crawls(targets, crawl, jobs=2)
    assert started == ["a", "b"]  # c … f never started
    assert done == ["b"]  # the running crawl was waited for


def _sources_on(sites: list[MarketSite], directory: Path, names: list[str] = SOURCES) -> list[str]:
    """The fixture sources, each on its own site (their own host:port, so they may overlap)."""
    args = []
    for site, name in zip(sites, names, strict=True):
        path = directory / name
        text = (SOURCES_DIR / name).read_text("utf-8")
        path.write_text(text.replace("{base}", site.base_url), "utf-8")
        args += ["--source-file", str(path)]
    return args


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _snapshot(engine) -> tuple[list[Any], list[Any]]:
    """Runs and observations without ids, times and durations (run ids as their source), and
    without the drift check's summary a run records (a crawl with drift off has none)."""
    with transaction(engine) as session:
        runs = session.scalars(select(MarketRun)).all()
        source_of = {r.id: r.source for r in runs}
        run_rows = sorted(
            (
                r.source,
                r.spider,
                r.status,
                r.created_by,
                r.finished_at is not None,
                sorted((k, repr(v)) for k, v in r.stats.items() if k not in ("elapsed_s", "drift")),
            )
            for r in runs
        )
        o = MarketObservation
        observations = sorted(
            (source_of[o.run_id], source_of[o.last_run_id], *row)
            for o, *row in session.execute(
                select(
                    o,
                    o.source,
                    o.item_key,
                    o.url,
                    o.raw_name,
                    o.raw_price,
                    o.raw_oe,
                    o.raw_brand_text,
                    o.amount_fen,
                    o.part_id,
                    o.suggested_part_id,
                    o.model_id,
                    o.region_id,
                    o.price_type_id,
                    o.confidence_bp,
                    o.match_reason,
                    o.status,
                )
            )
        )
    return run_rows, observations


def _blocks(output: str, runs: list[MarketRun]) -> list[int]:
    """Where each run's report block starts in the output; asserts each is whole: its header,
    its three report lines and, when it failed, its log tail, with no other line between."""
    lines = output.splitlines()
    starts = []
    for run in runs:
        header = f"{run.source} (run {run.id}): {run.status} "
        [i] = [k for k, line in enumerate(lines) if line.startswith(header)]
        block = lines[
            i : i + 4 + (min(15, len(run.stats["log_tail"])) if run.status == "failed" else 0)
        ]
        assert [line[:8] for line in block[1:4]] == ["  pages ", "  droppe", "  page e"], block
        assert all(line.startswith("  | ") for line in block[4:]), block
        starts.append(i)
    return starts


@pytest.mark.postgres_only
@pytest.mark.slow
def test_parallel_crawl_stores_what_a_sequential_one_does(settings, engine, tmp_path):
    load_market_catalog(engine)
    with MarketSite() as one, MarketSite() as two, MarketSite() as three:
        sites = [one, two, three]
        files = _sources_on(sites, tmp_path)
        for site in sites:
            site.reset()
        sequential = pricebook(
            "crawl",
            *files,
            "--jobs",
            "1",
            "--no-drift",
            *FAST,
            database_url=settings.database_url,
            merged=True,
        )
        assert sequential.returncode == 0, sequential.stdout
        expected = _snapshot(engine)
        with transaction(engine) as session:
            sequential_runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
            session.execute(delete(MarketObservation))
            session.execute(delete(MarketRun))
        for site in sites:
            site.reset()
        parallel = pricebook(
            "crawl",
            *files,
            "--jobs",
            "2",
            *FAST,
            database_url=settings.database_url,
            merged=True,
        )
        assert parallel.returncode == 0, parallel.stdout
    assert _snapshot(engine) == expected
    runs, observations = expected
    assert [r[:3] for r in runs] == [
        ("fixture_a_huaqiang", "listing", "finished"),
        ("fixture_b_chepei", "listing", "finished"),
        ("fixture_c_api", "api_json", "finished"),
    ]
    assert len(observations) == 26

    def begun(output: str, runs: list[MarketRun]) -> list[int]:
        lines = output.splitlines()
        return [lines.index(f"crawling {r.source} (run {r.id}, spider {r.spider})") for r in runs]

    # --jobs 1: one crawl after the other, as before
    began, ended = (
        begun(sequential.stdout, sequential_runs),
        _blocks(sequential.stdout, sequential_runs),
    )
    assert began[0] < ended[0] < began[1] < ended[1] < began[2] < ended[2]

    # --jobs 2: two at once; the second began before either ended, the third waited for a job
    with transaction(engine) as session:
        runs_now = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
    began, ended = begun(parallel.stdout, runs_now), _blocks(parallel.stdout, runs_now)
    assert began[1] < min(ended[:2]) < began[2]
    lines = parallel.stdout.splitlines()
    drift = [k for k, line in enumerate(lines) if line.startswith("drift: ")]
    assert len(drift) == 1 and drift[0] > max(ended)  # once, after every crawl
    assert "tasks opened 1" in lines[drift[0]]
    assert lines[-1].startswith("crawled 3 source(s) in ")
    assert lines[-1].endswith(", 2 at a time: 3 finished, 0 failed; items 26, new observations 26")


@pytest.mark.postgres_only
@pytest.mark.slow
def test_a_failing_source_fails_alone_while_the_others_finish(settings, engine, tmp_path):
    load_market_catalog(engine)
    with MarketSite() as one, MarketSite() as two:
        files = _sources_on([one, two], tmp_path, ["a_huaqiang.toml", "b_chepei.toml"])
        dead = tmp_path / "c_api.toml"
        text = (SOURCES_DIR / "c_api.toml").read_text("utf-8")
        dead.write_text(text.replace("{base}", f"http://127.0.0.1:{_closed_port()}"), "utf-8")
        result = pricebook(
            "crawl",
            *files,
            "--source-file",
            str(dead),
            *FAST,
            database_url=settings.database_url,
            merged=True,
        )
    assert result.returncode == 1, result.stdout
    with transaction(engine) as session:
        runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
        per_source = dict(
            session.execute(
                select(MarketObservation.source, func.count()).group_by(MarketObservation.source)
            ).all()
        )
    assert {r.source: r.status for r in runs} == {
        "fixture_a_huaqiang": "finished", "fixture_b_chepei": "finished",
        "fixture_c_api": "failed",
    }  # fmt: skip
    assert all(r.finished_at is not None for r in runs)
    failed = next(r for r in runs if r.status == "failed")
    assert failed.stats["page_errors"] == {"DownloadConnectionRefusedError": 1}
    assert failed.stats["errors"] >= 1 and failed.stats["log_tail"]
    assert per_source == {"fixture_a_huaqiang": 9, "fixture_b_chepei": 9}
    _blocks(result.stdout, runs)
    lines = result.stdout.splitlines()
    assert "3 at a time: 2 finished, 1 failed; items 18, new observations 18" in lines[-2]
    assert lines[-1] == "error: 1 of 3 crawl(s) failed"
