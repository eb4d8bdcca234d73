#!/bin/sh
# LoRA fine-tuning speed: `omni finetune` on the SmolLM2-135M shape (random weights made with
# `omni synth`, F16 and Q8_0 bases), rank 16 on all seven projections, 512-token examples,
# batch 1: training tokens/s (forward + backward, the base frozen in its file type) and peak
# RSS. With LLAMA_FINETUNE naming llama.cpp's llama-finetune (full fine-tuning in F32, the
# reference the issue gives), it trains one epoch on the same text with an F32 file of the
# same shape and its row follows. Figures on a loaded machine are not claims.
set -u
BUILD=${BUILD:-build}
OMNI=${OMNI_BIN:-$BUILD/omni}
DIR=${BENCH_MODELS:-$BUILD/bench-models}
THREADS=${BENCH_THREADS:-2}
STEPS=${BENCH_FT_STEPS:-3}
mkdir -p "$DIR"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

# 4 examples of ~600 tokens (cut to ctx 512): a prompt and a long completion of plain words
words="the cat sat on a mat and the dog ran to the park where children played with a red ball under tall green trees while birds sang"
i=0
while [ $i -lt 4 ]; do
  text=""; j=0
  while [ $j -lt 24 ]; do text="$text $words"; j=$((j+1)); done
  printf '{"prompt":"Story %d:","completion":"%s."}\n' "$i" "$text"
  i=$((i+1))
done >"$T/data.jsonl"

rss_of() { sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$1"; }

printf '\n## LoRA fine-tuning (omni finetune), training tokens/s\n\n'
printf '| model | base type | rank | ctx | threads | train tok/s | peak RSS MiB |\n|---|---|---|---|---|---|---|\n'
for type in f16 q8_0; do
  f="$DIR/smollm2-135m-$type.gguf"
  [ -f "$f" ] || "$OMNI" synth --shape smollm2-135m --type "$type" -o "$f" >/dev/null 2>&1 ||
    { echo "| smollm2-135m | $type | synth failed |"; continue; }
  if /usr/bin/time -v "$OMNI" finetune -m "$f" --data "$T/data.jsonl" -o "$T/a.gguf" --rank 16 --alpha 32 \
       --ctx 512 --batch 1 --epochs 1 --max-steps "$STEPS" -t "$THREADS" 2>"$T/log"; then
    tps=$(grep '^step ' "$T/log" | tail -n 1 | sed 's/.*  \([0-9]*\) tok\/s.*/\1/')
    printf '| smollm2-135m | %s | 16 | 512 | %s | %s | %s |\n' "$type" "$THREADS" "$tps" $(( $(rss_of "$T/log") / 1024 ))
  else
    echo "| smollm2-135m | $type | finetune failed: $(tail -n 1 "$T/log") |"
  fi
done

if [ -n "${LLAMA_FINETUNE:-}" ]; then
  f="$DIR/smollm2-135m-f32.gguf"
  [ -f "$f" ] || "$OMNI" synth --shape smollm2-135m --type f32 -o "$f" >/dev/null 2>&1
  sed 's/.*"completion":"\(.*\)."}/\1/' "$T/data.jsonl" >"$T/text.txt"
  ntok=$("$OMNI" tokenize -m "$f" <"$T/text.txt" | tr ',' '\n' | grep -c .)
  start=$(date +%s.%N)
  if /usr/bin/time -v "$LLAMA_FINETUNE" -m "$f" -f "$T/text.txt" -c 512 -b 512 -ub 512 -t "$THREADS" \
       --epochs 1 -ngl 0 >"$T/ref.out" 2>"$T/ref.log"; then
    end=$(date +%s.%N)
    # llama-finetune trains on the file's tokens in windows of ctx/2 stride, one epoch, 95% train split
    tps=$(awk -v n="$ntok" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n * 0.95 / (b - a) }')
    printf '| smollm2-135m (llama-finetune, full F32) | f32 | - | 512 | %s | %s (incl. load) | %s |\n' "$THREADS" \
      "$tps" $(( $(rss_of "$T/ref.log") / 1024 ))
  else
    echo "| llama-finetune failed: $(tail -n 1 "$T/ref.log") |"
  fi
fi
