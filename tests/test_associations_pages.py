"""Association pages over HTTP: directory, page, creation, settings, logos, dashboard."""

import struct
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from instance import associations
from instance.config import Config
from schema.db import Database
from schema.tables import Association
from tests.factories import csrf_from, log_in, make_association, make_membership, make_user
from web.services import Services

INJECTION = "<script>alert('x')</script>\"' OR 1=1; --"


def tiny_png() -> bytes:
    """A real 1×1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x0b\x5d\x3b")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def logo_files(config: Config) -> list[Path]:
    folder = Path(config.data_dir) / "logos"
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_directory_lists_public_ones_alphabetically(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    make_association(db, owner, name="Zèbres solidaires")
    make_association(db, owner, name="abeilles du coin")
    make_association(db, owner, name="Secret club", is_hidden=True)
    response = await client.get("/associations")
    assert response.status_code == 200
    text = response.text
    assert text.index("abeilles du coin") < text.index("Zèbres solidaires")
    assert "Secret club" not in text


async def test_directory_search_and_pages(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    for number in range(23):
        make_association(db, owner, name=f"Chorale {number:02d}")
    make_association(db, owner, name="Football club")
    first = await client.get("/associations", params={"q": "CHORALE"})
    assert "Chorale 00" in first.text and "Chorale 19" in first.text
    assert "Chorale 20" not in first.text and "Football" not in first.text
    assert 'rel="next"' in first.text
    second = await client.get("/associations", params={"q": "chorale", "page": "2"})
    assert "Chorale 20" in second.text and "Chorale 22" in second.text
    assert "Chorale 19" not in second.text
    assert 'rel="next"' not in second.text
    weird = await client.get("/associations", params={"page": "-3", "q": INJECTION})
    assert weird.status_code == 200
    assert "<script>alert" not in weird.text


async def test_member_sees_their_hidden_association(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, member = make_user(db), make_user(db)
    hidden = make_association(db, owner, name="Quiet group", is_hidden=True)
    make_membership(db, hidden, member)
    assert (await client.get(f"/associations/{hidden.slug}")).status_code == 404
    await log_in(client, member)
    page = await client.get(f"/associations/{hidden.slug}")
    assert page.status_code == 200 and "Quiet group" in page.text
    assert "Quiet group" in (await client.get("/associations")).text


async def test_hidden_association_is_404_for_outsiders(
    client: httpx.AsyncClient, db: Database
) -> None:
    hidden = make_association(db, make_user(db), is_hidden=True)
    await log_in(client, make_user(db))
    for path in ("", "/members", "/settings", "/leave"):
        response = await client.get(f"/associations/{hidden.slug}{path}")
        assert response.status_code == 404, path


async def test_page_shows_join_button_per_policy(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    open_one = make_association(db, owner, join_policy="open")
    moderated = make_association(db, owner, join_policy="moderated")
    invitation = make_association(db, owner, join_policy="invitation")
    await log_in(client, make_user(db, language="en"))
    headers = {"Accept-Language": "en"}
    page = await client.get(f"/associations/{open_one.slug}", headers=headers)
    assert ">Join</button>" in page.text and "1 member" in page.text
    page = await client.get(f"/associations/{moderated.slug}", headers=headers)
    assert "Ask to join" in page.text and 'name="message"' in page.text
    page = await client.get(f"/associations/{invitation.slug}", headers=headers)
    assert "By invitation only" in page.text and "/join" not in page.text


async def test_archived_association_shows_a_banner_and_refuses_joins(
    client: httpx.AsyncClient, db: Database, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    await log_in(client, owner)
    archived = await client.post(
        f"/associations/{association.slug}/archive",
        data={"archived": "1", "csrf_token": csrf_from((await client.get("/dashboard")).text)},
    )
    assert archived.status_code == 303
    other = make_client()
    person = make_user(db)
    await log_in(other, person)
    page = await other.get(f"/associations/{association.slug}")
    assert 'class="banner"' in page.text
    assert "/join" not in page.text
    token = csrf_from(page.text)
    joined = await other.post(f"/associations/{association.slug}/join", data={"csrf_token": token})
    assert joined.status_code == 303
    after = await other.get(f"/associations/{association.slug}")
    assert "flash-error" in after.text
    with db.read() as session:
        assert associations.membership_of(session, association, person) is None


async def test_create_association_form(client: httpx.AsyncClient, db: Database) -> None:
    person = make_user(db)
    anonymous = await client.get("/associations/new")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    await log_in(client, person)
    page = await client.get("/associations/new")
    token = csrf_from(page.text)
    form = {
        "csrf_token": token,
        "name": "Repair Café Nord",
        "description": "We fix things.",
        "website": "https://repair.example.org",
        "join_policy": "moderated",
        "hidden": "on",
        "network": "on",
    }
    created = await client.post("/associations/new", data=form)
    assert created.status_code == 303
    assert created.headers["location"] == "/associations/repair-cafe-nord"
    with db.read() as session:
        row = session.exec(select(Association).where(Association.slug == "repair-cafe-nord")).one()
    assert row.is_hidden and row.is_network and row.join_policy == "moderated"
    duplicate = await client.post("/associations/new", data={**form, "name": "REPAIR café nord"})
    assert duplicate.status_code == 422
    assert 'aria-invalid="true"' in duplicate.text and "REPAIR café nord" in duplicate.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", ""), ("name", "x" * 128), ("website", "javascript:alert(1)"), ("join_policy", "x")],
)
async def test_create_association_bad_inputs(
    client: httpx.AsyncClient, db: Database, field: str, value: str
) -> None:
    await log_in(client, make_user(db))
    token = csrf_from((await client.get("/associations/new")).text)
    form = {"csrf_token": token, "name": "Good name", "join_policy": "open", field: value}
    response = await client.post("/associations/new", data=form)
    assert response.status_code == 422
    assert f'id="e-{field}"' in response.text


async def test_creation_closed(
    client: httpx.AsyncClient,
    config: Config,
    db: Database,
    services: Services,
    make_client: Callable[[], httpx.AsyncClient],
) -> None:
    services.config = replace(config, association_creation_open=False)
    await log_in(client, make_user(db))
    assert (await client.get("/associations/new")).status_code == 403
    assert "/associations/new" not in (await client.get("/associations")).text
    admin = make_client()
    await log_in(admin, make_user(db, is_admin=True))
    assert (await admin.get("/associations/new")).status_code == 200


async def test_injection_is_escaped_on_pages(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name=INJECTION, description=INJECTION)
    for path in ("/associations", f"/associations/{association.slug}"):
        text = (await client.get(path)).text
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(" in text
    await log_in(client, owner)
    assert "<script>alert" not in (await client.get("/dashboard")).text


async def test_settings_need_permission(client: httpx.AsyncClient, db: Database) -> None:
    owner, manager = make_user(db), make_user(db)
    association = make_association(db, owner)
    make_membership(db, association, manager, role="manager", perm_manage_members=True)
    await log_in(client, manager)
    assert (await client.get(f"/associations/{association.slug}/settings")).status_code == 403
    token = csrf_from((await client.get("/dashboard")).text)
    for path in ("archive", "delete"):
        response = await client.post(
            f"/associations/{association.slug}/{path}",
            data={"csrf_token": token, "confirmation": association.name},
        )
        assert response.status_code == 403, path


async def post_settings(
    client: httpx.AsyncClient, slug: str, files: dict | None = None, **fields: str
) -> httpx.Response:
    page = await client.get(f"/associations/{slug}/settings")
    data = {
        "csrf_token": csrf_from(page.text),
        "name": "Les Lutins",
        "description": "",
        "website": "",
        "join_policy": "open",
    }
    data.update(fields)
    return await client.post(f"/associations/{slug}/settings", data=data, files=files)


async def test_settings_change_everything_but_the_slug(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="Les lutins")
    await log_in(client, owner)
    saved = await post_settings(
        client,
        association.slug,
        name="Les Lutins du Nord",
        website="https://lutins.example.org",
        join_policy="moderated",
        hidden="on",
        approve_follows="on",
    )
    assert saved.status_code == 303
    with db.read() as session:
        row = session.get(Association, association.id)
    assert row is not None and row.slug == "les-lutins"
    assert (row.name, row.join_policy, row.is_hidden, row.approve_follows) == (
        "Les Lutins du Nord",
        "moderated",
        True,
        True,
    )
    bad = await post_settings(client, association.slug, website="ftp://x.org")
    assert bad.status_code == 422 and 'id="e-website"' in bad.text


async def test_logo_upload_replace_and_remove(
    client: httpx.AsyncClient, db: Database, config: Config
) -> None:
    owner = make_user(db)
    association = make_association(db, owner)
    await log_in(client, owner)
    png = tiny_png()
    saved = await post_settings(
        client, association.slug, files={"logo": ("logo.png", png, "image/png")}
    )
    assert saved.status_code == 303
    [first] = logo_files(config)
    assert first.read_bytes() == png
    served = await client.get(f"/media/logos/{first.name}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == png
    assert f"/media/logos/{first.name}" in (await client.get("/associations")).text
    again = await post_settings(
        client, association.slug, files={"logo": ("other.png", png, "image/png")}
    )
    assert again.status_code == 303
    [second] = logo_files(config)
    assert second.name != first.name
    assert (await client.get(f"/media/logos/{first.name}")).status_code == 404
    removed = await post_settings(client, association.slug, remove_logo="on")
    assert removed.status_code == 303
    assert logo_files(config) == []
    with db.read() as session:
        assert session.get(Association, association.id).logo == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "content",
    [b"just some text pretending", tiny_png() + b"\x00" * 1_048_576],
    ids=["text-renamed-png", "too-big"],
)
async def test_bad_logo_is_a_form_error_and_saves_nothing(
    client: httpx.AsyncClient, db: Database, config: Config, content: bytes
) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="Keep me")
    await log_in(client, owner)
    response = await post_settings(
        client,
        association.slug,
        files={"logo": ("logo.png", content, "image/png")},
        name="Changed name",
    )
    assert response.status_code == 422
    assert 'id="e-logo"' in response.text
    assert logo_files(config) == []
    with db.read() as session:
        row = session.get(Association, association.id)
    assert row is not None and row.name == "Keep me" and row.logo == ""


async def test_media_refuses_other_paths(client: httpx.AsyncClient) -> None:
    for name in ("..%2F..%2Fetc%2Fpasswd", "abc.png", "0" * 32 + ".png", "0" * 32 + ".svg"):
        assert (await client.get(f"/media/logos/{name}")).status_code == 404


async def test_delete_needs_the_exact_name(client: httpx.AsyncClient, db: Database) -> None:
    owner = make_user(db)
    association = make_association(db, owner, name="To delete")
    await log_in(client, owner)
    page = await client.get(f"/associations/{association.slug}/delete")
    token = csrf_from(page.text)
    wrong = await client.post(
        f"/associations/{association.slug}/delete",
        data={"csrf_token": token, "confirmation": "to delete?"},
    )
    assert wrong.status_code == 422
    right = await client.post(
        f"/associations/{association.slug}/delete",
        data={"csrf_token": token, "confirmation": "To delete"},
    )
    assert right.status_code == 303
    assert (await client.get(f"/associations/{association.slug}")).status_code == 404


async def test_dashboard_cards(
    client: httpx.AsyncClient, db: Database, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    owner, person = make_user(db), make_user(db)
    mine = make_association(db, owner, name="Mine", join_policy="moderated")
    other = make_association(db, make_user(db), name="Waiting one")
    make_membership(db, mine, person, status="pending")
    make_membership(db, other, owner, status="pending")
    make_association(db, make_user(db), name="Not mine")
    assert (await client.get("/dashboard")).status_code == 303
    await log_in(client, owner)
    page = await client.get("/dashboard", headers={"Accept-Language": "en"})
    assert "Mine" in page.text and "Waiting one" in page.text and "Not mine" not in page.text
    assert f"/associations/{mine.slug}/members?status=pending" in page.text
    assert "/associations/new" in page.text
    lonely = make_client()
    await log_in(lonely, make_user(db))
    empty = await lonely.get("/dashboard")
    assert "/associations/" not in empty.text.split("<main", 1)[1].split("/associations/new")[0]
    assert 'href="/associations"' in empty.text
