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

.PHONY: all deps build test test-minimal test-sanitize test-arm64 fuzz lint bench bench-node bench-proxy demo devnet devnet-up devnet-down devnet-status install clean format help

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
	@echo "make fuzz           each libFuzzer target for FUZZ_SECONDS (clang, ASan+UBSan)"
	@echo "make lint           cppcheck (ci/static-analysis.sh) and a clang-format check of every"
	@echo "                    tracked *.c / *.h (reports, never rewrites)"
	@echo "make install        cmake --install (PREFIX=/usr/local)"

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

fuzz: deps
	@for f in fuzz/fuzz_*.c; do t=$$(basename $$f .c); t=$${t#fuzz_}; \
	    bash fuzz/run.sh $$t $(FUZZ_SECONDS) || exit 1; done

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

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(ARM_BUILD) build-fuzz build-minimal
