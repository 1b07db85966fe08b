"""The first journey, in a real browser: sign up, confirm by mail, create, and join from a phone."""

import pytest

from tests.browser import PHONE, screenshot, serious_violations
from tests.conftest import SentMail
from tests.test_accounts_browser import wait_for_mail

pytestmark = pytest.mark.browser
PASSWORD = "un mot de passe assez long"


def sign_up_and_confirm(page, url: str, mail: SentMail, username: str) -> None:  # type: ignore[no-untyped-def]
    """Create an account through the form, follow the mailed link, log in."""
    page.goto(url + "/signup")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Email address").fill(f"{username}@example.org")
    page.locator("#f-password").fill(PASSWORD)
    page.locator("#f-confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/signup/sent")
    page.goto(url + wait_for_mail(mail, f"{username}@example.org"))
    page.wait_for_url("**/login")
    page.get_by_label("User name or email address").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def test_sign_up_create_and_join_from_a_phone(live, chromium, mail: SentMail) -> None:  # type: ignore[no-untyped-def]
    instance = live("journey")
    founder_context = chromium.new_context(**PHONE, locale="en-GB")
    founder = founder_context.new_page()
    sign_up_and_confirm(founder, instance.url, mail, "dominique")
    founder.goto(instance.url + "/associations/new")
    founder.get_by_label("Name").first.fill("Les Jardins Partagés")
    founder.get_by_role("button", name="Create the association").click()
    founder.wait_for_url("**/associations/les-jardins-partages*")
    screenshot(founder, "journey-1-association-created")
    assert serious_violations(founder) == []

    volunteer_context = chromium.new_context(**PHONE, locale="en-GB")
    volunteer = volunteer_context.new_page()
    sign_up_and_confirm(volunteer, instance.url, mail, "sasha")
    volunteer.goto(instance.url + "/associations")
    volunteer.get_by_role("link", name="Les Jardins Partagés").first.click()
    volunteer.get_by_role("button", name="Join").click()
    volunteer.goto(instance.url + "/dashboard")
    assert volunteer.get_by_text("Les Jardins Partagés").first.is_visible()
    screenshot(volunteer, "journey-2-member-dashboard")
    assert serious_violations(volunteer) == []

    founder.goto(instance.url + "/associations/les-jardins-partages/members")
    assert founder.get_by_text("sasha").first.is_visible()
    screenshot(founder, "journey-3-members")
    founder_context.close()
    volunteer_context.close()
