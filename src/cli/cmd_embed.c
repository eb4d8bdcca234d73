/* `omni embed`: sentence embeddings (or rerank scores) of texts, printed as JSON, with
 * the public omni_embedder API; the same vectors as the server's /v1/embeddings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni embed -m MODEL [options] [TEXT ...]\n"
            "       omni embed -m RERANKER --rerank QUERY [DOCUMENT ...]\n\n"
            "Turns each TEXT into a vector that captures its meaning (texts that mean similar\n"
            "things get vectors with a high cosine similarity), for search and clustering.\n"
            "Without TEXT arguments every non-empty line of standard input is one text.\n"
            "MODEL is an embedding model: a BERT-family GGUF (bge, MiniLM, bge-m3, ...) or a\n"
            "decoder made for embeddings (Qwen3-Embedding), as a file or a store name.\n\n"
            "  -m, --model MODEL   the embedding (or reranking) model\n"
            "  --pooling P         how token vectors become one: cls, mean, last (default: what\n"
            "                      the model file says)\n"
            "  --no-normalize      print the pooled vectors as they are instead of scaled to\n"
            "                      length 1 (the server's and llama.cpp's default)\n"
            "  --ids               each TEXT is token ids, comma-separated (e.g. 101,7592,102),\n"
            "                      used as given\n"
            "  --rerank QUERY      score each DOCUMENT's relevance to QUERY with a reranking\n"
            "                      model (bge-reranker); prints them best first\n"
            "  -t, --threads N     compute threads (default: all cores)\n\n"
            "Output, one JSON object: {\"model\", \"n_embd\", \"pooling\", \"data\": [{\"index\",\n"
            "\"tokens\", \"embedding\"}]}; with --rerank {\"model\", \"results\": [{\"index\",\n"
            "\"relevance_score\", \"document\"}]}.\n\n"
            "examples:\n"
            "  omni embed -m bge-small-en-v1.5-f16.gguf \"How do I reset my password?\"\n"
            "  omni embed -m bge-reranker-v2-m3.gguf --rerank \"refund policy\" \"Refunds within 14 days.\" \"Shipping takes 3 days.\"\n");
}

static const char *pool_name(int p) {
    return p == OMNI_POOLING_MEAN ? "mean" : p == OMNI_POOLING_CLS ? "cls" : p == OMNI_POOLING_LAST ? "last" : "rank";
}

static void json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* every non-empty line of stdin, malloc'ed; *n gets the count */
static char **read_lines(int *n) {
    char **v = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        char **nv = realloc(v, sizeof *v * (size_t)(*n + 1));
        if (!nv || !(nv[*n] = strdup(line))) { free(nv ? nv : v); free(line); *n = -1; return NULL; }
        v = nv;
        (*n)++;
    }
    free(line);
    return v;
}

static int parse_ids(const char *s, int32_t **out) {
    int n = 0, cap = 16;
    int32_t *v = malloc(sizeof *v * (size_t)cap);
    while (v && *s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > INT32_MAX) { free(v); return -1; }
        if (n == cap && !(v = realloc(v, sizeof *v * (size_t)(cap *= 2)))) return -1;
        v[n++] = (int32_t)x;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    *out = v;
    return v ? n : -1;
}

int cmd_embed(int argc, char **argv) {
    const char *model = NULL, *query = NULL;
    int normalize = 1, ids = 0, threads = 0, pooling = OMNI_POOLING_DEFAULT, n_in = 0;
    const char **texts = calloc((size_t)argc, sizeof *texts);
    if (!texts) return cli_fail("embed: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(texts); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) model = argv[++i];
        else if (!strcmp(a, "--rerank") && i + 1 < argc) query = argv[++i];
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--no-normalize")) normalize = 0;
        else if (!strcmp(a, "--ids")) ids = 1;
        else if (!strcmp(a, "--pooling") && i + 1 < argc) {
            const char *p = argv[++i];
            pooling = !strcmp(p, "mean") ? OMNI_POOLING_MEAN : !strcmp(p, "cls") ? OMNI_POOLING_CLS
                    : !strcmp(p, "last") ? OMNI_POOLING_LAST : !strcmp(p, "rank") ? OMNI_POOLING_RANK : 0;
            if (!pooling) { free(texts); return cli_fail("embed: --pooling takes cls, mean, last or rank, not '%s'", p); }
        } else if (a[0] == '-' && a[1]) {
            free(texts);
            return cli_fail("embed: unknown or incomplete option '%s' (see omni embed --help)", a);
        } else texts[n_in++] = a;
    }
    if (!model) { free(texts); return cli_fail("embed: no model given; use -m MODEL (see omni embed --help)"); }
    char **lines = NULL;
    if (!n_in) {
        lines = read_lines(&n_in);
        if (n_in < 0) { free(texts); return cli_fail("embed: cannot read standard input"); }
        free(texts);
        texts = (const char **)lines;
    }
    int rc = 1;
    char err[512], path[4096];
    omni_embedder *emb = NULL;
    omni_embed_input *in = NULL;
    float *out = NULL;
    int *nt = NULL;
    int32_t **idv = NULL;
    if (!n_in) { cli_fail("embed: no text given (arguments or lines on standard input)"); goto done; }
    if (!omni_store_resolve(model, path, sizeof path, err, sizeof err)) { cli_fail("embed: %s", err); goto done; }
    omni_embedder_params ep = omni_embedder_default_params();
    ep.n_threads = threads;
    ep.pooling = pooling;
    if (query && pooling == OMNI_POOLING_DEFAULT) ep.pooling = OMNI_POOLING_RANK;
    if (!(emb = omni_embedder_load(path, &ep, err, sizeof err))) { cli_fail("embed: %s", err); goto done; }
    if (query) {
        out = malloc(sizeof(float) * (size_t)n_in);
        int ntok = 0;
        if (!out) { cli_fail("embed: out of memory"); goto done; }
        if (omni_rerank(emb, query, texts, n_in, out, &ntok, err, sizeof err)) { cli_fail("embed: %s", err); goto done; }
        printf("{\"model\":");
        json_str(omni_embedder_name(emb));
        printf(",\"usage\":{\"prompt_tokens\":%d},\"results\":[", ntok);
        char *used = calloc((size_t)n_in, 1);
        for (int r = 0; used && r < n_in; r++) {
            int best = -1;
            for (int d = 0; d < n_in; d++)
                if (!used[d] && (best < 0 || out[d] > out[best])) best = d;
            used[best] = 1;
            printf("%s{\"index\":%d,\"relevance_score\":%.7g,\"document\":", r ? "," : "", best, out[best]);
            json_str(texts[best]);
            putchar('}');
        }
        free(used);
        puts("]}");
        rc = fflush(stdout) == 0 ? 0 : cli_fail("embed: cannot write the output");
        goto done;
    }
    int E = omni_embedder_n_embd(emb);
    in = calloc((size_t)n_in, sizeof *in);
    idv = calloc((size_t)n_in, sizeof *idv);
    out = malloc(sizeof(float) * (size_t)n_in * E);
    nt = calloc((size_t)n_in, sizeof *nt);
    if (!in || !idv || !out || !nt) { cli_fail("embed: out of memory"); goto done; }
    for (int i = 0; i < n_in; i++) {
        if (ids) {
            int n = parse_ids(texts[i], &idv[i]);
            if (n < 1) { cli_fail("embed: input %d is not a comma-separated list of token ids", i); goto done; }
            in[i].tokens = idv[i], in[i].n_tokens = n;
        } else in[i].text = texts[i], in[i].len = strlen(texts[i]);
    }
    if (omni_embed(emb, in, n_in, normalize, out, nt, err, sizeof err)) { cli_fail("embed: %s", err); goto done; }
    printf("{\"model\":");
    json_str(omni_embedder_name(emb));
    printf(",\"n_embd\":%d,\"pooling\":\"%s\",\"data\":[", E, pool_name(omni_embedder_pooling(emb)));
    for (int i = 0; i < n_in; i++) {
        printf("%s{\"index\":%d,\"tokens\":%d,\"embedding\":[", i ? "," : "", i, nt[i]);
        for (int c = 0; c < E; c++) printf(c ? ",%.7g" : "%.7g", out[(size_t)i * E + c]);
        printf("]}");
    }
    puts("]}");
    rc = fflush(stdout) == 0 ? 0 : cli_fail("embed: cannot write the output");
done:
    if (idv)
        for (int i = 0; i < n_in; i++) free(idv[i]);
    free(idv); free(in); free(out); free(nt);
    omni_embedder_free(emb);
    if (lines)
        for (int i = 0; i < n_in; i++) free(lines[i]);
    free(texts);
    return rc;
}
