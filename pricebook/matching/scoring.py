"""Scoring a name against a block: characters (rapidfuzz over distinct cores, with corrected
readings of the query), pinyin for Latin-letter queries, the structure term (side and
assembly), and the calibration of a score into a confidence."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from pricebook.matching.blocks import Block
from pricebook.matching.records import MatchConfig, ParsedName, Reason
from pricebook.matching.sides import (
    AXES,
    Side,
    contradicts,
)

_SCORERS = {
    "ratio": fuzz.ratio,
    "wratio": fuzz.WRatio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
    "qratio": fuzz.QRatio,
}

_DOUBLED = re.compile(r"([\u3400-\u9fff])\1+")


@dataclass(slots=True)
class Scored:
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


def calibrate(score: float, margin: float) -> float:
    knots = _CALIBRATION
    base = knots[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if score <= x1:
            base = y0 + (y1 - y0) * (max(score, x0) - x0) / (x1 - x0)
            break
    # An unclear winner (runner-up within a few points) is a coin toss between them.
    spread = min(1.0, 0.5 + margin / 20.0)
    return round(max(0.0, min(1.0, base * spread)), 3)


def score_chars(
    cfg: MatchConfig,
    cores: Sequence[str],
    q: ParsedName,
    block: Block,
    rejected: set[int],
    need: int,
) -> list[Scored]:
    """The block's parts by their cores against the query's (and its corrected readings),
    best first, with the structure term; a part on a contradicting side is never offered."""
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
    ranked: list[tuple[float, int, float, Reason, Sequence[int]]] = []
    for i, raw in scores.items():
        cid = block.core_ids[i]
        exact = cores[cid] in (q.core, q.written_core)
        for side, assembly, members in block.core_groups[i]:
            if contradicts(q.side, side):
                continue  # the hard rule
            reason: Reason = "alias_exact" if exact and side == plain_side else "fuzzy"
            ranked.append((raw + structure(cfg, q, side, assembly), cid, raw, reason, members))
    ranked.sort(key=lambda g: (-g[0], g[1]))
    return take(
        ((score, cid, raw, reason, members) for score, cid, raw, reason, members in ranked),
        rejected,
        need,
    )


def take(
    ranked: Iterable[tuple[float, int, float, Reason, Sequence[int]]], rejected: set[int], need: int
) -> list[Scored]:
    """The first ``need`` distinct parts of the ranked groups, best first."""
    out: list[Scored] = []
    seen: set[int] = set()
    for score, cid, raw, reason, members in ranked:
        for e in members:
            if e in seen or e in rejected:
                continue
            seen.add(e)
            out.append(Scored(e, score, raw, reason, cid))
            if len(out) >= need:
                return out
    return out


def score_pinyin(
    cfg: MatchConfig,
    q: ParsedName,
    pinyin: tuple[tuple[str, ...], tuple[tuple[int, ...], ...]],
    rejected: set[int],
    need: int,
) -> list[Scored]:
    """A Latin-letter query against the block's pinyin strings and initials (`block_pinyin`)."""
    py_strings, py_members = pinyin
    hits = process.extract(
        q.core,
        py_strings,
        scorer=fuzz.ratio,
        processor=None,
        limit=cfg.core_limit,
        score_cutoff=cfg.floor,
    )
    hits.sort(key=lambda h: (-h[1], h[2]))
    pinyin_reason: Reason = "pinyin"
    ranked = ((score, -1, score, pinyin_reason, py_members[i]) for _, score, i in hits)
    return take(ranked, rejected, need)


def structure(cfg: MatchConfig, q: ParsedName, cand_side: Side, cand_assembly: bool) -> float:
    """Bonus / penalty for how the candidate's side and assembly fit the query's."""
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
