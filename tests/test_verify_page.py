"""The public page that checks an attestation: upload or paste, same verdicts, CSRF, limits."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from instance.ratelimit import RateLimiter
from schema.db import Database
from tests.browser import PHONE, screenshot, serious_violations
from tests.factories import csrf_from
from tests.federation_support import Router, make_instance
from tests.test_action_pages import sign_in
from tests.test_actions_support import quick_user, today
from tests.test_browser_actions import fits_the_screen, live_database, log_in, seed
from tests.test_hours_view import SCRIPT, Issuer, remote_hours, store_issuer
from web.pages.verify import LIMITER_KEY, MAX_BUNDLE_BYTES
from web.services import Services


def bundle_of(issuer: Issuer, *summaries: dict[str, Any]) -> dict[str, Any]:
    return {
        "summaries": list(summaries),
        "verificationMethods": issuer.document()["assertionMethod"],
    }


async def token(client: httpx.AsyncClient) -> str:
    page = await client.get("/verify")
    assert page.status_code == 200
    return csrf_from(page.text)


async def upload(
    client: httpx.AsyncClient, content: bytes, *, online: bool = False, name: str = "bundle.json"
) -> httpx.Response:
    data = {"csrf_token": await token(client)}
    if online:
        data["online"] = "on"
    files = {"file": (name, content, "application/json")}
    return await client.post("/verify", data=data, files=files)


async def test_the_page_is_public_and_accessible(client: httpx.AsyncClient) -> None:
    page = await client.get("/verify")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Check an attestation</h1>" in html
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    for field in ("f-file", "f-bundle", "f-online"):
        assert f'for="{field}"' in html and f'id="{field}"' in html
    assert 'type="file"' in html and "<button" in html


async def test_an_uploaded_bundle_gets_a_verdict_per_summary(client: httpx.AsyncClient) -> None:
    issuer = Issuer(name="Les Amis — été ☀")
    may = issuer.sign(issuer.summary(month="2024-05", minutes=90))
    june = issuer.sign(issuer.summary(month="2024-06", minutes=30))
    answer = await upload(client, json.dumps(bundle_of(issuer, may, june)).encode())
    assert answer.status_code == 200
    html = answer.text
    assert "Every summary is valid." in html
    assert html.count("Valid: signed by the association and unchanged") == 2
    assert "Les Amis — été ☀" in html and "May 2024" in html and "1 h 30" in html
    assert "Checked with the keys the file holds." in html


async def test_a_pasted_tampered_bundle_is_flagged(client: httpx.AsyncClient) -> None:
    issuer = Issuer(name=f"Amis {SCRIPT}")
    good = issuer.sign(issuer.summary(month="2024-05"))
    changed = dict(good, minutes=900)
    unknown = Issuer(slug="autre").sign(issuer.summary(month="2024-07"))
    pasted = json.dumps(bundle_of(issuer, good, changed, unknown))
    answer = await client.post(
        "/verify", data={"csrf_token": await token(client), "bundle": pasted}
    )
    assert answer.status_code == 200
    html = answer.text
    assert "Some summaries could not be verified." in html
    assert "Tampered: changed after it was signed" in html
    assert "Key unknown: the key that signed it" in html
    assert SCRIPT not in html and "Amis &lt;script&gt;" in html
    assert "15 h 00" in html  # the tampered figure, shown as the file says


async def test_bad_input_is_refused_with_a_message(client: httpx.AsyncClient) -> None:
    nothing = await client.post("/verify", data={"csrf_token": await token(client)})
    assert nothing.status_code == 422
    assert "Choose the attestation file, or paste its content." in nothing.text
    assert 'aria-invalid="true"' in nothing.text
    for content in (
        b"{not json",
        b"[1, 2]",
        b'{"summaries": 3}',
        "\u00e9t\u00e9".encode("latin-1"),
    ):
        answer = await upload(client, content)
        assert answer.status_code == 422, content
        assert "This is not an attestation file" in answer.text
    hostile = await client.post(
        "/verify", data={"csrf_token": await token(client), "bundle": SCRIPT}
    )
    assert hostile.status_code == 422 and SCRIPT not in hostile.text
    assert "&lt;script&gt;" in hostile.text  # the pasted text comes back, escaped
    big = b'{"summaries": [], "x": "' + b"a" * MAX_BUNDLE_BYTES + b'"}'
    too_large = await upload(client, big)
    assert too_large.status_code == 422 and "too large" in too_large.text


async def test_csrf_is_required(client: httpx.AsyncClient) -> None:
    await client.get("/verify")
    answer = await client.post("/verify", data={"bundle": '{"summaries": []}'})
    assert answer.status_code == 403
    forged = await client.post("/verify", data={"csrf_token": "forged", "bundle": "{}"})
    assert forged.status_code == 403


async def test_checks_are_rate_limited(client: httpx.AsyncClient, services: Services) -> None:
    services.extras[LIMITER_KEY] = RateLimiter(2, 600)
    empty = json.dumps({"summaries": []}).encode()
    assert (await upload(client, empty)).status_code == 200
    assert (await upload(client, empty)).status_code == 200
    blocked = await upload(client, empty)
    assert blocked.status_code == 429
    assert "Too many checks from your address" in blocked.text


async def test_logged_in_people_see_the_same_page(client: httpx.AsyncClient, db: Database) -> None:
    await sign_in(client, quick_user(db))
    issuer = Issuer()
    answer = await upload(
        client, json.dumps(bundle_of(issuer, issuer.sign(issuer.summary()))).encode()
    )
    assert answer.status_code == 200 and "Every summary is valid." in answer.text


async def test_online_checking_fetches_the_current_keys(tmp_path: Path) -> None:
    router = Router()
    home = make_instance(tmp_path, "a", router)
    issuer = Issuer(host="b.test")
    summary = issuer.sign(issuer.summary(month="2024-05", minutes=90))
    bundle = json.dumps({"summaries": [summary], "verificationMethods": []}).encode()

    def serve(request: httpx.Request) -> httpx.Response:
        if str(request.url) == issuer.uri:
            kind = {"content-type": "application/activity+json"}
            return httpx.Response(200, json=issuer.document(), headers=kind)
        return httpx.Response(404)

    async with home.browser() as browser:
        down = await upload(browser, bundle, online=True)
        assert down.status_code == 200 and "Key unknown" in down.text
        router.add("b.test", httpx.MockTransport(serve))
        up = await upload(browser, bundle, online=True)
        assert "Every summary is valid." in up.text
        assert "Checked with the keys the associations publish today." in up.text
        offline = await upload(browser, bundle)
        assert "Key unknown" in offline.text  # the file holds no key


@pytest.mark.browser
def test_my_hours_and_the_check_in_a_real_browser(live, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    instance = live("hours")
    db = live_database(instance)
    try:
        world = seed(db)
        year = today().year
        issuer = Issuer(name="Les Amis de Bé")
        remote_hours(db, world.volunteer, issuer, {f"{year}-01": 90, f"{year}-02": 45})
        store_issuer(db, issuer)
        context = chromium.new_context(**PHONE, locale="en-GB", accept_downloads=True)
        page = context.new_page()
        log_in(page, instance.url, world.volunteer, "/me/hours")
        page.wait_for_url("**/me/hours")
        assert page.locator("h1").inner_text() == "My hours"
        assert page.locator("svg.chart").count() == 2
        assert page.get_by_text("Les Amis de Bé").first.is_visible()
        screenshot(page, "hours-everywhere-phone")
        assert fits_the_screen(page)
        assert serious_violations(page) == []
        with page.expect_download() as download:
            page.get_by_role("link", name="Attestation to check (JSON)").click()
        bundle = tmp_path / "bundle.json"
        download.value.save_as(bundle)
        page.goto(instance.url + "/verify")
        assert serious_violations(page) == []
        page.get_by_label("Attestation file (.json)").set_input_files(str(bundle))
        page.get_by_label("Check with the keys the associations publish today").uncheck()
        page.get_by_role("button", name="Check").click()
        page.wait_for_selector("#result")
        assert page.locator("#result-heading").inner_text() == "Every summary is valid."
        screenshot(page, "verify-phone")
        assert fits_the_screen(page)
        assert serious_violations(page) == []
        context.close()
    finally:
        db.dispose()
