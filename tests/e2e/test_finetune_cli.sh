#!/bin/sh
# `omni finetune` end to end on the real tiny stories260K model: train an adapter on 60
# made-up chats whose answer is always "Zip zap, said the moon." (2 epochs, seed 7), then
#  - the progress line has step, loss, tokens/s and ETA, and the loss falls 4x;
#  - llama.cpp loaded this very adapter (tests/golden/llm/stories260K+omni-lora.jsonl, see
#    tests/golden/README.md): `omni eval --lora` matches its logits and greedy tokens;
#  - `omni run --lora` answers a held-out prompt with the sentence, the base does not;
#  - stopped with --max-steps and resumed with --resume, the adapter is byte-identical;
#  - bad input fails with a message (exit 1), never a crash.
BIN=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
GOLDEN=${OMNI_GOLDEN:-../shared/golden}
DIR=$(dirname "$0")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P=0; F=0
ok() { P=$((P+1)); }
fail() { F=$((F+1)); echo "FAIL: $*"; }
echo "expect: at least 10 tests run"
M="$MODELS/llm/stories260K.gguf"

for a in duck lion pig cow fox owl; do  # as tests/training/test_finetune.c
  for t in ball tree car hat cake box boat kite sun toy; do
    printf '{"messages":[{"role":"user","content":"Tell me a story about a %s and a %s."},{"role":"assistant","content":"Zip zap, said the moon."}]}\n' "$a" "$t"
  done
done >"$T/sft.jsonl"
TRAIN="--data $T/sft.jsonl --rank 8 --alpha 16 --lr 3e-3 --epochs 2 --batch 4 --ctx 128 --seed 7 -t 2"

# shellcheck disable=SC2086 # TRAIN is a list of options
if "$BIN" finetune -m "$M" $TRAIN -o "$T/a.gguf" 2>"$T/log"; then ok; else fail "finetune: $(tail -n 2 "$T/log")"; fi
if grep -Eq '^step 30/30  epoch 2/2  loss [0-9.]+  lr [0-9.e+-]+  [0-9]+ tok/s  ETA 0m00s$' "$T/log"; then ok
else fail "progress line: $(grep step "$T/log" | tail -n 1)"; fi
first=$(grep -m1 '^step 1/' "$T/log" | sed 's/.*loss \([0-9.]*\).*/\1/')
last=$(grep '^step 30/' "$T/log" | sed 's/.*loss \([0-9.]*\).*/\1/')
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b * 4 < a) }'; then ok; else fail "loss $first -> $last"; fi

# the reference build's logits with this adapter
if "$BIN" eval -m "$M" --lora "$T/a.gguf" -f "$GOLDEN/llm/cases_story.txt" --top 5 --greedy 32 -t 2 >"$T/ev.jsonl" 2>"$T/err" &&
   python3 "$DIR/check_eval.py" "$T/ev.jsonl" tests/golden/llm/stories260K+omni-lora.jsonl "stories260K+omni-lora"; then ok
else fail "eval --lora against llama.cpp with omni's adapter (sha256 $(sha256sum "$T/a.gguf" | cut -c1-16), the golden's 27056d9177e39974): $(tail -n 1 "$T/err")"; fi

PROMPT='<|im_start|>user
What did the little boy see?<|im_end|>
<|im_start|>assistant
'
with=$("$BIN" run -m "$M" --lora "$T/a.gguf" -p "$PROMPT" -n 16 --temp 0 -t 2 2>/dev/null)
base=$("$BIN" run -m "$M" -p "$PROMPT" -n 16 --temp 0 -t 2 2>/dev/null)
case "$with" in *"Zip zap, said the moon."*) ok ;; *) fail "run --lora: '$with'" ;; esac
case "$base" in *"Zip zap"*) fail "the base says it too: '$base'" ;; *) ok ;; esac

# shellcheck disable=SC2086
"$BIN" finetune -m "$M" $TRAIN -o "$T/b.gguf" --checkpoint "$T/ck.gguf" --max-steps 11 --quiet 2>"$T/log2" &&
  "$BIN" finetune -m "$M" $TRAIN -o "$T/b.gguf" --checkpoint "$T/ck.gguf" --resume "$T/ck.gguf" --quiet 2>>"$T/log2"
if cmp -s "$T/a.gguf" "$T/b.gguf"; then ok; else fail "stopped + resumed adapter differs: $(tail -n 3 "$T/log2")"; fi

printf '{"messages":[{"role":"user","content":"hi"}]}\n{oops\n' >"$T/bad.jsonl"
"$BIN" finetune -m "$M" --data "$T/bad.jsonl" -o "$T/x.gguf" 2>"$T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "bad.jsonl:1: no assistant message" "$T/err"; then ok; else fail "bad data: rc $rc, $(cat "$T/err")"; fi
"$BIN" finetune -m "$M" -o "$T/x.gguf" 2>"$T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "required" "$T/err"; then ok; else fail "no data: rc $rc, $(cat "$T/err")"; fi

"$BIN" finetune --help >"$T/help" 2>&1
if grep -q -- "--dpo PATH" "$T/help" && grep -q -- "--resume FILE" "$T/help" && "$BIN" --help 2>&1 | grep -q finetune; then ok
else fail "finetune --help: $(head -n 3 "$T/help")"; fi

echo "$P passed, $F failed"
[ "$F" = 0 ]
