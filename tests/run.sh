#!/bin/sh
# Runs every test program under $BUILD/tests and every end-to-end script under
# tests/e2e, and adds up their "N passed, N failed[, N skipped]" lines.
# A program that crashes or prints no summary counts as one failure.
# Every program also states the least number of tests it runs (a line
# "expect: at least N tests run"; TEST_EXPECT in tests/test.h, the same line from the
# .sh/.mjs scripts), so that tests which quietly stop running cannot pass: a program
# that reports no tests, states no minimum, runs (passes + fails) fewer than it states,
# or skips without printing why ("skip: REASON" or "  skip [case]: REASON") fails.
# The skips are listed by reason at the end, before the summary line: a reason may end in
# " -- DETAIL" (which file, what failed), which is left out of the grouping.
BUILD=${BUILD:-build}
export OMNI_MODELS=${OMNI_MODELS:-../shared/models}
export OMNI_GOLDEN=${OMNI_GOLDEN:-../shared/golden}
export OMNI_BIN=${OMNI_BIN:-$BUILD/omni}
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
P=0; F=0; S=0; failed_list=""
# the programs' own data (the default database, the model store) in a home of this run's: a
# test that starts `omni serve` without --db must never touch the user's $OMNI_HOME
export OMNI_HOME=$(mktemp -d)
out=$(mktemp); skips=$(mktemp); trap 'rm -f "$out" "$skips"; rm -rf "$OMNI_HOME"' EXIT

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
  why=""
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then why="exit $rc after its summary"; fi   # crashed after printing, or sanitizer report
  want=$(grep -E '^expect: at least [0-9]+ tests? run' "$out" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)
  # (a program that failed before it could state its minimum, e.g. in its setup, is failed already)
  if [ -z "$want" ]; then [ "$f" = 0 ] && why="it states no minimum test count (TEST_EXPECT / an 'expect: at least N tests run' line)"
  elif [ $((p + f + s)) = 0 ]; then why="it reports no tests"
  elif [ $((p + f)) -lt "$want" ]; then why="$((p + f)) tests ran (passed or failed), it expects at least $want"
  fi
  # skip reasons: "  skip [case]: reason" (tests/test.h) or "skip: reason" (scripts)
  reasons=$(sed -n 's/^ *skip \[[^]]*\]: //p; s/^ *skip: //p' "$out")
  nr=$(printf '%s' "$reasons" | grep -c .)
  if [ "$nr" -lt "$s" ]; then why="${why:+$why; }$s skipped but only $nr skip reasons printed"; fi
  [ -n "$reasons" ] && printf '%s\n' "$reasons" | sed "s|\$|	$name|" >>"$skips"
  if [ -n "$why" ]; then [ "$f" = 0 ] && f=1; fi
  if [ "$f" != 0 ]; then cat "$out"; failed_list="$failed_list $name"; fi
  [ -n "$why" ] && echo "FAIL $name: $why"
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

if [ -s "$skips" ]; then
  echo "skipped, by reason:"
  # reason<TAB>program per line: one line per reason (without its " -- detail") with its
  # count and programs
  sed 's/ -- [^	]*//' "$skips" | LC_ALL=C sort | awk -F '\t' '
    $1 != r { if (n) printf "  %3d  %s  [%s]\n", n, r, progs; r = $1; n = 0; progs = ""; last = "" }
    { n++; if ($2 != last) { progs = progs (progs == "" ? "" : ", ") $2; last = $2 } }
    END { if (n) printf "  %3d  %s  [%s]\n", n, r, progs }'
fi
[ -n "$failed_list" ] && echo "failed:$failed_list"
if [ "$S" != 0 ]; then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
[ "$F" = 0 ]
