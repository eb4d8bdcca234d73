#!/bin/sh
# Long context: prefill of 128 / 2048 / 8192 tokens and decode after 0 / 2048 / 8192 tokens of
# context, with the KV cache in F16 and in Q8_0, on the Qwen2.5-0.5B and SmolLM2-135M shapes
# (`omni synth`, Q4_K_M). When LLAMA_BENCH names a llama-bench binary it runs the same tests on
# the same files (-p N; -n 64 -d DEPTH; -ctk/-ctv, flash attention on for Q8_0 as it requires)
# and the ratio omni/llama.cpp is printed. The last columns are the long-context aims: prefill
# at the longest length / at the shortest, decode at the deepest / at depth 0 (aim >= 0.6).
# Called by bench/run.sh; alone: sh bench/bench_longctx.sh (BENCH_LC_* below to narrow it).
set -u
BUILD=${BUILD:-build}
OMNI=${OMNI_BIN:-$BUILD/omni}
DIR=${BENCH_MODELS:-$BUILD/bench-models}
SHAPES=${BENCH_LC_SHAPES:-"qwen2.5-0.5b:q4_k_m smollm2-135m:q4_k_m"}
PPS=${BENCH_LC_PP:-"128 2048 8192"}
DEPTHS=${BENCH_LC_DEPTHS:-"0 2048 8192"}
CACHES=${BENCH_LC_CACHE:-"f16 q8_0"}
TG=${BENCH_LC_TG:-64}
T=${BENCH_LC_THREADS:-2}
mkdir -p "$DIR"

json_field() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p"; }
llama() { # args -> avg tokens/s of the one test
  "$LLAMA_BENCH" "$@" -t "$T" -r 2 -o jsonl 2>/dev/null | sed -n 's/.*"avg_ts": *\([0-9.eE+-]*\).*/\1/p' | head -n 1
}
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else printf "n/a" }'; }

printf '\n## Long context: prefill at N tokens, decode (tg%s) after DEPTH tokens, tokens/s, %s threads\n\n' "$TG" "$T"
printf '| model | cache | test | omni |'
[ -n "${LLAMA_BENCH:-}" ] && printf ' llama.cpp | ratio |'
printf '\n|---|---|---|---|'
[ -n "${LLAMA_BENCH:-}" ] && printf -- '---|---|'
printf '\n'
for m in $SHAPES; do
  shape=${m%%:*}; type=${m#*:}
  f="$DIR/$shape-$type.gguf"
  if [ ! -f "$f" ]; then
    "$OMNI" synth --shape "$shape" --type "$type" -o "$f" >/dev/null 2>&1 || { echo "| $shape | synth failed |"; continue; }
  fi
  for c in $CACHES; do
    fa=0; [ "$c" != f16 ] && fa=1
    first_pp=""; last_pp=""; first_tg=""; last_tg=""
    for p in $PPS; do
      v=$(json_field "$("$OMNI" bench -m "$f" -p "$p" -n 0 -d 0 -ct "$c" -t "$T" -r 2 --json 2>/dev/null | tail -n 1)" pp_tokens_per_s)
      [ -z "$first_pp" ] && first_pp=$v; last_pp=$v
      printf '| %s | %s | pp%s | %.1f |' "$shape" "$c" "$p" "${v:-0}"
      if [ -n "${LLAMA_BENCH:-}" ]; then
        l=$(llama -m "$f" -p "$p" -n 0 -ctk "$c" -ctv "$c" -fa "$fa")
        printf ' %s | %s |' "${l:-n/a}" "$(ratio "$v" "$l")"
      fi
      printf '\n'
    done
    for d in $DEPTHS; do
      v=$(json_field "$("$OMNI" bench -m "$f" -p 0 -n "$TG" -d "$d" -ct "$c" -t "$T" -r 2 --json 2>/dev/null | tail -n 1)" tg_tokens_per_s)
      [ -z "$first_tg" ] && first_tg=$v; last_tg=$v
      printf '| %s | %s | tg%s @ d%s | %.1f |' "$shape" "$c" "$TG" "$d" "${v:-0}"
      if [ -n "${LLAMA_BENCH:-}" ]; then
        l=$(llama -m "$f" -p 0 -n "$TG" -d "$d" -ctk "$c" -ctv "$c" -fa "$fa")
        printf ' %s | %s |' "${l:-n/a}" "$(ratio "$v" "$l")"
      fi
      printf '\n'
    done
    # the tiled kernel for decode on an F16 cache (-fa on) next to auto's choice, to set
    # LLM_FLASH_AUTO_GROUP (src/models/llm.h) from: a decode step splits its query heads over
    # the threads now, so small GQA groups may pay off where they did not
    if [ "$c" = f16 ] && [ "${BENCH_LC_TILED:-1}" = 1 ]; then
      for d in $DEPTHS; do
        v=$(json_field "$("$OMNI" bench -m "$f" -p 0 -n "$TG" -d "$d" -ct f16 -fa on -t "$T" -r 2 --json 2>/dev/null | tail -n 1)" tg_tokens_per_s)
        printf '| %s | %s | tg%s @ d%s, tiled | %.1f |' "$shape" "$c" "$TG" "$d" "${v:-0}"
        if [ -n "${LLAMA_BENCH:-}" ]; then
          l=$(llama -m "$f" -p 0 -n "$TG" -d "$d" -fa 1)
          printf ' %s | %s |' "${l:-n/a}" "$(ratio "$v" "$l")"
        fi
        printf '\n'
      done
    fi
    printf '| %s | %s | pp longest / shortest | %s |' "$shape" "$c" "$(ratio "$last_pp" "$first_pp")"
    [ -n "${LLAMA_BENCH:-}" ] && printf ' | |'
    printf '\n| %s | %s | tg deepest / depth 0 | %s |' "$shape" "$c" "$(ratio "$last_tg" "$first_tg")"
    [ -n "${LLAMA_BENCH:-}" ] && printf ' | |'
    printf '\n'
  done
done

# Sliding-window layers keep a ring of their window (src/models/llm.c), so the KV cache grows
# only with the global layers: decode at depth with the cache's size (kv MiB, all layers) on a
# sliding-window shape. llama.cpp keeps the window too (its SWA cache): -d gives the same tests.
SWA_SHAPES=${BENCH_LC_SWA_SHAPES:-"gemma3-1b:q4_k_m"}
printf '\n## Sliding-window KV cache: decode (tg%s) after DEPTH tokens, tokens/s and KV cache MiB, %s threads\n\n' "$TG" "$T"
printf '| model | cache | test | omni | kv MiB |'
[ -n "${LLAMA_BENCH:-}" ] && printf ' llama.cpp | ratio |'
printf '\n|---|---|---|---|---|'
[ -n "${LLAMA_BENCH:-}" ] && printf -- '---|---|'
printf '\n'
for m in $SWA_SHAPES; do
  shape=${m%%:*}; type=${m#*:}
  f="$DIR/$shape-$type.gguf"
  if [ ! -f "$f" ]; then
    "$OMNI" synth --shape "$shape" --type "$type" -o "$f" >/dev/null 2>&1 || { echo "| $shape | synth failed |"; continue; }
  fi
  for d in $DEPTHS; do
    j=$("$OMNI" bench -m "$f" -p 0 -n "$TG" -d "$d" -ct f16 -t "$T" -r 2 --json 2>/dev/null | tail -n 1)
    v=$(json_field "$j" tg_tokens_per_s); kv=$(json_field "$j" kv_bytes)
    printf '| %s | f16 | tg%s @ d%s | %.1f | %.1f |' "$shape" "$TG" "$d" "${v:-0}" "$(awk -v b="${kv:-0}" 'BEGIN{print b/1048576}')"
    if [ -n "${LLAMA_BENCH:-}" ]; then
      l=$(llama -m "$f" -p 0 -n "$TG" -d "$d" -fa 0)
      printf ' %s | %s |' "${l:-n/a}" "$(ratio "$v" "$l")"
    fi
    printf '\n'
  done
done
