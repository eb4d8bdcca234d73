/* Realtime client events read without a connection (api/realtime_events.c): what
 * each event asks for, and the error event for what cannot be taken. */
#include "test.h"
#include "api/realtime_events.h"

static struct rt_settings defaults(void) {
    struct rt_settings s = {omni_voice_default_params(), 1, 0};
    s.p.input_rate = 24000;
    return s;
}

static int parse(const char *json, struct rt_request *rq, struct rt_bad_event *bad) {
    struct rt_settings cur = defaults();
    return rt_request_parse(json, strlen(json), &cur, rq, bad);
}

#define CHECK_BAD(json, code_, param_, needle) do { struct rt_request _rq; struct rt_bad_event _b; \
    CHECK_MSG(parse(json, &_rq, &_b) == -1 && !strcmp(_b.code, code_) && !strcmp(_b.param, param_) && strstr(_b.msg, needle), \
              "%s: %s / %s / %s", json, _b.code ? _b.code : "(none)", _b.param, _b.msg); rt_request_free(&_rq); } while (0)

TEST(event_envelope) {
    CHECK_BAD("not json", "invalid_json", "", "not a JSON object (8 bytes)");
    CHECK_BAD("[1]", "invalid_json", "", "not a JSON object");
    CHECK_BAD("{\"event_id\": \"e1\"}", "missing_required_parameter", "type", "no string \"type\"");
    CHECK_BAD("{\"type\": \"session.destroy\"}", "unknown_event", "type", "unknown event type \"session.destroy\"");
    struct rt_request rq;
    struct rt_bad_event b;
    CHECK(parse("{\"type\": 7, \"event_id\": \"ev_9\"}", &rq, &b) == -1);
    CHECK_STR(rq.event_id, "ev_9"); /* the error event names the client's event */
    rt_request_free(&rq);
    static const struct { const char *type; enum rt_request_type t; } plain[] = {
        {"input_audio_buffer.commit", RT_AUDIO_COMMIT}, {"input_audio_buffer.clear", RT_AUDIO_CLEAR},
        {"response.create", RT_RESPONSE_CREATE}, {"response.cancel", RT_RESPONSE_CANCEL},
        {"output_audio_buffer.clear", RT_OUTPUT_CLEAR}};
    for (int i = 0; i < 5; i++) {
        char j[128];
        snprintf(j, sizeof j, "{\"type\": \"%s\"}", plain[i].type);
        CHECK(parse(j, &rq, &b) == 0 && rq.type == plain[i].t && !rq.event_id);
        rt_request_free(&rq);
    }
}

TEST(session_update) {
    struct rt_request rq;
    struct rt_bad_event b;
    const char *ga = "{\"type\": \"session.update\", \"session\": {\"type\": \"realtime\", \"instructions\": \"Be brief.\","
                     "\"output_modalities\": [\"text\"], \"audio\": {\"input\": {\"format\": {\"type\": \"audio/pcm\", \"rate\": 16000},"
                     "\"turn_detection\": null, \"transcription\": {\"model\": \"whisper-1\", \"language\": \"ko\"}},"
                     "\"output\": {\"voice\": \"echo\"}}, \"temperature\": 0.5, \"max_output_tokens\": \"inf\"}}";
    CHECK(parse(ga, &rq, &b) == 0);
    CHECK(rq.type == RT_SESSION_UPDATE);
    CHECK_STR(rq.instructions, "Be brief.");
    CHECK_STR(rq.voice, "echo");
    CHECK_STR(rq.language, "ko");
    CHECK(rq.session.text_only && !rq.session.turn_detection && !rq.session.p.auto_response);
    CHECK(rq.session.p.input_rate == 16000 && rq.session.p.transcribe_input && rq.session.p.max_tokens == 0);
    CHECK_NEAR(rq.session.p.temperature, 0.5, 1e-6);
    rt_request_free(&rq);
    /* beta shape; what it does not mention stays as it was */
    CHECK(parse("{\"type\": \"session.update\", \"session\": {\"input_audio_format\": \"pcm16\", \"turn_detection\": "
                "{\"type\": \"server_vad\", \"threshold\": 0.7, \"silence_duration_ms\": 500, \"create_response\": false}}}", &rq, &b) == 0);
    CHECK(!rq.instructions && !rq.voice && !rq.language && rq.session.turn_detection && !rq.session.text_only);
    CHECK(rq.session.p.silence_ms == 500 && !rq.session.p.auto_response && rq.session.p.interrupt_response);
    CHECK_NEAR(rq.session.p.vad_threshold, 0.7, 1e-6);
    CHECK(rq.session.p.end_of_turn == OMNI_VOICE_EOT_SILENCE);   /* server_vad: the silence is fixed */
    rt_request_free(&rq);
    /* semantic_vad: the silence follows the transcript, its eagerness sets how long */
    CHECK(parse("{\"type\": \"session.update\", \"session\": {\"turn_detection\": "
                "{\"type\": \"semantic_vad\", \"eagerness\": \"low\"}}}", &rq, &b) == 0);
    CHECK(rq.session.p.end_of_turn == OMNI_VOICE_EOT_TRANSCRIPT && rq.session.turn_detection);
    CHECK(rq.session.p.eot_continue_ms > omni_voice_default_params().eot_continue_ms);
    CHECK(rq.session.p.eot_complete_ms < rq.session.p.silence_ms && rq.session.p.silence_ms < rq.session.p.eot_continue_ms);
    CHECK_STR(rt_eagerness_name(&rq.session.p), "low");
    rt_request_free(&rq);
    omni_voice_params dp = omni_voice_default_params();
    CHECK(dp.end_of_turn == OMNI_VOICE_EOT_TRANSCRIPT && dp.eot_complete_ms < dp.silence_ms);
    CHECK_STR(rt_eagerness_name(&dp), "auto");
    CHECK_BAD("{\"type\": \"session.update\", \"session\": {\"turn_detection\": {\"type\": \"semantic_vad\", \"eagerness\": \"eager\"}}}",
              "invalid_value", "session.turn_detection", "eagerness must be");
    CHECK_BAD("{\"type\": \"session.update\"}", "missing_required_parameter", "session", "needs a \"session\" object");
    CHECK_BAD("{\"type\": \"session.update\", \"session\": {\"instructions\": 1}}", "invalid_value", "session.instructions", "must be a string");
    CHECK_BAD("{\"type\": \"session.update\", \"session\": {\"audio\": {\"output\": {\"format\": {\"type\": \"audio/pcm\", \"rate\": 16000}}}}}",
              "invalid_value", "session.audio.output.format", "24 kHz pcm16 only");
    CHECK_BAD("{\"type\": \"session.update\", \"session\": {\"turn_detection\": {\"threshold\": 2}}}", "invalid_value",
              "session.turn_detection", "threshold must be a number from 0 to 1");
    CHECK_BAD("{\"type\": \"session.update\", \"session\": {\"output_modalities\": [\"video\"]}}", "invalid_value",
              "session.output_modalities", "may hold");
    CHECK_BAD("{\"type\": \"session.update\", \"session\": {\"max_output_tokens\": 5000}}", "invalid_value",
              "session.max_output_tokens", "1..4096");
}

TEST(audio_append) {
    struct rt_request rq;
    struct rt_bad_event b;
    CHECK(parse("{\"type\": \"input_audio_buffer.append\", \"audio\": \"AQACAP//\"}", &rq, &b) == 0);
    CHECK(rq.type == RT_AUDIO_APPEND && rq.n_pcm == 3 && rq.pcm[0] == 1 && rq.pcm[1] == 2 && rq.pcm[2] == -1);
    rt_request_free(&rq);
    CHECK(parse("{\"type\": \"input_audio_buffer.append\", \"audio\": \"\"}", &rq, &b) == 0 && rq.n_pcm == 0);
    rt_request_free(&rq);
    CHECK_BAD("{\"type\": \"input_audio_buffer.append\"}", "missing_required_parameter", "audio", "base64 pcm16");
    CHECK_BAD("{\"type\": \"input_audio_buffer.append\", \"audio\": \"AQ==\"}", "invalid_value", "audio", "whole 16-bit samples (got 1 bytes)");
    CHECK_BAD("{\"type\": \"input_audio_buffer.append\", \"audio\": \"AQ*A\"}", "invalid_value", "audio", "not valid base64");
}

TEST(item_create_and_truncate) {
    struct rt_request rq;
    struct rt_bad_event b;
    CHECK(parse("{\"type\": \"conversation.item.create\", \"item\": {\"type\": \"message\", \"role\": \"user\", \"id\": \"it_1\","
                "\"content\": [{\"type\": \"input_text\", \"text\": \"Hello\"}, {\"type\": \"output_audio\", \"transcript\": \"안녕\"}]}}", &rq, &b) == 0);
    CHECK(rq.type == RT_ITEM_CREATE);
    CHECK_STR(rq.role, "user");
    CHECK_STR(rq.text, "Hello\n안녕");
    CHECK_STR(rq.item_id, "it_1");
    rt_request_free(&rq);
    CHECK(parse("{\"type\": \"conversation.item.create\", \"item\": {\"role\": \"system\", \"id\": \"0123456789012345678901234567890123\","
                "\"content\": [{\"text\": \"\"}]}}", &rq, &b) == 0);
    CHECK(rq.item_id == NULL && rq.text && !rq.text[0]); /* an id too long for an item id is replaced */
    rt_request_free(&rq);
    CHECK_BAD("{\"type\": \"conversation.item.create\"}", "missing_required_parameter", "item", "needs an \"item\" object");
    CHECK_BAD("{\"type\": \"conversation.item.create\", \"item\": {\"type\": \"function_call\"}}", "invalid_value", "item.type", "only \"message\"");
    CHECK_BAD("{\"type\": \"conversation.item.create\", \"item\": {\"role\": \"tool\"}}", "invalid_value", "item.role", "must be");
    CHECK_BAD("{\"type\": \"conversation.item.create\", \"item\": {\"role\": \"user\", \"content\": []}}", "invalid_value", "item.content", "non-empty");
    CHECK_BAD("{\"type\": \"conversation.item.create\", \"item\": {\"role\": \"user\", \"content\": [{\"audio\": \"AAAA\"}]}}",
              "invalid_value", "item.content", "audio parts are not supported");
    CHECK(parse("{\"type\": \"conversation.item.truncate\", \"item_id\": \"it_7\", \"content_index\": 0, \"audio_end_ms\": 1500}", &rq, &b) == 0);
    CHECK(rq.type == RT_ITEM_TRUNCATE && rq.audio_end_ms == 1500);
    CHECK_STR(rq.item_id, "it_7");
    rt_request_free(&rq);
    CHECK_BAD("{\"type\": \"conversation.item.truncate\", \"audio_end_ms\": -1}", "invalid_value", "audio_end_ms", "non-negative");
    CHECK_BAD("{\"type\": \"conversation.item.truncate\", \"audio_end_ms\": 1e300}", "invalid_value", "audio_end_ms", "non-negative");
    CHECK_BAD("{\"type\": \"conversation.item.truncate\", \"audio_end_ms\": 5, \"item_id\": 3}", "invalid_value", "item_id", "must be a string");
}

int main(void) {
    TEST_EXPECT(4);
    RUN(event_envelope);
    RUN(session_update);
    RUN(audio_append);
    RUN(item_create_and_truncate);
    return test_summary();
}
