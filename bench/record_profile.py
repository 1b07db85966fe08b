"""CPU per recording, in process: the action form and the API, beside a bare Starlette hello.

Seeds an instance like bench.actions (one association, 200 volunteers, 12
categories, 100,000 actions by default), builds the real application and drives
it with plain ASGI calls, one request after another, over the same random
actions as wrk's Lua scripts (random volunteer, category, date within the last
year, duration). CPU time is the process's (time.process_time, so the thread
pool's work counts too): wall clock means little on a shared machine.

Run: `python -m bench.record_profile [--requests 2000] [--actions 100000] [--repeat 3]
[--profile form|api]`
"""

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlmodel import col, func, select

from bench.export import seed
from bench.hello import app as hello_app
from bench.seed_actions import OWNER, PASSWORD, SESSION_COOKIE
from instance.config import build_config
from schema import db as schema_db
from schema.db import Database, make_engine
from schema.tables import Action, Association, Category, Membership, User
from web.app import create_app

SECRET = "bench-secret-" + "x" * 40
SORT = ["cumulative"]


@dataclass
class Answer:
    """What an ASGI application answered."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def cookie(self, name: str) -> str | None:
        """The value of a Set-Cookie of this name."""
        for key, value in self.headers:
            if key.lower() == b"set-cookie" and value.startswith(f"{name}=".encode()):
                return value.decode().split(";", 1)[0].split("=", 1)[1]
        return None


async def call(
    app: Any, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
) -> Answer:
    """One request through an ASGI application (no HTTP client in between)."""
    raw_path, _sep, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    answer = Answer(0, [], b"")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer


@dataclass(frozen=True)
class Bench:
    """A seeded instance's application and what the requests need."""

    app: Any
    db: Database
    slug: str
    token: str
    cookie: str
    csrf_token: str
    category_ids: list[int]
    volunteer_ids: list[int]


def _csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" value="([^"]+)"', html)
    if match is None:
        raise SystemExit("no CSRF token on the page")
    return match.group(1).decode()


async def _sign_in(app: Any, slug: str) -> tuple[str, str]:
    page = await call(app, "GET", "/login")
    cookie = page.cookie(SESSION_COOKIE) or ""
    form = urlencode({"login": OWNER, "password": PASSWORD, "csrf_token": _csrf(page.body)})
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "cookie": f"{SESSION_COOKIE}={cookie}",
    }
    answer = await call(app, "POST", "/login", headers=headers, body=form.encode())
    if answer.status != 303:
        raise SystemExit(f"could not sign in: {answer.status} {answer.body[:300]!r}")
    cookie = answer.cookie(SESSION_COOKIE) or cookie
    headers = {"cookie": f"{SESSION_COOKIE}={cookie}"}
    form_page = await call(app, "GET", f"/associations/{slug}/actions/new", headers=headers)
    return form_page.cookie(SESSION_COOKIE) or cookie, _csrf(form_page.body)


def _ids(db: Database, slug: str) -> tuple[list[int], list[int]]:
    with db.read() as session:
        association_id = session.exec(select(Association.id).where(Association.slug == slug)).one()
        categories = session.exec(
            select(Category.id).where(Category.association_id == association_id)
        ).all()
        members = session.exec(
            select(Membership.id, User.username)
            .join(User, col(User.id) == col(Membership.user_id))
            .where(Membership.association_id == association_id)
        ).all()
    return [c for c in categories if c], [m for m, name in members if name != OWNER and m]


def build(directory: Path, count: int) -> Bench:
    """Seed an instance in `directory` and build its application."""
    url = f"sqlite:///{directory / 'benefed.db'}"
    seeded = seed(url, count)
    raw = {
        "base_url": "http://testserver",
        "default_language": "en",
        "database_url": url,
        "secret_key": SECRET,
        "data_dir": str(directory / "data"),
        "log_level": "warning",
        "email": {"backend": "log"},
    }
    app = create_app(build_config(raw, {}))
    db = Database(make_engine(url))
    categories, volunteers = _ids(db, seeded.slug)
    cookie, csrf_token = asyncio.run(_sign_in(app, seeded.slug))
    return Bench(app, db, seeded.slug, seeded.token, cookie, csrf_token, categories, volunteers)


def _random_action(bench: Bench, rng: random.Random) -> tuple[int, str, int, int]:
    day = (date.today() - timedelta(days=rng.randint(1, 365))).isoformat()
    return (
        rng.choice(bench.volunteer_ids),
        day,
        rng.randint(10, 300),
        rng.choice(bench.category_ids),
    )


def form_request(bench: Bench, rng: random.Random) -> tuple[str, str, dict[str, str], bytes]:
    """What wrk's form script posts."""
    volunteer, day, minutes, category = _random_action(bench, rng)
    body = (
        f"csrf_token={bench.csrf_token}&volunteer_id={volunteer}&date={day}"
        f"&hours={minutes // 60}&mins={minutes % 60}&category_id={category}&title=wrk"
    )
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "cookie": f"{SESSION_COOKIE}={bench.cookie}",
    }
    return "POST", f"/associations/{bench.slug}/actions/new", headers, body.encode()


def api_request(bench: Bench, rng: random.Random) -> tuple[str, str, dict[str, str], bytes]:
    """What wrk's API script posts."""
    volunteer, day, minutes, category = _random_action(bench, rng)
    body = json.dumps(
        {"volunteer_id": volunteer, "date": day, "minutes": minutes, "category_id": category}
    )
    headers = {"content-type": "application/json", "authorization": f"Bearer {bench.token}"}
    return "POST", f"/api/v1/associations/{bench.slug}/actions", headers, body.encode()


def hello_request(_bench: Bench, _rng: random.Random) -> tuple[str, str, dict[str, str], bytes]:
    """The baseline's request."""
    return "GET", "/", {}, b""


Maker = Callable[[Bench, random.Random], tuple[str, str, dict[str, str], bytes]]


HELD: list[float] = []  # milliseconds the writers' turn was held, one per write


def _timed_turns() -> None:
    """Note how long each write holds the writers' turn (what the workers queue on)."""
    held = schema_db.WriteTurn.held

    @contextmanager
    def timed(self: Any) -> Iterator[None]:
        with held(self):
            started = time.perf_counter()
            try:
                yield
            finally:
                HELD.append((time.perf_counter() - started) * 1000)

    schema_db.WriteTurn.held = timed  # type: ignore[method-assign]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


def measure(
    app: Any, bench: Bench, make: Maker, requests: int, expected: int, profile: bool = False
) -> float:
    """CPU milliseconds per request over `requests` requests (after a short warm-up)."""
    rng = random.Random(7)
    prepared = [make(bench, rng) for _ in range(requests + 50)]

    async def run(batch: list[tuple[str, str, dict[str, str], bytes]]) -> None:
        for method, path, headers, body in batch:
            answer = await call(app, method, path, headers=headers, body=body)
            if answer.status != expected:
                raise SystemExit(f"{path}: {answer.status} {answer.body[:500]!r}")

    asyncio.run(run(prepared[:50]))
    HELD.clear()
    # The recording views run on the event loop (web/view_runner.py), so cProfile,
    # which sees one thread, sees all of their work.
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    asyncio.run(run(prepared[50:]))
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats(SORT[0]).print_stats(90)
        if os.environ.get("BENCH_PROFILE_DUMP"):
            profiler.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
    return cpu * 1000 / requests


def action_count(db: Database) -> int:
    """How many actions the database holds."""
    with db.read() as session:
        return session.exec(select(func.count()).select_from(Action)).one()


def main() -> None:
    """Print the CPU per recording (form, API) beside the bare Starlette hello."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--profile", choices=("form", "api"), help="print a cProfile of one")
    parser.add_argument("--sort", default="cumulative", help="cProfile order (tottime...)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each line; the least CPU is kept"
    )
    options = parser.parse_args()
    SORT[0] = options.sort
    with tempfile.TemporaryDirectory() as scratch:
        bench = build(Path(scratch), options.actions)
        before = action_count(bench.db)
        _timed_turns()
        runs = range(max(options.repeat, 1))
        hello = min(measure(hello_app, bench, hello_request, options.requests, 200) for _ in runs)
        lines = [("bare Starlette hello", hello, None)]
        for name, make, expected in (("form", form_request, 303), ("api", api_request, 201)):
            profile = options.profile == name
            costs, turns = [], []
            for n in runs:
                costs.append(
                    measure(bench.app, bench, make, options.requests, expected, profile and not n)
                )
                turns.extend(HELD)
            held = (_percentile(turns, 0.5), _percentile(turns, 0.99))
            lines.append((f"record an action ({name})", min(costs), held))
        created = action_count(bench.db) - before
        bench.db.dispose()
    print(f"\nin process, {options.requests:,} requests each, {options.actions:,} seeded actions")
    print(f"{'what':30} {'CPU ms/request':>15} {'ratio':>8}  writers' turn held p50 / p99 ms")
    for name, cost, held in lines:
        turn = f"  {held[0]:.3f} / {held[1]:.3f}" if held else ""
        print(f"{name:30} {cost:15.3f} {hello / cost:7.3f}x{turn}")
    expected = 2 * (options.requests + 50) * max(options.repeat, 1)
    print(
        f"actions created: {created:,} (expected {expected:,}); least CPU of {options.repeat} runs"
    )


if __name__ == "__main__":
    main()
