// ollama's API over the model store (`omni serve` without -m), through the official `ollama`
// npm client: /api/tags lists the store's chat and embedding models; /api/chat,
// /api/generate and /api/embed pick a model by name ("name:latest" too) and load it on
// first use; /api/ps lists the loaded ones with their memory, expiry and context; a
// request's keep_alive 0 unloads the model after the reply (it leaves /api/ps and
// /v1/ps), -1 keeps it, "5m" sets the expiry; an empty request loads (or, with
// keep_alive 0, unloads) a model; /api/show describes a store model without loading it;
// a model pulled over /api/pull while the server runs appears in /api/tags and
// /v1/models and answers; --keep-alive unloads an idle model for real; past --load-timeout
// a request gets 503 + Retry-After while the load goes on; errors come in
// ollama's shape. Waits poll with generous deadlines, so a busy machine only makes them slower.
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Ollama } from "ollama";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(14);
const A = "stories260K", B = "tinystories-656k-q8_0", EMB = "synth-bert-bge-f16", ASR = "synth-whisper-micro-f16";
const IMG = "synth-llava-mmproj-f16";
const PULLED = "TinyStories-656K.f16";
const files = [`llm/${A}.gguf`, `llm/${B}.gguf`, `synth/${EMB}.gguf`, `synth/${ASR}.bin`, `synth/${IMG}.gguf`];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-ollama-store-"));
const store = path.join(tmp, "store");
fs.mkdirSync(store);
for (const f of files) fs.copyFileSync(`${MODELS}/${f}`, path.join(store, path.basename(f)));
process.env.OMNI_HOME = store;   // the servers inherit it
delete process.env.OMNI_HUB_URL;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function raw(srv, p, body) {
  const r = await fetch(srv.url + p, { method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text, headers: r.headers };
}
const v1ps = async (srv) => (await raw(srv, "/v1/ps")).json;
// Polls until cond() holds; fails after a minute.
async function until(what, cond) {
  const t0 = Date.now();
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() - t0 > 60000) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
// The reply reaches the client just before the handler lets go of the model: wait for that.
const idle = (srv) => until("idle models", async () => (await v1ps(srv)).data.every((m) => m.active === 0));
const psNames = async (ol) => (await ol.ps()).models.map((m) => m.name).sort();
const greedy = { temperature: 0, num_predict: 8 };
const MSGS = [{ role: "user", content: "Once upon a time" }];

// The hub stand-in serving the shared models, and a catalog naming one of them.
async function startHub() {
  const proc = spawn("python3", ["tests/e2e/hub_server.py", MODELS, `${tmp}/port`, `${tmp}/hublog`, "600"], { stdio: "ignore" });
  for (let i = 0; i < 600 && !(fs.existsSync(`${tmp}/port`) && fs.readFileSync(`${tmp}/port`, "utf8").trim()); i++) await sleep(100);
  const port = fs.readFileSync(`${tmp}/port`, "utf8").trim();
  assert(port, "hub stand-in did not start");
  const file = `${MODELS}/llm/${PULLED}.gguf`;
  const sum = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  fs.writeFileSync(`${tmp}/catalog.json`, JSON.stringify({ hub: `http://127.0.0.1:${port}`, models: [
    { name: "ts656", repo: "test/llm", file: `${PULLED}.gguf`, size: fs.statSync(file).size, sha256: sum, purpose: "chat" },
  ] }));
  return proc;
}

let srv, kaSrv, ltSrv, hub;
const exits = [];
try {
  hub = await startHub();
  process.env.OMNI_CATALOG = `${tmp}/catalog.json`;
  srv = await startServer(["--alias", `gpt-4o-mini=${B}`]);
  const ol = new Ollama({ host: srv.url });

  await test("tags lists the store's chat and embedding models (not ASR or image encoders); nothing runs yet", async () => {
    const t = await ol.list();
    eq(t.models.map((m) => m.name), [`${A}:latest`, `${B}:latest`, `${EMB}:latest`], "names: chat models first");
    const a = t.models[0];
    eq(a.size, fs.statSync(path.join(store, `${A}.gguf`)).size, "size is the file's");
    eq([a.details.format, a.details.family], ["gguf", "llama"], "details from the file");
    assert(/^[0-9a-f]{64}$/.test(a.digest) && !isNaN(Date.parse(a.modified_at)), "digest, modified_at");
    eq(t.models[2].details.family, "bert", "the embedder's family");
    eq((await ol.ps()).models, [], "/api/ps: nothing loaded");
  });

  await test("show describes a store model without loading it", async () => {
    const s = await ol.show({ model: `${B}:latest` });
    eq(s.details.family, "llama", "family");
    assert(s.capabilities.includes("completion"), `capabilities ${s.capabilities}`);
    assert(/^num_ctx \d+$/.test(s.parameters), `parameters ${s.parameters}`);
    const e = await ol.show({ model: EMB });
    eq(e.capabilities, ["embedding"], "the embedder's capabilities");
    eq((await ol.ps()).models, [], "still nothing loaded");
  });

  await test("chat picks each store model by name and loads it; ps lists both with memory, expiry and context", async () => {
    for (const name of [A, `${B}:latest`]) {
      const r = await ol.chat({ model: name, messages: MSGS, stream: false, options: greedy });
      eq(r.model, name, "ollama echoes the name");
      assert(r.done && r.message.content.length > 0 && r.eval_count > 0, `${name} answered: ${JSON.stringify(r)}`);
    }
    await idle(srv);
    const p = (await ol.ps()).models;
    eq(p.map((m) => m.name).sort(), [`${A}:latest`, `${B}:latest`], "both loaded");
    const v = Object.fromEntries((await v1ps(srv)).data.map((m) => [m.id, m]));
    for (const m of p) {
      const id = m.name.replace(/:latest$/, "");
      eq(m.size, v[id].memory, `${id}: size is what /v1/ps says it takes`);
      assert(m.size > fs.statSync(path.join(store, `${id}.gguf`)).size, `${id}: weights + KV cache`);
      const left = Date.parse(m.expires_at) - Date.now();
      assert(left > 60000 && left <= 5 * 60000 + 5000, `${id}: expires in about 5 min: ${m.expires_at}`);
      assert(m.context_length > 0, `${id}: context_length ${m.context_length}`);
    }
  });

  await test("streamed chat and generate by name give the same greedy text as unstreamed", async () => {
    const one = await ol.chat({ model: A, messages: MSGS, stream: false, options: greedy });
    let text = "", last = null;
    for await (const part of await ol.chat({ model: A, messages: MSGS, stream: true, options: greedy })) {
      text += part.message.content;
      last = part;
    }
    eq(text, one.message.content, "same text");
    assert(last.done && last.eval_count === one.eval_count, "the last part is done, same counts");
    const g = await ol.generate({ model: B, prompt: "Once upon a time", raw: true, stream: false, options: greedy });
    assert(g.done && g.response.length > 0 && g.context.length > g.eval_count, `generate: ${JSON.stringify(g)}`);
    eq(g.model, B, "generate echoes the name");
  });

  await test("an alias answers on ollama's API too (gpt-4o-mini and gpt-4o-mini:latest)", async () => {
    for (const name of ["gpt-4o-mini", "gpt-4o-mini:latest"]) {
      const r = await ol.chat({ model: name, messages: MSGS, stream: false, options: greedy });
      assert(r.done && r.message.content.length > 0, `${name} answered`);
    }
  });

  await test("embed picks the embedding model by name; the vectors equal /v1/embeddings'", async () => {
    const e = await ol.embed({ model: `${EMB}:latest`, input: ["hello world", "a cat"] });
    eq(e.embeddings.length, 2, "two vectors");
    const o = await raw(srv, "/v1/embeddings", { model: EMB, input: "hello world", encoding_format: "float" });
    eq(o.status, 200, o.text);
    const a = e.embeddings[0], b = o.json.data[0].embedding;
    eq(a.length, b.length, "same size");
    assert(a.every((x, i) => Math.abs(x - b[i]) < 1e-6), "same vector");
    assert((await psNames(ol)).includes(`${EMB}:latest`), "the embedder is loaded now");
  });

  await test("keep_alive 0 unloads the model after the reply: it leaves /api/ps and /v1/ps", async () => {
    await idle(srv);
    const r = await ol.chat({ model: A, messages: MSGS, stream: false, options: greedy, keep_alive: 0 });
    assert(r.done, "answered");
    await until(`${A} unloaded`, async () => !(await psNames(ol)).includes(`${A}:latest`));
    assert(!(await v1ps(srv)).data.some((m) => m.id === A), "gone from /v1/ps too");
    assert(srv.stderr().includes(`unloading ${A}`), "the log says so");
  });

  await test("keep_alive -1 keeps a model loaded; \"2m\" sets its expiry; an empty request loads and unloads", async () => {
    const l = await ol.generate({ model: A, prompt: "", keep_alive: -1 });
    eq([l.done, l.done_reason], [true, "load"], "an empty generate loads");
    await idle(srv);
    let m = (await ol.ps()).models.find((x) => x.name === `${A}:latest`);
    assert(m && Date.parse(m.expires_at) > Date.now() + 365 * 86400e3, `loaded, never expires: ${JSON.stringify(m)}`);
    await ol.chat({ model: A, messages: MSGS, stream: false, options: greedy, keep_alive: "2m" });
    await idle(srv);
    m = (await ol.ps()).models.find((x) => x.name === `${A}:latest`);
    const left = Date.parse(m.expires_at) - Date.now();
    assert(left > 60000 && left <= 120000 + 5000, `expires in about 2 min: ${m.expires_at}`);
    const u = await ol.chat({ model: A, messages: [], keep_alive: 0 });
    eq([u.done, u.done_reason], [true, "unload"], "an empty chat with keep_alive 0 unloads");
    await until(`${A} unloaded`, async () => !(await psNames(ol)).includes(`${A}:latest`));
  });

  await test("errors in ollama's shape: unknown model 404, wrong kind 400, bad keep_alive 400", async () => {
    let err;
    try { await ol.chat({ model: "nope:7b", messages: MSGS }); } catch (e) { err = e; }
    assert(err && err.status_code === 404 && err.error === "model 'nope:7b' not found", `unknown: ${err}`);
    err = null;
    try { await ol.chat({ model: EMB, messages: MSGS, stream: false }); } catch (e) { err = e; }
    assert(err && err.status_code === 400 && /does not support chat/.test(err.error), `chat on the embedder: ${err}`);
    err = null;
    try { await ol.embed({ model: A, input: "x" }); } catch (e) { err = e; }
    assert(err && err.status_code === 400 && /does not support embeddings/.test(err.error), `embed on a chat model: ${err}`);
    err = null;
    try { await ol.generate({ model: ASR, prompt: "x", stream: false }); } catch (e) { err = e; }
    assert(err && err.status_code === 400, `generate on the Whisper model: ${err}`);
    const r = await raw(srv, "/api/chat", { model: A, messages: MSGS, keep_alive: "soon" });
    assert(r.status === 400 && /keep_alive/.test(r.json.error), `bad keep_alive: ${r.status} ${r.text}`);
    const s = await raw(srv, "/api/show", { model: "nope" });
    assert(s.status === 404 && s.json.error, `show unknown: ${s.text}`);
  });

  await test("a model pulled over /api/pull while the server runs appears in /api/tags and /v1/models and answers", async () => {
    assert(!(await ol.list()).models.some((m) => m.name === `${PULLED}:latest`), "not there before");
    let last = null;
    for await (const p of await ol.pull({ model: "ts656", stream: true })) last = p;
    eq(last.status, "success", "pulled");
    assert((await ol.list()).models.some((m) => m.name === `${PULLED}:latest`), "in /api/tags");
    const v1 = await raw(srv, "/v1/models");
    assert(v1.json.data.some((m) => m.id === PULLED && m.kind === "chat"), "in /v1/models");
    const r = await ol.chat({ model: `${PULLED}:latest`, messages: MSGS, stream: false, options: greedy });
    assert(r.done && r.message.content.length > 0, "the pulled model answers");
    await idle(srv);
    await ol.delete({ model: PULLED });
    await raw(srv, `/v1/models/${PULLED}/unload`, {});
    assert(!(await ol.list()).models.some((m) => m.name === `${PULLED}:latest`), "deleted: gone from /api/tags");
  });
  exits.push(await stopServer(srv));
  srv = null;

  kaSrv = await startServer(["--keep-alive", "1s"]);
  const ok = new Ollama({ host: kaSrv.url });
  await test("--keep-alive 1s: a model used over ollama's API is unloaded once idle, and reloads on the next request", async () => {
    await ok.chat({ model: A, messages: MSGS, stream: false, options: greedy });
    await until(`${A} unloaded`, async () => (await ok.ps()).models.length === 0 && (await v1ps(kaSrv)).data.length === 0);
    assert(kaSrv.stderr().includes(`unloading ${A} (keep-alive expired)`), "the log says why");
    const r = await ok.generate({ model: A, prompt: "Once", raw: true, stream: false, options: greedy });
    assert(r.done, "it loads again");
  });

  await test("a per-request keep_alive outlasts --keep-alive (\"10m\" keeps it past 1 s)", async () => {
    await ok.chat({ model: B, messages: MSGS, stream: false, options: greedy, keep_alive: "10m" });
    await idle(kaSrv);
    const m = (await ok.ps()).models.find((x) => x.name === `${B}:latest`);
    assert(m && Date.parse(m.expires_at) > Date.now() + 5 * 60000, `expires in about 10 min: ${JSON.stringify(m)}`);
  });

  exits.push(await stopServer(kaSrv));
  kaSrv = null;

  ltSrv = await startServer(["--load-timeout", "0"]);
  const ot = new Ollama({ host: ltSrv.url });
  await test("--load-timeout 0: a request for an unloaded model gets 503 + Retry-After in ollama's shape; the load goes on", async () => {
    const r = await raw(ltSrv, "/api/chat", { model: A, messages: MSGS, stream: false });
    eq(r.status, 503, `status: ${r.text}`);
    assert(typeof r.json.error === "string" && /loading/.test(r.json.error), `error: ${r.text}`);
    assert(r.headers.get("retry-after"), "Retry-After");
    await until(`${A} loaded`, async () => (await ot.ps()).models.some((m) => m.name === `${A}:latest`));
    const ok2 = await ot.chat({ model: A, messages: MSGS, stream: false, options: greedy });
    assert(ok2.done, "answers once loaded");
  });

  await test("every server stops cleanly with models loaded (exit 0)", async () => {
    exits.push(await stopServer(ltSrv));
    ltSrv = null;
    eq(exits, [0, 0, 0], "exit codes");
  });
} catch (e) {
  await test("setup", () => { throw e; });
} finally {
  for (const s of [srv, kaSrv, ltSrv]) if (s) await stopServer(s);
  if (hub) hub.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(summary());
