#!/usr/bin/env bash
# Prepares the Python environment of the Flask demo webapp (examples/webapps/flask-demo):
# target/webapp-venv with Flask, requests and the guise client. Rebuilt only when the demo's
# requirements or the client's sources change; prints the venv's python (absolute, since Guise
# starts the backend from the demo's directory).
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=examples/webapps/flask-demo
CLIENT=clients/python
VENV=target/webapp-venv
STAMP="$VENV/sources.sha256"

# The requirements and the client's source, each file named so that a rename counts too.
# Bytecode caches are left out: importing the sources must not force a rebuild.
WANT="$(
  {
    sha256sum "$DEMO/requirements.txt" "$CLIENT/pyproject.toml"
    find "$CLIENT/src" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)"

if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  echo "==> installing the Flask demo's Python packages into $VENV" >&2
  # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
  BUILD=target/webapp-client
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  cp -r "$CLIENT/pyproject.toml" "$CLIENT/README.md" "$CLIENT/src" "$BUILD/"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # stdout is kept for the python path alone.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$DEMO/requirements.txt" "./$BUILD" >&2
  rm -rf "$BUILD"
  # Written last: an interrupted install is redone on the next run.
  echo "$WANT" > "$STAMP"
fi

echo "$PWD/$VENV/bin/python"
