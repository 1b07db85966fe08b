#!/usr/bin/env bash
# Set up everything and run the whole test suite: lint, then the tests on
# SQLite, then again on a throw-away PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -40; exit 1; }
pgdir=$(mktemp -d /tmp/benefed-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
echo "== tests on SQLite"
.venv/bin/pytest -q -p no:cacheprovider "$@"
echo "== tests on PostgreSQL"
url=$(bash scripts/postgres.sh start "$pgdir" 55432)
BENEFED_TEST_DATABASE_URL=$url .venv/bin/pytest -q -p no:cacheprovider -m "not browser" "$@"
