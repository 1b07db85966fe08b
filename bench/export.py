"""Export speed and memory: 100,000 actions (1,000,000 with --million) as CSV over HTTP.

Seeds one association (200 volunteers, 12 categories, 5 projects, 3 levels,
3 years of actions) into the SQLite file of a real `benefed serve`, downloads
/api/v1/associations/{slug}/export.csv and prints the wall time and the growth
of the server's peak RSS, beside the bare Starlette baseline under the same
uvicorn. Run: `python -m bench.export [--million] [--formats csv,json,xlsx,ods]`.
"""

import argparse
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
from sqlalchemy import insert
from sqlmodel import col, func, select

from bench.servers import benefed_server, hello_server, peak_rss_kib, rss_kib
from instance import accounts, associations, rollups, taxonomy
from instance.passwords import hash_password
from instance.periods import FIRST_DATE
from instance.secrets import new_token, token_hash
from schema.db import Database, create_all, make_engine
from schema.tables import Action, ApiToken, Association, Level, LevelRate, Membership, User
from tests.live import LiveInstance

VOLUNTEERS = 200
PROJECTS = 5
YEARS = 3
CHUNK = 10_000
TITLES = ("Permanence", "Réunion du bureau", "Atelier vélo", "Collecte", "Fête d'été", "")


@dataclass(frozen=True)
class Seeded:
    """What the benchmark needs to ask for the export."""

    slug: str
    token: str
    actions: int


def _people(session: Any, association: Association) -> list[int]:
    shared = hash_password("bench password 1234")
    users = [
        User(
            username=f"benevole{number}",
            email=f"benevole{number}@example.org",
            display_name=f"Bénévole n°{number}",
            password_hash=shared,
            email_confirmed=True,
        )
        for number in range(VOLUNTEERS)
    ]
    session.add_all(users)
    session.flush()
    members = [
        Membership(association_id=association.id or 0, user_id=user.id, role="volunteer")
        for user in users
    ]
    session.add_all(members)
    session.flush()
    return [member.id for member in members if member.id is not None]


def _taxonomy(session: Any, association: Association) -> tuple[list[int], list[int], dict]:
    taxonomy.copy_instance_defaults(session, association=association)
    for number in range(PROJECTS):
        taxonomy.create_entry(
            session, kind="project", association=association, values={"name": f"Projet {number}"}
        )
    ids = {
        kind: [
            entry.id for entry in taxonomy.list_entries(session, kind=kind, association=association)
        ]
        for kind in ("category", "project", "level")
    }
    query = select(LevelRate.level_id, LevelRate.hourly_rate_cents).join(
        Level, col(Level.id) == col(LevelRate.level_id)
    )
    rates = dict(session.exec(query.where(Level.association_id == association.id)).all())
    return ids["category"], ids["project"], {"levels": ids["level"], "rates": rates}


def _action_rows(
    count: int, association_id: int, members: list[int], taxonomy_ids: tuple, owner_id: int
) -> Iterator[dict[str, Any]]:
    """Actions over three years, in date order as people enter them (ids follow dates)."""
    categories, projects, levels = taxonomy_ids
    randomly = random.Random(42)
    first = date.today().replace(month=1, day=1) - timedelta(days=365 * (YEARS - 1))
    days = 365 * YEARS
    for number in range(count):
        day = first + timedelta(days=number * days // count)
        entered = datetime.combine(day, time(19), UTC) + timedelta(seconds=number % 7200)
        level = randomly.choice([None, *levels["levels"]])
        yield {
            "association_id": association_id,
            "membership_id": randomly.choice(members),
            "date": day,
            "minutes": randomly.choice((20, 30, 45, 60, 90, 120, 180, 240)),
            "travel_minutes": randomly.choice((None, 15, 30)),
            "category_id": randomly.choice(categories),
            "project_id": randomly.choice([None, *projects]),
            "level_id": level,
            "title": randomly.choice(TITLES),
            "description": f"Action n°{number}, préparée avec soin.",
            "distance_hundredths": randomly.choice((None, 250, 1200)),
            "status": randomly.choice(("validated",) * 8 + ("pending", "refused")),
            "refusal_reason": "",
            "rate_cents": levels["rates"].get(level) if level else None,
            "source": "web",
            "created_by_id": owner_id,
            "created_at": entered,
            "updated_by_id": owner_id,
            "updated_at": entered,
        }


def _association(db: Database) -> tuple[str, int, int, str, list[int], tuple]:
    with db.write() as session:
        owner = accounts.create_user(
            session,
            username="bench_owner",
            email="owner@example.org",
            password="bench password 1234",
            email_confirmed=True,
        )
        association = associations.create_association(session, owner=owner, name="Bench")
        members = _people(session, association)
        taxonomy_ids = _taxonomy(session, association)
        token = new_token()
        assert owner.id is not None and association.id is not None
        session.add(ApiToken(user_id=owner.id, token_hash=token_hash(token), label="bench"))
        return association.slug, association.id, owner.id, token, members, taxonomy_ids


def seed(database_url: str, count: int) -> Seeded:
    """Fill an empty, migrated database with one association and `count` actions."""
    engine = make_engine(database_url)
    create_all(engine)  # tables that have no migration yet (create_all skips existing ones)
    db = Database(engine)
    slug, association_id, owner_id, token, members, taxonomy_ids = _association(db)
    table = Action.__table__  # type: ignore[attr-defined]
    rows = _action_rows(count, association_id, members, taxonomy_ids, owner_id)
    with db.write() as session:
        connection = session.connection()
        while batch := list(islice(rows, CHUNK)):
            connection.execute(insert(table), batch)
    with db.write() as session:
        # rollups.rebuild recounts through ORM objects; the grouped SQL of raw_totals gives
        # the same rows for a million actions in a fraction of the memory, a year at a time
        # (the day rows: about 80,000 a year at a million actions; no month spans two years).
        first, last = session.exec(select(func.min(Action.date), func.max(Action.date))).one()
        for year in range(max(first, FIRST_DATE).year, last.year + 1):
            start, end = date(year, 1, 1), date(year, 12, 31)
            totals = rollups.raw_totals(session, association_id, start, end)
            rollups.apply_delta(session, association_id, totals)
    db.dispose()
    return Seeded(slug, token, count)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _download(url: str, headers: dict[str, str]) -> tuple[float, int, int]:
    started = perf_counter()
    size = lines = 0
    with httpx.stream("GET", url, headers=headers, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return perf_counter() - started, size, lines


def measure_export(count: int, formats: list[str]) -> None:
    """Seed `count` actions, serve them and download each format once."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "instance"
        setup = LiveInstance(directory)
        setup.write_config()
        setup.cli("migrate")
        started = perf_counter()
        seeded = seed(f"sqlite:///{directory / 'benefed.db'}", count)
        print(f"seeded {count:,} actions in {perf_counter() - started:.1f} s")
        with benefed_server(directory) as server:
            assert server.process is not None
            pid = server.process.pid
            headers = {"Authorization": f"Bearer {seeded.token}"}
            base = f"{server.url}/api/v1/associations/{seeded.slug}/export"
            _download(f"{base}.csv?from=2000-01-01&to=2000-01-31", headers)  # warm up
            for fmt in formats:
                peak_before, rss_before = peak_rss_kib(pid), rss_kib(pid)
                cpu_before = cpu_seconds(pid)
                seconds, size, lines = _download(f"{base}.{fmt}", headers)
                cpu = cpu_seconds(pid) - cpu_before
                growth = peak_rss_kib(pid) - peak_before
                print(
                    f"{fmt:4} {count:>9,} actions  {seconds:6.2f} s (server CPU {cpu:5.2f} s)  "
                    f"{size / 1e6:7.1f} MB  {count / seconds:>8,.0f} rows/s  "
                    f"server RSS {rss_before / 1024:.0f} MiB, peak growth {growth / 1024:.1f} MiB"
                    + (f"  ({lines - 1:,} lines)" if fmt == "csv" else "")
                )


def measure_baseline(requests: int = 1000) -> None:
    """The bare Starlette app: its RSS and the time of 1,000 hello requests."""
    with hello_server() as (url, pid), httpx.Client() as client:
        cpu_before, started = cpu_seconds(pid), perf_counter()
        for _number in range(requests):
            client.get(url + "/").raise_for_status()
        seconds, cpu = perf_counter() - started, cpu_seconds(pid) - cpu_before
        print(
            f"bare starlette: RSS {rss_kib(pid) / 1024:.0f} MiB (peak {peak_rss_kib(pid) / 1024:.0f}"
            f" MiB), {requests:,} hello requests in {seconds:.2f} s (server CPU {cpu:.2f} s)"
        )


def main() -> None:
    """Print export time and memory beside the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also export 1,000,000 actions")
    parser.add_argument("--formats", default="csv", help="comma-separated: csv,json,xlsx,ods")
    options = parser.parse_args()
    formats = [fmt.strip() for fmt in options.formats.split(",") if fmt.strip()]
    measure_baseline()
    measure_export(100_000, formats)
    if options.million:
        measure_export(1_000_000, [fmt for fmt in formats if fmt in {"csv", "json"}])


if __name__ == "__main__":
    main()
