"""Memberships in the domain layer: joining, answers, leaving, roles, invitations."""

import pytest

from instance import associations, invitations, membership_mails, memberships
from instance.errors import Conflict, Forbidden, Invalid, NotFound
from instance.i18n import use_language
from schema.db import Database
from schema.tables import Association, Membership, User
from tests.factories import make_association, make_membership, make_user


def join(db: Database, association: Association, user: User, message: str = "") -> Membership:
    with db.write() as session:
        return memberships.join(session, association=association, user=user, message=message)


def reload(db: Database, membership: Membership) -> Membership:
    with db.read() as session:
        found = session.get(Membership, membership.id)
    assert found is not None
    return found


def test_open_join_is_active_moderated_is_pending(db: Database) -> None:
    owner, person = make_user(db), make_user(db)
    open_one = make_association(db, owner)
    moderated = make_association(db, owner, join_policy="moderated")
    assert join(db, open_one, person).status == "active"
    assert join(db, moderated, person, "Hello").status == "pending"


@pytest.mark.parametrize("status", ["active", "pending"])
def test_joining_twice_is_a_conflict(db: Database, status: str) -> None:
    owner, person = make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, person, status=status)
    with pytest.raises(Conflict):
        join(db, association, person)


def test_invitation_only_archived_and_suspended_refuse_joins(db: Database) -> None:
    owner, person = make_user(db), make_user(db)
    invited = make_association(db, owner, join_policy="invitation")
    with pytest.raises(Forbidden):
        join(db, invited, person)
    # Archived: still visible, but closed; suspended: hidden from outsiders.
    for flag, error in (("is_archived", Forbidden), ("is_suspended", NotFound)):
        association = make_association(db, owner)
        with db.write() as session:
            row = session.get(Association, association.id)
            assert row is not None
            setattr(row, flag, True)
        with pytest.raises(error):
            join(db, row, person)


def test_hidden_association_is_not_found_for_a_stranger(db: Database) -> None:
    association = make_association(db, make_user(db), is_hidden=True)
    with pytest.raises(NotFound):
        join(db, association, make_user(db))


def test_too_long_message_is_refused(db: Database) -> None:
    association = make_association(db, make_user(db), join_policy="moderated")
    with pytest.raises(Invalid) as error:
        join(db, association, make_user(db), "x" * 1001)
    assert "message" in error.value.errors


def test_leave_then_rejoin_keeps_the_same_row(db: Database) -> None:
    owner, person = make_user(db), make_user(db)
    association = make_association(db, owner, join_policy="moderated")
    first = join(db, association, person)
    with db.write() as session:
        row = memberships.get_member(session, association=association, member_id=first.id or 0)
        memberships.refuse(session, membership=row, by=owner)
    again = join(db, association, person)
    assert again.id == first.id and again.status == "pending"
    with db.write() as session:
        row = memberships.get_member(session, association=association, member_id=first.id or 0)
        memberships.accept(session, membership=row, by=owner)
        memberships.leave(session, membership=row)
    assert reload(db, first).status == "left"
    third = join(db, association, person)
    assert third.id == first.id and third.status == "pending"


def test_accept_twice_is_a_conflict(db: Database) -> None:
    owner, person = make_user(db), make_user(db)
    association = make_association(db, owner, join_policy="moderated")
    pending = join(db, association, person)
    with db.write() as session:
        row = memberships.get_member(session, association=association, member_id=pending.id or 0)
        memberships.accept(session, membership=row, by=owner)
    with db.write() as session, pytest.raises(Conflict):
        row = memberships.get_member(session, association=association, member_id=pending.id or 0)
        memberships.refuse(session, membership=row, by=owner)


def test_last_owner_cannot_leave_nor_be_demoted(db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    with db.read() as session:
        mine = associations.membership_of(session, association, owner)
    assert mine is not None
    with db.write() as session, pytest.raises(Conflict):
        memberships.leave(session, membership=reload(db, mine))
    with db.write() as session, pytest.raises(Conflict):
        memberships.set_role(session, membership=reload(db, mine), role="manager", by=owner)
    second = make_user(db)
    other = make_membership(db, association, second, role="owner")
    with db.write() as session:
        memberships.leave(session, membership=reload(db, mine))
    assert reload(db, mine).role == "volunteer"
    assert reload(db, other).role == "owner"


def test_manager_without_manage_members_cannot_change_anyone(db: Database) -> None:
    owner, manager, person = make_user(db), make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager", perm_view_actions=True)
    target = make_membership(db, association, person)
    with db.write() as session, pytest.raises(Forbidden):
        memberships.set_role(session, membership=reload(db, target), role="manager", by=manager)
    with db.write() as session, pytest.raises(Forbidden):
        memberships.remove(session, membership=reload(db, target), by=manager)


def test_manager_cannot_grant_what_they_lack_nor_touch_owners(db: Database) -> None:
    owner, manager, person = make_user(db), make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    target = make_membership(db, association, person)
    with db.write() as session, pytest.raises(Forbidden):
        memberships.set_role(
            session,
            membership=reload(db, target),
            role="manager",
            permissions={"manage_settings": True},
            by=manager,
        )
    with db.write() as session, pytest.raises(Forbidden):
        memberships.set_role(session, membership=reload(db, target), role="owner", by=manager)
    with db.read() as session:
        owner_row = associations.membership_of(session, association, owner)
    assert owner_row is not None
    with db.write() as session, pytest.raises(Forbidden):
        memberships.remove(session, membership=reload(db, owner_row), by=manager)
    with db.write() as session:
        changed = memberships.set_role(
            session,
            membership=reload(db, target),
            role="manager",
            permissions={"manage_members": True},
            by=manager,
        )
    assert changed.perm_manage_members and not changed.perm_manage_settings


def test_owner_sets_a_manager_and_volunteer_role_clears_flags(db: Database) -> None:
    owner, person = make_user(db), make_user(db)
    association = make_association(db, owner)
    target = make_membership(db, association, person)
    flags = {"view_actions": True, "edit_actions": True, "manage_settings": True}
    with db.write() as session:
        memberships.set_role(
            session, membership=reload(db, target), role="manager", permissions=flags, by=owner
        )
    row = reload(db, target)
    assert row.perm_view_actions and row.perm_manage_settings and not row.perm_manage_members
    with db.write() as session:
        memberships.set_role(session, membership=reload(db, target), role="volunteer", by=owner)
    row = reload(db, target)
    assert not (row.perm_view_actions or row.perm_manage_settings)
    with db.write() as session, pytest.raises(Invalid):
        memberships.set_role(session, membership=reload(db, target), role="boss", by=owner)
    with db.write() as session, pytest.raises(Invalid):
        memberships.set_role(
            session,
            membership=reload(db, target),
            role="manager",
            permissions={"fly": True},
            by=owner,
        )


def test_member_of_another_association_is_not_found(db: Database) -> None:
    owner = make_user(db)
    first, second = make_association(db, owner), make_association(db, owner)
    row = make_membership(db, second, make_user(db))
    with db.read() as session, pytest.raises(NotFound):
        memberships.get_member(session, association=first, member_id=row.id or 0)


def test_managers_to_mail_are_owners_and_member_managers(db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    able = make_user(db)
    make_membership(db, association, able, role="manager", perm_manage_members=True)
    make_membership(db, association, make_user(db), role="manager", perm_view_actions=True)
    make_membership(db, association, make_user(db), role="owner", status="left")
    with db.read() as session:
        found = membership_mails.member_managers(session, association)
    assert {u.id for u in found} == {owner.id, able.id}


def test_member_names() -> None:
    row = Membership(association_id=1, user_id=None)
    with use_language("en"):
        assert memberships.member_name(row, None) == "Deleted account"
    row.label = "Table de tri"
    assert memberships.member_name(row, None) == "Table de tri"


def test_invitation_lifecycle(db: Database) -> None:
    owner, person = make_user(db), make_user(db, email="guest@example.org")
    association = make_association(db, owner, join_policy="invitation", is_hidden=True)
    with db.write() as session:
        invitation, token = invitations.create_invitation(
            session, association=association, by=owner, email="GUEST@example.org", role="manager"
        )
    assert invitation.email == "guest@example.org"
    assert token not in invitation.token_hash
    with db.write() as session:
        membership = invitations.accept_invitation(session, token=token, user=person)
    assert (membership.status, membership.role) == ("active", "manager")
    with db.write() as session, pytest.raises(NotFound):
        invitations.accept_invitation(session, token=token, user=make_user(db))
    with db.write() as session, pytest.raises(NotFound):
        invitations.accept_invitation(session, token="nonsense", user=person)


def test_invitations_need_manage_members_and_owner_for_owners(db: Database) -> None:
    owner, manager, volunteer = make_user(db), make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    make_membership(db, association, volunteer)
    with db.write() as session, pytest.raises(Forbidden):
        invitations.create_invitation(
            session, association=association, by=volunteer, email="a@example.org"
        )
    with db.write() as session, pytest.raises(Forbidden):
        invitations.create_invitation(
            session, association=association, by=manager, email="a@example.org", role="owner"
        )
    with db.write() as session, pytest.raises(Invalid):
        invitations.create_invitation(
            session, association=association, by=manager, email="not an address"
        )
    with db.write() as session, pytest.raises(Conflict):
        invitations.create_invitation(
            session, association=association, by=manager, email=volunteer.email
        )
