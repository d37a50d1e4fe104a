"""导入: upload a CSV or XLSX in the CLI's formats, preview the dry run, then apply.

The upload is kept in a private temporary folder between the preview and the apply, under a
random token bound to the uploader's key; the apply imports it again, all-or-nothing, in one
transaction (`pricebook.io.import_rows`), so what is applied is checked against the database as
it is at that moment, not as it was at the preview.

The preview lists the changes row by row (the file's row number, what the row names, the value
in force → the file's value), counts the unchanged rows, and shows row errors in Chinese. A file
that is not a table (binary, or not the format its extension says) or is another kind's table
is said to be so in one line, naming the kind it looks like.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.response import Template

from api.controllers.imports import import_path
from api.ui.audit_log import FIELD_NAMES
from api.ui.auth import login_required
from api.ui.common import render, text
from api.ui.messages import FIELDS, zh
from pricebook.errors import ImportRejected, PricebookError
from pricebook.io.importers import IMPORT_KINDS, REQUIRED_COLUMNS, ImportReport, RowChange
from pricebook.io.tables import TableLimits, TooLarge, read_table
from pricebook.money import from_fen
from pricebook.settings import Settings

KIND_NAMES = {
    "prices": "配件价格", "labor_rates": "分公司标准工时费", "standard_hours": "标准工时",
    "rate_cards": "特殊合作渠道价格表", "channels": "合作渠道", "parts": "配件",
    "models": "车型", "fitment": "适用车型", "categories": "配件分类", "regions": "地区",
    "branches": "机构", "price_types": "价格类型",
}  # fmt: skip
STASH_SECONDS = 3600
#: the columns that name a versioned row's key, shown beside its change
KEY_COLUMNS = {
    "prices": ("part_code", "model_code", "scope", "price_type"),
    "labor_rates": ("branch_code", "labor_kind", "shop_tier", "vehicle_class"),
    "standard_hours": ("part_code", "operation", "vehicle_class"),
    "rate_cards": ("channel_code",),
}
ACTION_NAMES = {"create": "新增", "supersede": "替代旧版本", "close": "提前结束", "update": "修改"}
#: the first bytes of files people upload by mistake, by what they are
BINARY_MAGIC = ((b"PK\x03\x04", "ZIP 压缩包或 Office 文档"), (b"%PDF", "PDF 文档"),
                (b"\x89PNG", "PNG 图片"), (b"\xff\xd8\xff", "JPEG 图片"),
                (b"\xd0\xcf\x11\xe0", "旧版 Excel（.xls）或 Word 文档"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One line of the preview's change table, in words."""

    row: int
    action: str
    key: str
    before: str
    after: str
    valid_from: date | None


def not_a_table(content: bytes, suffix: str, kind: str) -> str | None:
    """Why an upload cannot be a `kind` file of its extension, in Chinese, or None: a CSV that
    is binary (a NUL byte, or a known file signature), an XLSX that is no ZIP archive."""
    what = KIND_NAMES.get(kind, kind)
    if suffix == ".xlsx":
        if content.startswith(b"PK\x03\x04"):
            return None
        return f"这不是{what}文件：上传的文件不是 XLSX 表格（文件内容与扩展名不符）。"
    found = next((name for magic, name in BINARY_MAGIC if content.startswith(magic)), None)
    if found is None and b"\x00" not in content[:4096]:
        return None
    looks = f"看起来是{found}" if found else "内容是二进制数据"
    return f"这不是{what}文件：上传的文件不是 CSV 文本，{looks}。请上传 CSV 或 XLSX 表格。"


def likely_kind(header: list[str], kind: str) -> str | None:
    """The import kind whose columns the header holds best, when it is not `kind` and holds
    most of them: the wrong type was chosen for the right file."""
    columns = set(header)
    scores = {k: len(columns & set(c)) / len(c) for k, c in REQUIRED_COLUMNS.items()}
    best = max(scores, key=lambda k: scores[k])
    return best if best != kind and scores[best] > 0.5 else None


def _value_text(kind: str, action: str, value: Any) -> str:
    if action == "close":
        return value.isoformat() if isinstance(value, date) else "长期有效"
    if value is None:
        return "—"
    if kind in {"prices", "labor_rates"}:
        return f"{from_fen(value):,.2f} 元"
    if kind == "standard_hours":
        return f"{Decimal(value[0]) / 100:.2f} 小时"
    if kind == "rate_cards":
        return f"{len(value)} 项条款"
    if isinstance(value, Mapping):
        return "；".join(f"{FIELD_NAMES.get(k, FIELDS.get(k, k))}：{v}" for k, v in value.items())
    return str(value)


def change_rows(report: ImportReport, path: Path, limits: TableLimits) -> list[ChangeRow]:
    """The report's changes in words; a versioned row is named by its key cells as the file
    has them (read again: the report keeps ids)."""
    kind = report.kind
    wanted = {c.row for c in report.changes if c.row}
    cells: dict[int, str] = {}
    if wanted and kind in KEY_COLUMNS:
        _, rows = read_table(path, limits)
        for number, row in rows:
            if number in wanted:
                cells[number] = " · ".join(row.get(c, "").strip() or "—" for c in KEY_COLUMNS[kind])
                if len(cells) == len(wanted):  # the rest of a long file holds none of them
                    break
    ordered = sorted(report.changes, key=lambda c: (c.row, c.key))  # the file's order
    return [_change_row(kind, c, cells.get(c.row, c.key)) for c in ordered]


def _change_row(kind: str, change: RowChange, key: str) -> ChangeRow:
    return ChangeRow(
        change.row,
        ACTION_NAMES.get(change.action, change.action),
        key,
        _value_text(kind, change.action, change.before),
        _value_text(kind, change.action, change.after),
        change.valid_from,
    )


def _rejected(exc: ImportRejected) -> str:
    what = KIND_NAMES.get(exc.kind, exc.kind)
    return f"{what}文件有 {len(exc.errors)} 处错误，没有写入任何数据：请按下表修改后重新上传。"


def _other_kind(path: Path, exc: ImportRejected, kind: str) -> str | None:
    """The kind the file looks like when the import refused its header as not this kind's."""
    if not any(e.row == 1 and e.message.startswith("not a ") for e in exc.errors):
        return None
    try:
        header, _ = read_table(path)
    except PricebookError:
        return None
    return likely_kind(header, kind)


def _stash_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "pricebook-ui-imports"
    path.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for old in path.iterdir():
        if now - old.stat().st_mtime > STASH_SECONDS:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    return path


def _stashed(stash: Path, token: str, name: str) -> Path:
    """Where a previewed upload waits for its apply: a folder per token, the file under the
    name it was uploaded with (the import's errors name the file as the user knows it)."""
    return stash / token / name


class ImportPages(Controller):
    path = "/import"
    guards = [login_required("pricing_staff")]  # noqa: RUF012

    def _page(
        self, request: Request[Any, Any, Any], status_code: int = 200, **context: Any
    ) -> Template:
        base = {
            "title": "导入",
            "nav": "import",
            "kinds": [(k, KIND_NAMES.get(k, k)) for k in IMPORT_KINDS],
            "kind": "prices",
            "reason": "",
            "report": None,
            "errors": [],
            "error": "",
            "token": "",
            "applied": None,
            "changes": [],
        }
        return render(request, "import.html", {**base, **context}, status_code=status_code)

    @get("/")
    async def form(self, request: Request[Any, Any, Any]) -> Template:
        return self._page(request)

    @post("/preview", status_code=200)
    async def preview(self, request: Request[Any, Any, Any], state: State) -> Template:
        form = await request.form()
        kind = text(form, "kind", 64)
        reason = text(form, "reason")
        upload = form.get("file")
        ctx = {"kind": kind, "reason": reason}
        if kind not in IMPORT_KINDS:
            return self._page(request, 422, error="请选择导入类型", **ctx)
        if not isinstance(upload, UploadFile) or not upload.filename:
            return self._page(request, 422, error="请选择 CSV 或 XLSX 文件", **ctx)
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in {".csv", ".xlsx"}:
            return self._page(request, 422, error="只支持 .csv 或 .xlsx 文件", **ctx)
        settings: Settings = state.settings
        content = await upload.read()
        if len(content) > settings.import_max_bytes:
            megabytes = settings.import_max_bytes / 2**20
            return self._page(request, 413, error=f"文件超过 {megabytes:g} MB", **ctx)
        if wrong := not_a_table(content, suffix, kind):
            return self._page(request, 422, error=wrong, **ctx)
        user = request.state.ui_user
        token = secrets.token_urlsafe(18)
        stash = _stash_dir()
        name = Path(upload.filename).name[:200]
        path = _stashed(stash, token, name)
        path.parent.mkdir(mode=0o700)
        path.write_bytes(content)
        meta = {"kind": kind, "reason": reason, "name": name, "key_id": user.key_id}
        (stash / f"{token}.json").write_text(json.dumps(meta))
        try:
            report = await asyncio.to_thread(
                import_path,
                settings,
                path,
                kind,
                actor=user.actor,
                reason=reason,
                name=name,
                dry_run=True,
            )
        except ImportRejected as exc:
            error = _rejected(exc)
            if other := _other_kind(path, exc, kind):
                error = f"这不是{KIND_NAMES[kind]}文件：看起来是{KIND_NAMES.get(other, other)}文件，请选择正确的导入类型后重新上传。"
            return self._page(request, 422, error=error, errors=exc.errors, **ctx)
        except TooLarge as exc:
            return self._page(request, 413, error=exc.message, **ctx)
        except PricebookError as exc:
            return self._page(request, 422, error=zh(exc), **ctx)
        changes = await asyncio.to_thread(change_rows, report, path, TableLimits.of(settings))
        return self._page(
            request, report=report, changes=changes, token=token, filename=name, **ctx
        )

    @post("/apply", status_code=200)
    async def apply(self, request: Request[Any, Any, Any], state: State) -> Template:
        form = await request.form()
        token = text(form, "token", 64)
        user = request.state.ui_user
        stash = _stash_dir()
        meta_path = stash / f"{token}.json"
        if not token.replace("-", "").replace("_", "").isalnum() or not meta_path.exists():
            return self._page(request, 410, error="预览已过期：请重新上传文件。")
        meta = json.loads(meta_path.read_text())
        if meta.get("key_id") != user.key_id:
            return self._page(request, 403, error="只能导入自己预览过的文件。")
        path = _stashed(stash, token, meta["name"])
        ctx = {"kind": meta["kind"], "reason": meta["reason"], "filename": meta["name"]}
        try:
            report = await asyncio.to_thread(
                import_path,
                state.settings,
                path,
                meta["kind"],
                actor=user.actor,
                reason=meta["reason"],
                name=meta["name"],
                dry_run=False,
            )
        except ImportRejected as exc:
            return self._page(request, 422, error=_rejected(exc), errors=exc.errors, **ctx)
        except PricebookError as exc:
            return self._page(request, 409, error=zh(exc), **ctx)
        meta_path.unlink(missing_ok=True)
        shutil.rmtree(path.parent, ignore_errors=True)
        return self._page(request, applied=report, **ctx)
