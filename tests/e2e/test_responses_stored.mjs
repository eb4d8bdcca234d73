// The stateful half of the Responses API and the Conversations API, with the official
// openai client (v6, as "openai6": it has client.conversations): stored responses
// (retrieve, delete, inputItems.list with pages), previous_response_id chains (plain,
// streamed, and a function-call round trip), background responses polled and cancelled,
// conversations (create with items and metadata, update, items list/create/retrieve/delete,
// `conversation` on responses.create appending input and output), truncation of a
// conversation longer than the context, and storage that survives a restart
// (test_responses_owners.mjs: ownership between users, and PostgreSQL). Random weights: tool calls are forced, texts are not checked
// for sense, only for plumbing (what the prompt holds is seen in usage.input_tokens).
import OpenAI from "openai6";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(14);
const MODEL = `${MODELS}/synth/synth-qwen3-f16.gguf`;
const WEATHER = {
  type: "object",
  properties: { city: { enum: ["Paris", "서울"] }, days: { type: "integer" } },
  required: ["city", "days"],
  additionalProperties: false,
};
const TOOLS = [{ type: "function", name: "get_weather", description: "Weather in a city", parameters: WEATHER, strict: true }];

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

const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-resp-"));
process.on("exit", () => fs.rmSync(dbDir, { recursive: true, force: true }));
const args = ["-m", MODEL, "--ctx", "512", "--parallel", "2", "--no-auth", "--db", `sqlite:${dbDir}/omni.db`];
let srv;
try {
  srv = await startServer(args);
} catch (e) {
  await test("server starts", () => { throw e; });
  process.exit(summary());
}
let client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
const base = { model: "", seed: 1, temperature: 0 };
let kept;

await test("store (the default): retrieve gives the same response, inputItems lists its input", async () => {
  const r = await client.responses.create({ ...base, input: "Hello there!", instructions: "Be brief.", max_output_tokens: 5,
                                            metadata: { run: "1" } });
  eq(r.store, true, "store");
  eq(r.previous_response_id ?? null, null, "no previous");
  const g = await client.responses.retrieve(r.id);
  eq(g.id, r.id, "id");
  eq(g.output_text, r.output_text, "output text");
  eq(g.status, r.status, "status");
  eq(g.usage, r.usage, "usage");
  eq(g.instructions, "Be brief.", "instructions");
  eq(g.metadata, { run: "1" }, "metadata");
  const items = await client.responses.inputItems.list(r.id);
  eq(items.data.length, 1, "one input item");
  eq(items.data[0].type, "message", "a message");
  eq(items.data[0].role, "user", "role");
  eq(items.data[0].content, [{ type: "input_text", text: "Hello there!" }], "content as parts");
  assert(/^msg_/.test(items.data[0].id), "item id " + items.data[0].id);
  kept = r;
});

await test("previous_response_id: the prior input and output are the new prompt's start (cached)", async () => {
  const r1 = await client.responses.create({ ...base, input: "My name is 민준. Remember it.", max_output_tokens: 8 });
  const r2 = await client.responses.create({ ...base, input: "What is my name?", previous_response_id: r1.id, max_output_tokens: 4 });
  eq(r2.previous_response_id, r1.id, "previous_response_id");
  assert(r2.usage.input_tokens > r1.usage.input_tokens + r1.usage.output_tokens,
         `r2 holds r1's turn: ${r2.usage.input_tokens} vs ${r1.usage.input_tokens} + ${r1.usage.output_tokens}`);
  const r3 = await client.responses.create({ ...base, input: "And again?", previous_response_id: r2.id, max_output_tokens: 4 });
  assert(r3.usage.input_tokens > r2.usage.input_tokens + r2.usage.output_tokens, "a chain of three: r1 and r2 in r3");
  // the chain's prefix is still in the engine's prompt cache: usage says how much was reused
  assert(r2.usage.input_tokens_details.cached_tokens >= r1.usage.input_tokens / 2,
         `r2 reuses r1's prompt: ${r2.usage.input_tokens_details.cached_tokens} of ${r2.usage.input_tokens}`);
  assert(r3.usage.input_tokens_details.cached_tokens >= r2.usage.input_tokens / 2,
         `r3 reuses r2's prompt: ${r3.usage.input_tokens_details.cached_tokens} of ${r3.usage.input_tokens}`);
  const items = await client.responses.inputItems.list(r3.id);
  eq(items.data.length, 1, "input_items are r3's own input");
});

await test("stream a chained response: events in order, the final one is stored", async () => {
  const stream = await client.responses.create({ ...base, input: "Tell me more.", previous_response_id: kept.id,
                                                 max_output_tokens: 6, stream: true });
  const evs = [];
  for await (const e of stream) evs.push(e);
  evs.forEach((e, i) => eq(e.sequence_number, i, "sequence_number"));
  eq(evs[0].type, "response.created", "first");
  eq(evs[0].response.previous_response_id, kept.id, "created names the previous response");
  const last = evs[evs.length - 1];
  assert(["response.completed", "response.incomplete"].includes(last.type), "last " + last.type);
  const text = evs.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  const g = await client.responses.retrieve(last.response.id);
  eq(g.output_text, text, "stored text = streamed deltas");
  eq(g.previous_response_id, kept.id, "stored previous_response_id");
  const whole = await client.responses.create({ ...base, input: "Tell me more.", previous_response_id: kept.id, max_output_tokens: 6 });
  eq(whole.output_text, text, "stream = non-stream on the same chain");
});

await test("a function-call round trip through previous_response_id", async () => {
  const r1 = await client.responses.create({ ...base, input: "Weather in Paris for 2 days?", tools: TOOLS,
                                             tool_choice: { type: "function", name: "get_weather" }, max_output_tokens: 200 });
  const call = r1.output.find((o) => o.type === "function_call");
  assert(call, "a call");
  const v = JSON.parse(call.arguments);
  assert(["Paris", "서울"].includes(v.city) && Number.isInteger(v.days), "arguments validate: " + call.arguments);
  const r2 = await client.responses.create({ ...base, previous_response_id: r1.id, tools: TOOLS, max_output_tokens: 6,
                                             input: [{ type: "function_call_output", call_id: call.call_id, output: "{\"temp\": 18}" }] });
  assert(r2.output.some((o) => o.type === "message"), "an answer");
  assert(r2.usage.input_tokens > r1.usage.input_tokens + r1.usage.output_tokens,
         `the call and its output are in the prompt: ${r1.usage.input_tokens}+${r1.usage.output_tokens} -> ${r2.usage.input_tokens}`);
  const items = await client.responses.inputItems.list(r2.id);
  eq(items.data.map((i) => [i.type, i.call_id]), [["function_call_output", call.call_id]], "r2's input item");
});

await test("inputItems: pages with limit/after/order, and the SDK's auto-pagination", async () => {
  const input = [1, 2, 3, 4, 5].map((k) => ({ role: k % 2 ? "user" : "assistant", content: `turn ${k}` }));
  const r = await client.responses.create({ ...base, input, max_output_tokens: 2 });
  const p1 = await client.responses.inputItems.list(r.id, { limit: 2, order: "asc" });
  eq(p1.data.map((i) => i.content[0].text), ["turn 1", "turn 2"], "first page");
  eq(p1.has_more, true, "has_more");
  eq(p1.data[1].content[0].type, "output_text", "an assistant turn's text is output_text");
  const p2 = await client.responses.inputItems.list(r.id, { limit: 2, order: "asc", after: p1.data[1].id });
  eq(p2.data.map((i) => i.content[0].text), ["turn 3", "turn 4"], "second page");
  const all = [];
  for await (const it of client.responses.inputItems.list(r.id, { limit: 2 })) all.push(it.content[0].text);
  eq(all, ["turn 5", "turn 4", "turn 3", "turn 2", "turn 1"], "all, newest first (the default order)");
  eq(await status(client.responses.inputItems.list(r.id, { limit: 0 })), 400, "limit 0");
});

await test("delete, store:false, and bad ids are 4xx", async () => {
  const r = await client.responses.create({ ...base, input: "x", max_output_tokens: 2 });
  await client.responses.delete(r.id);
  eq(await status(client.responses.retrieve(r.id)), 404, "gone");
  eq(await status(client.responses.delete(r.id)), 404, "deleted twice");
  const nostore = await client.responses.create({ ...base, input: "x", max_output_tokens: 2, store: false });
  eq(nostore.store, false, "store false");
  eq(await status(client.responses.retrieve(nostore.id)), 404, "not stored");
  let err = null;
  try { await client.responses.create({ ...base, input: "x", previous_response_id: nostore.id }); } catch (e) { err = e; }
  eq(err && err.status, 400, "an unstored previous response");
  eq(err.error.param, "previous_response_id", "param");
  eq(await status(client.responses.create({ ...base, input: "x", previous_response_id: r.id, conversation: "conv_x" })), 400, "both");
  eq(await status(client.responses.create({ ...base, input: "x", store: "yes" })), 400, "store type");
  eq(await status(client.responses.create({ ...base, input: "x", background: true, store: false })), 400, "background needs store");
  eq(await status(client.responses.retrieve("resp_" + "z".repeat(80))), 404, "a long id");
  eq(await status(client.responses.cancel(kept.id)), 400, "cancel of a response that was not background");
});

await test("background: answered queued at once, polled to completed; cancel", async () => {
  const q = await client.responses.create({ ...base, input: "Write a story.", background: true, max_output_tokens: 8 });
  eq(q.status, "queued", "queued");
  eq(q.background, true, "background");
  const done = await pollDone(client, q.id);
  assert(["completed", "incomplete"].includes(done.status), "finished: " + done.status);
  eq(done.usage.output_tokens <= 8, true, "output tokens");
  assert(done.output_text.length > 0 || done.output.length > 0, "an output");
  const again = await client.responses.cancel(q.id);
  eq(again.status, done.status, "cancelling a finished one gives it as it is");
  // a long one, cancelled: its stored status becomes cancelled (or it had ended on its own
  // at an end-of-text token, which a random model may sample: then try another seed)
  let cancelled = null;
  for (let seed = 1; seed <= 4 && !cancelled; seed++) {
    const long = await client.responses.create({ ...base, seed, temperature: 1, input: "Write a long story.",
                                                 background: true, max_output_tokens: 400 });
    const c = await client.responses.cancel(long.id);
    const g = await client.responses.retrieve(long.id);
    eq(g.status, c.status, "cancel's answer is what is stored");
    if (c.status === "cancelled") cancelled = g;
    else assert(g.usage.output_tokens < 400, "not cancelled only when it ended by itself: " + c.status);
  }
  assert(cancelled, "one of them was cancelled");
  // streamed in the background: the events as usual, and stored
  const evs = [];
  for await (const e of await client.responses.create({ ...base, input: "Hi!", background: true, stream: true, max_output_tokens: 5 }))
    evs.push(e);
  const fin = evs[evs.length - 1].response;
  eq(evs[0].type, "response.created", "streamed");
  const sg = await client.responses.retrieve(fin.id);
  eq([sg.status, sg.output_text, sg.background], [fin.status, evs.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join(""), true],
     "the streamed background response is stored");
  // its client leaves after the first event: the run goes on to its end and is stored
  const left = await client.responses.create({ ...base, input: "Hi!", background: true, stream: true, max_output_tokens: 5 });
  let leftId = null;
  for await (const e of left) { leftId = e.response.id; break; }
  const lg = await pollDone(client, leftId);
  eq([lg.status, lg.output_text], [sg.status, sg.output_text], "the same answer, finished without its client");
  // a streamed background run cancelled from another request: its stream ends with response.cancelled
  let streamCancelled = false;
  for (let seed = 1; seed <= 4 && !streamCancelled; seed++) {
    const st = await client.responses.create({ ...base, seed, temperature: 1, input: "Write a long story.", background: true,
                                               stream: true, max_output_tokens: 400 });
    let cancelP = null, last = null;
    for await (const e of st) {
      if (!cancelP) cancelP = client.responses.cancel(e.response.id);
      last = e;
    }
    const c = await cancelP;
    eq((await client.responses.retrieve(c.id)).status, c.status, "stored as cancel answered");
    if (c.status === "cancelled") {
      eq(last.type, "response.cancelled", "the stream's last event");
      eq(last.response.status, "cancelled", "its status");
      streamCancelled = true;
    } else assert(c.usage.output_tokens < 400, "not cancelled only when it ended by itself: " + c.status);
  }
  assert(streamCancelled, "one streamed run was cancelled");
  // deleted while it runs: it stays deleted when the run ends (cancel waits for that end)
  const del = await client.responses.create({ ...base, input: "Another story.", background: true, max_output_tokens: 400 });
  await client.responses.delete(del.id);
  eq(await status(client.responses.cancel(del.id)), 404, "cancel after delete");
  eq(await status(client.responses.retrieve(del.id)), 404, "still deleted after its run");
});

let conv;
await test("conversations: create with items and metadata, retrieve, update, delete", async () => {
  conv = await client.conversations.create({ metadata: { topic: "날씨" },
                                             items: [{ type: "message", role: "user", content: "안녕하세요" },
                                                     { type: "message", role: "assistant", content: "반갑습니다" }] });
  assert(/^conv_/.test(conv.id), "id " + conv.id);
  eq(conv.object, "conversation", "object");
  eq(conv.metadata, { topic: "날씨" }, "metadata");
  assert(Number.isInteger(conv.created_at) && conv.created_at > 1.7e9, "created_at in seconds");
  eq((await client.conversations.retrieve(conv.id)).metadata, { topic: "날씨" }, "retrieved");
  const u = await client.conversations.update(conv.id, { metadata: { topic: "비" } });
  eq(u.metadata, { topic: "비" }, "updated");
  const other = await client.conversations.create({});
  const d = await client.conversations.delete(other.id);
  eq([d.id, d.deleted, d.object], [other.id, true, "conversation.deleted"], "deleted");
  eq(await status(client.conversations.retrieve(other.id)), 404, "gone");
  eq(await status(client.conversations.create({ items: [{ type: "mystery" }] })), 400, "a bad item");
  eq(await status(client.conversations.create({ metadata: { k: 5 } })), 400, "bad metadata");
});

await test("conversation items: list (newest first), create, retrieve, delete", async () => {
  const l = await client.conversations.items.list(conv.id);
  eq(l.data.map((i) => i.content[0].text), ["반갑습니다", "안녕하세요"], "newest first");
  const added = await client.conversations.items.create(conv.id, {
    items: [{ type: "message", role: "user", content: [{ type: "input_text", text: "오늘 날씨는?" }] }] });
  eq(added.data.length, 1, "one added");
  const got = await client.conversations.items.retrieve(added.data[0].id, { conversation_id: conv.id });
  eq(got.content[0].text, "오늘 날씨는?", "retrieved");
  const asc = await client.conversations.items.list(conv.id, { order: "asc", limit: 2 });
  eq(asc.data.map((i) => i.content[0].text), ["안녕하세요", "반갑습니다"], "asc page");
  eq(asc.has_more, true, "has_more");
  const tmp = await client.conversations.items.create(conv.id, { items: [{ role: "user", content: "지울 것" }] });
  const after = await client.conversations.items.delete(tmp.data[0].id, { conversation_id: conv.id });
  eq(after.id, conv.id, "delete answers the conversation");
  eq(await status(client.conversations.items.retrieve(tmp.data[0].id, { conversation_id: conv.id })), 404, "item gone");
  eq(await status(client.conversations.items.list("conv_missing")), 404, "no such conversation");
});

await test("responses.create with conversation: its items are the context, input and output are appended", async () => {
  const before = (await client.conversations.items.list(conv.id, { limit: 100 })).data.length;
  const r1 = await client.responses.create({ ...base, conversation: conv.id, input: "서울은 어때요?", max_output_tokens: 5 });
  eq(r1.conversation.id, conv.id, "the response names its conversation");
  const items = (await client.conversations.items.list(conv.id, { limit: 100, order: "asc" })).data;
  eq(items.length, before + r1.output.length + 1, "input + output appended");
  eq(items[before].content[0].text, "서울은 어때요?", "the input");
  eq(items[items.length - 1].id, r1.output[r1.output.length - 1].id, "the output, with its id");
  const alone = await client.responses.create({ ...base, input: "서울은 어때요?", max_output_tokens: 5, store: false });
  assert(r1.usage.input_tokens > alone.usage.input_tokens + 10, `the conversation is in the prompt: ${r1.usage.input_tokens} vs ${alone.usage.input_tokens}`);
  const r2 = await client.responses.create({ ...base, conversation: { id: conv.id }, input: "그리고?", max_output_tokens: 5 });
  assert(r2.usage.input_tokens > r1.usage.input_tokens, "the second turn sees the first");
  const n2 = (await client.conversations.items.list(conv.id, { limit: 100 })).data.length;
  const evs = [];
  for await (const e of await client.responses.create({ ...base, conversation: conv.id, input: "스트림", max_output_tokens: 3, stream: true }))
    evs.push(e);
  const fin = evs[evs.length - 1].response;
  eq(fin.conversation.id, conv.id, "a streamed one names it too");
  const after = (await client.conversations.items.list(conv.id, { limit: 100 })).data;
  eq(after.length, n2 + 1 + fin.output.length, "a streamed response's items are appended");
  eq(after[0].id, fin.output[fin.output.length - 1].id, "newest: the streamed output");
  eq(await status(client.responses.create({ ...base, conversation: "conv_nope", input: "x" })), 404, "no such conversation");
});

await test("truncation: a conversation longer than the context is cut from the oldest turn (auto), or refused (disabled)", async () => {
  const c = await client.conversations.create({});
  for (let k = 0; k < 3; k++)
    await client.conversations.items.create(c.id, { items: Array.from({ length: 20 }, (_, i) =>
      ({ role: i % 2 ? "assistant" : "user", content: `turn ${k * 20 + i}: the weather in Seoul is cloudy with light rain all day` })) });
  const r = await client.responses.create({ ...base, conversation: c.id, input: "Summarise.", max_output_tokens: 4, truncation: "auto" });
  assert(r.usage.input_tokens < 512, "fits the context: " + r.usage.input_tokens);
  eq(r.truncation, "auto", "truncation");
  let err = null;
  try { await client.responses.create({ ...base, conversation: c.id, input: "Summarise.", max_output_tokens: 4, truncation: "disabled" }); }
  catch (e) { err = e; }
  eq(err && err.status, 400, "disabled: 400");
});

await test("input_tokens: the prompt's length as it would run (a chain, a conversation), nothing stored", async () => {
  const n = await client.responses.inputTokens.count({ model: "", input: "Hello there!", instructions: "Be brief." });
  eq(n.object, "response.input_tokens", "object");
  eq(n.input_tokens, kept.usage.input_tokens, "the same prompt as the stored response's");
  const r = await client.responses.create({ ...base, input: "Count me.", previous_response_id: kept.id, max_output_tokens: 2 });
  const m = await client.responses.inputTokens.count({ model: "", input: "Count me.", previous_response_id: kept.id });
  eq(m.input_tokens, r.usage.input_tokens, "a chained prompt");
  const before = (await client.conversations.items.list(conv.id, { limit: 100 })).data.length;
  const k = await client.responses.inputTokens.count({ model: "", conversation: conv.id });
  assert(k.input_tokens > 20, "the conversation alone: " + k.input_tokens);
  eq((await client.conversations.items.list(conv.id, { limit: 100 })).data.length, before, "nothing appended");
});

await test("bad bodies, methods and paths on the stored routes are 4xx in OpenAI's shape", async () => {
  const call = async (method, p, body) => {
    const r = await fetch(srv.url + p, { method, headers: { "Content-Type": "application/json" },
                                         body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    const j = await r.json();
    assert(j.error && typeof j.error.message === "string" && typeof j.error.type === "string", "error shape: " + JSON.stringify(j));
    return r.status;
  };
  const c = `/v1/conversations/${conv.id}`;
  const many = Array.from({ length: 21 }, () => ({ role: "user", content: "x" }));
  const cases = [["POST", "/v1/conversations", "{not json", 400], ["POST", "/v1/conversations", "[1]", 400],
                 ["POST", "/v1/conversations", { items: "x" }, 400], ["POST", "/v1/conversations", { items: many }, 400],
                 ["POST", `${c}/items`, { items: [] }, 400], ["POST", `${c}/items`, { items: [{ role: "robot", content: "x" }] }, 400],
                 ["POST", `${c}/items`, {}, 400], ["POST", c, { metadata: "x" }, 400], ["POST", c, {}, 400],
                 ["GET", `${c}/items?limit=abc`, undefined, 400], ["GET", `${c}/items?order=sideways`, undefined, 400],
                 ["PUT", c, {}, 405], ["GET", "/v1/conversations", undefined, 405], ["GET", `${c}/bogus`, undefined, 404],
                 ["GET", `/v1/responses/${kept.id}/bogus`, undefined, 404], ["POST", `/v1/responses/${kept.id}`, {}, 405],
                 ["GET", `/v1/responses/${kept.id}/cancel`, undefined, 405], ["POST", "/v1/responses", { input: "x", background: "yes" }, 400],
                 ["POST", "/v1/responses", { input: "x", conversation: { id: 5 } }, 400]];
  for (const [method, p, body, want] of cases) eq(await call(method, p, body), want, `${method} ${p} ${JSON.stringify(body)}`);
});

await test("stored durably: after a restart the response and the conversation are still there", async () => {
  eq(await stopServer(srv), 0, "server exit");
  srv = await startServer(args);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  eq((await client.responses.retrieve(kept.id)).output_text, kept.output_text, "response");
  eq((await client.conversations.retrieve(conv.id)).metadata, { topic: "비" }, "conversation");
  const r = await client.responses.create({ ...base, input: "And now?", previous_response_id: kept.id, max_output_tokens: 3 });
  eq(r.previous_response_id, kept.id, "a chain goes on after the restart");
});
eq(await stopServer(srv), 0, "server exit");

process.exit(summary());
