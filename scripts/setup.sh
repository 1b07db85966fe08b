#!/usr/bin/env bash
# Create .venv and install Benefed with its test tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v -e '^WARNING: Location' -e '^$' || true
.venv/bin/python -c "import web.cli" 
