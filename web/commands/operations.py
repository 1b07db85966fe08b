"""init, migrate: setting an instance up."""

import argparse
import os
import secrets
from pathlib import Path

from instance import accounts, migrations
from instance.config import DEFAULT_CONFIG_PATH, load_config
from web.commands._common import config_of, database_of

TEMPLATE = """# Benefed instance configuration, written by 'benefed init'.
# Every setting is documented in instance.example.toml.
base_url = "{base_url}"
database_url = "{database_url}"
secret_key = "{secret_key}"
timezone = "Europe/Paris"
default_language = "fr"
registration = "open"

[email]
from_address = "benefed@localhost"
smtp_host = "127.0.0.1"
smtp_port = 25
backend = "{mail_backend}"

[federation]
allow_private = {allow_private}
"""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    init = commands.add_parser(
        "init", help="write instance.toml (if missing) and create the database"
    )
    init.add_argument("--base-url", default="http://127.0.0.1:8000")
    init.add_argument("--database-url", default="sqlite:///benefed.db")
    init.add_argument("--admin", metavar="USERNAME", help="also create this instance admin")
    init.add_argument("--admin-email", default=None)
    init.add_argument("--admin-password", default=None, help="default: a generated one, printed")
    init.set_defaults(handler=run_init)
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=run_migrate)


def config_path(args: argparse.Namespace) -> Path:
    """Where the configuration file lives."""
    return Path(args.config or os.environ.get("BENEFED_CONFIG") or DEFAULT_CONFIG_PATH)


def run_init(args: argparse.Namespace) -> int:
    """Write a configuration with fresh secrets unless one exists, then migrate."""
    path = config_path(args)
    if path.exists():
        print(f"{path} exists: left as it is")
    else:
        local = args.base_url.startswith("http://127.") or "localhost" in args.base_url
        path.write_text(
            TEMPLATE.format(
                base_url=args.base_url,
                database_url=args.database_url,
                secret_key=secrets.token_urlsafe(48),
                mail_backend="log" if local else "smtp",
                allow_private="true" if local else "false",
            ),
            encoding="utf-8",
        )
        path.chmod(0o600)
        print(f"wrote {path}")
    config = load_config(path)
    db = database_of(config)
    migrations.upgrade(db.engine)
    print(f"database ready: {config.database_url}")
    if args.admin:
        password = args.admin_password or secrets.token_urlsafe(12)
        email = args.admin_email or f"{args.admin}@localhost"
        with db.write() as session:
            existing = accounts.find_by_username(session, args.admin)
            if existing is None:
                accounts.create_user(
                    session,
                    username=args.admin,
                    email=email,
                    password=password,
                    is_admin=True,
                    email_confirmed=True,
                )
                print(
                    f"admin created: log in at {config.base_url}/login as {args.admin} / {password}"
                )
            else:
                print(f"admin {args.admin} exists already")
    db.dispose()
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations."""
    config = config_of(args)
    db = database_of(config)
    before = migrations.current_revision(db.engine)
    migrations.upgrade(db.engine)
    after = migrations.current_revision(db.engine)
    print(f"database at revision {after}" + ("" if before != after else " (nothing to do)"))
    db.dispose()
    return 0
