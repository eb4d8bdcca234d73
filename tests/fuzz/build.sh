#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) into $BUILD/fuzz/ (default
# build/fuzz) and runs each for FUZZ_SECONDS (default 60) on its seed corpus in
# tests/fuzz/corpus/<target>/. See tests/fuzz/README.md.
#
#   FUZZ_TARGETS="jinja chat"   only these (default: all of them)
#   FUZZ_SECONDS=0              build only
#   FUZZ_NICE=10                run the fuzzers at this niceness (shared machines)
#
# The parsers (text/, formats/, the API's request, upload and event readers) are
# compiled by clang with libFuzzer's coverage, ASan and UBSan; the rest of the
# library (matrix kernels, models) comes uninstrumented from the normal build's
# libomni.a, which `make fuzz` builds first. New interesting inputs go to
# $BUILD/fuzz/corpus/<target>/, never into the repo; crashes are saved as
# $BUILD/fuzz/<target>-crash-* and make the script fail.
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).
set -e
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
NICE=${FUZZ_NICE:-0}
OUT=$BUILD/fuzz
ALL="gguf image jinja chat tokenizer ggml_whisper audio data_uri multipart realtime reasoning moderation knowledge toolcall bundle"
TARGETS=${FUZZ_TARGETS:-$ALL}
PKGS="libpcre2-8 libcjson libcurl sqlite3 libpq libsodium sndfile samplerate fftw3f espeak-ng libopusenc libmpg123 libcrypto poppler-glib libzip libxml-2.0"
LIBS=${LDLIBS:-"$(pkg-config --libs $PKGS) -lcivetweb -lmp3lame -lm -pthread -ldl"}
INC="-Iinclude -Isrc $(pkg-config --cflags $PKGS)"
mkdir -p "$OUT"
if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "fuzz: $CLANG not found (apt-get install clang libclang-rt-14-dev)"; exit 1
fi
if [ ! -f "$BUILD/libomni.a" ]; then echo "fuzz: $BUILD/libomni.a missing: run make first"; exit 1; fi
FLAGS="-g -O1 -std=c11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -pthread -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"

# (tls_compat.c too: off x86-64 its dlsym shim is only safe in uninstrumented builds
# and must see that this one is instrumented, or it would break the sanitizer
# runtime's own start-up dlsym calls)
INSTRUMENTED="$(ls src/text/*.c src/formats/*.c) src/api/request_options.c src/api/multipart.c
  src/api/realtime_events.c src/runtime/chat_format.c src/core/dtype.c src/core/error.c src/models/image_preprocess.c
  src/api/tls_compat.c src/runtime/reasoning.c $(ls src/moderation/pii.c src/moderation/rules.c src/moderation/guard.c src/knowledge/*.c)
  src/tools/toolcall_parse.c src/assistants/bundle.c src/assistants/assistants.c"
objs=""
for src in $INSTRUMENTED; do
  obj="$OUT/obj/${src%.c}.o"
  mkdir -p "$(dirname "$obj")"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj" | head -n 1)" ]; then
    echo "fuzz: compiling $src"
    $CLANG $FLAGS -fsanitize=fuzzer-no-link $INC -c "$src" -o "$obj"
  fi
  objs="$objs $obj"
done

# the rest of the library: libomni.a without its copies of the instrumented files
cp "$BUILD/libomni.a" "$OUT/libomni-rest.a"
for src in $INSTRUMENTED; do ar d "$OUT/libomni-rest.a" "$(basename "${src%.c}").o"; done

for name in $TARGETS; do
  echo "fuzz: building $OUT/fuzz_$name"
  $CLANG $FLAGS -fsanitize=fuzzer $INC -o "$OUT/fuzz_$name" "tests/fuzz/fuzz_$name.c" $objs "$OUT/libomni-rest.a" $LIBS
done
[ "$SECS" = 0 ] && exit 0

export OMNI_MODELS=${OMNI_MODELS:-../shared/models}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=tests/fuzz/lsan.supp:print_suppressions=0}
for name in $TARGETS; do
  mkdir -p "$OUT/corpus/$name"
  case $name in
    gguf|image|ggml_whisper|audio|knowledge|bundle) maxlen=65536 ;;
    *) maxlen=8192 ;;
  esac
  case $name in
    jinja) dict=-dict=tests/fuzz/jinja.dict ;;
    chat|realtime) dict=-dict=tests/fuzz/json.dict ;;
    *) dict="" ;;
  esac
  echo "fuzz: running fuzz_$name for ${SECS}s"
  nice -n "$NICE" "$OUT/fuzz_$name" -max_total_time="$SECS" -max_len=$maxlen -rss_limit_mb=2048 -timeout=60 \
    -print_final_stats=1 $dict -artifact_prefix="$OUT/$name-" "$OUT/corpus/$name" "tests/fuzz/corpus/$name"
done
echo "fuzz: no crashes"
