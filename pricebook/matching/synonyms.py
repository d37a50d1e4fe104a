"""Colloquial synonym groups for part names, kept as data.

Each group lists the names people use for one thing, canonical first (翼子板 / 叶子板 / 翼板).
`SynonymTable.canonicalize` rewrites every known variant in a name to its group's canonical
word, so 前叶子板 and 前翼子板, 头盖 and 发动机盖, score as equal.

The default groups ship in ``synonyms.tsv`` next to this module (one group per line,
tab-separated, ``#`` comments). Pricing staff maintain their own: `parse_synonym_tsv` reads
their file and `SynonymTable` takes any ``list[list[str]]``.

Rewriting chooses, over the whole name, the set of non-overlapping variants that covers the
most characters (ties: the later start wins). Plain leftmost-longest matching would read
前叶子板 as 前叶 + 子板 when both 前叶 and 叶子板 are variants; maximal cover reads 前 + 叶子板.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources

from pricebook.matching.normalize import clean_text

__all__ = [
    "SynonymTable",
    "default_synonym_groups",
    "parse_synonym_tsv",
    "synonym_groups_to_tsv",
]


def parse_synonym_tsv(text: str) -> list[list[str]]:
    """Groups from TSV text: one group per line, tab-separated, canonical first."""
    groups: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        terms = [t.strip() for t in line.split("\t") if t.strip()]
        if terms:
            groups.append(terms)
    return groups


def synonym_groups_to_tsv(groups: Iterable[Sequence[str]]) -> str:
    return "".join("\t".join(group) + "\n" for group in groups)


@cache
def _default_tsv() -> str:
    return resources.files("pricebook.matching").joinpath("synonyms.tsv").read_text("utf-8")


def default_synonym_groups() -> list[list[str]]:
    """The groups shipped with the package (a fresh list each call: callers may edit it)."""
    return parse_synonym_tsv(_default_tsv())


class SynonymTable:
    """Variant → canonical rewriting for a set of groups."""

    def __init__(self, groups: Iterable[Sequence[str]]) -> None:
        self.groups: list[list[str]] = []
        self._canonical: dict[str, str] = {}
        seen_in: dict[str, int] = {}
        for n, group in enumerate(groups):
            terms = [clean_text(t).replace(" ", "") for t in group]
            terms = [t for t in dict.fromkeys(terms) if t]
            if not terms:
                continue
            self.groups.append(terms)
            canonical = terms[0]
            for term in terms:
                if term in seen_in and self._canonical[term] != canonical:
                    # A word in two groups would make the rewrite depend on file order; refuse
                    # it so a staff import reports the problem instead of matching oddly.
                    raise ValueError(
                        f"synonym {term!r} is in group {seen_in[term] + 1} and group {n + 1}"
                    )
                seen_in.setdefault(term, n)
                self._canonical[term] = canonical
        self._max_len = max((len(t) for t in self._canonical), default=0)

    def __len__(self) -> int:
        return len(self.groups)

    def canonical_of(self, term: str) -> str | None:
        return self._canonical.get(term)

    def canonicalize(self, text: str) -> str:
        """Rewrite every variant in ``text`` to its canonical word (maximal cover, see above)."""
        if not self._canonical or not text:
            return text
        n = len(text)
        # best[i] = (covered chars, rewritten tail) for text[i:]; filled right to left.
        best_cover = [0] * (n + 1)
        choice: list[str | None] = [None] * (n + 1)  # variant taken at i, or None to skip
        for i in range(n - 1, -1, -1):
            cover, take = best_cover[i + 1], None
            for length in range(min(self._max_len, n - i), 0, -1):
                term = text[i : i + length]
                if term in self._canonical:
                    c = length + best_cover[i + length]
                    if c > cover:
                        cover, take = c, term
            best_cover[i] = cover
            choice[i] = take
        out: list[str] = []
        i = 0
        while i < n:
            taken = choice[i]
            if taken is None:
                out.append(text[i])
                i += 1
            else:
                out.append(self._canonical[taken])
                i += len(taken)
        return "".join(out)
