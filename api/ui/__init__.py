"""The staff web UI at `/`: Jinja2 templates, htmx, Chinese labels, no external assets.

`ui_router(settings)` builds the router with its own session and CSRF middleware (the JSON API
under /api/v1 keeps its X-API-Key auth and is untouched by both); `template_config()` is the
app's template engine. Pages read and write through core functions only.

- Session: Litestar's encrypted client-side cookie (`pricebook_session`, HttpOnly, SameSite=Lax,
  8 hours, `Secure` with PRICEBOOK_COOKIE_SECURE) holding a server-side session's token, the key
  id and role; see `api.ui.auth` and `pricebook.sessions`.
- CSRF: Litestar's CSRF middleware on every unsafe method of the UI: a signed token in the
  `pricebook_csrf` cookie must come back in the form field `_csrf_token` (forms render
  `csrf_input`) or the `x-csrftoken` header (htmx sends it via `hx-headers` on <body>); else 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.plugins.htmx import HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp

from api.controllers import NUL_REFUSED, nul_in_form, nul_in_parameters, refuse_nul
from api.problems import STATUS_OF, handle
from api.ui.audit_log import AuditPages
from api.ui.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    NotLoggedIn,
    derive_secret,
    login_url,
)
from api.ui.channels import ChannelPages
from api.ui.common import person, render
from api.ui.feedback import FeedbackPages
from api.ui.imports import ImportPages
from api.ui.indicators import IndicatorPages
from api.ui.labor_rates import LaborRatePages
from api.ui.login import LoginPages
from api.ui.markets import MarketPages
from api.ui.messages import zh, zh_row
from api.ui.parts import PartPages
from api.ui.price_words import PriceWordPages
from api.ui.standard_hours import StandardHoursPages
from api.ui.synonyms import SynonymPages
from api.ui.validations import ValidationPages
from pricebook.errors import InvalidInput, PricebookError
from pricebook.settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HEADINGS = {400: "请求有误", 401: "请先登录", 403: "没有权限", 404: "未找到", 405: "不支持的操作",
            409: "冲突", 412: "数据已变化", 413: "文件太大", 422: "输入有误", 500: "服务器错误",
            503: "服务暂不可用"}  # fmt: skip


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["person"] = person
    engine.engine.filters["zh_row"] = zh_row


def template_config() -> TemplateConfig[Any]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_filters)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, NotLoggedIn):
        target = login_url(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
        if request.headers.get("hx-request"):
            return Response(content="", status_code=401, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)
    if isinstance(exc, PricebookError):
        status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 400)
        detail = zh(exc)
    elif isinstance(exc, ValidationException):  # a query parameter of the wrong form
        status, detail = exc.status_code, _query_error(exc)
    elif isinstance(exc, HTTPException):
        status, detail = exc.status_code, str(exc.detail)
        if isinstance(exc, NotFoundException):
            detail = "页面或记录不存在。"
        elif status == 403 and "CSRF" in detail:
            detail = "表单已过期或缺少 CSRF 令牌：请刷新页面后重试。"
    else:
        return handle(request, exc)  # logs it; a problem+json 500/503
    return _template_response(request, status, detail)


#: query parameters as the pages' filters label them
_QUERY_NAMES = {"from": "开始日期", "to": "结束日期", "date_from": "开始日期",
                "date_to": "结束日期", "page": "页码", "part": "配件", "part_id": "配件",
                "age": "天数", "q": "查询词", "sort": "排序", "vin": "车架号",
                "estimate_id": "定损单号", "branch": "机构", "category": "类别"}  # fmt: skip


def _query_error(exc: ValidationException) -> str:
    """A filter typed (or edited in the address) in a form the page cannot read, in Chinese:
    which ones, by their labels (Litestar's message is English)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    keys = dict.fromkeys(e.get("key") for e in extra if isinstance(e, dict) and e.get("key"))
    names = "、".join(_QUERY_NAMES.get(str(k), str(k)) for k in keys)
    where = f"（{names}）" if names else ""
    if any(isinstance(e, dict) and e.get("message") == NUL_REFUSED for e in extra):
        # any field of any page's filters: named only where the pages label it
        labelled = "、".join(_QUERY_NAMES[str(k)] for k in keys if str(k) in _QUERY_NAMES)
        where = f"（{labelled}）" if labelled else ""
        return f"查询条件有误{where}：含有空字符（NUL），请删除后重试。"
    return f"查询条件有误{where}：日期须为 年-月-日，页码须为正整数，请修改后重试。"


#: Paths that are the machine API's: their errors stay problem+json whatever the client accepts.
_API_PATHS = ("/api/", "/schema", "/static/", "/health")
_ROUTING_DETAIL = {404: "页面或记录不存在。", 405: "这个地址只接受表单提交（刷新提交后的页面会来到这里）：请回到上一页重新操作。"}  # fmt: skip


def routing_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """An unknown page (404) or a form's address opened directly (405, e.g. reloading the page
    a failed save left) in a browser: the UI's error page, never raw JSON. The machine API's
    paths, and clients that do not ask for HTML, keep problem+json."""
    path = request.url.path
    wants_page = "text/html" in request.headers.get("accept", "")
    if path.startswith(_API_PATHS) or not wants_page or exc.status_code not in _ROUTING_DETAIL:
        return handle(request, exc)
    response = _template_response(request, exc.status_code, _ROUTING_DETAIL[exc.status_code])
    response.headers.update(getattr(exc, "headers", None) or {})  # a 405's Allow
    return response


def _template_response(request: Request[Any, Any, Any], status: int, detail: str) -> Response[Any]:
    heading = HEADINGS.get(status, "出错了")
    return render(
        request,
        "error.html",
        {"title": heading, "heading": heading, "detail": detail},
        status_code=status,
    )  # type: ignore[return-value]


async def _refuse_nul(request: Request[Any, Any, Any]) -> None:
    """NUL cannot be stored or compared as text (PostgreSQL refuses it: a 500 on whichever
    query or write it reached), so a filter, an address or a form field with one is refused
    before any page reads it: the filters' error page (400) or, for a form, the error page in
    place of the form (422; no browser types one)."""
    if (field := nul_in_parameters(request)) is not None:
        refuse_nul(field)
    content_type = request.headers.get("content-type", "")
    if request.method != "POST" or not content_type.startswith(_FORMS):
        return
    if (field := await nul_in_form(request)) is not None:
        raise InvalidInput(f"NUL characters are not allowed in {field!r}", field=field)


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _session_middleware(app: ASGIApp, config: CookieBackendConfig) -> SessionMiddleware[Any]:
    """Built when the route's stack is built: the router is deep-copied at registration and
    the cookie backend's cipher cannot be."""
    return SessionMiddleware(app=app, backend=ClientSideSessionBackend(config=config))


def ui_router(settings: Settings) -> Router:
    session = CookieBackendConfig(
        secret=derive_secret(settings, "session"),
        key=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        path="/",
        secure=settings.cookie_secure,
    )
    csrf = CSRFConfig(
        secret=derive_secret(settings, "csrf").hex(),
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_samesite="lax",
        cookie_httponly=True,
        cookie_secure=settings.cookie_secure,
    )
    return Router(
        path="/",
        route_handlers=[
            LoginPages,
            PartPages,
            ValidationPages,
            FeedbackPages,
            MarketPages,
            IndicatorPages,
            ImportPages,
            LaborRatePages,
            StandardHoursPages,
            ChannelPages,
            AuditPages,
            SynonymPages,
            PriceWordPages,
        ],
        middleware=[
            DefineMiddleware(_session_middleware, config=session),
            DefineMiddleware(CSRFMiddleware, config=csrf),
        ],
        exception_handlers={Exception: _error_page},
        before_request=_refuse_nul,
        request_class=HTMXRequest,
        include_in_schema=False,
    )
