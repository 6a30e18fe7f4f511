"""Playwright browser tests: one headless Chromium per module, the demo data loaded per test."""

import io
import os

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (fixtures, call_command) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("SLOTWISE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PASSWORD = "slotwise-demo"


@pytest.fixture(scope="session")
def _plain_http():
    """The live server speaks plain HTTP: no redirect to HTTPS, no secure-only cookies. Applied
    before the live server starts, because SecurityMiddleware reads its settings once. A fast
    password hasher keeps the many logins quick (the demo users' hash is made with it too)."""
    from django.test import override_settings

    override = override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    override.enable()
    yield
    override.disable()


@pytest.fixture(scope="session")
def live_server(_plain_http, live_server):
    return live_server


@pytest.fixture(scope="module")
def chromium_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo(live_server):
    """The demo organisations in the live server's (transactional) test database."""
    from django.core.cache import cache
    from django.core.management import call_command

    cache.clear()  # allauth's login rate limit counts per IP; every test starts afresh
    call_command("demo_data", stdout=io.StringIO())
    return live_server


def log_in(browser, base_url: str, username: str, *, viewport=None):
    """A fresh browser context logged in through the real login form; returns the page."""
    context = browser.new_context(
        viewport=viewport or {"width": 1280, "height": 800}, service_workers="block"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/accounts/login/")
    form = page.locator("form").filter(has=page.locator("input[name=password]"))
    form.locator("input[name=login]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").last.click()
    return page


def pytest_configure(config):
    # Known to pytest-xdist; registered here too so `-p no:xdist` runs without a warning.
    config.addinivalue_line(
        "markers", "xdist_group(name): run the group's tests on one xdist worker"
    )
