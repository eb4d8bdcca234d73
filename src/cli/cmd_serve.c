/* `omni serve`: loads a model and serves the OpenAI-compatible API and the chat page.
 * The listener starts first (503 + /health "loading" until the model is ready);
 * SIGINT/SIGTERM stop accepting, let running generations finish briefly, then exit 0. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/chat_images.h"
#include "api/model_ref.h"
#include "api/server.h"
#include "cli/accounts_db.h"
#include "cli/cli.h"
#include "cli/lora_args.h"
#include "cli/spec_args.h"
#include "omni.h"
#include "tools/builtin.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni serve [-m MODEL.gguf] [options]\n\n"
            "Serves an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)\n"
            "and a chat page at http://HOST:PORT/. Any OpenAI SDK works with base URL\n"
            "http://HOST:PORT/v1. Also: GET /health (no key needed) and GET /metrics (Prometheus).\n"
            "Thinking models (Qwen3, gpt-oss, ...): their thoughts come as message.reasoning_content\n"
            "(delta.reasoning_content when streaming); per request, reasoning_format \"none\" gives\n"
            "the raw text and chat_template_kwargs {\"enable_thinking\": false} turns thinking off.\n"
            "Speech: POST /v1/audio/speech (text to speech, streamed; no model needed) and\n"
            "GET /v1/audio/voices always; POST /v1/audio/transcriptions, /v1/audio/translations and\n"
            "input_audio parts in chat messages when a Whisper model is given with --asr-model.\n"
            "Voice: with --asr-model, GET /v1/realtime?model=ID is OpenAI's Realtime API over a\n"
            "WebSocket (speak, get the answer as audio; the chat page's microphone button uses it).\n"
            "Embeddings: with --embedding-model, POST /v1/embeddings (OpenAI's) or, for a reranker,\n"
            "POST /v1/rerank (query + documents -> relevance scores, as llama-server and Jina).\n"
            "ollama's API too (Open WebUI, Continue, the ollama clients: host http://HOST:PORT):\n"
            "/api/chat, /api/generate, /api/embed, /api/tags, /api/show, /api/ps, /api/pull, ...\n\n"
            "Many models: without -m (or with --store) every model in the store ($OMNI_HOME, see `omni\n"
            "list`) is served: GET /v1/models lists the chat, embedding, rerank, speech (Whisper) and\n"
            "image-encoder models, a request's 'model' picks one, loading it on first use; idle ones\n"
            "are unloaded least-recently-used to stay within --memory-budget, and after --keep-alive.\n"
            "GET /v1/ps lists the loaded models (memory, expiry); POST /v1/models/ID/load (body\n"
            "{\"keep_alive\": \"10m\"}, optional) and POST /v1/models/ID/unload load and unload one. A\n"
            "model pulled while the server runs appears at once.\n\n"
            "options:\n"
            "  -m, --model FILE       a model (GGUF) to serve, loaded at start and never unloaded; an\n"
            "                         embedding model here is served alone, as if given with\n"
            "                         --embedding-model. Without -m: the store's models\n"
            "      --store            serve the store's models next to -m\n"
            "      --memory-budget N  memory the loaded models may take, as bytes or with K, M, G (default\n"
            "                         75%% of the memory available at start); weights + KV cache estimate\n"
            "      --keep-alive D     unload a store model idle for D (default 5m; 0: after each request,\n"
            "                         -1: never); durations are seconds or 30s, 10m, 1h. A request's\n"
            "                         \"keep_alive\" field sets it for that model (as ollama's)\n"
            "      --load-timeout D   a request waits this long for its model to load, then gets 503 with\n"
            "                         Retry-After (the load goes on; default 5m)\n"
            "      --alias NAME=MODEL requests for NAME (gpt-4o-mini, text-embedding-3-small, whisper-1) go\n"
            "                         to MODEL; repeatable\n"
            "      --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
            "      --port N           port (default 8080; 0 picks a free one and prints it)\n"
            "      --api-key KEY      require 'Authorization: Bearer KEY' on /v1 (repeatable)\n"
            "      --api-keys-file F  read keys from F, one per line ('#' comments allowed)\n"
            "      --parallel N       requests generated at once, batched together (default 4)\n"
            "      --ctx N            context length per request (default: the model's, as far as the\n"
            "                         KV caches fit a quarter of memory; at least 4096)\n"
            "      --cache-type T     KV cache type for K and V: f16 (default), q8_0 or q4_0\n"
            "      --flash-attn M     attention kernel: auto (default: llama.cpp's exact order up to\n"
            "                         1024 positions, tiled beyond), on (tiled) or off (exact)\n"
            "      --queue N          requests allowed to wait for a slot; more get 429 (default 64)\n"
            "      --threads N        compute threads (default: all cores)\n"
            "      --max-body BYTES   largest request body accepted; more get 413 (default 8 MiB)\n"
            "      --max-file-size BYTES  largest upload to POST /v1/files (default 32 MiB)\n"
            "      --mmproj FILE      image encoder for the model (llama.cpp mmproj GGUF): chat messages may\n"
            "                         then carry image_url parts (data:image/png;base64,... URIs)\n"
            "      --allow-image-dir DIR  image_url may also name local files (file:///... or a path)\n"
            "                         inside DIR (symlinks resolved first); others get 400\n"
            "      --name ID          model id shown by /v1/models (default: the file name)\n"
            "      --lora FILE[:SCALE]  apply a LoRA adapter (GGUF, made for the model) at SCALE (default\n"
            "                         1) to every request; repeatable\n"
            "      --lora-scaled FILE SCALE  the same, llama.cpp's spelling\n"
            "      --asr-model FILE   Whisper model (whisper.cpp ggml .bin, e.g. ggml-base.bin) for speech\n"
            "                         recognition; uploads are limited by --max-body\n"
            "      --vad-model FILE   Silero VAD model (ggml .bin): transcribe only the detected speech,\n"
            "                         and the turn detector of the Realtime API\n"
            "      --tts-model FILE   a neural voice: a Qwen3-TTS talker GGUF (llama.cpp's conversion), with\n"
            "      --tts-mmproj FILE  its mmproj (code predictor, codec decoder). /v1/audio/speech and the\n"
            "                         Realtime API then speak the preset voices with it (OpenAI names map\n"
            "                         to its built-in speakers); espeak-ng stays the fallback\n"
            "      --tts-quant TYPE   none (default: the file's weights), q8_0 or q4_0: the neural voice's code\n"
            "                         predictor requantized at load, for sooner first audio\n"
            "      --embedding-model FILE  an embedding model (BERT-family GGUF such as bge-small-en-v1.5, or\n"
            "                         Qwen3-Embedding) for POST /v1/embeddings, or a reranker (bge-reranker)\n"
            "                         for POST /v1/rerank, served next to the chat model. Given as -m instead,\n"
            "                         such a file is served alone (the chat routes then answer 400)\n"
            "      --rerank-model FILE  a reranker (cross-encoder GGUF such as bge-reranker-v2-m3) that\n"
            "                         reorders the best passages of an assistant's knowledge search\n"
            "                         (also served by POST /v1/rerank as its file name)\n"
            "      --pooling P        the embedding model's pooling: cls, mean, last or rank (default: the\n"
            "                         file's, as llama-server --pooling)\n"
            "      --moderation FILE  a moderation policy (JSON: block lists, patterns, PII detectors with\n"
            "                         block/redact/warn/log/allow; see README) for POST /v1/moderations\n"
            "      --guard-model FILE a guard model (Qwen3Guard-Gen, Llama Guard 3, ShieldGemma GGUF) that\n"
            "                         /v1/moderations asks after the policy's rules\n"
            "      --mcp NAME=COMMAND a local MCP server (stdio) that requests may use as the tool\n"
            "                         {\"type\": \"mcp\", \"server_label\": NAME}; started on first use\n"
            "      --tls-cert FILE    PEM certificate: serve HTTPS and WSS (needed by clients that insist\n"
            "                         on wss://, like the OpenAI SDK's realtime class)\n"
            "      --tls-key FILE     PEM private key for --tls-cert\n"
            "speculative decoding (output unchanged; usage reports accepted_prediction_tokens, /metrics\n"
            "omni_draft_*):\n"
            CLI_SPEC_HELP "\n"
            "accounts (README.md \"Accounts\"): sign-up, login, conversations, keys and limits under /api\n"
            "      --db URL           sqlite:PATH or postgres://USER@HOST:PORT/DB (default sqlite:$OMNI_HOME/omni.db;\n"
            "                         several servers on one PostgreSQL are replicas of one service)\n"
            "      --adapter NAME=FILE[:SCALE]  a LoRA adapter loaded beside the model, used by requests for\n"
            "                         model \"MODEL+NAME\" only (several; no reload, the same batch)\n"
            "      --fine-tuning-dir DIR  where /v1/fine_tuning/jobs keep their data, checkpoints and adapters\n"
            "                         (default $OMNI_HOME/fine_tuning)\n"
            "      --signup POLICY    open (anyone may sign up; default), approval (an admin approves) or\n"
            "                         closed (only `omni user add`); the first account is always the admin\n"
            "      --no-auth          no accounts: no login, everything belongs to one local user\n"
            "      --tiers FILE       tiers and their limits (JSON; default: free 10 messages / 3 h on large\n"
            "                         models, plus 5x; see src/auth/tiers.h)\n"
            "      --session-ttl S    seconds a login lasts unused (default 2592000, 30 days)\n"
            "      --secure-cookie    mark the login cookie Secure without --tls-cert (TLS ends at a balancer)\n\n"
            "example:\n"
            "  omni serve -m SmolLM2-135M-Instruct.Q8_0.gguf --port 8080 --api-key secret\n"
            "  omni serve -m bge-small-en-v1.5-f16.gguf      (embeddings only)\n"
            "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer secret' \\\n"
            "       -H 'Content-Type: application/json' -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}'\n");
}

static int parse_size(const char *s, uint64_t *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return -1;
    double mul = !*end ? 1 : !strcmp(end, "K") || !strcmp(end, "k") ? 1024.0 : !strcmp(end, "M") ? 1048576.0
               : !strcmp(end, "G") ? 1073741824.0 : !strcmp(end, "T") ? 1099511627776.0 : -1;
    if (mul < 0 || v * mul > 1.8e19) return -1;
    *out = (uint64_t)(v * mul);
    return 0;
}

static void registry_log(const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "omni serve: %s\n", msg);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* The model id clients send: the file name without directory and ".gguf". */
static char *model_id_from_path(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *id = strdup(b);
    size_t n = id ? strlen(id) : 0;
    if (n > 5 && !strcmp(id + n - 5, ".gguf")) id[n - 5] = 0;
    return id;
}

static double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct store_opts {  /* serving the model store (registry): without -m, or with --store */
    int use_store;
    uint64_t budget;
    int64_t keep_alive, load_timeout;
    const char **alias;
    int n_alias;
};
static const char *g_rerank_path;     /* --rerank-model */
static omni_embedder *g_reranker;

static int cmd_serve_run(int argc, char **argv, const char *model_path, const char *name, const char *mmproj,
                         const char *embed_path, int embed_only, int pooling, struct api_params *app,
                         omni_engine_params *spp, struct api_keys *keysp, int n_threads, struct cli_lora *lap,
                         struct cli_spec *specp, const struct store_opts *so);

/* Without -m: the store's models on demand (and a pinned --embedding-model, if any).
 * Runs until a signal, then shuts down. */
static int serve_store(struct api_server *srv, omni_registry *reg, const struct api_params *ap, const char *host,
                       int64_t keep_alive, int n_keys) {
    char err[512] = "";
    omni_registry_model *list = NULL;
    int n = omni_registry_list(reg, 0, &list, err, sizeof err);
    uint64_t b = 0;
    omni_registry_memory(reg, &b, NULL);
    char dir[512];
    api_server_set_engine(srv, NULL);
    printf("omni serve: listening on %s://%s:%d (API base %s://%s:%d/v1) — the model store %s (%d models), "
           "memory budget %.0f MiB, keep-alive %s, API keys: %s. Ctrl-C stops.\n",
           ap->tls_cert ? "https" : "http", strchr(host, ':') ? "[::1]" : host, api_server_port(srv),
           ap->tls_cert ? "https" : "http", strchr(host, ':') ? "[::1]" : host, api_server_port(srv),
           omni_store_dir(dir, sizeof dir) ? dir : "?", n > 0 ? n : 0, b / 1048576.0,
           keep_alive < 0 ? "forever" : keep_alive == 0 ? "none" : "on", n_keys ? "required" : "off");
    for (int k = 0; k < n; k++)
        printf("omni serve:   %-14s %s (%.1f MiB)\n", omni_model_kind_name(list[k].kind), list[k].id,
               list[k].file_size / 1048576.0);
    omni_registry_list_free(list, n);
    fflush(stdout);
    while (!g_stop) sleep_ms(100);
    fprintf(stderr, "omni serve: stopping (finishing running requests for up to 5 s)…\n");
    api_server_drain(srv);
    for (int waited = 0; waited < 5000 && g_stop < 2; waited += 50) {
        omni_registry_model *l = NULL;
        int busy = 0, k = omni_registry_list(reg, 1, &l, err, sizeof err);
        for (int q = 0; q < k; q++) busy += l[q].active;
        omni_registry_list_free(l, k);
        if (!busy) break;
        sleep_ms(50);
    }
    omni_registry_cancel_all(reg);
    api_server_stop(srv);
    omni_registry_free(reg);   /* unloads the models, their engines last */
    fprintf(stderr, "omni serve: stopped\n");
    return 0;
}

/* --adapter NAME=FILE[:SCALE]: named adapters beside the model, chosen per request */
static const char *adapters[32];
static int n_adapters;

/* Loads the --adapter list beside model. 0, or -1 with err. */
static int add_adapters(omni_model *model, char *err, size_t cap) {
    for (int i = 0; i < n_adapters; i++) {
        const char *eq = strchr(adapters[i], '=');
        char name[256], path[4096];
        snprintf(name, sizeof name, "%.*s", (int)(eq - adapters[i]), adapters[i]);
        snprintf(path, sizeof path, "%s", eq + 1);
        float scale = 1.0f;
        char *colon = strrchr(path, ':'), *end = NULL;
        if (colon && colon[1]) {
            double v = strtod(colon + 1, &end);
            if (end && !*end) scale = (float)v, *colon = 0;
        }
        char e[512];
        if (omni_model_add_adapter(model, name, path, scale, e, sizeof e)) {
            snprintf(err, cap, "--adapter %.200s: %.280s", adapters[i], e);
            return -1;
        }
    }
    return 0;
}

/* --mcp servers: shared by every request, their processes stopped at exit */
static struct builtin_config serve_mcp;
static void serve_mcp_free(void) { builtin_config_free(&serve_mcp); }

int cmd_serve(int argc, char **argv) {
    const char *model_path = NULL, *name = NULL, *tts_model = NULL, *tts_mmproj = NULL, *tts_quant = NULL;
    const char *mmproj = NULL, *embed_path = NULL;
    int pooling = OMNI_POOLING_DEFAULT;
    struct api_params ap = api_default_params();
    omni_engine_params sp = omni_engine_default_params();
    struct api_keys keys = {0};
    struct err e = {{0}};
    const char *db_url = NULL, *tiers_path = NULL, *ft_dir = NULL;
    static char ft_default[4200];
    int no_auth = 0, signup = AUTH_SIGNUP_OPEN, session_ttl = 0, secure_cookie = 0;
    int n_threads = 0;
    long long max_body = -1, max_file = -1;
    static struct cli_lora la;
    la.n = 0;
    struct cli_spec spec;
    cli_spec_init(&spec);
    int use_store = 0;
    uint64_t budget = 0;
    int64_t keep_alive = 5 * 60 * 1000, load_timeout = 5 * 60 * 1000;
    const char *alias[64];
    int n_alias = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); api_keys_free(&keys); return 0; }
        int lr = cli_lora_arg(&la, argc, argv, &i);
        if (lr < 0) { api_keys_free(&keys); return 1; }
        if (lr) continue;
        if (!strcmp(a, "--no-auth")) { no_auth = 1; continue; }
        if (!strcmp(a, "--secure-cookie")) { secure_cookie = 1; continue; }
        int sr = cli_spec_arg(&spec, argc, argv, &i);
        if (sr < 0) { api_keys_free(&keys); return 1; }
        if (sr) continue;
        if (!strcmp(a, "--store")) { use_store = 1; continue; }
        if (i + 1 >= argc) {
            api_keys_free(&keys);
            return cli_fail("serve: unknown option or missing value: '%s' (see `omni serve --help`)", a);
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--host")) ap.host = v;
        else if (!strcmp(a, "--port")) bad = parse_int(v, 0, 65535, &ap.port);
        else if (!strcmp(a, "--parallel")) bad = parse_int(v, 1, 256, &sp.n_slots);
        else if (!strcmp(a, "--ctx")) bad = parse_int(v, 16, 1 << 20, &sp.n_ctx);
        else if (!strcmp(a, "--queue")) bad = parse_int(v, 0, 1 << 20, &sp.max_queue);
        else if (!strcmp(a, "--cache-type")) bad = (sp.cache_type = omni_cache_type_parse(v)) < 0;
        else if (!strcmp(a, "--flash-attn")) bad = (sp.flash_attn = omni_flash_attn_parse(v)) < 0;
        else if (!strcmp(a, "--threads")) bad = parse_int(v, 1, 1024, &n_threads);
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--db")) db_url = v;
        else if (!strcmp(a, "--fine-tuning-dir")) ft_dir = v;
        else if (!strcmp(a, "--adapter")) {
            const char *eq = strchr(v, '=');
            bad = !eq || eq == v || !eq[1] || n_adapters >= (int)(sizeof adapters / sizeof *adapters);
            if (!bad) adapters[n_adapters++] = v;
        }
        else if (!strcmp(a, "--tiers")) tiers_path = v;
        else if (!strcmp(a, "--signup")) bad = (signup = auth_signup_parse(v)) < 0;
        else if (!strcmp(a, "--session-ttl")) bad = parse_int(v, 1, 10 * 365 * 86400, &session_ttl);
        else if (!strcmp(a, "--memory-budget")) bad = parse_size(v, &budget);
        else if (!strcmp(a, "--keep-alive")) bad = api_parse_duration(v, &keep_alive);
        else if (!strcmp(a, "--load-timeout")) bad = api_parse_duration(v, &load_timeout) || load_timeout < 0;
        else if (!strcmp(a, "--alias")) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                api_keys_free(&keys);
                return cli_fail("serve: --alias takes NAME=MODEL (e.g. gpt-4o-mini=qwen2.5-0.5b-instruct-q4_k_m), not '%s'", v);
            }
            if (n_alias == 64) { api_keys_free(&keys); return cli_fail("serve: at most 64 --alias"); }
            alias[n_alias++] = v;
        }
        else if (!strcmp(a, "--mmproj")) mmproj = v;
        else if (!strcmp(a, "--embedding-model")) embed_path = v;
        else if (!strcmp(a, "--rerank-model")) g_rerank_path = v;
        else if (!strcmp(a, "--moderation")) ap.moderation = v;
        else if (!strcmp(a, "--mcp")) {
            char merr[200];
            if (builtin_config_add(&serve_mcp, v, merr, sizeof merr)) { api_keys_free(&keys); return cli_fail("serve: %s", merr); }
            if (serve_mcp.n == 1) atexit(serve_mcp_free);   /* its commands end with the server */
            ap.mcp = &serve_mcp;
        }
        else if (!strcmp(a, "--guard-model")) ap.guard_model = v;
        else if (!strcmp(a, "--pooling")) {
            pooling = !strcmp(v, "mean") ? OMNI_POOLING_MEAN : !strcmp(v, "cls") ? OMNI_POOLING_CLS
                    : !strcmp(v, "last") ? OMNI_POOLING_LAST : !strcmp(v, "rank") ? OMNI_POOLING_RANK : 0;
            bad = !pooling;
        }
        else if (!strcmp(a, "--allow-image-dir")) {
            if (api_chat_images_allow_dir(v, &e)) { api_keys_free(&keys); return cli_fail("serve: %s", e.msg); }
        }
        else if (!strcmp(a, "--asr-model")) ap.asr_model = v;
        else if (!strcmp(a, "--vad-model")) ap.vad_model = v;
        else if (!strcmp(a, "--tts-model")) tts_model = v;
        else if (!strcmp(a, "--tts-mmproj")) tts_mmproj = v;
        else if (!strcmp(a, "--tts-quant")) tts_quant = v;
        else if (!strcmp(a, "--tls-cert")) ap.tls_cert = v;
        else if (!strcmp(a, "--tls-key")) ap.tls_key = v;
        else if (!strcmp(a, "--max-file-size")) {
            char *end;
            max_file = strtoll(v, &end, 10);
            bad = !*v || *end || max_file < 1024;
        } else if (!strcmp(a, "--max-body")) {
            char *end = NULL;
            max_body = strtoll(v, &end, 10);
            bad = !*v || *end || max_body < 1024;
        } else if (!strcmp(a, "--api-key")) {
            if (api_keys_add(&keys, v, &e)) { api_keys_free(&keys); return cli_fail("serve: --api-key: %s", e.msg); }
        } else if (!strcmp(a, "--api-keys-file")) {
            if (api_keys_load_file(&keys, v, &e)) { api_keys_free(&keys); return cli_fail("serve: %s", e.msg); }
        } else {
            api_keys_free(&keys);
            return cli_fail("serve: unknown option '%s' (see `omni serve --help`)", a);
        }
        if (bad) { api_keys_free(&keys); return cli_fail("serve: %s: '%s' is not a valid value", a, v); }
    }
    if (!model_path) use_store = 1;
    if (!model_path && (la.n || mmproj)) {
        api_keys_free(&keys);
        return cli_fail("serve: --lora and --mmproj apply to the model given with -m");
    }
    if (model_path && access(model_path, R_OK)) { api_keys_free(&keys); return cli_fail("serve: %s: cannot read the model file", model_path); }
    if (embed_path && access(embed_path, R_OK)) {
        api_keys_free(&keys);
        return cli_fail("serve: %s: cannot read the --embedding-model file", embed_path);
    }
    if (g_rerank_path && access(g_rerank_path, R_OK)) {
        api_keys_free(&keys);
        return cli_fail("serve: %s: cannot read the --rerank-model file", g_rerank_path);
    }
    /* -m with an embedding model and no other: serve it alone */
    int embed_only = model_path && !embed_path && omni_file_is_embedding_model(model_path);
    if (embed_only) embed_path = model_path;
    if (embed_only && la.n) {
        api_keys_free(&keys);
        return cli_fail("serve: --lora applies to a chat model; %s is an embedding model", model_path);
    }
    if (max_body > 0) ap.max_body = (size_t)max_body;
    if (max_file > 0) ap.max_file = (size_t)max_file;
    if (!ap.tls_cert != !ap.tls_key) {
        api_keys_free(&keys);
        return cli_fail("serve: --tls-cert and --tls-key go together (a PEM certificate and its private key)");
    }
    if (ap.vad_model && !ap.asr_model) {
        api_keys_free(&keys);
        return cli_fail("serve: --vad-model needs --asr-model (the VAD only trims audio for Whisper)");
    }
    if (ap.asr_model && access(ap.asr_model, R_OK)) {
        api_keys_free(&keys);
        return cli_fail("serve: %s: cannot read the --asr-model file", ap.asr_model);
    }
    if (ap.vad_model && access(ap.vad_model, R_OK)) {
        api_keys_free(&keys);
        return cli_fail("serve: %s: cannot read the --vad-model file", ap.vad_model);
    }
    if (!tts_model != !tts_mmproj) {
        api_keys_free(&keys);
        return cli_fail("serve: --tts-model and --tts-mmproj go together (a Qwen3-TTS talker and its mmproj)");
    }
    if (tts_model) {  /* the neural voice of /v1/audio/speech and the Realtime API; espeak-ng stays the fallback */
        char terr[512];
        if (omni_tts_load_neural_quant(tts_model, tts_mmproj, n_threads, tts_quant, terr, sizeof terr)) {
            api_keys_free(&keys);
            return cli_fail("serve: --tts-model: %s", terr);
        }
    }

    /* accounts: the database and the tiers, before listening */
    struct store *db = NULL;
    static struct auth_config ac;
    if (cli_db_open(db_url, &db, &e) || auth_config_init(&ac, db, &e)) {
        store_close(db);
        api_keys_free(&keys);
        return cli_fail("serve: --db: %s", e.msg);
    }
    if (tiers_path) {
        struct auth_tiers t;
        if (auth_tiers_load(&t, tiers_path, &e)) {
            auth_config_free(&ac);
            store_close(db);
            api_keys_free(&keys);
            return cli_fail("serve: --tiers: %s", e.msg);
        }
        auth_tiers_free(&ac.tiers);
        ac.tiers = t;
    }
    ac.no_auth = no_auth;
    ac.secure_cookie = secure_cookie;
    ac.signup = (enum auth_signup)signup;
    if (session_ttl) ac.session_ttl_ms = (int64_t)session_ttl * 1000;
    ap.auth = &ac;
    /* the fine-tuning API's jobs: data, checkpoints and adapters beside the database */
    char dbdir[4096];
    if (!ft_dir && cli_db_dir(dbdir, sizeof dbdir)) {
        snprintf(ft_default, sizeof ft_default, "%s/fine_tuning", dbdir);
        ft_dir = ft_default;
    }
    ap.ft_dir = ft_dir;
    struct store_opts so = {use_store, budget, keep_alive, load_timeout, alias, n_alias};
    int rc_serve = cmd_serve_run(argc, argv, model_path, name, mmproj, embed_path, embed_only, pooling, &ap, &sp, &keys,
                                 n_threads, &la, &spec, &so);
    auth_config_free(&ac);
    store_close(db);
    return rc_serve;
}

static int cmd_serve_run(int argc, char **argv, const char *model_path, const char *name, const char *mmproj,
                         const char *embed_path, int embed_only, int pooling, struct api_params *app,
                         omni_engine_params *spp, struct api_keys *keysp, int n_threads, struct cli_lora *lap,
                         struct cli_spec *specp, const struct store_opts *so) {
    struct cli_spec spec = *specp;  /* owned from here (the draft model) */
    (void)argc;
    (void)argv;
    struct api_params ap = *app;
    omni_engine_params sp = *spp;
    struct api_keys keys = *keysp;
    struct cli_lora la = *lap;
    struct err e = {{0}};
    memset(keysp, 0, sizeof *keysp);
    char *id = name ? strdup(name) : model_path ? model_id_from_path(model_path) : strdup("store");
    const int use_store = so->use_store;
    const uint64_t budget = so->budget;
    const int64_t keep_alive = so->keep_alive, load_timeout = so->load_timeout;
    const char *const *alias = so->alias;
    const int n_alias = so->n_alias;
    ap.model_id = id;
    ap.model_path = embed_only ? NULL : model_path;
    ap.embed_path = embed_path;
    ap.asr_threads = n_threads;
    int n_keys = keys.n;
    /* with accounts, /v1 takes a user's key or a login as well as the static list */
    const char *keys_text = ap.auth && !ap.auth->no_auth ? (n_keys ? "required (static or a user's)" : "a user's key or a login")
                                                         : n_keys ? "required" : "off";
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct api_server *srv = api_server_start(&ap, &keys, &e);
    if (!srv) { free(id); api_keys_free(&keys); return cli_fail("serve: %s", e.msg); }
    const char *host = ap.host && *ap.host ? ap.host : "127.0.0.1";
    char err[512] = "";
    omni_registry_params rp = omni_registry_default_params();
    rp.use_store = use_store;
    rp.memory_budget = budget;
    rp.keep_alive_ms = keep_alive;
    rp.n_threads = n_threads;
    rp.engine = sp;
    rp.pooling = pooling;
    rp.vad_model = ap.vad_model;
    rp.log = registry_log;
    omni_registry *reg = omni_registry_new(&rp, err, sizeof err);
    for (int k = 0; reg && k < n_alias; k++) {
        char nm[256];
        const char *eq = strchr(alias[k], '=');
        snprintf(nm, sizeof nm, "%.*s", (int)(eq - alias[k]), alias[k]);
        if (omni_registry_alias(reg, nm, eq + 1, err, sizeof err)) { omni_registry_free(reg); reg = NULL; }
    }
    if (!reg) { api_server_stop(srv); free(id); return cli_fail("serve: %s", err); }
    api_server_set_registry(srv, reg, load_timeout > 0x7fffffff ? 0x7fffffff : (int)load_timeout, use_store);
    if (model_path || embed_path) fprintf(stderr, "omni serve: loading %s …\n", model_path ? model_path : embed_path);

    /* Test only: OMNI_TEST_LOAD_DELAY_MS holds the loading phase open, so tests can see
     * the 503 answers (test models load faster than a client can ask). */
    const char *delay = getenv("OMNI_TEST_LOAD_DELAY_MS");
    long delay_ms = delay ? strtol(delay, NULL, 10) : 0;
    if (delay_ms > 0 && delay_ms <= 600000) {
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }

    omni_embedder *emb = NULL;
    char *embed_id = NULL;
    if (embed_path) {
        omni_embedder_params ep = omni_embedder_default_params();
        ep.n_threads = n_threads;
        ep.pooling = pooling;
        emb = omni_embedder_load(embed_path, &ep, err, sizeof err);
        embed_id = embed_only ? strdup(id) : model_id_from_path(embed_path);
        if (!emb || !embed_id) {
            api_server_stop(srv);
            omni_registry_free(reg);
            free(id);
            free(embed_id);
            omni_embedder_free(emb);
        omni_embedder_free(g_reranker);
            return cli_fail("serve: --embedding-model: %s", emb ? "out of memory" : err);
        }
        api_server_set_embedder(srv, emb, embed_id);
    }
    if (g_rerank_path) {
        omni_embedder_params ep = omni_embedder_default_params();
        ep.n_threads = n_threads;
        g_reranker = omni_embedder_load(g_rerank_path, &ep, err, sizeof err);
        char *rid = g_reranker ? model_id_from_path(g_rerank_path) : NULL;
        if (!g_reranker || !omni_embedder_can_rerank(g_reranker) || !rid) {
            api_server_stop(srv);
            omni_registry_free(reg);
            free(id);
            free(embed_id);
            free(rid);
            omni_embedder_free(emb);
            int loaded = g_reranker != NULL;
            omni_embedder_free(g_reranker);
            return cli_fail("serve: --rerank-model: %s", !loaded ? err : !rid ? "out of memory"
                            : "the file has no rerank head (give a cross-encoder such as bge-reranker-v2-m3)");
        }
        api_server_set_reranker(srv, g_reranker, rid);
        free(rid);
    }
    if (!model_path) {
        int rc = serve_store(srv, reg, &ap, host, keep_alive, n_keys);
        omni_embedder_free(emb);
        omni_embedder_free(g_reranker);
        free(embed_id);
        free(id);
        return rc;
    }
    if (embed_only) {
        api_server_set_engine(srv, NULL);
        printf("omni serve: listening on %s://%s:%d (API base %s://%s:%d/v1) — embedding model %s (%s, %d dims, %s), "
               "API keys: %s. Ctrl-C stops.\n", ap.tls_cert ? "https" : "http", strchr(host, ':') ? "[::1]" : host,
               api_server_port(srv), ap.tls_cert ? "https" : "http", strchr(host, ':') ? "[::1]" : host,
               api_server_port(srv), embed_id, omni_embedder_arch(emb), omni_embedder_n_embd(emb),
               omni_embedder_can_rerank(emb) ? "/v1/rerank" : "/v1/embeddings", keys_text);
        fflush(stdout);
        while (!g_stop) sleep_ms(100);
        fprintf(stderr, "omni serve: stopping\n");
        api_server_stop(srv);
        omni_registry_free(reg);
        omni_embedder_free(emb);
        omni_embedder_free(g_reranker);
        free(embed_id);
        free(id);
        fprintf(stderr, "omni serve: stopped\n");
        return 0;
    }
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = n_threads;
    mp.lora = la.a, mp.n_lora = la.n;
    omni_model *model = omni_model_load(model_path, &mp, err, sizeof err);
    if (!model) {
        api_server_stop(srv);
        omni_registry_free(reg);
        omni_embedder_free(emb);
        omni_embedder_free(g_reranker);
        free(embed_id);
        free(id);
        return cli_fail("serve: %s", err);
    }
    if (mmproj && omni_model_load_mmproj(model, mmproj, err, sizeof err)) {
        api_server_stop(srv);
        omni_registry_free(reg);
        omni_model_free(model);
        omni_embedder_free(emb);
        omni_embedder_free(g_reranker);
        free(embed_id);
        free(id);
        return cli_fail("serve: --mmproj: %s", err);
    }
    if (add_adapters(model, err, sizeof err)) {
        api_server_stop(srv);
        omni_registry_free(reg);
        omni_model_free(model);
        omni_embedder_free(emb);
        free(embed_id);
        free(id);
        return cli_fail("serve: %s", err);
    }
    int spec_rc = cli_spec_load(&spec, &mp, &sp);
    if (spec_rc || omni_model_start_engine(model, &sp, err, sizeof err)) {
        api_server_stop(srv);
        omni_registry_free(reg);
        omni_model_free(model);
        cli_spec_free(&spec);
        omni_embedder_free(emb);
        omni_embedder_free(g_reranker);
        free(embed_id);
        free(id);
        return spec_rc ? 1 : cli_fail("serve: %s", err);
    }
    omni_engine_stats es;
    omni_model_engine_stats(model, &es);
    api_server_set_engine(srv, model);
    printf("omni serve: listening on %s://%s:%d (API base %s://%s:%d/v1) — model %s (%s, %.1fM params, %.1f MiB), "
           "%d slots x %d ctx, queue %d, speech recognition %s, memory %.0f MiB RSS, API keys: %s. Ctrl-C stops.\n",
           ap.tls_cert ? "https" : "http", strchr(host, ':') ? "[::1]" : host, api_server_port(srv),
           ap.tls_cert ? "https" : "http", strchr(host, ':') ? "[::1]" : host, api_server_port(srv), id, omni_model_arch(model), omni_model_n_params(model) / 1e6,
           omni_model_size(model) / (1024.0 * 1024.0), es.n_slots, es.n_ctx, sp.max_queue,
           ap.asr_model ? "on" : "off", rss_mib(), keys_text);
    if (es.speculative)
        printf("omni serve: speculative decoding: %s%s%s, up to %d guessed tokens a step\n",
               spec.lookup ? "prompt lookup" : "", spec.lookup && spec.draft ? " and draft model " : spec.draft ? "draft model " : "",
               spec.draft ? omni_model_name(spec.draft) : "", sp.draft_max > 0 ? sp.draft_max : 16);
    if (emb) printf("omni serve: embedding model %s (%s, %d dims) on %s\n", embed_id, omni_embedder_arch(emb),
                    omni_embedder_n_embd(emb), omni_embedder_can_rerank(emb) ? "/v1/rerank" : "/v1/embeddings");
    if (ap.auth)
        printf("omni serve: accounts %s, database %s, sign-up %s, tiers %s\n", ap.auth->no_auth ? "off (--no-auth)" : "on",
               store_backend(ap.auth->st),
               ap.auth->signup == AUTH_SIGNUP_OPEN ? "open" : ap.auth->signup == AUTH_SIGNUP_APPROVAL ? "approval" : "closed",
               ap.auth->tiers.source);
    fflush(stdout);

    while (!g_stop) sleep_ms(100);

    fprintf(stderr, "omni serve: stopping (finishing running requests for up to 5 s)…\n");
    api_server_drain(srv);
    for (int waited = 0; waited < 5000 && g_stop < 2; waited += 50) {
        omni_model_engine_stats(model, &es);
        if (!es.busy && !es.queued) break;
        sleep_ms(50);
    }
    omni_model_cancel_all(model);
    omni_registry_cancel_all(reg);
    api_server_stop(srv);
    omni_registry_free(reg);
    omni_model_free(model); /* its engine too, after the handlers (and realtime sessions) are gone */
    cli_spec_free(&spec);   /* the draft model, which the engine used */
    omni_embedder_free(emb);
    omni_embedder_free(g_reranker);
    free(embed_id);
    free(id);
    fprintf(stderr, "omni serve: stopped\n");
    return 0;
}
