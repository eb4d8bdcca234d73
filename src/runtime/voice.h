/* The real-time voice loop: PCM in → VAD turn detection → incremental Whisper ASR →
 * LLM (one omni_session kept across turns, so the prompt cache is reused) → clause
 * splitter → TTS → PCM out, with barge-in. The Realtime WebSocket layer and
 * `omni bench-voice` drive it through this API; everything comes back as events.
 *
 * Speculation: at the first quiet window the worker transcribes and, by default, starts
 * the reply at once; its events (transcript final, response started, text, audio) are
 * held back until silence_ms confirms the end of the turn, then released in order. If
 * speech resumes first, the held reply is thrown away without a trace (no events, no
 * history, no response id used) and the turn goes on.
 *
 * Threads: voice_push_pcm (and the other calls) may come from any thread and never wait
 * for inference. A listener thread runs the VAD; one worker thread does ASR, LLM and TTS.
 * on_event is never called concurrently with itself, but from those two threads: copy
 * what you keep, return quickly, and do not call voice_free from inside it. */
#ifndef OMNI_RUNTIME_VOICE_H
#define OMNI_RUNTIME_VOICE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "omni.h"

struct whisper_model;
struct voice;

enum voice_event_type {
    VOICE_SPEECH_STARTED,      /* audio_ms: where the speech starts on the input timeline */
    VOICE_SPEECH_STOPPED,      /* audio_ms: where it ended (the turn ended silence_ms later) */
    VOICE_TRANSCRIPT_PARTIAL,  /* text: the whole transcript so far (replaces the previous one) */
    VOICE_TRANSCRIPT_FINAL,    /* text: the user's turn, now in the history */
    VOICE_RESPONSE_STARTED,    /* response_id */
    VOICE_TEXT_DELTA,          /* text: LLM output as generated (whole UTF-8 characters) */
    VOICE_AUDIO,               /* pcm/n_pcm: 24 kHz mono s16; text: the clause being spoken */
    VOICE_RESPONSE_DONE,       /* status, usage; text: the assistant message as it stays in the history */
    VOICE_ERROR,               /* text: one-line message; the session stays usable */
};

struct voice_event {
    enum voice_event_type type;
    int response_id;           /* responses count from 1; 0 for input events */
    int64_t audio_ms;          /* speech events */
    const char *text;          /* NUL-terminated, borrowed for the call */
    size_t len;
    const int16_t *pcm;        /* VOICE_AUDIO, borrowed for the call */
    size_t n_pcm;
    const char *status;        /* VOICE_RESPONSE_DONE: "completed", "cancelled" or "failed" */
    omni_usage usage;          /* VOICE_RESPONSE_DONE */
};

typedef void (*voice_event_fn)(const struct voice_event *ev, void *ud);

struct voice_params {
    const char *instructions;  /* system prompt (copied); NULL: none */
    const char *voice;         /* TTS voice (tts.h); NULL: "alloy" */
    const char *language;      /* "en", "ko", ... for ASR and TTS; NULL or "auto": detect */
    int input_rate;            /* 16000 or 24000 (s16 mono) */
    float vad_threshold;       /* 0.5 */
    int silence_ms;            /* quiet that ends a turn (280: 9 VAD windows) */
    int prefix_padding_ms;     /* audio kept before the speech start for ASR (300) */
    int min_speech_ms;         /* shorter speech is ignored (100) */
    int asr_interval_ms;       /* re-decode the growing clip after this much new audio (400) */
    int transcribe_input;      /* emit transcript events (1); the ASR runs either way */
    int auto_response;         /* answer at the end of each turn (1); else wait for voice_respond */
    int interrupt_response;    /* speech while answering cancels it (barge-in, 1) */
    int speculate;             /* start the reply at the first quiet window, held until the
                                * turn is confirmed (1); dropped silently if speech resumes */
    int max_tokens;            /* reply cap; <= 0: until the model stops */
    float temperature;         /* 0.8 */
    uint64_t seed;             /* sampling seed; 0: random */
    int n_ctx;                 /* LLM context; <= 0: the session default */
    voice_event_fn on_event;
    void *user;
};

struct voice_params voice_default_params(void);

/* Models are borrowed and must outlive the voice session; several sessions may share
 * them. vad_path: Silero ggml file; NULL uses a loudness threshold instead. */
struct voice *voice_new(omni_model *llm, const struct whisper_model *asr, const char *vad_path,
                        const struct voice_params *p, struct err *e);
/* Stops the threads (cancelling a reply in progress) and frees everything. */
void voice_free(struct voice *v);

/* Changes settings between turns (session.update); the models stay. Only the fields
 * listed in voice_params after `instructions`..`temperature` are taken; on_event stays. */
int voice_update(struct voice *v, const struct voice_params *p, struct err *e);
/* (The VAD threshold, silence and minimum speech apply from the next VAD window, also
 * to a turn in progress.) */

/* Queues s16 mono samples at the input rate. Never blocks on inference. */
int voice_push_pcm(struct voice *v, const int16_t *pcm, size_t n);
/* input_audio_buffer.commit: ends the current turn now (as if silence had been heard). */
void voice_commit(struct voice *v);
/* input_audio_buffer.clear: drops the speech heard so far in this turn. */
void voice_clear(struct voice *v);
/* conversation.item.create: appends a message ("user", "assistant", "system"). */
int voice_add_message(struct voice *v, const char *role, const char *text, struct err *e);
/* response.create: answers the conversation as it stands. */
void voice_respond(struct voice *v);
/* response.cancel: stops the reply in progress (no-op when idle). */
void voice_cancel(struct voice *v);
/* The client reports how many samples (24 kHz) of the current reply it has played; on
 * cancel the assistant message is cut there. Without reports, playback is assumed to
 * run in real time from the first audio chunk. */
void voice_set_played(struct voice *v, int64_t samples);
/* conversation.item.truncate: the client stopped playback of the latest reply after
 * `samples` (24 kHz). While the reply is still being made it is cut there when it ends
 * (cancelled or not); once it is over, its assistant message in the history is cut now
 * (removed when nothing of it was heard). Returns the bytes of the reply text kept, or
 * -1 when there is no reply to truncate. */
long voice_truncate(struct voice *v, int64_t samples);

/* Counters since voice_new: speculative replies started, promoted to the real reply
 * (the turn ended where the speculation assumed) and dropped (speech came back). */
struct voice_stats { int spec_started, spec_used, spec_dropped; };
void voice_get_stats(struct voice *v, struct voice_stats *st);

/* Waits until the listener and worker have nothing left to do (tests, the bench), or
 * timeout_ms passes. Returns 0 when idle, -1 on timeout. */
int voice_wait_idle(struct voice *v, int timeout_ms);

/* Forgets the conversation (the instructions stay; the LLM's prompt cache keeps their
 * prefix). Call only while idle. */
void voice_clear_history(struct voice *v);

/* The conversation so far (after truncation): count and messages, borrowed until the
 * next call that changes it; call only while idle (e.g. after voice_wait_idle). */
int voice_history(struct voice *v, const omni_chat_message **msgs);

#endif
