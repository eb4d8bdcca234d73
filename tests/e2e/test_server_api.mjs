// `omni serve` end to end: the official openai client (non-stream, stream with usage,
// concurrency, seeds, stops, prompt cache) and raw fetch() for every error status.
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(35);
const KEY = "test-key-123";
const CHAT_MODEL = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const STORY_MODEL = `${MODELS}/llm/stories260K.gguf`;

let srv, client, modelId;
const msgs = (text) => [{ role: "system", content: "You are terse." }, { role: "user", content: text }];

async function raw(path, { method = "POST", body, key = KEY, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = "Bearer " + key;
  if (body !== undefined && !h["Content-Type"]) h["Content-Type"] = "application/json";
  const r = await fetch(srv.url + path, { method, headers: h, body });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, headers: r.headers, json, text };
}

function isOpenAIError(res, status, param) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && e.message.length > 0, "error.message present: " + res.text);
  assert("type" in e && "param" in e && "code" in e, "error has type/param/code: " + res.text);
  if (param !== undefined) assert(e.param === param, `param ${e.param} != ${param}`);
}

try {
  srv = await startServer(["-m", CHAT_MODEL, "--parallel", "4", "--ctx", "512", "--api-key", KEY]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: KEY, maxRetries: 0 });

  await test("start-up line names URL, model and slots", async () => {
    assert(/synth-smollm2-f16/.test(srv.startLine) && /4 slots/.test(srv.startLine) && /MiB/.test(srv.startLine), srv.startLine);
  });

  await test("GET /health needs no key", async () => {
    const r = await raw("/health", { method: "GET", key: null });
    eq(r.status, 200, "status");
    eq(r.json.status, "ok", "health status");
  });

  await test("models list and get", async () => {
    const list = await client.models.list();
    assert(list.data.length === 1, "one model");
    modelId = list.data[0].id;
    eq(modelId, "synth-smollm2-f16", "id");
    const m = await client.models.retrieve(modelId);
    eq(m.id, modelId, "retrieve");
  });

  let greedy;
  await test("chat non-stream: content, finish_reason and usage", async () => {
    const r = await client.chat.completions.create({ model: modelId, messages: msgs("Say hi"), max_tokens: 12, temperature: 0 });
    eq(r.object, "chat.completion", "object");
    const c = r.choices[0];
    eq(c.message.role, "assistant", "role");
    assert(typeof c.message.content === "string", "content string");
    assert(["stop", "length"].includes(c.finish_reason), "finish_reason " + c.finish_reason);
    assert(r.usage.prompt_tokens > 5, "prompt tokens " + r.usage.prompt_tokens);
    assert(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12, "completion tokens");
    eq(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, "total");
    if (c.finish_reason === "length") eq(r.usage.completion_tokens, 12, "length means max_tokens reached");
    greedy = r;
  });

  await test("chat stream with include_usage matches the non-stream reply", async () => {
    const stream = await client.chat.completions.create({ model: modelId, messages: msgs("Say hi"), max_tokens: 12,
      temperature: 0, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    assert(chunks.length >= 3, "several chunks");
    eq(chunks[0].choices[0].delta.role, "assistant", "first delta has role");
    const withFinish = chunks.filter((c) => c.choices.length && c.choices[0].finish_reason);
    eq(withFinish.length, 1, "one finish_reason");
    const last = chunks[chunks.length - 1];
    eq(last.choices.length, 0, "usage chunk has empty choices");
    eq(last.usage.completion_tokens, greedy.usage.completion_tokens, "usage completion tokens");
    eq(last.usage.prompt_tokens, greedy.usage.prompt_tokens, "usage prompt tokens");
    const text = chunks.map((c) => (c.choices[0] && c.choices[0].delta.content) || "").join("");
    eq(text, greedy.choices[0].message.content, "same text as non-stream");
    eq(withFinish[0].choices[0].finish_reason, greedy.choices[0].finish_reason, "same finish");
  });

  await test("raw SSE ends with data: [DONE]", async () => {
    const r = await raw("/v1/chat/completions", { body: JSON.stringify({ messages: msgs("x"), max_tokens: 3, stream: true }) });
    eq(r.status, 200, "status");
    assert(r.headers.get("content-type").startsWith("text/event-stream"), "content-type");
    assert(/^data: \{/.test(r.text) && r.text.trimEnd().endsWith("data: [DONE]"), "framing: " + r.text.slice(-80));
  });

  await test("8 concurrent greedy requests all equal the single reply (batched forward)", async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, () =>
      client.chat.completions.create({ model: modelId, messages: msgs("Say hi"), max_tokens: 12, temperature: 0 })));
    for (const r of rs) eq(r.choices[0].message.content, greedy.choices[0].message.content, "concurrent content");
  });

  await test("8 concurrent different prompts, streamed and not, all complete", async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const p = { model: modelId, messages: msgs("Question number " + i + " " + "word ".repeat(i * 5)), max_tokens: 10 + i, temperature: 0 };
      if (i % 2) return (await client.chat.completions.create(p)).choices[0].message.content;
      let t = "";
      for await (const ch of await client.chat.completions.create({ ...p, stream: true })) t += (ch.choices[0] && ch.choices[0].delta.content) || "";
      return t;
    }));
    // Each must equal the same request run alone.
    for (const i of [0, 5]) {
      const alone = await client.chat.completions.create({ model: modelId, messages: msgs("Question number " + i + " " + "word ".repeat(i * 5)), max_tokens: 10 + i, temperature: 0 });
      eq(rs[i], alone.choices[0].message.content, "request " + i + " alone vs batched");
    }
  });

  await test("seed makes sampling reproducible", async () => {
    const p = { model: modelId, messages: msgs("Tell a story"), max_tokens: 16, temperature: 1.0, seed: 42 };
    const a = await client.chat.completions.create(p);
    const b = await client.chat.completions.create(p);
    eq(a.choices[0].message.content, b.choices[0].message.content, "same seed same text");
  });

  await test("stop sequence cuts the reply before it", async () => {
    const p = { model: modelId, messages: msgs("Tell a story"), max_tokens: 24, temperature: 0 };
    const full = (await client.chat.completions.create(p)).choices[0].message.content;
    assert(full.length >= 6, "long enough reply: " + JSON.stringify(full));
    const at = Math.floor(full.length / 2), stop = full.slice(at, at + 3);
    const cut = full.indexOf(stop);
    const r = await client.chat.completions.create({ ...p, stop: [stop] });
    eq(r.choices[0].message.content, full.slice(0, cut), "text before the stop");
    eq(r.choices[0].finish_reason, "stop", "finish_reason");
  });

  await test("follow-up turn reuses the prompt cache", async () => {
    const first = msgs("Remember the number seven. " + "Please. ".repeat(20));
    const r1 = await client.chat.completions.create({ model: modelId, messages: first, max_tokens: 4, temperature: 0 });
    const r2 = await client.chat.completions.create({ model: modelId, max_tokens: 4, temperature: 0,
      messages: [...first, { role: "assistant", content: r1.choices[0].message.content }, { role: "user", content: "Which number?" }] });
    const cached = r2.usage.prompt_tokens_details.cached_tokens;
    assert(cached >= r1.usage.prompt_tokens - 1, `cached ${cached} of first prompt ${r1.usage.prompt_tokens}`);
  });

  await test("logprobs and top_logprobs", async () => {
    const r = await client.chat.completions.create({ model: modelId, messages: msgs("hi"), max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
    const lp = r.choices[0].logprobs.content;
    assert(lp.length >= 1, "entries");
    assert(lp[0].logprob <= 0 && lp[0].top_logprobs.length === 3, "top 3");
    assert(Math.abs(lp[0].top_logprobs[0].logprob - lp[0].logprob) < 1e-4, "greedy token is the top one");
  });

  await test("response_format json_object constrains the output to valid JSON", async () => {
    // Push the random-weight model towards JSON punctuation ({ " : } are ids 107 18 42 109
    // in SmolLM2's vocabulary); only the grammar makes the result valid JSON.
    const p = { model: modelId, messages: msgs("Give JSON"), max_tokens: 60, temperature: 0,
      logit_bias: { 107: 30, 18: 30, 42: 30, 109: 30 } };
    const free = (await client.chat.completions.create(p)).choices[0].message.content;
    let freeParses = true;
    try { JSON.parse(free); } catch { freeParses = false; }
    assert(!freeParses, "without the grammar the output is not JSON: " + free);
    const r = await client.chat.completions.create({ ...p, response_format: { type: "json_object" } });
    const obj = JSON.parse(r.choices[0].message.content);
    assert(typeof obj === "object" && !Array.isArray(obj), "an object: " + r.choices[0].message.content);
    eq(r.choices[0].finish_reason, "stop", "ends after the object");
  });

  await test("text parts are concatenated", async () => {
    const a = await client.chat.completions.create({ model: modelId, max_tokens: 6, temperature: 0,
      messages: [{ role: "user", content: [{ type: "text", text: "Say " }, { type: "text", text: "hi" }] }] });
    const b = await client.chat.completions.create({ model: modelId, max_tokens: 6, temperature: 0, messages: [{ role: "user", content: "Say hi" }] });
    eq(a.choices[0].message.content, b.choices[0].message.content, "parts == string");
  });

  // ---- errors ----
  const chatBody = (extra) => JSON.stringify({ model: "synth-smollm2-f16", messages: msgs("hi"), max_tokens: 2, ...extra });
  await test("400 malformed JSON", async () => isOpenAIError(await raw("/v1/chat/completions", { body: "{\"messages\": [" }), 400));
  await test("400 body that is not an object", async () => isOpenAIError(await raw("/v1/chat/completions", { body: "[1,2]" }), 400));
  await test("400 missing messages", async () => isOpenAIError(await raw("/v1/chat/completions", { body: "{}" }), 400, "messages"));
  await test("400 bad field types name the field", async () => {
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ temperature: "hot" }) }), 400, "temperature");
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ temperature: 7 }) }), 400, "temperature");
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ max_tokens: -1 }) }), 400, "max_tokens");
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ stop: 5 }) }), 400, "stop");
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ stream: "yes" }) }), 400, "stream");
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ logit_bias: { abc: 1 } }) }), 400, "logit_bias");
    isOpenAIError(await raw("/v1/chat/completions", { body: JSON.stringify({ messages: [{ role: "wizard", content: "x" }] }) }), 400, "messages[0].role");
    isOpenAIError(await raw("/v1/chat/completions", { body: JSON.stringify({ messages: [{ role: "user", content: 5 }] }) }), 400, "messages[0].content");
  });
  await test("400 n > 1 is refused honestly", async () => isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ n: 2 }) }), 400, "n"));
  await test("400 image and audio parts on a text-only model", async () => {
    const img = await raw("/v1/chat/completions", { body: JSON.stringify({ messages: [{ role: "user", content: [
      { type: "text", text: "what is this" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }] }) });
    isOpenAIError(img, 400, "messages[0].content[1]");
    assert(/image/.test(img.json.error.message), img.json.error.message);
    const aud = await raw("/v1/chat/completions", { body: JSON.stringify({ messages: [{ role: "user", content: [
      { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }] }] }) });
    isOpenAIError(aud, 400);
    assert(/audio/.test(aud.json.error.message), aud.json.error.message);
  });
  await test("400 prompt longer than the context", async () =>
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ messages: msgs("word ".repeat(2000)) }) }), 400));
  await test("401 missing and wrong key (openai client raises AuthenticationError)", async () => {
    isOpenAIError(await raw("/v1/models", { method: "GET", key: null }), 401);
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({}), key: "wrong" }), 401);
    const bad = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "nope", maxRetries: 0 });
    let err = null;
    try { await bad.models.list(); } catch (e) { err = e; }
    assert(err instanceof OpenAI.AuthenticationError, "AuthenticationError");
  });
  await test("404 unknown model and route", async () => {
    isOpenAIError(await raw("/v1/chat/completions", { body: chatBody({ model: "gpt-9" }) }), 404, "model");
    isOpenAIError(await raw("/v1/models/gpt-9", { method: "GET" }), 404);
    isOpenAIError(await raw("/v1/nothing", { method: "GET" }), 404);
    isOpenAIError(await raw("/nothing/here", { method: "GET" }), 404);
  });
  await test("405 wrong method", async () => {
    const r = await raw("/v1/chat/completions", { method: "GET" });
    isOpenAIError(r, 405);
    eq(r.headers.get("allow"), "POST", "Allow header");
    isOpenAIError(await raw("/v1/models", { method: "DELETE" }), 405);
  });
  await test("413 body too large", async () => {
    const big = JSON.stringify({ messages: msgs("x".repeat(9 << 20)) });
    isOpenAIError(await raw("/v1/chat/completions", { body: big }), 413);
  });
  await test("server still healthy after the errors", async () => {
    eq((await raw("/health", { method: "GET" })).status, 200, "health");
    const r = await client.chat.completions.create({ model: modelId, messages: msgs("Say hi"), max_tokens: 12, temperature: 0 });
    eq(r.choices[0].message.content, greedy.choices[0].message.content, "same reply");
  });
  await test("GET /metrics in Prometheus format", async () => {
    const r = await raw("/metrics", { method: "GET" });
    eq(r.status, 200, "status");
    for (const k of ['omni_requests_total{status="200"}', 'omni_requests_total{status="400"}', "omni_prompt_tokens_total",
      "omni_completion_tokens_total", "omni_time_to_first_token_seconds_count", "omni_decode_tokens_per_second",
      "omni_queue_length", "omni_slots_busy"]) assert(r.text.includes(k), "metrics has " + k);
    const out = +r.text.match(/^omni_completion_tokens_total (\d+)/m)[1];
    assert(out > 50, "tokens counted: " + out);
  });
  await test("GET / serves the chat page", async () => {
    const r = await raw("/", { method: "GET", key: null });
    eq(r.status, 200, "status");
    assert(r.text.includes("<title>omni</title>"), "page");
  });
  await test("SIGTERM exits 0", async () => { eq(await stopServer(srv), 0, "exit code"); });

  // ---- completions and the bounded queue on the story model ----
  srv = await startServer(["-m", STORY_MODEL, "--parallel", "1", "--queue", "1", "--ctx", "256"]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  let story;
  await test("completions non-stream and stream agree", async () => {
    story = await client.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 20, temperature: 0 });
    eq(story.object, "text_completion", "object");
    assert(story.choices[0].text.length > 10, "text: " + story.choices[0].text);
    eq(story.usage.completion_tokens, 20, "20 tokens");
    let t = "", usage = null;
    for await (const ch of await client.completions.create({ model: "stories260K", prompt: ["Once upon a time"], max_tokens: 20,
      temperature: 0, stream: true, stream_options: { include_usage: true } })) {
      if (ch.choices.length) t += ch.choices[0].text;
      if (ch.usage) usage = ch.usage;
    }
    eq(t, story.choices[0].text, "stream == non-stream");
    eq(usage.completion_tokens, 20, "stream usage");
  });
  await test("a completion keeps the leading space of its first word", async () => {
    const r = await client.completions.create({ model: "stories260K", prompt: "Once upon a", max_tokens: 1, temperature: 0 });
    eq(r.choices[0].text, " time", "first piece");
  });
  await test("completions: several prompts give one choice each, token-id prompt accepted", async () => {
    const two = await raw("/v1/completions", { body: JSON.stringify({ prompt: ["a", "b"], max_tokens: 3 }), key: null });
    eq(two.status, 200, two.text);
    eq(two.json.choices.map((c) => c.index), [0, 1], "one choice per prompt");
    isOpenAIError(await raw("/v1/completions", { body: JSON.stringify({ prompt: ["a", 7] }), key: null }), 400, "prompt");
    const r = await raw("/v1/completions", { body: JSON.stringify({ prompt: [1, 400, 403], max_tokens: 3 }), key: null });
    eq(r.status, 200, r.text);
  });
  await test("429 with Retry-After when the queue is full", async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, () =>
      raw("/v1/completions", { key: null, body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 200 }) })));
    const codes = rs.map((r) => r.status);
    assert(codes.filter((c) => c === 429).length >= 1, "some 429: " + codes);
    assert(codes.filter((c) => c === 200).length >= 2, "some 200: " + codes);
    const r429 = rs.find((r) => r.status === 429);
    isOpenAIError(r429, 429);
    assert(+r429.headers.get("retry-after") >= 1, "Retry-After");
  });
  await test("a client that disconnects frees its slot", async () => {
    const ac = new AbortController();
    const p = fetch(srv.url + "/v1/completions", { method: "POST", signal: ac.signal, headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 100000, stream: true }) }).then((r) => r.body.getReader().read()).catch(() => {});
    await p;
    ac.abort();
    const t0 = Date.now();
    const r = await client.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 20, temperature: 0 });
    eq(r.choices[0].text, story.choices[0].text, "next request served");
    assert(Date.now() - t0 < 10000, "slot freed quickly");
  });
  await test("SIGINT exits 0", async () => { eq(await stopServer(srv, "SIGINT"), 0, "exit code"); });
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
  await test("setup", async () => { throw e; });
} finally {
  if (srv && srv.proc.exitCode === null) srv.proc.kill("SIGKILL");
}
process.exit(summary());
