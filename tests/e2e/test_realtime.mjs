// The Realtime WebSocket API end to end: `omni serve --tls-cert/--tls-key` driven by the
// official openai npm client's realtime class, unmodified, over wss:// with a self-signed
// certificate made here (NODE_EXTRA_CA_CERTS). Speech is espeak-ng English and Korean,
// streamed in real time; the models have random weights, so only the protocol is checked:
// transcripts, text and audio for both languages, barge-in (speech mid-answer cancels it,
// the new turn is answered) and truncation of a reply that already finished generating.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/beta/realtime/ws";
import { MODELS, makeCounter, assert, eq, startServer, stopServer, tlsCertDir } from "./server_helpers.mjs";

// The official client speaks only wss://.
const DIR = tlsCertDir();
const { test, summary } = makeCounter(9);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`, ASR = `${MODELS}/synth/synth-whisper-micro-f16.bin`;
const VAD = `${MODELS}/vad/for-tests-silero-v6.2.0-ggml.bin`;
const KEY = "rt-secret";

// espeak-ng speech → 24 kHz mono pcm16 (what the Realtime API carries).
function speech(name, voice, text) {
  execFileSync("espeak-ng", ["-v", voice, "-w", `${DIR}/${name}.wav`, text]);
  execFileSync("sox", [`${DIR}/${name}.wav`, "-r", "24000", "-c", "1", "-b", "16", "-e", "signed-integer",
    "-t", "raw", `${DIR}/${name}.raw`]);
  return fs.readFileSync(`${DIR}/${name}.raw`);
}

const startTls = () => startServer(["-m", LLM, "--asr-model", ASR, "--vad-model", VAD,
      "--api-key", KEY, "--tls-cert", `${DIR}/cert.pem`, "--tls-key", `${DIR}/key.pem`, "--threads", "2"]);

// Collects every server event; waitFor resolves on the first (new) event matching.
function recorder(rt) {
  const events = [];
  const waiters = [];
  const onEv = (ev) => {
    events.push(ev);
    for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
  };
  rt.on("event", onEv);
  rt.on("error", () => {}); // error events also arrive through "event"; keep the client from throwing
  function waitFor(pred, ms, what) {
    if (typeof pred === "string") { const t = pred; pred = (e) => e.type === t; what = what || t; }
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); reject(new Error(`timeout waiting for ${what}; got ${[...new Set(events.map((e) => e.type))].join(", ")}`)); } }, ms);
    });
  }
  return { events, waitFor, count: (t) => events.filter((e) => e.type === t).length };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Sends pcm in 100 ms chunks at real-time pace, then `tailMs` of silence.
async function stream(rt, pcm, tailMs = 0, stop = () => false) {
  const step = 4800; // bytes: 2400 samples = 100 ms
  const all = Buffer.concat([pcm, Buffer.alloc(Math.round(tailMs * 48))]);
  for (let i = 0; i < all.length && !stop(); i += step) {
    rt.send({ type: "input_audio_buffer.append", audio: all.subarray(i, i + step).toString("base64") });
    await sleep(100);
  }
}

function connect(url, key = KEY) {
  const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1` });
  const rt = new OpenAIRealtimeWS({ model: "synth-smollm2-f16" }, client);
  const rec = recorder(rt);
  const open = new Promise((res, rej) => { rt.socket.on("open", res); rt.socket.on("error", rej); });
  return { rt, rec, open };
}

const en = speech("en", "en-us", "What is the weather like in Paris today?");
const ko = speech("ko", "ko", "오늘 서울의 날씨는 어떤가요?");
const srv = await startTls();
try {
  await test("wss with a wrong API key: an error event names the problem", async () => {
    const { rec } = connect(srv.url, "wrong-key");
    const ev = await rec.waitFor("error", 10000);
    eq(ev.error.code, "invalid_api_key", "code");
  });

  const { rt, rec, open } = connect(srv.url);
  await open;
  await test("session.created on connect", async () => {
    const ev = await rec.waitFor("session.created", 10000);
    assert(ev.session.id && ev.session.audio.input.format.rate === 24000, JSON.stringify(ev.session));
  });

  await test("session.update (GA shape) → session.updated with the settings", async () => {
    rt.send({ type: "session.update", session: {
      type: "realtime", instructions: "Answer briefly.", output_modalities: ["audio"],
      audio: { input: { format: { type: "audio/pcm", rate: 24000 }, transcription: { model: "whisper-1" },
                        turn_detection: { type: "server_vad", threshold: 0.5, silence_duration_ms: 300, prefix_padding_ms: 200 } },
               output: { format: { type: "audio/pcm", rate: 24000 }, voice: "alloy" } },
      max_output_tokens: 16, temperature: 0.7 } });
    const ev = await rec.waitFor("session.updated", 10000);
    eq(ev.session.audio.input.turn_detection.silence_duration_ms, 300, "silence");
    eq(ev.session.instructions, "Answer briefly.", "instructions");
    eq(ev.session.max_output_tokens, 16, "max tokens");
  });

  await test("bad events get error events and the connection stays open", async () => {
    rt.socket.send("{not json");
    eq((await rec.waitFor("error", 5000)).error.code, "invalid_json", "malformed");
    rt.send({ type: "no.such.event" });
    eq((await rec.waitFor("error", 5000)).error.code, "unknown_event", "unknown");
    rt.send({ type: "session.update", event_id: "ev_bad", session: { turn_detection: { type: "server_vad", threshold: 7 } } });
    const e3 = await rec.waitFor("error", 5000);
    assert(e3.error.param === "session.turn_detection" && e3.error.event_id === "ev_bad", JSON.stringify(e3));
    rt.send({ type: "input_audio_buffer.append", audio: "@@@" });
    eq((await rec.waitFor("error", 5000)).error.param, "audio", "bad base64");
    rt.send({ type: "input_audio_buffer.clear" });
    await rec.waitFor("input_audio_buffer.cleared", 5000);
  });

  await test("text item + response.create → text/audio deltas and response.done with usage", async () => {
    rt.send({ type: "conversation.item.create", item: { type: "message", role: "user",
      content: [{ type: "input_text", text: "Say hello." }] } });
    eq((await rec.waitFor("conversation.item.created", 5000)).item.role, "user", "item");
    const done = rec.waitFor("response.done", 60000);
    rt.send({ type: "response.create" });
    const ev = await done;
    assert(ev.response.usage.output_tokens > 0 && ev.response.usage.input_tokens > 0, JSON.stringify(ev.response.usage));
    assert(rec.count("response.output_audio_transcript.delta") > 0, "transcript deltas");
  });

  await test("English speech: VAD events, transcription, spoken answer, response.done", async () => {
    const n0 = rec.events.length;
    const started = rec.waitFor("input_audio_buffer.speech_started", 20000);
    const stopped = rec.waitFor("input_audio_buffer.speech_stopped", 30000);
    const transcript = rec.waitFor("conversation.item.input_audio_transcription.completed", 40000);
    const done = rec.waitFor("response.done", 60000);
    await stream(rt, en, 1200);
    const [s, st, tr, d] = [await started, await stopped, await transcript, await done];
    assert(st.audio_end_ms > s.audio_start_ms, `speech ${s.audio_start_ms}..${st.audio_end_ms}`);
    assert(typeof tr.transcript === "string", "transcript");
    const audio = rec.events.slice(n0).filter((e) => e.type === "response.output_audio.delta");
    assert(audio.length > 0 && Buffer.from(audio[0].delta, "base64").length % 2 === 0, "audio deltas");
    eq(d.response.status, "completed", "status");
    assert(rec.events.slice(n0).some((e) => e.type === "response.output_audio.done"), "audio done");
    console.log(`     speech ${s.audio_start_ms}-${st.audio_end_ms} ms, transcript ${JSON.stringify(tr.transcript.slice(0, 40))}, ${audio.length} audio chunks`);
  });

  await test("Korean speech, then a second utterance mid-answer → barge-in: cancelled, truncated, next turn answered", async () => {
    // A long answer (up to 4096 tokens), so that it is still being made when the second
    // utterance starts however busy the machine is; the barge-in turn's answer is short again.
    rt.send({ type: "session.update", session: { max_output_tokens: 4096 } });
    await rec.waitFor("session.updated", 5000);
    const n0 = rec.events.length;
    const koTranscript = rec.waitFor("conversation.item.input_audio_transcription.completed", 60000);
    const firstAudio = rec.waitFor("response.output_audio.delta", 60000);
    let answering = false;
    firstAudio.then(() => { answering = true; });
    await stream(rt, ko, 0);
    // keep the line open with silence until the answer starts speaking
    for (let i = 0; i < 300 && !answering; i++) {
      rt.send({ type: "input_audio_buffer.append", audio: Buffer.alloc(4800).toString("base64") });
      await sleep(100);
    }
    assert(answering, "the Korean turn got an answer");
    assert(typeof (await koTranscript).transcript === "string", "Korean transcript");
    const cutIn = rec.waitFor("input_audio_buffer.speech_started", 30000);
    cutIn.then(() => rt.send({ type: "session.update", session: { max_output_tokens: 400 } }), () => {});
    await stream(rt, en, 1200);
    const s = await cutIn;
    // the answer in progress when the user started speaking (by event order, not by clock)
    const upTo = rec.events.slice(n0, rec.events.indexOf(s));
    const ended = new Set(upTo.filter((e) => e.type === "response.done").map((e) => e.response.id));
    const live = upTo.filter((e) => e.type === "response.created" && !ended.has(e.response.id)).map((e) => e.response.id);
    eq(live.length, 1, "answers in progress when the user cut in");
    const isDone = (id) => (e) => e.type === "response.done" && e.response.id === id;
    const d = rec.events.find(isDone(live[0])) || await rec.waitFor(isDone(live[0]), 60000, "the cut-in answer's response.done");
    eq(d.response.status, "cancelled", "status after barge-in");
    const isSecond = (e) => e.type === "response.done" && e.response.id !== live[0] && e.response.status === "completed";
    const second = rec.events.slice(n0).find(isSecond) || rec.waitFor(isSecond, 120000, "the barge-in turn's response.done");
    // the client played 0.3 s of the cancelled answer: the server keeps only what was heard
    const d2 = await second;
    const item = d2.response.output[0].id;
    const before = d2.response.output[0].content[0].transcript;
    const truncated = rec.waitFor("conversation.item.truncated", 5000);
    rt.send({ type: "conversation.item.truncate", item_id: item, content_index: 0, audio_end_ms: 300 });
    const t = await truncated;
    eq(t.item_id, item, "truncated item");
    eq(t.audio_end_ms, 300, "audio_end_ms");
    const transcripts = rec.events.slice(n0).filter((e) => e.type === "conversation.item.input_audio_transcription.completed");
    assert(transcripts.length >= 2, "the barge-in utterance was transcribed as its own turn");
    console.log(`     cancelled answer kept ${JSON.stringify((d.response.output[0]?.content[0]?.transcript || "").slice(0, 30))}; ` +
      `next answer ${before.length} chars, truncated at 300 ms`);
  });

  await test("conversation.item.truncate with a bad audio_end_ms is an error event", async () => {
    rt.send({ type: "conversation.item.truncate", item_id: "x", content_index: 0, audio_end_ms: -5 });
    eq((await rec.waitFor("error", 5000)).error.param, "audio_end_ms", "param");
  });
  rt.close();
} finally {
  const code = await stopServer(srv);
  await test("server stops cleanly", async () => eq(code, 0, "exit code"));
}
process.exit(summary());
