#!/bin/sh
# `omni bench-voice` end to end: espeak-made English and Korean questions played in real
# time through the voice loop with the shared Silero VAD, micro Whisper and synth SmolLM2;
# checks the JSON schema and that the stage times add up, the text report, the energy-VAD
# fallback note, --no-speculate and one-line errors; then the pause set (a sentence, 400 ms
# of silence, the rest) with Whisper models that say what they are told (tests/rig_whisper.py):
# the end-of-turn rule waits through the pause where the fixed silence cuts the user off,
# and bench-voice counts that cut-off. With --tts-model/--tts-mmproj (a random-weight
# tiny-qwen3tts pair) the reply is spoken by the neural voice: the same JSON, and the text
# report names the voice, gives the CPU per stage and median/p90 per language.
OMNI=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
P=0; F=0
ok()   { P=$((P+1)); echo "ok   $1"; }
bad()  { F=$((F+1)); echo "FAIL $1"; [ -f "$T/err" ] && sed 's/^/     /' "$T/err"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

LM=$MODELS/synth/synth-smollm2-f16.gguf
WM=$MODELS/synth/synth-whisper-micro-f16.bin
VM=$MODELS/vad/for-tests-silero-v6.2.0-ggml.bin
echo "expect: at least 21 tests run"
# ../shared ships the models and scripts/setup.sh installs the tools: their absence fails
for x in "$OMNI" "$LM" "$WM" "$VM"; do [ -e "$x" ] || { echo "FAIL missing $x"; echo "0 passed, 1 failed"; exit 1; }; done
for x in python3 espeak-ng sox; do
  command -v $x >/dev/null || { echo "FAIL $x missing (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM

# questions with half a second of silence around them (the loop needs the silence to end a turn)
sox -q -n -r 22050 -c 1 -b 16 "$T/sil.wav" trim 0 0.5
espeak-ng -v en -w "$T/en_raw.wav" "What time is it in Seoul?" &&
espeak-ng -v ko -w "$T/ko_raw.wav" "서울은 지금 몇 시예요?" &&
sox "$T/sil.wav" "$T/en_raw.wav" "$T/sil.wav" "$T/en.wav" &&
sox "$T/sil.wav" "$T/ko_raw.wav" "$T/sil.wav" "$T/ko.wav"
check "espeak-ng makes the test questions" "[ -s '$T/en.wav' ] && [ -s '$T/ko.wav' ]"

"$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VM" --language auto "$T/en.wav" "$T/ko.wav" --json \
  > "$T/out.json" 2> "$T/err"
check "bench-voice --json exits 0" "[ $? -eq 0 ]"
cat > "$T/schema.py" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert set(o) == {"files", "median_ms", "p90_ms", "stages", "false_cutoffs"}, sorted(o)
assert isinstance(o["false_cutoffs"], int) and o["false_cutoffs"] >= 0
keys = {"vad_ms", "asr_ms", "llm_first_token_ms", "tts_first_chunk_ms"}
assert set(o["stages"]) == keys, sorted(o["stages"])
assert len(o["files"]) == 2
for f in o["files"]:
    assert set(f) == {"file", "total_ms", "stages"}, sorted(f)
    assert set(f["stages"]) == keys
    s = f["stages"]
    assert abs(sum(s.values()) - f["total_ms"]) < 1.0, (s, f["total_ms"])
    # the turn cannot end before some silence (120 ms after a sentence end) has been heard,
    # nor hang for seconds
    assert 50 <= s["vad_ms"] <= 3000, s
    assert 0 < f["total_ms"] < 20000
totals = sorted(f["total_ms"] for f in o["files"])
assert totals[0] <= o["median_ms"] <= totals[-1] and o["p90_ms"] >= o["median_ms"]
assert o["files"][0]["file"].endswith("en.wav") and o["files"][1]["file"].endswith("ko.wav")
PY
check "JSON has the documented schema and consistent stages" "python3 '$T/schema.py' '$T/out.json' 2> '$T/err'"

"$OMNI" bench-voice -m "$LM" --asr-model "$WM" --max-tokens 4 --no-speculate "$T/en.wav" > "$T/out.txt" 2> "$T/err"
check "without --vad-model it runs on the energy detector" "[ $? -eq 0 ] && grep -q 'loudness threshold' '$T/err'"
check "text report has a median line" "grep -q '^median .* ms, p90' '$T/out.txt'"
check "--no-speculate answers only after the turn is confirmed" \
  "grep -q '(0 answered speculatively)' '$T/out.txt' && grep -q ' plain ' '$T/out.txt'"

"$OMNI" bench-voice --help > "$T/help" 2>&1
check "--help explains the stages, speculation and the end-of-speech definition" \
  "grep -q 'llm_first_token_ms' '$T/help' && grep -q 'End of speech' '$T/help' && grep -q 'no-speculate' '$T/help'"

"$OMNI" bench-voice -m "$LM" "$T/en.wav" > /dev/null 2> "$T/err"
check "missing --asr-model: one-line error, exit 1" "[ $? -eq 1 ] && grep -q 'asr-model' '$T/err'"
"$OMNI" bench-voice -m "$LM" --asr-model "$WM" "$T/nope.wav" > /dev/null 2> "$T/err"
check "missing file: error names it" "[ $? -ne 0 ] && grep -q 'nope.wav' '$T/err'"
"$OMNI" bench-voice -m "$LM" --asr-model "$WM" "$T/sil.wav" > /dev/null 2> "$T/err"
check "a file without speech is an error, not a hang" "[ $? -ne 0 ] && grep -q 'no speech' '$T/err'"

# ---- the neural voice ----
"$OMNI" synth --shape tiny-qwen3tts --type f32 -o "$T/talker.gguf" --mmproj "$T/mmproj.gguf" 2> "$T/err"
check "omni synth makes a tiny Qwen3-TTS pair" "[ -s '$T/talker.gguf' ] && [ -s '$T/mmproj.gguf' ]"
"$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VM" --tts-model "$T/talker.gguf" \
  --tts-mmproj "$T/mmproj.gguf" --language auto --fresh "$T/en.wav" "$T/ko.wav" --json > "$T/nv.json" 2> "$T/err"
check "--tts-model: the same JSON schema, stages adding up" "python3 '$T/schema.py' '$T/nv.json' 2> '$T/err'"
"$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VM" --tts-model "$T/talker.gguf" \
  --tts-mmproj "$T/mmproj.gguf" --language en "$T/en.wav" "$T/en.wav" > "$T/nv.txt" 2> "$T/err"
check "--tts-model: the text report names the voice and the CPU per stage" \
  "grep -q '^voice: qwen3-tts; median process CPU per stage: asr [0-9.]* ms, llm first clause [0-9.]* ms, tts first chunk [0-9.]* ms' '$T/nv.txt' && grep -q 'language en, CPU: asr' '$T/nv.txt'"
check "--tts-model: median/p90 per language" "grep -q '^language en: median [0-9.]* ms, p90 [0-9.]* ms over 2 file(s); false cut-offs 0' '$T/nv.txt'"
"$OMNI" bench-voice -m "$LM" --asr-model "$WM" --tts-model "$T/talker.gguf" "$T/en.wav" > /dev/null 2> "$T/err"
check "--tts-model without --tts-mmproj: one-line error, exit 1" "[ $? -eq 1 ] && grep -q 'go together' '$T/err'"

# ---- the pause set ----
# speech without espeak's own leading/trailing quiet, so the pause is the 400 ms put there
trim() { sox "$1" "$2" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse; }
sox -q -n -r 22050 -c 1 -b 16 "$T/p400.wav" trim 0 0.4
pause_file() { # out lang first rest
  espeak-ng -v "$2" -w "$T/a.wav" "$3" && espeak-ng -v "$2" -w "$T/b.wav" "$4" && trim "$T/a.wav" "$T/at.wav" &&
    trim "$T/b.wav" "$T/bt.wav" && sox "$T/sil.wav" "$T/at.wav" "$T/p400.wav" "$T/bt.wav" "$T/sil.wav" "$T/sil.wav" "$1"
}
pause_file "$T/en_pause.wav" en "I went to the store and" "bought some milk."
pause_file "$T/ko_pause.wav" ko "어제 친구를 만나서" "영화를 봤어요."
check "espeak-ng and sox make the pause set" "[ -s '$T/en_pause.wav' ] && [ -s '$T/ko_pause.wav' ]"
python3 tests/rig_whisper.py "$WM" "$T/and.bin" "I went to the store and" 2> "$T/err" &&
python3 tests/rig_whisper.py "$WM" "$T/ko_and.bin" "어제 친구를 만나서" 2>> "$T/err" &&
python3 tests/rig_whisper.py "$WM" "$T/q.bin" "What time is it in Seoul?" 2>> "$T/err"
check "tests/rig_whisper.py makes the models" "[ -s '$T/and.bin' ] && [ -s '$T/ko_and.bin' ] && [ -s '$T/q.bin' ]"
cutoffs() { python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["false_cutoffs"], len(o["files"]))' "$1"; }

"$OMNI" bench-voice -m "$LM" --asr-model "$T/and.bin" --vad-model "$VM" --language en "$T/en_pause.wav" --json \
  > "$T/pause.json" 2> "$T/err"
check "English pause after 'and': the turn waits, no false cut-off" "[ \"\$(cutoffs '$T/pause.json')\" = '0 1' ]"
"$OMNI" bench-voice -m "$LM" --asr-model "$T/and.bin" --vad-model "$VM" --language en --fixed-silence \
  "$T/en_pause.wav" --json > "$T/fixed.json" 2> "$T/err"
check "--fixed-silence: the 400 ms pause cuts the user off and it is counted" \
  "[ \"\$(cutoffs '$T/fixed.json')\" = '1 1' ]"
"$OMNI" bench-voice -m "$LM" --asr-model "$T/ko_and.bin" --vad-model "$VM" --language ko "$T/ko_pause.wav" --json \
  > "$T/ko.json" 2> "$T/err"
check "Korean pause after -서: no false cut-off" "[ \"\$(cutoffs '$T/ko.json')\" = '0 1' ]"
"$OMNI" bench-voice -m "$LM" --asr-model "$T/q.bin" --vad-model "$VM" --language en "$T/en.wav" > "$T/q.txt" 2> "$T/err"
# (a pause between two words is judged too when the transcript catches up within it, which
# depends on how busy the machine is: only the sentence end is required)
check "a finished question is judged a sentence end (text report)" \
  "grep -Eq 'judged by their transcript: [1-9][0-9]* ended a sentence' '$T/q.txt' && grep -q 'false cut-offs 0' '$T/q.txt'"

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
