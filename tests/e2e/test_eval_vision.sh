#!/bin/sh
# End-to-end check of `omni eval-vision` against llama.cpp's golden numbers
# (../shared/golden/vision): embedding statistics within 2e-2 (the JPEG too), top-5
# logits within 5e-2, top-1 and the first greedy token equal where the reference's margin
# exceeds 0.05 (the golden has no margins for later steps; a later difference is printed);
# plus the command's errors (missing image, wrong encoder, WebP, bad option).
BIN=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
GOLDEN=${OMNI_GOLDEN:-../shared/golden}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P=0; F=0
ok() { P=$((P+1)); }
fail() { F=$((F+1)); echo "FAIL: $*"; }
echo "expect: at least 11 tests run"
MM="$MODELS/synth/synth-llava-mmproj-f16.gguf"
LLM="$MODELS/synth/synth-smollm2-f16.gguf"
G="$GOLDEN/vision/synth-llava-mmproj-f16.jsonl"

if "$BIN" eval-vision --mmproj "$MM" -m "$LLM" -t 2 "$MODELS"/images/logo112.png "$MODELS"/images/logo112.jpg \
     "$MODELS"/images/plasma112.png "$MODELS"/images/text320x200.png >"$T/out.jsonl" 2>"$T/err"; then
  python3 - "$T/out.jsonl" "$G" >"$T/check" <<'PY'
import json, sys
ours = {j["image"]: j for j in map(json.loads, open(sys.argv[1]))}
for line in open(sys.argv[2]):
    g = json.loads(line); o = ours.get(g["image"]); name = g["image"]
    if o is None: print("FAIL", name, "missing"); continue
    tol = 2e-2  # the README's bound for every image (JPEG measured 1.1e-3)
    bad = []
    for k in ("n_image_pos", "n_embd", "prefix_tokens", "suffix_tokens"):
        if o[k] != g[k]: bad.append(f"{k} {o[k]} != {g[k]}")
    for k in ("mean", "rms"):
        if abs(o[k] - g[k]) > tol: bad.append(f"{k} {o[k]} vs {g[k]}")
    for k in ("first_row", "last_row"):
        d = max(abs(a - b) for a, b in zip(o[k], g[k]))
        if len(o[k]) != len(g[k]) or d > tol: bad.append(f"{k} off by {d}")
    gl = dict((t, l) for t, l in g["top5"]); ol = dict((t, l) for t, l in o["top5"])
    for t, l in g["top5"]:
        if t not in ol or abs(ol[t] - l) > 5e-2: bad.append(f"logit of {t}: {ol.get(t)} vs {l}")
    margin = g["top5"][0][1] - g["top5"][1][1]
    if margin > 0.05 and o["top5"][0][0] != g["top5"][0][0]: bad.append("top-1 differs")
    if margin > 0.05 and o["greedy"][:1] != g["greedy"][:1]: bad.append("first greedy token differs")
    if o["greedy"] != g["greedy"]: print("note", name, "greedy differs after the first token")
    print(("FAIL " + name + ": " + "; ".join(bad)) if bad else ("ok " + name))
PY
  while read -r status rest; do
    case "$status" in ok) ok ;; FAIL) fail "eval-vision $rest" ;; *) echo "$status $rest" ;; esac
  done <"$T/check"
  [ "$(grep -c '^ok' "$T/check")" = 4 ] || fail "expected 4 images checked: $(cat "$T/check")"
else
  fail "eval-vision: $(tail -n 1 "$T/err")"
fi

# errors: one clear line, non-zero exit, no crash
expect_error() { # description, grep pattern, command...
  d=$1; pat=$2; shift 2
  "$@" >"$T/o" 2>"$T/e"; rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi -- "$pat" "$T/e"; then ok; else fail "$d (exit $rc): $(cat "$T/e")"; fi
}
expect_error "missing image" "no/such.png" "$BIN" eval-vision --mmproj "$MM" -m "$LLM" no/such.png
expect_error "LLM given as encoder" "clip" "$BIN" eval-vision --mmproj "$LLM" -m "$LLM" "$MODELS/images/logo112.png"
printf 'RIFF\044\0\0\0WEBPVP8 \030\0\0\0' >"$T/x.webp"
expect_error "webp refused by name" "webp" "$BIN" eval-vision --mmproj "$MM" -m "$LLM" "$T/x.webp"
head -c 3000 "$MODELS/images/logo112.png" >"$T/cut.png"
expect_error "truncated png" "cut.png" "$BIN" eval-vision --mmproj "$MM" -m "$LLM" "$T/cut.png"
expect_error "no image" "image" "$BIN" eval-vision --mmproj "$MM" -m "$LLM"
expect_error "bad option" "--frobnicate" "$BIN" eval-vision --frobnicate
"$BIN" eval-vision --help | grep -q "mmproj" && ok || fail "--help"

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
