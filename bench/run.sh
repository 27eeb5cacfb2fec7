#!/usr/bin/env bash
# `make bench`: starts the release server on a fresh seeded database and measures, with wrk,
# each scenario as the median of REPS runs of DURATION seconds after a WARMUP (throughput, p50,
# p99, non-2xx answers), each also as a ratio of the HTTP floor (a trivial route of the same
# binary) measured in the same run; then the server's RSS after 150 logins and at the end.
# Knobs: REPS (3), DURATION (10), WARMUP (3), CONC (32), THREADS (2), BENCH_PORT (3300),
# SCENARIOS (all: "cc exchange ui jobs_page demo_page enqueue"; the floor always runs),
# BENCH_ENGINE (sqlite, or postgres: a throwaway cluster of scripts/with-postgres.sh) and
# BENCH_SERVERS (1; more on postgres: servers on BENCH_PORT, +1, …, each scenario's connections
# and wrk threads split evenly between them, as a load balancer would).
# Every figure of one run compares with the others of that run only: machines drift 10–20%.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONC=${CONC:-32}
THREADS=${THREADS:-2}
PORT=${BENCH_PORT:-3300}
BASE=http://127.0.0.1:$PORT
OUT=target/bench
RESULTS=$OUT/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl
LUA=bench/wrk.lua
ENGINE=${BENCH_ENGINE:-sqlite}
SERVERS=${BENCH_SERVERS:-1}

say() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null; then
  say "installing wrk from Debian"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk
fi
[ -x target/release/server ] || { echo "build first: make release" >&2; exit 1; }
[[ "$SERVERS" =~ ^[1-9]$ ]] || { echo "BENCH_SERVERS is a number from 1 to 9" >&2; exit 2; }

rm -rf "$OUT/db" && mkdir -p "$OUT/db"
case $ENGINE in
  sqlite)
    [ "$SERVERS" = 1 ] || { echo "several servers share a database on PostgreSQL only: add BENCH_ENGINE=postgres" >&2; exit 2; }
    export DATABASE_URL=sqlite://$OUT/db/guise.db
    sql() { python3 -c "import sqlite3,sys; print(sqlite3.connect('$OUT/db/guise.db').execute(sys.argv[1]).fetchone()[0])" "$1"; } ;;
  postgres)
    # Run again beside a throwaway cluster, which stops when this script ends.
    [ -n "${GUISE_TEST_POSTGRES_URL:-}" ] || exec scripts/with-postgres.sh bench/run.sh "$@"
    export DATABASE_URL=$GUISE_TEST_POSTGRES_URL GUISE_KEY_FILE=$OUT/db/guise.key
    PSQL=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql
    sql() { "$PSQL" -qtAX -d "$DATABASE_URL" -c "$1"; } ;;
  *) echo "BENCH_ENGINE is sqlite or postgres" >&2; exit 2 ;;
esac

SERVER_PIDS=()
stop_servers() { local pid; for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; SERVER_PIDS=(); }
trap stop_servers EXIT
# One at a time: the first migrates and seeds the demo, the others find it done.
for i in $(seq 0 $((SERVERS - 1))); do
  GUISE_DEMO=true LEPTOS_SITE_ADDR=127.0.0.1:$((PORT + i)) RUST_LOG=warn target/release/server serve >"$OUT/server-$i.log" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null || { cat "$OUT/server-$i.log" >&2; exit 1; }
done

# Each server's RSS in MB, space-separated.
rss_mb() { local pid; for pid in "${SERVER_PIDS[@]}"; do echo $(( $(ps -o rss= -p "$pid") / 1024 )); done | paste -sd' '; }
# What each server's RSS is made of: anonymous memory (the heap) and mapped files.
rss_parts() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    awk '/^Rss:/ {rss = $2} /^Anonymous:/ {anon = $2} END {printf "anonymous %d MB, files %d MB\n", anon / 1024, (rss - anon) / 1024}' "/proc/$pid/smaps_rollup"
  done | paste -sd';'
}
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() { # login EMAIL -> the session cookie
  curl -s -D - -o /dev/null -H 'Accept: application/json' --data-urlencode "email=$1" -d password=guise-demo "$BASE/api/login" \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(guise_session=[^;]*\).*/\1/p' | tail -1
}

# --- fixtures -------------------------------------------------------------------------------
ALICE=$(login alice@tshirts.example)
U1=$(login u1@tshirts.example)
U2=$(login u2@tshirts.example)
CAROL_ID=$(sql "SELECT id FROM users WHERE email = 'carol@tshirts.example'")
DEMO_FORM='project=TSHIRTS&webapp=impersonation-demo&dataset=web_history_prepared'
# 50 jobs for the /jobs page (refused at once: no build work disturbs the measurements).
for _ in $(seq 50); do
  curl -s -o /dev/null -H 'Accept: application/json' -H "Cookie: $U2" -d "$DEMO_FORM" "$BASE/api/build_in_context"
done
# A strict client: exchanges need a fresh jti each, so the replay check runs every time.
CLIENT=$(target/release/server client create --name bench --owner alice@tshirts.example --policy strict)
CLIENT_ID=$(sed -n 's/^client_id: *//p' <<<"$CLIENT")
CLIENT_SECRET=$(sed -n 's/^client_secret: *//p' <<<"$CLIENT")
CC_BODY="grant_type=client_credentials&client_id=$CLIENT_ID&client_secret=$CLIENT_SECRET"
ACTOR=$(curl -sf -d "$CC_BODY" "$BASE/v2/auth/token" | json_field "['access_token']")

# --- measuring --------------------------------------------------------------------------------
# wrk_once SECONDS THREADS CONNECTIONS PATH -> the RESULT json. With several servers, one wrk
# per server with its share of threads and connections (and its own files of bodies and
# sessions), run at once; their figures add up: requests and errors summed, p50 the mean of
# theirs weighted by requests, p99 the highest.
wrk_once() {
  local i t=$(( $2 / SERVERS )) c=$(( $3 / SERVERS )) pids=()
  (( t >= 1 )) || t=1
  rm -f "$OUT"/wrk-*.json
  for i in $(seq 0 $((SERVERS - 1))); do
    local files=()
    [ -z "${BENCH_BODIES:-}" ] || files+=("BENCH_BODIES=$OUT/bodies-$i.txt")
    [ -z "${BENCH_SESSIONS:-}" ] || files+=("BENCH_SESSIONS=$OUT/sessions-$i.txt")
    env BENCH_THREADS="$t" "${files[@]}" \
      wrk -t"$t" -c"$c" -d"$1"s --timeout 5s -s "$LUA" "http://127.0.0.1:$((PORT + i))$4" \
      | sed -n 's/^RESULT //p' >"$OUT/wrk-$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$OUT"/wrk-*.json <<'PY'
import json, sys
runs = [json.load(open(f)) for f in sys.argv[1:]]
total = sum(r["requests"] for r in runs) or 1
merged = {k: sum(r[k] for r in runs) for k in ("rps", "requests", "non2xx", "socket_errors", "timeouts", "bodies_reused")}
merged.update(p50_ms=sum(r["p50_ms"] * r["requests"] for r in runs) / total, p99_ms=max(r["p99_ms"] for r in runs),
              secs=max(r["secs"] for r in runs), servers=len(runs))
print(json.dumps(merged))
PY
}
# One signed-in session per connection of the UI scenario, made before each run (one login at
# a time: logins of one account from one address in parallel are throttled, and their cost is
# not what the scenario measures); each server's wrk takes its own share.
ui_sessions() {
  local i
  for i in $(seq 0 $((SERVERS - 1))); do
    for _ in $(seq $(( $1 / SERVERS ))); do login alice@tshirts.example; done >"$OUT/sessions-$i.txt"
  done
}
exchange_bodies() {
  local i
  for i in $(seq 0 $((SERVERS - 1))); do
    python3 bench/exchange_bodies.py "$CLIENT_ID" "$CLIENT_SECRET" "$ACTOR" u1@tshirts.example "$1" "$OUT/bodies-$i.txt"
  done
}

declare -A RATE P50 P99 BAD
ORDER=()
SCENARIOS=${SCENARIOS:-"cc exchange ui jobs_page demo_page enqueue"}
measure() { # measure KEY LABEL THREADS CONNECTIONS PATH  (request set up by BENCH_* variables)
  local key=$1 label=$2 t=$3 c=$4 path=$5 r
  [ "$key" = floor ] || [[ " $SCENARIOS " == *" $key "* ]] || return 0
  say "$label (warm-up ${WARMUP}s, then $REPS x ${DURATION}s, $c connections)"
  # Fresh bodies for well over the rate reached (a body used twice is a refused replay).
  [ "$key" = exchange ] && exchange_bodies $(( WARMUP * 20000 ))
  [ "$key" = ui ] && ui_sessions "$c"
  wrk_once "$WARMUP" "$t" "$c" "$path" >/dev/null
  for r in $(seq "$REPS"); do
    [ "$key" = exchange ] && exchange_bodies $(( DURATION * 20000 ))
    [ "$key" = ui ] && ui_sessions "$c"
    local row
    row=$(wrk_once "$DURATION" "$t" "$c" "$path")
    echo "  run $r: $row" >&2
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); d.update(scenario=sys.argv[2], run=int(sys.argv[3]), engine=sys.argv[4]); print(json.dumps(d))" \
      "$row" "$key" "$r" "$ENGINE" >>"$RESULTS"
  done
  read -r RATE[$key] P50[$key] P99[$key] BAD[$key] < <(python3 - "$RESULTS" "$key" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l).get("scenario") == sys.argv[2]]
med = lambda k: statistics.median(r[k] for r in rows)
print(f'{med("rps"):.0f} {med("p50_ms"):.2f} {med("p99_ms"):.2f} {sum(r["non2xx"] + r["socket_errors"] + r["timeouts"] for r in rows)}')
PY
)
  ORDER+=("$key|$label")
}
clear_request() { unset BENCH_METHOD BENCH_PATH BENCH_BODY BENCH_BODIES BENCH_HEADERS BENCH_SESSION BENCH_SESSIONS BENCH_TARGET; }

clear_request
measure floor "HTTP floor (GET /healthz)" "$THREADS" "$CONC" /healthz

export BENCH_METHOD=POST BENCH_BODY=$CC_BODY
measure cc "client credentials (POST /v2/auth/token)" "$THREADS" "$CONC" /v2/auth/token
clear_request

export BENCH_METHOD=POST BENCH_BODIES=per-server BENCH_HEADERS="Authorization: Bearer $ACTOR"
measure exchange "token exchange (strict client, fresh jti each)" "$THREADS" "$CONC" /v2/auth/token
clear_request

export BENCH_SESSION=impersonate BENCH_SESSIONS=per-server BENCH_TARGET=$CAROL_ID
measure ui "UI impersonation start or stop (server functions)" 16 16 /api/impersonation/start
clear_request

export BENCH_HEADERS="Cookie: $ALICE"
measure jobs_page "SSR /jobs as an admin (50 rows)" "$THREADS" "$CONC" /jobs
export BENCH_HEADERS="Cookie: $U1"
measure demo_page "SSR demo page as u1" "$THREADS" "$CONC" /projects/TSHIRTS/webapps/impersonation-demo
clear_request

# Logins, four at a time, then the memory they leave behind.
say "152 logins, four at a time"
for _ in $(seq 38); do
  pids=()
  for _ in 1 2 3 4; do login "u1@tshirts.example" >/dev/null & pids+=($!); done
  wait "${pids[@]}"   # not a bare wait: the server is a child of this script too
done
RSS_LOGINS=$(rss_mb)

# Last: real enqueues set the workers building, which would disturb the figures above.
export BENCH_METHOD=POST BENCH_BODY=$DEMO_FORM BENCH_HEADERS="Cookie: $U1|Accept: application/json"
measure enqueue "dataset-build enqueues (server function)" "$THREADS" "$CONC" /api/build_in_context
clear_request
RSS_END=$(rss_mb)
RSS_END_PARTS=$(rss_parts)

# --- report -----------------------------------------------------------------------------------
FLOOR=${RATE[floor]}
printf '\n%s, %s server(s)\n' "$ENGINE" "$SERVERS"
printf '%-52s %10s %8s %9s %9s %7s\n' "scenario (median of $REPS x ${DURATION}s)" "req/s" "x floor" "p50 ms" "p99 ms" "non-2xx"
for entry in "${ORDER[@]}"; do
  key=${entry%%|*}; label=${entry#*|}
  rate=${RATE[$key]}
  [ "$key" = ui ] && label="$label; pairs/s = req/s / 2"
  printf '%-52s %10s %8s %9s %9s %7s\n' "$label" "$rate" "$(python3 -c "print(f'{$rate/$FLOOR:.3f}')")" "${P50[$key]}" "${P99[$key]}" "${BAD[$key]}"
done
printf '\nRSS after 152 logins: %s MB; at the end: %s MB (one figure per server: %s)\n' "$RSS_LOGINS" "$RSS_END" "$RSS_END_PARTS"
if [ "$ENGINE" = postgres ]; then
  # What the run left in the database: the figures that decide when one database is not enough.
  printf '\n%-22s %10s %10s %10s\n' "table" "rows" "MB" "bytes/row"
  sql "ANALYZE; SELECT format('%-22s %10s %10s %10s', relname, n, round(bytes / 1048576.0, 1), CASE WHEN n > 0 THEN bytes / n END)
         FROM (SELECT c.relname, c.reltuples::bigint AS n, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
               WHERE c.relname IN ('audit_log', 'jobs', 'job_log_lines', 'impersonations', 'used_subject_tokens', 'sessions', 'dataset_rows')) t
        ORDER BY bytes DESC"
fi
printf 'results: %s\n' "$RESULTS"
python3 -c "import json,sys; a, b = ([int(x) for x in v.split()] for v in sys.argv[1:3]); print(json.dumps({'scenario':'memory','engine':sys.argv[3],'rss_after_logins_mb':max(a),'rss_end_mb':max(b),'rss_end_per_server_mb':b}))" \
  "$RSS_LOGINS" "$RSS_END" "$ENGINE" >>"$RESULTS"
