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
from litestar.params import Body, FromQuery, PathParameter

from api.auth import require
from api.controllers import NO_STORE, autocommit, run, write
from api.controllers.edits import actor_of
from api.problems import problem_responses
from api.schemas import ImportReport
from pricebook.errors import InvalidInput
from pricebook.io.importers import (
    IMPORT_KINDS,
    analyze_import,
    check_columns,
    check_kind,
    import_rows,
)
from pricebook.io.tables import read_table
from pricebook.prices import require_reason

#: the largest upload (413 above): about 200 000 price rows as CSV
MAX_UPLOAD = 20 * 1024 * 1024


@dataclass
class ImportUpload:
    #: a .csv (UTF-8) or .xlsx file with the kind's columns
    file: UploadFile
    #: why: recorded with every change (required to apply)
    reason: str = ""


def _read(content: bytes, filename: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    suffix = Path(filename).suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise InvalidInput("upload a .csv or .xlsx file", field="file")
    with tempfile.TemporaryDirectory(prefix="pricebook-import-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        header, rows = read_table(path)
        return header, list(rows)


def _import(
    session: Any,
    kind: str,
    header: list[str],
    rows: list[tuple[int, dict[str, str]]],
    *,
    actor: str,
    reason: str,
    name: str,
    dry_run: bool,
) -> ImportReport:
    report = import_rows(
        session, kind, rows, actor=actor, reason=reason, source_ref=name, dry_run=dry_run,
        header=header,
    )  # fmt: skip
    if dry_run:
        session.rollback()
    return ImportReport(
        kind=report.kind, dry_run=report.dry_run, rows=report.rows, changed=report.changed,
        created=report.created, updated=report.updated, superseded=report.superseded,
        closed=report.closed, unchanged=report.unchanged, removed=report.removed,
        notes=list(report.notes),
    )  # fmt: skip


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
        "row and field. Larger than 20 MB → 413.",
        status_code=200,
        request_max_body_size=MAX_UPLOAD + 64 * 1024,
        responses=problem_responses(400, 401, 403, 409, 413, 422, 503),
    )
    async def upload(
        self,
        state: State,
        request: Request[Any, Any, Any],
        kind: Annotated[str, PathParameter(min_length=1, max_length=32)],
        data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        dry_run: FromQuery[bool] = True,
    ) -> ImportReport:
        check_kind(kind)
        reason = data.reason.strip()
        actor = actor_of(request)
        if not dry_run:
            require_reason(reason, actor)
        content = await data.file.read()
        if len(content) > MAX_UPLOAD:
            from litestar.exceptions import HTTPException

            raise HTTPException(status_code=413, detail="the file is larger than 20 MB")
        name = Path(data.file.filename or "upload").name[:200]
        header, rows = await asyncio.to_thread(_read, content, name)
        check_columns(kind, header)
        call = run if dry_run else write
        report = await call(
            state, _import, kind, header, rows, actor=actor, reason=reason, name=name,
            dry_run=dry_run,
        )  # fmt: skip
        if not dry_run:  # committed by `write`: a big import's tables get fresh statistics
            await autocommit(state, analyze_import, kind, changed=report.changed)
        return report
