#!/usr/bin/env bash
# make lint: formatting, vet, static analysis, error wrapping, Temporal determinism and the layer
# rules of DESIGN.md §2.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

echo "lint: gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$bad" ]; then echo "gofmt needed on:"; echo "$bad"; exit 1; fi

echo "lint: go vet"
$GO vet ./...

echo "lint: staticcheck"
$GO run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "lint: errorlint"
$GO run codeberg.org/polyfloyd/go-errorlint@v1.9.1 -errorf ./...

if [ -n "$($GO list ./flows/... 2>/dev/null)" ]; then
  echo "lint: workflowcheck (flows/)"
  $GO run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./flows/...
fi

echo "lint: layer rules"
scripts/layers.sh
