"""keys rotate: give an actor new keys, keep the old ones published, tell its followers."""

import argparse
from typing import Any

from sqlmodel import Session

from federation import actor_keys, outbox, urls
from federation.documents import PUBLIC, ActorGone, actor_document
from instance import accounts, associations
from instance.config import Config
from instance.errors import NotFound
from web.commands._common import config_of, database_of


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    keys = commands.add_parser("keys", help="manage the ActivityPub keys of actors")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate", help="replace an actor's keys (old ones stay published, marked revoked)"
    )
    target = rotate.add_mutually_exclusive_group(required=True)
    target.add_argument("--instance", action="store_true", help="the instance actor")
    target.add_argument("--association", metavar="SLUG", help="an association, by its slug")
    target.add_argument("--user", metavar="USERNAME", help="a person, by user name")
    rotate.set_defaults(handler=run_rotate)


def _target(session: Session, args: argparse.Namespace) -> tuple[str, str | None, int | None]:
    """(kind, ident, owner id) of the actor named on the command line; NotFound otherwise."""
    if args.instance:
        return "instance", None, None
    if args.association is not None:
        association = associations.get_by_slug(session, args.association)
        return "association", association.slug, association.id
    user = accounts.find_by_username(session, args.user)
    if user is None:
        raise NotFound(f"no user named {args.user!r}")
    return "user", user.username, user.id


def update_activity(
    session: Session, config: Config, kind: str, ident: str | None
) -> dict[str, Any] | None:
    """Update{actor} carrying the new keys, or None when the actor is not public."""
    try:
        document = actor_document(session, config, kind, ident)
    except (NotFound, ActorGone):
        return None
    context = document.pop("@context")
    return {
        "@context": context,
        "id": urls.new_activity_id(config),
        "type": "Update",
        "actor": document["id"],
        "to": [PUBLIC],
        "cc": [document["followers"]],
        "object": document,
    }


def run_rotate(args: argparse.Namespace) -> int:
    """Rotate the keys of one actor and publish the Update to its followers."""
    config = config_of(args)
    db = database_of(config)
    try:
        with db.write() as session:
            kind, ident, owner_id = _target(session, args)
            actor_keys.rotate_keys(session, config=config, kind=kind, owner_id=owner_id)
            activity = update_activity(session, config, kind, ident)
            if activity is not None:
                outbox.publish_to_followers(
                    session, config=config, kind=kind, owner_id=owner_id, activity=activity
                )
            current = actor_keys.current_key_ids(session, kind, owner_id)
    finally:
        db.dispose()
    for key_id in current:
        print(key_id)
    if activity is None:
        print("The actor is not public: no Update was sent.")
    return 0
