"""The web app manifest: valid, in the visitor's language, its icons served; Chromium can install it."""

import httpx
import pytest

from tests.browser import PHONE

ENGLISH = {"accept-language": "en"}


async def test_the_manifest_names_the_site_and_opens_on_the_action_form(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/manifest.webmanifest", headers=ENGLISH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == "/actions/new" and manifest["display"] == "standalone"
    assert manifest["lang"] == "en" and manifest["name"]
    assert manifest["shortcuts"][0] == {"name": "Record an action", "url": "/actions/new"}
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        found = await client.get(icon["src"])
        assert found.status_code == 200 and found.headers["content-type"] == icon["type"]
    french = (await client.get("/manifest.webmanifest", headers={"accept-language": "fr"})).json()
    assert french["lang"] == "fr" and french["shortcuts"][0]["name"] == "Enregistrer une action"
    page = await client.get("/", headers=ENGLISH)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page.text


@pytest.mark.browser
def test_chromium_finds_the_instance_installable(live, chromium) -> None:  # type: ignore[no-untyped-def]
    instance = live("manifest")
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    page.goto(instance.url + "/")
    session = context.new_cdp_session(page)
    found = session.send("Page.getAppManifest")
    assert found["errors"] == [], found["errors"]
    assert found["url"].endswith("/manifest.webmanifest")
    errors = session.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito, where Chromium installs nothing: every other
    # criterion (manifest, icons, start page, secure origin) must hold.
    assert [error["errorId"] for error in errors] == ["in-incognito"], errors
    context.close()
