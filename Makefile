# The two commands of the README, and a few conveniences. CMake does the building.
#   make run    install what is needed, build, load a demo store, walk through it
#   make test   install what is needed, build with ASan+UBSan, run every test
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += --no-print-directory
BUILD ?= build
TEST_BUILD ?= build-test

.PHONY: all run test test-tsan deps test-deps build bench clean

all: build

deps:
	@./scripts/deps.sh

test-deps:
	@./scripts/deps.sh

# Builds quietly; the compiler's output is shown only when the build fails.
build: deps
	@echo "building libecom (Release) in $(BUILD)/ ..."
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DECOM_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; exit 1; }

run: build
	@./scripts/walkthrough.sh $(BUILD)

test: test-deps
	@echo "building libecom with ASan and UBSan in $(TEST_BUILD)/ ..."
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DECOM_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) >$(TEST_BUILD)/build.log 2>&1 || { cat $(TEST_BUILD)/build.log; exit 1; }
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer over the concurrency-heavy suites (not part of `make test`: TSan
# depends on the kernel's address-space layout, which CI machines do not promise).
test-tsan: test-deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DECOM_TSAN=ON -DECOM_BUILD_TOOLS=OFF \
		-DECOM_BUILD_BENCH=OFF -DECOM_BUILD_EXAMPLES=OFF >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && ctest --output-on-failure -R 'conformance|lmdb|search'

bench: build
	@for b in catalog flash reserve checkout search; do $(BUILD)/bench/bench_$$b --quick || exit 1; done

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-tsan var
