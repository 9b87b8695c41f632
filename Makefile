# Kitaru deployments: developer entry points. `make` alone lists them.
# The logic lives in scripts/ so CI (.ci/run) and people run the same thing.

GO    ?= go
BIN   ?= bin/kitaru
BENCH ?= .
BENCHFLAGS ?=
SCALESIMFLAGS ?=
DEVFLAGS ?=
# The CDK CLI and cdklocal pinned in package.json; CDKFLAGS passes context,
# e.g. CDKFLAGS='-c kitaru:destroy=true' (see infra/main.go).
CDK      ?= npx --no-install cdk
CDKFLAGS ?=
CDK_ENV  = JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true

.DEFAULT_GOAL := help
.PHONY: help dev test fuzz e2e clients aws-local aws-local-e2e bench build build-cli crossbuild synth lint-template infra-test localstack-up localstack-deploy localstack-e2e localstack-down vet lint fmt tidy clean ddb-local-start ddb-local-stop scale-sim

help: ## List the targets
	@echo "usage: make <target>"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

dev: build-cli ## Run the embedded default server (kitaru dev) on 127.0.0.1:8787
	$(BIN) dev $(DEVFLAGS)

test: ## gofmt check, go vet, staticcheck, pyflakes, go test -race ./... against a fresh DynamoDB Local, then make e2e
	scripts/test.sh

e2e: build-cli ## The docs' deployments walkthrough (scripts/e2e.sh) against a fresh kitaru dev on a free loopback port
	KITARU_BIN=$(BIN) scripts/e2e.sh --dev

clients: build-cli node_modules/.bin/inspector ## Outside clients pinned in package.json: the official MCP SDK calls kitaru mcp on a fresh kitaru dev (Ajv checks the results), the Inspector's --strict schema check, redocly lint api/openapi.yaml
	KITARU_BIN=$(BIN) scripts/clients.sh

node_modules/.bin/inspector: package-lock.json
	npm ci --no-audit --no-fund

aws-local: ## The synthesized stack on AWS's emulators (RIE, moto, DynamoDB Local); serves until Ctrl-C
	scripts/aws-local.sh up

aws-local-e2e: ## make aws-local, then the fail-closed checks and scripts/e2e.sh against it (CI runs this)
	scripts/aws-local.sh e2e

fuzz: ## Every fuzz target under pkg/ briefly, one after another (FUZZTIME=3000x inputs each)
	scripts/fuzz.sh

bench: ## Benchmarks of ./pkg/... on a fresh DynamoDB Local, then the table of figures vs floors (BENCH=regexp BENCHFLAGS=-benchtime=1x)
	BENCH='$(BENCH)' scripts/bench.sh $(BENCHFLAGS)

scale-sim: ## Throttling simulator (docs/scale-sim.md): mixed load through the real handlers in virtual time vs issue 20's targets (SCALESIMFLAGS='-scope item -seconds 2')
	$(GO) run ./scripts/scalesim $(SCALESIMFLAGS)

build: build-cli ## Lambda code into dist/ (Go functions linux/arm64, GOARCH=amd64 overrides; the Python runner) and bin/kitaru
	GO=$(GO) scripts/build.sh

build-cli: ## Build the kitaru CLI into bin/kitaru
	$(GO) build -o $(BIN) ./cmd/kitaru

crossbuild: ## Build the CLI for linux, darwin, windows x amd64, arm64 into a temp dir (keeps nothing; make test runs it)
	GO=$(GO) scripts/crossbuild.sh

# cdk.json builds the app into .tmp/cdk/ and runs it from here, where the CLI
# runs: the paths it hands the app (CDK_OUTDIR, CDK_PERF_COUNTERS_FILE, …) are
# relative to this directory. CI forces the slow-synth path that writes the
# perf counters: CDKFLAGS='-c @aws-cdk/core.slowSynthThreshold=0'. The CLI
# would read an exported CDKFLAGS as an option (--flags), hence env -u.
synth: node_modules/.bin/cdk ## cdk synth the stack into cdk.out/ from what make build wrote (CDKFLAGS='-c key=value')
	env -u CDKFLAGS $(CDK_ENV) $(CDK) synth --quiet --no-notices $(CDKFLAGS)

lint-template: ## cfn-lint every template make synth wrote (cdk.out/*.template.json; ignores with reasons in .cfnlintrc.yaml)
	@command -v cfn-lint >/dev/null || { echo "error: cfn-lint is not installed; install it with: pip install 'cfn-lint==1.51.0'" >&2; exit 1; }
	@ls cdk.out/*.template.json >/dev/null 2>&1 || { echo "error: no template in cdk.out/; run make build && make synth first" >&2; exit 1; }
	cfn-lint cdk.out/*.template.json

infra-test: node_modules/.bin/cdk ## The CDK assertion and cdk-nag tests of infra/, and a real cdk synth on the slow path (-p 1: each package starts its own node)
	cd infra && $(CDK_ENV) $(GO) test -p 1 ./...

node_modules/.bin/cdk: package-lock.json
	npm ci --no-audit --no-fund

localstack-up: ## Start LocalStack (Docker; LOCALSTACK_AUTH_TOKEN, see localstack/README.md) and wait until healthy
	localstack/kit.sh up

localstack-deploy: node_modules/.bin/cdk ## Build for the host architecture, cdklocal bootstrap, destroy the stack if deployed, deploy it on LocalStack
	localstack/kit.sh deploy

localstack-e2e: build-cli ## 401 check, fail-closed matrix, a key for a new project, then scripts/e2e.sh against the API deployed on LocalStack
	KITARU_BIN=$(BIN) localstack/kit.sh e2e

localstack-down: ## Stop LocalStack and drop its state
	localstack/kit.sh down

vet: ## go vet ./...
	$(GO) vet ./...

lint: vet ## go vet, staticcheck (root module and infra/) and pyflakes on the Python (scripts/lint.sh)
	scripts/lint.sh

fmt: ## Format every Go file of the work tree (gofmt -w)
	scripts/gofmt.sh fix

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## Stop a DynamoDB Local started by ddb-local-start; remove bin/, dist/, cdk.out/ and .tmp/
	scripts/dynamodb-local.sh stop
	rm -rf bin dist cdk.out .tmp

ddb-local-start: ## Start DynamoDB Local in the background and print its endpoint
	@scripts/dynamodb-local.sh start
	@echo "use it with: export DYNAMODB_ENDPOINT=$$(scripts/dynamodb-local.sh status)" >&2

ddb-local-stop: ## Stop the DynamoDB Local started by ddb-local-start
	scripts/dynamodb-local.sh stop
