"""The demo catalogue's data: administrative regions, branches, brands and series, part
templates with their sides and aliases, platforms, price ratios and labor rates — the tables
`pricebook.demo.catalog` generates the import rows from."""

from __future__ import annotations

from dataclasses import dataclass

SEED = 20261125

# Each kind's exact columns: the contract's required ones plus the optional ones we fill.
COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "level", "parent_code"),
    "branches": ("code", "name", "region_code", "kind", "authority_limit_yuan", "parent_code"),
    "price_types": ("code", "name", "rank"),
    "categories": ("code", "name"),
    "models": (
        "model_code", "brand_code", "brand_name", "series_code", "series_name", "name",
        "model_year", "body", "engine", "vehicle_class", "price_band", "manufacturer_code",
        "brand_country", "vin_prefixes",
    ),
    "parts": (
        "part_code", "name", "aliases", "category", "oe_number", "position", "unit",
        "is_assembly", "components", "superseded_oe", "universal",
    ),
    "fitment": ("part_code", "model_code"),
    "prices": (
        "part_code", "model_code", "scope", "price_type", "amount_yuan", "valid_from",
        "valid_to", "source", "reason",
    ),
    "labor_rates": (
        "branch_code", "labor_kind", "shop_tier", "vehicle_class", "rate_yuan", "valid_from",
        "valid_to",
    ),
    "standard_hours": ("part_code", "operation", "vehicle_class", "labor_kind", "hours", "includes"),
    "channels": ("code", "name", "kind", "branch_code"),
    "rate_cards": (
        "channel_code", "valid_from", "valid_to", "line", "labor_kind", "rate_yuan",
        "pct_of_standard", "category", "price_type", "discount_pct",
    ),
}  # fmt: skip

# Colloquial synonym groups for the matcher; the first term is the canonical one.
SYNONYM_GROUPS: list[list[str]] = [
    ["翼子板", "叶子板"],
    ["发动机盖", "引擎盖", "机盖", "发动机罩", "头盖", "前盖"],
    ["后视镜", "倒车镜", "反光镜"],
    ["进气格栅", "中网", "前格栅"],
    ["散热器", "水箱"],
    ["散热器框架", "水箱框架", "龙门架"],
    ["保险杠", "杠", "保险杆"],
    ["前保险杠", "前杠", "前保"],
    ["后保险杠", "后杠", "后保"],
    ["保险杠骨架", "防撞梁", "杠骨架"],
    ["前照灯", "大灯", "头灯"],
    ["尾灯", "后组合灯", "后尾灯"],
    ["制动灯", "刹车灯"],
    ["尾门", "背门", "行李箱盖", "后备箱盖", "尾盖", "后盖"],
    ["轮毂", "钢圈", "轮辋", "轮圈", "铝圈"],
    ["雨刮", "雨刷"],
    ["侧裙", "裙边", "下裙", "门槛饰板"],
    ["后翼子板", "侧围", "后叶子板"],
    ["挡风玻璃", "风挡玻璃", "风窗玻璃", "挡风"],
    ["减震器", "减振器", "避震", "避震器"],
    ["转向节", "羊角"],
    ["下摆臂", "下控制臂", "三角臂"],
    ["转向机", "方向机", "转向器"],
    ["起动机", "启动马达", "起动马达", "启动机", "马达"],
    ["蓄电池", "电瓶"],
    ["发动机悬置", "发动机脚胶", "机脚胶"],
    ["玻璃升降器", "升降器", "摇窗机"],
    ["电子风扇", "电子扇", "散热风扇"],
    ["空调压缩机", "压缩机", "冷气泵"],
    ["冷凝器", "空调散热器"],
    ["安全气囊", "气囊"],
    ["车门外板", "门皮", "门外板"],
    ["防冻液", "冷却液"],
    ["玻璃水", "雨刮水", "洗涤液"],
    ["制冷剂", "冷媒", "雪种"],
    ["制动液", "刹车油"],
    ["原子灰", "腻子", "补土"],
]

# --------------------------------------------------------------------------------------------
# Regions and branches
# --------------------------------------------------------------------------------------------

PROVINCES = [
    ("110000", "北京市"),
    ("310000", "上海市"),
    ("440000", "广东省"),
    ("320000", "江苏省"),
    ("330000", "浙江省"),
    ("510000", "四川省"),
    ("370000", "山东省"),
    ("420000", "湖北省"),
]
CITIES = [
    ("440100", "广州市", "440000"),
    ("440300", "深圳市", "440000"),
    ("441900", "东莞市", "440000"),
    ("320100", "南京市", "320000"),
    ("320200", "无锡市", "320000"),
    ("320500", "苏州市", "320000"),
    ("330100", "杭州市", "330000"),
    ("330200", "宁波市", "330000"),
    ("510100", "成都市", "510000"),
    ("370100", "济南市", "370000"),
    ("370200", "青岛市", "370000"),
    ("420100", "武汉市", "420000"),
]

# code, name, region, kind, authority limit (yuan), parent 分公司, labor-rate level
# (rates are higher in 北京/上海/深圳, lower inland; 1.0 = a typical provincial capital).
BRANCHES = [
    ("BJ01", "北京分公司", "110000", "branch", 200000, "", 1.25),
    ("SH01", "上海分公司", "310000", "branch", 200000, "", 1.25),
    ("GD01", "广东分公司", "440000", "branch", 150000, "", 1.10),
    ("JS01", "江苏分公司", "320000", "branch", 150000, "", 1.05),
    ("ZJ01", "浙江分公司", "330000", "branch", 120000, "", 1.05),
    ("SC01", "四川分公司", "510000", "branch", 100000, "", 0.95),
    ("SD01", "山东分公司", "370000", "branch", 100000, "", 0.95),
    ("HB01", "湖北分公司", "420000", "branch", 80000, "", 0.92),
    ("GZ01", "广州中心支公司", "440100", "sub_branch", 50000, "GD01", 1.12),
    ("SZ01", "深圳中心支公司", "440300", "sub_branch", 50000, "GD01", 1.20),
    ("DG01", "东莞中心支公司", "441900", "sub_branch", 30000, "GD01", 1.00),
    ("NJ01", "南京中心支公司", "320100", "sub_branch", 40000, "JS01", 1.05),
    ("WX01", "无锡中心支公司", "320200", "sub_branch", 30000, "JS01", 1.00),
    ("SU01", "苏州中心支公司", "320500", "sub_branch", 50000, "JS01", 1.08),
    ("HZ01", "杭州中心支公司", "330100", "sub_branch", 50000, "ZJ01", 1.10),
    ("NB01", "宁波中心支公司", "330200", "sub_branch", 40000, "ZJ01", 1.05),
    ("CD01", "成都中心支公司", "510100", "sub_branch", 40000, "SC01", 0.95),
    ("JN01", "济南中心支公司", "370100", "sub_branch", 30000, "SD01", 0.95),
    ("QD01", "青岛中心支公司", "370200", "sub_branch", 40000, "SD01", 1.00),
    ("WH01", "武汉中心支公司", "420100", "sub_branch", 30000, "HB01", 0.95),
]

PRICE_TYPES = [
    ("4s", "4S店价/原厂件", 50),
    ("oem", "市场原厂件", 40),
    ("brand", "品牌件", 30),
    ("compatible", "适用件", 20),
    ("reman", "再制造件", 15),
    ("salvage", "拆车件", 10),
]
CATEGORIES = [
    ("body", "外观件"),
    ("lamp", "灯具"),
    ("glass", "玻璃"),
    ("mechanical", "机械件"),
    ("electrical", "电器件"),
    ("interior", "内饰件"),
    ("chassis", "底盘件"),
    ("consumable", "辅料/油液"),
]

# --------------------------------------------------------------------------------------------
# Vehicle models
# --------------------------------------------------------------------------------------------

# brand code -> (name, country as ISO 3166 alpha-2)
BRANDS = {
    "VW": ("大众", "DE"),
    "TOYOTA": ("丰田", "JP"),
    "HONDA": ("本田", "JP"),
    "NISSAN": ("日产", "JP"),
    "BUICK": ("别克", "US"),
    "BYD": ("比亚迪", "CN"),
    "GEELY": ("吉利", "CN"),
    "CHANGAN": ("长安", "CN"),
    "HAVAL": ("哈弗", "CN"),
    "BENZ": ("奔驰", "DE"),
    "BMW": ("宝马", "DE"),
    "AUDI": ("奥迪", "DE"),
    "TESLA": ("特斯拉", "US"),
    "NIO": ("蔚来", "CN"),
    "LI": ("理想", "CN"),
    "WULING": ("五菱", "CN"),
    "CHERY": ("奇瑞", "CN"),
    "HONGQI": ("红旗", "CN"),
    "MAZDA": ("马自达", "JP"),
    "HYUNDAI": ("现代", "KR"),
    "XPENG": ("小鹏", "CN"),
}


@dataclass(frozen=True)
class Series:
    brand: str
    code: str
    name: str
    body: str
    vehicle_class: str  # A <10万, B 10–18万, C 18–30万, D 30–45万, E ≥45万 (guide price)
    price_band: str
    mfr_stem: str  # 厂家车型代码 stem; one letter per model is appended
    vin_stem: str  # 7 characters of WMI+VDS; one character per model is appended
    models: tuple[tuple[int, str, str], ...]  # (model year, engine, configuration)


SERIES = [
    Series("VW", "VW-LAVIDA", "朗逸", "三厢", "B", "10-15万", "SVW71514B", "LSVAB4B", (
        (2023, "1.5L", "自动舒适版"), (2023, "1.5L", "自动满逸版"),
        (2024, "1.5L", "自动新逸版"), (2023, "1.4T", "280TSI DSG视野版"))),
    Series("VW", "VW-SAGITAR", "速腾", "三厢", "B", "13-18万", "FV7144BB", "LFV2A2B", (
        (2023, "1.2T", "200TSI DSG飞越版"), (2023, "1.4T", "300TSI DSG超越版"))),
    Series("VW", "VW-PASSAT", "帕萨特", "三厢", "C", "18-25万", "SVW7207E", "LSVCC6B", (
        (2022, "2.0T", "330TSI 精英版"), (2024, "2.0T", "380TSI 星空豪华版"))),
    Series("VW", "VW-TIGUANL", "途观L", "SUV", "C", "21-29万", "SVW6473F", "LSVUZ6C", (
        (2023, "2.0T", "330TSI 自动两驱智享版"), (2023, "2.0T", "380TSI 自动四驱R-Line越享版"))),
    Series("TOYOTA", "TY-COROLLA", "卡罗拉", "三厢", "B", "11-16万", "TV7182G", "LFMAP22", (
        (2021, "1.2T", "S-CVT精英版"), (2023, "1.5L", "CVT先锋版"),
        (2023, "1.8L", "智能电混双擎精英版"))),
    Series("TOYOTA", "TY-CAMRY", "凯美瑞", "三厢", "C", "17-26万", "GTM7250G", "LVGBV5E", (
        (2023, "2.0L", "豪华版"), (2024, "2.5L", "双擎 HEV 豪华版"))),
    Series("TOYOTA", "TY-RAV4", "RAV4荣放", "SUV", "C", "17-26万", "TV6462T", "LFMKV3F", (
        (2023, "2.0L", "CVT两驱风尚版"), (2023, "2.5L", "双擎四驱精英Plus版"))),
    Series("HONDA", "HD-ACCORD", "雅阁", "三厢", "C", "17-24万", "HG7154A", "LHGCV16", (
        (2022, "1.5T", "260TURBO 精享版"), (2023, "1.5T", "260TURBO 智享版"),
        (2023, "2.0L", "e:PHEV 尊贵版"))),
    Series("HONDA", "HD-CIVIC", "思域", "三厢", "B", "13-18万", "DHW7154C", "LVHFC16", (
        (2022, "1.5T", "240TURBO CVT劲享版"), (2023, "1.5T", "240TURBO CVT燃擎版"))),
    Series("HONDA", "HD-CRV", "CR-V", "SUV", "C", "18-26万", "DHW6463R", "LVHRS18", (
        (2023, "1.5T", "240TURBO 两驱锋尚5座版"), (2023, "2.0L", "e:HEV 四驱智享版"))),
    Series("NISSAN", "NS-SYLPHY", "轩逸", "三厢", "B", "10-15万", "DFL7160V", "LGBH52E", (
        (2023, "1.6L", "XL CVT悦享版"), (2023, "1.6L", "XV CVT尊享版"),
        (2024, "1.6L", "经典 XE CVT舒适版"))),
    Series("NISSAN", "NS-TEANA", "天籁", "三厢", "C", "18-24万", "DFL7201T", "LGBM4AE", (
        (2022, "2.0L", "XL 舒适版"), (2024, "2.0T", "XV 智享版"))),
    Series("BUICK", "BK-EXCELLE", "英朗", "三厢", "B", "10-12万", "SGM7158Y", "LSGKB54", (
        (2022, "1.5L", "CVT精英型"), (2023, "1.5L", "CVT豪华型"))),
    Series("BUICK", "BK-REGAL", "君威", "三厢", "C", "17-22万", "SGM7201R", "LSGZS83", (
        (2023, "2.0T", "552T 豪华型"),)),
    Series("BUICK", "BK-GL8", "GL8", "MPV", "D", "23-50万", "SGM6522G", "LSGUV83", (
        (2023, "2.0T", "陆尊 豪华型"), (2024, "2.0T", "ES陆尊 尊贵型"))),
    Series("BYD", "BYD-QINPLUS", "秦PLUS", "三厢", "B", "8-14万", "BYD7152W", "LGXCE4C", (
        (2023, "1.5L 插混", "DM-i 55KM领先型"), (2023, "1.5L 插混", "DM-i 120KM卓越型"),
        (2023, "纯电动", "EV 510KM出行版"))),
    Series("BYD", "BYD-SONGPLUS", "宋PLUS", "SUV", "B", "13-19万", "BYD6480S", "LGXFF4C", (
        (2023, "1.5L 插混", "DM-i 110KM旗舰型"), (2023, "纯电动", "EV 520KM尊贵型"))),
    Series("BYD", "BYD-HAN", "汉", "三厢", "C", "19-28万", "BYD7009B", "LGXCH6C", (
        (2023, "纯电动", "EV 610KM四驱旗舰型"), (2023, "1.5T 插混", "DM-i 121KM尊贵型"))),
    Series("GEELY", "GL-EMGRAND", "帝豪", "三厢", "A", "6-9万", "MR7153D", "L6T7824", (
        (2023, "1.5L", "CVT豪华型"), (2023, "1.5L", "手动精英型"), (2022, "1.5L", "CVT旗舰型"))),
    Series("GEELY", "GL-BOYUE", "博越", "SUV", "B", "9-14万", "MR6471L", "L6T7944", (
        (2023, "1.5T", "L 智享版"), (2023, "2.0T", "L 星耀版"))),
    Series("CHANGAN", "CA-CS75", "CS75 PLUS", "SUV", "B", "11-15万", "SC6469B", "LS5A3DK", (
        (2023, "1.5T", "自动领航型"), (2024, "2.0T", "自动尊贵型"))),
    Series("HAVAL", "HV-H6", "H6", "SUV", "B", "10-15万", "CC6470R", "LGWEF4A", (
        (2023, "1.5T", "DCT Max版"), (2023, "2.0T", "DCT 四驱Max版"),
        (2024, "1.5T 插混", "第三代 DHT-PHEV 悦行版"))),
    Series("BENZ", "BZ-C", "C级", "三厢", "D", "32-50万", "BJ7204J", "LE4ZG8D", (
        (2023, "1.5T", "C 200 L 运动版"), (2023, "2.0T", "C 260 L 皓夜运动版"),
        (2024, "2.0T", "C 260 L 4MATIC 运动版"))),
    Series("BENZ", "BZ-E", "E级", "三厢", "E", "44-70万", "BJ7205K", "LE4ZF5H", (
        (2023, "2.0T", "E 260 L"), (2023, "2.0T", "E 300 L 豪华型"))),
    Series("BMW", "BM-3", "3系", "三厢", "D", "29-40万", "BMW7201B", "LBV5S31", (
        (2023, "2.0T", "325Li M运动套装"), (2023, "2.0T", "320Li M运动套装"),
        (2024, "2.0T", "325Li xDrive M运动套装"))),
    Series("BMW", "BM-5", "5系", "三厢", "E", "43-55万", "BMW7202F", "LBV21FB", (
        (2023, "2.0T", "525Li 豪华套装"), (2024, "2.0T", "530Li 领先型 M运动套装"))),
    Series("AUDI", "AD-A4L", "A4L", "三厢", "D", "30-40万", "FV7204FA", "LFV3A2F", (
        (2023, "2.0T", "40 TFSI 时尚动感型"), (2023, "2.0T", "45 TFSI quattro 臻选动感型"))),
    Series("AUDI", "AD-A6L", "A6L", "三厢", "E", "42-65万", "FV7205GA", "LFV3B2F", (
        (2023, "2.0T", "45 TFSI 臻选致雅型"), (2023, "2.0T", "55 TFSI quattro 旗舰动感型"))),
    Series("TESLA", "TS-M3", "Model 3", "三厢", "C", "23-28万", "TSL7000BEV", "LRW3E7E", (
        (2023, "纯电动", "后轮驱动版"), (2024, "纯电动", "长续航全轮驱动版"))),
    Series("TESLA", "TS-MY", "Model Y", "SUV", "C", "25-36万", "TSL6480BEV", "LRWYG7E", (
        (2023, "纯电动", "后轮驱动版"), (2023, "纯电动", "长续航全轮驱动版"),
        (2023, "纯电动", "Performance高性能全轮驱动版"))),
    Series("NIO", "NIO-ET5", "ET5", "三厢", "D", "30-35万", "HFC7000E", "LJ1EEAU", (
        (2023, "纯电动", "75kWh"),)),
    Series("NIO", "NIO-ES8", "ES8", "SUV", "E", "50-60万", "HFC6502E", "LJ1EFAU", (
        (2023, "纯电动", "100kWh 签名版"),)),
    Series("LI", "LI-L7", "L7", "SUV", "D", "30-38万", "LXA6500S", "LW433B1", (
        (2023, "1.5T 增程", "Pro"), (2023, "1.5T 增程", "Max"))),
    Series("LI", "LI-L9", "L9", "SUV", "D", "40-46万", "LXA6520S", "LW433B9", (
        (2023, "1.5T 增程", "Max"),)),
    Series("WULING", "WL-MINIEV", "宏光MINIEV", "两厢", "A", "3-5万", "LZW7000E", "LZWADAG", (
        (2022, "纯电动", "马卡龙 时尚款 170km"), (2023, "纯电动", "第三代 轻松款 215km"))),
    Series("CHERY", "QR-TIGGO8", "瑞虎8", "SUV", "B", "9-14万", "SQR6471T", "LVVDB21", (
        (2023, "1.6T", "冠军版 DCT两驱豪华型"), (2023, "2.0T", "PRO 冠军版 DCT卓越型"))),
    Series("HONGQI", "HQ-H5", "H5", "三厢", "C", "15-20万", "CA7200A", "LFPH3AC", (
        (2023, "1.5T", "智联旗畅版"), (2023, "2.0T", "智联旗享版"))),
    Series("MAZDA", "MZ-AXELA", "马自达3 昂克赛拉", "两厢", "B", "11-15万", "CAM7200M", "LVRHDAB", (
        (2022, "2.0L", "质雅版"), (2023, "1.5L", "质炫版"))),
    Series("HYUNDAI", "HY-ELANTRA", "伊兰特", "三厢", "A", "7-11万", "BH7161M", "LBELMBK", (
        (2023, "1.5L", "CVT GLX精英版"), (2023, "1.5L", "CVT LUX尊贵版"))),
    Series("HYUNDAI", "HY-TUCSONL", "途胜L", "SUV", "B", "14-20万", "BH6471M", "LBEJMBK", (
        (2023, "1.5T", "DCT两驱智享版"),)),
    Series("XPENG", "XP-P7", "P7", "三厢", "C", "21-30万", "NHQ7000BEV", "L1NSPGH", (
        (2023, "纯电动", "P7i Pro"), (2023, "纯电动", "P7i Max 性能版"))),
]  # fmt: skip

MFR_LETTERS = "MNPRST"
VIN_LETTERS = "RSTUVWXY"  # VINs never use I, O, Q

# --------------------------------------------------------------------------------------------
# Part templates
# --------------------------------------------------------------------------------------------


def _side(**kw: str) -> dict[str, str]:
    side = {"pos": "", "lr": "", "fb": "", "ud": "", "s": ""}
    side.update(kw)
    return side


NONE = (_side(),)
LR = tuple(_side(pos=x, lr=x) for x in "左右")
DOORS = tuple(_side(pos=lr + fb, s=lr + fb, lr=lr, fb=fb) for fb in "前后" for lr in "左右")
LR_UD = tuple(_side(pos=lr + ud, lr=lr, ud=ud) for lr in "左右" for ud in "上下")


@dataclass(frozen=True)
class Tpl:
    """A part template, instantiated once per side on each platform that carries it.

    Name and alias patterns use the side keys of `_side` plus {trunk_p}/{trunk_s} (行李箱盖 /
    后备箱盖 on sedans, 背门 / 尾门 on SUVs).
    """

    key: str
    prefix: str  # standard name in the prefix convention: 左前翼子板
    suffix: str  # standard name in the suffix convention: 前叶子板（左）
    cat: str
    lo: int  # 4S price range for a class-B car, yuan
    hi: int
    sides: tuple[dict[str, str], ...] = NONE
    aliases: tuple[str, ...] = ()
    core: bool = False  # on every platform, not only on the fully detailed ones
    pos: str = "{pos}"  # where the part sits: 左前, 右, 后, 左后上 …
    comps: tuple[str, ...] = ()  # component template keys, "key" or "key*QTY"
    rep: float = 0.0  # replace hours for class B (0 → category default)
    fix: float = 0.0  # repair hours (0 → not repairable)
    paint: float = 0.0  # paint hours (0 → not painted)
    incl: tuple[str, ...] = ()  # templates whose R&I a replacement already includes
    extra: tuple[str, ...] = ()  # extra price types (reman, salvage) sold for this part
    unit: str = "个"


T = Tpl
TEMPLATES: list[Tpl] = [
    # Front bumper. Replacing the cover includes R&I of the fog lamps and lower grille mounted
    # in it: an estimate that lists those separately counts the hours twice.
    T("fb_asm", "前保险杠总成", "前保险杠总成", "body", 2600, 3800, pos="前", core=True,
      aliases=("前杠总成", "前保总成", "前保险杠带骨架"),
      comps=("fb_skin", "fb_frame", "fb_bracket"), rep=2.0, paint=3.0, incl=("fog",)),
    T("fb_skin", "前保险杠皮", "前保险杠皮", "body", 1300, 2300, pos="前", core=True,
      aliases=("前杠", "前杠皮", "前保险杠", "前保险杠外皮", "前保险杠面罩", "前保"),
      rep=1.5, fix=2.0, paint=3.0, incl=("fog", "fb_lgrille")),
    T("fb_frame", "前保险杠骨架", "前保险杠内骨架", "body", 450, 1100, pos="前", core=True,
      aliases=("前防撞梁", "前杠骨架", "前保险杠加强梁"), rep=1.2, fix=1.5),
    T("fb_bracket", "{lr}前保险杠支架", "前保险杠支架（{lr}）", "body", 50, 160, LR, pos="{lr}前",
      core=True, aliases=("{lr}前杠支架", "前杠支架（{lr}）", "前保险杠{lr}支架"), rep=0.3),
    T("fb_lgrille", "前保险杠下格栅", "下中网", "body", 150, 480, pos="前",
      aliases=("下格栅", "前杠下格栅", "前保险杠下格栅"), rep=0.4),
    T("fog", "{lr}前雾灯", "前雾灯（{lr}）", "lamp", 220, 650, LR, pos="{lr}前", core=True,
      aliases=("{lr}雾灯", "雾灯（{lr}）", "{lr}前雾灯总成"), rep=0.5),
    T("fog_trim", "{lr}前雾灯饰框", "雾灯框（{lr}）", "body", 80, 260, LR, pos="{lr}前",
      aliases=("{lr}雾灯框", "{lr}雾灯罩", "{lr}雾灯饰板"), rep=0.3),
    T("grille", "进气格栅", "中网", "body", 650, 1800, core=True,
      aliases=("中网总成", "前格栅", "散热器格栅", "前中网"), rep=0.6),
    T("emblem", "前标", "前车标", "body", 120, 420, pos="前",
      aliases=("车标", "前标志", "前标牌"), rep=0.2),
    # Hood
    T("hood", "发动机盖", "引擎盖", "body", 1400, 2600, core=True,
      aliases=("机盖", "发动机罩", "头盖", "前盖", "发动机盖板"),
      rep=1.2, fix=2.5, paint=3.5, incl=("hood_insul",)),
    T("hood_hinge", "{lr}发动机盖铰链", "引擎盖铰链（{lr}）", "body", 70, 220, LR,
      aliases=("{lr}机盖铰链", "{lr}引擎盖合页", "{lr}发动机盖合页"), rep=0.5),
    T("hood_lock", "发动机盖锁", "引擎盖锁", "body", 120, 320,
      aliases=("机盖锁", "头盖锁", "引擎盖锁扣", "发动机盖锁扣"), rep=0.4),
    T("hood_insul", "发动机盖隔音棉", "引擎盖隔热棉", "interior", 150, 420,
      aliases=("机盖隔音棉", "引擎盖隔音棉", "头盖隔热棉"), rep=0.3),
    # Front fenders
    T("fender", "{lr}前翼子板", "前叶子板（{lr}）", "body", 700, 1500, LR, pos="{lr}前", core=True,
      aliases=("{lr}前叶子板", "{lr}前叶", "{lr}叶子板", "{lr}翼子板", "叶子板（{lr}前）"),
      rep=1.2, fix=2.0, paint=2.5, incl=("fender_liner", "side_turn")),
    T("fender_liner", "{lr}前轮罩衬板", "前叶子板内衬（{lr}）", "body", 90, 300, LR, pos="{lr}前",
      aliases=("{lr}前轮眉内衬", "{lr}前挡泥板", "{lr}前轮罩", "{lr}前叶子板内衬"), rep=0.4),
    T("side_turn", "{lr}侧转向灯", "叶子板转向灯（{lr}）", "lamp", 45, 160, LR,
      aliases=("{lr}叶子板灯", "{lr}侧灯", "{lr}翼子板转向灯"), rep=0.2),
    # Headlamps: the assembly and the components sold separately (第六条 4(4)). Replacing a
    # headlamp on these cars needs the bumper cover off, so its hours include that R&I.
    T("hl_asm", "{lr}前照灯总成", "前大灯总成（{lr}）", "lamp", 1800, 4200, LR, core=True,
      aliases=("{lr}大灯", "{lr}大灯总成", "{lr}头灯", "{lr}前大灯", "大灯（{lr}）", "{lr}前照灯"),
      comps=("hl_bulb*2", "hl_bracket", "hl_lens", "hl_module"), rep=0.8, incl=("fb_skin",)),
    T("hl_bulb", "前照灯灯泡", "大灯灯泡", "lamp", 60, 260, core=True,
      aliases=("大灯泡", "前照灯泡", "近光灯泡"), rep=0.3, unit="只"),
    T("hl_bracket", "{lr}前照灯支架", "大灯支架（{lr}）", "lamp", 60, 220, LR, core=True,
      aliases=("{lr}大灯支架", "{lr}大灯脚", "{lr}大灯固定支架"), rep=0.3),
    T("hl_lens", "{lr}前照灯灯罩", "大灯灯罩（{lr}）", "lamp", 260, 800, LR, core=True,
      aliases=("{lr}大灯罩", "{lr}大灯面罩", "{lr}大灯玻璃", "{lr}大灯灯罩"), rep=0.6),
    T("hl_module", "{lr}前照灯控制模块", "大灯控制模块（{lr}）", "electrical", 500, 1600, LR,
      aliases=("{lr}大灯模块", "{lr}大灯电脑", "{lr}大灯安定器"), rep=0.4),
    T("drl", "{lr}日间行车灯", "日行灯（{lr}）", "lamp", 180, 600, LR,
      aliases=("{lr}日行灯", "{lr}日间灯"), rep=0.4),
    # Cooling and engine bay
    T("radiator", "散热器", "水箱", "mechanical", 650, 1500, core=True,
      aliases=("散热器总成", "水箱总成", "散热水箱"), rep=1.8, extra=("salvage",)),
    T("condenser", "冷凝器", "空调冷凝器", "mechanical", 550, 1300, core=True,
      aliases=("空调散热器", "冷凝器总成"), rep=1.5),
    T("rad_support", "散热器框架", "水箱框架", "body", 450, 1300, core=True,
      aliases=("水箱支架", "龙门架", "前围框架"), rep=2.5, fix=2.0),
    T("fan", "电子风扇总成", "散热器风扇总成", "electrical", 650, 1800,
      aliases=("电子扇", "水箱风扇", "风扇总成", "散热风扇"), rep=1.0, extra=("salvage",)),
    T("compressor", "空调压缩机", "空调压缩机", "mechanical", 2200, 4800,
      aliases=("压缩机", "冷气泵", "空调泵"), rep=2.0, extra=("reman", "salvage")),
    T("alternator", "发电机", "发电机总成", "electrical", 1600, 3600,
      aliases=("发电机总成", "交流发电机", "充电机"), rep=1.5, extra=("reman", "salvage")),
    T("starter", "起动机", "启动马达", "electrical", 1100, 2600,
      aliases=("马达", "启动机", "起动马达"), rep=1.2, extra=("reman", "salvage")),
    T("battery", "蓄电池", "电瓶", "electrical", 480, 1200, aliases=("电池",), rep=0.3),
    T("eng_mount", "发动机悬置", "发动机脚胶", "mechanical", 280, 800,
      aliases=("机脚胶", "发动机支架胶", "机脚"), rep=1.2, extra=("salvage",)),
    T("underguard", "发动机下护板", "发动机底护板", "chassis", 180, 600,
      aliases=("底护板", "发动机护板", "下护板"), rep=0.5),
    T("washer_tank", "洗涤液罐", "雨刮水壶", "mechanical", 120, 380,
      aliases=("玻璃水壶", "喷水壶", "雨刷水壶", "洗涤液壶"), rep=0.6),
    T("wiper_motor", "雨刮电机", "雨刷电机", "electrical", 350, 900,
      aliases=("雨刮马达", "雨刷马达"), rep=0.8, extra=("salvage",)),
    T("wiper_arm", "{lr}雨刮臂", "雨刷臂（{lr}）", "body", 80, 260, LR,
      aliases=("{lr}雨刷臂", "{lr}雨刮杆", "{lr}雨刷杆"), rep=0.2),
    T("horn", "电喇叭", "喇叭", "electrical", 80, 260, aliases=("高音喇叭",), rep=0.3),
    T("acc_radar", "前毫米波雷达", "前雷达", "electrical", 2800, 6500,
      aliases=("ACC雷达", "自适应巡航雷达", "毫米波雷达"), rep=0.8),
    T("pdc", "倒车雷达探头", "雷达探头", "electrical", 150, 450,
      aliases=("倒车雷达", "泊车传感器", "倒车探头"), rep=0.3),
    # Glass
    T("windshield", "前挡风玻璃", "前风挡玻璃", "glass", 1300, 2600, core=True,
      aliases=("前挡", "前挡玻璃", "前风挡", "挡风玻璃", "前风窗玻璃"), rep=2.0, unit="块"),
    T("rear_glass", "后挡风玻璃", "后风挡玻璃", "glass", 800, 1800,
      aliases=("后挡", "后挡玻璃", "后风挡", "后风窗玻璃"), rep=2.0, unit="块"),
    T("door_glass", "{s}车门玻璃", "{fb}门玻璃（{lr}）", "glass", 300, 700, DOORS, core=True,
      aliases=("{s}门玻璃", "{s}窗玻璃", "{s}车窗玻璃", "{fb}车门玻璃（{lr}）"), rep=1.0, unit="块"),
    T("quarter_glass", "{lr}后三角玻璃", "后三角窗玻璃（{lr}）", "glass", 180, 500, LR, pos="{lr}后",
      aliases=("{lr}三角窗", "{lr}后三角窗", "{lr}后角窗玻璃"), rep=1.0, unit="块"),
    # Doors. A door assembly is the shell with its glass, handle and regulator; the inner
    # trim is moved across, so replacing the assembly includes the trim's R&I.
    T("door_asm", "{s}车门总成", "{fb}车门总成（{lr}）", "body", 2600, 4800, DOORS, core=True,
      aliases=("{s}门总成", "{s}门", "{s}车门", "{fb}门总成（{lr}）"),
      comps=("door_skin", "door_glass", "door_handle", "window_reg"), rep=2.5, paint=4.0,
      incl=("door_trim",)),
    T("door_skin", "{s}车门外板", "{fb}门外板（{lr}）", "body", 900, 1800, DOORS, core=True,
      aliases=("{s}门皮", "{s}门外板", "{s}车门皮", "{fb}门皮（{lr}）"),
      rep=3.0, fix=2.0, paint=3.0, incl=("door_trim", "door_handle", "window_reg", "door_glass")),
    T("door_handle", "{s}车门外拉手", "{fb}门外拉手（{lr}）", "body", 110, 380, DOORS,
      aliases=("{s}门把手", "{s}外把手", "{s}拉手"), rep=0.4, paint=0.5),
    T("window_reg", "{s}玻璃升降器", "{fb}门玻璃升降器（{lr}）", "electrical", 280, 800, DOORS,
      aliases=("{s}升降器", "{s}摇窗机", "{s}门升降器"), rep=0.8),
    T("door_trim", "{s}车门内饰板", "{fb}门内饰板（{lr}）", "interior", 380, 1200, DOORS,
      aliases=("{s}门内饰", "{s}门饰板", "{s}门板"), rep=0.5),
    T("door_seal", "{s}车门密封条", "{fb}门密封条（{lr}）", "body", 90, 280, DOORS,
      aliases=("{s}门胶条", "{s}门密封胶条", "{s}车门胶条"), rep=0.4),
    # Mirrors
    T("mirror", "{lr}后视镜总成", "倒车镜总成（{lr}）", "body", 650, 1900, LR, core=True,
      aliases=("{lr}倒车镜", "{lr}后视镜", "{lr}反光镜", "{lr}倒车镜总成", "{lr}外后视镜"),
      comps=("mirror_glass", "mirror_cover", "mirror_turn"), rep=0.6, paint=1.0),
    T("mirror_glass", "{lr}后视镜镜片", "倒车镜片（{lr}）", "glass", 110, 400, LR, core=True,
      aliases=("{lr}倒车镜片", "{lr}反光镜片", "{lr}后视镜片"), rep=0.3, unit="片"),
    T("mirror_cover", "{lr}后视镜外壳", "倒车镜壳（{lr}）", "body", 140, 450, LR, core=True,
      aliases=("{lr}倒车镜盖", "{lr}后视镜壳", "{lr}后视镜盖", "{lr}倒车镜外壳"),
      rep=0.3, paint=0.8),
    T("mirror_turn", "{lr}后视镜转向灯", "倒车镜转向灯（{lr}）", "lamp", 110, 350, LR,
      aliases=("{lr}倒车镜灯", "{lr}后视镜灯", "{lr}镜灯"), rep=0.3),
    # Sides and roof. The rear fender is welded: replacing it includes the tail lamp's R&I.
    T("rear_fender", "{lr}后翼子板", "后叶子板（{lr}）", "body", 1500, 3000, LR, pos="{lr}后",
      aliases=("{lr}后叶子板", "{lr}后叶", "{lr}侧围", "{lr}后侧围", "叶子板（{lr}后）"),
      rep=6.0, fix=3.0, paint=3.0, incl=("tail_outer",)),
    T("rocker", "{lr}侧裙", "侧裙（{lr}）", "body", 380, 1100, LR, core=True,
      aliases=("{lr}下裙", "{lr}裙边", "{lr}侧裙板", "{lr}门槛饰板", "{lr}侧裙边"),
      rep=0.8, paint=2.0),
    T("roof", "车顶外板", "顶盖", "body", 1800, 3600,
      aliases=("车顶", "车顶板", "顶盖外板"), rep=8.0, fix=3.0, paint=4.0),
    T("fuel_door", "加油口盖", "油箱盖", "body", 130, 400,
      aliases=("加油口门", "油箱小门", "加油盖"), rep=0.3, paint=0.8),
    # Rear bumper and lamps
    T("rb_asm", "后保险杠总成", "后保险杠总成", "body", 2200, 3400, pos="后", core=True,
      aliases=("后杠总成", "后保总成"),
      comps=("rb_skin", "rb_frame", "rb_bracket"), rep=1.8, paint=3.0, incl=("pdc",)),
    T("rb_skin", "后保险杠皮", "后保险杠皮", "body", 1100, 2100, pos="后", core=True,
      aliases=("后杠", "后杠皮", "后保险杠", "后保", "后保险杠外皮"),
      rep=1.3, fix=2.0, paint=3.0, incl=("pdc",)),
    T("rb_frame", "后保险杠骨架", "后保险杠内骨架", "body", 400, 1000, pos="后", core=True,
      aliases=("后防撞梁", "后杠骨架", "后保险杠加强梁"), rep=1.2, fix=1.5),
    T("rb_bracket", "{lr}后保险杠{ud}支架", "后保险杠支架（{lr}{ud}）", "body", 40, 150, LR_UD,
      pos="{lr}后{ud}", aliases=("{lr}后杠{ud}支架", "后杠支架（{lr}{ud}）", "后保险杠{lr}{ud}支架"), rep=0.3),
    T("tail_outer", "{lr}外尾灯", "尾灯（外{lr}）", "lamp", 480, 1400, LR, pos="{lr}外", core=True,
      aliases=("{lr}尾灯", "{lr}后尾灯", "{lr}后组合灯", "{lr}尾灯总成", "{lr}外侧尾灯"), rep=0.5),
    T("tail_inner", "{lr}内尾灯", "尾灯（内{lr}）", "lamp", 380, 1100, LR, pos="{lr}内",
      aliases=("{lr}尾门灯", "{lr}后盖灯", "{lr}内侧尾灯"), rep=0.4),
    T("hmsl", "高位制动灯", "高位刹车灯", "lamp", 150, 420,
      aliases=("第三刹车灯", "高刹灯"), rep=0.4),
    T("plate_lamp", "牌照灯", "牌照灯", "lamp", 35, 120, pos="后",
      aliases=("后牌照灯", "车牌灯"), rep=0.2),
    T("rear_fog", "{lr}后雾灯", "后雾灯（{lr}）", "lamp", 90, 300, LR, pos="{lr}后",
      aliases=("{lr}后杠雾灯", "{lr}后雾灯总成"), rep=0.3),
    T("trunk", "{trunk_p}", "{trunk_s}", "body", 1500, 3200, pos="后", core=True,
      aliases=("尾门", "后备箱盖", "尾盖", "后盖", "行李箱盖", "背门", "后备箱门"),
      rep=1.5, fix=2.5, paint=3.5, incl=("tail_inner",)),
    T("trunk_strut", "{lr}{trunk_p}支撑杆", "{trunk_s}撑杆（{lr}）", "mechanical", 70, 260, LR,
      aliases=("{lr}尾门撑杆", "{lr}后盖液压杆", "{lr}尾门气弹簧", "{lr}后备箱撑杆"), rep=0.3),
    T("trunk_lock", "{trunk_p}锁", "{trunk_s}锁", "body", 150, 450,
      aliases=("尾门锁", "后备箱锁", "后盖锁", "行李箱锁"), rep=0.5),
    # Chassis
    T("wheel", "铝合金轮毂", "轮毂", "chassis", 900, 2600,
      aliases=("钢圈", "轮辋", "轮圈", "铝圈"), rep=0.3, extra=("salvage",)),
    T("ctrl_arm", "{lr}前下摆臂", "前下控制臂（{lr}）", "chassis", 380, 1000, LR, pos="{lr}前",
      aliases=("{lr}下摆臂", "{lr}三角臂", "{lr}前下控制臂"), rep=1.0, extra=("salvage",)),
    T("knuckle", "{lr}前转向节", "前羊角（{lr}）", "chassis", 550, 1500, LR, pos="{lr}前",
      aliases=("{lr}羊角", "{lr}前羊角", "{lr}转向节"), rep=1.5, extra=("salvage",)),
    T("shock", "{lr}前减震器", "前减振器（{lr}）", "chassis", 550, 1600, LR, pos="{lr}前",
      aliases=("{lr}前避震", "{lr}前减震", "{lr}前减震器总成"), rep=1.2,
      extra=("reman", "salvage")),
    T("tie_rod", "{lr}转向横拉杆", "转向拉杆（{lr}）", "chassis", 180, 600, LR,
      aliases=("{lr}横拉杆", "{lr}方向拉杆", "{lr}拉杆球头"), rep=0.8),
    T("subframe", "前副车架", "前副车架", "chassis", 1800, 4200, pos="前",
      aliases=("副车架", "前托架", "发动机托架"), rep=4.0, extra=("salvage",)),
    T("rack", "转向机总成", "方向机总成", "chassis", 2800, 6800,
      aliases=("方向机", "转向器", "转向机"), rep=2.5, extra=("reman", "salvage")),
    # Restraints and interior
    T("ab_driver", "主驾驶安全气囊", "方向盘气囊", "interior", 1800, 4200,
      aliases=("主气囊", "驾驶员气囊", "主驾气囊"), rep=0.6),
    T("ab_pass", "副驾驶安全气囊", "副气囊", "interior", 2000, 4800,
      aliases=("副驾气囊", "乘客气囊"), rep=1.0),
    T("ab_ecu", "安全气囊控制单元", "气囊电脑", "electrical", 1500, 3500,
      aliases=("气囊模块", "SRS电脑", "气囊控制模块"), rep=0.8, extra=("salvage",)),
    T("seatbelt", "{lr}前安全带", "前安全带（{lr}）", "interior", 550, 1500, LR, pos="{lr}前",
      aliases=("{lr}前安全带总成", "{lr}安全带", "{lr}前座安全带"), rep=0.8),
    T("dash", "仪表台", "仪表板总成", "interior", 3200, 7500,
      aliases=("中控台", "仪表板", "仪表台总成"), rep=6.0),
    T("key", "智能钥匙", "遥控钥匙", "electrical", 700, 2000,
      aliases=("钥匙", "遥控器"), rep=0.5, unit="把"),
]  # fmt: skip
TEMPLATE_BY_KEY = {t.key: t for t in TEMPLATES}

# Universal consumables and fluids (universal=1, no fitment): name, aliases, unit, 4S range.
CONSUMABLES = [
    ("全合成机油（5W-30 4L）", ("机油", "发动机油", "全合成机油"), "桶", 320, 480),
    ("防冻液（-35℃ 4L）", ("冷却液", "水箱宝", "防冻液"), "桶", 120, 220),
    ("玻璃水（2L）", ("雨刮水", "洗涤液", "玻璃清洗液"), "瓶", 15, 40),
    ("制冷剂R134a（500g）", ("冷媒", "雪种", "空调制冷剂", "R134a"), "瓶", 60, 150),
    ("制冷剂R1234yf（500g）", ("环保冷媒", "R1234yf"), "瓶", 600, 1100),
    ("制动液DOT4（1L）", ("刹车油", "制动液", "刹车液"), "瓶", 80, 160),
    ("自动变速箱油（1L）", ("ATF", "波箱油", "变速箱油"), "升", 90, 180),
    ("助力转向油（1L）", ("方向机油", "转向助力油"), "瓶", 50, 110),
    ("空调压缩机油（PAG46）", ("冷冻油", "压缩机油"), "瓶", 80, 180),
    ("原子灰（3kg）", ("腻子", "补土", "原子灰"), "罐", 90, 220),
    ("清漆（1L）", ("光油", "罩光漆", "清漆"), "升", 260, 480),
    ("中涂底漆（1L）", ("中涂漆", "底漆", "二道底漆"), "升", 180, 360),
    ("固化剂（0.5L）", ("硬化剂", "固化剂"), "瓶", 120, 260),
    ("稀释剂（1L）", ("天那水", "稀料", "稀释剂"), "升", 60, 140),
    ("水性色漆（1L）", ("色漆", "面漆", "水性漆"), "升", 450, 900),
    ("水砂纸（P800）", ("砂纸", "水砂纸"), "张", 3, 8),
    ("美纹纸胶带", ("遮蔽胶带", "美纹纸"), "卷", 8, 25),
    ("风挡玻璃胶（310ml）", ("玻璃胶", "风挡胶", "聚氨酯胶"), "支", 80, 180),
    ("车身密封胶", ("焊缝胶", "密封胶", "车身胶"), "支", 60, 140),
    ("塑料卡扣", ("卡扣", "卡子", "膨胀扣"), "个", 3, 12),
]

# --------------------------------------------------------------------------------------------
# Platforms: which series get parts, in which naming convention and OE style
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    code: str  # part code prefix: VW1-0001
    series: str
    convention: str  # "prefix" (左前翼子板) or "suffix" (前叶子板（左）)
    full: bool  # every template, or only the core ones
    oe_style: str
    oe_key: str  # the platform's chunk of its OE numbers


# Half the platforms use the suffix convention (Japanese brands, Geely, Haval), half the
# prefix one; two are fully detailed, the others carry the ~30 core templates.
PLATFORMS = [
    Platform("VW1", "VW-LAVIDA", "prefix", True, "vw", "18G"),
    Platform("TY1", "TY-COROLLA", "suffix", True, "toyota", "02A"),
    Platform("HD1", "HD-ACCORD", "suffix", False, "honda", "TVA"),
    Platform("NS1", "NS-SYLPHY", "suffix", False, "nissan", "6LK0"),
    Platform("GL1", "GL-EMGRAND", "suffix", False, "geely", "6600"),
    Platform("HV1", "HV-H6", "suffix", False, "haval", "KZ16"),
    Platform("BYD1", "BYD-QINPLUS", "prefix", False, "byd", "80"),
    Platform("BZ1", "BZ-C", "prefix", False, "benz", "206"),
    Platform("BM1", "BM-3", "prefix", False, "bmw", "354"),
    Platform("TS1", "TS-MY", "prefix", False, "tesla", "149"),
]

# 4S price multiplier per vehicle class (a class-B car is the template baseline).
CLASS_PRICE = {"A": 0.8, "B": 1.0, "C": 1.3, "D": 1.9, "E": 2.5}
# Labor hours grow with class too (bigger, more complex cars).
CLASS_HOURS = {"A": 0.9, "B": 1.0, "C": 1.1, "D": 1.25, "E": 1.4}
VEHICLE_CLASSES = "ABCDE"

# Share of the 4S price per price type (low, high).
RATIO = {
    "oem": (0.80, 0.92),
    "brand": (0.55, 0.75),
    "compatible": (0.40, 0.55),
    "reman": (0.35, 0.50),
    "salvage": (0.30, 0.45),
}
# Price types sold per category beyond 4S (reman/salvage come from the template).
CATEGORY_TYPES = {
    "body": ("oem", "brand", "compatible"),
    "lamp": ("oem", "brand", "compatible"),
    "glass": ("oem", "brand"),
    "mechanical": ("oem", "brand"),
    "electrical": ("oem", "brand"),
    "chassis": ("oem", "brand"),
    "interior": ("oem",),
    "consumable": ("brand",),
}
# Localized prices are kept for the common parts of common models (常见车辆常见配件).
LOCAL_TEMPLATES = (
    "fb_skin", "rb_skin", "hl_asm", "fender", "mirror", "windshield", "hood", "grille",
    "tail_outer", "door_skin", "fog",
)  # fmt: skip
LOCAL_SCOPES = ("BJ01", "SH01", "GZ01", "SZ01", "SU01", "HZ01", "CD01", "QD01", "330200", "370100")

BASE_FROM = "2025-01-01"
HISTORY_FROM, HISTORY_SWITCH = "2024-01-01", "2025-07-01"
FUTURE_SWITCH = "2027-01-01"

# Replace labor kind per category: body work is sheet metal, lamps are wired (electrical),
# glass and trim are mostly R&I work.
REPLACE_KIND = {
    "body": "sheet_metal",
    "lamp": "electrical",
    "glass": "remove_refit",
    "mechanical": "mechanical",
    "chassis": "mechanical",
    "electrical": "electrical",
    "interior": "remove_refit",
}
DEFAULT_REPLACE_HOURS = {
    "body": 1.0, "lamp": 0.6, "glass": 1.5, "mechanical": 1.5, "chassis": 1.2,
    "electrical": 0.8, "interior": 1.0,
}  # fmt: skip

# Branch standard labor rate: 4S class-C rate per kind, then multipliers.
LABOR_BASE = {
    "sheet_metal": 100,
    "paint": 110,
    "mechanical": 110,
    "electrical": 120,
    "remove_refit": 80,
}
SHOP_TIER = {"4s": 1.0, "class1": 0.82, "class2": 0.66, "class3": 0.52}
CLASS_LABOR = {"A": 0.85, "B": 0.92, "C": 1.0, "D": 1.15, "E": 1.3}
LABOR_HISTORY_BRANCH = "GD01"  # its 2024 rates are kept as a closed older version

CHANNELS = [
    ("RS-GZ01-001", "广州华兴汽车维修服务有限公司", "repair_shop", "GZ01"),
    ("DG-ZJ01-001", "浙江恒通汽车销售服务集团", "dealer_group", "ZJ01"),
    ("PP-SH01-001", "车配通配件直供平台", "parts_platform", "SH01"),
    ("RS-CD01-001", "成都蓉达汽车修理厂", "repair_shop", "CD01"),
]
# channel, valid_from, valid_to, labor lines {kind: ("rate"|"pct", value)},
# parts lines {category: (price_type, discount_pct)} — one parts line per category.
RATE_CARDS = [
    ("RS-GZ01-001", "2024-07-01", "2025-07-01",
     {"sheet_metal": ("rate", 70), "paint": ("rate", 80), "mechanical": ("rate", 75),
      "electrical": ("rate", 80), "remove_refit": ("rate", 55)},
     {"body": ("brand", 8), "lamp": ("brand", 8)}),
    ("RS-GZ01-001", "2025-07-01", "",
     {"sheet_metal": ("rate", 72), "paint": ("rate", 82), "mechanical": ("rate", 78),
      "electrical": ("rate", 82), "remove_refit": ("rate", 56)},
     {"body": ("brand", 10), "lamp": ("brand", 10), "glass": ("brand", 8)}),
    ("DG-ZJ01-001", "2025-01-01", "",
     {k: ("pct", 95) for k in LABOR_BASE},
     {"body": ("4s", 8), "lamp": ("4s", 8), "glass": ("4s", 6), "mechanical": ("4s", 5),
      "electrical": ("4s", 5)}),
    ("PP-SH01-001", "2025-03-01", "",
     {},
     {"body": ("brand", 15), "lamp": ("brand", 15), "glass": ("brand", 12),
      "mechanical": ("reman", 10), "chassis": ("salvage", 5), "electrical": ("brand", 12)}),
    ("RS-CD01-001", "2025-01-01", "",
     {"sheet_metal": ("pct", 90), "paint": ("pct", 90), "mechanical": ("rate", 60)},
     {"body": ("brand", 12)}),
]  # fmt: skip

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
