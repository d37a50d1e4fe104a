"""The `pricebook` command in a subprocess, as a person or a deployment runs it: one-off runs,
and `serve --workers 2` watched through /proc (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pricebook import migrate
from pricebook.db import make_engine
from pricebook.settings import Settings

REPO = Path(__file__).resolve().parent.parent

#: crawl settings that take out the politeness delays, for crawls of the fixture market
FAST = [
    "-s",
    "DOWNLOAD_DELAY=0",
    "-s",
    "AUTOTHROTTLE_START_DELAY=0",
    "-s",
    "AUTOTHROTTLE_MAX_DELAY=0.2",
    "-s",
    "PRICEBOOK_RETRY_BACKOFF_BASE=0.1",
    "-s",
    "DOWNLOAD_TIMEOUT=10",
]


def pricebook(
    *args: str, database_url: str, stdin: str | None = None, merged: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the CLI on `database_url`; ``merged``: stderr into stdout, as a terminal shows them."""
    env = {k: v for k, v in os.environ.items() if k != "PRICEBOOK_ENV"}
    env["PRICEBOOK_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "pricebook.cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=180,
    )


def migrated_sqlite(directory: Path) -> Settings:
    """Settings on a new SQLite database in `directory`, migrated, for a server to serve."""
    settings = Settings(database_url=f"sqlite:///{directory / 'serve.db'}")
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return settings


def serve_command(port: int) -> list[str]:
    """`pricebook serve --workers 2` on 127.0.0.1:`port`, logging warnings only."""
    options = f"--port {port} --workers 2 --log-level warning --no-access-log"
    return [sys.executable, "-m", "pricebook.cli", "serve", *options.split()]


def uvicorn_command(port: int) -> list[str]:
    """The app in one uvicorn process on 127.0.0.1:`port`, logging warnings only."""
    options = f"--factory api.app:create_app --host 127.0.0.1 --port {port} --log-level warning"
    return [sys.executable, "-m", "uvicorn", *options.split()]


def listeners(port: int) -> int:
    """Listening TCP sockets on `port` (each SO_REUSEPORT worker has its own)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        count += int(local.rsplit(":", 1)[1], 16) == port and state == "0A"
    return count


def serve_two_workers(database_url: str, port: int) -> subprocess.Popen[str]:
    """`pricebook serve --workers 2` on `port`, returned once both workers listen."""
    server = subprocess.Popen(
        serve_command(port),
        env=os.environ | {"PRICEBOOK_DATABASE_URL": database_url},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while listeners(port) < 2:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"the server did not start: {server.communicate()}")
        time.sleep(0.1)
    return server


def workers_of(pid: int) -> set[int]:
    """The server's worker processes (spawned children; not multiprocessing's helpers)."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            found.add(int(child))
    return found


def stop_server(server: subprocess.Popen[str]) -> str:
    """SIGTERM the server, wait for it; its stderr."""
    server.send_signal(signal.SIGTERM)
    _, errors = server.communicate(timeout=30)
    return errors
