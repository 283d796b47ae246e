#!/usr/bin/env bash
# Runs the whole Relais test suite: format and vet checks, unit, contract,
# protocol and end-to-end tests, and the integration tests against real
# RabbitMQ and PostgreSQL, which this script installs and starts itself
# (Debian packages, no systemd) and stops afterwards.
#
#   ./tests/run.sh              everything
#   RELAIS_ENGINES=0 ./tests/run.sh   skip starting RabbitMQ/PostgreSQL
#                                     (their tests then skip, loudly)
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:--buildvcs=false}"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

if [ "${RELAIS_ENGINES:-1}" != "0" ] && [ -f tests/engines.sh ]; then
  echo "== engines (RabbitMQ, PostgreSQL)"
  # shellcheck source=tests/engines.sh
  source tests/engines.sh
  engines_start
  trap engines_stop EXIT
fi

# promtool checks the alert rules in deploy/prometheus (tests/ops fails
# without it in CI); Debian's prometheus package provides it.
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || { echo "promtool missing: apt-get install prometheus"; return 0; }
  echo "== installing promtool (Debian package prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >&2 && apt-get install -y -qq --no-install-recommends prometheus </dev/null >&2
}
ensure_promtool

# SoftHSM 2 is the PKCS#11 token of the hub-key tests (adapters/pkcs11,
# tests/security); gcc builds the cgo that loads a PKCS#11 module. Debian
# packages softhsm2 and gcc.
ensure_softhsm() {
  command -v softhsm2-util >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || { echo "softhsm2 or gcc missing: apt-get install softhsm2 gcc"; return 0; }
  echo "== installing SoftHSM 2 and gcc (Debian packages softhsm2, gcc)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >&2 && apt-get install -y -qq --no-install-recommends softhsm2 gcc libc6-dev </dev/null >&2
}
ensure_softhsm

# The browser tests (tests/browser) drive Debian's Chromium with
# playwright-core; setup.sh installs both, idempotently. In CI a failed
# setup fails the run (the test would fail anyway); elsewhere the browser
# test then skips, saying why.
echo "== browser test setup"
if ! bash tests/browser/setup.sh; then
  if [ "${CI:-}" = "true" ]; then echo "browser test setup failed"; exit 1; fi
  echo "browser test setup failed: tests/browser will skip"
fi

echo "== go test"
go test -count=1 -timeout 25m ./...

echo "== demo"
go run ./cmd/relais demo --lang en >/dev/null
echo "demo: ok"
