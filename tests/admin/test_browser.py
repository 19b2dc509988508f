"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Seeded calls (CallStore API + espeak-ng WAVs) on a live uvicorn server; the test logs in
(HTTP Basic), sees the calls, filters, opens a call, checks that an `<audio>` element loads
real audio (positive duration), and downloads the exports. Screenshots of the list and the
call page go to `temp/screenshots/` for a human to look at.
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
    settings = make_settings(root, admin_username=USER, admin_password=PASSWORD)
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
    exported = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
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
