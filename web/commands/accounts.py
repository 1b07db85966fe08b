"""user create/list, association create: managing people and associations."""

import argparse

from instance import accounts, associations
from instance.errors import NotFound
from web.commands._common import config_of, database_of


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    user = commands.add_parser("user", help="manage accounts")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    create = user_commands.add_parser("create", help="create an account (email confirmed)")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--display-name", default="")
    create.add_argument("--admin", action="store_true", help="make it an instance admin")
    create.set_defaults(handler=run_user_create)
    listing = user_commands.add_parser("list", help="list accounts")
    listing.set_defaults(handler=run_user_list)

    association = commands.add_parser("association", help="manage associations")
    association_commands = association.add_subparsers(
        dest="association_command", metavar="ACTION", required=True
    )
    create_association = association_commands.add_parser("create", help="create an association")
    create_association.add_argument("--name", required=True)
    create_association.add_argument("--owner", required=True, help="user name of its owner")
    create_association.add_argument("--slug", default=None)
    create_association.add_argument("--description", default="")
    create_association.add_argument(
        "--join-policy", default="open", choices=["open", "moderated", "invitation"]
    )
    create_association.add_argument("--hidden", action="store_true")
    create_association.add_argument("--network", action="store_true")
    create_association.set_defaults(handler=run_association_create)


def run_user_create(args: argparse.Namespace) -> int:
    """Create an account from the command line."""
    config = config_of(args)
    db = database_of(config)
    with db.write() as session:
        user = accounts.create_user(
            session,
            username=args.username,
            email=args.email,
            password=args.password,
            display_name=args.display_name,
            is_admin=args.admin,
            email_confirmed=True,
            language=config.default_language,
        )
        print(f"created user {user.username}" + (" (admin)" if user.is_admin else ""))
    db.dispose()
    return 0


def run_user_list(args: argparse.Namespace) -> int:
    """Print one line per account."""
    db = database_of(config_of(args))
    with db.read() as session:
        for user in accounts.list_users(session, limit=1_000_000):
            flags = [
                flag
                for flag, on in (
                    ("admin", user.is_admin),
                    ("suspended", user.is_suspended),
                    ("unconfirmed", not user.email_confirmed),
                )
                if on
            ]
            print(f"{user.username}\t{user.email}\t{','.join(flags)}")
    db.dispose()
    return 0


def run_association_create(args: argparse.Namespace) -> int:
    """Create an association owned by an existing account."""
    db = database_of(config_of(args))
    with db.write() as session:
        owner = accounts.find_by_username(session, args.owner)
        if owner is None:
            raise NotFound(f"no user named {args.owner!r}")
        association = associations.create_association(
            session,
            owner=owner,
            name=args.name,
            slug=args.slug,
            description=args.description,
            join_policy=args.join_policy,
            is_hidden=args.hidden,
            is_network=args.network,
        )
        print(f"created association {association.slug}")
    db.dispose()
    return 0
