"""Market sources are data: one TOML file per source in this directory.

Pricing staff add a source by adding a file; no code. ``load_source`` reads and validates one
file into a :class:`Source`; every error names the file and the field. The format (HTML and
JSON sources, annotated) is documented in ``docs/market-sources.md``.

Selectors:

- ``kind = "html"``: every selector is ``css:EXPR`` or ``xpath:EXPR``. Field selectors are
  applied inside one item (row/card); all matching text nodes are joined with single spaces.
- ``kind = "json"``: selectors are dotted paths (``data.list``, ``price.value``, ``items.0``),
  optionally prefixed ``json:``; ``item`` points at the list of items, fields are relative to one
  item.

``{base}`` in ``start_urls`` is replaced by the ``base_url`` argument (used by the test fixture
market, and handy to point a source at a staging mirror).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "FIELD_NAMES",
    "PRICE_UNITS",
    "Pagination",
    "Selector",
    "Source",
    "SourceError",
    "builtin_sources",
    "find_source",
    "list_sources",
    "load_source",
    "parse_source",
]

#: ``link`` (the listing's own page), ``item_id`` (the source's id of the listing) and ``seller``
#: keep listings with the same title from several sellers apart (`pricebook.market.listing_key`).
FIELD_NAMES = (
    "name",
    "oe_number",
    "brand",
    "price",
    "price_type",
    "region",
    "link",
    "item_id",
    "seller",
)
REQUIRED_FIELDS = ("name", "price")
PRICE_UNITS = ("元", "万元")
KINDS = ("html", "json")
# Built-in price type codes (docs/import-formats.md); staff may add more, so any slug is accepted.
KNOWN_PRICE_TYPES = ("4s", "oem", "brand", "compatible", "reman", "salvage")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_REGION_RE = re.compile(r"^(CN|\d{6})$")
_SLUG_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9.-]+$")
_JSON_PATH_RE = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")

_TOP_KEYS = {
    "name",
    "title",
    "kind",
    "start_urls",
    "allowed_domains",
    "region",
    "price_type",
    "price_unit",
    "price_preference",
    "price_type_words",
    "max_pages",
    "item",
    "pagination",
    "fields",
    "headers",
    "notes",
}
_PAGINATION_KEYS = {"next", "page_param", "last_page"}


class SourceError(ValueError):
    """A source file is missing, unreadable or invalid. ``errors`` lists every problem."""

    def __init__(self, origin: str, errors: list[str]):
        self.origin = origin
        self.errors = errors
        super().__init__(f"{origin}: " + "; ".join(errors))


@dataclass(frozen=True, slots=True)
class Selector:
    """A CSS, XPath or JSON-path selector, as written in the source file."""

    kind: Literal["css", "xpath", "json"]
    expr: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.expr}"


@dataclass(frozen=True, slots=True)
class Pagination:
    """How to reach the next page.

    HTML: ``next`` selects the next page's link (href). JSON: ``next`` is a path to the next
    page's URL or page number (null/empty/false ends the crawl); ``page_param`` is the query
    parameter that carries page numbers. With only ``page_param`` the page number is incremented
    until a page has no items.

    ``last_page`` reads the number of pages the site declares (HTML: the largest number in the
    texts it selects, e.g. the pager's page links; JSON: a path to a number). A crawl that
    stops before that page (or ``max_pages``) says so in its run record and is suspicious.
    """

    next: Selector | None = None
    page_param: str | None = None
    last_page: Selector | None = None


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    kind: Literal["html", "json"]
    start_urls: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    region: str
    item: Selector
    fields: dict[str, Selector]
    title: str = ""
    price_type: str | None = None
    price_unit: str = "元"
    #: labels in the order this source's two-price texts are decided (`price_text`).
    price_preference: tuple[str, ...] = ()
    #: this site's own words for price types (word → code); they win over the vocabulary
    price_type_words: dict[str, str] = field(default_factory=dict)
    max_pages: int = 50
    pagination: Pagination = field(default_factory=Pagination)
    headers: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # the file it was loaded from


def builtin_sources() -> Traversable:
    """The source files shipped with Pricebook (a directory, or a folder inside an egg/zip
    when deployed to Scrapyd, hence Traversable rather than Path)."""
    return resources.files(__name__)


def list_sources(extra_dir: str | Path | None = None) -> dict[str, Traversable]:
    """Source name (file name without .toml) -> file; ``extra_dir`` overrides built-ins."""
    found: dict[str, Traversable] = {}
    dirs: list[Traversable] = [builtin_sources()]
    if extra_dir:
        dirs.append(Path(extra_dir))
    for directory in dirs:
        entries = sorted(directory.iterdir(), key=lambda e: e.name)
        for entry in entries:
            if entry.name.endswith(".toml") and entry.is_file():
                found[entry.name.removesuffix(".toml")] = entry
    return found


def find_source(name: str, extra_dir: str | Path | None = None) -> Traversable:
    sources = list_sources(extra_dir)
    try:
        return sources[name]
    except KeyError:
        known = ", ".join(sorted(sources)) or "none"
        raise SourceError(name, [f"no source named {name!r} (known: {known})"]) from None


def load_source(path: str | Path | Traversable, *, base_url: str | None = None) -> Source:
    """Read and validate a source file. Raises :class:`SourceError` naming each bad field."""
    if isinstance(path, str):
        path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(str(path), [f"cannot read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(str(path), [f"invalid TOML: {exc}"]) from None
    return parse_source(raw, origin=str(path), base_url=base_url)


def parse_source(
    raw: dict[str, Any],
    *,
    origin: str = "<source>",
    base_url: str | None = None,
) -> Source:
    """Validate a source given as a dict (the parsed TOML)."""
    errors: list[str] = []

    def err(key: str, message: str) -> None:
        errors.append(f"field '{key}': {message}")

    for key in sorted(set(raw) - _TOP_KEYS):
        err(key, "unknown field (typo?)")

    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        err("name", "required; lowercase letters, digits and '_', starting with a letter")
        name = ""

    kind = raw.get("kind")
    if kind not in KINDS:
        err("kind", f"required; one of {', '.join(KINDS)}")
        kind = "html"

    title = raw.get("title", "")
    if not isinstance(title, str):
        err("title", "must be a string")
        title = ""

    start_urls = _start_urls(raw.get("start_urls"), base_url, err)
    allowed_domains = _allowed_domains(raw.get("allowed_domains"), start_urls, err)

    region = raw.get("region")
    if not isinstance(region, str) or not _REGION_RE.match(region):
        err("region", 'required; a 6-digit administrative region code (e.g. "440300") or CN')
        region = ""

    price_type = raw.get("price_type")
    if price_type is not None and (
        not isinstance(price_type, str) or not _SLUG_RE.match(price_type)
    ):
        err("price_type", f"a price type code such as {', '.join(KNOWN_PRICE_TYPES)}")
        price_type = None

    price_unit = raw.get("price_unit", "元")
    if price_unit not in PRICE_UNITS:
        err("price_unit", f"one of {', '.join(PRICE_UNITS)}")
        price_unit = "元"

    price_preference = _price_preference(raw.get("price_preference"), err)

    price_type_words = raw.get("price_type_words", {})
    if not isinstance(price_type_words, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and _SLUG_RE.match(v)
        for k, v in price_type_words.items()
    ):
        err(
            "price_type_words",
            'a table of word = price type code, e.g. "原厂件" = "4s" (codes: '
            f"{', '.join(KNOWN_PRICE_TYPES)} or one staff added)",
        )
        price_type_words = {}

    max_pages = raw.get("max_pages", 50)
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        err("max_pages", "a positive integer")
        max_pages = 50

    item = _selector(raw.get("item"), kind, "item", err, required=True)

    fields_raw = raw.get("fields")
    fields: dict[str, Selector] = {}
    if not isinstance(fields_raw, dict):
        err("fields", "required table with at least 'name' and 'price'")
    else:
        for key in sorted(set(fields_raw) - set(FIELD_NAMES)):
            err(f"fields.{key}", f"unknown field; known: {', '.join(FIELD_NAMES)}")
        for key in FIELD_NAMES:
            if key in fields_raw or key in REQUIRED_FIELDS:
                sel = _selector(
                    fields_raw.get(key), kind, f"fields.{key}", err, required=key in REQUIRED_FIELDS
                )
                if sel is not None:
                    fields[key] = sel

    pagination = _pagination(raw.get("pagination"), kind, err)

    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        err("headers", "a table of string header values")
        headers = {}

    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        err("notes", "must be a string")

    if errors:
        raise SourceError(origin, errors)
    assert item is not None
    return Source(
        name=name,
        kind=kind,
        title=title,
        start_urls=tuple(start_urls),
        allowed_domains=tuple(allowed_domains),
        region=region,
        price_type=price_type,
        price_unit=price_unit,
        price_preference=price_preference,
        price_type_words=dict(price_type_words),
        max_pages=max_pages,
        item=item,
        fields=fields,
        pagination=pagination,
        headers=dict(headers),
        origin=origin,
    )


def _price_preference(value: Any, err: Any) -> tuple[str, ...]:
    """Price labels (现价, 会员价, 含税价 … or any word that writes one, e.g. VIP价) →
    their canonical labels, in order."""
    from pricebook.market.price_text import PRICE_LABELS

    if value is None:
        return ()
    known = {word: label for label, words in PRICE_LABELS.items() for word in (label, *words)}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        err("price_preference", 'a list of price labels, e.g. ["现价", "会员价", "含税价"]')
        return ()
    labels = []
    for i, word in enumerate(value):
        label = known.get(word.strip().lower())
        if label is None:
            err(
                f"price_preference[{i}]",
                f"{word!r} is not a price label; known: {', '.join(PRICE_LABELS)}",
            )
        else:
            labels.append(label)
    return tuple(dict.fromkeys(labels))


def _start_urls(value: Any, base_url: str | None, err: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(u, str) for u in value):
        err("start_urls", "required; a non-empty list of URLs")
        return []
    if base_url is not None:
        base = base_url.rstrip("/")
        if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).hostname:
            err("start_urls", f"base_url {base_url!r} is not an http(s) URL")
            return []
        value = [u.replace("{base}", base) for u in value]
    urls = []
    for i, url in enumerate(value):
        if "{base}" in url:
            err(f"start_urls[{i}]", "contains {base}: pass base_url (spider argument -a base_url=)")
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            err(f"start_urls[{i}]", f"{url!r} is not an http(s) URL")
            continue
        urls.append(url)
    return urls


def _allowed_domains(value: Any, start_urls: list[str], err: Any) -> list[str]:
    if value is None:
        # Default: the hosts of the start URLs (ports are not part of a domain).
        return sorted({urlsplit(u).hostname or "" for u in start_urls} - {""})
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        err("allowed_domains", "a list of domain names")
        return []
    domains = []
    for i, domain in enumerate(value):
        if not _DOMAIN_RE.match(domain):
            err(
                f"allowed_domains[{i}]",
                f"{domain!r} must be a bare domain (no scheme, port or path)",
            )
        else:
            domains.append(domain.lower())
    return domains


def _selector(
    value: Any, kind: str, key: str, err: Any, *, required: bool = False
) -> Selector | None:
    if value is None or value == "":
        if required:
            err(key, "required selector")
        return None
    if not isinstance(value, str):
        err(key, "a selector string")
        return None
    value = value.strip()
    if kind == "json":
        expr = value.removeprefix("json:").strip()
        if not _JSON_PATH_RE.match(expr):
            err(key, f"{value!r} is not a dotted JSON path (e.g. data.list or price.value)")
            return None
        return Selector("json", expr)
    prefix, sep, expr = value.partition(":")
    expr = expr.strip()
    if not sep or prefix not in ("css", "xpath"):
        err(key, f"{value!r} must start with 'css:' or 'xpath:'")
        return None
    if not expr:
        err(key, "empty selector")
        return None
    problem = _compile_problem(prefix, expr)
    if problem:
        err(key, f"invalid {prefix.upper()} {expr!r}: {problem}")
        return None
    return Selector(prefix, expr)  # type: ignore[arg-type]


def _compile_problem(kind: str, expr: str) -> str | None:
    from lxml import etree
    from parsel.csstranslator import HTMLTranslator

    try:
        xpath = HTMLTranslator().css_to_xpath(expr) if kind == "css" else expr
        etree.XPath(xpath)
    except Exception as exc:  # cssselect and lxml raise several error types
        return str(exc) or type(exc).__name__
    return None


def _pagination(value: Any, kind: str, err: Any) -> Pagination:
    if value is None:
        return Pagination()
    if not isinstance(value, dict):
        err("pagination", "a table")
        return Pagination()
    for key in sorted(set(value) - _PAGINATION_KEYS):
        err(f"pagination.{key}", f"unknown field; known: {', '.join(sorted(_PAGINATION_KEYS))}")
    next_sel = _selector(value.get("next"), kind, "pagination.next", err)
    last_page = _selector(value.get("last_page"), kind, "pagination.last_page", err)
    page_param = value.get("page_param")
    if page_param is not None:
        if kind != "json":
            err("pagination.page_param", "only for json sources (html follows the next link)")
            page_param = None
        elif not isinstance(page_param, str) or not page_param:
            err("pagination.page_param", 'a query parameter name, e.g. "page"')
            page_param = None
    return Pagination(next=next_sel, page_param=page_param, last_page=last_page)
