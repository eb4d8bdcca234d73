/* The Realtime API's client events, read and validated without a connection: one
 * WebSocket text frame becomes one struct rt_request saying what to do, or the code,
 * param and message of the error event to send back. realtime.c applies a request
 * to its voice session and sends the events that follow; keeping the two apart lets
 * the parsing be unit-tested and fuzzed. */
#ifndef OMNI_API_REALTIME_EVENTS_H
#define OMNI_API_REALTIME_EVENTS_H
#include <stddef.h>
#include <stdint.h>

#include "omni.h"

enum rt_request_type {
    RT_SESSION_UPDATE,   /* session.update */
    RT_AUDIO_APPEND,     /* input_audio_buffer.append */
    RT_AUDIO_COMMIT,     /* input_audio_buffer.commit */
    RT_AUDIO_CLEAR,      /* input_audio_buffer.clear */
    RT_ITEM_CREATE,      /* conversation.item.create */
    RT_RESPONSE_CREATE,  /* response.create */
    RT_RESPONSE_CANCEL,  /* response.cancel */
    RT_ITEM_TRUNCATE,    /* conversation.item.truncate */
    RT_OUTPUT_CLEAR,     /* output_audio_buffer.clear */
};

/* What session.update can change. */
struct rt_settings {
    omni_voice_params p;
    int turn_detection; /* server VAD answers turns by itself */
    int text_only;      /* output_modalities ["text"] */
};

struct rt_request {
    enum rt_request_type type;
    char *event_id;           /* the client's event_id, or NULL (set on failure too) */
    /* RT_SESSION_UPDATE: the settings after the update (strings not yet set), and the
     * new strings (malloc'ed), NULL where the update leaves them as they are */
    struct rt_settings session;
    char *instructions, *voice, *language;
    /* RT_AUDIO_APPEND: pcm16 samples (malloc'ed; may be none) */
    int16_t *pcm;
    size_t n_pcm;
    /* RT_ITEM_CREATE */
    const char *role;         /* "user", "assistant" or "system" */
    char *text;               /* the text parts, joined by newlines */
    /* RT_ITEM_CREATE and RT_ITEM_TRUNCATE: the client's item id, or NULL (for
     * item.create only ids shorter than 32 bytes are kept) */
    char *item_id;
    /* RT_ITEM_TRUNCATE */
    double audio_end_ms;
};

/* The error event for an event that cannot be taken. */
struct rt_bad_event {
    const char *code;  /* "invalid_json", "missing_required_parameter", "invalid_value", "unknown_event", "server_error" */
    char param[64];    /* "" for none */
    char msg[512];
};

/* Reads one client event; cur is the session's settings now (session.update starts
 * from them). Returns 0, or -1 with *bad filled. Free rq with rt_request_free either way. */
int rt_request_parse(const char *data, size_t len, const struct rt_settings *cur, struct rt_request *rq,
                     struct rt_bad_event *bad);
void rt_request_free(struct rt_request *rq);
/* semantic_vad's eagerness as the session reports it ("auto" for settings of its own). */
const char *rt_eagerness_name(const omni_voice_params *p);

#endif
