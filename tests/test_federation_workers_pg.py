"""Three `benefed worker` processes share one PostgreSQL queue: 500 activities, each sent once."""

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from federation import outbox
from schema.db import Database
from schema.tables import Delivery
from tests.conftest import SECRET, TEST_DATABASE_URL, fresh_database
from tests.factories import make_association, make_user
from tests.federation_support import Stub, wait_for
from tests.live import cli_env

URL = TEST_DATABASE_URL
ACTIVITIES = 500
WORKERS = 3

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL.startswith("postgresql"),
        reason="needs BENEFED_TEST_DATABASE_URL pointing at PostgreSQL (the CI sets it)",
    ),
]


@pytest.fixture
def queue_db() -> Iterator[Database]:
    found = fresh_database(URL)
    yield found
    found.dispose()


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "instance.toml"
    path.write_text(
        'base_url = "http://127.0.0.1:9"\n'
        f'database_url = "{URL}"\n'
        f'secret_key = "{SECRET}"\n'
        f'data_dir = "{directory / "data"}"\n'
        'log_level = "warning"\n'
        "[federation]\n"
        "allow_private = true\n"
        "per_host_concurrency = 4\n"
    )
    return path


def test_three_workers_deliver_500_activities_exactly_once(
    tmp_path: Path, queue_db: Database
) -> None:
    stub = Stub(tmp_path / "stub").start()
    owner = make_user(queue_db)
    association = make_association(queue_db, owner, name="Amis", slug="amis")
    with queue_db.write() as session:
        for number in range(ACTIVITIES):
            outbox.publish(
                session,
                config=None,
                actor_kind="association",
                actor_id=association.id,
                activity={
                    "id": f"http://127.0.0.1:9/activities/{number}",
                    "type": "Create",
                    "actor": "http://127.0.0.1:9/associations/amis",
                    "object": {"id": f"http://127.0.0.1:9/notes/{number}", "type": "Note"},
                },
                inboxes=[f"{stub.url}/users/u{number % 7}/inbox"],
            )
    config = write_config(tmp_path / "instance")
    env = cli_env({"BENEFED_CONFIG": str(config)})
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker", "--id", f"w{n}", "--poll", "0.1"],
            cwd=tmp_path,
            env=env,
        )
        for n in range(WORKERS)
    ]
    try:

        def all_sent() -> bool:
            with queue_db.read() as session:
                states = Counter(d.state for d in session.exec(select(Delivery)))
            return states == {"sent": ACTIVITIES}

        wait_for(all_sent, timeout=180, what="500 deliveries sent")
    finally:
        for process in workers:
            process.terminate()
        codes = [process.wait(timeout=30) for process in workers]
        stub.stop()
    assert codes == [0] * WORKERS
    received = Counter(event["id"] for event in stub.events("received"))
    assert len(received) == ACTIVITIES
    assert set(received.values()) == {1}  # the receiving side logged each exactly once
    with queue_db.read() as session:
        rows = list(session.exec(select(Delivery)))
    assert all(row.attempts == 1 for row in rows)
    assert len({row.locked_by for row in rows}) >= 2  # the queue really was shared
