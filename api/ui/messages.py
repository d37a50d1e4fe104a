"""The core's error messages in Chinese, for the people who use the web UI.

The core speaks English to API clients (problem+json `detail`); staff and reviewers read Chinese.
`zh` finds the first rule whose error class, field and pattern fit and fills the Chinese text
with the pattern's groups (dates, numbers, ids); an error no rule knows keeps its message, so a
new core error is never hidden — the UI test that tries each form's errors fails on it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pricebook.errors import Conflict, InvalidInput, NotFound, PricebookError, StaleVersion


@dataclass(frozen=True, slots=True)
class Rule:
    kind: type[PricebookError]
    #: the pattern the English message matches (from its start); groups fill `text`
    pattern: re.Pattern[str]
    text: str


def _rule(kind: type[PricebookError], pattern: str, text: str) -> Rule:
    return Rule(kind, re.compile(pattern), text)


#: Most specific first: a StaleVersion is also a Conflict.
RULES = (
    _rule(StaleVersion, r"", "数据在您打开页面后已被他人修改：页面已显示最新内容，请核对后重新保存。"),
    _rule(InvalidInput, r"say why: a reason is required", "请填写原因：每次修改都要说明原因。"),
    _rule(InvalidInput, r"NUL characters are not allowed in",
          "表单内容含有无法保存的空字符（NUL）：请删除后重新提交。"),
    _rule(InvalidInput, r"(.+) is not UTF-8 text",
          "{0} 不是 UTF-8 编码的文本：请在表格软件中另存为“CSV UTF-8”，或上传 XLSX 文件。"),
    _rule(InvalidInput, r"(.+) is empty$", "{0} 是空文件。"),
    _rule(InvalidInput, r"a reason has at most (\d+) characters", "原因最多 {0} 个字。"),
    _rule(InvalidInput, r"say why the feedback is rejected", "请填写驳回原因。"),
    _rule(InvalidInput, r"say what information is needed", "请说明需要补充哪些信息。"),
    _rule(InvalidInput, r"give the amount to accept", "请填写采纳金额。"),
    _rule(InvalidInput, r"the evidence URL must start with", "证据链接须以 http:// 或 https:// 开头。"),
    _rule(InvalidInput, r"(\w+) is required", "请填写{0}。"),
    _rule(InvalidInput, r"(\w+) must not be empty", "请填写{0}。"),
    _rule(InvalidInput, r"(\w+): at most (\d+) characters, one line", "{0} 最多 {1} 个字，且不能换行。"),
    _rule(InvalidInput, r"at most (\d+) characters, no tabs", "最多 {0} 个字，且不能含制表符或换行。"),
    _rule(InvalidInput, r"(\w+): at most (\d+) characters", "{0} 最多 {1} 个字。"),
    _rule(Conflict, r"valid_to (\S+) must be after valid_from (\S+)", "失效日期 {0} 须晚于生效日期 {1}。"),
    _rule(Conflict, r"overlaps the version from (\S+): give valid_to (\S+) or earlier",
          "与 {0} 起的版本重叠：失效日期须为 {1} 或更早。"),
    _rule(Conflict, r"the version from (\S+) ends on (\S+); a version is never extended",
          "{0} 起的版本于 {1} 结束；版本不能延长：请从 {1} 起新增一个版本。"),
    _rule(Conflict, r"the version runs from (\S+) to (.+?): it can only end between",
          "该版本从 {0} 到 {1}：只能在此期间内提前结束（版本不能延长，请新增版本）。"),
    _rule(Conflict, r"another edit of this key was saved at the same time",
          "同一价格刚刚被他人保存：请刷新页面后重新修改。"),
    _rule(Conflict, r"feedback #(\d+) is linked to #(\d+)", "反馈 #{0} 已关联到 #{1}：请处理 #{1}。"),
    _rule(Conflict, r"feedback #(\d+) is already (\w+)", "反馈 #{0} 已处理过（{1}）。"),
    _rule(Conflict, r"feedback #(\d+) is (\w+), not open", "反馈 #{0} 当前状态为 {1}，不是待处理。"),
    _rule(Conflict, r"the feedback queue is busy", "反馈队列正忙：请稍后再试。"),
    _rule(NotFound, r"no feedback item with id (\d+)", "没有编号为 {0} 的反馈。"),
    _rule(NotFound, r"no part with id (\d+)", "没有编号为 {0} 的配件。"),
    _rule(NotFound, r"part \d+ has no alias (.+)$", "该配件没有别名 {0}（可能已被他人删除）。"),
    _rule(NotFound, r"(.+) is not in the group of (.+)$", "{0} 不在 {1} 的同义词组中（可能已被他人移除）。"),
    _rule(Conflict, r"(.+) is in the group of (.+): remove it there first",
          "{0} 已在 {1} 的同义词组中：请先从该组移除，再加入这里。"),
    _rule(InvalidInput, r"(.+) is a term of the group of (.+), so it cannot name a group",
          "{0} 是 {1} 组的同义词，不能作为标准词：请在 {1} 组中添加。"),
    _rule(InvalidInput, r"(.+) names a group of its own: move its terms first",
          "{0} 本身是一个同义词组的标准词：请先移走该组的同义词。"),
    _rule(InvalidInput, r"the group of (.+) still has terms: remove them too",
          "{0} 组还有其他同义词：请先移除它们，最后再移除标准词本身。"),
    _rule(InvalidInput, r"synonym (.+) is in group \d+ and group \d+",
          "{0} 与词典中已有的词写法相同（全角/半角或空格不同）：请勿重复添加。"),
    _rule(InvalidInput, r"no (?:vehicle )?model with id (\d+)", "没有编号为 {0} 的车型。"),
    _rule(InvalidInput, r"no branch with (?:id|code) (\S+)", "没有机构 {0}。"),
    _rule(InvalidInput, r"no region with (?:id|code) (\S+)", "没有地区 {0}。"),
    _rule(InvalidInput, r"no price type with (?:id|code) (\S+)", "没有价格类型 {0}。"),
    _rule(InvalidInput, r"no category with code (\S+)", "没有配件分类 {0}。"),
    _rule(InvalidInput, r"no part with code (.+)$", "没有编码为 {0} 的配件。"),
    _rule(InvalidInput, r"an operation cannot include itself", "作业不能包含它自己。"),
    # labor rates, standard hours, channels and rate cards (`pricebook.labor`)
    _rule(Conflict, r"channel (.+) exists$", "渠道代码 {0} 已存在：请换一个代码，或打开该渠道修改。"),
    _rule(PricebookError, r"no channel with code '?(.+?)'?$", "没有渠道 {0}。"),
    _rule(NotFound, r"channel (\S+) has no rate card", "该费率卡不属于渠道 {0}。"),
    _rule(NotFound, r"no (\w+) version with id (\d+)", "没有这个版本：请检查链接。"),
    _rule(InvalidInput, r"a channel needs a code and a name", "请填写渠道代码和名称。"),
    _rule(InvalidInput, r"a rate card needs at least one", "费率卡至少要有一项工时或配件条款。"),
    _rule(InvalidInput, r"give exactly one of rate and pct_of_standard",
          "每个工种只填协议单价或标准工时费百分比之一。"),
    _rule(InvalidInput, r"(?:labor kind|category) (\S+) is given twice", "{0} 填写了两次。"),
    _rule(InvalidInput, r"(?:labor|parts)\[\d+\]\.(\w+) is out of range", "{0}超出范围（最多两位小数）。"),
    _rule(InvalidInput, r"give shop_tier and vehicle_class", "请选择修理厂级别和车辆级别。"),
    _rule(InvalidInput, r"give operation and vehicle_class", "请选择作业和车辆级别。"),
    _rule(InvalidInput, r"(rate|hours): ", "{0}须为大于零的数字，最多两位小数，且不超过上限。"),
    _rule(InvalidInput, r"(\w+) must be one of", "{0}须为可选值之一。"),
    # the unmatched market listings (`pricebook.market.review`)
    _rule(Conflict, r"observation (\d+) is already matched to part (\d+)",
          "市场观测 #{0} 已匹配到配件 #{1}：无需再处理。"),
    _rule(Conflict, r"observation (\d+) is already marked not a catalogue part",
          "市场观测 #{0} 已标为不是目录配件：无需再处理。"),
    _rule(InvalidInput, r"say why the listing is not a catalogue part", "请填写不是目录配件的原因。"),
    _rule(NotFound, r"no market observation with id (\d+)", "没有编号为 {0} 的市场观测。"),
    _rule(InvalidInput, r"no suggestion to confirm: give a part_code", "没有建议配件：请填写配件编码。"),
    _rule(InvalidInput, r"the listing has no suggestion to reject", "这条报价没有建议配件，无需否定。"),
    _rule(InvalidInput, r"say why the suggestion is wrong", "请填写否定原因。"),
    _rule(InvalidInput, r"unknown part '(.+)'", "没有编码为 {0} 的配件。"),
    _rule(InvalidInput, r"the name says (\S+), part (\S+) (.+) is (\S+): a part on the other side",
          "标题写的是{0}，配件 {1} {2} 是{3}：另一侧的配件不能作为匹配。"),
    _rule(InvalidInput, r"nothing is left of the name once quality and quantity words",
          "标题去掉车型、品质和数量词后没有配件名称，无法学习。"),
    # the price type vocabulary (`pricebook.price_words`)
    _rule(InvalidInput, r"unknown price type '(.*)'", "没有价格类型 {0}。"),
    _rule(NotFound, r"'(.+)' is not in the price type vocabulary", "价格类型词表中没有 {0}（可能已被他人删除）。"),
    _rule(InvalidInput, r"at most (\d+) characters", "最多 {0} 个字。"),
    _rule(InvalidInput, r"from must not be after to", "开始日期不能晚于结束日期：请修改查询期间。"),
)  # fmt: skip

#: Field names as the forms label them.
FIELDS = {"reason": "原因", "amount": "金额", "observed": "市场价", "reference": "参考价",
          "note": "说明", "estimate_ref": "案件/定损单号", "valid_from": "生效日期",
          "valid_to": "失效日期", "rate": "工时单价", "hours": "标准工时", "kind": "类型",
          "labor_kind": "工种", "shop_tier": "修理厂级别", "vehicle_class": "车辆级别",
          "operation": "作业", "pct_of_standard": "标准工时费百分比", "discount_pct": "折让百分比",
          "code": "渠道代码", "name": "名称", "alias": "别名", "term": "同义词",
          "canonical": "标准词", "word": "词语", "price_type": "价格类型"}  # fmt: skip


#: An import's row errors (`pricebook.io.importers`): the message text only, no error class.
ROW_RULES = (
    (re.compile(r"missing column$"), "文件缺少这一列"),
    (re.compile(r"not a (\w+) file: its header lacks most of the columns (.+)$"),
     "这不是{0}文件：表头缺少{0}文件的大部分列（应为 {1}）。请检查选择的类型和文件。"),
    (re.compile(r"required$"), "必填"),
    (re.compile(r"not a plain decimal number: (.+?)(?: \(write e\.g\. [\d.]+\))?$"),
     "{0} 不是数字：请用半角数字写成 1234.50 的形式（不带单位、空格和千分位）"),
    (re.compile(r"more than (\d+) decimals: (.+?)(?: \(write e\.g\. [\d.]+\))?$"),
     "{1} 超过 {0} 位小数或位数过多：请写成 1234.50 的形式"),
    (re.compile(r"must be more than 0$"), "须大于 0"),
    (re.compile(r"must be at most (\S+)$"), "不能超过 {0}"),
    (re.compile(r"(.+) is not system, a region code or a branch code$"),
     "{0} 不是 system（系统价格）、地区代码或机构代码"),
    (re.compile(r"(.+) is not a date YYYY-MM-DD$"), "{0} 不是日期：请写成 年-月-日（如 2026-01-31）"),
    (re.compile(r"unknown (\w+(?: \w+)?) (.+)$"), "没有这个{0}：{1}"),
    (re.compile(r"(.+) is not one of (.+)$"), "{0} 不是可选值之一（{1}）"),
    (re.compile(r"must be after valid_from (\S+)$"), "须晚于生效日期 {0}"),
    (re.compile(r"a part is not its own component$"), "配件不能是自己的组件"),
    (re.compile(r"a part with components must be an assembly"), "有组件的配件须标为总成（is_assembly 填 1）"),
)  # fmt: skip
#: what the row rules' groups name, in Chinese
NOUNS = {"prices": "配件价格", "labor_rates": "工时费", "standard_hours": "标准工时",
         "rate_cards": "渠道价格表", "channels": "合作渠道", "parts": "配件", "models": "车型",
         "fitment": "适用车型", "categories": "配件分类", "regions": "地区", "branches": "机构",
         "price_types": "价格类型", "synonyms": "同义词", "region": "地区", "branch": "机构",
         "part": "配件", "model": "车型", "category": "分类", "channel": "合作渠道",
         "price type": "价格类型", "labor kind": "工种", "brand": "品牌"}  # fmt: skip


def zh_row(message: str) -> str:
    """An import row error as the UI shows it; a message no rule knows stays as it is."""
    for pattern, text in ROW_RULES:
        if match := pattern.match(message):
            return text.format(*(NOUNS.get(g, g) for g in match.groups()))
    return message


def zh(exc: PricebookError) -> str:
    """The error as the UI shows it."""
    for rule in RULES:
        if isinstance(exc, rule.kind) and (match := rule.pattern.match(exc.message)):
            return rule.text.format(*(FIELDS.get(g, g) for g in match.groups()))
    return exc.message
