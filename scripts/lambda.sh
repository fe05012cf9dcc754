#!/usr/bin/env bash
# Builds the Lambda functions (`make lambda`): each cmd/lambda-* main as
# `bootstrap` for the provided.al2023 runtime on arm64, zipped per function
# into dist/ (dist/lambda-ws.zip, dist/lambda-api.zip, dist/lambda-fanout.zip),
# which serverless.yml deploys as the functions' artifacts. Needs only Go.
#
#   LAMBDA_GOARCH=amd64 bash scripts/lambda.sh   # x86_64 build (tests, RIE)
#   LAMBDA_SIZE_BUDGET_MB=20 bash scripts/lambda.sh
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${LAMBDA_GOARCH:-arm64}"
budget_mb="${LAMBDA_SIZE_BUDGET_MB:-15}"
functions=(lambda-ws lambda-api lambda-fanout)

mkdir -p dist
# The version every function reports (buildinfo, logs, metrics).
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || true)}"
go build -o dist/.lambdazip ./scripts/lambdazip
status=0
for fn in "${functions[@]}"; do
	dir="dist/$fn"
	rm -rf "$dir"
	mkdir -p "$dir"
	GOOS=linux GOARCH="$arch" CGO_ENABLED=0 \
		go build -tags lambda.norpc -ldflags "-s -w -X github.com/tripsense/tripsense/cmd/internal/buildinfo.version=${version}" -trimpath -o "$dir/bootstrap" "./cmd/$fn"
	dist/.lambdazip -o "dist/$fn.zip" "$dir/bootstrap"
	size=$(wc -c <"$dir/bootstrap")
	zsize=$(wc -c <"dist/$fn.zip")
	printf '%-11s linux/%s  bootstrap %5.1f MB  zip %5.1f MB  -> dist/%s.zip\n' \
		"$fn" "$arch" "$(echo "$size" | awk '{print $1/1000000}')" "$(echo "$zsize" | awk '{print $1/1000000}')" "$fn"
	if [ "$size" -gt $((budget_mb * 1000000)) ]; then
		echo "error: dist/$fn/bootstrap is over the ${budget_mb} MB budget (LAMBDA_SIZE_BUDGET_MB)" >&2
		status=1
	fi
done
rm -f dist/.lambdazip
exit "$status"
