/* libFuzzer target for Realtime WebSocket client events (api/realtime_events.c):
 * any frame must become a request or the code, param and message of an error
 * event; a session.update may only produce settings the voice loop accepts, and
 * appended audio must be whole samples. Two sessions are tried, the defaults and a
 * text-only 16 kHz one. Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_realtime.c
 * replays the corpus. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/realtime_events.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

static void one(const char *data, size_t size, const struct rt_settings *cur) {
    struct rt_request rq;
    struct rt_bad_event bad;
    if (rt_request_parse(data, size, cur, &rq, &bad)) {
        if (!bad.code || !bad.msg[0]) abort();
        rt_request_free(&rq);
        return;
    }
    const omni_voice_params *p = &rq.session.p;
    switch (rq.type) {
    case RT_SESSION_UPDATE:
        if ((p->input_rate != 16000 && p->input_rate != 24000) || !(p->vad_threshold >= 0 && p->vad_threshold <= 1) ||
            p->silence_ms < 0 || p->silence_ms > 10000 || p->prefix_padding_ms < 0 || p->prefix_padding_ms > 10000 ||
            !(p->temperature >= 0 && p->temperature <= 2) || p->max_tokens < 0 || p->max_tokens > 4096)
            abort();
        break;
    case RT_AUDIO_APPEND: {
        volatile int16_t s = rq.n_pcm ? rq.pcm[rq.n_pcm - 1] : 0;
        (void)s;
        break;
    }
    case RT_ITEM_CREATE:
        if (!rq.role || !rq.text || (rq.item_id && strlen(rq.item_id) >= 32)) abort();
        break;
    case RT_ITEM_TRUNCATE:
        if (!(rq.audio_end_ms >= 0 && rq.audio_end_ms <= 1e12)) abort();
        break;
    default: break;
    }
    rt_request_free(&rq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    struct rt_settings a = {omni_voice_default_params(), 1, 0}, b = a;
    a.p.input_rate = 24000;
    b.p.input_rate = 16000;
    b.turn_detection = 0;
    b.text_only = 1;
    one((const char *)data, size, &a);
    one((const char *)data, size, &b);
    return 0;
}
