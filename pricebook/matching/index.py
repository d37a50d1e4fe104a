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
import re
import sys
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from pricebook.matching.blocks import Block, block_pinyin, make_block
from pricebook.matching.building import IndexBuilder
from pricebook.matching.normalize import normalize, normalize_oe
from pricebook.matching.pinyin import is_pinyin_query, pinyin_full
from pricebook.matching.quality import QualityWords
from pricebook.matching.records import (
    Attributes,
    Candidate,
    CatalogEntry,
    Decision,
    IndexSize,
    LearnedMapping,
    MatchConfig,
    MatchResult,
    MemoStats,
    ParsedName,
    Reason,
    learned_key,
)
from pricebook.matching.scoring import Scored, calibrate, score_chars, score_pinyin
from pricebook.matching.sides import (
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
    "MemoStats",
    "ParsedName",
    "learned_key",
]


_ResultFn = Callable[[Decision, "Reason | None", "list[Candidate]"], "MatchResult"]

# --- internals --------------------------------------------------------------------------------

# Parts looked at beyond top_k: enough to see the runner-up and a same-name part on another side.
_EXTRA = 5
_OE_TOKEN = re.compile(r"[0-9a-z][0-9a-z\-./ ]{3,}[0-9a-z]", re.IGNORECASE)


#: how many answers a MatchIndex remembers (about 2 KB each)
_MEMO_SIZE = 10_000
#: how many names it remembers reading (`parse`); each is two objects the GC tracks
_PARSED_SIZE = 4_096


class MatchIndex:
    """Build once from the catalogue (`build`), then `match` any number of names."""

    def __init__(self) -> None:  # use build()
        self.config = MatchConfig()
        self.synonyms = SynonymTable([])
        self.quality_words = QualityWords()
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
        self._blocks: dict[tuple[str, int | None], Block] = {}
        self._learned_accept: dict[tuple[str, str, int | None], int] = {}
        self._learned_reject: dict[str, list[LearnedMapping]] = {}
        # Answers already given, per (name, model, brand, top_k): adjusters type the same few
        # thousand names over and over, and the index never changes (a new catalogue or new
        # learned mappings make a new index, with an empty memo). Results are shared: read-only.
        # The least recently used answer makes room: a full memo emptied at once lost the
        # popular models' answers with the rest (bench/validate.py's realistic mix, one
        # worker's names: 30% answered from a memo of 10,000 emptied when full, 38% from one
        # keeping the most recent).
        self._memo: OrderedDict[tuple[str, int | None, int | None, int], MatchResult] = (
            OrderedDict()
        )
        self._memo_hits = self._memo_misses = self._memo_dropped = 0
        # Names as read (`parse`): the answers above are per model, and the same few hundred
        # names typed for every model were read again each time.
        self._parsed: dict[str, ParsedName] = {}
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
        price_words: Mapping[str, str] | None = None,
    ) -> MatchIndex:
        """Index ``entries``. ``synonym_groups`` default to the shipped ``synonyms.tsv``;
        ``model_brands`` (model id → brand id) lets `match` widen from a model to its brand;
        ``price_words`` is the price type vocabulary (normalised word → code) that reads the
        quality words (`pricebook.matching.quality`)."""
        self = cls()
        self.config = config or MatchConfig()
        self.quality_words = QualityWords(price_words)
        self.synonyms = SynonymTable(
            default_synonym_groups() if synonym_groups is None else synonym_groups
        )
        self._model_brand = dict(model_brands or {})
        builder = IndexBuilder(self)
        for entry in entries:
            builder.add(entry)
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

    @property
    def memo(self) -> MemoStats:
        """What the memo of answers holds and how it served since this index was built."""
        return MemoStats(
            len(self._memo), _MEMO_SIZE, self._memo_hits, self._memo_misses, self._memo_dropped
        )

    def forget_answers(self) -> None:
        """Empty the memos of answers given and names read (benchmarks time the matching, not
        the memos)."""
        self._memo = OrderedDict()
        self._parsed = {}

    def with_learned(self, learned: Iterable[LearnedMapping]) -> MatchIndex:
        """A copy sharing everything but the learned mappings (cheap: no re-indexing)."""
        other = copy.copy(self)
        other._set_learned(learned)
        return other

    def _set_learned(self, learned: Iterable[LearnedMapping]) -> None:
        self._memo = OrderedDict()
        self._memo_hits = self._memo_misses = self._memo_dropped = 0
        self._learned_accept = {}
        self._learned_reject = defaultdict(list)
        for m in learned:
            # keyed as a query's name is read: a word staff added to the price type vocabulary
            # is not part of the name here either
            key = self.quality_words.take(normalize(m.name_normalized)).compact
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
        """Reduce a name as the index does: normalise, rewrite synonyms, take out the side (once
        per name: it depends on nothing but the name and this index's vocabularies)."""
        parsed = self._parsed.get(name)
        if parsed is None:
            if len(self._parsed) >= _PARSED_SIZE:
                self._parsed.clear()
            parsed = self._parsed[name] = self._parse(name)
        return parsed

    def _parse(self, name: str) -> ParsedName:
        normalized = self.quality_words.take(normalize(name))
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

    def _block(self, level: tuple[str, int | None]) -> Block:
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
        block = make_block(
            members,
            self._entry_side,
            self._entry_assembly,
            self._entry_cores,
            self._cores,
            self._core_pinyin,
        )
        if kind == "all":
            block_pinyin(block, self._entry_py, self._py_strings)
        self._blocks[level] = block
        return block

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
                memo[key] = result
                self._memo_misses += 1
                if len(memo) > _MEMO_SIZE:
                    memo.popitem(last=False)
                    self._memo_dropped += 1
            else:
                memo.move_to_end(key)
                self._memo_hits += 1
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
            price_type=self.quality_words.price_type(q.normalized),
        )

        def result(
            decision: Decision, reason: Reason | None, cands: list[Candidate]
        ) -> MatchResult:
            return MatchResult(name, decision, reason, q.side, attrs, tuple(cands[:top_k]))

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
        best: list[Scored] = []
        widened = False
        for n, level in enumerate(levels):
            block = self._block(level)
            if pinyin_query:
                pinyin = block_pinyin(block, self._entry_py, self._py_strings)
                scored = score_pinyin(self.config, q, pinyin, rejected, top_k + _EXTRA)
            else:
                scored = score_chars(self.config, self._cores, q, block, rejected, top_k + _EXTRA)
            if not best or (scored and scored[0].score > best[0].score):
                best, widened = scored, n > 0
            if best and best[0].score >= self.config.suggest_threshold:
                break
        return self._decide(q, best, widened, top_k, result)

    def _decide(
        self, q: ParsedName, scored: list[Scored], widened: bool, top_k: int, result: _ResultFn
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
            conf = calibrate(s.score, s.score - next_score if i == 0 else 0.0)
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

    def _differs_only_by_side(self, top: Scored, scored: list[Scored]) -> bool:
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
