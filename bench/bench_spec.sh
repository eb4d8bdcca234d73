#!/bin/sh
# Speculative decoding with prompt lookup (omni run --lookup) against plain decoding on
# a summarise/repeat-the-text workload: a long text, then an instruction, greedy. Each row
# runs the same prompt twice (without and with --lookup), checks the text is the same and
# prints decode tokens/s, the speed-up and the share of guessed tokens the model kept.
#   real: the shared TinyStories-656K (F16): the text is a story, then its first words
#         again ("repeat the text"); the model is too small to copy much, so this row
#         shows what wrong guesses cost more than what right ones save.
#   shape: a SmolLM2-135M-shape random-weight Q8_0 file (omni synth): a long text, then
#         "Summarize:"; its greedy continuation falls into a repeating cycle, which is the
#         case lookup predicts (a stand-in for a reply that repeats text: the weights
#         cost what the real model's cost, the guesses are right as often as a copy's).
set -u
BUILD=${BUILD:-build}
OMNI=${OMNI_BIN:-$BUILD/omni}
DIR=${BENCH_MODELS:-$BUILD/bench-models}
MODELS=${OMNI_MODELS:-../shared/models}
N=${BENCH_SPEC_TG:-128}
T=${BENCH_SPEC_THREADS:-2}
mkdir -p "$DIR"
STORY="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. One day, Lily saw a big red ball under a tree. She ran to the ball and picked it up. Her dog barked and wagged his tail. Lily threw the ball and the dog ran after it. They played all day until the sun went down."
TEXT="The city council met on Tuesday to discuss the new budget for public transport. After a long debate, the members agreed to add three new bus lines, to keep the trams running later at night, and to lower the price of a monthly ticket for students and older people. The mayor said the changes would start in the spring and that the money would come from a tax on parking in the city centre. Some shop owners were worried that fewer people would drive into town, but most residents who spoke at the meeting welcomed the plan."

row() { # label, model, prompt
  out1=$(mktemp); out2=$(mktemp); err1=$(mktemp); err2=$(mktemp)
  "$OMNI" run -m "$2" -p "$3" -n "$N" --temp 0 --raw -t "$T" --verbose >"$out1" 2>"$err1"
  "$OMNI" run -m "$2" -p "$3" -n "$N" --temp 0 --raw -t "$T" --verbose --lookup >"$out2" 2>"$err2"
  a=$(sed -n 's/.*decode \([0-9.]*\) tok\/s.*/\1/p' "$err1"); b=$(sed -n 's/.*decode \([0-9.]*\) tok\/s.*/\1/p' "$err2")
  acc=$(sed -n 's/.*speculative decoding: \([0-9]* of [0-9]*\) guessed.*(\(.*\)).*/\1 (\2)/p' "$err2")
  same=no; cmp -s "$out1" "$out2" && same=yes
  printf '| %s | %s | %s | %s |' "$1" "${a:-n/a}" "${b:-n/a}" "$(awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN{ if (a > 0) printf "%.2fx", b/a; else printf "n/a" }')"
  printf ' %s | %s |\n' "${acc:-n/a}" "$same"
  rm -f "$out1" "$out2" "$err1" "$err2"
}

printf '\n## Speculative decoding: prompt lookup on a summarise/repeat workload (greedy, %s tokens, %s threads)\n\n' "$N" "$T"
printf '| model, workload | decode tok/s | with --lookup | speed-up | guesses kept | same text |\n|---|---|---|---|---|---|\n'
row "TinyStories-656K F16 (real), story + its start again" "$MODELS/llm/TinyStories-656K.f16.gguf" "$STORY
Once upon a time, there was a little girl named Lily. She"
f="$DIR/smollm2-135m-q8_0.gguf"
[ -f "$f" ] || "$OMNI" synth --shape smollm2-135m --type q8_0 -o "$f" >/dev/null 2>&1
if [ -f "$f" ]; then
  row "SmolLM2-135M shape Q8_0 (random weights), text + Summarize:" "$f" "$TEXT

Summarize:"
else
  echo "| SmolLM2-135M shape | synth failed |"
fi
