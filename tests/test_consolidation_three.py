"""A volunteer's hours across three real instances on loopback: home A, associations on B and C.

One set of `benefed serve` processes serves the whole module; each test has its
own person, who owns an association on B and one on C (C moderates in some
tests) and links their accounts from A through the API, with consent on both
sides. Everything A shows is compared with what B and C themselves say, exactly.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from instance import actions
from schema.tables import Action, Association, Delivery, RemoteActor, SummaryChange, User
from schema.tables._base import utcnow
from tests.consolidation_three_support import (
    LINKS,
    REQUESTS,
    Person,
    Trio,
    ask_link,
    association_signer,
    decide,
    link,
    make_person,
    post_as_person,
    processed_on_a,
    rejections,
    resigned,
    sent_object,
    start,
    three_instances,
)
from tests.factories import PASSWORD, make_association, make_user
from tests.federation_support import wait_for
from tests.live import LiveInstance
from tests.test_actions_support import today as instance_today
from tests.test_federation_live import host_of
from tests.test_links_live import browser

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

FORGED_MINUTES = 6000


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    with three_instances(tmp_path_factory.mktemp("three")) as found:
        yield found


def moderate(trio: Trio, instance: LiveInstance, slug: str) -> None:
    """The association validates its actions before they count."""
    with trio.db(instance).write() as session:
        association = session.exec(select(Association).where(Association.slug == slug)).one()
        association.requires_validation = True
        session.add(association)


def changes_waiting(person: Person, instance: LiveInstance) -> int:
    user_id = person.user_id(instance)
    with person.trio.db(instance).read() as session:
        query = select(SummaryChange.id).where(SummaryChange.user_id == user_id)
        return len(list(session.exec(query)))


def pending_on_a(person: Person, instance: LiveInstance) -> int:
    host = host_of(instance)
    return sum(
        row.pending_minutes
        for row in person.received()
        if row.issuer_host == host and not row.deleted
    )


# -- consent ----------------------------------------------------------------------------------


def test_links_need_consent_on_both_sides_and_a_refused_one_sends_nothing(trio: Trio) -> None:
    alma = make_person(trio, "alma")
    link(alma, trio.b)
    asked = ask_link(alma, trio.c)
    alma.record(trio.c, 30)  # recorded before she answers on C: nothing leaves C
    assert changes_waiting(alma, trio.c) == 0 and alma.summary_activities(trio.c) == 0
    assert decide(alma, trio.c, asked["request"]["id"], "refuse") == "refused"
    wait_for(lambda: alma.statuses(trio.a, LINKS) == ["active", "refused"], what="the refusal on A")
    alma.record(trio.c, 45)
    alma.record(trio.b, 60)
    assert changes_waiting(alma, trio.c) == 0
    alma.wait_converged(trio.b, what="B's hours on A")
    assert sum(alma.months_on_a(trio.b).values()) == 60
    assert alma.months_on_a(trio.c) == {} and alma.summary_activities(trio.c) == 0
    assert alma.statuses(trio.c, REQUESTS) == ["refused"]
    [line] = [line for line in alma.hours_on_a()["associations"] if line["remote"]]
    assert line["name"] == "Les Amis B de alma · été" and line["proof"] == "verified"
    assert line["instance"] == host_of(trio.b) and line["updated"]
    assert [r.issuer_host for r in alma.received()] == [host_of(trio.b)]


# -- changes on B and C ---------------------------------------------------------------------


def test_actions_added_edited_validated_deleted_on_b_and_c_show_exactly_on_a(
    trio: Trio,
) -> None:
    bea = make_person(trio, "bea")
    moderate(trio, trio.c, bea.slugs[trio.c.url])
    link(bea, trio.b)
    link(bea, trio.c)
    first = bea.record(trio.b, 60)
    bea.record(trio.b, 25, date=f"{utcnow().year - 1}-11-15")
    waiting = bea.record(trio.c, 40)  # C moderates: awaiting validation, counted nowhere
    wait_for(lambda: pending_on_a(bea, trio.c) == 40, what="C's pending minutes on A")
    bea.wait_converged(trio.b, trio.c, what="the first actions on A")
    assert sum(bea.months_on_a(trio.b).values()) == 85 and bea.months_on_a(trio.c) == {}

    bea.edit(trio.b, first["id"], minutes=90)
    validated = bea.call(
        trio.c,
        "POST",
        f"/api/v1/associations/{bea.slugs[trio.c.url]}/actions/validate",
        json={"ids": [waiting["id"]]},
    )
    assert validated.status_code == 200, validated.text
    bea.wait_converged(trio.b, trio.c, what="the edit and the validation on A")
    assert sum(bea.months_on_a(trio.b).values()) == 115
    assert sum(bea.months_on_a(trio.c).values()) == 40 and pending_on_a(bea, trio.c) == 0

    bea.delete(trio.b, first["id"])
    extra = bea.record(trio.c, 15)
    bea.call(
        trio.c,
        "POST",
        f"/api/v1/associations/{bea.slugs[trio.c.url]}/actions/validate",
        json={"ids": [extra["id"]]},
    )
    bea.wait_converged(trio.b, trio.c, what="the deletion on A")
    hours = bea.hours_on_a()
    assert sum(bea.months_on_a(trio.b).values()) == 25
    assert sum(bea.months_on_a(trio.c).values()) == 55
    assert hours["total_minutes"] == 80
    assert {line["proof"] for line in hours["associations"]} == {"verified"}
    assert all(r.proof_status == "verified" for r in bea.received())


# -- ending links ---------------------------------------------------------------------------


def test_unlinked_from_a_or_from_the_other_side_nothing_more_is_sent(trio: Trio) -> None:
    cleo = make_person(trio, "cleo")
    to_b, to_c = link(cleo, trio.b), link(cleo, trio.c)
    cleo.record(trio.b, 60)
    cleo.record(trio.c, 30)
    cleo.wait_converged(trio.b, trio.c, what="both instances on A")

    ended = cleo.call(trio.a, "DELETE", f"{LINKS}/{to_b['link']['id']}")  # from A: Undo
    assert ended.status_code == 204
    wait_for(lambda: cleo.statuses(trio.b, REQUESTS) == ["ended"], what="the Undo on B")
    sent_b = cleo.summary_activities(trio.b)
    cleo.record(trio.b, 45)
    assert changes_waiting(cleo, trio.b) == 0

    refused = decide(cleo, trio.c, to_c["request"]["id"], "refuse")  # from C: Reject
    assert refused == "ended"
    wait_for(lambda: cleo.statuses(trio.a, LINKS) == ["ended", "ended"], what="ended on A")
    sent_c = cleo.summary_activities(trio.c)
    cleo.record(trio.c, 20)
    assert changes_waiting(cleo, trio.c) == 0

    later = make_person(trio, "cleo2")  # someone else's summary goes through meanwhile
    link(later, trio.b)
    later.record(trio.b, 10)
    later.wait_converged(trio.b, what="another person's hours on A")
    assert cleo.summary_activities(trio.b) == sent_b
    assert cleo.summary_activities(trio.c) == sent_c
    assert sum(cleo.months_on_a(trio.b).values()) == 60  # what came before the end stays
    assert sum(cleo.months_on_a(trio.c).values()) == 30
    assert sum(cleo.own_months(trio.b).values()) == 105


# -- an instance down ------------------------------------------------------------------------


def _offline_changes(trio: Trio, person: Person, first_id: int) -> None:
    """Actions changed on C while its server is down (a script on its database)."""
    db = trio.db(trio.c)
    with db.write() as session:
        user = session.exec(select(User).where(User.username == person.name)).one()
        association = session.exec(
            select(Association).where(Association.slug == person.slugs[trio.c.url])
        ).one()
        today = instance_today()  # the instances' day (Europe/Paris), not the machine's
        data = {"minutes": 30, "category_id": person.categories[trio.c.url]}
        actions.create_action(session, association=association, user=user, data=data, today=today)
        old = {**data, "minutes": 15, "date": f"{today.year - 1}-03-10"}
        actions.create_action(session, association=association, user=user, data=old, today=today)
        first = session.get(Action, first_id)
        assert first is not None
        actions.update_action(session, action=first, user=user, data={"minutes": 10}, today=today)


def _summary_deliveries(trio: Trio, instance: LiveInstance, state: str) -> list[Delivery]:
    with trio.db(instance).read() as session:
        rows = session.exec(select(Delivery).where(Delivery.state == state))
        return [row for row in rows if row.host == host_of(trio.a)]


def _due_now(trio: Trio, instance: LiveInstance) -> None:
    """Time passes on B or C: their retries are due."""
    with trio.db(instance).write() as session:
        for row in session.exec(select(Delivery).where(Delivery.state == "retrying")):
            row.next_attempt_at = utcnow()
            session.add(row)


def test_instances_down_during_changes_then_back_a_converges_exactly(trio: Trio) -> None:
    dina = make_person(trio, "dina")
    link(dina, trio.b)
    link(dina, trio.c)
    first = dina.record(trio.c, 60)
    dina.record(trio.b, 20)
    dina.wait_converged(trio.b, trio.c, what="the first figures on A")

    trio.c.stop()  # C down; its actions change meanwhile, B goes on
    _offline_changes(trio, dina, first["id"])
    dina.record(trio.b, 5)
    wait_for(lambda: dina.converged(trio.b), what="B's change on A while C is down")
    start(trio.c)
    dina.wait_converged(trio.b, trio.c, what="C's changes on A once C is back")
    assert sum(dina.months_on_a(trio.c).values()) == 55

    trio.a.stop()  # A down: B and C retry
    dina.record(trio.b, 7)
    dina.record(trio.c, 8)
    wait_for(
        lambda: (
            _summary_deliveries(trio, trio.b, "retrying")
            and _summary_deliveries(trio, trio.c, "retrying")
        ),
        what="deliveries to A failing",
    )
    start(trio.a)
    _due_now(trio, trio.b)
    _due_now(trio, trio.c)
    dina.wait_converged(trio.b, trio.c, what="the retried deliveries on A")
    assert sum(dina.months_on_a(trio.b).values()) == 32
    assert sum(dina.months_on_a(trio.c).values()) == 63

    trio.a.stop()  # a longer outage: C's deliveries expire; reconciliation catches up
    dina.record(trio.c, 4)
    wait_for(lambda: _summary_deliveries(trio, trio.c, "retrying"), what="C failing again")
    with trio.db(trio.c).write() as session:
        for row in session.exec(select(Delivery).where(Delivery.state == "retrying")):
            row.state, row.finished_at = "expired", utcnow()
            session.add(row)
    start(trio.a)
    assert sum(dina.months_on_a(trio.c).values()) == 63  # lost with the queue, for now
    with browser(trio.a, "dina") as client:
        page = client.get("/me/hours")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert client.post("/me/hours/refresh", data={"csrf_token": csrf}).status_code == 303
    assert dina.converged(trio.b, trio.c)
    assert sum(dina.months_on_a(trio.c).values()) == 67


# -- forgeries ---------------------------------------------------------------------------------


def test_forged_summaries_are_rejected_and_never_shown(trio: Trio) -> None:
    ella = make_person(trio, "ella")
    make_user(trio.db(trio.a), username="fred", password=PASSWORD)
    zora = make_user(trio.db(trio.b), username="zora", password=PASSWORD)
    make_association(trio.db(trio.b), zora, name="Autre association", slug="autre-b")
    link(ella, trio.b)
    link(ella, trio.c)
    ella.record(trio.b, 60)
    ella.record(trio.c, 30)
    ella.wait_converged(trio.b, trio.c, what="the genuine summaries on A")
    genuine = sent_object(ella, trio.b)
    home = genuine["to"]
    inflated = {
        **genuine,
        "minutes": FORGED_MINUTES,
        "validatedMinutes": FORGED_MINUTES,
        "updated": "2999-01-01T00:00:00.000000Z",
    }
    key_id, key = association_signer(trio, trio.b, ella.slugs[trio.b.url])
    other_id, other_key = association_signer(trio, trio.b, "autre-b")
    fred = f"{trio.a.url}/users/fred"
    forged: list[tuple[str, dict[str, Any], list[str]]] = [
        ("wrong key", resigned(inflated, key_id, Ed25519PrivateKey.generate()), home),
        ("altered minutes", {**inflated, "proof": genuine["proof"]}, home),
        ("another association's key", resigned(inflated, other_id, other_key), home),
        ("addressed to someone else", resigned({**inflated, "to": [fred]}, key_id, key), [fred]),
    ]
    from_c = sent_object(ella, trio.c)  # C's genuine summary, sent by her actor on B
    c_key_id, c_key = association_signer(trio, trio.c, ella.slugs[trio.c.url])
    other_host = resigned({**from_c, "minutes": FORGED_MINUTES}, c_key_id, c_key)
    forged.append(("another host's association", other_host, home))
    ids = [post_as_person(ella, trio.b, obj, to=to) for _why, obj, to in forged]
    wait_for(lambda: processed_on_a(trio, ids), what="the forged activities processed on A")
    reasons = rejections(trio.a, f"{trio.b.url}/users/ella")
    assert len(reasons) == len(forged), reasons
    expected = (
        "the proof does not verify",
        "the proof does not verify",
        f"the key {other_id} is not one of",
        "the summary is addressed to someone else",
        "the summary does not live on its sender's server",
    )
    for (why, _obj, _to), reason, beginning in zip(forged, reasons, expected, strict=True):
        assert reason.startswith(beginning), (why, reason)

    assert ella.converged(trio.b, trio.c)
    assert sum(ella.months_on_a(trio.b).values()) == 60
    assert all(str(FORGED_MINUTES) not in row.body for row in ella.received())
    hours = ella.hours_on_a()
    assert hours["total_minutes"] == 90
    assert {line["proof"] for line in hours["associations"]} == {"verified"}
    fred_hours = httpx.get(
        f"{trio.a.url}/api/v1/me/hours",
        headers=_token(trio.a, "fred"),
        timeout=30,
    ).json()
    assert fred_hours["associations"] == [] and fred_hours["total_minutes"] == 0
    ella.record(trio.b, 1)  # a genuine change still arrives after them
    ella.wait_converged(trio.b, what="the next genuine summary")
    assert sum(ella.months_on_a(trio.b).values()) == 61


def _token(instance: LiveInstance, name: str) -> dict[str, str]:
    answer = httpx.post(
        f"{instance.url}/api/v1/auth/token",
        json={"username": name, "password": PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


# -- erasure -----------------------------------------------------------------------------------


def test_deleting_the_account_on_b_removes_its_summaries_on_a(trio: Trio) -> None:
    gina = make_person(trio, "gina")
    link(gina, trio.b)
    link(gina, trio.c)
    gina.record(trio.b, 60)
    gina.record(trio.c, 30)
    gina.wait_converged(trio.b, trio.c, what="both instances on A")

    deleted = gina.call(trio.b, "DELETE", "/api/v1/me", json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text
    wait_for(lambda: gina.months_on_a(trio.b) == {}, what="B's summaries deleted on A")
    wait_for(
        lambda: gina.statuses(trio.a, LINKS) == ["ended", "active"], what="the link ended on A"
    )
    assert gina.converged(trio.c) and sum(gina.months_on_a(trio.c).values()) == 30
    from_b = [row for row in gina.received() if row.issuer_host == host_of(trio.b)]
    assert from_b and all(row.deleted and row.minutes == 0 for row in from_b)
    gone = httpx.get(
        f"{trio.b.url}/users/gina", headers={"accept": "application/activity+json"}, timeout=10
    )
    assert gone.status_code == 410
    assert gone.json()["type"] == "Tombstone" and gone.json()["formerType"] == "Person"
    hours = gina.hours_on_a()
    assert hours["total_minutes"] == 30
    assert [line["instance"] for line in hours["associations"]] == [host_of(trio.c)]


def test_a_deleted_account_whose_key_home_forgot_is_erased_by_reconciliation(
    trio: Trio,
) -> None:
    hana = make_person(trio, "hana")
    link(hana, trio.b)
    hana.record(trio.b, 60)
    hana.wait_converged(trio.b, what="B's hours on A")
    actor = f"{trio.b.url}/users/hana"
    with trio.db(trio.a).write() as session:  # a day later: A's copy of her actor expired
        row = session.exec(select(RemoteActor).where(RemoteActor.uri == actor)).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        session.add(row)

    deleted = hana.call(trio.b, "DELETE", "/api/v1/me", json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text

    def gone_on_a() -> bool:
        with trio.db(trio.a).read() as session:
            found = session.exec(select(RemoteActor).where(RemoteActor.uri == actor)).one()
        return found.is_gone

    wait_for(gone_on_a, what="A fetched her actor again: 410")
    assert sum(hana.months_on_a(trio.b).values()) == 60  # her Deletes cannot be checked now
    with browser(trio.a, "hana") as client:
        page = client.get("/me/hours")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert client.post("/me/hours/refresh", data={"csrf_token": csrf}).status_code == 303
    assert hana.months_on_a(trio.b) == {} and hana.hours_on_a()["total_minutes"] == 0
    assert hana.statuses(trio.a, LINKS) == ["ended"]
    assert all(row.deleted for row in hana.received())
