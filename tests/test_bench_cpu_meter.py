"""The benchmarks' CPU meter: it counts the server's process tree (workers started after it
began included) and nothing else on the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.common import ContentionMeter, CpuMeter, contention_line, tree_cpu

pytestmark = pytest.mark.serial  # times and load: run alone (Makefile)


def _burner(seconds: float, done: Path) -> list[str]:
    """A process that burns `seconds` of CPU, says so in a file, then idles."""
    code = (
        "import time\n"
        f"t = time.process_time()\nwhile time.process_time() - t < {seconds}: pass\n"
        f"open({str(done)!r}, 'w').close()\ntime.sleep(60)\n"
    )
    return [sys.executable, "-c", code]


@contextmanager
def _server(go: Path, *workers: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A "server" process that starts `workers` (argv lists) once `go` exists, then idles; in
    a session of its own, so that its workers go with it when the test kills its group."""
    code = (
        "import subprocess, time, os\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        f"for argv in {list(workers)!r}: subprocess.Popen(argv)\n"
        "time.sleep(60)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        yield server
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _wait_for(*files: Path) -> None:
    deadline = time.monotonic() + 30
    while not all(f.exists() for f in files):
        assert time.monotonic() < deadline, "the burners did not finish"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_counts_the_server_tree_and_not_other_processes(tmp_path: Path) -> None:
    go, worker_done, other_done = tmp_path / "go", tmp_path / "worker", tmp_path / "other"
    # a "server" that starts a worker burning 0.3 s of CPU once told to; meanwhile an unrelated
    # process burns 0.6 s
    other = None
    with _server(go, _burner(0.3, worker_done)) as server:
        try:
            meter = CpuMeter(server.pid)
            meter.start()
            go.touch()  # the worker starts after start(): it counts from 0
            other = subprocess.Popen(_burner(0.6, other_done))
            _wait_for(worker_done, other_done)
            spent = meter.stop()
        finally:
            if other is not None:
                other.kill()
                other.wait()
    # the worker's 0.3 s and its interpreter's start-up; not the other process's 0.6 s
    assert spent["server"] is not None
    assert 0.3 <= spent["server"] < 0.8


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_process_tree_counts_children_that_ended(tmp_path: Path) -> None:
    """`tree_cpu` (the cluster bench's PostgreSQL meter): a backend that ended between two
    readings still counts, through its parent's counters for reaped children."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    before = tree_cpu(os.getpid())
    subprocess.run([sys.executable, "-c", burn], check=True)  # started, burnt, ended, reaped
    assert tree_cpu(os.getpid()) - before >= 0.25


@pytest.mark.skipif(
    not Path("/proc/self/task").exists() or not hasattr(os, "sched_setaffinity"),
    reason="reads /proc schedstat (Linux)",
)
def test_the_contention_meter_sees_processes_queue_for_one_cpu(tmp_path: Path) -> None:
    """Two burners held to one CPU take turns: each waits runnable about as long as it runs,
    and the meter says so for the server's tree; a lone burner on an otherwise idle CPU would
    barely wait, so a wait share near 1 can only come from the queueing."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    go, done = tmp_path / "go", [tmp_path / "a", tmp_path / "b"]
    with _server(go, *(_pinned_burner(0.4, d, cpu) for d in done)) as server:
        meter = ContentionMeter(server.pid)
        meter.start()
        go.touch()
        _wait_for(*done)
        seen = meter.stop()
    times = seen["server"]
    assert isinstance(times, tuple)
    ran, waited = times
    assert ran >= 0.8  # both burners' 0.4 s
    assert waited / ran >= 0.6  # ~1 when they only take turns
    busy = seen["busy"]
    assert isinstance(busy, float) and 0 < busy <= 1
    line = contention_line(seen, requests=2)
    assert f"{waited / ran:.0%} of the time they ran, {waited * 500:.2f} ms a request" in line


def _pinned_burner(seconds: float, done: Path, cpu: int) -> list[str]:
    """`_burner` held to one CPU."""
    argv = _burner(seconds, done)
    return [argv[0], "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n" + argv[2]]
