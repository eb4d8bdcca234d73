/* Retrieval quality on a set nobody here wrote: the Korean Debian FAQ (Debian's
 * debian-faq-ko package, /usr/share/doc/debian/FAQ/debian-faq.ko.txt.gz, written by the
 * Debian FAQ authors and translators). Each section's title is a question ("1.2. Debian
 * GNU/Linux은 무엇인가요?") and its body the answer. The bodies become one Markdown
 * knowledge file of an assistant, each under a neutral heading (§1.2, so the question's
 * words are not in the index), searched by the assistants' own retrieval
 * (asst_knowledge_search: chunking, trigram keywords, dense vectors, reciprocal-rank
 * fusion, reranker); each question ending in '?' is asked, and a hit is a passage of its
 * own section among the first 5 (recall@5), with the mean reciprocal rank of the first one.
 *
 * Dense, hybrid and +rerank need real models: OMNI_BENCH_EMBED (e.g. bge-m3 or
 * Qwen3-Embedding GGUF) and OMNI_BENCH_RERANK (bge-reranker-v2-m3). Without them the rows
 * run on the random-weight test models of $OMNI_MODELS, and the table says that those
 * numbers mean nothing. OMNI_BENCH_FAQ names another copy of the FAQ text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assistants/assistants.h"
#include "bench_clock.h"

#define MAXQ 400

struct section {
    char id[16];          /* "1.2" */
    char *question;       /* the title */
    int is_q;
};

static char *read_faq(const char *path, size_t *n) {
    char cmd[600];
    int gz = strlen(path) > 3 && !strcmp(path + strlen(path) - 3, ".gz");
    snprintf(cmd, sizeof cmd, gz ? "gzip -dc '%s'" : "cat '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 20, len = 0;
    char *b = malloc(cap);
    size_t k;
    while (b && (k = fread(b + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (cap - len < 4096) { char *g = realloc(b, cap *= 2); if (!g) { free(b); b = NULL; } else b = g; }
    }
    int rc = pclose(f);
    if (!b || rc != 0 || !len) { free(b); return NULL; }
    b[len] = 0;
    *n = len;
    return b;
}

/* "12.2.1. title": the id's length (up to the '. ' after it), 0 when the line is not a section head. */
static int section_head(const char *l) {
    const char *p = l;
    int dots = 0;
    while (*p >= '0' && *p <= '9') {
        while (*p >= '0' && *p <= '9') p++;
        if (*p != '.') return 0;
        p++, dots++;
    }
    return dots >= 2 && *p == ' ' ? (int)(p - l - 1) : 0;
}

/* The FAQ as sections (questions) and a Markdown file of their bodies under §id headings. */
static int parse(char *text, struct section *s, int *ns, char **md) {
    size_t cap = strlen(text) + 65536, len = 0;
    char *o = malloc(cap);
    if (!o) return -1;
    int n = 0, in_body = 0, in_title = 0;
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        int id = section_head(line);
        if (id && n < MAXQ) {
            struct section *x = &s[n++];
            snprintf(x->id, sizeof x->id, "%.*s", id, line);
            x->question = strdup(line + id + 2);
            in_title = 1;
            in_body = 1;
            len += (size_t)snprintf(o + len, cap - len, "\n\n## §%s\n\n", x->id);
        } else if (!strncmp(line, "    ", 4) && in_title && n) {
            /* a title wrapped onto the next lines, up to the blank line */
            struct section *x = &s[n - 1];
            size_t ql = strlen(x->question), al = strlen(line + 4);
            char *g = realloc(x->question, ql + al + 2);
            if (g) { x->question = g; snprintf(g + ql, al + 2, " %s", line + 4); }
        } else if (!*line) {
            in_title = 0;
            if (in_body) len += (size_t)snprintf(o + len, cap - len, "\n\n");
        } else if (in_body && !strncmp(line, "    ", 4)) {
            const char *t = line;
            while (*t == ' ') t++;
            if (len + strlen(t) + 4 < cap) len += (size_t)snprintf(o + len, cap - len, "%s ", t);
        } else if (*line != ' ') in_body = 0;   /* a chapter line ("3장. …") */
        line = nl ? nl + 1 : NULL;
    }
    for (int i = 0; i < n; i++) {
        size_t ql = strlen(s[i].question);
        while (ql && s[i].question[ql - 1] == ' ') s[i].question[--ql] = 0;
        s[i].is_q = ql && s[i].question[ql - 1] == '?';
    }
    *ns = n;
    *md = o;
    return 0;
}

static omni_embedder *load(const char *env, const char *synth, int *real) {
    const char *p = getenv(env), *models = getenv("OMNI_MODELS");
    char def[1024];
    *real = p && *p;
    if (!*real) snprintf(def, sizeof def, "%s/synth/%s", models && *models ? models : "../shared/models", synth), p = def;
    char err[300];
    omni_embedder *e = omni_embedder_load(p, NULL, err, sizeof err);
    if (!e) fprintf(stderr, "bench_retrieval: %s: %s\n", p, err);
    return e;
}

int main(void) {
    const char *faq = getenv("OMNI_BENCH_FAQ");
    if (!faq || !*faq) faq = "/usr/share/doc/debian/FAQ/debian-faq.ko.txt.gz";
    printf("\n## Knowledge: retrieval quality (recall@5) on the Korean Debian FAQ\n\n");
    size_t n = 0;
    char *text = read_faq(faq, &n);
    if (!text) {
        printf("(%s is not here: install Debian's debian-faq-ko package, or set OMNI_BENCH_FAQ)\n", faq);
        return 0;
    }
    static struct section sec[MAXQ];
    int ns = 0;
    char *md = NULL;
    if (parse(text, sec, &ns, &md)) return 1;
    free(text);
    int nq = 0;
    for (int i = 0; i < ns; i++) nq += sec[i].is_q;

    char path[300], url[320];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/omni-bench-retrieval-%d.db", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(url, sizeof url, "sqlite:%s", path);
    struct store *st = NULL;
    struct err e = {{0}};
    struct store_user u = {0};
    snprintf(u.email, sizeof u.email, "bench@example.com");
    struct asst a;
    cJSON *cfg = cJSON_Parse("{\"name\":\"faq\",\"capabilities\":{\"knowledge\":true}}");
    if (store_open(url, &st, &e) || store_user_create(st, &u, 0, &u, &e) || asst_create(st, u.id, cfg, &a, &e) ||
        asst_file_put(st, u.id, a.id, "faq.md", "text/markdown", md, strlen(md), &e)) {
        printf("(storage: %s)\n", e.msg);
        return 1;
    }
    cJSON_Delete(cfg);
    int real_e = 0, real_r = 0;
    omni_embedder *emb = load("OMNI_BENCH_EMBED", "synth-bert-xlmr-f16.gguf", &real_e);
    omni_embedder *rr = load("OMNI_BENCH_RERANK", "synth-bert-xlmr-rerank-f16.gguf", &real_r);
    printf("%d sections of the FAQ (%s), %d of them questions, asked as they are; the answers' text indexed under "
           "neutral headings.\n", ns, faq, nq);
    printf("Embedding model: %s; reranker: %s.\n", emb ? (real_e ? omni_embedder_name(emb) : "none real on this machine "
           "(the random-weight test model runs: its dense numbers mean nothing; set OMNI_BENCH_EMBED)") : "(failed to load)",
           rr ? (real_r ? omni_embedder_name(rr) : "none real on this machine (random-weight test model; set OMNI_BENCH_RERANK)")
              : "(failed to load)");
    printf("\n| ranking | models | recall@5 | MRR@5 | ms per question (wall / CPU) |\n|---|---|---|---|---|\n");
    struct { const char *name; int mode, use_emb, use_rr; } rows[] = {
        {"keyword (trigram)", ASST_RANK_KEYWORD, 0, 0},
        {"dense", ASST_RANK_DENSE, 1, 0},
        {"hybrid (RRF)", ASST_RANK_HYBRID, 1, 0},
        {"hybrid + rerank (top 20)", ASST_RANK_HYBRID, 1, 1},
    };
    /* the first search builds the index (and embeds every chunk): not a question's cost */
    {
        struct asst_retrieval r0 = {5, 0, emb, NULL, ASST_RANK_HYBRID};
        struct asst_passage *p = NULL;
        int np = 0;
        fflush(stdout);
        double w0 = bench_wall_s();
        if (asst_knowledge_search(st, a.id, "데비안", &r0, &p, &np, NULL, &e)) printf("(search: %s)\n", e.msg);
        asst_passages_free(p, np);
        fprintf(stderr, "bench_retrieval: index built in %.1f s\n", bench_wall_s() - w0);
    }
    for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++) {
        if ((rows[ri].use_emb && !emb) || (rows[ri].use_rr && !rr)) continue;
        struct asst_retrieval r = {5, 0, rows[ri].use_emb ? emb : NULL, rows[ri].use_rr ? rr : NULL, rows[ri].mode};
        int hit = 0;
        double mrr = 0, w0 = bench_wall_s(), c0 = bench_cpu_s();
        for (int i = 0; i < ns; i++) {
            if (!sec[i].is_q) continue;
            struct asst_passage *p = NULL;
            int np = 0;
            if (asst_knowledge_search(st, a.id, sec[i].question, &r, &p, &np, NULL, &e)) { printf("(search: %s)\n", e.msg); break; }
            char want[40];
            snprintf(want, sizeof want, "§%.15s", sec[i].id);
            for (int k = 0; k < np; k++) {
                const char *hd = p[k].heading ? strrchr(p[k].heading, '>') : NULL;
                hd = hd ? hd + 2 : p[k].heading;
                if (hd && !strcmp(hd, want)) { hit++; mrr += 1.0 / (k + 1); break; }
            }
            asst_passages_free(p, np);
        }
        double w = bench_wall_s() - w0, c = bench_cpu_s() - c0;
        const char *models = !rows[ri].use_emb ? "none" : rows[ri].use_rr ? (real_e && real_r ? "real" : "random weights (meaningless)")
                                                                           : (real_e ? "real" : "random weights (meaningless)");
        printf("| %s | %s | %.3f | %.3f | %.1f / %.1f |\n", rows[ri].name, models, (double)hit / nq, mrr / nq,
               w * 1e3 / nq, c * 1e3 / nq);
    }
    asst_free(&a);
    free(md);
    for (int i = 0; i < ns; i++) free(sec[i].question);
    store_close(st);
    unlink(path);
    char side[340];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    omni_embedder_free(emb);
    omni_embedder_free(rr);
    return 0;
}
