#!/bin/sh
# `omni eval-tts` against llama.cpp's llama-tts (tests/golden/tts, made as its README says):
# on the random-weight pair that `omni synth --shape tiny-qwen3tts` writes (checked against
# the hashes the goldens were made from), English and Korean, greedy: the same 16 codes in
# every frame, the same number of samples, and the samples the golden keeps (the first 6
# frames) within 5e-3; plus the command's errors. And the neural voice behind `omni speak`:
# a preset and a built-in speaker speak with it, its voices are listed, espeak-ng stays the
# fallback for a language the model lacks; --instructions change the neural voice's audio
# and are ignored, with a note, where the voice cannot take them.
BIN=${OMNI_BIN:-build/omni}
G=tests/golden/tts
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P=0; F=0
ok() { P=$((P+1)); }
fail() { F=$((F+1)); echo "FAIL: $*"; }
echo "expect: at least 18 tests run"

if "$BIN" synth --shape tiny-qwen3tts --type f32 -o "$T/talker.gguf" --mmproj "$T/mmproj.gguf" 2>"$T/err"; then ok
else fail "synth: $(cat "$T/err")"; fi
(cd "$T" && sha256sum talker.gguf mmproj.gguf) >"$T/sums"
if cmp -s "$T/sums" "$G/SHA256SUMS"; then ok; else fail "the synthesized pair differs from the one the goldens were made from: $(cat "$T/sums")"; fi

while IFS='	' read -r name lang n text; do
  if "$BIN" eval-tts -m "$T/talker.gguf" --mmproj "$T/mmproj.gguf" --lang "$lang" -n "$n" -p "$text" --json -t 2 \
       >"$T/$name.json" 2>"$T/err"; then
    if python3 - "$T/$name.json" "$G/$name.codes" "$G/$name.f32" >"$T/check" 2>&1 <<'PY'
import json, struct, sys
o = json.load(open(sys.argv[1]))
lines = [l.split() for l in open(sys.argv[2]) if l.strip()]
ref = [[int(x) for x in l] for l in lines]
raw = open(sys.argv[3], "rb").read()
pcm = struct.unpack("<%df" % (len(raw) // 4), raw)
bad = []
if o.get("sample_rate") != 24000: bad.append("sample_rate %r" % o.get("sample_rate"))
if len(o["codes"]) != len(ref): bad.append("%d frames, llama-tts %d" % (len(o["codes"]), len(ref)))
for i, (a, b) in enumerate(zip(o["codes"], ref)):
    if a != b: bad.append("frame %d: %s vs %s" % (i, a, b)); break
if len(o["samples"]) != 1920 * len(ref): bad.append("%d samples for %d frames" % (len(o["samples"]), len(ref)))
d = max(abs(a - b) for a, b in zip(o["samples"], pcm)) if pcm else 1
if len(o["samples"]) < len(pcm) or d > 5e-3: bad.append("samples differ by %g" % d)
if any(not -1 <= x <= 1 for x in o["samples"]): bad.append("a sample outside -1..1")
print("FAIL " + "; ".join(bad) if bad else "ok max sample difference %g over %d samples" % (d, len(pcm)))
PY
    then :; fi
    case "$(cat "$T/check")" in ok*) ok; echo "$name: $(cat "$T/check")" ;; *) fail "$name: $(cat "$T/check")" ;; esac
  else
    fail "eval-tts $name: $(tail -n 1 "$T/err")"
  fi
done <"$G/cases.tsv"

# errors: one clear line, non-zero exit, no crash
expect_error() { # description, grep pattern, command...
  d=$1; pat=$2; shift 2
  "$@" >"$T/o" 2>"$T/e"; rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qi -- "$pat" "$T/e"; then ok; else fail "$d (exit $rc): $(cat "$T/e")"; fi
}
expect_error "no mmproj" "mmproj" "$BIN" eval-tts -m "$T/talker.gguf" -p hi --json
expect_error "unknown language" "language" "$BIN" eval-tts -m "$T/talker.gguf" --mmproj "$T/mmproj.gguf" --lang xx -p hi --json
expect_error "talker as mmproj" "mmproj" "$BIN" eval-tts -m "$T/talker.gguf" --mmproj "$T/talker.gguf" -p hi --json
expect_error "mmproj as talker" "qwen3tts" "$BIN" eval-tts -m "$T/mmproj.gguf" --mmproj "$T/mmproj.gguf" -p hi --json
expect_error "no frames" "-n" "$BIN" eval-tts -m "$T/talker.gguf" --mmproj "$T/mmproj.gguf" -n 0 -p hi --json

# the neural voice behind omni speak
NV="--tts-model $T/talker.gguf --tts-mmproj $T/mmproj.gguf"
if "$BIN" speak $NV --list-voices >"$T/voices.json" 2>"$T/err" &&
   python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["voices"]; b={x["id"]:x["backend"] for x in v}; sys.exit(0 if b.get("alloy")=="qwen3-tts" and b.get("sohee")=="qwen3-tts" else 1)' "$T/voices.json"
then ok; else fail "speak --list-voices with a neural voice: $(cat "$T/err" "$T/voices.json" | head -c 300)"; fi
for v in sage sohee; do
  if "$BIN" speak $NV --voice "$v" --lang ko -o "$T/$v.wav" "안녕하세요." 2>"$T/err" &&
     python3 -c 'import sys,wave; w=wave.open(sys.argv[1]); sys.exit(0 if w.getframerate()==24000 and w.getnframes()>=1920 and w.getnframes()%1920==0 else 1)' "$T/$v.wav"
  then ok; else fail "speak --voice $v with the neural voice: $(cat "$T/err")"; fi
done
# Greek is not a Qwen3-TTS language: espeak-ng reads it (its samples are not whole 1920-sample frames' worth by design)
if "$BIN" speak $NV --voice alloy -o "$T/el.wav" "Καλημέρα" 2>"$T/err" && [ -s "$T/el.wav" ]; then ok; else fail "espeak fallback: $(cat "$T/err")"; fi
# a style instruction: the tiny pair has built-in speakers (CustomVoice-like), so it takes one
"$BIN" speak $NV --voice ryan -o "$T/plain.wav" "Good morning to you." 2>"$T/err" &&
  "$BIN" speak $NV --voice ryan --instructions "Speak slowly and warmly." -o "$T/styled.wav" "Good morning to you." \
    2>"$T/err2"
if [ -s "$T/plain.wav" ] && [ -s "$T/styled.wav" ] && ! cmp -s "$T/plain.wav" "$T/styled.wav" && ! grep -q note "$T/err2"
then ok; else fail "speak --instructions with the neural voice: $(cat "$T/err" "$T/err2")"; fi
if "$BIN" speak --voice alloy --instructions "Whisper it." -o "$T/es.wav" "Hello." 2>"$T/err" && [ -s "$T/es.wav" ] &&
   grep -q "does not take instructions" "$T/err"
then ok; else fail "speak --instructions on espeak-ng: $(cat "$T/err")"; fi
expect_error "half a neural voice" "go together" "$BIN" speak --tts-model "$T/talker.gguf" -o "$T/x.wav" hi
# the code predictor requantized to Q8_0 at load still speaks; an unknown type is refused
if "$BIN" speak $NV --tts-quant q8_0 --voice alloy -o "$T/q8.wav" "Hello world." 2>"$T/err" && [ -s "$T/q8.wav" ]
then ok; else fail "speak --tts-quant q8_0: $(cat "$T/err")"; fi
expect_error "unknown voice quantization" "only q8_0" "$BIN" speak $NV --tts-quant q3_k -o "$T/x.wav" hi

echo "$P passed, $F failed"
[ "$F" = 0 ]
