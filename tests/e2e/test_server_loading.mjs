// `omni serve` while the model loads: the listener is up first and every route that
// needs the model answers 503 (OpenAI error shape, Anthropic's on /v1/messages; Retry-After), /health says
// "loading", and once loaded the same requests succeed. The loading phase is held
// open with the test-only OMNI_TEST_LOAD_DELAY_MS (test models load in milliseconds).
import { spawn } from "node:child_process";
import * as net from "node:net";
import { stopServer, makeCounter, assert, eq, BIN, MODELS, accountArgs } from "./server_helpers.mjs";

const { test, summary } = makeCounter(3);
const MODEL = `${MODELS}/llm/stories260K.gguf`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv;
try {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(BIN, ["serve", "-m", MODEL, "--port", String(port), ...accountArgs([])], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OMNI_TEST_LOAD_DELAY_MS: "4000" } });
  let out = "";
  proc.stdout.on("data", (d) => { out += d; });
  proc.stderr.on("data", () => {});
  srv = { proc };
  const t0 = Date.now();
  let health;
  while (Date.now() - t0 < 3000) { // the listener comes up before the model
    try { health = await fetch(url + "/health"); break; } catch { await sleep(50); }
  }

  await test("/health says loading with 503 before the model is ready", async () => {
    assert(health, "the listener answered within 3 s");
    eq(health.status, 503, "status");
    eq((await health.json()).status, "loading", "body");
    assert(!/listening on/.test(out), "the ready line comes after loading");
  });

  await test("chat, completions and models answer 503 model_loading with Retry-After", async () => {
    const body = JSON.stringify({ model: "stories260K", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    for (const [path, b] of [["/v1/chat/completions", body], ["/v1/completions", JSON.stringify({ prompt: "a", max_tokens: 2 })]]) {
      const r = await fetch(url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: b });
      eq(r.status, 503, path);
      assert(r.headers.get("retry-after"), path + " has Retry-After");
      const e = (await r.json()).error;
      assert(e && e.code === "model_loading" && /loading/.test(e.message) && "param" in e && "type" in e,
        path + ": " + JSON.stringify(e));
    }
    // Anthropic's route answers in its own shape: overloaded_error, which its SDK retries
    const a = await fetch(url + "/v1/messages", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "stories260K", max_tokens: 2, messages: [{ role: "user", content: "hi" }] }) });
    eq(a.status, 503, "/v1/messages");
    assert(a.headers.get("retry-after"), "/v1/messages has Retry-After");
    const ae = await a.json();
    eq([ae.type, ae.error && ae.error.type], ["error", "overloaded_error"], "/v1/messages error shape");
    const m = await fetch(url + "/metrics");
    assert(/omni_loading 1/.test(await m.text()), "metrics say loading");
  });

  await test("after loading the same requests succeed", async () => {
    const deadline = Date.now() + 30000;
    let r;
    while (Date.now() < deadline) {
      r = await fetch(url + "/health");
      if (r.status === 200) break;
      await sleep(100);
    }
    eq(r.status, 200, "health after loading");
    assert(Date.now() - t0 >= 3500, "the delay held the loading phase open");
    const c = await fetch(url + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "stories260K", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }) });
    eq(c.status, 200, "chat after loading");
  });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (srv) eq(await stopServer(srv), 0, "server exit code");
}
process.exit(summary());
