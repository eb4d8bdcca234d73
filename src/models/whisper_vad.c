/* Transcription of only the speech in a file: Silero VAD finds the speech segments,
 * they are joined with short silences into one clip for Whisper, and the resulting
 * timestamps are mapped back onto the original file's timeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/whisper_vad.h"

struct piece {
    int64_t out0, in0, len; /* samples */
};

static int64_t map_cs(const struct piece *pc, int n, int64_t cs) {
    int64_t smp = cs * 160; /* 10 ms = 160 samples */
    for (int i = 0; i < n; i++)
        if (smp < pc[i].out0 + pc[i].len || i == n - 1) {
            int64_t off = smp - pc[i].out0;
            if (off < 0) off = 0;
            if (off > pc[i].len) off = pc[i].len;
            return (pc[i].in0 + off + 80) / 160;
        }
    return cs;
}

int whisper_transcribe_vad(struct whisper_state *st, struct vad *v, const float *x, size_t n,
                           const struct whisper_params *p, const struct vad_params *vp, struct whisper_result *r,
                           struct err *e) {
    float *probs = NULL, *clip = NULL;
    int np = 0, ns = 0, rc = -1;
    struct vad_segment *segs = NULL;
    struct piece *pc = NULL;
    memset(r, 0, sizeof *r);
    if (vad_probs(v, x, n, &probs, &np, e) || vad_segments(probs, np, vad_window(v), vp, &segs, &ns, e)) goto done;
    if (ns == 0) { rc = 0; snprintf(r->language, sizeof r->language, "%s", p->language ? p->language : "en"); goto done; }
    /* a short silence between pieces keeps Whisper from running words together */
    int64_t gap = (int64_t)(vp->samples_overlap * 16000), total = 0;
    if (gap < 0) gap = 0;
    for (int i = 0; i < ns; i++) {
        if (segs[i].end > (int64_t)n) segs[i].end = (int64_t)n;
        if (segs[i].start < 0) segs[i].start = 0;
        if (segs[i].start > segs[i].end) segs[i].start = segs[i].end;
        total += segs[i].end - segs[i].start + gap;
    }
    if (total < 0 || total > (int64_t)n + (int64_t)ns * gap) { err_set(e, "VAD segments out of range"); goto done; }
    clip = calloc((size_t)total + 1, sizeof(float));
    pc = calloc((size_t)ns, sizeof *pc);
    if (!clip || !pc) { err_set(e, "out of memory"); goto done; }
    int64_t o = 0;
    for (int i = 0; i < ns; i++) {
        int64_t len = segs[i].end - segs[i].start;
        if (len < 0) len = 0;
        memcpy(clip + o, x + segs[i].start, (size_t)len * sizeof(float));
        pc[i] = (struct piece){o, segs[i].start, len + gap};
        o += len + gap;
    }
    if (whisper_transcribe(st, clip, (size_t)o, p, r, e)) goto done;
    for (int i = 0; i < r->n_segments; i++) {
        struct whisper_segment *g = &r->segments[i];
        g->t0 = map_cs(pc, ns, g->t0);
        g->t1 = map_cs(pc, ns, g->t1);
        for (int k = 0; k < g->n_tokens; k++)
        {
            if (g->tokens[k].t0 >= 0) g->tokens[k].t0 = map_cs(pc, ns, g->tokens[k].t0);
            if (g->tokens[k].t1 >= 0) g->tokens[k].t1 = map_cs(pc, ns, g->tokens[k].t1);
        }
    }
    rc = 0;
done:
    free(probs);
    free(segs);
    free(clip);
    free(pc);
    return rc;
}
