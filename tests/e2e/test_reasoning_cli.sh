#!/bin/sh
# `omni run` / `omni chat` with a thinking model (the random-weight Qwen3 file, Qwen3's real
# template): a prompt that opens "<think>" (as DeepSeek-R1-style templates do) makes all
# that follows thoughts. Piped, only the answer is written (here: nothing after the
# prompt); --show-reasoning writes the thoughts (the raw continuation, trimmed) and a blank
# line; --raw writes the text as generated. Also the flags in --help and their errors.
OMNI=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
M=$MODELS/synth/synth-qwen3-f16.gguf
P=0; F=0
ok()  { P=$((P+1)); echo "ok   $1"; }
bad() { F=$((F+1)); echo "FAIL $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

echo "expect: at least 7 tests run"
for x in "$OMNI" "$M"; do [ -e "$x" ] || { echo "FAIL missing $x"; echo "0 passed, 1 failed"; exit 1; }; done
command -v python3 >/dev/null || { echo "FAIL python3 missing (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
PROMPT=$(printf '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nx')
PROMPT=${PROMPT%x}
printf '%s' "$PROMPT" > "$T/prompt"

"$OMNI" run -m "$M" -p "$PROMPT" --temp 0 -n 8 >"$T/hide" 2>"$T/err"; rc=$?
check "piped: thoughts hidden, only the prompt is echoed" '[ $rc -eq 0 ] && python3 -c "import sys; o=open(sys.argv[1]).read(); p=open(sys.argv[2]).read(); sys.exit(0 if o == p + chr(10) else 1)" "$T/hide" "$T/prompt"'
"$OMNI" run -m "$M" -p "$PROMPT" --temp 0 -n 8 --raw >"$T/raw" 2>"$T/err"
"$OMNI" run -m "$M" -p "$PROMPT" --temp 0 -n 8 --show-reasoning >"$T/show" 2>"$T/err"; rc=$?
check "--show-reasoning writes the thoughts, then a blank line" '[ $rc -eq 0 ] && python3 - "$T/raw" "$T/show" "$T/prompt" <<PY
import sys
raw, show, p = (open(f).read() for f in sys.argv[1:4])
assert raw.startswith(p) and show.startswith(p)
thought = raw[len(p):].rstrip("\n").strip(" \n\t\r")
assert thought, "the model wrote something"
assert show[len(p):] == thought + "\n\n\n", repr(show[len(p):])
PY'
check "--raw keeps the text as generated" 'python3 -c "import sys; o=open(sys.argv[1]).read(); p=open(sys.argv[2]).read(); sys.exit(0 if o.startswith(p) and len(o) > len(p) + 1 else 1)" "$T/raw" "$T/prompt"'
printf 'Hi\n/exit\n' | "$OMNI" chat -m "$M" --temp 0 -n 6 --no-think --reasoning-effort high >"$T/chat" 2>"$T/err"; rc=$?
check "chat with --no-think answers" '[ $rc -eq 0 ] && [ -s "$T/chat" ]'
"$OMNI" chat -m "$M" --reasoning-effort extreme </dev/null >/dev/null 2>"$T/err"; rc=$?
check "a bad --reasoning-effort is refused" '[ $rc -ne 0 ] && grep -q "low, medium or high" "$T/err"'
"$OMNI" chat --help >"$T/h1"; "$OMNI" run --help >"$T/h2"
check "chat --help documents the reasoning flags" 'grep -q -- "--show-reasoning" "$T/h1" && grep -q -- "--hide-reasoning" "$T/h1" && grep -q -- "--no-think" "$T/h1"'
check "run --help documents them" 'grep -q -- "--show-reasoning" "$T/h2" && grep -q -- "--raw" "$T/h2"'

echo "$P passed, $F failed"
[ $F -eq 0 ]
