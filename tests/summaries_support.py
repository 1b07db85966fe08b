"""Helpers shared by the hours summaries tests (issuing side, home side, live instances)."""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from federation import summaries_out
from instance.config import Config
from schema.db import Database
from schema.tables import (
    Delivery,
    Follow,
    OutboxActivity,
    ReceivedSummary,
    RemoteActor,
    SentSummary,
    SummaryChange,
    User,
)
from schema.tables._base import utcnow
from tests.federation_support import Instance
from tests.test_actions_support import headers_for

HOME = "http://home.test/users/alice"


def later(seconds: float = 5.0) -> datetime:
    """A moment after every burst of changes so far has settled."""
    return utcnow() + timedelta(seconds=seconds)


def enable_federation(db: Database, user: User) -> User:
    """Turn the person's actor on, directly."""
    with db.write() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.federation_enabled = True
        session.add(row)
    user.federation_enabled = True
    return user


def remote_person(db: Database, uri: str = HOME, *, kind: str = "Person") -> RemoteActor:
    """A remote actor known to this instance (as if fetched)."""
    with db.write() as session:
        found = session.exec(select(RemoteActor).where(RemoteActor.uri == uri)).first()
        if found is not None:
            return found
        host = uri.split("/")[2]
        row = RemoteActor(uri=uri, host=host, type=kind, preferred_username=uri.rsplit("/", 1)[-1])
        row.inbox = f"{uri}/inbox"
        session.add(row)
        session.flush()
        return row


def link_in(db: Database, user: User, uri: str = HOME, *, state: str = "accepted") -> Follow:
    """An incoming link of the person from a home actor (issuing side), stored directly."""
    remote = remote_person(db, uri)
    with db.write() as session:
        follow = Follow(
            direction="in",
            local_kind="user",
            local_id=user.id,
            remote_actor_id=remote.id,
            follow_activity_id=f"{uri}/follows/{user.id}",
            state=state,
        )
        session.add(follow)
        session.flush()
        return follow


def publish(db: Database, config: Config, *, at: datetime | None = None) -> int:
    """Run the summary publisher once, after bursts settled."""
    return summaries_out.publish_due(db, config, now=at or later())


def activities(db: Database, kind: str | None = None) -> list[dict[str, Any]]:
    """The outbox activities about summaries, oldest first (of one type)."""
    with db.read() as session:
        rows = session.exec(select(OutboxActivity).order_by(col(OutboxActivity.id)))
        found = [json.loads(row.body) for row in rows if "/summaries/" in row.object_id]
    return [a for a in found if kind is None or a["type"] == kind]


def inboxes_of(db: Database, activity_id: str) -> list[str]:
    """Where an activity is delivered."""
    with db.read() as session:
        row = session.exec(
            select(OutboxActivity).where(OutboxActivity.activity_id == activity_id)
        ).one()
        query = select(Delivery.inbox_url).where(Delivery.activity_pk == row.id)
        return sorted(session.exec(query))


def sent_rows(db: Database) -> list[SentSummary]:
    """Every SentSummary row."""
    with db.read() as session:
        return list(session.exec(select(SentSummary).order_by(col(SentSummary.id))))


def changes(db: Database) -> list[SummaryChange]:
    """Every waiting SummaryChange row."""
    with db.read() as session:
        return list(session.exec(select(SummaryChange).order_by(col(SummaryChange.id))))


def received(db: Database, *, deleted: bool | None = False) -> list[ReceivedSummary]:
    """The summaries a home received (not the tombstones, by default), by month."""
    with db.read() as session:
        query = select(ReceivedSummary).order_by(col(ReceivedSummary.month))
        if deleted is not None:
            query = query.where(col(ReceivedSummary.deleted).is_(deleted))
        return list(session.exec(query))


async def link_accounts(
    home: Instance, issuer: Instance, person: User, elsewhere: User, *, at: datetime
) -> int:
    """Link the person's account on home to their account elsewhere through both APIs."""
    async with home.browser() as client:
        response = await client.post(
            "/api/v1/me/links",
            json={"account": f"{elsewhere.username}@{issuer.config.domain}"},
            headers=headers_for(home.db, person),
        )
    assert response.status_code == 201, response.text
    await settle(home, issuer, at=at)
    async with issuer.browser() as client:
        auth = headers_for(issuer.db, elsewhere)
        requests = await client.get("/api/v1/me/link-requests", headers=auth)
        [item] = requests.json()["items"]
        accepted = await client.post(
            f"/api/v1/me/link-requests/{item['id']}/accept", json={}, headers=auth
        )
    assert accepted.status_code == 200, accepted.text
    await settle(home, issuer, at=at)
    return int(response.json()["id"])


async def settle(*instances: Instance, at: datetime | None = None, rounds: int = 8) -> None:
    """Run every worker until nothing is left to do (summaries settled at ``at``)."""
    for _round in range(rounds):
        done = 0
        for instance in instances:
            done += await instance.work(now=at or later())
        if not done:
            return
