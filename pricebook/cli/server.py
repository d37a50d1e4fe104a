"""Serving: the API server and the keys it accepts."""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING

from pricebook.cli.common import open_engine
from pricebook.settings import Settings

if TYPE_CHECKING:
    from pricebook.cli.common import Subcommands


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.serve import serve  # the server is the API's business; imported only here

    print(f"Pricebook on http://{args.host}:{args.port}/ (API docs: /schema)", flush=True)
    return serve(
        args.host,
        args.port,
        args.workers,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        header_timeout=settings.header_timeout,
    )


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from pricebook import keys
    from pricebook.db import transaction

    engine = open_engine(settings)
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


def add_keys(sub: Subcommands) -> None:
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


def add_serve(sub: Subcommands) -> None:
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
