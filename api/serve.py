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

Three protections uvicorn lacks, for every way of serving here:
- A header-read timeout (PRICEBOOK_HEADER_TIMEOUT, 10 s): uvicorn waits for ever for a request's
  headers (its keep-alive timer stops at the first byte, and a new connection has none), so a
  client trickling a request line — or sending nothing — holds a connection for good. The
  protocols below (`HEADER_TIMEOUT_PROTOCOLS`) close a connection whose request headers are not
  complete within that time of the connection, or of a new request's first byte.
- `redact_access_log`: the access log prints each request's path with its query string; a key
  sent there (refused, but sent) would be written to the log. A filter on the `uvicorn.access`
  logger replaces key-like query values and anything shaped like a Pricebook key.
- A response's head and body in one write (`WholeResponses`): uvicorn writes the head when the
  app starts its response and the body when it sends it, two writes microseconds apart — but
  the first wakes the balancer, and on a busy machine the scheduler then preempts the writer
  right there. A node killed in that moment leaves the balancer holding a head without a body,
  which it cannot send to another node: its client sees a broken response (seen under load in
  tests/test_cluster.py's node kill, about one run in five). Written once, a response is either
  wholly sent or not sent at all, and a request that got nothing is retried elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from pricebook.errors import InvalidInput

APP = "api.app:create_app"
RESTARTS = 5
RESTART_WINDOW = 60.0
DEFAULT_HEADER_TIMEOUT = 10.0

# --- the access log never holds a key ---------------------------------------------------------

#: query parameters whose value is a credential, whatever else the request carries
_SECRET_PARAMS = re.compile(
    r"([?&;](?:[^=&;]*[-_.])?(?:api[-_.]?key|key|token|access[-_.]?token|secret|password|"
    r"session|auth|authorization)=)[^&;#]*",
    re.IGNORECASE,
)
#: a Pricebook key (`pricebook.keys.KEY_PREFIX`), anywhere in the path
_KEY_SHAPED = re.compile(r"pbk_[A-Za-z0-9_%\-]+")
REDACTED = "[redacted]"


def redact(path: str) -> str:
    """A request path with its query, as logged: credentials replaced by `[redacted]`."""
    return _KEY_SHAPED.sub("pbk_" + REDACTED, _SECRET_PARAMS.sub(r"\1" + REDACTED, path))


class RedactKeys(logging.Filter):
    """On `uvicorn.access`: its record's args are (client, method, path+query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        elif isinstance(record.msg, str) and "pbk_" in record.msg:
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    """Installs `RedactKeys` on uvicorn's access logger, once per process (the app factory
    calls it: it runs in each worker after uvicorn has set its logging up)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactKeys) for f in logger.filters):
        logger.addFilter(RedactKeys())


# --- a response in one write -------------------------------------------------------------------


class WholeResponses:
    """A connection's transport that holds a response's head until its body's first write and
    sends the two as one. A head held past the current event-loop step (an app that awaits
    between starting its response and sending the body, e.g. a stream) is sent alone then, as
    uvicorn would have; informational heads (`100 Continue`, `101`) are never held."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif data[:9] == b"HTTP/1.1 " and data[9:10] != b"1":
            self._head = data
            asyncio.get_running_loop().call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# --- header-read timeout ----------------------------------------------------------------------


class _HeaderTimer:
    """The timer of one connection: armed while a request's headers are awaited."""

    transport: asyncio.Transport
    config: Any
    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            seconds = getattr(self.config, "header_timeout", DEFAULT_HEADER_TIMEOUT)
            self._header_timer = asyncio.get_running_loop().call_later(seconds, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class H11HeaderTimeout(_HeaderTimer, H11Protocol):
    """uvicorn's h11 protocol with a header-read timeout."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = WholeResponses(transport)  # type: ignore[assignment]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request's headers are in
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


HEADER_TIMEOUT_PROTOCOLS = {"h11": f"{__name__}:H11HeaderTimeout"}

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional: uvicorn then uses h11
    pass
else:

    class HttpToolsHeaderTimeout(_HeaderTimer, HttpToolsProtocol):
        """uvicorn's httptools protocol (its default when installed) with a header-read
        timeout: armed at the connection and at each request's first byte, disarmed once its
        headers are complete."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.transport = WholeResponses(transport)  # type: ignore[assignment]
            self._arm_header_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

    HEADER_TIMEOUT_PROTOCOLS["httptools"] = f"{__name__}:HttpToolsHeaderTimeout"


def http_protocol(name: str = "auto") -> str:
    """The protocol to give uvicorn (`http=`): `auto` picks httptools when installed, as
    uvicorn does."""
    if name == "auto":
        name = "httptools" if "httptools" in HEADER_TIMEOUT_PROTOCOLS else "h11"
    return HEADER_TIMEOUT_PROTOCOLS[name]


def make_config(header_timeout: float = DEFAULT_HEADER_TIMEOUT, **options: Any) -> Any:
    """A uvicorn Config of the app with the header timeout (an attribute the protocols read;
    it travels with the config to worker processes)."""
    import uvicorn

    options.setdefault("http", http_protocol())
    config = uvicorn.Config(APP, factory=True, **options)
    config.header_timeout = header_timeout  # type: ignore[attr-defined]
    return config


# --- serving ----------------------------------------------------------------------------------


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


def _worker(
    host: str, port: int, options: dict[str, Any], header_timeout: float, n: int, stats_dir: str
) -> None:
    import uvicorn

    # read by the app's settings (`Settings.worker`, `worker_stats_dir`): which worker this is,
    # and where the node's workers leave their metrics for each other (`api.metrics`)
    os.environ["PRICEBOOK_WORKER"] = str(n)
    os.environ["PRICEBOOK_WORKER_STATS_DIR"] = stats_dir

    config = make_config(header_timeout, **options)
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
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
) -> int:
    """Serve until interrupted; returns the exit status."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options: dict[str, Any] = {"log_level": log_level, "access_log": access_log}
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        # what uvicorn.run does, with the protocol and its timeout on the config
        config = make_config(header_timeout, host=host, port=port, workers=workers, **options)
        server = uvicorn.Server(config)
        try:
            if workers > 1:
                Multiprocess(config, sockets=[config.bind_socket()]).run()
            else:
                server.run()
        except KeyboardInterrupt:
            pass
        return 0 if workers > 1 or server.started else 1

    # Bind once here first, without SO_REUSEPORT: a port already taken — by anything, another
    # Pricebook included, which SO_REUSEPORT would silently share it with — is an error now.
    try:
        _listening_socket(host, port, shared=False).close()
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}", field="port") from exc
    context = multiprocessing.get_context("spawn")
    stats_dir = tempfile.mkdtemp(prefix="pricebook-workers-")

    def start(n: int) -> Any:
        process = context.Process(
            target=_worker,
            args=(host, port, options, header_timeout, n, stats_dir),
            name=f"pricebook-worker-{n}",
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
                print(
                    f"worker {process.name} exited with {process.exitcode}, after "
                    f"{RESTARTS} restarts in {RESTART_WINDOW:.0f} s: stopping",
                    file=sys.stderr,
                )
                status = 1
                stop(signal.SIGTERM, None)
                break
            print(
                f"worker {process.name} exited with {process.exitcode}: restarting it",
                file=sys.stderr,
            )
            processes[n] = start(n)
        time.sleep(0.2)
    for process in processes:
        process.join()
    shutil.rmtree(stats_dir, ignore_errors=True)
    return status
