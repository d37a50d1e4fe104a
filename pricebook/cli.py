"""The `pricebook` command: database, demo data, imports and exports, the server.

Every expected failure (a missing file, an unknown kind, bad rows, an unreachable database)
prints one clear line on stderr and exits non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError

from pricebook.errors import ImportRejected, PricebookError
from pricebook.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _engine(settings: Settings):
    from pricebook.db import make_engine

    return make_engine(settings)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook import migrate

    engine = _engine(settings)
    try:
        if args.action == "upgrade":
            migrate.upgrade(engine, args.revision or "head")
            print(f"database at revision {migrate.current(engine)}")
        elif args.action == "downgrade":
            migrate.downgrade(engine, args.revision or "-1")
            print(f"database at revision {migrate.current(engine) or 'base (empty)'}")
        else:
            current = migrate.current(engine)
            head = migrate.head()
            state = "up to date" if current == head else f"head is {head}"
            print(f"{current or 'base (empty)'} ({state})")
    finally:
        engine.dispose()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.demo import load_demo, scale_demo

    engine = _engine(settings)
    try:
        if args.action == "load":
            for report in load_demo(engine):
                print(report.summary())
        else:
            scale_demo(engine, parts=args.parts, prices=args.prices, seed=args.seed)
    finally:
        engine.dispose()
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.io import import_file
    from pricebook.progress import ProgressBar

    engine = _engine(settings)
    progress = ProgressBar(f"reading {args.file.name}")
    try:
        report = import_file(
            engine, args.kind, args.file, actor=args.who, reason=args.reason,
            dry_run=args.dry_run, progress=progress,
        )  # fmt: skip
    finally:
        engine.dispose()
    elapsed = progress.finish()
    print(f"{report.summary()} in {elapsed:.1f}s")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.io import export_file

    engine = _engine(settings)
    try:
        count = export_file(engine, args.kind, args.file)
    finally:
        engine.dispose()
    print(f"{args.kind}: {count} rows written to {args.file}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    print(f"Pricebook on http://{args.host}:{args.port}/ (API docs: /schema)", flush=True)
    uvicorn.run(
        "api.app:create_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level="info",
    )  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pricebook.io.importers import IMPORT_KINDS

    parser = argparse.ArgumentParser(
        prog="pricebook",
        description="Parts-and-labor price reference for motor-insurance loss review (车险核损). "
        "The database comes from PRICEBOOK_DATABASE_URL (default sqlite:///./var/pricebook.db).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="migrate the database schema")
    db.add_argument("action", choices=("upgrade", "downgrade", "current"))
    db.add_argument("revision", nargs="?", help="target revision (upgrade: head, downgrade: -1)")
    db.set_defaults(handler=cmd_db)

    demo = sub.add_parser("demo", help="load the demo catalogue or generate a large one")
    demo.add_argument("action", choices=("load", "scale"))
    demo.add_argument("--parts", type=int, default=50_000, help="scale: parts to generate")
    demo.add_argument("--prices", type=int, default=1_000_000, help="scale: prices to generate")
    demo.add_argument("--seed", type=int, default=7, help="scale: random seed")
    demo.set_defaults(handler=cmd_demo)

    for name, handler, help_text in (
        ("import", cmd_import, "import a CSV or XLSX file (all-or-nothing)"),
        ("export", cmd_export, "export a kind to CSV or XLSX"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("kind", metavar="KIND", help=f"one of: {', '.join(IMPORT_KINDS)}")
        p.add_argument("file", type=Path, metavar="FILE")
        if name == "import":
            p.add_argument("--dry-run", action="store_true", help="report changes, write nothing")
            p.add_argument("--who", default=getpass.getuser(), help="recorded as the author")
            p.add_argument("--reason", default="", help="recorded as the reason")
        p.set_defaults(handler=handler)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        return args.handler(args, settings)
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


if __name__ == "__main__":
    sys.exit(main())
