"""A bench's server ends with the bench, however the bench ends (an interrupted bench once left
its server running beside the next measurements)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)

ROOT = Path(__file__).resolve().parent.parent


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper counts: it runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
def test_a_killed_bench_takes_its_server_with_it(tmp_path: Path) -> None:
    env = {**os.environ, "PRICEBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'bench.db'}"}
    subprocess.run(
        [sys.executable, "-m", "pricebook.cli", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    bench = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from bench.common import free_port, start_serve\n"
        "port = free_port()\n"
        "server = start_serve(port, 1, dict(os.environ))\n"
        "print(server.pid, port, flush=True)\n"
        "time.sleep(600)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", bench], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    pid = 0
    try:
        assert process.stdout is not None
        pid, port = map(int, process.stdout.readline().split())
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.2)
        process.kill()  # SIGKILL: no handler, no atexit runs in the bench
        process.wait()
        deadline = time.monotonic() + 30
        while not (_gone(pid) and not _listening(port)):
            assert time.monotonic() < deadline, "the server outlived the bench"
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if pid and not _gone(pid):  # the test failed: leave nothing running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
