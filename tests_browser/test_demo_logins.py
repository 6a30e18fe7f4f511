"""Every demo login of every organisation reaches its role's home page, in every language."""

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

ORGS = ["se", "la", "msk", "fleet", "nl"]
# Demo username suffix → the home page's role (data-testid="home-<role>").
ROLES = {
    "admin": "org_admin",
    "manager": "manager",
    "rep": "representative",
    "tech": "technician",
    "customer": "customer",
}
LANGUAGES = ["en", "sv", "ru", "nl"]


@pytest.mark.parametrize("org", ORGS)
def test_every_role_of_the_organisation_sees_its_home_page(demo, chromium_browser, org):
    for suffix, role in ROLES.items():
        page = log_in(chromium_browser, demo.url, f"{org}-{suffix}")
        try:
            home = page.locator(f"[data-testid=home-{role}]")
            home.wait_for(state="visible")
            assert page.url.rstrip("/") == demo.url, f"{org}-{suffix} landed on {page.url}"
        finally:
            page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_home_page_in_each_language(demo, chromium_browser, language):
    """One role per organisation switches the language with the header's select."""
    for org, suffix in zip(ORGS, ROLES, strict=True):
        role = ROLES[suffix]
        page = log_in(chromium_browser, demo.url, f"{org}-{suffix}")
        try:
            page.locator(f"[data-testid=home-{role}]").wait_for(state="visible")
            with page.expect_navigation():
                page.select_option("#language-select", language)
            assert page.get_attribute("html", "lang") == language, f"{org}-{suffix}"
            assert page.locator(f"[data-testid=home-{role}]").is_visible()
            assert page.input_value("#language-select") == language
        finally:
            page.context.close()


def test_landing_page_offers_both_ways_to_log_in(demo, chromium_browser):
    context = chromium_browser.new_context(service_workers="block")
    try:
        page = context.new_page()
        page.goto(demo.url + "/")
        page.locator("[data-testid=home-landing]").wait_for(state="visible")
        assert page.get_attribute("[data-testid=login-password]", "href") == "/accounts/login/"
        assert page.get_attribute("[data-testid=login-phone]", "href") == "/accounts/phone/"
    finally:
        context.close()
