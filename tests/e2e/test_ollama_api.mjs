// ollama's API on `omni serve` through the official `ollama` npm client: chat (streamed and
// not), generate (template, raw, context), embed and the older embeddings, tags, show, ps,
// version, HEAD /, images to the synth LLaVA-layout vision model, format (JSON schema)
// output that parses, think on a Qwen3-shaped model, pull (with its progress stream) and
// delete against the local hub stand-in (tests/e2e/hub_server.py), and errors in ollama's
// shape. Greedy /api/chat must equal greedy /v1/chat/completions token for token: both
// run the same prompt through the same engine.
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Ollama } from "ollama";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(26);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const MMPROJ = `${MODELS}/synth/synth-llava-mmproj-f16.gguf`;
const BGE = `${MODELS}/synth/synth-bert-bge-f16.gguf`;
const QWEN3 = `${MODELS}/synth/synth-qwen3-f16.gguf`;
const STORIES = `${MODELS}/llm/stories260K.gguf`;
const N_IMAGE_POS = 64; // 112x112 image, 14-pixel patches
const MSGS = [{ role: "user", content: "Tell me a story about a cat." }];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-ollama-"));
let srv, hub;

// The hub stand-in serving the shared models, and a catalog naming one of them.
async function startHub() {
  const proc = spawn("python3", ["tests/e2e/hub_server.py", MODELS, `${tmp}/port`, `${tmp}/hublog`, "3600"], { stdio: "ignore" });
  for (let i = 0; i < 100 && !fs.existsSync(`${tmp}/port`); i++) await new Promise((r) => setTimeout(r, 100));
  const port = fs.readFileSync(`${tmp}/port`, "utf8").trim();
  assert(port, "hub stand-in did not start");
  const sum = crypto.createHash("sha256").update(fs.readFileSync(STORIES)).digest("hex");
  fs.writeFileSync(`${tmp}/catalog.json`, JSON.stringify({ hub: `http://127.0.0.1:${port}`, models: [
    { name: "stories-260k", repo: "test/llm", file: "stories260K.gguf", size: fs.statSync(STORIES).size, sha256: sum, purpose: "chat" },
  ] }));
  return proc;
}

async function raw(url, method, body, headers = {}) {
  const r = await fetch(url, { method, headers: { "Content-Type": "application/json", ...headers }, body });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, text, json, headers: r.headers };
}

try {
  hub = await startHub();
  process.env.OMNI_CATALOG = `${tmp}/catalog.json`;
  process.env.OMNI_HOME = `${tmp}/store`;
  delete process.env.OMNI_HUB_URL;
  srv = await startServer(["-m", LLM, "--mmproj", MMPROJ, "--embedding-model", BGE, "--ctx", "512", "--parallel", "2"]);
  const ollama = new Ollama({ host: srv.url });
  const greedy = { temperature: 0, num_predict: 12 };

  await test("version, HEAD / and GET / (the web app stays)", async () => {
    const v = await ollama.version();
    assert(/^\d+\.\d+\.\d+$/.test(v.version), `version ${v.version}`);
    const head = await fetch(srv.url + "/", { method: "HEAD" });
    eq(head.status, 200, "HEAD /");
    const page = await fetch(srv.url + "/");
    assert(page.status === 200 && /html/.test(page.headers.get("content-type")), "GET / serves the web app");
  });

  await test("tags lists the chat model and the embedder with ollama's fields", async () => {
    const t = await ollama.list();
    const names = t.models.map((m) => m.name);
    eq(names, ["synth-smollm2-f16:latest", "synth-bert-bge-f16:latest"], "names");
    const m = t.models[0];
    eq(m.size, fs.statSync(LLM).size, "size is the file's");
    assert(/^[0-9a-f]{64}$/.test(m.digest), "digest");
    assert(!isNaN(Date.parse(m.modified_at)), "modified_at parses");
    eq(m.details.format, "gguf", "format");
    eq(m.details.family, "llama", "family");
    eq(m.details.quantization_level, "F16", "quantization level");
    assert(/^[\d.]+[KMB]$/.test(m.details.parameter_size), `parameter_size ${m.details.parameter_size}`);
  });

  await test("ps lists what is loaded, with context length and expiry", async () => {
    const p = await ollama.ps();
    eq(p.models.length, 2, "two loaded");
    eq(p.models[0].context_length, 512, "context");
    assert(Date.parse(p.models[0].expires_at) > Date.now(), "pinned: expires in the future");
  });

  await test("show: details, model_info, template and capabilities", async () => {
    const s = await ollama.show({ model: "synth-smollm2-f16" });
    eq(s.details.family, "llama", "family");
    eq(s.model_info["general.architecture"], "llama", "architecture");
    assert(s.model_info["general.parameter_count"] > 0, "parameter count");
    assert(s.template.includes("im_start"), "the chat template");
    eq(s.capabilities, ["completion", "vision"], "capabilities");
    const e = await ollama.show({ model: "synth-bert-bge-f16:latest" });
    eq(e.capabilities, ["embedding"], "embedder capabilities");
  });

  await test("chat (not streamed): ollama's fields, durations in ns, name echoed", async () => {
    const r = await ollama.chat({ model: "synth-smollm2-f16:latest", messages: MSGS, options: greedy });
    eq(r.model, "synth-smollm2-f16:latest", "model echoed");
    eq(r.message.role, "assistant", "role");
    assert(r.message.content.length > 0, "content");
    eq(r.done, true, "done");
    eq(r.done_reason, "length", "num_predict reached");
    eq(r.eval_count, 12, "eval_count");
    assert(r.prompt_eval_count > 5, "prompt_eval_count");
    assert(r.total_duration >= r.eval_duration && r.eval_duration > 0 && Number.isInteger(r.total_duration), "durations");
    assert(!isNaN(Date.parse(r.created_at)), "created_at");
  });

  await test("model names: id, general.name (synth-smollm2), :latest, base:tag for base-tag-*, case; others 404", async () => {
    const ask = (model) => ollama.chat({ model, messages: MSGS, options: { temperature: 0, num_predict: 2 } });
    const ref = (await ask("synth-smollm2-f16")).message.content;
    for (const name of ["synth-smollm2-f16:latest", "SYNTH-SmolLM2-F16", "synth-smollm2:latest", "synth:smollm2", "synth:smollm2-f16"])
      eq((await ask(name)).message.content, ref, name);
    for (const name of ["synth:smoll", "synth-smollm2-f1", "smollm2", "synth-smollm2-f16:q8_0"]) {
      let err;
      try { await ask(name); } catch (e) { err = e; }
      assert(err && err.status_code === 404, `${name}: ${err}`);
    }
  });

  await test("greedy /api/chat equals greedy /v1/chat/completions", async () => {
    const a = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: { temperature: 0, num_predict: 24 } });
    const b = await raw(srv.url + "/v1/chat/completions", "POST",
      JSON.stringify({ model: "synth-smollm2-f16", messages: MSGS, temperature: 0, max_tokens: 24 }));
    eq(a.message.content, b.json.choices[0].message.content, "same text");
    eq(a.prompt_eval_count, b.json.usage.prompt_tokens, "same prompt");
    eq(a.eval_count, b.json.usage.completion_tokens, "same count");
  });

  await test("chat streamed (the default): NDJSON pieces join to the whole reply", async () => {
    const whole = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: greedy });
    const it = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: greedy, stream: true });
    let text = "", n = 0, last;
    for await (const part of it) { text += part.message.content; n++; last = part; }
    eq(text, whole.message.content, "streamed = whole");
    assert(n >= 2, `${n} objects`);
    eq(last.done, true, "last is done");
    eq(last.eval_count, 12, "last has the counts");
    // stream absent means streaming, as ollama does
    const r = await fetch(srv.url + "/api/chat", { method: "POST",
      body: JSON.stringify({ model: "synth-smollm2-f16", messages: MSGS, options: greedy }) });
    eq(r.headers.get("content-type"), "application/x-ndjson", "ndjson");
    const lines = (await r.text()).trim().split("\n").map((l) => JSON.parse(l));
    eq(lines.map((l) => l.message.content).join(""), whole.message.content, "default stream");
  });

  await test("seeded sampling with options repeats; options change the reply", async () => {
    const o = { temperature: 1, top_k: 20, top_p: 0.9, seed: 7, num_predict: 10 };
    const a = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: o });
    const b = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: o });
    eq(a.message.content, b.message.content, "same seed, same reply");
    const c = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: { ...greedy, num_predict: 3 } });
    eq(c.eval_count, 3, "num_predict 3");
  });

  await test("stop strings end the reply before them", async () => {
    const whole = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: { temperature: 0, num_predict: 24 } });
    const t = whole.message.content;
    const stop = t.slice(4, 6);
    assert(stop.length === 2, "a stop string from the reply");
    const r = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, options: { temperature: 0, num_predict: 24, stop: [stop] } });
    eq(r.message.content, t.slice(0, t.indexOf(stop)), "cut at the stop");
    eq(r.done_reason, "stop", "done_reason stop");
  });

  await test("format: a JSON schema gives JSON that matches it; \"json\" gives JSON", async () => {
    const schema = { type: "object", properties: { name: { type: "string", maxLength: 10 }, age: { type: "integer" } },
      required: ["name", "age"], additionalProperties: false };
    for (const seed of [1, 2]) {
      const r = await ollama.chat({ model: "synth-smollm2-f16", messages: MSGS, format: schema,
        options: { temperature: 1, seed, num_predict: 120 } });
      const doc = JSON.parse(r.message.content);
      eq(Object.keys(doc).sort(), ["age", "name"], "keys");
      assert(typeof doc.name === "string" && Number.isInteger(doc.age), r.message.content);
    }
    // "json": any JSON document; the random model writes endless strings, so the check is
    // that the constrained reply opens an object where the free one does not
    const q = { model: "synth-smollm2-f16", prompt: "JSON please", options: { temperature: 0, num_predict: 16 } };
    const free = await ollama.generate(q), json = await ollama.generate({ ...q, format: "json" });
    assert(!free.response.trimStart().startsWith("{"), "free output: " + free.response);
    assert(json.response.trimStart().startsWith("{"), "json output: " + json.response);
  });

  await test("generate: response, context, and a follow-up continuing the context", async () => {
    const r = await ollama.generate({ model: "synth-smollm2-f16", prompt: "Once upon a time", options: greedy });
    assert(r.response.length > 0 && r.done && r.eval_count === 12, "reply");
    eq(r.context.length, r.prompt_eval_count + r.eval_count, "context = prompt + reply tokens");
    const f = await ollama.generate({ model: "synth-smollm2-f16", prompt: "and then", context: r.context, options: greedy });
    assert(f.prompt_eval_count > r.context.length, `follow-up prompt ${f.prompt_eval_count} holds the context ${r.context.length}`);
    eq(f.context.slice(0, r.context.length), r.context, "the follow-up's context starts with the first");
  });

  await test("generate: template and system equal the same text sent raw", async () => {
    const t = await ollama.generate({ model: "synth-smollm2-f16", prompt: "a cat", system: "Be brief.",
      template: "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n",
      options: greedy });
    const r = await ollama.generate({ model: "synth-smollm2-f16", raw: true,
      prompt: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n", options: greedy });
    eq(t.response, r.response, "same reply");
    eq(t.prompt_eval_count, r.prompt_eval_count, "same prompt");
    // without a template the model's own chat template is used: the same prompt as /api/chat
    const c = await ollama.chat({ model: "synth-smollm2-f16", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "a cat" }], options: greedy });
    const g = await ollama.generate({ model: "synth-smollm2-f16", system: "Be brief.", prompt: "a cat", options: greedy });
    eq(g.response, c.message.content, "generate = chat");
    const bad = await raw(srv.url + "/api/generate", "POST", JSON.stringify({ model: "synth-smollm2-f16", prompt: "x", template: "{{ range .Messages }}x{{ end }}", stream: false }));
    assert(bad.status === 400 && /template/.test(bad.json.error), `${bad.status} ${bad.text}`);
  });

  await test("generate streamed and an empty request (done_reason load)", async () => {
    const whole = await ollama.generate({ model: "synth-smollm2-f16", prompt: "Once upon a time", options: greedy });
    let text = "";
    for await (const p of await ollama.generate({ model: "synth-smollm2-f16", prompt: "Once upon a time", options: greedy, stream: true }))
      text += p.response;
    eq(text, whole.response, "streamed = whole");
    const l = await ollama.generate({ model: "synth-smollm2-f16", prompt: "" });
    eq([l.done, l.done_reason, l.response], [true, "load", ""], "load");
    const c = await ollama.chat({ model: "synth-smollm2-f16", messages: [] });
    eq([c.done, c.done_reason], [true, "load"], "chat load");
  });

  await test("images: base64 images reach the vision encoder (chat and generate)", async () => {
    const logo = fs.readFileSync(`${MODELS}/images/logo112.png`), plasma = fs.readFileSync(`${MODELS}/images/plasma112.png`);
    const q = { temperature: 0, num_predict: 8 };
    const none = await ollama.chat({ model: "synth-smollm2-f16", messages: [{ role: "user", content: "Describe the image." }], options: q });
    const one = await ollama.chat({ model: "synth-smollm2-f16", messages: [{ role: "user", content: "Describe the image.", images: [logo] }], options: q });
    const d = one.prompt_eval_count - none.prompt_eval_count;
    assert(d >= N_IMAGE_POS && d <= N_IMAGE_POS + 1, `the image adds ${d} prompt positions`);
    const other = await ollama.chat({ model: "synth-smollm2-f16", messages: [{ role: "user", content: "Describe the image.", images: [plasma.toString("base64")] }], options: q });
    eq(other.prompt_eval_count, one.prompt_eval_count, "same size image, same positions");
    const v1 = await raw(srv.url + "/v1/chat/completions", "POST", JSON.stringify({ model: "synth-smollm2-f16", temperature: 0, max_tokens: 8,
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64," + logo.toString("base64") } }, { type: "text", text: "Describe the image." }] }] }));
    eq(one.message.content, v1.json.choices[0].message.content, "the same reply as /v1 with the image first");
    const g = await ollama.generate({ model: "synth-smollm2-f16", prompt: "Describe the image.", images: [logo], options: q });
    assert(g.prompt_eval_count >= none.prompt_eval_count + N_IMAGE_POS, "generate takes images");
    const bad = await raw(srv.url + "/api/chat", "POST", JSON.stringify({ model: "synth-smollm2-f16", stream: false,
      messages: [{ role: "user", content: "x", images: ["bm90IGFuIGltYWdl"] }] }));
    assert(bad.status === 400 && bad.json.error, `not an image: ${bad.status} ${bad.text}`);
  });

  await test("embed: normalised vectors, one per input, equal to /v1/embeddings", async () => {
    const r = await ollama.embed({ model: "synth-bert-bge-f16", input: ["hello world", "a cat"] });
    eq(r.model, "synth-bert-bge-f16", "model");
    eq(r.embeddings.length, 2, "two vectors");
    const norm = Math.hypot(...r.embeddings[0]);
    assert(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
    assert(r.prompt_eval_count > 2 && r.total_duration > 0, "counts");
    const v1 = await raw(srv.url + "/v1/embeddings", "POST", JSON.stringify({ model: "synth-bert-bge-f16", input: ["hello world", "a cat"] }));
    for (let i = 0; i < 2; i++)
      for (let k = 0; k < r.embeddings[i].length; k++)
        assert(Math.abs(r.embeddings[i][k] - v1.json.data[i].embedding[k]) < 1e-6, `vector ${i} component ${k}`);
    const one = await ollama.embed({ model: "synth-bert-bge-f16:latest", input: "hello world", dimensions: 8 });
    eq(one.embeddings[0].length, 8, "dimensions");
  });

  await test("embeddings (the older route): one vector for the prompt", async () => {
    const r = await ollama.embeddings({ model: "synth-bert-bge-f16", prompt: "hello world" });
    const e = await ollama.embed({ model: "synth-bert-bge-f16", input: "hello world" });
    eq(r.embedding.length, e.embeddings[0].length, "same size");
    const n = Math.hypot(...r.embedding);
    for (let k = 0; k < r.embedding.length; k++)
      assert(Math.abs(r.embedding[k] / n - e.embeddings[0][k]) < 1e-5, `component ${k}: the same direction`);
  });

  await test("errors: unknown model 404, wrong kind 400, bad JSON 400, all as {error}", async () => {
    let err;
    try { await ollama.chat({ model: "nope:7b", messages: MSGS }); } catch (e) { err = e; }
    assert(err && err.status_code === 404 && err.error === "model 'nope:7b' not found", `chat: ${err}`);
    err = null;
    try { await ollama.show({ model: "nope" }); } catch (e) { err = e; }
    assert(err && err.status_code === 404, `show: ${err}`);
    err = null;
    try { await ollama.embed({ model: "synth-smollm2-f16", input: "x" }); } catch (e) { err = e; }
    assert(err && err.status_code === 400 && /embeddings/.test(err.error), `embed on chat model: ${err}`);
    err = null;
    try { await ollama.generate({ model: "synth-bert-bge-f16", prompt: "x" }); } catch (e) { err = e; }
    assert(err && err.status_code === 400 && /does not support generate/.test(err.error), `generate on embedder: ${err}`);
    err = null;
    try { await ollama.chat({ model: "synth-bert-bge-f16", messages: MSGS }); } catch (e) { err = e; }
    assert(err && err.status_code === 400 && /does not support chat/.test(err.error), `chat on embedder: ${err}`);
    for (const body of ["{bad", "[1,2]", ""]) {
      const r = await raw(srv.url + "/api/chat", "POST", body);
      assert(r.status === 400 && typeof r.json.error === "string", `${JSON.stringify(body)}: ${r.status} ${r.text}`);
    }
    const miss = await raw(srv.url + "/api/chat", "POST", JSON.stringify({ messages: MSGS }));
    assert(miss.status === 400 && /model is required/.test(miss.json.error), miss.text);
    const opt = await raw(srv.url + "/api/chat", "POST", JSON.stringify({ model: "synth-smollm2-f16", messages: MSGS, options: { temperature: "hot" } }));
    assert(opt.status === 400 && /temperature/.test(opt.json.error), opt.text);
    const fmt = await raw(srv.url + "/api/chat", "POST", JSON.stringify({ model: "synth-smollm2-f16", messages: MSGS, format: "yaml" }));
    assert(fmt.status === 400 && /format/.test(fmt.json.error), fmt.text);
    const route = await raw(srv.url + "/api/nothing", "GET");
    assert(route.status === 404 && route.json.error, route.text);
    const meth = await raw(srv.url + "/api/chat", "GET");
    assert(meth.status === 405 && meth.json.error, meth.text);
  });

  await test("a prompt longer than the context is a 400 {error}", async () => {
    const long = "cat ".repeat(2000);
    const r = await raw(srv.url + "/api/generate", "POST", JSON.stringify({ model: "synth-smollm2-f16", prompt: long, raw: true, stream: false }));
    assert(r.status === 400 && /context/.test(r.json.error), `${r.status} ${r.text}`);
  });

  await test("pull: NDJSON progress from the hub stand-in, then success; the file is in the store", async () => {
    const seen = [];
    for await (const p of await ollama.pull({ model: "stories-260k:latest", stream: true })) seen.push(p);
    eq(seen[0].status, "pulling manifest", "first status");
    eq(seen[seen.length - 1].status, "success", "last status");
    const prog = seen.filter((p) => p.completed !== undefined);
    assert(prog.length >= 1, "progress lines");
    const size = fs.statSync(STORIES).size;
    eq(prog[prog.length - 1].completed, size, "completed reaches the size");
    eq(prog[prog.length - 1].total, size, "total is the size");
    for (let i = 1; i < prog.length; i++) assert(prog[i].completed >= prog[i - 1].completed, "progress grows");
    eq(fs.readFileSync(`${tmp}/store/stories260K.gguf`).equals(fs.readFileSync(STORIES)), true, "the stored file");
  });

  await test("pull not streamed: one success object; unknown names are a 404", async () => {
    const r = await ollama.pull({ model: "stories-260k" });
    eq(r.status, "success", "already there: success");
    let err;
    try { await ollama.pull({ model: "no-such-model" }); } catch (e) { err = e; }
    assert(err && err.status_code === 404, `unknown: ${err}`);
  });

  await test("delete removes a store model; a second delete is a 404", async () => {
    await ollama.delete({ model: "stories260K:latest" });
    assert(!fs.existsSync(`${tmp}/store/stories260K.gguf`), "file removed");
    let err;
    try { await ollama.delete({ model: "stories260K" }); } catch (e) { err = e; }
    assert(err && err.status_code === 404, `second delete: ${err}`);
  });

  await test("the server stops cleanly (exit status 0)", async () => { eq(await stopServer(srv), 0, "exit status"); });
  srv = null;

  // API keys guard /api/* as they guard /v1
  srv = await startServer(["-m", STORIES, "--ctx", "128", "--api-key", "sekret"]);
  await test("with --api-key: 401 {error} without it, 200 with it", async () => {
    let err;
    try { await new Ollama({ host: srv.url }).list(); } catch (e) { err = e; }
    assert(err && err.status_code === 401 && err.error, `no key: ${err}`);
    const t = await new Ollama({ host: srv.url, headers: { Authorization: "Bearer sekret" } }).list();
    eq(t.models.map((m) => m.name), ["stories260K:latest"], "with the key");
    eq((await fetch(srv.url + "/", { method: "HEAD" })).status, 200, "HEAD / needs no key");
  });
  await stopServer(srv);
  srv = null;

  // think on a Qwen3-shaped model: false and true reach the template (its enable_thinking)
  srv = await startServer(["-m", QWEN3, "--ctx", "256"]);
  await test("think: true/false switch the template's thinking; show says 'thinking'", async () => {
    const o = new Ollama({ host: srv.url });
    const s = await o.show({ model: "synth-qwen3-f16" });
    assert(s.capabilities.includes("thinking"), `capabilities ${s.capabilities}`);
    const off = await o.chat({ model: "synth-qwen3-f16", messages: MSGS, think: false, options: { temperature: 0, num_predict: 2 } });
    const on = await o.chat({ model: "synth-qwen3-f16", messages: MSGS, think: true, options: { temperature: 0, num_predict: 2 } });
    assert(off.prompt_eval_count > on.prompt_eval_count, `think false adds the empty thoughts to the prompt: ${off.prompt_eval_count} vs ${on.prompt_eval_count}`);
    const v1 = await raw(srv.url + "/v1/chat/completions", "POST", JSON.stringify({ messages: MSGS, max_tokens: 2, temperature: 0,
      chat_template_kwargs: { enable_thinking: false } }));
    eq(off.prompt_eval_count, v1.json.usage.prompt_tokens, "the same prompt as /v1 with enable_thinking false");
    const bad = await raw(srv.url + "/api/chat", "POST", JSON.stringify({ model: "synth-qwen3-f16", messages: MSGS, think: "max" }));
    assert(bad.status === 400 && /think/.test(bad.json.error), bad.text);
  });

  await test("thoughts come apart as 'thinking' (a prompt that opens <think>), whole and streamed", async () => {
    const o = new Ollama({ host: srv.url });
    const req = { model: "synth-qwen3-f16", prompt: "Hi", options: { temperature: 0, num_predict: 6 },
      template: "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n<think>\n" };
    const r = await o.generate(req);
    assert(r.thinking && r.thinking.length > 0, `thinking: ${JSON.stringify(r)}`);
    eq(r.response, "", "no answer yet: the thoughts never closed");
    let thinking = "", response = "";
    for await (const p of await o.generate({ ...req, stream: true })) { thinking += p.thinking || ""; response += p.response; }
    eq([thinking, response], [r.thinking, r.response], "streamed = whole");
    const rawr = await o.generate({ ...req, template: undefined, raw: true,
      prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n" });
    assert(!rawr.thinking && rawr.response.length > 0, "raw: the text as it comes");
  });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (srv) await stopServer(srv);
  if (hub) hub.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(summary());
