#!/usr/bin/env bash
# Start a throw-away PostgreSQL on 127.0.0.1 and print its URL.
# Usage: scripts/postgres.sh start DIR [PORT] | scripts/postgres.sh stop DIR
# The first free port from PORT on is taken (a server left over by an earlier run
# may hold PORT); the Unix socket lives in DIR so nothing is shared through /tmp.
# If the server does not start, it is tried once more with less shared memory
# (small containers), then its log goes to stderr.
set -euo pipefail
action=$1; dir=$2; port=${3:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
case "$action" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; chmod 700 "$dir"; fi
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    started=
    settings="-F -c max_connections=600"
    for lean in "" "-c shared_buffers=16MB -c dynamic_shared_memory_type=mmap"; do
      for try in 0 1 2 3 4 5 6 7 8 9; do
        candidate=$((port + try))
        port_free "$candidate" || continue
        if as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/log" -w -t 60 \
            -o "-h 127.0.0.1 -p $candidate -k $dir $settings $lean" start >/dev/null; then
          started=$candidate; break 2
        fi
        break  # the port was free: the settings are at fault, not the port
      done
    done
    if [ -z "$started" ]; then
      echo "PostgreSQL did not start (ports $port-$((port + 9))); its log:" >&2
      tail -n 40 "$dir/log" >&2 || true
      exit 1
    fi
    as_postgres "$bin/psql" -h 127.0.0.1 -p "$started" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='benefed_test'" | grep -q 1 ||
      as_postgres "$bin/createdb" -h 127.0.0.1 -p "$started" -U postgres benefed_test
    echo "postgresql://postgres@127.0.0.1:$started/benefed_test"
    ;;
  stop)
    [ -f "$dir/postmaster.pid" ] || exit 0  # never started
    as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true
    ;;
esac
