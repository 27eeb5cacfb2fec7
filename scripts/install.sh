#!/usr/bin/env bash
# Installs what building and testing Guise needs, only where it is missing or the wrong version.
# Usage: scripts/install.sh            build tools (make run)
#        scripts/install.sh --browser  build tools plus Chromium for the browser tests and
#                                      PostgreSQL for the tests on both engines (make test)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
WASM_OPT_VERSION=132
WASM_BINDGEN_VERSION=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;q}' Cargo.lock)

say() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: see https://rustup.rs (rustup, then re-run this script)" >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  echo "Node.js 20+ and npm are needed for the browser tests and wasm-opt" >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q " ${CARGO_LEPTOS_VERSION}\$"; then
  say "installing cargo-leptos ${CARGO_LEPTOS_VERSION} (takes a while the first time)"
  # no_downloads: the tools it would fetch from GitHub come from cargo and npm instead.
  cargo install cargo-leptos --version "${CARGO_LEPTOS_VERSION}" --locked --features no_downloads
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
  say "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (must equal the crate in Cargo.lock)"
  # Not --locked: its lockfile names a webpki-roots version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}" --force
fi

# Playwright and binaryen (wasm-opt for release builds) come from npm, pinned by the lockfile.
lock_hash=$(sha256sum end2end/package-lock.json | cut -d' ' -f1)
stamp=end2end/node_modules/.guise-lock-hash
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  say "installing end2end npm packages"
  (cd end2end && npm ci --no-audit --no-fund)
  echo "$lock_hash" > "$stamp"
fi
if ! end2end/node_modules/.bin/wasm-opt --version | grep -q "version ${WASM_OPT_VERSION}"; then
  echo "end2end/node_modules has the wrong wasm-opt; expected version ${WASM_OPT_VERSION}" >&2
  exit 1
fi

if [ "${1:-}" = "--browser" ]; then
  if ! command -v chromium >/dev/null; then
    say "installing Chromium from Debian"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "installing PostgreSQL from Debian (the tests start clusters of their own)"
    # No system cluster on port 5432: the tests need only the programs.
    as_root mkdir -p /etc/postgresql-common
    [ -f /etc/postgresql-common/createcluster.conf ] \
      || echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql postgresql-contrib
  fi
fi
say "tools ready"
