// The end of a turn over the Realtime API: with semantic_vad (omni's default) a pause
// after a trailing "and" does not end the turn, and a finished question ends it after
// less quiet than server_vad's fixed silence needs. The Whisper models here say what
// they are told (tests/rig_whisper.py: the shared micro model with a decoder that ignores
// the audio), so the words the rule sees are known; Silero VAD, the timing, the LLM and
// the voice are real. The official openai client over wss://, as in test_realtime.mjs.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/beta/realtime/ws";
import { MODELS, makeCounter, assert, eq, startServer, stopServer, tlsCertDir } from "./server_helpers.mjs";

const DIR = tlsCertDir();
const { test, summary } = makeCounter(6);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`, MICRO = `${MODELS}/synth/synth-whisper-micro-f16.bin`;
const VAD = `${MODELS}/vad/for-tests-silero-v6.2.0-ggml.bin`;
const KEY = "rt-turns";

function rigged(name, text) {
  execFileSync("python3", ["tests/rig_whisper.py", MICRO, `${DIR}/${name}.bin`, text]);
  return `${DIR}/${name}.bin`;
}

// espeak-ng speech without its own leading and trailing quiet, as 24 kHz pcm16
function speech(name, voice, text) {
  execFileSync("espeak-ng", ["-v", voice, "-w", `${DIR}/${name}.wav`, text]);
  execFileSync("sox", [`${DIR}/${name}.wav`, "-r", "24000", "-c", "1", "-b", "16", "-e", "signed-integer",
    "-t", "raw", `${DIR}/${name}.raw`, "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]);
  return fs.readFileSync(`${DIR}/${name}.raw`);
}
const quiet = (ms) => Buffer.alloc(Math.round(ms * 48));
const ms = (buf) => buf.length / 48;

function recorder(rt) {
  const events = [];
  const waiters = [];
  rt.on("event", (ev) => {
    events.push(ev);
    for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
  });
  rt.on("error", () => {});
  function waitFor(pred, timeout, what) {
    if (typeof pred === "string") { const t = pred; pred = (e) => e.type === t; what = what || t; }
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); reject(new Error(`timeout waiting for ${what}; got ${[...new Set(events.map((e) => e.type))].join(", ")}`)); } }, timeout);
    });
  }
  return { events, waitFor, since: (n0, t) => events.slice(n0).filter((e) => e.type === t) };
}

const sleep = (t) => new Promise((r) => setTimeout(r, t));
async function stream(rt, pcm) {
  const step = 4800; // 100 ms
  for (let i = 0; i < pcm.length; i += step) {
    rt.send({ type: "input_audio_buffer.append", audio: pcm.subarray(i, i + step).toString("base64") });
    await sleep(100);
  }
}

async function session(url, turnDetection) {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1` });
  const rt = new OpenAIRealtimeWS({ model: "synth-smollm2-f16" }, client);
  const rec = recorder(rt);
  await new Promise((res, rej) => { rt.socket.on("open", res); rt.socket.on("error", rej); });
  const created = await rec.waitFor("session.created", 10000);
  rt.send({ type: "session.update", session: { type: "realtime", max_output_tokens: 4,
    audio: { input: { transcription: { model: "whisper-1", language: "en" }, turn_detection: turnDetection } } } });
  const updated = await rec.waitFor("session.updated", 10000);
  return { rt, rec, created, updated };
}

const start = (asr) => startServer(["-m", LLM, "--asr-model", asr, "--vad-model", VAD, "--api-key", KEY,
  "--tls-cert", `${DIR}/cert.pem`, "--tls-key", `${DIR}/key.pem`, "--threads", "2"]);

// "I went to the store and" … 400 ms … "bought some milk.", then enough quiet for any rule
const partA = speech("a", "en-us", "I went to the store and"), partB = speech("b", "en-us", "bought some milk.");
const pauseAudio = Buffer.concat([quiet(300), partA, quiet(400), partB, quiet(1500)]);
const restStartMs = 300 + ms(partA) + 400;
const question = speech("q", "en-us", "What time is it?");

let srv = await start(rigged("and", "I went to the store and"));
try {
  await test("semantic_vad is the default turn detection; session.update can ask for it with an eagerness", async () => {
    const { rt, rec, created, updated } = await session(srv.url, { type: "semantic_vad", eagerness: "auto" });
    eq(created.session.audio.input.turn_detection.type, "semantic_vad", "default type");
    eq(updated.session.audio.input.turn_detection.eagerness, "auto", "eagerness");
    rt.send({ type: "session.update", session: { turn_detection: { type: "semantic_vad", eagerness: "sometimes" } } });
    eq((await rec.waitFor("error", 5000)).error.param, "session.turn_detection", "bad eagerness");
    rt.close();
  });

  await test("semantic_vad: a 400 ms pause after a trailing 'and' does not end the turn", async () => {
    const { rt, rec } = await session(srv.url, { type: "semantic_vad" });
    const done = rec.waitFor("response.done", 90000);
    await stream(rt, pauseAudio);
    const d = await done;
    eq(d.response.status, "completed", "status");
    const started = rec.since(0, "input_audio_buffer.speech_started"), stopped = rec.since(0, "input_audio_buffer.speech_stopped");
    eq(started.length, 1, "turns started");
    eq(stopped.length, 1, "turns ended");
    assert(stopped[0].audio_end_ms > restStartMs, `the turn ended at ${stopped[0].audio_end_ms} ms, the rest of the sentence starts at ${restStartMs} ms`);
    const tr = rec.since(0, "conversation.item.input_audio_transcription.completed");
    eq(tr.length, 1, "one user message");
    eq(tr[0].transcript, "I went to the store and", "transcript");
    rt.close();
  });

  await test("server_vad with its fixed 280 ms silence cuts the same sentence at the pause", async () => {
    const { rt, rec } = await session(srv.url, { type: "server_vad", silence_duration_ms: 280 });
    const second = rec.waitFor((() => { let n = 0; return (e) => e.type === "input_audio_buffer.speech_stopped" && ++n === 2; })(),
      90000, "a second speech_stopped");
    await stream(rt, pauseAudio);
    await second;
    const stopped = rec.since(0, "input_audio_buffer.speech_stopped");
    assert(stopped[0].audio_end_ms < restStartMs, `first turn ended at ${stopped[0].audio_end_ms} ms (pause at ${restStartMs - 400})`);
    rt.close();
  });
} finally {
  await stopServer(srv);
}

srv = await start(rigged("q", "What time is it?"));
try {
  await test("semantic_vad: a finished question ends the turn after 240 ms of quiet", async () => {
    const { rt, rec, updated } = await session(srv.url, { type: "semantic_vad" });
    const unsure = updated.session.audio.input.turn_detection.silence_duration_ms;
    assert(unsure > 240, `silence for words that say neither way: ${unsure} ms`);
    const stopped = rec.waitFor("input_audio_buffer.speech_stopped", 60000);
    const done = rec.waitFor("response.done", 90000);
    await stream(rt, Buffer.concat([quiet(300), question, quiet(240)]));   // and nothing after it
    const st = await stopped;
    assert(Math.abs(st.audio_end_ms - (300 + ms(question))) < 200, `speech ended at ${st.audio_end_ms} ms`);
    eq((await done).response.status, "completed", "answered");
    rt.close();
  });

  await test("server_vad needs its 280 ms: the same 240 ms do not end the turn, more quiet does", async () => {
    const { rt, rec } = await session(srv.url, { type: "server_vad", silence_duration_ms: 280 });
    await stream(rt, Buffer.concat([quiet(300), question, quiet(240)]));
    await sleep(2000);
    eq(rec.since(0, "input_audio_buffer.speech_stopped").length, 0, "turns ended on 240 ms of quiet");
    const stopped = rec.waitFor("input_audio_buffer.speech_stopped", 60000);
    await stream(rt, quiet(400));
    await stopped;
    rt.close();
  });
} finally {
  const code = await stopServer(srv);
  await test("server stops cleanly", async () => eq(code, 0, "exit code"));
}
process.exit(summary());
