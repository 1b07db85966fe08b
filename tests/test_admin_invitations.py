"""Admin pages: inviting people to the instance when sign-up is by invitation."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from instance.config import Config
from instance.secrets import new_token, token_hash
from schema.db import Database
from schema.tables import Invitation
from schema.tables._base import utcnow
from tests.conftest import SentMail, make_config
from tests.factories import make_association, make_user
from tests.test_admin_pages import admin_client, press


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[SentMail, int]) -> Config:
    """An instance where people sign up only when invited."""
    return make_config(tmp_path, email={"smtp_port": smtp[1]}, registration="invitation")


def invitations(db: Database) -> list[Invitation]:
    with db.read() as session:
        return list(session.exec(select(Invitation).order_by(Invitation.id)))  # type: ignore[arg-type]


async def test_invitation_is_mailed_listed_and_cancelled(
    client: httpx.AsyncClient, config: Config, db: Database, mail: SentMail
) -> None:
    admin = await admin_client(client, db)
    response = await press(
        client, "/admin/invitations", "/admin/invitations", email="  New.Person@Example.org "
    )
    assert response.status_code == 303
    message = mail.last_to("new.person@example.org")
    link = mail.link_in(message)
    assert link.startswith("/signup?invitation=")
    assert f"{config.base_url}/signup?invitation=" in mail.body(message)
    token = parse_qs(urlsplit(link).query)["invitation"][0]
    (stored,) = invitations(db)
    assert stored.token_hash == token_hash(token) and token not in stored.token_hash
    assert stored.association_id is None and stored.invited_by_id == admin.id
    assert stored.email == "new.person@example.org" and stored.used_at is None
    assert abs(stored.expires_at - (utcnow() + timedelta(days=14))) < timedelta(minutes=2)

    page = await client.get("/admin/invitations")
    assert "The invitation is sent to new.person@example.org." in page.text
    assert f'id="invitation-{stored.id}"' in page.text

    cancelled = await press(client, f"/admin/invitations/{stored.id}/cancel", "/admin/invitations")
    assert cancelled.status_code == 303
    assert invitations(db) == []
    again = await press(client, f"/admin/invitations/{stored.id}/cancel", "/admin/invitations")
    assert again.status_code == 404


async def test_inviting_again_replaces_the_old_link(
    client: httpx.AsyncClient, config: Config, db: Database, mail: SentMail
) -> None:
    await admin_client(client, db)
    for _round in range(2):
        response = await press(
            client, "/admin/invitations", "/admin/invitations", email="twice@example.org"
        )
        assert response.status_code == 303
    first, second = mail.to("twice@example.org")
    assert mail.link_in(first) != mail.link_in(second)
    (stored,) = invitations(db)
    token = parse_qs(urlsplit(mail.link_in(second)).query)["invitation"][0]
    assert stored.token_hash == token_hash(token)


async def test_bad_invitations_re_render_with_messages(
    client: httpx.AsyncClient, config: Config, db: Database, mail: SentMail
) -> None:
    await admin_client(client, db)
    make_user(db, email="taken@example.org")
    for email, text in (
        ("", "Enter an email address."),
        ("not an address", "Enter a valid email address"),
        ("two@@example.org", "Enter a valid email address"),
        ("a" * 250 + "@example.org", "Enter a valid email address"),
        ("TAKEN@example.org", "An account already uses this email address."),
    ):
        response = await press(client, "/admin/invitations", "/admin/invitations", email=email)
        assert response.status_code == 422, email
        assert text in response.text, email
    kept = await press(client, "/admin/invitations", "/admin/invitations", email="oops@")
    assert 'value="oops@"' in kept.text
    assert invitations(db) == [] and mail.messages == []
    odd = await press(client, "/admin/invitations", "/admin/invitations", email="<b>i</b>@x.org")
    assert odd.status_code == 303
    listing = await client.get("/admin/invitations")
    assert "&lt;b&gt;i&lt;/b&gt;@x.org" in listing.text and "<b>i</b>" not in listing.text


async def test_association_invitations_are_not_the_admins_business(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    association = make_association(db, make_user(db))
    with db.write() as session:
        row = Invitation(
            email="member@example.org",
            token_hash=token_hash(new_token()),
            association_id=association.id,
            expires_at=utcnow() + timedelta(days=3),
        )
        session.add(row)
        session.flush()
        row_id = row.id
    page = await client.get("/admin/invitations")
    assert "member@example.org" not in page.text
    refused = await press(client, f"/admin/invitations/{row_id}/cancel", "/admin/invitations")
    assert refused.status_code == 404
    assert len(invitations(db)) == 1


async def test_expired_invitations_are_not_listed(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    with db.write() as session:
        session.add(
            Invitation(
                email="late@example.org",
                token_hash=token_hash(new_token()),
                created_at=utcnow() - timedelta(days=20),
                expires_at=utcnow() - timedelta(days=6),
            )
        )
    page = await client.get("/admin/invitations")
    assert "late@example.org" not in page.text and "No invitation is waiting." in page.text
