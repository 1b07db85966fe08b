"""Exports of actions and summaries: CSV, JSON, XLSX, ODS, filters, rights, limits, memory."""

import csv
import io
import json
import tracemalloc
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from odf import teletype
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow
from openpyxl import load_workbook
from sqlalchemy import insert, select

from instance import export_formats, exports
from instance.actions import ActionFilters
from schema.db import Database
from schema.tables import Action
from schema.tables._base import utcnow
from tests.factories import make_association, make_membership
from tests.test_actions_support import (
    World,
    days_ago,
    decide,
    headers_for,
    make_world,
    quick_user,
    record,
    set_rules,
)

PARIS = ZoneInfo("Europe/Paris")
FORMULA = '=HYPERLINK("http://evil.example","clic")'
SCRIPT = "<script>alert('x')</script>"
SQL = "'; DROP TABLE volunteer_action; --"
ACCENTS = "Réunion d'été — café, crème brûlée"


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def auth(db: Database, user: Any, language: str = "en") -> dict[str, str]:
    """API headers for the user, asking for English headers (French is the default)."""
    return {**headers_for(db, user), "Accept-Language": language}


def level_named(world: World, name: str) -> int:
    return next(level.id for level in world.levels if level.name == name)


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def csv_dicts(response: httpx.Response) -> list[dict[str, str]]:
    header, *rows = csv_rows(response)
    return [dict(zip(header, row, strict=True)) for row in rows]


def xlsx_rows(response: httpx.Response, sheet: int = 0) -> list[tuple[Any, ...]]:
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    return list(book.worksheets[sheet].iter_rows(values_only=True))


def ods_tables(response: httpx.Response) -> list[Any]:
    assert response.status_code == 200, response.text
    return load_ods(io.BytesIO(response.content)).spreadsheet.getElementsByType(Table)


def ods_rows(table: Any) -> list[list[tuple[str | None, str | None, str]]]:
    found = []
    for row in table.getElementsByType(TableRow):
        cells = []
        for cell in row.getElementsByType(TableCell):
            value = cell.getAttribute("value") or cell.getAttribute("datevalue")
            cells.append((cell.getAttribute("valuetype"), value, teletype.extractText(cell)))
        found.append(cells)
    return found


def export_path(world: World, fmt: str = "csv") -> str:
    return f"/api/v1/associations/{world.association.slug}/export.{fmt}"


def seed_three(db: Database, world: World) -> None:
    """A 90-minute valued action with accents, and two with hostile titles."""
    record(
        db,
        world,
        date=days_ago(3),
        minutes=90,
        title=ACCENTS,
        description="Première ligne\nseconde ligne",
        level_id=level_named(world, "Tâches courantes"),
        distance_km="12.5",
    )
    record(db, world, date=days_ago(2), minutes=20, title=FORMULA, description=SCRIPT)
    record(db, world, world.other, date=days_ago(1), minutes=45, title=SQL)


async def test_csv_has_one_header_and_one_row_per_action(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    seed_three(db, world)
    response = await client.get(export_path(world), headers=auth(db, world.viewer))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="')
    assert "summary" in response.headers["link"]
    header, *rows = csv_rows(response)
    assert header[:3] == ["Number", "Date", "End date"]
    assert "Duration (hours, decimal)" in header and "Valued amount (EUR)" in header
    assert len(rows) == 3
    first, second, third = (dict(zip(header, row, strict=True)) for row in rows)
    assert first["Title"] == ACCENTS
    assert first["Description"] == "Première ligne\nseconde ligne"
    assert first["Minutes"] == "90" and float(first["Duration (hours, decimal)"]) == 1.5
    assert first["Hourly rate (EUR)"] == "11.88" and first["Valued amount (EUR)"] == "17.82"
    assert first["Distance (km)"] == "12.50" and first["Level"] == "Tâches courantes"
    assert first["Status"] == "Validated" and first["Date"] == days_ago(3).isoformat()
    assert first["Entered by"] == world.volunteer.username
    assert first["Association"] == world.association.name
    assert second["Title"] == "'" + FORMULA  # shown, never run, by spreadsheets
    assert second["Description"] == SCRIPT
    assert second["Duration (hours, decimal)"] == "0.33" and second["Valued amount (EUR)"] == ""
    assert third["Title"] == SQL and third["Volunteer"] == world.other.username


async def test_headers_follow_the_language_french_by_default(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    record(db, world, minutes=90)
    french = auth(db, world.owner, "fr")
    header, row = csv_rows(await client.get(export_path(world), headers=french))
    assert header[0] == "Numéro" and "Durée (heures, en décimal)" in header
    assert row[header.index("Durée (heures, en décimal)")] == "1.50"
    assert row[header.index("Statut")] == "Validée"
    book = load_workbook(
        io.BytesIO((await client.get(export_path(world, "xlsx"), headers=french)).content)
    )
    assert book.sheetnames[1] == "Méthode"
    english = csv_rows(await client.get(export_path(world), headers=auth(db, world.owner)))
    assert english[0][0] == "Number"


async def test_csv_guards_every_formula_start(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    for title in ("+1+1", "-2+3", "@SUM(A1)", "Plain - text"):
        record(db, world, title=title)
    tricky = quick_user(db, display_name="=cmd|' /C calc'!A0")
    make_membership(db, world.association, tricky)
    record(db, world, tricky, title="mine")
    rows = csv_dicts(await client.get(export_path(world), headers=auth(db, world.owner)))
    assert [row["Title"] for row in rows] == ["'+1+1", "'-2+3", "'@SUM(A1)", "Plain - text", "mine"]
    assert rows[-1]["Volunteer"] == "'=cmd|' /C calc'!A0"
    assert export_formats.safe_text("\tTab") == "'\tTab"
    assert export_formats.safe_text("\r=1") == "'\r=1"


async def test_json_streams_meta_and_actions(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    seed_three(db, world)
    response = await client.get(export_path(world, "json"), headers=auth(db, world.owner))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    meta = body["meta"]
    assert meta["export"] == "actions" and meta["time_zone"] == "Europe/Paris"
    assert meta["filters"]["from"] is None and meta["filters"]["status"] is None
    valuation = meta["valuation"][0]
    assert valuation["association"] == world.association.slug
    assert "Only validated actions count" in valuation["method"]
    assert {"level": "Tâches courantes", "hourly_rate": "11.88"}.items() <= next(
        rate for rate in valuation["rates"] if rate["level"] == "Tâches courantes"
    ).items()
    assert [column["key"] for column in meta["columns"]][:2] == ["id", "date"]
    items = body["actions"]
    assert len(items) == 3
    assert items[0]["title"] == ACCENTS and items[0]["hours"] == "1.50"
    assert items[0]["minutes"] == 90 and items[0]["valued_amount"] == "17.82"
    assert items[0]["status"] == "validated" and items[0]["distance_km"] == "12.50"
    assert items[1]["title"] == FORMULA and items[1]["description"] == SCRIPT
    assert items[2]["title"] == SQL and items[2]["project"] is None
    stamp = datetime.fromisoformat(items[0]["entered_at"])
    assert stamp.utcoffset() == stamp.astimezone(PARIS).utcoffset()
    assert abs(stamp - utcnow()) < timedelta(minutes=5)


async def test_json_of_nothing_is_valid(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    response = await client.get(export_path(world, "json"), headers=auth(db, world.owner))
    assert response.json()["actions"] == []


async def test_xlsx_has_typed_cells_and_a_method_sheet(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    seed_three(db, world)
    response = await client.get(export_path(world, "xlsx"), headers=auth(db, world.owner))
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Actions", "Method"]
    header, *rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 3
    first = dict(zip(header, rows[0], strict=True))
    assert first["Title"] == ACCENTS and first["Minutes"] == 90
    assert first["Duration (hours, decimal)"] == 1.5
    assert first["Valued amount (EUR)"] == pytest.approx(17.82)
    assert first["Date"].date() == days_ago(3)
    formula = book.worksheets[0].cell(row=3, column=header.index("Title") + 1)
    assert formula.value == FORMULA and formula.data_type == "s"  # text, not a formula
    assert rows[2][header.index("Title")] == SQL
    method = dict(book.worksheets[1].iter_rows(values_only=True))
    assert "Only validated actions count" in method["Valuation method"]
    assert method["Hourly rate: Tâches courantes, from 2000-01-01"] == "11.88 EUR"


async def test_ods_has_typed_cells_and_a_method_sheet(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    seed_three(db, world)
    response = await client.get(export_path(world, "ods"), headers=auth(db, world.owner))
    assert response.headers["content-type"] == "application/vnd.oasis.opendocument.spreadsheet"
    assert response.content[30:38] == b"mimetype"  # stored first, as ODF requires
    actions_table, method_table = ods_tables(response)
    assert actions_table.getAttribute("name") == "Actions"
    header, *rows = ods_rows(actions_table)
    labels = [text for _kind, _value, text in header]
    assert len(rows) == 3
    first = dict(zip(labels, rows[0], strict=True))
    assert first["Title"] == ("string", None, ACCENTS)
    assert first["Description"][2] == "Première ligne\nseconde ligne"
    assert first["Duration (hours, decimal)"][:2] == ("float", "1.5")
    assert first["Date"][:2] == ("date", days_ago(3).isoformat())
    assert first["Valued amount (EUR)"][:2] == ("float", "17.82")
    second = dict(zip(labels, rows[1], strict=True))
    assert second["Title"] == ("string", None, FORMULA)
    assert second["Description"][2] == SCRIPT
    method = {row[0][2]: row[1][2] for row in ods_rows(method_table)}
    assert "Only validated actions count" in method["Valuation method"]


async def test_filters_apply_with_an_inclusive_date_range(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    for days in (11, 10, 5, 4):
        record(db, world, date=days_ago(days), title=f"day {days}")
    other_category = world.categories[1]
    record(db, world, date=days_ago(7), title="other category", category_id=other_category.id)
    record(db, world, world.other, date=days_ago(7), title="other volunteer")
    headers = auth(db, world.owner)
    span = {"from": days_ago(10).isoformat(), "to": days_ago(5).isoformat()}

    async def titles(**params: Any) -> list[str]:
        response = await client.get(export_path(world), params=params, headers=headers)
        return [row["Title"] for row in csv_dicts(response)]

    assert await titles(**span) == ["day 10", "other category", "other volunteer", "day 5"]
    assert await titles(**span, category=other_category.id) == ["other category"]
    assert await titles(**span, volunteer=world.other_member.id) == ["other volunteer"]
    assert await titles(**span, status="pending") == []
    assert await titles(**span, status="validated", category=world.category.id) == [
        "day 10",
        "other volunteer",
        "day 5",
    ]


async def test_status_filter_and_labels(db: Database, client: httpx.AsyncClient) -> None:
    world = make_world(db, requires_validation=True)
    kept, refused, waiting = (record(db, world, title=title) for title in ("a", "b", "c"))
    decide(db, world, world.manager, "validate", [kept.id])
    decide(db, world, world.manager, "refuse", [refused.id], reason="Not ours")
    headers = auth(db, world.owner)
    rows = csv_dicts(await client.get(export_path(world), headers=headers))
    assert [row["Status"] for row in rows] == ["Validated", "Refused", "Waiting for validation"]
    response = await client.get(
        export_path(world, "json"), params={"status": "pending"}, headers=headers
    )
    assert [item["id"] for item in response.json()["actions"]] == [waiting.id]


async def test_travel_counted_adds_to_the_valued_amount(
    db: Database, client: httpx.AsyncClient
) -> None:
    world = make_world(db, travel_time_policy="counted", default_hourly_rate_cents=1000)
    record(db, world, minutes=60, travel_minutes=30)
    body = (await client.get(export_path(world, "json"), headers=auth(db, world.owner))).json()
    assert body["actions"][0]["valued_amount"] == "15.00"
    assert body["actions"][0]["hourly_rate"] == "10.00"
    assert "Travel time is counted" in body["meta"]["valuation"][0]["method"]


async def test_volunteers_may_not_export_the_association(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    record(db, world)
    for fmt in ("csv", "json", "xlsx", "ods"):
        response = await client.get(export_path(world, fmt), headers=auth(db, world.volunteer))
        assert response.status_code == 403, fmt
        assert response.headers["content-type"] == "application/problem+json"
    outsider = quick_user(db)
    response = await client.get(export_path(world), headers=auth(db, outsider))
    assert response.status_code == 403
    assert (await client.get(export_path(world))).status_code == 401


async def test_hidden_association_is_not_found_to_outsiders(
    db: Database, client: httpx.AsyncClient
) -> None:
    world = make_world(db)
    set_rules(db, world.association, is_hidden=True)
    record(db, world)
    outsider = auth(db, quick_user(db))
    for path in (export_path(world), f"/api/v1/associations/{world.association.slug}/summary.csv"):
        assert (await client.get(path, headers=outsider)).status_code == 404
    assert (await client.get(export_path(world), headers=auth(db, world.owner))).status_code == 200


async def test_my_export_holds_only_my_actions_everywhere(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    mine = record(db, world, date=days_ago(4), title="mine here")
    record(db, world, world.other, title="someone else's")
    elsewhere = make_association(db, world.owner, name="Les Amis du Vélo")
    make_membership(db, elsewhere, world.volunteer)
    second = make_world(db)
    make_membership(db, second.association, world.volunteer)
    there = record(db, second, world.volunteer, date=days_ago(1), title="mine there")
    record(db, second, title="not mine either")
    headers = auth(db, world.volunteer)
    response = await client.get("/api/v1/me/export/actions.json", headers=headers)
    body = response.json()
    assert [item["id"] for item in body["actions"]] == [mine.id, there.id]
    assert body["actions"][1]["association"] == second.association.name
    assert {item["association"] for item in body["meta"]["valuation"]} == {
        world.association.slug,
        elsewhere.slug,
        second.association.slug,
    }
    assert f"/api/v1/associations/{elsewhere.slug}/summary/me" in response.headers["link"]
    rows = csv_dicts(await client.get("/api/v1/me/export/actions.csv", headers=headers))
    assert [row["Title"] for row in rows] == ["mine here", "mine there"]
    response = await client.get(
        "/api/v1/me/export/actions.csv", params={"from": days_ago(3).isoformat()}, headers=headers
    )
    assert [row["Title"] for row in csv_dicts(response)] == ["mine there"]
    nobody = auth(db, quick_user(db))
    assert csv_dicts(await client.get("/api/v1/me/export/actions.csv", headers=nobody)) == []
    ods = await client.get("/api/v1/me/export/actions.ods", headers=headers)
    assert len(ods_rows(ods_tables(ods)[0])) == 3
    assert (await client.get("/api/v1/me/export/actions.csv")).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2024-13-01"}, "from"),
        ({"to": "31/12/2024"}, "to"),
        ({"from": "2024-06-01", "to": "2024-05-31"}, "to"),
        ({"category": "999999"}, "category"),
        ({"project": "999999"}, "project"),
        ({"level": "999999"}, "level"),
        ({"volunteer": "abc"}, "volunteer"),
        ({"volunteer": "999999"}, "volunteer"),
        ({"category": "-1"}, "category"),
        ({"status": "deleted"}, "status"),
        ({"status": "<script>"}, "status"),
    ],
)
async def test_bad_filters_are_problems(
    db: Database, world: World, client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get(export_path(world), params=params, headers=auth(db, world.owner))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["errors"]


async def test_ids_of_another_association_are_refused(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    other = make_world(db)
    headers = auth(db, world.owner)
    for name, value in (("category", other.category.id), ("volunteer", other.member.id)):
        response = await client.get(export_path(world), params={name: value}, headers=headers)
        assert response.status_code == 422 and name in response.json()["errors"]


async def test_my_export_refuses_association_filters(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    headers = auth(db, world.volunteer)
    for params in ({"category": "1"}, {"volunteer": "1"}, {"from": "2024-02-30"}):
        response = await client.get("/api/v1/me/export/actions.csv", params=params, headers=headers)
        assert response.status_code == 422, params


async def test_unknown_formats_are_not_found(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    headers = auth(db, world.owner)
    for path in (
        export_path(world, "pdf"),
        export_path(world, "csv.exe"),
        "/api/v1/me/export/actions.xml",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, path
    assert (await client.get(export_path(world, "CSV"), headers=headers)).status_code == 200


async def test_ods_over_the_cap_is_refused_with_a_way_out(
    db: Database, world: World, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_formats, "ODS_MAX_ROWS", 2)
    seed_three(db, world)
    headers = auth(db, world.owner)
    response = await client.get(export_path(world, "ods"), headers=headers)
    assert response.status_code == 422
    message = response.json()["errors"]["format"]
    assert "at most 2 actions" in message and "3" in message and "CSV" in message
    narrowed = {"from": days_ago(2).isoformat()}
    response = await client.get(export_path(world, "ods"), params=narrowed, headers=headers)
    assert len(ods_rows(ods_tables(response)[0])) == 3  # header and two actions
    assert (await client.get(export_path(world, "csv"), headers=headers)).status_code == 200


async def test_xlsx_over_the_sheet_limit_is_refused(
    db: Database, world: World, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_formats, "XLSX_MAX_ROWS", 1)
    seed_three(db, world)
    response = await client.get(export_path(world, "xlsx"), headers=auth(db, world.owner))
    assert response.status_code == 422 and "CSV" in response.json()["errors"]["format"]


def summary_path(world: World, fmt: str = "csv") -> str:
    return f"/api/v1/associations/{world.association.slug}/summary.{fmt}"


async def test_summary_exports_one_row_per_group_and_a_total(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    seed_three(db, world)
    record(db, world, date=days_ago(3), minutes=30, category_id=world.categories[1].id)
    headers = auth(db, world.owner)
    span = {"from": days_ago(30).isoformat(), "to": days_ago(0).isoformat()}
    response = await client.get(
        summary_path(world), params={**span, "group_by": "category"}, headers=headers
    )
    header, *rows = csv_rows(response)
    assert header[0] == "Category" and header[1:3] == ["Minutes", "Duration (hours, decimal)"]
    assert [row[0] for row in rows] == [world.category.name, world.categories[1].name, "Total"]
    assert [row[1] for row in rows] == ["155", "30", "185"]
    assert rows[-1][2] == "3.08" and rows[-1][3] == "4"
    body = (
        await client.get(
            summary_path(world, "json"), params={**span, "group_by": "volunteer"}, headers=headers
        )
    ).json()
    assert body["meta"]["from"] == span["from"] and body["meta"]["group_by"] == "volunteer"
    assert "Only validated actions count" in body["meta"]["valuation"][0]["method"]
    assert body["rows"][-1]["group"] == "Total" and body["rows"][-1]["minutes"] == 185
    assert body["rows"][-1]["valued_amount"] == "17.82"
    book = xlsx_rows(await client.get(summary_path(world, "xlsx"), params=span, headers=headers))
    assert book[0][0] == "Period" and book[1][0] == "Total" and book[1][1] == 185
    tables = ods_tables(await client.get(summary_path(world, "ods"), params=span, headers=headers))
    assert ods_rows(tables[0])[1][1][:2] == ("float", "185")


async def test_summary_export_refusals(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    owner = auth(db, world.owner)
    cases = [
        ({"group_by": "colour"}, "group_by"),
        ({"from": "2024-13-01"}, "from"),
        ({"from": "2024-06-01", "to": "2024-05-01"}, "to"),
    ]
    for params, field in cases:
        response = await client.get(summary_path(world), params=params, headers=owner)
        assert response.status_code == 422 and field in response.json()["errors"], params
    volunteer = auth(db, world.volunteer)
    assert (await client.get(summary_path(world), headers=volunteer)).status_code == 403
    assert (await client.get(summary_path(world, "pdf"), headers=owner)).status_code == 404


def bulk_actions(db: Database, world: World, count: int) -> None:
    """Many actions at once, straight into the table: a few thousand, doubled in SQL."""
    now = utcnow()
    table = Action.__table__  # type: ignore[attr-defined]
    seed = count
    while seed > 5_000 and seed % 2 == 0:
        seed //= 2
    rows = [
        {
            "association_id": world.association.id,
            "membership_id": (world.member.id, world.other_member.id)[number % 2],
            "date": date(2024, 1, 1) + timedelta(days=number % 700),
            "minutes": 30 + number % 200,
            "category_id": world.category.id,
            "level_id": level_named(world, "Tâches qualifiées"),
            "rate_cents": 1782,
            "title": f"Action n°{number}",
            "description": "Tri des dons, accueil et café.",
            "distance_hundredths": 1250,
            "status": "validated",
            "source": "api",
            "refusal_reason": "",
            "created_by_id": world.owner.id,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(seed)
    ]
    copied = [name for name in rows[0] if name != "id"]
    with db.write() as session:
        connection = session.connection()
        connection.execute(insert(table), rows)
        while seed < count:
            source = select(*(table.c[name] for name in copied)).where(
                table.c.association_id == world.association.id
            )
            connection.execute(insert(table).from_select(copied, source))
            seed *= 2


def test_streaming_200000_rows_keeps_python_memory_flat(db: Database, world: World) -> None:
    bulk_actions(db, world, 200_000)
    selection = exports.Selection((world.association.id or 0,), ActionFilters())
    with db.read() as session:
        document = exports.actions_document(session, selection=selection, zone=PARIS)
    total = rows = 0
    tracemalloc.start()
    try:
        with db.read() as session:
            batches = exports.action_batches(session, selection, zone=PARIS)
            for chunk in export_formats.write_csv(document, batches):
                total += len(chunk)
                rows += chunk.count(b"\r\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 200_001
    assert total > 30_000_000  # far more text went through than memory was ever used
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_batches_are_bounded_and_ordered(db: Database, world: World) -> None:
    bulk_actions(db, world, 2_500)
    selection = exports.Selection((world.association.id or 0,), ActionFilters())
    with db.read() as session:
        batches = list(exports.action_batches(session, selection, zone=PARIS, batch=1000))
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    keys = [(row[1], row[0]) for batch in batches for row in batch]
    assert keys == sorted(keys)


def test_json_writer_output_is_valid_for_any_batching() -> None:
    document = export_formats.Document(
        key="rows",
        title="T",
        columns=[export_formats.Column("text", "Text", "text")],
        headers=["Text"],
        meta={"é": "ü"},
        about=[],
        about_title="Method",
        statuses={},
    )
    batches = [[("a",)], [], [('},{"x":1',), ("\n",)]]
    text = b"".join(export_formats.write_json(document, batches)).decode()
    assert json.loads(text) == {
        "meta": {"é": "ü"},
        "rows": [{"text": t} for t in ("a", '},{"x":1', "\n")],
    }


def test_xml_formats_survive_control_characters() -> None:
    document = export_formats.Document(
        key="rows",
        title="T",
        columns=[export_formats.Column("text", "Text", "text")],
        headers=["Text"],
        meta={},
        about=[("A\x01", "B\x02")],
        about_title="Method",
        statuses={},
    )
    batches = [[("bell\x07 here",), ("#N/A",)]]
    book = load_workbook(io.BytesIO(b"".join(export_formats.write_xlsx(document, batches))))
    assert [row[0] for row in book.worksheets[0].iter_rows(values_only=True)] == [
        "Text",
        "bell\ufffd here",
        "#N/A",
    ]
    ods = load_ods(io.BytesIO(b"".join(export_formats.write_ods(document, batches))))
    table = ods.spreadsheet.getElementsByType(Table)[0]
    assert [row[0][2] for row in ods_rows(table)] == ["Text", "bell\ufffd here", "#N/A"]
