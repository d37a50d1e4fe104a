"""msgspec's decoding errors as a client can act on them: the field at fault and a hint.

msgspec says "Object missing required field `branch`" (no path: the field is the top level's),
"Invalid RFC3339 encoded date - at `$.date`", "Invalid enum value 'x' - at `$.shop.tier`". The
API answers each as `field` = the JSON path of the field itself (`branch`, `date`,
`shop.tier`, `lines[3].action`) and a message that says what was expected: the date format,
the allowed values of an enum-like field (read from the type it was decoded into), the
required field's name. Used by the validate body (`pricebook.estimates.decode_request`) and by
the API's one problem handler (Litestar's own query/path/body validation).
"""

from __future__ import annotations

import re

import msgspec

from pricebook.money import MAX_YUAN, MONEY_PATTERN

_AT = re.compile(r"\s*-\s*at `\$\.?(.*)`$")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]+)`")
_ENUM = re.compile(r"^Invalid (?:enum )?value (.+)$")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

DATE_HINT = "expected a date as YYYY-MM-DD"
MONEY_HINT = (
    f"expected yuan as plain digits with at most two decimals, at most {MAX_YUAN}, "
    'e.g. "1234.50" (no exponent, spaces, separators or full-width digits)'
)
DATETIME_HINT = "expected a date-time as YYYY-MM-DDTHH:MM:SS with an offset (+08:00) or Z"


def join(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name


def split(message: str) -> tuple[str | None, str]:
    """msgspec's message → (the JSON path it names, or None at the top level; the text)."""
    found = _AT.search(message)
    if found is None:
        return None, message
    return found.group(1), message[: found.start()]


def allowed_values(root: type[object], path: str) -> list[str] | None:
    """The values an enum-like field (a `Literal` or an `Enum`) at `path` of type `root`
    accepts, sorted; None when the path does not lead to one. Tagged unions are searched
    member by member (the first member with the field decides)."""
    steps = [name or None for name, _ in _STEP.findall(path)]
    try:
        info = msgspec.inspect.type_info(root)
    except (TypeError, ValueError):
        return None
    found = _walk(info, steps)
    if isinstance(found, msgspec.inspect.LiteralType):
        return sorted(str(v) for v in found.values)
    if isinstance(found, msgspec.inspect.EnumType):
        return sorted(str(m.value) for m in found.cls)
    return None


def _walk(info: msgspec.inspect.Type, steps: list[str | None]) -> msgspec.inspect.Type | None:
    ins = msgspec.inspect
    while isinstance(info, ins.Metadata):
        info = info.type
    if isinstance(info, ins.UnionType):
        tags = [
            m.tag
            for m in info.types
            if isinstance(m, ins.StructType) and m.tag_field is not None and steps == [m.tag_field]
        ]
        if tags:  # a tagged union's tag (`lines[0].type`): every member's
            return ins.LiteralType(tuple(tags))
        for member in info.types:
            found = _walk(member, steps)
            if found is not None:
                return found
        return None
    if not steps:
        return info
    step, rest = steps[0], steps[1:]
    if step is None:  # an index
        if isinstance(info, ins.ListType | ins.SetType | ins.FrozenSetType | ins.VarTupleType):
            return _walk(info.item_type, rest)
        return None
    if isinstance(info, ins.StructType | ins.DataclassType | ins.TypedDictType):
        for f in info.fields:
            if step in (f.name, f.encode_name):
                return _walk(f.type, rest)
    return None


def describe(
    message: str,
    root: type[object] | None = None,
    *,
    name: str | None = None,
    lookup: str | None = None,
    prefix: str = "",
) -> tuple[str | None, str]:
    """(field, message with a hint) for one msgspec validation message. `root` is the type the
    value was decoded into (it lists an enum's allowed values, found at `prefix` + the field,
    or at `lookup`); `name` is the field when the message names no path (a query parameter,
    whose message is about the parameter itself)."""
    path, text = split(message)
    text = text.rstrip(" -")
    field: str | None
    if found := _MISSING.match(text):
        field = join(path, found.group(1))
        return field, f"{field} is required"
    if found := _UNKNOWN.match(text):
        field = join(path, found.group(1))
        return field, f"{field} is not a known field"
    field = path if path is not None else name
    where = field or "the body"
    if "RFC3339 encoded datetime" in text:
        return field, f"{where}: {text}; {DATETIME_HINT}"
    if "RFC3339 encoded date" in text:
        return field, f"{where}: {text}; {DATE_HINT}"
    if MONEY_PATTERN in text.replace("\\\\", "\\"):
        return field, f"{where}: not an amount of yuan; {MONEY_HINT}"
    if (found := _ENUM.match(text)) and field and root is not None:
        values = allowed_values(root, lookup or prefix + field)
        if values:
            return field, f"{field}: {found.group(1)} is not one of {', '.join(values)}"
    return field, f"{field}: {text}" if field else text
