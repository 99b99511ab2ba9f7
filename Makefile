# kagi — the two set-up commands are `make demo` and `make check`.
# Everything here is a thin wrapper around scripts/ and CMake.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz

.PHONY: all deps build build-asan check check-plain check-asan demo bench fuzz clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DKAGI_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DKAGI_WERROR=ON -DKAGI_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

check-plain: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

check-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) -LE no-asan

# All tests, once plainly and once under ASan + UBSan.
check: check-plain check-asan

demo: build
	@KAGI_BIN=$(abspath $(BUILD))/bin scripts/demo

bench: build
	@scripts/bench $(abspath $(BUILD))

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DKAGI_FUZZ=ON -DKAGI_TESTS=OFF \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/fuzz $(FUZZ_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
