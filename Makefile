# Guise: `make run` serves the demo on http://127.0.0.1:3000, `make test` runs every test.
SHELL := /bin/bash
# wasm-opt 132 from npm must come before any other (Debian's 108 breaks hydration).
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: run dev test bench install install-test lint unit integration e2e example release python-client

run: install
	cargo leptos build --release
	scripts/register-flask-demo.sh target/release/server
	GUISE_DEMO=true cargo leptos serve --release

dev: install
	GUISE_DEMO=true cargo leptos watch

test: install-test lint unit integration python-client e2e example

install:
	scripts/install.sh

install-test:
	scripts/install.sh --browser

lint:
	cargo clippy -p app --features ssr --all-targets -- -D warnings
	cargo clippy -p server --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

# Beside a throwaway PostgreSQL cluster (scripts/with-postgres.sh): tests of both engines.
unit:
	scripts/with-postgres.sh cargo test -p app --features ssr

# The whole suite on SQLite, then again with every test server on PostgreSQL (the files whose
# servers come from TestApp::new; the others run on PostgreSQL in the first pass already).
ENGINE_NEUTRAL_TESTS := administration api discussion foundation impersonation modes principal_cache row_security shop webapp_tokens write_path
integration:
	scripts/with-postgres.sh cargo test -p server
	GUISE_TEST_ENGINE=postgres scripts/with-postgres.sh cargo test -p server $(addprefix --test ,$(ENGINE_NEUTRAL_TESTS))

release:
	cargo leptos build --release

# The browser tests' server registers the Flask demo webapp first (end2end/playwright.config.ts).
e2e: release
	scripts/setup-flask-demo.sh > /dev/null
	cd end2end && npx playwright test

# Throughput, latency and memory of the release server (not part of `make test`).
bench: install release
	bench/run.sh

# The Python API example (requests + PyJWT) against a fresh demo server.
example: release
	scripts/run-example.sh

# The Python client package (clients/python) against a stub server.
python-client:
	scripts/test-python-client.sh
