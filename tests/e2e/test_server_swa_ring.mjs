// The engine's prompt cache on a sliding-window model whose cache keeps only a ring of the
// window (src/models/llm.c: synth gemma3, window 32, ring 640 positions at --ctx 4096): a
// follow-up prompt that shares a long prefix reuses it, one whose shared prefix lies behind
// the ring is computed again from the start (cached_tokens 0), and either way the greedy
// reply and its logprobs are exactly those of the same prompt computed from nothing.
// Prompts are token ids (/v1/completions takes them), 900 positions each, so the ring wraps.
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(4);
const MODEL = `${MODELS}/synth/synth-gemma3-f16.gguf`;

function tokens(seed, n) {
  const t = [];
  let r = seed >>> 0;
  for (let i = 0; i < n; i++) {
    r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
    t.push(10 + (r >>> 8) % 900);
  }
  return t;
}
const A = tokens(1, 900);
const B = [...A.slice(0, 850), ...tokens(2, 50)];    // shares 850 with A: within the ring
const C = [...A.slice(0, 300), ...tokens(3, 600)];   // shares 300 with A: behind the ring
const OTHER = tokens(4, 40);                          // shares nothing

let srv;
async function complete(prompt) {
  const r = await fetch(srv.url + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: 12, temperature: 0, logprobs: 1 }) });
  const j = await r.json();
  assert(r.status === 200, `status ${r.status}: ${JSON.stringify(j)}`);
  const c = j.choices[0];
  return { text: c.text, lp: c.logprobs.token_logprobs, cached: j.usage.prompt_tokens_details.cached_tokens,
           n: j.usage.prompt_tokens };
}
const same = (a, b, what) => {
  eq(a.text, b.text, `${what}: text`);
  eq(a.lp, b.lp, `${what}: logprobs, bit for bit`);
};

try {
  srv = await startServer(["-m", MODEL, "--ctx", "4096", "--parallel", "1"]);
  let a0, b0;
  await test("a prompt computed from nothing, then again from the cache: the same reply", async () => {
    a0 = await complete(A);
    eq([a0.n, a0.cached], [900, 0], "900 positions, nothing cached");
    const a1 = await complete(A);
    assert(a1.cached >= 890, `the prompt came from the cache: ${a1.cached}`);
    same(a1, a0, "A again");
  });
  await test("a prompt sharing 850 positions (within the ring) reuses them and answers as from nothing", async () => {
    const b1 = await complete(B);
    eq(b1.cached, 850, "850 positions reused");
    await complete(OTHER);   // the slot now holds nothing B shares
    b0 = await complete(B);
    eq(b0.cached, 0, "from nothing");
    same(b1, b0, "B");
  });
  await test("a prompt sharing only 300 positions (behind the ring) is computed again from the start", async () => {
    await complete(A);
    const c1 = await complete(C);
    eq(c1.cached, 0, "the ring no longer holds what position 300 attends to: nothing reused");
    await complete(OTHER);
    const c0 = await complete(C);
    same(c1, c0, "C");
  });
  await test("the server stops cleanly (exit 0)", async () => {
    eq(await stopServer(srv), 0, "exit status");
    srv = null;
  });
} catch (e) {
  await test("setup", () => { throw e; });
} finally {
  if (srv) await stopServer(srv);
}
process.exit(summary());
