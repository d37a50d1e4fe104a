"""The database and data commands: db, demo, import, export, review-config."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from pricebook.cli.common import open_engine
from pricebook.errors import InvalidInput
from pricebook.settings import Settings

if TYPE_CHECKING:
    from pricebook.cli.common import Subcommands


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook import migrate

    engine = open_engine(settings)
    try:
        if args.action == "upgrade":
            migrate.upgrade(engine, args.revision or "head")
            print(f"database at revision {migrate.current(engine)}")
        elif args.action == "downgrade":
            migrate.downgrade(engine, args.revision or "-1")
            print(f"database at revision {migrate.current(engine) or 'base (empty)'}")
        elif args.action == "analyze":
            # a restore (pg_restore brings no statistics) or a load made outside pricebook
            from pricebook.db import analyze
            from pricebook.models import Base

            tables = Base.metadata.sorted_tables
            analyze(engine, tables)
            done = "analyzed" if engine.dialect.name == "postgresql" else "nothing to do on SQLite:"
            print(f"{done} {len(tables)} tables")
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

    engine = open_engine(settings)
    try:
        if args.action == "load":
            for report in load_demo(engine):
                print(report.summary())
        elif args.action == "keys":
            _demo_keys(engine)
        elif args.national:
            from pricebook.demo.national import NationalShape, national_demo

            default = NationalShape()
            shape = NationalShape(
                models=args.models or default.models,
                parts=args.parts or default.parts,
                prices=default.prices if args.prices is None else args.prices,
            )
            written = national_demo(engine, shape, seed=args.seed)
            print(
                f"demo scale --national: {shape.models:,} models, {shape.parts:,} parts, "
                f"{written:,} prices"
            )
        elif args.models:
            raise InvalidInput("--models needs --national", field="models")
        else:
            prices = 1_000_000 if args.prices is None else args.prices
            scale_demo(engine, parts=args.parts or 50_000, prices=prices, seed=args.seed)
    finally:
        engine.dispose()
    return 0


def _demo_keys(engine: Engine) -> None:
    """A fresh key per role for trying the demo; earlier demo keys are revoked first."""
    from pricebook import keys
    from pricebook.db import transaction
    from pricebook.models import ROLES

    with transaction(engine) as session:
        for old in keys.list_keys(session, include_revoked=False):
            if old.name.startswith("demo "):
                keys.revoke_key(session, old.id, actor="demo", reason="new demo keys")
        print("Demo API keys (send as the X-API-Key header; log in to the web UI with one):")
        for role in ROLES:
            _, key = keys.create_key(session, name=f"demo {role}", role=role, actor="demo")
            print(f"  {role:<14} {key}")


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.io import import_file
    from pricebook.progress import ProgressBar

    engine = open_engine(settings)
    progress = ProgressBar(f"reading {args.file.name}")
    try:
        report = import_file(
            engine,
            args.kind,
            args.file,
            actor=args.who,
            reason=args.reason,
            dry_run=args.dry_run,
            progress=progress,
        )
    finally:
        engine.dispose()
    elapsed = progress.finish()
    print(f"{report.summary()} in {elapsed:.1f}s")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.io import export_file

    engine = open_engine(settings)
    try:
        count = export_file(engine, args.kind, args.file)
    finally:
        engine.dispose()
    print(f"{args.kind}: {count} rows written to {args.file}")
    return 0


def cmd_review_config(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.db import transaction
    from pricebook.review_config import import_review_config

    if not args.file.is_file():
        raise InvalidInput(f"no such file: {args.file}", field="file")
    engine = open_engine(settings)
    try:
        with transaction(engine) as session:
            report = import_review_config(
                session, args.file.read_bytes(), actor=args.who, reason=args.reason
            )
    finally:
        engine.dispose()
    print(report.summary())
    return 0


def add_db(sub: Subcommands) -> None:
    """pricebook db: schema migrations and statistics."""
    db = sub.add_parser("db", help="migrate the database schema")
    db.add_argument(
        "action",
        choices=("upgrade", "downgrade", "current", "analyze"),
        help="analyze: refresh the planner's statistics of every table (PostgreSQL), e.g. "
        "after a pg_restore, which brings none",
    )
    db.add_argument("revision", nargs="?", help="target revision (upgrade: head, downgrade: -1)")
    db.set_defaults(handler=cmd_db)


def add_demo(sub: Subcommands) -> None:
    """pricebook demo: the demo catalogue, or a large generated one."""
    demo = sub.add_parser("demo", help="load the demo catalogue or generate a large one")
    demo.add_argument("action", choices=("load", "scale", "keys"))
    demo.add_argument(
        "--national",
        action="store_true",
        help="scale: a national-shaped catalogue (20,000 models, 300,000 parts, "
        "10,000,000 price versions over branches, regions and history)",
    )
    demo.add_argument("--models", type=int, help="scale --national: models (default 20,000)")
    demo.add_argument(
        "--parts", type=int, help="scale: parts to generate (default 50,000; --national 300,000)"
    )
    demo.add_argument(
        "--prices",
        type=int,
        help="scale: prices to generate (default 1,000,000; --national 10,000,000)",
    )
    demo.add_argument("--seed", type=int, default=7, help="scale: random seed")
    demo.set_defaults(handler=cmd_demo)


def add_transfer(sub: Subcommands) -> None:
    """pricebook import / export: one kind, one file."""
    from pricebook.io.importers import IMPORT_KINDS

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


def add_review_config(sub: Subcommands) -> None:
    """pricebook review-config: rule profiles and tariffs."""
    review = sub.add_parser(
        "review-config", help="import rule profiles, consumable standards and rescue tariffs (JSON)"
    )
    review.add_argument("file", type=Path, metavar="FILE.json")
    review.add_argument("--who", default=getpass.getuser(), help="recorded as the author")
    review.add_argument("--reason", default="", help="recorded as the reason")
    review.set_defaults(handler=cmd_review_config)
