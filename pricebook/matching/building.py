"""Building a `MatchIndex`: every name and alias reduced once to its cores, pinyin strings and
side; the cores and pinyin strings stored once however many parts share them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pricebook.matching.normalize import clean_text
from pricebook.matching.pinyin import initials, pinyin_full
from pricebook.matching.records import CatalogEntry, ParsedName
from pricebook.matching.sides import (
    AXES,
    Side,
    contradicts,
)

if TYPE_CHECKING:
    from pricebook.matching.index import MatchIndex

_SIDE_SUFFIX = re.compile(r"^(.+?)\(([左右前后上下内外中]+)\)$")


class IndexBuilder:
    """Adds entries to an index under construction. A large catalogue repeats the same names
    on every model: each text is parsed once, each core and pinyin string stored once."""

    def __init__(self, index: MatchIndex) -> None:
        self.index = index
        self.core_ids: dict[str, int] = {}
        self.py_ids: dict[str, int] = {}
        self.parse_cache: dict[str, ParsedName] = {}
        self.forms_cache: dict[tuple[str, Side], tuple[int, ...]] = {}

    def add(self, entry: CatalogEntry) -> None:
        index = self.index
        e = len(index.entries)
        index.entries.append(entry)
        index._by_part_id.setdefault(entry.part_id, e)
        index._by_code.setdefault(entry.part_code, e)
        forms = [entry.name, *entry.aliases]
        parsed = [self.parse(form) for form in forms]
        index._n_strings += len(forms)

        side = entry_side(parsed, self.parse(entry.position) if entry.position else None)
        index._entry_side.append(side)
        index._entry_assembly.append(entry.is_assembly or parsed[0].normalized.is_assembly)

        cids: dict[int, None] = {}
        pids: dict[int, None] = {}
        for form, p in zip(forms, parsed, strict=True):
            for core in (p.core, p.written_core, p.bare_core):
                if core:
                    cids[self.core_id(core)] = None
            pids.update(dict.fromkeys(self.pinyin_ids(form, p, side)))
        index._entry_cores.append(tuple(cids))
        index._entry_py.append(tuple(pids))
        index._register(e, entry)

    def core_id(self, core: str) -> int:
        cid = self.core_ids.get(core)
        if cid is None:
            cid = self.core_ids[core] = len(self.index._cores)
            self.index._cores.append(core)
            self.index._core_pinyin.append(pinyin_full(core))
        return cid

    def py_id(self, text: str) -> int:
        pid = self.py_ids.get(text)
        if pid is None:
            pid = self.py_ids[text] = len(self.index._py_strings)
            self.index._py_strings.append(text)
        return pid

    def parse(self, text: str) -> ParsedName:
        p = self.parse_cache.get(text)
        if p is None:
            p = self.parse_cache[text] = self.index._parse(text)  # the builder keeps its own memo
        return p

    def pinyin_ids(self, form: str, p: ParsedName, side: Side) -> tuple[int, ...]:
        ids = self.forms_cache.get((form, side))
        if ids is None:
            texts = sorted(t for t in pinyin_forms(form, p, side) if t)
            ids = tuple(
                dict.fromkeys(self.py_id(x) for t in texts for x in (initials(t), pinyin_full(t)))
            )
            self.forms_cache[(form, side)] = ids
        return ids


def pinyin_forms(form: str, p: ParsedName, side: Side) -> set[str]:
    """The texts whose pinyin a Latin-letter query is compared with: the name as written
    (with 总成), with a bracketed side moved in front (尾灯（外右）→ 外右尾灯), and the
    canonical core with and without the side in front (左前翼子板)."""
    written = re.sub(r"[\s()]", "", clean_text(form))
    texts = {written, re.sub(r"[\s()]", "", p.normalized.text), p.core, p.written_core}
    texts |= {side.label() + p.core, side.label() + p.written_core}
    m = _SIDE_SUFFIX.match(clean_text(form).replace(" ", ""))
    if m:
        texts.add(m.group(2) + m.group(1))
    return texts


def entry_side(parsed: Sequence[ParsedName], position: ParsedName | None) -> Side:
    """Where a part sits: its standard name says it; a position column or the aliases fill in
    what the name leaves open (an alias that contradicts it is ignored)."""
    side = parsed[0].side
    if position is not None:
        side = side.fill(position.side)
    for p in parsed[1:]:
        if not p.side.ambiguous and not contradicts(side, p.side):
            side = side.fill(p.side)
    return Side(**{a: getattr(side, a) for a in AXES})
