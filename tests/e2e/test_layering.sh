#!/bin/sh
# The layering rule (../shared/docs/architecture.md), enforced: src/cli/ and src/api/
# are clients of the public C API. Their #include lines may name only omni.h, their own
# area's headers (cli/ may also use api/ for `omni serve` and devtools/devtools.h for the
# developer tools), the product areas' headers (storage/, auth/, tools/, …), core/error.h, core/log.h and system or library headers; never
# models/, formats/, text/, runtime/ or the rest of core/. src/devtools/ (the comparison
# commands that reach into internals by nature) is only entered from cli/cmd_tools.c.
# And include/omni.h stands alone: it compiles by itself as C11 and as C++.
cd "$(dirname "$0")/../.." || exit 1
P=0; F=0; S=0
ok() { P=$((P+1)); }
bad() { F=$((F+1)); echo "FAIL: $*"; }

# Exceptions, one FILE:HEADER per line (none now). A line that is no longer needed fails
# the test, so this list only shrinks: keep it empty, never grow it.
ALLOW="
"

files=$(ls src/cli/*.c src/cli/*.h src/cli/*.def src/api/*.c src/api/*.h 2>/dev/null)
n_files=$(echo "$files" | wc -l)
echo "expect: at least $((n_files + 4)) tests run"
[ "$n_files" -ge 40 ] && ok || bad "only $n_files files found under src/cli and src/api"

used=""
for f in $files; do
  case "$f" in src/cli/*) area=cli ;; *) area=api ;; esac
  errs=""
  # every #include "…" or #include <…>, whitespace and comments after it ignored
  for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$f"); do
    case "$h" in
      omni.h|core/error.h|core/log.h) continue ;;
      api/*) continue ;;
      cli/*) [ $area = cli ] && continue ;;
      devtools/devtools.h) [ "$f" = src/cli/cmd_tools.c ] && continue ;;
      core/*|formats/*|models/*|text/*|runtime/*|devtools/*) ;;
      # the product areas over runtime (storage/, auth/, tools/, knowledge/, …) are the api's to call
      storage/*|auth/*|tools/*|knowledge/*|assistants/*|training/*|moderation/*) continue ;;
      *) continue ;;     # a system or library header (<stdio.h>, <openssl/evp.h>, <cJSON.h>, …)
    esac
    if echo "$ALLOW" | grep -qxF "$f:$h"; then used="$used $f:$h"; continue; fi
    errs="$errs $h"
  done
  [ -z "$errs" ] && ok || bad "$f includes internals:$errs (use include/omni.h; see ../shared/docs/architecture.md)"
done

# every temporary exception is still needed
stale=""
for a in $ALLOW; do
  case " $used " in *" $a "*) ;; *) stale="$stale $a" ;; esac
done
[ -z "$stale" ] && ok || bad "allow-list entries no longer needed (delete them):$stale"

# src/devtools/ is reached only through devtools/devtools.h from cli/cmd_tools.c
others=$(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]devtools/' src --include='*.c' --include='*.h' |
         grep -v '^src/devtools/' | grep -v '^src/cli/cmd_tools\.c$')
[ -z "$others" ] && ok || bad "files outside src/devtools include devtools/:" $others

# src/tools/ (function calling, built-in tools) is a product area: it reaches the engine
# only through omni.h, and text/ for what renders or constrains text; never models/,
# formats/, runtime/ or the rest of core/
for f in $(ls src/tools/*.c src/tools/*.h 2>/dev/null); do
  errs=""
  for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$f"); do
    case "$h" in
      core/error.h|core/log.h) ;;
      core/*|formats/*|models/*|runtime/*|api/*|cli/*|devtools/*) errs="$errs $h" ;;
    esac
  done
  [ -z "$errs" ] && ok || bad "$f includes internals:$errs (use include/omni.h)"
done

# the public header: only standard headers, compiles alone as C11 (pedantic) and as C++
bad_inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' include/omni.h |
          grep -vxE 'stddef\.h|stdint\.h')
[ -z "$bad_inc" ] && ok || bad "include/omni.h includes more than stddef.h/stdint.h:" $bad_inc
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
printf '#include "omni.h"\nint main(void) { return omni_version() == 0; }\n' > "$T/c.c"
${CC:-cc} -std=c11 -Wall -Wextra -pedantic -Werror -Iinclude -fsyntax-only "$T/c.c" 2> "$T/err" && ok ||
  bad "include/omni.h does not compile alone as C11: $(head -3 "$T/err")"
if command -v c++ >/dev/null 2>&1; then
  cp "$T/c.c" "$T/cpp.cpp"
  c++ -Wall -Wextra -Werror -Iinclude -fsyntax-only "$T/cpp.cpp" 2> "$T/err" && ok ||
    bad "include/omni.h does not compile as C++: $(head -3 "$T/err")"
else
  S=$((S+1)); echo "skip: no C++ compiler to check include/omni.h with"
fi

if [ $S = 0 ]; then echo "$P passed, $F failed"; else echo "$P passed, $F failed, $S skipped"; fi
[ $F = 0 ]
