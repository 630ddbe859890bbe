# The two commands of the README, plus helpers.  Each target bootstraps the
# Debian packages it needs (scripts/bootstrap.sh; idempotent, root only when
# something is missing) so a fresh Debian 12 clone needs nothing else.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 20

.PHONY: all bootstrap build test test-asan stress demo bench fuzz install clean

all: build

bootstrap:
	@sh scripts/bootstrap.sh

build: bootstrap
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# Every test, then the whole suite again under AddressSanitizer + UBSan,
# then each fuzz harness for a short bounded run over its seed corpus.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --output-junit ctest-results.xml
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	@sh scripts/test-summary.sh $(BUILD)/ctest-results.xml $(ASAN_BUILD)/ctest-results.xml $(FUZZ_BUILD)/fuzz-results.txt

test-asan: bootstrap
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRAIIAF_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) --output-junit ctest-results.xml

# The hostile files of issue 17 at the issue's sizes (minutes, gigabytes of
# decoding): the table in docs/SECURITY.md comes from this run.
stress: build
	RAIIAF_CLI=$(BUILD)/raiiaf RAIIAF_LIBRARY=$(BUILD)/libraiiaf.so /usr/bin/python3 tests/bounds_table.py --full --markdown $(BUILD)/bounds-full.md

fuzz: bootstrap
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAIIAF_SANITIZE=ON -DRAIIAF_FUZZ=ON -DRAIIAF_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

demo: build
	sh scripts/demo.sh $(BUILD)/raiiaf

bench: bootstrap
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
	cmake --build build-bench -j $(JOBS)
	build-bench/bench_format --runs 11
	build-bench/bench_index
	build-bench/bench_info --runs 51 --gib 10
	build-bench/bench_serve --requests 10000 --clients 64 --rounds 3

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-bench
