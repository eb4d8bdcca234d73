// A bounded load test on loopback: 16 concurrent clients send 320 short requests
// (mixed stream / non-stream, chat / completions); zero errors allowed, and the
// server's memory must be flat between a warm-up round and the full run. Also: 8
// concurrent streams all start before any of them ends (prompts prefilled together).
import { startServer, stopServer, makeCounter, assert, eq, rssKiB, MODELS, BIN } from "./server_helpers.mjs";

const { test, summary } = makeCounter(6);
const CLIENTS = 16, PER_CLIENT = 20;
let srv;

async function one(i) {
  const chat = i % 2 === 0, stream = i % 3 === 0;
  const path = chat ? "/v1/chat/completions" : "/v1/completions";
  const body = chat
    ? { messages: [{ role: "user", content: "Request " + i }], max_tokens: 8, stream }
    : { prompt: "Once upon a time " + i, max_tokens: 8, stream };
  const r = await fetch(srv.url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`request ${i}: ${r.status} ${text}`);
  if (stream && !text.trimEnd().endsWith("data: [DONE]")) throw new Error(`request ${i}: stream not terminated`);
  if (!stream && !JSON.parse(text).usage) throw new Error(`request ${i}: no usage`);
}

async function round(n) {
  let next = 0, errors = [];
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < n) {
      const i = next++;
      try { await one(i); } catch (e) { errors.push(String(e.message || e)); }
    }
  }));
  return errors;
}

try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--parallel", "8", "--ctx", "256", "--queue", "64"]);
  let rss0 = 0;
  await test("warm-up round of 64 requests", async () => {
    const errs = await round(64);
    eq(errs.length, 0, "errors: " + errs.slice(0, 3).join("; "));
    rss0 = rssKiB(srv.proc.pid);
  });
  await test("8 concurrent streams all get their first token before any finishes", async () => {
    // What 8 users expect: everyone sees the reply start at once (their prompts are
    // prefilled together), not one after the other while earlier replies run to the end.
    // The replies are long (160 tokens, end-of-text banned) so that a busy machine's
    // spread in when the 8 requests arrive cannot outlast a whole reply: with 24 tokens
    // a stream once ended 8 ms before the last one had even started, under a CPU hog.
    const N_TOK = 160;
    const streams = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const t0 = performance.now();
      const r = await fetch(srv.url + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: `User ${i} asks: ` + "tell me a story ".repeat(1 + i), max_tokens: N_TOK,
          temperature: 0, logit_bias: { 0: -100, 1: -100, 2: -100 }, stream: true,
          stream_options: { include_usage: true } }) });
      eq(r.status, 200, "status");
      let first = -1, usage = null, buf = "";
      const dec = new TextDecoder();
      for await (const part of r.body) {
        buf += dec.decode(part, { stream: true });
        let k;
        while ((k = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, k).trim();
          buf = buf.slice(k + 1);
          if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
          const j = JSON.parse(line.slice(6));
          if (j.usage) usage = j.usage;
          if (first < 0 && j.choices && j.choices.length && j.choices[0].text !== undefined) first = performance.now();
        }
      }
      return { t0, first, end: performance.now(), n: usage ? usage.completion_tokens : 0 };
    }));
    const lastFirst = Math.max(...streams.map((x) => x.first)), firstEnd = Math.min(...streams.map((x) => x.end));
    const ttft = streams.map((x) => Math.round(x.first - x.t0));
    console.log(`  TTFT ms: ${ttft.join(" ")}; first stream done after ${Math.round(firstEnd - streams[0].t0)} ms`);
    assert(streams.every((x) => x.first > 0 && x.n === N_TOK), `every stream streamed ${N_TOK} tokens: ` + streams.map((x) => x.n));
    assert(lastFirst < firstEnd, `a stream ended ${Math.round(lastFirst - firstEnd)} ms before the last first token`);
  });
  await test(`${CLIENTS} clients x ${PER_CLIENT} requests, zero errors`, async () => {
    const t0 = Date.now();
    const errs = await round(CLIENTS * PER_CLIENT);
    const secs = (Date.now() - t0) / 1000;
    console.log(`  ${CLIENTS * PER_CLIENT} requests in ${secs.toFixed(1)} s (${(CLIENTS * PER_CLIENT / secs).toFixed(1)} req/s)`);
    eq(errs.length, 0, "errors: " + errs.slice(0, 3).join("; "));
  });
  await test("memory flat after the run", async () => {
    const rss1 = rssKiB(srv.proc.pid);
    console.log(`  RSS after warm-up ${rss0} KiB, after the run ${rss1} KiB`);
    assert(rss0 > 0 && rss1 > 0, "RSS readable");
    // AddressSanitizer keeps freed memory in quarantine (up to 256 MiB), so RSS only
    // means something in a normal build; leaks there are caught by LeakSanitizer at exit.
    const limit = /asan|tsan/.test(BIN) ? 300 * 1024 : 16 * 1024;
    assert(rss1 - rss0 < limit, `RSS grew by ${rss1 - rss0} KiB`);
  });
  await test("metrics agree: no 5xx, queue empty, slots idle", async () => {
    /* A request is counted just after its client has the whole reply, so give the
     * last handlers a moment to finish before reading the totals. */
    const want = CLIENTS * PER_CLIENT + 64;
    let m = "";
    for (let i = 0; i < 50; i++) {
      m = await (await fetch(srv.url + "/metrics")).text();
      const c = m.match(/omni_requests_total\{status="200"\} (\d+)/);
      if (c && +c[1] >= want && /^omni_slots_busy 0$/m.test(m)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert(!/status="5\d\d"/.test(m), "no 5xx");
    assert(/^omni_queue_length 0$/m.test(m) && /^omni_slots_busy 0$/m.test(m), "idle");
    const ok = +m.match(/omni_requests_total\{status="200"\} (\d+)/)[1];
    assert(ok >= want, "200s counted: " + ok);
  });
  await test("SIGTERM exits 0", async () => { eq(await stopServer(srv), 0, "exit code"); });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (srv && srv.proc.exitCode === null) srv.proc.kill("SIGKILL");
}
process.exit(summary());
