"""Run the app under uvicorn; several workers each listen on their own SO_REUSEPORT socket.

uvicorn's own `--workers` share one listening socket, and Linux then hands nearly every new
connection to the same worker (the one that most recently went back to waiting). An estimate
tool keeps a small pool of keep-alive connections, so all of its requests land on one process
while the others idle: measured with bench/validate.py, two workers served no more than one,
one at 100% CPU and the other at 0%. With a socket per worker and SO_REUSEPORT the kernel
spreads connections over the workers by their address hash.

The supervisor here is deliberately small: it starts the workers, passes SIGINT/SIGTERM on to
them (uvicorn shuts each down gracefully) and restarts a worker that dies; the others serve on
meanwhile (the kernel stops handing connections to a closed socket). A worker that keeps dying
— more than `RESTARTS` times in `RESTART_WINDOW` seconds, a crash loop — stops the server with a
non-zero exit, for the process manager (systemd, Kubernetes) to deal with.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import time
from collections import deque
from typing import Any

from pricebook.errors import InvalidInput

APP = "api.app:create_app"
RESTARTS = 5
RESTART_WINDOW = 60.0


def _listening_socket(
    host: str, port: int, *, shared: bool = True, listen: bool = True
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
    return sock


class RestartBudget:
    """At most `restarts` worker restarts in any `window` seconds; beyond that, a crash loop."""

    def __init__(self, restarts: int = RESTARTS, window: float = RESTART_WINDOW) -> None:
        self.restarts, self.window = restarts, window
        self._times: deque[float] = deque()

    def spend(self, now: float) -> bool:
        """Record a restart at `now` if the budget allows it; False when it does not."""
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) >= self.restarts:
            return False
        self._times.append(now)
        return True


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    config = uvicorn.Config(APP, factory=True, **options)
    # Bound but not listening: the kernel hands a SO_REUSEPORT group's connections only to its
    # listening sockets, and asyncio starts listening once uvicorn serves, after the app's
    # import and startup. A socket listening from the start queued the connections the kernel
    # gave it meanwhile: a restarting worker held its share of new clients for seconds.
    sock = _listening_socket(host, port, listen=False)
    uvicorn.Server(config).run(sockets=[sock])


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    *,
    log_level: str = "info",
    access_log: bool = True,
) -> int:
    """Serve until interrupted; returns the exit status."""
    import uvicorn

    options: dict[str, Any] = {"log_level": log_level, "access_log": access_log}
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, **options)
        return 0

    # Bind once here first, without SO_REUSEPORT: a port already taken — by anything, another
    # Pricebook included, which SO_REUSEPORT would silently share it with — is an error now.
    try:
        _listening_socket(host, port, shared=False).close()
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}", field="port") from exc
    context = multiprocessing.get_context("spawn")

    def start(n: int) -> Any:
        process = context.Process(
            target=_worker, args=(host, port, options), name=f"pricebook-worker-{n}"
        )
        process.start()
        return process

    processes = [start(n) for n in range(workers)]
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    budget = RestartBudget()
    while not stopping or any(p.is_alive() for p in processes):
        for n, process in enumerate(processes):
            if stopping or process.is_alive():
                continue
            if not budget.spend(time.monotonic()):
                print(f"worker {process.name} exited with {process.exitcode}, after "
                      f"{RESTARTS} restarts in {RESTART_WINDOW:.0f} s: stopping", file=sys.stderr)  # fmt: skip
                status = 1
                stop(signal.SIGTERM, None)
                break
            print(f"worker {process.name} exited with {process.exitcode}: restarting it", file=sys.stderr)  # fmt: skip
            processes[n] = start(n)
        time.sleep(0.2)
    for process in processes:
        process.join()
    return status
