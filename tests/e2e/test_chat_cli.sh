#!/bin/sh
# omni chat end to end: a scripted conversation through stdin on real model files,
# slash commands, and clear errors for bad input. What the replies say is checked in
# tests/cli/test_cli_output.c: equal to the library's generation for the same messages.
OMNI=${OMNI_BIN:-build/omni}
M=${OMNI_MODELS:-../shared/models}
P=0; F=0
ok() { P=$((P+1)); }
bad() { F=$((F+1)); echo "FAIL: $1"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "expect: at least 9 tests run"

# Two user turns and an exit on a ChatML model: two replies, exit 0.
printf 'Hello there\n안녕하세요, 반가워요\n/exit\n' | "$OMNI" chat -m "$M/synth/synth-smollm2-f16.gguf" --temp 0 -n 6 -t 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] && ok || bad "chat exit status $rc: $(cat "$tmp/err")"
[ "$(wc -l < "$tmp/out")" -ge 2 ] && ok || bad "expected two reply lines, got: $(cat "$tmp/out")"

# Greedy is deterministic: the same conversation gives the same replies.
printf 'Hello there\n안녕하세요, 반가워요\n' | "$OMNI" chat -m "$M/synth/synth-smollm2-f16.gguf" --temp 0 -n 6 -t 2 >"$tmp/out2" 2>/dev/null
cmp -s "$tmp/out" "$tmp/out2" && ok || bad "greedy chat is not deterministic"

# /reset and /system are accepted; a system prompt works.
printf '/system Be brief.\nHi\n/reset\nHi again\n' | "$OMNI" chat -m "$M/synth/synth-smollm2-f16.gguf" --system "You are terse." --temp 0 -n 4 >"$tmp/out3" 2>"$tmp/err3"
[ $? = 0 ] && [ "$(wc -l < "$tmp/out3")" -ge 2 ] && ok || bad "slash commands: $(cat "$tmp/err3")"

# A model without a chat template falls back to ChatML and still answers.
printf 'Once upon a time\n' | "$OMNI" chat -m "$M/llm/stories260K.gguf" --temp 0 -n 8 >"$tmp/out4" 2>"$tmp/err4"
[ $? = 0 ] && [ -s "$tmp/out4" ] && ok || bad "no-template model: $(cat "$tmp/err4")"

# Bad input: missing model, not a model, missing -m.
"$OMNI" chat -m "$tmp/nope.gguf" </dev/null >/dev/null 2>"$tmp/e1"
[ $? != 0 ] && [ "$(wc -l < "$tmp/e1")" -ge 1 ] && grep -q "nope.gguf" "$tmp/e1" && ok || bad "missing file message: $(cat "$tmp/e1")"
echo "this is not a model" > "$tmp/bad.gguf"
"$OMNI" chat -m "$tmp/bad.gguf" </dev/null >/dev/null 2>"$tmp/e2"
[ $? != 0 ] && [ -s "$tmp/e2" ] && ok || bad "corrupt file must fail with a message"
"$OMNI" chat </dev/null >/dev/null 2>"$tmp/e3"
[ $? != 0 ] && grep -q -- "-m MODEL" "$tmp/e3" && ok || bad "missing -m must say what to do"
"$OMNI" chat --help | grep -q "usage: omni chat" && ok || bad "--help"

echo "$P passed, $F failed"
[ $F = 0 ]
