"""Prometheus metrics (`api.metrics`): what a scrape answers after known requests, the
histogram's arithmetic, and the node's workers answered together."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.metrics import BUCKETS, RequestStats, render
from pricebook.settings import Settings
from tests.api_client import Api, part_id_of, seed
from tests.net import free_port
from tests.processes import REPO, migrated_sqlite, serve_command

METRICS = "/api/v1/metrics"
RESOLVE_ROUTE = "/api/v1/prices/resolve"


def samples(text: str) -> dict[str, float]:
    """Each sample line's name and labels → its value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def snap(worker: int, stats: RequestStats, **parts: object) -> dict[str, object]:
    return {
        "worker": worker,
        "at": 1_700_000_000.5,
        "started": 1_699_999_000.25,
        **stats.dump(),
        "reference_memo": {"hits": 7, "misses": 3, "dropped": 0, "entries": 3},
        **parts,
    }


def test_the_histogram_counts_each_request_in_its_bucket_and_below():
    """Answers of 3 ms, 20 ms, 25 ms (a bucket's bound counts in that bucket) and 3 s, and a
    404 of 1 ms: cumulative buckets 2, 2, 4, 4, …, 4 at 2.5 s, 5 from 5 s; sum 3.049 s;
    count 5; by status, 4 and 1."""
    stats = RequestStats()
    for seconds in (0.003, 0.02, 0.025, 3.0):
        stats.record("GET", "/api/v1/parts", 200, seconds)
    stats.record("GET", "/api/v1/parts", 404, 0.001)
    got = samples(render([snap(0, stats)]))
    bucket = 'pricebook_http_request_duration_seconds_bucket{{worker="0",method="GET",route="/api/v1/parts",le="{}"}}'
    expected = [2, 2, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5]
    bounds = [*map(str, BUCKETS), "+Inf"]
    assert [got[bucket.format(b)] for b in bounds] == expected
    labels = '{worker="0",method="GET",route="/api/v1/parts"}'
    assert got[f"pricebook_http_request_duration_seconds_sum{labels}"] == pytest.approx(3.049)
    assert got[f"pricebook_http_request_duration_seconds_count{labels}"] == 5
    ok = 'pricebook_http_requests_total{worker="0",method="GET",route="/api/v1/parts",status="200"}'
    assert got[ok] == 4
    assert got[ok.replace("200", "404")] == 1


def test_every_family_is_declared_once_and_labels_are_escaped():
    stats = RequestStats()
    stats.record("GET", 'a"b\\c\nd', 200, 0.1)
    text = render(
        [
            snap(1, stats, pool={"checked_out": 2, "idle": 8}),
            snap(0, RequestStats(), validations={"rows": 40, "inserts": 9}),
        ]
    )
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    assert len(types) == len({name for name, _ in types}) == 13
    assert 'route="a\\"b\\\\c\\nd"' in text
    got = samples(text)
    # workers in order, each with only what it has
    entries = 'pricebook_reference_memo_entries{{worker="{}"}}'
    assert text.index(entries.format(0)) < text.index(entries.format(1))
    assert got['pricebook_db_pool_connections{worker="1",state="checked_out"}'] == 2
    assert 'pricebook_db_pool_connections{worker="0"' not in text
    assert got['pricebook_validation_inserts_total{worker="0"}'] == 9
    assert got['pricebook_reference_memo_lookups_total{worker="1",result="hit"}'] == 7
    assert got['pricebook_worker_snapshot_timestamp_seconds{worker="0"}'] == 1_700_000_000.5
    assert got['pricebook_process_start_time_seconds{worker="1"}'] == 1_699_999_000.25


async def test_a_scrape_counts_the_requests_before_it(api: Api):
    """Two resolves, one of a part that is not there (404), a request without a key (401):
    each under its route's template, with its status; the scrape needs a key."""
    pid = part_id_of(api)
    base = f"{RESOLVE_ROUTE}?branch=SZ01&date=2026-01-15"
    assert (await api.get(f"{base}&part_id={pid}")).status_code == 200
    assert (await api.get(f"{base}&part_id={pid}")).status_code == 200
    assert (await api.get(f"{base}&part_id=999999999")).status_code == 404
    assert (await api.client.get("/api/v1/parts")).status_code == 401
    assert (await api.get(f"/api/v1/parts/{pid}")).status_code == 200

    assert (await api.client.get(METRICS)).status_code == 401
    r = await api.get(METRICS)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(r.text)
    requests = 'pricebook_http_requests_total{{worker="0",method="GET",route="{}",status="{}"}}'
    assert got[requests.format(RESOLVE_ROUTE, 200)] == 2
    assert got[requests.format(RESOLVE_ROUTE, 404)] == 1
    assert got[requests.format("/api/v1/parts", 401)] == 1
    assert got[requests.format("/api/v1/parts/{part_id}", 200)] == 1
    assert f"/api/v1/parts/{pid}" not in r.text  # ids never make series
    count = 'pricebook_http_request_duration_seconds_count{{worker="0",method="GET",route="{}"}}'
    assert got[count.format(RESOLVE_ROUTE)] == 3
    # the scrape refused without a key is counted; the one answering is not yet complete
    assert got[requests.format(METRICS, 401)] == 1
    assert requests.format(METRICS, 200) not in got
    assert got['pricebook_reference_memo_lookups_total{worker="0",result="miss"}'] >= 0
    if not api.settings.is_sqlite:
        in_use = got['pricebook_db_pool_connections{worker="0",state="checked_out"}']
        assert 0 <= in_use <= api.settings.pool_size


async def test_one_scrape_answers_every_worker_of_the_node(settings: Settings, tmp_path: Path):
    """Worker 1 answers its own numbers and worker 0's latest snapshot from the shared
    directory, and writes its own there for the others when it starts."""
    keys = seed(settings)
    other = RequestStats()
    other.record("POST", "/api/v1/estimates/validate", 200, 0.04)
    (tmp_path / "worker-0.json").write_text(json.dumps(snap(0, other)))
    (tmp_path / "worker-2.json").write_text("{not json")  # skipped
    (tmp_path / "worker-3.json").write_text('{"worker": 3}')  # not a snapshot: skipped
    worker1 = replace(settings, worker=1, worker_stats_dir=str(tmp_path))
    async with AsyncTestClient(create_app(worker1)) as client:
        own = json.loads((tmp_path / "worker-1.json").read_text())
        assert own["worker"] == 1 and own["requests"] == []
        r = await client.get(METRICS, headers={"X-API-Key": keys["estimate_tool"]})
    assert r.status_code == 200, r.text
    got = samples(r.text)
    validate = '{worker="0",method="POST",route="/api/v1/estimates/validate",status="200"}'
    assert got[f"pricebook_http_requests_total{validate}"] == 1
    assert got['pricebook_worker_snapshot_timestamp_seconds{worker="0"}'] == 1_700_000_000.5
    assert got['pricebook_worker_snapshot_timestamp_seconds{worker="1"}'] > 1_700_000_000.5
    assert 'worker="2"' not in r.text and 'worker="3"' not in r.text


def test_the_worker_and_its_directory_come_from_the_environment():
    assert (Settings.from_env({}).worker, Settings.from_env({}).worker_stats_dir) == (0, "")
    given = Settings.from_env({"PRICEBOOK_WORKER": "3", "PRICEBOOK_WORKER_STATS_DIR": "/run/x"})
    assert (given.worker, given.worker_stats_dir) == (3, "/run/x")


def test_pricebook_serve_workers_answer_each_other_in_a_scrape(tmp_path: Path):
    """The real command, two workers: a scrape reaching either answers both (`worker` 0 and
    1); the directory they share is gone once the server stops."""
    settings = migrated_sqlite(tmp_path)
    key = seed(settings)["estimate_tool"]
    port = free_port()
    (tmp_path / "tmp").mkdir()
    server = subprocess.Popen(
        serve_command(port),
        env=os.environ
        | {"PRICEBOOK_DATABASE_URL": settings.database_url, "TMPDIR": str(tmp_path / "tmp")},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 2 or any(len(workers) < 2 for workers in seen.values()):
            assert server.poll() is None and time.monotonic() < deadline, (
                seen,
                "no scrape saw both",
            )
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{METRICS}", headers={"X-API-Key": key}
            )
            try:  # a new connection each time: the kernel spreads them over the workers
                with urllib.request.urlopen(request, timeout=5) as r:
                    answered_by, text = r.headers["x-pricebook-worker"], r.read().decode()
            except OSError:
                time.sleep(0.2)
                continue
            workers = re.findall(
                r'pricebook_worker_snapshot_timestamp_seconds\{worker="(\d)"\}', text
            )
            seen[answered_by] = "".join(sorted(workers))
        assert all(workers == "01" for workers in seen.values()), seen
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert list((tmp_path / "tmp").glob("pricebook-workers-*")) == []
