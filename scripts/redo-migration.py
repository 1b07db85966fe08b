"""Write (or write again) the newest unreleased migration from the tables.

Usage: .venv/bin/python scripts/redo-migration.py REV "message"
Removes schema/migrations/versions/REV_*.py, upgrades a scratch SQLite database
to the revision before it, and autogenerates REV from the difference.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from instance import migrations
from schema.db import make_engine


def main(rev: str, message: str) -> None:
    """Regenerate migration ``rev`` from the current table definitions."""
    versions = migrations.MIGRATIONS_DIR / "versions"
    for old in versions.glob(f"{rev}_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        migrations.upgrade(engine)
        migrations.make_revision(engine, message, rev_id=rev)
        engine.dispose()
    ruff = Path(sys.executable).parent / "ruff"
    for written in versions.glob(f"{rev}_*.py"):
        subprocess.run([ruff, "check", "--fix", "--quiet", written], check=True)
        subprocess.run([ruff, "format", "--quiet", written], check=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: redo-migration.py REV MESSAGE")
    main(sys.argv[1], sys.argv[2])
