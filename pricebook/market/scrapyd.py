"""Market crawls on Scrapyd: deploy the scrapers as an egg, schedule a source, wait, report.

Scrapyd (a daemon from PyPI) runs each crawl as ``scrapy crawl SPIDER -a source=NAME`` in a
process of its own; the egg's settings (`scrapers.scrapyd_settings`) make that process record
its market run as ``pricebook crawl`` does (`pricebook.market.crawl.record_crawl`). This module
talks to Scrapyd's JSON API over HTTP (stdlib only): `build_egg` and `ScrapydClient.add_version`
deploy, `run_scrapyd_crawl` creates the run row, schedules the crawl with its id, waits for the
job to end and reads the report back from the run.
"""

from __future__ import annotations

import base64
import io
import json
import netrc
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from sqlalchemy import Engine

from pricebook.errors import InvalidInput, PricebookError
from pricebook.jsontypes import JSONObject
from pricebook.market.crawl import (
    CrawlReport,
    CrawlTarget,
    close_run,
    project_root,
    report_of_run,
    say,
    start_run,
)

#: The project's name on Scrapyd (``project=`` of its JSON API).
PROJECT = "pricebook"
#: The Scrapy settings module the deployed crawls run with.
EGG_SETTINGS = "scrapers.scrapyd_settings"
_EGG_SUFFIXES = {".py", ".toml"}


class ScrapydError(PricebookError):
    """Scrapyd could not be reached or refused a request (the message says which)."""


def build_egg(root: Path, version: str) -> bytes:
    """An egg (a zip) of the ``scrapers`` package under ``root``: the spiders, their settings
    and the built-in source files, with the entry point Scrapyd reads the settings module from.
    The core (`pricebook`) is not in it: it is installed beside Scrapyd."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as egg:
        package = root / "scrapers"
        for path in sorted(package.rglob("*")):
            if path.is_file() and path.suffix in _EGG_SUFFIXES and "__pycache__" not in path.parts:
                egg.write(path, path.relative_to(root).as_posix())
        egg.writestr(
            "EGG-INFO/PKG-INFO",
            f"Metadata-Version: 2.1\nName: {PROJECT}-scrapers\nVersion: {version}\n",
        )
        egg.writestr("EGG-INFO/entry_points.txt", f"[scrapy]\nsettings = {EGG_SETTINGS}\n")
        egg.writestr("EGG-INFO/top_level.txt", "scrapers\n")
        egg.writestr("EGG-INFO/zip-safe", "")
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class ScrapydClient:
    """Scrapyd's JSON API at ``url``. Basic-auth credentials come from the URL's
    ``user:password@`` or, without them, from ``~/.netrc`` for its host."""

    url: str
    timeout: float = 30.0

    @property
    def address(self) -> str:
        """The URL without its credentials (for messages)."""
        return self.base_and_auth()[0]

    def base_and_auth(self) -> tuple[str, str | None]:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"--scrapyd {self.url!r}: give an http(s)://HOST:PORT URL")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        user, password = parts.username, parts.password
        if user is None:
            try:
                found = netrc.netrc().authenticators(parts.hostname)
            except (FileNotFoundError, netrc.NetrcParseError):
                found = None
            if found:
                user, password = found[0], found[2]
        if user is None:
            return base, None
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        return base, f"Basic {token}"

    def call(
        self,
        endpoint: str,
        *,
        query: dict[str, str] | None = None,
        form: list[tuple[str, str]] | None = None,
        files: dict[str, bytes] | None = None,
    ) -> JSONObject:
        """GET (``query``) or POST (``form``, ``files``) one endpoint; its JSON answer, or
        `ScrapydError` when Scrapyd cannot be reached or answers ``status: error``."""
        base, auth = self.base_and_auth()
        url = f"{base}/{endpoint}" + (f"?{urlencode(query)}" if query else "")
        body, content_type = None, None
        if files is not None:
            body, content_type = _multipart(form or [], files)
        elif form is not None:
            body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
        request = Request(url, data=body, method="POST" if body is not None else "GET")
        if content_type:
            request.add_header("Content-Type", content_type)
        if auth:
            request.add_header("Authorization", auth)
        try:
            with urlopen(request, timeout=self.timeout) as response:
                answer: JSONObject = json.loads(response.read())
        except HTTPError as exc:
            hint = " (check the user and password)" if exc.code == 401 else ""
            raise ScrapydError(f"Scrapyd at {base}: {endpoint} answered {exc.code}{hint}") from None
        except (URLError, OSError, ValueError) as exc:
            raise ScrapydError(f"Scrapyd at {base}: {endpoint}: {exc}") from None
        if answer.get("status") == "error":
            raise ScrapydError(f"Scrapyd at {base}: {endpoint}: {answer.get('message')}")
        return answer

    def add_version(self, version: str, egg: bytes) -> int:
        """Upload the egg as ``version`` of the project; the number of spiders Scrapyd found."""
        answer = self.call(
            "addversion.json",
            form=[("project", PROJECT), ("version", version)],
            files={"egg": egg},
        )
        return int(answer.get("spiders", 0))

    def schedule(self, spider: str, args: dict[str, str], settings: list[str]) -> str:
        form = [("project", PROJECT), ("spider", spider), *args.items()]
        form += [("setting", value) for value in settings]
        return str(self.call("schedule.json", form=form)["jobid"])

    def state(self, job: str) -> str | None:
        """pending, running, finished, or None for a job Scrapyd does not know."""
        answer = self.call("status.json", query={"job": job, "project": PROJECT})
        state = answer.get("currstate")
        return str(state) if state else None

    def log_tail(self, spider: str, job: str, lines: int = 30) -> list[str]:
        """The job's last log lines (Scrapyd serves the logs under ``/logs/``), or why not."""
        base, auth = self.base_and_auth()
        request = Request(f"{base}/logs/{PROJECT}/{spider}/{job}.log")
        if auth:
            request.add_header("Authorization", auth)
        try:
            with urlopen(request, timeout=self.timeout) as response:
                text: str = response.read().decode("utf-8", "replace")
        except (URLError, OSError) as exc:
            return [f"the job's log could not be read from Scrapyd: {exc}"]
        return text.splitlines()[-lines:]


def _multipart(form: list[tuple[str, str]], files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = f"pricebook{time.time_ns()}"
    out = io.BytesIO()
    for name, value in form:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(f"{value}\r\n".encode())
    for name, data in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{name}.egg"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def deploy(client: ScrapydClient, version: str | None = None) -> tuple[str, int]:
    """Build the egg from this checkout and upload it; the version and Scrapyd's spider count.
    The default version is the time, so the newest upload is the one Scrapyd runs."""
    version = version or time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return version, client.add_version(version, build_egg(project_root(), version))


def require_named(targets: list[CrawlTarget]) -> None:
    """Scrapyd finds a source by its name on its own host; a local file means nothing there."""
    for target in targets:
        if target.argument[0] != "source":
            raise InvalidInput(
                f"{target.origin}: Scrapyd crawls sources by name (a file in scrapers/sources/ "
                "or in the Scrapyd host's PRICEBOOK_SOURCES_DIR), not --source-file"
            )


def run_scrapyd_crawl(
    engine: Engine,
    client: ScrapydClient,
    target: CrawlTarget,
    *,
    actor: str,
    base_url: str | None = None,
    extra_settings: list[str] | None = None,
    timeout: float | None = None,
    poll_seconds: float = 0.5,
    out: TextIO,
) -> CrawlReport:
    """Record a run, schedule its crawl on Scrapyd with the run's id, wait for the job to end
    and return the report the crawl stored on its run. A job that ends without closing its run
    (it died before its spider opened, or Scrapyd lost it) is recorded as failed, with the
    job's last log lines; so is a crawl Scrapyd refuses."""
    run_id = start_run(engine, target, actor)
    args = {"source": target.argument[1], **({"base_url": base_url} if base_url else {})}
    settings = [f"PRICEBOOK_RUN_ID={run_id}", "LOGSTATS_INTERVAL=5", *(extra_settings or [])]
    if timeout:
        settings.append(f"CLOSESPIDER_TIMEOUT={timeout}")
    try:
        job = client.schedule(target.spider, args, settings)
        say(out, f"crawling {target.name} (run {run_id}, spider {target.spider}, job {job})")
        state = client.state(job)
        while state in ("pending", "running"):
            time.sleep(poll_seconds)
            state = client.state(job)
    except ScrapydError as exc:
        report = CrawlReport(source=target.name, run_id=run_id, log_tail=[str(exc)])
        close_run(engine, report)
        return report
    recorded = report_of_run(engine, run_id)
    if recorded is not None and recorded[0] != "running":
        return recorded[1]
    report = CrawlReport(source=target.name, run_id=run_id)
    report.log_tail = [f"Scrapyd job {job} ended ({state}) without closing its run"]
    report.log_tail += client.log_tail(target.spider, job)
    close_run(engine, report)
    return report
