#!/bin/sh
# Builds the libFuzzer targets into $BUILD/fuzz/ (default build/fuzz) and runs each for
# FUZZ_SECONDS (default 60) on its seed corpus in tests/fuzz/corpus/<target>/.
# New interesting inputs go to $BUILD/fuzz/corpus/<target>/, never into the repo;
# crashes are saved as $BUILD/fuzz/crash-* and make the script fail.
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).
set -e
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
OUT=$BUILD/fuzz
mkdir -p "$OUT"
if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "fuzz: $CLANG not found (apt-get install clang libclang-rt-14-dev)"; exit 1
fi
FLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc -Iinclude"

# target name, then the library sources it needs
build_target() {
  name=$1; shift
  echo "fuzz: building $OUT/fuzz_$name"
  $CLANG $FLAGS -o "$OUT/fuzz_$name" "tests/fuzz/fuzz_$name.c" "$@"
}
build_target gguf src/formats/gguf.c src/core/dtype.c src/core/error.c
build_target image src/formats/image_decode.c src/models/image_preprocess.c src/core/error.c -lm

for name in gguf image; do
  mkdir -p "$OUT/corpus/$name"
  echo "fuzz: running fuzz_$name for ${SECS}s"
  "$OUT/fuzz_$name" -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 \
    -artifact_prefix="$OUT/" "$OUT/corpus/$name" "tests/fuzz/corpus/$name"
done
echo "fuzz: no crashes"
