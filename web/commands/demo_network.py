"""The network part of `benefed demo`: a regional network the demo associations join.

A fourth instance holds one network of associations. Every association of the
association instances asks to join it through the public API (as its owner),
the network's owner accepts each request, each association maps its own
categories onto the network's reference list, and the demo waits until every
member's signed monthly reports have reached the network by federation.
"""

import time
import unicodedata
from collections.abc import Callable, Iterable
from contextlib import closing
from typing import Any

import httpx

from instance import accounts, associations, demo_data, migrations
from instance.config import load_config
from web.commands._common import database_of

NETWORK_SLUG = "reseau-occitanie"
NETWORK_NAME = "Réseau associatif d'Occitanie"
NETWORK_OWNER = "coordination"
REPORTS_TIMEOUT = 120.0
POLL_SECONDS = 0.3

Api = Callable[..., Any]


def set_up(config_path: Any) -> None:
    """The network instance's database: its owner and the network (before the server starts)."""
    config = load_config(config_path)
    db = database_of(config)
    try:
        migrations.upgrade(db.engine)
        with db.write() as session:
            owner = accounts.create_user(
                session,
                username=NETWORK_OWNER,
                email=f"{NETWORK_OWNER}@example.org",
                password=demo_data.PASSWORD,
                display_name="Coordination régionale",
                email_confirmed=True,
            )
            associations.create_association(
                session,
                owner=owner,
                name=NETWORK_NAME,
                slug=NETWORK_SLUG,
                description="Le réseau régional des associations de la démonstration.",
                is_network=True,
            )
    finally:
        db.dispose()


def signed_in(api: Api, url: str, username: str, password: str) -> httpx.Client:
    """An API client of ``url`` signed in as ``username``."""
    client = httpx.Client(base_url=url, timeout=30)
    token = api(
        client, "POST", "/api/v1/auth/token", json={"username": username, "password": password}
    )["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _words(text: str) -> set[str]:
    """The meaningful words of a name, lower-cased and without accents."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return {word for word in plain.replace("'", " ").split() if len(word) >= 5}


def mapping_for(own: Iterable[dict[str, Any]], reference: list[dict[str, Any]]) -> dict[str, str]:
    """Each own category onto the reference category sharing a word with it ("other" if none)."""
    chosen: dict[str, str] = {}
    for category in own:
        words = _words(category["name"])
        match = next((item["key"] for item in reference if words & _words(item["name"])), "other")
        chosen[str(category["id"])] = match
    return chosen


def _accept_all(api: Api, network: httpx.Client, expected: int) -> None:
    """Accept the join requests as they arrive, until ``expected`` are members."""
    deadline = time.monotonic() + REPORTS_TIMEOUT
    accepted = 0
    while accepted < expected and time.monotonic() < deadline:
        items = api(network, "GET", f"/api/v1/networks/{NETWORK_SLUG}/requests")["items"]
        for item in items:
            if item["status"] == "pending":
                path = f"/api/v1/networks/{NETWORK_SLUG}/requests/{item['id']}/accept"
                api(network, "POST", path)
                accepted += 1
        time.sleep(POLL_SECONDS)
    if accepted < expected:
        raise RuntimeError(f"only {accepted} of {expected} join requests reached the network")


def _map_categories(api: Api, owner: httpx.Client, slug: str, handle: str) -> None:
    """The association maps its categories once the network accepted it."""
    path = f"/api/v1/associations/{slug}/networks/{handle}/mapping"
    deadline = time.monotonic() + REPORTS_TIMEOUT
    while time.monotonic() < deadline:
        links = api(owner, "GET", f"/api/v1/associations/{slug}/networks")["items"]
        if any(link["status"] == "active" for link in links):
            break
        time.sleep(POLL_SECONDS)
    current = api(owner, "GET", path)
    own = api(owner, "GET", f"/api/v1/associations/{slug}/categories")["items"]
    api(owner, "PUT", path, json={"mapping": mapping_for(own, current["categories"])})


def _dashboard(api: Api, network: httpx.Client, members: int) -> dict[str, Any]:
    """Wait until every member's reports are on the network's dashboard."""
    path = f"/api/v1/networks/{NETWORK_SLUG}/dashboard?group_by=member"
    deadline = time.monotonic() + REPORTS_TIMEOUT
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = api(network, "GET", path)
        reporting = [group for group in found["groups"] if group["minutes"] > 0]
        if len(reporting) >= members:
            return found
        time.sleep(POLL_SECONDS)
    return found


def join(api: Api, network_url: str, members: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Every (instance URL, slug, owner) asks to join; accepted; mapped; the dashboard."""
    handle = f"{NETWORK_SLUG}@{network_url.split('//', 1)[1]}"
    owners = {}
    for url, slug, owner_name in members:
        owners[slug] = signed_in(api, url, owner_name, demo_data.PASSWORD)
        api(owners[slug], "POST", f"/api/v1/associations/{slug}/networks", json={"network": handle})
    try:
        with closing(signed_in(api, network_url, NETWORK_OWNER, demo_data.PASSWORD)) as network:
            _accept_all(api, network, len(members))
            for slug, owner in owners.items():
                _map_categories(api, owner, slug, handle)
            return _dashboard(api, network, len(members))
    finally:
        for owner in owners.values():
            owner.close()
