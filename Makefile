# Tripsense: `make run` runs the product, `make test` runs every test
# (it installs what it needs: Go modules, the npm tools pinned in package-lock.json).
.PHONY: run build test test-go lambda package bench tools

# The version stamped into binaries: git describe, or what Go records.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X github.com/tripsense/tripsense/cmd/internal/buildinfo.version=$(VERSION)

run:
	go run -ldflags "$(LDFLAGS)" ./cmd/tripsense

# bin/tripsense, static (no cgo), with the version.
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/tripsense ./cmd/tripsense

test:
	bash scripts/test.sh

tools:
	npm ci --no-audit --no-fund

lambda:
	VERSION="$(VERSION)" bash scripts/lambda.sh

# Installs the pinned npm tools (osls) first when they are missing.
package: lambda
	@[ -x node_modules/.bin/osls ] || npm ci --no-audit --no-fund
	npx --no-install osls package --stage dev
