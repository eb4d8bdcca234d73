#!/bin/sh
# Runs every test program under $BUILD/tests and every end-to-end script under
# tests/e2e, and adds up their "N passed, N failed[, N skipped]" lines.
# A program that crashes or prints no summary counts as one failure.
BUILD=${BUILD:-build}
export OMNI_MODELS=${OMNI_MODELS:-../shared/models}
export OMNI_GOLDEN=${OMNI_GOLDEN:-../shared/golden}
export OMNI_BIN=${OMNI_BIN:-$BUILD/omni}
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
P=0; F=0; S=0; failed_list=""
out=$(mktemp); trap 'rm -f "$out"' EXIT

run_one() { # name, command...
  name=$1; shift
  start=$(date +%s)
  timeout "$TEST_TIMEOUT" "$@" >"$out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
  if [ -z "$line" ]; then
    cat "$out"; echo "FAIL $name: no summary line (exit $rc)"
    F=$((F+1)); failed_list="$failed_list $name"; return
  fi
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
  s=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+'); s=${s:-0}
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed after printing, or sanitizer report
  if [ "$f" != 0 ]; then cat "$out"; failed_list="$failed_list $name"; fi
  printf '%-48s %s  (%ss)\n' "$name" "$line" "$secs"
  P=$((P+p)); F=$((F+f)); S=$((S+s))
}

# ONLY: a space-separated list of test programs and e2e scripts to run instead of all.
progs=${ONLY:-$(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x 2>/dev/null | LC_ALL=C sort)
$(find tests/e2e -maxdepth 1 -type f \( -name 'test_*.sh' -o -name 'test_*.mjs' \) 2>/dev/null | LC_ALL=C sort)}
for t in $progs; do
  case "$t" in
    *.sh) run_one "$t" sh "$t" ;;
    *.mjs) run_one "$t" node "$t" ;;
    *) run_one "${t#$BUILD/}" "$t" ;;
  esac
done

# LOADED: timing-sensitive scripts run once more while a busy loop per core competes
# with them, as on a shared CI machine (make test sets it; see tests/with_cpu_hog.sh).
if [ -n "$LOADED" ]; then
  n=$(nproc 2>/dev/null || echo 2); hogs=""
  i=0; while [ "$i" -lt "$n" ]; do sh -c 'while :; do :; done' & hogs="$hogs $!"; i=$((i + 1)); done
  for t in $LOADED; do
    case "$t" in
      *.sh) run_one "$t (cores busy)" sh "$t" ;;
      *.mjs) run_one "$t (cores busy)" node "$t" ;;
    esac
  done
  kill $hogs 2>/dev/null; wait $hogs 2>/dev/null
fi

[ -n "$failed_list" ] && echo "failed:$failed_list"
if [ "$S" != 0 ]; then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
[ "$F" = 0 ]
