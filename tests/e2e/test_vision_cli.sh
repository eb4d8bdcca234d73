#!/bin/sh
# End-to-end checks of images in `omni run --mmproj --image` and `omni chat --mmproj`
# (/image) on the synthetic LLaVA-layout encoder and SmolLM2 model: greedy output is
# deterministic, different images give different output, and bad inputs end in one
# clear error line (non-zero exit for run, a message and a live chat for chat). What the
# replies say is checked in tests/cli/test_cli_output.c: `run --image` and chat with
# /image equal the library's generation for the same prompt and picture.
BIN=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P=0; F=0
ok() { P=$((P+1)); }
fail() { F=$((F+1)); echo "FAIL: $*"; }
echo "expect: at least 19 tests run"
MM="$MODELS/synth/synth-llava-mmproj-f16.gguf"
LLM="$MODELS/synth/synth-smollm2-f16.gguf"
IMG="$MODELS/images"
run() { "$BIN" run -m "$LLM" --mmproj "$MM" -t 2 --temp 0 -n 12 "$@" 2>"$T/err"; }

a=$(run --image "$IMG/logo112.png" -p "Describe the image.") || fail "run logo: $(cat "$T/err")"
b=$(run --image "$IMG/logo112.png" -p "Describe the image.")
c=$(run --image "$IMG/plasma112.png" -p "Describe the image.")
d=$(run --image "$IMG/text320x200.png" -p "Describe the image.")
n=$(run -p "Describe the image.")
case "$a" in "Describe the image."?*) ok ;; *) fail "run output does not continue the prompt: '$a'" ;; esac
[ -n "$a" ] && [ "$a" = "$b" ] && ok || fail "greedy run not deterministic: '$a' vs '$b'"
[ "$a" != "$c" ] && [ "$a" != "$d" ] && [ "$c" != "$d" ] && ok || fail "different images, same output: '$a' / '$c' / '$d'"
[ "$a" != "$n" ] && ok || fail "the image changed nothing: '$a' vs '$n'"
# two images differ from one
e=$(run --image "$IMG/logo112.png" --image "$IMG/plasma112.png" -p "Describe the image.") || fail "run two images: $(cat "$T/err")"
[ -n "$e" ] && [ "$e" != "$a" ] && ok || fail "two images gave the one-image output"

# chat: /image attaches to the next message; the same conversation twice gives the same text
chat() { "$BIN" chat -m "$LLM" --mmproj "$MM" -t 2 --temp 0 -n 12 "$@"; }
printf '/image %s\nWhat is this?\nAnd now?\n' "$IMG/logo112.png" | chat >"$T/c1" 2>"$T/ce1" || fail "chat: $(cat "$T/ce1")"
printf '/image %s\nWhat is this?\nAnd now?\n' "$IMG/logo112.png" | chat >"$T/c2" 2>/dev/null
printf '/image %s\nWhat is this?\nAnd now?\n' "$IMG/plasma112.png" | chat >"$T/c3" 2>/dev/null
printf 'What is this?\nAnd now?\n' | chat >"$T/c4" 2>/dev/null
[ "$(wc -l <"$T/c1")" -eq 2 ] && [ -s "$T/c1" ] && ok || fail "chat: expected two replies: $(cat "$T/c1")"
cmp -s "$T/c1" "$T/c2" && ok || fail "chat with an image not deterministic"
! cmp -s "$T/c1" "$T/c3" && ! cmp -s "$T/c1" "$T/c4" && ok || fail "chat: the image made no difference"
first=$(head -n 1 "$T/c1")
[ -n "$first" ] && ok || fail "chat: empty first reply"

# chat errors keep the chat alive and say what is wrong
printf '/image %s/no/such.png\n/image\nhello\n' "$T" | chat >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 0 ] && grep -q "no/such.png" "$T/e" && grep -q "needs a file name" "$T/e" && [ "$(wc -l <"$T/o")" -eq 1 ] && ok \
  || fail "chat /image missing file (rc $rc): $(cat "$T/e")"
printf 'junk' >"$T/bad.png"
printf '/image %s\nhello\n' "$T/bad.png" | chat >"$T/o" 2>"$T/e"
grep -q "bad.png" "$T/e" && ok || fail "chat /image corrupt file: $(cat "$T/e")"
printf '/image %s\nhello\n' "$IMG/logo112.png" | "$BIN" chat -m "$LLM" -n 4 >"$T/o" 2>"$T/e"
grep -q -- "--mmproj" "$T/e" && ok || fail "chat /image without --mmproj: $(cat "$T/e")"

# run errors: one clear line, non-zero exit, no crash
expect_error() { # description, grep pattern, command...
  dsc=$1; pat=$2; shift 2
  "$@" >"$T/o" 2>"$T/e"; rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi -- "$pat" "$T/e" && [ "$(grep -c . "$T/e")" -le 2 ]; then ok
  else fail "$dsc (exit $rc): $(cat "$T/e")"; fi
}
expect_error "run: missing image" "no/such.png" "$BIN" run -m "$LLM" --mmproj "$MM" --image no/such.png -p hi
expect_error "run: corrupt image" "bad.png" "$BIN" run -m "$LLM" --mmproj "$MM" --image "$T/bad.png" -p hi
expect_error "run: image without encoder" "mmproj" "$BIN" run -m "$LLM" --image "$IMG/logo112.png" -p hi
expect_error "run: LLM as encoder" "clip" "$BIN" run -m "$LLM" --mmproj "$LLM" --image "$IMG/logo112.png" -p hi
expect_error "run: missing encoder file" "nope.gguf" "$BIN" run -m "$LLM" --mmproj "$T/nope.gguf" --image "$IMG/logo112.png" -p hi
"$BIN" run --help | grep -q -- "--image" && ok || fail "run --help does not explain --image"
"$BIN" chat --help | grep -q -- "/image" && ok || fail "chat --help does not explain /image"

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
