"""Log in with an API key, log out."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from api.ui.auth import (
    ROLE_NAMES,
    SESSION_MAX_AGE,
    UI_MIN_ROLE,
    current_user,
    login_required,
    safe_next,
)
from api.ui.common import render, run, text, write
from pricebook.keys import authenticate, role_allows
from pricebook.sessions import end_session, start_session


class LoginPages(Controller):
    path = "/"

    @get("/", guards=[login_required()])
    async def home(self) -> Redirect:
        return Redirect("/parts")

    @get("/login")
    async def login_form(
        self,
        request: Request[Any, Any, Any],
        next_: Annotated[str, QueryParameter(name="next", max_length=500)] = "/",
    ) -> Template | Redirect:
        if await current_user(request) is not None:
            return Redirect(safe_next(next_))
        return render(request, "login.html", {"title": "登录", "next": safe_next(next_)})

    @post("/login", status_code=303)
    async def login(self, request: Request[Any, Any, Any], state: State) -> Template | Redirect:
        form = await request.form()
        key = text(form, "api_key", 200)
        next_ = safe_next(text(form, "next"))
        info = await run(state, authenticate, key) if key else None
        error = None
        if info is None:
            error = "API 密钥无效或已吊销。"
        elif not role_allows(info.role, UI_MIN_ROLE):
            error = (
                f"{ROLE_NAMES.get(info.role, info.role)}密钥不能登录网页端（需要核损人员或以上）。"
            )
        if error is not None:
            return render(
                request,
                "login.html",
                {"title": "登录", "next": next_, "error": error},
                status_code=401,
            )
        assert info is not None
        token = await write(state, start_session, info.id, max_age=SESSION_MAX_AGE)
        request.set_session({"sid": token, "key_id": info.id, "role": info.role})
        return Redirect(next_, status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        """Ends the session in the database too: a copy of the cookie no longer works."""
        data = request.scope.get("session") or {}
        token = data.get("sid") if isinstance(data, dict) else None
        if isinstance(token, str):
            await write(state, end_session, token)
        request.clear_session()
        return Redirect("/login", status_code=303)
