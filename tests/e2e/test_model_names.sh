#!/bin/sh
# Every -m accepts a file path, a store name or a catalog name (issue 7); a name that
# is none of these says what to do instead of failing obscurely.
OMNI=${OMNI_BIN:-build/omni}
M=${OMNI_MODELS:-../shared/models}
P=0; F=0
ok() { P=$((P+1)); }
bad() { F=$((F+1)); echo "FAIL: $1"; }
echo "expect: at least 5 tests run"
export OMNI_HOME=$(mktemp -d); trap 'rm -rf "$OMNI_HOME"' EXIT
cp "$M/llm/stories260K.gguf" "$OMNI_HOME/stories260K.gguf"

want=$(printf 'Once upon a time' | "$OMNI" tokenize -m "$M/llm/stories260K.gguf")
got=$(printf 'Once upon a time' | "$OMNI" tokenize -m stories260K)
[ -n "$want" ] && [ "$want" = "$got" ] && ok || bad "store name in tokenize: '$got' vs '$want'"
got=$(printf 'Once upon a time' | "$OMNI" tokenize -m stories260K.gguf)
[ "$want" = "$got" ] && ok || bad "store file name in tokenize"
printf 'Once\n' | "$OMNI" chat -m stories260K --temp 0 -n 3 >/dev/null 2>&1 && ok || bad "store name in chat"

"$OMNI" tokenize -m smollm2-360m-instruct-q8_0 </dev/null >/dev/null 2>"$OMNI_HOME/e1"
[ $? != 0 ] && grep -q "omni pull smollm2-360m-instruct-q8_0" "$OMNI_HOME/e1" && ok || bad "catalog name not downloaded: $(cat "$OMNI_HOME/e1")"
"$OMNI" chat -m no-such-model </dev/null >/dev/null 2>"$OMNI_HOME/e2"
[ $? != 0 ] && [ "$(wc -l < "$OMNI_HOME/e2")" = 1 ] && grep -q "no-such-model" "$OMNI_HOME/e2" && ok || bad "unknown name: $(cat "$OMNI_HOME/e2")"

echo "$P passed, $F failed"
[ $F = 0 ]
