"""backup, restore: a consistent snapshot of the whole database, portable between engines."""

import argparse
from pathlib import Path

from instance import backup, migrations
from web.commands._common import config_of, database_of


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the sub-commands of this module."""
    save = commands.add_parser(
        "backup", help="write a consistent snapshot of the whole database to a file"
    )
    save.add_argument("file", help="the backup file to write (gzipped JSON lines)")
    save.set_defaults(handler=run_backup)
    load = commands.add_parser("restore", help="load a backup into an empty database")
    load.add_argument("file", help="the backup file to read")
    load.add_argument(
        "--force",
        action="store_true",
        help="delete everything in the database first (when it is not empty)",
    )
    load.set_defaults(handler=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    """Write the snapshot."""
    db = database_of(config_of(args))
    try:
        summary = backup.write_backup(db.engine, Path(args.file))
    finally:
        db.dispose()
    print(f"backed up {summary.total} rows of {len(summary.rows)} tables to {args.file}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """Check the file, bring the schema up to date, then load every row in one transaction."""
    path = Path(args.file)
    db = database_of(config_of(args))
    try:
        header = backup.read_header(path)
        backup.check_revision(db.engine, header.get("revision"))
        migrations.upgrade(db.engine)
        summary = backup.restore_backup(db.engine, path, force=args.force)
        where = backup.database_text(db.engine)
    finally:
        db.dispose()
    print(f"restored {summary.total} rows of {len(summary.rows)} tables into {where}")
    return 0
