"""Browser tests: Debian's Chromium, headless, driven by Playwright against pytest-django's live server.

The browser is the system one (BROWSER_EXECUTABLE, default /usr/bin/chromium): Playwright's own download
is not used. Without it these tests are skipped locally, but fail when REQUIRE_BROWSER is set, as
`.ci/run` does, so CI cannot pass without having run them.

Screenshots go to SCREENSHOT_DIR when it is set (`make screenshots` writes docs/screenshots/), otherwise
to the test's temporary directory.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tools import tool_missing

BROWSER_EXECUTABLE = os.environ.get("BROWSER_EXECUTABLE", "/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000

# Every browser test needs the live server's thread to see committed rows: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def browser():
    if not Path(BROWSER_EXECUTABLE).exists():
        tool_missing(
            f"No browser at {BROWSER_EXECUTABLE} (apt-get install chromium, or set BROWSER_EXECUTABLE).",
            required_by="REQUIRE_BROWSER",
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, and Django refuses ORM calls from a thread
    # with a running loop. The tests' own ORM calls (fixtures, assertions) are synchronous anyway.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=BROWSER_EXECUTABLE, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, roles):
    """A fresh browser context (no cookies) whose relative URLs go to the live server; `roles` (tests/conftest.py)
    re-creates the role groups the previous transactional test flushed."""
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(tmp_path):
    """screenshot(page, name): a full-page PNG named `name`.png in SCREENSHOT_DIR (or the test's tmp dir)."""
    directory = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def log_in():
    """log_in(page, username): sign in through the login form, as a person would; a superuser or model admin then
    enrols an authenticator app (two_factor_enrol) on their first login. Returns the app's secret, or None."""
    from tests.conftest import PASSWORD

    def sign_in(page, username: str, password: str = PASSWORD) -> str | None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        if "/accounts/two-factor/setup/" in page.url:
            return two_factor_enrol(page)
        return None

    return sign_in


def two_factor_enrol(page) -> str:
    """On the enrolment page: read the secret printed for typing by hand, confirm it with the code an app would
    show, pass the recovery codes page. Returns the secret."""
    from tests.conftest import totp_code

    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="I have saved them").click()
    page.wait_for_load_state()
    return secret
