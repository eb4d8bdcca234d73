#!/bin/sh
# `omni pull` alone and `omni pull --list`: the catalog as a readable table (name, purpose,
# size, license, languages, and a line on what each model is good at), read from the repo's
# catalog/models.json and from a small test catalog; nothing is downloaded (the hub URL
# points at a closed port and the store must stay empty).
OMNI=${OMNI_BIN:-build/omni}
P=0; F=0
ok()  { P=$((P+1)); echo "ok   $1"; }
bad() { F=$((F+1)); echo "FAIL $1"; [ -f "$T/out" ] && sed 's/^/     /' "$T/out" | head -20; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

echo "expect: at least 8 tests run"
[ -x "$OMNI" ] || { echo "FAIL missing $OMNI"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
export OMNI_HOME="$T/store" OMNI_HUB_URL=http://127.0.0.1:9 OMNI_CATALOG=catalog/models.json

"$OMNI" pull >"$T/out" 2>"$T/err"; rc=$?
check "pull alone lists the catalog" '[ $rc -eq 0 ] && grep -q "^NAME  *PURPOSE  *SIZE  *LICENSE  *LANGUAGES" "$T/out"'
missing=""
for n in qwen3-0.6b-q4_k_m qwen3-1.7b-q4_k_m qwen3-4b-q4_k_m qwen3.5-2b-q4_k_m gemma-3-270m-it-q8_0 gemma-3-1b-it-q4_k_m \
         gemma-3-4b-it-q4_k_m exaone-4.0-1.2b-q4_k_m smollm3-3b-q4_k_m phi-4-mini-instruct-q4_k_m gpt-oss-20b-mxfp4 \
         qwen3-30b-a3b-q4_k_m qwen3-embedding-0.6b-q8_0 bge-m3-q8_0 bge-reranker-v2-m3-q8_0 whisper-base; do
  grep -q "^$n " "$T/out" || missing="$missing $n"
done
check "every current family is listed${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
check "rows show purpose, approximate size and license" \
  'grep -q "^qwen3-1.7b-q4_k_m  *chat  *~1.1 GB  *apache-2.0  *en, ko" "$T/out" && grep -q "^exaone-4.0-1.2b-q4_k_m .* exaone " "$T/out" && grep -q "^bge-reranker-v2-m3-q8_0  *rerank " "$T/out"'
check "each model has a line on what it is good at" 'grep -A1 "^qwen3-1.7b-q4_k_m " "$T/out" | tail -1 | grep -q "^    Qwen3 1.7B: .*Korean"'
check "exact sizes print without ~" 'grep -q "^whisper-base  *speech-in  *148 MB" "$T/out"'
check "the listing downloads nothing" '[ ! -e "$T/store" ] || [ -z "$(ls -A "$T/store")" ]'
"$OMNI" pull --list >"$T/out2" 2>&1
check "--list prints the same table" 'cmp -s "$T/out" "$T/out2"'
cat > "$T/cat.json" <<JSON
{"models": [{"name": "tiny", "repo": "o/tiny-GGUF", "file": "tiny.gguf", "size": 2500000000, "purpose": "chat",
  "license": "mit", "languages": ["ko"], "description": "한국어 테스트 모델 with a description long enough to be wrapped onto a second line at one hundred columns, so wrapping is seen"},
 {"name": "nosize", "repo": "o/n", "file": "n.gguf", "purpose": "embedding"}]}
JSON
OMNI_CATALOG="$T/cat.json" "$OMNI" pull --list >"$T/out" 2>&1
check "a test catalog: exact size, unknown size, wrapped UTF-8 description" \
  'grep -q "^tiny  *chat  *2.5 GB  *mit  *ko" "$T/out" && grep -q "^nosize  *embedding  *?  *?" "$T/out" && [ $(grep -c "^    " "$T/out") -eq 2 ] && grep -q "^    한국어" "$T/out"'

echo "$P passed, $F failed"
[ $F -eq 0 ]
