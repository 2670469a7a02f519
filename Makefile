# The front door: make deps | make | make run | make test | make bench
#
# SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer (CI does).

BUILD    ?= build
SANITIZE ?= 0
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
ifeq ($(SANITIZE),1)
BUILD    := build-asan
CMAKE_FLAGS += -DGW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
endif
ifeq ($(CI),true)
CMAKE_FLAGS += -DGW_WERROR=ON
endif

# Debian packages: build, tests, benches.
DEB_BUILD = build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libcjson-dev \
            libhyperscan-dev libyaml-dev libpcre2-dev libsqlite3-dev libicu-dev
DEB_BENCH = wrk nginx-light
PC_MODULES = libhs libevent libcurl libcjson yaml-0.1 libpcre2-8 sqlite3 cmocka icu-uc icu-i18n

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps deps-bench run test unit check-rules bench clean

all: build

# Installs the Debian packages only when something is missing, and only what is missing:
# a machine with Node.js from elsewhere (NodeSource's nodejs conflicts with Debian's npm)
# keeps its own node and npm.
deps:
	@pkgs=""; \
	for m in $(PC_MODULES); do pkg-config --exists $$m 2>/dev/null || pkgs="$(DEB_BUILD) libcmocka-dev"; done; \
	for c in cmake cc python3 curl chromium; do \
	    command -v $$c >/dev/null 2>&1 || pkgs="$$pkgs $$(case $$c in cc) echo build-essential;; *) echo $$c;; esac)"; \
	done; \
	command -v node >/dev/null 2>&1 || pkgs="$$pkgs nodejs"; \
	command -v npm >/dev/null 2>&1 || pkgs="$$pkgs npm"; \
	if [ -n "$$pkgs" ]; then \
	    echo "==> installing Debian packages (apt-get):$$pkgs"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	        $$pkgs >/dev/null || exit 1; \
	fi

deps-bench: deps
	@command -v wrk >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 || { \
	    echo "==> installing benchmark packages (apt-get)"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	        $(DEB_BENCH) >/dev/null; }

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

check-rules: build
	./$(BUILD)/guardrail check rules

unit: build
	cd $(BUILD) && ctest --output-on-failure

# Unit tests (cmocka), the rule packs' own examples, and the end-to-end suites (Python's
# http.client, and the official openai npm client installed from the committed lockfile).
test: build
	@echo "==> installing the SDK clients (openai, @anthropic-ai/sdk, ai) and playwright-core (npm ci, committed lockfiles)"
	cd tests/e2e/openai && npm ci --no-audit --no-fund --loglevel=error
	cd tests/e2e/sdk && npm ci --no-audit --no-fund --loglevel=error
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cd $(BUILD) && ctest --output-on-failure --timeout 1800

# The gateway with the built-in mock provider: no API key, no network.
run: build
	./$(BUILD)/guardrail serve --config config/demo.yaml

bench: deps-bench build
	./bench/run.sh

clean:
	rm -rf build build-asan
