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
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from pricebook.errors import ImportRejected, InvalidInput, PricebookError
from pricebook.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]
if TYPE_CHECKING:
    from decimal import Decimal

    from pricebook.market.crawl import CrawlReport, CrawlTarget

    #: the ``pricebook COMMAND`` parsers each ``_add_…`` adds its command to
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def _engine(settings: Settings) -> Engine:
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

    engine = _engine(settings)
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
            print(f"demo scale --national: {shape.models:,} models, {shape.parts:,} parts, "
                  f"{written:,} prices")  # fmt: skip
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


def cmd_review_config(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.db import transaction
    from pricebook.review_config import import_review_config

    if not args.file.is_file():
        raise InvalidInput(f"no such file: {args.file}", field="file")
    engine = _engine(settings)
    try:
        with transaction(engine) as session:
            report = import_review_config(
                session, args.file.read_bytes(), actor=args.who, reason=args.reason
            )
    finally:
        engine.dispose()
    print(report.summary())
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.serve import serve  # the server is the API's business; imported only here

    print(f"Pricebook on http://{args.host}:{args.port}/ (API docs: /schema)", flush=True)
    return serve(
        args.host, args.port, args.workers, log_level=args.log_level,
        access_log=not args.no_access_log, header_timeout=settings.header_timeout,
    )  # fmt: skip


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook import keys
    from pricebook.db import transaction

    engine = _engine(settings)
    try:
        with transaction(engine) as session:
            if args.action == "create":
                info, key = keys.create_key(session, name=args.name, role=args.role, actor=args.who)
                print(
                    f"created key {info.id} ({info.name}, role {info.role}); it is shown only once:"
                )
                print(f"X-API-Key: {key}")
            elif args.action == "list":
                rows = keys.list_keys(session, include_revoked=args.all)
                for k in rows:
                    state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                    print(f"{k.id:>4}  {k.prefix}…  {k.role:<13}  {state:<18}  {k.name}")
                if not rows:
                    print("no keys")
            else:
                info = keys.revoke_key(session, args.id, actor=args.who, reason=args.reason)
                print(
                    f"key {info.id} ({info.name}) revoked; servers stop accepting it within seconds"
                )
    finally:
        engine.dispose()
    return 0


def cmd_crawl(args: argparse.Namespace, settings: Settings) -> int:
    import time
    from decimal import Decimal, InvalidOperation

    from pricebook.market.crawl import DEFAULT_JOBS, crawl_groups, resolve_targets, run_crawls

    try:
        threshold = Decimal(args.drift_threshold)
    except InvalidOperation:
        raise InvalidInput(f"--drift-threshold {args.drift_threshold!r} is not a number") from None
    if args.jobs is not None and args.jobs < 1:
        raise InvalidInput(f"--jobs {args.jobs}: give at least 1")
    sources_dir = args.sources_dir or settings.sources_dir
    targets = resolve_targets(
        args.sources,
        args.source_file,
        all_sources=args.all,
        sources_dir=sources_dir,
        base_url=args.base_url,
    )
    jobs = min(args.jobs or DEFAULT_JOBS, len(crawl_groups(targets)))
    started = time.perf_counter()
    engine = _engine(settings)
    try:
        crawl = _crawler(args, settings, engine, targets, sources_dir)
        reports = run_crawls(targets, crawl, jobs=jobs, on_report=_show_crawl)
        if not args.no_drift:
            _crawl_drift(args, engine, threshold, reports)
    finally:
        engine.dispose()
    return _crawl_summary(reports, len(targets), jobs, time.perf_counter() - started)


def _crawler(
    args: argparse.Namespace,
    settings: Settings,
    engine: Engine,
    targets: list[CrawlTarget],
    sources_dir: str | None,
) -> Callable[[CrawlTarget], CrawlReport]:
    """One crawl: a Scrapy process of its own, or a job of the Scrapyd named by --scrapyd."""
    from pricebook.market.crawl import run_crawl

    if not args.scrapyd:
        return lambda target: run_crawl(
            settings,
            engine,
            target,
            actor=args.who,
            base_url=args.base_url,
            sources_dir=sources_dir,
            extra_settings=args.set,
            timeout=args.timeout,
        )
    from pricebook.market.scrapyd import ScrapydClient, require_named, run_scrapyd_crawl

    require_named(targets)
    client = ScrapydClient(args.scrapyd)
    return lambda target: run_scrapyd_crawl(
        engine,
        client,
        target,
        actor=args.who,
        base_url=args.base_url,
        extra_settings=args.set,
        timeout=args.timeout,
        out=sys.stderr,
    )


def _show_crawl(report: CrawlReport) -> None:
    """One block per crawl, whole (`run_crawls` holds its lock meanwhile)."""
    print("\n".join(report.lines()), flush=True)
    if report.status == "failed":
        tail = [f"  | {line}" for line in report.log_tail[-15:]]
        print("\n".join(tail), file=sys.stderr, flush=True)


def _crawl_drift(
    args: argparse.Namespace, engine: Engine, threshold: Decimal, reports: list[CrawlReport]
) -> None:
    from datetime import date

    from pricebook.db import transaction
    from pricebook.market import detect_drift
    from pricebook.market.crawl import record_drift

    with transaction(engine) as session:
        drift = detect_drift(
            session,
            date.today(),
            threshold_pct=threshold,
            min_observations=args.drift_min_observations,
            actor=args.who,
        )
        record_drift(session, [r.run_id for r in reports], drift)
    print(drift.summary())


def _crawl_summary(reports: list[CrawlReport], targets: int, jobs: int, seconds: float) -> int:
    """Print the totals; exit status 1 when a crawl failed or was suspicious."""
    failed = sum(r.status == "failed" for r in reports)
    suspicious = sum(r.status == "suspicious" for r in reports)
    finished = f"{len(reports) - failed} finished" + (
        f" ({suspicious} suspicious)" if suspicious else ""
    )
    print(
        f"crawled {len(reports)} source(s) in {seconds:.1f}s, "
        f"{jobs} at a time: {finished}, {failed} failed; "
        f"items {sum(r.items for r in reports)}, new observations {sum(r.new for r in reports)}",
        flush=True,
    )
    if failed:
        print(f"error: {failed} of {targets} crawl(s) failed", file=sys.stderr)
    if suspicious:
        # a crawl that brought back far less than usual is not a success a scheduler may ignore
        print(
            f"error: {suspicious} of {targets} crawl(s) suspicious (see their reports)",
            file=sys.stderr,
        )
    return 1 if failed or suspicious else 0


def cmd_scrapyd(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.market.scrapyd import PROJECT, ScrapydClient, deploy

    client = ScrapydClient(args.url)
    version, spiders = deploy(client, args.version)
    print(f"deployed {PROJECT} version {version} to {client.address}: {spiders} spiders")
    return 0


def _match_snapshot(settings: Settings):  # type: ignore[no-untyped-def]
    from pricebook.db import session_factory
    from pricebook.matching.loader import build_snapshot

    engine = _engine(settings)
    try:
        with session_factory(engine)() as session:
            return build_snapshot(session, warm=False)
    finally:
        engine.dispose()


def _model_id(snapshot, value: str | None) -> int | None:  # type: ignore[no-untyped-def]
    """--model as an id or a model code."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit() and int(value) in snapshot.model_brands:
        return int(value)
    if value in snapshot.model_codes:
        return int(snapshot.model_codes[value])
    raise InvalidInput(f"unknown model {value!r} (give a model id or code)", field="model")


def cmd_match(args: argparse.Namespace, settings: Settings) -> int:
    import json

    snapshot = _match_snapshot(settings)
    model_id = _model_id(snapshot, args.model)
    brand_id = None
    if args.brand:
        brand_id = snapshot.brands.get(args.brand.strip())
        if brand_id is None:
            raise InvalidInput(f"unknown brand {args.brand!r} (give a brand code or name)")
    names = [line.rstrip("\r\n") for line in sys.stdin]
    results = snapshot.index.match(names, model_id=model_id, brand_id=brand_id, top_k=args.top)
    out = sys.stdout
    if args.json:
        for r in results:
            side = r.side
            obj = {
                "query": r.query,
                "decision": r.decision,
                "reason": r.reason,
                "side": {
                    "lateral": side.lateral, "longitudinal": side.longitudinal,
                    "vertical": side.vertical, "depth": side.depth,
                    "ambiguous": side.ambiguous, "label": side.label(),
                },
                "candidates": [
                    {"part_code": c.part_code, "name": c.name, "score": c.score,
                     "reason": c.reason, "confidence": c.confidence}
                    for c in r.candidates
                ],
            }  # fmt: skip
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        return 0
    for r in results:
        side = r.side.label() or "-"
        out.write(f"{r.query}  [{r.decision}{', ' + r.reason if r.reason else ''}; side {side}]\n")
        for n, c in enumerate(r.candidates, start=1):
            out.write(f"  {n}. {c.part_code:<14} {c.name}  {c.score:5.1f}  {c.reason}\n")
        if not r.candidates:
            out.write("  (no candidate)\n")
    return 0


#: The issue's acceptance thresholds for `match-eval`.
EVAL_MIN_TOP1 = 0.95
EVAL_MAX_FALSE_AUTO_ACCEPT = 0.01
#: The thresholds for `match-eval --typed` on its held-out half (names as adjusters type them).
TYPED_MIN_TOP1 = 0.98
TYPED_MIN_TOP3 = 0.995
TYPED_MAX_FALSE_AUTO_ACCEPT = 0.005


def _eval_failures(
    report: Any,
    min_top1: float,
    max_false: float,
    min_top3: float | None = None,
) -> list[str]:
    failed = []
    if report.top1 < min_top1:
        failed.append(f"top-1 {report.top1:.1%} < {min_top1:.0%}")
    if min_top3 is not None and report.top3 < min_top3:
        failed.append(f"top-3 {report.top3:.1%} < {min_top3:.1%}")
    if report.side_errors:
        failed.append(f"{report.side_errors} side error(s)")
    if report.false_auto_accept_rate > max_false:
        failed.append(f"false auto-accepts {report.false_auto_accept_rate:.2%} > {max_false:.1%}")
    return failed


def cmd_match_eval(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook.io.tables import read_table
    from pricebook.matching import EvalRow, evaluate

    if args.file is None and not args.typed:
        raise InvalidInput("give a labelled FILE, --typed, or both")
    snapshot = _match_snapshot(settings)
    index = snapshot.index
    print(f"index {snapshot.describe()}")
    failed: list[str] = []
    passed: list[str] = []
    if args.file is not None:
        header, rows = read_table(args.file)
        missing = [c for c in ("name", "model_code", "expected_part_code") if c not in header]
        if missing:
            raise InvalidInput(f"{args.file}: missing column(s) {', '.join(missing)}")
        eval_rows, problems = [], []
        for n, row in rows:
            code = row.get("expected_part_code", "").strip()
            model = row.get("model_code", "").strip()
            if index.entry_by_code(code) is None:
                problems.append(f"row {n}: unknown part {code!r}")
            elif model and model not in snapshot.model_codes:
                problems.append(f"row {n}: unknown model {model!r}")
            else:
                eval_rows.append(EvalRow(row["name"], snapshot.model_codes.get(model), code))
        if problems:
            shown = "; ".join(problems[:5]) + (
                f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            )
            raise InvalidInput(f"{args.file}: {len(problems)} bad row(s): {shown}")
        report = evaluate(index, eval_rows)
        print(report.summary(max_failures=args.failures))
        failed += _eval_failures(report, EVAL_MIN_TOP1, EVAL_MAX_FALSE_AUTO_ACCEPT)
        passed.append(
            f"top-1 >= {EVAL_MIN_TOP1:.0%}, no side error, "
            f"false auto-accepts <= {EVAL_MAX_FALSE_AUTO_ACCEPT:.0%}"
        )
    if args.typed:
        from pricebook.matching.variants import generate, split

        variants = generate(index.entries, model_codes=snapshot.model_codes)
        halves = dict(zip(("tuning", "held-out"), split(variants), strict=True))
        for label, half in halves.items():
            report = evaluate(
                index, [EvalRow(v.name, v.model_id, v.expected_part_code) for v in half]
            )
            print(f"\nnames as typed, {label} half (generated from the standard names):")
            print(report.summary(max_failures=args.failures))
            if label == "held-out":
                failed += [
                    f"held-out: {f}"
                    for f in _eval_failures(
                        report, TYPED_MIN_TOP1, TYPED_MAX_FALSE_AUTO_ACCEPT, TYPED_MIN_TOP3
                    )
                ]
                passed.append(
                    f"held-out top-1 >= {TYPED_MIN_TOP1:.0%}, top-3 >= {TYPED_MIN_TOP3:.1%}, "
                    f"no side error, false auto-accepts <= {TYPED_MAX_FALSE_AUTO_ACCEPT:.1%}"
                )
    if failed:
        print("FAIL: " + "; ".join(failed))
        return 0 if args.no_fail else 1
    print("PASS: " + "; ".join(passed))
    return 0


def _add_db(sub: Subcommands) -> None:
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


def _add_demo(sub: Subcommands) -> None:
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


def _add_transfer(sub: Subcommands) -> None:
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


def _add_keys(sub: Subcommands) -> None:
    """pricebook keys: API keys."""
    from pricebook.models import ROLES

    keys_cmd = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="who or what uses the key")
    listing = keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--reason", default="")
    for p in (create, listing, revoke):
        p.add_argument("--who", default=getpass.getuser(), help="recorded as the author")
    keys_cmd.set_defaults(handler=cmd_keys)


def _add_crawl(sub: Subcommands) -> None:
    """pricebook crawl: market sources, then drift."""
    crawl = sub.add_parser(
        "crawl",
        help="crawl market sources (Scrapy, one process each), store observations, check drift",
        description="Crawl market price sources, each in its own Scrapy process; the items are "
        "validated, matched and stored as market observations, the run and its report "
        "(pages, items, matched, unmatched, dropped with reasons) are recorded, then drift "
        "detection opens or updates review tasks in the feedback queue. Exit status 1 when a "
        "crawl failed or was suspicious (0 listings kept, pages or listings below half the "
        "median of the source's last 5 finished runs, pagination short of the page count the "
        "site declares); see docs/market-sources.md.",
    )
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="source names (see --all)")
    crawl.add_argument("--all", action="store_true", help="every source (examples skipped)")
    crawl.add_argument(
        "--source-file",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="crawl the source defined in this TOML file (repeatable)",
    )
    crawl.add_argument("--base-url", metavar="URL", help="replaces {base} in the start URLs")
    crawl.add_argument(
        "--sources-dir",
        metavar="DIR",
        help="extra directory of source files, searched before the built-ins (default: "
        "$PRICEBOOK_SOURCES_DIR)",
    )
    crawl.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Scrapy setting for the crawl processes (repeatable), e.g. -s DOWNLOAD_DELAY=2",
    )
    crawl.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="crawl up to N sources at once (default: up to 4; 1: one after another). "
        "Sources on one site (host and port) or with one name still crawl one after another",
    )
    crawl.add_argument("--timeout", type=float, help="stop each crawl after this many seconds")
    crawl.add_argument("--no-drift", action="store_true", help="skip drift detection")
    crawl.add_argument(
        "--drift-threshold",
        default="20",
        metavar="PCT",
        help="drift when a price is more than PCT%% off the market median (default 20)",
    )
    crawl.add_argument(
        "--drift-min-observations",
        type=int,
        default=3,
        metavar="N",
        help="market observations (from as many distinct sellers) needed before a drift "
        "counts (default 3)",
    )
    crawl.add_argument("--who", default=getpass.getuser(), help="recorded on runs and tasks")
    crawl.add_argument(
        "--scrapyd",
        metavar="URL",
        help="run each crawl as a job of the Scrapyd at URL (http://[USER:PASSWORD@]HOST:PORT; "
        "or credentials from ~/.netrc) and wait for it; sources by name, as Scrapyd's host "
        "finds them (see docs/scaling-crawls.md)",
    )
    crawl.set_defaults(handler=cmd_crawl)


def _add_scrapyd(sub: Subcommands) -> None:
    """pricebook scrapyd deploy."""
    scrapyd_cmd = sub.add_parser("scrapyd", help="deploy the market scrapers to Scrapyd")
    scrapyd_sub = scrapyd_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    deploy = scrapyd_sub.add_parser(
        "deploy",
        help="build the scrapers' egg from this checkout and upload it (addversion.json)",
        description="Build an egg of the scrapers (spiders, settings, built-in sources) and "
        "upload it to Scrapyd as a new version of the project 'pricebook'; Scrapyd runs the "
        "newest version. The core must be installed in Scrapyd's Python (docs/deploy.md).",
    )
    deploy.add_argument("url", metavar="URL", help="http://[USER:PASSWORD@]HOST:PORT")
    deploy.add_argument("--version", help="version name (default: the UTC time, YYYYmmddHHMMSS)")
    deploy.set_defaults(handler=cmd_scrapyd)


def _add_match(sub: Subcommands) -> None:
    """pricebook match: names from stdin."""
    match = sub.add_parser(
        "match",
        help="match custom part names (stdin, one per line) to catalogue parts",
        description="Reads custom part names from stdin, one per line, and matches each to "
        "catalogue parts (side-safe). With --json, one JSON object per input line, in order: "
        "query, decision (matched|suggested|unmatched), reason, side (axes and label), "
        "candidates (best first: part_code, name, score, reason, confidence).",
    )
    match.add_argument("--model", metavar="ID|CODE", help="the vehicle model (id or code)")
    match.add_argument("--brand", metavar="CODE|NAME", help="the brand, without a model")
    match.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    match.add_argument("--top", type=int, default=5, metavar="K", help="candidates per name")
    match.set_defaults(handler=cmd_match)


def _add_match_eval(sub: Subcommands) -> None:
    """pricebook match-eval: accuracy on a labelled file."""
    match_eval = sub.add_parser(
        "match-eval",
        help="accuracy of the matcher on a labelled file (name,model_code,expected_part_code)",
        description="Prints top-1, top-3, the false auto-accept rate and side errors. Exits 1 "
        f"when top-1 < {EVAL_MIN_TOP1:.0%}, any side error, or false auto-accepts > "
        f"{EVAL_MAX_FALSE_AUTO_ACCEPT:.0%} (the acceptance thresholds), unless --no-fail. "
        "--typed also generates names as adjusters type them (homophone typos, missing or "
        "doubled characters, spaces, traditional characters, sides written other ways, "
        "abbreviations, quality and quantity words) from the catalogue's standard names, and "
        "reports its tuning and held-out halves; the held-out half must reach top-1 "
        f"{TYPED_MIN_TOP1:.0%}, top-3 {TYPED_MIN_TOP3:.1%}, no side error and false "
        f"auto-accepts <= {TYPED_MAX_FALSE_AUTO_ACCEPT:.1%}.",
    )
    match_eval.add_argument("file", type=Path, nargs="?", metavar="FILE", help="CSV or XLSX")
    match_eval.add_argument(
        "--typed", action="store_true", help="also evaluate generated names as typed (both halves)"
    )
    match_eval.add_argument("--failures", type=int, default=20, help="failures to list")
    match_eval.add_argument("--no-fail", action="store_true", help="exit 0 under the thresholds")
    match_eval.set_defaults(handler=cmd_match_eval)


def _add_review_config(sub: Subcommands) -> None:
    """pricebook review-config: rule profiles and tariffs."""
    review = sub.add_parser(
        "review-config", help="import rule profiles, consumable standards and rescue tariffs (JSON)"
    )
    review.add_argument("file", type=Path, metavar="FILE.json")
    review.add_argument("--who", default=getpass.getuser(), help="recorded as the author")
    review.add_argument("--reason", default="", help="recorded as the reason")
    review.set_defaults(handler=cmd_review_config)


def _add_serve(sub: Subcommands) -> None:
    """pricebook serve: the API server."""
    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes, each with its own SO_REUSEPORT socket (about one per core)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--no-access-log", action="store_true", help="no line per request")
    serve.set_defaults(handler=cmd_serve)


#: the commands, in the order ``pricebook --help`` lists them
COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    _add_db,
    _add_demo,
    _add_transfer,
    _add_keys,
    _add_crawl,
    _add_scrapyd,
    _add_match,
    _add_match_eval,
    _add_review_config,
    _add_serve,
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


if __name__ == "__main__":
    sys.exit(main())
