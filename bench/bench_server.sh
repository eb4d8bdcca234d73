#!/bin/sh
# Server benchmark (issue 4): aggregate decode tokens/s and time to first token with
# 1, 4 and 8 concurrent streams against `omni serve` on a full-size random-weight model.
# When LLAMA_SERVER names a llama-server binary, the same load runs against it on the
# same file in the same run and the ratio omni/llama-server is printed.
#   BENCH_SERVER_SHAPE (smollm2-135m:q8_0)  BENCH_SERVER_CONC ("1 4 8")  BENCH_SERVER_TOKENS (64)
#   BENCH_SERVER_THREADS (all cores)  BENCH_SERVER_ROUNDS (2)  BENCH_MODELS (build/bench-models)
#   BENCH_SERVER_LONG (0: stream 0's prompt gets that many more words, a mixed load)  BENCH_SERVER_CTX (512 per slot)
#   OMNI_BIN, LLAMA_SERVER. Each concurrency: one untimed warm-up round, then ROUNDS timed
#   ones (decode rate of the best, TTFT mean/worst over all). A short run (< 3 min):
#   BENCH_SERVER_TOKENS=32 BENCH_SERVER_ROUNDS=1.
set -u
BUILD=${BUILD:-build}
OMNI=${OMNI_BIN:-$BUILD/omni}
DIR=${BENCH_MODELS:-$BUILD/bench-models}
SHAPE=${BENCH_SERVER_SHAPE:-smollm2-135m:q8_0}
CONC=${BENCH_SERVER_CONC:-"1 4 8"}
TOKENS=${BENCH_SERVER_TOKENS:-64}
THREADS=${BENCH_SERVER_THREADS:-$(nproc)}
ROUNDS=${BENCH_SERVER_ROUNDS:-2}
LONG=${BENCH_SERVER_LONG:-0}
CTX=${BENCH_SERVER_CTX:-512}
HERE=$(dirname "$0")
mkdir -p "$DIR"

shape=${SHAPE%%:*}; type=${SHAPE#*:}
f="$DIR/$shape-$type.gguf"
if [ ! -f "$f" ]; then
  "$OMNI" synth --shape "$shape" --type "$type" -o "$f" >/dev/null 2>&1 || { echo "bench_server: omni synth failed for $SHAPE"; exit 1; }
fi
maxc=1; for c in $CONC; do [ "$c" -gt "$maxc" ] && maxc=$c; done

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_ready() { # url pid
  i=0
  while [ $i -lt 600 ]; do
    kill -0 "$2" 2>/dev/null || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health")" = 200 ] && return 0
    sleep 0.1; i=$((i+1))
  done
  return 1
}
field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p"; }

# run_server NAME: starts it, fills RES_<conc> with one JSON line per concurrency, stops it.
run_server() {
  name=$1; port=$(free_port); url="http://127.0.0.1:$port"; log=$(mktemp)
  if [ "$name" = omni ]; then
    "$OMNI" serve -m "$f" --port "$port" --parallel "$maxc" --ctx "$CTX" --threads "$THREADS" --no-auth \
      --db "sqlite:$(dirname "$log")/omni-bench-$port.db" >"$log" 2>&1 &
  else
    "$LLAMA_SERVER" -m "$f" --host 127.0.0.1 --port "$port" -np "$maxc" -c $((CTX * maxc)) -t "$THREADS" \
      -tb "$THREADS" >"$log" 2>&1 &
  fi
  pid=$!
  if ! wait_ready "$url" "$pid"; then
    echo "bench_server: $name did not start:"; tail -n 5 "$log"; kill "$pid" 2>/dev/null
    rm -f "$log" "$(dirname "$log")/omni-bench-$port.db"*; return 1
  fi
  for c in $CONC; do
    r=$(node "$HERE/bench_server_load.mjs" "$url" "$c" "$TOKENS" "$ROUNDS" "$LONG" 2>&1 | tail -n 1)
    eval "RES_${name}_$c=\$r"
  done
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log" "$(dirname "$log")/omni-bench-$port.db"*
}

run_server omni || exit 1
have_llama=0
if [ -n "${LLAMA_SERVER:-}" ]; then run_server llama && have_llama=1; fi

printf '\n## Server: %s %s, %s tokens per stream, %s threads (streaming /v1/completions)\n\n' "$shape" "$type" "$TOKENS" "$THREADS"
[ "$LONG" -gt 0 ] && printf 'mixed load: stream 0 has %s more words of prompt; ctx %s per slot\n\n' "$LONG" "$CTX"
# Other processes on the box change every number here: say how busy it was.
printf 'load average at the end: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
printf '| streams | decode tok/s | TTFT mean ms | TTFT max ms |'
[ $have_llama = 1 ] && printf ' llama-server tok/s | llama-server TTFT ms | ratio tok/s | ratio TTFT |'
printf '\n|---|---|---|---|'
[ $have_llama = 1 ] && printf -- '---|---|---|---|'
printf '\n'
for c in $CONC; do
  eval "o=\${RES_omni_$c:-}"
  tps=$(field "$o" decode_tokens_per_s); tm=$(field "$o" ttft_ms_mean); tx=$(field "$o" ttft_ms_max)
  if [ -z "$tps" ]; then echo "| $c | failed: $o |"; continue; fi
  printf '| %s | %.1f | %.0f | %.0f |' "$c" "$tps" "$tm" "$tx"
  if [ $have_llama = 1 ]; then
    eval "l=\${RES_llama_$c:-}"
    ltps=$(field "$l" decode_tokens_per_s); ltm=$(field "$l" ttft_ms_mean)
    [ -z "$ltps" ] && echo "bench_server: llama-server at $c streams: $l" >&2
    # ratio > 1 is better for omni in both columns (TTFT: llama-server's over ours)
    awk -v a="$tps" -v b="${ltps:-0}" -v ta="$tm" -v tb="${ltm:-0}" 'BEGIN {
      if (b > 0) printf " %.1f | %.0f | %.2fx | %.2fx |", b, tb, a / b, (ta > 0 ? tb / ta : 0); else printf " n/a | n/a | n/a | n/a |" }'
  fi
  printf '\n'
done
