#!/usr/bin/env bash
# Tests the Python client (clients/python) against the stub server of its tests.
# Installs the test packages into target/python-venv only when they change; the client itself is
# reinstalled on every run, so that the tests exercise the current source.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENT=clients/python
VENV=target/python-venv
STAMP="$VENV/requirements.sha256"
WANT="$(cat "$CLIENT/requirements-test.txt" "$CLIENT/pyproject.toml" | sha256sum | cut -d' ' -f1)"

# Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
BUILD=target/python-client
rm -rf "$BUILD" && mkdir -p "$BUILD"
cp -r "$CLIENT/pyproject.toml" "$CLIENT/README.md" "$CLIENT/src" "$BUILD/"

PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  echo "==> installing the Python client's test packages"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # With the client, so that its own dependencies are installed as declared.
  "${PIP[@]}" -r "$CLIENT/requirements-test.txt" "./$BUILD"
  echo "$WANT" > "$STAMP"
else
  "${PIP[@]}" --no-build-isolation --no-deps --force-reinstall "./$BUILD"
fi

PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$CLIENT/tests"
