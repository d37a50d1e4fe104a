"""The vehicle in a shop title: brand, series and model-year words, and the title without them.

Shop titles carry the vehicle in front of the part — "大众朗逸 左后叶子板 原厂", "本田雅阁 前大灯
左", "比亚迪秦PLUS 左后视镜". Scored against the whole catalogue those words count against the part
name and every series' 前大灯 looks the same, so nothing is auto-matched. `VehicleWords` finds
the catalogue's own brand and series names (and their common short forms) in a title, so that
ingest can block the matcher on that vehicle's fitment — as the validation does with
``model_id`` — and match the title with the vehicle words taken out.

Words come from the catalogue: every brand and series name, the series name without its brand
in front (a catalogue that writes 大众朗逸 is also found by 朗逸), spaces and hyphens optional
(秦 PLUS, CRV); plus `BRAND_ALIASES` / `SERIES_ALIASES` for the short names shops write that
cannot be derived (一汽大众, 广汽本田, 昂克赛拉). A series word of one character, or two with a
letter or digit (汉, H6, 3系), is trusted only next to its brand: alone it is too likely to be
something else.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["BRAND_ALIASES", "SERIES_ALIASES", "TitleVehicle", "VehicleWords"]

#: Brand name → other names shops use (joint-venture makers, Latin names).
BRAND_ALIASES: Mapping[str, tuple[str, ...]] = {
    "大众": ("一汽大众", "一汽-大众", "上汽大众", "上海大众", "volkswagen"),
    "丰田": ("一汽丰田", "广汽丰田", "toyota"),
    "本田": ("广汽本田", "东风本田", "广本", "东本", "honda"),
    "日产": ("东风日产", "尼桑", "nissan"),
    "别克": ("上汽通用别克", "通用别克", "buick"),
    "奔驰": ("梅赛德斯-奔驰", "梅赛德斯奔驰", "北京奔驰", "benz"),
    "宝马": ("华晨宝马", "bmw"),
    "奥迪": ("一汽奥迪", "一汽-奥迪", "audi"),
    "特斯拉": ("tesla",),
    "现代": ("北京现代", "hyundai"),
    "马自达": ("长安马自达", "一汽马自达", "mazda"),
    "五菱": ("上汽通用五菱",),
}

#: Series name → short names shops write that are not the name with its brand or spaces taken
#: out.
SERIES_ALIASES: Mapping[str, tuple[str, ...]] = {
    "马自达3 昂克赛拉": ("昂克赛拉", "马自达3"),
    "RAV4荣放": ("RAV4", "荣放"),
    "CS75 PLUS": ("CS75",),
    "途观L": ("途观",),
    "途胜L": ("途胜",),
    "宏光MINIEV": ("宏光MINI", "MINIEV"),
    "Model 3": ("Model3",),
    "Model Y": ("ModelY",),
    "GL8": ("陆尊",),
}

#: Model years and configuration words around the vehicle: "2023款", "19-22款", "1.5T".
_YEAR_RE = re.compile(
    r"(?:(?:19|20)?\d{2}\s*[-~至到/]\s*)?(?:19|20)?\d{2}\s*款|(?<![a-z0-9.])(?:19|20)\d{2}\s*年"
)
_ENGINE_RE = re.compile(r"(?<![a-z0-9.])\d\.\d\s*[tl](?![a-z0-9])")
#: Connecting words in "适用于大众朗逸" / "朗逸专用": never part of a part name.
_FILLER_RE = re.compile(r"适用于|适配|专用|车型")
_LATIN = re.compile(r"[a-z0-9]")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True, slots=True)
class TitleVehicle:
    """What a title says about the vehicle."""

    brand_id: int | None
    series_id: int | None
    #: the model year written (2023款), if any.
    model_year: int | None
    #: the title without the vehicle words (and model years, engines, 适用于 …).
    rest: str


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    brand_id: int
    series_id: int | None
    #: short series words (汉, H6) count only next to their brand.
    needs_brand: bool


class VehicleWords:
    """The catalogue's vehicle vocabulary, compiled into one pattern (built once per catalogue
    version with the rest of ingest's catalogue cache)."""

    def __init__(
        self,
        brands: Iterable[tuple[int, str]],
        series: Iterable[tuple[int, int, str]],
    ) -> None:
        """``brands``: (id, name); ``series``: (id, brand id, name)."""
        brand_names: dict[int, str] = {}
        words: dict[tuple[str, int, int | None], _Word] = {}

        def add(text: str, brand_id: int, series_id: int | None) -> None:
            folded = _fold(text).strip()
            if not folded:
                return
            compact = folded.replace(" ", "")
            needs_brand = series_id is not None and (
                len(compact) == 1 or (len(compact) == 2 and bool(_LATIN.search(compact)))
            )
            words.setdefault(
                (folded, brand_id, series_id), _Word(folded, brand_id, series_id, needs_brand)
            )
            compact = folded.replace("-", "")
            if compact != folded:
                add(compact, brand_id, series_id)

        for brand_id, name in brands:
            if not name:
                continue
            brand_names[brand_id] = name
            add(name, brand_id, None)
            for alias in BRAND_ALIASES.get(name, ()):
                add(alias, brand_id, None)
        for series_id, brand_id, name in series:
            if not name:
                continue
            add(name, brand_id, series_id)
            brand = brand_names.get(brand_id, "")
            if brand and name.startswith(brand) and len(name) > len(brand) + 1:
                add(name[len(brand) :].strip(), brand_id, series_id)
            for alias in SERIES_ALIASES.get(name, ()):
                add(alias, brand_id, series_id)

        self._by_text: dict[str, list[_Word]] = defaultdict(list)
        for word in words.values():
            self._by_text[word.text.replace(" ", "")].append(word)
        alternatives = []
        for text in sorted(self._by_text, key=lambda t: (-len(t), t)):
            body = r"\s*".join(re.escape(ch) for ch in text)
            if _LATIN.match(text[0]):
                body = r"(?<![a-z0-9])" + body
            if _LATIN.match(text[-1]):
                body += r"(?![a-z0-9])"
            alternatives.append(body)
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def find(self, title: str) -> TitleVehicle:
        """The brand, series and model year a title names, and the title without them.

        A series found without its brand gives the brand; a brand and a series of another
        brand, or two series of different brands, are not trusted (nothing narrows)."""
        text = _fold(title)
        spans: list[tuple[int, int]] = []
        brand_hits: set[int] = set()
        series_hits: list[_Word] = []
        if self._pattern is not None:
            for m in self._pattern.finditer(text):
                found = self._by_text.get(re.sub(r"\s+", "", m.group(0)), [])
                if not found:
                    continue
                spans.append(m.span())
                for word in found:
                    if word.series_id is None:
                        brand_hits.add(word.brand_id)
                    else:
                        series_hits.append(word)
        brand_id, series_id = self._decide(brand_hits, series_hits)
        if brand_id is None and series_id is None:
            spans = []  # words that did not name a vehicle stay in the name
        year = None
        for m in _YEAR_RE.finditer(text):
            digits = re.findall(r"\d+", m.group(0))
            last = int(digits[-1])
            year = last + 2000 if last < 100 else last
            spans.append(m.span())
        if brand_id is not None or series_id is not None:
            # "1.5L" beside a vehicle is its engine; alone it may be a volume (防冻液 1.5L)
            for pattern in (_ENGINE_RE, _FILLER_RE):
                spans += [m.span() for m in pattern.finditer(text)]
        rest = _cut(text, spans) if spans else text
        return TitleVehicle(brand_id, series_id, year, re.sub(r"\s+", " ", rest).strip())

    @staticmethod
    def _decide(
        brand_hits: set[int], series_hits: Sequence[_Word]
    ) -> tuple[int | None, int | None]:
        if len(brand_hits) > 1:
            return None, None
        brand = next(iter(brand_hits), None)
        series = {
            (w.brand_id, w.series_id)
            for w in series_hits
            if (brand is None and not w.needs_brand) or w.brand_id == brand
        }
        if len(series) == 1:
            series_brand, series_id = next(iter(series))
            return series_brand, series_id
        if len(series) > 1:
            brands = {b for b, _ in series}
            return (brands.pop() if len(brands) == 1 else brand), None
        if brand is not None and any(not w.needs_brand for w in series_hits):
            return None, None  # 本田朗逸: the brand and the series disagree
        return brand, None


def _cut(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with the spans replaced by a space (overlaps merged)."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            pos = max(pos, end)
            continue
        out.append(text[pos:start])
        out.append(" ")
        pos = end
    out.append(text[pos:])
    return "".join(out)
