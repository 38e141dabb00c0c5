# advisor: see README.md. `make demo` to try it, `make test` to test it.
GO ?= go
BIN := bin

.PHONY: all setup setup-test build test lint fuzz bench bench-sampleapp bench-report demo clean stack-down

all: build

## setup: install the system packages the demo needs: PostgreSQL, hypopg, Redis (quiet when present)
setup:
	@scripts/setup.sh

## setup-test: those and what the tests add: wrk, tmux, the Python and Node reference targets
setup-test:
	@scripts/setup.sh --test

## build: build advisor and sampleapp into bin/
build:
	$(GO) build -o $(BIN)/advisor ./cmd/advisor
	@if [ -d sampleapp/cmd/sampleapp ]; then $(GO) build -o $(BIN)/sampleapp ./sampleapp/cmd/sampleapp; fi

## lint: gofmt, go vet, staticcheck (pinned in go.mod)
lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## test: setup-test (the packages compiled beside it), lint, the tests (race detector where it matters), short fuzzing (LANES=2: lint, race and fuzz alongside the other tests)
test:
	@SETUP=1 LINT=1 GO=$(GO) scripts/test.sh

## fuzz: every fuzz target for FUZZTIME each (default 60s)
fuzz:
	@scripts/fuzz.sh $${FUZZTIME:-60s}

## bench: the benchmarks (needs the private stack: started on demand)
bench: setup-test
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@$(GO) run ./cmd/advisor stack down --test --quiet

## bench-sampleapp: naive against tuned sampleapp on the private stack (summary also in bin/bench-sampleapp.json)
bench-sampleapp: setup build
	$(BIN)/sampleapp bench --json $(BIN)/bench-sampleapp.json

## bench-report: run every benchmark docs/benchmarks.md quotes, as it quotes it, and rewrite its table (about 85 min; BENCH_REPORT_FLAGS: e.g. --only ui-view)
bench-report: setup-test
	$(GO) run ./cmd/benchreport $(BENCH_REPORT_FLAGS)
	@$(GO) run ./cmd/advisor stack down --test --quiet

## demo: the private stack, sampleapp (naive) under light load, and the live UI (DEMO_FLAGS: e.g. --size full)
demo: setup build
	$(BIN)/advisor demo $(DEMO_FLAGS)

stack-down:
	$(GO) run ./cmd/advisor stack down

clean:
	rm -rf $(BIN)
