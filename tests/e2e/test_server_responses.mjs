// POST /v1/responses (stateless) with the official openai client's responses.create:
// string and item input, instructions, function tools (forced, so a random-weight model
// calls them) with function_call / function_call_output items for the second step,
// text.format json_schema, max_output_tokens, and the typed stream events in order with
// their sequence_number. Bad requests (an unknown previous_response_id among them) are
// OpenAI-shaped 400s; the stored half is test_responses_stored.mjs.
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(7);

const WEATHER = {
  type: "object",
  properties: { city: { enum: ["Paris", "서울"] }, days: { type: "integer" } },
  required: ["city", "days"],
  additionalProperties: false,
};
const TOOLS = [{ type: "function", name: "get_weather", description: "Weather in a city", parameters: WEATHER, strict: true }];

function checkArgs(args) {
  const v = JSON.parse(args);
  assert(["Paris", "서울"].includes(v.city) && Number.isInteger(v.days) && Object.keys(v).length === 2, "arguments " + args);
}

async function events(stream) {
  const evs = [];
  for await (const e of stream) evs.push(e);
  evs.forEach((e, i) => eq(e.sequence_number, i, "sequence_number of " + e.type));
  eq(evs[0].type, "response.created", "first event");
  assert(["response.completed", "response.incomplete"].includes(evs[evs.length - 1].type), "last event " + evs[evs.length - 1].type);
  return evs;
}

let srv;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`]);
} catch (e) {
  await test("server starts", () => { throw e; });
  process.exit(summary());
}
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none" });

await test("a string input gives a message with output_text and usage", async () => {
  const r = await client.responses.create({ model: "", input: "Hello!", instructions: "Be brief.", max_output_tokens: 6, seed: 1 });
  eq(r.object, "response", "object");
  assert(/^resp_/.test(r.id), "id " + r.id);
  eq(r.output.length, 1, "one item");
  eq(r.output[0].type, "message", "a message");
  eq(r.output[0].role, "assistant", "role");
  assert(typeof r.output_text === "string" && r.output_text.length > 0, "output_text");
  eq(r.output_text, r.output[0].content[0].text, "output_text is the message's text");
  eq(r.usage.output_tokens, 6, "output tokens");
  eq(r.status, "incomplete", "cut by max_output_tokens");
  eq(r.incomplete_details.reason, "max_output_tokens", "reason");
  assert(r.usage.input_tokens > 5, "input tokens");
});

await test("a forced function call: a function_call item whose arguments validate", async () => {
  for (let seed = 1; seed <= 5; seed++) {
    const r = await client.responses.create({ model: "", input: [{ role: "user", content: "Weather in Paris?" }], tools: TOOLS,
                                              tool_choice: { type: "function", name: "get_weather" }, seed, max_output_tokens: 200 });
    const calls = r.output.filter((o) => o.type === "function_call");
    eq(calls.length, 1, "one call");
    eq(calls[0].name, "get_weather", "name");
    assert(/^call_/.test(calls[0].call_id) && /^fc_/.test(calls[0].id), "ids");
    checkArgs(calls[0].arguments);
    eq(r.status, "completed", "status");
  }
});

await test("the second step: function_call and function_call_output items go back in", async () => {
  const first = await client.responses.create({ model: "", input: "Weather in Paris?", tools: TOOLS, tool_choice: "required",
                                                seed: 2, max_output_tokens: 200 });
  const call = first.output.find((o) => o.type === "function_call");
  checkArgs(call.arguments);
  const input = [{ type: "message", role: "user", content: [{ type: "input_text", text: "Weather in Paris?" }] },
                 call, { type: "function_call_output", call_id: call.call_id, output: "{\"temp\": 18}" }];
  const second = await client.responses.create({ model: "", input, tools: TOOLS, seed: 2, max_output_tokens: 6 });
  assert(second.output.some((o) => o.type === "message"), "a message");
  assert(second.usage.input_tokens > first.usage.input_tokens, `the call and its output are in the prompt: ${first.usage.input_tokens} -> ${second.usage.input_tokens}`);
});

await test("text.format json_schema: the output text validates", async () => {
  const r = await client.responses.create({ model: "", input: "A city as JSON.", seed: 3, max_output_tokens: 200,
                                            text: { format: { type: "json_schema", name: "city", schema: WEATHER, strict: true } } });
  checkArgs(r.output_text);
});

await test("stream: typed events in order, deltas add up to the final text", async () => {
  const evs = await events(await client.responses.create({ model: "", input: "Hello!", seed: 1, max_output_tokens: 12, stream: true }));
  const types = evs.map((e) => e.type);
  const want = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"];
  eq(types.slice(0, 4), want, "opening events");
  const tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done"];
  eq(types.slice(-4, -1), tail, "closing events");
  const text = evs.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  eq(text, evs.find((e) => e.type === "response.output_text.done").text, "deltas = done text");
  const whole = await client.responses.create({ model: "", input: "Hello!", seed: 1, max_output_tokens: 12 });
  eq(text, whole.output_text, "stream = non-stream");
  eq(evs[evs.length - 1].response.output[0].content[0].text, text, "the final response carries it");
});

await test("stream: a function call's arguments arrive as deltas", async () => {
  const body = { model: "", input: "Weather?", tools: TOOLS, tool_choice: { type: "function", name: "get_weather" }, seed: 4,
                 max_output_tokens: 200 };
  const evs = await events(await client.responses.create({ ...body, stream: true }));
  const added = evs.find((e) => e.type === "response.output_item.added" && e.item.type === "function_call");
  assert(added && added.item.name === "get_weather", "function_call item added");
  const args = evs.filter((e) => e.type === "response.function_call_arguments.delta").map((e) => e.delta).join("");
  eq(args, evs.find((e) => e.type === "response.function_call_arguments.done").arguments, "deltas = done");
  checkArgs(args);
  const whole = await client.responses.create(body);
  eq(args, whole.output.find((o) => o.type === "function_call").arguments, "stream = non-stream");
});

await test("bad requests (an unknown previous response too) are 400s in OpenAI's shape", async () => {
  const cases = [[{ input: "x", previous_response_id: "resp_1" }, "previous_response_id"],
                 [{}, "input"],
                 [{ input: [{ type: "mystery" }] }, "input[0].type"],
                 [{ input: "x", tools: [{ type: "web_search" }] }, "tools[0].type"],
                 [{ input: "x", text: { format: { type: "json_schema", name: "x" } } }, "text.format.schema"]];
  for (const [body, param] of cases) {
    let err = null;
    try { await client.responses.create({ model: "", ...body }); } catch (e) { err = e; }
    assert(err && err.status === 400, `${param}: ${err && err.status}`);
    eq(err.error.param, param, "param");
    eq(err.error.type, "invalid_request_error", "type");
  }
});

eq(await stopServer(srv), 0, "server exit");
process.exit(summary());
