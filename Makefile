# omni — one Makefile for the library, the binary, the tests and the benchmarks.
#
#   make             build build/omni and build/libomni.a
#   make test        build and run every test; ends with "N passed, N failed"
#   make check-asan  the same tests under AddressSanitizer + UBSan (separate build dir)
#   make check-tsan  ThreadSanitizer over the tests where threads meet (pool, engine,
#                    sessions, voice, the server and its realtime/load tests)
#   make test-loaded the timing-sensitive tests while another process keeps every core busy
#   make run         install dependencies, build, start the app
#   make bench       print the benchmark table
#
# Sources are discovered, not listed: every src/**/*.c except src/cli/ and src/devtools/
# goes into libomni.a; src/cli/*.c and src/devtools/*.c (the developer tools, which reach
# into model internals) link into the omni binary; every tests/**/test_*.c is its own
# test program. Files named *_avx2.c / *_avx512.c are compiled with those ISA
# flags and are only entered after a run-time CPU check (core/cpu.h).

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
override CFLAGS += -std=c11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -pthread -MMD -MP
# CI sets WERROR=1 (.ci/run) so the tree stays -Wall -Wextra clean; users' builds do not
# stop on a warning that a newer compiler adds.
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
CPPFLAGS += -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

# Debian libraries for everything that is not our core (see scripts/setup.sh).
PKGS    := libpcre2-8 libcjson libcurl sqlite3 libpq libsodium sndfile samplerate fftw3f espeak-ng \
           libopusenc libmpg123 libcrypto poppler-glib libzip libxml-2.0
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcivetweb -lmp3lame -lgmp -lm -pthread -ldl
LDFLAGS ?=

AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

LIB_SRC  := $(sort $(shell find src -name '*.c' ! -path 'src/cli/*' ! -path 'src/devtools/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c src/devtools/*.c))
TEST_SRC := $(sort $(shell find tests -name 'test_*.c' ! -path '*/node_modules/*'))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
WEB_FILES:= $(sort $(shell find web -type f ! -path 'web/node_modules/*' 2>/dev/null))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/web_assets.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_BIN:= $(BENCH_SRC:%.c=$(BUILD)/%)

.PHONY: all test check-asan check-tsan test-loaded run bench setup clean fuzz
all: $(BUILD)/omni $(BUILD)/libomni.a

$(BUILD)/libomni.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/omni: $(CLI_OBJ) $(BUILD)/libomni.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libomni.a $(LDLIBS)

$(BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The web app: web/build.mjs bundles web/ (and its npm packages, pinned by
# web/package-lock.json and installed by `npm ci` in web/, which scripts/setup.sh runs) into
# $(BUILD)/web, which is embedded into the binary so `omni serve` needs no files on disk.
$(BUILD)/web/.built: $(WEB_FILES)
	@if ! command -v node >/dev/null 2>&1 || [ ! -d web/node_modules ]; then echo "the web app is bundled with Node at build time: install Debian's nodejs and npm (apt-get install nodejs npm), then run 'npm ci' in web/ (or 'make setup' for both)" >&2; exit 1; fi
	node web/build.mjs $(BUILD)/web && touch $@

$(BUILD)/gen/web_assets.c: scripts/embed_web.sh $(BUILD)/web/.built
	@mkdir -p $(@D)
	sh scripts/embed_web.sh $(BUILD)/web > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libomni.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libomni.a $(LDLIBS)

# The knowledge and assistants tests and the bench draw their own PDFs (Korean text, headings, pages) with Pango and Cairo.
$(BUILD)/tests/knowledge/%: CPPFLAGS += $(shell pkg-config --cflags pangocairo 2>/dev/null)
$(BUILD)/tests/knowledge/%: LDLIBS += $(shell pkg-config --libs pangocairo 2>/dev/null)
$(BUILD)/tests/assistants/%: CPPFLAGS += $(shell pkg-config --cflags pangocairo 2>/dev/null)
$(BUILD)/tests/assistants/%: LDLIBS += $(shell pkg-config --libs pangocairo 2>/dev/null)
$(BUILD)/bench/bench_knowledge: CPPFLAGS += $(shell pkg-config --cflags pangocairo 2>/dev/null)
$(BUILD)/bench/bench_knowledge: LDLIBS += $(shell pkg-config --libs pangocairo 2>/dev/null)

# A fuzz corpus replay (tests/fuzz/test_fuzz_*.c) includes its target's source.
$(filter $(BUILD)/tests/fuzz/%,$(TEST_BIN)): $(wildcard tests/fuzz/fuzz_*.c tests/fuzz/*.h)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libomni.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libomni.a $(LDLIBS)

setup:
	@sh scripts/setup.sh

# the benchmarks are built too (not run), so they cannot rot unnoticed
# The timing-sensitive scripts also run a second time with every core kept busy.
LOADED_TESTS ?= tests/e2e/test_realtime.mjs tests/e2e/test_engine_shared.mjs tests/e2e/test_server_load.mjs \
                tests/e2e/test_bench_voice.sh tests/e2e/test_realtime_turns.mjs
test: setup
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(BENCH_BIN)
	@BUILD=$(BUILD) LOADED="$(LOADED_TESTS)" OMNI_MIX_SECONDS=$${OMNI_MIX_SECONDS:-30} sh tests/run.sh

# The e2e tests run against build-asan/omni too (the server API, JSON schema, loading and
# load tests), each bounded by TEST_TIMEOUT; a sanitizer report in the server makes it exit
# non-zero at SIGTERM, which those tests check. LeakSanitizer runs at every exit.
check-asan:
	@OMNI_BIN=build-asan/omni TEST_TIMEOUT=$${TEST_TIMEOUT:-1800} \
	    ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1} LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/tests/lsan.supp} UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1} \
	    $(MAKE) --no-print-directory test BUILD=build-asan OPT=-O1 \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined"

# Threads meet in the pool, the engine (sessions and requests from other threads), storage, the
# guard cache (a check waits for the warm-up running on its own thread),
# the voice loop and the server; TSAN_TESTS lists those programs and e2e scripts. TSan makes
# the server 5-15 times slower: test_engine_shared (idle answers, the 30 s mix, 60 turns)
# takes 10-20 minutes on a busy 2-core machine, hence the longer TEST_TIMEOUT.
TSAN_TESTS ?= tests/core/test_pool tests/runtime/test_scheduler tests/runtime/test_session tests/storage/test_storage \
              tests/runtime/test_session_vision tests/runtime/test_voice tests/runtime/test_registry \
              tests/moderation/test_guard_cache
TSAN_E2E   ?= tests/e2e/test_server_api.mjs tests/e2e/test_server_load.mjs tests/e2e/test_server_completions.mjs \
              tests/e2e/test_engine_shared.mjs tests/e2e/test_realtime.mjs tests/e2e/test_server_models.mjs
check-tsan: setup
	@$(MAKE) --no-print-directory BUILD=build-tsan OPT=-O1 CFLAGS="-O1 -g -fsanitize=thread" \
	    LDFLAGS="-fsanitize=thread" build-tsan/omni $(TSAN_TESTS:%=build-tsan/%)
	@BUILD=build-tsan OMNI_BIN=build-tsan/omni TSAN_OPTIONS=$${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp} \
	    ONLY="$(TSAN_TESTS:%=build-tsan/%) $(TSAN_E2E)" TEST_TIMEOUT=$${TEST_TIMEOUT:-2400} sh tests/run.sh

# Every test while a busy loop per core competes with it (CI may share its machine):
# a timing assumption that breaks here is a bug in the test or the code.
test-loaded: setup
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@BUILD=$(BUILD) sh tests/with_cpu_hog.sh sh tests/run.sh

# libFuzzer targets (tests/fuzz/README.md): FUZZ_SECONDS per target, FUZZ_TARGETS to pick.
fuzz: $(BUILD)/libomni.a
	@BUILD=$(BUILD) LDLIBS="$(LDLIBS)" sh tests/fuzz/build.sh

bench: setup all $(BENCH_BIN)
	@BUILD=$(BUILD) sh bench/run.sh

run: setup all
	@sh scripts/run_app.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
