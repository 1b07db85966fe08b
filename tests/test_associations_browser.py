"""Association and member pages in a real browser on a phone, checked with axe-core."""

import time

import pytest

from tests.browser import PHONE, serious_violations
from tests.conftest import SentMail

pytestmark = pytest.mark.browser

PASSWORD = "a long password"


def log_in(page, url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url + "/login")
    page.get_by_label("User name or email address").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def check(page, url: str, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url + path)
    assert page.locator("h1").count() == 1, path
    violations = serious_violations(page)
    assert violations == [], (path, violations)


def test_create_join_and_manage_on_a_phone(live, chromium, mail: SentMail) -> None:  # type: ignore[no-untyped-def]
    instance = live("associations")
    for name in ("owner", "camille"):
        instance.cli(
            "user",
            "create",
            "--username",
            name,
            "--email",
            f"{name}@example.org",
            "--password",
            PASSWORD,
        )
    context = chromium.new_context(**PHONE, locale="en-GB")
    page = context.new_page()
    log_in(page, instance.url, "owner")
    check(page, instance.url, "/dashboard")
    check(page, instance.url, "/associations/new")
    page.get_by_label("Name").first.fill("Jardins <du> Nord")
    page.get_by_label("Who can join").select_option("moderated")
    page.get_by_role("button", name="Create the association").click()
    page.wait_for_url("**/associations/jardins-du-nord")
    for path in ("", "/settings", "/members", "/delete"):
        check(page, instance.url, "/associations/jardins-du-nord" + path)

    other = chromium.new_context(**PHONE, locale="en-GB")
    volunteer = other.new_page()
    log_in(volunteer, instance.url, "camille")
    check(volunteer, instance.url, "/associations")
    volunteer.goto(instance.url + "/associations/jardins-du-nord")
    volunteer.get_by_label("Message to the managers (optional)").fill("I have a spade")
    volunteer.get_by_role("button", name="Ask to join").click()
    volunteer.wait_for_url("**/associations/jardins-du-nord")
    assert volunteer.get_by_text("Your request was sent").is_visible()

    deadline = time.monotonic() + 10
    while not mail.to("owner@example.org"):
        assert time.monotonic() < deadline, "no mail to the owner"
        time.sleep(0.05)
    page.goto(instance.url + mail.link_in(mail.last_to("owner@example.org")))
    assert page.get_by_text("I have a spade").is_visible()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/members")
    assert page.get_by_text("is now a member").is_visible()
    check(volunteer, instance.url, "/associations/jardins-du-nord/leave")
    other.close()
    context.close()
