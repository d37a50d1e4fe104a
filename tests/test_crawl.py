"""`pricebook crawl`: real crawls of the fixture market (3 sources) into a migrated database.

Each crawl runs the CLI in a subprocess, which runs Scrapy in its own subprocess with
PRICEBOOK_DATABASE_URL pointing at the test database (SQLite file or PostgreSQL copy).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pricebook.db import transaction
from pricebook.models import FeedbackItem, MarketObservation, MarketRun, Part, PriceType, Region
from tests.market_site.server import SOURCES_DIR, MarketSite
from tests.test_market import load_market_catalog

REPO = Path(__file__).resolve().parent.parent
FAST = [
    "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_START_DELAY=0", "-s", "AUTOTHROTTLE_MAX_DELAY=0.2",
    "-s", "PRICEBOOK_RETRY_BACKOFF_BASE=0.1", "-s", "DOWNLOAD_TIMEOUT=10",
]  # fmt: skip
SOURCES = ["a_huaqiang.toml", "b_chepei.toml", "c_api.toml"]


def pricebook(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PRICEBOOK_ENV"}
    env["PRICEBOOK_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "pricebook.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


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
    for option in ("--all", "--source-file", "--base-url", "--drift-threshold", "SOURCE"):
        assert option in result.stdout


def test_crawl_without_sources_is_one_clear_error(tmp_path):
    result = pricebook("crawl", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: nothing to crawl: give SOURCE names, --source-file or --all"
    )
    result = pricebook("crawl", "no_such_source", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 1 and "no source named 'no_such_source'" in result.stderr


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
            types = {id_: code for id_, code in session.execute(select(PriceType.id, PriceType.code))}  # fmt: skip
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
            (o.source, o.raw_name, parts[o.part_id], types.get(o.price_type_id),
             regions.get(o.region_id), o.amount_fen, o.match_reason)
            for o in observations if o.status == "matched"
        }  # fmt: skip
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
            for o in observations if o.status == "unmatched" and o.source == "fixture_b_chepei"
        }  # fmt: skip
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
