#!/usr/bin/env bash
# Registers the Flask Impersonation Demo (examples/webapps/flask-demo) as a code webapp of the
# demo's TSHIRTS project, in the database DATABASE_URL names (by default data/guise.db),
# seeding the demo first when that database is empty. Registering it again changes nothing.
# Usage: scripts/register-flask-demo.sh [path to the server binary]
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER="${1:-target/release/server}"
PYTHON="$(scripts/setup-flask-demo.sh)"
DEMO=examples/webapps/flask-demo

"$SERVER" seed-demo > /dev/null
# Its scopes are given the first time only: what an admin changed in its settings stays.
SCOPES=(--scope datasets:read --scope datasets:build)
if "$SERVER" webapp list | grep -q '^TSHIRTS/flask-demo[[:space:]]'; then
  SCOPES=()
fi
"$SERVER" webapp register --project TSHIRTS --slug flask-demo --name "Flask Impersonation Demo" \
  --run-as webapp-backend@tshirts.example "${SCOPES[@]}" \
  --frontend "$DEMO/static" --workdir "$DEMO" -- "$PYTHON" app.py
