"""Networks on their own instance: profile, reference categories, members and stored reports."""

import pytest
from sqlmodel import select

from instance import associations, network_members, networks
from instance.errors import Conflict, Forbidden, Invalid, NotFound
from instance.network_reports import categories_of, save_report
from instance.network_setup import DEFAULT_CATEGORIES, set_up_network
from schema.db import Database
from schema.tables import (
    Association,
    NetworkProfile,
    ReceivedReport,
    ReceivedReportCategory,
    ReferenceCategory,
    User,
)
from tests.factories import make_association, make_membership, make_user
from tests.network_support import add_member, add_report, make_network


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db)


@pytest.fixture
def network(db: Database, owner: User) -> Association:
    return make_network(db, owner, name="Réseau des Restos")


def keys(db: Database, network: Association, archived: bool | None = False) -> list[str]:
    with db.read() as session:
        return [
            c.key for c in networks.list_categories(session, network=network, archived=archived)
        ]


def category_rows(db: Database, report: ReceivedReport) -> dict[str, int]:
    with db.read() as session:
        rows = session.exec(
            select(ReceivedReportCategory).where(ReceivedReportCategory.report_id == report.id)
        ).all()
    return {row.key: row.minutes for row in rows}


# Creation


def test_a_new_network_gets_its_profile_and_the_default_list(
    db: Database, network: Association
) -> None:
    assert network.is_network
    with db.read() as session:
        profile = session.get(NetworkProfile, network.id)
    assert profile is not None
    assert (profile.threshold, profile.open_data_licence) == (5, "ODbL-1.0")
    assert keys(db, network) == [key for key, _label in DEFAULT_CATEGORIES]
    assert keys(db, network)[-1] == "other"
    with db.read() as session:
        labels = networks.category_labels(session, network)
    assert labels["accueil-animation"] == "Accueil et animation"
    assert labels["other"] == "Autre"


def test_an_ordinary_association_has_no_profile(db: Database, owner: User) -> None:
    association = make_association(db, owner)
    with db.read() as session:
        assert session.get(NetworkProfile, association.id) is None
        assert (
            session.exec(
                select(ReferenceCategory).where(ReferenceCategory.network_id == association.id)
            ).all()
            == []
        )
        with pytest.raises(NotFound):
            networks.get_network(session, association.slug, owner)


def test_set_up_twice_changes_nothing_and_adds_other_when_missing(
    db: Database, network: Association
) -> None:
    with db.write() as session:
        set_up_network(session, association=network)
    assert len(keys(db, network)) == len(DEFAULT_CATEGORIES)
    with db.write() as session:
        other = networks.get_category(session, network=network, key="other")
        session.delete(other)
    assert "other" in keys(db, network)  # shown even before it is stored again
    with db.write() as session:
        set_up_network(session, association=network)
        assert networks.get_category(session, network=network, key="other").id is not None


def test_a_hidden_network_is_not_found_by_outsiders(db: Database, owner: User) -> None:
    hidden = make_network(db, owner, is_hidden=True)
    outsider = make_user(db)
    with db.read() as session:
        with pytest.raises(NotFound):
            networks.get_network(session, hidden.slug, outsider)
        with pytest.raises(NotFound):
            networks.get_network(session, hidden.slug, None)
        found, membership = networks.get_network(session, hidden.slug, owner)
    assert found.id == hidden.id and membership is not None


# Profile


@pytest.mark.parametrize("threshold", [1, 5, 50, "7", " 12 "])
def test_thresholds_from_1_to_50(
    db: Database, network: Association, owner: User, threshold: object
) -> None:
    with db.write() as session:
        profile = networks.update_profile(session, network=network, by=owner, threshold=threshold)
    assert profile.threshold == int(str(threshold).strip())


@pytest.mark.parametrize("threshold", [0, 51, -1, "abc", "", True, 5.5, "5.5", "9999", [5], None])
def test_bad_thresholds_are_refused(
    db: Database, network: Association, owner: User, threshold: object
) -> None:
    if threshold is None:
        with db.write() as session:
            networks.update_profile(session, network=network, by=owner, threshold=None)
        return
    with db.write() as session, pytest.raises(Invalid) as caught:
        networks.update_profile(session, network=network, by=owner, threshold=threshold)
    assert "threshold" in caught.value.errors


def test_licences_offered_and_refused(db: Database, network: Association, owner: User) -> None:
    for licence in ("CC-BY-4.0", "etalab-2.0", "ODbL-1.0"):
        with db.write() as session:
            profile = networks.update_profile(session, network=network, by=owner, licence=licence)
        assert profile.open_data_licence == licence
        assert networks.licence_of(profile).url.startswith("https://")
    for bad in ("GPL-3.0", "", "odbl-1.0", 3, "<script>"):
        with db.write() as session, pytest.raises(Invalid) as caught:
            networks.update_profile(session, network=network, by=owner, licence=bad)
        assert "licence" in caught.value.errors


def test_both_errors_are_reported_at_once(db: Database, network: Association, owner: User) -> None:
    with db.write() as session, pytest.raises(Invalid) as caught:
        networks.update_profile(session, network=network, by=owner, threshold=0, licence="x")
    assert set(caught.value.errors) == {"threshold", "licence"}


def test_only_settings_managers_change_the_profile(db: Database, network: Association) -> None:
    volunteer, manager, trusted = make_user(db), make_user(db), make_user(db)
    make_membership(db, network, volunteer)
    make_membership(db, network, manager, role="manager")
    make_membership(db, network, trusted, role="manager", perm_manage_settings=True)
    for person in (volunteer, manager, make_user(db)):
        with db.write() as session, pytest.raises(Forbidden):
            networks.update_profile(session, network=network, by=person, threshold=3)
    with db.write() as session:
        networks.update_profile(session, network=network, by=trusted, threshold=3)
    with db.read() as session:
        assert networks.profile_of(session, network).threshold == 3


def test_a_network_without_a_stored_profile_reads_the_defaults(db: Database, owner: User) -> None:
    association = make_association(db, owner)
    with db.write() as session:
        found = session.get(Association, association.id)
        assert found is not None
        found.is_network = True
        profile = networks.profile_of(session, found)
        assert (profile.threshold, profile.open_data_licence) == (5, "ODbL-1.0")
        networks.update_profile(session, network=found, by=owner, threshold=9)
    with db.read() as session:
        stored = session.get(NetworkProfile, association.id)
    assert stored is not None and stored.threshold == 9


# Reference categories


def test_adding_makes_a_key_from_the_label(db: Database, network: Association, owner: User) -> None:
    with db.write() as session:
        first = networks.add_category(
            session, network=network, by=owner, label=" Écoute & soutien "
        )
        second = networks.add_category(session, network=network, by=owner, label="Écoute, soutien")
        odd = networks.add_category(session, network=network, by=owner, label="!!!")
    assert (first.key, first.label) == ("ecoute-soutien", "Écoute & soutien")
    assert second.key == "ecoute-soutien-2"
    assert odd.key == "category"
    assert keys(db, network)[-4:] == ["ecoute-soutien", "ecoute-soutien-2", "category", "other"]


def test_an_explicit_key_is_checked(db: Database, network: Association, owner: User) -> None:
    with db.write() as session:
        made = networks.add_category(session, network=network, by=owner, label="Sport", key="sport")
    assert made.key == "sport"
    for bad in ("Sport", "sport", "a b", "-a", "a--b", "x" * 65, "é", "<b>"):
        with db.write() as session, pytest.raises(Invalid) as caught:
            networks.add_category(session, network=network, by=owner, label="Sport", key=bad)
        assert "key" in caught.value.errors


@pytest.mark.parametrize("label", ["", "   ", "x" * 101, None, 3])
def test_bad_labels_are_refused(
    db: Database, network: Association, owner: User, label: object
) -> None:
    with db.write() as session, pytest.raises(Invalid) as caught:
        networks.add_category(session, network=network, by=owner, label=label)
    assert "label" in caught.value.errors


def test_labels_are_kept_as_typed(db: Database, network: Association, owner: User) -> None:
    hostile = '<script>alert("x")</script>'
    with db.write() as session:
        made = networks.add_category(session, network=network, by=owner, label=hostile)
        renamed = networks.rename_category(
            session, network=network, by=owner, category=made, label="'; DROP TABLE user; --"
        )
    assert made.key == "script-alert-x-script"
    assert renamed.label == "'; DROP TABLE user; --"


def test_rename_keeps_the_key(db: Database, network: Association, owner: User) -> None:
    with db.write() as session:
        category = networks.get_category(session, network=network, key="formation")
        networks.rename_category(
            session, network=network, by=owner, category=category, label="Formations"
        )
    with db.read() as session:
        assert networks.category_labels(session, network)["formation"] == "Formations"
    with db.write() as session, pytest.raises(Invalid):
        category = networks.get_category(session, network=network, key="formation")
        networks.rename_category(session, network=network, by=owner, category=category, label="")


def test_reorder_keeps_other_last(db: Database, network: Association, owner: User) -> None:
    with db.write() as session:
        category = networks.get_category(session, network=network, key="logistique")
        networks.place_category(session, network=network, by=owner, category=category, position=0)
    assert keys(db, network)[:2] == ["logistique", "accueil-animation"]
    with db.write() as session:
        category = networks.get_category(session, network=network, key="logistique")
        networks.move_category(session, network=network, by=owner, category=category, step=1)
        networks.place_category(session, network=network, by=owner, category=category, position=999)
    assert keys(db, network)[-2:] == ["logistique", "other"]
    with db.write() as session:
        category = networks.get_category(session, network=network, key="accueil-animation")
        networks.move_category(session, network=network, by=owner, category=category, step=-1)
    assert keys(db, network)[0] == "accueil-animation"
    with db.write() as session, pytest.raises(Conflict):
        other = networks.get_category(session, network=network, key="other")
        networks.place_category(session, network=network, by=owner, category=other, position=0)


def test_archive_and_bring_back(db: Database, network: Association, owner: User) -> None:
    with db.write() as session:
        category = networks.get_category(session, network=network, key="formation")
        networks.archive_category(session, network=network, by=owner, category=category)
    assert "formation" not in keys(db, network)
    assert keys(db, network, archived=True) == ["formation"]
    with db.read() as session:
        assert "formation" in networks.category_labels(session, network)
    with db.write() as session, pytest.raises(Conflict):
        category = networks.get_category(session, network=network, key="formation")
        networks.place_category(session, network=network, by=owner, category=category, position=0)
    with db.write() as session:
        category = networks.get_category(session, network=network, key="formation")
        networks.archive_category(
            session, network=network, by=owner, category=category, archived=False
        )
    assert keys(db, network)[-2:] == ["formation", "other"]


def test_other_cannot_be_removed(db: Database, network: Association, owner: User) -> None:
    with db.write() as session, pytest.raises(Conflict):
        other = networks.get_category(session, network=network, key="other")
        networks.archive_category(session, network=network, by=owner, category=other)
    assert "other" in keys(db, network)


def test_unknown_categories_and_other_networks(
    db: Database, network: Association, owner: User
) -> None:
    elsewhere = make_network(db, owner)
    with db.read() as session:
        theirs = networks.get_category(session, network=elsewhere, key="formation")
        for wanted in (
            {"key": "nope"},
            {"category_id": theirs.id},
            {"category_id": "x"},
            {},
            {"category_id": 2**40},
            {"category_id": "9" * 12},
            {"category_id": True},
            {"category_id": -3},
        ):
            with pytest.raises(NotFound):
                networks.get_category(session, network=network, **wanted)  # type: ignore[arg-type]


def test_categories_need_manage_settings(db: Database, network: Association) -> None:
    manager = make_user(db)
    make_membership(db, network, manager, role="manager", perm_view_actions=True)
    with db.write() as session, pytest.raises(Forbidden):
        networks.add_category(session, network=network, by=manager, label="Sport")
    with db.write() as session, pytest.raises(Forbidden):
        category = networks.get_category(session, network=network, key="formation")
        networks.archive_category(session, network=network, by=manager, category=category)


def test_a_list_holds_at_most_100(db: Database, network: Association, owner: User) -> None:
    with db.write() as session:
        for number in range(100 - len(DEFAULT_CATEGORIES)):
            networks.add_category(session, network=network, by=owner, label=f"Catégorie {number}")
    with db.write() as session, pytest.raises(Invalid):
        networks.add_category(session, network=network, by=owner, label="One too many")


# Members


def test_accept_refuse_and_remove(db: Database, network: Association, owner: User) -> None:
    first = add_member(db, network, status="pending")
    second = add_member(db, network, status="pending")
    with db.write() as session:
        accepted = network_members.accept_request(session, network=network, member=first, by=owner)
        refused = network_members.refuse_request(session, network=network, member=second, by=owner)
    assert (accepted.status, refused.status) == ("active", "refused")
    with db.write() as session:
        for decide in (network_members.accept_request, network_members.refuse_request):
            for member in (accepted, refused):
                with pytest.raises(Conflict):
                    decide(session, network=network, member=member, by=owner)
        with pytest.raises(Conflict):
            network_members.remove_member(session, network=network, member=refused, by=owner)
        removed = network_members.remove_member(session, network=network, member=accepted, by=owner)
    assert removed.status == "left"
    with db.read() as session:
        assert network_members.members_count(session, network) == 0
        assert network_members.pending_count(session, network) == 0


def test_decisions_need_manage_members(db: Database, network: Association) -> None:
    request = add_member(db, network, status="pending")
    manager, trusted = make_user(db), make_user(db)
    make_membership(db, network, manager, role="manager", perm_manage_settings=True)
    make_membership(db, network, trusted, role="manager", perm_manage_members=True)
    with db.write() as session, pytest.raises(Forbidden):
        network_members.accept_request(session, network=network, member=request, by=manager)
    with db.write() as session:
        network_members.accept_request(session, network=network, member=request, by=trusted)


def test_members_of_another_network_are_not_found(
    db: Database, network: Association, owner: User
) -> None:
    elsewhere = make_network(db, owner)
    theirs = add_member(db, elsewhere, status="pending")
    with db.read() as session:
        for wanted in (theirs.id, str(theirs.id), "abc", -1, 10**30, True, None, "9" * 40):
            with pytest.raises(NotFound):
                network_members.get_member(session, network=network, member_id=wanted)
        assert network_members.get_member(session, network=elsewhere, member_id=str(theirs.id)).id


def test_names_hosts_and_anonymity(db: Database, network: Association) -> None:
    named = add_member(db, network, name="Les Amis du Vélo", host="velo.example")
    secret = add_member(db, network, name="Secret", host="secret.example", anonymous=True)
    blank = add_member(db, network, name="", host="blank.example")
    assert network_members.public_name(named) == "Les Amis du Vélo"
    assert network_members.host_of(named) == "velo.example"
    assert network_members.public_name(secret) == "An association (anonymous)"
    assert network_members.display_name(secret) == "Secret"
    assert network_members.public_name(blank) == "blank.example"


def test_listing_by_status_with_positions(db: Database, network: Association) -> None:
    made = [add_member(db, network, status=s) for s in ("active", "pending", "active", "left")]
    with db.read() as session:
        active = network_members.list_members(session, network=network)
        after = network_members.list_members(session, network=network, after=made[0].id)
        everyone = network_members.list_members(session, network=network, status="all", limit=2)
        with pytest.raises(Invalid):
            network_members.list_members(session, network=network, status="gone")
    assert [m.id for m in active] == [made[0].id, made[2].id]
    assert [m.id for m in after] == [made[2].id]
    assert [m.id for m in everyone] == [made[0].id, made[1].id]


# Stored reports and their category rows


def test_category_rows_follow_the_report(db: Database, network: Association) -> None:
    member = add_member(db, network)
    report = add_report(
        db,
        network,
        member,
        "2024-03",
        minutes=600,
        volunteers=12,
        categories={"formation": 400, "unknown-key": 50, "other": 150},
    )
    assert category_rows(db, report) == {"formation": 400, "other": 200}
    with db.write() as session:
        fresh = session.get(ReceivedReport, report.id)
        assert fresh is not None
        fresh.proof_status = "invalid signature"
        save_report(session, fresh)
    assert category_rows(db, report) == {}
    with db.write() as session:
        fresh = session.get(ReceivedReport, report.id)
        assert fresh is not None
        fresh.proof_status = "verified"
        fresh.categories = '{"logistique": 600}'
        save_report(session, fresh)
    assert category_rows(db, report) == {"logistique": 600}
    with db.write() as session:
        fresh = session.get(ReceivedReport, report.id)
        assert fresh is not None
        fresh.deleted = True
        save_report(session, fresh)
    assert category_rows(db, report) == {}


def test_totals_only_reports_have_no_category_rows(db: Database, network: Association) -> None:
    member = add_member(db, network)
    report = add_report(db, network, member, "2024-03", minutes=90, categories={"formation": 90})
    assert report.volunteers is None
    assert category_rows(db, report) == {}


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '{"a": "12"}', '{"a": -5}', '{"a": true}', '{"a": 1.5}', ""]
)
def test_odd_category_columns_read_as_empty(raw: str) -> None:
    report = ReceivedReport(
        object_id="x",
        network_id=1,
        issuer_uri="x",
        month="2024-01",
        categories=raw,
        updated=ReceivedReport.model_fields["received_at"].default_factory(),  # type: ignore[misc]
        body="{}",
    )
    assert categories_of(report) == {}


def test_deleting_the_network_takes_everything(
    db: Database, network: Association, owner: User
) -> None:
    member = add_member(db, network)
    add_report(
        db, network, member, "2024-01", minutes=10, volunteers=6, categories={"formation": 10}
    )
    with db.write() as session:
        fresh = associations.get_by_slug(session, network.slug)
        associations.delete_association(session, association=fresh, by=owner)
    with db.read() as session:
        assert session.exec(select(ReceivedReport)).all() == []
        assert session.exec(select(ReceivedReportCategory)).all() == []
        assert session.exec(select(ReferenceCategory)).all() == []
