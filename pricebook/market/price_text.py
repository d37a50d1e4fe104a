"""Market price text → one amount in yuan, or a reason it is not a price.

Shops write prices many ways; the core reads them here, once, for every spider. The text is
read as a sequence of tokens — prices, labels, qualifiers and filler words — and anything
else makes it ``unparseable``: a text we do not fully understand is never guessed at, so no
stored price differs from what the page means.

- **Prices**: ``¥``/``￥``/RMB, thousands commas, full-width digits, 元/块/万/万元, ranges
  (``850-920元`` counts as its midpoint: the spread of what one seller asks), a per-unit
  suffix (``¥35/个`` is 35 a piece).
- **Labels** name what a price is: 现价/售价/促销价 …, 会员价/VIP价, 含税价/含税, 不含税价,
  原价/划线价, 市场价/零售价/指导价/参考价. A label written before a price belongs to it
  (``原价¥500 现价¥420``); when the text starts with a price, labels follow their price
  (``¥99 会员价``, ``1280.00 (含税)``).
- **Two or more prices**: the label ranked first in the preference wins
  (`DEFAULT_PRICE_PREFERENCE`, or the source's ``price_preference``; labels a source does not
  list rank after the ones it lists, in the default order). Two different amounts of the same
  rank are ``ambiguous`` and dropped.
- **Qualifiers**: ``约`` (about) keeps the amount, it is still the seller's figure; ``起``
  (from) is a floor over variants, not this listing's price, and is dropped as
  ``price_from``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pricebook.money import FEN

__all__ = [
    "DEFAULT_PRICE_PREFERENCE",
    "MAX_PLAUSIBLE_YUAN",
    "NOT_GIVEN_WORDS",
    "PRICE_LABELS",
    "PriceReading",
    "explain_price",
    "parse_price",
    "read_price",
]

#: Above this a "price" is a phone number or a typo, not a part price (yuan).
MAX_PLAUSIBLE_YUAN = Decimal("5000000")

NOT_GIVEN_WORDS = ("面议", "电询", "询价", "议价", "咨询", "来电", "暂无", "缺货", "待定", "私聊")

#: Canonical label → the words that write it on pages (lower case, after NFKC).
PRICE_LABELS: dict[str, tuple[str, ...]] = {
    "现价": (
        "现价", "售价", "促销价", "活动价", "折后价", "优惠价", "特价", "秒杀价", "到手价",
        "团购价", "销售价",
    ),
    "会员价": ("会员价", "vip价", "vip", "会员"),
    "含税价": ("含税价", "含税"),
    "不含税价": ("不含税价", "不含税", "未税价", "未税", "除税价"),
    "原价": ("原价", "划线价", "吊牌价"),
    "市场价": ("市场价", "零售价", "指导价", "厂商指导价", "参考价"),
}  # fmt: skip

#: What a price with no label ranks as.
UNLABELLED = ""

#: The default rule with two prices: what a buyer pays now (现价, then 会员价, then 含税价),
#: then an unlabelled price, then 不含税价; the crossed-out and reference prices (原价,
#: 市场价) only when nothing else is given.
DEFAULT_PRICE_PREFERENCE: tuple[str, ...] = (
    "现价", "会员价", "含税价", UNLABELLED, "不含税价", "市场价", "原价",
)  # fmt: skip

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT = r"万元|万|元|块"
_PER = r"/(?:个|件|只|套|支|根|片|副|对|条|块|台|盒|瓶|桶|箱|组|米|升|l|kg|g|pcs|pc)"
_CURRENCY = r"(?:人民币|rmb|cny|¥)?"
_PRICE = (
    rf"{_CURRENCY}(?P<a>{_NUM})(?P<ua>{_UNIT})?"
    rf"(?:(?:-|~|至|到|—|–){_CURRENCY}(?P<b>{_NUM})(?P<ub>{_UNIT})?)?"
    rf"(?P<from>起)?(?:{_PER})?(?P<from2>起)?"
)
_LABEL_WORDS = sorted(
    (
        (spelling, label)
        for label, words in PRICE_LABELS.items()
        for w in words
        for spelling in ((w, f"{w}格") if w.endswith("价") else (w,))  # 会员价格
    ),
    key=lambda x: -len(x[0]),
)
_LABEL_OF = dict(_LABEL_WORDS)
#: Words that say nothing about which price it is (a lone "价" after a label's word included).
_FILLER = r"单价|价格|报价|价|仅|包邮|:|人民币|rmb|cny|¥|\(|\)|\[|\]|【|】"
_TOKEN = re.compile(
    rf"(?P<price>{_PRICE})"
    rf"|(?P<label>{'|'.join(re.escape(w) for w, _ in _LABEL_WORDS)})"
    r"|(?P<about>约为|大约|约)"
    rf"|(?P<filler>{_FILLER})"
)
_UNIT_FACTOR = {"万元": Decimal(10000), "万": Decimal(10000), "元": Decimal(1), "块": Decimal(1)}


@dataclass(frozen=True, slots=True)
class PriceReading:
    """What a price text says: the amount chosen (yuan, to the fen) and its label, or the
    reason there is none. ``candidates`` is every (label, amount) read from the text."""

    amount: Decimal | None
    reason: str = ""
    label: str = UNLABELLED
    approximate: bool = False
    candidates: tuple[tuple[str, Decimal], ...] = ()

    @property
    def stored_label(self) -> str | None:
        """The label as an observation keeps it: ``会员价``, ``约``, ``约 会员价``; None for a
        bare price. The amount alone would hide that a member's or an approximate figure is
        not what everyone pays."""
        words = [w for w in ("约" if self.approximate else "", self.label) if w]
        return " ".join(words) or None


@dataclass(slots=True)
class _Price:
    low: Decimal
    floor: bool
    approximate: bool
    label: str | None = None


def _amount(m: re.Match[str], hint: str) -> Decimal | str:
    low = Decimal(m["a"].replace(",", "")) * _UNIT_FACTOR[m["ua"] or m["ub"] or hint]
    if m["b"] is None:
        return low
    high = Decimal(m["b"].replace(",", "")) * _UNIT_FACTOR[m["ub"] or m["ua"] or hint]
    if high < low:
        return "invalid_range"
    return (low + high) / 2


def read_price(
    raw: str | None,
    unit_hint: str | None = "元",
    preference: Sequence[str] | None = None,
) -> PriceReading:
    """Read a price text (see the module docstring for the rules). ``unit_hint`` ("元" or
    "万元") is the source's unit for bare numbers; ``preference`` the source's order of
    labels when the text gives several prices."""
    if raw is None or not str(raw).strip():
        return PriceReading(None, "missing_price")
    text = unicodedata.normalize("NFKC", str(raw))  # ￥ → ¥, full-width digits and brackets
    if any(word in text for word in NOT_GIVEN_WORDS):
        return PriceReading(None, "price_not_given")
    text = re.sub(r"\s+", "", text).lower()
    if not re.search(r"\d", text):
        return PriceReading(None, "price_not_given")
    hint = unit_hint if unit_hint in _UNIT_FACTOR else "元"

    # tokens: ("price", _Price) | ("label", canonical) | ("about", None)
    tokens: list[tuple[str, object]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return PriceReading(None, "unparseable")
        pos = m.end()
        if m["price"] is not None:
            try:
                value = _amount(m, hint)
            except InvalidOperation:
                return PriceReading(None, "unparseable")
            if isinstance(value, str):
                return PriceReading(None, value)
            about = bool(tokens) and tokens[-1][0] == "about"
            if about:
                tokens.pop()
            floor = bool(m["from"] or m["from2"])
            tokens.append(("price", _Price(value, floor, about)))
        elif m["label"] is not None:
            label = ("label", _LABEL_OF[m["label"]])
            if tokens and tokens[-1][0] == "about":  # 约 会员价¥380: 约 still qualifies the price
                tokens.insert(len(tokens) - 1, label)
            else:
                tokens.append(label)
        elif m["about"] is not None:
            tokens.append(("about", None))
        # filler: nothing
    prices = _bind_labels(tokens)
    if prices is None:
        return PriceReading(None, "unparseable")
    if not prices:
        return PriceReading(None, "price_not_given")
    return _choose(prices, preference)


def _bind_labels(tokens: list[tuple[str, object]]) -> list[_Price] | None:
    """Give each label its price. When the text ends with a label, labels follow their price
    (``¥99 会员价``, ``¥99 会员价 ¥120 原价``, ``1280.00 (含税)``); otherwise they precede it
    (``原价¥500 现价¥420``, ``¥420 原价¥500``). A leading label always belongs to the first
    price. None when a label has no price or contradicts the label its price already has."""
    if any(kind == "about" for kind, _ in tokens):
        return None  # 约 not followed by a price
    postfix = bool(tokens) and tokens[-1][0] == "label"
    prices: list[_Price] = []
    pending: str | None = None
    for kind, value in tokens:
        if kind == "price":
            assert isinstance(value, _Price)
            if pending is not None:
                value.label, pending = pending, None
            prices.append(value)
            continue
        assert isinstance(value, str)
        if postfix and prices:
            last = prices[-1]
            if last.label is not None and value == "含税价":
                continue  # "售价 ¥1,280 含税": a selling price that includes the tax
            if last.label not in (None, value):
                return None
            last.label = value
        elif pending is not None:
            return None  # two labels before one price
        else:
            pending = value
    if pending is not None:
        return None
    return prices


def _choose(prices: list[_Price], preference: Sequence[str] | None) -> PriceReading:
    order = list(dict.fromkeys([*(preference or ()), *DEFAULT_PRICE_PREFERENCE]))
    candidates = tuple((p.label or UNLABELLED, _fen(p.low)) for p in prices)

    def rank(p: _Price) -> int:
        return order.index(p.label or UNLABELLED)

    best = min(rank(p) for p in prices)
    top = [p for p in prices if rank(p) == best]
    if len({_fen(p.low) for p in top}) > 1:
        return PriceReading(None, "ambiguous", candidates=candidates)
    chosen = top[0]
    label = chosen.label or UNLABELLED
    if chosen.floor:
        return PriceReading(None, "price_from", label=label, candidates=candidates)
    amount = _fen(chosen.low)
    if amount <= 0:
        return PriceReading(None, "non_positive", label=label, candidates=candidates)
    if amount > MAX_PLAUSIBLE_YUAN:
        return PriceReading(None, "implausible", label=label, candidates=candidates)
    return PriceReading(amount, "", label, chosen.approximate, candidates)


def _fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def explain_price(
    raw: str | None, unit_hint: str | None = "元", preference: Sequence[str] | None = None
) -> tuple[Decimal | None, str]:
    """(amount in yuan rounded to the fen, "") or (None, reason the text is not a price).

    Reasons: ``missing_price``, ``price_not_given`` (面议, 电询 …), ``unparseable``,
    ``invalid_range`` (low above high), ``ambiguous`` (two different prices of the same rank),
    ``price_from`` (``¥99起``), ``non_positive``, ``implausible`` (above 5,000,000 元).
    """
    reading = read_price(raw, unit_hint, preference)
    return reading.amount, reading.reason


def parse_price(
    raw: str | None, unit_hint: str | None = "元", preference: Sequence[str] | None = None
) -> Decimal | None:
    """The price a market listing states, in yuan, or None when it states none (see
    `explain_price` for the reasons). ``"¥1,280.00"`` → 1280.00, ``"0.35万元"`` → 3500.00,
    ``"850-920元"`` → 885.00 (the midpoint), ``"原价¥500 现价¥420"`` → 420.00, ``"面议"`` →
    None."""
    return explain_price(raw, unit_hint, preference)[0]
