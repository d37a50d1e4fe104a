"""Matching custom part names (自定义配件) to the catalogue, side-safe.

What this package exports is pure code: no database, no web framework; see `index` for how a
name is matched. Three modules, imported by name, connect it to the database:

* `loader` — the catalogue, learned mappings and synonym dictionary in a fixed number of bulk
  queries → a `Snapshot` (index + catalogue version); `refresh_snapshot` rebuilds when it moved;
* `cache` — `IndexCache`, one index per server process, rebuilt in a worker thread when the
  catalogue version moves, swapped atomically;
* `confirm` — storing a person's verdict (``match_mappings``, audit, version bump).
"""

from pricebook.matching.evaluate import EvalReport, EvalRow, evaluate
from pricebook.matching.index import (
    Attributes,
    Candidate,
    CatalogEntry,
    IndexSize,
    LearnedMapping,
    MatchConfig,
    MatchIndex,
    MatchResult,
    MemoStats,
    ParsedName,
    learned_key,
)
from pricebook.matching.normalize import Normalized, normalize, normalize_oe
from pricebook.matching.sides import Side, contradicts, parse_side
from pricebook.matching.synonyms import (
    SynonymTable,
    default_synonym_groups,
    parse_synonym_tsv,
    synonym_groups_to_tsv,
)

__all__ = [
    "Attributes",
    "Candidate",
    "CatalogEntry",
    "EvalReport",
    "EvalRow",
    "IndexSize",
    "LearnedMapping",
    "MatchConfig",
    "MatchIndex",
    "MatchResult",
    "MemoStats",
    "Normalized",
    "ParsedName",
    "Side",
    "SynonymTable",
    "contradicts",
    "default_synonym_groups",
    "evaluate",
    "learned_key",
    "normalize",
    "normalize_oe",
    "parse_side",
    "parse_synonym_tsv",
    "synonym_groups_to_tsv",
]
