# whisgee: build, demo, test, bench. `make demo` and `make test` are the two
# commands a newcomer needs (see README.md).
GO      ?= go
BIN     := bin/whisgee
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build demo test test-short bench fuzz vet clean

# What the binary is built from: Go files, embedded assets, the module files.
SOURCES := $(shell find . -path ./.git -prune -o -path ./bin -prune -o -type f \( -name '*.go' -o -path './assets/*' -o -name go.mod -o -name go.sum \) -print)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/whisgee

# The binary is rebuilt only when a source is newer, so that `make demo` on
# a built tree starts the demo at once (asking go build costs a second).
$(BIN): $(SOURCES)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/whisgee

## demo: the demo stack on the built-in engines, with its dashboard
demo: $(BIN)
	./$(BIN) demo

## test: vet and every test, integration included (about 5 minutes on 2 cores)
test:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) test -count=1 -timeout 9m ./...

## test-short: the unit tests only
test-short:
	$(GO) test -count=1 -short ./...

## bench: Go benchmarks, the proxy benchmark against nginx and haproxy, and
## the dashboard's CPU, memory and time to first frame
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./stats/ ./proxyctl/... ./tui/dash/
	./scripts/bench-proxy.sh
	./scripts/bench-dash.sh

## fuzz: a minute of fuzzing the config loader
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./config/

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .bench
