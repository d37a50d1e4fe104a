"""Special channels (专项渠道) and their rate cards (费率卡): the list, a page per channel with
its cards, and the register, card and end forms (see `api.ui.labor` for what the labor pages
share)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import PathParameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from api.ui.common import run, shown_etag
from api.ui.labor import (
    CHANNEL_KIND_NAMES,
    END_FIELDS,
    STAFF,
    ListSetup,
    choice,
    end_args,
    export_page,
    form_values,
    list_page,
    number,
    query_params,
    refs,
    save,
    version_args,
)
from api.ui.versioned_pages import Code, KeyPages, KeyView
from pricebook import catalog, labor
from pricebook.errors import InvalidInput
from pricebook.io.importers import LABOR_KINDS

ChannelCode = Annotated[str, PathParameter(min_length=1, max_length=64)]


def _terms_text(card: labor.CardListing | None, kind: str) -> str:
    if card is None:
        return ""
    parts = []
    for t in card.terms:
        if t.kind != kind:
            continue
        if kind == "labor":
            how = (
                f"{t.rate} 元/工时" if t.rate is not None else f"标准工时费的 {t.pct_of_standard}%"
            )
            parts.append(f"{t.name} {how}")
        else:
            parts.append(f"{t.name} {t.price_type_name} 减 {t.discount_pct}%")
    return "；".join(parts)


CHANNELS = ListSetup(
    path="/channels",
    fetch=labor.list_channels,
    filters=("q", "kind", "branch", "price_type"),
    sorts=labor.CHANNEL_SORTS,
    columns=(
        ("渠道代码", lambda r: r.code),
        ("渠道名称", lambda r: r.name),
        ("类型", lambda r: CHANNEL_KIND_NAMES.get(r.kind, r.kind)),
        ("所属机构", lambda r: r.branch_name),
        ("费率卡生效", lambda r: r.card.valid_from if r.card else None),
        ("费率卡失效", lambda r: r.card.valid_to if r.card else None),
        ("工时条款", lambda r: _terms_text(r.card, "labor")),
        ("配件条款", lambda r: _terms_text(r.card, "parts")),
    ),
)
CHANNEL_CREATE = ("code", "name", "kind", "branch", "reason")
CARD_FIXED = ("valid_from", "valid_to", "reason", "etag")


def _card_form(raw: Mapping[str, Any], categories: list[tuple[str, str]]) -> dict[str, str]:
    """A card form's values: each labor kind's rate and percentage, each category's price
    type and discount, and the card's period, reason and ETag."""
    names = [*CARD_FIXED]
    for k in LABOR_KINDS:
        names += [f"labor_rate_{k}", f"labor_pct_{k}"]
    for code, _ in categories:
        names += [f"parts_type_{code}", f"parts_discount_{code}"]
    return form_values(raw, tuple(names))


def _card_lines(
    values: dict[str, str], categories: list[tuple[str, str]]
) -> tuple[list[labor.CardLaborLine], list[labor.CardPartsLine]]:
    labor_lines = []
    for k, name in LABOR_KINDS.items():
        rate, pct = values.get(f"labor_rate_{k}", ""), values.get(f"labor_pct_{k}", "")
        if rate and pct:
            raise InvalidInput(f"{name}：单价和标准工时费百分比只填一项", field=f"labor_rate_{k}")
        if rate:
            amount = number(rate, f"labor_rate_{k}", f"{name}工时单价", labor.MAX_RATE)
            labor_lines.append(labor.CardLaborLine(k, rate=amount))
        elif pct:
            share = number(pct, f"labor_pct_{k}", f"{name}百分比", Decimal("1000"))
            labor_lines.append(labor.CardLaborLine(k, pct_of_standard=share))
    parts_lines = []
    for code, name in categories:
        ptype, discount = (
            values.get(f"parts_type_{code}", ""),
            values.get(f"parts_discount_{code}", ""),
        )
        if not ptype and not discount:
            continue
        if not ptype:
            raise InvalidInput(f"{name}：请选择价格类型", field=f"parts_type_{code}")
        off = number(
            discount or "0",
            f"parts_discount_{code}",
            f"{name}折让百分比",
            Decimal("99.99"),
            zero=True,
        )
        parts_lines.append(labor.CardPartsLine(code, ptype, off))
    if not labor_lines and not parts_lines:
        raise InvalidInput("费率卡至少要有一项工时或配件条款", field="labor_rate_sheet_metal")
    return labor_lines, parts_lines


def _write_card(
    session: Session, code: str, values: dict[str, str], actor: str
) -> labor.LaborWrite:
    labor.get_channel(session, code)
    etag = shown_etag(values.get("etag"))
    categories = catalog.search_filters(session).categories
    labor_lines, parts_lines = _card_lines(values, categories)
    period = version_args(values, actor, etag)
    return labor.write_rate_card(session, code, labor=labor_lines, parts=parts_lines, **period)


def _end_card(session: Session, code: str, values: dict[str, str], actor: str) -> labor.LaborWrite:
    _, _, cards, _ = labor.channel_cards(session, code)
    etag = shown_etag(values.get("etag"))
    target, valid_to = end_args(values, cards)
    return labor.end_rate_card(
        session,
        target,
        valid_to=valid_to,
        actor=actor,
        reason=values["reason"],
        expected_etag=etag,
        channel=code,
    )


def _create_channel(session: Session, values: dict[str, str], actor: str) -> labor.ChannelInfo:
    if not values["code"]:
        raise InvalidInput("请填写渠道代码", field="code")
    if not values["name"]:
        raise InvalidInput("请填写渠道名称", field="name")
    kind = choice(values["kind"], CHANNEL_KIND_NAMES, "kind", "渠道类型")
    return labor.create_channel(
        session,
        code=values["code"],
        name=values["name"],
        kind=kind,
        branch=values["branch"] or None,
        actor=actor,
        reason=values["reason"],
    )


def _created(code: str) -> list[dict[str, str]]:
    if not code:
        return []
    return [
        {
            "kind": "ok",
            "text": f"已登记专项渠道 {code}",
            "link": f"/channels/{quote(code, safe='')}",
            "label": "添加费率卡",
        }
    ]


class ChannelPages(KeyPages):
    path = "/channels"
    title = "专项渠道"
    new_title = "登记专项渠道"
    new_template = "channel_new.html"
    key_template = "channel.html"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Template:
        params = query_params(request)
        messages = _created(params.pop("created", ""))
        return await list_page(
            request,
            state,
            CHANNELS,
            "channels.html",
            {"title": self.title, "nav": self.nav, "messages": messages},
            params,
        )

    @get(["/export.csv", "/export.xlsx"])
    async def export(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        return await export_page(request, state, CHANNELS, self.nav)

    @get("/new", guards=STAFF)
    async def new(self, request: Request[Any, Any, Any], state: State) -> Template:
        return await self._new_page(request, state, dict.fromkeys(CHANNEL_CREATE, ""))

    @post("/", guards=STAFF, status_code=303)
    async def create(self, request: Request[Any, Any, Any], state: State) -> Redirect | Template:
        values = form_values(await request.form(), CHANNEL_CREATE)
        values["code"] = values["code"][:64]
        return await save(
            request,
            state,
            _create_channel,
            (values,),
            form="create",
            again=partial(self._new_page, request, state),
            shown={"form": values},
            after=lambda info: f"/channels?{urlencode({'created': info.code})}",
        )

    @get("/{code:str}")
    async def detail(
        self, request: Request[Any, Any, Any], state: State, code: ChannelCode, done: Code = ""
    ) -> Template:
        return await self._detail(request, state, code, **self._saved(done))

    def _load(self, session: Session, code: str) -> KeyView:
        channel, branch_name, cards, etag = labor.channel_cards(session, code)
        facts = {
            **refs(session),
            "channel": channel,
            "branch_name": branch_name,
            "cards": cards,
            "etag": etag,
        }
        return KeyView(f"专项渠道 · {channel.name}", cards, facts)

    def _terms(self, current: labor.CardListing | None) -> dict[str, str]:
        """The card in force's terms: each labor kind's rate or percentage, each category's
        price type and discount."""
        terms: dict[str, str] = {}
        for t in current.terms if current is not None else ():
            if t.kind == "labor" and t.rate is not None:
                terms[f"labor_rate_{t.code}"] = str(t.rate)
            elif t.kind == "labor":
                terms[f"labor_pct_{t.code}"] = str(t.pct_of_standard)
            else:
                terms[f"parts_type_{t.code}"] = t.price_type
                terms[f"parts_discount_{t.code}"] = str(t.discount_pct)
        return terms

    @post("/{code:str}/cards", guards=STAFF, status_code=303)
    async def add_card(
        self, request: Request[Any, Any, Any], state: State, code: ChannelCode
    ) -> Redirect | Template:
        raw = await request.form()
        categories = (await run(state, catalog.search_filters)).categories
        values = _card_form(raw, categories)
        return await self._save(request, state, code, _write_card, values, "form", "edit")

    @post("/{code:str}/cards/end", guards=STAFF, status_code=303)
    async def end_card(
        self, request: Request[Any, Any, Any], state: State, code: ChannelCode
    ) -> Redirect | Template:
        values = form_values(await request.form(), END_FIELDS)
        return await self._save(request, state, code, _end_card, values, "end_form", "end")

    def _to_history(self, code: str, written: labor.LaborWrite) -> str:
        return f"{self.path}/{quote(code, safe='')}?done={written.action}#history"
