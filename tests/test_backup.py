"""Backup and restore: consistent, streamed, portable between SQLite and PostgreSQL."""

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from instance import backup, migrations, site
from instance.errors import Conflict, Invalid, NotFound
from instance.secrets import new_token, token_hash
from schema.db import Database, create_all, make_engine
from schema.tables import (
    ApiToken,
    Association,
    EmailToken,
    Handle,
    Invitation,
    Membership,
    User,
)
from schema.tables._base import utcnow
from tests.factories import make_association, make_membership, make_user
from web.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
CORE_TABLES = ("user", "association", "membership", "announcement", "sitesetting", "handle")


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``benefed`` as a real process in an instance folder."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BENEFED_")}
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def new_instance(tmp_path: Path, name: str) -> Path:
    """A folder with instance.toml and a migrated, empty SQLite database."""
    folder = tmp_path / name
    folder.mkdir()
    result = cli(folder, "init")
    assert result.returncode == 0, result.stderr
    return folder


def sqlite_database(folder: Path) -> Database:
    return Database(make_engine(f"sqlite:///{folder / 'benefed.db'}"))


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary key order."""
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in SQLModel.metadata.sorted_tables
            if table.name in present
        }


def populate(db: Database) -> None:
    """Users, associations, memberships, announcements, settings and tokens."""
    alice = make_user(
        db, display_name="Alice <b>É</b> 'quoted' \"twice\"", is_admin=True, language="en"
    )
    bob = make_user(db, email_confirmed=False)
    friends = make_association(db, alice, description="Line 1\nLine 2 — ünïcode 🎉")
    make_association(db, bob, is_hidden=True, is_network=True)
    make_membership(db, friends, bob, role="manager", status="pending", perm_view_actions=True)
    make_membership(
        db,
        friends,
        None,
        label="Access link",
        access_token_hash=token_hash(new_token()),
        access_expires_at=utcnow() + timedelta(days=30),
    )
    with db.write() as session:
        row = session.get(Association, friends.id)
        assert row is not None
        row.earliest_date = date(2024, 1, 31)
        row.default_hourly_rate_cents = 1234
        person = session.get(User, alice.id)
        assert person is not None
        person.last_login_at = datetime(2025, 3, 30, 1, 30, 15, 123456, tzinfo=UTC)
        site.set_setting(session, key="site_name", value="Bénévoles du Nord")
        site.set_setting(session, key="terms", value="<p>Terms</p>\n\nSecond paragraph")
        site.create_announcement(
            session,
            author=alice,
            title="Maintenance",
            audience="managers",
            ends_at=utcnow() + timedelta(days=2),
        )
        session.add(ApiToken(user_id=alice.id, token_hash=token_hash(new_token()), label="phone"))  # type: ignore[arg-type]
        session.add(
            EmailToken(
                user_id=bob.id,  # type: ignore[arg-type]
                purpose="confirm",
                token_hash=token_hash(new_token()),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        session.add(
            Invitation(
                email="new@example.org",
                token_hash=token_hash(new_token()),
                invited_by_id=alice.id,
                expires_at=utcnow() + timedelta(days=14),
            )
        )


def backup_lines(path: Path) -> list[Any]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def write_lines(path: Path, items: list[Any]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item) + "\n")
    return path


def test_values_keep_their_types() -> None:
    values = [
        datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 1, 31, 12, 0),
        date(2024, 2, 29),
        Decimal("12.340"),
        b"\x00\xffbinary",
        {"$datetime": "not a tag, a JSON value"},
        "$datetime",
        None,
        True,
        3,
        1.5,
        [1, "two"],
    ]
    for value in values:
        encoded = json.loads(json.dumps(backup.encode_value(value)))
        decoded = backup.decode_value(encoded)
        assert decoded == value and type(decoded) is type(value), value
    for bad in ({"$nope": 1}, {"$date": "2025-13-01"}, {"$a": 1, "$b": 2}, {"$bytes": "***"}):
        with pytest.raises(ValueError):
            backup.decode_value(bad)


def test_backup_and_restore_between_instances(tmp_path: Path) -> None:
    source = new_instance(tmp_path, "source")
    source_db = sqlite_database(source)
    populate(source_db)
    file = tmp_path / "snapshot.benefed.gz"
    made = cli(source, "backup", str(file))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("backed up ") and str(file) in made.stdout
    header = backup_lines(file)[0]
    assert header["format"] == "benefed-backup" and header["version"] == 1
    assert header["revision"] == migrations.head_revision(source_db.engine)
    assert datetime.fromisoformat(header["created_at"]).tzinfo is not None

    target = new_instance(tmp_path, "target")
    restored = cli(target, "restore", str(file))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("restored ")
    target_db = sqlite_database(target)
    expected = table_rows(source_db.engine)
    assert all(expected[name] for name in CORE_TABLES)
    assert table_rows(target_db.engine) == expected

    refused = cli(target, "restore", str(file))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "benefed: the database is not empty: restore into an empty database, "
        "or add --force to replace everything in it"
    ]
    make_user(target_db, username="latecomer")
    forced = cli(target, "restore", "--force", str(file))
    assert forced.returncode == 0, forced.stderr
    assert table_rows(target_db.engine) == expected
    added = make_user(target_db, username="latecomer")
    assert added.id is not None and added.id > max(row[0] for row in expected["user"])
    source_db.dispose()
    target_db.dispose()


def test_bad_files_fail_with_one_line_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = new_instance(tmp_path, "target")
    target_db = sqlite_database(target)
    populate(target_db)
    good = tmp_path / "good.gz"
    assert cli(target, "backup", str(good)).returncode == 0
    before = table_rows(target_db.engine)
    items = backup_lines(good)
    head, body, end = items[0], items[1:-1], items[-1]
    raw = good.read_bytes()
    (tmp_path / "plain.txt").write_text("hello\n")
    (tmp_path / "cut.gz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "flipped.gz").write_bytes(
        raw[: len(raw) // 2] + bytes(b ^ 0x5A for b in raw[len(raw) // 2 : -8]) + raw[-8:]
    )
    with gzip.open(tmp_path / "words.gz", "wt") as out:
        out.write("not json at all\n")
    first_table = next(i for i, item in enumerate(body) if isinstance(item, dict))
    bad_row = [*body[: first_table + 1], ["too", "short"], *body[first_table + 1 :]]
    broken_link = [
        {"table": "membership", "columns": ["id", "association_id", "user_id", "role", "status"]},
        [99, 424242, None, "volunteer", "active"],
    ]
    cases = {
        "missing.gz": "backup file not found",
        "plain.txt": "is not a Benefed backup",
        "words.gz": "is not a Benefed backup",
        "cut.gz": "is damaged",
        "flipped.gz": "",
        "other.gz": "is not a Benefed backup",
        "version.gz": "backup format version 2 is not supported",
        "newer.gz": "newer version of Benefed",
        "bad_row.gz": "is damaged (a row does not match its table)",
        "no_end.gz": "is damaged (cut short)",
        "counts.gz": "is damaged (row counts do not match)",
        "unknown_table.gz": "a table this database does not have: ghosts",
        "broken_link.gz": "the backup does not fit this database",
    }
    write_lines(tmp_path / "other.gz", [{"format": "something-else"}])
    write_lines(tmp_path / "version.gz", [{**head, "version": 2}, *body, end])
    write_lines(tmp_path / "newer.gz", [{**head, "revision": "0123456789ab"}, *body, end])
    write_lines(tmp_path / "bad_row.gz", [head, *bad_row, end])
    write_lines(tmp_path / "no_end.gz", [head, *body])
    write_lines(tmp_path / "counts.gz", [head, *body, {"end": True, "rows": {"user": 1}}])
    write_lines(tmp_path / "unknown_table.gz", [head, {"table": "ghosts", "columns": []}])
    write_lines(tmp_path / "broken_link.gz", [head, *broken_link, end])
    # In-process for speed; the same main() as the `benefed` command.
    for key in [key for key in os.environ if key.startswith("BENEFED_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(target)
    for name, message in cases.items():
        capsys.readouterr()
        code = cli_main(["restore", "--force", str(tmp_path / name)])
        stderr = capsys.readouterr().err
        assert code == 1, name
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("benefed: "), (name, stderr)
        assert message in lines[0], (name, lines[0])
        assert table_rows(target_db.engine) == before, name
    as_process = cli(target, "restore", str(tmp_path / "cut.gz"))
    assert as_process.returncode == 1 and len(as_process.stderr.strip().splitlines()) == 1
    target_db.dispose()


def test_restore_into_the_test_database(db: Database, tmp_path: Path) -> None:
    populate(db)
    file = tmp_path / "backup.gz"
    summary = backup.write_backup(db.engine, file)
    before = table_rows(db.engine)
    assert summary.rows == {name: len(rows) for name, rows in before.items()}
    assert not list(tmp_path.glob("*.partial"))

    with pytest.raises(Conflict):
        backup.restore_backup(db.engine, file)
    with db.write() as session:
        session.delete(session.execute(select(Membership)).scalars().first())
    make_user(db, username="intruder")
    restored = backup.restore_backup(db.engine, file, force=True)
    assert restored.rows == summary.rows
    assert table_rows(db.engine) == before
    # The id sequences follow the restored rows (PostgreSQL setval).
    owner = make_user(db, username="afterwards")
    association = make_association(db, owner)
    assert owner.id > max(row[0] for row in before["user"])  # type: ignore[operator]
    assert association.id > max(row[0] for row in before["association"])  # type: ignore[operator]


def test_failed_restore_leaves_the_database_unchanged(db: Database, tmp_path: Path) -> None:
    populate(db)
    good = tmp_path / "good.gz"
    backup.write_backup(db.engine, good)
    before = table_rows(db.engine)
    items = backup_lines(good)
    start = items.index(
        next(i for i in items if isinstance(i, dict) and i.get("table") == "membership")
    )
    column = items[start]["columns"].index("user_id")
    items[start + 1][column] = 987654
    orphan = items
    bad = write_lines(tmp_path / "orphan.gz", orphan)
    with pytest.raises(Invalid):
        backup.restore_backup(db.engine, bad, force=True)
    assert table_rows(db.engine) == before
    with pytest.raises(NotFound):
        backup.restore_backup(db.engine, tmp_path / "nowhere.gz", force=True)
    with pytest.raises(Invalid, match="newer version"):
        backup.check_revision(db.engine, "0123456789ab")


def test_portable_between_engines(db: Database, tmp_path: Path) -> None:
    """The test database (SQLite, or PostgreSQL when configured) to SQLite and back."""
    populate(db)
    first = tmp_path / "from-test-db.gz"
    backup.write_backup(db.engine, first)
    copy = Database(make_engine(f"sqlite:///{tmp_path / 'copy.db'}"))
    create_all(copy.engine)
    backup.restore_backup(copy.engine, first)
    expected = table_rows(db.engine)
    assert table_rows(copy.engine) == expected

    make_user(copy, username="only-in-copy")
    second = tmp_path / "from-sqlite.gz"
    backup.write_backup(copy.engine, second)
    backup.restore_backup(db.engine, second, force=True)
    assert table_rows(db.engine) == table_rows(copy.engine)
    users = table_rows(db.engine)["user"]
    assert any(row[1] == "only-in-copy" for row in users)
    # Ids made after the restore follow the restored ones (setval on PostgreSQL).
    assert make_user(db).id > max(row[0] for row in users)  # type: ignore[operator]
    copy.dispose()


def test_snapshot_does_not_see_later_writes(db: Database) -> None:
    populate(db)
    with db.read() as session:
        users_before = len(session.execute(select(User)).scalars().all())
    summary = backup.Summary()
    with backup.snapshot(db.engine) as connection:
        lines = backup.dump_lines(connection, summary)
        started = [next(lines), next(lines), next(lines)]  # header, a table, its first row
        assert json.loads(started[1])["table"] == backup.tables(connection)[0].name
        make_user(db, username="toolate")
        rest = [json.loads(line) for line in lines]
    text = json.dumps(rest)
    assert "toolate" not in text
    assert summary.rows["user"] == users_before
    with db.read() as session:
        assert len(session.exec(select(User)).all()) == users_before + 1  # type: ignore[call-overload]


def test_large_tables_go_through_in_batches(db: Database, tmp_path: Path) -> None:
    count = backup.BATCH * 2 + 345
    created = utcnow()
    with db.write() as session:
        session.execute(
            insert(Handle),
            [
                {"name": f"name-{n:05d}", "kind": "user", "created_at": created}
                for n in range(count)
            ],
        )
    file = tmp_path / "big.gz"
    summary = backup.write_backup(db.engine, file)
    assert summary.rows["handle"] == count
    before = table_rows(db.engine)
    backup.restore_backup(db.engine, file, force=True)
    assert table_rows(db.engine) == before
