"""Freshness of a person's hours across instances, beside a one-instance baseline.

Two ``benefed serve`` processes on loopback (A: alice's home, B: her association),
linked through the links API. Each sample POSTs an action on B, then polls A's
GET /api/v1/me/hours until the new total shows. The baseline is the same POST
and GET on a third instance that federates with nobody (the total shows at
once). Prints p50 / p95 / max of both, their ratio, and where the federated time
goes (read afterwards from both databases): from the POST to the summary queued
on B (coalescing and the publisher), from queued to stored in A's inbox
(delivery), from stored to processed (A's inbox worker), from processed to seen
by the poller. Target: p95 <= 2 s.

Run: ``python -m bench.freshness [samples]`` (default 200).
"""

import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlmodel import col, select

from schema.tables import Category, InboxItem, OutboxActivity
from schema.tables._base import utcnow
from tests.factories import PASSWORD, make_association, make_user
from tests.live import LiveInstance
from tests.summaries_live_support import LiveLink, link_live
from tests.test_federation_live import database, token

SAMPLES = 200
POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 30.0
TARGET_P95 = 2.0


@dataclass(frozen=True)
class Sample:
    """One federated sample: when the POST left, how long until A showed it."""

    posted_at: datetime
    seconds: float


def percentile(values: list[float], fraction: float) -> float:
    """The value below which a fraction of the values fall (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def _remote_total(client: httpx.Client, headers: dict[str, str]) -> int:
    body = client.get("/api/v1/me/hours", headers=headers).json()
    return sum(line["minutes"] for line in body["associations"] if line["remote"])


def _local_total(client: httpx.Client, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/me/hours", headers=headers).json()["total_minutes"])


def federated(link: LiveLink, count: int) -> list[Sample]:
    """POST on B, poll A until the total shows, ``count`` times."""
    path = f"/api/v1/associations/{link.slug}/actions"
    found: list[Sample] = []
    with (
        httpx.Client(base_url=link.a.url, timeout=30) as a,
        httpx.Client(base_url=link.b.url, timeout=30) as b,
    ):
        expected = _remote_total(a, link.alice_a)
        for _number in range(count):
            expected += 1
            posted_at, started = utcnow(), time.perf_counter()
            answer = b.post(
                path, json={"minutes": 1, "category_id": link.category_id}, headers=link.alice_b
            )
            assert answer.status_code == 201, answer.text
            while _remote_total(a, link.alice_a) != expected:
                if time.perf_counter() - started > TIMEOUT_SECONDS:
                    raise SystemExit(f"A never showed {expected} minutes")
                time.sleep(POLL_SECONDS)
            found.append(Sample(posted_at, time.perf_counter() - started))
    return found


def baseline(
    instance: LiveInstance, headers: dict[str, str], slug: str, category: int, count: int
) -> list[float]:
    """POST an action, then GET /api/v1/me/hours until it shows, on one instance."""
    found = []
    with httpx.Client(base_url=instance.url, timeout=30) as client:
        expected = _local_total(client, headers)
        for _number in range(count):
            expected += 1
            started = time.perf_counter()
            answer = client.post(
                f"/api/v1/associations/{slug}/actions",
                json={"minutes": 1, "category_id": category},
                headers=headers,
            )
            assert answer.status_code == 201, answer.text
            while _local_total(client, headers) != expected:
                time.sleep(POLL_SECONDS)
            found.append(time.perf_counter() - started)
    return found


def hops(link: LiveLink, samples: list[Sample]) -> dict[str, list[float]]:
    """Where each sample's time went, from both databases (same clock: loopback)."""
    with link.db_b.read() as session:
        query = (
            select(OutboxActivity)
            .where(col(OutboxActivity.object_id).contains("/summaries/"))
            .order_by(col(OutboxActivity.created_at))
        )
        queued = [(row.created_at, row.activity_id) for row in session.exec(query)]
    with link.db_a.read() as session:
        items = {row.activity_id: row for row in session.exec(select(InboxItem))}
    found: dict[str, list[float]] = {"queued": [], "delivered": [], "processed": [], "seen": []}
    for sample in samples:
        after = [(at, ident) for at, ident in queued if _aware(at) >= sample.posted_at]
        if not after or after[0][1] not in items:
            continue
        at, ident = after[0]
        item = items[ident]
        if item.processed_at is None:
            continue
        times = [sample.posted_at, _aware(at), _aware(item.received_at), _aware(item.processed_at)]
        steps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
        for name, value in zip(("queued", "delivered", "processed"), steps, strict=True):
            found[name].append(value)
        found["seen"].append(sample.seconds - sum(steps))
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def _line(name: str, values: list[float]) -> str:
    return (
        f"{name:<22} p50 {statistics.median(values) * 1000:7.1f} ms   "
        f"p95 {percentile(values, 0.95) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        a, b = LiveInstance(root / "a").start(), LiveInstance(root / "b").start()
        alone = LiveInstance(root / "c").start()
        try:
            link = link_live(a, b)
            federated(link, 5)  # warm up: actors fetched and cached, connections open
            samples = federated(link, count)
            spent = hops(link, samples)
            single = alone_setup(alone)
            baseline(alone, *single, 5)
            local = baseline(alone, *single, count)
        finally:
            for instance in (a, b, alone):
                instance.stop()
    remote = [sample.seconds for sample in samples]
    print(f"freshness over {count} samples (POST on B, until A's /api/v1/me/hours shows it)")
    print(_line("federated A <- B", remote))
    print(_line("baseline, one instance", local))
    for name, values in spent.items():
        if values:
            print(_line(f"  {name}", values))
    ratio50 = statistics.median(remote) / statistics.median(local)
    ratio95 = percentile(remote, 0.95) / percentile(local, 0.95)
    verdict = "met" if percentile(remote, 0.95) <= TARGET_P95 else "MISSED"
    print(f"ratio federated / baseline: p50 x{ratio50:.1f}, p95 x{ratio95:.1f}")
    print(f"target p95 <= {TARGET_P95:.0f} s: {verdict}")


def alone_setup(instance: LiveInstance) -> tuple[dict[str, str], str, int]:
    """Alice with an association on an instance linked to nobody: (headers, slug, category)."""
    db = database(instance)
    owner = make_user(db, username="alice", password=PASSWORD)
    association = make_association(db, owner, name="Seule", slug="seule")
    with db.read() as session:
        category = session.exec(
            select(Category.id).where(Category.association_id == association.id)
        ).first()
    assert category is not None
    return token(instance, "alice"), "seule", category


if __name__ == "__main__":
    main()
