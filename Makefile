# Quick start: `make demo` and `make test` do all the set-up on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= 2
DEMO_DB ?= $(BUILD)/demo/e911.db
E911 := $(BUILD)/e911ctl

.PHONY: all deps build demo test bench package clean fuzz test-sanitize

all: build

deps:
	@bash scripts/install-deps

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo $(E911) $(DEMO_DB)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@bash tests/bench/run.sh $(E911)

package: build
	cd $(BUILD) && cpack -G DEB

# Hostile input (README "Fuzzing and sanitizers"): each libFuzzer target for FUZZ_SECONDS, built
# with clang in FUZZ_BUILD; and the whole test suite under ASan and UBSan in SANITIZE_BUILD.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# stateful: tests/sip/fuzz_stateful.py against the normal build's running e911ctl, not libFuzzer.
FUZZ_TARGETS ?= sip pidf held yaml csv stateful
LIBFUZZER_TARGETS = $(filter-out stateful,$(FUZZ_TARGETS))
SANITIZE_BUILD ?= build-sanitize
# Tests run several times slower under the sanitizers: each one without a limit of its own gets
# SANITIZE_TIMEOUT seconds, and time bounds inside tests that honour E911_TEST_TIME_SCALE grow 5 times.
SANITIZE_TIMEOUT ?= 1200
# Every report of ASan and LeakSanitizer goes to a file here, whichever process made it (a runtime in
# the background whose stderr a test throws away, a command whose failure a test expects: both exit
# 1 after a report), and any file here fails the run. UBSan (built not to recover) still writes to
# stderr, but exits 99, which no test expects.
SANITIZE_LOGS = $(abspath $(SANITIZE_BUILD))/sanitizer-logs

fuzz: deps $(BUILD)/build.ninja
ifneq ($(LIBFUZZER_TARGETS),)
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DE911_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	@bash tests/fuzz/run.sh --replay $(FUZZ_BUILD) $(LIBFUZZER_TARGETS)
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(LIBFUZZER_TARGETS)
endif
ifneq ($(filter stateful,$(FUZZ_TARGETS)),)
	cmake --build $(BUILD) -j $(JOBS) --target e911ctl
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=$(abspath $(FUZZ_BUILD))/fuzz-work/stateful \
	  bash tests/sip/test_fuzz_stateful.sh $(abspath $(E911)) $(CURDIR)
endif

test-sanitize: deps
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DE911_SANITIZE=ON -DE911_FUZZ_TESTS=OFF
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	rm -rf $(SANITIZE_LOGS) && mkdir -p $(SANITIZE_LOGS)
	cd $(SANITIZE_BUILD) && E911_TEST_TIME_SCALE=5 ASAN_OPTIONS=log_path=$(SANITIZE_LOGS)/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:exitcode=99 ctest --output-on-failure -j $(JOBS) --timeout $(SANITIZE_TIMEOUT); \
	  rc=$$?; for f in $(SANITIZE_LOGS)/*; do [ -e "$$f" ] || continue; echo "=== $$f"; cat "$$f"; rc=1; done; \
	  [ $$rc -eq 0 ] || echo "test-sanitize: failed (sanitizer reports, if any, are above and in $(SANITIZE_LOGS))"; exit $$rc

clean:
	rm -rf $(BUILD)
