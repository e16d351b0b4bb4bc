# lvsctl — see README.md. Every target that needs root tools installs them on
# first use (apt) and says so.

GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKG       := github.com/lvsctl/lvsctl
LDFLAGS   := -s -w -X $(PKG)/internal/cli.Version=$(VERSION)
GOFLAGS_B := -trimpath -buildvcs=false
LABRUN    := $(GO) run ./lab/cmd/labrun

.PHONY: all build test test-unit test-short lab-prepare demo bench install uninstall lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -ldflags '$(LDFLAGS)' -o bin/lvsctl ./cmd/lvsctl

# The seconds-long unit tier: no root, no network, no lab.
test-short:
	$(GO) test -short -count=1 ./...

# All tiers: unit, root integration tests on the host (build tag
# integration) and the real-kernel lab. The lab is prepared first (apt
# packages, Debian's kernel image) so that no test races to install it.
test: build lab-prepare
	$(GO) vet ./...
	$(GO) test -tags integration -count=1 -timeout 25m ./...

lab-prepare:
	$(LABRUN) -prepare

# The main job, narrated: a director in the lab balancing HTTP between two
# real servers in NAT and DR mode.
demo: build lab-prepare
	$(LABRUN) -smp 2 -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/demo.sh
	$(LABRUN) -smp 2 -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/fwmark.sh

# Ratios against the reference tools, measured in one lab boot.
bench: build lab-prepare
	$(GO) run ./lab/bench

install: build
	install -D -m 0755 bin/lvsctl $(DESTDIR)$(PREFIX)/sbin/lvsctl

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/lvsctl

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@latest -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...; \
	else echo "staticcheck: not served by the module proxy, skipped"; fi

clean:
	rm -rf bin
