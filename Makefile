# One command each: `make run` starts the system, `make test` runs every test.
# Both find or start what they need (PostgreSQL, Valkey, NATS); see README.md.

GO       ?= go
PKGS     := github.com/caasdemo/orderdemo/...
MODULES  := $(shell $(GO) work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
DEVSTACK := bin/devstack

.PHONY: run test chaos lint fmt build modules tidy devstack clean replay assets bench

## run: start the whole system on this machine (Ctrl-C stops it)
run: devstack
	./$(DEVSTACK) run

## test: every module's tests with the race detector, against real servers; then the short
##       form of the fault suite (its own servers, as separate processes it kills)
test: devstack
	./$(DEVSTACK) exec -- $(GO) test -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v '/infrastructure/chaos$$')
	$(GO) test -count=1 -timeout 20m -v -run TestFaultSuite ./infrastructure/chaos/

## chaos: the fault suite's long form: kill -9 of each piece, PostgreSQL's immediate stop,
##        the audit service stopped for 20 s and a poison message, under load; prints a table
##        and fails on anything lost, doubled, refused or left hanging
chaos:
	$(GO) run ./infrastructure/cmd/chaos

## bench: the whole system under load, with this machine's own references measured in the
##        same run (BENCH_DURATION=60s per phase by default); prints a table, writes JSON;
##        BENCH_PHASES picks phases, BENCH_PROFILE=<dir> saves pprof profiles of every service
bench:
	$(GO) run ./infrastructure/cmd/bench

## replay: rebuild projections from the event streams while `make run` runs;
##         PROJECTION=all|audit-log|orders (default all), VERIFY=1 to compare and list differences
PROJECTION ?= all
replay: devstack
	./$(DEVSTACK) replay --projection=$(PROJECTION) $(if $(VERIFY),--verify)

## assets: vendor the pinned front-end libraries (package-lock.json) into the gateway;
##         the copies are committed, so building needs no npm
VENDOR := services/gateway/internal/web/static/vendor
assets:
	cd services/gateway/web && npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(VENDOR)
	cp services/gateway/web/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp services/gateway/web/node_modules/htmx-ext-sse/dist/sse.min.js $(VENDOR)/htmx-ext-sse.min.js
	cp services/gateway/web/node_modules/@alpinejs/csp/dist/cdn.min.js $(VENDOR)/alpine-csp.min.js
	cp services/gateway/web/node_modules/bulma/css/bulma.min.css $(VENDOR)/bulma.min.css
	cd services/gateway/web/node_modules && cat htmx.org/LICENSE htmx-ext-sse/LICENSE @alpinejs/csp/LICENSE* bulma/LICENSE > ../../internal/web/static/vendor/LICENSES.txt 2>/dev/null || true

## lint: formatting, vet, staticcheck (pinned in infrastructure/go.mod), compose.yaml check,
## and every module building and vetting on its own
lint: modules
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) test -count=1 -run 'TestComposeFileIsValid' ./infrastructure/compose/

## modules: each module builds and vets alone, outside the workspace
modules:
	@for m in $(MODULES); do echo "module $$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...) || exit 1; done

## fmt: format every Go file
fmt:
	gofmt -w $(MODULES)

## build: compile the four services into bin/
build:
	$(GO) build -o bin/ ./services/auth/cmd/auth ./services/order/cmd/order ./services/audit/cmd/audit ./services/gateway/cmd/gateway

## tidy: go mod tidy in every module
tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy) || exit 1; done

devstack:
	@$(GO) build -o $(DEVSTACK) ./infrastructure/cmd/devstack

## clean: remove built binaries (keeps .data; delete it to start from scratch)
clean:
	rm -rf bin
