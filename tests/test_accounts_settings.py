"""My account pages: profile, password change, export and deletion."""

import json

import httpx
from sqlmodel import select

from schema.db import Database
from schema.tables import Association, Handle, Membership, User
from tests.conftest import SentMail
from tests.factories import (
    PASSWORD,
    log_in,
    make_association,
    make_membership,
    make_user,
    post_form,
)

NEW_PASSWORD = "another good secret"


async def test_pages_need_a_login(client: httpx.AsyncClient) -> None:
    for path in ("/account", "/account/password", "/account/export", "/account/delete"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"


async def test_profile_and_language(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db, language="fr", display_name="Avant")
    await log_in(client, user)
    page = await client.get("/account")
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    assert user.username in page.text and user.email in page.text
    saved = await post_form(client, "/account", {"display_name": "  Après ", "language": "en"})
    assert saved.status_code == 303 and saved.headers["location"] == "/account"
    after = await client.get("/account")
    # The message was written while the page was still in French.
    assert '<html lang="en">' in after.text and 'class="flash flash-success"' in after.text
    assert 'value="Après"' in after.text
    with db.read() as session:
        row = session.get(User, user.id)
    assert row is not None and (row.display_name, row.language) == ("Après", "en")

    bad = await post_form(client, "/account", {"display_name": "x" * 101, "language": "xx"})
    assert bad.status_code == 422 and 'id="e-language"' in bad.text


async def test_password_change_ends_other_sessions(
    client: httpx.AsyncClient,
    make_client,
    db: Database,
    mail: SentMail,  # type: ignore[no-untyped-def]
) -> None:
    user = make_user(db)
    other = make_client()
    await log_in(client, user)
    await log_in(other, user)
    assert (await other.get("/account")).status_code == 200

    wrong = await post_form(
        client,
        "/account/password",
        {"current": "not it", "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
    )
    assert wrong.status_code == 422 and "This is not your current password." in wrong.text
    mismatch = await post_form(
        client,
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirmation": "other"},
    )
    assert mismatch.status_code == 422 and 'id="e-confirmation"' in mismatch.text
    assert mail.messages == []

    done = await post_form(
        client,
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert (await client.get("/account")).status_code == 200
    dead = await other.get("/account")
    assert dead.status_code == 303 and dead.headers["location"].startswith("/login")
    message = mail.last_to(user.email)
    assert message["Subject"] == "Your password was changed on Benefed"
    assert "http://testserver/password/reset" in mail.body(message)
    await log_in(make_client(), user, NEW_PASSWORD)


async def test_export_is_a_json_download(client: httpx.AsyncClient, db: Database) -> None:
    user = make_user(db, display_name="Léa")
    owner = make_user(db)
    mine = make_association(db, user, name="Jardin")
    theirs = make_association(db, owner, name="Chorale")
    make_membership(db, theirs, user, role="manager", perm_view_actions=True)
    await log_in(client, user)
    response = await client.get("/account/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"benefed-{user.username}.json" in disposition
    data = json.loads(response.content)
    assert data["profile"]["display_name"] == "Léa" and data["profile"]["email"] == user.email
    roles = {m["association"]["slug"]: m["role"] for m in data["memberships"]}
    assert roles == {mine.slug: "owner", theirs.slug: "manager"}
    chorale = next(m for m in data["memberships"] if m["association"]["name"] == "Chorale")
    assert chorale["status"] == "active" and chorale["permissions"]["view_actions"] is True
    assert chorale["created_at"]


async def test_the_only_owner_is_asked_to_hand_over(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = make_user(db)
    association = make_association(db, user, name="Les <b>Amis</b>")
    make_membership(db, association, make_user(db))
    await log_in(client, user)
    page = await client.get("/account/delete")
    assert page.status_code == 200
    assert "You are the only owner of these associations" in page.text
    assert f'href="/associations/{association.slug}/members"' in page.text
    assert "Les &lt;b&gt;Amis&lt;/b&gt;" in page.text
    assert 'name="password"' not in page.text
    refused = await post_form(client, "/account/delete", {"password": PASSWORD})
    assert refused.status_code == 409
    with db.read() as session:
        assert session.get(User, user.id) is not None


async def test_deleting_my_account(
    client: httpx.AsyncClient,
    make_client,
    db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = make_user(db, username="leaving")
    owner = make_user(db)
    alone = make_association(db, user, name="Solo")
    shared = make_association(db, owner, name="Ensemble")
    kept = make_membership(db, shared, user)
    await log_in(client, user)
    page = await client.get("/account/delete")
    assert "They will be archived" in page.text and "Solo" in page.text

    wrong = await post_form(client, "/account/delete", {"password": "wrong"})
    assert wrong.status_code == 422 and 'id="e-password"' in wrong.text
    done = await post_form(client, "/account/delete", {"password": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/"
    home = await client.get("/")
    assert "Your account is deleted." in home.text and "Solo is archived." in home.text
    assert (await client.get("/account")).status_code == 303

    with db.read() as session:
        assert session.get(User, user.id) is None
        assert session.get(Handle, "leaving") is not None
        row = session.get(Membership, kept.id)
        solo = session.get(Association, alone.id)
        orphans = session.exec(
            select(Membership).where(Membership.association_id == alone.id)
        ).all()
    assert row is not None and (row.user_id, row.status, row.label) == (None, "left", "")
    assert solo is not None and solo.is_archived
    assert [m.status for m in orphans] == ["left"]
    retry = await post_form(make_client(), "/login", {"login": "leaving", "password": PASSWORD})
    assert retry.status_code == 422
