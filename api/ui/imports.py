"""导入: upload a CSV or XLSX in the CLI's formats, preview the dry run, then apply.

The upload is kept in a private temporary folder between the preview and the apply, under a
random token bound to the uploader's key; the apply imports it again, all-or-nothing, in one
transaction (`pricebook.io.import_rows`), so what is applied is checked against the database as
it is at that moment, not as it was at the preview.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.response import Template

from api.controllers.imports import import_path
from api.ui.auth import login_required
from api.ui.common import render, text
from api.ui.messages import zh
from pricebook.errors import ImportRejected, PricebookError
from pricebook.io.importers import IMPORT_KINDS
from pricebook.io.tables import TooLarge
from pricebook.settings import Settings

KIND_NAMES = {
    "prices": "配件价格", "labor_rates": "分公司标准工时费", "standard_hours": "标准工时",
    "rate_cards": "特殊合作渠道价格表", "channels": "合作渠道", "parts": "配件",
    "models": "车型", "fitment": "适用车型", "categories": "配件分类", "regions": "地区",
    "branches": "机构", "price_types": "价格类型",
}  # fmt: skip
STASH_SECONDS = 3600


def _rejected(exc: ImportRejected) -> str:
    what = KIND_NAMES.get(exc.kind, exc.kind)
    return f"{what}文件有 {len(exc.errors)} 处错误，没有写入任何数据：请按下表修改后重新上传。"


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
        base = {"title": "导入", "nav": "import", "kinds": [(k, KIND_NAMES.get(k, k)) for k in
                IMPORT_KINDS], "kind": "prices", "reason": "", "report": None, "errors": [],
                "error": "", "token": "", "applied": None}  # fmt: skip
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
                import_path, settings, path, kind, actor=user.actor, reason=reason, name=name,
                dry_run=True,
            )  # fmt: skip
        except ImportRejected as exc:
            return self._page(request, 422, error=_rejected(exc), errors=exc.errors, **ctx)
        except TooLarge as exc:
            return self._page(request, 413, error=exc.message, **ctx)
        except PricebookError as exc:
            return self._page(request, 422, error=zh(exc), **ctx)
        return self._page(request, report=report, token=token, filename=name, **ctx)

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
                import_path, state.settings, path, meta["kind"], actor=user.actor,
                reason=meta["reason"], name=meta["name"], dry_run=False,
            )  # fmt: skip
        except ImportRejected as exc:
            return self._page(request, 422, error=_rejected(exc), errors=exc.errors, **ctx)
        except PricebookError as exc:
            return self._page(request, 409, error=zh(exc), **ctx)
        meta_path.unlink(missing_ok=True)
        shutil.rmtree(path.parent, ignore_errors=True)
        return self._page(request, applied=report, **ctx)
