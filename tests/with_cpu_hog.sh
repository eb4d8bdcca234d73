#!/bin/sh
# Runs a command while one busy loop per core competes with it (nice 0, like any other
# job on a shared CI machine), then stops the loops. Exit status: the command's.
n=$(nproc 2>/dev/null || echo 2)
pids=""
i=0
while [ "$i" -lt "$n" ]; do
  sh -c 'while :; do :; done' &
  pids="$pids $!"
  i=$((i + 1))
done
trap 'kill $pids 2>/dev/null' EXIT INT TERM
"$@"
rc=$?
kill $pids 2>/dev/null
wait 2>/dev/null
exit $rc
