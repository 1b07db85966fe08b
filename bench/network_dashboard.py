"""Network dashboard benchmark: 1,000 members x 5 years of monthly reports, over HTTP with wrk.

Seeds a new instance (migrated with `benefed migrate`) with one network,
1,000 member associations and one report per member and month for 60 months
(60,000 reports with realistic bodies, bulk inserted with their category rows),
checks that the API's totals equal the reports' sums, serves it with
`benefed serve` and prints the median and p99 latency of the dashboard (by
month, member and category, over the 5 years), of the public open data and of
the dashboard page, with wrk at 1 connection, beside the bare Starlette hello
measured in the same run.
Run: `python -m bench.network_dashboard [--seconds 5] [--members 1000] [--months 60]`.
"""

import argparse
import json
import os
import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
from sqlalchemy import insert
from sqlmodel import func, select

from bench import wrk
from bench.export import cpu_seconds
from bench.servers import benefed_server, hello_server
from bench.wrk import LoadResult
from instance import accounts, associations, networks
from instance.network_privacy import OTHER
from instance.network_sums import refresh_all
from instance.secrets import new_token, token_hash
from schema.db import Database, make_engine
from schema.tables import ApiToken, NetworkMember, ReceivedReport, ReceivedReportCategory
from tests.live import LiveInstance

OWNER = "bench_owner"
PASSWORD = "bench password 1234"
CHUNK = 5_000
TARGET_MS = 100.0
THRESHOLD = 5


@dataclass(frozen=True)
class Seeded:
    """What the requests need, and what the seeding did."""

    slug: str
    token: str
    reports: int
    categories: int
    minutes: int
    first: str
    last: str
    seconds: float


def months_back(count: int) -> list[str]:
    """The `count` months up to last month, oldest first."""
    today = date.today().replace(day=1)
    year, month = today.year, today.month
    found = []
    for _number in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        found.append(f"{year:04d}-{month:02d}")
    return found[::-1]


def _network(db: Database) -> tuple[str, int, str, list[str]]:
    with db.write() as session:
        owner = accounts.create_user(
            session,
            username=OWNER,
            email="owner@example.org",
            password=PASSWORD,
            email_confirmed=True,
        )
        network = associations.create_association(
            session, owner=owner, name="Réseau national", is_network=True
        )
        token = new_token()
        assert owner.id is not None and network.id is not None
        session.add(ApiToken(user_id=owner.id, token_hash=token_hash(token), label="bench"))
        keys = [c.key for c in networks.list_categories(session, network=network)]
        return network.slug, network.id, token, keys


def _members(db: Database, network_id: int, count: int) -> list[tuple[int, str, int]]:
    """Bulk insert the members; (id, actor, size in volunteers) of each."""
    randomly = random.Random(7)
    rows = []
    for number in range(count):
        host = f"instance{number % 40}.example"
        rows.append(
            {
                "network_id": network_id,
                "actor_uri": f"https://{host}/associations/asso-{number}",
                "name": f"Association n°{number}",
                "status": "active",
                "anonymous": number % 10 == 0,
                "is_network": False,
            }
        )
    with db.write() as session:
        session.connection().execute(insert(NetworkMember.__table__), rows)  # type: ignore[attr-defined]
        found = session.exec(
            select(NetworkMember.id, NetworkMember.actor_uri).where(
                NetworkMember.network_id == network_id
            )
        ).all()
    sizes = [randomly.choice((1, 2, 3, 4, 6, 8, 12, 20, 35, 60)) for _member in found]
    return [(member_id, actor, size) for (member_id, actor), size in zip(found, sizes, strict=True)]


def _figures(randomly: random.Random, size: int, keys: list[str]) -> dict[str, Any]:
    """One month of one association: exact totals, and a breakdown when large enough."""
    volunteers = max(1, size + randomly.randint(-size // 3, size // 3))
    minutes = sum(randomly.randint(30, 600) for _person in range(volunteers))
    figures: dict[str, Any] = {
        "minutes": minutes,
        "actions": volunteers * randomly.randint(1, 4),
        "valued_cents": minutes * 20 if randomly.random() < 0.7 else None,
        "volunteers": None,
        "categories": {},
    }
    if volunteers >= THRESHOLD:
        shown = randomly.sample([k for k in keys if k != OTHER], randomly.randint(1, 4))
        left, split = minutes, {}
        for key in shown:
            part = randomly.randint(0, left // 2)
            split[key], left = part, left - part
        split[OTHER] = left
        figures["volunteers"] = volunteers
        figures["categories"] = {k: v for k, v in split.items() if v}
    return figures


def _body(actor: str, network_actor: str, month: str, figures: dict[str, Any], updated: str) -> str:
    """A report body as a member sends it (about 1.2 kB, signed)."""
    body: dict[str, Any] = {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            "https://w3id.org/security/data-integrity/v2",
            {"benefed": "https://benefed.org/ns#", "NetworkReport": "benefed:NetworkReport"},
        ],
        "id": f"{actor}/reports/bench.example/national/{month}",
        "type": "NetworkReport",
        "attributedTo": actor,
        "network": network_actor,
        "to": [network_actor],
        "month": month,
        "minutes": figures["minutes"],
        "actions": figures["actions"],
        "valuedAmount": None
        if figures["valued_cents"] is None
        else f"{figures['valued_cents'] // 100}.{figures['valued_cents'] % 100:02d}",
        "currency": "EUR" if figures["valued_cents"] is not None else None,
        "updated": updated,
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-jcs-2022",
            "verificationMethod": f"{actor}#ed25519-key",
            "proofPurpose": "assertionMethod",
            "created": updated,
            "proofValue": "z" + "3" * 86,
        },
    }
    if figures["volunteers"] is not None:
        body["volunteers"] = figures["volunteers"]
        body["minutesByCategory"] = [
            {"key": k, "minutes": v} for k, v in figures["categories"].items()
        ]
    return json.dumps(body, separators=(",", ":"))


def _reports(
    network_id: int,
    members: list[tuple[int, str, int]],
    months: list[str],
    keys: list[str],
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each report row with its category rows (ids given, so both go in bulk)."""
    randomly = random.Random(42)
    network_actor = "http://bench.example/associations/national"
    received = datetime(2020, 1, 1, tzinfo=UTC)
    report_id = 0
    for index, month in enumerate(months):
        for member_id, actor, size in members:
            report_id += 1
            figures = _figures(randomly, size, keys)
            moment = received + timedelta(days=31 * index, minutes=member_id)
            failed = index == len(months) - 1 and member_id % 97 == 0
            row = {
                "id": report_id,
                "object_id": f"{actor}/reports/bench.example/national/{month}",
                "network_id": network_id,
                "member_id": member_id,
                "issuer_uri": actor,
                "month": month,
                "minutes": figures["minutes"],
                "actions": figures["actions"],
                "volunteers": figures["volunteers"],
                "valued_cents": figures["valued_cents"],
                "currency": "EUR" if figures["valued_cents"] is not None else "",
                "categories": json.dumps(figures["categories"]),
                "updated": moment,
                "body": _body(actor, network_actor, month, figures, moment.isoformat()),
                "proof_status": "invalid proof" if failed else "verified",
                "deleted": False,
                "received_at": moment,
            }
            cells = [
                {
                    "report_id": report_id,
                    "network_id": network_id,
                    "month": month,
                    "key": key,
                    "minutes": value,
                }
                for key, value in figures["categories"].items()
                if not failed
            ]
            yield row, cells


def seed(database_url: str, members_count: int, months_count: int) -> Seeded:
    """Fill a migrated database with one network, its members and their reports."""
    started = perf_counter()
    db = Database(make_engine(database_url))
    slug, network_id, token, keys = _network(db)
    members = _members(db, network_id, members_count)
    months = months_back(months_count)
    stream = _reports(network_id, members, months, keys)
    reports = categories = 0
    while batch := list(islice(stream, CHUNK)):
        cells = [cell for _row, row_cells in batch for cell in row_cells]
        with db.write() as session:
            connection = session.connection()
            connection.execute(insert(ReceivedReport.__table__), [row for row, _c in batch])  # type: ignore[attr-defined]
            connection.execute(insert(ReceivedReportCategory.__table__), cells)  # type: ignore[attr-defined]
        reports += len(batch)
        categories += len(cells)
    with db.write() as session:  # bulk rows bypassed save_report: sum the months once
        refresh_all(session, network_id)
    with db.read() as session:
        minutes = session.exec(
            select(func.sum(ReceivedReport.minutes)).where(
                ReceivedReport.network_id == network_id,
                ReceivedReport.proof_status == "verified",
            )
        ).one()
    db.dispose()
    return Seeded(
        slug,
        token,
        reports,
        categories,
        int(minutes),
        months[0],
        months[-1],
        perf_counter() - started,
    )


@dataclass(frozen=True)
class Endpoint:
    """One URL to load, with its headers."""

    label: str
    path: str
    headers: dict[str, str]


def endpoints(seeded: Seeded, cookie: str) -> list[Endpoint]:
    """The dashboard by month, member and category, the open data, the page."""
    api = f"/api/v1/networks/{seeded.slug}"
    period = f"from={seeded.first}&to={seeded.last}"
    bearer = {"Authorization": f"Bearer {seeded.token}"}
    found = [
        Endpoint(
            f"dashboard by {group} (API)", f"{api}/dashboard?{period}&group_by={group}", bearer
        )
        for group in ("month", "member", "category")
    ]
    found.append(Endpoint("open data (public JSON)", f"{api}/open-data.json", {}))
    found.append(
        Endpoint(
            "dashboard page (HTML)",
            f"/associations/{seeded.slug}/network/dashboard?{period}",
            {"Cookie": f"benefed_session={cookie}"},
        )
    )
    return found


def sign_in(url: str) -> str:
    """The owner's session cookie, through the login form."""
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match is not None
        answer = client.post(
            "/login", data={"login": OWNER, "password": PASSWORD, "csrf_token": match.group(1)}
        )
        if answer.status_code != 303:
            raise SystemExit(f"could not sign in: {answer.status_code}")
        return str(client.cookies["benefed_session"])


def check(url: str, endpoint: Endpoint, seeded: Seeded) -> int:
    """Warm the endpoint up; fail unless it answers 200 (and exact totals); its size."""
    size = 0
    with httpx.Client(base_url=url, headers=endpoint.headers, timeout=60) as client:
        for _attempt in range(5):
            answer = client.get(endpoint.path)
            if answer.status_code != 200:
                raise SystemExit(f"{endpoint.label}: answered {answer.status_code}")
            size = len(answer.content)
    if "/dashboard?" in endpoint.path and endpoint.path.startswith("/api/"):
        total = answer.json()["total_minutes"]
        if total != seeded.minutes:
            raise SystemExit(
                f"{endpoint.label}: {total} minutes, the reports hold {seeded.minutes}"
            )
    return size


def line_text(
    endpoint: Endpoint, result: LoadResult, hello: LoadResult, size: int, cpu_ms: float
) -> str:
    """One row of the table."""
    ratio = result.requests_per_second / hello.requests_per_second
    verdict = "met" if result.p50_ms < TARGET_MS else "MISSED"
    return (
        f"{endpoint.label:<30} {result.requests_per_second:>7.1f} {result.p50_ms:>8.1f}"
        f" {result.p99_ms:>8.1f} {cpu_ms:>8.1f} {result.errors:>6} {size / 1024:>6.0f}"
        f"   {hello.requests_per_second:>7.0f} {hello.p50_ms:>7.2f}  {ratio:>6.4f}x  {verdict}"
    )


def main() -> None:
    """Seed, serve, measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per line")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--months", type=int, default=60)
    options = parser.parse_args()
    print(
        f"Benefed network dashboard benchmark, {date.today().isoformat()}, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.2f}, wrk 1 connection, {options.seconds} s per line"
    )
    with hello_server() as (url, _pid):
        wrk.run(url + "/", connections=1, seconds=1)
        hello = wrk.run(url + "/", connections=1, seconds=options.seconds)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "instance"
        setup = LiveInstance(directory)
        setup.write_config()
        setup.cli("migrate")
        seeded = seed(f"sqlite:///{directory / 'benefed.db'}", options.members, options.months)
        print(
            f"seeded {options.members:,} members x {options.months} months: {seeded.reports:,} reports"
            f" and {seeded.categories:,} category rows in {seeded.seconds:.1f} s"
            f" ({(directory / 'benefed.db').stat().st_size / 1e6:.0f} MB);"
            f" months {seeded.first} to {seeded.last}"
        )
        with benefed_server(directory) as server:
            cookie = sign_in(server.url)
            print(
                f"\n{'what':<30} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8}"
                f" {'errors':>6} {'KiB':>6}"
                f"   {'hello/s':>7} {'p50 ms':>7}  {'ratio':>7}  target p50 < {TARGET_MS:.0f} ms"
            )
            assert server.process is not None
            pid = server.process.pid
            for endpoint in endpoints(seeded, cookie):
                size = check(server.url, endpoint, seeded)
                before = cpu_seconds(pid)
                result = wrk.run(
                    server.url + endpoint.path,
                    connections=1,
                    seconds=options.seconds,
                    headers=endpoint.headers or None,
                )
                cpu_ms = (cpu_seconds(pid) - before) * 1000 / max(result.requests, 1)
                print(line_text(endpoint, result, hello, size, cpu_ms))
    print(
        f"\nexact totals checked: {seeded.minutes:,} minutes; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
