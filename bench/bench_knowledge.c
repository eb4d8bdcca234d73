/* Knowledge: how fast documents become passages, and how fast passages are found.
 * Indexing: a 100-page Korean PDF drawn with Pango/Cairo (a heading and five paragraphs
 * a page), extracted (pages/s) and chunked (chunks/s); query: brute-force top-10 over
 * 10,000 and 100,000 unit vectors of 1024 dims (bge-m3's and Qwen3-Embedding-0.6B's
 * width; ms per query, one thread) and the fusion of two 50-long lists. Embedding the
 * chunks is the embedding model's work: bench_embed measures it (inputs/s). Wall and CPU
 * time both, since a busy machine stretches wall time.
 *
 * File search (the /v1/vector_stores path, api/files_index.h): the same PDF indexed as the
 * server's indexer does it (extract, chunk with the embedding model's tokenizer, embed,
 * store in SQLite: pages/s), and one hybrid query (embed the query, load the store's
 * chunks from SQLite, dense + keyword ranking, fusion) over 10,000 stored chunks. The
 * embedding model is $OMNI_BENCH_EMBED, else the random-weight test model
 * ($OMNI_MODELS/synth/synth-bert-xlmr-f16.gguf, 64 dims): the row names which.
 *
 * An assistant's question (assistant_query_rows): embedding + keyword + dense + fusion +
 * rerank at 10,000 and 100,000 chunks, step by step. */
#include <cairo-pdf.h>
#include <pango/pangocairo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_clock.h"
#include "knowledge/chunk.h"
#include "knowledge/keyword.h"
#include "knowledge/doc.h"
#include "knowledge/search.h"
#include "api/files_index.h"
#include "auth/accounts.h"
#include "storage/files.h"

static int draw_pdf(const char *path, int pages) {
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595, 842);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return -1;
    cairo_t *cr = cairo_create(s);
    PangoFontDescription *h = pango_font_description_from_string("Noto Sans CJK KR 18"),
                         *b = pango_font_description_from_string("Noto Sans CJK KR 10");
    for (int p = 0; p < pages; p++) {
        double y = 50;
        for (int k = 0; k < 6; k++) {
            char text[1024];
            if (k == 0) snprintf(text, sizeof text, "%d장. 제품의 기능과 사용법", p + 1);
            else snprintf(text, sizeof text,
                          "이 문단은 %d쪽의 %d번째 문단입니다. 전원 버튼을 3초간 누르면 기기가 켜지고, 초록 불이 "
                          "들어오면 사용할 준비가 된 것입니다. 배터리는 완전히 충전하는 데 약 4시간이 걸리며, 한 번 "
                          "충전으로 최대 60분 동안 사용할 수 있습니다. The device also reports its state over Bluetooth.",
                          p + 1, k);
            PangoLayout *lay = pango_cairo_create_layout(cr);
            pango_layout_set_font_description(lay, k ? b : h);
            pango_layout_set_width(lay, 480 * PANGO_SCALE);
            pango_layout_set_text(lay, text, -1);
            cairo_move_to(cr, 55, y);
            pango_cairo_show_layout(cr, lay);
            int w, ht;
            pango_layout_get_size(lay, &w, &ht);
            y += (double)ht / PANGO_SCALE + 14;
            g_object_unref(lay);
        }
        cairo_show_page(cr);
    }
    pango_font_description_free(h);
    pango_font_description_free(b);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    int bad = cairo_surface_status(s) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    return bad ? -1 : 0;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) { free(buf); buf = NULL; }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* The file search rows (see the top). */
static void file_search_rows(const char *pdf, size_t n) {
    const char *models = getenv("OMNI_MODELS"), *emb_path = getenv("OMNI_BENCH_EMBED");
    char def[1024], dbp[300], url[320];
    snprintf(def, sizeof def, "%s/synth/synth-bert-xlmr-f16.gguf", models && *models ? models : "../shared/models");
    if (!emb_path || !*emb_path) emb_path = def;
    char err[300];
    omni_embedder *emb = omni_embedder_load(emb_path, NULL, err, sizeof err);
    if (!emb) { printf("| file search | (no embedding model: %s) |\n", err); return; }
    const char *tmp = getenv("TMPDIR");
    snprintf(dbp, sizeof dbp, "%s/omni-bench-files-%d.db", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(url, sizeof url, "sqlite:%s", dbp);
    struct store *st = NULL;
    struct err e = {{0}};
    struct store_user u = {0};
    snprintf(u.email, sizeof u.email, "bench@example.com");
    struct store_vs v = {0};
    struct store_file f = {0};
    if (store_open(url, &st, &e) || store_user_create(st, &u, 0, &u, &e)) {
        printf("| file search | (storage: %s) |\n", e.msg);
        omni_embedder_free(emb);
        return;
    }
    snprintf(v.user_id, sizeof v.user_id, "%s", u.id);
    snprintf(f.user_id, sizeof f.user_id, "%s", u.id);
    snprintf(f.filename, sizeof f.filename, "manual.pdf");
    snprintf(f.purpose, sizeof f.purpose, "assistants");
    store_vs_create(st, &v, &v, &e);
    store_file_create(st, &f, pdf, n, &f, &e);
    struct store_vsfile a = {0};
    snprintf(a.vs_id, sizeof a.vs_id, "%s", v.id);
    snprintf(a.file_id, sizeof a.file_id, "%s", f.id);
    snprintf(a.user_id, sizeof a.user_id, "%s", u.id);
    store_vsfile_add(st, &a, &e);
    const char *name = omni_embedder_name(emb);
    double w0 = bench_wall_s(), c0 = bench_cpu_s();
    struct api_indexed x;
    char code[32], msg[512];
    int rc = api_index_bytes(emb, "manual.pdf", pdf, n, NULL, &x, code, sizeof code, msg, sizeof msg);
    if (!rc) rc = store_chunks_put(st, v.id, f.id, x.rows, x.n, &e);
    double w1 = bench_wall_s(), c1 = bench_cpu_s();
    if (rc) printf("| index for file search | (failed: %s %s) |\n", msg, e.msg);
    else
        printf("| index for file search (extract, chunk, embed with %s, %d dims, store) | %d pages -> %d chunks | %.0f ms | "
               "%.0f ms | %.1f pages/s, %.0f chunks/s |\n", name, x.dim, x.n_pages, x.n, (w1 - w0) * 1e3, (c1 - c0) * 1e3,
               x.n_pages / (w1 - w0), x.n / (w1 - w0));
    /* 10,000 stored chunks: the PDF's chunk texts again and again, random unit vectors */
    enum { TARGET = 10000 };
    int files = 0, stored = rc ? 0 : x.n, dim = omni_embedder_n_embd(emb);
    uint64_t r = 88172645463325252ull;
    while (!rc && stored < TARGET && x.n > 0) {
        struct store_file g = f;
        g.id[0] = 0;
        snprintf(g.filename, sizeof g.filename, "copy-%d.pdf", ++files);
        if (store_file_create(st, &g, "x", 1, &g, &e)) break;
        snprintf(a.file_id, sizeof a.file_id, "%s", g.id);
        if (store_vsfile_add(st, &a, &e)) break;
        for (int i = 0; i < x.n; i++) {
            for (int j = 0; j < dim; j++) r ^= r << 13, r ^= r >> 7, r ^= r << 17, x.vecs[(size_t)i * dim + j] = (float)(r >> 40) / (float)(1 << 24) - 0.5f;
            kb_vec_normalize(x.vecs + (size_t)i * dim, dim);
        }
        if (store_chunks_put(st, v.id, g.id, x.rows, x.n, &e)) break;
        stored += x.n;
    }
    if (!rc) {
        struct auth_config ac = {.st = st};
        struct api_server srv;
        memset(&srv, 0, sizeof srv);
        srv.p.auth = &ac;
        srv.embedder = emb;
        const char *ids[1] = {v.id};
        struct api_fs_query q = {"배터리 충전 시간은 얼마나 걸리나요", 10, NULL, 0, 1, 1, 0};
        double best = 1e9, cpu = 0;
        for (int t = 0; t < 5; t++) {
            struct api_fs_hit *h = NULL;
            int nh = 0;
            w0 = bench_wall_s(), c0 = bench_cpu_s();
            int st2 = api_fs_search(&srv, u.id, ids, 1, &q, &h, &nh, code, sizeof code, msg, sizeof msg);
            w1 = bench_wall_s(), c1 = bench_cpu_s();
            api_fs_hits_free(h, nh);
            if (st2) { printf("| hybrid search | (failed: %s) |\n", msg); break; }
            if (w1 - w0 < best) best = w1 - w0, cpu = c1 - c0;
        }
        if (best < 1e9)
            printf("| hybrid search (embed query, load from SQLite, dense + keyword, fuse; best of 5) | %d chunks x %d dims | "
                   "%.1f ms | %.1f ms | %.1f queries/s |\n", stored, dim, best * 1e3, cpu * 1e3, 1 / best);
        api_indexed_free(&x);
    }
    store_close(st);
    unlink(dbp);
    char side[340];
    snprintf(side, sizeof side, "%s-wal", dbp);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", dbp);
    unlink(side);
    omni_embedder_free(emb);
}

/* An assistant's question at 10,000 and 100,000 chunks, the steps asst_knowledge_search
 * takes once its index is built: embed the question, trigram keyword ranking over the
 * chunk texts, dense top-100 over their vectors, reciprocal-rank fusion, the reranker on
 * the best 20. Passages: Korean sentences drawn from a small vocabulary; vectors random
 * (the embedding model's width). Models: $OMNI_BENCH_EMBED / $OMNI_BENCH_RERANK, else the
 * random-weight test models (the same cost per token as real ones of their shape only). */
static void assistant_query_rows(void) {
    const char *models = getenv("OMNI_MODELS"), *ep = getenv("OMNI_BENCH_EMBED"), *rp = getenv("OMNI_BENCH_RERANK");
    char de[1024], dr[1024], err[300];
    snprintf(de, sizeof de, "%s/synth/synth-bert-xlmr-f16.gguf", models && *models ? models : "../shared/models");
    snprintf(dr, sizeof dr, "%s/synth/synth-bert-xlmr-rerank-f16.gguf", models && *models ? models : "../shared/models");
    omni_embedder *emb = omni_embedder_load(ep && *ep ? ep : de, NULL, err, sizeof err);
    omni_embedder *rr = emb ? omni_embedder_load(rp && *rp ? rp : dr, NULL, err, sizeof err) : NULL;
    if (!emb || !rr) { printf("| assistant question | (models: %s) |\n", err); omni_embedder_free(emb); return; }
    static const char *const words[] = {"배터리", "충전", "필터", "청소", "보증", "기간", "교체", "설치", "전원", "어댑터",
                                        "먼지통", "물통", "세척", "소음", "환불", "교환", "서비스", "센터", "모터", "리모컨",
                                        "사용", "시간", "분", "일", "년", "제품", "부품", "무상", "수리", "안내"};
    enum { NW = sizeof words / sizeof *words, TOPN = 100, RTOP = 20 };
    const char *q = "배터리를 완전히 충전하면 몇 분 동안 사용할 수 있나요?";
    int dim = omni_embedder_n_embd(emb);
    static const int sizes[] = {10000, 100000};
    for (int si = 0; si < 2; si++) {
        int N = sizes[si];
        char **texts = malloc(sizeof *texts * (size_t)N);
        float *v = malloc(sizeof(float) * (size_t)N * (size_t)dim), *qv = malloc(sizeof(float) * (size_t)dim);
        struct kb_hit *kw = malloc(TOPN * sizeof *kw), *dn = malloc(TOPN * sizeof *dn), *fu = malloc(2 * TOPN * sizeof *fu);
        if (!texts || !v || !qv || !kw || !dn || !fu) { printf("| assistant question | %d chunks | (out of memory) |\n", N); break; }
        uint64_t r = 88172645463325252ull;
        for (int i = 0; i < N; i++) {
            char b[400];
            size_t l = 0;
            for (int w = 0; w < 24; w++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                l += (size_t)snprintf(b + l, sizeof b - l, "%s%s", words[r % NW], w % 6 == 5 ? "입니다. " : " ");
            }
            texts[i] = strdup(b);
            for (int j = 0; j < dim; j++) r ^= r << 13, r ^= r >> 7, r ^= r << 17, v[(size_t)i * dim + j] = (float)(r >> 40) / (float)(1 << 24) - 0.5f;
            kb_vec_normalize(v + (size_t)i * dim, dim);
        }
        double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9}, cpu[5] = {0};
        for (int t = 0; t < 3; t++) {
            double w[6], c[6];
            omni_embed_input in = {q, strlen(q), NULL, 0};
            w[0] = bench_wall_s(), c[0] = bench_thread_cpu_s();
            int bad = omni_embed(emb, &in, 1, 1, qv, NULL, err, sizeof err);
            w[1] = bench_wall_s(), c[1] = bench_thread_cpu_s();
            int nk = kb_keyword_rank(q, (const char *const *)texts, N, kw, TOPN);
            w[2] = bench_wall_s(), c[2] = bench_thread_cpu_s();
            int nd = kb_vec_topk(v, NULL, N, dim, qv, TOPN, dn);
            w[3] = bench_wall_s(), c[3] = bench_thread_cpu_s();
            const struct kb_hit *lists[2] = {kw, dn};
            int lens[2] = {nk, nd};
            int nf = kb_rrf(lists, lens, 2, 60, fu, 2 * TOPN);
            w[4] = bench_wall_s(), c[4] = bench_thread_cpu_s();
            const char *docs[RTOP];
            float sc[RTOP];
            int nr = nf < RTOP ? nf : RTOP;
            for (int i = 0; i < nr; i++) docs[i] = texts[fu[i].id];
            bad |= nr > 0 && omni_rerank(rr, q, docs, nr, sc, NULL, err, sizeof err);
            w[5] = bench_wall_s(), c[5] = bench_thread_cpu_s();
            if (bad) { printf("| assistant question | (failed: %s) |\n", err); break; }
            for (int k = 0; k < 5; k++)
                if (w[k + 1] - w[k] < best[k]) best[k] = w[k + 1] - w[k], cpu[k] = c[k + 1] - c[k];
        }
        static const char *const step[] = {"embed the question", "keyword ranking (trigrams)", "dense top-100", "fusion (RRF)",
                                           "rerank the best 20"};
        double tw = 0, tc = 0;
        for (int k = 0; k < 5; k++) {
            tw += best[k], tc += cpu[k];
            printf("| assistant question: %s (best of 3) | %d chunks x %d dims | %.2f ms | %.2f ms | |\n", step[k], N, dim,
                   best[k] * 1e3, cpu[k] * 1e3);
        }
        printf("| **assistant question, total** (%s, %s) | %d chunks | %.1f ms | %.1f ms | %.1f questions/s |\n",
               omni_embedder_name(emb), omni_embedder_name(rr), N, tw * 1e3, tc * 1e3, 1 / tw);
        for (int i = 0; i < N; i++) free(texts[i]);
        free(texts), free(v), free(qv), free(kw), free(dn), free(fu);
    }
    omni_embedder_free(emb);
    omni_embedder_free(rr);
}

int main(void) {
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/omni-bench-kb-%d.pdf", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    printf("\n## Knowledge: indexing and search (one thread)\n\n");
    printf("| step | size | wall | CPU | rate |\n|---|---|---|---|---|\n");
    if (draw_pdf(path, 100)) { printf("| (cannot draw the test PDF: Pango/Cairo or the Noto CJK font missing) |\n"); return 1; }
    size_t n;
    char *pdf = slurp(path, &n);
    unlink(path);
    if (!pdf) return 1;
    struct kb_doc d;
    struct err e = {{0}};
    double w0 = bench_wall_s(), c0 = bench_cpu_s();
    if (kb_extract(pdf, n, KB_PDF, NULL, &d, &e)) { printf("| extract failed: %s |\n", e.msg); return 1; }
    double w1 = bench_wall_s(), c1 = bench_cpu_s();
    printf("| extract PDF | %d pages, %zu KiB | %.1f ms | %.1f ms | %.0f pages/s |\n", d.n_pages, n >> 10, (w1 - w0) * 1e3,
           (c1 - c0) * 1e3, d.n_pages / (w1 - w0));
    struct kb_chunk *c;
    int nc;
    w0 = bench_wall_s(), c0 = bench_cpu_s();
    if (kb_chunk_doc(&d, NULL, &c, &nc, &e)) { printf("| chunk failed: %s |\n", e.msg); return 1; }
    w1 = bench_wall_s(), c1 = bench_cpu_s();
    printf("| chunk (400 tokens, 60 overlap) | %d blocks -> %d chunks | %.2f ms | %.2f ms | %.0f chunks/s |\n", d.n, nc,
           (w1 - w0) * 1e3, (c1 - c0) * 1e3, nc / (w1 - w0));
    kb_chunks_free(c, nc);
    kb_doc_free(&d);
    file_search_rows(pdf, n);
    free(pdf);
    assistant_query_rows();

    enum { DIM = 1024, K = 10, Q = 20 };
    static const int sizes[] = {10000, 100000};
    for (int si = 0; si < 2; si++) {
        int N = sizes[si];
        float *v = malloc(sizeof(float) * (size_t)N * DIM), q[DIM];
        if (!v) { printf("| top-%d | %d x %d | (out of memory) |\n", K, N, DIM); continue; }
        uint64_t r = 88172645463325252ull;
        for (size_t i = 0; i < (size_t)N * DIM; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            v[i] = (float)(r >> 40) / (float)(1 << 24) - 0.5f;
        }
        for (int i = 0; i < N; i++) kb_vec_normalize(v + (size_t)i * DIM, DIM);
        struct kb_hit hits[K];
        double best = 1e9, cpu = 0;
        for (int t = 0; t < Q; t++) {
            for (int j = 0; j < DIM; j++) r ^= r << 13, r ^= r >> 7, r ^= r << 17, q[j] = (float)(r >> 40) / (float)(1 << 24) - 0.5f;
            kb_vec_normalize(q, DIM);
            w0 = bench_wall_s(), c0 = bench_cpu_s();
            kb_vec_topk(v, NULL, N, DIM, q, K, hits);
            w1 = bench_wall_s(), c1 = bench_cpu_s();
            if (w1 - w0 < best) best = w1 - w0, cpu = c1 - c0;
        }
        printf("| dense top-%d (best of %d) | %d x %d floats | %.2f ms | %.2f ms | %.0f queries/s |\n", K, Q, N, DIM,
               best * 1e3, cpu * 1e3, 1 / best);
        free(v);
    }
    struct kb_hit a[50], b[50], out[100];
    for (int i = 0; i < 50; i++) a[i] = (struct kb_hit){i * 3, 1.0f - i * 0.01f}, b[i] = (struct kb_hit){i * 5, 50.0f - i};
    const struct kb_hit *lists[] = {a, b};
    int lens[] = {50, 50};
    w0 = bench_wall_s();
    for (int i = 0; i < 1000; i++) kb_rrf(lists, lens, 2, 60, out, 100);
    w1 = bench_wall_s();
    printf("| reciprocal-rank fusion | 2 lists of 50 | %.1f us | | |\n", (w1 - w0) * 1e3);
    return 0;
}
