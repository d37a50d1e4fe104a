"""Crawls on Scrapyd, end to end: a real Scrapyd on 127.0.0.1 (configured from
deploy/scrapyd/scrapyd.conf) in a temp directory, the project deployed to it with
``pricebook scrapyd deploy``, the fixture market's JSON source crawled as a Scrapyd job, and the
run recorded in the market runs table as ``pricebook crawl`` records it. Skipped only when
scrapyd is not installed (it is in the dev extras).
"""

from __future__ import annotations

import configparser
import importlib.util
import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from pricebook.db import transaction
from pricebook.errors import InvalidInput
from pricebook.market.crawl import CrawlTarget, record_crawl, start_run
from pricebook.market.scrapyd import (
    PROJECT,
    ScrapydClient,
    ScrapydError,
    build_egg,
    run_scrapyd_crawl,
)
from pricebook.models import MarketObservation, MarketRun, Part
from pricebook.settings import Settings
from tests.ci import cannot_run
from tests.market_data import load_market_catalog
from tests.market_site.server import SOURCES_DIR, MarketSite
from tests.net import free_port
from tests.processes import FAST, REPO, pricebook

PASSWORD = "test-only-password"


def _wait_until_up(client: ScrapydClient, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"scrapyd exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            client.call("daemonstatus.json")
            return
        except ScrapydError:
            time.sleep(0.1)
    pytest.fail(f"scrapyd did not answer within 30 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def scrapyd_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A Scrapyd started with the repository's configuration (port, directories and poll
    interval changed for the test), its crawls pointed at the test database and the fixture
    sources; the URL carries its credentials."""
    if importlib.util.find_spec("scrapyd") is None:
        cannot_run("scrapyd is not installed (it is in the dev extras: pip install -e '.[dev]')")
    home = tmp_path / "scrapyd"
    home.mkdir()
    config = configparser.ConfigParser()
    config.read(REPO / "deploy" / "scrapyd" / "scrapyd.conf")
    port = free_port()
    config["scrapyd"].update(
        http_port=str(port),
        poll_interval="0.2",
        logs_dir=str(home / "logs"),
        eggs_dir=str(home / "eggs"),
        dbs_dir=str(home / "dbs"),
    )
    with (home / "scrapyd.conf").open("w") as f:
        config.write(f)
    env = {k: v for k, v in os.environ.items() if k != "PRICEBOOK_ENV"}
    env.update(
        PRICEBOOK_DATABASE_URL=settings.database_url,
        PRICEBOOK_SOURCES_DIR=str(SOURCES_DIR),
        SCRAPYD_PASSWORD=PASSWORD,
    )
    log = home / "scrapyd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scrapyd"],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{config['scrapyd']['username']}:{PASSWORD}@127.0.0.1:{port}"
    try:
        _wait_until_up(ScrapydClient(url), proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# PostgreSQL alone: the production database, and each backend's run costs about 30 s of
# process starts (Scrapyd, its spider listing, two crawls); the recording code is the same
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_a_source_crawled_on_scrapyd_is_recorded_like_a_local_crawl(settings, engine, scrapyd_url):
    load_market_catalog(engine)
    deployed = pricebook(
        "scrapyd", "deploy", scrapyd_url, "--version", "7", database_url=settings.database_url
    )
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.strip().endswith(
        f"deployed {PROJECT} version 7 to {ScrapydClient(scrapyd_url).address}: 2 spiders"
    )
    assert PASSWORD not in deployed.stdout
    with MarketSite() as site:
        crawl = pricebook(
            "crawl",
            "--scrapyd",
            scrapyd_url,
            "c_api",
            "--sources-dir",
            str(SOURCES_DIR),
            "--base-url",
            site.base_url,
            "--who",
            "ops",
            *FAST,
            database_url=settings.database_url,
            merged=True,
        )
        assert crawl.returncode == 0, crawl.stdout
        assert "crawling fixture_c_api (run 1, spider api_json, job " in crawl.stdout
        assert "fixture_c_api (run 1): finished (finished)" in crawl.stdout
        assert "pages 3, items 8: matched 5, unmatched 3; new observations 8" in crawl.stdout
        assert "drift: " in crawl.stdout
        # a job scheduled straight through the API (cron, curl) records a run of its own;
        # one page where the source gave three is suspicious, as it is for a local crawl
        client = ScrapydClient(scrapyd_url)
        settings_args = [FAST[i + 1] for i in range(0, len(FAST), 2)]
        job = client.schedule(
            "api_json",
            {"source": "c_api", "base_url": site.base_url, "max_pages": "1"},
            settings_args,
        )
        deadline = time.monotonic() + 60
        while client.state(job) != "finished" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.state(job) == "finished"
    with transaction(engine) as session:
        runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
        observed = session.execute(
            select(
                MarketObservation.raw_name,
                Part.code,
                MarketObservation.amount_fen,
                MarketObservation.match_reason,
                MarketObservation.run_id,
            )
            .join(Part, Part.id == MarketObservation.part_id)
            .where(MarketObservation.source == "fixture_c_api")
        ).all()
        total = len(session.scalars(select(MarketObservation.id)).all())
    assert [(r.source, r.spider, r.status, r.created_by) for r in runs] == [
        ("fixture_c_api", "api_json", "finished", "ops"),
        ("fixture_c_api", "api_json", "suspicious", f"scrapyd:{job}"),
    ]
    first, second = runs[0].stats, runs[1].stats
    assert runs[0].finished_at is not None and runs[1].finished_at is not None
    assert (first["pages"], first["items"], first["matched"], first["unmatched"]) == (3, 8, 5, 3)
    assert (first["new"], first["errors"], first["suspicious"]) == (8, 0, [])
    assert first["dropped"] == {"missing_name": 1, "missing_price": 1}
    assert second["pages"] == 1
    assert (
        second["suspicious"][0] == "pages 1: below half the median 3 of the last 1 finished run(s)"
    )
    assert total == 8  # the second run saw listings the first had stored
    assert {
        (name, code, fen, reason) for name, code, fen, reason, run in observed if run == runs[0].id
    } >= {
        ("水箱", "TY1-0001", 98000, "oe_exact"),
        ("前杠", "GF7-0001", 108000, "oe_exact"),
        ("机油 4L", "OIL-0001", 32900, "alias_exact"),
    }


def test_the_egg_holds_the_scrapers_and_names_the_scrapyd_settings():
    egg = zipfile.ZipFile(io.BytesIO(build_egg(REPO, "3")))
    names = set(egg.namelist())
    assert {
        "scrapers/settings.py",
        "scrapers/scrapyd_settings.py",
        "scrapers/spiders/api.py",
        "scrapers/sources/example_qipeicheng.toml",
        "EGG-INFO/PKG-INFO",
    } <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("pricebook/")]
    entry_points = egg.read("EGG-INFO/entry_points.txt").decode()
    assert entry_points == "[scrapy]\nsettings = scrapers.scrapyd_settings\n"
    assert "Version: 3\n" in egg.read("EGG-INFO/PKG-INFO").decode()


def test_the_client_keeps_credentials_out_of_its_address(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    with_auth = ScrapydClient("http://ops:s3cret@crawler.example:6800/")
    assert with_auth.address == "http://crawler.example:6800"
    assert with_auth.base_and_auth()[1] == "Basic b3BzOnMzY3JldA=="  # ops:s3cret
    assert ScrapydClient("http://crawler.example:6800").base_and_auth()[1] is None
    (tmp_path / ".netrc").write_text("machine crawler.example login ops password fromnetrc\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert ScrapydClient("http://crawler.example:6800").base_and_auth()[1] == (
        "Basic b3BzOmZyb21uZXRyYw=="  # ops:fromnetrc
    )
    with pytest.raises(InvalidInput, match="give an http"):
        ScrapydClient("crawler.example:6800").base_and_auth()


@dataclass(frozen=True)
class _LostJobs(ScrapydClient):
    """Scrapyd whose jobs end at once without touching the database, as a crawl that dies
    before its spider opens (its source missing on the host, the process killed)."""

    refuse: bool = False

    def schedule(self, spider: str, args: dict[str, str], settings: list[str]) -> str:
        if self.refuse:
            raise ScrapydError("Scrapyd at http://crawler.example:6800: schedule.json: spider 'x'")
        assert args == {"source": "c_api", "base_url": "http://shop.example"}
        assert settings[0].startswith("PRICEBOOK_RUN_ID=")
        return "job1"

    def state(self, job: str) -> str | None:
        return "finished"

    def log_tail(self, spider: str, job: str, lines: int = 30) -> list[str]:
        return ["Traceback (most recent call last):", "SourceError: no source named 'c_api'"]


def test_a_run_its_job_left_open_or_scrapyd_refused_is_recorded_failed(engine):
    target = CrawlTarget("fixture_c_api", "api_json", ("source", "c_api"), "c_api.toml")
    for client in (
        _LostJobs("http://crawler.example:6800"),
        _LostJobs("http://crawler.example:6800", refuse=True),
    ):
        report = run_scrapyd_crawl(
            engine, client, target, actor="ops", base_url="http://shop.example", out=io.StringIO()
        )
        assert report.status == "failed"
    with transaction(engine) as session:
        runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
    assert [(r.source, r.status, r.created_by) for r in runs] == [
        ("fixture_c_api", "failed", "ops"), ("fixture_c_api", "failed", "ops"),
    ]  # fmt: skip
    assert runs[0].finished_at is not None
    assert runs[0].stats["log_tail"] == [
        "Scrapyd job job1 ended (finished) without closing its run",
        "Traceback (most recent call last):",
        "SourceError: no source named 'c_api'",
    ]
    assert runs[1].stats["log_tail"] == [
        "Scrapyd at http://crawler.example:6800: schedule.json: spider 'x'"
    ]


def test_a_crawl_closes_its_own_run_by_the_rules_of_a_local_one(engine):
    """`record_crawl`, what a crawl under Scrapyd calls as its spider closes."""
    target = CrawlTarget("fixture_c_api", "api_json", ("source", "c_api"), "scrapyd")
    stats = {
        "finish_reason": "finished", "elapsed_time_seconds": 1.5, "pricebook/pages": 3,
        "pricebook/items": 8, "pricebook/ingest/matched": 5, "pricebook/ingest/unmatched": 3,
        "pricebook/ingest/new": 8, "pricebook/dropped/missing_price": 1,
        "pricebook/ingest/dropped_by_reason/missing_name": 1,
    }  # fmt: skip
    cases = [
        (stats, "finished"),
        ({**stats, "pricebook/ingest/matched": 0, "pricebook/ingest/unmatched": 0}, "suspicious"),
        ({**stats, "finish_reason": "shutdown"}, "failed"),  # stopped by SIGTERM
        ({**stats, "log_count/ERROR": 2}, "failed"),
    ]
    for case, status in cases:
        run_id = start_run(engine, target, "scrapyd:job")
        report = record_crawl(engine, "fixture_c_api", run_id, case, ["last log line"])
        assert report.status == status
    with transaction(engine) as session:
        runs = session.scalars(select(MarketRun).order_by(MarketRun.id)).all()
    assert [r.status for r in runs] == ["finished", "suspicious", "failed", "failed"]
    first = runs[0].stats
    assert (first["pages"], first["items"], first["matched"], first["unmatched"]) == (3, 8, 5, 3)
    assert first["dropped"] == {"missing_price": 1, "missing_name": 1}
    assert "log_tail" not in first and runs[0].finished_at is not None
    assert runs[1].stats["suspicious"] == ["0 listings kept (items 8)"]
    assert runs[2].stats["log_tail"] == ["last log line"]
    assert runs[3].stats["errors"] == 2
