#!/bin/sh
# End-to-end checks of `omni eval`, `omni bench` and `omni run` on the shared models:
# eval output is compared with llama.cpp's golden logits (tests/e2e/check_eval.py), and
# bench's peak RSS with the README's bound (file + KV cache + 64 MiB).
BIN=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
GOLDEN=${OMNI_GOLDEN:-../shared/golden}
DIR=$(dirname "$0")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P=0; F=0; S=0
ok() { P=$((P+1)); }
fail() { F=$((F+1)); echo "FAIL: $*"; }
skip() { S=$((S+1)); echo "skip: $*"; }
# 13 goldens of supported models (one with a LoRA adapter), 20 other checks (19 in a sanitizer build: no RSS bound)
case "$BIN" in *asan*) echo "expect: at least 32 tests run" ;; *) echo "expect: at least 33 tests run" ;; esac

# "reason (issue)" when ../shared/$1 is on tests/not_yet_supported.txt for check $2
not_yet() {
  while read -r pat what issue reason; do
    case "$pat" in ''|\#*) continue ;; esac
    [ "$what" = "$2" ] || continue
    # shellcheck disable=SC2254 # the column is a pattern
    case "$1" in $pat) echo "$reason ($issue)"; return 0 ;; esac
  done < tests/not_yet_supported.txt
  return 1
}

for g in "$GOLDEN"/llm/*.jsonl; do
  name=$(basename "$g" .jsonl)
  reason=$(not_yet "golden/llm/$name.jsonl" logits)
  # BASE+ADAPTER: BASE's file with that LoRA adapter at scale 1 (../shared/golden/README.md)
  base=${name%%+*}; lora=""
  case "$name" in
    synth-smollm2-f16+lora) lora="$MODELS/synth/synth-smollm2-lora-f16.gguf" ;;
    *+*) fail "eval $name: no adapter known for this golden"; continue ;;
  esac
  m="$MODELS/llm/$base.gguf"; [ -f "$m" ] || m="$MODELS/synth/$base.gguf"
  case "$name" in
    stories*|TinyStories*|tinystories*) cases="$GOLDEN/llm/cases_story.txt"; n=32 ;;
    *) cases="$GOLDEN/llm/cases_chat.txt"; n=24 ;;
  esac
  # eval tokenizes the prompts itself: with their tokens listed, the logits are checked on
  # the golden's own ids by tests/models/test_llm_golden.c only
  treason=$(not_yet "golden/llm/$name.jsonl" tokens)
  if [ -z "$reason" ] && [ -n "$treason" ]; then
    skip "eval $name: its prompts do not tokenize yet (tests/not_yet_supported.txt): $treason"; continue
  fi
  if [ -n "$reason" ]; then # listed: it must still fail, else the list is out of date
    if "$BIN" eval -m "$m" -f "$cases" --top 5 --greedy $n -t 2 >"$T/$name.jsonl" 2>"$T/err" &&
       python3 "$DIR/check_eval.py" "$T/$name.jsonl" "$g" "$name" >/dev/null; then
      fail "eval $name now matches its golden: delete its 'logits' line from tests/not_yet_supported.txt"
    else skip "not yet supported (tests/not_yet_supported.txt): $reason -- golden/llm/$name.jsonl"; fi
    continue
  fi
  # eval tokenizes the prompts itself: a model whose tokenizer is still listed cannot run them
  treason=$(not_yet "golden/llm/$name.jsonl" tokens)
  if [ -n "$treason" ]; then
    skip "its prompts cannot be tokenized yet (tests/not_yet_supported.txt): $treason -- golden/llm/$name.jsonl"; continue
  fi
  if ! "$BIN" eval -m "$m" ${lora:+--lora "$lora"} -f "$cases" --top 5 --greedy $n -t 2 >"$T/$name.jsonl" 2>"$T/err"; then
    fail "eval $name: $(tail -n 1 "$T/err")"; continue
  fi
  if python3 "$DIR/check_eval.py" "$T/$name.jsonl" "$g" "$name"; then ok; else fail "eval $name differs from golden"; fi
done

# LoRA through the engine (omni run): scale 0 is the base model, scale 1 (llama.cpp's
# --lora-scaled spelling) changes the greedy text, and an adapter for another model is refused
SM="$MODELS/synth/synth-smollm2-f16.gguf"; LA="$MODELS/synth/synth-smollm2-lora-f16.gguf"
r0=$("$BIN" run -m "$SM" -p "Hello" -n 12 --temp 0 -t 2 2>/dev/null)
rz=$("$BIN" run -m "$SM" --lora "$LA:0" -p "Hello" -n 12 --temp 0 -t 2 2>/dev/null)
r1=$("$BIN" run -m "$SM" --lora-scaled "$LA" 1 -p "Hello" -n 12 --temp 0 -t 2 2>/dev/null)
[ -n "$r0" ] && [ "$r0" = "$rz" ] && [ "$r0" != "$r1" ] && ok ||
  fail "run --lora: base '$r0', scale 0 '$rz', scale 1 '$r1'"
"$BIN" eval -m "$MODELS/synth/synth-qwen2-f16.gguf" --lora "$LA" -f "$GOLDEN/llm/cases_chat.txt" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "wrong base model" "$T/err" && ok ||
  fail "eval --lora with another model's adapter: rc $rc, $(cat "$T/err")"
"$BIN" run -m "$MODELS/synth/synth-qwen2-f16.gguf" --lora "$LA" -p hi -n 1 >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "architecture 'llama'" "$T/err" && ok ||
  fail "run --lora with another model's adapter: rc $rc, $(cat "$T/err")"
for c in run chat eval serve; do "$BIN" $c --help 2>&1 | grep -q -- "--lora-scaled" || { fail "$c --help lacks --lora"; continue; }; ok; done

# the 260K story model reproduces karpathy's documented greedy story
out=$("$BIN" run -m "$MODELS/llm/stories260K.gguf" -p "Once upon a time" -n 40 --temp 0 -t 2 2>/dev/null)
case "$out" in
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."*) ok ;;
  *) fail "run greedy: $out" ;;
esac
# same seed, same text
a=$("$BIN" run -m "$MODELS/llm/stories260K.gguf" -p "The cat" -n 20 --seed 7 2>/dev/null)
b=$("$BIN" run -m "$MODELS/llm/stories260K.gguf" -p "The cat" -n 20 --seed 7 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || fail "run --seed not reproducible: '$a' vs '$b'"

j=$("$BIN" bench -m "$MODELS/synth/synth-llama-q8_0.gguf" -p 32 -n 8 -t 2 --json 2>/dev/null)
if echo "$j" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert set(d) == {"pp_tokens_per_s", "tg_tokens_per_s", "threads", "model_bytes", "file_bytes", "kv_bytes",
                  "peak_rss_bytes", "rss_bound_bytes", "depth"}, d
assert d["pp_tokens_per_s"] > 0 and d["tg_tokens_per_s"] > 0 and d["threads"] == 2 and d["model_bytes"] > 9000000, d
assert d["rss_bound_bytes"] == d["file_bytes"] + d["kv_bytes"] + (64 << 20), d
'; then ok; else fail "bench --json: $j"; fi

# long context: -d DEPTH (both phases after DEPTH tokens: the cache holds DEPTH + max(P, N) + 1
# positions), --cache-type (a Q8_0 cache is 34/64 of an F16 one: blocks of 32 with an f16 scale),
# --flash-attn; bad values are refused
Q3="$MODELS/synth/synth-qwen3-f16.gguf"
a=$("$BIN" bench -m "$Q3" -p 16 -n 4 -d 40 -t 2 --json 2>/dev/null)
b=$("$BIN" bench -m "$Q3" -p 16 -n 4 -d 40 -t 2 -ct q8_0 -fa on --json 2>/dev/null)
if printf '%s\n%s\n' "$a" "$b" | python3 -c '
import json, sys
a, b = [json.loads(l) for l in sys.stdin.read().split("\n") if l]
assert a["depth"] == 40 and b["depth"] == 40 and a["pp_tokens_per_s"] > 0 and b["tg_tokens_per_s"] > 0, (a, b)
assert b["kv_bytes"] * 64 == a["kv_bytes"] * 34, (a["kv_bytes"], b["kv_bytes"])
'; then ok; else fail "bench -d / --cache-type: $a / $b"; fi
if ! "$BIN" bench -m "$Q3" -ct q9_9 >/dev/null 2>"$T/err" && grep -q "f16, q8_0 or q4_0" "$T/err" &&
   ! "$BIN" bench -m "$Q3" -fa maybe >/dev/null 2>>"$T/err" && grep -q "on, off or auto" "$T/err"; then ok
else fail "bench: bad --cache-type / --flash-attn not refused: $(cat "$T/err")"; fi
# run with a Q8_0 cache: greedy text; a head size that is no multiple of 32 is refused clearly
out=$("$BIN" run -m "$Q3" -p "hello" -n 6 --temp 0 --cache-type q8_0 2>"$T/err")
if [ -n "$out" ] && ! "$BIN" run -m "$MODELS/synth/synth-qwen2-f16.gguf" -p hi -n 2 --cache-type q8_0 >/dev/null 2>"$T/err" &&
   grep -q "multiple of 32" "$T/err"; then ok; else fail "run --cache-type q8_0: '$out' $(cat "$T/err")"; fi

# The README's memory bound: peak RSS within file size + KV cache + 64 MiB, measured from
# outside (/usr/bin/time, installed by setup.sh) on a SmolLM2-135M-shaped Q8_0 file (144 MB,
# so the weights dominate); bench's own peak_rss_bytes must agree with it within 8 MiB.
case "$BIN" in
  *asan*) skip "a sanitizer build's shadow memory is not omni's: the RSS bound is checked on the plain build" ;;
  *)
if "$BIN" synth --shape smollm2-135m --type q8_0 -o "$T/s135.gguf" >/dev/null 2>"$T/err" &&
   j=$(/usr/bin/time -f '%M' -o "$T/rss" "$BIN" bench -m "$T/s135.gguf" -p 32 -n 8 -t 2 --json 2>"$T/err"); then
  if echo "$j" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read()); ext = int(open(sys.argv[1]).read().split()[-1]) * 1024
mib = lambda b: "%.1f MiB" % (b / 1048576)
print("  peak RSS %s (bench says %s), bound %s = file %s + KV %s + 64 MiB" % (mib(ext), mib(d["peak_rss_bytes"]),
      mib(d["rss_bound_bytes"]), mib(d["file_bytes"]), mib(d["kv_bytes"])))
assert ext <= d["rss_bound_bytes"], "over the bound"
assert abs(ext - d["peak_rss_bytes"]) <= 8 << 20, "bench misreports its peak RSS"
' "$T/rss"; then ok; else fail "peak RSS over file + KV + 64 MiB: $j"; fi
else fail "bench on a synth smollm2-135m: $(tail -n 1 "$T/err")"; fi
rm -f "$T/s135.gguf" ;;
esac

# errors: one line on stderr, non-zero exit, no crash
"$BIN" eval -m "$T/missing.gguf" -f "$GOLDEN/llm/cases_story.txt" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(wc -l <"$T/err")" -ge 1 ] && ok || fail "eval with a missing model: rc $rc"
"$BIN" eval -m "$MODELS/llm/stories260K.gguf" -f "$T/nofile.txt" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "nofile.txt" "$T/err" && ok || fail "eval with a missing case file: rc $rc"
head -c 500000 "$MODELS/llm/stories260K.gguf" >"$T/trunc.gguf"
"$BIN" run -m "$T/trunc.gguf" -p hi >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && ok || fail "run with a truncated model: rc $rc"
"$BIN" bench --bogus >/dev/null 2>&1; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && ok || fail "bench with a bad option: rc $rc"
"$BIN" eval --help | grep -q "__case__" && ok || fail "eval --help"

# case file splitting: an empty-line prompt and a final newline
printf 'Once upon a time\n__case__\nThe little dog\n' >"$T/c.txt"
"$BIN" eval -m "$MODELS/llm/stories260K.gguf" -f "$T/c.txt" --top 2 >"$T/c.jsonl" 2>/dev/null
python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert [x["prompt"] for x in r] == ["Once upon a time", "The little dog"], r
assert all(len(x["topk"]) == len(x["tokens"]) and all(len(p) == 2 for p in x["topk"]) for x in r)
assert all(x["greedy"] == [] for x in r)
' "$T/c.jsonl" && ok || fail "case splitting"

if [ "$S" != 0 ]; then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
[ $F -eq 0 ]
