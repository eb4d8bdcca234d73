// Responses that ran built-in tools (data_analysis, calculator, current_time) are stored
// like any other, with the official openai client (v6: conversations): retrieve gives the
// same output items, input_items lists the input, previous_response_id chains carry the
// runs (call and result) into the next prompt, a conversation gets the run items, and
// `background: true` answers queued, is polled to its end (or cancelled), also streamed.
// The calculator and current_time run in chat completions and Responses (forced calls: the
// random-weight model writes schema-valid arguments; their values are checked by
// tests/tools/test_calc.c); POST /v1/responses/input_tokens counts the built-ins' functions.
import OpenAI from "openai6";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { startPostgres } from "./pg_helpers.mjs";

const { test, summary } = makeCounter(10);
const CSV = "지역,제품,매출\n서울,사과,1200\n부산,배,800\n서울,배,1500\n";
const DA = { type: "data_analysis", tables: [{ name: "sales", csv: CSV }], limits: { max_sql_length: 24, max_rows: 50 } };
const base = { model: "", seed: 1, temperature: 0 };
const forced = (name) => ({ type: "function", name });
// short arguments, so the random model's forced call ends well within the tokens
const CALC = (extra = {}) => ({ type: "calculator", limits: { max_expression_length: 16 }, ...extra });

async function status(p) {
  try { await p; } catch (e) { return e.status; }
  return 200;
}
async function pollDone(client, id) {
  for (let i = 0; i < 100000; i++) {
    const r = await client.responses.retrieve(id);
    if (!["queued", "in_progress"].includes(r.status)) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("never finished");
}
const ids = (r) => r.output.map((o) => `${o.type}:${o.id}`);

const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-bstore-"));
process.on("exit", () => fs.rmSync(dbDir, { recursive: true, force: true }));
let srv;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--ctx", "2048", "--parallel", "2", "--no-auth",
                           "--db", `sqlite:${dbDir}/omni.db`]);
} catch (e) {
  await test("server starts", () => { throw e; });
  process.exit(summary());
}
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
let first;

await test("a data_analysis run is stored: retrieve gives the same items, input_items the input; store:false is not kept", async () => {
  const r = await client.responses.create({ ...base, input: "매출 합계는?", tools: [DA], tool_choice: forced("query"), max_output_tokens: 60 });
  eq(r.output[0].type, "data_analysis_call", "the run");
  eq(r.store, true, "store");
  const g = await client.responses.retrieve(r.id);
  eq(ids(g), ids(r), "same items");
  eq(g.output[0].sql, r.output[0].sql, "the SQL kept");
  eq(g.output[0].output, r.output[0].output, "the result kept");
  eq(g.status, r.status, "status");
  eq(g.usage, r.usage, "usage");
  eq(g.tools[0].type, "data_analysis", "the request's tools");
  const items = await client.responses.inputItems.list(r.id);
  eq(items.data.map((i) => i.type), ["message"], "input items");
  const nostore = await client.responses.create({ ...base, input: "합계", tools: [DA], tool_choice: forced("query"), store: false, max_output_tokens: 30 });
  eq(nostore.store, false, "store false");
  eq(await status(client.responses.retrieve(nostore.id)), 404, "not stored");
  first = r;
});

await test("previous_response_id after a built-in run: the call and its result are in the next prompt; with or without the tool", async () => {
  const plain = await client.responses.create({ ...base, input: "그래서?", max_output_tokens: 2 });
  const r2 = await client.responses.create({ ...base, input: "그래서?", previous_response_id: first.id, max_output_tokens: 2 });
  eq(r2.previous_response_id, first.id, "chained");
  assert(r2.usage.input_tokens > plain.usage.input_tokens + first.output[0].output.length / 8,
         `the run is in the prompt: ${r2.usage.input_tokens} vs ${plain.usage.input_tokens}`);
  const r3 = await client.responses.create({ ...base, input: "서울만", previous_response_id: r2.id, tools: [DA],
                                             tool_choice: forced("query"), max_output_tokens: 150 });
  eq(r3.output[0].type, "data_analysis_call", "a run in a chain");
  const r4 = await client.responses.create({ ...base, input: "?", previous_response_id: r3.id, max_output_tokens: 2 });
  assert(r4.usage.input_tokens > r2.usage.input_tokens, "three turns with two runs");
});

await test("a table sent as an input_file is read again by later turns of the chain", async () => {
  const file = { type: "input_file", filename: "매출.csv", file_data: "data:text/csv;base64," + Buffer.from(CSV).toString("base64") };
  const r1 = await client.responses.create({ ...base, input: [{ role: "user", content: [{ type: "input_text", text: "합계?" }, file] }],
                                             tools: [{ type: "data_analysis", limits: DA.limits }], tool_choice: forced("query"), max_output_tokens: 150 });
  eq(r1.output[0].type, "data_analysis_call", "first run");
  const r2 = await client.responses.create({ ...base, input: "부산은?", previous_response_id: r1.id,
                                             tools: [{ type: "data_analysis", limits: DA.limits }], tool_choice: forced("query"), max_output_tokens: 150 });
  eq(r2.output[0].type, "data_analysis_call", "the chain's table is loaded again");
  if (r2.output[0].status === "failed") assert(!/no such table/.test(r2.output[0].error), "the table exists: " + r2.output[0].error);
  // without the tool the earlier file is no error
  const r3 = await client.responses.create({ ...base, input: "고마워", previous_response_id: r2.id, max_output_tokens: 2 });
  eq(r3.status === "completed" || r3.status === "incomplete", true, "answered");
});

await test("a conversation gets the run items; its next turn sees them", async () => {
  const conv = await client.conversations.create({ metadata: { topic: "calc" } });
  const r = await client.responses.create({ ...base, input: "12 * 34?", conversation: conv.id, tools: [CALC()],
                                            tool_choice: forced("calculator"), max_output_tokens: 150 });
  eq(r.output[0].type, "calculator_call", "the calculator ran");
  assert(/^calc_/.test(r.output[0].id), "id " + r.output[0].id);
  const items = await client.conversations.items.list(conv.id, { order: "asc" });
  const types = items.data.map((i) => i.type);
  eq(types[0], "message", "the input first");
  eq(items.data[1].id, r.output[0].id, "then the run, by its id");
  eq(items.data[1].type, "calculator_call", "its type");
  eq(items.data[1].output, r.output[0].output, "its result");
  const one = await client.conversations.items.retrieve(r.output[0].id, { conversation_id: conv.id });
  eq(one.expression, r.output[0].expression, "the expression kept");
  const again = await client.responses.create({ ...base, input: "?", conversation: conv.id, max_output_tokens: 2 });
  const fresh = await client.responses.create({ ...base, input: "?", max_output_tokens: 2 });
  assert(again.usage.input_tokens > fresh.usage.input_tokens + 10, "the conversation's run is in the prompt");
});

await test("background with built-in tools: queued at once, polled to completed, the runs stored", async () => {
  const q = await client.responses.create({ ...base, input: "합계?", tools: [DA], tool_choice: forced("query"), background: true,
                                            max_output_tokens: 150 });
  eq(q.status, "queued", "queued");
  eq(q.background, true, "background");
  eq(q.output, [], "nothing yet");
  const done = await pollDone(client, q.id);
  assert(["completed", "incomplete"].includes(done.status), "finished: " + done.status);
  eq(done.output[0].type, "data_analysis_call", "the run");
  assert(done.output.length >= 2, "and the answer after it");
  eq(done.background, true, "still background");
  // chained from a background run
  const next = await client.responses.create({ ...base, input: "?", previous_response_id: q.id, max_output_tokens: 2 });
  eq(next.previous_response_id, q.id, "chained");
});

await test("background streamed with built-in tools: the events as usual, and the final response stored", async () => {
  const evs = [];
  for await (const e of await client.responses.create({ ...base, input: "시간?", tools: [{ type: "current_time", timezone: "Asia/Seoul" }],
                                                          tool_choice: forced("current_time"), background: true, stream: true, max_output_tokens: 150 }))
    evs.push(e);
  evs.forEach((e, i) => eq(e.sequence_number, i, "sequence_number"));
  eq(evs[0].type, "response.created", "first");
  const last = evs[evs.length - 1];
  assert(["response.completed", "response.incomplete"].includes(last.type), "last " + last.type);
  const run = last.response.output[0];
  eq(run.type, "current_time_call", "the run");
  const types = evs.map((e) => e.type);
  assert(types.includes("response.current_time_call.in_progress"), "its events: " + types.join(" "));
  const g = await pollDone(client, last.response.id);
  eq(ids(g), ids(last.response), "stored as streamed");
  eq(g.output[0].output, run.output, "the run's result kept");
});

await test("background cancelled during a tool loop: it stops, stored as cancelled", async () => {
  const q = await client.responses.create({ ...base, temperature: 1, seed: 7, input: "Write a long story about numbers.",
                                            tools: [CALC()], tool_choice: forced("calculator"), background: true,
                                            max_output_tokens: 2000 });
  eq(q.status, "queued", "queued");
  // cancelled at once: wherever the loop is (the forced call, its run, the answer after it),
  // it stops there; 2000 tokens cannot have been written yet
  const c = await client.responses.cancel(q.id);
  eq(c.status, "cancelled", "after cancel: " + c.status);
  const g = await client.responses.retrieve(q.id);
  eq(g.status, "cancelled", "stored cancelled");
  eq(g.background, true, "background");
  assert(g.usage.output_tokens < 2000, "stopped early: " + g.usage.output_tokens);
});

await test("calculator and current_time in chat completions: forced calls run, their items in tool_runs, valid arguments", async () => {
  const post = (body) => fetch(srv.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" },
                                                                   body: JSON.stringify({ model: "", seed: 3, max_tokens: 150, ...body }) });
  const msgs = [{ role: "user", content: "지금 몇 시야? 그리고 1/3 + 1/6은?" }];
  for (const [tool, name, key] of [[CALC({ timezone: "Asia/Seoul" }), "calculator", "expression"],
                                   [{ type: "current_time", timezone: "Asia/Seoul" }, "current_time", "timezone"]]) {
    const r = await (await post({ messages: msgs, tools: [tool], tool_choice: { type: "function", function: { name } } })).json();
    const runs = r.choices[0].message.tool_runs;
    eq(runs[0].type, `${name}_call`, "the run");
    const args = JSON.parse(runs[0].arguments);
    for (const k of Object.keys(args)) eq(k, key, "only the schema's property");
    if (name === "calculator") assert(typeof args.expression === "string" && args.expression.length <= 16, "expression " + args.expression);
    if (runs[0].status === "completed") {
      if (name === "current_time") assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/.test(runs[0].result.datetime), "datetime " + runs[0].result.datetime);
      else assert(typeof runs[0].result.value === "string", "a value");
      eq(runs[0].error, null, "no error");
    } else {
      eq(runs[0].status, "failed", "status");
      assert(runs[0].output === "Error: " + runs[0].error, "the model read the error: " + runs[0].error);
    }
  }
  // a bad zone in the tool is a 400 naming it
  const bad = await post({ messages: msgs, tools: [{ type: "current_time", timezone: "Mars/Olympus" }] });
  eq(bad.status, 400, "status");
  eq((await bad.json()).error.param, "tools[0].timezone", "param");
});

await test("input_tokens with built-in tools: the functions are counted, nothing runs or is stored", async () => {
  const count = async (body) => (await (await fetch(srv.url + "/v1/responses/input_tokens", { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "", input: "합계?", ...body }) })).json()).input_tokens;
  const none = await count({});
  const withDa = await count({ tools: [DA] });
  assert(withDa > none + 20, `the query and chart functions are in the prompt: ${withDa} vs ${none}`);
  const withCalc = await count({ tools: [CALC()] });
  assert(withCalc > none && withCalc < withDa, `calculator: ${withCalc}`);
});

await stopServer(srv);

await test("PostgreSQL: a stored run, a chain after it, and a stored chat's answer with its runs", async () => {
  const pg = await startPostgres();
  const s3 = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--ctx", "2048", "--no-auth", "--db", pg.url]);
  try {
    const pc = new OpenAI({ baseURL: s3.url + "/v1", apiKey: "none", maxRetries: 0 });
    const r = await pc.responses.create({ ...base, input: "합계?", tools: [DA], tool_choice: forced("query"), max_output_tokens: 150 });
    eq(ids(await pc.responses.retrieve(r.id)), ids(r), "stored");
    const next = await pc.responses.create({ ...base, input: "?", previous_response_id: r.id, max_output_tokens: 2 });
    eq(next.previous_response_id, r.id, "chained");
    // a chat stored the way the web app stores it: one answer, with the runs (migration 7's table)
    const conv = await (await fetch(s3.url + "/api/conversations", { method: "POST", headers: { "content-type": "application/json" },
                                                                     body: "{}" })).json();
    const chat = await fetch(s3.url + "/v1/chat/completions", { method: "POST",
      headers: { "content-type": "application/json", "X-Omni-Conversation": conv.id },
      body: JSON.stringify({ model: "", seed: 1, max_tokens: 150, messages: [{ role: "user", content: "합계?" }], tools: [DA],
                             tool_choice: { type: "function", function: { name: "query" } } }) });
    eq(chat.status, 200, "chat");
    const runs = (await chat.json()).choices[0].message.tool_runs;
    const tree = await (await fetch(`${s3.url}/api/conversations/${conv.id}`)).json();
    const ans = tree.messages.filter((m) => m.role === "assistant");
    eq(ans.length, 1, "one answer");
    eq(ans[0].tool_runs.map((x) => x.id), runs.map((x) => x.id), "its runs, from PostgreSQL");
  } finally {
    eq(await stopServer(s3), 0, "postgres server exit");
    await pg.stop();
  }
});

process.exit(summary());
