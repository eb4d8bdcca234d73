#!/bin/sh
# `omni speak` end to end: Korean and English to every output format, each decoded by the
# matching Debian tool (sox, opusdec, lame) to the right rate and duration; stdin and
# stdout streaming; clear errors for bad voices, formats, languages and texts.
# scripts/setup.sh installs the decoders: a missing one fails its format's check.
OMNI=${OMNI_BIN:-build/omni}
P=0; F=0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
ok() { P=$((P+1)); }
bad() { F=$((F+1)); echo "FAIL: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
# seconds of a decodable file (sox), or empty
dur() { sox "$@" -n stat 2>&1 | sed -n 's/^Length (seconds): *//p'; }
# is $1 within [$2, $3]?
within() { awk -v x="$1" -v a="$2" -v b="$3" 'BEGIN{ exit !(x != "" && x >= a && x <= b) }'; }

echo "expect: at least 22 tests run"
if [ ! -x "$OMNI" ]; then echo "no $OMNI"; echo "0 passed, 1 failed"; exit 1; fi

# The automated-check form: Korean speech to a WAV file.
if "$OMNI" speak --lang ko -o "$T/ko.wav" "안녕하세요" 2>"$T/err"; then
  r=$(soxi -r "$T/ko.wav" 2>/dev/null); c=$(soxi -c "$T/ko.wav" 2>/dev/null); d=$(dur "$T/ko.wav")
  if [ "$r" = 24000 ] && [ "$c" = 1 ] && within "$d" 0.5 3.0; then ok; else bad "ko.wav: rate $r, channels $c, $d s"; fi
else bad "speak --lang ko: $(cat "$T/err")"; fi

TEXT="Hello from omni. This sentence is read aloud in every format, at 24 kHz."
"$OMNI" speak --voice coral -o "$T/ref.wav" "$TEXT" 2>"$T/err" || bad "wav: $(cat "$T/err")"
REF=$(dur "$T/ref.wav")
if within "$REF" 3 12; then ok; else bad "reference wav lasts '$REF' s"; fi
lo=$(awk -v d="$REF" 'BEGIN{print d*0.95 - 0.05}'); hi=$(awk -v d="$REF" 'BEGIN{print d*1.05 + 0.15}')

for fmt in pcm flac opus mp3; do
  if ! "$OMNI" speak --voice coral -o "$T/a.$fmt" "$TEXT" 2>"$T/err"; then bad "$fmt: $(cat "$T/err")"; continue; fi
  d="" # a decoder that fails must not leave the previous format's duration behind
  case $fmt in
    pcm)  d=$(dur -t raw -r 24000 -e signed -b 16 -c 1 "$T/a.pcm") ;;
    flac) d=$(dur "$T/a.flac"); [ "$(soxi -r "$T/a.flac" 2>/dev/null)" = 24000 ] || d="" ;;
    opus) if have opusdec; then opusdec --quiet "$T/a.opus" "$T/o.wav" 2>/dev/null && d=$(dur "$T/o.wav")
          else bad "opus: opusdec missing (scripts/setup.sh installs opus-tools)"; continue; fi ;;
    mp3)  if have lame; then lame --quiet --decode "$T/a.mp3" "$T/m.wav" 2>/dev/null && d=$(dur "$T/m.wav")
          else bad "mp3: lame missing (scripts/setup.sh installs it)"; continue; fi ;;
  esac
  if within "$d" "$lo" "$hi"; then ok; else bad "$fmt decodes to '$d' s, wav is $REF s"; fi
done
# --format wins over the extension; raw PCM equals the WAV's samples
"$OMNI" speak --voice coral --format pcm -o "$T/x.bin" "$TEXT" 2>/dev/null
if tail -c +45 "$T/ref.wav" | cmp -s - "$T/x.bin"; then ok; else bad "pcm samples differ from the wav's"; fi

# stdin in, stdout out (streamed), same bytes as the file
echo "$TEXT" | "$OMNI" speak --voice coral --format pcm > "$T/s.pcm" 2>"$T/err"
if cmp -s "$T/s.pcm" "$T/x.bin"; then ok; else bad "stdin/stdout pcm differs ($(cat "$T/err"))"; fi
# streamed WAV has an open-ended header but still decodes
"$OMNI" speak "One. Two. Three." > "$T/s.wav" 2>/dev/null
d=$(dur "$T/s.wav"); if within "$d" 0.8 5; then ok; else bad "streamed wav lasts '$d' s"; fi

# mixed Korean/English and speed
"$OMNI" speak -o "$T/mix.wav" "오늘 meeting은 3시에 있어요." 2>"$T/err" && d=$(dur "$T/mix.wav")
if within "$d" 1 6; then ok; else bad "mixed text: '$d' s $(cat "$T/err")"; fi
"$OMNI" speak --speed 2 -o "$T/fast.wav" "$TEXT" 2>/dev/null; d=$(dur "$T/fast.wav")
if within "$d" "$(awk -v d="$REF" 'BEGIN{print d*0.35}')" "$(awk -v d="$REF" 'BEGIN{print d*0.7}')"; then ok; else bad "speed 2: $d s vs $REF s"; fi

# errors: one clear line, non-zero exit, allowed values listed
expect_fail() { # pattern, args...
  pat=$1; shift
  if "$OMNI" speak "$@" >"$T/out" 2>"$T/err"; then bad "speak $* succeeded"; return; fi
  if [ "$(wc -l < "$T/err")" -le 2 ] && grep -q "$pat" "$T/err"; then ok; else bad "speak $*: stderr '$(cat "$T/err")'"; fi
}
expect_fail "alloy" --voice robot9000 -o "$T/e.wav" hello
expect_fail "mp3" --format aac -o "$T/e.wav" hello
expect_fail "wav, pcm" -o "$T/e.xyz" hello
expect_fail "ko" --lang zz -o "$T/e.wav" hello
expect_fail "empty" -o "$T/e.wav" "   "
expect_fail "0.25" --speed 9 -o "$T/e.wav" hello
expect_fail "unknown" --bogus-flag hello
head -c 5000 /dev/zero | tr '\0' 'a' > "$T/long.txt"
if "$OMNI" speak -o "$T/e.wav" < "$T/long.txt" 2>"$T/err"; then bad "5000 chars accepted"; else
  grep -q "too long" "$T/err" && ok || bad "long text: $(cat "$T/err")"; fi
[ -e "$T/e.wav" ] && bad "a failed run left $T/e.wav behind" || ok

"$OMNI" speak --help 2>/dev/null | grep -q "usage: omni speak" && ok || bad "--help"
"$OMNI" speak --list-voices 2>/dev/null | grep -q '"id":"shimmer"' && ok || bad "--list-voices"

echo "$P passed, $F failed"
[ "$F" = 0 ]
