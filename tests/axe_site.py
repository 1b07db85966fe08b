"""Seeded data for tests/test_axe_every_page.py: one association with every kind of content.

``seed`` fills a live instance's database through the domain functions; ``fill``
puts the seeded ids and secrets into a route's path parameters and fails on a
parameter it does not know, so a new page cannot be skipped by accident.
"""

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from federation import blocks, notes
from instance import access_links, actions, admin, invitations, site, taxonomy
from instance.account_tokens import issue_email_token
from instance.config import load_config
from schema.db import Database, create_all, make_engine
from schema.tables import (
    Association,
    Delivery,
    Follow,
    NetworkMember,
    OutboxActivity,
    PeerHost,
    RemoteActor,
    User,
)
from schema.tables._base import utcnow
from tests.factories import make_association, make_membership
from tests.test_actions_support import decide, make_world, quick_user, record, set_rules, today

ZONE = ZoneInfo("Europe/Paris")


@dataclass
class Seeded:
    """The ids and secrets the pages need."""

    values: dict[str, Any] = field(default_factory=dict)
    per_route: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Values for every route under a path prefix (the network's pages).
    by_prefix: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    link_token: str = ""


def live_database(instance: Any) -> Database:
    """The database the live instance serves (as tests/live.py configures it)."""
    url = (
        os.environ.get("BENEFED_LIVE_DATABASE_URL")
        or f"sqlite:///{instance.directory / 'benefed.db'}"
    )
    engine = make_engine(url)
    # Tables the unreleased migration may not create yet; a no-op otherwise.
    create_all(engine)
    return Database(engine)


def seed_federation(db: Database, association_id: int) -> None:
    """A follower, a follow request, a failed delivery, a dead server and a block."""
    now = utcnow()
    with db.write() as session:
        for index, state in enumerate(("accepted", "pending")):
            remote = RemoteActor(
                uri=f"https://social.example/users/fan{index}",
                host="social.example",
                preferred_username=f"fan{index}",
                name=f"Fan <b>{index}</b>",
                inbox=f"https://social.example/users/fan{index}/inbox",
            )
            session.add(remote)
            session.flush()
            assert remote.id is not None
            session.add(
                Follow(
                    direction="in",
                    local_kind="association",
                    local_id=association_id,
                    remote_actor_id=remote.id,
                    follow_activity_id=f"https://social.example/follows/{index}",
                    state=state,
                )
            )
        activity = OutboxActivity(
            activity_id="https://example.invalid/activities/1",
            activity_type="Create",
            actor_kind="association",
            actor_id=association_id,
            body="{}",
        )
        session.add(activity)
        session.flush()
        assert activity.id is not None
        session.add(
            Delivery(
                activity_pk=activity.id,
                inbox_url="https://gone.invalid/inbox",
                host="gone.invalid",
                state="failed",
                last_status=410,
                last_error="Gone",
                finished_at=now,
            )
        )
        session.add(PeerHost(host="silent.invalid", consecutive_failures=7, first_failure_at=now))
        blocks.add_block(session, domain="spam.invalid", reason="Spam")


def seed_network(db: Database, owner: User, member: Association) -> Association:
    """A network of associations with one member and one request waiting."""
    network = make_association(db, owner, name="Réseau des jardins", is_network=True)
    assert network.id is not None
    with db.write() as session:
        members = ((member.name, "active"), ("Les <i>Amis</i>", "pending"))
        for index, (name, status) in enumerate(members):
            session.add(
                NetworkMember(
                    network_id=network.id,
                    actor_uri=f"https://peer.invalid/associations/{index}",
                    name=name,
                    status=status,
                )
            )
    return network


def seed(db: Database, config_path: Any) -> Seeded:
    """One association with every kind of content, and one person per role."""
    config = load_config(config_path, environ={})
    world = make_world(db)
    association = set_rules(db, world.association, requires_validation=True, approve_follows=True)
    admin_user = quick_user(db, is_admin=True)
    pending_user = quick_user(db)
    make_membership(db, association, pending_user, status="pending", message="Saturdays")
    unconfirmed = quick_user(db, email_confirmed=False)
    first = record(db, world, minutes=90)
    second = record(db, world, minutes=30, description="Watering <the> garden")
    record(db, world, user=world.other, minutes=45)
    waiting = record(db, world, minutes=60, description="Sorting <b>seeds</b>")
    decide(db, world, world.owner, "validate", [first.id])
    decide(db, world, world.owner, "refuse", [second.id], reason="Not on that day")
    with db.write() as session:
        project = taxonomy.create_entry(
            session, kind="project", association=association, values={"name": "Fête"}
        )
        link, link_token = access_links.create_link(
            session,
            association=association,
            by=world.owner,
            label="Dominique",
            expires_on=today() + timedelta(days=30),
            today=today(),
            zone=ZONE,
        )
        link_action = actions.create_action(
            session,
            association=association,
            user=None,
            membership=link,
            data={"minutes": 60, "category_id": world.category.id},
            today=today(),
        )
        note = notes.publish_note(
            session, config=config, association=association, by=world.owner, content="Hello!"
        )
        _invitation, invitation_token = invitations.create_invitation(
            session, association=association, by=world.owner, email="new@example.org"
        )
        admin.invite_to_instance(session, admin=admin_user, email="guest@example.org")
        site.create_announcement(session, author=admin_user, title="Maintenance on Sunday")
        confirm_token = issue_email_token(session, user=unconfirmed, purpose="confirm")
        reset_token = issue_email_token(session, user=world.volunteer, purpose="reset")
        default_category = taxonomy.list_entries(session, kind="category", association=None)[0]
        default_level = taxonomy.list_entries(session, kind="level", association=None)[0]
    assert association.id is not None
    seed_federation(db, association.id)
    network = seed_network(db, world.owner, association)
    return Seeded(
        values={
            "slug": association.slug,
            "member_id": world.member.id,
            "action_id": waiting.id,
            "note_id": note.id,
            "page": "terms",
        },
        per_route={
            "/confirm/{token}": {"token": confirm_token},
            "/password/reset/{token}": {"token": reset_token},
            "/invitations/{token}": {"token": invitation_token},
            "/a/{token}": {"token": link_token},
            "/access/actions/{action_id:int}/edit": {"action_id": link_action.id},
            "/access/actions/{action_id:int}/delete": {"action_id": link_action.id},
            "/associations/{slug}/categories/{entry_id:int}": {"entry_id": world.category.id},
            "/associations/{slug}/projects/{entry_id:int}": {"entry_id": project.id},
            "/associations/{slug}/levels/{entry_id:int}": {"entry_id": world.levels[0].id},
            "/associations/{slug}/levels/{entry_id:int}/rates": {"entry_id": world.levels[0].id},
            "/admin/categories/{entry_id:int}": {"entry_id": default_category.id},
            "/admin/levels/{entry_id:int}": {"entry_id": default_level.id},
            "/admin/levels/{entry_id:int}/rates": {"entry_id": default_level.id},
        },
        users={
            "admin": admin_user,
            "owner": world.owner,
            "manager": world.manager,
            "volunteer": world.volunteer,
        },
        by_prefix={"/associations/{slug}/network": {"slug": network.slug}},
        link_token=link_token,
    )


PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def fill(path: str, seeded: Seeded, route: str = "") -> str:
    """The path with its parameters replaced by seeded values; fails on an unknown one."""
    route = route or path
    values = dict(seeded.values)
    for prefix, extra in seeded.by_prefix.items():
        if route.startswith(prefix):
            values.update(extra)
    values.update(seeded.per_route.get(route, {}))

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, (
            f"{path}: no value for {{{name}}}: add it to the seeded values in {__file__}"
        )
        return str(values[name])

    return PARAMETER.sub(value, path)
