"""axe-core on every HTML page of the route table, in Chromium, at a phone and a desktop width.

One live instance is seeded so that every page has something to show. The test
walks web/routes.py: each GET route is either skipped by an explicit rule below
(JSON, files, redirects) or visited by the person who may see it, its path
parameters filled from the seeded values (tests/axe_site.py). A new page whose
parameters are unknown makes the test fail, so no page escapes the check.
"""

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.routing import Mount, Route

from schema.tables import User
from tests.axe_site import Seeded, fill, live_database, seed
from tests.browser import PHONE, axe_source, screenshot
from tests.factories import PASSWORD
from web.routes import build_routes

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}

# -- which routes are not HTML pages (each rule says why) ------------------------------

#: A path ending in a file extension (".csv", ".pdf", ".{fmt}"...) or in /export.
DOWNLOAD = re.compile(r"(\.\{fmt\}|\.[a-z]+|/export)$")
ACTIVITYPUB = re.compile(
    r"^(/\.well-known/|/nodeinfo/|/actor(/|$)|/users/\{username\}"
    r"|/associations/\{slug\}/(outbox|followers|following)$)"
)
SKIP_RULES: list[tuple[Callable[[str], bool], str]] = [
    (lambda path: path.startswith("/api/"), "JSON API: problem details, no HTML"),
    (lambda path: bool(ACTIVITYPUB.match(path)), "ActivityPub, WebFinger, NodeInfo JSON"),
    (lambda path: path == "/health", "JSON health check for monitoring"),
    (lambda path: path.startswith("/media/"), "images (association logos)"),
    (
        lambda path: bool(DOWNLOAD.search(path)),
        "files: downloads (CSV, JSON, PDF, XLSX, ODS), JSON-LD",
    ),
    (lambda path: path == "/language", "switches the language, then redirects back"),
    (lambda path: path == "/me/hours/all", "moved for good (301) to /me/hours, checked there"),
]


def skip_reason(route: Any) -> str | None:
    """Why a route is not checked, or None when it is an HTML page to check."""
    if isinstance(route, Mount):
        return "static files" if route.path == "/static" else None
    assert isinstance(route, Route), route
    if "GET" not in (route.methods or set()):
        return "no GET: forms and buttons post to it"
    return next((reason for rule, reason in SKIP_RULES if rule(route.path)), None)


# -- who visits each page ------------------------------------------------------------

PUBLIC = {
    "/",
    "/about/{page}",
    "/signup",
    "/signup/sent",
    "/confirm/resend",
    "/confirm/{token}",
    "/login",
    "/password/reset",
    "/password/reset/{token}",
    "/associations",
    "/invitations/{token}",
    "/verify",
}
VOLUNTEER_IN_ASSOCIATION = {"/associations/{slug}/leave"}
#: Pages worth seeing as more than one person (what differs: buttons, forms, links).
MORE_ROLES = {
    "/associations/{slug}": ("anonymous", "volunteer", "manager"),
    "/associations/{slug}/notes": ("anonymous",),
    "/associations/{slug}/actions": ("volunteer", "manager"),
    "/associations/{slug}/actions/new": ("volunteer",),
    "/associations": ("volunteer",),
}


def role_for(path: str) -> str:
    """The person who may see the page."""
    if path == "/admin" or path.startswith("/admin/"):
        return "admin"
    if path == "/access" or path.startswith(("/access/", "/a/")):
        return "link"
    if path in PUBLIC:
        return "anonymous"
    if path in VOLUNTEER_IN_ASSOCIATION:
        return "volunteer"
    if path.startswith("/associations/"):
        return "owner"
    return "volunteer"


# -- the browser side ----------------------------------------------------------------

#: Rules below "serious" that the test enforces too: page structure and unique ids.
STRUCTURE_RULES = {
    "duplicate-id",
    "duplicate-id-active",
    "empty-heading",
    "heading-order",
    "landmark-banner-is-top-level",
    "landmark-complementary-is-top-level",
    "landmark-contentinfo-is-top-level",
    "landmark-main-is-top-level",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-contentinfo",
    "landmark-no-duplicate-main",
    "landmark-one-main",
    "landmark-unique",
    "page-has-heading-one",
    "region",
}
#: axe 4.x leaves the duplicate id rules off by default; ask for them.
AXE_RUN = """async () => JSON.stringify(await axe.run(document, {
  rules: {"duplicate-id": {enabled: true}, "duplicate-id-active": {enabled: true}}
}))"""
#: Pages that end on another page by design (route -> where they land, same parameters).
LANDINGS = {
    # The confirmation link confirms the address, then asks to log in.
    "/confirm/{token}": "/login",
    # Opening an access link remembers it, then shows the link's own page.
    "/a/{token}": "/access",
    # With one association, "record an action" goes straight to its form.
    "/actions/new": "/associations/{slug}/actions/new",
    # Rates are added from the level's own page.
    "/associations/{slug}/levels/{entry_id:int}/rates": "/associations/{slug}/levels/{entry_id:int}",
    "/admin/levels/{entry_id:int}/rates": "/admin/levels/{entry_id:int}",
}
#: Error pages people meet: (role, path, status).
ERROR_PAGES = [
    ("anonymous", "/no-such-page", 404),
    ("anonymous", "/confirm/not-a-token", 404),
    ("anonymous", "/password/reset/not-a-token", 404),
    ("anonymous", "/a/not-a-token", 404),
    ("volunteer", "/admin", 403),
    ("volunteer", "/a/not-a-token", 403),
]


def violations_of(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations, and the structure ones, with their elements."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = json.loads(page.evaluate(AXE_RUN))
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [(n["target"], n["html"][:160]) for n in v["nodes"][:4]],
        }
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"} or v["id"] in STRUCTURE_RULES
    ]


def log_in(page: Any, base: str, user: User) -> None:
    """Log in through the form."""
    page.goto(base + "/login")
    page.locator("#f-login").fill(user.username)
    page.locator("#f-password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


@dataclass
class Audit:
    """Pages visited and what went wrong."""

    base: str
    failures: list[str] = field(default_factory=list)
    visited: int = 0

    def check(
        self,
        page: Any,
        path: str,
        label: str,
        viewports: tuple[str, ...],
        *,
        status: int = 200,
        lands_on: str = "",
    ) -> None:
        """Open the page, expect an HTML page with that status, run axe at each viewport."""
        response = page.goto(self.base + path)
        self.visited += 1
        landed = page.url.removeprefix(self.base)
        where = f"{label} {path} -> {landed}"
        if response is None or response.status != status:
            got = response.status if response else "no response"
            self.failures.append(f"{where}: status {got}, expected {status}")
            return
        if "text/html" not in response.headers.get("content-type", ""):
            self.failures.append(f"{where}: not HTML")
            return
        if landed.split("?")[0] != (lands_on or path.split("?")[0]):
            self.failures.append(f"{where}: sent elsewhere")
            return
        for name in viewports:
            page.set_viewport_size(DESKTOP if name == "desktop" else PHONE["viewport"])
            for violation in violations_of(page):
                self.failures.append(f"{where} [{name}]: {json.dumps(violation)}")
        page.set_viewport_size(PHONE["viewport"])


@pytest.fixture
def site_under_test(live: Any) -> Iterator[tuple[str, Seeded]]:
    """A live instance and its seeded data."""
    instance = live("axe")
    db = live_database(instance)
    try:
        yield instance.url, seed(db, instance.config_path)
    finally:
        db.dispose()


def role_pages(
    chromium: Any, base: str, seeded: Seeded, roles: tuple[str, ...], fr: bool
) -> dict[str, Any]:
    """One browser page per role, logged in (or holding the access link)."""
    pages: dict[str, Any] = {}
    for role in roles:
        context = chromium.new_context(**PHONE, locale="fr-FR" if fr else "en-GB")
        page = context.new_page()
        if role in seeded.users:
            log_in(page, base, seeded.users[role])
        if role == "link":
            page.goto(f"{base}/a/{seeded.link_token}")
        if fr:
            page.goto(f"{base}/language?lang=fr&next=/")
            assert page.locator("html").get_attribute("lang") == "fr"
        pages[role] = page
    return pages


def pages_to_visit(seeded: Seeded) -> list[tuple[str, str, str]]:
    """(role, route path, filled path) for every HTML page of the route table."""
    visits: list[tuple[str, str, str]] = []
    for route in build_routes():
        if skip_reason(route) is not None:
            continue
        path = fill(route.path, seeded)
        for role in (role_for(route.path), *MORE_ROLES.get(route.path, ())):
            visits.append((role, route.path, path))
    return visits


def landing(route: str, seeded: Seeded) -> str:
    """Where the page of that route ends (its own path unless it redirects by design)."""
    return fill(LANDINGS[route], seeded, route) if route in LANDINGS else ""


ROLES = ("anonymous", "volunteer", "owner", "manager", "admin", "link")


def test_every_page_passes_axe(site_under_test, chromium) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    base, seeded = site_under_test
    visits = pages_to_visit(seeded)
    assert len(visits) > 60
    audit = Audit(base)
    english = role_pages(chromium, base, seeded, ROLES, fr=False)
    for role, route, path in visits:
        audit.check(
            english[role], path, role, ("phone", "desktop"), lands_on=landing(route, seeded)
        )
    for role, path, status in ERROR_PAGES:
        audit.check(english[role], path, role, ("phone", "desktop"), status=status)
    # French, the default language: personal and association pages, once.
    french = role_pages(chromium, base, seeded, ("volunteer", "owner"), fr=True)
    for role, route, path in visits:
        if role in french:
            audit.check(
                french[role], path, f"{role} (fr)", ("phone",), lands_on=landing(route, seeded)
            )
    owner = english["owner"]
    for name, path in (("association", ""), ("follow-requests", "/follow-requests")):
        owner.goto(f"{base}/associations/{seeded.values['slug']}{path}")
        screenshot(owner, f"axe-{name}-phone")
    print(f"{audit.visited} page visits in {time.monotonic() - started:.0f} s")
    assert audit.failures == [], "\n".join(audit.failures)


def test_every_get_route_is_checked_or_skipped_for_a_reason() -> None:
    seeded = Seeded(values={"slug": "x"})
    reasons = {route.path: skip_reason(route) for route in build_routes()}
    assert reasons["/api/v1/me"] and reasons["/actor"] and reasons["/static"]
    assert reasons["/associations/{slug}/stats/export.{fmt}"]
    assert reasons["/associations/{slug}"] is None and reasons["/admin/federation"] is None
    assert role_for("/admin/federation") == "admin" and role_for("/a/{token}") == "link"
    assert role_for("/associations/{slug}/rules") == "owner"
    assert fill("/associations/{slug}/notes", seeded) == "/associations/x/notes"
    with pytest.raises(AssertionError, match="no value for"):
        fill("/associations/{slug}/things/{thing_id:int}", seeded)
