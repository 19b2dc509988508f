"""Make the README's dashboard screenshots (docs/images/) from the tests' seeded calls.

    .venv/bin/python scripts/dashboard_screenshots.py

Seeds the calls of `tests/support/admin_seed.py` into a throw-away SQLite store, serves the
phone service on 127.0.0.1 and photographs the calls list and a call's page in Debian's
headless Chromium (Playwright) at a desktop and a phone width.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from lidia.core.settings import PROJECT_DIR
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from tests.admin.test_browser import CHROMIUM, CHROMIUM_ARGS, MIDDLE
from tests.conftest import make_settings
from tests.support.admin_seed import make_store, seed_calls
from tests.support.live_server import live_server

OUT = PROJECT_DIR / "docs" / "images"
USER, PASSWORD = "owner", "screenshot"
WIDTHS = {"desktop": 1280, "phone": 390}


def seeded_app(root: Path) -> FastAPI:
    async def seed() -> SqlCallStore:
        store, _ = await make_store("sqlite", root)
        await seed_calls(store, root / "calls_log")
        return store

    store = asyncio.run(seed())
    settings = make_settings(
        root, admin_username=USER, admin_password=PASSWORD, timezone="Europe/Moscow"
    )
    return create_app(settings, orchestrator_url="http://127.0.0.1:9", call_store=store)


def photograph(base_url: str) -> list[Path]:
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=ru-RU"]
        )
        for label, width in WIDTHS.items():
            context = browser.new_context(
                http_credentials={"username": USER, "password": PASSWORD},
                viewport={"width": width, "height": 800},
                locale="ru-RU",
            )
            page = context.new_page()
            for name, path in (("list", "/admin"), ("call", f"/admin/calls/{MIDDLE}")):
                page.goto(base_url + path)
                target = OUT / f"dashboard_{name}_{label}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            context.close()
        browser.close()
    return written


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, live_server(seeded_app(Path(tmp))) as url:
        for path in photograph(url):
            print(path.relative_to(PROJECT_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
