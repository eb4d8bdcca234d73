// Many models, one server: `omni serve` over a temporary model store ($OMNI_HOME) holding
// two chat models, an embedding model, a Whisper model, an image encoder and a VAD (not a
// model to serve). Through the official OpenAI client: each answers by name, an alias
// works, an unknown model is a 404 in OpenAI's shape; GET /v1/ps shows what is loaded; a
// small --memory-budget forces an unload and the next request reloads; --keep-alive and a
// request's keep_alive unload idle models; a model pulled from a stand-in hub while the
// server runs appears; requests to two models at once both complete; --load-timeout 0
// answers 503 + Retry-After while the load goes on; -m pins a model next to the store.
// Waits poll with generous deadlines, so a busy machine only makes them slower.
import OpenAI, { toFile } from "openai";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, BIN, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(17);
const A = "stories260K", B = "tinystories-656k-q8_0", EMB = "synth-bert-bge-f16", ASR = "synth-whisper-micro-f16";
const IMG = "synth-llava-mmproj-f16", VAD = "for-tests-silero-v6.2.0-ggml", RR = "synth-bert-xlmr-rerank-f16";
const files = [`llm/${A}.gguf`, `llm/${B}.gguf`, `synth/${EMB}.gguf`, `synth/${ASR}.bin`, `synth/${IMG}.gguf`, `vad/${VAD}.bin`,
  `synth/${RR}.gguf`];

const store = fs.mkdtempSync(path.join(os.tmpdir(), "omni-store-"));
for (const f of files) fs.copyFileSync(`${MODELS}/${f}`, path.join(store, path.basename(f)));
process.env.OMNI_HOME = store;   // the servers (and `omni pull`) inherit it

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function raw(srv, p, body, method) {
  const r = await fetch(srv.url + p, { method: method || (body === undefined ? "GET" : "POST"),
    headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text, headers: r.headers };
}
const ps = async (srv) => (await raw(srv, "/v1/ps")).json;
const loadedIds = async (srv) => (await ps(srv)).data.filter((m) => m.state === "loaded").map((m) => m.id).sort();
// Polls until cond(ps) holds; fails after a minute.
async function until(srv, what, cond) {
  const t0 = Date.now();
  for (;;) {
    const p = await ps(srv);
    if (cond(p)) return p;
    if (Date.now() - t0 > 60000) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(p)}`);
    await sleep(100);
  }
}
// The reply reaches the client just before its handler lets go of the model: wait for that.
const idle = (srv) => until(srv, "idle models", (p) => p.data.every((m) => m.active === 0));
const chat = (client, model, extra = {}) => client.chat.completions.create({ model, max_tokens: 8, temperature: 0,
  messages: [{ role: "user", content: "Once upon a time" }], ...extra });

let srv, budgetSrv, kaSrv, pinSrv, hub;
try {
  srv = await startServer(["--alias", `gpt-4o-mini=${B}`, "--alias", `text-embedding-3-small=${EMB}`,
    "--alias", `whisper-1=${ASR}`]);
  const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });

  await test("/v1/models lists every chat, embedding, ASR and image-encoder model of the store with its type", async () => {
    const r = await client.models.list();
    const types = Object.fromEntries(r.data.map((m) => [m.id, m.kind]));
    eq(types, { [A]: "chat", [B]: "chat", [EMB]: "embedding", [RR]: "rerank", [ASR]: "asr", [IMG]: "image-encoder" },
      "ids and types");
    for (const m of r.data) { eq(m.object, "model", "object"); eq(m.owned_by, "omni", "owned_by"); }
    eq(r.data[0].kind, "chat", "chat models first (the chat page takes the first)");
    eq(await loadedIds(srv), [], "nothing loaded before a request");
    const h = await raw(srv, "/health");
    eq([h.status, h.json.status, h.json.models_loaded], [200, "ok", 0], "/health");
  });

  await test("each chat model answers by name and loads on first use; /v1/ps shows memory and expiry", async () => {
    for (const id of [A, B]) {
      const r = await chat(client, id);
      eq(r.model, id, "the reply names the model");
      assert(r.choices[0].message.content.length > 0 && r.usage.completion_tokens > 0, `${id} generated text`);
    }
    const p = await idle(srv);
    eq(p.data.map((m) => m.id).sort(), [A, B].sort(), "both loaded");
    for (const m of p.data) {
      assert(m.memory > fs.statSync(path.join(store, m.id + ".gguf")).size, `${m.id}: memory counts weights + KV`);
      assert(m.expires_at && Date.parse(m.expires_at) > Date.now() + 60000, `${m.id}: expires in about 5 min: ${m.expires_at}`);
      eq(m.active, 0, "idle");
    }
    assert(p.memory_used === p.data.reduce((s, m) => s + m.memory, 0), "memory_used is the sum");
    assert(srv.stderr().includes(`loading ${A}`) && srv.stderr().includes(`loaded ${A}`), "load progress in the log");
  });

  await test("the embedding model answers by name and by its alias; the reranker by name", async () => {
    const r1 = await client.embeddings.create({ model: EMB, input: "hello world", encoding_format: "float" });
    const r2 = await client.embeddings.create({ model: "text-embedding-3-small", input: "hello world", encoding_format: "float" });
    eq(r1.model, EMB, "model");
    eq(r2.model, EMB, "the alias resolves to the store model");
    assert(r1.data[0].embedding.length > 0, "a vector");
    eq(r1.data[0].embedding, r2.data[0].embedding, "same model, same vector");
    const rr = await raw(srv, "/v1/rerank", { model: RR, query: "a cat", documents: ["cats purr", "stock prices"] });
    eq([rr.status, rr.json.model, rr.json.results.length], [200, RR, 2], "the reranker answers by name");
  });

  await test("the Whisper model transcribes by name and as whisper-1 (alias)", async () => {
    const audio = fs.readFileSync(`${MODELS}/audio/jfk.wav`);
    const r1 = await client.audio.transcriptions.create({ model: ASR, file: await toFile(audio, "jfk.wav") });
    const r2 = await client.audio.transcriptions.create({ model: "whisper-1", file: await toFile(audio, "jfk.wav") });
    assert(typeof r1.text === "string", "a transcript (random weights: any text)");
    eq(r2.text, r1.text, "the alias gives the same model");
    assert((await loadedIds(srv)).includes(ASR), "the ASR model is loaded");
  });

  await test("chat input_audio goes through the store's Whisper model", async () => {
    const b64 = fs.readFileSync(`${MODELS}/audio/jfk.wav`).toString("base64");
    const r = await raw(srv, "/v1/chat/completions", { model: A, max_tokens: 4, messages: [{ role: "user", content: [
      { type: "text", text: "Repeat:" }, { type: "input_audio", input_audio: { data: b64, format: "wav" } }] }] });
    eq(r.status, 200, `status: ${r.text}`);
    const bad = await raw(srv, "/v1/chat/completions", { model: A, messages: [{ role: "user", content: [
      { type: "input_audio", input_audio: { data: "bm90IGF1ZGlv", format: "wav" } }] }] });
    eq([bad.status, bad.json.error.param], [400, "messages[0].content[0].input_audio.data"],
      "not audio: a 400 from the speech model, naming the part");
  });

  await test("an alias for a chat model (gpt-4o-mini) answers with the local model", async () => {
    const r = await chat(client, "gpt-4o-mini");
    eq(r.model, B, "model");
  });

  await test("Anthropic's Messages API picks a store model by name too (and says 404 in its shape)", async () => {
    const r = await raw(srv, "/v1/messages", { model: A, max_tokens: 8, temperature: 0,
                                               messages: [{ role: "user", content: "Once upon a time" }] });
    eq(r.status, 200, `status: ${r.text}`);
    eq(r.json.type, "message", "type");
    eq(r.json.model, A, "model");
    const n = await raw(srv, "/v1/messages/count_tokens", { model: B, messages: [{ role: "user", content: "Hi" }] });
    eq(n.status, 200, `count_tokens: ${n.text}`);
    assert(n.json.input_tokens > 0, "input_tokens");
    const x = await raw(srv, "/v1/messages", { model: "no-such-model", max_tokens: 8, messages: [{ role: "user", content: "x" }] });
    eq(x.status, 404, "unknown model");
    eq(x.json.type, "error", "Anthropic's error shape");
  });

  await test("an unknown model is a 404 in OpenAI's shape; a model of the wrong kind is a 400", async () => {
    let err;
    try { await chat(client, "no-such-model"); } catch (e) { err = e; }
    assert(err instanceof OpenAI.NotFoundError, `NotFoundError, got ${err}`);
    eq(err.status, 404, "status");
    eq(err.error.code, "model_not_found", "code");
    eq(err.error.param, "model", "param");
    assert(err.error.message.includes(A) && err.error.message.includes(B), "the message lists the chat models");
    const r = await raw(srv, "/v1/chat/completions", { model: EMB, messages: [{ role: "user", content: "hi" }] });
    eq(r.status, 400, "an embedding model for chat");
    eq(r.json.error.code, "model_not_supported", "code");
    const i = await raw(srv, "/v1/chat/completions", { model: IMG, messages: [{ role: "user", content: "hi" }] });
    eq(i.status, 400, "an image encoder alone");
    const e = await raw(srv, "/v1/embeddings", { model: A, input: "x" });
    eq(e.status, 400, "a chat model for embeddings");
  });

  await test("requests to two models at once both complete", async () => {
    const [r1, r2] = await Promise.all([chat(client, A, { max_tokens: 24 }), chat(client, B, { max_tokens: 24 })]);
    eq([r1.model, r2.model], [A, B], "models");
    assert(r1.usage.completion_tokens > 0 && r2.usage.completion_tokens > 0, "both generated");
  });

  await test("unload and load over HTTP; a request's keep_alive 0 unloads right after it", async () => {
    await idle(srv);
    let r = await raw(srv, `/v1/models/${A}/unload`, {});
    eq([r.status, r.json.status], [200, "unloaded"], "unload");
    assert(!(await loadedIds(srv)).includes(A), "gone from /v1/ps");
    r = await raw(srv, `/v1/models/${A}/load`, { keep_alive: -1 });
    eq([r.status, r.json.status], [200, "loaded"], "load");
    const m = (await ps(srv)).data.find((x) => x.id === A);
    assert(m && m.expires_at === null, "keep_alive -1: no expiry");
    eq((await raw(srv, "/v1/models/nope/load", {})).status, 404, "load of an unknown model");
    r = await raw(srv, "/v1/chat/completions", { model: A, keep_alive: 0, max_tokens: 2,
      messages: [{ role: "user", content: "hi" }] });
    eq(r.status, 200, "chat with keep_alive 0");
    await until(srv, `${A} unloaded`, (p) => !p.data.some((x) => x.id === A));
    r = await raw(srv, "/v1/chat/completions", { model: A, keep_alive: "soon", messages: [{ role: "user", content: "hi" }] });
    eq([r.status, r.json.error.param], [400, "keep_alive"], "a bad keep_alive");
  });

  await test("a model pulled while the server runs appears and answers", async () => {
    const portFile = path.join(store, ".hubport"), log = path.join(store, ".hublog");
    hub = spawn("python3", ["tests/e2e/hub_server.py", MODELS, portFile, log, "120"], { stdio: "ignore" });
    for (let i = 0; i < 600 && !(fs.existsSync(portFile) && fs.readFileSync(portFile, "utf8").trim()); i++) await sleep(100);
    const port = fs.readFileSync(portFile, "utf8").trim();
    const file = `${MODELS}/llm/TinyStories-656K.f16.gguf`;
    const sha = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    const catalog = path.join(store, ".catalog.json");
    fs.writeFileSync(catalog, JSON.stringify({ hub: `http://127.0.0.1:${port}`, models: [{ name: "ts656", repo: "test/llm",
      file: "TinyStories-656K.f16.gguf", size: fs.statSync(file).size, sha256: sha, purpose: "chat" }] }));
    const before = (await client.models.list()).data.map((m) => m.id);
    assert(!before.includes("TinyStories-656K.f16"), "not there before");
    const p = spawnSync(BIN, ["pull", "ts656"], { env: { ...process.env, OMNI_CATALOG: catalog }, encoding: "utf8" });
    eq(p.status, 0, `omni pull: ${p.stderr}`);
    const after = (await client.models.list()).data;
    assert(after.some((m) => m.id === "TinyStories-656K.f16" && m.kind === "chat"), "listed after the pull");
    const r = await chat(client, "TinyStories-656K.f16");
    eq(r.model, "TinyStories-656K.f16", "answers");
    fs.rmSync(path.join(store, "TinyStories-656K.f16.gguf"));
    await idle(srv);  /* else the unload may be deferred to the chat's release and the model still listed */
    await raw(srv, "/v1/models/TinyStories-656K.f16/unload", {});
    assert(!(await client.models.list()).data.some((m) => m.id === "TinyStories-656K.f16"), "removed: gone from the list");
  });

  // Budget: room for the larger chat model and half the smaller one, so both never fit.
  const mem = Object.fromEntries((await ps(srv)).data.map((m) => [m.id, m.memory]));
  const sizes = await (async () => {
    for (const id of [A, B]) if (!mem[id]) { await raw(srv, `/v1/models/${id}/load`, {}); }
    return Object.fromEntries((await ps(srv)).data.map((m) => [m.id, m.memory]));
  })();
  const budget = Math.max(sizes[A], sizes[B]) + Math.floor(Math.min(sizes[A], sizes[B]) / 2);
  const exits = [await stopServer(srv)];
  srv = null;

  budgetSrv = await startServer(["--memory-budget", String(budget)]);
  const bc = new OpenAI({ baseURL: budgetSrv.url + "/v1", apiKey: "none", maxRetries: 0 });
  await test("a small --memory-budget unloads the least recently used model, and the next request reloads it", async () => {
    eq((await ps(budgetSrv)).memory_budget, budget, "the budget");
    await chat(bc, A);
    eq(await loadedIds(budgetSrv), [A], "A loaded");
    await chat(bc, B);
    eq(await loadedIds(budgetSrv), [B], "B loaded, A unloaded to make room");
    assert(budgetSrv.stderr().includes(`unloading ${A} (to make room`), "the log says why");
    const r = await chat(bc, A);
    eq(r.model, A, "A answers again");
    eq(await loadedIds(budgetSrv), [A], "A reloaded, B unloaded");
  });
  await test("two models that do not fit together still both answer when asked at once", async () => {
    const [r1, r2] = await Promise.all([chat(bc, A), chat(bc, B)]);
    eq([r1.model, r2.model], [A, B], "both answered, one after the other");
  });
  exits.push(await stopServer(budgetSrv));
  budgetSrv = null;

  kaSrv = await startServer(["--keep-alive", "1s"]);
  const kc = new OpenAI({ baseURL: kaSrv.url + "/v1", apiKey: "none", maxRetries: 0 });
  await test("--keep-alive: an idle model is unloaded once it expires", async () => {
    await chat(kc, A);
    const p = await idle(kaSrv);
    const m = p.data.find((x) => x.id === A);
    assert(!m || (m.expires_at && Date.parse(m.expires_at) <= Date.now() + 1500), `expiry about 1 s away: ${JSON.stringify(p)}`);
    await until(kaSrv, `${A} unloaded`, (q) => q.data.length === 0);
    assert(kaSrv.stderr().includes(`unloading ${A} (keep-alive expired)`), "the log says why");
    eq((await chat(kc, A)).model, A, "and it loads again on the next request");
  });
  exits.push(await stopServer(kaSrv));
  kaSrv = null;

  pinSrv = await startServer(["-m", `${MODELS}/llm/${A}.gguf`, "--name", "pinned", "--store", "--load-timeout", "0"]);
  const pc = new OpenAI({ baseURL: pinSrv.url + "/v1", apiKey: "none", maxRetries: 0 });
  await test("--load-timeout 0: a request for an unloaded model gets 503 + Retry-After; the load goes on", async () => {
    const r = await raw(pinSrv, "/v1/chat/completions", { model: B, max_tokens: 2, messages: [{ role: "user", content: "hi" }] });
    eq(r.status, 503, "503 while loading");
    eq(r.json.error.code, "model_loading", "code");
    assert(r.headers.get("retry-after"), "Retry-After");
    await until(pinSrv, `${B} loaded`, (p) => p.data.some((x) => x.id === B && x.state === "loaded"));
    eq((await chat(pc, B)).model, B, "answers once loaded");
  });
  await test("-m pins a model next to the store: listed first, answers without 'model', cannot be unloaded", async () => {
    const list = (await pc.models.list()).data;
    eq(list[0].id, "pinned", "first");
    assert(list.some((m) => m.id === EMB) && list.some((m) => m.id === B), "the store's models too");
    const r = await pc.chat.completions.create({ max_tokens: 4, messages: [{ role: "user", content: "hi" }] });
    eq(r.model, "pinned", "the pinned model is the default");
    const p = (await ps(pinSrv)).data.find((x) => x.id === "pinned");
    assert(p && p.pinned && p.expires_at === null, "pinned, never expires");
    const u = await raw(pinSrv, "/v1/models/pinned/unload", {});
    eq([u.status, u.json.error.code], [400, "model_pinned"], "unload refused");
  });
  await test("every server stops cleanly with models loaded (exit 0: no sanitizer report)", async () => {
    exits.push(await stopServer(pinSrv));
    pinSrv = null;
    eq(exits, [0, 0, 0, 0], "exit codes");
  });
} catch (e) {
  await test("setup", () => { throw e; });
} finally {
  for (const s of [srv, budgetSrv, kaSrv, pinSrv]) if (s) await stopServer(s);
  if (hub) hub.kill();
  fs.rmSync(store, { recursive: true, force: true });
}
process.exit(summary());
