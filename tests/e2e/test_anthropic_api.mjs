// Anthropic's Messages API on `omni serve`, through the official @anthropic-ai/sdk client:
// the message object's shape, greedy replies equal to /v1/chat/completions' for the same
// conversation (system prompt, several turns, an image), assistant prefill, streaming with the SDK's helpers
// and the raw `event:` lines in Anthropic's order, stop_sequences and max_tokens as
// stop_reason, count_tokens equal to the prompt the reply used, thinking blocks from a
// Qwen3-template model (logit_bias, omni's extension, pushes the random weights into
// writing "<think> … </think> answer", as in test_server_reasoning.mjs), x-api-key and
// Bearer auth, and errors in Anthropic's shape raising the SDK's error classes.
import * as fs from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(22);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const MMPROJ = `${MODELS}/synth/synth-llava-mmproj-f16.gguf`;
const QWEN3 = `${MODELS}/synth/synth-qwen3-f16.gguf`;
const KEY = "test-key-anthropic";
const N_IMAGE_POS = 64; // 112x112 image, 14-pixel patches
const png = fs.readFileSync(`${MODELS}/images/logo112.png`).toString("base64");

const SYSTEM = "You are a storyteller.";
const TURNS = [
  { role: "user", content: "Tell me about a cat." },
  { role: "assistant", content: "Once upon a time there was a cat." },
  { role: "user", content: "What did the cat do next?" },
];
const textOf = (m) => m.content.filter((b) => b.type === "text").map((b) => b.text).join("");

let srv, ant, oai, model;
try {
  srv = await startServer(["-m", LLM, "--mmproj", MMPROJ, "--ctx", "1024", "--parallel", "2", "--api-key", KEY]);
  ant = new Anthropic({ baseURL: srv.url, apiKey: KEY, maxRetries: 0 });
  oai = new OpenAI({ baseURL: srv.url + "/v1", apiKey: KEY, maxRetries: 0 });
  model = (await oai.models.list()).data[0].id;
  const ask = (extra = {}) => ({ model, max_tokens: 12, temperature: 0, system: SYSTEM, messages: TURNS, ...extra });
  const chatOf = (extra = {}) => ({ model, max_tokens: 12, temperature: 0,
    messages: [{ role: "system", content: SYSTEM }, ...TURNS], ...extra });

  let first;
  await test("create: a message in Anthropic's shape", async () => {
    const m = await ant.messages.create(ask());
    first = m;
    assert(/^msg_[0-9a-f]{16}$/.test(m.id), "id " + m.id);
    eq([m.type, m.role, m.model], ["message", "assistant", model], "type, role, model");
    eq(m.content.length, 1, "one block");
    eq(m.content[0].type, "text", "a text block");
    assert(m.content[0].text.length > 0, "text");
    assert(m.stop_reason === "end_turn" || m.stop_reason === "max_tokens", "stop_reason " + m.stop_reason);
    eq(m.stop_sequence, null, "stop_sequence");
    for (const k of ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"])
      assert(Number.isInteger(m.usage[k]), `usage.${k} ${m.usage[k]}`);
    assert(m.usage.output_tokens > 0 && m.usage.output_tokens <= 12, "output_tokens " + m.usage.output_tokens);
  });

  await test("greedy reply equals /v1/chat/completions' for the same system + turns", async () => {
    const c = await oai.chat.completions.create(chatOf());
    eq(textOf(first), c.choices[0].message.content, "text");
    eq(first.usage.output_tokens, c.usage.completion_tokens, "output tokens");
    eq(first.usage.input_tokens + first.usage.cache_read_input_tokens, c.usage.prompt_tokens, "whole prompt");
    eq(first.stop_reason, c.choices[0].finish_reason === "length" ? "max_tokens" : "end_turn", "stop reason");
    // and again: the prompt now comes from the cache, which usage says
    const again = await ant.messages.create(ask());
    eq(textOf(again), textOf(first), "same text");
    assert(again.usage.cache_read_input_tokens > 0, "cache_read_input_tokens " + again.usage.cache_read_input_tokens);
  });

  await test("system as text blocks = system as a string; without it, chat completions without one", async () => {
    const blocks = await ant.messages.create(ask({ system: [{ type: "text", text: "You are a " }, { type: "text", text: "storyteller." }] }));
    eq(textOf(blocks), textOf(first), "same reply");
    const noSys = await ant.messages.create(ask({ system: undefined }));
    const c = await oai.chat.completions.create(chatOf({ messages: TURNS }));
    eq(textOf(noSys), c.choices[0].message.content, "without system: equals chat completions without one");
    const promptOf = (m) => m.usage.input_tokens + m.usage.cache_read_input_tokens;
    eq(promptOf(noSys), c.usage.prompt_tokens, "prompt without system");
    // (SmolLM2's template writes its own default system prompt when there is none)
    assert(promptOf(noSys) !== promptOf(first), "the system prompt reaches the template");
  });

  await test("top_k 1 at temperature 1 is greedy; top_p, metadata and anthropic-version are taken", async () => {
    const m = await ant.messages.create(ask({ temperature: 1, top_k: 1, top_p: 0.9, metadata: { user_id: "u-1" } }));
    eq(textOf(m), textOf(first), "same as greedy");
  });

  await test("content as blocks = content as a string", async () => {
    const m = await ant.messages.create(ask({
      messages: TURNS.map((t) => ({ role: t.role, content: [{ type: "text", text: t.content }] })),
    }));
    eq(textOf(m), textOf(first), "same reply");
  });

  await test("prefill: a last assistant message is the start of the reply, which goes on from it", async () => {
    const r = textOf(first), cut = r.indexOf(" ", r.indexOf(" ", 1) + 1);
    assert(cut > 0, "a reply of three words or more: " + JSON.stringify(r));
    const prefill = r.slice(0, cut);
    const msgs = [...TURNS, { role: "assistant", content: prefill }];
    const m = await ant.messages.create(ask({ messages: msgs }));
    assert((prefill + textOf(m)).startsWith(r), `prefill ${JSON.stringify(prefill)} + ${JSON.stringify(textOf(m))} goes on as ${JSON.stringify(r)}`);
    assert(!textOf(m).startsWith(prefill), "the answer holds only what follows");
    const n = await ant.messages.countTokens({ model, system: SYSTEM, messages: msgs });
    eq(n.input_tokens, m.usage.input_tokens + m.usage.cache_read_input_tokens, "count_tokens counts the prefill");
  });

  await test("stream: the SDK's text events and final message equal the non-streamed reply", async () => {
    const s = ant.messages.stream(ask());
    let text = "", nText = 0;
    s.on("text", (t) => { text += t; nText++; });
    const fin = await s.finalMessage();
    eq(text, textOf(first), "streamed text");
    assert(nText >= 1, "text events");
    eq(fin.content, first.content, "final content");
    eq([fin.stop_reason, fin.stop_sequence], [first.stop_reason, null], "stop");
    eq(fin.usage.output_tokens, first.usage.output_tokens, "output tokens");
    eq(fin.usage.input_tokens + fin.usage.cache_read_input_tokens,
       first.usage.input_tokens + first.usage.cache_read_input_tokens, "prompt tokens");
    assert(/^msg_/.test(fin.id), "id");
  });

  await test("stream: raw SSE has event: lines in Anthropic's order, no [DONE]", async () => {
    const r = await fetch(srv.url + "/v1/messages", {
      method: "POST", headers: { "content-type": "application/json", "x-api-key": KEY, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ ...ask(), stream: true }),
    });
    eq(r.status, 200, "status");
    assert(r.headers.get("content-type").startsWith("text/event-stream"), "content type");
    const raw = await r.text();
    assert(!raw.includes("[DONE]"), "no [DONE]");
    const events = raw.split("\n\n").filter((e) => e.trim() && !e.startsWith(":")).map((e) => {
      const lines = e.split("\n");
      assert(lines[0].startsWith("event: ") && lines[1].startsWith("data: "), "event + data lines: " + e);
      const data = JSON.parse(lines[1].slice(6));
      eq(data.type, lines[0].slice(7), "event name = data.type");
      return data;
    });
    const names = events.map((e) => e.type).filter((t) => t !== "ping");
    eq(names[0], "message_start", "first");
    eq(events[1].type, "ping", "ping after message_start");
    eq(names.slice(-2), ["message_delta", "message_stop"], "last two");
    eq(names[1], "content_block_start", "a block starts");
    eq(names[names.length - 3], "content_block_stop", "the block stops before message_delta");
    assert(names.slice(2, -3).every((n) => n === "content_block_delta"), "deltas in between: " + names.join(","));
    const start = events[0].message;
    eq([start.type, start.role, start.content, start.stop_reason], ["message", "assistant", [], null], "message_start");
    eq(events.find((e) => e.type === "content_block_start").content_block, { type: "text", text: "" }, "block start");
    const text = events.filter((e) => e.type === "content_block_delta").map((e) => { eq(e.delta.type, "text_delta", "delta type"); return e.delta.text; }).join("");
    eq(text, textOf(first), "text");
    const md = events.find((e) => e.type === "message_delta");
    eq(md.delta.stop_reason, first.stop_reason, "message_delta stop_reason");
    eq(md.usage.output_tokens, first.usage.output_tokens, "message_delta usage");
  });

  await test("a client that hangs up mid-stream: the server goes on serving both slots", async () => {
    const ctl = new AbortController();
    const r = await fetch(srv.url + "/v1/messages", {
      method: "POST", signal: ctl.signal, headers: { "content-type": "application/json", "x-api-key": KEY },
      body: JSON.stringify({ ...ask({ max_tokens: 200 }), stream: true }),
    });
    await r.body.getReader().read();
    ctl.abort();
    const both = await Promise.all([ant.messages.create(ask()), ant.messages.stream(ask()).finalMessage()]);
    eq(both.map(textOf), [textOf(first), textOf(first)], "replies after the hang-up");
  });

  await test("stop_sequences: stop_reason stop_sequence, the text up to it", async () => {
    const long = await ant.messages.create(ask({ max_tokens: 24 }));
    const t = textOf(long);
    assert(t.length > 8, "a long enough reply: " + JSON.stringify(t));
    const seq = t.slice(4, 7), want = t.slice(0, t.indexOf(seq));
    const m = await ant.messages.create(ask({ max_tokens: 24, stop_sequences: ["\u0001never", seq] }));
    eq([m.stop_reason, m.stop_sequence], ["stop_sequence", seq], "stop");
    eq(textOf(m), want, "text before the stop sequence");
    const fin = await ant.messages.stream(ask({ max_tokens: 24, stop_sequences: [seq] })).finalMessage();
    eq([fin.stop_reason, fin.stop_sequence, textOf(fin)], ["stop_sequence", seq, want], "streamed");
  });

  await test("max_tokens: stop_reason max_tokens after exactly that many tokens", async () => {
    const m = await ant.messages.create(ask({ max_tokens: 3 }));
    eq([m.stop_reason, m.usage.output_tokens], ["max_tokens", 3], "stop and count");
  });

  await test("count_tokens equals the prompt a reply used (text, system, image)", async () => {
    const n = await ant.messages.countTokens({ model, system: SYSTEM, messages: TURNS });
    eq(n.input_tokens, first.usage.input_tokens + first.usage.cache_read_input_tokens, "input_tokens");
    const img = [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: png } },
                                          { type: "text", text: "Describe the image." }] }];
    const ni = await ant.messages.countTokens({ model, messages: img });
    const mi = await ant.messages.create({ model, max_tokens: 1, messages: img });
    eq(ni.input_tokens, mi.usage.input_tokens + mi.usage.cache_read_input_tokens, "with an image");
  });

  await test("image block: reply equals chat completions with the same image; 64 positions", async () => {
    const q = { type: "text", text: "\nDescribe the image." };
    const m = await ant.messages.create({ model, max_tokens: 10, temperature: 0, messages: [{ role: "user", content: [
      { type: "image", source: { type: "base64", media_type: "image/png", data: png } }, q] }] });
    const c = await oai.chat.completions.create({ model, max_tokens: 10, temperature: 0, messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: "data:image/png;base64," + png } }, q] }] });
    const t = await ant.messages.create({ model, max_tokens: 1, temperature: 0, messages: [{ role: "user", content: [q] }] });
    eq(textOf(m), c.choices[0].message.content, "same reply");
    const d = m.usage.input_tokens + m.usage.cache_read_input_tokens - (t.usage.input_tokens + t.usage.cache_read_input_tokens);
    assert(d >= N_IMAGE_POS && d <= N_IMAGE_POS + 1, `the image adds ${d} positions`);
  });

  await test("models.list and models.retrieve through the Anthropic SDK", async () => {
    const ids = [];
    for await (const m of ant.models.list()) {
      ids.push(m.id);
      eq([m.type, m.display_name], ["model", m.id], "type, display_name");
      assert(!isNaN(Date.parse(m.created_at)), "created_at " + m.created_at);
    }
    eq(ids, [model], "the served model");
    eq((await ant.models.retrieve(model)).id, model, "retrieve");
  });

  async function fails(fn, cls, status, re) {
    let err = null;
    try { await fn(); } catch (e) { err = e; }
    assert(err instanceof cls, `expected ${cls.name}, got ${err && err.constructor.name}: ${err}`);
    eq(err.status, status, "status");
    eq(err.error && err.error.type, "error", "body type");
    assert(re.test(err.error.error.message), "message: " + err.error.error.message);
    return err.error.error.type;
  }

  await test("errors: missing max_tokens, bad image source, tools, temperature -> BadRequestError", async () => {
    eq(await fails(() => ant.messages.create({ model, messages: TURNS }), Anthropic.BadRequestError, 400, /max_tokens/),
       "invalid_request_error", "type");
    await fails(() => ant.messages.create(ask({ messages: [{ role: "user", content: [
      { type: "image", source: { type: "url", url: "https://example.com/cat.png" } }] }] })),
      Anthropic.BadRequestError, 400, /does not fetch URLs/);
    await fails(() => ant.messages.create(ask({ messages: [{ role: "user", content: [
      { type: "image", source: { type: "base64", media_type: "image/png", data: png.slice(0, 300) } }] }] })),
      Anthropic.BadRequestError, 400, /image|png/i);
    await fails(() => ant.messages.create(ask({ tools: [{ name: "f", input_schema: { type: "object" } }] })),
      Anthropic.BadRequestError, 400, /tool/);
    await fails(() => ant.messages.create(ask({ temperature: 1.5 })), Anthropic.BadRequestError, 400, /temperature/);
    await fails(() => ant.messages.create(ask({ stop_sequences: ["a", "b", "c", "d", "e"] })),
      Anthropic.BadRequestError, 400, /stop_sequences/);
    await fails(() => ant.messages.create(ask({ max_tokens: "12" })), Anthropic.BadRequestError, 400, /max_tokens/);
    await fails(() => ant.messages.create(ask({ messages: [{ role: "system", content: "x" }] })),
      Anthropic.BadRequestError, 400, /role/);
  });

  await test("errors: unknown model -> NotFoundError; wrong key -> AuthenticationError", async () => {
    eq(await fails(() => ant.messages.create(ask({ model: "claude-nonexistent" })), Anthropic.NotFoundError, 404,
                   /claude-nonexistent/), "not_found_error", "type");
    const bad = new Anthropic({ baseURL: srv.url, apiKey: "wrong", maxRetries: 0 });
    eq(await fails(() => bad.messages.create(ask()), Anthropic.AuthenticationError, 401, /not valid/),
       "authentication_error", "type");
    // Bearer works too (the SDK's authToken), and the wrong one is refused the same way
    const bearer = new Anthropic({ baseURL: srv.url, apiKey: null, authToken: KEY, maxRetries: 0 });
    eq(textOf(await bearer.messages.create(ask())), textOf(first), "Bearer auth");
    const r = await fetch(srv.url + "/v1/messages", { method: "POST", body: "{}" });
    eq([r.status, (await r.json()).error.type], [401, "authentication_error"], "no key at all");
  });

  await test("errors: bad JSON and wrong methods in Anthropic's shape", async () => {
    const h = { "content-type": "application/json", "x-api-key": KEY };
    let r = await fetch(srv.url + "/v1/messages", { method: "POST", headers: h, body: "{not json" });
    let b = await r.json();
    eq([r.status, b.type, b.error.type], [400, "error", "invalid_request_error"], "bad JSON");
    r = await fetch(srv.url + "/v1/messages/count_tokens", { method: "GET", headers: h });
    b = await r.json();
    eq([r.status, b.type], [405, "error"], "GET count_tokens");
    // OpenAI's routes keep OpenAI's shape on the same server
    r = await fetch(srv.url + "/v1/chat/completions", { method: "POST", headers: h, body: "{not json" });
    b = await r.json();
    eq([r.status, typeof b.error.message, b.type], [400, "string", undefined], "OpenAI shape elsewhere");
  });
  await test("SIGTERM exits 0 (and a sanitizer build found nothing)", async () => {
    const code = await stopServer(srv);
    srv = null;
    eq(code, 0, "exit code");
  });
} catch (e) {
  await test("server for the Messages API", () => { throw e; });
} finally {
  if (srv) await stopServer(srv);
}

// Thinking: the Qwen3-template file, thoughts pushed into the greedy reply by logit_bias.
const THINK = 16408, END_THINK = 16409;   // "<think>", "</think>" in this vocabulary
const BIAS = { [THINK]: 15, [END_THINK]: 18.8 };
let qs;
try {
  qs = await startServer(["-m", QWEN3, "--ctx", "512", "--parallel", "2"]);
  const ant = new Anthropic({ baseURL: qs.url, apiKey: "none", maxRetries: 0 });
  const oai = new OpenAI({ baseURL: qs.url + "/v1", apiKey: "none", maxRetries: 0 });
  const base = { model: "synth-qwen3-f16", max_tokens: 16, temperature: 0, logit_bias: BIAS,
                 messages: [{ role: "user", content: "Hi" }] };
  const thinking = { type: "enabled", budget_tokens: 10 };
  const c = await oai.chat.completions.create({ ...base, chat_template_kwargs: { enable_thinking: true } });
  const want = c.choices[0].message;

  let m;
  await test("thinking enabled: a thinking block, then the text, as chat completions splits them", async () => {
    assert(want.reasoning_content && want.content, "the biased reply has thoughts and an answer: " + JSON.stringify(want));
    m = await ant.messages.create({ ...base, thinking });
    eq(m.content.map((b) => b.type), ["thinking", "text"], "block types");
    eq(m.content[0].thinking, want.reasoning_content, "thinking");
    eq(m.content[1].text, want.content, "text");
    eq(typeof m.content[0].signature, "string", "signature");
    eq(m.usage.output_tokens, c.usage.completion_tokens, "output tokens");
  });

  await test("thinking streamed: thinking_delta block 0, text_delta block 1, same final message", async () => {
    const s = ant.messages.stream({ ...base, thinking });
    let th = "", tx = "", order = [];
    s.on("streamEvent", (e) => {
      if (e.type === "content_block_start") order.push(`${e.index}:${e.content_block.type}`);
      if (e.type === "content_block_delta" && e.delta.type === "thinking_delta") { th += e.delta.thinking; eq(e.index, 0, "thinking index"); }
      if (e.type === "content_block_delta" && e.delta.type === "text_delta") { tx += e.delta.text; eq(e.index, 1, "text index"); }
    });
    const fin = await s.finalMessage();
    eq(order, ["0:thinking", "1:text"], "blocks");
    eq([th, tx], [want.reasoning_content, want.content], "deltas");
    eq(fin.content, m.content, "final message");
  });

  await test("thinking disabled reaches the template; bad thinking is a 400", async () => {
    const on = await ant.messages.countTokens({ model: base.model, messages: base.messages, thinking });
    const off = await ant.messages.countTokens({ model: base.model, messages: base.messages, thinking: { type: "disabled" } });
    // Qwen3's template writes an empty think block into the prompt when thinking is off
    assert(off.input_tokens > on.input_tokens, `prompt ${off.input_tokens} vs ${on.input_tokens}`);
    const r = await ant.messages.create({ ...base, max_tokens: 1, thinking: { type: "disabled" } });
    eq(r.usage.input_tokens + r.usage.cache_read_input_tokens, off.input_tokens, "count_tokens = the prompt used");
    let err;
    try { await ant.messages.create({ ...base, thinking: { type: "enabled", budget_tokens: 99 } }); } catch (e) { err = e; }
    assert(err instanceof Anthropic.BadRequestError && /budget_tokens/.test(err.message), "budget >= max_tokens: " + err);
  });
  await test("the thinking server exits 0 at SIGTERM", async () => {
    const code = await stopServer(qs);
    qs = null;
    eq(code, 0, "exit code");
  });
} catch (e) {
  await test("server for thinking", () => { throw e; });
} finally {
  if (qs) await stopServer(qs);
}
process.exit(summary());
