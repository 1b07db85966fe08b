"""Pages of a network: creating one, its public page, settings, members, dashboard, downloads."""

import csv
import io
import re

import httpx
import pytest

from instance import networks
from schema.db import Database
from schema.tables import Association, NetworkMember, NetworkProfile, User
from tests.factories import (
    csrf_from,
    log_in,
    make_association,
    make_membership,
    make_user,
    post_form,
)
from tests.network_support import add_member, add_report, at, make_network

SCRIPT = '<script>alert("x")</script>'


@pytest.fixture
def owner(db: Database) -> User:
    return make_user(db)


@pytest.fixture
def network(db: Database, owner: User) -> Association:
    return make_network(db, owner, name="Réseau des Épiceries")


def page(network: Association, rest: str = "") -> str:
    return f"/associations/{network.slug}/network{rest}"


# Creating a network from the form


async def test_the_creation_form_makes_a_network(
    db: Database, client: httpx.AsyncClient, owner: User
) -> None:
    await log_in(client, owner)
    form = await client.get("/associations/new")
    assert 'name="network"' in form.text
    assert "This is a network of associations" in form.text
    made = await post_form(
        client, "/associations/new", {"name": "Fédé", "join_policy": "open", "network": "on"}
    )
    assert made.status_code == 303
    slug = made.headers["location"].rsplit("/", 1)[1]
    shown = await client.get(f"/associations/{slug}/network")
    assert shown.status_code == 200
    assert "Accueil et animation" in shown.text
    with db.read() as session:
        assert (
            session.get(NetworkProfile, networks.get_network(session, slug, owner)[0].id)
            is not None
        )


# The public page


async def test_public_page_lists_members_and_hides_the_anonymous(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    named = add_member(db, network, name="Les Jardins <b>partagés</b>", host="jardins.example")
    add_member(db, network, name="Caché", host="cache.example", anonymous=True)
    add_member(db, network, name="Pas encore", status="pending")
    add_report(
        db, network, named, "2024-05", minutes=150, actions=3, valued_cents=4550, received_at=at(2)
    )
    shown = await client.get(page(network))
    assert shown.status_code == 200
    text = shown.text
    assert "Les Jardins &lt;b&gt;partagés&lt;/b&gt;" in text
    assert "jardins.example" in text
    assert "An association (anonymous)" in text
    assert "Caché" not in text and "cache.example" not in text
    assert "Pas encore" not in text
    assert f'href="/api/v1/networks/{network.slug}/open-data.json"' in text
    assert 'id="total-hours">2 h 30' in text
    assert 'id="total-value">45.50' in text
    assert 'id="members-count">2' in text
    assert "Open Database License" in text
    assert "Dashboard" not in text  # no management links for the public


async def test_public_page_paginates(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    for number in range(101):
        add_member(db, network, name=f"Asso {number:03d}")
    first = await client.get(page(network))
    assert "Asso 099" in first.text and "Asso 100" not in first.text
    assert "?page=2" in first.text
    second = await client.get(page(network) + "?page=2")
    assert "Asso 100" in second.text and "Asso 000" not in second.text


async def test_network_pages_of_plain_or_hidden_associations(
    db: Database, client: httpx.AsyncClient, owner: User
) -> None:
    plain = make_association(db, owner)
    hidden = make_network(db, owner, is_hidden=True)
    for slug in (plain.slug, hidden.slug, "nobody"):
        assert (await client.get(f"/associations/{slug}/network")).status_code == 404
    await log_in(client, owner)
    assert (await client.get(f"/associations/{plain.slug}/network/dashboard")).status_code == 404
    assert (await client.get(f"/associations/{hidden.slug}/network")).status_code == 200


async def test_managers_see_their_links(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    await log_in(client, owner)
    text = (await client.get(page(network))).text
    for href in ("/dashboard", "/members", "/settings"):
        assert f'href="{page(network, href)}"' in text


# Settings


async def test_settings_change_threshold_and_licence(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    await log_in(client, owner)
    shown = await client.get(page(network, "/settings"))
    assert shown.status_code == 200
    assert 'value="5"' in shown.text and "Licence Ouverte 2.0" in shown.text
    saved = await post_form(
        client, page(network, "/settings"), {"threshold": "7", "licence": "etalab-2.0"}
    )
    assert saved.status_code == 303
    with db.read() as session:
        profile = networks.profile_of(session, network)
    assert (profile.threshold, profile.open_data_licence) == (7, "etalab-2.0")
    assert "The settings were saved." in (await client.get(saved.headers["location"])).text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"threshold": "0", "licence": "ODbL-1.0"}, "Enter a whole number from 1 to 50."),
        ({"threshold": SCRIPT, "licence": "ODbL-1.0"}, "Enter a whole number from 1 to 50."),
        ({"threshold": "5", "licence": "WTFPL"}, "Choose one of the licences offered."),
    ],
)
async def test_bad_settings_are_shown_again(
    db: Database,
    client: httpx.AsyncClient,
    owner: User,
    network: Association,
    data: dict[str, str],
    message: str,
) -> None:
    await log_in(client, owner)
    answer = await post_form(client, page(network, "/settings"), data)
    assert answer.status_code == 422
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert SCRIPT not in answer.text
    with db.read() as session:
        assert networks.profile_of(session, network).threshold == 5


async def test_settings_refusals(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    answer = await client.get(page(network, "/settings"))
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    volunteer = make_user(db)
    make_membership(db, network, volunteer, role="manager", perm_view_actions=True)
    await log_in(client, volunteer)
    assert (await client.get(page(network, "/settings"))).status_code == 403
    token = csrf_from((await client.get(page(network, "/dashboard"))).text)
    refused = await client.post(
        page(network, "/settings"),
        data={"threshold": "2", "licence": "ODbL-1.0", "csrf_token": token},
    )
    assert refused.status_code == 403
    with db.read() as session:
        assert networks.profile_of(session, network).threshold == 5


async def test_categories_through_the_forms(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    await log_in(client, owner)
    settings = page(network, "/settings")
    added = await post_form(
        client, page(network, "/categories"), {"label": "Soutien scolaire"}, page=settings
    )
    assert added.status_code == 303
    with db.read() as session:
        made = networks.get_category(session, network=network, key="soutien-scolaire")
        other = networks.get_category(session, network=network, key="other")
        first = networks.get_category(session, network=network, key="accueil-animation")
    empty = await post_form(client, page(network, "/categories"), {"label": "  "}, page=settings)
    assert empty.status_code == 422 and "Enter a name." in empty.text
    renamed = await post_form(
        client, page(network, f"/categories/{made.id}"), {"label": SCRIPT}, page=settings
    )
    assert renamed.status_code == 303
    shown = await client.get(settings)
    assert "&lt;script&gt;" in shown.text and SCRIPT not in shown.text
    too_long = await post_form(
        client, page(network, f"/categories/{made.id}"), {"label": "x" * 101}, page=settings
    )
    assert too_long.status_code == 422 and "Use at most 100 characters." in too_long.text
    moved = await post_form(
        client, page(network, f"/categories/{made.id}/move"), {"direction": "up"}, page=settings
    )
    assert moved.status_code == 303
    archived = await post_form(
        client, page(network, f"/categories/{first.id}/archive"), {"archived": "1"}, page=settings
    )
    assert archived.status_code == 303
    kept = await post_form(
        client, page(network, f"/categories/{other.id}/archive"), {"archived": "1"}, page=settings
    )
    assert kept.status_code == 303
    assert "The category Other cannot be removed." in (await client.get(settings)).text
    with db.read() as session:
        order = [c.key for c in networks.list_categories(session, network=network)]
    assert order[-2:] == ["soutien-scolaire", "other"] or order.index(
        "soutien-scolaire"
    ) < order.index("other")
    assert order[-1] == "other" and "accueil-animation" not in order
    assert order.index("soutien-scolaire") == len(order) - 3  # moved up one place
    back = await post_form(
        client, page(network, f"/categories/{first.id}/archive"), {"archived": "0"}, page=settings
    )
    assert back.status_code == 303
    missing = await post_form(
        client, page(network, "/categories/999999"), {"label": "X"}, page=settings
    )
    assert missing.status_code == 404


# Members and requests


async def test_requests_are_answered_from_the_members_page(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    asking = add_member(
        db, network, name="Les Jardins", host="jardins.example", status="pending", anonymous=True
    )
    refused = add_member(db, network, name="Les Autres", status="pending")
    member = add_member(db, network, name="Les Anciens")
    await log_in(client, owner)
    listing = await client.get(page(network, "/members"))
    assert listing.status_code == 200
    assert "Les Jardins" in listing.text and "listed anonymously" in listing.text
    members_page = page(network, "/members")
    done = await post_form(
        client, page(network, f"/requests/{asking.id}/accept"), {}, page=members_page
    )
    assert done.status_code == 303
    assert "Les Jardins is now a member of the network." in (await client.get(members_page)).text
    await post_form(client, page(network, f"/requests/{refused.id}/refuse"), {}, page=members_page)
    await post_form(client, page(network, f"/members/{member.id}/remove"), {}, page=members_page)
    again = await post_form(
        client, page(network, f"/requests/{asking.id}/accept"), {}, page=members_page
    )
    assert again.status_code == 303
    assert "This request was already answered." in (await client.get(members_page)).text
    with db.read() as session:
        statuses = [session.get(NetworkMember, m.id).status for m in (asking, refused, member)]  # type: ignore[union-attr]
    assert statuses == ["active", "refused", "left"]
    assert (
        await post_form(client, page(network, "/requests/999999/accept"), {}, page=members_page)
    ).status_code == 404


async def test_members_page_needs_manage_members(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    person = make_user(db)
    make_membership(db, network, person, role="manager", perm_manage_settings=True)
    await log_in(client, person)
    assert (await client.get(page(network, "/members"))).status_code == 403


# The dashboard


async def test_dashboard_shows_figures_charts_and_flags(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    good = add_member(db, network, name="Les Bons", host="bons.example")
    bad = add_member(db, network, name="Les Douteux", host="douteux.example")
    add_member(db, network, name="Les Muets")
    hidden = add_member(db, network, name="Les <b>Discrets</b>", anonymous=True)
    gone = add_member(db, network, name="Les Partis", host="partis.example", status="left")
    add_report(db, network, hidden, "2024-03", minutes=120, actions=2, received_at=at(3))
    add_report(db, network, gone, "2024-01", minutes=30, actions=1, received_at=at(40))
    add_report(
        db,
        network,
        good,
        "2024-02",
        minutes=600,
        actions=4,
        volunteers=7,
        valued_cents=1234,
        categories={"formation": 600},
        received_at=at(5),
    )
    add_report(
        db,
        network,
        bad,
        "2024-02",
        minutes=60,
        actions=1,
        proof_status="bad proof",
        received_at=at(1),
    )
    await log_in(client, owner)
    shown = await client.get(page(network, "/dashboard?from=2024-01-01&to=2024-12-31"))
    assert shown.status_code == 200
    text = shown.text
    assert 'id="total-hours">12 h 30' in text
    assert 'id="total-value">12.34' in text
    table = text.split('id="members-table"', 1)[1].split("</table>", 1)[0]
    lines = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table, re.S)
    assert len(lines) == 5  # most hours first; the silent member last
    assert (
        lines[0].startswith("Les Bons<br>") and ">10 h 00<" in lines[0] and ">Verified<" in lines[0]
    )
    assert (
        'Les &lt;b&gt;Discrets&lt;/b&gt; <span class="badge">Listed anonymously</span>' in lines[1]
    )
    assert "Les Partis" in lines[2] and '<span class="badge">No longer a member</span>' in lines[2]
    assert lines[2].endswith("<td>—</td><td>—</td><td>—</td>")  # no latest report shown
    assert "Les Douteux" in lines[3] and '<span class="flag">Failed verification</span>' in lines[3]
    assert "Les Muets" in lines[4] and ">No report yet<" in lines[4] and "<td>—</td>" in lines[4]
    assert 'id="total-volunteers">7' in text
    assert text.count("<svg") == 3
    assert "failed verification" in text and "bad proof" in text
    assert "1 member has sent no report yet." in text
    assert "Formation" in text
    assert (
        f"/associations/{network.slug}/network/export.csv?from=2024-01-01&amp;to=2024-12-31&amp;group_by=member"
        in text
    )
    bad_dates = await client.get(page(network, "/dashboard?from=2024-02-30"))
    assert bad_dates.status_code == 200 and "Enter a date like 2024-03-31." in bad_dates.text
    for preset in ("this_year", "last_year", "all_time"):
        assert (await client.get(page(network, f"/dashboard?preset={preset}"))).status_code == 200


async def test_dashboard_download_from_the_page(
    db: Database, client: httpx.AsyncClient, owner: User, network: Association
) -> None:
    member = add_member(db, network, name="=HYPERLINK(1)")
    add_report(db, network, member, "2024-02", minutes=90, actions=2)
    await log_in(client, owner)
    answer = await client.get(
        page(network, "/export.csv?from=2024-01-01&to=2024-12-31&group_by=member")
    )
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["'=HYPERLINK(1)", "90", "1.50"]
    assert (await client.get(page(network, "/export.csv?from=nope"))).status_code == 422
    assert (await client.get(page(network, "/export.doc"))).status_code == 404


async def test_dashboard_refusals(
    db: Database, client: httpx.AsyncClient, network: Association
) -> None:
    answer = await client.get(page(network, "/dashboard"))
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert (await client.get(page(network, "/export.csv"))).status_code == 303
    volunteer = make_user(db)
    make_membership(db, network, volunteer)
    await log_in(client, volunteer)
    assert (await client.get(page(network, "/dashboard"))).status_code == 403
    assert (await client.get(page(network, "/export.csv"))).status_code == 403
