"""Security headers on every answer, added as the answer starts (a `before_send` hook, so that
404s, problem+json errors and static files get them too).

- Everywhere: `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`,
  `X-Frame-Options: DENY`.
- The staff UI and its static files: a `Content-Security-Policy` that allows only this origin's
  scripts, styles, images and forms, no inline script or style, no framing. The UI loads htmx
  and its stylesheet from /static/ui; htmx's own indicator <style> is turned off in base.html
  (`htmx-config`) and its rules live in pricebook.css.
- The JSON API: `default-src 'none'; frame-ancestors 'none'` (an answer is never a document).
- /schema (Swagger UI, which starts itself with an inline script): no CSP.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def policy_for(path: str) -> str | None:
    if path.startswith("/api/"):
        return API_CSP
    if path == "/schema" or path.startswith("/schema/"):
        return None
    return UI_CSP


async def security_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in COMMON.items():
        if name not in headers:
            headers[name] = value
    csp = policy_for(scope.get("path", ""))
    if csp is not None and "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = csp
