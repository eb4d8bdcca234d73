// One engine per model, end to end: two Realtime conversations taking text turns, a
// vision request and a transcription run against one server while a client sends greedy
// chat completions one after another for 30 s; every completion must equal the answer
// the idle server gave for that prompt (a forward that another thread's work disturbed
// would change it), with no error events. Then conversations longer than the context:
// a Realtime conversation of 60 turns on a 2048-token context answers every turn, a chat
// completion whose messages exceed the context is answered with truncated_messages > 0
// (and X-Omni-Truncated), and with "truncation":"disabled" it is a 400 naming the problem.
import * as fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/beta/realtime/ws";
import { MODELS, makeCounter, assert, eq, startServer, stopServer, tlsCertDir } from "./server_helpers.mjs";

const DIR = tlsCertDir();
const { test, summary } = makeCounter(6);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`, ASR = `${MODELS}/synth/synth-whisper-micro-f16.bin`;
const MMPROJ = `${MODELS}/synth/synth-llava-mmproj-f16.gguf`;
const IMAGE = `${MODELS}/images/logo112.png`;
const AUDIO = `${MODELS}/audio/jfk.wav`;
const KEY = "eng-secret";
const MIX_SECONDS = +(process.env.OMNI_MIX_SECONDS || 30);

const start = () => startServer(["-m", LLM, "--mmproj", MMPROJ, "--asr-model", ASR, "--api-key", KEY,
  "--tls-cert", `${DIR}/cert.pem`, "--tls-key", `${DIR}/key.pem`, "--threads", "2", "--parallel", "2", "--ctx", "2048"]);

function realtime(url) {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1` });
  const rt = new OpenAIRealtimeWS({ model: "synth-smollm2-f16" }, client);
  // Every event is kept; waitFor takes the oldest not yet taken of that type (or an error),
  // so an event that came before anyone waited is not lost.
  const events = [], waiters = [];
  let taken = new Set();
  const match = (type) => events.findIndex((e, i) => !taken.has(i) && (e.type === type || e.type === "error"));
  rt.on("event", (ev) => {
    events.push(ev);
    for (const w of [...waiters]) {
      const i = match(w.type);
      if (i >= 0) { taken.add(i); waiters.splice(waiters.indexOf(w), 1); w.resolve(events[i]); }
    }
  });
  rt.on("error", () => {});
  const waitFor = (type, ms) => new Promise((resolve, reject) => {
    const i = match(type);
    if (i >= 0) { taken.add(i); return resolve(events[i]); }
    const w = { type, resolve };
    waiters.push(w);
    setTimeout(() => { const k = waiters.indexOf(w); if (k >= 0) { waiters.splice(k, 1); reject(new Error(`timeout waiting for ${type}`)); } }, ms);
  });
  const open = new Promise((res, rej) => { rt.socket.on("open", res); rt.socket.on("error", rej); });
  return { rt, events, waitFor, open };
}

// One text turn: the user's item, then the answer; resolves with response.done (or throws on an error event).
async function turn(c, text) {
  c.rt.send({ type: "conversation.item.create", item: { type: "message", role: "user",
    content: [{ type: "input_text", text }] } });
  const done = c.waitFor("response.done", 120000);
  c.rt.send({ type: "response.create" });
  const ev = await done;
  if (ev.type === "error") throw new Error("error event: " + JSON.stringify(ev.error));
  return ev;
}

const PROMPTS = ["Tell me about the sea.", "서울에 대해 알려 주세요.", "List three colors.", "What is 2 + 2?"];
const srv = await start();
const api = new OpenAI({ apiKey: KEY, baseURL: `${srv.url}/v1` });
const ask = async (content, extra = {}) => (await api.chat.completions.create({ model: "synth-smollm2-f16", temperature: 0,
  max_tokens: 16, messages: [{ role: "user", content }], ...extra })).choices[0].message.content;
const png = "data:image/png;base64," + fs.readFileSync(IMAGE).toString("base64");
const visionMsg = [{ type: "text", text: "What is in this picture?" }, { type: "image_url", image_url: { url: png } }];
const transcribe = async () => (await api.audio.transcriptions.create({ model: "whisper",
  file: new File([fs.readFileSync(AUDIO)], "jfk.wav", { type: "audio/wav" }) })).text;
try {
  const idle = {};
  await test("idle answers (greedy) for the prompts, a vision question and a transcription", async () => {
    for (const p of PROMPTS) idle[p] = await ask(p);
    idle.vision = await ask(visionMsg);
    idle.asr = await transcribe();
    for (const p of PROMPTS) eq(await ask(p), idle[p], `idle answer to ${p} is stable`);
    assert(Object.values(idle).every((a) => typeof a === "string"), "answers");
  });

  await test(`${MIX_SECONDS} s of greedy completions beside two realtime conversations, vision and ASR`, async () => {
    const a = realtime(srv.url), b = realtime(srv.url);
    await Promise.all([a.open, b.open]);
    let stop = false, turns = 0;
    const talk = async (c, tag) => {
      await c.waitFor("session.created", 10000);
      c.rt.send({ type: "session.update", session: { output_modalities: ["text"], max_output_tokens: 12 } });
      await c.waitFor("session.updated", 10000);
      for (let i = 0; !stop; i++) { await turn(c, `${tag} turn ${i}: say something.`); turns++; }
    };
    const talking = [talk(a, "A"), talk(b, "B")];
    const t0 = Date.now();
    let n = 0, bad = [], side = 0;
    while (Date.now() - t0 < MIX_SECONDS * 1000) {
      const p = PROMPTS[n % PROMPTS.length];
      const got = await ask(p);
      if (got !== idle[p]) bad.push({ p, got, want: idle[p] });
      n++;
      if (n % 7 === 0) { side++; if ((await ask(visionMsg)) !== idle.vision) bad.push({ p: "vision" }); }
      if (n % 11 === 0) { side++; if ((await transcribe()) !== idle.asr) bad.push({ p: "asr" }); }
    }
    stop = true;
    await Promise.all(talking);
    a.rt.close(); b.rt.close();
    const errors = [...a.events, ...b.events].filter((e) => e.type === "error");
    console.log(`     ${n} completions, ${side} vision/asr requests, ${turns} realtime turns, ${bad.length} differed`);
    eq(errors.length, 0, "error events: " + JSON.stringify(errors.slice(0, 2)));
    assert(turns >= 4 && n >= 8, `enough work overlapped (${turns} turns, ${n} completions)`);
    eq(bad.length, 0, "completions that differ from the idle answer: " + JSON.stringify(bad.slice(0, 3)));
  });

  await test("a realtime conversation of 60 turns on a 2048-token context answers every turn", async () => {
    const c = realtime(srv.url);
    await c.open;
    await c.waitFor("session.created", 10000);
    c.rt.send({ type: "session.update", session: { output_modalities: ["text"], max_output_tokens: 24,
      instructions: "You are a helpful assistant. Keep answers short." } });
    await c.waitFor("session.updated", 10000);
    const filler = "Please remember this long sentence about the quiet harbour, the old lighthouse and the boats. ";
    let completed = 0, maxIn = 0;
    for (let i = 0; i < 60; i++) {
      const ev = await turn(c, `Turn ${i}. ${filler.repeat(2)}`);
      eq(ev.response.status, "completed", `turn ${i} status`);
      maxIn = Math.max(maxIn, ev.response.usage.input_tokens);
      completed++;
    }
    c.rt.close();
    console.log(`     ${completed} turns, largest prompt ${maxIn} tokens`);
    assert(maxIn < 2048 && maxIn > 500, `the prompt stayed inside the context (${maxIn})`);
  });

  const long = [{ role: "system", content: "You are terse." }];
  for (let i = 0; i < 80; i++) {
    long.push({ role: "user", content: `Question ${i}: tell me about the harbour and the lighthouse at night.` });
    long.push({ role: "assistant", content: `Answer ${i}: the lighthouse turns slowly over the dark water.` });
  }
  long.push({ role: "user", content: "And now?" });

  await test("a chat completion longer than the context is answered with truncated_messages and X-Omni-Truncated", async () => {
    const { data, response } = await api.chat.completions.create({ model: "synth-smollm2-f16", temperature: 0, max_tokens: 8,
      messages: long }).withResponse();
    assert(data.usage.truncated_messages > 0 && data.usage.truncated_messages % 2 === 0, JSON.stringify(data.usage));
    eq(response.headers.get("x-omni-truncated"), String(data.usage.truncated_messages), "header");
    assert(data.usage.prompt_tokens < 2048, `prompt ${data.usage.prompt_tokens}`);
    const stream = await api.chat.completions.create({ model: "synth-smollm2-f16", temperature: 0, max_tokens: 8, messages: long,
      stream: true, stream_options: { include_usage: true } });
    let usage = null;
    for await (const ch of stream) if (ch.usage) usage = ch.usage;
    eq(usage.truncated_messages, data.usage.truncated_messages, "streamed usage");
  });

  await test("truncation disabled: a 400 context_length_exceeded that names the limit", async () => {
    try {
      await api.chat.completions.create({ model: "synth-smollm2-f16", max_tokens: 8, messages: long, truncation: "disabled" });
      throw new Error("no error");
    } catch (e) {
      eq(e.status, 400, "status");
      eq(e.code, "context_length_exceeded", "code");
      assert(/positions/.test(e.message) && /2047|context/.test(e.message), e.message);
    }
    try {
      await api.chat.completions.create({ model: "synth-smollm2-f16", max_tokens: 8, messages: long, truncation: "sometimes" });
      throw new Error("no error");
    } catch (e) { eq(e.status, 400, "bad truncation value"); eq(e.param, "truncation", "param"); }
  });
} finally {
  const code = await stopServer(srv);
  await test("server exits cleanly", async () => eq(code, 0, "exit code: " + srv.stderr().slice(-2000)));
}
process.exit(summary());
