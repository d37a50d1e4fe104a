"""The OpenAPI document as the server enforces it.

Litestar generates the document from the handlers; `finish` then adds what it cannot see,
reading the same handlers and types the server runs:

- request bodies: every JSON body's schema is msgspec's own for the Struct the body is decoded
  into (`msgspec.json.schema_components`), so the document refuses what the decoder refuses:
  `additionalProperties: false` for the closed objects (`forbid_unknown_fields`), patterns and
  bounds, a line union discriminated by `type`. A handler that reads its body itself names the
  type in `opt["request_body"]` (POST /api/v1/estimates/validate);
- `If-Match`, a required header on the operations whose handler takes the required `if_match`
  (`api.controllers.required_if_match`, 428 without it);
- query and path parameters: the bounds Litestar leaves out (`ge=0` of an optional integer),
  and no NUL in any text (`api.controllers.check_request` refuses it: 400);
- examples (`api.examples`, the same as docs/api-examples.md) on the operations they show;
- the pages' names: Litestar names `Page[Part]` `Page_api.schemas.Part_`; the document names it
  `PartPage`, as it did before the pages were one generic type (`_rename_pages`).

The finished document is what /schema/openapi.json serves and what the Swagger page embeds
(`SpecJson`, `SpecSwagger`); it is built once per application.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.routes import HTTPRoute

from api import examples
from api.controllers import body_type, required_if_match

#: what `check_request` lets through in a query or path parameter
NO_NUL = r"^[^\x00]*$"
REF = "#/components/schemas/{name}"
_ETAG = r'(W/)?"[^"\x00-\x20\x7f]*"'
_ETAGS = rf"^{_ETAG}( *, *{_ETAG})*$"
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": "The ETag from the GET of the key's versions (its `ETag` header or `etag`): "
    "428 without it (or with `*`), 412 when the key has changed since.",
    # entity-tags (RFC 9110 §8.8.3); `*` is refused (428), one not current is 412
    "schema": {"type": "string", "minLength": 1, "pattern": _ETAGS},
}
#: a Decimal in a request body: msgspec reads a JSON number or a decimal string (its own
#: schema says only `format: decimal`, which generators fill with any text); the core then
#: holds it to its places and bounds (422 naming the field)
DECIMAL = [{"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,4})?$"}, {"type": "number"}]
_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
#: a generic page's title as Litestar writes it, e.g. `Page[Part]`
_PAGE_TITLE = re.compile(r"^Page\[(.+)\]$")
#: a page's name when it is not its item's name + `Page`
PAGE_NAMES = {
    "HistoryRow": "HistoryPage",
    "ChannelListing": "ChannelPage",
    "AuditEntry": "AuditPage",
    "UnmatchedListing": "UnmatchedPage",
    "dict[str, Any]": "ValidationPage",
}


def _body_type(handler: HTTPRouteHandler) -> type | None:
    """The Struct a handler's JSON body is decoded into, None for none (or a form upload); a
    handler that reads its body itself names it in `opt["request_body"]`."""
    declared: type | None = handler.opt.get("request_body")
    return declared or body_type(handler)


def requires_if_match(handler: HTTPRouteHandler) -> bool:
    """Whether the handler takes `if_match` from `required_if_match` (not the optional one)."""
    if "if_match" not in handler.parsed_fn_signature.parameters:
        return False
    provide = handler.resolve_dependencies().get("if_match")
    return provide is not None and provide.dependency is required_if_match


def _operations(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                if method != "OPTIONS" and handler.resolve_include_in_schema():
                    found.append((route.path_format, method.lower(), handler))
    return found


def _strings(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The string schemas of a parameter's schema: itself, or its arms (`oneOf` with null)."""
    arms = schema.get("oneOf") or schema.get("anyOf")
    if arms:
        return [a for s in arms for a in _strings(s)]
    kind = schema.get("type")
    return [schema] if kind == "string" or (isinstance(kind, list) and "string" in kind) else []


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """Every schema object inside `schema`, itself included."""
    if isinstance(schema, list):
        return [n for item in schema for n in _nodes(item)]
    if not isinstance(schema, dict):
        return []
    return [schema, *(n for value in schema.values() for n in _nodes(value))]


def _refused_default(schema: dict[str, Any]) -> bool:
    """A default of "" the schema itself refuses (`minLength` ≥ 1): the decoder fills it in,
    the core then refuses it (422), so for a client the field is required."""
    return schema.get("default") == "" and schema.get("minLength", 0) >= 1


def _finish_body(component: dict[str, Any]) -> None:
    for node in _nodes(component):
        if node.get("type") == "string" and node.get("format") == "decimal":
            del node["type"], node["format"]
            node["anyOf"] = copy.deepcopy(DECIMAL)
    for name, field in component.get("properties", {}).items():
        if _refused_default(field):
            del field["default"]
            component.setdefault("required", []).append(name)


def _component(node: dict[str, Any]) -> str | None:
    """The component a schema node refers to (its `$ref`), or None."""
    ref = node.get("$ref")
    prefix = REF.format(name="")
    return ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None


def _refuse_nul_in_bodies(spec: dict[str, Any]) -> None:
    """Every text of every request body, JSON or form, refuses NUL: /api/v1 refuses a body,
    JSON or form, with NUL anywhere (`controllers.nul_in_json`, `controllers.nul_in_form`)."""
    components: dict[str, Any] = spec["components"]["schemas"]
    seen: set[str] = set()
    todo: list[Any] = [
        operation.get("requestBody")
        for methods in spec["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict)
    ]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            if (name := _component(node)) is not None:
                if name not in seen:
                    seen.add(name)
                    todo.append(components.get(name))
            elif node.get("type") == "string" and not node.keys() & {"enum", "const", "format"}:
                node.setdefault("pattern", NO_NUL)
            else:
                todo.extend(node.values())


def _finish_parameters(operation: dict[str, Any], handler: HTTPRouteHandler) -> None:
    declared = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        spelt = getattr(kwarg, "query", None) or getattr(kwarg, "header", None) or name
        declared[spelt] = kwarg
    for parameter in operation.get("parameters") or []:
        schema = parameter.get("schema", {})
        if parameter["in"] in ("query", "path"):
            for string in _strings(schema):
                if "enum" not in string and "format" not in string:
                    string.setdefault("pattern", NO_NUL)
        if _refused_default(schema):
            del schema["default"]
            parameter["required"] = True
        kwarg = declared.get(parameter["name"])
        for bound, keyword in _BOUNDS.items():
            value = getattr(kwarg, bound, None)
            if value is not None:
                schema[keyword] = value


def _rename_refs(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _rename_refs(item, names)
    elif isinstance(node, dict):
        if (name := _component(node)) is not None:
            node["$ref"] = REF.format(name=names.get(name, name))
        for value in node.values():
            _rename_refs(value, names)


def _rename_pages(spec: dict[str, Any]) -> None:
    """Each `Page[X]` component as `XPage` (or its name in `PAGE_NAMES`), title and references
    included."""
    schemas: dict[str, Any] = spec["components"]["schemas"]
    names = {}
    for key, schema in schemas.items():
        if match := _PAGE_TITLE.match(schema.get("title", "")):
            item = match.group(1)
            names[key] = schema["title"] = PAGE_NAMES.get(item, f"{item}Page")
    spec["components"]["schemas"] = {names.get(k, k): v for k, v in schemas.items()}
    _rename_refs(spec["paths"], names)
    _rename_refs(spec["components"], names)


def finish(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(generated)
    _rename_pages(spec)
    bodies: dict[tuple[str, str], type] = {}
    for path, method, handler in _operations(app):
        operation = spec["paths"].get(path, {}).get(method)
        if operation is None:
            continue
        _finish_parameters(operation, handler)
        if requires_if_match(handler):
            operation["parameters"] = [*(operation.get("parameters") or []), dict(IF_MATCH)]
        if (body := _body_type(handler)) is not None:
            bodies[(path, method)] = body
    types = sorted(set(bodies.values()), key=lambda t: t.__name__)
    refs, components = msgspec.json.schema_components(types, ref_template=REF)
    for component in components.values():
        _finish_body(component)
    spec["components"]["schemas"].update(components)
    ref_of = dict(zip(types, refs, strict=True))
    for (path, method), body in bodies.items():
        operation = spec["paths"][path][method]
        request_body = operation.get("requestBody") or {"required": True}
        request_body["content"] = {"application/json": {"schema": ref_of[body]}}
        operation["requestBody"] = request_body
    _refuse_nul_in_bodies(spec)
    for example in examples.load():
        example.attach(spec["paths"][example.path][example.method.lower()])
    spec["components"]["schemas"] = dict(sorted(spec["components"]["schemas"].items()))
    return spec


def finished(request: Request[Any, Any, Any], generated: dict[str, Any]) -> dict[str, Any]:
    """The finished document of the request's application, built at its first request."""
    state = request.app.state
    done: dict[str, Any] | None = state.get("openapi_finished")
    if done is None:
        done = state.openapi_finished = finish(request.app, generated)
    return done


class SpecJson(JsonRenderPlugin):
    """/schema/openapi.json: the finished document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, finished(request, openapi_schema))


class SpecSwagger(SwaggerRenderPlugin):
    """The Swagger page, which embeds the document: the finished one."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, finished(request, openapi_schema))
