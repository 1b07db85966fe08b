"""The public pages in a real browser: phone-sized, keyboard, and axe-core."""

import pytest

from tests.browser import PHONE, screenshot, serious_violations

pytestmark = pytest.mark.browser


def test_home_page_on_a_phone_is_accessible(live, chromium) -> None:  # type: ignore[no-untyped-def]
    instance = live("home")
    context = chromium.new_context(**PHONE, locale="fr-FR")
    page = context.new_page()
    page.goto(instance.url + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").count() == 1
    # The skip link is the first thing the keyboard reaches.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    screenshot(page, "home-phone")
    assert serious_violations(page) == []
    for path in ("/associations", "/about/terms", "/login", "/signup"):
        page.goto(instance.url + path)
        violations = serious_violations(page)
        assert violations == [], (path, violations)
    context.close()
