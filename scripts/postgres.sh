#!/usr/bin/env bash
# Start a throw-away PostgreSQL on 127.0.0.1 and print its URL.
# Usage: scripts/postgres.sh start DIR PORT | scripts/postgres.sh stop DIR
set -euo pipefail
action=$1; dir=$2; port=${3:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/log" -w -o "-h 127.0.0.1 -p $port -k /tmp -F -c max_connections=600" start >/dev/null
    as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='benefed_test'" | grep -q 1 ||
      as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres benefed_test
    echo "postgresql://postgres@127.0.0.1:$port/benefed_test"
    ;;
  stop)
    [ -f "$dir/postmaster.pid" ] || exit 0  # never started
    as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true
    ;;
esac
