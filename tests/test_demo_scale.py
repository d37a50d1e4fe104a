"""`demo scale` writes the parts, aliases, fitment and exactly the prices asked for."""

from __future__ import annotations

from sqlalchemy import func, select, text

from pricebook.db import session_factory
from pricebook.demo import scale_demo
from pricebook.models import Fitment, Part, Price, VehicleModel


def test_scale_adds_parts_and_exactly_the_prices_asked_for(engine):
    scale_demo(engine, parts=300, prices=4000)
    with session_factory(engine)() as session:
        scale_parts = session.scalar(select(func.count()).where(Part.code.like("SCALE-%")))
        scale_prices = session.scalar(select(func.count()).where(Price.created_by == "scale"))
        fitted = session.scalar(
            select(func.count()).select_from(Fitment).join(Part).where(Part.code.like("SCALE-%"))
        )
        closed = session.scalar(
            select(func.count()).where(Price.created_by == "scale", Price.valid_to.is_not(None))
        )
    assert scale_parts == 300
    assert scale_prices == 4000
    assert fitted == 300 * 3
    assert 0 < closed < scale_prices  # every fifth key also has an older, closed version


def test_national_shape_shares_parts_and_keeps_non_overlapping_history(engine):
    from pricebook.demo.bulk import part_templates
    from pricebook.demo.national import NationalShape, national_demo
    from pricebook.models import Branch, PartAlias

    per_platform = len(part_templates())
    shared = -(-per_platform // 10)  # one template in ten also fits the next platform
    written = national_demo(engine, NationalShape(models=12, parts=3 * per_platform, prices=3000))
    with session_factory(engine)() as session:
        models = session.scalar(select(func.count()).where(VehicleModel.code.like("SCALE-MN%")))
        parts = session.scalar(select(func.count()).where(Part.code.like("SCALE-N%")))
        fitted = session.scalar(
            select(func.count()).select_from(Fitment).join(Part).where(Part.code.like("SCALE-N%"))
        )
        sub_branches = session.scalar(
            select(func.count()).where(Branch.code.like("NAT%"), Branch.kind == "sub_branch")
        )
        aliases = session.scalar(
            select(func.count()).select_from(PartAlias).join(Part).where(Part.code.like("SCALE-N%"))
        )
        prices = session.scalar(select(func.count()).where(Price.created_by == "scale"))
        by_scope = dict(
            session.execute(
                select(Price.scope, func.count())
                .where(Price.created_by == "scale")
                .group_by(Price.scope)
            ).all()
        )
        key = "part_id, coalesce(model_id, 0), scope, coalesce(region_id, 0), coalesce(branch_id, 0), price_type_id"
        versions = (
            session.execute(
                text(
                    f"SELECT count(*) FROM (SELECT {key}, count(*) AS n, sum(CASE WHEN valid_to IS NULL "
                    f"THEN 1 ELSE 0 END) AS open FROM prices WHERE created_by = 'scale' GROUP BY {key}) k "
                    "GROUP BY n > 1, open ORDER BY n > 1, open"
                )
            )
            .scalars()
            .all()
        )
        overlapping = session.scalar(
            text(
                "SELECT count(*) FROM prices a JOIN prices b ON a.id < b.id AND a.part_id = b.part_id "
                "AND a.price_type_id = b.price_type_id AND a.scope = b.scope "
                "AND coalesce(a.model_id, 0) = coalesce(b.model_id, 0) "
                "AND coalesce(a.region_id, 0) = coalesce(b.region_id, 0) "
                "AND coalesce(a.branch_id, 0) = coalesce(b.branch_id, 0) "
                "AND a.valid_from < coalesce(b.valid_to, '9999-12-31') "
                "AND b.valid_from < coalesce(a.valid_to, '9999-12-31') WHERE a.created_by = 'scale'"
            )
        )
        unfitted = session.scalar(
            text(
                "SELECT count(*) FROM prices p WHERE p.created_by = 'scale' AND p.model_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM fitments f WHERE f.part_id = p.part_id AND f.model_id = p.model_id)"
            )
        )
    assert written == prices == 3000
    assert (models, parts, sub_branches) == (12, 3 * per_platform, 28 * 3)
    assert fitted == 3 * per_platform * 4 + 2 * shared * 4
    assert aliases > parts
    assert set(by_scope) == {"system", "region", "branch"} and by_scope["system"] >= parts
    assert overlapping == 0
    assert unfitted == 0
    # keys with one version and keys with history; open and expired newest versions
    assert len(versions) == 4 and min(versions) > 0
