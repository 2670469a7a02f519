# The front door: make deps | make | make run | make test | make bench | make fuzz
#
# SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer (CI does).
# make fuzz runs each libFuzzer target for FUZZ_TIME seconds (fuzz/README.md).

BUILD    ?= build
SANITIZE ?= 0
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_TIME ?= 60
ifeq ($(SANITIZE),1)
BUILD    := build-asan
CMAKE_FLAGS += -DGW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
endif
ifeq ($(CI),true)
CMAKE_FLAGS += -DGW_WERROR=ON
endif

.PHONY: all build deps deps-bench deps-fuzz run test unit check-rules bench soak fuzz fleet clean

all: build

# Installs the Debian packages that are missing, and only those (scripts/deps.sh says how it
# decides; tests/deps_test.sh checks it): a machine with Node.js from elsewhere (NodeSource's
# nodejs conflicts with Debian's npm) keeps its own node and npm.
deps:
	@sh scripts/deps.sh

deps-bench:
	@sh scripts/deps.sh --bench

# clang and its libFuzzer and sanitizer runtime: the fuzz targets, and fuzz_smoke in make test.
deps-fuzz:
	@sh scripts/deps.sh --fuzz

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

check-rules: build
	./$(BUILD)/guardrail check --strict rules

unit: build
	cd $(BUILD) && ctest --output-on-failure

# Unit tests (cmocka), the rule packs' own examples, and the end-to-end suites (Python's
# http.client, and the official openai npm client installed from the committed lockfile).
test: deps-fuzz build
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

# The fleet of docs/deploy.md on this machine: the demo provider, two gateways, nginx in
# front (config/fleet/ as shipped); prints where the dashboards are; Ctrl-C stops it.
fleet: build
	GUARDRAIL_BIN=$(BUILD)/guardrail ./scripts/fleet.sh

# Ten minutes of mixed traffic with a reload a minute; RSS, descriptors, threads and req/s
# sampled every 5 s (bench/soak.py). SOAK_ARGS="--duration 60" for a quick run.
soak: build
	python3 bench/soak.py --bin $(BUILD)/guardrail $(SOAK_ARGS)

# Each fuzz target for FUZZ_TIME seconds, one after the other (build-fuzz; new inputs in
# build-fuzz/fuzz-new, crashes in build-fuzz/fuzz-crash). Fails if any target crashed.
fuzz: deps-fuzz
	JOBS=$(JOBS) ./fuzz/run.sh $(FUZZ_TIME) build-fuzz

clean:
	rm -rf build build-asan build-fuzz
