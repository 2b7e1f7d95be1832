# Targets document themselves: `make help`.
GO ?= go
PKGS := ./...

STATICCHECK_VERSION ?= v0.8.2

.PHONY: help build test vet lint fmt-check tidy-check bench bench-smoke bench-run demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/eventexport
	$(GO) build -o bin/eventexport ./cmd/eventexport

test: fmt-check tidy-check vet lint ## check formatting, go.mod, vet, lint, and run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet: ## go vet
	$(GO) vet $(PKGS)

lint: ## staticcheck, installed from the module proxy at a pinned version
	@command -v staticcheck >/dev/null 2>&1 || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

fmt-check: ## fail when a file is not gofmt-formatted
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check: ## fail when go.mod or go.sum is not what `go mod tidy` makes of them
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy (the diff above is what is missing or stale): run go mod tidy and commit the result"; exit 1; }

bench: ## run the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

bench-smoke: ## compile and run every benchmark once, so they keep working
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

bench-run: build ## whole-run benchmark: seed N events, deliver them over SFTP (N=1000000 by default)
	$(GO) run ./cmd/eventexport-bench -events $${N:-1000000} -baseline -bin bin/eventexport

demo: build ## deliver sample files to a local SFTP server in ./demo-sftp
	./bin/eventexport demo
