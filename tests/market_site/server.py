"""A tiny local fixture market for scraper tests (stdlib only).

Three sources with different layouts are served from ``site/``:

- ``/a/list_N.html``: source A, a 汽配城 price table in GBK, 3 pages; page 2 answers 503 once
  (the retry must recover it), page 3 is cut off mid-table (a malformed page).
- ``/b/cat/*.html``: source B, a shop's card/list layout in UTF-8; ``body-2.html`` is slow
  (~1.5 s); ``lamps.html`` is a 404; ``body-2.html`` links to ``/private/`` which robots.txt
  disallows.
- ``/c/api/v1/parts?page=N``: source C, a JSON API with a ``page`` parameter and a ``next`` field.

Every request's path (with query) is recorded in :attr:`MarketSite.requests`.

Run it by hand: ``python -m tests.market_site.server [PORT]``.
"""

from __future__ import annotations

import mimetypes
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
SITE_DIR = HERE / "site"
SOURCES_DIR = HERE / "sources"

SLOW_PATHS = {"/b/cat/body-2.html": 1.5}
FAIL_FIRST = {"/a/list_2.html": 1}  # path -> how many 503s before it works
GBK_PREFIXES = ("/a/",)


class MarketSite:
    def __init__(self, root: Path = SITE_DIR, host: str = "127.0.0.1", port: int = 0):
        self.root = root
        self.requests: list[str] = []
        self.user_agents: list[str] = []
        self._failures_left = dict(FAIL_FIRST)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MarketSite:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MarketSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[str]:
        with self._lock:
            return list(self.requests)

    def reset(self) -> None:
        """Forget recorded requests and re-arm the fail-first pages."""
        with self._lock:
            self.requests.clear()
            self.user_agents.clear()
            self._failures_left = dict(FAIL_FIRST)

    def _record(self, path: str, user_agent: str) -> int:
        """Record a request; return how many injected failures the path still has."""
        with self._lock:
            self.requests.append(path)
            self.user_agents.append(user_agent)
            left = self._failures_left.get(urlsplit(path).path, 0)
            if left:
                self._failures_left[urlsplit(path).path] = left - 1
            return left

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "MarketFixture/1.0"

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet; requests are recorded instead

            def do_GET(self) -> None:
                fail = site._record(self.path, self.headers.get("User-Agent", ""))
                url = urlsplit(self.path)
                if fail:
                    self._send(503, b"busy, try later", "text/plain; charset=utf-8")
                    return
                if url.path in SLOW_PATHS:
                    time.sleep(SLOW_PATHS[url.path])
                if url.path == "/c/api/v1/parts":
                    page = parse_qs(url.query).get("page", ["1"])[0]
                    file = site.root / "c" / "api" / "v1" / f"parts-{page}.json"
                else:
                    file = (site.root / url.path.lstrip("/")).resolve()
                    if site.root.resolve() not in file.parents:
                        file = site.root / "__missing__"
                if not file.is_file():
                    body = "<html><body><h1>404 页面不存在</h1></body></html>"
                    self._send(404, body.encode(), "text/html; charset=utf-8")
                    return
                body = file.read_bytes()
                ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                if url.path.startswith(GBK_PREFIXES) and ctype == "text/html":
                    body = body.decode("utf-8").encode("gbk")
                    ctype += "; charset=gbk"
                elif ctype.startswith("text/") or ctype == "application/json":
                    ctype += "; charset=utf-8"
                self._send(200, body, ctype)

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if status == 503:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

        return Handler


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    site = MarketSite(port=port).start()
    print(f"fixture market on {site.base_url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        site.stop()


if __name__ == "__main__":
    main()
