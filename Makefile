# casetrack — the two commands a new machine needs:
#   make run    install what is missing, build, start casetrackd on ./run/ in the foreground
#   make test   install what is missing, build, run the whole test suite
#   make test-quick  the same without the load scenarios and the fuzzer (about a minute)
# and, to install on a machine that runs systemd:
#   make deb    casetrack_VERSION_ARCH.deb; then: apt install ./casetrack_VERSION_ARCH.deb
#   make install [PREFIX=/usr/local] [DESTDIR=]   then: systemd-sysusers; systemd-tmpfiles --create;
#               journalctl --update-catalog; systemctl daemon-reload; systemctl enable --now casetrackd.socket

SHELL      := /bin/bash
SWIFT      ?= swift
RUN_DIR    ?= $(CURDIR)/run
SOCKET     ?= $(RUN_DIR)/casetrack.sock
DATABASE   ?= $(RUN_DIR)/casetrack.sqlite
BIN_DIR     = $(CURDIR)/.build/debug

# Debian packages the build, the tests and the examples need (systemd: journald,
# systemd-analyze and a PID 1 for the unit tests; util-linux: unshare, nsenter; fuse3 and
# python3-pyfuse3: the power-cut tests' file system, Tests/Faults/lazyfs.py; postgresql: the
# shared store of several offices, whose tests start throw-away clusters of it).
DEB_PACKAGES = libsqlite3-dev libsystemd-dev libssl-dev sqlite3 socat systemd util-linux passwd bc fuse3 python3-pyfuse3 postgresql
# Only for the tests: the report is looked at as a person would, rendered by a browser.
TEST_PACKAGES = chromium
# The tests build with every package trait, so that both stores are checked (Postgres: the
# shared store of several offices, Sources/CasetrackPostgres); make run and make install
# build without, unless TRAITS says otherwise (make build-postgres, make install TRAITS=Postgres).
TEST_TRAITS = Postgres
TRAITS     ?=
TRAIT_FLAGS = $(if $(TRAITS),--traits $(TRAITS))

# Where `make install` puts things (DESTDIR for staging, as packagers do).
PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# install builds a release with the Swift runtime linked in; install-files takes binaries
# from INSTALL_BIN (the tests install a debug build into a throw-away root).
INSTALL_BIN ?= $(CURDIR)/.build/release

# make fuzz: libFuzzer over the request decoder and validation, FUZZ_TIME seconds (make test
# runs it for TEST_FUZZ_TIME). New corpus entries stay under .build/fuzz; a crash stops it.
FUZZ_TIME      ?= 600
TEST_FUZZ_TIME ?= 60
FUZZ_DIR        = $(CURDIR)/.build/fuzz

.PHONY: all deps test-deps build build-postgres run test test-quick fuzz fuzz-build fuzz-run bench bench-peers test-asan test-tsan install install-files \
  release-bin deb test-deb clean

all: build

# Installs the Debian packages of $(1) that are missing (with sudo unless root).
define install-missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call install-missing,$(DEB_PACKAGES))

build: deps
	$(SWIFT) build $(TRAIT_FLAGS)

# casetrackd with the shared store of several offices (store = postgresql; README: Several
# offices): postgres-nio and its TLS stack add some 5 minutes to a cold build.
build-postgres: deps
	$(SWIFT) build --traits Postgres

run: build
	@mkdir -p $(RUN_DIR) && chmod 700 $(RUN_DIR)
	@echo "casectl: export CASETRACK_SOCKET=$(SOCKET) PATH=$(BIN_DIR):\$$PATH"
	exec $(BIN_DIR)/casetrackd --socket $(SOCKET) --database $(DATABASE)

# make bench: casetrack-bench against a release casetrackd on BENCH_CASES synthetic cases
# (the data set is built once and kept under .build/bench); figures go to standard output.
# Never part of make test. BENCH_ARGS adds options (casetrack-bench --help).
BENCH_CASES ?= 1000000
BENCH_ARGS  ?=

bench: deps
	$(SWIFT) build -c release $(TRAIT_FLAGS) --product casetrackd
	$(SWIFT) build -c release $(TRAIT_FLAGS) --product casetrack-bench
	$(CURDIR)/.build/release/casetrack-bench --cases $(BENCH_CASES) --bin $(CURDIR)/.build/release --data $(CURDIR)/.build/bench $(BENCH_ARGS)

# make bench-peers: the same, plus the same jobs on PostgreSQL and Redis (installed from
# Debian's packages if missing, started on Unix sockets in a temp folder), and casetrackd on
# PostgreSQL (one office, then two: built with the trait Postgres), with the ratios.
bench-peers: deps
	$(call install-missing,postgresql redis-server)
	$(MAKE) --no-print-directory bench TRAITS=Postgres BENCH_ARGS="--peers $(BENCH_ARGS)"

test-deps:
	$(call install-missing,$(TEST_PACKAGES))

# make test keeps to 20 minutes on two cores from a clean clone (1,161 s measured on a slow
# day: the cold build 525 s, the suite 207 s), so: one build of the daemon, casectl and the
# tests together (the suite's blocking tests on threads of their own, Tests/TestThreads); and the fuzzer, which takes one core,
# runs beside the package's release build (make test-deb), which takes what is left. The
# fuzzer's lines are shown after the package's check.
test: deps test-deps
	$(SWIFT) build --traits $(TEST_TRAITS) --build-tests
	# Swift Testing only: no XCTest suites here, so no misleading "Executed 0 tests" line.
	CASETRACK_BIN_DIR=$(BIN_DIR) $(SWIFT) test --traits $(TEST_TRAITS) --disable-xctest --skip-build
	$(MAKE) --no-print-directory fuzz-build
	@set -e; \
	if [ "$(TEST_DEB)" != yes ] || ! command -v dpkg-deb >/dev/null; then \
	  exec $(MAKE) --no-print-directory fuzz-run FUZZ_TIME=$(TEST_FUZZ_TIME); fi; \
	echo "fuzzing for $(TEST_FUZZ_TIME) s beside the package's build (its lines come after the package's check)"; \
	$(MAKE) --no-print-directory fuzz-run FUZZ_TIME=$(TEST_FUZZ_TIME) > $(FUZZ_DIR)/test-run.log 2>&1 & fuzz=$$!; \
	trap 'kill $$fuzz 2>/dev/null || true' EXIT; \
	$(MAKE) --no-print-directory test-deb DEB_OUT=$(DEB_SCRATCH) DEB_COMPRESS="-Zgzip -z1"; \
	trap - EXIT; status=0; wait $$fuzz || status=$$?; cat $(FUZZ_DIR)/test-run.log; exit $$status

# The suites without the load scenarios (Tests/EndToEndTests/LoadScenarios.swift) and the
# fuzzer: for a developer's edit-and-check loop. CI runs make test.
test-quick: deps test-deps
	$(SWIFT) build --traits $(TEST_TRAITS) --build-tests
	CASETRACK_BIN_DIR=$(BIN_DIR) $(SWIFT) test --traits $(TEST_TRAITS) --disable-xctest --skip-build --skip LoadScenarios

fuzz: fuzz-build fuzz-run

fuzz-build: deps
	$(SWIFT) build --product casetrack-fuzz --scratch-path $(FUZZ_DIR) --sanitize=fuzzer --sanitize=address \
	  -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address

fuzz-run:
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/crashes
	@$(FUZZ_DIR)/debug/casetrack-fuzz -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_DIR)/crashes/ $(FUZZ_DIR)/corpus Tests/Fuzz/seeds Tests/Fuzz/regressions 2>&1 \
	  | grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done|==|SUMMARY|.*Precondition|.*Fatal error|#[0-9]+ +DONE)" ; \
	  status=$${PIPESTATUS[0]}; if [ $$status -ne 0 ]; then \
	    echo "make fuzz: an input broke a check ($(FUZZ_DIR)/crashes/); add it to Tests/Fuzz/regressions/ and fix the cause"; exit 1; fi

# The whole suite again with AddressSanitizer or ThreadSanitizer (daemon and tests built
# with it, in their own build folder). Each takes a full build: not part of make test.
# ThreadSanitizer does not see inside Synchronization.Mutex on Linux (the standard library
# is not instrumented), so it reports races on data that a Mutex guards: read its reports,
# it does not stop at the first.
test-asan: deps
	ASAN_OPTIONS=detect_leaks=0 CASETRACK_BIN_DIR=$(CURDIR)/.build/asan/debug \
	  $(SWIFT) test --disable-xctest --sanitize=address --scratch-path $(CURDIR)/.build/asan

test-tsan: deps
	TSAN_OPTIONS=halt_on_error=0 CASETRACK_BIN_DIR=$(CURDIR)/.build/tsan/debug \
	  $(SWIFT) test --disable-xctest --sanitize=thread --scratch-path $(CURDIR)/.build/tsan

install: deps
	$(SWIFT) build -c release --static-swift-stdlib $(TRAIT_FLAGS)
	$(MAKE) install-files INSTALL_BIN=$(CURDIR)/.build/release

# The release binaries the package is made of. In .build, not a folder of its own: make
# install and make bench build the same release objects there (--static-swift-stdlib only
# changes the link), and a second scratch path would be a second cold build (minutes).
# -z now: every symbol bound at start, so the relocation table can be read-only too (full
# RELRO, as Debian builds C programs).
RELEASE_FLAGS = -c release --static-swift-stdlib -Xlinker -z -Xlinker now
# PACKAGE_TRAITS=Postgres: the package's casetrackd also serves store = postgresql (several
# offices, README: Several offices): same package, same files, no further dependency
# (postgres-nio's TLS is BoringSSL, linked in), 8 MB more (82 MB stripped, against 74). Not
# the default because make test builds and checks the package, and the trait's cold release
# build (about 7 minutes here, against about 4) would take a clean-clone make test past 20
# minutes on two cores (measured: 1,179 s without it; built beside the suite at nice 19, it
# slowed the suite instead: the compilers SwiftPM started ran at nice 0). make test-deb
# PACKAGE_TRAITS=Postgres checks that package, a PostgreSQL office included. casectl is built
# with the same traits only so that the modules both use are compiled once.
PACKAGE_TRAITS ?=
PACKAGE_TRAIT_FLAGS = $(if $(PACKAGE_TRAITS),--traits $(PACKAGE_TRAITS))

release-bin: deps
	$(SWIFT) build $(RELEASE_FLAGS) $(PACKAGE_TRAIT_FLAGS) --product casetrackd
	$(SWIFT) build $(RELEASE_FLAGS) $(PACKAGE_TRAIT_FLAGS) --product casectl

# make deb: casetrack_VERSION_ARCH.deb (and its debug symbols, casetrack-dbgsym_….deb) in
# DEB_OUT, made by dpkg-buildpackage from debian/ in a copy of the checkout without Sources/
# (.build-deb/src). The binaries: release-bin's, or DEB_BIN's (a folder with casetrackd and
# casectl built with --static-swift-stdlib: a release built once serves make deb and
# make test-deb). DEB_VERSION other than debian/changelog's adds a changelog entry for it
# (a snapshot: 0.1.0+git20261204). DEB_COMPRESS: dpkg-deb's options; xz takes about a minute
# for the two packages here, "-Zgzip -z1" seconds (a bigger file; enough for make test-deb).
DEB_BIN     ?=
DEB_VERSION ?= $(shell head -1 debian/changelog | cut -d' ' -f2 | tr -d '()')
DEB_OUT     ?= $(CURDIR)
DEB_COMPRESS ?= -Zxz
DEB_SCRATCH  = $(CURDIR)/.build-deb
DEB_ARCH     = $(shell dpkg --print-architecture)
DEB_TOOLS    = dpkg-dev debhelper

deb: deps $(if $(DEB_BIN),,release-bin)
	$(call install-missing,$(DEB_TOOLS))
	@# The version is written twice (debian/changelog, the executables): a package must not
	@# say 0.2.0 of binaries that say 0.1.0.
	@v=$$($(abspath $(or $(DEB_BIN),.build/release))/casetrackd --version); case "$(DEB_VERSION)" in \
	  "$$v"|"$$v"[+~-]*) ;; *) echo "make deb: the binaries are casetrackd $$v, the package would be $(DEB_VERSION)"; exit 1;; esac
	rm -rf $(DEB_SCRATCH) && mkdir -p $(DEB_SCRATCH)/src
	cp -a Makefile README.md config docs systemd debian $(DEB_SCRATCH)/src/
	@if [ "$(DEB_VERSION)" != "$$(dpkg-parsechangelog -l debian/changelog -S Version)" ]; then \
	  { printf 'casetrack (%s) unstable; urgency=medium\n\n  * Built with make deb DEB_VERSION=%s.\n\n -- %s  %s\n\n' \
	      "$(DEB_VERSION)" "$(DEB_VERSION)" "$$(dpkg-parsechangelog -l debian/changelog -S Maintainer)" "$$(date -R)"; \
	    cat debian/changelog; } > $(DEB_SCRATCH)/src/debian/changelog; fi
	cd $(DEB_SCRATCH)/src && CASETRACK_BIN=$(abspath $(or $(DEB_BIN),.build/release)) DEB_COMPRESS="$(DEB_COMPRESS)" \
	  dpkg-buildpackage -b -uc -us
	[ "$(abspath $(DEB_OUT))" = "$(DEB_SCRATCH)" ] || \
	  cp $(DEB_SCRATCH)/casetrack_$(DEB_VERSION)_$(DEB_ARCH).deb $(DEB_SCRATCH)/casetrack-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).deb $(DEB_OUT)/
	@echo "make deb: $(DEB_OUT)/casetrack_$(DEB_VERSION)_$(DEB_ARCH).deb"

# make test-deb: lints the package, then installs, upgrades, removes and purges it under a
# booted systemd as an operator would (Tests/systemd/deb-check.sh; root and cgroup2, else
# skipped). It builds the package with make deb, or takes DEB_FILE. make test runs it when
# dpkg-deb is there, unless TEST_DEB=no.
DEB_FILE ?=
TEST_DEB ?= yes

test-deb: $(if $(DEB_FILE),,deb)
	$(call install-missing,lintian sqlite3 systemd util-linux)
	@DEB=$(abspath $(or $(DEB_FILE),$(DEB_OUT)/casetrack_$(DEB_VERSION)_$(DEB_ARCH).deb)) Tests/systemd/deb-check.sh; \
	  status=$$?; if [ $$status -eq 77 ]; then echo "make test-deb: skipped (see the SKIP line)"; exit 0; fi; exit $$status

install-files:
	install -D -m 755 $(INSTALL_BIN)/casetrackd $(DESTDIR)$(PREFIX)/bin/casetrackd
	install -D -m 755 $(INSTALL_BIN)/casectl $(DESTDIR)$(PREFIX)/bin/casectl
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/etc/casetrack/|$(SYSCONFDIR)/casetrack/|g' \
	  systemd/casetrackd.service > $(DESTDIR)$(UNITDIR)/casetrackd.service
	install -m 644 systemd/casetrackd.socket $(DESTDIR)$(UNITDIR)/casetrackd.socket
	install -D -m 644 systemd/casetrack.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/casetrack.conf
	install -D -m 644 systemd/casetrack.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/casetrack.conf
	install -D -m 644 systemd/casetrack.catalog $(DESTDIR)$(PREFIX)/lib/systemd/catalog/casetrack.catalog
	install -D -m 644 docs/man/casectl.1 $(DESTDIR)$(PREFIX)/share/man/man1/casectl.1
	install -D -m 644 docs/man/casetrackd.8 $(DESTDIR)$(PREFIX)/share/man/man8/casetrackd.8
	# Shell completions, written by the casectl just built: they list its commands, options and
	# values as they are, with nothing kept by hand to fall behind.
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	# bash-completion sources its scripts: argument-parser's #!/bin/bash line has no use there.
	$(INSTALL_BIN)/casectl --generate-completion-script bash | sed '1{/^#!/d}' > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/casectl
	$(INSTALL_BIN)/casectl --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_casectl
	$(INSTALL_BIN)/casectl --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/casectl.fish
	chmod 644 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/casectl \
	  $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_casectl $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/casectl.fish
	# An existing configuration is the operator's: never overwritten.
	test -e $(DESTDIR)$(SYSCONFDIR)/casetrack/casetrackd.conf || \
	  install -D -m 644 config/casetrackd.conf $(DESTDIR)$(SYSCONFDIR)/casetrack/casetrackd.conf

clean:
	rm -rf .build $(RUN_DIR)
