# Kitaru deployments: developer entry points. `make` alone lists them.
# The logic lives in scripts/ so CI (.ci/run) and people run the same thing.

GO    ?= go
BIN   ?= bin/kitaru
BENCH ?= .
BENCHFLAGS ?=
DEVFLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help dev test e2e bench build vet fmt tidy clean ddb-local-start ddb-local-stop

help: ## List the targets
	@echo "usage: make <target>"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

dev: build ## Run the embedded default server (kitaru dev) on 127.0.0.1:8787
	$(BIN) dev $(DEVFLAGS)

test: ## gofmt check, go vet, go test -race ./... against a fresh DynamoDB Local, then make e2e
	scripts/test.sh

e2e: build ## The docs' deployments walkthrough (scripts/e2e.sh) against a fresh kitaru dev on a free loopback port
	KITARU_BIN=$(BIN) scripts/e2e.sh --dev

bench: ## Benchmarks of ./pkg/... against a fresh DynamoDB Local (BENCH=regexp BENCHFLAGS=-benchtime=1x)
	BENCH='$(BENCH)' scripts/bench.sh $(BENCHFLAGS)

build: ## Build the kitaru CLI into bin/kitaru
	$(GO) build -o $(BIN) ./cmd/kitaru

vet: ## go vet ./...
	$(GO) vet ./...

fmt: ## Format every Go file of the work tree (gofmt -w)
	scripts/gofmt.sh fix

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## Stop a DynamoDB Local started by ddb-local-start; remove bin/ and .tmp/
	scripts/dynamodb-local.sh stop
	rm -rf bin .tmp

ddb-local-start: ## Start DynamoDB Local in the background and print its endpoint
	@scripts/dynamodb-local.sh start
	@echo "use it with: export DYNAMODB_ENDPOINT=$$(scripts/dynamodb-local.sh status)" >&2

ddb-local-stop: ## Stop the DynamoDB Local started by ddb-local-start
	scripts/dynamodb-local.sh stop
