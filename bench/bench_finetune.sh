#!/bin/sh
# LoRA fine-tuning speed: `omni finetune` on the SmolLM2-135M shape (random weights made with
# `omni synth`, F16 and Q8_0 bases), rank 16 on all seven projections, 512-token examples,
# batch 1: training tokens/s (forward + backward, the base frozen in its file type), training
# tokens per CPU second of the whole process (user + sys: robust on a loaded machine, where
# wall time is not) and peak RSS. With LLAMA_FINETUNE naming llama.cpp's llama-finetune (full
# fine-tuning in F32, the reference the issue gives), it trains one epoch on the same text
# with an F32 file of the same shape on the first example's text and its row follows, from
# its own progress line (the 512-token windows it trained and the time it says they took).
#
# llama.cpp builds since the KV cache is written with ggml_set_rows (opt-in via LLAMA_SET_ROWS
# in July 2025, the default from August, the ggml_cpy path removed in #15505) abort before
# their first step on every model, not on this shape only (stories260K, with an untied output
# tensor, aborts the same way): the training graph runs through the KV cache, and the
# cache write (GGML_OP_SET_ROWS, whose result is a view of the cache tensor) needs a gradient,
# which ggml_build_backward_expand refuses for an in-place op
# (GGML_ASSERT(!node->view_src || ...)); -fa and the other flags do not avoid it. Such a build
# gets a row saying so; a build from before (e.g. eacdeb5bf, 2025-07-18, built outside the
# repo) gives the reference figure. Figures on a loaded machine are not claims.
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
# user + sys seconds of a /usr/bin/time -v log
cpu_of() { awk -F': *' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { printf "%.1f", s }' "$1"; }

printf '\n## LoRA fine-tuning (omni finetune), training tokens/s\n\n'
printf '| model | base type | rank | ctx | threads | train tok/s | train tok per CPU-s | CPU s | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for type in f16 q8_0; do
  f="$DIR/smollm2-135m-$type.gguf"
  [ -f "$f" ] || "$OMNI" synth --shape smollm2-135m --type "$type" -o "$f" >/dev/null 2>&1 ||
    { echo "| smollm2-135m | $type | synth failed |"; continue; }
  if /usr/bin/time -v "$OMNI" finetune -m "$f" --data "$T/data.jsonl" -o "$T/a.gguf" --rank 16 --alpha 32 \
       --ctx 512 --batch 1 --epochs 1 --max-steps "$STEPS" -t "$THREADS" 2>"$T/log"; then
    tps=$(grep '^step ' "$T/log" | tail -n 1 | sed 's/.*  \([0-9]*\) tok\/s.*/\1/')
    steps=$(grep -c '^step ' "$T/log")
    cpu=$(cpu_of "$T/log")
    # every example is longer than ctx: each step trains 512 tokens
    per=$(awk -v n=$((steps * 512)) -v c="$cpu" 'BEGIN { printf "%.1f", (c > 0 ? n / c : 0) }')
    printf '| smollm2-135m | %s | 16 | 512 | %s | %s | %s | %s | %s |\n' "$type" "$THREADS" "$tps" "$per" "$cpu" \
      $(( $(rss_of "$T/log") / 1024 ))
  else
    echo "| smollm2-135m | $type | finetune failed: $(tail -n 1 "$T/log") |"
  fi
done

if [ -n "${LLAMA_FINETUNE:-}" ]; then
  f="$DIR/smollm2-135m-f32.gguf"
  [ -f "$f" ] || "$OMNI" synth --shape smollm2-135m --type f32 -o "$f" >/dev/null 2>&1
  # the first example's text (~1,600 tokens: 4 windows, 3 trained): a full F32 step of this
  # shape takes tens of seconds on 2 threads, and builds before August 2025 train 2 epochs
  sed -n '1s/.*"completion":"\(.*\)."}/\1/p' "$T/data.jsonl" >"$T/text.txt"
  case $f in /*) ;; *) f="$PWD/$f" ;; esac
  # builds before August 2025 have no --epochs (they train 2) and write finetuned-model.gguf
  # into the current folder: run it in the temporary one
  ep=""
  "$LLAMA_FINETUNE" --help 2>&1 | grep -q -- '--epochs' && ep="--epochs 1"
  if (cd "$T" && /usr/bin/time -v "$LLAMA_FINETUNE" -m "$f" -f "$T/text.txt" -c 512 -b 512 -ub 512 -t "$THREADS" \
       $ep -ngl 0 >"$T/ref.out" 2>"$T/ref.log"); then
    # its progress line: "train: [...] data=N/N ... t=HH:MM:SS": N windows of 512 tokens
    # (stride 256, 95% of them trained, the rest evaluated), the time they took (the last
    # epoch's); the CPU seconds are the whole run's, for every epoch's windows
    last=$(tr '\r' '\n' <"$T/ref.log" | grep '^train: ' | tail -n 1)
    nwin=$(printf '%s' "$last" | sed -n 's/.*data=0*\([0-9][0-9]*\)\/.*/\1/p')
    epochs=$(tr '\r' '\n' <"$T/ref.log" | grep '^train: ' | grep -c "data=0*${nwin:-x}/0*${nwin:-x} ")
    secs=$(printf '%s' "$last" | sed -n 's/.* t=\([0-9]*\):\([0-9]*\):\([0-9]*\).*/\1 \2 \3/p' |
           awk '{ print $1 * 3600 + $2 * 60 + $3 }')
    cpu=$(cpu_of "$T/ref.log")
    ver=$("$LLAMA_FINETUNE" --version 2>&1 | sed -n 's/^version: //p' | head -n 1)
    tps=$(awk -v n=$(( ${nwin:-0} * 512 )) -v s="${secs:-0}" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    per=$(awk -v n=$(( ${nwin:-0} * ${epochs:-1} * 512 )) -v c="$cpu" 'BEGIN { printf "%.1f", (c > 0 ? n / c : 0) }')
    printf '| smollm2-135m (llama-finetune %s, full F32) | f32 | - | 512 | %s | %s | %s | %s | %s |\n' "$ver" \
      "$THREADS" "$tps" "$per" "$cpu" $(( $(rss_of "$T/ref.log") / 1024 ))
  elif grep -q 'GGML_ASSERT(!node->view_src' "$T/ref.log"; then
    echo "| llama-finetune $("$LLAMA_FINETUNE" --version 2>&1 | sed -n 's/^version: //p' | head -n 1): aborts in" \
      "ggml_build_backward_expand (the KV-cache write, GGML_OP_SET_ROWS, is an in-place view that needs a" \
      "gradient: every model, not this shape); a build from before the cache was written with" \
      "ggml_set_rows (e.g. eacdeb5bf) runs |"
  else
    echo "| llama-finetune failed: $(tail -n 1 "$T/ref.log") |"
  fi
fi
