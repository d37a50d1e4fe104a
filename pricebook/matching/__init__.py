"""Matching custom part names (自定义配件) to the catalogue, side-safe.

Pure code: no database, no web framework. The loader turns catalogue rows into `CatalogEntry`
objects and builds a `MatchIndex`; see `index` for how a name is matched.
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
