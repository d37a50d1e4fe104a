"""What the matching index takes and gives: catalogue entries, learned mappings and the
configuration it is built from; names as it reads them; candidates and results it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from pricebook.matching.normalize import Normalized, normalize
from pricebook.matching.sides import (
    Side,
)

Decision = Literal["matched", "suggested", "unmatched"]
Reason = Literal["oe_exact", "learned", "alias_exact", "fuzzy", "pinyin"]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One catalogue part as the matcher needs it (the loader builds these from the database)."""

    part_id: int
    part_code: str
    name: str
    aliases: tuple[str, ...] = ()
    #: Normalised OE numbers, current first, then superseded ones.
    oe_numbers: tuple[str, ...] = ()
    is_assembly: bool = False
    #: Models the part fits; empty means universal (fits every model).
    model_ids: frozenset[int] = frozenset()
    brand_ids: frozenset[int] = frozenset()
    category: str = ""
    #: The catalogue's position column (左前, 右 …), if it has one; read as a side.
    position: str = ""


@dataclass(frozen=True, slots=True)
class LearnedMapping:
    """A person's verdict on "custom name X is part Y", optionally scoped to a brand or model."""

    name_normalized: str  # `learned_key(name)`
    part_id: int
    brand_id: int | None = None
    model_id: int | None = None
    accepted: bool = True


class Attributes(msgspec.Struct, frozen=True, gc=False):
    quality: tuple[str, ...] = ()
    quantity: int | None = None
    unit: str | None = None
    assembly: bool = False
    #: What is to be done (更换, 修复), if the name said so.
    action: str | None = None
    #: The price type code the quality words stand for in the price type vocabulary (原厂件 →
    #: oem), if any.
    price_type: str | None = None


class Candidate(msgspec.Struct, frozen=True, gc=False):
    part_id: int
    part_code: str
    name: str
    score: float  # 0–100, after the structure term
    confidence: float  # 0–1
    reason: Reason


class MatchResult(msgspec.Struct, frozen=True, gc=False):
    """A name's answer. This and what it holds are ``gc=False`` (values only, no cycle can
    pass through them): the index keeps many in its memo between requests, which the garbage
    collector then never walks (`pricebook.review.refs` says why that matters)."""

    query: str
    decision: Decision
    reason: Reason | None
    side: Side
    attributes: Attributes
    candidates: tuple[Candidate, ...] = ()

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass(frozen=True, slots=True)
class IndexSize:
    entries: int
    strings: int  # names + aliases indexed
    cores: int  # distinct cores scored
    pinyin_strings: int
    oe_numbers: int
    approx_bytes: int


@dataclass(frozen=True, slots=True)
class MemoStats:
    """An index's memo of answers since the index was built: whether its bound fits the
    names and models a process sees (a high `dropped` with few `hits` says it is too small)."""

    entries: int
    limit: int
    hits: int
    misses: int
    dropped: int


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Tunable numbers; the defaults are the ones chosen by the evaluation."""

    #: Character scorer on cores.
    scorer: str = "ratio"
    #: Weight of the pinyin-of-core score (homophone typos); 0 turns it off.
    pinyin_weight: float = 0.92
    #: Pinyin similarity below this is ignored.
    pinyin_min: float = 75.0
    side_agree_bonus: float = 2.0
    #: Candidate names a side the query does not.
    side_candidate_only_penalty: float = 3.0
    #: Query names a side the candidate does not.
    side_query_only_penalty: float = 2.0
    #: A side written inside the query's name (保险杠下支架) and the candidate's differs.
    side_hint_penalty: float = 4.0
    #: The query matched only once its bracketed note was dropped.
    note_dropped_penalty: float = 4.0
    #: The query matched only once a character typed twice was typed once.
    doubled_penalty: float = 1.0
    assembly_bonus: float = 3.0
    assembly_missing_penalty: float = 3.0
    assembly_unasked_penalty: float = 1.5
    #: Cores scored per query before expanding to parts.
    core_limit: int = 40
    #: Below this a core is not a candidate at all.
    floor: float = 45.0
    suggest_threshold: float = 60.0
    auto_accept_threshold: float = 88.0
    auto_accept_margin: float = 6.0


@dataclass(frozen=True, slots=True)
class ParsedName:
    """A name reduced for matching."""

    normalized: Normalized
    canonical: str  # after synonyms, spaces kept
    side: Side
    core: str  # no side words, no spaces
    core_pinyin: str
    #: The core before synonyms (叶子板 stays 叶子板): typos are typos of the word written.
    written_core: str
    written_pinyin: str
    #: Side characters inside the core (保险杠下支架): a tie-breaker, never a filter.
    hint: Side
    #: The core without bracketed notes (挡风玻璃 for 前挡风玻璃(带雨量传感器)); "" if none.
    bare_core: str


def learned_key(name: str) -> str:
    """The key a learned mapping is stored under: the normalised name without spaces.

    Quality and quantity words do not count (原厂 左前叶子板 x1 = 左前叶子板); the side does.
    """
    return normalize(name).compact
