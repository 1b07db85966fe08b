"""Admin pages: site settings, announcements, and invitations on an open instance."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select

from instance.config import Config
from schema.db import Database
from schema.tables import Announcement, Invitation, SiteSetting
from schema.tables._base import utcnow
from tests.conftest import SentMail
from tests.factories import log_in, make_association, make_membership, make_user
from tests.test_admin_pages import admin_client, press


def local_input(moment: datetime, config: Config) -> str:
    """A moment as typed in a datetime-local field, in the instance's zone."""
    return moment.astimezone(config.zone).strftime("%Y-%m-%dT%H:%M")


def announcement_form(config: Config, **overrides: str) -> dict[str, str]:
    values = {
        "title": "Maintenance tonight",
        "body": "The site stops for ten minutes.",
        "audience": "all",
        "starts_at": local_input(utcnow() - timedelta(hours=1), config),
        "ends_at": "",
    }
    values.update(overrides)
    return values


async def test_settings_are_saved_and_shown_escaped(
    client: httpx.AsyncClient, make_client, config: Config, db: Database
) -> None:  # type: ignore[no-untyped-def]
    await admin_client(client, db)
    page = await client.get("/admin/settings")
    assert page.status_code == 200 and 'value="Benefed"' in page.text
    response = await press(
        client,
        "/admin/settings",
        "/admin/settings",
        site_name="Bénévoles <b>du Nord</b>",
        terms="<script>alert('x')</script>\n\nSecond paragraph.",
        legal="Published by Asso & Co.",
        privacy="We keep little.",
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/settings"
    with db.read() as session:
        assert session.get(SiteSetting, "legal").value == "Published by Asso & Co."  # type: ignore[union-attr]

    visitor = make_client()
    terms = await visitor.get("/about/terms")
    assert "<script>alert" not in terms.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in terms.text
    assert "<p>Second paragraph.</p>" in terms.text
    assert "Bénévoles &lt;b&gt;du Nord&lt;/b&gt;" in terms.text and "<b>du Nord" not in terms.text
    assert "Published by Asso &amp; Co." in (await visitor.get("/about/legal")).text
    assert "We keep little." in (await visitor.get("/about/privacy")).text

    emptied = await press(client, "/admin/settings", "/admin/settings", site_name="  ", terms="")
    assert emptied.status_code == 303
    fallback = await visitor.get("/about/terms")
    assert "<title>Terms of use · Benefed</title>" in fallback.text
    assert "has not written this page yet" in fallback.text


async def test_bad_settings_re_render_with_typed_values(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    response = await press(
        client,
        "/admin/settings",
        "/admin/settings",
        site_name="x" * 101,
        terms="My typed terms",
        legal="y" * 100_001,
        privacy="",
    )
    assert response.status_code == 422
    assert "Use at most 100 characters." in response.text
    assert "This text is too long." in response.text
    assert "My typed terms</textarea>" in response.text
    assert 'aria-invalid="true" aria-describedby="e-site_name' in response.text
    with db.read() as session:
        assert session.exec(select(SiteSetting)).all() == []


async def test_announcement_for_everyone(
    client: httpx.AsyncClient, make_client, config: Config, db: Database
) -> None:  # type: ignore[no-untyped-def]
    admin = await admin_client(client, db)
    form = announcement_form(config, title="Fête <b>annuelle</b>")
    response = await press(client, "/admin/announcements", "/admin/announcements", **form)
    assert response.status_code == 303
    with db.read() as session:
        stored = session.exec(select(Announcement)).one()
    assert stored.created_by_id == admin.id and stored.audience == "all"
    assert stored.ends_at is None
    assert abs(stored.starts_at - (utcnow() - timedelta(hours=1))) < timedelta(minutes=2)

    visitor = make_client()
    home = await visitor.get("/")
    assert "Fête &lt;b&gt;annuelle&lt;/b&gt;" in home.text and "<b>annuelle" not in home.text
    assert "The site stops for ten minutes." in home.text
    volunteer = make_client()
    await log_in(volunteer, make_user(db))
    assert "Fête &lt;b&gt;annuelle" in (await volunteer.get("/about/terms")).text
    listing = await client.get("/admin/announcements")
    assert f'id="announcement-{stored.id}"' in listing.text and "For everyone" in listing.text

    deleted = await press(
        client, f"/admin/announcements/{stored.id}/delete", "/admin/announcements"
    )
    assert deleted.status_code == 303
    assert "Fête" not in (await visitor.get("/")).text
    with db.read() as session:
        assert session.exec(select(Announcement)).all() == []


async def test_announcement_for_managers_only(
    client: httpx.AsyncClient, make_client, config: Config, db: Database
) -> None:  # type: ignore[no-untyped-def]
    await admin_client(client, db)
    owner = make_user(db)
    manager = make_user(db)
    volunteer = make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager")
    make_membership(db, association, volunteer)
    form = announcement_form(config, title="Managers: new export", audience="managers")
    assert (
        await press(client, "/admin/announcements", "/admin/announcements", **form)
    ).status_code == 303

    for person, sees in ((owner, True), (manager, True), (volunteer, False)):
        browser = make_client()
        await log_in(browser, person)
        page = await browser.get("/about/terms")
        assert ("Managers: new export" in page.text) is sees, person.username
    assert "Managers: new export" not in (await make_client().get("/")).text
    assert "Managers: new export" in (await client.get("/admin")).text


async def test_announcement_times_use_the_instance_zone(
    client: httpx.AsyncClient, make_client, config: Config, db: Database
) -> None:  # type: ignore[no-untyped-def]
    await admin_client(client, db)
    later = announcement_form(
        config, title="Later", starts_at="2099-07-01T10:00", ends_at="2099-07-02 18:30"
    )
    assert (
        await press(client, "/admin/announcements", "/admin/announcements", **later)
    ).status_code == 303
    past = announcement_form(
        config,
        title="Over",
        starts_at=local_input(utcnow() - timedelta(days=3), config),
        ends_at=local_input(utcnow() - timedelta(days=1), config),
    )
    assert (
        await press(client, "/admin/announcements", "/admin/announcements", **past)
    ).status_code == 303
    with db.read() as session:
        stored = session.exec(select(Announcement).where(Announcement.title == "Later")).one()
    # Europe/Paris is UTC+2 in July.
    assert stored.starts_at == datetime(2099, 7, 1, 8, 0, tzinfo=UTC)
    assert stored.ends_at == datetime(2099, 7, 2, 16, 30, tzinfo=UTC)
    listing = await client.get("/admin/announcements")
    assert "From 2099-07-01 10:00" in listing.text and "until 2099-07-02 18:30" in listing.text
    home = await make_client().get("/")
    assert "Later" not in home.text and "Over" not in home.text


async def test_bad_announcements_re_render_with_messages(
    client: httpx.AsyncClient, config: Config, db: Database
) -> None:
    await admin_client(client, db)
    cases = [
        ({"title": ""}, "Enter a title."),
        ({"title": "t" * 201}, "Use at most 200 characters."),
        ({"body": "b" * 5001}, "Use at most 5000 characters."),
        ({"audience": "everyone"}, "Choose everyone or managers."),
        ({"starts_at": ""}, "Enter when the announcement starts."),
        ({"starts_at": "tomorrow"}, "Enter a date and time, like 2025-03-01 14:30."),
        ({"starts_at": "2025-02-30T10:00"}, "Enter a date and time"),
        ({"ends_at": "31/12/2099"}, "Enter a date and time"),
        (
            {"starts_at": "2099-01-02T10:00", "ends_at": "2099-01-01T10:00"},
            "The end must come after the start.",
        ),
    ]
    for change, message in cases:
        form = announcement_form(config, **{"title": "Typed <title>", **change})
        response = await press(client, "/admin/announcements", "/admin/announcements", **form)
        assert response.status_code == 422, change
        assert message in response.text, change
        if "title" not in change:
            assert 'value="Typed &lt;title&gt;"' in response.text
    with db.read() as session:
        assert session.exec(select(Announcement)).all() == []


async def test_no_invitations_when_sign_up_is_open(
    client: httpx.AsyncClient, config: Config, db: Database, mail: SentMail
) -> None:
    assert config.registration == "open"
    await admin_client(client, db)
    page = await client.get("/admin/invitations")
    assert page.status_code == 200
    assert "invitations are not needed" in page.text and 'name="email"' not in page.text
    response = await press(
        client, "/admin/invitations", "/admin/invitations", email="someone@example.org"
    )
    assert response.status_code == 422
    assert "Invitations are used only when sign-up is by invitation." in response.text
    with db.read() as session:
        assert session.exec(select(Invitation)).all() == []
    assert mail.messages == []
