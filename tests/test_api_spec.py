"""The OpenAPI document says what the server enforces (issue 18): validate's body, If-Match on
the writes that require it, closed request objects, money patterns, parameter bounds and no
NUL, and OPTIONS answers listing every method of a path."""

from __future__ import annotations

import json
import re

import pytest
from litestar.routes import HTTPRoute

from api.app import create_app
from api.spec import NO_NUL
from pricebook import migrate
from pricebook.db import make_engine
from pricebook.money import MONEY_PATTERN
from pricebook.settings import Settings
from tests.api_client import Api

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def spec_and_app(tmp_path_factory):
    from litestar.testing import TestClient

    db = tmp_path_factory.mktemp("spec") / "x.db"
    settings = Settings(database_url=f"sqlite:///{db}")
    engine = make_engine(settings)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    with TestClient(app) as client:
        spec = client.get("/schema/openapi.json").json()
        page = client.get("/schema")
    assert page.status_code == 200 and "EstimateRequest" in page.text  # Swagger embeds it too
    return spec, app


@pytest.fixture(scope="module")
def spec(spec_and_app):
    return spec_and_app[0]


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_validate_declares_its_body_with_the_line_union_discriminated_by_type(spec):
    body = spec["paths"]["/api/v1/estimates/validate"]["post"]["requestBody"]
    assert body["required"] is True
    estimate = resolve(spec, body["content"]["application/json"]["schema"])
    assert {"estimate_id", "version", "date", "branch", "vehicle", "lines"} <= set(
        estimate["required"]
    )
    lines = estimate["properties"]["lines"]["items"]
    assert lines["discriminator"]["propertyName"] == "type"
    assert set(lines["discriminator"]["mapping"]) == {"part", "labor", "consumable", "rescue"}
    part = resolve(spec, {"$ref": lines["discriminator"]["mapping"]["part"]})
    assert part["properties"]["type"]["enum"] == ["part"]
    assert part["properties"]["claimed_unit_price"]["anyOf"][0]["pattern"] == MONEY_PATTERN


def _if_match_handlers(app) -> set[tuple[str, str]]:
    """(path, method) of every handler that takes a required `if_match` (428 without)."""
    found = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                parameter = handler.parsed_fn_signature.parameters.get("if_match")
                if parameter is not None and not parameter.is_optional:
                    found.add((route.path_format, method.lower()))
    return found


def test_if_match_is_a_required_header_on_exactly_the_operations_that_enforce_it(spec_and_app):
    spec, app = spec_and_app
    declared = set()
    for path, method, operation in operations(spec):
        for parameter in operation.get("parameters") or []:
            if parameter["name"] == "If-Match":
                assert parameter["in"] == "header" and parameter["required"] is True
                assert "ETag from the GET" in parameter["description"]
                declared.add((path, method))
    enforced = _if_match_handlers(app)
    assert len(enforced) == 14  # 12, and the price type vocabulary's PUT and DELETE
    assert declared == enforced
    # feedback accept takes an optional If-Match: not declared as required
    assert ("/api/v1/feedback/{item_id}/accept", "post") not in declared


def test_every_request_body_is_closed_as_the_server_closes_it(spec):
    bodies = 0
    for path, method, operation in operations(spec):
        content = (operation.get("requestBody") or {}).get("content", {})
        if "application/json" not in content:
            continue
        bodies += 1
        schema = resolve(spec, content["application/json"]["schema"])
        assert schema.get("additionalProperties") is False, (method, path)
    assert bodies >= 20
    for name in ("VehicleIn", "ShopIn", "PartLineIn", "NewCardLaborLine", "ResolveItem"):
        assert spec["components"]["schemas"][name]["additionalProperties"] is False


async def test_an_unknown_body_field_is_refused(api: Api):
    r = await api.client.post(
        "/api/v1/prices/resolve", json={"items": [{"part_id": 1}], "colour": 1}, headers=api.h()
    )
    assert r.status_code == 400 and r.json()["field"] == "colour"


def test_money_fields_document_the_pattern_and_length(spec):
    schemas = spec["components"]["schemas"]
    for name, field in [("NewPrice", "amount"), ("NewLaborRate", "rate"),
                        ("RescueLineIn", "claimed_fee"), ("ConsumableLineIn", "unit_price")]:  # fmt: skip
        money = schemas[name]["properties"][field]
        assert money["pattern"] == MONEY_PATTERN and money["maxLength"] == 40, (name, field)


async def test_a_money_field_against_the_pattern_is_still_a_422_with_a_hint(api: Api):
    """The pattern is documentation: the server's answer stays parse_money's 422 naming the
    field, not a decoder 400."""
    body = {"part_id": 1, "scope": "system", "price_type": "4s", "amount": "1e3",
            "valid_from": "2031-01-01", "reason": "r"}  # fmt: skip
    r = await api.client.post(
        "/api/v1/prices/versions", json=body, headers=api.h("pricing_staff", **{"If-Match": '"x"'})
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["field"] == "amount"


def test_parameters_say_their_bounds_and_refuse_nul(spec):
    feedback = {p["name"]: p for p in spec["paths"]["/api/v1/feedback"]["get"]["parameters"]}
    for name in ("min_age_days", "max_age_days"):
        assert feedback[name]["schema"]["minimum"] == 0
        assert feedback[name]["schema"]["maximum"] == 3650
    for path, method, operation in operations(spec):
        for parameter in operation.get("parameters") or []:
            schema = parameter["schema"]
            strings = [s for s in schema.get("oneOf", [schema]) if s.get("type") == "string"]
            if parameter["in"] in ("query", "path"):
                for string in strings:
                    if "enum" not in string and "format" not in string:
                        label = (method, path, parameter["name"])
                        assert not re.search(string["pattern"], "a\x00b"), label
    parts = {p["name"]: p for p in spec["paths"]["/api/v1/parts"]["get"]["parameters"]}
    assert parts["q"]["schema"]["pattern"] == NO_NUL
    assert re.fullmatch(parts["q"]["schema"]["pattern"], "翼子板")
    assert not re.fullmatch(parts["q"]["schema"]["pattern"], "a\x00b")


async def test_nul_and_a_negative_age_are_refused_as_declared(api: Api):
    r = await api.get("/api/v1/parts?q=a%00b")
    assert r.status_code == 400 and r.json()["field"] == "q"
    r = await api.get("/api/v1/feedback?min_age_days=-1", role="reviewer")
    assert r.status_code == 400 and r.json()["field"] == "min_age_days"


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("/api/v1/prices/resolve", "GET, OPTIONS, POST"),
        ("/api/v1/keys", "GET, OPTIONS, POST"),
        ("/api/v1/prices/versions", "GET, OPTIONS, POST"),
        ("/api/v1/channels/CH-SHOP1/rate-cards", "GET, OPTIONS, POST"),
        ("/api/v1/parts/1/aliases", "GET, OPTIONS, POST"),
        ("/api/v1/feedback", "GET, OPTIONS, POST"),
        ("/api/v1/estimates/validate", "OPTIONS, POST"),
        ("/health", "GET, OPTIONS"),
    ],
)
async def test_options_allows_every_method_of_the_path(api: Api, url, allow):
    r = await api.client.options(url, headers=api.h("admin"))
    assert r.status_code == 204 and r.headers["allow"] == allow


def test_options_agrees_with_the_document_on_every_path(spec_and_app):
    spec, app = spec_and_app
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path_format in spec["paths"]:
            documented = {m.upper() for m in spec["paths"][route.path_format]} & {
                "GET", "POST", "PUT", "PATCH", "DELETE"
            }  # fmt: skip
            assert documented == set(route.methods) - {"OPTIONS", "HEAD"}, route.path


def test_a_reason_the_core_requires_is_required_in_the_document(spec):
    schemas = spec["components"]["schemas"]
    for name in ("NewPrice", "EndValidity", "NewChannel", "NewTerm", "Decision"):
        assert "reason" in schemas[name]["required"], name
        assert "default" not in schemas[name]["properties"]["reason"]
    # accepting feedback has a reason of its own when none is given
    assert "reason" not in schemas["AcceptFeedback"].get("required", [])
    delete = spec["paths"]["/api/v1/parts/{part_id}/aliases/{alias}"]["delete"]
    reason = next(p for p in delete["parameters"] if p["name"] == "reason")
    assert reason["required"] is True and reason["schema"]["minLength"] == 1


async def test_a_blank_reason_is_still_the_cores_422_and_nul_a_400(api: Api):
    staff = api.h("pricing_staff")
    body = {"code": "X", "name": "n", "kind": "repair_shop", "reason": "  "}
    r = await api.client.post("/api/v1/channels", json=body, headers=staff)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = await api.client.post("/api/v1/channels", json={**body, "reason": "a\x00"}, headers=staff)
    assert r.status_code == 400 and r.json()["field"] == "reason"


def test_decimals_in_bodies_are_numbers_or_decimal_strings(spec):
    hours = spec["components"]["schemas"]["NewStandardHours"]["properties"]["hours"]
    assert [arm["type"] for arm in hours["anyOf"]] == ["string", "number"]
    assert re.fullmatch(hours["anyOf"][0]["pattern"], "2.5")


def test_validate_documents_a_new_and_a_stored_answer(spec):
    responses = spec["paths"]["/api/v1/estimates/validate"]["post"]["responses"]
    assert {"200", "201", "400", "413", "422"} <= set(responses)


@pytest.mark.parametrize("field", ["name", "part_code", "brand", "reason"])
async def test_nul_in_a_confirmation_is_a_400_not_a_500(api: Api, field):
    """Found by schemathesis on PostgreSQL: a part_code with NUL reached the database (500)."""
    body = {"name": "左前叶子板", "accepted": False, "part_code": "VW1-0001", field: "t\x00x"}
    r = await api.client.post("/api/v1/match/confirmations", json=body, headers=api.h("admin"))
    assert r.status_code == 400 and r.json()["field"] == field, r.text


def _body_schemas(spec: dict) -> list[dict]:
    """Every schema object a request body of the document may use, references followed."""
    components = spec["components"]["schemas"]
    seen: set[str] = set()
    found: list[dict] = []
    todo = [
        media["schema"]
        for _, _, operation in operations(spec)
        for media in (operation.get("requestBody") or {}).get("content", {}).values()
    ]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    todo.append(components[name])
                continue
            found.append(node)
            todo.extend(node.values())
    return found


def test_every_free_text_in_a_request_body_refuses_nul_in_the_document(spec):
    """The server refuses a body with NUL anywhere (400); the document says so for each text
    field, so that a client (and schemathesis) does not take such a body for valid."""
    strings = [
        s
        for s in _body_schemas(spec)
        if s.get("type") == "string" and not s.keys() & {"enum", "const", "format"}
    ]
    assert len(strings) > 50
    assert [s for s in strings if re.search(s.get("pattern", ""), "a\x00b")] == []
    vehicle = spec["components"]["schemas"]["VehicleIn"]["properties"]
    assert vehicle["vin"]["pattern"] == NO_NUL


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("vehicle.vin", lambda b: b["vehicle"].update(vin="LSV\x00")),
        ("vehicle.brand", lambda b: b["vehicle"].update(brand="大\x00众", model_id=None)),
        ("shop.channel_code", lambda b: b["shop"].update(channel_code="C\x00")),
        ("lines[0].oe_number", lambda b: b["lines"][0].update(oe_number="5G0\x00807")),
        ("lines[1].kind", lambda b: b["lines"][1].update(kind="pa\x00int")),
        ("lines[0].custom_name", lambda b: b["lines"][0].update(custom_name="前\x00杠")),
    ],
)
async def test_nul_anywhere_in_an_estimate_is_a_400_naming_the_field(api: Api, field, where):
    """Found by schemathesis on PostgreSQL: a VIN with NUL reached the database (500), as did a
    brand, a channel code, an OE number and a consumable's kind; the estimate's body is read
    by its handler, not Litestar, so no field pattern stood in the way."""
    body = {
        "estimate_id": "NUL-1",
        "version": 1,
        "date": "2025-09-10",
        "branch": "SZ01",
        "vehicle": {"model_id": 1, "vin": "LSVAB4BR5PN000099"},
        "shop": {"tier": "class1"},
        "lines": [
            {"type": "part", "custom_name": "前保险杠", "claimed_unit_price": "100"},
            {
                "type": "consumable",
                "kind": "paint",
                "unit": "L",
                "quantity": "1",
                "unit_price": "9",
            },
        ],
    }
    where(body)
    r = await api.client.post(
        "/api/v1/estimates/validate", json=body, headers=api.h("estimate_tool")
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["field"] == field
    assert "NUL" in r.json()["detail"]


async def test_nul_in_an_import_reason_is_a_400_naming_it(api: Api):
    """Found with the estimate's NUL 500s: the form's `reason` reached the audit log (500 on
    PostgreSQL); a reason without NUL still applies the import."""
    csv = "canonical,term\n后视镜,测试词\n"
    for reason, status in (("a\x00b", 400), ("a reason", 200)):
        r = await api.client.post(
            "/api/v1/imports/synonyms?dry_run=false",
            files={"file": ("s.csv", csv, "text/csv")},
            data={"reason": reason},
            headers=api.h("admin"),
        )
        assert r.status_code == status, r.text
    r = await api.client.post(
        "/api/v1/imports/synonyms?dry_run=false",
        files={"file": ("s.csv", csv, "text/csv")},
        data={"reason": "x\x00"},
        headers=api.h("admin"),
    )
    assert r.json()["field"] == "reason" and "NUL" in r.json()["detail"]


async def test_nul_in_an_import_file_name_is_a_400_naming_the_field(api: Api):
    """/api/v1's check reads a form's fields as it reads a JSON body's: a NUL in the file's
    name was a 500 on both backends; it is a 400 naming the `file` field."""
    # written by hand: httpx escapes a NUL in a file name as %00; a client need not
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="s\x00.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        + "canonical,term\n后视镜,测试词\n".encode()
        + b"\r\n--b\r\n"
        b'Content-Disposition: form-data; name="reason"\r\n\r\n'
        b"a reason\r\n--b--\r\n"
    )
    r = await api.client.post(
        "/api/v1/imports/synonyms?dry_run=false",
        content=body,
        headers={**api.h("admin"), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "file" and "NUL" in r.json()["detail"]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "multipart/mixed"],
)
async def test_a_json_body_labelled_as_a_form_is_checked_as_the_json_it_is(
    api: Api, content_type: str
):
    """The estimate's handler reads its body as JSON whatever the Content-Type says: labelled
    as a form, a VIN with NUL passed the JSON check and reached the database (500 on
    PostgreSQL; stored on SQLite). The check now goes by what the route reads."""
    body = {
        "estimate_id": "LABEL-1",
        "version": 1,
        "date": "2025-09-10",
        "branch": "SZ01",
        "vehicle": {"model_id": 1, "vin": "LSV\x00"},
        "lines": [{"type": "part", "custom_name": "前保险杠", "claimed_unit_price": "100"}],
    }
    r = await api.client.post(
        "/api/v1/estimates/validate",
        content=json.dumps(body).encode(),
        headers={**api.h(), "Content-Type": content_type},
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "vehicle.vin"
    deep = await api.client.post(
        "/api/v1/prices/resolve",
        content=b"[" * 10_000,
        headers={**api.h(), "Content-Type": content_type},
    )
    assert deep.status_code == 400 and deep.json()["field"] == "body", deep.text


async def test_a_form_field_the_route_does_not_read_is_not_checked_for_nul(api: Api):
    """Found by schemathesis: a field the import does not declare (a name or a value with NUL)
    is dropped unread and the document does not forbid it, so it is no reason for a 400; the
    declared `reason` still is."""
    csv = "canonical,term\n后视镜,测试词\n"
    for extra in ({"note": "a\x00"}, {}):
        r = await api.client.post(
            "/api/v1/imports/synonyms?dry_run=true",
            files={"file": ("s.csv", csv, "text/csv")},
            data={"reason": "a reason", **extra},
            headers=api.h("admin"),
        )
        assert r.status_code == 200, (extra, r.text)
    r = await api.client.post(
        "/api/v1/imports/synonyms?dry_run=true",
        files={"file": ("s.csv", csv, "text/csv")},
        data={"reason": "a\x00", "note": "a\x00"},
        headers=api.h("admin"),
    )
    assert r.status_code == 400 and r.json()["field"] == "reason", r.text


async def test_nul_in_a_batch_items_code_is_a_400_naming_it(api: Api):
    """Codes in bodies (branch, price type, channel …) carry no pattern of their own: the body's
    NUL check names them, and the document still gives them the NUL-refusing pattern."""
    body = {"items": [{"part_id": 1}, {"part_id": 1, "branch": "SZ\x0001"}]}
    r = await api.client.post("/api/v1/prices/resolve", json=body, headers=api.h("estimate_tool"))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "items[1].branch"
