"""Statistics pages: the association's figures and charts, "My hours", the accounting view."""

import re
from datetime import date
from typing import Any

import httpx
from markupsafe import escape
from sqlmodel import select

from instance import actions
from schema.db import Database
from schema.tables import Action, Project
from tests.factories import make_membership
from tests.test_action_pages import sign_in
from tests.test_actions_support import make_world, record, set_rules, today
from web.charts import Point, bar_chart, column_chart, hours_points


def stats_url(world: Any) -> str:
    return f"/associations/{world.association.slug}/stats"


def test_charts_escape_their_text_and_carry_a_title() -> None:
    points = [Point("<b>x</b>", 2.0, "2 h"), Point("é & co", 0.0, "0 h")]
    svg = str(bar_chart("Hours <by> category", "A & B", points))
    assert svg.startswith('<svg class="chart" role="img"')
    assert "<title id=" in svg and "Hours &lt;by&gt; category" in svg
    assert "A &amp; B" in svg and "&lt;b&gt;x&lt;/b&gt;" in svg and "é &amp; co" in svg
    assert "<b>" not in svg
    assert 'aria-labelledby="chart-title-' in svg
    columns = str(column_chart("T", "D", hours_points([("2025-01", 90), ("2025-02", 0)])))
    assert columns.count('class="bar"') == 2 and "1.5 h" in columns
    empty = str(column_chart("T", "D", []))
    assert "<svg" in empty and "bar" not in empty.replace('class="axis"', "")


async def test_the_statistics_page_shows_figures_charts_and_tables(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(
        db, default_hourly_rate_cents=1000, travel_time_policy="separate", requires_validation=True
    )
    day = today().replace(day=1)
    first = record(db, world, minutes=120, date=day, travel_minutes=30)
    second = record(
        db, world, user=world.other, minutes=60, date=day, category_id=world.categories[1].id
    )
    record(db, world, minutes=45, date=day)
    with db.write() as session:
        actions.validate_actions(
            session, association=world.association, user=world.manager, ids=[first.id, second.id]
        )
    await sign_in(client, world.viewer)
    page = await client.get(stats_url(world), params={"preset": "this_month"})
    assert page.status_code == 200
    html = page.text
    assert re.search(r'id="total-hours">3 h 00<', html)
    assert re.search(r'id="total-actions">2<', html)
    assert re.search(r'id="total-volunteers">2<', html)
    assert re.search(r'id="total-pending">1 · 45 min<', html)
    assert re.search(r'id="total-travel">30 min<', html)
    assert re.search(r'id="total-value">30.00<', html)
    assert html.count('<svg class="chart" role="img"') == 2
    assert "<table" in html and world.categories[1].name in html
    category = escape(world.categories[1].name)
    assert (
        f'<tr><th scope="row">{category}</th><td class="number">1 h 00</td>'
        '<td class="number">1</td><td class="number">10.00</td></tr>'
    ) in html
    volunteers = html.split("Hours by volunteer</caption>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<tr><th scope="row">[^<]+</th><td class="number">[^<]+</td>'
        r'<td class="number">1</td></tr>',
        volunteers,
    )
    assert len(rows) == 2  # two volunteers, no value column
    empty = (await client.get(stats_url(world), params={"preset": "last_year"})).text
    assert '<td colspan="3">No validated action in this period.' in empty  # volunteers
    assert '<td colspan="4">No validated action in this period.' in empty  # categories
    assert "Only validated actions count." in html  # the method under the figures
    assert "10.00 € / h" in html
    assert 'class="no-print' in html
    # Charts and styles come from the instance itself: no script, style or image elsewhere
    # (a random CSRF token may well contain "cdn": look at the addresses, not the text).
    assert re.findall(r'(?:src|href)="(?:https?:)?//', html) == []
    printable = await client.get(stats_url(world), params={"preset": "this_month", "print": "1"})
    assert 'class="presets"' not in printable.text


async def test_periods_presets_and_custom_dates(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    record(db, world, minutes=60, date=date(today().year - 1, 6, 15))
    record(db, world, minutes=30, date=today())
    await sign_in(client, world.manager)
    last_year = await client.get(stats_url(world), params={"preset": "last_year"})
    assert re.search(r'id="total-hours">1 h 00<', last_year.text)
    assert 'aria-current="true">Last year' in last_year.text
    custom = await client.get(
        stats_url(world),
        params={"from": date(today().year - 1, 6, 1).isoformat(), "to": today().isoformat()},
    )
    assert re.search(r'id="total-hours">1 h 30<', custom.text)
    everything = await client.get(stats_url(world), params={"preset": "all_time"})
    assert re.search(r'id="total-hours">1 h 30<', everything.text)
    bad = await client.get(stats_url(world), params={"from": "2024-13-01", "to": "2023-01-01"})
    assert bad.status_code == 200
    assert "Enter a date like 2024-03-31." in bad.text
    backwards = await client.get(
        stats_url(world), params={"from": "2024-05-01", "to": "2024-01-01"}
    )
    assert "The last day must not be before the first day." in backwards.text


async def test_projects_and_levels_tables_and_counted_travel(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, travel_time_policy="counted")
    with db.write() as session:
        project = Project(association_id=world.association.id, name="Jardin partagé")
        session.add(project)
    record(
        db, world, minutes=60, travel_minutes=30, project_id=project.id, level_id=world.levels[0].id
    )
    await sign_in(client, world.manager)
    html = (await client.get(stats_url(world), params={"preset": "this_month"})).text
    assert "By project" in html and "Jardin partagé" in html
    assert "By qualification level" in html and world.levels[0].name in html
    assert re.search(r'id="total-hours">1 h 30<', html)
    assert "Travel time is included in the hours." in html


async def test_statistics_are_for_managers_who_see_actions(make_client: Any, db: Database) -> None:
    world = make_world(db)
    for person, status in ((world.volunteer, 403), (world.viewer, 200), (world.owner, 200)):
        client = make_client()
        await sign_in(client, person)
        assert (await client.get(stats_url(world))).status_code == status
        assert (await client.get(f"{stats_url(world)}/accounting")).status_code == status
    anonymous = make_client()
    response = await anonymous.get(stats_url(world))
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    hidden = make_world(db)
    set_rules(db, hidden.association, is_hidden=True)
    client = make_client()
    await sign_in(client, world.viewer)
    assert (await client.get(stats_url(hidden))).status_code == 404


async def test_my_hours_per_association_and_in_total(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    second = make_world(db)
    membership = make_membership(db, second.association, world.volunteer)
    record(db, world, minutes=90)
    second.member, second.volunteer = membership, world.volunteer
    record(db, second, minutes=60)
    record(db, world, user=world.other, minutes=600)  # someone else's time
    await sign_in(client, world.volunteer)
    page = await client.get("/me/hours", params={"preset": "this_month"})
    assert page.status_code == 200
    html = page.text
    assert re.search(r'id="total-hours">2 h 30<', html)
    assert world.association.name in html and second.association.name in html
    assert html.count('<svg class="chart" role="img"') == 2
    assert "10 h" not in html


async def test_the_accounting_view_and_its_csv(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db, default_hourly_rate_cents=1200)
    year = today().year
    record(db, world, minutes=150, date=today())
    await sign_in(client, world.viewer)
    page = await client.get(f"{stats_url(world)}/accounting", params={"year": year})
    assert page.status_code == 200
    html = page.text
    assert "864 Personnel bénévole" in html and "875 Bénévolat" in html
    assert re.search(r'id="total-1">30.00<', html) and re.search(r'id="total-2">30.00<', html)
    assert "Only validated actions count." in html
    assert "Full-time equivalent: 0.00 (the year's hours over the 1607 hours" in html
    csv = await client.get(f"{stats_url(world)}/accounting.csv", params={"year": year})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("Account,") and len(lines) == 3
    assert "864,Personnel bénévole,Debit" in lines[1] and lines[1].endswith(",2.50,30.00")
    bad = await client.get(f"{stats_url(world)}/accounting", params={"year": "abcd"})
    assert bad.status_code == 200  # falls back to this year
    with db.read() as session:
        assert session.exec(select(Action)).first() is not None


async def test_downloads_use_the_session(client: httpx.AsyncClient, db: Database) -> None:
    world = make_world(db)
    record(db, world, minutes=90, title="Tri <dons>")
    record(db, world, user=world.other, minutes=30, title="Permanence")
    slug = world.association.slug
    await sign_in(client, world.viewer)
    listing = await client.get(
        f"/associations/{slug}/actions", params={"volunteer": world.member.id}
    )
    assert f"/associations/{slug}/actions/export.csv?volunteer={world.member.id}" in listing.text
    csv = await client.get(
        f"/associations/{slug}/actions/export.csv", params={"volunteer": world.member.id}
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "Tri <dons>" in csv.text and "Permanence" not in csv.text
    for fmt in ("ods", "xlsx", "json"):
        response = await client.get(f"/associations/{slug}/actions/export.{fmt}")
        assert response.status_code == 200, fmt
        assert "attachment" in response.headers["content-disposition"]
    assert (await client.get(f"/associations/{slug}/actions/export.pdf")).status_code == 404
    stats = await client.get(stats_url(world), params={"preset": "this_year"})
    assert f"/associations/{slug}/stats/export.csv?from=" in stats.text
    summary = await client.get(
        f"/associations/{slug}/stats/export.csv", params={"preset": "this_year"}
    )
    assert summary.status_code == 200 and world.category.name in summary.text
    bad = await client.get(f"/associations/{slug}/stats/export.csv", params={"group_by": "colour"})
    assert bad.status_code == 422


async def test_downloads_are_refused_to_volunteers(make_client: Any, db: Database) -> None:
    world = make_world(db)
    record(db, world, title="Mine")
    record(db, world, user=world.other, title="Theirs")
    slug = world.association.slug
    client = make_client()
    await sign_in(client, world.volunteer)
    assert (await client.get(f"/associations/{slug}/actions/export.csv")).status_code == 403
    assert (await client.get(f"/associations/{slug}/stats/export.csv")).status_code == 403
    own = await client.get("/me/actions/export.csv")
    assert own.status_code == 200 and "Mine" in own.text and "Theirs" not in own.text
    page = await client.get("/me/actions")
    assert "/me/actions/export.csv" in page.text
    anonymous = make_client()
    response = await anonymous.get(f"/associations/{slug}/actions/export.csv")
    assert response.status_code == 303
