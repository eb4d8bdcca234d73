#!/bin/sh
# Installs what omni needs on a Debian (bookworm) machine. Idempotent and quick when
# everything is already there: it only calls apt-get/npm for what is missing.
set -eu

# Build tools and the Debian libraries we use instead of writing our own:
#   PCRE2 (pre-tokenizer regexes), civetweb (HTTP/WebSocket/TLS), cJSON, libcurl (omni pull),
#   SQLite (storage), libsndfile/mpg123 (audio in), libsamplerate (resampling), FFTW (mel),
#   poppler (PDF text), libzip + libxml2 (DOCX, HWPX, HTML),
#   espeak-ng (voices), libopusenc/lame (audio out), stb (image decoding), OpenSSL (SHA-256, TLS),
#   libpq (PostgreSQL storage), libsodium (Argon2id passwords), GMP (the calculator tool); Node + npm bundle the web app
#   at build time (web/build.mjs; not needed to run omni).
PKGS="build-essential pkg-config nodejs npm libpcre2-dev libcivetweb-dev libcjson-dev libcurl4-openssl-dev
 libsqlite3-dev libsndfile1-dev libmpg123-dev libsamplerate0-dev libfftw3-dev libespeak-ng-dev
 espeak-ng-data libopusenc-dev libmp3lame-dev libstb-dev libssl-dev libpoppler-glib-dev libzip-dev libxml2-dev
 libpq-dev libsodium-dev libgmp-dev"
# Tools the tests and benchmarks drive: sox/flac/opus-tools (opusdec)/lame decode what we
# encode, espeak-ng makes test speech, wrk loads the server, chromium runs the browser
# tests, python3 checks outputs and stands in for the model hub, openssl makes the TLS test
# certificate, clang's runtime gives libFuzzer, Pango + Cairo + Noto CJK draw Korean test PDFs (pango-view for the node tests),
# postgresql is the throw-away server of the storage tests (tests/pg_temp.sh), debian-faq-ko is
# the Korean question/answer set of the retrieval benchmark (bench_retrieval). The tests fail,
# not skip, without them.
TEST_PKGS="time sox flac opus-tools lame espeak-ng wrk clang libclang-rt-14-dev chromium python3 openssl
 libpango1.0-dev libcairo2-dev pango1.0-tools fonts-noto-cjk postgresql debian-faq-ko"

missing=""
for p in $PKGS $TEST_PKGS; do
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: missing Debian packages. Run:"
    echo "  sudo apt-get install -y$missing"
    exit 1
  fi
fi

# The web app's build-time packages (Markdown, sanitizer, highlighter, KaTeX, esbuild), pinned
# by web/package-lock.json; `make` bundles them into the binary (no Node at run time).
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/web/package-lock.json" ] && [ ! -d "$here/web/node_modules" ]; then
  echo "setup: installing the web app's build packages (npm ci in web/)"
  (cd "$here/web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Node packages for the end-to-end tests (official openai client, playwright-core).
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/e2e/package.json" ] && [ ! -d "$here/tests/e2e/node_modules" ]; then
  echo "setup: installing test node packages"
  (cd "$here/tests/e2e" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
exit 0
