# Keyflow: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/keyflow
export GOFLAGS := -buildvcs=false

STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ERRORLINT     := codeberg.org/polyfloyd/go-errorlint@v1.9.1
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0

.PHONY: run build deps test test-go test-cluster lint bench clean

## run: set up a fresh machine, build, and run the whole server on http://localhost:8080
run: deps build
	./$(BIN) serve --outbound-allow loopback

build:
	$(GO) build -o $(BIN) ./cmd/keyflow

## deps: install the system packages Keyflow runs on (PostgreSQL) when they are missing
deps:
	@scripts/deps.sh

## test: every test, including lint and the process-level tests
test: deps lint test-go

test-go:
	$(GO) test -race -timeout 20m ./...

lint:
	@scripts/lint.sh

## test-cluster: the multi-process cluster and fault test alone (2 api + 2 worker processes,
## 400 logins, a worker SIGKILLed, an api killed; `make test` runs it too)
test-cluster: deps
	$(GO) test -race -count=1 -run 'TestClusterFaults|TestDurability' -v ./cmd/keyflow

## bench: measured speed in one run (cold start to ready, idle RSS, app-native logins at 1 and 16
## clients with argon2id and ES256 limits, client credentials, discovery, JWKS, introspection, script
## overhead, SCIM at 100,000 users, memory per open login) beside panva's oidc-provider as a peer
## (bench/peer, Keyflow/peer ratios), then the Go benchmarks. BENCH_FLAGS passes flags to ./bench.
bench: deps build bench/peer/node_modules
	$(GO) run ./bench -keyflow ./$(BIN) $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./api/oauth2/ ./api/oauth2/jwtkeys/ ./scripting/ ./connectors/password/

# The peer's Node packages, pinned by bench/peer/package-lock.json: installed when missing or older
# than the lock file.
bench/peer/node_modules: bench/peer/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm (Node.js 20.19 or later) is needed for bench/peer" >&2; exit 1; }
	npm ci --prefix bench/peer --no-audit --no-fund
	touch $@

clean:
	rm -rf bin
