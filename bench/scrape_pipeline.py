"""Parsed market items → PostgreSQL through the core pipeline (`pricebook.market.ingest_items`),
as the Scrapy `CorePipeline` calls it (batches of 500); prints items/s (goal ≥ 2,000 items/s).

    .venv/bin/python bench/scrape_pipeline.py [--items 50000] [--batch 500]

A scratch database (bench/common.py) gets the schema and the demo catalogue; the items are
synthetic but shaped like the fixture market's: names from the demo catalogue as adjusters and
shops write them (standard names, aliases, colloquial variants, some with OE numbers in several
spellings, some unknown), fitment texts from its models, price texts in every format the parser
reads (¥1,280.00, 0.35万元, 850-920元, 面议 …), three regions, several price types. Three passes:
a first crawl (all new observations), a re-crawl (same prices: last_seen updates), and a crawl
where 10% of the prices changed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench.common import scratch_database
from pricebook import migrate
from pricebook.db import make_engine, session_factory
from pricebook.demo import load_demo
from pricebook.demo.catalog import demo_rows
from pricebook.market import IngestResult, ingest_items
from pricebook.models import MarketObservation
from pricebook.settings import Settings

REGIONS = ["440300", "440100", "320500", "330100", "110000"]
TYPES = ["原厂件", "品牌件", "适用件", "拆车件", "4S店价", None]


def _price_text(rng: random.Random, yuan: int) -> str:
    form = rng.randrange(10)
    if form == 0:
        return f"¥{yuan:,}.00"
    if form == 1:
        return f"{yuan / 10000:.4f}".rstrip("0") + "万元" if yuan >= 1000 else f"{yuan}元"
    if form == 2:
        return f"{yuan - 20}-{yuan + 20}元"
    if form == 3:
        return f"￥{yuan}"
    if form == 4 and rng.random() < 0.2:
        return "面议"
    return f"{yuan:,}"


def make_items(n: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = demo_rows()
    models = {m["model_code"]: m for m in rows["models"]}
    fits: dict[str, list[str]] = {}
    for f in rows["fitment"]:
        fits.setdefault(f["part_code"], []).append(f["model_code"])
    parts = rows["parts"]
    items = []
    for k in range(n):
        part = parts[rng.randrange(len(parts))]
        names = [part["name"], *[a for a in part["aliases"].split("|") if a]]
        name = rng.choice(names)
        if rng.random() < 0.05:
            name = f"{name}（特价）"  # noise the matcher must cope with
        oe = None
        if part["oe_number"] and rng.random() < 0.4:
            oe = rng.choice(
                [
                    part["oe_number"],
                    part["oe_number"].replace(" ", ""),
                    part["oe_number"].replace(" ", "-").lower(),
                ]
            )
        fitment = None
        if part["part_code"] in fits:
            m = models[rng.choice(fits[part["part_code"]])]
            fitment = f"{m['brand_name']} {m['series_name']} {m['model_year']}款"
        base = 80 + (hash(part["part_code"]) % 3000)
        items.append(
            {
                "source": f"bench_source_{k % 3}",
                "url": f"https://market.example.invalid/list?page={k // 50 + 1}",
                "fetched_at": "2026-03-01T08:00:00+00:00",
                "raw_name": name,
                "raw_price": _price_text(rng, base + rng.randrange(-40, 40)),
                "raw_oe": oe,
                "raw_brand_text": fitment,
                "price_type_hint": rng.choice(TYPES),
                "region_code": REGIONS[k % len(REGIONS)],
                "raw_region": None,
                "price_unit_hint": "元",
                "page": k // 50 + 1,
                # one listing per item: a shop lists a part once per fitment and region
                "_n": k,
            }
        )
    for item in items:
        item["raw_brand_text"] = f"{item['raw_brand_text'] or '通用'} #{item.pop('_n')}"
    return items


def run_pass(engine, items, batch: int, run_id: int | None = None) -> tuple[float, IngestResult]:
    total = IngestResult()
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        total.add(ingest_items(engine, items[start : start + batch], run_id))
    return time.perf_counter() - started, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="items per ingest call")
    args = parser.parse_args()

    items = make_items(args.items)
    with scratch_database("pricebook_bench_scrape") as url:
        engine = make_engine(Settings(database_url=url))
        try:
            migrate.upgrade(engine)
            load_demo(engine)
            # warm-up: the process builds its matching index once per catalogue version
            t0 = time.perf_counter()
            ingest_items(engine, make_items(10, seed=99), None)
            print(f"catalogue index built and first batch in {time.perf_counter() - t0:.2f}s")

            changed = [dict(i) for i in items]
            rng = random.Random(3)
            for item in rng.sample(changed, len(changed) // 10):
                item["raw_price"] = "¥9,999"
            for label, batch_items in (
                ("first crawl (new observations)", items),
                ("re-crawl, same prices (last_seen)", items),
                ("re-crawl, 10% prices changed", changed),
            ):
                elapsed, result = run_pass(engine, batch_items, args.batch)
                rate = len(batch_items) / elapsed
                print(
                    f"{label:36s} {len(batch_items):>7,} items in {elapsed:6.2f}s = "
                    f"{rate:>8,.0f} items/s  (matched {result.matched:,}, unmatched "
                    f"{result.unmatched:,}, dropped {result.dropped:,}, new {result.new:,}, "
                    f"last_seen {result.updated_last_seen:,})"
                )
            with session_factory(engine)() as session:
                rows = session.scalar(select(func.count()).select_from(MarketObservation))
            print(f"market_observations rows: {rows:,}; goal ≥ 2,000 items/s")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
