# casetrack — the two commands a new machine needs:
#   make run    install what is missing, build, start casetrackd on ./run/ in the foreground
#   make test   install what is missing, build, run the whole test suite

SWIFT      ?= swift
RUN_DIR    ?= $(CURDIR)/run
SOCKET     ?= $(RUN_DIR)/casetrack.sock
DATABASE   ?= $(RUN_DIR)/casetrack.sqlite
BIN_DIR     = $(CURDIR)/.build/debug

# Debian packages the build, the tests and the examples need.
DEB_PACKAGES = libsqlite3-dev libsystemd-dev sqlite3 socat

.PHONY: all deps build run test clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build

run: build
	@mkdir -p $(RUN_DIR) && chmod 700 $(RUN_DIR)
	@echo "casectl: export CASETRACK_SOCKET=$(SOCKET) PATH=$(BIN_DIR):\$$PATH"
	exec $(BIN_DIR)/casetrackd --socket $(SOCKET) --database $(DATABASE)

test: build
	# Swift Testing only: no XCTest suites here, so no misleading "Executed 0 tests" line.
	CASETRACK_BIN_DIR=$(BIN_DIR) $(SWIFT) test --disable-xctest

clean:
	rm -rf .build $(RUN_DIR)
