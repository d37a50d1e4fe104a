"""The staff web UI in a real browser: Debian's headless Chromium driven by Playwright.

The app runs under uvicorn in a subprocess on 127.0.0.1 with a migrated SQLite database loaded
with the demo catalogue and one key per role. Screenshots are saved in the test's tmp dir.
Without /usr/bin/chromium the tests skip, except under CI=true, where they fail: .ci/run
installs `chromium` and `fonts-wqy-zenhei` with apt when missing.

Every page a test screenshots is also checked with axe-core (tests/vendor/axe.min.js, the npm
package's build, committed so the check runs offline; its licence beside it): any serious or
critical violation fails the test, naming the rule and the elements. axe is evaluated through
the DevTools protocol, which the pages' Content-Security-Policy does not apply to.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pricebook import keys, migrate
from pricebook.db import make_engine, transaction
from pricebook.demo.load import load_demo
from pricebook.models import ROLES
from pricebook.settings import Settings
from tests.net import free_port

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
#: the impacts that fail a page (axe's others: minor, moderate)
AXE_FAILS = ("serious", "critical")
VIEWPORT = {"width": 1440, "height": 900}


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if IN_CI:
        pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run must install chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium fonts-wqy-zenhei)")


@dataclass
class Server:
    url: str
    keys: dict[str, str]
    shots: Path

    def shot(self, page, name: str) -> Path:
        """A full-page screenshot, and the page's accessibility check (one axe run)."""
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        problems = axe_violations(page)
        assert not problems, f"{name} ({page.url}): " + "; ".join(problems)
        return path


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each: the
    rule, its help text and the first elements it names."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} [{v['impact']}] {v['help']}: {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in AXE_FAILS
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_chromium()
    base = tmp_path_factory.mktemp("browser")
    settings = Settings(database_url=f"sqlite:///{base / 'pricebook.db'}")
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        load_demo(engine)
        with transaction(engine) as session:
            made = {
                role: keys.create_key(session, name=f"浏览器 {role}", role=role, actor="test")[1]
                for role in ROLES
            }
    finally:
        engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "PRICEBOOK_DATABASE_URL": settings.database_url,
        "PRICEBOOK_SESSION_SECRET": "browser-test-secret",
        "PYTHONWARNINGS": "ignore",
    }
    log = (base / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((base / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        shots = base / "screenshots"
        shots.mkdir()
        yield Server(url, made, shots)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def browser(server: Server, tmp_path: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data-dir
            executable_path=str(CHROMIUM), headless=True, args=ARGS, locale="zh-CN",
            viewport=VIEWPORT,
        )  # fmt: skip
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


def _login(page, server: Server, role: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=api_key]", server.keys[role])
    page.click("button:has-text('登录')")
    page.wait_for_url(re.compile(r"/parts"))


def _logout(page) -> None:
    page.click("button:has-text('退出登录')")
    page.wait_for_url(re.compile(r"/login"))


def _find_part(page, server: Server, query: str, name: str) -> str:
    """Live search (htmx) and open the part; returns the part page's URL."""
    page.goto(f"{server.url}/parts")
    page.fill("input[name=q]", query)
    page.wait_for_selector(f"#results a:text-is('{name}')")
    page.click(f"#results a:text-is('{name}')")
    page.wait_for_url(re.compile(r"/parts/\d+"))
    return page.url.split("?")[0].split("#")[0]


def test_login_search_edit_price_and_see_it_in_the_chart(server: Server, browser) -> None:
    page = browser.new_page()
    console: list[str] = []  # Chromium reports each Content-Security-Policy violation here
    page.on("console", lambda message: console.append(message.text))
    first = page.goto(f"{server.url}/parts")
    assert first is not None and "script-src 'self'" in first.headers["content-security-policy"]
    page.wait_for_url(re.compile(r"/login\?next="))  # pages need a login
    assert page.locator("h1").inner_text() == "登录"
    server.shot(page, "01-login")

    _login(page, server, "pricing_staff")
    page.fill("input[name=q]", "前杠")
    page.wait_for_selector("#results table.results")
    assert "前保险杠" in page.locator("#results").inner_text()
    server.shot(page, "02-search")
    # many hits page by 50, with the vehicles and a reference price on each row
    page.goto(f"{server.url}/parts?q=灯")
    assert "第 1 / " in page.locator("#result-count").inner_text()
    assert page.locator("#results tbody tr").count() == 50
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"page=2"))
    assert "第 2 / " in page.locator("#result-count").inner_text()
    # the category filter searches by itself (the live search follows the selects too)
    page.goto(f"{server.url}/parts")
    page.select_option("select[name=category]", "glass")
    page.wait_for_selector("#results table.results")
    assert "玻璃" in page.locator("#results tbody tr").first.inner_text()

    part_url = _find_part(page, server, "前保险杠皮", "前保险杠皮")
    assert page.locator("h1").inner_text().startswith("前保险杠皮")
    assert page.locator("#price-matrix").is_visible()
    assert page.locator("#history-chart").is_visible()

    page.select_option("select[name=target]", "branch:BJ01")
    page.select_option("#edit select[name=price_type]", "4s")
    # a refused save shows its error where the form is, not ~2,800 px below the top
    page.fill("input[name=amount]", "4321.00")
    page.fill("input[name=valid_from]", date.today().isoformat())
    page.fill("#edit input[name=reason]", " ")
    page.click("button:has-text('保存新版本')")
    page.wait_for_selector("#edit-error")
    assert _in_view(page, "#edit-error")
    page.select_option("select[name=target]", "branch:BJ01")
    page.select_option("#edit select[name=price_type]", "4s")
    page.fill("input[name=amount]", "4321.00")
    page.fill("input[name=valid_from]", date.today().isoformat())
    page.fill("#edit input[name=reason]", "浏览器测试：4S店询价后调整")
    page.click("button:has-text('保存新版本')")
    page.wait_for_url(re.compile(r"saved=\d+"))
    assert "新价格已保存" in page.locator("#edit-saved").inner_text()
    assert _in_view(page, "#edit-saved")  # the confirmation is where the page lands
    chart = page.locator("#history-chart")
    assert chart.locator("g.series[data-label='北京分公司 · 4S店价/原厂件']").count() == 1
    assert chart.locator("circle title", has_text="4321.00").count() >= 1
    bj_4s = page.locator("#price-matrix tr[data-branch='BJ01'] td[data-price-type='4s']")
    assert "4321.00" in bj_4s.inner_text()
    server.shot(page, "03-part-after-edit")
    assert part_url.startswith(server.url)
    # htmx, the live search, the chart and the forms all work under the policy, and it
    # blocked nothing the UI meant to load
    assert [m for m in console if "Content Security Policy" in m] == []


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and 0 <= box["y"] < page.viewport_size["height"]


def test_reviewer_feedback_accepted_by_staff_becomes_the_price(server: Server, browser) -> None:
    page = browser.new_page()
    _login(page, server, "reviewer")
    part_url = _find_part(page, server, "左前雾灯", "左前雾灯")
    page.goto(part_url)
    part_id = part_url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"{server.url}/feedback/new?part_id={part_id}&branch=SH01&price_type=4s")
    page.fill("input[name=observed]", "288.00")
    page.fill("textarea[name=note]", "本地三家修理厂询价均低于系统价")
    page.fill("input[name=estimate_ref]", "DS-2026-0001")
    page.click("button:has-text('提交反馈')")
    page.wait_for_url(re.compile(r"/feedback\?submitted=\d+"))
    item_id = re.search(r"submitted=(\d+)", page.url).group(1)
    assert page.locator(f"#feedback-{item_id}").is_visible()
    assert page.locator("td.actions form.accept").count() == 0  # reviewers cannot accept
    server.shot(page, "04-feedback-submitted")
    _logout(page)

    _login(page, server, "pricing_staff")
    page.goto(f"{server.url}/feedback")
    row = page.locator(f"#feedback-{item_id}")
    # a refused action shows why where the user looks (htmx used to drop 4xx answers)
    row.locator("input[name=amount]").fill("2.888")
    row.locator("button:has-text('采纳')").click()
    page.wait_for_selector("text=未处理")
    assert "最多两位小数" in page.content()
    page.goto(f"{server.url}/feedback")
    row = page.locator(f"#feedback-{item_id}")
    row.locator("input[name=reason]").first.fill("核实属实，采纳")
    row.locator("button:has-text('采纳')").click()
    page.wait_for_url(re.compile(r"done=\d+"))
    assert (
        f"反馈 #{item_id} 已采纳" in page.locator(".flash.ok").inner_text()
    )  # says what was decided
    server.shot(page, "05-feedback-accepted")
    page.goto(part_url)
    cell = page.locator("#price-matrix tr[data-branch='SH01'] td[data-price-type='4s']")
    assert "288.00" in cell.inner_text()
    server.shot(page, "06-new-price-in-force")


def test_other_pages_render_in_chinese(server: Server, browser) -> None:
    page = browser.new_page()
    _login(page, server, "admin")
    for path, heading, name in (
        ("/feedback", "反馈队列", "07-feedback-queue"),
        ("/indicators", "核损指标", "08-indicators"),
        ("/import", "导入", "09-import"),
        ("/validations", "核损记录", "10-validations"),
        ("/labor-rates", "工时单价", "11-labor-rates"),
        ("/standard-hours", "标准工时", "12-standard-hours"),
        ("/channels", "专项渠道", "13-channels"),
        ("/audit", "操作日志", "17-audit-log"),
        ("/synonyms", "同义词词典", "18-synonyms"),
        ("/price-type-words", "价格类型词表", "44-price-type-words"),
        ("/market/runs", "爬取记录", "45-market-runs"),
    ):
        page.goto(f"{server.url}{path}")
        assert page.locator("h1").inner_text() == heading
        server.shot(page, name)


def test_staff_supersede_a_labor_rate_with_errors_in_view(server: Server, browser) -> None:
    """From the list (sorted by a column click) to a rate's page; a save without a reason
    shows the Chinese error where the form is, a save with one lands on its confirmation."""
    page = browser.new_page()
    _login(page, server, "pricing_staff")
    page.goto(f"{server.url}/labor-rates?branch=BJ01")
    page.click("#labor-rates th a:has-text('工时单价')")
    page.wait_for_url(re.compile(r"sort=rate"))
    assert page.locator("#labor-rates th[aria-sort]").get_attribute("aria-sort") == "ascending"
    assert "工时单价" in page.locator("#labor-rates th[aria-sort]").inner_text()
    page.locator("#labor-rates tbody a").first.click()
    page.wait_for_url(re.compile(r"/labor-rates/\d+"))
    page.fill("#edit input[name=rate]", "99.50")
    page.fill("#edit input[name=reason]", " ")
    page.click("button:has-text('保存新版本')")
    page.wait_for_selector("#edit-error")
    assert "请填写原因" in page.locator("#err-reason").inner_text()
    assert _in_view(page, "#edit-error")
    page.fill("#edit input[name=reason]", "浏览器测试：年度调整")
    page.click("button:has-text('保存新版本')")
    page.wait_for_url(re.compile(r"done=superseded"))
    assert _in_view(page, "#saved")
    assert "浏览器测试：年度调整" in page.locator("#versions").inner_text()
    server.shot(page, "14-labor-rate-saved")
    page.goto(f"{server.url}/channels")
    page.locator("#channels tbody a").first.click()
    page.wait_for_url(re.compile(r"/channels/.+"))
    assert page.locator("#card-labor").is_visible()
    server.shot(page, "15-channel")
    page.goto(f"{server.url}/standard-hours?operation=replace")
    page.locator("#standard-hours tbody a").first.click()
    page.wait_for_url(re.compile(r"/standard-hours/\d+"))
    assert page.locator("#includes-edit input[name=keep]").count() >= 1
    server.shot(page, "16-standard-hours-one")


def test_audit_log_sorting_and_alias_form(server: Server, browser) -> None:
    """As pricing staff: the part page's aliases and its history link; the audit log's time
    column turns round on a click; an alias added shows in the log as a diff."""
    page = browser.new_page()
    _login(page, server, "pricing_staff")
    _find_part(page, server, "左前雾灯", "左前雾灯")
    page.fill("#alias-add input[name=alias]", "左雾灯浏览器")
    page.fill("#alias-add input[name=reason]", "浏览器测试：常见写法")
    page.click("#alias-add button")
    page.wait_for_selector("#alias-saved")
    assert "已添加别名“左雾灯浏览器”" in page.locator("#alias-saved").inner_text()
    assert _in_view(page, "#alias-saved")
    server.shot(page, "19-alias-added")
    page.click("#history-link")
    page.wait_for_url(re.compile(r"/audit\?part=\d+"))
    first = page.locator("#audit tbody tr").first
    assert first.locator("li[data-field=alias] ins").inner_text() == "左雾灯浏览器"
    # the part by name, never its database id
    assert first.locator("li[data-field=part_id] ins").inner_text().startswith("左前雾灯（")
    assert "浏览器测试：常见写法" in first.inner_text()
    header = page.locator("#audit th[aria-sort]")
    assert header.get_attribute("aria-sort") == "descending"
    header.locator("a").click()
    page.wait_for_url(re.compile(r"sort=at"))
    assert page.locator("#audit th[aria-sort]").get_attribute("aria-sort") == "ascending"
    assert "左雾灯浏览器" not in page.locator("#audit tbody tr").first.inner_text()
    server.shot(page, "20-audit-oldest-first")


def _no_english_error(page) -> None:
    """The page's error messages (flash and beside fields) read in Chinese."""
    for text in page.locator(".flash.error, .field-error").all_inner_texts():
        words = set(re.findall(r"[A-Za-z]{3,}", re.sub(r"\w*_\w*", "", text)))
        assert not words - {"CSV", "XLSX", "UTF", "PNG", "NOPE"}, text  # NOPE: typed


def _post_validation(server: Server) -> int:
    """An estimate tool's validation of a demo estimate (a catalogue part over its price, a
    custom name), so the walk has a stored validation to open; its id."""
    body = {
        "estimate_id": "E-BROWSER-1", "version": 1, "date": "2025-09-10", "branch": "SZ01",
        "vehicle": {"brand": "大众", "model": "朗逸", "vin": "LSVAB4BR5PN000001"},
        "shop": {"tier": "4s"},
        "lines": [{"type": "part", "custom_name": "左前叶子板", "claimed_unit_price": "9000.00"}],
    }  # fmt: skip
    request = urllib.request.Request(
        f"{server.url}/api/v1/estimates/validate", data=json.dumps(body).encode(), method="POST",
        headers={"X-API-Key": server.keys["estimate_tool"], "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
        return int(json.load(answer)["validation_id"])


def test_reviewer_and_staff_walk_every_page_and_its_errors(server: Server, browser) -> None:
    """Every page a reviewer reads, then the staff forms' error paths and the import preview,
    each screenshot and checked with axe; the errors shown are Chinese."""
    validation = _post_validation(server)
    page = browser.new_page()
    _login(page, server, "reviewer")
    part_url = _find_part(page, server, "左前雾灯", "左前雾灯")
    server.shot(page, "21-reviewer-part")
    page.goto(f"{server.url}/validations/{validation}")
    assert page.get_by_text("E-BROWSER-1").count() >= 1
    server.shot(page, "46-reviewer-validation")
    for path, name in (
        ("/parts?q=灯", "22-reviewer-search"), ("/validations", "23-reviewer-validations"),
        ("/feedback", "24-reviewer-queue"),
        (f"/feedback/new?part_id={part_url.rsplit('/', 1)[-1]}", "25-reviewer-feedback-form"),
        ("/indicators", "26-reviewer-indicators"), ("/labor-rates", "27-reviewer-labor-rates"),
        ("/standard-hours", "28-reviewer-standard-hours"), ("/channels", "29-reviewer-channels"),
        ("/audit", "30-reviewer-audit"), ("/synonyms", "31-reviewer-synonyms"),
        ("/market/unmatched", "32-reviewer-market"),
    ):  # fmt: skip
        page.goto(f"{server.url}{path}")
        server.shot(page, name)
    for path, name in (("/no-such-page", "33-not-found"), ("/audit?from=2026-13-01", "34-bad-filter"),
                       ("/indicators?from=2026-02-01&to=2026-01-01", "35-bad-period")):  # fmt: skip
        page.goto(f"{server.url}{path}")
        _no_english_error(page)
        server.shot(page, name)
    page.goto(f"{server.url}/feedback/new")
    page.fill("input[name=part]", "NOPE-1")
    page.fill("input[name=observed]", "1.234")
    page.click("button:has-text('提交反馈')")
    page.wait_for_selector(".flash.error, .field-error")
    _no_english_error(page)
    server.shot(page, "36-reviewer-feedback-error")
    _logout(page)

    _login(page, server, "pricing_staff")
    for path, name in (("/labor-rates/new", "37-labor-rate-new"),
                       ("/standard-hours/new", "38-standard-hours-new"),
                       ("/channels/new", "39-channel-new")):  # fmt: skip
        page.goto(f"{server.url}{path}")
        # the server's checks, past the browser's own `required` ones
        page.evaluate("document.querySelectorAll('form').forEach(f => { f.noValidate = true })")
        page.locator("form.edit button[type=submit]").first.click()
        page.wait_for_selector(".flash.error, .field-error")
        _no_english_error(page)
        server.shot(page, name)
    page.goto(f"{server.url}/import")
    page.select_option("select[name=kind]", "prices")
    page.set_input_files("input[name=file]", files=[{
        "name": "prices.csv", "mimeType": "text/csv",
        "buffer": b"part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
                  b"NOPE,,GD01,brand,abc,2026-01-01,\n"}])  # fmt: skip
    page.fill("input[name=reason]", "浏览器测试")
    page.click("button:has-text('预览')")
    page.wait_for_selector("#import-errors")
    assert "没有这个配件" in page.locator("#import-errors").inner_text()
    server.shot(page, "40-import-row-errors")
    page.goto(f"{server.url}/import")
    page.set_input_files("input[name=file]", files=[{
        "name": "photo.csv", "mimeType": "text/csv", "buffer": b"\x89PNG\r\n\x1a\n" + bytes(64)}])  # fmt: skip
    page.click("button:has-text('预览')")
    page.wait_for_selector("#import-error")
    assert "这不是配件价格文件" in page.locator("#import-error").inner_text()
    _no_english_error(page)
    server.shot(page, "41-import-not-a-table")
    page.goto(f"{server.url}/import")
    page.set_input_files("input[name=file]", files=[{
        "name": "prices.csv", "mimeType": "text/csv",
        "buffer": b"part_code,model_code,scope,price_type,amount_yuan,valid_from,valid_to\n"
                  b"VW1-0001,,BJ01,brand,123.45,2027-01-01,\n"}])  # fmt: skip
    page.click("button:has-text('预览')")
    page.wait_for_selector("#import-changes")
    assert "123.45 元" in page.locator("#import-changes tr[data-row='2']").inner_text()
    server.shot(page, "42-import-preview")
    page.goto(f"{server.url}/labor-rates?branch=BJ01")
    page.locator("#labor-rates tbody a").first.click()
    page.wait_for_url(re.compile(r"/labor-rates/\d+"))
    page.click("a.audit-link")
    page.wait_for_url(re.compile(r"/audit\?entity=labor_rates"))
    server.shot(page, "43-labor-rate-audit")
    # the check itself fails a page it should: an input without a label, no lang, no title
    page.set_content("<html><body><main><input name='x'></main></body></html>")
    found = " ".join(axe_violations(page))
    assert "label [critical]" in found and "html-has-lang [serious]" in found, found
