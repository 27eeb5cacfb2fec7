#!/usr/bin/env bash
# Runs examples/impersonate.py against a fresh release server with the demo seeded.
# Installs the example's Python packages into target/example-venv (only when they change).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${GUISE_EXAMPLE_PORT:-3200}"
VENV=target/example-venv
STAMP="$VENV/requirements.sha256"
WANT="$(sha256sum examples/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  echo "==> installing the example's Python packages"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r examples/requirements.txt
  echo "$WANT" > "$STAMP"
fi

[[ -x target/release/server ]] || cargo leptos build --release

rm -rf target/example && mkdir -p target/example
DATABASE_URL=sqlite://target/example/guise.db LEPTOS_SITE_ADDR="127.0.0.1:$PORT" GUISE_DEMO=true RUST_LOG=warn \
  target/release/server serve > target/example/server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/healthz', timeout=2)" 2>/dev/null && break
  kill -0 $SERVER 2>/dev/null || { cat target/example/server.log; exit 1; }
  sleep 0.5
done

"$VENV/bin/python" examples/impersonate.py --base-url "http://127.0.0.1:$PORT"
