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
# Three test processes (pytest-xdist): many tests wait on real servers, so three
# keep two cores busy; each process gets its own PostgreSQL database.
workers=${BENEFED_TEST_WORKERS:-3}
echo "== tests on SQLite"
.venv/bin/pytest -q -p no:cacheprovider -n "$workers" "$@"
echo "== tests on PostgreSQL"
url=$(bash scripts/postgres.sh start "$pgdir" 55432)
# Browser tests and modules whose instances keep their own SQLite files (live
# servers, the route matrix's copied templates) would only repeat the first pass.
BENEFED_TEST_DATABASE_URL=$url .venv/bin/pytest -q -p no:cacheprovider -n "$workers" \
  -m "not browser and not sqlite_only" "$@"
