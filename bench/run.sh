#!/bin/sh
# `make bench`: one table of omni's speed on full-size random-weight models.
# Model files are made once with `omni synth` into $BENCH_MODELS (default build/bench-models).
# When LLAMA_BENCH names a llama-bench binary, it runs on the same files in the same
# run and the ratio omni/llama.cpp is printed. Other benchmark programs (bench/bench_*.c)
# run afterwards and print their own sections; so does bench_server.sh (LLAMA_SERVER).
# bench_spec.sh: decode with and without prompt lookup on a summarise/repeat workload.
# bench_embed: embedding inputs/s (bge-small shape), vs LLAMA_EMBEDDING (llama-embedding) when set.
set -u
BUILD=${BUILD:-build}
OMNI=${OMNI_BIN:-$BUILD/omni}
DIR=${BENCH_MODELS:-$BUILD/bench-models}
PP=${BENCH_PP:-128}
TG=${BENCH_TG:-64}
THREADS=${BENCH_THREADS:-"1 2"}
# the current families at their real shapes; the MoE row is Qwen3-30B-A3B's expert layout
# (128 experts, 8 used) in 4 of its 48 layers, since the whole file (17 GiB) does not fit here
MODELS=${BENCH_SHAPES:-"smollm2-135m:q8_0 qwen2.5-0.5b:q4_k_m llama-3.2-1b:q4_k_m qwen3-0.6b:q4_k_m qwen3-1.7b:q4_k_m gemma3-1b:q4_k_m qwen3.5-2b:q4_k_m qwen3-30b-a3b-l4:q4_k_m"}
mkdir -p "$DIR"

json_field() { # json, key → number
  echo "$1" | sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p"
}

printf '\n## LLM prefill (pp%s) and decode (tg%s), tokens/s\n\n' "$PP" "$TG"
# peak RSS from outside (/usr/bin/time), next to the README's bound: file + KV cache + 64 MiB
printf '| model | type | size MiB | threads | prefill | decode | peak RSS MiB | RSS bound MiB |'
[ -n "${LLAMA_BENCH:-}" ] && printf ' llama.cpp prefill | llama.cpp decode | ratio pp | ratio tg |'
printf '\n|---|---|---|---|---|---|---|---|'
[ -n "${LLAMA_BENCH:-}" ] && printf -- '---|---|---|---|'
printf '\n'
for m in $MODELS; do
  shape=${m%%:*}; type=${m#*:}
  f="$DIR/$shape-$type.gguf"
  if [ ! -f "$f" ]; then
    "$OMNI" synth --shape "$shape" --type "$type" -o "$f" >/dev/null 2>&1 || { echo "| $shape | $type | synth failed |"; continue; }
  fi
  size=$(( $(wc -c < "$f") / 1048576 ))
  for t in $THREADS; do
    tmp=$(mktemp)
    # -d 0: decode from an empty context, as llama-bench's tg test does (without it omni's
    # decode continues after the prompt, 128 positions deeper than the reference's)
    out=$(/usr/bin/time -f '%M' -o "$tmp" "$OMNI" bench -m "$f" -p "$PP" -n "$TG" -d 0 -t "$t" --json 2>/dev/null | tail -n 1)
    rss=$(( $(tail -n 1 "$tmp" 2>/dev/null || echo 0) / 1024 )); rm -f "$tmp"
    pp=$(json_field "$out" pp_tokens_per_s); tg=$(json_field "$out" tg_tokens_per_s)
    bound=$(( $(json_field "$out" rss_bound_bytes | grep . || echo 0) / 1048576 ))
    over=""; [ "$rss" -gt "$bound" ] && over=" (over!)"
    printf '| %s | %s | %s | %s | %.1f | %.1f | %s%s | %s |' "$shape" "$type" "$size" "$t" "${pp:-0}" "${tg:-0}" "$rss" \
      "$over" "$bound"
    if [ -n "${LLAMA_BENCH:-}" ]; then
      lj=$("$LLAMA_BENCH" -m "$f" -p "$PP" -n "$TG" -t "$t" -o jsonl 2>/dev/null)
      lpp=$(echo "$lj" | grep "\"n_prompt\": *$PP" | sed -n 's/.*"avg_ts": *\([0-9.eE+-]*\).*/\1/p' | head -n 1)
      ltg=$(echo "$lj" | grep "\"n_gen\": *$TG" | sed -n 's/.*"avg_ts": *\([0-9.eE+-]*\).*/\1/p' | head -n 1)
      rpp=$(awk -v a="${pp:-0}" -v b="${lpp:-0}" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else printf "n/a" }')
      rtg=$(awk -v a="${tg:-0}" -v b="${ltg:-0}" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else printf "n/a" }')
      printf ' %s | %s | %s | %s |' "${lpp:-n/a}" "${ltg:-n/a}" "$rpp" "$rtg"
    fi
    printf '\n'
  done
done

# Long context: prefill at 128/2048/8192 and decode at depth 0/2048/8192, F16 and Q8_0 cache
# (vs LLAMA_BENCH when set).
sh "$(dirname "$0")/bench_longctx.sh" || echo "(bench_longctx.sh failed)"

# Server throughput and time to first token at 1/4/8 streams (vs LLAMA_SERVER when set).
sh "$(dirname "$0")/bench_server.sh" || echo "(bench_server.sh failed)"

# Speculative decoding (prompt lookup) on a summarise/repeat-the-text workload.
sh "$(dirname "$0")/bench_spec.sh" || echo "(bench_spec.sh failed)"

# LoRA fine-tuning: training tokens/s and peak RSS (vs LLAMA_FINETUNE, llama-finetune, when set).
sh "$(dirname "$0")/bench_finetune.sh" || echo "(bench_finetune.sh failed)"

for b in $(find "$BUILD/bench" -maxdepth 1 -type f -name 'bench_*' -perm -u+x 2>/dev/null | LC_ALL=C sort); do
  printf '\n'
  "$b" || echo "($b failed)"
done

# Voice latency: end of speech -> first reply audio through the live loop (omni bench-voice),
# SmolLM2-135M-shape Q8_0 + Whisper-tiny-shape F16 with the shared Silero VAD, on espeak-ng
# questions in English and Korean played at real-time speed; each a fresh conversation
# (random-weight replies are junk tokens that would swell later prompts).
VAD=${OMNI_MODELS:-../shared/models}/vad/for-tests-silero-v6.2.0-ggml.bin
LM="$DIR/smollm2-135m-q8_0.gguf"; WM="$DIR/whisper-tiny-f16.bin"
[ -f "$WM" ] || "$OMNI" synth --shape whisper-tiny --type f16 -o "$WM" >/dev/null 2>&1
if [ -f "$LM" ] && [ -f "$WM" ] && [ -f "$VAD" ] && command -v espeak-ng >/dev/null && command -v sox >/dev/null; then
  T=$(mktemp -d)
  sox -q -n -r 22050 -c 1 -b 16 "$T/sil.wav" trim 0 0.5
  i=0
  for q in "en:What time is it in Seoul?" "en:Can you tell me a short story about a cat?" \
           "en:How far is the moon from the earth?" "ko:서울은 지금 몇 시예요?" "ko:오늘 날씨가 어때요?"; do
    i=$((i + 1))
    espeak-ng -v "${q%%:*}" -w "$T/raw$i.wav" "${q#*:}" && sox "$T/sil.wav" "$T/raw$i.wav" "$T/sil.wav" "$T/q$i.wav"
  done
  printf '\n## Voice: end of speech -> first reply audio (omni bench-voice, speculative, default end-of-turn rule)\n\n'
  "$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VAD" --language auto --fresh "$T"/q*.wav 2>&1 |
    sed "s|$T/||" || echo "(bench-voice failed)"
  # the pause set: a sentence, 400 ms of silence, the rest (espeak's own quiet trimmed);
  # false cut-offs are replies that started before the speech ended. With random-weight
  # Whisper the transcript the rule judges is gibberish, so its choice here is arbitrary;
  # tests/e2e/test_bench_voice.sh checks the rule on models that say the real words.
  sox -q -n -r 22050 -c 1 -b 16 "$T/p400.wav" trim 0 0.4
  i=0
  for q in "en:I went to the store and|bought some milk." "en:Could you tell me, um|how far the moon is?" \
           "ko:어제 친구를 만나서|영화를 봤어요." "ko:제가 어제 갔는데|문이 닫혀 있었어요."; do
    i=$((i + 1)); l=${q%%:*}; s=${q#*:}
    espeak-ng -v "$l" -w "$T/a.wav" "${s%%|*}" && espeak-ng -v "$l" -w "$T/b.wav" "${s#*|}" &&
      sox "$T/a.wav" "$T/at.wav" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse &&
      sox "$T/b.wav" "$T/bt.wav" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse &&
      sox "$T/sil.wav" "$T/at.wav" "$T/p400.wav" "$T/bt.wav" "$T/sil.wav" "$T/pause$i.wav"
  done
  printf '\n## Voice: pause set (400 ms inside the sentence), false cut-offs\n\n'
  "$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VAD" --language auto --fresh "$T"/pause*.wav 2>&1 |
    sed "s|$T/||" || echo "(bench-voice failed)"
  # The same with the Whisper-tiny-shaped file made to say the words (tests/rig_whisper.py:
  # its decoder ignores the audio and writes the given text at full cost), one file at a
  # time: what the rule does with a real transcript, beside the fixed silence.
  MICRO=${OMNI_MODELS:-../shared/models}/synth/synth-whisper-micro-f16.bin
  if command -v python3 >/dev/null && [ -f "$MICRO" ]; then
    printf '\n## Voice with transcripts that say the words: end-of-turn rule vs --fixed-silence\n\n'
    i=0
    for q in "What time is it in Seoul?" "Can you tell me a short story about a cat?" "How far is the moon from the earth?" \
             "서울은 지금 몇 시예요?" "오늘 날씨가 어때요?"; do
      i=$((i + 1))
      python3 tests/rig_whisper.py "$WM" "$T/rig.bin" "$q" "$MICRO" || continue
      for f in "" --fixed-silence; do
        "$OMNI" bench-voice -m "$LM" --asr-model "$T/rig.bin" --vad-model "$VAD" --language auto --fresh $f \
          "$T/q$i.wav" 2>&1 | grep "^$T/q$i" | sed "s|$T/|${f:-rule} |"
      done
    done
    i=0
    for q in "I went to the store and" "Could you tell me, um" "어제 친구를 만나서" "제가 어제 갔는데"; do
      i=$((i + 1))
      python3 tests/rig_whisper.py "$WM" "$T/rig.bin" "$q" "$MICRO" || continue
      for f in "" --fixed-silence; do
        "$OMNI" bench-voice -m "$LM" --asr-model "$T/rig.bin" --vad-model "$VAD" --language auto --fresh $f \
          "$T/pause$i.wav" 2>&1 | grep "^median" | sed "s|^|pause$i ${f:-rule}: |"
      done
    done
  fi
  # The neural voice (Qwen3-TTS at its real 0.6B shape, F16, made by bench_tts into $DIR):
  # the same questions, first chunk = 1 decoded frame; SmolLM2-135M + Whisper-tiny shapes,
  # then beside them Qwen3-0.6B (Q4_K_M) + Whisper-base. Each line of the text report gives
  # the process CPU per stage (asr, llm first clause, tts first chunk) and per language.
  TT="$DIR/qwen3tts-0.6b-f16-talker.gguf"; TM="$DIR/qwen3tts-0.6b-f16-mmproj.gguf"
  WB="$DIR/whisper-base-f16.bin"; QL="$DIR/qwen3-0.6b-q4_k_m.gguf"
  [ -f "$TT" ] && [ -f "$TM" ] || "$OMNI" synth --shape qwen3tts-0.6b --type f16 -o "$TT" --mmproj "$TM" >/dev/null 2>&1
  [ -f "$WB" ] || "$OMNI" synth --shape whisper-base --type f16 -o "$WB" >/dev/null 2>&1
  [ -f "$QL" ] || "$OMNI" synth --shape qwen3-0.6b --type q4_k_m -o "$QL" >/dev/null 2>&1
  if [ -f "$TT" ] && [ -f "$TM" ]; then
    printf '\n## Voice with the neural voice (qwen3tts-0.6b F16): SmolLM2-135M + Whisper-tiny shapes\n\n'
    "$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VAD" --tts-model "$TT" --tts-mmproj "$TM" \
      --language auto --fresh "$T"/q*.wav 2>&1 | sed "s|$T/||" || echo "(bench-voice failed)"
    printf '\n## Voice with the neural voice: pause set, false cut-offs\n\n'
    "$OMNI" bench-voice -m "$LM" --asr-model "$WM" --vad-model "$VAD" --tts-model "$TT" --tts-mmproj "$TM" \
      --language auto --fresh "$T"/pause*.wav 2>&1 | sed "s|$T/||" | grep -v "^pause" || echo "(bench-voice failed)"
    if [ -f "$WB" ] && [ -f "$QL" ]; then
      printf '\n## Voice with the neural voice beside them: Qwen3-0.6B (Q4_K_M) + Whisper-base shapes\n\n'
      "$OMNI" bench-voice -m "$QL" --asr-model "$WB" --vad-model "$VAD" --tts-model "$TT" --tts-mmproj "$TM" \
        --language auto --fresh "$T"/q*.wav 2>&1 | sed "s|$T/||" || echo "(bench-voice failed)"
    fi
  fi
  rm -rf "$T"
else
  printf '\n(voice latency skipped: needs %s, %s, the shared VAD, espeak-ng and sox)\n' "$LM" "$WM"
fi

# The web app: first load, time to interactive, a 500-message conversation (bench/bench_web.mjs)
if [ -d tests/e2e/node_modules ] && [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  OMNI_BIN="$OMNI" node bench/bench_web.mjs 2>&1 || echo "(web app bench failed)"
else
  printf '\n(web app bench skipped: needs chromium and the e2e node packages)\n'
fi

# Guardrails: what a Qwen3Guard-Gen-0.6B-shape guard adds to time to first token (input
# check) and per streamed sentence (output checks), on 2 threads (bench/bench_guard.mjs)
BENCH_MODELS="$DIR" OMNI_BIN="$OMNI" node bench/bench_guard.mjs 2>&1 || echo "(guardrails bench failed)"
