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

.PHONY: all build test test-deps test-unit test-short lab-prepare demo bench install uninstall completions man lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -ldflags '$(LDFLAGS)' -o bin/lvsctl ./cmd/lvsctl

# The seconds-long unit tier: no root, no network, no lab.
test-short:
	$(GO) test -short -count=1 ./...

# All tiers: unit, root integration tests on the host (build tag
# integration) and the real-kernel lab. The lab is prepared first (apt
# packages, Debian's kernel image) so that no test races to install it.
test: build test-deps lab-prepare
	$(GO) vet ./...
	$(GO) test -tags integration -count=1 -timeout 25m ./...

lab-prepare:
	$(LABRUN) -prepare

# The real peers and checkers the host tiers run: keepalived (VRRP interop,
# config checks), iptables (fwmark), the shells the completions are checked
# in, and the man-page and unit linters. Installed with apt when missing.
TEST_PACKAGES := keepalived iptables iproute2 bash zsh fish groff mandoc man-db systemd util-linux
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
			echo "make test needs these Debian packages: $$missing (run as root with apt to install them)"; exit 1; \
		fi; \
		echo "Installing test dependencies: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The main job, narrated: a director in the lab balancing HTTP between two
# real servers in NAT and DR mode.
demo: build lab-prepare
	$(LABRUN) -smp 2 -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/demo.sh
	$(LABRUN) -smp 2 -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/fwmark.sh
	$(LABRUN) -smp 2 -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/monitor.sh
	$(LABRUN) -smp 2 -f bin/lvsctl:/usr/sbin/lvsctl lab/demo/vrrp.sh

# Ratios against the reference tools, measured in one lab boot.
bench: build lab-prepare
	$(GO) run ./lab/bench
	$(GO) run ./lab/bench/monitor -rounds 2
	$(GO) run ./lab/bench/vrrp

# Where install puts things (PREFIX, DESTDIR as usual). COMPAT_LINKS=1 also
# makes ipvsadm, ipvsadm-save and ipvsadm-restore links to lvsctl; a real
# program of that name is never replaced.
SBINDIR      ?= $(PREFIX)/sbin
MANDIR       ?= $(PREFIX)/share/man
BASHCOMPDIR  ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR  ?= $(PREFIX)/share/fish/vendor_completions.d
UNITDIR      ?= $(PREFIX)/lib/systemd/system
COMPAT_LINKS ?=
COMPAT_NAMES := ipvsadm ipvsadm-save ipvsadm-restore
MAN8         := $(notdir $(wildcard man/*.8))
MAN5         := $(notdir $(wildcard man/*.5))
UNITS        := lvsctl-vrrp.service lvsctl-monitor.service

install: build
	install -D -m 0755 bin/lvsctl $(DESTDIR)$(SBINDIR)/lvsctl
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 $(addprefix man/,$(MAN8)) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(addprefix man/,$(MAN5)) $(DESTDIR)$(MANDIR)/man5/
	install -D -m 0644 completions/lvsctl.bash $(DESTDIR)$(BASHCOMPDIR)/lvsctl
	@# bash-completion loads a script by command name: ipvsadm gets ours
	@# unless a real one is there already.
	@t=$(DESTDIR)$(BASHCOMPDIR)/ipvsadm; \
	if [ -e "$$t" ] && [ ! -L "$$t" ]; then echo "keeping $$t"; else ln -sfn lvsctl "$$t"; fi
	install -D -m 0644 completions/_lvsctl $(DESTDIR)$(ZSHCOMPDIR)/_lvsctl
	install -D -m 0644 completions/lvsctl.fish $(DESTDIR)$(FISHCOMPDIR)/lvsctl.fish
	@# fish too loads completions by command name, from NAME.fish.
	@t=$(DESTDIR)$(FISHCOMPDIR)/ipvsadm.fish; \
	if [ -e "$$t" ] && [ ! -L "$$t" ]; then echo "keeping $$t"; else ln -sfn lvsctl.fish "$$t"; fi
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' dist/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
ifeq ($(COMPAT_LINKS),1)
	@for n in $(COMPAT_NAMES); do \
		t=$(DESTDIR)$(SBINDIR)/$$n; \
		if [ -e "$$t" ] && [ ! -L "$$t" ]; then echo "install: $$t exists and is not a link; not replacing it" >&2; exit 1; fi; \
		echo "ln -sfn lvsctl $$t"; ln -sfn lvsctl "$$t" || exit 1; \
	done
endif

# Removes exactly what install put there: links only while they point at
# lvsctl.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/lvsctl
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(MAN8)) $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(MAN5))
	rm -f $(DESTDIR)$(BASHCOMPDIR)/lvsctl $(DESTDIR)$(ZSHCOMPDIR)/_lvsctl $(DESTDIR)$(FISHCOMPDIR)/lvsctl.fish
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	@t=$(DESTDIR)$(FISHCOMPDIR)/ipvsadm.fish; \
	if [ -L "$$t" ] && [ "$$(readlink "$$t")" = lvsctl.fish ]; then echo "rm -f $$t"; rm -f "$$t"; fi
	@for t in $(addprefix $(DESTDIR)$(SBINDIR)/,$(COMPAT_NAMES)) $(DESTDIR)$(BASHCOMPDIR)/ipvsadm; do \
		if [ -L "$$t" ] && [ "$$(readlink "$$t")" = lvsctl ]; then echo "rm -f $$t"; rm -f "$$t"; fi; \
	done

# Regenerate the checked-in completion scripts and manual pages from the
# CLI definition (TestGenerated fails when they are stale).
completions man:
	$(GO) test ./internal/cli -count=1 -run '^TestGenerated$$' -update

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@latest -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...; \
	else echo "staticcheck: not served by the module proxy, skipped"; fi

clean:
	rm -rf bin
