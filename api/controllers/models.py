from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get
from litestar.params import FromQuery, PathParameter, QueryParameter

from api.auth import require
from api.controllers import (
    CATALOGUE_CACHE,
    ITEM_ERRORS,
    READ_ERRORS,
    Limit,
    Offset,
    PathId,
    Text,
    read,
)
from api.schemas import Model, Page, VinLookup, to
from pricebook import catalog


class ModelController(Controller):
    path = "/models"
    tags = ["catalogue"]  # noqa: RUF012
    guards = [require("estimate_tool")]  # noqa: RUF012
    cache_control = CATALOGUE_CACHE

    @get("/", summary="Search vehicle models", responses=READ_ERRORS)
    async def search(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[
            Text,
            QueryParameter(
                description="words that must all appear: names, pinyin, initials (dzly = 大众朗逸), "
                "model or manufacturer codes"
            ),
        ] = "",
        brand: Annotated[Text, QueryParameter(description="brand code or name")] = "",
        year: Annotated[int | None, QueryParameter(ge=1900, le=2100)] = None,
        sort: FromQuery[Literal["name", "-name", "year", "-year", "code", "-code"]] = "name",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[Model]:
        page = await read(
            request,
            catalog.search_models,
            q=q,
            brand=brand,
            year=year,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return to(Page[Model], page)

    @get("/{model_id:int}", summary="One vehicle model", responses=ITEM_ERRORS)
    async def one(self, request: Request[Any, Any, Any], model_id: PathId) -> Model:
        return to(Model, await read(request, catalog.get_model, model_id))

    @get(
        "/by-vin/{vin:str}",
        summary="Candidate models for a VIN",
        description="The VIN is checked (17 characters, no I/O/Q, the check digit for Chinese "
        "VINs) and mapped to models by its WMI/VDS prefix, longest prefix first. 422 names the "
        "problem.",
        responses=READ_ERRORS,
    )
    async def by_vin(
        self,
        request: Request[Any, Any, Any],
        vin: Annotated[
            str,
            # documented (ISO 3779): another is the core's 422 saying why (`vin_problem`)
            PathParameter(max_length=64, schema_extra={"pattern": r"^[A-HJ-NPR-Z0-9]{17}$"}),
        ],
    ) -> VinLookup:
        return to(VinLookup, await read(request, catalog.models_by_vin, vin))
