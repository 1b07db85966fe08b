"""Accounts in the domain layer: sign-up rules, credentials, links, export and deletion."""

import subprocess
import sys
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from instance import account_data, account_mails, account_tokens, accounts, passwords
from instance.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from instance.ratelimit import RateLimiter
from instance.secrets import new_token, token_hash
from schema.db import Database
from schema.tables import ApiToken, Association, Handle, Invitation, Membership, User
from schema.tables._base import utcnow
from tests.factories import PASSWORD, make_association, make_membership, make_user


def sign_up(db: Database, **overrides: object) -> User:
    values: dict[str, object] = {
        "registration": "open",
        "username": "marie",
        "email": "marie@example.org",
        "password": "long enough",
        "confirmation": "long enough",
    }
    values.update(overrides)
    with db.write() as session:
        return accounts.sign_up(session, **values)  # type: ignore[arg-type]


def invitation(
    db: Database, email: str, *, days: int = 14, association_id: int | None = None
) -> str:
    token = new_token()
    with db.write() as session:
        session.add(
            Invitation(
                email=email,
                token_hash=token_hash(token),
                association_id=association_id,
                expires_at=utcnow() + timedelta(days=days),
            )
        )
    return token


def test_sign_up_reports_every_field_at_once(db: Database) -> None:
    with pytest.raises(Invalid) as caught:
        sign_up(
            db,
            username="Bad Name!",
            email="not-an-email",
            password="short",
            confirmation="other",
            display_name="x" * 101,
            language="de",
        )
    assert set(caught.value.errors) == {
        "username",
        "email",
        "password",
        "confirmation",
        "display_name",
        "language",
    }
    with db.read() as session:
        assert accounts.count_users(session) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "admin"),
        ("username", ""),
        ("username", "-dash"),
        ("username", "a" * 65),
        ("username", "<script>"),
        ("email", ""),
        ("email", "a@b"),
        ("email", "a b@example.org"),
        ("email", "x" * 250 + "@example.org"),
        ("password", "1234567"),
        ("password", "x" * (passwords.MAX_LENGTH + 1)),
        ("display_name", "bad\u0000name"),
        ("display_name", "right\u202eto-left"),
    ],
)
def test_bad_values_are_refused(db: Database, field: str, value: str) -> None:
    overrides: dict[str, str] = {field: value}
    if field == "password":
        overrides["confirmation"] = value
    with pytest.raises(Invalid) as caught:
        sign_up(db, **overrides)
    assert field in caught.value.errors


def test_names_are_shared_with_associations_and_never_reused(db: Database) -> None:
    owner = make_user(db, username="owner")
    make_association(db, owner, name="Les Amis", slug="les-amis")
    with pytest.raises(Invalid) as caught:
        sign_up(db, username="les-amis")
    assert caught.value.errors == {"username": "This name is already taken."}
    with pytest.raises(Invalid) as caught:
        sign_up(db, username="OWNER", email="other@example.org")
    assert "username" in caught.value.errors


def test_duplicate_email_ignores_case(db: Database) -> None:
    make_user(db, email="marie@example.org")
    with pytest.raises(Invalid) as caught:
        sign_up(db, email="  MARIE@Example.org ")
    assert caught.value.errors == {"email": "An account already uses this email address."}


def test_open_sign_up_makes_an_unconfirmed_account(db: Database) -> None:
    user = sign_up(db, username="  Marie_2 ", display_name="  Marie  ", language="en")
    assert user.username == "marie_2" and user.display_name == "Marie"
    assert not user.email_confirmed and user.language == "en"
    assert passwords.check_password(user.password_hash, "long enough")
    with db.read() as session:
        assert session.get(Handle, "marie_2") is not None


def test_closed_and_invitation_rules(db: Database) -> None:
    with pytest.raises(Forbidden):
        sign_up(db, registration="closed")
    with pytest.raises(Forbidden):
        sign_up(db, registration="invitation")
    with pytest.raises(NotFound):
        sign_up(db, registration="invitation", invitation_token="made-up")


def test_invitation_gives_its_address_and_is_used_once(db: Database) -> None:
    token = invitation(db, "invited@example.org")
    with pytest.raises(Invalid) as caught:
        sign_up(db, registration="invitation", invitation_token=token)
    assert caught.value.errors == {"email": "Use the address the invitation was sent to."}
    user = sign_up(db, registration="invitation", invitation_token=token, email="")
    assert user.email == "invited@example.org" and user.email_confirmed
    with db.read() as session:
        stored = session.exec(select(Invitation)).one()
    assert stored.used_at is not None
    with pytest.raises(NotFound):
        sign_up(db, registration="invitation", invitation_token=token, username="again", email="")


def test_expired_and_association_invitations_do_not_open_sign_up(db: Database) -> None:
    expired = invitation(db, "late@example.org", days=-1)
    with pytest.raises(NotFound, match="expired"):
        sign_up(db, registration="invitation", invitation_token=expired, email="")
    owner = make_user(db)
    association = make_association(db, owner)
    to_join = invitation(db, "join@example.org", association_id=association.id)
    with pytest.raises(NotFound):
        sign_up(db, registration="invitation", invitation_token=to_join, email="")


def check(db: Database, limiter: RateLimiter, login: str, password: str) -> User:
    with db.read() as session:
        return accounts.check_credentials(
            session, login=login, password=password, limiter=limiter, address="192.0.2.1"
        )


def test_credentials_by_name_or_email(db: Database) -> None:
    user = make_user(db, username="paul", email="paul@example.org")
    limiter = RateLimiter(5, 60)
    assert check(db, limiter, " PAUL ", PASSWORD).id == user.id
    assert check(db, limiter, "Paul@Example.org", PASSWORD).id == user.id
    with pytest.raises(accounts.BadCredentials):
        check(db, limiter, "paul", "wrong password")
    with pytest.raises(accounts.BadCredentials):
        check(db, limiter, "", "")


def test_unknown_accounts_cost_a_dummy_check(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = passwords.check_password

    def spy(password_hash: str, password: str) -> bool:
        seen.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "check_password", spy)
    with pytest.raises(accounts.BadCredentials) as caught:
        check(db, RateLimiter(5, 60), "nobody", "whatever")
    assert seen == [passwords.dummy_hash()]
    assert str(caught.value) == "Wrong user name, email or password."


def test_limit_stops_checking_then_resets(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    anne = make_user(db, username="anne")
    limiter = RateLimiter(3, 60)
    for _attempt in range(3):
        with pytest.raises(accounts.BadCredentials):
            check(db, limiter, "anne", "wrong password")
    calls: list[str] = []
    monkeypatch.setattr(passwords, "check_password", lambda h, p: calls.append(p) or True)
    with pytest.raises(RateLimited):
        check(db, limiter, "anne", PASSWORD)
    assert calls == []
    # The address is blocked too, whatever the name tried.
    with pytest.raises(RateLimited):
        check(db, limiter, "someone-else", PASSWORD)
    monkeypatch.undo()
    for key in accounts.login_keys("", "192.0.2.1", anne):
        limiter.reset(key)
    assert check(db, limiter, "anne", PASSWORD).username == "anne"


def test_suspended_and_unconfirmed_need_the_right_password_first(db: Database) -> None:
    make_user(db, username="susp", is_admin=False)
    with db.write() as session:
        row = accounts.find_by_username(session, "susp")
        assert row is not None
        row.is_suspended = True
    make_user(db, username="fresh", email_confirmed=False)
    limiter = RateLimiter(5, 60)
    with pytest.raises(accounts.BadCredentials):
        check(db, limiter, "susp", "wrong password")
    with pytest.raises(accounts.Suspended):
        check(db, limiter, "susp", PASSWORD)
    with pytest.raises(accounts.NotConfirmed):
        check(db, limiter, "fresh", PASSWORD)


def test_login_rehashes_outdated_hashes(db: Database) -> None:
    user = make_user(db)
    # Other parameters than the current ones (the suite's, see conftest): outdated.
    weak = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    with db.write() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.password_hash = weak
    with db.write() as session:
        updated = accounts.record_login(session, user=user, password=PASSWORD)
    assert updated.password_hash != weak and not passwords.needs_rehash(updated.password_hash)
    assert updated.last_login_at is not None


def test_production_hashes_are_argon2id_at_the_recommended_cost() -> None:
    """The suite hashes cheaply (conftest); a fresh process hashes at argon2-cffi's
    defaults, RFC 9106's second recommended setting."""
    code = "from instance.passwords import hash_password, dummy_hash; print(hash_password('x' * 8)); print(dummy_hash())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    made, dummy = done.stdout.split()
    for found in (made, dummy):
        assert found.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), found
    assert PasswordHasher().verify(made, "x" * 8)


def test_email_links_expire_and_work_once(db: Database) -> None:
    user = make_user(db, email_confirmed=False)
    with db.write() as session:
        old = account_tokens.issue_email_token(
            session, user=user, purpose="confirm", now=utcnow() - timedelta(days=3, seconds=1)
        )
        first = account_tokens.issue_email_token(session, user=user, purpose="confirm")
        second = account_tokens.issue_email_token(session, user=user, purpose="confirm")
        reset = account_tokens.issue_email_token(session, user=user, purpose="reset")
    with db.write() as session, pytest.raises(NotFound, match="expired"):
        account_tokens.confirm_email(session, token=old)
    with db.write() as session, pytest.raises(NotFound):
        account_tokens.confirm_email(session, token=reset)
    with db.write() as session:
        assert account_tokens.confirm_email(session, token=first).email_confirmed
    for used in (first, second, "", "x" * 500):
        with db.write() as session, pytest.raises(NotFound):
            account_tokens.confirm_email(session, token=used)
    with db.read() as session:
        assert account_tokens.peek_email_token(session, token=reset, purpose="reset").id == user.id


def test_reset_keeps_the_link_on_bad_input_and_revokes_api_tokens(db: Database) -> None:
    user = make_user(db, email_confirmed=False)
    with db.write() as session:
        token = account_tokens.issue_email_token(session, user=user, purpose="reset")
        account_tokens.create_api_token(session, user=user, label="phone")
    with db.write() as session, pytest.raises(Invalid) as caught:
        account_tokens.reset_password(session, token=token, password="new secret", confirmation="x")
    assert caught.value.errors == {"confirmation": "The two passwords are not the same."}
    with db.write() as session:
        done = account_tokens.reset_password(
            session, token=token, password="new secret", confirmation="new secret"
        )
    assert done.email_confirmed and passwords.check_password(done.password_hash, "new secret")
    with db.read() as session:
        assert session.exec(select(ApiToken)).all() == []
    with db.write() as session, pytest.raises(NotFound):
        account_tokens.reset_password(
            session, token=token, password="again secret", confirmation="again secret"
        )


def test_change_password_checks_the_current_one(db: Database) -> None:
    user = make_user(db)
    limiter = RateLimiter(2, 60)
    with db.write() as session, pytest.raises(Invalid) as caught:
        accounts.change_password(
            session,
            user=user,
            current="nope",
            password="a new one",
            confirmation="a new one",
            limiter=limiter,
        )
    assert set(caught.value.errors) == {"current"}
    with db.write() as session, pytest.raises(Invalid) as caught:
        accounts.change_password(
            session, user=user, current=PASSWORD, password="short", confirmation="short"
        )
    assert set(caught.value.errors) == {"password"}
    with db.write() as session, pytest.raises(Invalid):
        accounts.change_password(
            session,
            user=user,
            current="nope",
            password="a new one",
            confirmation="a new one",
            limiter=limiter,
        )
    with db.write() as session, pytest.raises(RateLimited):
        accounts.change_password(
            session,
            user=user,
            current=PASSWORD,
            password="a new one",
            confirmation="a new one",
            limiter=limiter,
        )


def test_profile_updates(db: Database) -> None:
    user = make_user(db)
    with db.write() as session:
        updated = accounts.update_profile(
            session, user=user, display_name=" <b>Zoé</b> ", language="en", federation_enabled=True
        )
    assert (updated.display_name, updated.language, updated.federation_enabled) == (
        "<b>Zoé</b>",
        "en",
        True,
    )
    with db.write() as session, pytest.raises(Invalid) as caught:
        accounts.update_profile(session, user=user, display_name="x" * 101, language="xx")
    assert set(caught.value.errors) == {"display_name", "language"}


def test_export_lists_profile_and_memberships(db: Database) -> None:
    user = make_user(db, display_name="Léa")
    owner = make_user(db)
    mine = make_association(db, user, name="Jardin partagé")
    other = make_association(db, owner, name="Club échecs")
    make_membership(db, other, user, status="pending")
    with db.write() as session:
        account_tokens.create_api_token(session, user=user, label="laptop")
    with db.read() as session:
        data = account_data.export_user_data(session, user)
    assert data["profile"]["username"] == user.username
    assert data["profile"]["display_name"] == "Léa"
    found = {m["association"]["slug"]: m for m in data["memberships"]}
    assert found[mine.slug]["role"] == "owner" and found[mine.slug]["status"] == "active"
    assert found[other.slug]["status"] == "pending"
    assert found[other.slug]["association"]["name"] == "Club échecs"
    assert data["api_tokens"][0]["label"] == "laptop"
    assert "password_hash" not in str(data) and user.password_hash not in str(data)


def memberships_of(db: Database, association: Association) -> list[Membership]:
    with db.read() as session:
        query = select(Membership).where(Membership.association_id == association.id)
        return list(session.exec(query))


def test_the_only_owner_with_members_must_hand_over(db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="Asso")
    make_membership(db, association, make_user(db))
    with db.read() as session:
        plan = account_data.deletion_plan(session, owner)
    assert [a.id for a in plan.blocked_by] == [association.id] and not plan.allowed
    with db.write() as session, pytest.raises(Conflict, match="only owner of Asso"):
        account_data.delete_account(session, user=owner, password=PASSWORD)
    with db.read() as session:
        assert session.get(User, owner.id) is not None


def test_a_co_owner_may_leave_by_deleting(db: Database) -> None:
    owner = make_user(db)
    other_owner = make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, other_owner, role="owner")
    with db.write() as session:
        archived = account_data.delete_account(session, user=owner, password=PASSWORD)
    assert archived == []


def test_deletion_keeps_anonymous_memberships_and_the_name(db: Database) -> None:
    user = make_user(db, username="gone")
    owner = make_user(db)
    alone = make_association(db, user, name="Alone")
    shared = make_association(db, owner, name="Shared")
    kept = make_membership(db, shared, user, label="old label")
    with db.write() as session:
        account_tokens.create_api_token(session, user=user)
        account_tokens.issue_email_token(session, user=user, purpose="reset")
    with db.write() as session, pytest.raises(Invalid):
        account_data.delete_account(session, user=user, password="wrong")
    with db.write() as session:
        archived = account_data.delete_account(session, user=user, password=PASSWORD)
    assert [a.name for a in archived] == ["Alone"]
    with db.read() as session:
        assert session.get(User, user.id) is None
        assert session.get(Handle, "gone") is not None
        assert session.get(Association, alone.id).is_archived  # type: ignore[union-attr]
        assert not session.get(Association, shared.id).is_archived  # type: ignore[union-attr]
        row = session.get(Membership, kept.id)
        assert session.exec(select(ApiToken)).all() == []
    assert row is not None
    assert (row.user_id, row.status, row.label) == (None, "left", "")
    assert [m.user_id for m in memberships_of(db, alone)] == [None]
    with pytest.raises(Invalid):
        sign_up(db, username="gone")


def test_the_last_admin_cannot_delete_their_account(db: Database) -> None:
    admin = make_user(db, is_admin=True)
    with db.write() as session, pytest.raises(Conflict, match="only administrator"):
        account_data.delete_account(session, user=admin, password=PASSWORD)
    make_user(db, is_admin=True)
    with db.write() as session:
        account_data.delete_account(session, user=admin, password=PASSWORD)


def test_mails_have_absolute_links_in_the_person_s_language(db: Database) -> None:
    user = make_user(db, language="en", display_name="Zoé")
    mail = account_mails.confirmation_mail(
        user, token="abc", base_url="https://b.example/", site_name="Site", next_path="/x y"
    )
    assert mail.to == user.email
    assert "https://b.example/confirm/abc?next=/x%20y" in mail.body
    assert "Hello Zoé," in mail.body and "Site" in mail.subject
    reset = account_mails.reset_mail(user, token="t", base_url="https://b.example", site_name="S")
    assert "https://b.example/password/reset/t" in reset.body
    changed = account_mails.password_changed_mail(user, base_url="https://b.example", site_name="S")
    assert "https://b.example/password/reset" in changed.body
