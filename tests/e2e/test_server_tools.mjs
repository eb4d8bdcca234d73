// Function calling end to end with the official openai client against `omni serve`.
// Random-weight models cannot choose tools sensibly, so the plumbing is tested with
// forced calls: tool_choice named / required, whose arguments are sampled under the
// function's JSON schema and must validate every time (checked here by a validator
// independent of the server's). The schemas use enums, integers and booleans: the
// schema engine counts a string's maxLength over bytes a random model may leave as
// broken UTF-8, which JavaScript then counts differently. Two families: synth-qwen3 (its real template shows the
// tools and parses <tool_call> blocks) and synth-gemma3 (a template without tools: the
// server's instruction and its {"tool_calls": [...]} syntax, which carries two forced
// parallel calls in one reply). Streams must add up to the non-streamed reply of the
// same seed, fragment by fragment as OpenAI sends them.
import OpenAI from "openai";
import { execFileSync } from "node:child_process";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, BIN } from "./server_helpers.mjs";

const { test, summary } = makeCounter(12);

function validate(schema, v, path = "$") {
  const fail = (why) => { throw new Error(`${path}: ${why} (${JSON.stringify(v)})`); };
  if (schema.enum) { if (!schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) fail("not in enum"); return; }
  switch (schema.type) {
    case "string":
      if (typeof v !== "string") fail("not a string");
      if (schema.maxLength !== undefined && [...v].length > schema.maxLength) fail("too long");
      break;
    case "integer": if (!Number.isInteger(v)) fail("not an integer"); break;
    case "boolean": if (typeof v !== "boolean") fail("not a boolean"); break;
    case "object":
      if (typeof v !== "object" || v === null || Array.isArray(v)) fail("not an object");
      for (const k of schema.required || []) if (!(k in v)) fail("missing " + k);
      for (const [k, x] of Object.entries(v)) {
        if (schema.properties && k in schema.properties) validate(schema.properties[k], x, `${path}.${k}`);
        else if (schema.additionalProperties === false) fail("unexpected key " + k);
      }
      break;
  }
}

const WEATHER = {
  type: "object",
  properties: { city: { enum: ["Paris", "서울", "New York"] }, unit: { enum: ["celsius", "fahrenheit"] }, days: { type: "integer" } },
  required: ["city", "unit", "days"],
  additionalProperties: false,
};
const TIME = {
  type: "object",
  properties: { zone: { enum: ["CET", "KST", "UTC"] }, exact: { type: "boolean" } },
  required: ["zone", "exact"],
  additionalProperties: false,
};
const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Current weather in a city", parameters: WEATHER } },
  { type: "function", function: { name: "get_time", description: "Current time in a zone", parameters: TIME } },
];
const SCHEMA = { get_weather: WEATHER, get_time: TIME };
const USER = [{ role: "user", content: "What's the weather in Paris, and the time there?" }];

function checkCall(call, name) {
  assert(/^call_[A-Za-z0-9]{24}$/.test(call.id), "call id " + call.id);
  eq(call.type, "function", "call type");
  if (name) eq(call.function.name, name, "function name");
  assert(call.function.name in SCHEMA, "a known function: " + call.function.name);
  validate(SCHEMA[call.function.name], JSON.parse(call.function.arguments));
}

// Collects a stream the way an SDK user does: content, and tool calls by index.
async function collect(stream) {
  const calls = [];
  let content = "", finish = null, chunks = 0;
  for await (const ch of stream) {
    const c = ch.choices[0];
    if (!c) continue;
    chunks++;
    if (c.delta.content) content += c.delta.content;
    for (const t of c.delta.tool_calls || []) {
      if (!calls[t.index]) {
        // the first fragment of a call names it
        assert(t.id && t.type === "function" && t.function && t.function.name, "first fragment: " + JSON.stringify(t));
        calls[t.index] = { id: t.id, type: "function", function: { name: t.function.name, arguments: "" } };
      } else assert(!t.id && !(t.function && t.function.name), "a later fragment repeats id/name: " + JSON.stringify(t));
      if (t.function && t.function.arguments) calls[t.index].function.arguments += t.function.arguments;
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, calls, finish, chunks };
}

let qwen, gemma;
try {
  qwen = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--parallel", "2"]);
  gemma = await startServer(["-m", `${MODELS}/synth/synth-gemma3-f16.gguf`]);
} catch (e) {
  await test("servers start", () => { throw e; });
  process.exit(summary());
}
const q = new OpenAI({ baseURL: qwen.url + "/v1", apiKey: "none" });
const g = new OpenAI({ baseURL: gemma.url + "/v1", apiKey: "none" });
const named = (name) => ({ type: "function", function: { name } });

await test("named tool_choice: one call of that function, arguments valid, content null", async () => {
  const r = await q.chat.completions.create({ model: "", messages: USER, tools: TOOLS, tool_choice: named("get_time"),
                                              seed: 7, max_tokens: 200 });
  const m = r.choices[0].message;
  eq(r.choices[0].finish_reason, "tool_calls", "finish_reason");
  eq(m.content, null, "content");
  eq(m.tool_calls.length, 1, "one call");
  checkCall(m.tool_calls[0], "get_time");
});

await test("named tool_choice: the arguments validate for 20 seeds", async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = await q.chat.completions.create({ model: "", messages: USER, tools: TOOLS, tool_choice: named("get_weather"),
                                                seed, temperature: 1.2, max_tokens: 200 });
    const m = r.choices[0].message;
    assert(m.tool_calls && m.tool_calls.length === 1, `seed ${seed}: ${JSON.stringify(m)}`);
    checkCall(m.tool_calls[0], "get_weather");
  }
});

await test("stream: delta.tool_calls fragments add up to the non-streamed call of the same seed", async () => {
  const body = { model: "", messages: USER, tools: TOOLS, tool_choice: named("get_weather"), seed: 3, max_tokens: 200 };
  const whole = (await q.chat.completions.create(body)).choices[0].message.tool_calls[0];
  const s = await collect(await q.chat.completions.create({ ...body, stream: true }));
  eq(s.finish, "tool_calls", "finish_reason");
  eq(s.calls.length, 1, "one call");
  eq(s.content, "", "no content");
  eq(s.calls[0].function.name, whole.function.name, "name");
  eq(s.calls[0].function.arguments, whole.function.arguments, "arguments");
  checkCall(s.calls[0], "get_weather");
});

await test("required: a call of one of the tools, arguments valid for its schema", async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const r = await q.chat.completions.create({ model: "", messages: USER, tools: TOOLS, tool_choice: "required", seed,
                                                max_tokens: 200 });
    const m = r.choices[0].message;
    eq(r.choices[0].finish_reason, "tool_calls", "finish_reason");
    eq(m.tool_calls.length, 1, "one call");
    checkCall(m.tool_calls[0]);
  }
});

await test("tool_choice none: no call, the reply is text", async () => {
  const r = await q.chat.completions.create({ model: "", messages: USER, tools: TOOLS, tool_choice: "none", seed: 1,
                                              max_tokens: 12 });
  const c = r.choices[0];
  assert(c.message.tool_calls === undefined, "no tool_calls");
  assert(typeof c.message.content === "string", "content");
  assert(c.finish_reason === "stop" || c.finish_reason === "length", "finish " + c.finish_reason);
});

await test("auto: the reply is well-formed (text or calls, never an error)", async () => {
  for (const stream of [false, true]) {
    const body = { model: "", messages: USER, tools: TOOLS, seed: 5, max_tokens: 16 };
    if (!stream) {
      const c = (await q.chat.completions.create(body)).choices[0];
      assert(typeof c.message.content === "string" || c.message.tool_calls.length > 0, JSON.stringify(c));
    } else {
      const s = await collect(await q.chat.completions.create({ ...body, stream: true }));
      assert(s.finish, "a finish reason");
    }
  }
});

await test("auto: once the model opens a call, its arguments are sampled under the schema", async () => {
  // logit_bias makes this random model open calls (<tool_call>); what follows is up to it
  const ids = JSON.parse(execFileSync(BIN, ["tokenize", "-m", `${MODELS}/synth/synth-qwen3-f16.gguf`],
                                      { input: "<tool_call>" }).toString());
  eq(ids.length, 1, "<tool_call> is one token");
  let calls = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const body = { model: "", messages: USER, tools: TOOLS, seed, max_tokens: 90, logit_bias: { [ids[0]]: 100 } };
    const r = await q.chat.completions.create(body);
    const m = r.choices[0].message;
    assert(m.tool_calls && m.tool_calls.length >= 1, `seed ${seed}: no call in ${JSON.stringify(m)}`);
    m.tool_calls.forEach((c) => checkCall(c));
    calls += m.tool_calls.length;
    if (seed <= 2) {
      // a call cut off by max_tokens has been streamed in part; the whole reply leaves it out
      const st = await collect(await q.chat.completions.create({ ...body, stream: true }));
      const whole = st.calls.filter((c) => { try { JSON.parse(c.function.arguments); return true; } catch { return false; } });
      assert(st.calls.length - whole.length <= 1, "at most the last call unfinished");
      eq(whole.map((c) => [c.function.name, c.function.arguments]), m.tool_calls.map((c) => [c.function.name, c.function.arguments]),
         "stream = non-stream");
    }
  }
  assert(calls >= 8, "calls");
});

await test("parallel: required with min/max_tool_calls 2 gives two calls (template without tools)", async () => {
  const body = { model: "", messages: USER, tools: TOOLS, tool_choice: "required", parallel_tool_calls: true,
                 min_tool_calls: 2, max_tool_calls: 2, seed: 11, max_tokens: 300 };
  const r = await g.chat.completions.create(body);
  const m = r.choices[0].message;
  eq(r.choices[0].finish_reason, "tool_calls", "finish_reason");
  eq(m.tool_calls.length, 2, "two calls");
  m.tool_calls.forEach((c) => checkCall(c));
  assert(m.tool_calls[0].id !== m.tool_calls[1].id, "distinct ids");
  const s = await collect(await g.chat.completions.create({ ...body, stream: true }));
  eq(s.calls.length, 2, "two streamed calls (index 0 and 1)");
  eq(s.calls.map((c) => [c.function.name, c.function.arguments]), m.tool_calls.map((c) => [c.function.name, c.function.arguments]),
     "stream = non-stream");
  assert(s.calls[0].id !== s.calls[1].id, "distinct streamed ids");
});

await test("parallel_tool_calls false: required makes exactly one call", async () => {
  const r = await g.chat.completions.create({ model: "", messages: USER, tools: TOOLS, tool_choice: "required",
                                              parallel_tool_calls: false, seed: 2, max_tokens: 200 });
  eq(r.choices[0].message.tool_calls.length, 1, "one call");
  checkCall(r.choices[0].message.tool_calls[0]);
});

for (const [label, client] of [["qwen3 template", q], ["gemma3 (no tool template)", g]]) {
  await test(`agent loop (${label}): call, tool result, final answer`, async () => {
    const first = await client.chat.completions.create({ model: "", messages: USER, tools: TOOLS,
                                                         tool_choice: named("get_weather"), seed: 4, max_tokens: 200 });
    const call = first.choices[0].message.tool_calls[0];
    checkCall(call, "get_weather");
    const messages = [...USER, first.choices[0].message,
                      { role: "tool", tool_call_id: call.id, content: JSON.stringify({ temperature: 18, sky: "clear" }) }];
    const second = await client.chat.completions.create({ model: "", messages, tools: TOOLS, seed: 4, max_tokens: 8 });
    const c = second.choices[0];
    assert(typeof c.message.content === "string" && !c.message.tool_calls, "a text answer");
    assert(c.finish_reason === "stop" || c.finish_reason === "length", "finish " + c.finish_reason);
    // the call and its result went into the prompt
    assert(second.usage.prompt_tokens > first.usage.prompt_tokens + 10, `prompt grew: ${first.usage.prompt_tokens} -> ${second.usage.prompt_tokens}`);
  });
}

await test("errors are 400s in OpenAI's shape", async () => {
  const cases = [
    [{ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "nope" } } } } }] },
     "tools[0].function.parameters"],
    [{ tools: [{ type: "function", function: { name: "bad name" } }] }, "tools[0].function.name"],
    [{ tools: TOOLS, tool_choice: named("nope") }, "tool_choice.function.name"],
    [{ tools: TOOLS, tool_choice: "always" }, "tool_choice"],
    [{ messages: [...USER, { role: "tool", content: "x" }] }, "messages[1].tool_call_id"],
    [{ messages: [...USER, { role: "assistant", content: null, tool_calls: [{ id: "x", type: "function", function: { name: "f" } }] }] },
     "messages[1].tool_calls[0]"],
  ];
  for (const [extra, param] of cases) {
    let err = null;
    try { await q.chat.completions.create({ model: "", messages: USER, max_tokens: 4, ...extra }); } catch (e) { err = e; }
    assert(err && err.status === 400, `${param}: status ${err && err.status}`);
    eq(err.error.type, "invalid_request_error", "type");
    eq(err.error.param, param, "param");
    assert(typeof err.error.message === "string" && err.error.message.length > 10, "message");
  }
});

eq(await stopServer(qwen), 0, "qwen server exit");
eq(await stopServer(gemma), 0, "gemma server exit");
process.exit(summary());
