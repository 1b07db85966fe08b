"""Sign-up to account deletion in a real browser on a phone, checked with axe-core."""

import time

import pytest

from tests.browser import PHONE, serious_violations
from tests.conftest import SentMail

pytestmark = pytest.mark.browser


def wait_for_mail(mail: SentMail, address: str, timeout: float = 10.0) -> str:
    """The first link of the newest mail to an address (the live server sends it)."""
    deadline = time.monotonic() + timeout
    while not mail.to(address):
        assert time.monotonic() < deadline, "no mail arrived"
        time.sleep(0.05)
    return mail.link_in(mail.last_to(address))


def test_account_pages_on_a_phone(live, chromium, mail: SentMail) -> None:  # type: ignore[no-untyped-def]
    instance = live("accounts")
    context = chromium.new_context(**PHONE, locale="en-GB")
    page = context.new_page()
    page.goto(instance.url + "/signup")
    page.get_by_label("User name").fill("camille")
    page.get_by_label("Email address").fill("camille@example.org")
    page.get_by_label("Your name (optional)").fill("Camille")
    page.locator("#f-password").fill("a long password")
    page.locator("#f-confirmation").fill("a long password")
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/signup/sent")
    assert serious_violations(page) == []

    page.goto(instance.url + wait_for_mail(mail, "camille@example.org"))
    page.wait_for_url("**/login")
    page.get_by_label("User name or email address").fill("camille")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")

    for path in ("/account", "/account/password", "/account/delete"):
        page.goto(instance.url + path)
        assert page.locator("h1").count() == 1
        violations = serious_violations(page)
        assert violations == [], (path, violations)

    page.get_by_label("Type your password to confirm").fill("a long password")
    page.get_by_role("button", name="Delete my account for good").click()
    page.wait_for_url(instance.url + "/")
    assert page.get_by_text("Your account is deleted.").is_visible()
    for path in ("/password/reset", "/confirm/resend"):
        page.goto(instance.url + path)
        violations = serious_violations(page)
        assert violations == [], (path, violations)
    context.close()
