"""Actions benchmark: statistics, lists, recording and the CSV export over HTTP with wrk.

Seeds 100,000 actions (one association, 200 volunteers, 12 categories,
5 projects, 3 levels, 3 years) into a new instance, serves it with
`benefed serve` and prints requests/s and p50/p99 latency at 1 and 4 wrk
connections beside the bare Starlette hello measured in the same run, then the
CSV export's wall time and memory. While the statistics are measured, a thread
records an action through the API every ~50 ms, so the figures keep changing.
Run: `python -m bench.actions [--million] [--workers 1,2] [--seconds 5]`.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter

import httpx
from sqlmodel import func, select

from bench import wrk
from bench.export import cpu_seconds
from bench.seed_actions import (
    BrowserSession,
    SeededInstance,
    api_lua,
    browser_session,
    form_lua,
    post_api,
    post_form,
    seed_instance,
)
from bench.servers import hello_server, peak_rss_kib, rss_kib
from bench.wrk import LoadResult
from schema.db import Database, make_engine
from schema.tables import Action
from tests.live import LiveInstance

CONNECTIONS = (1, 4)
#: Runs of each line with several connections, the median one shown. uvicorn's workers
#: share one listening socket and a worker that wakes first may accept every connection
#: wrk opens at once: about one run in five then measures a single worker (a third of the
#: throughput). Each run opens its connections anew.
SHARED_RUNS = 3
WRITE_EVERY = 0.05  # seconds between two background writes
START_TIMEOUT = 120  # seconds for a server to answer /health (several workers on a busy machine)
REFERENCE = {"stats": "291 ms", "range": "", "list": "142 ms", "record": "~75/s, p99 1.8 s"}
TARGET_TEXT = {
    "stats": "p50 < 6 ms",
    "range": "p50 < 25 ms",
    "list": "p50 < 15 ms",
    "record": ">= 750/s, p99 < 25 ms",
}
#: The connections a kind's target is judged at (None: every line).
JUDGED_AT = {"stats": 1, "range": 1, "list": None, "record": 4}
READ_KINDS = {"stats", "range"}  # measured while the background thread writes
EXPORT_TARGET = "< 2 s, < 100 MB"
EXPORT_REFERENCE = "198 s / 690 MB"
NAGLE_NOTE = "uvicorn --workers N binds without IPPROTO_TCP, Kludex/uvicorn#3149"


@dataclass(frozen=True)
class Endpoint:
    """One thing to load: a URL, its headers, and a Lua script for POSTs."""

    kind: str  # stats (whole months), range (partial months), list or record
    label: str
    path: str
    headers: dict[str, str]
    lua: str | None = None


@dataclass(frozen=True)
class Line:
    """One measured line of the table."""

    endpoint: Endpoint
    connections: int
    result: LoadResult
    baseline: LoadResult
    created: int | None = None
    runs: tuple[float, ...] = ()  # requests/s of every run, when the median one is shown


def met(line: Line) -> str:
    """Whether a line meets its target: met, MISSED, or '-' when none applies."""
    kind, result = line.endpoint.kind, line.result
    if JUDGED_AT[kind] not in {None, line.connections}:
        return "-"
    if kind == "stats":
        ok = result.p50_ms < 6
    elif kind == "range":
        ok = result.p50_ms < 25
    elif kind == "list":
        ok = result.p50_ms < 15
    else:
        ok = result.requests_per_second >= 750 and result.p99_ms < 25
    # A recording that answered without creating its action does not count.
    made = line.created is None or line.created >= result.requests
    return "met" if ok and made and not result.errors else "MISSED"


def endpoints(seeded: SeededInstance, browser: BrowserSession) -> list[Endpoint]:
    """The six endpoints of the benchmark, for this instance and session."""
    cookie = {"Cookie": f"benefed_session={browser.cookie}"}
    bearer = {"Authorization": f"Bearer {seeded.token}"}
    html, api = f"/associations/{seeded.slug}", f"/api/v1/associations/{seeded.slug}"
    period = f"from={seeded.first_day.isoformat()}&to={seeded.last_day.isoformat()}"
    # About a year that starts and ends inside a month: both edges are added up from actions.
    start, end = seeded.last_day - timedelta(days=400), seeded.last_day - timedelta(days=45)
    partial = f"from={start.isoformat()}&to={end.isoformat()}"
    return [
        Endpoint("stats", "statistics page (HTML)", f"{html}/stats?{period}", cookie),
        Endpoint("range", "statistics, partial months", f"{html}/stats?{partial}", cookie),
        Endpoint(
            "stats",
            "summary by category (API)",
            f"{api}/summary?{period}&group_by=category",
            bearer,
        ),
        Endpoint("list", "actions list, page 1 (HTML)", f"{html}/actions", cookie),
        Endpoint("list", "actions list, page 1 (API)", f"{api}/actions", bearer),
        Endpoint(
            "record",
            "record an action (form)",
            f"{html}/actions/new",
            {},
            form_lua(seeded, browser),
        ),
        Endpoint("record", "record an action (API)", f"{api}/actions", {}, api_lua(seeded)),
    ]


# Checks and background writes.


def check(url: str, endpoint: Endpoint, seeded: SeededInstance, browser: BrowserSession) -> None:
    """Send the request a few times (warming the server up); fail unless it answers as expected."""
    if endpoint.kind == "record":
        api = endpoint.path.startswith("/api/")
        status = post_api(url, seeded) if api else post_form(url, seeded, browser)
        if status != (201 if api else 303):
            raise SystemExit(f"{endpoint.label}: answered {status}")
        return
    with httpx.Client(base_url=url, headers=endpoint.headers, timeout=30) as client:
        for _attempt in range(10):
            response = client.get(endpoint.path)
            if response.status_code != 200:
                raise SystemExit(f"{endpoint.label}: answered {response.status_code}")


@dataclass
class Writer:
    """Counts of the background thread's writes."""

    done: int = 0
    failed: int = 0


@contextmanager
def writing(url: str, seeded: SeededInstance, writer: Writer) -> Iterator[None]:
    """Record an action through the API every ~50 ms while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.wait(WRITE_EVERY):
                try:
                    ok = post_api(url, seeded, client) == 201
                except httpx.HTTPError:
                    ok = False
                writer.done += ok
                writer.failed += not ok

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def action_count(instance: LiveInstance) -> int:
    """Actions in the instance's database, counted directly."""
    db = Database(make_engine(f"sqlite:///{instance.directory / 'benefed.db'}"))
    try:
        with db.read() as session:
            return int(session.exec(select(func.count()).select_from(Action)).one())
    finally:
        db.dispose()


def total_minutes(url: str, seeded: SeededInstance) -> int:
    """The all-time counted minutes the summary API gives."""
    response = httpx.get(
        f"{url}/api/v1/associations/{seeded.slug}/summary?preset=all_time",
        headers={"Authorization": f"Bearer {seeded.token}"},
        timeout=30,
    )
    response.raise_for_status()
    return int(response.json()["total_minutes"])


# Serving and measuring.


@contextmanager
def served(instance: LiveInstance, workers: int) -> Iterator[LiveInstance]:
    """`benefed serve --workers N` on the instance."""
    command = [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(instance.port), "--workers", str(workers)]
    with (instance.directory / "server.log").open("ab") as log:
        instance.process = subprocess.Popen(
            command,
            cwd=instance.directory,
            env=instance.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            instance.wait_ready(timeout=START_TIMEOUT)
            yield instance
        finally:
            instance.stop()


def baselines(seconds: int) -> tuple[dict[int, LoadResult], int]:
    """The bare Starlette hello at each concurrency, and its resident memory (KiB)."""
    with hello_server() as (url, pid):
        wrk.run(url + "/", connections=1, seconds=1)  # warm up
        found = {c: wrk.run(url + "/", connections=c, seconds=seconds) for c in CONNECTIONS}
        return found, rss_kib(pid)


def load(
    instance: LiveInstance, endpoint: Endpoint, hello: dict[int, LoadResult], seconds: int
) -> list[Line]:
    """wrk on one endpoint at each concurrency; recordings are counted in the database.

    With several connections, the median of SHARED_RUNS runs (by requests/s).
    """
    lines = []
    for connections in CONNECTIONS:
        runs = []
        for _run in range(1 if connections == 1 else SHARED_RUNS):
            before = action_count(instance) if endpoint.kind == "record" else None
            result = wrk.run(
                instance.url + endpoint.path,
                connections=connections,
                seconds=seconds,
                headers=endpoint.headers or None,
                lua=endpoint.lua,
            )
            created = action_count(instance) - before if before is not None else None
            runs.append((result, created))
        runs.sort(key=lambda run: run[0].requests_per_second)
        result, created = runs[len(runs) // 2]
        rates = tuple(run[0].requests_per_second for run in runs) if len(runs) > 1 else ()
        lines.append(Line(endpoint, connections, result, hello[connections], created, rates))
    return lines


@dataclass(frozen=True)
class Run:
    """The lines measured on one server, and what the background writer did meanwhile."""

    workers: int
    actions: int
    lines: list[Line]
    writer: Writer
    minutes: tuple[int, int]
    health: LoadResult  # GET /health at 1 connection: the server's floor
    load: tuple[float, float]  # the machine's load average before and after


def measure_server(
    seeded: SeededInstance,
    workers: int,
    hello: dict[int, LoadResult],
    seconds: int,
    kinds: set[str],
) -> Run:
    """Serve the instance and load each endpoint of the given kinds."""
    load_before = os.getloadavg()[0]
    with served(seeded.instance, workers) as instance:
        browser = browser_session(instance.url, seeded.slug)
        chosen = [e for e in endpoints(seeded, browser) if e.kind in kinds]
        for endpoint in chosen:
            check(instance.url, endpoint, seeded, browser)
        health = wrk.run(instance.url + "/health", connections=1, seconds=1)
        writer, before = Writer(), total_minutes(instance.url, seeded)
        lines: list[Line] = []
        with writing(instance.url, seeded, writer):
            for endpoint in (e for e in chosen if e.kind in READ_KINDS):
                lines += load(instance, endpoint, hello, seconds)
        after = total_minutes(instance.url, seeded)
        for endpoint in (e for e in chosen if e.kind not in READ_KINDS):
            lines += load(instance, endpoint, hello, seconds)
    machine = (load_before, os.getloadavg()[0])
    return Run(workers, seeded.actions, lines, writer, (before, after), health, machine)


@dataclass(frozen=True)
class Export:
    """One streamed CSV export: time, size, rows and the server's memory."""

    seconds: float
    cpu: float
    megabytes: float
    rows: int
    rss_kib: int
    growth_kib: int


def download(url: str, headers: dict[str, str]) -> tuple[float, int, int]:
    """Stream a download; return (seconds, bytes, lines)."""
    started = perf_counter()
    size = lines = 0
    with httpx.stream("GET", url, headers=headers, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return perf_counter() - started, size, lines


def measure_export(seeded: SeededInstance) -> Export:
    """Download the whole CSV export once from a fresh single-worker server."""
    with served(seeded.instance, 1) as instance:
        assert instance.process is not None
        pid = instance.process.pid
        headers = {"Authorization": f"Bearer {seeded.token}"}
        url = f"{instance.url}/api/v1/associations/{seeded.slug}/export.csv"
        download(f"{url}?from=2000-01-01&to=2000-01-31", headers)  # warm up
        peak, rss, cpu = peak_rss_kib(pid), rss_kib(pid), cpu_seconds(pid)
        seconds, size, lines = download(url, headers)
        return Export(
            seconds, cpu_seconds(pid) - cpu, size / 1e6, lines - 1, rss, peak_rss_kib(pid) - peak
        )


# Printing.

HEADER = (
    f"{'':33}{'Benefed':<36}{'bare Starlette':<22}\n"
    f"{'what':<30}{'c':>2} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'new':>6}"
    f"   {'req/s':>8} {'p50 ms':>7}  {'ratio':>6}  {'target':<22} {'':6}  Bénévalibre"
)


def line_text(line: Line) -> str:
    """One row of the table."""
    result, hello = line.result, line.baseline
    kind = line.endpoint.kind
    judged = JUDGED_AT[kind] in {None, line.connections}
    note = f"(at {JUDGED_AT[kind]} client{'s' if JUDGED_AT[kind] != 1 else ''})"
    ratio = result.requests_per_second / hello.requests_per_second
    return (
        f"{line.endpoint.label:<30}{line.connections:>2} {result.requests_per_second:>8.0f}"
        f" {result.p50_ms:>7.2f} {result.p99_ms:>7.2f} {result.errors:>6}"
        f" {'' if line.created is None else line.created:>6}"
        f"   {hello.requests_per_second:>8.0f} {hello.p50_ms:>7.2f}  {ratio:>5.3f}x"
        f"  {TARGET_TEXT[kind] if judged else note:<22} {met(line):<6}"
        f"  {REFERENCE[kind] if judged else ''}"
    )


def print_run(run: Run) -> None:
    """The table of one server, with what the background writer did."""
    workers = f"--workers {run.workers}"
    print(
        f"\n{run.actions:,} actions, benefed serve ({workers}),"
        f" load average {run.load[0]:.2f} -> {run.load[1]:.2f}"
    )
    print(HEADER)
    for line in run.lines:
        print(line_text(line))
    spread = [
        f"{line.endpoint.label} {'/'.join(f'{rate:.0f}' for rate in line.runs)}"
        for line in run.lines
        if line.runs
    ]
    if spread:
        print(f"{CONNECTIONS[-1]} connections, median of {SHARED_RUNS} runs (req/s of each run):")
        print("  " + "; ".join(spread))
    before, after = run.minutes
    print(
        f"while the statistics were loaded: {run.writer.done} actions recorded through the API"
        f" (one every ~{WRITE_EVERY * 1000:.0f} ms, {run.writer.failed} failed);"
        f" all-time counted hours {before / 60:,.1f} -> {after / 60:,.1f}"
    )
    print(f"GET /health at 1 connection: p50 {run.health.p50_ms:.2f} ms")
    if run.health.p50_ms > 20:
        print(f"  ~40 ms per keep-alive request: Nagle is on ({NAGLE_NOTE})")


def print_export(export: Export, hello_rss: int) -> None:
    """The export figures against their targets."""
    growth = export.growth_kib * 1024 / 1e6
    ok = export.seconds < 2 and growth < 100
    path = "/api/v1/associations/{slug}/export.csv"
    print(f"\nCSV export, {export.rows:,} rows, streamed (GET {path}):")
    print(
        f"  {export.seconds:.2f} s wall (server CPU {export.cpu:.2f} s),"
        f" {export.megabytes:.1f} MB sent, server peak RSS growth {growth:.1f} MB"
        f" (server RSS before {export.rss_kib / 1024:.0f} MiB;"
        f" bare Starlette RSS {hello_rss / 1024:.0f} MiB)"
    )
    print(f"  target {EXPORT_TARGET}: {'met' if ok else 'MISSED'}; Bénévalibre {EXPORT_REFERENCE}")


def main() -> None:
    """Seed, serve, measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also statistics at 1,000,000")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (1,2)")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per line")
    parser.add_argument(
        "--only",
        default=",".join(REFERENCE),
        help="kinds of line to measure: stats, range, list, record (all; the export with list)",
    )
    options = parser.parse_args()
    workers = [int(n) for n in options.workers.split(",") if n.strip()]
    kinds = {kind.strip() for kind in options.only.split(",") if kind.strip()}
    if not kinds or kinds - set(REFERENCE):
        parser.error(f"--only takes some of {', '.join(REFERENCE)}")
    started = perf_counter()
    print(
        f"Benefed actions benchmark, {date.today().isoformat()}, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.2f}, wrk {options.seconds} s per line"
    )
    hello, hello_rss = baselines(options.seconds)
    with tempfile.TemporaryDirectory() as scratch:
        seeded = seed_instance(Path(scratch) / "instance", 100_000)
        print(f"seeded {seeded.actions:,} actions in {seeded.seconds:.1f} s")
        if "list" in kinds:
            print_export(measure_export(seeded), hello_rss)
        for count in workers:
            print_run(measure_server(seeded, count, hello, options.seconds, kinds))
    if options.million and kinds & READ_KINDS:
        with tempfile.TemporaryDirectory() as scratch:
            seeded = seed_instance(Path(scratch) / "instance", 1_000_000)
            print(f"\nseeded {seeded.actions:,} actions in {seeded.seconds:.1f} s")
            for count in workers:
                print_run(measure_server(seeded, count, hello, options.seconds, kinds & READ_KINDS))
    print(f"\nwhole run: {perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
