#!/usr/bin/env bash
# Set up and run one Benefed instance on SQLite at http://127.0.0.1:8000.
# The first run creates instance.toml, the database and an admin, and prints
# how to log in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/benefed init --admin admin
echo "Benefed runs at http://127.0.0.1:8000 (Ctrl-C to stop)"
exec .venv/bin/benefed serve --host 127.0.0.1 --port 8000
