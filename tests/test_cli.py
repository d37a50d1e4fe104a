"""The `pricebook` command: clear one-line errors and non-zero exits, never a traceback."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from tests.net import free_port
from tests.processes import listeners, pricebook, serve_two_workers, stop_server, workers_of


def test_db_current_after_upgrade(cli_db):
    result = pricebook("db", "current", database_url=cli_db)
    assert result.returncode == 0
    assert "up to date" in result.stdout


def test_demo_load_then_export_and_dry_run_import(cli_db, tmp_path):
    loaded = pricebook("demo", "load", database_url=cli_db)
    assert loaded.returncode == 0, loaded.stderr
    assert "parts: 672 rows" in loaded.stdout
    out = tmp_path / "parts.xlsx"
    exported = pricebook("export", "parts", str(out), database_url=cli_db)
    assert exported.returncode == 0 and "672 rows" in exported.stdout
    again = pricebook("import", "parts", str(out), "--dry-run", database_url=cli_db)
    assert again.returncode == 0, again.stderr
    assert "would change 0" in again.stdout


def test_bad_rows_are_listed_one_per_line_and_exit_non_zero(cli_db, tmp_path):
    path = tmp_path / "categories.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(
            [["code", "name"], ["body", "外观件"], ["", "无代码"], ["lamp", ""]]
        )
    result = pricebook("import", "categories", str(path), "--reason", "分类表", database_url=cli_db)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: categories: row 3, column code: required",
        "error: categories: row 4, column name: required",
        "error: 2 bad row(s); nothing was written",
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("import", "parts", "/nonexistent/parts.csv"),
            "error: no such file: /nonexistent/parts.csv",
        ),
        (("import", "widgets", "x.csv"), "error: unknown kind 'widgets'"),
        (("export", "widgets", "x.csv"), "error: unknown kind 'widgets'"),
    ],
)
def test_missing_file_and_unknown_kind_are_one_clear_line(cli_db, args, message):
    result = pricebook(*args, database_url=cli_db)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_clear_line():
    result = pricebook("db", "current", database_url="postgresql://nobody@127.0.0.1:9/none")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot use the database at postgresql://nobody@127.0.0.1:9/none"
    )
    assert "Traceback" not in result.stderr


def _health_on_new_connections(port: int, times: int = 10) -> None:
    """GET /health `times` times, each on a new connection (spread over the workers)."""
    import urllib.request

    for _ in range(times):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            assert r.status == 200


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_workers_each_listen_and_stop_on_sigterm(cli_db):
    port = free_port()
    server = serve_two_workers(cli_db, port)
    try:
        assert listeners(port) == 2  # one socket per worker, not one shared
        _health_on_new_connections(port)
        # a second server on the same port is refused with a one-line error
        second = pricebook("serve", "--port", str(port), "--workers", "2", database_url=cli_db)
        assert second.returncode == 1
        assert second.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    finally:
        errors = stop_server(server)
        assert server.returncode == 0, errors
    assert listeners(port) == 0


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_restarts_a_worker_that_dies_and_keeps_serving(cli_db):
    import signal
    import time

    port = free_port()
    server = serve_two_workers(cli_db, port)
    try:
        deadline = time.monotonic() + 60
        before = workers_of(server.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        # the other worker serves meanwhile; a new one takes the dead one's place
        while not (
            len(after := workers_of(server.pid)) == 2
            and victim not in after
            and listeners(port) == 2
        ):
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            time.sleep(0.1)
        assert after & before == before - {victim}
        _health_on_new_connections(port)
    finally:
        errors = stop_server(server)
    assert server.returncode == 0, errors
    assert f"exited with -{signal.SIGKILL}: restarting it" in errors
    assert listeners(port) == 0


def test_worker_restarts_are_budgeted_against_crash_loops():
    from api.serve import RestartBudget

    budget = RestartBudget(restarts=3, window=60.0)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert budget.spend(30.0) is False  # a fourth within a minute: a crash loop, stop
    assert budget.spend(60.5) is True  # the first one has left the window
    assert budget.spend(61.5) is True
    assert budget.spend(62.0) is False


def test_demo_scale_national_refuses_too_few_models_for_its_parts(cli_db):
    # before anything is written: a platform of 134 part templates needs a model at least
    refused = pricebook(
        "demo", "scale", "--national", "--models", "1", "--parts", "300", database_url=cli_db
    )
    assert refused.returncode == 1
    assert "300 parts need at least 3 models" in refused.stderr
