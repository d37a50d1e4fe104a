"""Unit tests of the matching core on a small hand-made catalogue."""

from __future__ import annotations

import pytest

from pricebook.matching import (
    CatalogEntry,
    LearnedMapping,
    MatchIndex,
    Side,
    SynonymTable,
    contradicts,
    default_synonym_groups,
    evaluate,
    learned_key,
    normalize,
    normalize_oe,
    parse_side,
    parse_synonym_tsv,
    synonym_groups_to_tsv,
)
from pricebook.matching.demo_entries import DemoCatalog, demo_catalog

VW, TOYOTA = 1, 2  # model ids
VW_BRAND, TOYOTA_BRAND = 10, 20


def _part(
    part_id: int,
    code: str,
    name: str,
    *,
    aliases: tuple[str, ...] = (),
    oe: tuple[str, ...] = (),
    assembly: bool = False,
    model: int | None = VW,
    category: str = "body",
) -> CatalogEntry:
    models = frozenset() if model is None else frozenset({model})
    brands = (
        frozenset() if model is None else frozenset({VW_BRAND if model == VW else TOYOTA_BRAND})
    )
    return CatalogEntry(
        part_id=part_id,
        part_code=code,
        name=name,
        aliases=aliases,
        oe_numbers=tuple(normalize_oe(o) for o in oe),
        is_assembly=assembly,
        model_ids=models,
        brand_ids=brands,
        category=category,
    )


# Model 1 (VW) writes names side-first; model 2 (Toyota) writes them the way JY-style systems
# do, colloquial word first and the side last in full-width brackets.
CATALOG: list[CatalogEntry] = [
    _part(
        1, "VW-FENDER-L", "左前翼子板", aliases=("左前叶子板",), oe=("5G0 821 021 A", "5G0-821-021")
    ),
    _part(2, "VW-FENDER-R", "右前翼子板", oe=("5G0 821 022 A",)),
    _part(3, "VW-BUMPER-F", "前保险杠", aliases=("前杠",), oe=("5G0.807.221",)),
    _part(4, "VW-BUMPER-R", "后保险杠", aliases=("后杠",)),
    _part(5, "VW-HEAD-L", "左前照灯总成", assembly=True, category="lamp"),
    _part(6, "VW-HEAD-R", "右前照灯总成", assembly=True, category="lamp"),
    _part(7, "VW-HEAD-BULB", "前照灯灯泡", category="lamp"),
    _part(8, "VW-HEAD-BRKT-L", "左前照灯支架", category="lamp"),
    _part(9, "VW-HOOD", "发动机盖", aliases=("机盖",)),
    _part(10, "VW-GRILLE", "进气格栅"),
    _part(11, "VW-RAD", "散热器", category="mechanical"),
    _part(12, "VW-MIRROR-L", "左外后视镜总成", assembly=True),
    _part(13, "VW-MIRROR-R", "右外后视镜总成", assembly=True),
    _part(21, "TY-FENDER-L", "前叶子板（左）", model=TOYOTA),
    _part(22, "TY-FENDER-R", "前叶子板（右）", model=TOYOTA),
    _part(23, "TY-BUMPER-F", "前保险杠皮", model=TOYOTA),
    _part(24, "TY-BUMPER-R", "后保险杠皮", model=TOYOTA),
    _part(25, "TY-HEAD-L", "大灯总成（左）", assembly=True, model=TOYOTA, category="lamp"),
    _part(26, "TY-HEAD-R", "大灯总成（右）", assembly=True, model=TOYOTA, category="lamp"),
    _part(27, "TY-HOOD", "引擎盖", model=TOYOTA),
    _part(28, "TY-GRILLE", "中网", model=TOYOTA),
    _part(29, "TY-RAD", "水箱", model=TOYOTA, category="mechanical"),
    _part(30, "TY-MIRROR-L", "倒车镜总成（左）", assembly=True, model=TOYOTA),
    _part(31, "TY-MIRROR-R", "倒车镜总成（右）", assembly=True, model=TOYOTA),
    _part(99, "U-CLIP", "卡扣", model=None, category="consumable"),
]
MODEL_BRANDS = {VW: VW_BRAND, TOYOTA: TOYOTA_BRAND}


@pytest.fixture(scope="module")
def index() -> MatchIndex:
    return MatchIndex.build(CATALOG, default_synonym_groups(), model_brands=MODEL_BRANDS)


def one(index: MatchIndex, name: str, model_id: int | None = VW, **kw: object):  # type: ignore[no-untyped-def]
    return index.match([name], model_id=model_id, **kw)[0]  # type: ignore[arg-type]


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("前叶子板（左）", "前叶子板(左)"),
        ("前叶子板【左】", "前叶子板(左)"),
        ("前叶子板[左]", "前叶子板(左)"),
        ("前叶子板［左］", "前叶子板(左)"),
        ("ＬＨ前照灯", "lh前照灯"),
        ("  前  保险杠 ", "前保险杠"),  # spaces between Chinese characters are typing, not words
        ("前 档 风 玻 璃", "前档风玻璃"),
        ("RH 后视镜", "rh 后视镜"),
        ("前保险杠，支架", "前保险杠 支架"),
        ("後視鏡總成（左）", "后视镜(左)"),
        ("前保險槓", "前保险杠"),
        ("前叶子板 - 左", "前叶子板 左"),
        ("前叶子板( )", "前叶子板"),
    ],
)
def test_normalize_text(raw: str, text: str) -> None:
    assert normalize(raw).text == text


@pytest.mark.parametrize(
    ("raw", "quality"),
    [
        ("原厂前保险杠", ("原厂",)),
        ("前保险杠(原厂件)", ("原厂",)),
        ("正厂 前保险杠", ("正厂",)),
        ("副厂前保险杠", ("副厂",)),
        ("全新前保险杠", ("全新",)),
        ("拆车件 前保险杠", ("拆车",)),
        ("二手前保险杠", ("二手",)),
        ("品牌件前保险杠", ("品牌",)),
        ("进口前挡风玻璃", ("进口",)),
        ("国产 前挡风玻璃", ("国产",)),
        ("原厂全新前保险杠", ("原厂", "全新")),
    ],
)
def test_quality_words_become_attributes(raw: str, quality: tuple[str, ...]) -> None:
    n = normalize(raw)
    assert n.quality == quality
    assert "原厂" not in n.text and "全新" not in n.text and "件" not in n.text


@pytest.mark.parametrize(
    ("raw", "quantity", "unit"),
    [
        ("前保险杠 x2", 2, None),
        ("前保险杠×2", 2, None),
        ("前保险杠*3", 3, None),
        ("前保险杠 X1", 1, None),
        ("前保险杠1个", 1, "个"),
        ("雾灯 2只", 2, "只"),
        ("雾灯一对", 1, "对"),
        ("刹车片 一套", 1, "套"),
        ("刹车片/套", 1, "套"),
        ("雾灯 两只", 2, "只"),
        ("雾灯 数量:2", 2, None),
        ("前保险杠", None, None),
    ],
)
def test_quantity_words_become_attributes(raw: str, quantity: int | None, unit: str | None) -> None:
    n = normalize(raw)
    assert (n.quantity, n.unit) == (quantity, unit)
    assert not any(ch.isdigit() for ch in n.text)


def test_quantity_does_not_eat_part_words() -> None:
    assert normalize("防尘套").text == "防尘套"  # 套 inside a word is not a unit
    assert normalize("装饰条").text == "装饰条"
    assert normalize("刹车片").text == "刹车片"


def test_assembly_marker() -> None:
    n = normalize("大灯总成（左）")
    assert n.is_assembly and n.text == "大灯(左)"
    assert normalize("大灯总承").is_assembly  # a common typo
    assert not normalize("大灯").is_assembly


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("後保險槓衷成", "后保险杠"),  # zhong for zong: fuzzy pinyin
        ("前保险杠总忱", "前保险杠"),  # chen for cheng
        ("倒车镜 总 层", "倒车镜"),
        ("后车门踪承（左）", "后车门(左)"),
    ],
)
def test_assembly_marker_typed_with_the_wrong_pick(raw: str, text: str) -> None:
    n = normalize(raw)
    assert n.is_assembly and n.text == text


def test_assembly_homophones_leave_side_characters_alone() -> None:
    assert normalize("中撑杆").text == "中撑杆" and not normalize("中撑杆").is_assembly


@pytest.mark.parametrize(
    ("raw", "text", "action"),
    [
        ("前 档 风 玻 璃 需更换", "前档风玻璃", "更换"),
        ("更换 前门外板(右)(原装)", "前门外板(右)", "更换"),
        ("换新 左前叶子板", "左前叶子板", "更换"),
        ("前保险杠 修复", "前保险杠", "修复"),
        ("前保险杠", "前保险杠", None),
    ],
)
def test_action_words_become_attributes(raw: str, text: str, action: str | None) -> None:
    n = normalize(raw)
    assert (n.text, n.action) == (text, action)


@pytest.fixture(scope="module")
def demo_index() -> tuple[MatchIndex, DemoCatalog]:
    catalog = demo_catalog()
    return MatchIndex.build(catalog.entries, model_brands=catalog.model_brands), catalog


def test_doubled_character(demo_index: tuple[MatchIndex, DemoCatalog]) -> None:
    # Typed twice, a character costs less than a different one (倒车镜片 is one character off);
    # written twice in the catalogue (大灯灯泡), the name as written still wins.
    index, _ = demo_index
    model = next(iter(index.entry_by_code("TY1-0084").model_ids))  # type: ignore[union-attr]
    best = one(index, "倒 车 镜 镜 总 成（左）", model).candidates[0]
    assert best.part_code == "TY1-0084"
    assert one(index, "大灯灯泡", model).candidates[0].name == "大灯灯泡"


def test_latin_side_glued_to_a_quantity() -> None:
    n = normalize("后门玻璃 Rx2")
    assert (n.text, n.quantity) == ("后门玻璃 r", 2)
    assert normalize("x5前叶子板").quantity == 5


@pytest.mark.parametrize(
    ("raw", "oe"),
    [
        ("5G0 821 021 A", "5G0821021A"),
        ("5g0-821-021-a", "5G0821021A"),
        ("5G0.821/021", "5G0821021"),
    ],
)
def test_normalize_oe(raw: str, oe: str) -> None:
    assert normalize_oe(raw) == oe


# --- sides ------------------------------------------------------------------------------------

LEFT_FRONT = Side(lateral="左", longitudinal="前")


def _side_core(index: MatchIndex, name: str) -> tuple[Side, str]:
    p = index.parse(name)
    return p.side, p.core


@pytest.mark.parametrize(
    "name",
    [
        "左前翼子板",  # prefix
        "左前叶子板",
        "前叶子板（左）",  # suffix in brackets
        "前叶子板(左)",
        "前叶子板左",  # bare suffix, 前 in front
        "前叶子板-左",
        "叶子板左前",  # whole side behind
        "叶子板 左前",
        "前叶子板LH",  # Latin
        "前叶子板 L",
        "左侧前叶子板",
        "主驾侧前叶子板",  # driver's side is left in China
        "左前叶",  # shorthand
        "FL 叶子板",
    ],
)
def test_side_forms_all_read_left_front_fender(index: MatchIndex, name: str) -> None:
    assert _side_core(index, name) == (LEFT_FRONT, "翼子板")


@pytest.mark.parametrize(
    ("name", "side", "core"),
    [
        ("右前翼子板", Side(lateral="右", longitudinal="前"), "翼子板"),
        ("前叶子板RH", Side(lateral="右", longitudinal="前"), "翼子板"),
        ("前叶子板R", Side(lateral="右", longitudinal="前"), "翼子板"),
        ("副驾驶后视镜", Side(lateral="右"), "后视镜"),
        ("左后视镜", Side(lateral="左"), "后视镜"),  # 后视镜 is a word, not 后 + 视镜
        ("后视镜左", Side(lateral="左"), "后视镜"),
        (
            "后保险杠支架（左上）",
            Side(lateral="左", longitudinal="后", vertical="上"),
            "保险杠支架",
        ),
        ("尾灯（外右）", Side(lateral="右", depth="外"), "尾灯"),
        ("前杠左支架", Side(lateral="左", longitudinal="前"), "保险杠支架"),
        ("左前照灯", Side(lateral="左"), "前照灯"),  # 前照灯 is a word
        ("中网", Side(), "进气格栅"),
        ("中控台", Side(), "中控台"),
        ("中冷器", Side(), "中冷器"),
        ("后保险杠支架（中）", Side(lateral="中", longitudinal="后"), "保险杠支架"),
        ("左侧围板", Side(lateral="左"), "侧围板"),  # 侧围 is a word, 侧 not filler here
        ("前保险杠下格栅", Side(longitudinal="前"), "保险杠下格栅"),
        ("前照灯", Side(), "前照灯"),
    ],
)
def test_side_parsing(index: MatchIndex, name: str, side: Side, core: str) -> None:
    assert _side_core(index, name) == (side, core)


def test_front_and_rear_bumpers_differ_by_side(index: MatchIndex) -> None:
    front, rear = index.parse("前保险杠"), index.parse("后保险杠")
    assert front.core == rear.core
    assert contradicts(front.side, rear.side)


def test_both_sides_written_is_ambiguous() -> None:
    side, core = parse_side("大灯左右")
    assert side.lateral is None and side.ambiguous and core == "大灯"


def test_parse_side_leaves_ascii_alone() -> None:
    assert parse_side("qbxgl") == (Side(), "qbxgl")


def test_contradicts() -> None:
    assert contradicts(Side(lateral="左"), Side(lateral="右"))
    assert contradicts(Side(lateral="左", longitudinal="前"), Side(lateral="左", longitudinal="后"))
    assert not contradicts(Side(lateral="左"), Side(lateral="左", longitudinal="前"))
    assert not contradicts(Side(), Side(lateral="右"))
    assert not contradicts(Side(lateral="左"), Side())


# --- synonyms ---------------------------------------------------------------------------------


def test_default_synonyms_load_and_roundtrip() -> None:
    groups = default_synonym_groups()
    assert len(groups) >= 30
    assert groups[0][:2] == ["翼子板", "叶子板"]
    assert parse_synonym_tsv(synonym_groups_to_tsv(groups)) == groups


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("叶子板", "翼子板"),
        ("前叶子板", "前翼子板"),  # maximal cover: 前 + 叶子板, not 前叶 + 子板
        ("引擎盖", "发动机盖"),
        ("头盖", "发动机盖"),
        ("发动机盖", "发动机盖"),  # not 发动机 + 盖
        ("倒车镜", "后视镜"),
        ("倒车镜片", "后视镜片"),
        ("中网", "进气格栅"),
        ("水箱", "散热器"),
        ("前杠", "前保险杠"),
        ("杠皮", "保险杠皮"),
        ("大灯", "前照灯"),
        ("尾盖", "尾门"),
        ("钢圈", "轮毂"),
        ("雨刷", "雨刮"),
        ("裙边", "侧裙"),
    ],
)
def test_default_synonyms(text: str, canonical: str) -> None:
    table = SynonymTable(default_synonym_groups())
    assert table.canonicalize(text) == canonical


def test_synonyms_are_replaceable_data() -> None:
    table = SynonymTable([["门把手", "拉手"], ["後視鏡", "倒車鏡"]])  # traditional in the file
    assert table.canonicalize("左拉手") == "左门把手"
    assert table.canonicalize("倒车镜") == "后视镜"
    assert table.canonicalize("叶子板") == "叶子板"  # default groups not in force


def test_synonym_in_two_groups_is_refused() -> None:
    with pytest.raises(ValueError, match="group 1 and group 2"):
        SynonymTable([["翼子板", "叶子板"], ["挡泥板", "叶子板"]])


def test_index_uses_the_given_synonyms() -> None:
    plain = MatchIndex.build(CATALOG, synonym_groups=[])
    r = plain.match(["中网"], model_id=VW)[0]
    assert r.decision != "matched" or r.candidates[0].part_code != "VW-GRILLE"


# --- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model", "code"),
    [
        ("左前叶子板", VW, "VW-FENDER-L"),
        ("前叶子板（左）", VW, "VW-FENDER-L"),
        ("叶子板左前", VW, "VW-FENDER-L"),
        ("左前翼子板", TOYOTA, "TY-FENDER-L"),  # the other convention
        ("前翼子板-右", TOYOTA, "TY-FENDER-R"),
        ("翼子板 RH 前", TOYOTA, "TY-FENDER-R"),
        ("机盖", TOYOTA, "TY-HOOD"),
        ("头盖", VW, "VW-HOOD"),
        ("中网", VW, "VW-GRILLE"),
        ("进气格栅", TOYOTA, "TY-GRILLE"),
        ("水箱", VW, "VW-RAD"),
        ("倒车镜总成 左", VW, "VW-MIRROR-L"),
        ("左后视镜", TOYOTA, "TY-MIRROR-L"),
        ("前杠", VW, "VW-BUMPER-F"),
        ("后杠", VW, "VW-BUMPER-R"),
        ("大灯总成（右）", VW, "VW-HEAD-R"),
        ("原厂 全新 左前叶子板 x1", VW, "VW-FENDER-L"),
    ],
)
def test_matched(index: MatchIndex, name: str, model: int, code: str) -> None:
    r = one(index, name, model)
    assert r.decision == "matched", r
    assert r.candidates[0].part_code == code
    assert r.reason in {"alias_exact", "fuzzy"}


def test_result_carries_side_and_attributes(index: MatchIndex) -> None:
    r = one(index, "原厂左前叶子板 x2")
    assert r.side == LEFT_FRONT
    assert r.attributes.quality == ("原厂",) and r.attributes.quantity == 2
    assert r.reason == "alias_exact"
    assert 0.9 <= r.candidates[0].confidence <= 1.0


def test_assembly_asked_prefers_the_assembly(index: MatchIndex) -> None:
    r = one(index, "左大灯总成")
    assert r.candidates[0].part_code == "VW-HEAD-L"
    assert r.attributes.assembly


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("左前叶子板", VW),
        ("前叶子板（左）", TOYOTA),
        ("左前翼子板", TOYOTA),
        ("叶子板左", VW),
        ("倒车镜总成 左", TOYOTA),
    ],
)
def test_side_hard_rule_never_offers_the_other_side(
    index: MatchIndex, name: str, model: int
) -> None:
    r = one(index, name, model)
    for c in r.candidates:
        assert index.side_of(c.part_code) is not None
        assert not contradicts(r.side, index.side_of(c.part_code))  # type: ignore[arg-type]
        assert not c.part_code.endswith("-R")


def test_side_hard_rule_with_only_the_wrong_side_in_the_catalogue() -> None:
    only_right = MatchIndex.build([CATALOG[1]])  # 右前翼子板, nothing else
    r = only_right.match(["左前叶子板"], model_id=VW)[0]
    assert r.decision in {"unmatched", "suggested"}
    assert all(c.part_code != "VW-FENDER-R" for c in r.candidates)
    # Without a side in the query, it is a fine suggestion but still not auto-accepted.
    r = only_right.match(["前叶子板"], model_id=VW)[0]
    assert r.candidates[0].part_code == "VW-FENDER-R"


def test_no_side_given_and_candidates_differ_only_by_side(index: MatchIndex) -> None:
    r = one(index, "前叶子板")
    assert r.decision == "suggested"
    assert {c.part_code for c in r.candidates[:2]} == {"VW-FENDER-L", "VW-FENDER-R"}
    r = one(index, "保险杠")  # 前 or 后?
    assert r.decision == "suggested"
    assert {c.part_code for c in r.candidates[:2]} == {"VW-BUMPER-F", "VW-BUMPER-R"}


def test_both_sides_written_is_not_auto_accepted(index: MatchIndex) -> None:
    assert one(index, "大灯总成左右").decision == "suggested"


def test_front_bumper_never_matches_rear(index: MatchIndex) -> None:
    for name, wrong in [
        ("前保险杠", "VW-BUMPER-R"),
        ("后保险杠", "VW-BUMPER-F"),
        ("后杠", "VW-BUMPER-F"),
    ]:
        r = one(index, name)
        assert wrong not in [c.part_code for c in r.candidates]


def test_middle_is_not_a_side_inside_words(index: MatchIndex) -> None:
    r = one(index, "中网")
    assert r.side == Side()


def test_typo_homophone_and_glyph(index: MatchIndex) -> None:
    r = one(index, "左前翌子板")  # homophone (yi)
    assert r.candidates[0].part_code == "VW-FENDER-L"
    r = one(index, "前保险扛")  # look-alike glyph
    assert r.candidates[0].part_code == "VW-BUMPER-F"
    assert r.decision in {"suggested", "matched"}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("qbxg", "VW-BUMPER-F"),
        ("QBXG", "VW-BUMPER-F"),
        ("qianbaoxiangang", "VW-BUMPER-F"),
        ("hbxg", "VW-BUMPER-R"),
        ("fdjg", "VW-HOOD"),
        ("zqyzb", "VW-FENDER-L"),
    ],
)
def test_pinyin(index: MatchIndex, query: str, code: str) -> None:
    r = one(index, query)
    assert r.candidates[0].part_code == code
    assert r.candidates[0].reason == "pinyin"


def test_pinyin_initials_against_the_other_convention(index: MatchIndex) -> None:
    r = one(index, "yqg", TOYOTA)  # 引擎盖
    assert r.candidates[0].part_code == "TY-HOOD"


@pytest.mark.parametrize(
    "query",
    ["5G0821021A", "5g0-821-021-a", "5G0 821 021 A", "左前叶子板 5G0821021A", "5G0.821.021"],
)
def test_oe_exact_including_superseded(index: MatchIndex, query: str) -> None:
    r = one(index, query, None)
    assert (r.decision, r.reason) == ("matched", "oe_exact")
    assert r.candidates[0].part_code == "VW-FENDER-L"


def test_oe_exact_still_obeys_the_side_rule(index: MatchIndex) -> None:
    r = one(index, "右前叶子板 5G0821021A")
    assert all(c.part_code != "VW-FENDER-L" for c in r.candidates)


def test_oe_wins_over_a_misleading_name(index: MatchIndex) -> None:
    r = one(index, "保险杠 5G0807221")
    assert (r.reason, r.candidates[0].part_code) == ("oe_exact", "VW-BUMPER-F")


# --- blocking ---------------------------------------------------------------------------------


def test_blocking_by_model_fitment(index: MatchIndex) -> None:
    assert one(index, "左前叶子板", VW).candidates[0].part_code == "VW-FENDER-L"
    assert one(index, "左前叶子板", TOYOTA).candidates[0].part_code == "TY-FENDER-L"


def test_universal_parts_are_in_every_block(index: MatchIndex) -> None:
    r = one(index, "卡扣", TOYOTA)
    assert (r.decision, r.candidates[0].part_code) == ("matched", "U-CLIP")


def test_widening_to_the_whole_catalogue_is_only_a_suggestion() -> None:
    vw_only = [e for e in CATALOG if e.part_code != "TY-RAD" and e.part_code != "VW-RAD"]
    idx = MatchIndex.build([*vw_only, _part(50, "VW-CONDENSER", "冷凝器")])
    r = idx.match(["冷凝器"], model_id=TOYOTA)[0]
    assert r.candidates[0].part_code == "VW-CONDENSER"
    assert r.decision == "suggested"


def test_no_model_searches_everything(index: MatchIndex) -> None:
    r = one(index, "中网", None)
    assert {c.part_code for c in r.candidates[:2]} == {"VW-GRILLE", "TY-GRILLE"}
    assert r.decision == "suggested"  # two equal parts: a person picks


# --- decisions --------------------------------------------------------------------------------


def test_unmatched(index: MatchIndex) -> None:
    r = one(index, "蓝牙音箱")
    assert r.decision == "unmatched" and r.reason is None
    assert one(index, "原厂 x2").decision == "unmatched"  # nothing left of the name


def test_decision_thresholds_are_configurable() -> None:
    from pricebook.matching import MatchConfig

    strict = MatchIndex.build(CATALOG, config=MatchConfig(auto_accept_threshold=101.0))
    assert strict.match(["左前叶子板"], model_id=VW)[0].decision == "suggested"
    loose = MatchIndex.build(CATALOG, config=MatchConfig(suggest_threshold=99.0))
    assert loose.match(["前保险扛"], model_id=VW)[0].decision == "unmatched"


def test_candidates_best_first_with_confidence(index: MatchIndex) -> None:
    r = one(index, "前叶子板", top_k=3)
    scores = [c.score for c in r.candidates]
    assert scores == sorted(scores, reverse=True)
    assert len(r.candidates) <= 3
    assert all(0.0 <= c.confidence <= 1.0 for c in r.candidates)
    assert r.candidates[0].confidence < 0.8  # a tie between two sides is not confident


# --- learned mappings -------------------------------------------------------------------------


def test_learned_mapping_wins(index: MatchIndex) -> None:
    idx = index.with_learned([LearnedMapping(learned_key("老款叶子板左"), 1)])
    r = idx.match(["老款叶子板 左"], model_id=VW)[0]
    assert (r.decision, r.reason, r.candidates[0].part_code) == (
        "matched",
        "learned",
        "VW-FENDER-L",
    )


def test_answers_are_remembered_per_index_and_scope(index: MatchIndex) -> None:
    # the memo must key on the scope, and a copy with learned mappings must not inherit it
    before = index.match(["老款叶子板 左"], model_id=VW)[0]
    assert before.reason != "learned"
    assert index.match(["老款叶子板 左"], model_id=VW)[0] is before  # remembered
    assert index.match(["老款叶子板 左"], model_id=TOYOTA)[0] is not before  # another scope
    learned = index.with_learned([LearnedMapping(learned_key("老款叶子板左"), 1)])
    assert learned.match(["老款叶子板 左"], model_id=VW)[0].reason == "learned"
    assert index.match(["老款叶子板 左"], model_id=VW)[0] is before  # the original is unchanged


def test_learned_mapping_most_specific_scope_first(index: MatchIndex) -> None:
    key = learned_key("杠")
    idx = index.with_learned(
        [
            LearnedMapping(key, 4),  # global: 后保险杠
            LearnedMapping(key, 3, brand_id=VW_BRAND),  # VW: 前保险杠
            LearnedMapping(key, 24, model_id=TOYOTA),  # this Toyota: 后保险杠皮
        ]
    )
    assert idx.match(["杠"], model_id=VW)[0].candidates[0].part_code == "VW-BUMPER-F"
    assert idx.match(["杠"], model_id=TOYOTA)[0].candidates[0].part_code == "TY-BUMPER-R"
    assert idx.match(["杠"])[0].candidates[0].part_code == "VW-BUMPER-R"
    assert idx.match(["杠"], brand_id=VW_BRAND)[0].candidates[0].part_code == "VW-BUMPER-F"


def test_learned_mapping_ignores_quality_words(index: MatchIndex) -> None:
    idx = index.with_learned([LearnedMapping(learned_key("老款叶子板左"), 1)])
    assert idx.match(["原厂 老款叶子板左 x1"], model_id=VW)[0].reason == "learned"


def test_rejection_removes_the_part(index: MatchIndex) -> None:
    before = one(index, "中网")
    assert before.candidates[0].part_code == "VW-GRILLE"
    idx = index.with_learned([LearnedMapping(learned_key("中网"), 10, accepted=False)])
    after = idx.match(["中网"], model_id=VW)[0]
    assert "VW-GRILLE" not in [c.part_code for c in after.candidates]
    # The rejection is for that name only.
    assert idx.match(["进气格栅"], model_id=VW)[0].candidates[0].part_code == "VW-GRILLE"


def test_rejection_scoped_to_another_model_does_not_apply(index: MatchIndex) -> None:
    idx = index.with_learned(
        [LearnedMapping(learned_key("中网"), 10, model_id=TOYOTA, accepted=False)]
    )
    assert idx.match(["中网"], model_id=VW)[0].candidates[0].part_code == "VW-GRILLE"


def test_learned_mapping_cannot_break_the_side_rule(index: MatchIndex) -> None:
    idx = index.with_learned([LearnedMapping(learned_key("左前叶子板"), 2)])  # 右前 — wrong
    r = idx.match(["左前叶子板"], model_id=VW)[0]
    assert r.reason != "learned"
    assert all(c.part_code != "VW-FENDER-R" for c in r.candidates)


# --- index and evaluation ---------------------------------------------------------------------


def test_index_size(index: MatchIndex) -> None:
    size = index.size
    assert size.entries == len(CATALOG)
    assert size.strings == sum(1 + len(e.aliases) for e in CATALOG)
    assert 0 < size.cores < size.strings  # synonyms and sides collapse names
    assert size.approx_bytes > 0


def test_results_in_input_order(index: MatchIndex) -> None:
    names = ["中网", "前杠", "水箱", "qbxg"]
    assert [r.query for r in index.match(names, model_id=VW)] == names


def test_evaluate(index: MatchIndex) -> None:
    report = evaluate(
        index,
        [("左前叶子板", VW, "VW-FENDER-L"), ("前杠", VW, "VW-BUMPER-F"), ("中网", VW, "VW-RAD")],
    )
    assert report.n == 3
    assert report.top1 == pytest.approx(2 / 3)
    assert report.false_auto_accepts == 1
    assert report.false_auto_accept_rate == pytest.approx(1 / 3)
    assert report.side_errors == 0
    assert len(report.failures) == 1 and report.failures[0].name == "中网"
    assert "top-1" in report.summary()


def test_side_written_inside_the_name_breaks_ties() -> None:
    from pricebook.matching.sides import side_hints

    assert side_hints("保险杠下支架") == Side(vertical="下")
    assert side_hints("后视镜") == Side()  # protected word
    upper = _part(60, "VW-RB-BRKT-LU", "后保险杠支架（左上）")
    lower = _part(61, "VW-RB-BRKT-LD", "后保险杠支架（左下）")
    idx = MatchIndex.build([upper, lower])
    r = idx.match(["后杠下支架 左"], model_id=VW)[0]
    assert r.candidates[0].part_code == "VW-RB-BRKT-LD"
    # Only a tie-breaker: the upper bracket stays a candidate (no side was written as such).
    assert "VW-RB-BRKT-LU" in [c.part_code for c in r.candidates]


def test_demo_entries() -> None:
    from pricebook.matching.demo_entries import entries_from_rows

    rows = {
        "models": [{"model_code": "M1", "brand_code": "B1"}, {"model_code": "M2", "brand_code": "B2"}],
        "parts": [
            {"part_code": "P1", "name": "左前翼子板", "aliases": "左前叶子板|左前叶",
             "oe_number": "5G0 821 021 A", "superseded_oe": "5G0-821-021", "is_assembly": "0",
             "universal": "0", "category": "body", "position": "左前"},
            {"part_code": "P2", "name": "防冻液", "aliases": "", "oe_number": "", "universal": "1"},
        ],
        "fitment": [{"part_code": "P1", "model_code": "M2"}],
    }  # fmt: skip
    cat = entries_from_rows(rows)
    p1, p2 = cat.entries
    assert (p1.part_id, p1.aliases, p1.oe_numbers) == (
        1,
        ("左前叶子板", "左前叶"),
        ("5G0821021A", "5G0821021"),
    )
    assert p1.model_ids == {2} and p1.brand_ids == {2} and p1.position == "左前"
    assert p2.model_ids == frozenset() and p2.part_id == 2
    assert cat.model_brands == {1: 1, 2: 2}


@pytest.mark.parametrize(
    ("typed", "standard"),
    [
        ("RH 後視鏡總成 x1", "右后视镜总成"),
        ("RH 後視鏡總成 x1", "倒车镜总成（右）"),
        ("前 档 风 玻 璃 需更换", "前挡风玻璃"),
        ("左前页子板(副厂)", "前叶子板（左）"),
        ("左前页子板(副厂)", "左前翼子板"),
        ("水相框架 左侧", "水箱框架"),
        ("后 车 闷 总 成 （ 左 ） 2个", "后车门总成（左）"),
        ("更换 前们外板(右)(原装)", "前门外板（右）"),
        ("倒车镜衷成（左）", "倒车镜总成（左）"),
        ("前杠支架 LH", "左前保险杠支架"),
        ("尾 燈（內 右）", "尾灯（内右）"),
        ("前左叶子板 拆车件 *1", "前叶子板（左）"),
    ],
)
def test_names_as_typed_on_a_phone(
    demo_index: tuple[MatchIndex, DemoCatalog], typed: str, standard: str
) -> None:
    """The issue's examples and their kind, on a model of each convention: the standard name
    wins and the side read is the part's (never the other side)."""
    index, _ = demo_index
    for entry in [e for e in index.entries if e.name == standard][:3]:
        model = min(entry.model_ids) if entry.model_ids else None
        result = one(index, typed, model)
        assert result.candidates and result.candidates[0].name == standard, result
        side = index.side_of(entry.part_code)
        assert side is not None and not contradicts(result.side, side)


def test_side_word_with_its_filler_in_the_middle_is_a_side() -> None:
    index = MatchIndex.build([])
    assert _side_core(index, "后保险杠左下侧支架") == (
        Side(lateral="左", longitudinal="后", vertical="下"),
        "保险杠支架",
    )
    assert _side_core(index, "后保险杠下侧支架 LH")[0] == Side(
        lateral="左", longitudinal="后", vertical="下"
    )
    # 侧 starting a word stays (侧围, 侧饰); 下 without its filler stays a hint (保险杠下格栅).
    assert _side_core(index, "后侧围板")[1] == "侧围板"
    assert _side_core(index, "门内侧饰板")[1] == "门内侧饰板"
    assert _side_core(index, "前保险杠下格栅")[1] == "保险杠下格栅"


def test_a_name_is_read_once_per_index_and_answers_do_not_change() -> None:
    """`parse` keeps each name it read: the same name typed for another model is not read
    again, and the answers are those of a fresh read (an index without the memo)."""
    index = MatchIndex.build(CATALOG, default_synonym_groups(), model_brands=MODEL_BRANDS)
    names = ["左前叶子板", "前叶子板(左)", "原厂 左前大灯总成 x1", "后保险杠"]
    first = index.match(names, model_id=VW)
    parsed = {n: index.parse(n) for n in names}
    assert all(index.parse(n) is parsed[n] for n in names)  # kept, not read again
    again = index.match(names, model_id=None)  # another model: answers not memoised
    assert all(index.parse(n) is parsed[n] for n in names)
    fresh = MatchIndex.build(CATALOG, default_synonym_groups(), model_brands=MODEL_BRANDS)
    assert fresh.match(names, model_id=VW) == first
    assert fresh.match(names, model_id=None) == again
    assert [fresh._parse(n) for n in names] == [parsed[n] for n in names]
    index.forget_answers()  # benchmarks time the reading too
    assert index.parse(names[0]) is not parsed[names[0]]
    assert index.parse(names[0]) == parsed[names[0]]


def test_a_full_answer_memo_lets_go_of_the_least_recently_used_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memo of answers is bounded; over its bound it drops the answer used longest ago,
    so the names asked all the time stay answered from it (a memo emptied when full lost
    them with the rest). The answers are the same either way."""
    monkeypatch.setattr("pricebook.matching.index._MEMO_SIZE", 3)
    index = MatchIndex.build(CATALOG, default_synonym_groups(), model_brands=MODEL_BRANDS)
    a, b, c, d = "左前叶子板", "后保险杠", "机盖", "左前大灯总成"
    first = index.match([a, b, c], model_id=VW)
    assert index.match([a], model_id=VW)[0] is first[0]  # from the memo, now the newest
    index.match([d], model_id=VW)  # one over the bound: b, used longest ago, goes
    assert [k[0] for k in index._memo] == [c, a, d]
    assert index.match([a], model_id=VW)[0] is first[0]
    assert index.match([b], model_id=VW)[0] is not first[0]  # read and matched again …
    assert index.match([b], model_id=VW)[0] == first[1]  # … to the same answer
    assert len(index._memo) == 3
