/* LoRA adapters (see lora.h): loading with llama.cpp's file conventions and checks,
 * and the low-rank update added after a weight product. */
#include "models/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/matmul.h"

static const char *const target_name[LORA_N_TARGET] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

struct lora_pair {
    struct tensor a, b;  /* a: [n_in, rank], b: [rank, n_out]; .data NULL: target not adapted */
};

struct lora {
    struct gguf *g;
    int n_layer;
    float alpha;
    int n_pairs;
    struct lora_pair *w;  /* [n_layer][LORA_N_TARGET] */
};

float lora_alpha(const struct lora *a) { return a->alpha; }
int lora_n_pairs(const struct lora *a) { return a->n_pairs; }

void lora_free(struct lora *a) {
    if (!a) return;
    gguf_close(a->g);
    free(a->w);
    free(a);
}

/* "blk.N.TARGET.weight.lora_a" -> layer, target, which (0 a, 1 b); -1 when it is not one */
static int parse_name(const char *name, int *layer, int *target, int *which) {
    int l, off = 0;
    if (sscanf(name, "blk.%d.%n", &l, &off) != 1 || off == 0 || l < 0) return -1;
    const char *rest = name + off;
    for (int t = 0; t < LORA_N_TARGET; t++) {
        size_t n = strlen(target_name[t]);
        if (strncmp(rest, target_name[t], n)) continue;
        const char *suf = rest + n;
        if (!strcmp(suf, ".weight.lora_a")) *which = 0;
        else if (!strcmp(suf, ".weight.lora_b")) *which = 1;
        else continue;
        *layer = l, *target = t;
        return 0;
    }
    return -1;
}

static int check_str(const struct gguf *g, const char *key, const char *want, const char *path, struct err *e) {
    struct gguf_str s = gguf_get_str(g, key);
    if (s.len == strlen(want) && !memcmp(s.s, want, s.len)) return 0;
    return err_set(e, "%s: not a LoRA adapter: %s is '%.*s', expected '%s'", path, key, (int)s.len,
                   s.s ? s.s : "", want);
}

struct lora *lora_load(const char *path, const struct llm *m, struct err *e) {
    struct gguf *g = gguf_open(path, e);
    if (!g) return NULL;
    struct lora *a = calloc(1, sizeof *a);
    const struct llm_hparams *hp = llm_hparams(m);
    if (!a || !(a->w = calloc((size_t)hp->n_layer * LORA_N_TARGET, sizeof *a->w))) {
        err_set(e, "%s: out of memory", path);
        goto fail;
    }
    a->g = g;
    a->n_layer = hp->n_layer;
    if (check_str(g, "general.type", "adapter", path, e) || check_str(g, "adapter.type", "lora", path, e)) goto fail;
    struct gguf_str arch = gguf_get_str(g, "general.architecture");
    if (arch.len != strlen(hp->arch) || memcmp(arch.s, hp->arch, arch.len)) {
        err_set(e, "%s: the adapter is for architecture '%.*s', the model is '%s' (wrong base model?)", path,
                (int)arch.len, arch.s ? arch.s : "", hp->arch);
        goto fail;
    }
    int bad = 0;
    a->alpha = (float)gguf_get_float(g, "adapter.lora.alpha", 0, &bad);
    if (bad) {
        err_set(e, "%s: adapter.lora.alpha is not a number", path);
        goto fail;
    }
    const struct gguf *mg = llm_gguf(m);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        struct tensor t;
        if (gguf_tensor(g, i, &t)) {
            err_set(e, "%s: tensor %lld is unreadable", path, (long long)i);
            goto fail;
        }
        int l, tg, which;
        if (parse_name(t.name, &l, &tg, &which)) {
            err_set(e, "%s: tensor '%s' is not a LoRA weight omni applies (blk.N.{attn_q,attn_k,attn_v,"
                       "attn_output,ffn_gate,ffn_up,ffn_down}.weight.lora_a/_b)", path, t.name);
            goto fail;
        }
        if (l >= hp->n_layer) {
            err_set(e, "%s: tensor '%s' is for layer %d, the model has %d (wrong base model?)", path, t.name, l,
                    hp->n_layer);
            goto fail;
        }
        if (t.type != DT_F32 && t.type != DT_F16 && t.type != DT_BF16) {
            err_set(e, "%s: tensor '%s' has type %s (supported: f32, f16, bf16)", path, t.name, dtype_name(t.type));
            goto fail;
        }
        if (t.n_dims != 2) {
            err_set(e, "%s: tensor '%s' has %d dimensions, expected 2", path, t.name, t.n_dims);
            goto fail;
        }
        struct lora_pair *p = &a->w[(size_t)l * LORA_N_TARGET + tg];
        struct tensor *slot = which ? &p->b : &p->a;
        if (slot->data) {
            err_set(e, "%s: tensor '%s' appears twice", path, t.name);
            goto fail;
        }
        *slot = t;
    }
    for (int l = 0; l < hp->n_layer; l++)
        for (int tg = 0; tg < LORA_N_TARGET; tg++) {
            struct lora_pair *p = &a->w[(size_t)l * LORA_N_TARGET + tg];
            if (!p->a.data && !p->b.data) continue;
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, target_name[tg]);
            if (!p->a.data || !p->b.data) {
                err_set(e, "%s: LoRA pair for '%s' is missing its %s", path, name, p->a.data ? "lora_b" : "lora_a");
                goto fail;
            }
            int64_t mi = gguf_find_tensor(mg, name);
            struct tensor w;
            if (mi < 0 || gguf_tensor(mg, mi, &w)) {
                err_set(e, "%s: the adapter has '%s', which the model does not (wrong base model?)", path, name);
                goto fail;
            }
            if (w.ne[0] != p->a.ne[0] || w.ne[1] != p->b.ne[1] || p->a.ne[1] != p->b.ne[0] || p->a.ne[1] < 1) {
                err_set(e, "%s: '%s' is [%lld, %lld] in the model but the adapter's lora_a is [%lld, %lld] and "
                           "lora_b [%lld, %lld] (wrong base model?)", path, name, (long long)w.ne[0],
                        (long long)w.ne[1], (long long)p->a.ne[0], (long long)p->a.ne[1], (long long)p->b.ne[0],
                        (long long)p->b.ne[1]);
                goto fail;
            }
            a->n_pairs++;
        }
    if (!a->n_pairs) {
        err_set(e, "%s: the adapter has no LoRA tensors", path);
        goto fail;
    }
    return a;
fail:
    if (a) a->g = NULL;
    gguf_close(g);
    lora_free(a);
    return NULL;
}

static const struct lora_pair *pair(const struct lora *a, int layer, enum lora_target t) {
    if (layer < 0 || layer >= a->n_layer) return NULL;
    const struct lora_pair *p = &a->w[(size_t)layer * LORA_N_TARGET + t];
    return p->a.data ? p : NULL;
}

int lora_n_in(const struct lora *a, int layer, enum lora_target t) {
    const struct lora_pair *p = pair(a, layer, t);
    return p ? (int)p->a.ne[0] : 0;
}

size_t lora_scratch_floats(const struct lora_use *u, int n_u, int n) {
    size_t most = 0;
    for (int i = 0; i < n_u; i++)
        for (int l = 0; l < u[i].a->n_layer; l++)
            for (int t = 0; t < LORA_N_TARGET; t++) {
                const struct lora_pair *p = pair(u[i].a, l, t);
                if (!p) continue;
                size_t f = (size_t)n * (size_t)(p->a.ne[1] + p->b.ne[1]);
                if (f > most) most = f;
            }
    return most;
}

void lora_add(struct pool *pl, const struct lora_use *u, int n_u, int layer, enum lora_target t, const float *x,
              int n, float *y, int ys, float *scratch) {
    for (int k = 0; k < n_u; k++) {
        const struct lora_pair *p = pair(u[k].a, layer, t);
        if (!p || u[k].scale == 0) continue;
        int r = (int)p->a.ne[1], out = (int)p->b.ne[1];
        float s = u[k].a->alpha != 0 ? u[k].scale * u[k].a->alpha / (float)r : u[k].scale;
        float *ax = scratch, *d = scratch + (size_t)n * r;  /* [n][r], [n][out] */
        matmul(pl, &p->a, x, ax, n);
        matmul(pl, &p->b, ax, d, n);
        for (int i = 0; i < n; i++) {
            float *yi = y + (size_t)i * ys;
            const float *di = d + (size_t)i * out;
            for (int j = 0; j < out; j++) yi[j] += s * di[j];
        }
    }
}
