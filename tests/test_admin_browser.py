"""The admin pages in a real browser on a phone, checked with axe-core."""

import pytest

from tests.browser import PHONE, screenshot, serious_violations

pytestmark = pytest.mark.browser

PASSWORD = "a long admin password"


def test_admin_pages_on_a_phone(live, chromium) -> None:  # type: ignore[no-untyped-def]
    instance = live("admin", BENEFED_REGISTRATION="invitation")
    instance.cli(
        "user", "create", "--username", "root1", "--email", "root1@example.org",
        "--password", PASSWORD, "--admin",
    )  # fmt: skip
    instance.cli(
        "user", "create", "--username", "camille", "--email", "camille@example.org",
        "--password", PASSWORD,
    )  # fmt: skip
    instance.cli("association", "create", "--name", "Les Amis du Parc", "--owner", "camille")
    context = chromium.new_context(**PHONE, locale="en-GB")
    page = context.new_page()
    page.goto(instance.url + "/login")
    page.get_by_label("User name or email address").fill("root1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")

    for path in (
        "/admin",
        "/admin/users",
        "/admin/associations",
        "/admin/settings",
        "/admin/announcements",
        "/admin/invitations",
    ):
        page.goto(instance.url + path)
        assert page.locator("h1").count() == 1, path
        violations = serious_violations(page)
        assert violations == [], (path, violations)

    page.goto(instance.url + "/admin/announcements")
    page.get_by_label("Title").fill("Maintenance on Sunday")
    page.get_by_label("Text").fill("The site stops for ten minutes.")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url("**/admin/announcements")
    assert page.locator(".announcement").get_by_text("Maintenance on Sunday").is_visible()
    assert serious_violations(page) == []

    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Publish").click()
    assert page.get_by_text("Enter a title.").is_visible()
    assert serious_violations(page) == []

    page.goto(instance.url + "/admin/users")
    page.get_by_role("button", name="Suspend (camille)").click()
    page.wait_for_url("**/admin/users")
    assert page.get_by_text("The account camille is suspended.").is_visible()
    screenshot(page, "admin-users-phone")
    assert serious_violations(page) == []

    page.goto(instance.url + "/admin/invitations")
    page.get_by_label("Email address").fill("new@example.org")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_url("**/admin/invitations")
    assert page.get_by_role("heading", name="new@example.org").is_visible()
    assert serious_violations(page) == []
    context.close()
