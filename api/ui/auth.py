"""Web UI login: an API key typed into a form, a session cookie, role guards.

The login form posts the key; `pricebook.keys.authenticate` checks it (SHA-256 lookup, constant
time comparison) and a server-side session starts (`pricebook.sessions`: a row holding the
SHA-256 of a random token). The cookie holds that token, the key's id and role — never the key.
It is Litestar's client-side cookie backend: encrypted and authenticated (AES-GCM) with a secret
from `Settings.session_secret` (random per process when empty), HttpOnly, SameSite=Lax, and
`Secure` when `Settings.cookie_secure`. Every request reads the session row with its key, so a
logout (which deletes the row) or a revoked key ends the session in every process at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from pricebook.keys import role_allows
from pricebook.sessions import session_key
from pricebook.settings import Settings

#: the lowest role that may use the web UI (estimate tools are software, not people).
UI_MIN_ROLE = "reviewer"
SESSION_COOKIE = "pricebook_session"
CSRF_COOKIE = "pricebook_csrf"
CSRF_HEADER = "x-csrftoken"
SESSION_MAX_AGE = 8 * 3600

ROLE_NAMES = {
    "estimate_tool": "定损工具",
    "reviewer": "核损人员",
    "pricing_staff": "报价人员",
    "admin": "管理员",
}


def derive_secret(settings: Settings, purpose: str) -> bytes:
    """32 bytes for `purpose` (session, csrf) from the configured secret, or random per process.

    Random secrets only suit one process: with several workers set PRICEBOOK_SESSION_SECRET."""
    if not settings.session_secret:
        return secrets.token_bytes(32)
    return hmac.new(settings.session_secret.encode(), purpose.encode(), hashlib.sha256).digest()


class NotLoggedIn(HTTPException):
    status_code = 401
    detail = "请先登录"


@dataclass(frozen=True, slots=True)
class User:
    key_id: int
    name: str
    role: str
    prefix: str

    @property
    def actor(self) -> str:
        """The audit log's actor, the same as for the JSON API with this key."""
        return f"api-key:{self.key_id}:{self.name}"

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    def can(self, role: str) -> bool:
        return role_allows(self.role, role)


async def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    """The logged-in user of this request (checked against the database), or None."""
    cached = connection.state.get("ui_user")
    if cached is not None:
        return cached
    data = connection.scope.get("session") or {}
    token = data.get("sid") if isinstance(data, dict) else None
    if not isinstance(token, str):
        return None
    async with connection.app.state.sessions() as session:
        row = await session.run_sync(session_key, token)
    if row is None or row.id != data.get("key_id") or row.role != data.get("role"):
        return None
    user = User(row.id, row.name, row.role, row.prefix)
    connection.state.ui_user = user
    return user


def login_required(role: str = UI_MIN_ROLE) -> Any:
    """Guard: a logged-in user with `role` or above (else a redirect to /login, or 403)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = await current_user(connection)
        if user is None:
            raise NotLoggedIn()
        if not user.can(role):
            raise PermissionDeniedException(
                f"需要「{ROLE_NAMES.get(role, role)}」或以上角色；当前登录的是{user.role_name}"
            )

    guard.__name__ = f"ui_requires_{role}"
    return guard


def login_url(path: str) -> str:
    return "/login?next=" + quote(path, safe="/")


def safe_next(value: str | None) -> str:
    """Only local paths: never redirect a login to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
