#!/bin/sh
# `omni tokenize` end to end: stdin text → one JSON line of ids, checked against
# llama.cpp's golden ids (Korean/mixed-script cases with --no-special, golden LLM
# prompts and embedding inputs with the defaults) on vocab-only and full GGUF files, for
# SentencePiece, byte-level BPE, WordPiece and unigram vocabularies; clear errors.
OMNI=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
GOLDEN=${OMNI_GOLDEN:-../shared/golden}
P=0; F=0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
ok() { P=$((P+1)); }
bad() { F=$((F+1)); echo "FAIL: $*"; }

echo "expect: at least 170 tests run"
if [ ! -x "$OMNI" ]; then echo "no $OMNI"; echo "0 passed, 1 failed"; exit 1; fi
# scripts/setup.sh installs python3: its absence fails
if ! command -v python3 >/dev/null 2>&1; then echo "FAIL python3 missing (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; fi

# Writes $T/<tag>.<i>.txt (exact text) and .ids (compact JSON) for each golden case.
python3 - "$GOLDEN" "$T" <<'PY'
import json, sys, os
golden, out = sys.argv[1], sys.argv[2]
def put(tag, i, text, ids):
    open(os.path.join(out, "%s.%03d.txt" % (tag, i)), "wb").write(text.encode("utf-8"))
    open(os.path.join(out, "%s.%03d.ids" % (tag, i)), "w").write(json.dumps(ids, separators=(",", ":")) + "\n")
for name in ["ggml-vocab-llama-spm", "ggml-vocab-gpt2-pre-qwen2", "ggml-vocab-phi-3", "synth-smollm2-f16",
             "ggml-vocab-bert-bge", "ggml-vocab-synth-ugm"]:
    d = json.load(open(os.path.join(golden, "tokenizer", name + ".korean.json")))
    for i, c in enumerate(d["cases"]):
        put("ko-" + name, i, c["text"], c["ids"])
for name in ["stories260K", "synth-qwen2-f16", "synth-llama-q8_0", "synth-qwen35-f16", "synth-exaone4-f16"]:
    for i, line in enumerate(open(os.path.join(golden, "llm", name + ".jsonl"))):
        o = json.loads(line)
        put("llm-" + name, i, o["prompt"], o["tokens"])
# the embedding goldens' inputs: special tokens added and special text parsed, the defaults
for name in ["synth-bert-bge-f16", "synth-bert-xlmr-f16"]:
    for i, line in enumerate(open(os.path.join(golden, "embed", name + ".jsonl"))):
        o = json.loads(line)
        put("emb-" + name, i, o["prompt"], o["tokens"])
# a vocabulary of a tokenizer model omni does not have
import struct
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b
kv = gstr("tokenizer.ggml.model") + struct.pack("<I", 8) + gstr("rwkv")
kv += gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + gstr("a") + gstr("b")
open(os.path.join(out, "rwkv.gguf"), "wb").write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + kv)
PY

model_file() { # golden name → model path
  for d in vocab synth llm; do
    if [ -f "$MODELS/$d/$1.gguf" ]; then echo "$MODELS/$d/$1.gguf"; return; fi
  done
}

n=0
for txt in "$T"/*.txt; do
  base=${txt%.txt}; tag=$(basename "$base"); tag=${tag%.*}
  case "$tag" in
    ko-*) name=${tag#ko-}; flags=--no-special ;;
    llm-*) name=${tag#llm-}; flags= ;;
    emb-*) name=${tag#emb-}; flags= ;;
  esac
  m=$(model_file "$name")
  if [ -z "$m" ]; then bad "no model for $name"; continue; fi
  got=$("$OMNI" tokenize -m "$m" $flags <"$txt" 2>"$T/err"); rc=$?
  want=$(cat "$base.ids")
  if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then ok; else bad "$tag $(basename "$txt"): got $got (rc $rc), want $want"; fi
  n=$((n+1))
done
[ "$n" -ge 150 ] && ok || bad "only $n golden cases ran"

# exactly one line of output, BOS added for an empty input of an SPM vocab
out=$(printf '' | "$OMNI" tokenize -m "$MODELS/vocab/ggml-vocab-llama-spm.gguf" 2>/dev/null)
[ "$out" = "[1]" ] && ok || bad "empty input gives '$out'"
lines=$(printf 'a\nb\n' | "$OMNI" tokenize -m "$MODELS/llm/stories260K.gguf" 2>/dev/null | wc -l)
[ "$lines" = 1 ] && ok || bad "$lines output lines"

# special-token text: parsed by default, spelled out with --no-special
m=$MODELS/synth/synth-smollm2-f16.gguf
a=$(printf '<|im_start|>user' | "$OMNI" tokenize -m "$m" 2>/dev/null)
b=$(printf '<|im_start|>user' | "$OMNI" tokenize -m "$m" --no-special 2>/dev/null)
case "$a" in "[1,"*) ok ;; *) bad "default mode: $a" ;; esac
case "$b" in "[1,"*|"[]") bad "--no-special: $b" ;; *) ok ;; esac

# errors: one line on stderr, exit 1
check_err() { # expected-text, args...
  want=$1; shift
  "$OMNI" tokenize "$@" </dev/null >"$T/out" 2>"$T/err"; rc=$?
  l=$(wc -l <"$T/err")
  if [ "$rc" = 1 ] && [ "$l" = 1 ] && grep -q -- "$want" "$T/err" && [ ! -s "$T/out" ]; then ok
  else bad "tokenize $*: rc $rc, stderr '$(cat "$T/err")'"; fi
}
check_err "no such file" -m "$T/missing.gguf"
printf 'not a model' >"$T/junk.gguf"
check_err "GGUF" -m "$T/junk.gguf"
check_err "'rwkv'" -m "$T/rwkv.gguf"
check_err "no model" 
check_err "unknown" -m "$m" --bogus

"$OMNI" tokenize --help >"$T/help" 2>&1 && grep -q -- "--no-special" "$T/help" && ok || bad "--help"

echo "$P passed, $F failed"
[ "$F" = 0 ]
