"""Account pages: sign-up with the real SMTP server, confirmation, login, logout, reset."""

import dataclasses
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from instance import account_tokens, accounts
from instance.secrets import new_token, token_hash
from schema.db import Database
from schema.tables import Invitation, User
from schema.tables._base import utcnow
from tests.conftest import SentMail
from tests.factories import PASSWORD, log_in, make_user, post_form
from web.services import Services

NEW_PASSWORD = "a brand new secret"


def signup_data(**overrides: str) -> dict[str, str]:
    data = {
        "username": "marie",
        "email": "marie@example.org",
        "display_name": "Marie",
        "password": "long enough",
        "confirmation": "long enough",
        "language": "en",
    }
    data.update(overrides)
    return data


async def login_form(client: httpx.AsyncClient, login: str, password: str, next_path: str = ""):  # type: ignore[no-untyped-def]
    data = {"login": login, "password": password}
    if next_path:
        data["next"] = next_path
    return await post_form(client, "/login", data)


def user_named(db: Database, username: str) -> User:
    with db.read() as session:
        found = accounts.find_by_username(session, username)
    assert found is not None
    return found


def set_registration(services: Services, mode: str) -> None:
    services.config = dataclasses.replace(services.config, registration=mode)


async def test_sign_up_confirm_by_mail_then_log_in(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    response = await post_form(client, "/signup", signup_data())
    assert response.status_code == 303 and response.headers["location"] == "/signup/sent"
    sent = await client.get("/signup/sent")
    assert "We sent an email to marie@example.org." in sent.text

    message = mail.last_to("marie@example.org")
    assert message["Subject"] == "Confirm your email address on Benefed"
    assert "http://testserver/confirm/" in mail.body(message)
    assert "Your user name is: marie" in mail.body(message)
    link = mail.link_in(message)
    assert link.startswith("/confirm/")

    early = await login_form(client, "marie", "long enough")
    assert early.status_code == 403
    assert "Confirm your email address first" in early.text
    assert 'href="/confirm/resend"' in early.text

    confirmed = await client.get(link)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/login"
    assert "You can log in now" in (await client.get("/login")).text
    assert user_named(db, "marie").email_confirmed

    logged = await login_form(client, "marie@example.org", "long enough")
    assert logged.status_code == 303 and logged.headers["location"] == "/dashboard"
    page = await client.get("/account")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert user_named(db, "marie").last_login_at is not None

    again = await client.get(link)
    assert again.status_code == 404 and "already used" in again.text


async def test_sign_up_keeps_where_the_person_was_going(
    client: httpx.AsyncClient, mail: SentMail
) -> None:
    await client.get("/signup?next=/associations/jardin")
    response = await post_form(
        client, "/signup", {**signup_data(), "next": "/associations/jardin"}, page="/signup"
    )
    assert response.status_code == 303
    link = mail.link_in(mail.last_to("marie@example.org"))
    assert link.endswith("?next=/associations/jardin")
    confirmed = await client.get(link)
    assert confirmed.headers["location"] == "/login?next=/associations/jardin"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"username": "taken"}, "username", "This name is already taken."),
        ({"email": "TAKEN@example.org"}, "email", "An account already uses this email address."),
        ({"username": "admin"}, "username", "This name is reserved."),
        ({"username": "Jean Dupont"}, "username", "Use 1 to 64 lower-case letters"),
        ({"email": "marie-at-example.org"}, "email", "Enter a valid email address"),
        ({"email": ""}, "email", "Enter an email address."),
        ({"password": "short", "confirmation": "short"}, "password", "Use at least 8 characters."),
        ({"confirmation": "something else"}, "confirmation", "The two passwords are not the same."),
        ({"display_name": "x" * 101}, "display_name", "Use at most 100 characters."),
        ({"language": "de"}, "language", "Choose a language from the list."),
    ],
)
async def test_sign_up_refusals_keep_the_typed_values(
    client: httpx.AsyncClient,
    db: Database,
    mail: SentMail,
    overrides: dict[str, str],
    field: str,
    message: str,
) -> None:
    make_user(db, username="taken", email="taken@example.org")
    data = signup_data(**overrides)
    response = await post_form(client, "/signup", data)
    assert response.status_code == 422
    assert f'id="e-{field}"' in response.text and message in response.text
    assert 'aria-invalid="true"' in response.text
    if field != "username":
        assert f'value="{data["username"]}"' in response.text
    assert "long enough" not in response.text
    assert mail.messages == []
    with db.read() as session:
        assert accounts.count_users(session) == 1


async def test_html_in_names_comes_back_escaped(client: httpx.AsyncClient, db: Database) -> None:
    evil = "<script>alert(1)</script>"
    bad = await post_form(client, "/signup", signup_data(username=evil, display_name=evil))
    assert bad.status_code == 422
    assert evil not in bad.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in bad.text
    user = make_user(db, display_name=evil + "' OR 1=1 --")
    await log_in(client, user)
    page = await client.get("/account")
    assert evil not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#39; OR 1=1 --" in page.text


async def test_closed_registration(
    client: httpx.AsyncClient, services: Services, db: Database, mail: SentMail
) -> None:
    set_registration(services, "closed")
    page = await client.get("/signup")
    assert page.status_code == 200 and "Sign-up is closed on this instance." in page.text
    assert 'name="username"' not in page.text
    token = (await client.get("/login")).text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = await client.post("/signup", data={**signup_data(), "csrf_token": token})
    assert refused.status_code == 403
    with db.read() as session:
        assert accounts.count_users(session) == 0
    assert mail.messages == []


def instance_invitation(db: Database, email: str, days: int = 14) -> str:
    token = new_token()
    with db.write() as session:
        session.add(
            Invitation(
                email=email,
                token_hash=token_hash(token),
                expires_at=utcnow() + timedelta(days=days),
            )
        )
    return token


async def test_invitation_only_registration(
    client: httpx.AsyncClient,
    make_client,
    services: Services,
    db: Database,
    mail: SentMail,  # type: ignore[no-untyped-def]
) -> None:
    set_registration(services, "invitation")
    without = await client.get("/signup")
    assert "Sign-up is by invitation only" in without.text
    refused = await post_form(client, "/signup", signup_data(), page="/login")
    assert refused.status_code == 403

    expired = instance_invitation(db, "late@example.org", days=-1)
    late = await client.get(f"/signup?invitation={expired}")
    assert "This invitation has expired" in late.text

    token = instance_invitation(db, "invited@example.org")
    page = await client.get(f"/signup?invitation={token}")
    assert "invited@example.org" in page.text and 'name="email"' not in page.text
    data = {**signup_data(email="someone.else@example.org"), "invitation": token}
    response = await post_form(client, "/signup", data, page=f"/signup?invitation={token}")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    created = user_named(db, "marie")
    assert created.email == "invited@example.org" and created.email_confirmed
    assert (await client.get("/account")).status_code == 200
    with db.read() as session:
        assert (
            session.exec(select(Invitation).where(Invitation.email == "invited@example.org"))
            .one()
            .used_at
        )
    assert mail.messages == []

    reused = await post_form(
        make_client(),
        "/signup",
        {**signup_data(username="twice"), "invitation": token},
        page="/login",
    )
    assert reused.status_code == 403 and "already used" in reused.text


async def test_confirmation_links_expire(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db, email_confirmed=False)
    with db.write() as session:
        token = account_tokens.issue_email_token(
            session, user=user, purpose="confirm", now=utcnow() - timedelta(days=4)
        )
    response = await client.get(f"/confirm/{token}")
    assert response.status_code == 404 and "This link has expired" in response.text
    assert 'href="/confirm/resend"' in response.text
    assert (await client.get("/confirm/not-a-token")).status_code == 404


async def test_resend_never_tells_who_is_registered(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    make_user(db, email="waiting@example.org", email_confirmed=False)
    make_user(db, email="done@example.org")
    answers = []
    for email in ("waiting@example.org", "done@example.org", "nobody@example.org"):
        response = await post_form(client, "/confirm/resend", {"email": email})
        assert response.status_code == 200
        answers.append(response.text.split("<main")[1].split("</main>")[0])
    assert answers[0] == answers[1] == answers[2]
    assert [m["To"] for m in mail.messages] == ["waiting@example.org"]
    follow = await client.get(mail.link_in(mail.messages[0]))
    assert follow.status_code == 303
    bad = await post_form(client, "/confirm/resend", {"email": "not an email"})
    assert bad.status_code == 422


async def test_login_limit_then_reset_by_mail(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    user = make_user(db, username="paul", email="paul@example.org")
    for _attempt in range(5):
        failed = await login_form(client, "paul", "wrong password")
        assert failed.status_code == 422
        assert "Wrong user name, email or password." in failed.text
    blocked = await login_form(client, "paul", PASSWORD)
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert (await client.get("/account")).status_code == 303

    asked = await post_form(client, "/password/reset", {"email": "PAUL@example.org"})
    assert asked.status_code == 200 and "Check your mailbox" in asked.text
    link = mail.link_in(mail.last_to("paul@example.org"))
    assert link.startswith("/password/reset/")
    form = await client.get(link)
    assert form.status_code == 200
    mismatch = await post_form(client, link, {"password": NEW_PASSWORD, "confirmation": "no"})
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    done = await post_form(client, link, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    assert (await client.get("/account")).status_code == 200
    assert mail.last_to("paul@example.org")["Subject"] == "Your password was changed on Benefed"
    assert (await client.get(link)).status_code == 404

    await post_form(client, "/logout", {}, page="/account")
    await log_in(client, user, NEW_PASSWORD)


async def test_success_resets_the_failed_count(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    for _round in range(2):
        for _attempt in range(4):
            assert (await login_form(client, user.username, "nope")).status_code == 422
        await log_in(client, user)
        await post_form(client, "/logout", {}, page="/account")


async def test_reset_request_is_the_same_for_unknown_addresses(
    client: httpx.AsyncClient, db: Database, mail: SentMail
) -> None:
    make_user(db, email="known@example.org")
    known = await post_form(client, "/password/reset", {"email": "known@example.org"})
    unknown = await post_form(client, "/password/reset", {"email": "unknown@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.split("<main")[1] == unknown.text.split("<main")[1]
    assert [m["To"] for m in mail.messages] == ["known@example.org"]
    assert (await post_form(client, "/password/reset", {"email": ""})).status_code == 422


async def test_reset_links_expire(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    with db.write() as session:
        token = account_tokens.issue_email_token(
            session, user=user, purpose="reset", now=utcnow() - timedelta(days=3, minutes=1)
        )
    page = await client.get(f"/password/reset/{token}")
    assert page.status_code == 404 and 'href="/password/reset"' in page.text
    posted = await post_form(
        client,
        f"/password/reset/{token}",
        {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
        page="/login",
    )
    assert posted.status_code == 404


async def test_suspended_accounts_cannot_log_in(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    with db.write() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.is_suspended = True
    response = await login_form(client, user.username, PASSWORD)
    assert response.status_code == 403 and "This account is suspended." in response.text
    wrong = await login_form(client, user.username, "wrong password")
    assert wrong.status_code == 422 and "suspended" not in wrong.text


@pytest.mark.parametrize(
    ("next_path", "expected"),
    [
        ("//evil.example", "/dashboard"),
        ("https://evil.example", "/dashboard"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("evil.example", "/dashboard"),
        ("", "/dashboard"),
        ("/associations/jardin?tab=1", "/associations/jardin?tab=1"),
    ],
)
async def test_next_stays_on_this_site(
    client: httpx.AsyncClient, db: Database, next_path: str, expected: str
) -> None:
    user = make_user(db)
    response = await login_form(client, user.username, PASSWORD, next_path)
    assert response.status_code == 303 and response.headers["location"] == expected


async def test_next_from_the_query_and_backslashes(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    page = await client.get("/login?next=/account")
    assert 'name="next" value="/account"' in page.text
    response = await login_form(client, user.username, PASSWORD, "/\\evil.example")
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))


async def test_forms_without_csrf_are_refused(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    await client.get("/login")
    for path, data in (
        ("/login", {"login": user.username, "password": PASSWORD}),
        ("/signup", signup_data()),
        ("/confirm/resend", {"email": user.email}),
        ("/password/reset", {"email": user.email}),
        ("/logout", {}),
    ):
        response = await client.post(path, data=data)
        assert response.status_code == 403, path
    assert (await client.get("/account")).status_code == 303


async def test_logout_ends_the_session(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db)
    await log_in(client, user)
    response = await post_form(client, "/logout", {}, page="/account")
    assert response.status_code == 303 and response.headers["location"] == "/"
    account = await client.get("/account")
    assert account.status_code == 303 and account.headers["location"] == "/login?next=/account"


async def test_signed_in_people_skip_login_and_signup(
    client: httpx.AsyncClient, db: Database
) -> None:
    await log_in(client, make_user(db))
    for path in ("/login", "/signup"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard"
