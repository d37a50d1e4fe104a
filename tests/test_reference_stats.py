"""The reference memo's hit and miss counters (`pricebook.estimates.REFERENCE_STATS`) and
GET /api/v1/estimates/reference-cache, which bench/validate.py reads them from."""

from __future__ import annotations

import os

from pricebook import estimates
from tests import test_estimates as te
from tests.test_api_base import api_fixture  # noqa: F401  (fixture)

db, http = te.db, te.http  # fixtures


def _stats() -> dict[str, int]:
    return dict(estimates.reference_cache_stats())


def _validate(db, n: int, **kw) -> dict[str, int]:
    """Validate the same lines (a channel shop: parts, an assembly's components, labor, a
    consumable, a rescue) as a new estimate; the counters' change."""
    matcher = te.fake_matcher({"左前叶子板": db.parts["VW1-0001"]})
    data = te.body(db, te._lines(db, 1), estimate_id=f"E-STATS-{n}", shop=te.CHANNEL_SHOP,
                   vehicle={"model_id": db.model, "vin": f"LSVAB4BR5PN0009{n:02d}"})  # fmt: skip
    before = _stats()
    te._statements_of(db, data, matcher, **kw)
    after = _stats()
    return {k: after[k] - before[k] for k in ("hits", "misses", "dropped")}


def test_first_validation_misses_the_next_hits_every_one(db):
    estimates.clear_caches()
    first = _validate(db, 1)
    # static tables, place, vehicle, profile, parts, components, fitment, prices, card, labor
    # rates, hours, inclusions, the consumable, the rescue tariff: at least one of each
    assert first["hits"] == 0 and first["misses"] >= 14, first
    assert estimates.reference_cache_stats()["entries"] > 0
    second = _validate(db, 2)
    assert second == {"hits": first["misses"], "misses": 0, "dropped": 0}, (first, second)
    # keeping nothing: every reference read again, none found
    cold = _validate(db, 3, keep=0)
    assert cold == {"hits": 0, "misses": first["misses"], "dropped": 0}, (first, cold)


def test_a_memo_over_its_bound_lets_go_of_its_parts_and_keeps_the_rest(db):
    estimates.clear_caches()
    first = _validate(db, 4, keep=1)
    assert first["dropped"] == 0
    again = _validate(db, 5, keep=1)  # over the bound of 1: the part entries go (newest(0))
    assert again["dropped"] == 1
    # the branch's place, the profile, the static tables, the card, the labor rates and the
    # rescue tariff are not part entries: still found; every part entry read again
    assert 0 < again["hits"] < first["misses"], (first, again)
    assert again["hits"] + again["misses"] == first["misses"], (first, again)


def test_newest_keeps_the_entries_read_last_in_new_dicts():
    from pricebook.estimates import Generation, _References

    memo = _References(Generation("t", 1, 1))
    memo.parts.update({pid: None for pid in range(10)})
    memo.prices.update({(pid, "chain"): () for pid in range(10)})
    memo.components[3] = ()
    memo.inclusions[3] = ()
    memo.entries = 20
    kept = memo.newest(10)
    assert list(kept.parts) == [5, 6, 7, 8, 9]
    assert list(kept.prices) == [(pid, "chain") for pid in (5, 6, 7, 8, 9)]
    assert kept.components == {} and kept.inclusions == {} and kept.entries == 10
    # a validation still reading the old memo finds everything it had
    assert len(memo.parts) == 10 and memo.components == {3: ()} and memo.entries == 20
    assert kept.generation == memo.generation and kept.places is memo.places


async def test_http_reference_cache_counts_this_process(http):
    api = http.api
    estimates.clear_caches()
    r = await api.get("/api/v1/estimates/reference-cache")
    assert r.status_code == 200, r.text
    before = r.json()
    assert before["pid"] == os.getpid()
    assert before["limit"] == api.settings.reference_cache_entries
    assert before["entries"] == 0
    lines = [{"type": "part", "part_id": http.parts["VW1-0001"], "claimed_unit_price": "1280.00"}]
    for n in range(2):
        data = te.http_body(http.parts, http.model, lines, estimate_id=f"E-STATS-HTTP-{n}")
        posted = await api.client.post(te.URL, json=data, headers=api.h("estimate_tool"))
        assert posted.status_code == 201, posted.text
    after = (await api.get("/api/v1/estimates/reference-cache")).json()
    misses, hits = after["misses"] - before["misses"], after["hits"] - before["hits"]
    assert misses > 0 and hits == misses, (before, after)  # the second found what the first read
    assert after["entries"] > 0
    assert (await api.client.get("/api/v1/estimates/reference-cache")).status_code == 401
