"""Actions imported from a spreadsheet: every row checked, all written or none, problems by line."""

import io
import re
from datetime import date
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from instance import action_import, actions
from instance.action_import import ImportRefused, read_sheet
from schema.db import Database
from schema.tables import Action, User
from tests.factories import csrf_from
from tests.test_action_pages import actions_of, sign_in
from tests.test_actions_support import (
    World,
    assert_rollups_exact,
    days_ago,
    headers_for,
    make_world,
    record,
    set_rules,
)


def url(world: World) -> str:
    return f"/associations/{world.association.slug}/actions/import"


def csv_of(*lines: str, separator: str = ";") -> bytes:
    return "\r\n".join(line.replace(";", separator) for line in lines).encode()


async def upload(
    client: httpx.AsyncClient, world: World, content: bytes, name: str = "actions.csv"
) -> httpx.Response:
    page = await client.get(url(world))
    assert page.status_code == 200, page.text
    return await client.post(
        url(world),
        data={"csrf_token": csrf_from(page.text)},
        files={"file": (name, content, "application/octet-stream")},
    )


def problems_of(html: str) -> list[tuple[str, str, str]]:
    """The (line, column, problem) rows of the page's problem table."""
    rows = re.findall(
        r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>", html, re.S
    )
    return [tuple(cell.strip() for cell in row) for row in rows]  # type: ignore[misc]


def refusal(db: Database, world: World, sheet: action_import.Sheet) -> ImportRefused:
    """What the manager's check of a sheet refuses (the test fails when it passes)."""
    with db.read() as session, pytest.raises(ImportRefused) as refused:
        action_import.prepare_import(
            session,
            association=world.association,
            user=world.manager,
            sheet=sheet,
            today=days_ago(0),
        )
    return refused.value


def volunteer_name(world: World) -> str:
    return world.volunteer.username


async def test_a_manager_imports_a_csv_and_every_row_is_recorded(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    category = world.category.name
    level = world.levels[0].name
    day, other_day = days_ago(3), days_ago(40)
    content = csv_of(
        "Date;Bénévole;Catégorie;Durée (heures, en décimal);Titre;Niveau;Distance (km);Projett",
        f"{day.isoformat()};{world.volunteer.username};{category};1,5;Accueil;{level};12,5;",
        f"{other_day:%d/%m/%Y};{world.other.email};{category.upper()};2:15;;;;",
    )
    await sign_in(client, world.manager)
    response = await upload(client, world, content)
    assert response.status_code == 303, problems_of(response.text)
    listed = await client.get(response.headers["location"])
    assert "2 actions were imported." in listed.text
    assert "Columns left aside: Projett." in listed.text  # a misspelt column is told
    actions = sorted(actions_of(db, world), key=lambda action: action.date, reverse=True)
    assert [(a.membership_id, a.date, a.minutes) for a in actions] == [
        (world.member.id, day, 90),
        (world.other_member.id, other_day, 135),
    ]
    first = actions[0]
    assert first.title == "Accueil" and first.level_id == world.levels[0].id
    assert first.distance_hundredths == 1250 and first.source == "import"
    assert first.created_by_id == world.manager.id
    assert_rollups_exact(db, world.association.id or 0)


async def test_one_bad_row_and_nothing_is_written_each_problem_with_its_line(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    set_rules(db, world.association, max_minutes_per_action=600)
    category = world.category.name
    name = volunteer_name(world)
    content = csv_of(
        "date,volunteer,category,minutes,project",
        f"{days_ago(1)},{name},{category},60,",
        f"{days_ago(1)},Personne,{category},60,",
        f"{days_ago(1)},{name},Jardinage lunaire,60,",
        f"2999-01-01,{name},{category},60,",
        f"{days_ago(1)},{name},{category},900,",
        f"{days_ago(1)},{name},{category},-5,",
        f"{days_ago(1)},{name},{category},60,Projet inconnu",
        separator=",",
    )
    await sign_in(client, world.manager)
    response = await upload(client, world, content)
    assert response.status_code == 422
    assert "Nothing was imported: 6 problems to fix in the file." in response.text
    assert problems_of(response.text) == [
        ("3", "volunteer", "No active member of this association is called Personne."),
        ("4", "category", "This association has no entry called Jardinage lunaire."),
        ("5", "date", "The date must not be in the future."),
        ("6", "minutes", "Enter at most 600 minutes."),
        ("7", "minutes", "The number must not be negative."),
        ("8", "project", "This association has no entry called Projet inconnu."),
    ]
    assert actions_of(db, world) == []


async def test_an_export_imports_back_and_a_second_import_repeats_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    record(db, world, date=days_ago(2), title="Permanence", minutes=45)
    record(db, world, user=world.other, date=days_ago(9), minutes=120)
    await sign_in(client, world.manager)
    exported = await client.get(f"/associations/{world.association.slug}/actions/export.csv")
    assert exported.status_code == 200
    # The same file again: every line is already recorded.
    response = await upload(client, world, exported.content)
    assert response.status_code == 422
    assert [problem[0] for problem in problems_of(response.text)] == ["2", "3"]
    assert "Already recorded" in response.text
    assert len(actions_of(db, world)) == 2
    # Once those actions are gone, the export imports back as it was.
    with db.write() as session:
        for action in actions_of(db, world):
            actions.delete_action(session, action=session.get(Action, action.id), user=world.owner)
    response = await upload(client, world, exported.content)
    assert response.status_code == 303, problems_of(response.text)
    again = sorted((a.membership_id, a.date, a.minutes, a.title) for a in actions_of(db, world))
    assert again == sorted(
        [
            (world.member.id, days_ago(2), 45, "Permanence"),
            (world.other_member.id, days_ago(9), 120, ""),
        ]
    )


def test_xlsx_files_are_read_with_their_dates_and_numbers() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Date", "Volunteer", "Category", "Minutes"])
    sheet.append([date(2026, 3, 2), "camille", "Accueil", 30.0])
    buffer = io.BytesIO()
    book.save(buffer)
    read = read_sheet(buffer.getvalue())
    assert read.columns == {"date": 0, "volunteer": 1, "category": 2, "minutes": 3}
    [(line, cells)] = read.rows
    names = action_import.Names({"camille": 7}, {"accueil": 3}, {}, {})
    assert line == 2
    assert action_import.row_data(cells, read.columns, names) == {
        "title": "",
        "description": "",
        "date": "2026-03-02",
        "minutes": 30,
        "volunteer_id": 7,
        "category_id": 3,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b" \r\n;;\r\n", "The file is empty."),
        (
            b"date;category;minutes\r\n2026-01-01;A;30",
            "Columns missing from the first line: volunteer.",
        ),
        (
            b"date;volunteer;category\r\n2026-01-01;a;A",
            "Columns missing from the first line: minutes.",
        ),
        (b"date;volunteer;category;minutes\r\n", "The file has no action under its first line."),
        (b"PK\x03\x04 not really a workbook", "This is not a CSV or XLSX file."),
        (b"\x00\x01\x02binary", "This is not a CSV or XLSX file."),
    ],
)
def test_unreadable_files_are_refused_with_one_clear_message(content: bytes, message: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        read_sheet(content)
    assert [problem.message for problem in refused.value.problems] == [message]


def test_a_file_over_the_limit_is_refused() -> None:
    lines = ["date;volunteer;category;minutes"] + ["2026-01-01;a;A;30"] * (
        action_import.MAX_ROWS + 1
    )
    with pytest.raises(ImportRefused, match="Nothing was imported"):
        read_sheet("\n".join(lines).encode())


@pytest.mark.parametrize(
    ("minutes", "hours", "expected"),
    [
        (None, "1.5", 90),
        (None, "1,25", 75),
        (None, "2:05", 125),
        (None, "1h30", 90),
        ("45", "9", 45),
    ],
)
def test_durations_in_minutes_or_hours(minutes: Any, hours: Any, expected: int) -> None:
    assert action_import._minutes(minutes, hours) == expected


def test_windows_csv_and_same_names_shared_by_two_members(db: Database) -> None:
    world = make_world(db)
    with db.write() as session:
        for user in (world.volunteer, world.other):
            row = session.get(type(user), user.id)
            assert row is not None
            row.display_name = "Dominique Martin"
            session.add(row)
    content = f"date;volunteer;category;minutes\r\n{days_ago(1)};Dominique Martin;{world.category.name};30\r\n"
    sheet = read_sheet(content.encode("cp1252"))
    refused = refusal(db, world, sheet)
    [problem] = refused.problems
    assert problem.column == "volunteer" and "Several members are called" in problem.message


async def test_only_managers_who_edit_actions_may_import(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    for user in (world.volunteer, world.viewer, world.manager):
        client.cookies.clear()
        await sign_in(client, user)
        if user is not world.manager:
            assert (await client.get(url(world))).status_code == 403
    page = await client.get(url(world))
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    template = await client.get(url(world) + "/template.csv")
    assert template.status_code == 200 and "date;volunteer;category;minutes" in template.text
    missing = await client.post(url(world), data={"csrf_token": csrf_from(page.text)})
    assert missing.status_code == 422 and "Choose a CSV or XLSX file." in missing.text
    forged = await client.post(url(world), files={"file": ("a.csv", b"x", "text/csv")})
    assert forged.status_code == 403  # no CSRF token


async def test_the_api_imports_a_csv_body_or_lists_the_problems(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db, requires_validation=True)
    path = f"/api/v1/associations/{world.association.slug}/actions/import"
    manager = {**headers_for(db, world.manager), "content-type": "text/csv"}
    good = csv_of(
        "date;volunteer;category;minutes",
        f"{days_ago(1)};{world.volunteer.username};{world.category.name};30",
    )
    bad = csv_of(
        "date;volunteer;category;minutes",
        f"{days_ago(1)};{world.volunteer.username};{world.category.name};0",
    )
    refused = await client.post(path, content=bad, headers=manager)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["problems"] == [
        {"line": 2, "column": "minutes", "message": "Enter a duration, or a distance travelled."}
    ]
    created = await client.post(path, content=good, headers=manager)
    assert created.status_code == 201
    [action] = actions_of(db, world)
    assert created.json() == {"imported": 1, "ids": [action.id], "ignored_columns": []}
    assert action.status == "pending"  # the association's rules apply to imports too
    as_json = await client.post(path, json={}, headers=headers_for(db, world.manager))
    assert as_json.status_code == 415
    volunteer = {**headers_for(db, world.volunteer), "content-type": "text/csv"}
    assert (await client.post(path, content=good, headers=volunteer)).status_code == 403
    assert len(actions_of(db, world)) == 1


def test_many_problems_are_counted_and_the_first_hundred_listed(db: Database) -> None:
    world = make_world(db)
    lines = ["date;volunteer;category;minutes"] + [f"{days_ago(1)};Personne;Inconnue;30"] * 80
    sheet = read_sheet("\n".join(lines).encode())
    refused = refusal(db, world, sheet)
    assert refused.total == 160  # two per line
    assert len(refused.problems) == action_import.MAX_PROBLEMS
    assert refused.problems[0].line == 2 and refused.problems[-1].line == 51
    assert "160 problems" in refused.message


async def test_a_benevalibre_export_imports_as_it_is(
    client: httpx.AsyncClient, db: Database
) -> None:
    world = make_world(db)
    with db.write() as session:
        row = session.get(User, world.other.id)
        assert row is not None
        row.display_name = "Camille Dupont"
        session.add(row)
    category = world.category.name
    header = (
        "Prénom,Nom,Pseudo,Association,Titre,Description,Date,Date de fin,Durée,"
        "Durée (en heures),En attente de modération,Distance (en km),Catégorie,Projet,Niveau"
    )
    content = csv_of(
        header,
        f",,{world.volunteer.username},Asso,Accueil,,{days_ago(4)},,1:30:00,1.5,False,,{category},,",
        f"Camille,Dupont,cdupont,Asso,,,{days_ago(5)},,0:45:00,0.75,False,3.5,{category},,",
        separator=",",
    )
    sheet = read_sheet(content)
    assert "Association" in sheet.ignored and "En attente de modération" in sheet.ignored
    await sign_in(client, world.manager)
    response = await upload(client, world, content)
    assert response.status_code == 303, problems_of(response.text)
    imported = sorted((a.membership_id, a.minutes, a.title) for a in actions_of(db, world))
    assert imported == sorted([(world.member.id, 90, "Accueil"), (world.other_member.id, 45, "")])


@pytest.mark.parametrize(
    ("duration", "expected"), [("1:30:00", 90), ("0:44:40", 45), ("1 day, 2:00:00", 1560)]
)
def test_durations_as_benevalibre_writes_them(duration: str, expected: int) -> None:
    assert action_import._minutes(None, None, duration) == expected
