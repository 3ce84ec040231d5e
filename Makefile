# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over CMake. `make demo` and `make test` are the README's two
# commands: each installs what is missing (ci/install-deps.sh), builds, runs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
ARM_BUILD  ?= build-arm64
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
# WERROR=ON turns every compiler warning into an error (CI sets it).
WERROR     ?= OFF

.PHONY: subscribe publish generate-identity clients
.PHONY: all deps build testbed testbed-clean test test-minimal test-sanitize test-arm64 fuzz lint bench bench-node bench-proxy soak demo devnet devnet-up devnet-down devnet-status install clean format help

all: build

help:
	@echo "make devnet         install deps, build, start the 4-node devnet on loopback, publish/subscribe"
	@echo "                    round trip, keep it up until Ctrl-C (NODE_MODE=gossipsub for GossipSub)"
	@echo "make devnet-up      the same, but return once the round trip is done (devnet stays up)"
	@echo "make devnet-down    stop the devnet"
	@echo "make demo           install deps, build, run the codec demo (encode, drop, recode, decode)"
	@echo "make test           install deps, build, run the whole test suite (ctest)"
	@echo "make test-minimal   fresh builds without service (and without network): what they build, their tests"
	@echo "make test-sanitize  the same suite under ASan+UBSan"
	@echo "make test-arm64     the suite cross-built for AArch64 (NEON) and run under qemu"
	@echo "make bench          codec benchmarks against ISA-L, JSON lines"
	@echo "make bench-node     devnet throughput, latency, idle RSS and CPU of weft-node, JSON lines"
	@echo "make bench-proxy    weft-proxy: wrk on health and publish, 10k-client fan-out, failover"
	@echo "make soak           the devnet under a mixed load for SOAK_MINUTES (30): RSS and fds of every"
	@echo "                    process each minute, bench/results/soak.jsonl and soak.svg"
	@echo "make testbed        (root) 16 weft-node processes in network namespaces, shaped links;"
	@echo "                    both modes, 4 sizes; JSON lines, CDF plot and the simulator beside"
	@echo "                    it in TESTBED_DIR (TESTBED_ARGS: testbed/testbed.sh --help)"
	@echo "make testbed-clean  remove namespaces a killed testbed run left (wtb-*)"
	@echo "make fuzz           each libFuzzer target for FUZZ_SECONDS (clang, ASan+UBSan)"
	@echo "make lint           cppcheck (ci/static-analysis.sh) and a clang-format check of every"
	@echo "                    tracked *.c / *.h (reports, never rewrites)"
	@echo "make install        cmake --install (PREFIX=/usr/local)"
	@echo ""
	@echo "The guides' shortcuts (weft-client in place of their p2p-client):"
	@echo "make generate-identity                      IDENTITY_DIR/p2p.key if missing (./identity)"
	@echo "make subscribe <addr> <topic>               e.g. make subscribe 127.0.0.1:33221 testtopic"
	@echo "make publish <addr> <topic> <message|random> [count] [sleep]"
	@echo "                                            e.g. make publish 127.0.0.1:33221 testtopic random 10 1s"

deps:
	@bash ci/install-deps.sh

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=ON -DWEFT_WERROR=$(WERROR)

build: deps $(BUILD)/$(if $(CMAKE_GEN),build.ninja,Makefile)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Two fresh trees, build-minimal/core (base, codec) and build-minimal/network
# (+ transport, mesh, weft-p2p): they must build and pass their tests without
# looking up the service dependencies (tests/install/minimal_build.sh).
test-minimal: deps
	JOBS=$(JOBS) bash tests/install/minimal_build.sh build-minimal

test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=ON \
	    -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_BENCH=OFF -DWEFT_WERROR=$(WERROR)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && WEFT_TEST_QUICK=1 ctest --output-on-failure -j $(JOBS)
	@# A report in a test that still passed (Criterion workers, child
	@# processes of the shell tests) fails the run too.
	@if grep -nE 'ERROR: (Leak|Address)Sanitizer|runtime error:' \
	    $(ASAN_BUILD)/Testing/Temporary/LastTest.log; then \
	    echo "test-sanitize: sanitizer reports above, in tests that otherwise passed" >&2; \
	    exit 1; fi

test-arm64:
	@bash ci/install-deps.sh --arm64-sysroot
	cmake -S . -B $(ARM_BUILD) $(CMAKE_GEN) -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
	    -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_BENCH=OFF -DWEFT_WERROR=$(WERROR)
	cmake --build $(ARM_BUILD) -j $(JOBS)
	cd $(ARM_BUILD) && WEFT_TEST_QUICK=1 ctest --output-on-failure -j $(JOBS)

# Every target for FUZZ_SECONDS, JOBS at a time (default: the number of CPUs), each
# with its own log; a summary line per target, and a failing exit if any target found something.
fuzz: deps
	@bash fuzz/run_all.sh $(FUZZ_SECONDS) $(JOBS)

# Both checks run, so one report shows everything; either failing fails.
lint: deps
	@rc=0; \
	bash ci/static-analysis.sh $(BUILD) || rc=1; \
	echo "lint: clang-format --dry-run -Werror over the tracked C sources" >&2; \
	git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run -Werror || rc=1; \
	exit $$rc

bench: build
	$(BUILD)/bench/weft-bench codec --op encode --k 16 --n 24 --msg 1048576 --json
	$(BUILD)/bench/weft-bench codec --op encode --k 16 --n 24 --msg 1048576 --systematic --json
	$(BUILD)/bench/weft-bench codec --op decode --k 16 --msg 1048576 --json
	$(BUILD)/bench/weft-bench codec --op decode --k 64 --msg 1048576 --json
	$(BUILD)/bench/weft-bench codec --op recode --k 16 --msg 1048576 --json

demo: build
	bash ci/codec-demo.sh $(BUILD)/bin/weft-codec

devnet: build
	BUILD=$(BUILD) bash ci/devnet.sh up

devnet-up: build
	BUILD=$(BUILD) bash ci/devnet.sh up --detach

devnet-down:
	BUILD=$(BUILD) bash ci/devnet.sh down

devnet-status:
	BUILD=$(BUILD) bash ci/devnet.sh status

bench-node: build
	bash bench/node_devnet.sh $(BUILD)

bench-proxy: build
	bash bench/proxy_devnet.sh $(BUILD)

soak: build
	bash bench/soak.sh $(BUILD) --minutes $(or $(SOAK_MINUTES),30)

# The multi-host testbed (testbed/README.md): results, plot, node logs and the
# simulator on the same topology go to TESTBED_DIR.
TESTBED_DIR  ?= $(BUILD)/testbed
TESTBED_ARGS ?=
testbed: build
	@mkdir -p $(TESTBED_DIR)
	@: >$(TESTBED_DIR)/testbed.jsonl
	bash testbed/testbed.sh --build $(BUILD) --out $(TESTBED_DIR)/testbed.jsonl \
	    --logs $(TESTBED_DIR)/logs $(TESTBED_ARGS)
	bash testbed/sim.sh $(TESTBED_DIR)/testbed.jsonl $(TESTBED_DIR)/logs $(BUILD) \
	    >$(TESTBED_DIR)/sim.jsonl
	python3 testbed/plot.py $(TESTBED_DIR)/testbed.jsonl $(TESTBED_DIR)/testbed-cdf.png \
	    --sim $(TESTBED_DIR)/sim.jsonl

testbed-clean:
	bash testbed/testbed.sh --clean

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

# ---- the guides' Makefile shortcuts -------------------------------------------
# Their arguments are extra goals (make subscribe 127.0.0.1:33221 testtopic):
# when the first goal is subscribe or publish, every other goal does nothing.
IDENTITY_DIR ?= ./identity
GUIDE_ARGS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
ifneq ($(filter subscribe publish,$(firstword $(MAKECMDGOALS))),)
%:
	@:
endif

# weft-client and weft-node, built if missing (no dependency install).
clients:
	@[ -x $(BUILD)/bin/weft-client ] && [ -x $(BUILD)/bin/weft-node ] || { \
	    [ -f $(BUILD)/build.ninja ] || [ -f $(BUILD)/Makefile ] || \
	        cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF; \
	    cmake --build $(BUILD) -j $(JOBS) --target weft-client weft-node; }

generate-identity: clients
	@mkdir -p $(IDENTITY_DIR)
	@if [ ! -f "$(IDENTITY_DIR)/p2p.key" ]; then \
	    echo "Generating new P2P identity..."; \
	    IDENTITY_DIR="$(IDENTITY_DIR)" $(BUILD)/bin/weft-node generate-key --output-peer-id; \
	else \
	    echo "P2P identity already exists at $(IDENTITY_DIR)/p2p.key"; \
	fi

subscribe: clients generate-identity
	@set -e; addr="$(word 1,$(GUIDE_ARGS))"; topic="$(word 2,$(GUIDE_ARGS))"; \
	if [ -z "$$addr" ] || [ -z "$$topic" ]; then \
	    echo "Usage: make subscribe <addr> <topic>" >&2; \
	    echo "Example: make subscribe 127.0.0.1:33221 testtopic" >&2; \
	    exit 1; \
	fi; \
	exec $(BUILD)/bin/weft-client -mode=subscribe -topic="$$topic" --addr="$$addr"

publish: clients generate-identity
	@set -e; addr="$(word 1,$(GUIDE_ARGS))"; topic="$(word 2,$(GUIDE_ARGS))"; \
	message="$(word 3,$(GUIDE_ARGS))"; count="$(word 4,$(GUIDE_ARGS))"; sleep="$(word 5,$(GUIDE_ARGS))"; \
	if [ -z "$$addr" ] || [ -z "$$topic" ] || [ -z "$$message" ]; then \
	    echo "Usage: make publish <addr> <topic> <message|random> [count] [sleep]" >&2; \
	    echo "Examples:" >&2; \
	    echo "  make publish 127.0.0.1:33221 testtopic random" >&2; \
	    echo "  make publish 127.0.0.1:33221 testtopic random 10 1s" >&2; \
	    exit 1; \
	fi; \
	set -- -mode=publish -topic="$$topic" -msg="$$message" --addr="$$addr"; \
	if [ -n "$$count" ]; then set -- "$$@" -count="$$count"; fi; \
	if [ -n "$$sleep" ]; then \
	    case "$$sleep" in *[0-9]) sleep="$${sleep}s" ;; esac; \
	    set -- "$$@" -sleep="$$sleep"; \
	fi; \
	exec $(BUILD)/bin/weft-client "$$@"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(ARM_BUILD) build-fuzz build-minimal
