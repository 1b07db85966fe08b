#!/usr/bin/env bash
# Create .venv and install Benefed with its test tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
log=$(mktemp)
if ! .venv/bin/python -m pip install -q -e ".[test]" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
.venv/bin/python -c "import web.cli" 
# axe-core for the accessibility checks in the browser tests (not committed).
if [ ! -f .cache/axe/package/axe.min.js ] && command -v npm >/dev/null; then
  mkdir -p .cache/axe
  (cd .cache/axe && npm pack -q axe-core@4.14.1 >/dev/null 2>&1 && tar xzf axe-core-4.14.1.tgz) || echo "warning: could not fetch axe-core" >&2
fi
