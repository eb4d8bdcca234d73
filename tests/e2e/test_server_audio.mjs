// `omni serve` audio routes end to end with the official openai client: speech in every
// format (decoded by sox/flac/opusdec/lame), streaming and disconnects, voices,
// transcriptions/translations on the random-weight Whisper with Silero VAD (identical to
// what `omni transcribe --vad` prints for the same options), input_audio chat parts, and raw
// fetch() for every error.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import * as fs from "node:fs";
import OpenAI, { toFile } from "openai";
import { startServer, stopServer, makeCounter, assert, eq, BIN, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(36);
const KEY = "audio-key";
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const WHISPER = `${MODELS}/synth/synth-whisper-micro-f16.bin`;
const VAD = `${MODELS}/vad/for-tests-silero-v6.2.0-ggml.bin`;
const JFK = `${MODELS}/audio/jfk.wav`;
const TMP = fs.mkdtempSync("/tmp/omni-audio-");
const SENTENCES = "The quick brown fox jumps over the lazy dog. " +
  "Speech should start to flow before the whole text is spoken. " +
  "Every sentence is synthesized on its own. " +
  "This one is the fourth sentence of the test. " +
  "And here is a fifth, a little longer, to give the engine some real work to do. " +
  "Six. Seven sentences now. Eight of them. Nine is nearly there. Ten, and we are done.";

let srv, bare, client;

async function raw(url, path, { method = "POST", body, json, key = KEY, headers = {}, signal } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = "Bearer " + key;
  if (json !== undefined) { h["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  const r = await fetch(url + path, { method, headers: h, body, signal });
  const buf = Buffer.from(await r.arrayBuffer());
  let parsed = null;
  try { parsed = JSON.parse(buf.toString()); } catch {}
  return { status: r.status, headers: r.headers, json: parsed, text: buf.toString(), buf };
}

function isError(res, status, param, pattern) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text.slice(0, 300)}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && e.message.length > 0, "OpenAI error body: " + res.text.slice(0, 300));
  assert("type" in e && "param" in e && "code" in e, "error has type/param/code");
  if (param !== undefined) eq(e.param, param, "param");
  if (pattern) assert(pattern.test(e.message), `message ${JSON.stringify(e.message)} should match ${pattern}`);
}

// Seconds of audio in a file sox can read (after decoding to WAV where needed).
function soxSeconds(file) {
  const out = execFileSync("soxi", ["-D", file], { encoding: "utf8" });
  return parseFloat(out);
}

// Asynchronous, so the event loop keeps running: a blocked loop would not notice the server
// closing an idle keep-alive socket and would send the next request into it.
const cli = async (args) => (await promisify(execFile)(BIN, ["transcribe", "-m", WHISPER, "--vad", VAD, ...args],
  { encoding: "utf8" })).stdout;
const form = (fields, file = JFK, name = "jfk.wav") => {
  const f = new FormData();
  if (file !== null) f.append("file", new Blob([fs.readFileSync(file)]), name);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
};

try {
  srv = await startServer(["-m", LLM, "--ctx", "2048", "--parallel", "2", "--api-key", KEY, "--asr-model", WHISPER, "--vad-model", VAD]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: KEY, maxRetries: 0, timeout: 120000 });

  await test("start-up line says speech recognition is on", async () => {
    assert(/speech recognition on/.test(srv.startLine), srv.startLine);
  });

  await test("GET /v1/audio/voices lists the presets and languages", async () => {
    const r = await raw(srv.url, "/v1/audio/voices", { method: "GET" });
    eq(r.status, 200, "status");
    const ids = r.json.voices.map((v) => v.id);
    for (const v of ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"])
      assert(ids.includes(v), "voice " + v);
    assert(r.json.languages.some((l) => l.code === "ko") && r.json.languages.some((l) => l.code.startsWith("en")), "ko and en");
  });

  // Each format: the right Content-Type, the right magic bytes, and the matching Debian tool decodes it.
  const text = "Hello there. This is omni speaking.";
  const formats = {
    wav: { mime: "audio/wav", magic: (b) => b.subarray(0, 4).toString() === "RIFF" && b.subarray(8, 12).toString() === "WAVE",
      // A streamed WAV's header cannot know the length (0xFFFFFFFF, like OpenAI's): sox reads to the end.
      decode: (f) => { execFileSync("sox", ["-V1", f, f + ".wav"]); return soxSeconds(f + ".wav"); } },
    flac: { mime: "audio/flac", magic: (b) => b.subarray(0, 4).toString() === "fLaC",
      decode: (f) => { execFileSync("flac", ["-d", "-s", "-f", "-o", f + ".wav", f], { stdio: "pipe" }); return soxSeconds(f + ".wav"); } },
    opus: { mime: "audio/ogg", magic: (b) => b.subarray(0, 4).toString() === "OggS" && b.includes(Buffer.from("OpusHead")),
      decode: (f) => { execFileSync("opusdec", ["--quiet", f, f + ".wav"]); return soxSeconds(f + ".wav"); } },
    mp3: { mime: "audio/mpeg", magic: (b) => b.subarray(0, 3).toString() === "ID3" || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0),
      decode: (f) => { execFileSync("lame", ["--quiet", "--decode", f, f + ".wav"]); return soxSeconds(f + ".wav"); } },
    pcm: { mime: "audio/pcm", magic: (b) => b.length % 2 === 0 && b.readInt16LE(4000) !== undefined,
      decode: (f) => {
        execFileSync("sox", ["-t", "raw", "-r", "24000", "-e", "signed", "-b", "16", "-c", "1", f, f + ".wav"]);
        return soxSeconds(f + ".wav");
      } },
  };
  for (const [fmt, want] of Object.entries(formats)) {
    await test(`speech.create ${fmt}: content type, magic bytes, decodes to plausible length`, async () => {
      const r = await client.audio.speech.create({ model: "tts-1", voice: "nova", input: text, response_format: fmt });
      const b = Buffer.from(await r.arrayBuffer());
      assert(r.headers.get("content-type").startsWith(want.mime.split("/")[0]), "content type " + r.headers.get("content-type"));
      if (fmt !== "pcm") assert(r.headers.get("content-type") === want.mime || fmt === "wav", `mime ${r.headers.get("content-type")} for ${fmt}`);
      assert(b.length > 1000 && want.magic(b), `${fmt}: ${b.length} bytes, head ${b.subarray(0, 12).toString("hex")}`);
      const f = `${TMP}/speech.${fmt}`;
      fs.writeFileSync(f, b);
      const secs = want.decode(f);
      assert(secs > 1.0 && secs < 8, `${fmt} decodes to ${secs} s`);
    });
  }

  await test("speech.create without response_format answers mp3 (OpenAI's default)", async () => {
    const r = await client.audio.speech.create({ model: "tts-1", voice: "alloy", input: "Default format." });
    eq(r.headers.get("content-type"), "audio/mpeg", "content type");
    const b = Buffer.from(await r.arrayBuffer());
    assert(formats.mp3.magic(b), "mp3 bytes");
  });

  await test("speech streams: the first chunk arrives well before the response ends", async () => {
    const r = await client.audio.speech.create({ model: "tts-1", voice: "echo", input: `${SENTENCES} ${SENTENCES} ${SENTENCES}`, response_format: "pcm" });
    const t0 = Date.now();
    eq(r.headers.get("transfer-encoding"), "chunked", "chunked transfer");
    let first = -1, chunks = 0, bytes = 0;
    for await (const ch of r.body) {
      if (first < 0) first = Date.now() - t0;
      chunks++;
      bytes += ch.length;
    }
    const total = Date.now() - t0;
    assert(chunks >= 3, `${chunks} chunks`);
    assert(bytes > 24000 * 2 * 5, `${bytes} bytes of speech for thirty sentences`);
    assert(first >= 0 && first < total / 2, `first chunk after ${first} ms, whole response ${total} ms`);
  });

  await test("a client that disconnects stops synthesis (the server goes idle)", async () => {
    const cpu = () => {
      const f = fs.readFileSync(`/proc/${srv.proc.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return (+f[11] + +f[12]) / 100; // utime + stime, in seconds (USER_HZ 100)
    };
    const ac = new AbortController();
    const long = (SENTENCES + " ").repeat(8).slice(0, 4000);
    const r = await fetch(srv.url + "/v1/audio/speech", { method: "POST", signal: ac.signal,
      headers: { Authorization: "Bearer " + KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ input: long, voice: "alloy", response_format: "wav" }) });
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();
    await new Promise((res) => setTimeout(res, 700));
    const c0 = cpu();
    await new Promise((res) => setTimeout(res, 1500));
    const used = cpu() - c0;
    assert(used < 0.5, `server used ${used.toFixed(2)} s CPU in 1.5 s after the client left`);
    const h = await raw(srv.url, "/health", { method: "GET", key: null });
    eq(h.status, 200, "still healthy");
  });

  // Speech errors: each names the field and the allowed values.
  const speechErr = async (body, param, pattern) =>
    isError(await raw(srv.url, "/v1/audio/speech", { json: body }), 400, param, pattern);
  await test("speech: unknown voice → 400 naming the allowed voices", () =>
    speechErr({ model: "tts-1", input: "Hi", voice: "bob" }, "voice", /alloy.*shimmer/));
  await test("speech: aac → 400 naming the allowed formats", () =>
    speechErr({ model: "tts-1", input: "Hi", voice: "alloy", response_format: "aac" }, "response_format", /wav, pcm, flac, opus, mp3/));
  await test("speech: 4097 characters → 400 (limit 4096)", () =>
    speechErr({ model: "tts-1", input: "a".repeat(4097), voice: "alloy" }, "input", /4096/));
  await test("speech: exactly 4096 characters is accepted", async () => {
    const r = await fetch(srv.url + "/v1/audio/speech", { method: "POST",
      headers: { Authorization: "Bearer " + KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ input: "한".repeat(4096), voice: "alloy", response_format: "pcm" }) });
    eq(r.status, 200, "status");
    await r.body.cancel();
  });
  await test("speech: speed 5 and 0.1 → 400 naming the range", async () => {
    await speechErr({ input: "Hi", voice: "alloy", speed: 5 }, "speed", /0\.25.*4/);
    await speechErr({ input: "Hi", voice: "alloy", speed: 0.1 }, "speed", /0\.25.*4/);
  });
  await test("speech: missing or empty input, non-string voice, bad JSON → 400", async () => {
    await speechErr({ voice: "alloy" }, "input");
    await speechErr({ input: "   ", voice: "alloy" }, "input");
    await speechErr({ input: "Hi", voice: 3 }, "voice");
    isError(await raw(srv.url, "/v1/audio/speech", { body: "{nope", headers: { "Content-Type": "application/json" } }), 400);
  });
  await test("speech: GET → 405, no key → 401", async () => {
    eq((await raw(srv.url, "/v1/audio/speech", { method: "GET" })).status, 405, "GET");
    eq((await raw(srv.url, "/v1/audio/speech", { json: { input: "Hi" }, key: null })).status, 401, "no key");
  });

  // Transcriptions with the default options (temperature 0, beam 5, language detected).
  let jfkText;
  await test("transcriptions.create (json) = `omni transcribe --lang auto -f json`", async () => {
    const r = await client.audio.transcriptions.create({ file: fs.createReadStream(JFK), model: "whisper-1" });
    const want = JSON.parse(await cli([JFK, "--lang", "auto", "-f", "json"])).text;
    assert(typeof r.text === "string" && r.text.length > 0, "text");
    eq(r.text, want, "same text as the CLI");
    jfkText = r.text;
  });

  // The rest at temperature 1: one sampling pass (the sampler is seeded per file), so fast and still deterministic.
  const T1 = ["--lang", "en", "--temperature", "1"];
  await test("response_format text = `omni transcribe -f text`", async () => {
    const r = await client.audio.transcriptions.create({ file: fs.createReadStream(JFK), model: "whisper-1",
      language: "en", temperature: 1, response_format: "text" });
    assert(typeof r === "string", "a plain string");
    eq(r, await cli([JFK, ...T1, "-f", "text"]), "same as CLI");
  });
  for (const fmt of ["srt", "vtt"]) {
    await test(`response_format ${fmt} = \`omni transcribe -f ${fmt}\``, async () => {
      const r = await client.audio.transcriptions.create({ file: fs.createReadStream(JFK), model: "whisper-1",
        language: "en", temperature: 1, response_format: fmt });
      const want = await cli([JFK, ...T1, "-f", fmt]);
      eq(r, want, fmt);
      assert(fmt === "srt" ? /^1\n00:00:\d\d,\d{3} --> / .test(r) : /^WEBVTT\n\n00:00:\d\d\.\d{3} --> /.test(r), "cue shape");
    });
  }
  await test("verbose_json: task, language, duration, segments and words", async () => {
    const r = await client.audio.transcriptions.create({ file: fs.createReadStream(JFK), model: "whisper-1",
      language: "en", temperature: 1, response_format: "verbose_json", timestamp_granularities: ["word", "segment"] });
    const want = JSON.parse(await cli([JFK, ...T1, "-f", "verbose_json"]));
    eq(r.task, "transcribe", "task");
    eq(r.language, "en", "language");
    assert(Math.abs(r.duration - 11.0) < 0.1, "duration " + r.duration);
    eq(r.text, want.text, "text as the CLI");
    eq(r.segments.length, want.segments.length, "segment count");
    for (let i = 0; i < r.segments.length; i++) {
      const s = r.segments[i], w = want.segments[i];
      eq([s.id, s.start, s.end, s.text, s.tokens], [w.id, w.start, w.end, w.text, w.tokens], "segment " + i);
      assert(typeof s.avg_logprob === "number" && typeof s.no_speech_prob === "number", "segment numbers");
    }
    assert(Array.isArray(r.words) && r.words.length > 3, "words");
    for (const w of r.words) assert(typeof w.word === "string" && w.start <= w.end && w.end <= 30.01, JSON.stringify(w));
  });

  await test("translations.create answers text like `omni transcribe --translate`", async () => {
    const r = await client.audio.translations.create({ file: fs.createReadStream(JFK), model: "whisper-1", temperature: 1 });
    const want = JSON.parse(await cli([JFK, "--translate", "--lang", "auto", "--temperature", "1", "-f", "json"])).text;
    eq(r.text, want, "same as CLI");
  });

  await test("round trip: speech.create wav → transcriptions.create answers text", async () => {
    const speech = await client.audio.speech.create({ model: "tts-1", voice: "onyx", input: "Ask not what your country can do for you.", response_format: "wav" });
    const wav = Buffer.from(await speech.arrayBuffer());
    const r = await client.audio.transcriptions.create({ file: await toFile(wav, "speech.wav"), model: "whisper-1", temperature: 1 });
    assert(typeof r.text === "string", "text: " + JSON.stringify(r));
  });

  // input_audio in chat: the model gets the transcript as text, exactly as if it had been typed.
  const ask = (parts) => ({ messages: [{ role: "user", content: parts }], max_tokens: 8, temperature: 0 });
  await test("chat input_audio (base64 WAV) reaches the model as its transcript", async () => {
    const b64 = fs.readFileSync(JFK).toString("base64");
    const heard = await client.chat.completions.create(ask([{ type: "text", text: "Listen:" },
      { type: "input_audio", input_audio: { data: b64, format: "wav" } }]));
    const typed = await client.chat.completions.create(ask([{ type: "text", text: "Listen: " + jfkText }]));
    const plain = await client.chat.completions.create(ask([{ type: "text", text: "Listen:" }]));
    assert(heard.usage.prompt_tokens > plain.usage.prompt_tokens + 20, `prompt grows: ${plain.usage.prompt_tokens} → ${heard.usage.prompt_tokens}`);
    eq(heard.usage.prompt_tokens, typed.usage.prompt_tokens, "same prompt as the typed transcript");
    eq(heard.choices[0].message.content, typed.choices[0].message.content, "same greedy reply as the typed transcript");
  });

  const chatErr = async (part, param, pattern) => isError(await raw(srv.url, "/v1/chat/completions",
    { json: { messages: [{ role: "user", content: [part] }], max_tokens: 2 } }), 400, param, pattern);
  await test("chat input_audio: bad base64, non-audio data, wrong format → 400 naming the part", async () => {
    await chatErr({ type: "input_audio", input_audio: { data: "%%%not base64%%%", format: "wav" } }, "messages[0].content[0].input_audio.data");
    await chatErr({ type: "input_audio", input_audio: { data: Buffer.from("hello, not audio at all").toString("base64"), format: "wav" } },
      "messages[0].content[0].input_audio.data");
    await chatErr({ type: "input_audio", input_audio: { data: "AAAA", format: "aac" } }, "messages[0].content[0].input_audio.format", /wav.*mp3/);
    await chatErr({ type: "input_audio" }, "messages[0].content[0].input_audio.data");
  });

  // Transcription errors, each with raw fetch.
  const post = (f, path = "/v1/audio/transcriptions") => raw(srv.url, path, { body: f });
  await test("transcriptions: a non-audio upload → 400 naming file", async () => {
    const f = new FormData();
    f.append("file", new Blob([Buffer.from("this is a text file, not audio\n".repeat(50))]), "notes.txt");
    f.append("model", "whisper-1");
    isError(await post(f), 400, "file", /audio|not/i);
  });
  await test("transcriptions: missing file field → 400 naming file", async () =>
    isError(await post(form({ model: "whisper-1" }, null)), 400, "file", /file/));
  await test("transcriptions: bad response_format, temperature, language, granularity → 400 naming each", async () => {
    isError(await post(form({ model: "whisper-1", response_format: "mp3" })), 400, "response_format", /json, text, srt, verbose_json, vtt/);
    isError(await post(form({ model: "whisper-1", temperature: "2" })), 400, "temperature");
    isError(await post(form({ model: "whisper-1", temperature: "hot" })), 400, "temperature");
    isError(await post(form({ model: "whisper-1", language: "klingon" })), 400, "language");
    isError(await post(form({ model: "whisper-1", response_format: "verbose_json", "timestamp_granularities[]": "letter" })),
      400, "timestamp_granularities[]");
    isError(await post(form({ model: "whisper-1", "timestamp_granularities[]": "word" })), 400, "timestamp_granularities[]", /verbose_json/);
  });
  await test("transcriptions: JSON instead of multipart → 400", async () =>
    isError(await raw(srv.url, "/v1/audio/transcriptions", { json: { file: "x" } }), 400, null, /multipart/));
  await test("transcriptions: over --max-body (8 MiB) → 413", async () => {
    const big = `${TMP}/big.wav`;
    fs.writeFileSync(big, Buffer.alloc(9 << 20));
    isError(await post(form({ model: "whisper-1" }, big, "big.wav")), 413, null, /limit/);
    /* the upload is refused unread, so the server closes the socket: the reply must say so,
     * or a keep-alive client sends its next request on a dying connection */
    const r = await raw(srv.url, "/v1/audio/transcriptions", { body: fs.readFileSync(big), headers: { "Content-Type": "multipart/form-data; boundary=x" } });
    eq(r.status, 413, "raw 413");
    eq(r.headers.get("connection"), "close", "Connection header of a 413");
    const h = await raw(srv.url, "/health", { method: "GET", key: null });
    eq(h.status, 200, "healthy after 413");
  });
  await test("transcriptions: GET → 405, no key → 401", async () => {
    eq((await raw(srv.url, "/v1/audio/transcriptions", { method: "GET" })).status, 405, "GET");
    eq((await raw(srv.url, "/v1/audio/translations", { body: form({}), key: null })).status, 401, "no key");
  });

  // A server without --asr-model says so, for the audio routes and for input_audio in chat.
  bare = await startServer(["-m", LLM, "--ctx", "512", "--max-body", "65536"]);
  await test("no --asr-model: transcriptions and translations → 400 saying so", async () => {
    for (const path of ["/v1/audio/transcriptions", "/v1/audio/translations"]) {
      const r = await raw(bare.url, path, { body: form({ model: "whisper-1" }, `${TMP}/speech.wav`), key: null });
      isError(r, 400, undefined, /no speech recognition model.*--asr-model/);
    }
  });
  await test("no --asr-model: chat input_audio → 400 saying so", async () => {
    const r = await raw(bare.url, "/v1/chat/completions", { key: null, json: { messages: [{ role: "user", content: [
      { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } }] }] } });
    isError(r, 400, "messages[0].content[0]", /no speech model.*--asr-model/);
  });
  await test("no --asr-model: speech still works; its body limit still applies (413)", async () => {
    const r = await raw(bare.url, "/v1/audio/speech", { key: null, json: { input: "Still speaking.", voice: "alloy", response_format: "wav" } });
    eq(r.status, 200, "speech status");
    assert(r.buf.subarray(0, 4).toString() === "RIFF", "wav");
    isError(await raw(bare.url, "/v1/audio/speech", { key: null, json: { input: "x".repeat(70000) } }), 413);
  });
  await test("serve --vad-model without --asr-model is refused", async () => {
    let msg = "";
    try { execFileSync(BIN, ["serve", "-m", LLM, "--vad-model", VAD], { stdio: "pipe" }); }
    catch (e) { msg = String(e.stderr); }
    assert(/--vad-model needs --asr-model/.test(msg), "stderr: " + msg);
  });
} catch (e) {
  console.log("FAIL setup: " + (e && e.stack ? e.stack : e));
  await test("setup", () => { throw e; });
} finally {
  if (srv) await stopServer(srv);
  if (bare) await stopServer(bare);
  fs.rmSync(TMP, { recursive: true, force: true });
}
process.exit(summary());
