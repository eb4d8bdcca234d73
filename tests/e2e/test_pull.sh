#!/bin/sh
# `omni pull/list/show/rm` against a local stand-in hub (tests/e2e/hub_server.py serving
# $OMNI_MODELS): full download, resume after a cut connection, wrong checksum, 404,
# stalled server, unreachable server, a download no checksum is known for (refused,
# accepted with --insecure), URL pull, then list/show/rm on the results.
OMNI=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
P=0; F=0
ok()   { P=$((P+1)); echo "ok   $1"; }
bad()  { F=$((F+1)); echo "FAIL $1"; [ -f "$T/err" ] && sed 's/^/     /' "$T/err"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

echo "expect: at least 37 tests run"
# ../shared ships the model and scripts/setup.sh installs python3: their absence fails
for x in "$OMNI" "$MODELS/llm/stories260K.gguf"; do [ -e "$x" ] || { echo "FAIL missing $x"; echo "0 passed, 1 failed"; exit 1; }; done
command -v python3 >/dev/null || { echo "FAIL python3 missing (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d)
python3 tests/e2e/hub_server.py "$MODELS" "$T/port" "$T/log" 120 &
SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$T"' EXIT INT TERM
i=0; while [ ! -f "$T/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
PORT=$(cat "$T/port" 2>/dev/null)
[ -n "$PORT" ] || { echo "FAIL hub server did not start"; echo "0 passed, 1 failed"; exit 1; }
HUB=http://127.0.0.1:$PORT
SUM=$(sha256sum "$MODELS/llm/stories260K.gguf" | cut -d' ' -f1)
SIZE=$(wc -c < "$MODELS/llm/stories260K.gguf")
cat > "$T/catalog.json" <<JSON
{"hub": "$HUB", "models": [
 {"name": "stories", "repo": "test/llm", "file": "stories260K.gguf", "size": $SIZE, "sha256": "$SUM", "purpose": "chat", "languages": ["en"]},
 {"name": "badsum", "repo": "test/llm", "file": "tinystories-656k-q8_0.gguf", "size": 0,
  "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "purpose": "chat"},
 {"name": "nosum", "repo": "test/vocab", "file": "ggml-vocab-gpt-2.gguf", "size": 0, "sha256": "", "purpose": "test"},
 {"name": "missing", "repo": "test/llm", "file": "no-such-model.gguf", "size": 0, "sha256": "", "purpose": "chat"}
]}
JSON
export OMNI_CATALOG="$T/catalog.json" OMNI_HOME="$T/store"
unset OMNI_HUB_URL
S=$T/store

# 1. full download, verified
"$OMNI" pull stories >"$T/out" 2>"$T/err"
check "full download" '[ $? -eq 0 ] && [ "$(sha256sum "$S/stories260K.gguf" | cut -d" " -f1)" = "$SUM" ] && [ ! -e "$S/stories260K.gguf.part" ]'
check "pull prints the path" 'grep -q "$S/stories260K.gguf" "$T/out"'
check "verified download gives no warning" '! grep -q unverified "$T/err"'
"$OMNI" pull stories >/dev/null 2>"$T/err"
check "second pull is a no-op" '[ $? -eq 0 ] && [ $(grep -c "stories260K" "$T/log") -eq 1 ]'

# 2. cut connection, then resume with Range
rm -f "$S/stories260K.gguf"
OMNI_HUB_URL=$HUB/cut "$OMNI" pull stories >/dev/null 2>"$T/err"; rc=$?
check "cut connection fails clearly" '[ $rc -ne 0 ] && grep -q "connection lost" "$T/err" && grep -q "resume" "$T/err"'
check "cut leaves .part, not the final name" '[ -s "$S/stories260K.gguf.part" ] && [ ! -e "$S/stories260K.gguf" ]'
OMNI_HUB_URL=$HUB/cut "$OMNI" pull stories >/dev/null 2>"$T/err"
check "resume completes the file" '[ $? -eq 0 ] && [ "$(sha256sum "$S/stories260K.gguf" | cut -d" " -f1)" = "$SUM" ]'
check "resume used a Range request" 'grep -q "^GET /cut/test/llm/resolve/main/stories260K.gguf range=bytes=[1-9]" "$T/log"'

# 3. wrong checksum: rejected, partial removed
"$OMNI" pull badsum >/dev/null 2>"$T/err"; rc=$?
check "wrong checksum rejected" '[ $rc -ne 0 ] && grep -q "checksum mismatch" "$T/err"'
check "bad download leaves no file" '[ ! -e "$S/tinystories-656k-q8_0.gguf" ] && [ ! -e "$S/tinystories-656k-q8_0.gguf.part" ]'

# 4. 404
"$OMNI" pull missing >/dev/null 2>"$T/err"; rc=$?
check "404 is a clear error" '[ $rc -ne 0 ] && grep -q "not found" "$T/err" && [ $(wc -l < "$T/err") -eq 1 ]'

# 5. stalled server
start=$(date +%s)
OMNI_HUB_URL=$HUB/slow "$OMNI" pull nosum --timeout 2 >/dev/null 2>"$T/err"; rc=$?
secs=$(( $(date +%s) - start ))
check "stalled server times out" '[ $rc -ne 0 ] && grep -q "timed out" "$T/err" && [ $secs -lt 15 ]'

# 6. unreachable hub
OMNI_HUB_URL=http://127.0.0.1:1 "$OMNI" pull nosum >/dev/null 2>"$T/err"; rc=$?
check "unreachable hub says offline" '[ $rc -ne 0 ] && grep -q "offline" "$T/err"'

# 7. unknown name; no checksum anywhere (URL pull, catalog entry without one, hub without the
# header): refused before anything is stored, unless --insecure, which still checks a known one
"$OMNI" pull no-such-name >/dev/null 2>"$T/err"; rc=$?
check "unknown catalog name" '[ $rc -ne 0 ] && grep -q "not in the catalog" "$T/err"'
"$OMNI" pull "$HUB/x/vocab/resolve/main/ggml-vocab-gpt-2.gguf" >/dev/null 2>"$T/err"; rc=$?
check "URL pull without a checksum is refused, naming --insecure" \
  '[ $rc -ne 0 ] && grep -q "refusing an unverified download" "$T/err" && grep -q -- "--insecure" "$T/err" && [ $(wc -l < "$T/err") -eq 1 ]'
check "a refused download stores nothing" '[ ! -e "$S/ggml-vocab-gpt-2.gguf" ] && [ ! -e "$S/ggml-vocab-gpt-2.gguf.part" ]'
"$OMNI" pull nosum >/dev/null 2>"$T/err"; rc=$?
check "catalog entry without a checksum, hub without one: refused" '[ $rc -ne 0 ] && grep -q -- "--insecure" "$T/err" && [ ! -e "$S/ggml-vocab-gpt-2.gguf" ]'
"$OMNI" pull --help >"$T/out" 2>&1
check "pull --help explains --insecure" 'grep -q -- "--insecure" "$T/out" && grep -q "refused" "$T/out"'
"$OMNI" pull badsum --insecure >/dev/null 2>"$T/err"; rc=$?
check "--insecure still checks a known checksum" '[ $rc -ne 0 ] && grep -q "checksum mismatch" "$T/err"'
"$OMNI" pull "$HUB/x/vocab/resolve/main/ggml-vocab-gpt-2.gguf" --insecure >/dev/null 2>"$T/err"; rc=$?
VSUM=$(sha256sum "$MODELS/vocab/ggml-vocab-gpt-2.gguf" | cut -d' ' -f1)
check "--insecure accepts it, with a warning" \
  '[ $rc -eq 0 ] && [ "$(sha256sum "$S/ggml-vocab-gpt-2.gguf" | cut -d" " -f1)" = "$VSUM" ] && grep -q "warning: .*unverified" "$T/err"'
"$OMNI" pull "$HUB/x/llm/resolve/main/stories260K.gguf" --sha256 "$SUM" >/dev/null 2>"$T/err"
check "URL pull of a present file is a no-op" '[ $? -eq 0 ]'

# 8. no checksum in the catalog: the hub's X-Linked-ETag/X-Linked-Size on its redirect decide
rm -f "$S/ggml-vocab-gpt-2.gguf"
OMNI_HUB_URL=$HUB/lfs "$OMNI" pull nosum >"$T/out" 2>"$T/err"; rc=$?
check "hub digest: good download accepted" '[ $rc -eq 0 ] && [ "$(sha256sum "$S/ggml-vocab-gpt-2.gguf" | cut -d" " -f1)" = "$VSUM" ]'
check "hub digest: reported as verified against the hub" 'grep -q "verified against the hub" "$T/err" && ! grep -q unverified "$T/err"'
check "hub digest: came through the redirect" 'grep -q "^GET /lfs/test/vocab/resolve/main/ggml-vocab-gpt-2.gguf" "$T/log" && grep -q "^GET /cdn/vocab/ggml-vocab-gpt-2.gguf" "$T/log"'
rm -f "$S/ggml-vocab-gpt-2.gguf"
OMNI_HUB_URL=$HUB/lfsbad "$OMNI" pull nosum >/dev/null 2>"$T/err"; rc=$?
check "hub digest: wrong digest rejected" '[ $rc -ne 0 ] && grep -q "checksum mismatch (sha256 from the hub" "$T/err"'
check "hub digest: partial removed" '[ ! -e "$S/ggml-vocab-gpt-2.gguf" ] && [ ! -e "$S/ggml-vocab-gpt-2.gguf.part" ]'
"$OMNI" pull "$HUB/lfs/x/vocab/resolve/main/ggml-vocab-gpt-2.gguf" >/dev/null 2>"$T/err"
check "hub digest: URL pull verified too" '[ $? -eq 0 ] && grep -q "verified against the hub" "$T/err"'
rm -f "$S/ggml-vocab-gpt-2.gguf"
OMNI_HUB_URL=$HUB/cut "$OMNI" pull nosum --insecure >/dev/null 2>&1  # half of it, unverified so far
check "hub digest: a cut --insecure download left half" '[ -s "$S/ggml-vocab-gpt-2.gguf.part" ]'
OMNI_HUB_URL=$HUB/lfs "$OMNI" pull nosum >/dev/null 2>"$T/err"; rc=$?
check "hub digest: a resumed download is verified" '[ $rc -eq 0 ] && grep -q "verified against the hub" "$T/err" && [ "$(sha256sum "$S/ggml-vocab-gpt-2.gguf" | cut -d" " -f1)" = "$VSUM" ]'

# 9. list / show / rm
"$OMNI" list >"$T/out" 2>"$T/err"
check "list shows the models" '[ $? -eq 0 ] && grep -q "^stories260K .*gguf llama f32" "$T/out" && grep -q "ggml-vocab-gpt-2" "$T/out"'
"$OMNI" show stories260K >"$T/out" 2>"$T/err"
check "show by store name" '[ $? -eq 0 ] && grep -q "^architecture *llama" "$T/out" && grep -q "^context length" "$T/out"'
"$OMNI" show stories >"$T/out" 2>"$T/err"
check "show by catalog name" '[ $? -eq 0 ] && grep -q "^parameters" "$T/out"'
"$OMNI" show "$MODELS/synth/synth-smollm2-f16.gguf" >"$T/out" 2>"$T/err"
check "show by path prints the chat template" '[ $? -eq 0 ] && grep -q "im_start" "$T/out"'
"$OMNI" show badsum >/dev/null 2>"$T/err"; rc=$?
check "show of a model not pulled says how to get it" '[ $rc -ne 0 ] && grep -q "omni pull badsum" "$T/err"'
"$OMNI" rm stories260K >/dev/null 2>"$T/err"
check "rm removes the file" '[ $? -eq 0 ] && [ ! -e "$S/stories260K.gguf" ]'
"$OMNI" rm stories260K >/dev/null 2>"$T/err"; rc=$?
check "rm of a missing model fails clearly" '[ $rc -ne 0 ] && grep -q "not in the model store" "$T/err"'
"$OMNI" rm ../catalog.json >/dev/null 2>"$T/err"; rc=$?
check "rm refuses paths" '[ $rc -ne 0 ] && [ -e "$T/catalog.json" ]'

echo "$P passed, $F failed"
[ $F -eq 0 ]
