/* The tool-call parsers on recorded replies, one family at a time. The replies are
 * written from the model cards' own examples (Qwen2.5/Qwen3 function calling, EXAONE 4,
 * SmolLM3, Llama 3.1/3.2, Mistral, Phi-4-mini, gpt-oss harmony, Qwen3-Coder/Qwen3.5,
 * Gemma 3) and from what the templates render for earlier calls; malformed ones must
 * come back as content. Every reply is also parsed at each of its prefixes the way a
 * stream sees it: the content and arguments so far must be prefixes of the final ones,
 * so that the difference sent as delta fragments adds up to the final message. */
#include "test.h"

#include <cJSON.h>

#include "tools/toolcall.h"

struct expect_call { const char *name, *args; };

/* Parses text as format f and checks the content, the calls and the stream property. */
static void check_parse(enum tool_format f, const char *text, const char *content, int n,
                        const struct expect_call *calls) {
    struct tool_parse p;
    REQUIRE(tool_parse(f, text, strlen(text), 0, &p) == 0, "parse failed");
    CHECK_STR(p.content, content);
    CHECK_EQ_INT(p.n_calls, n);
    for (int i = 0; i < n && i < p.n_calls; i++) {
        CHECK_STR(p.calls[i].name, calls[i].name);
        CHECK(p.calls[i].complete);
        /* compare the arguments as JSON values (the model's spacing is kept) */
        cJSON *a = cJSON_Parse(p.calls[i].arguments), *b = cJSON_Parse(calls[i].args);
        CHECK_MSG(a && b && cJSON_Compare(a, b, 1), "call %d arguments %s, expected %s", i, p.calls[i].arguments,
                  calls[i].args);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    /* streaming: every prefix */
    size_t len = strlen(text);
    for (size_t k = 0; k <= len; k++) {
        struct tool_parse q;
        REQUIRE(tool_parse(f, text, k, 1, &q) == 0, "partial parse failed at %zu", k);
        CHECK_MSG(!strncmp(p.content, q.content, strlen(q.content)), "at %zu: partial content \"%s\" is not a prefix of \"%s\"",
                  k, q.content, p.content);
        CHECK_MSG(q.n_calls <= p.n_calls, "at %zu: %d calls, more than the final %d", k, q.n_calls, p.n_calls);
        for (int i = 0; i < q.n_calls && i < p.n_calls; i++) {
            CHECK_MSG(!strcmp(q.calls[i].name, p.calls[i].name), "at %zu: call %d named %s", k, i, q.calls[i].name);
            CHECK_MSG(!strncmp(p.calls[i].arguments, q.calls[i].arguments, strlen(q.calls[i].arguments)),
                      "at %zu: call %d arguments \"%s\" not a prefix of \"%s\"", k, i, q.calls[i].arguments,
                      p.calls[i].arguments);
        }
        tool_parse_free(&q);
    }
    tool_parse_free(&p);
}

/* Qwen2.5's function-calling guide: two parallel calls, each in its block. */
TEST(hermes_qwen25_parallel) {
    const struct expect_call c[] = {
        {"get_current_temperature", "{\"location\": \"San Francisco, CA, USA\"}"},
        {"get_temperature_date", "{\"location\": \"San Francisco, CA, USA\", \"date\": \"2024-10-01\"}"}};
    check_parse(TOOL_FMT_HERMES,
                "<tool_call>\n{\"name\": \"get_current_temperature\", \"arguments\": {\"location\": \"San Francisco, CA, "
                "USA\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_temperature_date\", \"arguments\": {\"location\": "
                "\"San Francisco, CA, USA\", \"date\": \"2024-10-01\"}}\n</tool_call>",
                "", 2, c);
}

/* Qwen3 after its thoughts (split off before): text, then a call. */
TEST(hermes_text_before_call) {
    const struct expect_call c[] = {{"get_weather", "{\"city\": \"서울\", \"unit\": \"celsius\"}"}};
    check_parse(TOOL_FMT_HERMES,
                "날씨를 확인해 볼게요.\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\", "
                "\"unit\": \"celsius\"}}\n</tool_call>",
                "날씨를 확인해 볼게요.", 1, c);
}

/* EXAONE 4 writes the block without newlines; SmolLM3 with them. */
TEST(hermes_exaone4_smollm3) {
    const struct expect_call c[] = {{"roll_dice", "{\"max_num\": 6}"}};
    check_parse(TOOL_FMT_HERMES, "<tool_call>{\"name\": \"roll_dice\", \"arguments\": {\"max_num\": 6}}</tool_call>", "", 1,
                c);
    const struct expect_call d[] = {{"get_weather", "{\"city\": \"Copenhagen\"}"}};
    check_parse(TOOL_FMT_HERMES,
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Copenhagen\"}}\n</tool_call>", "", 1, d);
    /* "parameters" and quoted arguments, as some fine-tunes write them */
    const struct expect_call e[] = {{"f", "{\"a\": 1}"}};
    check_parse(TOOL_FMT_HERMES, "<tool_call>{\"parameters\": {\"a\": 1}, \"name\": \"f\"}</tool_call>", "", 1, e);
    check_parse(TOOL_FMT_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>", "", 1, e);
}

/* Malformed: content, never a call, never a failure. */
TEST(hermes_malformed_is_content) {
    const char *bad[] = {
        "<tool_call>\n{\"name\": \"x\", \"arguments\": {\"a\": 1}\n</tool_call>",    /* unbalanced */
        "<tool_call>not json</tool_call>",
        "<tool_call>{\"arguments\": {}}</tool_call>",                              /* no name */
        "<tool_call>{\"name\": 5, \"arguments\": {}}</tool_call>",
        "<tool_call>{\"name\": \"x\", \"arguments\": [1]}</tool_call>",            /* not an object */
        "<tool_call>",
        "I would use <tool_call but I will not.",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tool_parse p;
        REQUIRE(tool_parse(TOOL_FMT_HERMES, bad[i], strlen(bad[i]), 0, &p) == 0, "parse failed");
        CHECK_EQ_INT(p.n_calls, 0);
        CHECK_STR(p.content, bad[i]);
        tool_parse_free(&p);
    }
}

/* Llama 3.1/3.2 model cards: a JSON call as the whole reply; <|python_tag|> for
 * built-in tools. */
TEST(llama3_json_and_python_tag) {
    const struct expect_call c[] = {{"get_current_conditions", "{\"location\": \"San Francisco, CA\", \"unit\": \"Fahrenheit\"}"}};
    check_parse(TOOL_FMT_LLAMA3,
                "{\"name\": \"get_current_conditions\", \"parameters\": {\"location\": \"San Francisco, CA\", \"unit\": "
                "\"Fahrenheit\"}}",
                "", 1, c);
    const struct expect_call b[] = {{"brave_search", "{\"query\": \"current weather in Menlo Park, California\"}"}};
    check_parse(TOOL_FMT_LLAMA3, "<|python_tag|>brave_search.call(query=\"current weather in Menlo Park, California\")", "",
                1, b);
    const struct expect_call j[] = {{"get_weather", "{\"city\": \"Paris\"}"}};
    check_parse(TOOL_FMT_LLAMA3, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", 1, j);
    check_parse(TOOL_FMT_LLAMA3, "{curly} is not a call", "{curly} is not a call", 0, NULL);
    check_parse(TOOL_FMT_LLAMA3, "The answer is 42.", "The answer is 42.", 0, NULL);
}

/* Mistral: the JSON array after [TOOL_CALLS] (v3 templates), and NAME[ARGS]{…} (newer). */
TEST(mistral_both_syntaxes) {
    const struct expect_call c[] = {{"get_current_weather", "{\"location\": \"Paris, France\", \"format\": \"celsius\"}"}};
    check_parse(TOOL_FMT_MISTRAL,
                "[TOOL_CALLS][{\"name\": \"get_current_weather\", \"arguments\": {\"location\": \"Paris, France\", "
                "\"format\": \"celsius\"}, \"id\": \"abc123def\"}]",
                "", 1, c);
    const struct expect_call d[] = {{"get_weather", "{\"city\": \"Paris\"}"}, {"get_time", "{\"tz\": \"CET\"}"}};
    check_parse(TOOL_FMT_MISTRAL, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{\"tz\": \"CET\"}",
                "", 2, d);
    check_parse(TOOL_FMT_MISTRAL, "[TOOL_CALLS]oops", "[TOOL_CALLS]oops", 0, NULL);
}

/* Phi-4-mini: <|tool_call|> with a list (or functools[…] in its older card). */
TEST(phi4_blocks) {
    const struct expect_call c[] = {{"get_weather_updates", "{\"location\": \"London\"}"}};
    check_parse(TOOL_FMT_PHI4,
                "<|tool_call|>[{\"name\": \"get_weather_updates\", \"arguments\": {\"location\": \"London\"}}]<|/tool_call|>",
                "", 1, c);
    const struct expect_call d[] = {{"get_weather_updates", "{\"location\": \"Paris\"}"}};
    check_parse(TOOL_FMT_PHI4, "functools[{\"name\": \"get_weather_updates\", \"arguments\": {\"location\": \"Paris\"}}]", "", 1,
                d);
}

/* gpt-oss harmony (the answer text keeps a call's header): recipient in the channel
 * header, or before it. */
TEST(gpt_oss_harmony) {
    const struct expect_call c[] = {{"get_weather", "{\"location\":\"San Francisco\"}"}};
    check_parse(TOOL_FMT_GPT_OSS,
                "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"location\":\"San Francisco\"}", "",
                1, c);
    const struct expect_call d[] = {{"lookup", "{\"q\": \"Tokyo\"}"}};
    check_parse(TOOL_FMT_GPT_OSS, "to=functions.lookup<|channel|>commentary json<|message|>{\"q\": \"Tokyo\"}<|call|>", "", 1, d);
    check_parse(TOOL_FMT_GPT_OSS, "The weather is fine.", "The weather is fine.", 0, NULL);
    /* a later message: its <|start|>assistant belongs to the header */
    check_parse(TOOL_FMT_GPT_OSS,
                "Checking.<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
                "<|message|>{\"location\":\"San Francisco\"}<|call|>",
                "Checking.", 1, c);
}

/* Qwen3-Coder / Qwen3.5: XML parameters; values that are JSON stay typed. */
TEST(qwen3_coder_xml) {
    const struct expect_call c[] = {{"get_weather", "{\"city\": \"Paris\", \"days\": 3}"}};
    check_parse(TOOL_FMT_QWEN3_CODER,
                "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n"
                "</parameter>\n</function>\n</tool_call>",
                "", 1, c);
}

/* Templates without tools: our instruction's JSON, a bare call, Gemma's Python calls. */
TEST(generic_and_gemma) {
    const struct expect_call c[] = {{"a", "{\"x\": 1}"}, {"b", "{}"}};
    check_parse(TOOL_FMT_GENERIC, "{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]}",
                "", 2, c);
    const struct expect_call g[] = {{"get_weather", "{\"city\": \"London\"}"}};
    check_parse(TOOL_FMT_GENERIC, "```tool_code\nget_weather(city=\"London\")\n```", "", 1, g);
    check_parse(TOOL_FMT_GENERIC, "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"London\"}}\n```", "", 1, g);
    const struct expect_call h[] = {{"get_weather", "{\"city\": \"London\", \"days\": 3, \"metric\": true}"}};
    check_parse(TOOL_FMT_GENERIC, "[get_weather(city='London', days=3, metric=True)]", "", 1, h);
    check_parse(TOOL_FMT_GENERIC, "Just text, no call.", "Just text, no call.", 0, NULL);
    check_parse(TOOL_FMT_GENERIC, "{\"answer\": 42}", "{\"answer\": 42}", 0, NULL);
}

/* The family from the template text. */
TEST(format_detection) {
    CHECK_EQ_INT(tool_format_detect("{% if tools %}<tool_call>{% endif %}", "qwen3"), TOOL_FMT_HERMES);
    CHECK_EQ_INT(tool_format_detect("<tool_call>\n<function=x>", "qwen35"), TOOL_FMT_QWEN3_CODER);
    CHECK_EQ_INT(tool_format_detect("{{- '<|python_tag|>' }}", "llama"), TOOL_FMT_LLAMA3);
    CHECK_EQ_INT(tool_format_detect("[TOOL_CALLS]", "llama"), TOOL_FMT_MISTRAL);
    CHECK_EQ_INT(tool_format_detect("<|tool|>{{ tools }}<|/tool|>", "phi3"), TOOL_FMT_PHI4);
    CHECK_EQ_INT(tool_format_detect("<|channel|>commentary to=functions.", "gpt-oss"), TOOL_FMT_GPT_OSS);
    CHECK_EQ_INT(tool_format_detect("<start_of_turn>", "gemma3"), TOOL_FMT_GENERIC);
    CHECK(tool_template_native("{% if tools %}"));
    CHECK(!tool_template_native("<start_of_turn>{{ message['content'] }}"));
    CHECK(!tool_template_native(NULL));
}

/* The request fields, as OpenAI checks them. */
TEST(request_validation) {
    static const char *const bad[][2] = {
        {"{\"tools\": {}}", "tools"},
        {"{\"tools\": [{\"type\": \"code_interpreter\"}]}", "tools[0].type"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]}", "tools[0].function.name"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"string\"}}}]}",
         "tools[0].function.parameters"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", "
         "\"properties\": {\"a\": {\"type\": \"nope\"}}}}}]}", "tools[0].function.parameters"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}, {\"type\": \"function\", \"function\": "
         "{\"name\": \"f\"}}]}", "tools[1].function.name"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"tool_choice\": \"sometimes\"}", "tool_choice"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"tool_choice\": {\"type\": \"function\", "
         "\"function\": {\"name\": \"g\"}}}", "tool_choice.function.name"},
        {"{\"tool_choice\": \"required\"}", "tool_choice"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"parallel_tool_calls\": 1}", "parallel_tool_calls"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"parallel_tool_calls\": false, "
         "\"min_tool_calls\": 2}", "min_tool_calls"},
        /* the Hermes syntax (this template) forces one call per reply */
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"tool_choice\": \"required\", "
         "\"min_tool_calls\": 2}", "min_tool_calls"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = cJSON_Parse(bad[i][0]);
        REQUIRE(j, "test JSON %zu", i);
        struct tool_request tr;
        char param[96] = "", msg[400] = "";
        CHECK_MSG(tool_request_parse(j, "{% if tools %}<tool_call>", "qwen3", &tr, param, sizeof param, msg, sizeof msg) == -1,
                  "%s was accepted", bad[i][0]);
        CHECK_STR(param, bad[i][1]);
        CHECK(msg[0] != 0);
        tool_request_free(&tr);
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse("{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": "
                           "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}}}], "
                           "\"tool_choice\": \"required\", \"min_tool_calls\": 2, \"max_tool_calls\": 2}");
    struct tool_request tr;
    char param[96], msg[400];
    REQUIRE(tool_request_parse(j, NULL, "gemma3", &tr, param, sizeof param, msg, sizeof msg) == 0, "%s", msg);
    CHECK_EQ_INT(tr.fmt, TOOL_FMT_GENERIC);
    CHECK_EQ_INT(tr.choice, TOOL_CHOICE_REQUIRED);
    CHECK_EQ_INT(tr.min_calls, 2);
    CHECK_EQ_INT(tr.max_calls, 2);
    char *prefix, *schema;
    REQUIRE(tool_forced(&tr, &prefix, &schema) == 0, "forced");
    CHECK_STR(prefix, "");
    CHECK(schema && strstr(schema, "\"minItems\":2") && strstr(schema, "\"maxItems\":2"));
    free(prefix);
    free(schema);
    tool_request_free(&tr);
    cJSON_Delete(j);
}

TEST(call_ids) {
    char a[32], b[32];
    tool_call_id(a, sizeof a);
    tool_call_id(b, sizeof b);
    CHECK_EQ_INT(strlen(a), 29);
    CHECK(!strncmp(a, "call_", 5));
    CHECK(strcmp(a, b) != 0);
}

int main(void) {
    TEST_EXPECT(13);
    RUN(hermes_qwen25_parallel);
    RUN(hermes_text_before_call);
    RUN(hermes_exaone4_smollm3);
    RUN(hermes_malformed_is_content);
    RUN(llama3_json_and_python_tag);
    RUN(mistral_both_syntaxes);
    RUN(phi4_blocks);
    RUN(gpt_oss_harmony);
    RUN(qwen3_coder_xml);
    RUN(generic_and_gemma);
    RUN(format_detection);
    RUN(request_validation);
    RUN(call_ids);
    return test_summary();
}
