"""The index's candidate sets (blocks): a model's parts, a brand's, or the whole catalogue, each
as its distinct cores (and, on first use, pinyin strings) with the parts behind each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pricebook.matching.sides import (
    Side,
)


@dataclass(slots=True)
class Block:
    """A candidate set: the distinct cores / pinyin strings its parts carry, and for each the
    parts, grouped by what the structure term looks at (side, assembly): every part of a group
    scores the same, so a core shared by thousands of parts costs one score per group.

    Blocks are made on first use, while requests are served, after the index's objects were
    frozen out of the garbage collector's reach (`pricebook.matching.cache`); a block's fields
    are tuples of untracked objects (ints, strings, `Side`, bools) so that the collector does
    not walk them either (as lists they were most of what a full collection walked)."""

    core_ids: tuple[int, ...]
    cores: tuple[str, ...]
    core_pinyin: tuple[str, ...]
    core_groups: tuple[tuple[tuple[Side, bool, tuple[int, ...]], ...], ...]  # parallel to core_ids
    #: the block's parts, sorted: the pinyin tuples below are made from them on first use (few
    #: queries are Latin letters, and these cost most of a block's construction)
    members: tuple[int, ...]
    py_strings: tuple[str, ...] | None = None
    py_members: tuple[tuple[int, ...], ...] | None = None  # parallel to py_strings


def make_block(
    members: Iterable[int],
    entry_side: Sequence[Side],
    entry_assembly: Sequence[bool],
    entry_cores: Sequence[tuple[int, ...]],
    cores: Sequence[str],
    core_pinyin: Sequence[str],
) -> Block:
    """The block of `members` (entry numbers): their cores, each with its parts grouped by
    (side, assembly)."""
    # A model's block is made while its first estimate waits: lookups rather than setdefault's
    # throw-away dicts and lists, and list comprehensions rather than generators
    groups: dict[int, dict[tuple[Side, bool], list[int]]] = {}
    ordered = sorted(set(members))
    for e in ordered:
        sig = (entry_side[e], entry_assembly[e])
        for c in entry_cores[e]:
            by_sig = groups.get(c)
            if by_sig is None:
                groups[c] = {sig: [e]}
            elif (parts := by_sig.get(sig)) is None:
                by_sig[sig] = [e]
            else:
                parts.append(e)
    core_ids = sorted(groups)
    return Block(
        core_ids=tuple(core_ids),
        cores=tuple([cores[c] for c in core_ids]),
        core_pinyin=tuple([core_pinyin[c] for c in core_ids]),
        core_groups=tuple(
            [tuple([(sd, asm, tuple(es)) for (sd, asm), es in groups[c].items()]) for c in core_ids]
        ),
        members=tuple(ordered),
    )


def block_pinyin(
    block: Block, entry_py: Sequence[tuple[int, ...]], py_strings: Sequence[str]
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """The block's pinyin strings and, for each, its parts (made once, on first use; two
    threads may both make them — the same lists, either assignment is right)."""
    if block.py_strings is None or block.py_members is None:
        py_members: dict[int, list[int]] = {}
        for e in block.members:
            for p in entry_py[e]:
                py_members.setdefault(p, []).append(e)
        py_ids = sorted(py_members)
        block.py_members = tuple(tuple(py_members[p]) for p in py_ids)
        block.py_strings = tuple(py_strings[p] for p in py_ids)
    return block.py_strings, block.py_members
