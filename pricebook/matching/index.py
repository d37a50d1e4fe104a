"""The in-memory matching index: custom part names → catalogue parts, side-safe.

How a name is matched, in order (the first step that decides, wins):

1. **OE number** (reason ``oe_exact``): any token of the query that, normalised, equals a
   current or superseded OE number of a part.
2. **Learned mapping** (reason ``learned``): a person confirmed "this name is that part" — for
   the model, else the brand, else everywhere. Rejections remove the part from the candidates.
3. **Scoring** (reasons ``alias_exact``, ``fuzzy``, ``pinyin``) over the blocked candidate set:
   the parts fitting the vehicle model (plus universal parts); if nothing scores well there, the
   brand's parts; then the whole catalogue.

Every name and alias of the catalogue is reduced, once, at build time, to a *core*: normalised
(`normalize`), synonyms rewritten to their canonical word (`SynonymTable`), side words taken out
(`parse_side`). 左前翼子板, 前叶子板（左）and 叶子板左前 share the core 翼子板 and the side 左前.
Cores are deduplicated — a large catalogue repeats the same few thousand names across thousands
of models — so scoring runs over distinct cores and is mapped back to parts afterwards.

Scorer choice, measured with `evaluate` on ``tests/data/match_eval.csv`` (884 generated adjuster
names over the demo catalogue; top-1 / false auto-accepts among auto-accepted / side errors):

====================================  ======  =========  ====
``fuzz.ratio`` + pinyin + structure    99.5%   0          0     ← chosen
``token_set_ratio`` (same otherwise)   99.5%   0          0
``WRatio``                             98.4%   0.50%      0
``partial_ratio``                      80.5%   6.97%      9
ratio without the pinyin term          97.5%   0          1
ratio without the structure term       98.5%   0          0
====================================  ======  =========  ====

* ``fuzz.ratio`` (normalised Indel similarity) on the core. Chinese names have no spaces, so
  ``token_set_ratio`` sees one token and equals ``ratio`` at a higher cost; ``WRatio`` and
  ``partial_ratio`` reward a short core found inside a longer one (门 in 门皮, 大灯 in 大灯支架),
  ranking containers over the part meant — that is where their false auto-accepts come from.
* plus the same ratio on the core's full pinyin (weight 0.92, ignored below 75): most typos
  made with a pinyin input method are homophones (翌子板, 尾概, 倒车竟), which character scoring
  punishes hard and pinyin scoring not at all.
* plus a small structure term: agreeing sides earn a bonus; a side only one of the two names,
  a small penalty; 总成 asked and the part is (not) an assembly, a bonus (penalty); 总成 not
  asked, a slight preference for the part sold on its own. A contradicting side is not a
  penalty: the candidate is removed (the hard rule).

Without the catalogue's aliases (standard names + ``synonyms.tsv`` only) the same set scores
about 91% top-1 with 0.4% false auto-accepts: the colloquial dictionary carries most of it.

Names as typed on a pinyin input method (`variants`: two or three of homophone typos, a missing
or doubled character, spaces, traditional characters, sides written other ways, abbreviations,
quality / action / quantity words per name; ``pricebook match-eval --typed``), tuning / held-out
halves of the demo catalogue, top-1 / top-3 / false auto-accepts / side errors:

==============================================  ===============================  ==============
step (measured on the tuning half)              tuning (833)                     held-out (879)
==============================================  ===============================  ==============
before                                          95.3% / 96.4% / 0 / 0            96.6% / 97.5%
                                                                                 / 0.18% / 3
spaces between characters dropped, action       100% / 100% / 0 / 0
words out, 总成 by (fuzzy) pinyin, ``Rx2``
a doubled character also scored typed once      100% / 100% / 0 / 0 (auto-       100% / 100%
                                                accepted 92.1% → 94.2%)          / 0 / 0
==============================================  ===============================  ==============

The homophone part of it is the pinyin term above; a missing character costs half a substituted
one under Indel already. Tuning halves of other seeds (16 variants a name) gave the doubled
character and ``Rx2`` to fix; the held-out half was run only for the figures.

rapidfuzz's ``process.cdist`` needs NumPy, which is not a dependency of this project, so each
query is scored with ``process.extract`` (C loop over the block's distinct cores,
``processor=None``, ``score_cutoff``) — the same vectorised inner loop, one query at a time.
Cores are shared by many parts, so parts are grouped per core by (side, assembly) and each
group is scored once. On a synthetic 195,000-part / 1.1M-string catalogue (the demo repeated,
so only ~430 distinct cores: a real catalogue has more, and will be slower) the build takes
~10 s and matching ~2,000 names/s on one core once the block is cached (the first query
against a block builds it: ~2 s for the whole catalogue). Blocks are cached per model/brand.
"""

from __future__ import annotations

import copy
import itertools
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from pricebook.matching.normalize import Normalized, clean_text, normalize, normalize_oe
from pricebook.matching.pinyin import initials, is_pinyin_query, pinyin_full
from pricebook.matching.sides import (
    AXES,
    Side,
    contradicts,
    drop_bracket_notes,
    parse_side,
    side_hints,
)
from pricebook.matching.synonyms import SynonymTable, default_synonym_groups

__all__ = [
    "Attributes",
    "Candidate",
    "CatalogEntry",
    "IndexSize",
    "LearnedMapping",
    "MatchConfig",
    "MatchIndex",
    "MatchResult",
    "ParsedName",
    "learned_key",
]

Decision = Literal["matched", "suggested", "unmatched"]
Reason = Literal["oe_exact", "learned", "alias_exact", "fuzzy", "pinyin"]


# --- public data ------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Attributes:
    quality: tuple[str, ...] = ()
    quantity: int | None = None
    unit: str | None = None
    assembly: bool = False
    #: What is to be done (更换, 修复), if the name said so.
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    part_id: int
    part_code: str
    name: str
    score: float  # 0–100, after the structure term
    confidence: float  # 0–1
    reason: Reason


@dataclass(frozen=True, slots=True)
class MatchResult:
    query: str
    decision: Decision
    reason: Reason | None
    side: Side
    attributes: Attributes
    candidates: list[Candidate] = field(default_factory=list)

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


_ResultFn = Callable[[Decision, "Reason | None", "list[Candidate]"], "MatchResult"]

# --- internals --------------------------------------------------------------------------------

_SCORERS = {
    "ratio": fuzz.ratio,
    "wratio": fuzz.WRatio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
    "qratio": fuzz.QRatio,
}

# Parts looked at beyond top_k: enough to see the runner-up and a same-name part on another side.
_EXTRA = 5
_SIDE_SUFFIX = re.compile(r"^(.+?)\(([左右前后上下内外中]+)\)$")
_DOUBLED = re.compile(r"([\u3400-\u9fff])\1+")
_OE_TOKEN = re.compile(r"[0-9a-z][0-9a-z\-./ ]{3,}[0-9a-z]", re.IGNORECASE)


@dataclass(slots=True)
class _Block:
    """A candidate set: the distinct cores / pinyin strings its parts carry, and for each the
    parts, grouped by what the structure term looks at (side, assembly): every part of a group
    scores the same, so a core shared by thousands of parts costs one score per group."""

    core_ids: list[int]
    cores: list[str]
    core_pinyin: list[str]
    core_groups: list[list[tuple[Side, bool, list[int]]]]  # parallel to core_ids
    #: the block's parts, sorted: the pinyin lists below are made from them on first use (few
    #: queries are Latin letters, and these lists cost most of a block's construction)
    members: list[int]
    py_strings: list[str] | None = None
    py_members: list[list[int]] | None = None  # parallel to py_strings


@dataclass(slots=True)
class _Scored:
    entry: int
    score: float
    raw: float  # before the structure term
    reason: Reason
    core_id: int  # the core that scored best (-1 for pinyin strings)


# Calibration knots: score shown → probability that the first candidate is right. Measured on
# the evaluation set (top-1 correct: 100% of 60–75, 91% of 75–88, 99.7% of ≥ 88) and then
# lowered, because generated names are easier than real ones; interpolated linearly.
_CALIBRATION: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (45.0, 0.05),
    (60.0, 0.4),
    (75.0, 0.75),
    (88.0, 0.93),
    (100.0, 0.99),
)


def _calibrate(score: float, margin: float) -> float:
    knots = _CALIBRATION
    base = knots[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if score <= x1:
            base = y0 + (y1 - y0) * (max(score, x0) - x0) / (x1 - x0)
            break
    # An unclear winner (runner-up within a few points) is a coin toss between them.
    spread = min(1.0, 0.5 + margin / 20.0)
    return round(max(0.0, min(1.0, base * spread)), 3)


#: how many answers a MatchIndex remembers (about 2 KB each)
_MEMO_SIZE = 10_000


class MatchIndex:
    """Build once from the catalogue (`build`), then `match` any number of names."""

    def __init__(self) -> None:  # use build()
        self.config = MatchConfig()
        self.synonyms = SynonymTable([])
        self.entries: list[CatalogEntry] = []
        self._entry_side: list[Side] = []
        self._entry_assembly: list[bool] = []
        self._by_part_id: dict[int, int] = {}
        self._by_code: dict[str, int] = {}
        self._cores: list[str] = []
        self._core_pinyin: list[str] = []
        self._entry_cores: list[tuple[int, ...]] = []
        self._py_strings: list[str] = []
        self._entry_py: list[tuple[int, ...]] = []
        self._oe: dict[str, list[int]] = {}
        self._model_entries: dict[int, list[int]] = {}
        self._brand_entries: dict[int, list[int]] = {}
        self._universal: list[int] = []
        self._model_brand: dict[int, int] = {}
        self._blocks: dict[tuple[str, int | None], _Block] = {}
        self._learned_accept: dict[tuple[str, str, int | None], int] = {}
        self._learned_reject: dict[str, list[LearnedMapping]] = {}
        # Answers already given, per (name, model, brand, top_k): adjusters type the same few
        # thousand names over and over, and the index never changes (a new catalogue or new
        # learned mappings make a new index, with an empty memo). Results are shared: read-only.
        self._memo: dict[tuple[str, int | None, int | None, int], MatchResult] = {}
        self._n_strings = 0

    # --- building -----------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        entries: Iterable[CatalogEntry],
        synonym_groups: Sequence[Sequence[str]] | None = None,
        learned: Iterable[LearnedMapping] = (),
        *,
        model_brands: Mapping[int, int] | None = None,
        config: MatchConfig | None = None,
    ) -> MatchIndex:
        """Index ``entries``. ``synonym_groups`` default to the shipped ``synonyms.tsv``;
        ``model_brands`` (model id → brand id) lets `match` widen from a model to its brand."""
        self = cls()
        self.config = config or MatchConfig()
        self.synonyms = SynonymTable(
            default_synonym_groups() if synonym_groups is None else synonym_groups
        )
        self._model_brand = dict(model_brands or {})
        core_ids: dict[str, int] = {}
        py_ids: dict[str, int] = {}

        def core_id(core: str) -> int:
            cid = core_ids.get(core)
            if cid is None:
                cid = core_ids[core] = len(self._cores)
                self._cores.append(core)
                self._core_pinyin.append(pinyin_full(core))
            return cid

        def py_id(text: str) -> int:
            pid = py_ids.get(text)
            if pid is None:
                pid = py_ids[text] = len(self._py_strings)
                self._py_strings.append(text)
            return pid

        # A large catalogue repeats the same names on every model: parse each text once.
        parse_cache: dict[str, ParsedName] = {}
        forms_cache: dict[tuple[str, Side], tuple[int, ...]] = {}

        def parse(text: str) -> ParsedName:
            p = parse_cache.get(text)
            if p is None:
                p = parse_cache[text] = self.parse(text)
            return p

        def pinyin_ids(form: str, p: ParsedName, side: Side) -> tuple[int, ...]:
            ids = forms_cache.get((form, side))
            if ids is None:
                texts = sorted(t for t in self._pinyin_forms(form, p, side) if t)
                ids = tuple(
                    dict.fromkeys(py_id(x) for t in texts for x in (initials(t), pinyin_full(t)))
                )
                forms_cache[(form, side)] = ids
            return ids

        for entry in entries:
            e = len(self.entries)
            self.entries.append(entry)
            self._by_part_id.setdefault(entry.part_id, e)
            self._by_code.setdefault(entry.part_code, e)
            forms = [entry.name, *entry.aliases]
            parsed = [parse(form) for form in forms]
            self._n_strings += len(forms)

            side = _entry_side(parsed, parse(entry.position) if entry.position else None)
            self._entry_side.append(side)
            self._entry_assembly.append(entry.is_assembly or parsed[0].normalized.is_assembly)

            cids: dict[int, None] = {}
            pids: dict[int, None] = {}
            for form, p in zip(forms, parsed, strict=True):
                for core in (p.core, p.written_core, p.bare_core):
                    if core:
                        cids[core_id(core)] = None
                pids.update(dict.fromkeys(pinyin_ids(form, p, side)))
            self._entry_cores.append(tuple(cids))
            self._entry_py.append(tuple(pids))

            self._register(e, entry)

        self._set_learned(learned)
        return self

    def _register(self, e: int, entry: CatalogEntry) -> None:
        """Where `match` finds entry `e` besides its names: OE numbers, models (or universal)
        and brands."""
        for oe in entry.oe_numbers:
            key = normalize_oe(oe)
            if key:
                self._oe.setdefault(key, []).append(e)
        if entry.model_ids:
            for m in entry.model_ids:
                self._model_entries.setdefault(m, []).append(e)
        else:
            self._universal.append(e)
        for b in entry.brand_ids:
            self._brand_entries.setdefault(b, []).append(e)

    @staticmethod
    def _pinyin_forms(form: str, p: ParsedName, side: Side) -> set[str]:
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

    def forget_answers(self) -> None:
        """Empty the memo of answers given (benchmarks time the matching, not the memo)."""
        self._memo = {}

    def with_learned(self, learned: Iterable[LearnedMapping]) -> MatchIndex:
        """A copy sharing everything but the learned mappings (cheap: no re-indexing)."""
        other = copy.copy(self)
        other._set_learned(learned)
        return other

    def _set_learned(self, learned: Iterable[LearnedMapping]) -> None:
        self._memo = {}
        self._learned_accept = {}
        self._learned_reject = defaultdict(list)
        for m in learned:
            key = learned_key(m.name_normalized)
            if m.accepted:
                if m.model_id is not None:
                    scope: tuple[str, str, int | None] = (key, "model", m.model_id)
                elif m.brand_id is not None:
                    scope = (key, "brand", m.brand_id)
                else:
                    scope = (key, "global", None)
                self._learned_accept[scope] = m.part_id
            else:
                self._learned_reject[key].append(m)

    # --- reading names ------------------------------------------------------------------------

    def parse(self, name: str) -> ParsedName:
        """Reduce a name as the index does: normalise, rewrite synonyms, take out the side."""
        normalized = normalize(name)
        canonical = self.synonyms.canonicalize(normalized.text)
        side, core = parse_side(canonical)
        written = core if canonical == normalized.text else parse_side(normalized.text)[1]
        return ParsedName(
            normalized,
            canonical,
            side,
            core,
            pinyin_full(core),
            written,
            pinyin_full(written),
            side_hints(core),
            parse_side(drop_bracket_notes(canonical))[1] if "(" in canonical else "",
        )

    # --- size ---------------------------------------------------------------------------------

    @property
    def size(self) -> IndexSize:
        def strings(items: Iterable[str]) -> int:
            return sum(sys.getsizeof(s) for s in items)

        def lists(items: Iterable[tuple[int, ...]]) -> int:
            # list object + one pointer per item; small ints are shared.
            return sum(sys.getsizeof(x) for x in items)

        approx = (
            strings(self._cores)
            + strings(self._core_pinyin)
            + strings(self._py_strings)
            + lists(self._entry_cores)
            + lists(self._entry_py)
            + sys.getsizeof(self._oe)
            + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in self._oe.items())
            + len(self.entries) * (sys.getsizeof(Side()) + 64)  # side + per-entry overhead
        )
        return IndexSize(
            entries=len(self.entries),
            strings=self._n_strings,
            cores=len(self._cores),
            pinyin_strings=len(self._py_strings),
            oe_numbers=len(self._oe),
            approx_bytes=approx,
        )

    # --- blocking -----------------------------------------------------------------------------

    def _levels(self, model_id: int | None, brand_id: int | None) -> list[tuple[str, int | None]]:
        levels: list[tuple[str, int | None]] = []
        if model_id is not None and model_id in self._model_entries:
            levels.append(("model", model_id))
        if brand_id is None and model_id is not None:
            brand_id = self._model_brand.get(model_id)
        if brand_id is not None and brand_id in self._brand_entries:
            levels.append(("brand", brand_id))
        levels.append(("all", None))
        return levels

    def warm(self) -> None:
        """Build the whole-catalogue block now (the first query against it would otherwise pay
        for it: seconds on a large catalogue). Model and brand blocks are small and stay lazy."""
        self._block(("all", None))

    def _block(self, level: tuple[str, int | None]) -> _Block:
        block = self._blocks.get(level)
        if block is not None:
            return block
        kind, key = level
        if kind == "model":
            members = [*self._model_entries.get(key or 0, []), *self._universal]
        elif kind == "brand":
            members = [*self._brand_entries.get(key or 0, []), *self._universal]
        else:
            members = list(range(len(self.entries)))
        groups: dict[int, dict[tuple[Side, bool], list[int]]] = {}
        members = sorted(set(members))
        for e in members:
            sig = (self._entry_side[e], self._entry_assembly[e])
            for c in self._entry_cores[e]:
                groups.setdefault(c, {}).setdefault(sig, []).append(e)
        core_ids = sorted(groups)
        block = _Block(
            core_ids=core_ids,
            cores=[self._cores[c] for c in core_ids],
            core_pinyin=[self._core_pinyin[c] for c in core_ids],
            core_groups=[[(sd, asm, es) for (sd, asm), es in groups[c].items()] for c in core_ids],
            members=members,
        )
        if kind == "all":
            self._block_pinyin(block)
        self._blocks[level] = block
        return block

    def _block_pinyin(self, block: _Block) -> tuple[list[str], list[list[int]]]:
        """The block's pinyin strings and, for each, its parts (made once, on first use; two
        threads may both make them — the same lists, either assignment is right)."""
        if block.py_strings is None or block.py_members is None:
            py_members: dict[int, list[int]] = {}
            for e in block.members:
                for p in self._entry_py[e]:
                    py_members.setdefault(p, []).append(e)
            py_ids = sorted(py_members)
            block.py_members = [py_members[p] for p in py_ids]
            block.py_strings = [self._py_strings[p] for p in py_ids]
        return block.py_strings, block.py_members

    # --- matching -----------------------------------------------------------------------------

    def match(
        self,
        names: Sequence[str],
        model_id: int | None = None,
        brand_id: int | None = None,
        top_k: int = 5,
    ) -> list[MatchResult]:
        """Match each name; results in input order."""
        memo = self._memo
        levels: list[tuple[str, int | None]] | None = None
        scope_brand = brand_id if brand_id is not None else self._model_brand.get(model_id or -1)
        out = []
        for name in names:
            key = (name, model_id, brand_id, top_k)
            result = memo.get(key)
            if result is None:
                if levels is None:
                    levels = self._levels(model_id, brand_id)
                result = self._match_one(name, levels, model_id, scope_brand, top_k)
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()  # crude, but a full memo is rare and rebuilding it is cheap
                memo[key] = result
            out.append(result)
        return out

    def _match_one(
        self,
        name: str,
        levels: list[tuple[str, int | None]],
        model_id: int | None,
        brand_id: int | None,
        top_k: int,
    ) -> MatchResult:
        q = self.parse(name)
        attrs = Attributes(
            quality=q.normalized.quality,
            quantity=q.normalized.quantity,
            unit=q.normalized.unit,
            assembly=q.normalized.is_assembly,
            action=q.normalized.action,
        )

        def result(
            decision: Decision, reason: Reason | None, cands: list[Candidate]
        ) -> MatchResult:
            return MatchResult(name, decision, reason, q.side, attrs, cands[:top_k])

        rejected = self._rejected(q, model_id, brand_id)

        # 1. OE numbers.
        oe_hits = [e for e in self._oe_hits(name) if self._allowed(e, q.side, rejected)]
        if oe_hits:
            fitting = [
                e
                for e in oe_hits
                if model_id is None
                or not self.entries[e].model_ids
                or model_id in self.entries[e].model_ids
            ]
            fitting = fitting or oe_hits
            cands = [self._candidate(e, 100.0, 1.0, "oe_exact") for e in fitting]
            return result("matched" if len(fitting) == 1 else "suggested", "oe_exact", cands)

        # 2. Learned mappings, most specific scope first.
        key = q.normalized.compact
        scopes: tuple[tuple[str, str, int | None], ...] = (
            (key, "model", model_id),
            (key, "brand", brand_id),
            (key, "global", None),
        )
        for scope in scopes:
            if scope[1] != "global" and scope[2] is None:
                continue
            part_id = self._learned_accept.get(scope)
            e = self._by_part_id.get(part_id) if part_id is not None else None
            if e is not None and self._allowed(e, q.side, rejected):
                return result("matched", "learned", [self._candidate(e, 100.0, 1.0, "learned")])

        if not q.core:
            return result("unmatched", None, [])

        # 3. Scoring, widening the block while nothing scores well.
        pinyin_query = is_pinyin_query(q.core)
        best: list[_Scored] = []
        widened = False
        for n, level in enumerate(levels):
            block = self._block(level)
            if pinyin_query:
                scored = self._score_pinyin(q, block, rejected, top_k + _EXTRA)
            else:
                scored = self._score_chars(q, block, rejected, top_k + _EXTRA)
            if not best or (scored and scored[0].score > best[0].score):
                best, widened = scored, n > 0
            if best and best[0].score >= self.config.suggest_threshold:
                break
        return self._decide(q, best, widened, top_k, result)

    def _decide(
        self, q: ParsedName, scored: list[_Scored], widened: bool, top_k: int, result: _ResultFn
    ) -> MatchResult:
        cfg = self.config
        # Ranking and margins use the raw sums (a side bonus may lift a score past 100);
        # thresholds apply to the score as shown, 0–100. Below the floor is noise.
        scored = [s for s in scored if s.score >= cfg.floor]
        if not scored:
            return result("unmatched", None, [])
        top = scored[0]
        top_score = min(100.0, top.score)
        runner_up = scored[1].score if len(scored) > 1 else 0.0
        margin = top.score - runner_up
        cands = []
        for i, s in enumerate(scored[:top_k]):
            next_score = scored[i + 1].score if i + 1 < len(scored) else 0.0
            conf = _calibrate(s.score, s.score - next_score if i == 0 else 0.0)
            shown = round(min(100.0, max(0.0, s.score)), 1)
            cands.append(self._candidate(s.entry, shown, conf, s.reason))

        if top_score < cfg.suggest_threshold:
            return result("unmatched", None, cands)
        decision: Decision = "suggested"
        if (
            top_score >= cfg.auto_accept_threshold
            and margin >= cfg.auto_accept_margin
            and not widened
            and not q.side.ambiguous
            and not self._differs_only_by_side(top, scored)
            # Initials are too terse to trust unless they are exactly a name's.
            and (top.reason != "pinyin" or top_score >= 100.0)
        ):
            decision = "matched"
        return result(decision, top.reason, cands)

    def _differs_only_by_side(self, top: _Scored, scored: list[_Scored]) -> bool:
        """Another candidate shares the winner's core but sits elsewhere (左 vs 右, 前 vs 后):
        the query did not say which, so a person must choose."""
        if top.core_id < 0:
            return False
        top_side = self._entry_side[top.entry]
        for other in scored[1:]:
            if (
                top.core_id in self._entry_cores[other.entry]
                and self._entry_side[other.entry] != top_side
            ):
                return True
        return False

    def _allowed(self, e: int, side: Side, rejected: set[int]) -> bool:
        # The hard rule: a part on the other side is never offered.
        return e not in rejected and not contradicts(side, self._entry_side[e])

    def _rejected(self, q: ParsedName, model_id: int | None, brand_id: int | None) -> set[int]:
        out: set[int] = set()
        for m in self._learned_reject.get(q.normalized.compact, ()):
            if m.model_id is not None and m.model_id != model_id:
                continue
            if m.brand_id is not None and m.brand_id != brand_id:
                continue
            e = self._by_part_id.get(m.part_id)
            if e is not None:
                out.add(e)
        return out

    def _oe_hits(self, name: str) -> list[int]:
        hits: list[int] = []
        tokens = {normalize_oe(name), *(normalize_oe(t) for t in _OE_TOKEN.findall(name))}
        for token in tokens:
            if len(token) >= 5 and any(ch.isdigit() for ch in token):
                hits.extend(e for e in self._oe.get(token, ()) if e not in hits)
        return hits

    def _score_chars(
        self, q: ParsedName, block: _Block, rejected: set[int], need: int
    ) -> list[_Scored]:
        cfg = self.config
        scorer = _SCORERS[cfg.scorer]
        scores: dict[int, float] = {}  # block-local core index → best score

        def keep(i: int, score: float) -> None:
            if score > scores.get(i, 0.0):
                scores[i] = score

        def score_core(core: str, penalty: float = 0.0) -> None:
            """The block's cores against `core`, each score less `penalty` (a reading of the
            query that needed a correction must beat the floor by that much)."""
            for _, score, i in process.extract(
                core,
                block.cores,
                scorer=scorer,
                processor=None,
                limit=cfg.core_limit,
                score_cutoff=cfg.floor + penalty,
            ):
                keep(i, score - penalty)

        for core in dict.fromkeys((q.core, q.written_core)):
            score_core(core)
        undoubled = _DOUBLED.sub(r"\1", q.written_core)
        if undoubled != q.written_core:
            # A character typed twice (倒车镜镜总成): the name with it once, at a small cost, so
            # that a name really written with it twice (大灯灯泡) still wins.
            for core in dict.fromkeys((_DOUBLED.sub(r"\1", q.core), undoubled)):
                score_core(core, cfg.doubled_penalty)
        if q.bare_core and q.bare_core != q.core:
            # The query's bracketed note dropped: a part without the note is the same part,
            # but one that also carries the note is better.
            score_core(q.bare_core, cfg.note_dropped_penalty)
        if cfg.pinyin_weight > 0:
            for py in dict.fromkeys((q.core_pinyin, q.written_pinyin)):
                if not py:
                    continue
                # Only near-identical pinyin counts: a homophone typo sounds the same, while
                # long shared syllables (fangxiang-pan / fangxiang-lagan) say little.
                for _, score, i in process.extract(
                    py,
                    block.core_pinyin,
                    scorer=fuzz.ratio,
                    processor=None,
                    limit=cfg.core_limit,
                    score_cutoff=max(cfg.pinyin_min, cfg.floor / cfg.pinyin_weight),
                ):
                    keep(i, score * cfg.pinyin_weight)

        # Score each (core, side, assembly) group once; contradicting sides are dropped here.
        plain_side = Side(**{a: getattr(q.side, a) for a in AXES})
        ranked: list[tuple[float, int, float, Reason, list[int]]] = []
        for i, raw in scores.items():
            cid = block.core_ids[i]
            exact = self._cores[cid] in (q.core, q.written_core)
            for side, assembly, members in block.core_groups[i]:
                if contradicts(q.side, side):
                    continue  # the hard rule
                reason: Reason = "alias_exact" if exact and side == plain_side else "fuzzy"
                ranked.append((raw + self._structure(q, side, assembly), cid, raw, reason, members))
        ranked.sort(key=lambda g: (-g[0], g[1]))
        return self._take(
            ((score, cid, raw, reason, members) for score, cid, raw, reason, members in ranked),
            rejected,
            need,
        )

    @staticmethod
    def _take(
        ranked: Iterable[tuple[float, int, float, Reason, list[int]]], rejected: set[int], need: int
    ) -> list[_Scored]:
        """The first ``need`` distinct parts of the ranked groups, best first."""
        out: list[_Scored] = []
        seen: set[int] = set()
        for score, cid, raw, reason, members in ranked:
            for e in members:
                if e in seen or e in rejected:
                    continue
                seen.add(e)
                out.append(_Scored(e, score, raw, reason, cid))
                if len(out) >= need:
                    return out
        return out

    def _score_pinyin(
        self, q: ParsedName, block: _Block, rejected: set[int], need: int
    ) -> list[_Scored]:
        cfg = self.config
        py_strings, py_members = self._block_pinyin(block)
        hits = process.extract(
            q.core,
            py_strings,
            scorer=fuzz.ratio,
            processor=None,
            limit=cfg.core_limit,
            score_cutoff=cfg.floor,
        )
        hits.sort(key=lambda h: (-h[1], h[2]))
        ranked = ((score, -1, score, "pinyin", py_members[i]) for _, score, i in hits)
        return self._take(ranked, rejected, need)  # type: ignore[arg-type]

    def _structure(self, q: ParsedName, cand_side: Side, cand_assembly: bool) -> float:
        """Bonus / penalty for how the candidate's side and assembly fit the query's."""
        cfg = self.config
        delta = 0.0
        for axis in AXES:
            qa, ca = getattr(q.side, axis), getattr(cand_side, axis)
            if qa is not None and ca is not None:
                delta += cfg.side_agree_bonus  # equal: contradictions never get here
            elif ca is not None:
                delta -= cfg.side_candidate_only_penalty
                hint = getattr(q.hint, axis)
                if hint is not None:  # 后杠下支架 vs 支架（左下）/（左上）
                    delta += cfg.side_agree_bonus if hint == ca else -cfg.side_hint_penalty
            elif qa is not None:
                delta -= cfg.side_query_only_penalty
        if q.normalized.is_assembly:
            delta += cfg.assembly_bonus if cand_assembly else -cfg.assembly_missing_penalty
        elif cand_assembly:
            # 总成 not asked: between an assembly and a part sold on its own that both answer
            # to the name (前杠: 前保险杠总成 or 前保险杠皮), the single part is meant.
            delta -= cfg.assembly_unasked_penalty
        return delta

    def _candidate(self, e: int, score: float, confidence: float, reason: Reason) -> Candidate:
        entry = self.entries[e]
        return Candidate(entry.part_id, entry.part_code, entry.name, score, confidence, reason)

    # --- lookups for callers and the evaluation ----------------------------------------------

    def entry_by_code(self, part_code: str) -> CatalogEntry | None:
        e = self._by_code.get(part_code)
        return self.entries[e] if e is not None else None

    def side_of(self, part_code: str) -> Side | None:
        """The side the index read for a part (None for an unknown code)."""
        e = self._by_code.get(part_code)
        return self._entry_side[e] if e is not None else None


def _entry_side(parsed: Sequence[ParsedName], position: ParsedName | None) -> Side:
    """Where a part sits: its standard name says it; a position column or the aliases fill in
    what the name leaves open (an alias that contradicts it is ignored)."""
    side = parsed[0].side
    if position is not None:
        side = side.fill(position.side)
    for p in parsed[1:]:
        if not p.side.ambiguous and not contradicts(side, p.side):
            side = side.fill(p.side)
    return Side(**{a: getattr(side, a) for a in AXES})
