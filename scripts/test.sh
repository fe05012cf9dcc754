#!/usr/bin/env bash
# The one command that runs every test (`make test`). It installs what it
# needs (Go modules; wscat, dynalite and osls pinned in package-lock.json;
# the SDK's typescript and ws in clients/js/package-lock.json; Debian's
# chromium for the browser test),
# and the tests start and stop their own servers on 127.0.0.1: the tripsense
# binary, dynalite (the DynamoDB-compatible test server) and the gateway
# harness.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== install: npm tools (package-lock.json) and Go modules"
npm ci --no-audit --no-fund --loglevel=error
go mod download
export PATH="$PWD/node_modules/.bin:$PATH"

echo "== headless Chromium for the browser test (Debian's package, installed when missing)"
if ! command -v chromium >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends chromium
fi
export TRIPSENSE_REQUIRE_BROWSER=1 # test/webclient_test.go fails instead of skipping without it

echo "== make package (Lambda bootstrap zips within 15 MB each, then osls package offline)"
make package

echo "== go vet"
go vet ./...
# The benchmark-only durability experiment (store/bolt/syncexp.go) must keep compiling.
go vet -tags tripsense_syncexp ./store/bolt

echo "== the server builds for macOS and Windows too (go run ./cmd/tripsense on a developer's machine)"
GOOS=darwin GOARCH=arm64 go build -o /dev/null ./cmd/tripsense
GOOS=windows GOARCH=amd64 go build -o /dev/null ./cmd/tripsense

echo "== go test -race (unit, store conformance on bbolt and dynalite, end to end)"
# -json through scripts/testcount: package results, the output of failed
# tests, and at the end "N passed, N failed, N skipped".
go build -o dist/.testcount ./scripts/testcount
go test -race -count=1 -timeout 20m -json ./... | dist/.testcount

echo "== SDK: clients/js (npm ci, tsc, node --test against the real binary, with the fault-injecting proxy)"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== fuzz (short, a fixed number of executions per target)"
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report its own stop deadline as a failure ("context deadline exceeded", no
# failing input) when a worker is slow to answer on a loaded machine
# (golang/go#75804, fixed in Go 1.27). A count has no deadline to race.
fuzztime="${FUZZTIME:-30000x}"
while read -r pkg target; do
	[ -n "$pkg" ] || continue
	echo "-- $target ($pkg, $fuzztime)"
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	d=$(dirname "$f")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r t; do echo "./${d#./} $t"; done
done | sort -u)

echo "all tests passed"
