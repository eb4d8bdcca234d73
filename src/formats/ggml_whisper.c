/* whisper.cpp ggml file reader (Whisper and Silero VAD models); see ggml_whisper.h.
 * The file is mapped and parsed with a bounds-checked cursor; tensor data is
 * copied into 64-byte-aligned slots because the format stores it unaligned. */
#include "formats/ggml_whisper.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bigbuf.h"
#include "core/dtype.h"

struct cur {
    const uint8_t *p;
    size_t size, pos;
    const char *what;
    struct err *e;
};

static int rd_bytes(struct cur *c, void *out, size_t n, const char *field) {
    if (n > c->size - c->pos)
        return err_set(c->e, "%s: truncated while reading %s (offset %zu, need %zu bytes, %zu left)",
                       c->what, field, c->pos, n, c->size - c->pos);
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static int rd_i32(struct cur *c, int32_t *v, const char *field) { return rd_bytes(c, v, 4, field); }

/* Reads an int32 that must lie in [lo, hi]. */
static int rd_range(struct cur *c, int32_t *v, int32_t lo, int32_t hi, const char *field) {
    if (rd_i32(c, v, field)) return -1;
    if (*v < lo || *v > hi)
        return err_set(c->e, "%s: %s = %d is out of range (expected %d..%d)", c->what, field, *v, lo, hi);
    return 0;
}

static int read_whisper_header(struct cur *c, struct ggw_file *f) {
    struct ggw_whisper_hparams *h = &f->hp;
    if (rd_range(c, &h->n_vocab, 1, 1 << 20, "n_vocab") ||
        rd_range(c, &h->n_audio_ctx, 1, 1 << 16, "n_audio_ctx") ||
        rd_range(c, &h->n_audio_state, 1, 1 << 14, "n_audio_state") ||
        rd_range(c, &h->n_audio_head, 1, 1 << 10, "n_audio_head") ||
        rd_range(c, &h->n_audio_layer, 1, 1 << 10, "n_audio_layer") ||
        rd_range(c, &h->n_text_ctx, 1, 1 << 16, "n_text_ctx") ||
        rd_range(c, &h->n_text_state, 1, 1 << 14, "n_text_state") ||
        rd_range(c, &h->n_text_head, 1, 1 << 10, "n_text_head") ||
        rd_range(c, &h->n_text_layer, 1, 1 << 10, "n_text_layer") ||
        rd_range(c, &h->n_mels, 1, 1024, "n_mels") ||
        rd_range(c, &h->ftype, 0, 1 << 20, "ftype"))
        return -1;
    if (h->n_audio_state % h->n_audio_head || h->n_text_state % h->n_text_head)
        return err_set(c->e, "%s: state width is not a multiple of the head count", c->what);

    if (rd_range(c, &f->n_mel, 1, 1024, "mel filters n_mel") ||
        rd_range(c, &f->n_fft, 1, 1 << 16, "mel filters n_fft"))
        return -1;
    size_t nf = (size_t)f->n_mel * (size_t)f->n_fft;
    if (nf * 4 > c->size - c->pos)
        return err_set(c->e, "%s: mel filterbank %dx%d is truncated", c->what, f->n_mel, f->n_fft);
    f->filters = malloc(nf * sizeof(float));
    if (!f->filters) return err_set(c->e, "%s: out of memory for the mel filterbank", c->what);
    if (rd_bytes(c, f->filters, nf * 4, "mel filters")) return -1;

    if (rd_range(c, &f->n_vocab_file, 0, 1 << 20, "vocab size")) return -1;
    /* each token costs at least its 4-byte length: reject impossible counts before allocating */
    if ((size_t)f->n_vocab_file * 4 > c->size - c->pos)
        return err_set(c->e, "%s: vocabulary of %d tokens cannot fit in the file", c->what, f->n_vocab_file);
    f->vocab = calloc((size_t)f->n_vocab_file + 1, sizeof(char *));
    f->vocab_len = calloc((size_t)f->n_vocab_file + 1, sizeof(int32_t));
    if (!f->vocab || !f->vocab_len) return err_set(c->e, "%s: out of memory for the vocabulary", c->what);
    for (int32_t i = 0; i < f->n_vocab_file; i++) {
        int32_t len;
        char field[48];
        snprintf(field, sizeof field, "token %d length", i);
        if (rd_range(c, &len, 0, 1 << 16, field)) return -1;
        f->vocab[i] = malloc((size_t)len + 1);
        if (!f->vocab[i]) return err_set(c->e, "%s: out of memory", c->what);
        snprintf(field, sizeof field, "token %d text", i);
        if (rd_bytes(c, f->vocab[i], (size_t)len, field)) return -1;
        f->vocab[i][len] = 0;
        f->vocab_len[i] = len;
    }
    return 0;
}

static int read_vad_header(struct cur *c, struct ggw_file *f) {
    struct ggw_vad_hparams *v = &f->vad;
    int32_t len;
    if (rd_range(c, &len, 1, (int32_t)sizeof v->type - 1, "model type length") ||
        rd_bytes(c, v->type, (size_t)len, "model type"))
        return -1;
    v->type[len] = 0;
    if (rd_range(c, &v->version[0], 0, 1000, "version major") ||
        rd_range(c, &v->version[1], 0, 1000, "version minor") ||
        rd_range(c, &v->version[2], 0, 1000, "version patch") ||
        rd_range(c, &v->n_window, 16, 1 << 16, "n_window") ||
        rd_range(c, &v->n_context, 0, 1 << 16, "n_context") ||
        rd_range(c, &v->n_encoder_layers, 1, GGW_VAD_MAX_LAYERS, "n_encoder_layers"))
        return -1;
    for (int i = 0; i < v->n_encoder_layers; i++)
        if (rd_range(c, &v->enc_in[i], 1, 1 << 14, "encoder in_channels") ||
            rd_range(c, &v->enc_out[i], 1, 1 << 14, "encoder out_channels") ||
            rd_range(c, &v->enc_kernel[i], 1, 64, "encoder kernel_size"))
            return -1;
    return rd_range(c, &v->lstm_input_size, 1, 1 << 14, "lstm_input_size") ||
           rd_range(c, &v->lstm_hidden_size, 1, 1 << 14, "lstm_hidden_size") ||
           rd_range(c, &v->final_conv_in, 1, 1 << 14, "final_conv_in") ||
           rd_range(c, &v->final_conv_out, 1, 1 << 14, "final_conv_out") ? -1 : 0;
}

struct theader {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    size_t off, nbytes;
};

static int read_tensors(struct cur *c, struct ggw_file *f) {
    struct theader *th = NULL;
    int n = 0, cap = 0;
    int rc = -1;
    while (c->pos < c->size) {
        int32_t n_dims, name_len, type;
        if (rd_range(c, &n_dims, 0, 4, "tensor n_dims") ||
            rd_range(c, &name_len, 1, 1024, "tensor name length") ||
            rd_i32(c, &type, "tensor type"))
            goto done;
        const struct dtype_info *ti = dtype_info(type);
        if (!ti || !ti->supported || !ti->block_bytes) {
            err_set(c->e, "%s: tensor #%d has unsupported type %d (%s)", c->what, n, type, dtype_name(type));
            goto done;
        }
        struct theader t = {0};
        t.type = type;
        t.n_dims = n_dims;
        for (int i = 0; i < 4; i++) t.ne[i] = 1;
        for (int i = 0; i < n_dims; i++) {
            int32_t d;
            if (rd_range(c, &d, 1, 1 << 30, "tensor dimension")) goto done;
            t.ne[i] = d;
        }
        t.name = malloc((size_t)name_len + 1);
        if (!t.name) { err_set(c->e, "%s: out of memory", c->what); goto done; }
        if (rd_bytes(c, t.name, (size_t)name_len, "tensor name")) { free(t.name); goto done; }
        t.name[name_len] = 0;
        size_t row = dtype_row_bytes(type, t.ne[0]);
        if (!row) {
            err_set(c->e, "%s: tensor '%s': row of %lld elements is not a whole number of %s blocks",
                    c->what, t.name, (long long)t.ne[0], ti->name);
            free(t.name);
            goto done;
        }
        /* the product of dims can overflow: compare step by step against the bytes left */
        size_t left = c->size - c->pos, nb = row;
        for (int i = 1; i < 4 && nb <= left; i++) {
            if ((size_t)t.ne[i] > left / nb + 1) { nb = left + 1; break; }
            nb *= (size_t)t.ne[i];
        }
        if (nb > left) {
            err_set(c->e, "%s: tensor '%s' [%lld,%lld,%lld,%lld] %s needs more bytes than the file has left (%zu)",
                    c->what, t.name, (long long)t.ne[0], (long long)t.ne[1], (long long)t.ne[2],
                    (long long)t.ne[3], ti->name, left);
            free(t.name);
            goto done;
        }
        for (int i = 0; i < n; i++)
            if (!strcmp(th[i].name, t.name)) {
                err_set(c->e, "%s: tensor '%s' appears twice", c->what, t.name);
                free(t.name);
                goto done;
            }
        t.off = c->pos;
        t.nbytes = nb;
        c->pos += nb;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct theader *nt = realloc(th, (size_t)cap * sizeof *th);
            if (!nt) { free(t.name); err_set(c->e, "%s: out of memory", c->what); goto done; }
            th = nt;
        }
        th[n++] = t;
    }

    size_t total = 0;
    for (int i = 0; i < n; i++) total += (th[i].nbytes + 63) & ~(size_t)63;
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    f->data = total ? bigbuf_alloc(total) : NULL; /* huge pages from 4 MiB: every decode step reads them all */
    f->data_size = f->data ? total : 0;
    if (!f->tensors || (total && !f->data)) { err_set(c->e, "%s: out of memory for %zu bytes of tensors", c->what, total); goto done; }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct tensor *t = &f->tensors[i];
        t->name = th[i].name;
        th[i].name = NULL; /* now owned by f */
        t->type = th[i].type;
        t->n_dims = th[i].n_dims;
        memcpy(t->ne, th[i].ne, sizeof t->ne);
        t->data = (char *)f->data + off;
        t->nbytes = th[i].nbytes;
        memcpy((char *)f->data + off, c->p + th[i].off, th[i].nbytes);
        off += (th[i].nbytes + 63) & ~(size_t)63;
        f->n_tensors = i + 1;
    }
    rc = 0;
done:
    for (int i = 0; i < n; i++) free(th[i].name);
    free(th);
    return rc;
}

/* A VAD file has a short printable type string right after the magic, where a Whisper
 * file has its (large) vocabulary size. */
static int looks_like_vad(const struct cur *c) {
    int32_t len;
    if (c->size - c->pos < 4) return 0;
    memcpy(&len, c->p + c->pos, 4);
    if (len < 1 || len > 63 || (size_t)len > c->size - c->pos - 4) return 0;
    for (int32_t i = 0; i < len; i++) {
        uint8_t ch = c->p[c->pos + 4 + (size_t)i];
        if (ch < 0x20 || ch > 0x7e) return 0;
    }
    return 1;
}

struct ggw_file *ggw_load_mem(const void *buf, size_t size, const char *what, struct err *e) {
    struct cur c = {buf, size, 0, what, e};
    uint32_t magic;
    if (rd_bytes(&c, &magic, 4, "magic")) return NULL;
    if (magic != GGW_MAGIC) {
        err_set(e, "%s: not a whisper.cpp ggml model (magic 0x%08x, expected 0x%08x)", what, magic, GGW_MAGIC);
        return NULL;
    }
    struct ggw_file *f = calloc(1, sizeof *f);
    if (!f) { err_set(e, "%s: out of memory", what); return NULL; }
    f->kind = looks_like_vad(&c) ? GGW_VAD : GGW_WHISPER;
    int rc = f->kind == GGW_VAD ? read_vad_header(&c, f) : read_whisper_header(&c, f);
    if (!rc) rc = read_tensors(&c, f);
    if (rc) { ggw_free(f); return NULL; }
    return f;
}

struct ggw_file *ggw_load(const char *path, struct err *e) {
    /* map rather than read: the tensors are copied once, into their aligned slots */
    int fd = open(path, O_RDONLY);
    if (fd < 0) { err_set(e, "%s: cannot open (%m)", path); return NULL; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); err_set(e, "%s: not a regular file", path); return NULL; }
    size_t n = (size_t)st.st_size;
    void *buf = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (n && buf == MAP_FAILED) { err_set(e, "%s: cannot map %zu bytes (%m)", path, n); return NULL; }
    struct ggw_file *f = ggw_load_mem(n ? buf : "", n, path, e);
    if (n) munmap(buf, n);
    return f;
}

void ggw_free(struct ggw_file *f) {
    if (!f) return;
    free(f->filters);
    if (f->vocab)
        for (int i = 0; i < f->n_vocab_file; i++) free(f->vocab[i]);
    free(f->vocab);
    free(f->vocab_len);
    for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    bigbuf_free(f->data, f->data_size);
    free(f);
}

const struct tensor *ggw_tensor(const struct ggw_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}
