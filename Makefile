# The two commands of the README, and a few conveniences. CMake does the building.
#   make run    install what is needed, build, load a demo store, walk through it
#   make test   install what is needed, build with ASan+UBSan, run every test
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
TEST_BUILD ?= build-test

.PHONY: all run test deps test-deps build bench clean

all: build

deps:
	@./scripts/deps.sh

test-deps:
	@./scripts/deps.sh --test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DECOM_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@./scripts/walkthrough.sh $(BUILD)

test: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DECOM_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@$(BUILD)/bench/bench_catalog --quick

clean:
	rm -rf $(BUILD) $(TEST_BUILD) var
