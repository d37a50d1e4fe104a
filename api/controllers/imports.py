"""Imports over HTTP: upload a CSV or XLSX in the CLI's formats (`pricebook import KIND FILE`),
preview with `dry_run=true`, then apply with `dry_run=false` — all-or-nothing either way."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromQuery, PathParameter
from sqlalchemy.pool import NullPool

from api.auth import require
from api.controllers import NO_STORE, Actor, check_query
from api.problems import problem_responses
from api.schemas import ImportReport
from pricebook.db import make_engine
from pricebook.errors import InvalidInput
from pricebook.io.importers import IMPORT_KINDS, check_kind, import_file
from pricebook.io.importers import ImportReport as CoreReport
from pricebook.io.tables import TableLimits, TooLarge
from pricebook.settings import Settings
from pricebook.versioned import require_reason

#: the largest request the import route reads at all; `Settings.import_max_bytes` (20 MB by
#: default) is the limit that applies, checked on Content-Length before the body is read and on
#: the file itself after.
MAX_BODY_CEILING = 256 * 1024 * 1024
#: room for the multipart envelope and the reason beside the file
ENVELOPE = 64 * 1024


@dataclass
class ImportUpload:
    #: a .csv (UTF-8) or .xlsx file with the kind's columns
    file: UploadFile
    #: why: recorded with every change (required to apply)
    reason: str = ""


def _too_large(settings: Settings) -> HTTPException:
    megabytes = settings.import_max_bytes / 2**20
    return HTTPException(status_code=413, detail=f"the file is larger than {megabytes:g} MB")


async def refuse_large_body(request: Request[Any, Any, Any]) -> None:
    """413 on the declared size, before the multipart body is read (by the router's checks,
    which then look into the form's fields)."""
    settings: Settings = request.app.state.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.import_max_bytes + ENVELOPE:
        raise _too_large(settings)
    await check_query(request)


def import_path(
    settings: Settings,
    path: Path,
    kind: str,
    *,
    actor: Actor,
    reason: str,
    name: str,
    dry_run: bool,
) -> CoreReport:
    """Read, check and (unless `dry_run`) write a file, blocking: callers run it in a worker
    thread (a 200,000-row file takes seconds to parse, and the event loop keeps serving other
    requests meanwhile), on a short-lived synchronous engine of its own. The file is held to
    the `Settings.import_max_*` limits while it is read."""
    engine = make_engine(settings, poolclass=NullPool)
    try:
        return import_file(
            engine,
            kind,
            path,
            actor=actor,
            reason=reason,
            dry_run=dry_run,
            limits=TableLimits.of(settings),
            source_ref=name,
        )
    finally:
        engine.dispose()


def import_upload(
    settings: Settings,
    content: bytes,
    filename: str,
    kind: str,
    *,
    actor: Actor,
    reason: str,
    dry_run: bool,
) -> CoreReport:
    """`import_path` on an uploaded file's bytes (in a private temporary folder)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise InvalidInput("upload a .csv or .xlsx file", field="file")
    with tempfile.TemporaryDirectory(prefix="pricebook-import-") as folder:
        path = Path(folder) / Path(filename).name  # errors name the file as uploaded
        path.write_bytes(content)
        return import_path(
            settings, path, kind, actor=actor, reason=reason, name=filename, dry_run=dry_run
        )


class ImportController(Controller):
    path = "/imports"
    tags = ["imports"]  # noqa: RUF012
    guards = [require("pricing_staff")]  # noqa: RUF012
    cache_control = NO_STORE

    @post(
        "/{kind:str}",
        summary="Import a CSV or XLSX file: preview (dry_run=true), then apply",
        description=f"Kinds: {', '.join(IMPORT_KINDS)}; the columns are the CLI's (see "
        "`docs/import-formats.md`). Multipart form: `file` and `reason` (required to apply). "
        "Every row is checked before anything is written: with `dry_run=true` (the default) "
        "the answer counts what would change; with `dry_run=false` everything is written in "
        "one transaction, or nothing. Bad rows → 422 problem+json with `errors` listing each "
        "row and field. Larger than `PRICEBOOK_IMPORT_MAX_BYTES` (20 MB) → 413; more rows than "
        "`PRICEBOOK_IMPORT_MAX_ROWS` (200,000) or a cell longer than "
        "`PRICEBOOK_IMPORT_MAX_CELL_CHARS` (1,000) → 422.",
        status_code=200,
        request_max_body_size=MAX_BODY_CEILING,
        before_request=refuse_large_body,
        responses=problem_responses(400, 401, 403, 409, 413, 422, 503),
    )
    async def upload(
        self,
        state: State,
        actor: Actor,
        kind: Annotated[
            str,
            # the kinds are documented; another is the core's 422 naming them (`check_kind`)
            PathParameter(min_length=1, max_length=32, schema_extra={"enum": list(IMPORT_KINDS)}),
        ],
        data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        dry_run: FromQuery[bool] = True,
    ) -> ImportReport:
        check_kind(kind)
        reason = data.reason.strip()
        if not dry_run:  # the core refuses it too; here before the upload is read
            require_reason(reason, actor)
        settings: Settings = state.settings
        content = await data.file.read()
        if len(content) > settings.import_max_bytes:
            raise _too_large(settings)
        name = Path(data.file.filename or "upload").name[:200]
        try:
            report = await asyncio.to_thread(
                import_upload,
                settings,
                content,
                name,
                kind,
                actor=actor,
                reason=reason,
                dry_run=dry_run,
            )
        except TooLarge as exc:
            raise HTTPException(status_code=413, detail=exc.message) from exc
        return ImportReport(
            kind=report.kind,
            dry_run=report.dry_run,
            rows=report.rows,
            changed=report.changed,
            created=report.created,
            updated=report.updated,
            superseded=report.superseded,
            closed=report.closed,
            unchanged=report.unchanged,
            removed=report.removed,
            notes=list(report.notes),
        )
