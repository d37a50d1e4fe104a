"""The matching index over the database: loader, learned mappings, synonym imports, rebuilds.

On both backends (the `settings` fixture). The pure matcher is tested in test_matching.py and
test_match_eval.py; here, what the database adds.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import event, func, select

from pricebook.db import session_factory, transaction
from pricebook.demo import load_demo
from pricebook.errors import ImportRejected, InvalidInput
from pricebook.io import export_rows, import_rows
from pricebook.matching.cache import IndexCache
from pricebook.matching.confirm import confirm
from pricebook.matching.demo_entries import demo_catalog
from pricebook.matching.loader import (
    build_snapshot,
    catalog_version,
    load_entries,
    load_learned,
    load_synonym_groups,
    refresh_snapshot,
)
from pricebook.matching.synonyms import default_synonym_groups
from pricebook.models import AuditEntry, MatchMapping, SynonymTerm, VehicleModel

MODEL = "VW-LAVIDA-23A"
PIG_EAR = [{"canonical": "后视镜", "term": "猪耳朵"}]  # a colloquial word nobody ships


@pytest.fixture
def demo(engine):
    load_demo(engine)
    return engine


def _session(engine):
    return session_factory(engine)()


def _model_id(engine, code: str = MODEL) -> int:
    with _session(engine) as s:
        return s.scalar(select(VehicleModel.id).where(VehicleModel.code == code))


def _by_code(entries, model_codes, brand_codes):
    return {
        e.part_code: (
            e.name, tuple(e.aliases), e.oe_numbers, e.is_assembly,
            frozenset(model_codes[m] for m in e.model_ids),
            frozenset(brand_codes[b] for b in e.brand_ids), e.category, e.position,
        )
        for e in entries
    }  # fmt: skip


def test_loader_builds_the_same_entries_as_the_demo(demo):
    from pricebook.models import Brand

    expected = demo_catalog()
    with _session(demo) as s:
        loaded = load_entries(s)
        db_models = {i: c for c, i in s.execute(select(VehicleModel.code, VehicleModel.id))}
        db_brands = {i: c for c, i in s.execute(select(Brand.code, Brand.id))}
    demo_models = {i: c for c, i in expected.model_ids.items()}
    demo_brands = {i: c for c, i in expected.brand_ids.items()}
    assert len(loaded.entries) == len(expected.entries) == 672
    assert _by_code(loaded.entries, db_models, db_brands) == _by_code(
        expected.entries, demo_models, demo_brands
    )
    assert {db_models[m]: db_brands[b] for m, b in loaded.model_brands.items()} == {
        demo_models[m]: demo_brands[b] for m, b in expected.model_brands.items()
    }


def test_the_load_costs_a_constant_number_of_statements(demo):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(demo, "before_cursor_execute", count)
    try:
        with _session(demo) as s:
            snapshot = build_snapshot(s)
    finally:
        event.remove(demo, "before_cursor_execute", count)
    selects = [x for x in statements if x.lstrip().upper().startswith("SELECT")]
    # generation, version, parts, aliases, supersessions, fitment, model→brand, synonyms,
    # learned, model codes, brands, price type words: whatever the catalogue's size.
    assert len(selects) == 12, selects
    assert snapshot.size.entries == 672 and snapshot.size.strings > 3000
    assert snapshot.synonyms_source == "shipped"


def test_confirmation_wins_next_time_and_rejection_is_respected(demo):
    model_id = _model_id(demo)
    with _session(demo) as s:
        index = build_snapshot(s).index
    before = index.match(["奇怪的叫法"], model_id=model_id)[0]
    assert before.reason != "learned"

    with transaction(demo) as s:
        done = confirm(
            s, name="奇怪的叫法 x2", part_code="VW1-0018", accepted=True, actor="reviewer a",
            reason="seen on three estimates", index=index,
        )  # fmt: skip
    assert done.name_normalized == "奇怪的叫法"  # quantity words do not count
    with _session(demo) as s:
        index = build_snapshot(s).index
        mapping = s.scalars(select(MatchMapping)).one()
        audit = s.scalars(select(AuditEntry).where(AuditEntry.entity == "match_mappings")).one()
    assert (mapping.created_by, mapping.reason, mapping.accepted) == (
        "reviewer a", "seen on three estimates", True,
    )  # fmt: skip
    assert audit.action == "confirm" and audit.actor == "reviewer a"
    result = index.match(["奇怪的叫法"], model_id=model_id)[0]
    assert (result.decision, result.reason) == ("matched", "learned")
    assert result.best is not None and result.best.part_code == "VW1-0018"

    # A rejection of the same verdict is later: the mapping no longer applies, and the part is
    # never offered for that name again.
    with transaction(demo) as s:
        confirm(s, name="奇怪的叫法", part_code="VW1-0018", accepted=False, actor="reviewer b")
    with _session(demo) as s:
        learned = load_learned(s)
        index = build_snapshot(s).index
    assert [m.accepted for m in learned] == [False]
    result = index.match(["奇怪的叫法"], model_id=model_id)[0]
    assert result.reason != "learned"
    assert "VW1-0018" not in [c.part_code for c in result.candidates]


def test_a_rejection_removes_a_fuzzy_candidate(demo):
    model_id = _model_id(demo)
    with _session(demo) as s:
        index = build_snapshot(s).index
    first = index.match(["左前叶子板"], model_id=model_id)[0].best
    assert first is not None and first.part_code == "VW1-0018"
    with transaction(demo) as s:
        confirm(s, name="左前叶子板", part_id=first.part_id, accepted=False, actor="r",
                model_id=model_id)  # fmt: skip
    with _session(demo) as s:
        index = build_snapshot(s).index
    after = index.match(["左前叶子板"], model_id=model_id)[0]
    assert first.part_id not in [c.part_id for c in after.candidates]
    assert after.decision != "matched" or after.best.part_code != "VW1-0018"  # type: ignore[union-attr]


def test_confirmation_input_is_checked(demo):
    with _session(demo) as s:
        index = build_snapshot(s).index
    cases = [
        ({"name": " ", "part_code": "VW1-0018"}, "name"),
        ({"name": "原厂 x2", "part_code": "VW1-0018"}, "name"),
        ({"name": "叶子板", "part_code": "NOPE"}, "part_code"),
        ({"name": "叶子板", "part_id": 10**6}, "part_id"),
        ({"name": "叶子板"}, "part_id"),
        ({"name": "叶子板", "part_code": "VW1-0018", "part_id": 1}, "part_id"),
        ({"name": "叶子板", "part_code": "VW1-0018", "model_id": 10**6}, "model_id"),
        ({"name": "叶子板", "part_code": "VW1-0018", "brand": "NOPE"}, "brand"),
        # the hard rule: a right-hand name is never a left-hand part
        ({"name": "右前叶子板", "part_code": "VW1-0018"}, "part_code"),
    ]
    for kwargs, field in cases:
        with _session(demo) as s, pytest.raises(InvalidInput) as err:
            confirm(s, accepted=True, actor="r", index=index, **kwargs)  # type: ignore[arg-type]
        assert err.value.field == field, kwargs


def test_refresh_reloads_only_learned_mappings_after_a_confirmation(demo):
    with _session(demo) as s:
        first = build_snapshot(s)
        assert refresh_snapshot(s, first) is None  # nothing moved
    with transaction(demo) as s:
        confirm(s, name="奇怪的叫法", part_code="VW1-0018", accepted=True, actor="r")
    with _session(demo) as s:
        second = refresh_snapshot(s, first)
    assert second is not None and second.kind == "learned"
    assert second.version == first.version + 1 and second.learned == 1
    assert second.index.entries is first.index.entries  # no re-indexing
    assert second.index.match(["奇怪的叫法"])[0].reason == "learned"
    assert first.index.match(["奇怪的叫法"])[0].reason != "learned"  # the old one is untouched


def test_a_synonym_import_changes_matching_after_the_version_bump(demo):
    model_id = _model_id(demo)
    with _session(demo) as s:
        first = build_snapshot(s)
    assert first.index.match(["左猪耳朵"], model_id=model_id)[0].decision == "unmatched"

    with transaction(demo) as s:
        report = import_rows(s, "synonyms", PIG_EAR, actor="pricing", reason="new slang")
    # The first import starts from the shipped dictionary: nothing shipped is lost.
    shipped_terms = {t for g in default_synonym_groups() for t in g}
    assert report.created == len(shipped_terms) + 1
    with _session(demo) as s:
        assert catalog_version(s) == first.version + 1
        groups, source = load_synonym_groups(s)
        second = refresh_snapshot(s, first)
    assert source == "database"
    assert {t for g in groups for t in g} == shipped_terms | {"猪耳朵"}
    assert second is not None and second.kind == "full"
    best = second.index.match(["左猪耳朵"], model_id=model_id)[0].best
    assert best is not None and best.name == "左后视镜总成"
    # shipped words still work
    assert second.index.match(["机盖"], model_id=model_id)[0].best.name == "发动机盖"  # type: ignore[union-attr]

    # Re-importing the same file changes nothing and does not move the version.
    with transaction(demo) as s:
        again = import_rows(s, "synonyms", PIG_EAR, actor="pricing", reason="test import")
        assert (again.changed, again.unchanged) == (0, 1)
        assert catalog_version(s) == second.version


def test_synonym_import_moves_removes_and_rejects_inconsistent_groups(demo):
    with transaction(demo) as s:
        import_rows(s, "synonyms", PIG_EAR, actor="p", reason="test import")
    with transaction(demo) as s:
        report = import_rows(
            s, "synonyms",
            [{"canonical": "后视镜", "term": "猪耳朵", "remove": "1"},
             {"canonical": "散热器", "term": "水箱"}],  # already there: unchanged
            actor="p", reason="test import",
        )  # fmt: skip
        assert (report.removed, report.unchanged) == (1, 1)
        assert s.scalar(select(func.count()).where(SynonymTerm.term == "猪耳朵")) == 0
    bad = [
        ([{"canonical": "叶子板", "term": "叶叶"}], "canonical"),  # 叶子板 is a term of 翼子板
        ([{"canonical": "车灯", "term": "翼子板"}], "term"),  # 翼子板 names its own group
        ([{"canonical": "后视镜", "term": "猪耳朵", "remove": "1"}], "term"),  # not there
        ([{"canonical": "翼子板", "term": "翼子板", "remove": "1"}], "term"),  # still has terms
        ([{"canonical": "a", "term": "b\tc"}], "term"),
        ([{"canonical": "甲", "term": "乙"}, {"canonical": "丙", "term": "乙"}], "term"),
    ]
    for rows, column in bad:
        with transaction(demo) as s, pytest.raises(ImportRejected) as err:
            import_rows(s, "synonyms", rows, actor="p", reason="test import")
        assert err.value.errors[0].column == column, rows


def test_synonym_export_is_the_dictionary_in_force_and_imports_back_unchanged(demo):
    with _session(demo) as s:
        columns, rows = export_rows(s, "synonyms")
        shipped = list(rows)
    assert columns == ("canonical", "term")
    assert {r["term"] for r in shipped} == {t for g in default_synonym_groups() for t in g}
    with transaction(demo) as s:
        import_rows(s, "synonyms", shipped + PIG_EAR, actor="p", reason="test import")
    with _session(demo) as s:
        exported = list(export_rows(s, "synonyms")[1])
    assert {(r["canonical"], r["term"]) for r in exported} == {
        (r["canonical"], r["term"]) for r in shipped + PIG_EAR
    }
    with transaction(demo) as s:
        assert import_rows(s, "synonyms", exported, actor="p", reason="test import").changed == 0


async def test_the_background_poll_rebuilds_and_swaps_the_index(demo):
    model_id = _model_id(demo)
    cache = IndexCache(demo, poll_seconds=0.05)
    await cache.start()
    try:
        first = await cache.wait_ready(30)
        assert first is not None
        assert first.index.match(["左猪耳朵"], model_id=model_id)[0].decision == "unmatched"

        def edit() -> None:
            with transaction(demo) as s:
                import_rows(s, "synonyms", PIG_EAR, actor="pricing", reason="test import")

        await asyncio.to_thread(edit)
        deadline = time.monotonic() + 30
        while cache.snapshot is first and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        current = cache.snapshot
        assert current is not None and current is not first
        assert current.version > first.version and current.synonyms_source == "database"
        assert current.index.match(["左猪耳朵"], model_id=model_id)[0].best.name == "左后视镜总成"  # type: ignore[union-attr]
        # The old snapshot, possibly still in use by a request, is complete and unchanged.
        assert first.index.match(["左猪耳朵"], model_id=model_id)[0].decision == "unmatched"
        assert cache.rebuilds == 2 and cache.last_error is None
    finally:
        await cache.stop()


async def test_every_process_picks_up_a_confirmation_made_elsewhere(demo):
    # Two caches on one database: two server processes, each polling for itself.
    caches = [IndexCache(demo, poll_seconds=0.05) for _ in range(2)]
    for cache in caches:
        await cache.start()
    try:
        firsts = [await cache.wait_ready(30) for cache in caches]
        assert all(s is not None for s in firsts)

        def confirm_elsewhere() -> int:
            with transaction(demo) as s:
                done = confirm(s, name="奇怪的叫法", part_code="VW1-0018", accepted=True, actor="r")
            return done.catalog_version

        version = await asyncio.to_thread(confirm_elsewhere)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            c.snapshot is None or c.snapshot.version < version for c in caches
        ):
            await asyncio.sleep(0.05)
        for cache, first in zip(caches, firsts, strict=True):
            current = cache.snapshot
            assert current is not None and current.version == version
            assert current.kind == "learned" and current.index.entries is first.index.entries  # type: ignore[union-attr]
            assert current.index.match(["奇怪的叫法"])[0].reason == "learned"
    finally:
        for cache in caches:
            await cache.stop()


def test_the_documented_synonyms_example_imports(demo):
    from pathlib import Path

    from pricebook.io import import_file

    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "synonyms.csv"
    assert import_file(demo, "synonyms", example, actor="docs", reason="test import").created > 0
    assert import_file(demo, "synonyms", example, actor="docs", reason="test import").changed == 0


def test_a_change_committed_after_a_newer_one_is_not_missed(demo):
    """Catalogue-version ids are taken at insert: an alias added in a transaction that commits
    after a newer match confirmation has a lower id than the index it should change. The
    commit-ordered counters (migration 0008) still make the next check rebuild with it. (On
    SQLite, one writer at a time, the two can only commit in id order.)"""
    from pricebook.aliases import add_alias
    from pricebook.models import Part

    with _session(demo) as s:
        part_id = s.scalar(select(Part.id).where(Part.code == "VW1-0018"))
        first = build_snapshot(s)
    concurrent = demo.dialect.name == "postgresql"
    late = _session(demo)
    try:
        if concurrent:  # its catalogue-version row takes its id now, and commits last
            add_alias(late, part_id, "奇怪名字甲", actor="staff", reason="test")
        with transaction(demo) as s:
            confirm(s, name="另一种叫法", part_code="VW1-0018", accepted=True, actor="r")
        with _session(demo) as s:
            second = refresh_snapshot(s, first)
        assert second is not None and second.kind == "learned"
        if not concurrent:
            add_alias(late, part_id, "奇怪名字甲", actor="staff", reason="test")
        late.commit()
    finally:
        late.close()
    with _session(demo) as s:
        if concurrent:
            assert catalog_version(s) == second.version  # max(id) did not move
        third = refresh_snapshot(s, second)
    assert third is not None and third.kind == "full"
    best = third.index.match(["奇怪名字甲"])[0].best
    assert best is not None and best.part_id == part_id


def test_migration_0008_knows_the_learned_reason():
    """Migration 0008's trigger tells confirmations from other changes by the reason's prefix."""
    from alembic.script import ScriptDirectory

    from pricebook import migrate
    from pricebook.matching.loader import LEARNED_REASON

    assert (
        ScriptDirectory.from_config(migrate.alembic_config())
        .get_revision("0008")
        .module.LEARNED_REASON
        == LEARNED_REASON
    )


def _full_collections_while_requests_run(requests: int = 6_000) -> int:
    """Full collections while a serving process works: each request holds a thousand objects
    while it runs and leaves twenty behind in a memo that keeps the newest 20,000."""
    import collections
    import gc

    counted = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal counted
        counted += phase == "stop" and info["generation"] == 2

    memo: collections.deque[list[int]] = collections.deque(maxlen=20_000)
    gc.callbacks.append(count)
    try:
        for _ in range(requests):
            held = [[i] for i in range(1_000)]
            memo.extend(held[:20])
            del held
    finally:
        gc.callbacks.remove(count)
    return counted


def test_after_a_build_full_collections_are_rare_while_requests_run():
    import gc

    from pricebook.matching import cache

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults, as a process starts
        cache._freeze_heap()
        assert gc.get_threshold() == (700, 10, cache.FULL_COLLECTION_EVERY)
        rare = _full_collections_while_requests_run()
        gc.set_threshold(700, 10, 10)
        default = _full_collections_while_requests_run()
        # ~500 second-generation collections: a full one after every 10 of them (as the
        # quarter rule allows) by default, after every 100 once the heap is frozen
        assert default >= 25
        assert 1 <= rare <= default // 5
        gc.set_threshold(0)  # switched off on purpose: a rebuild does not switch it back on
        cache._freeze_heap()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
