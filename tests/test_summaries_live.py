"""Hours summaries between two real instances (`benefed serve` processes on loopback).

Alice's accounts on A (home) and B are linked through the links API; what she
records on B shows on A's GET /api/v1/me/hours, edits and validations and
deletions included; A goes down while she keeps recording and both converge to
the exact totals once it is back (through the retried deliveries, then through
reconciliation after the queue expired); a forged summary is refused.
"""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from federation import actor_keys, urls
from instance.config import load_config
from schema.tables import Association, Delivery, OutboxActivity, SentSummary
from schema.tables._base import utcnow
from tests.federation_support import FakeActor, signed_headers, wait_for
from tests.live import LiveInstance
from tests.summaries_live_support import LiveLink, link_live
from tests.test_links_live import browser

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only


def minutes_on_a(link: LiveLink, expected: int, what: str) -> float:
    """Wait until A shows alice's minutes on B; the seconds it took."""
    started = time.monotonic()
    wait_for(lambda: link.remote_minutes() == expected, timeout=30, what=what)
    return time.monotonic() - started


def test_actions_recorded_edited_validated_deleted_on_b_show_on_a(
    live: Callable[..., LiveInstance],
) -> None:
    link = link_live(live("a"), live("b"))
    first = link.record(60)
    seconds = minutes_on_a(link, 60, "the first action on A")
    assert seconds < 10
    edited = link.call(link.b, "PATCH", f"/api/v1/actions/{first['id']}", json={"minutes": 90})
    assert edited.status_code == 200, edited.text
    minutes_on_a(link, 90, "the edit on A")
    link.record(30)
    minutes_on_a(link, 120, "the second action on A")
    with link.db_b.write() as session:
        association = session.exec(select(Association).where(Association.slug == link.slug)).one()
        association.requires_validation = True
        session.add(association)
    pending = link.record(45)
    wait_for(
        lambda: [r.pending_minutes for r in link.received()] == [45], what="pending minutes on A"
    )
    assert link.remote_minutes() == 120
    validated = link.call(
        link.b,
        "POST",
        f"/api/v1/associations/{link.slug}/actions/validate",
        json={"ids": [pending["id"]]},
    )
    assert validated.status_code == 200, validated.text
    minutes_on_a(link, 165, "the validation on A")
    deleted = link.call(link.b, "DELETE", f"/api/v1/actions/{first['id']}")
    assert deleted.status_code == 204, deleted.text
    minutes_on_a(link, 75, "the deletion on A")
    [row] = link.received()
    assert (row.minutes, row.actions, row.pending_minutes, row.proof_status) == (
        75,
        2,
        0,
        "verified",
    )
    with link.db_b.read() as session:
        assert json.loads(session.exec(select(SentSummary)).one().body) == json.loads(row.body)
    [line] = [line for line in link.hours()["associations"] if line["remote"]]
    assert line["name"] == "Les Amis du Quartier" and line["proof"] == "verified"


def _summary_deliveries(link: LiveLink) -> list[Delivery]:
    with link.db_b.read() as session:
        query = (
            select(Delivery)
            .join(OutboxActivity, col(OutboxActivity.id) == col(Delivery.activity_pk))
            .where(col(OutboxActivity.object_id).contains("/summaries/"))
        )
        return list(session.exec(query))


def _b_totals(link: LiveLink) -> dict[str, int]:
    hours = link.call(link.b, "GET", "/api/v1/me/hours").json()
    [line] = [line for line in hours["associations"] if not line["remote"]]
    return {month["month"]: month["minutes"] for month in line["months"]}


def _a_totals(link: LiveLink) -> dict[str, int]:
    lines = [line for line in link.hours()["associations"] if line["remote"]]
    return {m["month"]: m["minutes"] for line in lines for m in line["months"] if m["minutes"]}


def test_home_down_during_changes_then_back_converges_exactly(
    live: Callable[..., LiveInstance],
) -> None:
    link = link_live(live("a"), live("b"))
    first = link.record(60)
    minutes_on_a(link, 60, "the first action on A")
    link.a.stop()
    link.record(30)
    link.record(15, date=f"{utcnow().year - 1}-06-15")
    link.call(link.b, "PATCH", f"/api/v1/actions/{first['id']}", json={"minutes": 10})
    wait_for(
        lambda: any(d.state == "retrying" for d in _summary_deliveries(link)),
        what="deliveries failing while A is down",
    )
    link.a.start()
    with link.db_b.write() as session:  # time passes: the retries are due
        for row in session.exec(select(Delivery).where(Delivery.state == "retrying")):
            row.next_attempt_at = utcnow()
            session.add(row)
    wait_for(lambda: _a_totals(link) == _b_totals(link), what="exact totals after the outage")
    assert sum(_a_totals(link).values()) == 55

    link.a.stop()  # a longer outage: the deliveries expire
    link.record(5)
    wait_for(lambda: any(d.state == "retrying" for d in _summary_deliveries(link)), what="failing")
    with link.db_b.write() as session:
        for row in session.exec(select(Delivery).where(Delivery.state == "retrying")):
            row.state, row.finished_at = "expired", utcnow()
            session.add(row)
    link.a.start()
    assert sum(_a_totals(link).values()) == 55  # the last change was lost with the queue
    with browser(link.a, "alice") as client:  # the person asks from her page
        page = client.get("/me/hours")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        refreshed = client.post("/me/hours/refresh", data={"csrf_token": token})
        assert refreshed.status_code == 303
    assert _a_totals(link) == _b_totals(link) and sum(_a_totals(link).values()) == 60


def test_a_forged_summary_is_refused_and_never_stored(live: Callable[..., LiveInstance]) -> None:
    link = link_live(live("a"), live("b"))
    link.record(60)
    minutes_on_a(link, 60, "the genuine summary on A")
    with link.db_b.read() as session:
        genuine: dict[str, Any] = json.loads(session.exec(select(SentSummary)).one().body)
    forged = {**genuine, "minutes": 6000, "validatedMinutes": 6000}
    forged["updated"] = "2999-01-01T00:00:00.000000Z"
    config_b = load_config(link.b.config_path)
    with link.db_b.write() as session:  # signed by alice's real key on B: only the proof is wrong
        user_id = session.exec(select(SentSummary.user_id)).one()
        key_id, key = actor_keys.signing_key(
            session, config=config_b, kind="user", owner_id=user_id
        )
    actor_uri = urls.actor_uri(config_b, "user", "alice")
    sender = FakeActor(uri=actor_uri, key=key, key_id=key_id, inbox=f"{actor_uri}/inbox")
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor_uri}/activities/{uuid.uuid4()}",
        "type": "Update",
        "actor": actor_uri,
        "to": [f"{link.a.url}/users/alice"],
        "object": forged,
    }
    body = json.dumps(activity).encode()
    inbox = f"{link.a.url}/users/alice/inbox"
    answer = httpx.post(
        inbox, content=body, headers=signed_headers(sender, inbox, body), timeout=30
    )
    assert answer.status_code == 202, answer.text
    link.record(1)  # a later genuine change still arrives after the forged one was processed
    minutes_on_a(link, 61, "the next genuine summary")
    [row] = link.received()
    assert row.minutes == 61 and "6000" not in row.body
