# ferry's build and test entry points. `make test` is what CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...
# Go test flags for `make test`; the whole suite, MinIO and browser included.
TESTFLAGS ?= -race -count=1 -timeout 25m
# staticcheck for `make vet`, pinned; installed into .tools/bin on first use.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .tools/bin/staticcheck.$(STATICCHECK_VERSION)
# Fuzzing in `make test`: 10 s per target. A duration keeps CI's time
# bounded (targets that fsync run 10 to 2,000 executions a second, with the
# disk); scripts/fuzz.sh retries a target once by count when Go's fuzz
# coordinator trips on its own deadline.
TEST_FUZZTIME ?= 10s
BENCH   ?= .
BENCHTIME ?= 3x

.PHONY: all build run test vet unit bench fuzz browser-deps interop-deps tusd soak clean jstest

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$$(git describe --tags --always --dirty 2>/dev/null || echo dev)" -o bin/ferry ./cmd/ferry

run:
	$(GO) run ./cmd/ferry

## test: vet, then every test with -race against a real MinIO (installed into
## .tools/bin on first use, started on a free loopback port, stopped after).
## The browser tests need Debian's chromium (make browser-deps installs it).
test: vet interop-deps jstest
	scripts/with-minio.sh $(GO) test $(TESTFLAGS) $(PKGS)
	FUZZTIME=$(TEST_FUZZTIME) GO=$(GO) scripts/fuzz.sh

## jstest: the uploader page's JavaScript unit tests (web/jstest: the
## upload state machine against a fake WebSocket, the queue, the formats,
## the vendored SHA-256, the remembered file handles), with Node's own runner (Node 20 or later).
jstest:
	node --test web/jstest/*.test.mjs

$(STATICCHECK):
	GOBIN=$(CURDIR)/.tools/bin GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	cp .tools/bin/staticcheck $@

## fuzz: every Go fuzz target for FUZZTIME each (make test runs TEST_FUZZTIME).
## A failing input lands in <package>/testdata/fuzz/<Target>/: move it to
## testdata/fuzz/<Target>/ (the seed corpora) with its fix.
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

## vet: go vet for Linux, macOS and Windows (storage/local and the rest must
## build on all three), staticcheck (pinned, installed into .tools/bin on
## first use), then the gofmt check.
vet: $(STATICCHECK)
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## unit: the quick suite without MinIO (the S3 tests skip with a message).
unit:
	$(GO) test -race -count=1 $(PKGS)

## bench: the benchmarks recorded in docs/performance.md (MinIO-backed ones
## run under scripts/with-minio.sh).
bench:
	scripts/with-minio.sh $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem $(PKGS)

## browser-deps: Debian's headless Chromium for the browser tests (root).
browser-deps:
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

## deploy-deps: Debian's nginx for the deployment tests (root), which run
## docs/deploy.md's configuration.
.PHONY: deploy-deps
deploy-deps:
	command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || (apt-get update && apt-get install -y --no-install-recommends nginx)

## interop-deps: the third-party clients of the interop tests (tus-js-client,
## Uppy), pinned by testdata/interop/package-lock.json; `npm ci` again only
## when the lock file is newer than the installed tree.
INTEROP := testdata/interop
interop-deps: $(INTEROP)/node_modules/.package-lock.json

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "interop-deps: no npm; the interop tests will skip (CI=true: fail)"; \
	  [ "$$CI" != true ]; exit; fi; \
	npm ci --prefix $(INTEROP) --ignore-scripts --no-audit --no-fund && touch $@

## tusd: the reference tus server, for comparing behaviour by hand
## (.tools/bin/tusd -base-path /uploads/ -host 127.0.0.1 -port 1080).
TUSD_VERSION ?= v2.9.1
tusd: .tools/bin/tusd.$(TUSD_VERSION)

.tools/bin/tusd.$(TUSD_VERSION):
	GOBIN=$(CURDIR)/.tools/bin GOFLAGS= $(GO) install github.com/tus/tusd/v2/cmd/tusd@$(TUSD_VERSION)
	@touch $@

## bench-browser: the uploader page's upload speed in headless Chromium
## against a bare in-page WebSocket on the same server and Uppy (@uppy/tus)
## to tusd, in one run (docs/performance.md). FERRY_BENCH_MIB sets the file
## size (300), FERRY_BENCH_ROUNDS the rounds (3).
.PHONY: bench-browser
bench-browser: interop-deps tusd
	FERRY_BROWSER_BENCH=1 $(GO) test -count=1 -timeout 90m -run '^TestBrowserUploadSpeed$$' -v ./web/

## soak: long upload/download runs, off by default (see docs/testing.md).
soak:
	FERRY_SOAK=1 scripts/with-minio.sh $(GO) test -race -count=1 -timeout 60m -run Soak $(PKGS)

clean:
	rm -rf bin artifacts $(INTEROP)/node_modules

## burst: issue 10's target 7 (docs/reliability.md): 200 uploads of 8 MiB at
## once against a real `ferry serve`, then RSS must be within twice idle 60 s
## later (about 2 minutes; not part of `make test`).
.PHONY: burst
burst:
	FERRY_BURST=1 $(GO) test -count=1 -timeout 10m -run '^TestBurstMemory$$' -v ./cmd/ferry

## load: the load and crash probes of docs/reliability.md against a real
## `ferry serve` process (about 5 minutes; not part of `make test`). The
## results table lands in artifacts/load/report.md.
.PHONY: load
load:
	@mkdir -p artifacts/load
	FERRY_LOAD=1 FERRY_LOAD_REPORT=$(CURDIR)/artifacts/load/report.md $(GO) test -count=1 -timeout 12m -run '^TestLoad$$' -v ./cmd/ferry
