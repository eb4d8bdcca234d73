#!/bin/sh
# `make run`: start omni's server and chat page on a chat model, fetching the default
# models on first run: Qwen3-1.7B Q4_K_M (small, current, speaks Korean well; thinks
# before answering, the page shows the thoughts folded away), the Qwen3-Embedding-0.6B
# embedding model alongside, and Whisper for the microphone. Offline, it falls back to a
# model under $OMNI_MODELS.
#   OMNI_MODEL=path-or-name  use that model instead
#   HOST / PORT              where to listen (default 127.0.0.1:8080)
set -u
BUILD=${BUILD:-build}
OMNI=${OMNI_BIN:-$BUILD/omni}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
DEFAULT_CHAT=qwen3-1.7b-q4_k_m
DEFAULT_EMBED=qwen3-embedding-0.6b-q8_0
DEFAULT_ASR=whisper-base

model=${OMNI_MODEL:-}
if [ -z "$model" ]; then
  echo "omni: getting the default chat model ($DEFAULT_CHAT)..." >&2
  model=$("$OMNI" pull "$DEFAULT_CHAT") || model=""
fi
if [ -z "$model" ]; then
  # No network (or no hub): use the first model under OMNI_MODELS that can chat —
  # one with weights and a chat template, else the first one with weights.
  dir=${OMNI_MODELS:-../shared/models}
  for f in $(find "$dir" -name '*.gguf' 2>/dev/null | LC_ALL=C sort); do
    info=$("$OMNI" show "$f" 2>/dev/null) || continue
    echo "$info" | grep -q "vocabulary-only" && continue
    echo "$info" | grep -q "^architecture *\(llama\|qwen2\|qwen3\)" || continue
    if echo "$info" | grep -q "^chat template"; then model=$f; break; fi
    [ -z "$model" ] && model=$f
  done
  [ -n "$model" ] && echo "omni: offline; using $model from $dir" >&2
fi
if [ -z "$model" ]; then
  echo "omni: no chat model available. Connect to the internet and run \`$OMNI pull $DEFAULT_CHAT\`," >&2
  echo "      or point OMNI_MODEL at a .gguf file." >&2
  exit 1
fi

set -- serve -m "$model" --host "$HOST" --port "$PORT"
asr=$("$OMNI" pull "$DEFAULT_ASR" 2>/dev/null) || asr=""
if [ -n "$asr" ] && "$OMNI" serve --help 2>/dev/null | grep -q -- "--asr-model"; then
  set -- "$@" --asr-model "$asr"
fi
# The embedding model (for /v1/embeddings and document search) comes along when the
# server can serve one; without a network it is simply left out.
if "$OMNI" serve --help 2>/dev/null | grep -q -- "--embedding-model"; then
  emb=$("$OMNI" pull "$DEFAULT_EMBED" 2>/dev/null) || emb=""
  if [ -n "$emb" ]; then set -- "$@" --embedding-model "$emb"
  else echo "omni: the embedding model ($DEFAULT_EMBED) is not available offline; serving without it" >&2; fi
fi
echo "omni: open http://$HOST:$PORT/ in your browser (Ctrl-C stops the server)" >&2
exec "$OMNI" "$@"
