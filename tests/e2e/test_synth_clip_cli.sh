#!/bin/sh
# `omni synth` for image encoders: the help names the clip/siglip shapes and
# --proj-width, bad requests fail with one clear line, and when LLAMA_LLAVA_CLI names
# llama.cpp's llava-cli, a full-size CLIP ViT-L/14-336 file written with the paired
# LLM's width loads and encodes there too (slow: only with the reference present).
BIN=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P=0; F=0
ok() { P=$((P+1)); }
fail() { F=$((F+1)); echo "FAIL: $*"; }
# one more with LLAMA_LLAVA_CLI (an outside binary, see the header)
echo "expect: at least 5 tests run"

"$BIN" synth --help >"$T/help" 2>&1
if grep -q clip-vit-l-14-336 "$T/help" && grep -q siglip-so400m-14-384 "$T/help" && grep -q -- --proj-width "$T/help"; then ok
else fail "help lacks the encoder shapes or --proj-width"; fi

expect_fail() { # description, pattern, args...
  d=$1; pat=$2; shift 2
  if "$BIN" synth "$@" >"$T/out" 2>"$T/err"; then fail "$d: exit 0"; return; fi
  if [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "$pat" "$T/err"; then ok; else fail "$d: $(cat "$T/err")"; fi
  [ -e "$T/x.gguf" ] && fail "$d: wrote a file"
}
expect_fail "q8_0 encoder" "f16 only" --shape clip-vit-l-14-336 --type q8_0 -o "$T/x.gguf"
expect_fail "negative width" "projector width" --shape siglip-so400m-14-384 --type f16 --proj-width -3 -o "$T/x.gguf"
expect_fail "unknown shape" "unknown shape" --shape clip-vit-xx --type f16 -o "$T/x.gguf"
expect_fail "unwritable path" "" --shape clip-vit-l-14-336 --type f16 -o /nonexistent/dir/x.gguf

if [ -n "${LLAMA_LLAVA_CLI:-}" ]; then
  LLM="$MODELS/synth/synth-smollm2-f16.gguf"
  if "$BIN" synth --shape clip-vit-l-14-336 --type f16 --proj-width 64 -o "$T/clip.gguf" 2>"$T/err" &&
     "$LLAMA_LLAVA_CLI" -m "$LLM" --mmproj "$T/clip.gguf" --image "$MODELS/images/logo112.png" -p hi -n 1 -t 2 \
       --temp 0 >"$T/ref" 2>&1 && grep -q "image encoded in" "$T/ref"; then ok
  else fail "llava-cli on the synth CLIP file: $(tail -n 3 "$T/ref" "$T/err" 2>/dev/null)"; fi
fi
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
