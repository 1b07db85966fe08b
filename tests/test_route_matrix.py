"""Every route against every role: allowed, or refused, and nothing written when refused.

The expectations are written by hand below, one row per route and method; a route
of the application with no row fails the test, so a new route cannot slip in
unchecked. Each request runs on a fresh copy of one prepared SQLite database, and
a refused request must leave every table exactly as it was.
"""

import base64
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import text
from sqlmodel import SQLModel, select
from starlette.routing import Route

from instance import actions as action_domain
from instance.config import Config
from instance.network_setup import set_up_network
from instance.secrets import token_hash
from schema.db import Database, create_all, make_engine
from schema.tables import (
    Announcement,
    ApiToken,
    Association,
    Block,
    Delivery,
    Follow,
    Invitation,
    Membership,
    NetworkMember,
    OutboxActivity,
    PublicNote,
    ReferenceCategory,
    RemoteActor,
    User,
)
from schema.tables._base import utcnow
from schema.tables.actions import Category, Level, Project
from tests.conftest import SECRET, make_config
from tests.factories import make_association, make_membership, make_user
from web.app import build_services, create_app
from web.auth import stamp
from web.routes import build_routes

# Its instances keep their own SQLite files whatever the test database:
# the PostgreSQL pass of scripts/test.sh leaves it out.
pytestmark = pytest.mark.sqlite_only

ROLES = (
    "anonymous",
    "outsider",
    "pending",
    "volunteer",
    "manager",
    "manager_all",
    "owner",
    "admin",
)
CSRF = "matrix-csrf-token"
ENTRY_KINDS = {"categories": "category", "projects": "project", "levels": "level"}

# What each role gets, in ROLES order: ok (allowed), login (sent to log in /
# 401), no (403 or 404), any (the same non-error answer whatever the role).
POLICIES: dict[str, tuple[str, ...]] = {
    "public": ("ok",) * 8,
    "any": ("any",) * 8,
    "logged_in": ("login",) + ("ok",) * 7,
    "admin": ("login",) + ("no",) * 6 + ("ok",),
    "member": ("login", "no", "no", "ok", "ok", "ok", "ok", "ok"),
    "manager": ("login", "no", "no", "no", "no", "ok", "ok", "ok"),
    "owner": ("login", "no", "no", "no", "no", "no", "ok", "ok"),
    "own_action": ("login", "no", "no", "ok", "no", "ok", "ok", "ok"),
    # Anyone with a place in the association (even pending, or gone) sees their own actions.
    "own_actions": ("login", "no", "ok", "ok", "ok", "ok", "ok", "ok"),
    "access_link": ("no",) * 8,
    # Someone's own link between their accounts: the prepared world has none, so 404 to all.
    "own_link": ("login",) + ("no",) * 7,
}

ROUTES: dict[str, str] = {
    "GET /": "public",
    "GET /.well-known/host-meta": "public",
    "GET /.well-known/nodeinfo": "public",
    "GET /.well-known/webfinger": "any",
    "GET /a/{token}": "any",
    "GET /about/{page}": "public",
    "GET /manifest.webmanifest": "public",
    "GET /sw.js": "public",
    "GET /access": "access_link",
    "GET /access/actions/{action_id}/delete": "access_link",
    "POST /access/actions/{action_id}/delete": "access_link",
    "GET /access/actions/{action_id}/edit": "access_link",
    "POST /access/actions/{action_id}/edit": "access_link",
    "POST /access/leave": "any",
    "GET /access/new": "access_link",
    "POST /access/new": "access_link",
    "POST /access/repeat": "access_link",
    "GET /account": "logged_in",
    "POST /account": "logged_in",
    "GET /account/delete": "logged_in",
    "POST /account/delete": "logged_in",
    "GET /account/export": "logged_in",
    "GET /account/password": "logged_in",
    "POST /account/password": "logged_in",
    "GET /actions/new": "logged_in",
    "GET /actions/{action_id}": "own_action",
    "GET /actions/{action_id}/delete": "own_action",
    "POST /actions/{action_id}/delete": "own_action",
    "GET /actions/{action_id}/edit": "own_action",
    "POST /actions/{action_id}/edit": "own_action",
    "GET /actor": "public",
    "GET /actor/followers": "public",
    "GET /actor/following": "public",
    "POST /actor/inbox": "any",
    "GET /actor/outbox": "public",
    "GET /admin": "admin",
    "GET /admin/announcements": "admin",
    "POST /admin/announcements": "admin",
    "POST /admin/announcements/{announcement_id}/delete": "admin",
    "GET /admin/associations": "admin",
    "POST /admin/associations/{association_id}/suspend": "admin",
    "POST /admin/associations/{association_id}/unsuspend": "admin",
    "GET /admin/categories": "admin",
    "POST /admin/categories": "admin",
    "GET /admin/categories/{entry_id}": "admin",
    "POST /admin/categories/{entry_id}": "admin",
    "POST /admin/categories/{entry_id}/archive": "admin",
    "GET /admin/federation": "admin",
    "POST /admin/federation/blocks": "admin",
    "POST /admin/federation/blocks/{block_id}/delete": "admin",
    "POST /admin/federation/deliveries/{delivery_id}/retry": "admin",
    "GET /admin/invitations": "admin",
    "POST /admin/invitations": "admin",
    "POST /admin/invitations/{invitation_id}/cancel": "admin",
    "GET /admin/levels": "admin",
    "POST /admin/levels": "admin",
    "GET /admin/levels/{entry_id}": "admin",
    "POST /admin/levels/{entry_id}": "admin",
    "POST /admin/levels/{entry_id}/archive": "admin",
    "GET /admin/levels/{entry_id}/rates": "admin",
    "POST /admin/levels/{entry_id}/rates": "admin",
    "GET /admin/settings": "admin",
    "POST /admin/settings": "admin",
    "GET /admin/users": "admin",
    "POST /admin/users/{user_id}/admin": "admin",
    "POST /admin/users/{user_id}/suspend": "admin",
    "POST /admin/users/{user_id}/unadmin": "admin",
    "POST /admin/users/{user_id}/unsuspend": "admin",
    "GET /api/v1/actions/{action_id}": "own_action",
    "PATCH /api/v1/actions/{action_id}": "own_action",
    "DELETE /api/v1/actions/{action_id}": "own_action",
    "GET /api/v1/actions/{action_id}/history": "manager",
    "GET /api/v1/associations": "public",
    "POST /api/v1/associations": "logged_in",
    "GET /api/v1/associations/{slug}": "public",
    "PATCH /api/v1/associations/{slug}": "manager",
    "DELETE /api/v1/associations/{slug}": "owner",
    "GET /api/v1/associations/{slug}/accounting": "manager",
    "GET /api/v1/associations/{slug}/actions": "member",
    "POST /api/v1/associations/{slug}/actions": "member",
    "POST /api/v1/associations/{slug}/actions/import": "manager",
    "POST /api/v1/associations/{slug}/actions/refuse": "manager",
    "POST /api/v1/associations/{slug}/actions/validate": "manager",
    "GET /api/v1/associations/{slug}/categories": "member",
    "POST /api/v1/associations/{slug}/categories": "manager",
    "GET /api/v1/associations/{slug}/categories/{entry_id}": "member",
    "PATCH /api/v1/associations/{slug}/categories/{entry_id}": "manager",
    "DELETE /api/v1/associations/{slug}/categories/{entry_id}": "manager",
    "GET /api/v1/associations/{slug}/export.{fmt}": "manager",
    "GET /api/v1/associations/{slug}/following": "manager",
    "POST /api/v1/associations/{slug}/following": "manager",
    "POST /api/v1/associations/{slug}/invitations": "manager",
    "POST /api/v1/associations/{slug}/join": "logged_in",
    "POST /api/v1/associations/{slug}/leave": "logged_in",
    "GET /api/v1/associations/{slug}/levels": "member",
    "POST /api/v1/associations/{slug}/levels": "manager",
    "GET /api/v1/associations/{slug}/levels/{entry_id}": "member",
    "PATCH /api/v1/associations/{slug}/levels/{entry_id}": "manager",
    "DELETE /api/v1/associations/{slug}/levels/{entry_id}": "manager",
    "POST /api/v1/associations/{slug}/levels/{entry_id}/rates": "manager",
    "GET /api/v1/associations/{slug}/members": "manager",
    "DELETE /api/v1/associations/{slug}/members/{member_id}": "manager",
    "PATCH /api/v1/associations/{slug}/members/{member_id}": "manager",
    "POST /api/v1/associations/{slug}/members/{member_id}/accept": "manager",
    "POST /api/v1/associations/{slug}/members/{member_id}/refuse": "manager",
    "GET /api/v1/associations/{slug}/notes": "public",
    "POST /api/v1/associations/{slug}/notes": "manager",
    "GET /api/v1/associations/{slug}/projects": "member",
    "POST /api/v1/associations/{slug}/projects": "manager",
    "GET /api/v1/associations/{slug}/projects/{entry_id}": "member",
    "PATCH /api/v1/associations/{slug}/projects/{entry_id}": "manager",
    "DELETE /api/v1/associations/{slug}/projects/{entry_id}": "manager",
    "GET /api/v1/associations/{slug}/summary": "manager",
    "GET /api/v1/associations/{slug}/summary.{fmt}": "manager",
    "GET /api/v1/associations/{slug}/summary/me": "member",
    "POST /api/v1/auth/token": "any",
    "DELETE /api/v1/auth/token": "logged_in",
    "GET /api/v1/me": "logged_in",
    "PATCH /api/v1/me": "logged_in",
    "DELETE /api/v1/me": "logged_in",
    "GET /api/v1/me/export": "logged_in",
    "GET /api/v1/me/export/actions.{fmt}": "logged_in",
    "GET /api/v1/me/hours": "logged_in",
    "GET /api/v1/openapi.json": "public",
    "GET /associations": "public",
    "GET /associations/new": "logged_in",
    "POST /associations/new": "logged_in",
    "GET /associations/{slug}": "public",
    "GET /associations/{slug}/access-links": "manager",
    "POST /associations/{slug}/access-links": "manager",
    "POST /associations/{slug}/access-links/{link_id}/revoke": "manager",
    "GET /associations/{slug}/actions": "own_actions",
    "GET /associations/{slug}/actions/export.{fmt}": "manager",
    "GET /associations/{slug}/actions/group": "manager",
    "POST /associations/{slug}/actions/group": "manager",
    "GET /associations/{slug}/actions/import": "manager",
    "POST /associations/{slug}/actions/import": "manager",
    "GET /associations/{slug}/actions/import/template.csv": "manager",
    "GET /associations/{slug}/actions/new": "member",
    "POST /associations/{slug}/actions/new": "member",
    "GET /associations/{slug}/actions/pending": "manager",
    "POST /associations/{slug}/actions/pending": "manager",
    "POST /associations/{slug}/actions/repeat": "member",
    "POST /associations/{slug}/archive": "owner",
    "GET /associations/{slug}/categories": "manager",
    "POST /associations/{slug}/categories": "manager",
    "GET /associations/{slug}/categories/{entry_id}": "manager",
    "POST /associations/{slug}/categories/{entry_id}": "manager",
    "POST /associations/{slug}/categories/{entry_id}/archive": "manager",
    "GET /associations/{slug}/delete": "owner",
    "POST /associations/{slug}/delete": "owner",
    "GET /associations/{slug}/followers": "public",
    "GET /associations/{slug}/following": "public",
    "POST /associations/{slug}/inbox": "any",
    "POST /associations/{slug}/invitations": "manager",
    "POST /associations/{slug}/invitations/{invitation_id}/cancel": "manager",
    "POST /associations/{slug}/join": "logged_in",
    "GET /associations/{slug}/leave": "logged_in",
    "POST /associations/{slug}/leave": "logged_in",
    "GET /associations/{slug}/levels": "manager",
    "POST /associations/{slug}/levels": "manager",
    "GET /associations/{slug}/levels/{entry_id}": "manager",
    "POST /associations/{slug}/levels/{entry_id}": "manager",
    "POST /associations/{slug}/levels/{entry_id}/archive": "manager",
    "GET /associations/{slug}/levels/{entry_id}/rates": "manager",
    "POST /associations/{slug}/levels/{entry_id}/rates": "manager",
    "GET /associations/{slug}/members": "manager",
    "GET /associations/{slug}/members/{member_id}": "manager",
    "POST /associations/{slug}/members/{member_id}": "manager",
    "POST /associations/{slug}/members/{member_id}/accept": "manager",
    "POST /associations/{slug}/members/{member_id}/refuse": "manager",
    "POST /associations/{slug}/members/{member_id}/remove": "manager",
    "GET /associations/{slug}/notes": "public",
    "GET /associations/{slug}/notes/new": "manager",
    "POST /associations/{slug}/notes/new": "manager",
    "GET /associations/{slug}/notes/{note_id}": "public",
    "GET /associations/{slug}/outbox": "public",
    "GET /associations/{slug}/projects": "manager",
    "POST /associations/{slug}/projects": "manager",
    "GET /associations/{slug}/projects/{entry_id}": "manager",
    "POST /associations/{slug}/projects/{entry_id}": "manager",
    "POST /associations/{slug}/projects/{entry_id}/archive": "manager",
    "GET /associations/{slug}/rules": "manager",
    "POST /associations/{slug}/rules": "manager",
    "GET /associations/{slug}/settings": "manager",
    "POST /associations/{slug}/settings": "manager",
    "GET /associations/{slug}/stats": "manager",
    "GET /associations/{slug}/stats/accounting": "manager",
    "GET /associations/{slug}/stats/accounting.csv": "manager",
    "GET /associations/{slug}/stats/export.{fmt}": "manager",
    "GET /confirm/resend": "public",
    "POST /confirm/resend": "public",
    "GET /confirm/{token}": "any",
    "GET /dashboard": "logged_in",
    "GET /health": "public",
    "POST /inbox": "any",
    "GET /invitations/{token}": "any",
    "POST /invitations/{token}": "any",
    "GET /language": "public",
    "GET /login": "public",
    "POST /login": "any",
    "POST /logout": "public",
    "GET /me/actions": "logged_in",
    "GET /me/actions/export.{fmt}": "logged_in",
    "GET /me/hours": "logged_in",
    "GET /media/logos/{name}": "any",
    "GET /nodeinfo/2.1": "public",
    "GET /password/reset": "public",
    "POST /password/reset": "public",
    "GET /password/reset/{token}": "any",
    "POST /password/reset/{token}": "any",
    "GET /signup": "public",
    "POST /signup": "public",
    "GET /signup/sent": "public",
    "GET /users/{username}": "any",
    "GET /users/{username}/followers": "any",
    "GET /users/{username}/following": "any",
    "POST /users/{username}/inbox": "any",
    "GET /users/{username}/outbox": "any",
    # Links between a person's accounts (federation/links.py): ids are Follow ids.
    "GET /account/links": "logged_in",
    "POST /account/links": "logged_in",
    "POST /account/links/federation": "logged_in",
    "POST /account/links/{link_id}/end": "own_link",
    "POST /account/link-requests/{link_id}/accept": "own_link",
    "POST /account/link-requests/{link_id}/refuse": "own_link",
    "GET /api/v1/me/links": "logged_in",
    "POST /api/v1/me/links": "logged_in",
    "DELETE /api/v1/me/links/{link_id}": "own_link",
    "GET /api/v1/me/link-requests": "logged_in",
    "POST /api/v1/me/link-requests/{link_id}/accept": "own_link",
    "POST /api/v1/me/link-requests/{link_id}/refuse": "own_link",
    # Follow requests of an association that approves followers by hand.
    "GET /associations/{slug}/follow-requests": "manager",
    "POST /associations/{slug}/follow-requests/{follow_id}/accept": "manager",
    "POST /associations/{slug}/follow-requests/{follow_id}/refuse": "manager",
    # A person's hours everywhere, their attestation, and its public check.
    "GET /api/v1/me/attestation.json": "logged_in",
    "GET /api/v1/me/attestation.pdf": "logged_in",
    "GET /me/hours/all": "any",  # moved to /me/hours (301)
    "GET /me/hours/all/export.{fmt}": "any",  # moved to /me/hours/export.{fmt} (301)
    "GET /me/hours/export.{fmt}": "logged_in",
    "GET /me/hours/attestation.json": "logged_in",
    "GET /me/hours/attestation.pdf": "logged_in",
    "POST /me/hours/refresh": "logged_in",
    "GET /verify": "public",
    "POST /verify": "public",
    # Hours summaries: the vocabulary for people to read, the reconciliation collection
    # (only to a signed GET from one of the person's home actors: 401 unsigned to all).
    "GET /ns/benefed.jsonld": "public",
    "GET /ns/hours-summary.schema.json": "public",
    "GET /ns/network-report.schema.json": "public",
    "GET /users/{username}/summaries": "any",
    # Networks of associations on their own instance (the target is made a network below).
    "GET /api/v1/networks/{slug}": "public",
    "PATCH /api/v1/networks/{slug}": "manager",
    "GET /api/v1/networks/{slug}/categories": "public",
    "POST /api/v1/networks/{slug}/categories": "manager",
    "PATCH /api/v1/networks/{slug}/categories/{key}": "manager",
    "DELETE /api/v1/networks/{slug}/categories/{key}": "manager",
    "GET /api/v1/networks/{slug}/requests": "manager",
    "POST /api/v1/networks/{slug}/requests/{request_id}/accept": "manager",
    "POST /api/v1/networks/{slug}/requests/{request_id}/refuse": "manager",
    "GET /api/v1/networks/{slug}/members": "public",
    "DELETE /api/v1/networks/{slug}/members/{network_member_id}": "manager",
    "GET /api/v1/networks/{slug}/dashboard": "manager",
    "GET /api/v1/networks/{slug}/dashboard.{fmt}": "manager",
    "GET /api/v1/networks/{slug}/open-data.json": "public",
    "GET /associations/{slug}/network": "public",
    "GET /associations/{slug}/network/dashboard": "manager",
    "GET /associations/{slug}/network/export.{fmt}": "manager",
    "GET /associations/{slug}/network/settings": "manager",
    "POST /associations/{slug}/network/settings": "manager",
    "POST /associations/{slug}/network/categories": "manager",
    "POST /associations/{slug}/network/categories/{category_id}": "manager",
    "POST /associations/{slug}/network/categories/{category_id}/move": "manager",
    "POST /associations/{slug}/network/categories/{category_id}/archive": "manager",
    "GET /associations/{slug}/network/members": "manager",
    "POST /associations/{slug}/network/requests/{request_id}/accept": "manager",
    "POST /associations/{slug}/network/requests/{request_id}/refuse": "manager",
    "POST /associations/{slug}/network/members/{network_member_id}/remove": "manager",
    # The networks an association joined or asked to join (the world has none: 404 to all).
    "GET /api/v1/associations/{slug}/networks": "manager",
    "POST /api/v1/associations/{slug}/networks": "manager",
    "DELETE /api/v1/associations/{slug}/networks/{name}": "own_link",
    "GET /api/v1/associations/{slug}/networks/{name}/mapping": "own_link",
    "PUT /api/v1/associations/{slug}/networks/{name}/mapping": "own_link",
    "GET /associations/{slug}/networks": "manager",
    "POST /associations/{slug}/networks": "manager",
    "GET /associations/{slug}/networks/leave": "manager",
    "POST /associations/{slug}/networks/leave": "own_link",
    "GET /associations/{slug}/networks/mapping": "manager",
    "POST /associations/{slug}/networks/mapping": "own_link",
}


def application_routes() -> list[str]:
    """'METHOD /path' for every route of the app (converters stripped)."""
    found = []
    for route in build_routes():
        if not isinstance(route, Route):
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append(f"{method} {path}")
    return found


def test_every_route_has_a_row() -> None:
    routes = application_routes()
    missing = sorted(set(routes) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(routes))
    assert not missing, "routes without a row in the matrix: " + ", ".join(missing)
    assert not stale, "rows for routes that no longer exist: " + ", ".join(stale)


@dataclass
class World:
    """The prepared database: one association and a person of every role."""

    path: Path
    ids: dict[str, Any]
    tokens: dict[str, str]
    users: dict[str, User]


def build_world(directory: Path) -> World:
    """Create the template database once."""
    path = directory / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine)
    db = Database(engine)
    users = {
        role: make_user(
            db, username=f"m-{role}", email=f"{role}@example.org", is_admin=role == "admin"
        )
        for role in ROLES[1:]
    }
    other = make_association(db, users["outsider"], name="Other association")
    del other
    association = make_association(db, users["owner"], name="Target", join_policy="moderated")
    members = {
        "pending": make_membership(db, association, users["pending"], status="pending"),
        "volunteer": make_membership(db, association, users["volunteer"]),
        "manager": make_membership(db, association, users["manager"], role="manager"),
        "manager_all": make_membership(
            db,
            association,
            users["manager_all"],
            role="manager",
            perm_view_actions=True,
            perm_edit_actions=True,
            perm_manage_members=True,
            perm_manage_settings=True,
        ),
    }
    with db.write() as session:
        category = Category(association_id=association.id, name="Accueil")
        project = Project(association_id=association.id, name="Fête")
        level = Level(association_id=association.id, name="Expert")
        default_category = Category(association_id=None, name="Défaut")
        default_level = Level(association_id=None, name="Défaut")
        session.add_all([category, project, level, default_category, default_level])
        session.flush()
        target = session.get(Association, association.id)
        assert target is not None
        action = action_domain.create_action(
            session,
            association=target,
            user=users["volunteer"],
            data={"date": "2024-05-02", "minutes": 90, "category_id": category.id},
            today=utcnow().date(),
        )
        note = PublicNote(association_id=association.id, content="Bonjour")
        link = Membership(
            association_id=association.id, label="Link", access_token_hash=token_hash("nope")
        )
        invitation = Invitation(
            email="x@example.org",
            token_hash=token_hash("inv"),
            association_id=association.id,
            expires_at=utcnow(),
        )
        site_invitation = Invitation(
            email="y@example.org", token_hash=token_hash("inv2"), expires_at=utcnow()
        )
        announcement = Announcement(title="Hello")
        block = Block(domain="blocked.example")
        activity = OutboxActivity(
            activity_id="http://testserver/activities/1",
            activity_type="Create",
            actor_kind="instance",
            body="{}",
        )
        session.add_all([note, link, invitation, site_invitation, announcement, block, activity])
        session.flush()
        delivery = Delivery(
            activity_pk=activity.id,
            inbox_url="https://peer.example/inbox",
            host="peer.example",
            state="expired",
        )
        session.add(delivery)
        follower = RemoteActor(uri="https://peer.example/users/fan", host="peer.example")
        session.add(follower)
        session.flush()
        follow = Follow(
            direction="in",
            local_kind="association",
            local_id=association.id,
            remote_actor_id=follower.id,
            follow_activity_id="https://peer.example/follows/1",
        )
        session.add(follow)
        # The target is also a network: a request to join, a member, its categories.
        target.is_network = True
        session.add(target)
        set_up_network(session, association=target)
        asking = NetworkMember(
            network_id=association.id, actor_uri="https://peer.example/associations/asks"
        )
        joined = NetworkMember(
            network_id=association.id,
            actor_uri="https://peer.example/associations/joined",
            status="active",
        )
        session.add_all([asking, joined])
        session.flush()
        reference = session.exec(
            select(ReferenceCategory).where(
                ReferenceCategory.network_id == association.id, ReferenceCategory.key == "formation"
            )
        ).one()
        tokens = {}
        for role, user in users.items():
            raw = f"token-{role}"
            session.add(ApiToken(user_id=user.id, token_hash=token_hash(raw)))
            tokens[role] = raw
        session.flush()
        ids = {
            "slug": association.slug,
            "association_id": association.id,
            "member_id": members["volunteer"].id,
            "action_id": action.id,
            "category": category.id,
            "default_category": default_category.id,
            "default_level": default_level.id,
            "project": project.id,
            "level": level.id,
            "note_id": note.id,
            "link_id": link.id,
            "invitation_id": invitation.id,
            "site_invitation_id": site_invitation.id,
            "announcement_id": announcement.id,
            "block_id": block.id,
            "delivery_id": delivery.id,
            "follow_id": follow.id,
            "user_id": users["volunteer"].id,
            "username": users["volunteer"].username,
            "request_id": asking.id,
            "network_member_id": joined.id,
            "key": reference.key,
            "category_id": reference.id,
        }
    engine.dispose()
    return World(path=path, ids=ids, tokens=tokens, users=users)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("matrix"))


def concrete_path(template: str, ids: dict[str, Any]) -> str:
    """Fill a route template with the prepared objects' identifiers."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "entry_id" and template.startswith("/admin/"):
            return str(ids["default_category" if "/categories/" in template else "default_level"])
        if name == "entry_id":
            before = template[: match.start()]
            for kind, key in ENTRY_KINDS.items():
                if before.endswith(f"/{kind}/"):
                    return str(ids[key])
        if name == "invitation_id" and template.startswith("/admin/"):
            return str(ids["site_invitation_id"])
        if name in {"token"}:
            return "not-a-valid-token"
        if name == "name":
            return "missing.png"
        if name == "fmt":
            return "csv"
        if name == "page":
            return "terms"
        return str(ids[name])

    path = re.sub(r"{(\w+)}", value, template)
    if template == "/.well-known/webfinger":
        path += f"?resource=acct:{ids['slug']}@testserver"
    return path


def session_cookie(user: User | None) -> str:
    """A signed session cookie as the app's SessionMiddleware writes it."""
    data: dict[str, Any] = {"csrf_token": CSRF}
    if user is not None:
        data.update({"user_id": user.id, "stamp": stamp(user)})
    payload = base64.b64encode(json.dumps(data).encode())
    return TimestampSigner(SECRET).sign(payload).decode()


def table_digest(engine: Any) -> str:
    """A digest of every row of every table (to show nothing was written)."""
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows = connection.execute(text(f'SELECT * FROM "{table.name}" ORDER BY 1')).all()
            digest.update(repr((table.name, rows)).encode())
    return digest.hexdigest()


def classify(response: httpx.Response) -> str:
    """ok, login, no or error."""
    if response.status_code >= 500:
        return "error"
    if response.status_code == 401:
        return "login"
    location = response.headers.get("location", "")
    if response.is_redirect and location.startswith("/login"):
        return "login"
    if response.status_code in {403, 404, 410}:
        return "no"
    return "ok"


def cases() -> Iterator[Any]:
    for row in sorted(ROUTES):
        yield pytest.param(row, id=row)


@pytest.fixture
def config(tmp_path: Path) -> Config:  # overrides the suite's: no SMTP needed here
    return make_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'case.db'}")


async def request_as(
    world: World, config: Config, tmp_path: Path, row: str, role: str
) -> tuple[str, bool]:
    """Send the row's request as the role on a fresh copy; (outcome, database unchanged)."""
    shutil.copy(world.path, tmp_path / "case.db")
    services = build_services(config)
    app = create_app(config, services=services)
    method, template = row.split(" ", 1)
    path = concrete_path(template, world.ids)
    user = world.users.get(role)
    headers = {"accept": "text/html"}
    cookies = {}
    if path.startswith("/api/"):
        headers = {"accept": "application/json"}
        if user is not None:
            headers["authorization"] = f"Bearer {world.tokens[role]}"
    else:
        cookies["benefed_session"] = session_cookie(user)
    before = table_digest(services.db.engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", cookies=cookies
    ) as client:
        if method == "GET":
            response = await client.get(path, headers=headers)
        elif path.startswith("/api/") or path.endswith("/inbox"):
            response = await client.request(method, path, headers=headers, json={})
        else:
            response = await client.request(
                method, path, headers=headers, data={"csrf_token": CSRF}
            )
    unchanged = table_digest(services.db.engine) == before
    services.db.dispose()
    return classify(response), unchanged


@pytest.mark.parametrize("row", list(cases()))
async def test_route_against_every_role(
    row: str, world: World, config: Config, tmp_path: Path
) -> None:
    expected = POLICIES[ROUTES[row]]
    problems = []
    outcomes = {}
    for role, wanted in zip(ROLES, expected, strict=True):
        outcome, unchanged = await request_as(world, config, tmp_path, row, role)
        outcomes[role] = outcome
        if outcome == "error":
            problems.append(f"{role}: server error")
        elif wanted != "any" and outcome != wanted:
            problems.append(f"{role}: expected {wanted}, got {outcome}")
        if outcome in {"no", "login"} and not unchanged:
            problems.append(f"{role}: refused but the database changed")
    if ROUTES[row] == "any":
        assert len(set(outcomes.values())) == 1 or row.startswith("POST"), outcomes
    assert not problems, "; ".join(problems)
