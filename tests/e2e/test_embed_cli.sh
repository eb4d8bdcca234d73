#!/bin/sh
# `omni embed` end to end: JSON vectors for token-id inputs equal to llama.cpp's goldens
# (../shared/golden/embed: CLS and the --pooling mean override, tolerances of its README),
# text from arguments and from stdin on a decoder (tests/golden/embed, Qwen3-style), a
# reranker's scores best first, and clear errors.
OMNI=${OMNI_BIN:-build/omni}
MODELS=${OMNI_MODELS:-../shared/models}
GOLDEN=${OMNI_GOLDEN:-../shared/golden}
P=0; F=0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
ok() { P=$((P+1)); }
bad() { F=$((F+1)); echo "FAIL: $*"; }

echo "expect: at least 13 tests run"
if [ ! -x "$OMNI" ]; then echo "no $OMNI"; echo "0 passed, 1 failed"; exit 1; fi
if ! command -v python3 >/dev/null 2>&1; then echo "FAIL python3 missing (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1; fi
BGE="$MODELS/synth/synth-bert-bge-f16.gguf"; QWEN="$MODELS/synth/synth-qwen3-f16.gguf"
RERANK="$MODELS/synth/synth-bert-xlmr-rerank-f16.gguf"

# compare OUT.json GOLDEN.jsonl: every golden case's vector (in order) within the README's bars
cmp_vec() {
  python3 - "$1" "$2" <<'PY'
import json, math, sys
out = json.load(open(sys.argv[1]))
gold = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert len(out["data"]) == len(gold), "count"
worst = 0
for d, g in zip(out["data"], gold):
    v, r = d["embedding"], g["embedding"]
    assert len(v) == len(r) == out["n_embd"], "length"
    assert d["tokens"] == len(g["tokens"]), "token count"
    m = max(abs(a - b) for a, b in zip(v, r))
    cos = sum(a * b for a, b in zip(v, r)) / math.sqrt(sum(a * a for a in v) * sum(b * b for b in r))
    assert m <= 2e-3 and cos >= 0.9999, "component %.2e cosine %.6f" % (m, cos)
    worst = max(worst, m)
print("max |d| %.2e" % worst)
PY
}

ids_args() { python3 -c "import json,sys; print(' '.join(','.join(map(str, json.loads(l)['tokens'])) for l in open(sys.argv[1]) if l.strip()))" "$1"; }

# 1-2: token ids on the BERT golden, CLS (the file's) and the mean override
"$OMNI" embed -m "$BGE" --ids $(ids_args "$GOLDEN/embed/synth-bert-bge-f16.jsonl") > "$T/cls.json" 2> "$T/err" &&
  grep -q '"pooling":"cls"' "$T/cls.json" && cmp_vec "$T/cls.json" "$GOLDEN/embed/synth-bert-bge-f16.jsonl" && ok || bad "bge cls: $(cat "$T/err")"
"$OMNI" embed -m "$BGE" --pooling mean --ids $(ids_args "$GOLDEN/embed/synth-bert-bge-f16.mean.jsonl") > "$T/mean.json" 2> "$T/err" &&
  grep -q '"pooling":"mean"' "$T/mean.json" && cmp_vec "$T/mean.json" "$GOLDEN/embed/synth-bert-bge-f16.mean.jsonl" && ok || bad "bge mean: $(cat "$T/err")"
# 3: the wrong pooling misses (the comparison can fail)
"$OMNI" embed -m "$BGE" --pooling last --ids $(ids_args "$GOLDEN/embed/synth-bert-bge-f16.jsonl") > "$T/last.json" 2>/dev/null &&
  ! cmp_vec "$T/last.json" "$GOLDEN/embed/synth-bert-bge-f16.jsonl" >/dev/null 2>&1 && ok || bad "last pooling should miss the cls golden"
# 4: text from stdin, one line per input (the golden's one-line cases), on the decoder golden
python3 - tests/golden/embed/synth-qwen3-f16.last.jsonl "$T" <<'PY'
import json, sys
g = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
one = [x for x in g if "\n" not in x["prompt"] and x["prompt"].strip() == x["prompt"]]
open(sys.argv[2] + "/in.txt", "w").write("".join(x["prompt"] + "\n" for x in one))
open(sys.argv[2] + "/gold.jsonl", "w").write("".join(json.dumps(x) + "\n" for x in one))
PY
"$OMNI" embed -m "$QWEN" < "$T/in.txt" > "$T/q.json" 2> "$T/err" && grep -q '"pooling":"last"' "$T/q.json" &&
  cmp_vec "$T/q.json" "$T/gold.jsonl" && ok || bad "qwen3 stdin: $(cat "$T/err")"
# 5: text as arguments equals the same text from stdin
first=$(head -n 1 "$T/in.txt")
"$OMNI" embed -m "$QWEN" "$first" > "$T/a.json" 2>/dev/null &&
  python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['data'][0]['embedding']; b=json.load(open(sys.argv[2]))['data'][0]['embedding']; assert a==b" "$T/a.json" "$T/q.json" && ok || bad "argument text != stdin text"
# 6: --no-normalize gives the golden's norm
"$OMNI" embed -m "$QWEN" --no-normalize "$first" > "$T/raw.json" 2>/dev/null &&
  python3 -c "
import json,sys,math
v=json.load(open(sys.argv[1]))['data'][0]['embedding']; g=json.loads(open(sys.argv[2]).readline())
assert abs(math.sqrt(sum(x*x for x in v)) - g['norm']) < 0.01" "$T/raw.json" "$T/gold.jsonl" && ok || bad "--no-normalize norm"
# 7: the reranker with ids is refused for embeddings
if "$OMNI" embed -m "$RERANK" --ids 0,5,2 > /dev/null 2> "$T/err"; then bad "a reranker made embeddings"; else grep -q "reranking model" "$T/err" && ok || bad "reranker message: $(cat "$T/err")"; fi
# 8-9: --rerank on the golden's two queries: its scores (within 0.03), best first
for i in 0 1; do
  python3 - "$OMNI" "$RERANK" "$GOLDEN/embed/synth-bert-xlmr-rerank-f16.rerank.jsonl" "$i" <<'PY' && ok || bad "rerank query $i"
import json, subprocess, sys
omni, model, gold, i = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
g = [json.loads(l) for l in open(gold) if l.strip()][i]
docs = [r["document"] for r in g["results"]]
p = subprocess.run([omni, "embed", "-m", model, "--rerank", g["query"]] + docs, capture_output=True, text=True)
assert p.returncode == 0, p.stderr
out = json.loads(p.stdout)
r = out["results"]
assert [x["index"] for x in r] == g["ranking"], ("ranking", r)
for x in r:
    assert abs(x["relevance_score"] - g["results"][x["index"]]["score"]) <= 0.03, x
    assert x["document"] == docs[x["index"]]
assert out["usage"]["prompt_tokens"] == sum(len(x["tokens"]) for x in g["results"]), out["usage"]
PY
done
# 9: errors: no model, a bad option, rerank on an embedding model, a chat model file that is not an encoder still works as a decoder
if "$OMNI" embed "x" 2> "$T/err"; then bad "no model accepted"; else grep -q "no model" "$T/err" && ok || bad "no model message"; fi
if "$OMNI" embed -m "$BGE" --ids 1,2 --rerank q 2> "$T/err" >/dev/null; then bad "rerank on bge"; else grep -q "rerank\|classification head" "$T/err" && ok || bad "rerank on bge message: $(cat "$T/err")"; fi
"$OMNI" embed --help | grep -q "omni embed -m MODEL" && ok || bad "--help"
# a generating command on an embedding model says what the file is
if "$OMNI" run -m "$BGE" -p hi > /dev/null 2> "$T/err"; then bad "omni run on an encoder"; else grep -q "is an embedding model" "$T/err" && ok || bad "run message: $(cat "$T/err")"; fi

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
