# Tripsense: `make run` runs the product, `make test` runs every test
# (it installs what it needs: Go modules, the npm tools pinned in package-lock.json).
.PHONY: run test test-go lambda package bench tools

run:
	go run ./cmd/tripsense

test:
	bash scripts/test.sh

tools:
	npm ci --no-audit --no-fund

lambda:
	bash scripts/lambda.sh

package: lambda
	npx --no-install osls package --stage dev
