"""Home side of a person's hours: two instances in-process, summaries checked, kept, reconciled.

Instance A is the person's home (alice), instance B holds the association where
they volunteer. Every forged variant of a summary is refused and never stored.
"""

import copy
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from federation import (
    actor_keys,
    peers,
    proofs,
    summaries_in,
    summaries_out,
    summary_reconcile,
    urls,
)
from instance import account_data, actions, associations
from schema.tables import (
    Action,
    Association,
    Follow,
    Handle,
    InboxItem,
    PeerHost,
    ReceivedSummary,
    RemoteActor,
    SentSummary,
    User,
)
from schema.tables._base import utcnow
from tests.federation_support import FakeActor, Instance, Router, make_instance, post_signed
from tests.summaries_support import enable_federation, later, link_accounts, received, settle
from tests.test_actions_support import (
    World,
    decide,
    headers_for,
    make_world,
    quick_user,
    record,
    set_rules,
    today,
)


@dataclass
class Pair:
    """Home A with alice, instance B with the association where alice volunteers."""

    a: Instance
    b: Instance
    alice: User
    world: World
    link_id: int

    @property
    def volunteer(self) -> User:
        """Alice's account on B."""
        return self.world.volunteer


@pytest.fixture
async def pair(tmp_path: Path) -> Pair:
    router = Router()
    a = make_instance(tmp_path, "a", router, shared_db=True)
    b = make_instance(tmp_path, "b", router)
    alice = enable_federation(a.db, quick_user(a.db, username="alice"))
    world = make_world(b.db)
    enable_federation(b.db, world.volunteer)
    link_id = await link_accounts(a, b, alice, world.volunteer, at=later())
    return Pair(a, b, alice, world, link_id)


def only_received(pair: Pair) -> ReceivedSummary:
    [row] = received(pair.a.db)
    return row


async def test_actions_added_edited_validated_deleted_on_b_show_on_a(pair: Pair) -> None:
    b, world = pair.b, pair.world
    action = record(b.db, world, minutes=90)
    await settle(pair.a, b)
    row = only_received(pair)
    assert (row.minutes, row.actions, row.validated_minutes, row.pending_minutes) == (90, 1, 90, 0)
    assert row.user_id == pair.alice.id and row.proof_status == "verified"
    assert row.issuer_uri == f"http://b.test/associations/{world.association.slug}"
    assert row.issuer_name == world.association.name and row.issuer_host == "b.test"
    assert row.subject_uri == f"http://b.test/users/{world.volunteer.username}"
    assert row.month == f"{today():%Y-%m}" and row.follow_id == pair.link_id
    with b.db.read() as session:
        sent = session.exec(select(SentSummary)).one()
    assert json.loads(row.body) == json.loads(sent.body)  # exactly what was signed
    with b.db.write() as session:
        actions.update_action(
            session,
            action=session.get(Action, action.id),
            user=world.volunteer,
            data={"minutes": 120},
            today=today(),
        )
    await settle(pair.a, b)
    assert only_received(pair).minutes == 120
    set_rules(b.db, world.association, requires_validation=True)
    pending = record(b.db, world, minutes=30)
    await settle(pair.a, b)
    assert (only_received(pair).minutes, only_received(pair).pending_minutes) == (120, 30)
    decide(b.db, world, world.manager, "validate", [pending.id])
    await settle(pair.a, b)
    assert (only_received(pair).minutes, only_received(pair).pending_minutes) == (150, 0)
    with b.db.write() as session:
        for found in session.exec(select(Action)):
            actions.delete_action(session, action=found, user=world.manager)
    await settle(pair.a, b)
    row = only_received(pair)
    assert (row.minutes, row.actions, row.deleted) == (0, 0, False)  # an Update to zero
    async with pair.a.browser() as client:
        hours = await client.get("/api/v1/me/hours", headers=headers_for(pair.a.db, pair.alice))
    assert hours.status_code == 200
    remote = [line for line in hours.json()["associations"] if line["remote"]]
    assert [line["minutes"] for line in remote] in ([0], [])


async def test_the_combined_hours_show_remote_minutes(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=75)
    await settle(pair.a, pair.b)
    async with pair.a.browser() as client:
        hours = await client.get("/api/v1/me/hours", headers=headers_for(pair.a.db, pair.alice))
    body = hours.json()
    assert body["total_minutes"] == 75
    [line] = body["associations"]
    assert line["remote"] is True and line["minutes"] == 75 and line["proof"] == "verified"


# -- forged and misdirected summaries ----------------------------------------------------------


def genuine(pair: Pair, **changes: Any) -> dict[str, Any]:
    """A summary B would send about alice, signed by the association (changes before signing)."""
    with pair.b.db.write() as session:
        association = session.get(Association, pair.world.association.id)
        user = session.get(User, pair.volunteer.id)
        found = summaries_out.month_figures(
            session,
            association=association,
            membership_id=pair.world.member.id,
            month=f"{today():%Y-%m}",
        )
        document = summaries_out.unsigned_object(
            pair.b.config,
            association=association,
            user=user,
            month=f"{today():%Y-%m}",
            homes=["http://a.test/users/alice"],
            found=found,
        )
        document = {
            **document,
            "minutes": 60,
            "actions": 1,
            "validatedMinutes": 60,
            "updated": summaries_out.iso_precise(later(60)),
            **changes,
        }
        return summaries_out.sign(session, pair.b.config, association.id, document, utcnow())


def b_person(pair: Pair, user: User) -> FakeActor:
    """B's actor of a person, with its real key, to sign requests as B would."""
    with pair.b.db.write() as session:
        key_id, key = actor_keys.signing_key(
            session, config=pair.b.config, kind="user", owner_id=user.id
        )
    uri = urls.actor_uri(pair.b.config, "user", user.username)
    return FakeActor(uri=uri, key=key, key_id=key_id, inbox=f"{uri}/inbox")


async def deliver(pair: Pair, obj: Any, *, sender: User | None = None, kind: str = "Create") -> int:
    """POST an activity carrying obj to alice's inbox on A, signed as B's person; then process."""
    actor = b_person(pair, sender or pair.volunteer)
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.uri}/activities/{uuid.uuid4()}",
        "type": kind,
        "actor": actor.uri,
        "to": ["http://a.test/users/alice"],
        "object": obj,
    }
    async with pair.a.browser() as client:
        response = await post_signed(client, "/users/alice/inbox", actor, activity)
    await settle(pair.a, pair.b)
    return response.status_code


async def test_a_genuine_summary_delivered_by_hand_is_kept(pair: Pair) -> None:
    assert await deliver(pair, genuine(pair)) == 202
    assert only_received(pair).minutes == 60


def _other_key_proof(pair: Pair, obj: dict[str, Any]) -> dict[str, Any]:
    unsigned = {k: v for k, v in obj.items() if k != "proof"}
    return proofs.sign_object(
        unsigned, Ed25519PrivateKey.generate(), obj["proof"]["verificationMethod"], utcnow()
    )


def _other_association(pair: Pair) -> dict[str, Any]:
    """Signed by another association of B, while attributed to alice's association."""
    with pair.b.db.write() as session:
        owner = session.get(User, pair.world.owner.id)
        other = associations.create_association(session, name="Autre asso", owner=owner)
    unsigned = {k: v for k, v in genuine(pair).items() if k != "proof"}
    with pair.b.db.write() as session:
        return summaries_out.sign(session, pair.b.config, other.id, unsigned, utcnow())


FORGERIES = {
    "an unknown key": _other_key_proof,
    "altered minutes": lambda pair, obj: {**obj, "minutes": obj["minutes"] * 10},
    "altered category label": lambda pair, obj: {
        **obj,
        "minutesByCategory": [{"name": "Faux", "minutes": 60}],
    },
    "another association's key": lambda pair, obj: _other_association(pair),
    "addressed to someone else": lambda pair, obj: genuine(pair, to=["http://a.test/users/bob"]),
    "addressed to nobody here": lambda pair, obj: genuine(
        pair, to=["http://evil.test/users/alice"]
    ),
    "about someone else": lambda pair, obj: genuine(
        pair, volunteer=f"http://b.test/users/{pair.world.other.username}"
    ),
    "attributed to a person": lambda pair, obj: genuine(
        pair, attributedTo=f"http://b.test/users/{pair.volunteer.username}"
    ),
    "attributed to another server": lambda pair, obj: genuine(
        pair, attributedTo="http://c.test/associations/x"
    ),
    "living on another server": lambda pair, obj: genuine(pair, id="http://c.test/summaries/1"),
    "negative minutes": lambda pair, obj: genuine(pair, minutes=-5),
    "float minutes": lambda pair, obj: {**obj, "minutes": 60.5},
    "a month that is no month": lambda pair, obj: genuine(pair, month="2024-13"),
    "an injected category": lambda pair, obj: genuine(
        pair, minutesByCategory=[{"name": "<script>x</script>", "minutes": "60"}]
    ),
    "no proof": lambda pair, obj: {k: v for k, v in obj.items() if k != "proof"},
    "a missing field": lambda pair, obj: {k: v for k, v in obj.items() if k != "pendingMinutes"},
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_summaries_are_refused_and_never_stored(
    pair: Pair, forgery: str, caplog: pytest.LogCaptureFixture
) -> None:
    obj = FORGERIES[forgery](pair, genuine(pair))
    with caplog.at_level("WARNING", logger="benefed.summaries"):
        await deliver(pair, obj)
    assert received(pair.a.db, deleted=None) == []
    assert "rejected" in caplog.text
    with pair.a.db.read() as session:
        assert all(item.processed_at for item in session.exec(select(InboxItem)))


async def test_a_summary_from_an_actor_who_is_not_linked_is_refused(pair: Pair) -> None:
    other = enable_federation(pair.b.db, pair.world.other)
    obj = genuine(pair, volunteer=f"http://b.test/users/{other.username}")
    await deliver(pair, obj, sender=other)
    assert received(pair.a.db, deleted=None) == []


async def test_nothing_is_kept_once_the_link_ended(pair: Pair) -> None:
    with pair.a.db.write() as session:
        follow = session.get(Follow, pair.link_id)
        follow.state = "ended"
        session.add(follow)
    await deliver(pair, genuine(pair))
    assert received(pair.a.db, deleted=None) == []


# -- ordering and tombstones ------------------------------------------------------------------


async def test_newest_updated_wins_whatever_the_order(pair: Pair) -> None:
    old = genuine(pair, minutes=10, updated=summaries_out.iso_precise(later(10)))
    new = genuine(pair, minutes=20, updated=summaries_out.iso_precise(later(20)))
    await deliver(pair, new, kind="Update")
    await deliver(pair, old, kind="Update")
    assert only_received(pair).minutes == 20
    same_time = genuine(pair, minutes=99, updated=new["updated"])
    await deliver(pair, same_time, kind="Update")
    assert only_received(pair).minutes == 20
    assert len(received(pair.a.db, deleted=None)) == 1


async def test_a_delete_leaves_a_tombstone_and_later_versions_are_ignored(pair: Pair) -> None:
    obj = genuine(pair)
    await deliver(pair, obj)
    tombstone = {"id": obj["id"], "type": "Tombstone", "formerType": "HoursSummary"}
    await deliver(pair, tombstone, kind="Delete")
    [row] = received(pair.a.db, deleted=True)
    assert (row.minutes, row.actions, row.valued_amount) == (0, 0, "")
    assert "minutesByCategory" not in row.body
    await deliver(
        pair, genuine(pair, updated=summaries_out.iso_precise(later(3600))), kind="Update"
    )
    assert received(pair.a.db) == [] and len(received(pair.a.db, deleted=True)) == 1


async def test_a_delete_from_someone_else_changes_nothing(pair: Pair) -> None:
    obj = genuine(pair)
    await deliver(pair, obj)
    other = enable_federation(pair.b.db, pair.world.other)
    await deliver(pair, obj["id"], sender=other, kind="Delete")
    assert only_received(pair).deleted is False


async def test_deleting_the_account_on_b_deletes_on_a(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    async with pair.b.browser() as client:
        response = await client.request(
            "DELETE",
            "/api/v1/me",
            json={"password": "correct horse battery"},
            headers=headers_for(pair.b.db, pair.volunteer),
        )
    assert response.status_code == 204, response.text
    await settle(pair.a, pair.b)
    assert received(pair.a.db) == [] and len(received(pair.a.db, deleted=True)) == 1


async def test_deleting_the_association_on_b_deletes_on_a(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    async with pair.b.browser() as client:
        response = await client.delete(
            f"/api/v1/associations/{pair.world.association.slug}",
            headers=headers_for(pair.b.db, pair.world.owner),
        )
    assert response.status_code == 204, response.text
    await settle(pair.a, pair.b)
    assert received(pair.a.db) == [] and len(received(pair.a.db, deleted=True)) == 1


# -- reconciliation ---------------------------------------------------------------------------


async def reconcile(pair: Pair, **options: Any) -> summary_reconcile.Report:
    async with pair.a.client() as client:
        return await summary_reconcile.reconcile_user(
            pair.a.db, client, pair.a.config, pair.alice.id, **options
        )


async def test_reconciliation_restores_what_was_lost_and_drops_what_vanished(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    record(
        pair.b.db,
        pair.world,
        minutes=15,
        date=(today().replace(day=1) - timedelta(days=1)).isoformat(),
    )
    await settle(pair.a, pair.b)
    assert sorted(r.minutes for r in received(pair.a.db)) == [15, 60]
    with pair.a.db.write() as session:  # a delivery lost, another one stale
        rows = list(session.exec(select(ReceivedSummary).order_by(ReceivedSummary.month)))
        session.delete(rows[0])
        rows[1].minutes = 1
        rows[1].updated = datetime(2020, 1, 1, tzinfo=utcnow().tzinfo)
        session.add(rows[1])
    report = await reconcile(pair)
    assert (report.links, report.stored, report.deleted, report.rejected) == (1, 2, 0, 0)
    assert sorted(r.minutes for r in received(pair.a.db)) == [15, 60]
    with pair.b.db.write() as session:  # erased on B without a Delete reaching A
        session.delete(session.exec(select(SentSummary).order_by(SentSummary.month)).first())
    report = await reconcile(pair)
    assert report.deleted == 1
    assert [r.minutes for r in received(pair.a.db)] == [60]
    assert await reconcile(pair, hosts={"elsewhere.test"}) == summary_reconcile.Report()


async def test_reconciliation_refuses_forged_items_in_the_collection(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    with pair.b.db.write() as session:
        row = session.exec(select(SentSummary)).one()
        body = json.loads(row.body)
        forged = copy.deepcopy(body)
        forged["minutes"] = 6000
        forged["updated"] = summaries_out.iso_precise(later(999))
        row.body = json.dumps(forged)
        session.add(row)
    report = await reconcile(pair)
    assert report.rejected == 1
    assert only_received(pair).minutes == 60


async def test_reconciliation_when_b_cannot_be_reached(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    pair.a.router.down.add("b.test")
    report = await reconcile(pair)
    assert report.failed == [f"http://b.test/users/{pair.volunteer.username}"]
    assert only_received(pair).minutes == 60  # nothing dropped when unreachable


async def test_a_host_back_from_the_dead_is_reconciled(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    with pair.a.db.write() as session:
        session.delete(session.exec(select(ReceivedSummary)).one())
        host = peers.peer(session, "b.test")
        host.dead_since = utcnow() - timedelta(days=2)
        session.add(host)
    with pair.a.db.write() as session:  # its hourly probe is answered
        peers.host_answered(session, "b.test", now=utcnow())
    with pair.a.db.read() as session:
        assert session.get(PeerHost, "b.test").revived_at is not None
    await settle(pair.a, pair.b)
    assert only_received(pair).minutes == 60
    with pair.a.db.read() as session:
        assert session.get(PeerHost, "b.test").revived_at is None


async def test_reconciliation_erases_what_a_deleted_account_sent(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    with pair.b.db.write() as session:  # her name is kept on B (quick_user takes none)
        session.add(Handle(name=pair.volunteer.username, kind="user"))
    with pair.b.db.write() as session:  # deleted on B; its Deletes never reach A
        account_data.delete_account(session, user=pair.volunteer, password="correct horse battery")
    assert len(received(pair.a.db)) == 1
    report = await reconcile(pair)
    assert (report.links, report.deleted, report.failed) == (1, 1, [])
    assert received(pair.a.db) == [] and len(received(pair.a.db, deleted=True)) == 1
    with pair.a.db.read() as session:
        assert session.get(Follow, pair.link_id).state == "ended"
    assert await reconcile(pair) == summary_reconcile.Report()  # the link is over


async def test_a_404_from_an_account_still_there_erases_nothing(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    with pair.b.db.write() as session:  # her actor is off on B (without the Reject reaching A)
        user = session.get(User, pair.volunteer.id)
        user.federation_enabled = False
        session.add(user)
    report = await reconcile(pair)
    assert report.failed == [f"http://b.test/users/{pair.volunteer.username}"]
    assert report.deleted == 0 and only_received(pair).minutes == 60


async def test_a_linked_actor_known_gone_is_erased_without_asking(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    with pair.a.db.write() as session:  # it deleted itself (a Delete of the actor)
        actor = session.exec(select(RemoteActor).where(RemoteActor.type == "Person")).one()
        actor.is_gone = True
        session.add(actor)
    pair.a.router.down.add("b.test")
    report = await reconcile(pair)
    assert (report.deleted, report.failed) == (1, []) and received(pair.a.db) == []


async def test_an_accept_reconciles_at_once(pair: Pair) -> None:
    record(pair.b.db, pair.world, minutes=60)
    await settle(pair.a, pair.b)
    with pair.a.db.write() as session:
        session.delete(session.exec(select(ReceivedSummary)).one())
    accept = {"type": "Accept", "actor": f"http://b.test/users/{pair.volunteer.username}"}
    async with pair.a.client() as client:
        await summary_reconcile.after_accept(pair.a.db, client, pair.a.config, accept)
    assert only_received(pair).minutes == 60


async def test_is_summary_helpers() -> None:
    assert summaries_in.is_summary({"type": "HoursSummary"})
    assert summaries_in.is_summary({"type": ["HoursSummary", "Object"]})
    assert not summaries_in.is_summary({"type": "Note"}) and not summaries_in.is_summary("x")
    assert summaries_in.is_summary_tombstone({"type": "Tombstone", "formerType": "HoursSummary"})
    assert not summaries_in.is_summary_tombstone({"type": "Tombstone", "formerType": "Note"})
