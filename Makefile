# Quick start: `make demo` and `make test` do all the set-up on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= 2
DEMO_DB ?= $(BUILD)/demo/e911.db
E911 := $(BUILD)/e911ctl

.PHONY: all deps build demo test bench package clean

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

clean:
	rm -rf $(BUILD)
