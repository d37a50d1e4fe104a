"""Matching custom part names: Pricebook's index against PostgreSQL pg_trgm, same data, same run.

    .venv/bin/python bench/matching.py [--parts 50000] [--names 10000] [--seed 11]

A scratch PostgreSQL database (bench.common) gets the demo catalogue and `demo scale` with
`--parts` synthetic parts and no prices: 50,000 parts carry ≥ 200,000 names and aliases (the
count is printed and checked).

Queries: `--names` adjuster-style names generated from the scale catalogue's own names and
aliases with the transformations of ``tests/data/make_match_eval.py`` (its functions, not a copy:
moved sides, colloquial words, 总成 dropped/added, homophone and missing-character typos, pinyin
initials, quality/quantity words, full-width and traditional characters), each with a model the
part fits.

Correct: the scale catalogue repeats the same standard names on every synthetic platform, so
"the right part" is ambiguous across platforms. For both engines, a query counts as correct when
its top-1 part has the **expected standard name** (the name of the part the query was made from).

* **Pricebook**: the index built from the database (`build_snapshot`: load + build + warm),
  timed; memory as the RSS growth over the build and tracemalloc's peak (a second, traced build:
  tracing slows it). Names/s on one core (one thread, `MatchIndex.match` per name), with the
  query's model (blocking: the model's parts first, as the API does) and without (the whole
  catalogue, as pg_trgm sees it): a first pass (cold: it builds the blocks), a second with the
  memo of answers emptied (warm blocks, every name matched again: the figure compared), and a
  third answered from the memo.
* **Names as typed**: `pricebook match-eval --typed`'s names (pricebook/matching/variants.py:
  the demo catalogue's standard names with two or three of homophone typos, a missing or doubled
  character, spaces, traditional characters, sides written other ways, abbreviations, quality
  and quantity words), tuning and held-out halves: Pricebook's top-1 / top-3 / false
  auto-accepts / side errors by part code, with the model; pg_trgm on the same names (right
  when its top-1 has the expected standard name; side errors when its top-1 part sits on the
  other side).
* **pg_trgm**: a table of every name and alias (one row each: parts.name ∪ part_aliases.alias,
  duplicates kept, as the catalogue holds them), a GIN ``gin_trgm_ops`` index, and per query
  ``WHERE name % q ORDER BY similarity(name, q) DESC LIMIT 1`` (the GIN index serves ``%``;
  ``<->`` ordering would need GiST). Also over the distinct names only (a kinder baseline: far
  fewer rows). One connection, queries in sequence: one core on each side.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import random
import re
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.common import scratch_database  # noqa: E402
from pricebook import migrate  # noqa: E402
from pricebook.db import make_engine, session_factory  # noqa: E402
from pricebook.demo.scale import scale_demo  # noqa: E402
from pricebook.matching import CatalogEntry, EvalRow, MatchIndex, contradicts, evaluate  # noqa: E402
from pricebook.matching.loader import build_snapshot  # noqa: E402
from pricebook.matching.variants import Variant, generate, split  # noqa: E402
from pricebook.models import Part, PartAlias  # noqa: E402
from pricebook.settings import Settings  # noqa: E402


def _generator():  # type: ignore[no-untyped-def]
    """tests/data/make_match_eval.py as a module (its transformation functions)."""
    path = ROOT / "tests" / "data" / "make_match_eval.py"
    spec = importlib.util.spec_from_file_location("make_match_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_queries(
    entries: list[CatalogEntry], n: int, seed: int
) -> list[tuple[str, int | None, str]]:
    """(name as typed, model id, expected standard name), from the scale parts, as
    make_match_eval.main does for the demo: same transformations, same ambiguity rule (a
    variant that, cleaned, is another part's name or alias on the model is dropped)."""
    g = _generator()
    rng = random.Random(seed)
    scale = [e for e in entries if e.part_code.startswith("SCALE-") and e.model_ids]
    # Every platform carries the same templates: the names written on a model are the
    # standard names of the templates (by cleaned form and by initials).
    owners: dict[str, set[str]] = {}
    for e in {e.name: e for e in scale}.values():
        for form in (e.name, *e.aliases):
            for key in (g.clean(form), g.initials(g.clean(form))):
                owners.setdefault(key, set()).add(e.name)
    out: list[tuple[str, int | None, str]] = []
    seen: set[tuple[str, int | None]] = set()
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        e = rng.choice(scale)
        model = rng.choice(sorted(e.model_ids))
        notes: list[str] = []
        aliases = list(e.aliases)
        start = rng.choice(aliases) if aliases and rng.random() < 0.45 else e.name
        side, base = g.split_side(start)
        if rng.random() < 0.07 and len(g.clean(start)) >= 2:
            side_p, base_p = g.split_side(e.name)
            name = g.initials(side_p + base_p) if side_p else g.initials(g.clean(e.name))
            name = re.sub(r"[^a-z]", "", name)
            notes = ["pinyin"]
            if len(name) < 3:
                continue
        else:
            if rng.random() < 0.5:
                base = g.colloquial(rng, base, notes)
            if e.is_assembly and "总成" in base and rng.random() < 0.4:
                base = base.replace("总成", "", 1)
            elif e.is_assembly and "总成" not in base and rng.random() < 0.3:
                base += "总成"
            if rng.random() < 0.22:
                base = g.typo(rng, base, notes)
            name = g.place_side(rng, side, base, notes) if side else base
        found = owners.get(g.clean(name))
        if found and found != {e.name}:
            continue
        if "pinyin" not in notes:
            name = g.noise(rng, name, notes)
        if (name, model) in seen:
            continue
        seen.add((name, model))
        out.append((name, model, e.name))
    return out


def bench_pricebook(
    index: MatchIndex, queries: list[tuple[str, int | None, str]], *, use_model: bool
) -> tuple[float, float, float, float]:
    """(names/s first pass, names/s second pass, names/s answered from the memo, top-1).

    The first pass builds the blocks it needs (cold); the second runs with an empty memo
    (warm blocks, every name matched again); the third repeats the second's names, answered
    from the index's memo of answers given."""
    rates = []
    correct = 0
    index.forget_answers()
    for n_pass in range(3):
        if n_pass == 1:
            index.forget_answers()
        correct = 0
        started = time.perf_counter()
        for name, model, expected in queries:
            result = index.match([name], model_id=model if use_model else None, top_k=5)[0]
            best = result.best
            correct += best is not None and best.name == expected
        rates.append(len(queries) / (time.perf_counter() - started))
    return rates[0], rates[1], rates[2], correct / len(queries)


def bench_pg_trgm(engine, queries, table: str):  # type: ignore[no-untyped-def]
    """(names/s, top-1 accuracy, queries with no answer, part code answered per query)."""
    sql = text(
        f"SELECT p.name, p.code FROM {table} n JOIN parts p ON p.id = n.part_id "
        "WHERE n.name % :q ORDER BY similarity(n.name, :q) DESC, n.part_id LIMIT 1"
    )
    correct = empty = 0
    codes: list[str | None] = []
    with engine.connect() as conn:
        conn.execute(text("SELECT set_limit(0.3)"))  # the default threshold, made explicit
        started = time.perf_counter()
        for name, _model, expected in queries:
            row = conn.execute(sql, {"q": name}).first()
            got = row[0] if row else None
            codes.append(row[1] if row else None)
            empty += got is None
            correct += got == expected
        elapsed = time.perf_counter() - started
    return len(queries) / elapsed, correct / len(queries), empty, codes


def typed_queries(snapshot) -> dict[str, list[Variant]]:  # type: ignore[no-untyped-def]
    """`match-eval --typed`'s names: the demo catalogue's standard names as adjusters type
    them (pricebook/matching/variants.py), its tuning and held-out halves."""
    demo = [e for e in snapshot.index.entries if not e.part_code.startswith("SCALE-")]
    tuning, held_out = split(generate(demo, model_codes=snapshot.model_codes))
    return {"tuning": tuning, "held-out": held_out}


def side_errors(index: MatchIndex, expected: list[str], got: list[str | None]) -> int:
    n = 0
    for want, code in zip(expected, got, strict=True):
        if code is None or code == want:
            continue
        a, b = index.side_of(want), index.side_of(code)
        n += a is not None and b is not None and contradicts(a, b)
    return n


def prepare_trgm(engine) -> dict[str, float]:  # type: ignore[no-untyped-def]
    timings = {}
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        started = time.perf_counter()
        conn.execute(
            text(
                "CREATE TABLE match_names AS SELECT id AS part_id, name FROM parts "
                "UNION ALL SELECT part_id, alias FROM part_aliases"
            )
        )
        conn.execute(
            text("CREATE INDEX ix_match_names_trgm ON match_names USING gin (name gin_trgm_ops)")
        )
        timings["all"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(
            text(
                "CREATE TABLE match_names_distinct AS SELECT DISTINCT ON (name) part_id, name "
                "FROM match_names ORDER BY name, part_id"
            )
        )
        conn.execute(
            text(
                "CREATE INDEX ix_match_names_distinct_trgm ON match_names_distinct "
                "USING gin (name gin_trgm_ops)"
            )
        )
        timings["distinct"] = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE match_names"))
        conn.execute(text("ANALYZE match_names_distinct"))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=50_000)
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    with scratch_database("pricebook_bench_match") as url:
        engine = make_engine(Settings(database_url=url))
        try:
            migrate.upgrade(engine)
            print(f"catalogue: demo + demo scale --parts {args.parts} --prices 0 …", flush=True)
            scale_demo(engine, parts=args.parts, prices=0)
            with session_factory(engine)() as s:
                n_parts = s.scalar(select(func.count()).select_from(Part)) or 0
                n_aliases = s.scalar(select(func.count()).select_from(PartAlias)) or 0
                n_distinct = s.scalar(
                    text(
                        "SELECT count(*) FROM (SELECT name FROM parts UNION "
                        "SELECT alias FROM part_aliases) x"
                    )
                )
            strings = n_parts + n_aliases
            print(
                f"catalogue: {n_parts:,} parts, {n_aliases:,} aliases = {strings:,} names and "
                f"aliases ({n_distinct:,} distinct)"
            )
            if strings < 200_000:
                print(f"warning: only {strings:,} names and aliases (the goal is ≥ 200,000)")

            # --- Pricebook: build ---------------------------------------------------------
            gc.collect()
            rss0 = _rss()
            with session_factory(engine)() as s:
                snapshot = build_snapshot(s)
            gc.collect()
            rss_delta = _rss() - rss0
            index = snapshot.index
            size = snapshot.size
            print(
                f"pricebook index: build {snapshot.build_seconds:.1f}s (load + index + warm), "
                f"RSS +{rss_delta / 1e6:.0f} MB, size() ~{size.approx_bytes / 1e6:.0f} MB; "
                f"{size.entries:,} parts, {size.strings:,} strings, {size.cores:,} cores, "
                f"{size.pinyin_strings:,} pinyin strings"
            )
            with session_factory(engine)() as s:
                tracemalloc.start()
                traced = build_snapshot(s)
                _, peak = tracemalloc.get_traced_memory()
                current, _ = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            del traced
            print(
                f"pricebook index: tracemalloc peak {peak / 1e6:.0f} MB during a build, "
                f"{current / 1e6:.0f} MB held after it (incl. the load's transient objects)"
            )

            # --- queries ------------------------------------------------------------------
            started = time.perf_counter()
            queries = make_queries(index.entries, args.names, args.seed)
            print(f"queries: {len(queries):,} generated in {time.perf_counter() - started:.1f}s")
            for sample in queries[:: max(1, len(queries) // 8)][:8]:
                print(f"  e.g. {sample[0]!r} → {sample[2]}")

            cold_m, warm_m, memo_m, acc_m = bench_pricebook(index, queries, use_model=True)
            _, warm_a, _, acc_a = bench_pricebook(index, queries, use_model=False)

            # --- names as typed (match-eval --typed): both halves, with model ---------------
            typed = typed_queries(snapshot)
            typed_reports = {}
            for label, half in typed.items():
                index.forget_answers()
                rows = [EvalRow(v.name, v.model_id, v.expected_part_code) for v in half]
                started = time.perf_counter()
                report = evaluate(index, rows)
                typed_reports[label] = (report, len(rows) / (time.perf_counter() - started))

            # --- pg_trgm --------------------------------------------------------------------
            trgm_build = prepare_trgm(engine)
            rate_t, acc_t, empty_t, _ = bench_pg_trgm(engine, queries, "match_names")
            rate_d, acc_d, empty_d, _ = bench_pg_trgm(engine, queries, "match_names_distinct")
            typed_trgm = {}
            for label, half in typed.items():
                q = [(v.name, v.model_id, v.standard_name) for v in half]
                rate, acc, empty, codes = bench_pg_trgm(engine, q, "match_names")
                expected = [v.expected_part_code for v in half]
                typed_trgm[label] = (rate, acc, empty, side_errors(index, expected, codes))
        finally:
            engine.dispose()

    n = len(queries)
    print()
    print(f"{n:,} names against {strings:,} catalogue names and aliases; correct = top-1 has the")
    print("expected standard name (the scale catalogue repeats names across platforms)")
    print()
    print(f"{'engine':<44} {'top-1':>7} {'names/s':>10} {'vs pg_trgm':>11}")
    rows = [
        ("pricebook, with model (cold blocks)", acc_m, cold_m),
        ("pricebook, with model (warm, no memo)", acc_m, warm_m),
        ("pricebook, with model (memo hits)", acc_m, memo_m),
        ("pricebook, whole catalogue (no memo)", acc_a, warm_a),
        (f"pg_trgm GIN, {strings:,} rows ({empty_t} no answer)", acc_t, rate_t),
        (f"pg_trgm GIN, {n_distinct:,} distinct names ({empty_d} no answer)", acc_d, rate_d),
    ]
    for label, acc, rate in rows:
        print(f"{label:<44} {acc:>7.1%} {rate:>10,.0f} {rate / rate_t:>10.1f}×")
    print()
    print("names as typed (match-eval --typed: the demo's standard names, 2–3 of homophones,")
    print("missing/doubled characters, spaces, traditional, sides, abbreviations, noise a name);")
    print("pricebook with model, by part code; pg_trgm over every name and alias, right when its")
    print("top-1 has the expected standard name")
    print()
    print(
        f"{'half / engine':<26} {'names':>6} {'top-1':>7} {'top-3':>7} {'false acc.':>10} "
        f"{'side err.':>9} {'names/s':>9}"
    )
    for label, (report, rate) in typed_reports.items():
        print(
            f"{label + ', pricebook':<26} {report.n:>6} {report.top1:>7.1%} {report.top3:>7.1%} "
            f"{report.false_auto_accept_rate:>10.2%} {report.side_errors:>9} {rate:>9,.0f}"
        )
        t_rate, t_acc, t_empty, t_side = typed_trgm[label]
        print(
            f"{label + ', pg_trgm':<26} {report.n:>6} {t_acc:>7.1%} {'':>7} {'':>10} "
            f"{t_side:>9} {t_rate:>9,.0f}  ({t_empty} no answer)"
        )
    print()
    print(
        f"index build {snapshot.build_seconds:.1f}s, RSS +{rss_delta / 1e6:.0f} MB, "
        f"tracemalloc peak {peak / 1e6:.0f} MB; pg_trgm table + GIN index "
        f"{trgm_build['all']:.1f}s (distinct: {trgm_build['distinct']:.1f}s)"
    )
    print(
        f"goal: ≥ 20× pg_trgm's names/s with higher top-1 — with model (warm, no memo) "
        f"{warm_m / rate_t:.0f}×, top-1 {acc_m:.1%} vs {acc_t:.1%}: "
        + ("met" if warm_m >= 20 * rate_t and acc_m > acc_t else "NOT met")
    )


if __name__ == "__main__":
    main()
