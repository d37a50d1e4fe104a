"""The `pricebook` command: database, demo data, imports and exports, the server.

Every expected failure (a missing file, an unknown kind, bad rows, an unreachable database)
prints one clear line on stderr and exits non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from pricebook.cli import crawl, data, match, server
from pricebook.errors import ImportRejected, PricebookError
from pricebook.settings import Settings

if TYPE_CHECKING:
    from pricebook.cli.common import Subcommands

#: the commands, in the order ``pricebook --help`` lists them
COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    data.add_db,
    data.add_demo,
    data.add_transfer,
    server.add_keys,
    crawl.add_crawl,
    crawl.add_scrapyd,
    match.add_match,
    match.add_match_eval,
    data.add_review_config,
    server.add_serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pricebook",
        description="Parts-and-labor price reference for motor-insurance loss review (车险核损). "
        "The database comes from PRICEBOOK_DATABASE_URL (default sqlite:///./var/pricebook.db).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        code: int | None = args.handler(args, settings)
        return code or 0
    except ImportRejected as exc:
        for error in exc.errors:
            print(f"error: {exc.kind}: {error}", file=sys.stderr)
        print(f"error: {len(exc.errors)} bad row(s); nothing was written", file=sys.stderr)
        return 1
    except PricebookError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        from sqlalchemy.engine import make_url

        url = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"error: cannot use the database at {url}: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
