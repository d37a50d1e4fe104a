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
    groups: dict[int, dict[tuple[Side, bool], list[int]]] = {}
    ordered = sorted(set(members))
    for e in ordered:
        sig = (entry_side[e], entry_assembly[e])
        for c in entry_cores[e]:
            groups.setdefault(c, {}).setdefault(sig, []).append(e)
    core_ids = sorted(groups)
    return Block(
        core_ids=core_ids,
        cores=[cores[c] for c in core_ids],
        core_pinyin=[core_pinyin[c] for c in core_ids],
        core_groups=[[(sd, asm, es) for (sd, asm), es in groups[c].items()] for c in core_ids],
        members=ordered,
    )


def block_pinyin(
    block: Block, entry_py: Sequence[tuple[int, ...]], py_strings: Sequence[str]
) -> tuple[list[str], list[list[int]]]:
    """The block's pinyin strings and, for each, its parts (made once, on first use; two
    threads may both make them — the same lists, either assignment is right)."""
    if block.py_strings is None or block.py_members is None:
        py_members: dict[int, list[int]] = {}
        for e in block.members:
            for p in entry_py[e]:
                py_members.setdefault(p, []).append(e)
        py_ids = sorted(py_members)
        block.py_members = [py_members[p] for p in py_ids]
        block.py_strings = [py_strings[p] for p in py_ids]
    return block.py_strings, block.py_members
