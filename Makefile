# Keyflow: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/keyflow
export GOFLAGS := -buildvcs=false

STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ERRORLINT     := codeberg.org/polyfloyd/go-errorlint@v1.9.1
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0

.PHONY: run build deps test test-go lint bench clean

## run: set up a fresh machine, build, and run the whole server on http://localhost:8080
run: deps build
	./$(BIN) serve

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

## bench: measured speed (cold start to ready, idle RSS, …) in one run
bench: deps build
	$(GO) run ./bench -keyflow ./$(BIN)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./api/oauth2/ ./scripting/ ./connectors/password/

clean:
	rm -rf bin
