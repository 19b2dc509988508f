"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Seeded calls (CallStore API + espeak-ng WAVs) on a live uvicorn server; the test logs in
(HTTP Basic), sees the calls, filters, opens a call, checks that an `<audio>` element loads
real audio (positive duration), and downloads the exports. Then the Russian dashboard with
local times (TIMEZONE=Europe/Moscow) at a desktop (1280 px) and a phone (390 px) width, checked
for text that overflows the screen. Screenshots go to `temp/screenshots/` for a human to look
at (`scripts/dashboard_screenshots.py` makes the README's from the same seed).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from lidia.core.settings import PROJECT_DIR
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from tests.conftest import make_settings
from tests.support.admin_seed import SEED_CALLS, make_store, seed_calls
from tests.support.live_server import live_server
from tests.support.service_guard import service_missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "owner", "browser-пароль"
SCREENSHOTS = PROJECT_DIR / "temp" / "screenshots"
NEWEST, MIDDLE, OLDEST = (seed.call_sid for seed in reversed(SEED_CALLS))


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    store: SqlCallStore

    async def seed() -> SqlCallStore:
        store, _ = await make_store("sqlite", root)
        await seed_calls(store, root / "calls_log")
        return store

    store = asyncio.run(seed())
    settings = make_settings(
        root, admin_username=USER, admin_password=PASSWORD, timezone="Europe/Moscow"
    )
    app = create_app(settings, orchestrator_url="http://127.0.0.1:9", call_store=store)
    with live_server(app) as url:
        yield url
    store.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if shutil.which(CHROMIUM) is None:
        service_missing(
            "Debian chromium is not installed (scripts/install_system_packages.sh --dev)"
        )
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_the_owner_reviews_calls_in_a_browser(dashboard_url: str, browser) -> None:
    # dashboard_url first: it seeds with asyncio.run, before Playwright owns the thread's loop.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    unauthenticated = browser.new_context()
    # Headless Chromium turns a 401 page into a navigation error: ask through its HTTP client.
    assert unauthenticated.request.get(dashboard_url + "/admin").status == 401
    unauthenticated.close()

    context = browser.new_context(
        http_credentials={"username": USER, "password": PASSWORD},
        accept_downloads=True,
        viewport={"width": 412, "height": 900},  # a phone screen
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    assert page.goto(dashboard_url + "/admin").status == 200
    rows = page.locator("li.call")
    assert rows.count() == 3
    assert rows.nth(0).get_attribute("data-call-sid") == NEWEST
    assert "Иван Петров: перезвонить про заказ 42" in page.locator(".message-marker").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "admin_list.png"), full_page=True)

    # Filter by text, like the owner would: type, submit, see one call.
    page.fill('input[name="q"]', "заказ")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url("**/admin?**q=**")
    assert rows.count() == 1 and rows.nth(0).get_attribute("data-call-sid") == MIDDLE

    with page.expect_download() as csv_download:
        page.click("#export-csv")
    exported_text = Path(csv_download.value.path()).read_bytes().decode("utf-8")
    assert exported_text.startswith("\ufeff")  # the BOM Excel needs to read Cyrillic
    exported = list(csv.DictReader(io.StringIO(exported_text.removeprefix("\ufeff"))))
    assert [row["call_sid"] for row in exported] == [MIDDLE]

    page.click(f'li.call[data-call-sid="{MIDDLE}"] a')
    page.wait_for_url(f"**/admin/calls/{MIDDLE}")
    assert "Перезвоните мне по поводу ЗАКАЗА номер 42" in page.inner_text(".timeline")
    assert page.inner_text("#message-name") == "Иван Петров"
    duration = page.evaluate(
        """() => new Promise((resolve, reject) => {
            const audio = document.querySelector('#whole-call');
            if (audio.readyState >= 1) return resolve(audio.duration);
            audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
            audio.addEventListener('error', () => reject(new Error('audio failed to load')));
            audio.load();
        })"""
    )
    assert duration > 0.5
    assert page.locator(".timeline audio").count() == 4
    page.screenshot(path=str(SCREENSHOTS / "admin_call.png"), full_page=True)

    with page.expect_download() as json_download:
        page.click("#export-json")
    data = json.loads(Path(json_download.value.path()).read_text())
    assert data["call"]["call_sid"] == MIDDLE and len(data["turns"]) == 2
    context.close()


# Text that runs past the right edge of the screen, or a page wider than the screen.
OVERFLOW_CHECK = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > width + 1)
        .map((el) => el.tagName + '.' + el.className);
    return {scroll: document.documentElement.scrollWidth, width, wide};
}"""


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_dashboard_is_russian_with_local_times_at_every_width(
    dashboard_url: str, browser, width: int
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        http_credentials={"username": USER, "password": PASSWORD},
        viewport={"width": width, "height": 900},
        locale="ru-RU",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(dashboard_url + "/admin")
    assert page.inner_text("#total") == "3 звонка"
    assert page.inner_text("#timezone").startswith("Europe/Moscow, UTC+3")
    times = page.locator("li.call time").all_inner_texts()
    assert times == ["9 марта 2026, 15:00", "5 марта 2026, 15:00", "1 марта 2026, 15:00"]
    outcomes = page.locator("li.call .outcome").all_inner_texts()
    assert outcomes == ["разговор", "оставил(а) сообщение", "завершён"]
    assert "UTC</" not in page.content() and "completed" not in page.inner_text("main")
    assert_fits(page, width)
    page.screenshot(path=str(SCREENSHOTS / f"admin_list_{width}.png"), full_page=True)

    page.click(f'li.call[data-call-sid="{MIDDLE}"] a')
    page.wait_for_url(f"**/admin/calls/{MIDDLE}")
    assert page.inner_text("#started") == "5 марта 2026, 15:00"
    assert page.inner_text("#outcome") == "оставил(а) сообщение"
    page.click("details summary")
    assert page.locator(".events .event").all_inner_texts() == ["звонящий перебил Лидию"]
    assert_fits(page, width)
    page.screenshot(path=str(SCREENSHOTS / f"admin_call_{width}.png"), full_page=True)

    page.goto(dashboard_url + "/admin/playground")  # the orchestrator is down in this test
    assert "Оркестратор недоступен" in page.inner_text("main")
    assert_fits(page, width)
    context.close()


def assert_fits(page, width: int) -> None:
    layout = page.evaluate(OVERFLOW_CHECK)
    assert layout["scroll"] <= width and layout["wide"] == [], layout
