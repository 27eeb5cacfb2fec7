#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster: initdb into a temporary folder, started
# on a free loopback port, stopped and removed when the command ends. The command finds the
# cluster's URL (superuser `guise`, database `guise`) in GUISE_TEST_POSTGRES_URL.
# Usage: scripts/with-postgres.sh COMMAND [ARGS…]   (PostgreSQL from scripts/install.sh --browser)
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
  echo "PostgreSQL is not installed: run scripts/install.sh --browser (make test does)" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/guise-postgres.XXXXXX)
# PostgreSQL refuses to run as root: as root, the cluster belongs to the package's account.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
stop() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner "$bin/initdb" -D "$dir/data" -U guise --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# Loopback only, its socket in its own folder; enough connections for the parallel tests.
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U guise guise

export GUISE_TEST_POSTGRES_URL="postgres://guise@127.0.0.1:$port/guise"
echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
