"""The `pricebook` command: clear one-line errors and non-zero exits, never a traceback."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.net import free_port


def run(*args: str, db: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PRICEBOOK_DATABASE_URL": db}
    return subprocess.run(
        [sys.executable, "-m", "pricebook.cli", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run("db", "upgrade", db=url).returncode == 0
    return url


def test_db_current_after_upgrade(db):
    result = run("db", "current", db=db)
    assert result.returncode == 0
    assert "up to date" in result.stdout


def test_demo_load_then_export_and_dry_run_import(db, tmp_path):
    loaded = run("demo", "load", db=db)
    assert loaded.returncode == 0, loaded.stderr
    assert "parts: 672 rows" in loaded.stdout
    out = tmp_path / "parts.xlsx"
    exported = run("export", "parts", str(out), db=db)
    assert exported.returncode == 0 and "672 rows" in exported.stdout
    again = run("import", "parts", str(out), "--dry-run", db=db)
    assert again.returncode == 0, again.stderr
    assert "would change 0" in again.stdout


def test_bad_rows_are_listed_one_per_line_and_exit_non_zero(db, tmp_path):
    path = tmp_path / "categories.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(
            [["code", "name"], ["body", "外观件"], ["", "无代码"], ["lamp", ""]]
        )
    result = run("import", "categories", str(path), "--reason", "分类表", db=db)
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
def test_missing_file_and_unknown_kind_are_one_clear_line(db, args, message):
    result = run(*args, db=db)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_clear_line():
    result = run("db", "current", db="postgresql://nobody@127.0.0.1:9/none")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot use the database at postgresql://nobody@127.0.0.1:9/none"
    )
    assert "Traceback" not in result.stderr


def _listeners(port: int) -> int:
    """Listening TCP sockets on `port` (each SO_REUSEPORT worker has its own)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        count += int(local.rsplit(":", 1)[1], 16) == port and state == "0A"
    return count


def _serve_two_workers(db: str, port: int) -> subprocess.Popen[str]:
    """`pricebook serve --workers 2` on `port`, returned once both workers listen."""
    import time

    server = subprocess.Popen(
        [sys.executable, "-m", "pricebook.cli", "serve", "--port", str(port), "--workers", "2",
         "--log-level", "warning", "--no-access-log"],
        env=os.environ | {"PRICEBOOK_DATABASE_URL": db}, cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _listeners(port) < 2:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"the server did not start: {server.communicate()}")
        time.sleep(0.1)
    return server


def _health_on_new_connections(port: int, times: int = 10) -> None:
    """GET /health `times` times, each on a new connection (spread over the workers)."""
    import urllib.request

    for _ in range(times):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            assert r.status == 200


def _stop(server: subprocess.Popen[str]) -> str:
    """SIGTERM the server, wait for it; its stderr."""
    import signal

    server.send_signal(signal.SIGTERM)
    _, errors = server.communicate(timeout=30)
    return errors


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_workers_each_listen_and_stop_on_sigterm(db):
    port = free_port()
    server = _serve_two_workers(db, port)
    try:
        assert _listeners(port) == 2  # one socket per worker, not one shared
        _health_on_new_connections(port)
        # a second server on the same port is refused with a one-line error
        second = run("serve", "--port", str(port), "--workers", "2", db=db)
        assert second.returncode == 1
        assert second.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    finally:
        errors = _stop(server)
        assert server.returncode == 0, errors
    assert _listeners(port) == 0


def _workers_of(pid: int) -> set[int]:
    """The server's worker processes (spawned children; not multiprocessing's helpers)."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            found.add(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_restarts_a_worker_that_dies_and_keeps_serving(db):
    import signal
    import time

    port = free_port()
    server = _serve_two_workers(db, port)
    try:
        deadline = time.monotonic() + 60
        before = _workers_of(server.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        # the other worker serves meanwhile; a new one takes the dead one's place
        while not (len(after := _workers_of(server.pid)) == 2 and victim not in after
                   and _listeners(port) == 2):  # fmt: skip
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            time.sleep(0.1)
        assert after & before == before - {victim}
        _health_on_new_connections(port)
    finally:
        errors = _stop(server)
    assert server.returncode == 0, errors
    assert f"exited with -{signal.SIGKILL}: restarting it" in errors
    assert _listeners(port) == 0


def test_worker_restarts_are_budgeted_against_crash_loops():
    from api.serve import RestartBudget

    budget = RestartBudget(restarts=3, window=60.0)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert budget.spend(30.0) is False  # a fourth within a minute: a crash loop, stop
    assert budget.spend(60.5) is True  # the first one has left the window
    assert budget.spend(61.5) is True
    assert budget.spend(62.0) is False


def test_demo_scale_national_refuses_too_few_models_for_its_parts(db):
    # before anything is written: a platform of 134 part templates needs a model at least
    refused = run("demo", "scale", "--national", "--models", "1", "--parts", "300", db=db)
    assert refused.returncode == 1
    assert "300 parts need at least 3 models" in refused.stderr
