// /v1/completions with a list of prompts (strings, token ids, token-id lists): one choice
// per prompt with its index, each equal to that prompt's own greedy answer, usage summed,
// streaming with per-choice chunks; and a non-streamed request whose client hangs up
// frees its slot at once (the server peeks at the socket while it waits).
import OpenAI from "openai";
import * as net from "node:net";
import { execFileSync } from "node:child_process";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, BIN } from "./server_helpers.mjs";

const { test, summary } = makeCounter(9);
const STORY_MODEL = `${MODELS}/llm/stories260K.gguf`;
const PROMPTS = ["Once upon a time", "The little dog", "Lily went to the park", "Tom had a red ball", "One day",
  "The sun was hot"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv, client;

async function raw(path, body) {
  const r = await fetch(srv.url + path, { method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text };
}
const gauge = (text, name) => +(text.match(new RegExp(`^${name} (\\d+)`, "m")) || [0, -1])[1];
const tokenize = (text) => JSON.parse(execFileSync(BIN, ["tokenize", "-m", STORY_MODEL], { input: text }).toString());

try {
  // 2 slots and a queue of 1: a list longer than that still completes, in waves.
  srv = await startServer(["-m", STORY_MODEL, "--parallel", "2", "--queue", "1", "--ctx", "256"]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  const opts = { model: "stories260K", max_tokens: 24, temperature: 0 };

  const single = [];
  await test("single-prompt greedy answers (the reference)", async () => {
    for (const p of PROMPTS) single.push(await client.completions.create({ ...opts, prompt: p }));
    assert(single.every((r) => r.choices.length === 1 && r.choices[0].text.length > 0), "texts");
  });

  await test("list of strings: one choice per prompt, in order, each equal to its single answer", async () => {
    const r = await client.completions.create({ ...opts, prompt: PROMPTS.slice(0, 3) });
    eq(r.choices.length, 3, "choices");
    r.choices.forEach((c, i) => {
      eq(c.index, i, "index");
      eq(c.text, single[i].choices[0].text, `choice ${i} text`);
      eq(c.finish_reason, single[i].choices[0].finish_reason, `choice ${i} finish_reason`);
    });
    const sum = (k) => single.slice(0, 3).reduce((a, s) => a + s.usage[k], 0);
    eq(r.usage.prompt_tokens, sum("prompt_tokens"), "prompt tokens summed");
    eq(r.usage.completion_tokens, sum("completion_tokens"), "completion tokens summed");
    eq(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, "total");
  });

  await test("more prompts than slots + queue still complete (submitted as slots free up)", async () => {
    const r = await client.completions.create({ ...opts, prompt: PROMPTS });
    eq(r.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5], "indexes");
    r.choices.forEach((c, i) => eq(c.text, single[i].choices[0].text, `choice ${i}`));
  });

  await test("token ids and a list of token-id lists equal the string prompts", async () => {
    const ids = PROMPTS.slice(0, 2).map(tokenize);
    const one = await client.completions.create({ ...opts, prompt: ids[0] });
    eq(one.choices.length, 1, "token-id list is one prompt");
    eq(one.choices[0].text, single[0].choices[0].text, "ids prompt");
    const two = await client.completions.create({ ...opts, prompt: ids });
    eq(two.choices.length, 2, "two prompts");
    two.choices.forEach((c, i) => eq(c.text, single[i].choices[0].text, `ids choice ${i}`));
  });

  await test("stream: chunks carry their choice index, one finish per choice, usage summed, [DONE] once", async () => {
    const texts = ["", "", ""], finishes = [0, 0, 0];
    let usage = null, afterUsage = 0;
    for await (const ch of await client.completions.create({ ...opts, prompt: PROMPTS.slice(0, 3), stream: true,
      stream_options: { include_usage: true } })) {
      if (usage) afterUsage++;
      for (const c of ch.choices) {
        texts[c.index] += c.text;
        if (c.finish_reason) finishes[c.index]++;
      }
      if (ch.usage) usage = ch.usage;
    }
    texts.forEach((t, i) => eq(t, single[i].choices[0].text, `stream choice ${i}`));
    eq(finishes, [1, 1, 1], "one finish_reason per choice");
    eq(usage.completion_tokens, single.slice(0, 3).reduce((a, s) => a + s.usage.completion_tokens, 0), "usage");
    eq(afterUsage, 0, "usage chunk last");
    const r = await fetch(srv.url + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...opts, prompt: PROMPTS.slice(0, 2), stream: true }) });
    const body = await r.text();
    eq(body.match(/data: \[DONE\]/g).length, 1, "[DONE] once");
    assert(body.trimEnd().endsWith("data: [DONE]"), "[DONE] last");
    const idx = new Set([...body.matchAll(/"index":(\d+)/g)].map((m) => +m[1]));
    eq([...idx].sort(), [0, 1], "both indexes streamed");
  });

  await test("bad prompt lists give 400 naming 'prompt'", async () => {
    for (const prompt of [[], ["a", 3], [[]], [[1, 2], [999999]], Array(65).fill("x"), [{}]]) {
      const r = await raw("/v1/completions", { prompt, max_tokens: 2 });
      eq(r.status, 400, JSON.stringify(prompt).slice(0, 40) + " " + r.text);
      eq(r.json.error.param, "prompt", "param");
    }
    const long = await raw("/v1/completions", { prompt: ["short", "word ".repeat(400)], max_tokens: 2 });
    eq(long.status, 400, long.text);
    assert(/prompt 1 /.test(long.json.error.message), "names the long prompt: " + long.json.error.message);
  });

  await test("SIGTERM exits 0", async () => { eq(await stopServer(srv), 0, "exit code"); });
  // The hang-up must cut the generation short. EOS (id 2) and the other special ids are
  // banned, so without the hang-up it would run all 2000 tokens; the tokens counted in
  // /metrics for it (recorded once its handler is done) prove where it stopped, with no
  // assumption about how fast the model is (a sanitizer build on a busy machine is slow).
  srv = await startServer(["-m", `${MODELS}/synth/synth-llama-q8_0.gguf`, "--parallel", "1", "--ctx", "2048"]);
  await test("a non-streamed request whose client hangs up is cancelled and frees its slot", async () => {
    const u = new URL(srv.url);
    const body = JSON.stringify({ prompt: "Once upon a time", max_tokens: 2000, logit_bias: { 0: -100, 1: -100, 2: -100 } });
    const m0 = (await raw("/metrics")).text;
    eq([gauge(m0, "omni_prompt_tokens_total"), gauge(m0, "omni_completion_tokens_total")], [0, 0], "nothing generated yet");
    const sock = net.connect(+u.port, u.hostname);
    await new Promise((res, rej) => { sock.once("connect", res); sock.once("error", rej); });
    sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    let busy = 0;
    for (let i = 0; i < 3000 && busy < 1; i++) { await sleep(20); busy = gauge((await raw("/metrics")).text, "omni_slots_busy"); }
    eq(busy, 1, "generation running");
    await sleep(100);
    sock.destroy();
    // (the prompt tokens are counted with the completion tokens, once the handler is done)
    let m = "";
    for (let i = 0; i < 6000; i++) {
      m = (await raw("/metrics")).text;
      if (gauge(m, "omni_slots_busy") === 0 && gauge(m, "omni_prompt_tokens_total") > 0) break;
      await sleep(20);
    }
    eq(gauge(m, "omni_slots_busy"), 0, "slot freed");
    assert(gauge(m, "omni_prompt_tokens_total") > 0, "the request's usage is counted");
    const tokens = gauge(m, "omni_completion_tokens_total");
    assert(tokens >= 0 && tokens < 2000, `the generation stopped after ${tokens} of 2000 tokens`);
    const r = await raw("/v1/completions", { prompt: "Once upon a time", max_tokens: 4 });
    eq(r.status, 200, "next request served");
  });
  await test("SIGTERM exits 0 (second server)", async () => { eq(await stopServer(srv), 0, "exit code"); });
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
  await test("setup", async () => { throw e; });
} finally {
  if (srv && srv.proc.exitCode === null) srv.proc.kill("SIGKILL");
}
process.exit(summary());
