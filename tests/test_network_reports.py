"""Network reports from a member association to its network, over ActivityPub in-process.

Instance M holds the member association, instance N the network. Figures are
the association's own (mapping, "other", small-count protection, exact value),
the object matches its JSON Schema and verifies, corrections go at most once a
day, every month is reported, erasure sends Deletes, and the network keeps
only what its active members signed (every forged variant is refused or
flagged, a replay changes nothing).
"""

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from federation import actor_keys, keys, proofs, reports_build, reports_in, reports_out, urls
from instance import network_dashboard
from instance.network_links import mapping_of
from instance.network_report_figures import association_figures
from instance.periods import Period, month_end
from instance.summaries import compute_summary
from schema.tables import (
    Association,
    Delivery,
    NetworkLink,
    NetworkMember,
    NetworkProfile,
    OutboxActivity,
    ReceivedReport,
    ReceivedReportCategory,
    ReferenceCategory,
    ReportChange,
    SentReport,
    User,
)
from schema.tables._base import utcnow
from schema.vocabulary import validation
from tests.factories import make_association, make_membership
from tests.federation_support import Instance, Router, make_instance
from tests.summaries_support import later, settle
from tests.test_actions_support import World, decide, make_world, quick_user, record, today

NETWORK = "http://n.test/associations/reseau"
KEYS = frozenset({"care", "food", "other"})


def month_now() -> str:
    """This month, as the actions recorded today fall in it."""
    return f"{today():%Y-%m}"


def volunteers(db: Any, world: World, count: int) -> list[User]:
    """More volunteers of the world's association."""
    found = []
    for _index in range(count):
        user = quick_user(db)
        make_membership(db, world.association, user)
        found.append(user)
    return found


def figures_of(
    db: Any,
    world: World,
    mapping: dict[str, str],
    threshold: int,
    keys: frozenset[str] = KEYS,
) -> Any:
    """The association's figures of this month as stated to a network."""
    with db.read() as session:
        association = session.get(Association, world.association.id)
        return association_figures(
            session,
            association=association,
            month=month_now(),
            mapping=mapping,
            threshold=threshold,
            keys=keys,
        )


# -- figures --------------------------------------------------------------------------------


def test_mapping_sends_unmapped_and_unknown_keys_to_other(db: Any) -> None:
    world = make_world(db)
    care, food, third = world.categories[0], world.categories[1], world.categories[2]
    people = volunteers(db, world, 3)
    for user in people:
        record(db, world, user=user, minutes=60, category_id=care.id)
        record(db, world, user=user, minutes=10, category_id=food.id)
        record(db, world, user=user, minutes=5, category_id=third.id)
    mapping = {str(care.id): "care", str(food.id): "no-such-key"}
    found = figures_of(db, world, mapping, threshold=1)
    assert found.categories == {"care": 180, "other": 45}
    assert (found.minutes, found.actions, found.volunteers) == (225, 9, 3)
    assert found.valued_cents is None and found.currency is None


def test_small_categories_are_merged_into_other_with_complementary_suppression(db: Any) -> None:
    world = make_world(db)
    care, food, third = world.categories[0], world.categories[1], world.categories[2]
    people = volunteers(db, world, 5)
    for user in people[:3]:
        record(db, world, user=user, minutes=100, category_id=care.id)
    for user in people[3:]:
        record(db, world, user=user, minutes=30, category_id=food.id)  # two people only
    for user in people[:3]:
        record(db, world, user=user, minutes=40, category_id=third.id)
    mapping = {str(care.id): "care", str(food.id): "food", str(third.id): "third"}
    wide = KEYS | {"third"}
    found = figures_of(db, world, mapping, threshold=2, keys=wide)
    assert found.categories == {"care": 300, "food": 60, "third": 120}
    found = figures_of(db, world, mapping, threshold=3, keys=wide)
    # "food" (2 people) alone in "other" would be readable: the smallest shown joins it.
    assert found.categories == {"care": 300, "other": 180}
    assert (found.minutes, found.volunteers) == (480, 5)
    # "third" is not a key of this network: in "other" from the start, with "food".
    found = figures_of(db, world, mapping, threshold=3)
    assert found.categories == {"care": 300, "other": 180}


def test_fewer_volunteers_than_the_threshold_gives_totals_only(db: Any) -> None:
    world = make_world(db)
    record(db, world, minutes=60)
    record(db, world, user=world.other, minutes=45)
    found = figures_of(db, world, {str(world.category.id): "care"}, threshold=5)
    assert (found.minutes, found.actions) == (105, 2)
    assert found.volunteers is None and found.categories is None
    assert figures_of(db, world, {}, threshold=2).volunteers == 2


def test_valued_amount_and_travel_equal_the_association_summary(db: Any) -> None:
    world = make_world(db, default_hourly_rate_cents=1237, travel_time_policy="counted")
    record(db, world, minutes=61, travel_minutes=17)
    record(db, world, user=world.other, minutes=7, travel_minutes=3)
    found = figures_of(db, world, {}, threshold=1)
    first = today().replace(day=1)
    with db.read() as session:
        association = session.get(Association, world.association.id)
        own = compute_summary(
            session, association=association, period=Period(first, month_end(first))
        ).total
    assert found.minutes == own.minutes == 61 + 17 + 7 + 3
    assert found.valued_cents == own.valued_cents and found.currency == "EUR"
    assert found.valued_cents == sum((m * 1237 + 30) // 60 for m in (61, 17, 7, 3))


def test_moderated_associations_count_validated_actions_only(db: Any) -> None:
    world = make_world(db, requires_validation=True)
    first = record(db, world, minutes=60)
    record(db, world, user=world.other, minutes=45)
    found = figures_of(db, world, {str(world.category.id): "care"}, threshold=1)
    assert (found.minutes, found.actions, found.volunteers) == (0, 0, None)
    decide(db, world, world.manager, "validate", [first.id])
    found = figures_of(db, world, {str(world.category.id): "care"}, threshold=1)
    assert (found.minutes, found.actions, found.volunteers) == (60, 1, 1)
    assert found.categories == {"care": 60}


def test_mapping_of_a_link_drops_bad_entries() -> None:
    link = NetworkLink(association_id=1, network_uri=NETWORK, mapping='{"1": "care", "2": 3}')
    assert mapping_of(link) == {"1": "care"}
    assert mapping_of(NetworkLink(association_id=1, network_uri=NETWORK, mapping="[1]")) == {}
    assert mapping_of(NetworkLink(association_id=1, network_uri=NETWORK, mapping="{")) == {}


# -- over ActivityPub: M (the member) and N (the network) in-process -------------------------


@dataclass
class Net:
    """A member association on M, in the network "reseau" on N, rows written directly."""

    m: Instance
    n: Instance
    world: World
    network: Association
    link_id: int
    member_id: int

    @property
    def actor(self) -> str:
        """The member association's actor."""
        return urls.actor_uri(self.m.config, "association", self.world.association.slug)


def join_directly(
    m: Instance,
    n: Instance,
    association: Association,
    network: Association,
    mapping: dict[str, str] | None = None,
) -> tuple[int, int]:
    """The rows a completed join leaves on both sides (link on M, active member on N)."""
    actor = urls.actor_uri(m.config, "association", association.slug)
    with n.db.write() as session:
        member = NetworkMember(
            network_id=network.id or 0, actor_uri=actor, name=association.name, status="active"
        )
        session.add(member)
        session.flush()
        member_id = member.id or 0
    with m.db.write() as session:
        link = NetworkLink(
            association_id=association.id or 0,
            network_uri=urls.actor_uri(n.config, "association", network.slug),
            status="active",
            mapping=json.dumps(mapping or {}),
        )
        session.add(link)
        session.flush()
        return link.id or 0, member_id


def make_network(n: Instance, *, threshold: int, categories: tuple[str, ...]) -> Association:
    """The network "reseau" on N with its threshold and reference categories."""
    network = make_association(
        n.db, quick_user(n.db), name="Réseau", slug="reseau", is_network=True
    )
    with n.db.write() as session:
        profile = session.get(NetworkProfile, network.id) or NetworkProfile(
            association_id=network.id or 0
        )
        profile.threshold = threshold
        session.add(profile)
        for position, key in enumerate(categories):
            session.add(
                ReferenceCategory(
                    network_id=network.id or 0, key=key, label=key.title(), position=position
                )
            )
    return network


@pytest.fixture
async def net(tmp_path: Path) -> Net:
    router = Router()
    m = make_instance(tmp_path, "m", router, shared_db=True)
    n = make_instance(tmp_path, "n", router)
    world = make_world(m.db)
    network = make_network(n, threshold=1, categories=("care", "food"))
    mapping = {str(world.categories[0].id): "care", str(world.categories[1].id): "food"}
    link_id, member_id = join_directly(m, n, world.association, network, mapping)
    return Net(m, n, world, network, link_id, member_id)


def received(net: Net, month: str | None = None) -> list[ReceivedReport]:
    """N's reports (of a month), by month."""
    with net.n.db.read() as session:
        query = select(ReceivedReport).order_by(col(ReceivedReport.month))
        if month is not None:
            query = query.where(ReceivedReport.month == month)
        return list(session.exec(query))


def report_activities(db: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """The outbox activities about network reports, oldest first."""
    with db.read() as session:
        rows = session.exec(select(OutboxActivity).order_by(col(OutboxActivity.id)))
        found = [json.loads(row.body) for row in rows if "/reports/" in row.object_id]
    return [item for item in found if kind is None or item["type"] == kind]


def this_month(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Activities about this month's report."""
    return [item for item in items if item["object"]["id"].endswith(month_now())]


def sent(net: Net) -> SentReport:
    """M's report of this month."""
    with net.m.db.read() as session:
        return session.exec(select(SentReport).where(SentReport.month == month_now())).one()


async def test_a_report_arrives_signed_and_valid(net: Net) -> None:
    world = net.world
    record(net.m.db, world, minutes=90)
    record(net.m.db, world, user=world.other, minutes=30, category_id=world.categories[1].id)
    await settle(net.m, net.n)
    [row] = received(net, month_now())
    assert (row.minutes, row.actions, row.volunteers, row.proof_status) == (120, 2, 2, "verified")
    assert json.loads(row.categories) == {"care": 90, "food": 30}
    assert row.member_id == net.member_id and row.issuer_uri == net.actor
    body = json.loads(row.body)
    assert body == json.loads(sent(net).body)  # exactly what was signed
    validation.validate_network_report(body)
    slug = world.association.slug
    assert body["id"] == f"http://m.test/associations/{slug}/reports/n.test/reseau/{month_now()}"
    assert body["to"] == [NETWORK] and body["network"] == NETWORK
    with net.m.db.read() as session:
        key_id, private = actor_keys.ed25519_signing_key(
            session, config=net.m.config, kind="association", owner_id=world.association.id
        )
    assert body["proof"]["verificationMethod"] == key_id
    proofs.verify_object(body, private.public_key())
    [create] = this_month(report_activities(net.m.db, "Create"))
    assert create["actor"] == net.actor and create["to"] == [NETWORK]
    with net.m.db.read() as session:
        [inbox] = session.exec(
            select(OutboxActivity).where(OutboxActivity.activity_id == create["id"])
        ).all()
    assert inbox.actor_kind == "association" and inbox.actor_id == world.association.id
    assert "alice" not in row.body and world.volunteer.username not in row.body
    await settle(net.m, net.n)  # nothing changed: nothing more is sent
    assert len(report_activities(net.m.db)) == len(report_activities(net.m.db, "Create"))


async def test_corrections_go_at_most_once_a_day(net: Net) -> None:
    world, start = net.world, later()
    record(net.m.db, world, minutes=60)
    await settle(net.m, net.n, at=start)
    assert [r.minutes for r in received(net, month_now())] == [60]
    record(net.m.db, world, minutes=30)
    await settle(net.m, net.n, at=start + timedelta(minutes=1))
    assert [r.minutes for r in received(net, month_now())] == [90]  # the first Update at once
    assert len(this_month(report_activities(net.m.db, "Update"))) == 1
    record(net.m.db, world, minutes=15)
    await settle(net.m, net.n, at=start + timedelta(minutes=2))
    assert [r.minutes for r in received(net, month_now())] == [90]  # waits for the day
    with net.m.db.read() as session:
        [change] = session.exec(select(ReportChange)).all()
    assert change.created_at > start + timedelta(hours=23)
    moment = start + timedelta(minutes=3)
    wait = reports_out.seconds_until_due(net.m.db, net.m.config, now=moment)
    assert wait is not None and 23 * 3600 < wait <= 24 * 3600  # the worker sleeps meanwhile
    assert await net.m.work(now=moment) == 0
    async with net.m.client() as client:  # the day has passed for M's publisher
        sent_now = await reports_out.publish_due(
            net.m.db, client, net.m.config, now=start + timedelta(days=1, minutes=2)
        )
    assert sent_now == 1
    deliver_now(net.m.db)  # (N checks signature dates against its own clock)
    await settle(net.m, net.n)
    assert [r.minutes for r in received(net, month_now())] == [105]
    assert len(this_month(report_activities(net.m.db, "Update"))) == 2
    with net.m.db.read() as session:
        assert session.exec(select(ReportChange)).all() == []


async def test_the_previous_month_is_reported_even_without_activity(net: Net) -> None:
    moment = later()
    await settle(net.m, net.n, at=moment)
    previous = reports_out.previous_month(net.m.config, moment)
    [row] = received(net, previous)
    assert (row.minutes, row.actions, row.volunteers, row.valued_cents) == (0, 0, None, None)
    body = json.loads(row.body)
    assert "minutesByCategory" not in body and body["valuedAmount"] is None
    await settle(net.m, net.n, at=moment + timedelta(hours=1))
    assert len(report_activities(net.m.db, "Create")) == 1  # once a month, not every round


async def test_erasure_deletes_every_report_on_the_network(net: Net) -> None:
    record(net.m.db, net.world, minutes=60)
    await settle(net.m, net.n)
    assert len(received(net)) == 2  # this month, and the previous one (zero)
    with net.m.db.write() as session:
        link = session.get(NetworkLink, net.link_id)
        assert link is not None
        link.status = "left"
        session.add(link)
        assert reports_out.delete_reports(session, net.m.config, link) == 2
    await settle(net.m, net.n)
    assert [row.deleted for row in received(net)] == [True, True]
    deletes = report_activities(net.m.db, "Delete")
    assert {item["object"]["type"] for item in deletes} == {"Tombstone"}
    assert {item["object"]["formerType"] for item in deletes} == {"NetworkReport"}
    with net.n.db.read() as session:
        months = network_dashboard_total(session, net.network)
    assert months == 0


def deliver_now(db: Any) -> None:
    """Make the waiting deliveries due at the real time."""
    with db.write() as session:
        for row in session.exec(select(Delivery).where(Delivery.state == "pending")):
            row.next_attempt_at = utcnow()
            session.add(row)


def network_dashboard_total(session: Any, network: Association) -> int:
    """The minutes the network's dashboard counts (all months)."""
    rows = session.exec(
        select(ReceivedReport).where(
            ReceivedReport.network_id == network.id,
            col(ReceivedReport.deleted).is_(False),
            ReceivedReport.proof_status == "verified",
        )
    )
    return sum(row.minutes for row in rows)


async def test_a_network_of_the_same_instance_gets_its_reports_without_traffic(
    tmp_path: Path,
) -> None:
    here = make_instance(tmp_path, "m", Router(), shared_db=True)
    world = make_world(here.db)
    network = make_network(here, threshold=1, categories=("care",))
    mapping = {str(world.category.id): "care"}
    link_id, _member = join_directly(here, here, world.association, network, mapping)
    record(here.db, world, minutes=50)
    await settle(here)
    [row] = [r for r in received_in(here.db) if r.month == month_now()]
    assert (row.minutes, row.proof_status, json.loads(row.categories)) == (
        50,
        "verified",
        {"care": 50},
    )
    body = json.loads(row.body)
    assert body["network"] == f"http://m.test/associations/{network.slug}"
    with here.db.read() as session:
        assert session.exec(select(Delivery)).all() == []  # nothing went over HTTP
    with here.db.write() as session:
        link = session.get(NetworkLink, link_id)
        assert link is not None
        assert reports_out.delete_reports(session, here.config, link) == 2
    assert {r.deleted for r in received_in(here.db)} == {True}


def received_in(db: Any) -> list[ReceivedReport]:
    """Every report an instance's networks hold."""
    with db.read() as session:
        return list(session.exec(select(ReceivedReport).order_by(col(ReceivedReport.month))))


# -- the network side: what is kept, what is refused -------------------------------------------


def resign(net: Net, obj: dict[str, Any], *, association_id: int | None = None) -> dict[str, Any]:
    """The object re-signed now by an association of M (the member by default)."""
    document = {k: v for k, v in obj.items() if k not in {"proof", "updated"}}
    with net.m.db.write() as session:
        return reports_build.signed_object(
            session,
            net.m.config,
            association_id=association_id or net.world.association.id or 0,
            document=document,
            updated=utcnow() + timedelta(minutes=1),  # after the genuine one (sent at later())
        )


def accept(net: Net, obj: Any, actor: str | None = None) -> str:
    """N handles one report object as if its activity came from ``actor``."""
    with net.n.db.write() as session:
        return reports_in.accept_report(
            session, net.n.config, actor_uri=actor or net.actor, obj=obj, now=later(120)
        )


def state(net: Net) -> list[tuple[int, str, bool]]:
    """What N holds of this month: minutes, proof status, deleted."""
    return [(r.minutes, r.proof_status, r.deleted) for r in received(net, month_now())]


async def test_refused_variants_change_nothing(net: Net) -> None:
    record(net.m.db, net.world, minutes=60)
    await settle(net.m, net.n)
    genuine: dict[str, Any] = json.loads(sent(net).body)
    assert state(net) == [(60, "verified", False)]
    assert accept(net, copy.deepcopy(genuine)) == "ignored"  # a replay
    stale = {**genuine, "minutes": 1}  # an older version (validly signed) changes nothing
    stale_document = {k: v for k, v in stale.items() if k not in {"proof", "updated"}}
    with net.m.db.write() as session:
        stale = reports_build.signed_object(
            session,
            net.m.config,
            association_id=net.world.association.id or 0,
            document=stale_document,
            updated=datetime.fromisoformat(genuine["updated"].replace("Z", "+00:00"))
            - timedelta(hours=1),
        )
    assert accept(net, stale) == "ignored"
    other = make_association(net.m.db, net.world.owner, name="Autre", slug="autre")
    other_actor = urls.actor_uri(net.m.config, "association", "autre")
    refused = {
        "not addressed to the network": resign(net, {**genuine, "to": [f"{NETWORK}-x"]}),
        "another network": resign(
            net,
            {
                **genuine,
                "network": "http://x.test/associations/reseau",
                "to": ["http://x.test/associations/reseau"],
            },
        ),
        "attributed to another": resign(net, {**genuine, "attributedTo": other_actor}),
        "not valid": resign(net, {**genuine, "minutes": "60"}),
        "a duplicate key": resign(
            net,
            {**genuine, "minutesByCategory": [{"key": "care", "minutes": 1}] * 2},
        ),
        "not an object": "http://m.test/whatever",
    }
    for what, variant in refused.items():
        assert accept(net, variant) == "rejected", what
    not_member = resign(
        net,
        {
            **genuine,
            "id": genuine["id"].replace(net.world.association.slug, "autre"),
            "attributedTo": other_actor,
        },
        association_id=other.id,
    )
    assert accept(net, not_member, actor=other_actor) == "rejected"
    assert state(net) == [(60, "verified", False)]
    with net.n.db.read() as session:
        assert (
            session.exec(
                select(ReceivedReport).where(ReceivedReport.object_id == not_member["id"])
            ).first()
            is None
        )


async def test_failed_proofs_are_kept_flagged_and_never_counted(net: Net) -> None:
    record(net.m.db, net.world, minutes=60)
    await settle(net.m, net.n)
    genuine: dict[str, Any] = json.loads(sent(net).body)
    other = make_association(net.m.db, net.world.owner, name="Autre", slug="autre")
    key_id = genuine["proof"]["verificationMethod"]
    unsigned = {k: v for k, v in genuine.items() if k not in {"proof", "updated"}}

    def wrong_key() -> dict[str, Any]:
        stamped = {
            **unsigned,
            "updated": reports_build.iso_precise(utcnow() + timedelta(minutes=1)),
        }
        return proofs.sign_object(stamped, keys.generate_ed25519(), key_id, utcnow())

    def altered() -> dict[str, Any]:
        return {**resign(net, genuine), "minutes": 6000}

    def other_key() -> dict[str, Any]:
        return resign(net, genuine, association_id=other.id)

    def no_proof() -> dict[str, Any]:
        return {k: v for k, v in resign(net, genuine).items() if k != "proof"}

    expected = {
        wrong_key: "the proof does not verify",
        altered: "the proof does not verify",
        other_key: "is not one of the sender's",
    }
    for make, reason in expected.items():
        assert accept(net, make()) == "flagged"
        [row] = received(net, month_now())
        assert reason in row.proof_status and not row.deleted
        with net.n.db.read() as session:
            [line] = network_dashboard.freshness(session, net.network)
            counted = network_dashboard_total(session, net.network)
            categories = session.exec(
                select(ReceivedReportCategory).where(ReceivedReportCategory.report_id == row.id)
            ).all()
        assert line.flagged and categories == []
        assert counted == 0  # this month is not counted (the previous one is zero)
    assert accept(net, no_proof()) == "rejected"  # the schema requires a proof
    record(net.m.db, net.world, minutes=5)  # the member's next genuine report counts again
    await settle(net.m, net.n, at=later(300))
    assert state(net) == [(65, "verified", False)]


async def test_a_delete_by_someone_else_is_ignored(net: Net) -> None:
    record(net.m.db, net.world, minutes=60)
    await settle(net.m, net.n)
    object_id = sent(net).object_id
    with net.n.db.write() as session:
        assert (
            reports_in.delete_report(
                session,
                actor_uri="http://m.test/associations/autre",
                object_id=object_id,
                now=utcnow(),
            )
            == "ignored"
        )
        assert (
            reports_in.delete_report(session, actor_uri=net.actor, object_id="", now=utcnow())
            == "ignored"
        )
    assert state(net) == [(60, "verified", False)]


# -- the object's shape -----------------------------------------------------------------------


def sample_report() -> dict[str, Any]:
    """A valid NetworkReport."""
    return {
        "@context": reports_build.report_context(),
        "id": "https://b.example/associations/amis/reports/n.example/reseau/2026-03",
        "type": "NetworkReport",
        "attributedTo": "https://b.example/associations/amis",
        "network": "https://n.example/associations/reseau",
        "to": ["https://n.example/associations/reseau"],
        "month": "2026-03",
        "minutes": 5430,
        "actions": 87,
        "volunteers": 12,
        "minutesByCategory": [{"key": "care", "minutes": 3120}, {"key": "other", "minutes": 2310}],
        "valuedAmount": "1234.56",
        "currency": "EUR",
        "updated": "2026-04-01T06:00:00.123456Z",
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-jcs-2022",
            "verificationMethod": "https://b.example/associations/amis#ed25519-key",
            "proofPurpose": "assertionMethod",
            "created": "2026-04-01T06:00:00Z",
            "proofValue": "z" + "3" * 86,
        },
    }


@pytest.mark.parametrize(
    "change",
    [
        {"month": "2026-13"},
        {"month": "2026-3"},
        {"minutes": 1.5},
        {"minutes": -1},
        {"actions": "87"},
        {"volunteers": None},
        {"valuedAmount": "12.3"},
        {"currency": "euro"},
        {"type": "HoursSummary"},
        {"to": []},
        {"network": "javascript:alert(1)"},
        {"minutesByCategory": [{"key": "", "minutes": 1}]},
        {"minutesByCategory": [{"key": "care"}]},
        {"minutesByCategory": [{"key": "a", "minutes": 1}, {"key": "a", "minutes": 2}]},
        {"updated": "yesterday"},
    ],
)
def test_schema_refuses_bad_reports(change: dict[str, Any]) -> None:
    validation.validate_network_report(sample_report())
    with pytest.raises(validation.SchemaError):
        validation.validate_network_report(sample_report() | change)


def test_schema_refuses_missing_fields_and_reads_unknown_ones() -> None:
    for name in ("month", "minutes", "proof", "network", "valuedAmount"):
        document = sample_report()
        del document[name]
        with pytest.raises(validation.SchemaError):
            validation.validate_network_report(document)
    totals_only = sample_report()
    del totals_only["volunteers"], totals_only["minutesByCategory"]
    validation.validate_network_report(totals_only | {"somethingNew": [1, 2]})


async def test_the_schema_is_served(client: Any) -> None:
    response = await client.get("/ns/network-report.schema.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    assert response.json()["title"] == "NetworkReport"
    context = (await client.get("/ns/benefed.jsonld")).json()["@context"]
    for term in ("NetworkReport", "network", "volunteers", "key", "threshold", "isNetwork"):
        assert term in context
