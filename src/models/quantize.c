/* A float GGUF model into one block type, as llama-quantize writes it; see
 * quantize.h for the type rules. */
#include "models/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "formats/gguf.h"

static const struct { const char *name; int type; uint32_t llama_ftype; } k_ftypes[] = {
    {"q4_0", DT_Q4_0, 2}, {"q4_1", DT_Q4_1, 3}, {"q5_0", DT_Q5_0, 8}, {"q5_1", DT_Q5_1, 9}, {"q8_0", DT_Q8_0, 7},
    /* omni's own quantizers (not llama-quantize's search): same type rules, other quants */
    {"q2_k", DT_Q2_K, 10}, {"q3_k", DT_Q3_K, 11}, {"iq4_nl", DT_IQ4_NL, 25}, {"iq4_xs", DT_IQ4_XS, 30},
    {"mxfp4", DT_MXFP4, 38}, {"iq2_xxs", DT_IQ2_XXS, 19}, {"iq3_xxs", DT_IQ3_XXS, 23},
    {"iq2_xs", DT_IQ2_XS, 20}, {"iq3_s", DT_IQ3_S, 26}, {"iq2_s", DT_IQ2_S, 28},
};

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !memcmp(s + n - m, tail, m);
}

/* llama.cpp's tensor_allows_quantization, for the tensors of dense text models. */
static int allows_quantization(const struct tensor *t) {
    if (t->n_dims < 2 || !ends_with(t->name, "weight")) return 0;
    static const char *const never[] = {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "position_embd.weight",
                                        "token_types.weight"};
    for (size_t i = 0; i < sizeof never / sizeof *never; i++)
        if (strstr(t->name, never[i])) return 0;
    return 1;
}

/* The output matrix: Q6_K (Q8_0 for q8_0 files, or where a row is not a whole number
 * of the base type's blocks), falling back to Q8_0 and then F16 for rows that are
 * not a multiple of 256, as llama.cpp does. */
static int output_type(int base, int64_t ne0) {
    int t = (base == DT_Q8_0 || ne0 % dtype_info(base)->block) ? DT_Q8_0 : DT_Q6_K;
    if (ne0 % dtype_info(t)->block) t = DT_Q8_0;
    if (ne0 % dtype_info(t)->block) t = DT_F16;
    return t;
}

struct qjob {
    const struct tensor *src;
    void *dst;
    int type;
    size_t src_row, dst_row;
    long rows;
    int failed;
};

static void quantize_rows(void *arg, int ith, int nth) {
    struct qjob *j = arg;
    long lo, hi;
    pool_split(j->rows, ith, nth, &lo, &hi);
    float *x = malloc((size_t)j->src->ne[0] * sizeof *x);
    if (!x) { j->failed = 1; return; }
    for (long r = lo; r < hi && !j->failed; r++) {
        const char *in = (const char *)j->src->data + (size_t)r * j->src_row;
        if (dequantize_row(j->src->type, in, x, j->src->ne[0]) ||
            !quantize_row(j->type, x, (char *)j->dst + (size_t)r * j->dst_row, j->src->ne[0]))
            j->failed = 1;
    }
    free(x);
}

int llm_quantize_file(const char *src, const char *dst, const char *ftype, int n_threads, struct err *e) {
    int base = -1;
    uint32_t llama_ftype = 0;
    for (size_t i = 0; i < sizeof k_ftypes / sizeof *k_ftypes; i++)
        if (ftype && !strcmp(ftype, k_ftypes[i].name)) base = k_ftypes[i].type, llama_ftype = k_ftypes[i].llama_ftype;
    if (base < 0)
        return err_set(e, "quantize: unknown type '%s' (q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, iq4_nl, iq4_xs, mxfp4, iq2_xxs, iq2_xs, iq2_s, iq3_xxs or iq3_s)",
                       ftype ? ftype : "");
    struct gguf *g = gguf_open(src, e);
    if (!g) return -1;
    int rc = -1;
    struct gguf_writer *w = gguf_writer_new();
    struct pool *pool = pool_create(n_threads > 0 ? n_threads : 1);
    void **bufs = calloc((size_t)gguf_n_tensors(g) + 1, sizeof *bufs);
    if (!w || !pool || !bufs) { err_set(e, "quantize: out of memory"); goto done; }
    struct gguf_str arch = gguf_get_str(g, "general.architecture");
    char key[160];
    snprintf(key, sizeof key, "%.*s.expert_count", arch.s ? (int)arch.len : 0, arch.s ? arch.s : "");
    if (gguf_get_int(g, key, 0, NULL) > 1) {
        err_set(e, "quantize: %s is a mixture-of-experts model, which llama.cpp quantizes by other rules", src);
        goto done;
    }
    gguf_w_copy_kv(w, g);
    gguf_w_u32(w, "general.quantization_version", 2);
    gguf_w_u32(w, "general.file_type", llama_ftype);
    int tied = gguf_find_tensor(g, "output.weight") < 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        struct tensor t;
        if (gguf_tensor(g, i, &t)) { err_set(e, "quantize: %s: cannot read tensor %lld", src, (long long)i); goto done; }
        int type = t.type;
        if (allows_quantization(&t)) {
            int is_output = !strcmp(t.name, "output.weight") || (tied && !strcmp(t.name, "token_embd.weight"));
            type = is_output ? output_type(base, t.ne[0]) : base;
            if (t.ne[0] % dtype_info(type)->block) {
                err_set(e, "quantize: %s: rows of %lld are not a multiple of %s's %d", t.name, (long long)t.ne[0],
                        dtype_name(type), dtype_info(type)->block);
                goto done;
            }
        }
        if (type == t.type) {
            if (gguf_w_tensor_ref(w, t.name, t.type, t.n_dims, t.ne, t.data, e)) goto done;
            continue;
        }
        if (t.type != DT_F32 && t.type != DT_F16 && t.type != DT_BF16) {
            err_set(e, "quantize: %s is already %s; only float tensors are quantized", t.name, dtype_name(t.type));
            goto done;
        }
        long rows = (long)(tensor_nelements(&t) / t.ne[0]);
        struct qjob j = {&t, NULL, type, dtype_row_bytes(t.type, t.ne[0]), dtype_row_bytes(type, t.ne[0]), rows, 0};
        j.dst = bufs[i] = malloc(j.dst_row * (size_t)rows);
        if (!j.dst) { err_set(e, "quantize: out of memory for %s", t.name); goto done; }
        pool_run(pool, quantize_rows, &j);
        if (j.failed) { err_set(e, "quantize: cannot convert %s to %s", t.name, dtype_name(type)); goto done; }
        if (gguf_w_tensor_ref(w, t.name, type, t.n_dims, t.ne, j.dst, e)) goto done;
    }
    rc = gguf_writer_save(w, dst, e);
done:
    for (int64_t i = 0; bufs && i < gguf_n_tensors(g); i++) free(bufs[i]);
    free(bufs);
    pool_free(pool);
    gguf_writer_free(w);
    gguf_close(g);
    return rc;
}
