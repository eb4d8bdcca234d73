// `omni serve --tts-model --tts-mmproj`: POST /v1/audio/speech and GET /v1/audio/voices with
// the neural voice (a random-weight Qwen3-TTS pair from `omni synth --shape tiny-qwen3tts`):
// the presets and the model's built-in speakers speak with it (whole 1920-sample frames of
// 24 kHz audio, as the codec decodes them; espeak-ng's lengths are not frame-aligned), a
// language the model lacks falls back to espeak-ng, streaming sends audio before the last
// sentence is spoken, and bad requests get OpenAI's 400s; `instructions` shape the neural
// voice (a CustomVoice-like model takes them: other audio, header X-Omni-Instructions:
// applied) and are ignored where the voice cannot take them (espeak-ng: "ignored"). Plus
// the flag's own errors.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { startServer, stopServer, makeCounter, assert, eq, BIN, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(10);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const TMP = fs.mkdtempSync("/tmp/omni-neural-voice-");
const TALKER = `${TMP}/talker.gguf`, MMPROJ = `${TMP}/mmproj.gguf`;
let srv;

async function speech(body) {
  const r = await fetch(srv.url + "/v1/audio/speech", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, buf: Buffer.from(await r.arrayBuffer()), instructions: r.headers.get("x-omni-instructions") };
}

try {
  execFileSync(BIN, ["synth", "--shape", "tiny-qwen3tts", "--type", "f32", "-o", TALKER, "--mmproj", MMPROJ], { stdio: "pipe" });
  srv = await startServer(["-m", LLM, "--ctx", "512", "--tts-model", TALKER, "--tts-mmproj", MMPROJ]);

  await test("GET /v1/audio/voices: the presets and the built-in speakers on qwen3-tts", async () => {
    const r = await fetch(srv.url + "/v1/audio/voices");
    eq(r.status, 200, "status");
    const v = (await r.json()).voices;
    const b = Object.fromEntries(v.map((x) => [x.id, x.backend]));
    for (const id of ["alloy", "nova", "sage", "sohee", "ryan"]) eq(b[id], "qwen3-tts", "backend of " + id);
  });

  for (const voice of ["alloy", "sohee"]) {
    await test(`POST /v1/audio/speech voice ${voice}: neural frames of 24 kHz pcm`, async () => {
      const r = await speech({ model: "tts-1", input: "Hello there. 안녕하세요.", voice, response_format: "pcm" });
      eq(r.status, 200, "status");
      const n = r.buf.length / 2;
      assert(n >= 1920 && n % 1920 === 0, `${n} samples is not whole 1920-sample frames`);
    });
  }

  await test("a language the model lacks falls back to espeak-ng", async () => {
    const r = await speech({ model: "tts-1", input: "Καλημέρα σας.", voice: "alloy", response_format: "pcm" });
    eq(r.status, 200, "status");
    assert(r.buf.length > 1000, "audio");
  });

  await test("wav streams: the audio comes in pieces as it is decoded", async () => {
    const r = await fetch(srv.url + "/v1/audio/speech", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tts-1", input: "One sentence here. Another one follows. And a third to finish.",
        voice: "nova", response_format: "wav" }) });
    eq(r.status, 200, "status");
    const reader = r.body.getReader();
    let reads = 0, total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > 44) reads++;  /* reads that bring audio */
      total += value.length;
    }
    assert(total > 44 + 2 * 1920, "audio after the header");
    assert(reads >= 2, `the audio came in ${reads} piece(s), not streamed`);
  });

  await test("instructions: the neural voice takes them (other audio, header 'applied')", async () => {
    const body = { model: "gpt-4o-mini-tts", input: "Hello there, how are you?", voice: "ryan", response_format: "pcm" };
    const plain = await speech(body), again = await speech(body);
    const styled = await speech({ ...body, instructions: "Speak slowly, in a warm and calm voice." });
    eq(plain.status, 200, "status"), eq(styled.status, 200, "status with instructions");
    eq(plain.instructions, null, "no header without instructions");
    eq(styled.instructions, "applied", "header");
    assert(plain.buf.equals(again.buf), "greedy synthesis should repeat itself");
    assert(!plain.buf.equals(styled.buf), "the instruction should change the audio");
    const empty = await speech({ ...body, instructions: "" });
    assert(empty.buf.equals(plain.buf) && empty.instructions === null, "an empty instruction is none");
  });

  await test("instructions where the voice cannot take them: ignored, and bad ones are 400s", async () => {
    const body = { model: "tts-1", input: "Καλημέρα σας.", voice: "alloy", response_format: "pcm" };
    const styled = await speech({ ...body, instructions: "Whisper it." });
    eq(styled.status, 200, "status");
    eq(styled.instructions, "ignored", "header (espeak-ng speaks Greek)");
    assert(styled.buf.length > 1000, "audio");
    const bad = await speech({ ...body, instructions: 7 });
    eq(bad.status, 400, "a number");
    assert(/instructions/.test(bad.buf.toString()), bad.buf.toString());
  });

  await test("unknown voice: 400", async () => {
    const r = await speech({ model: "tts-1", input: "Hi.", voice: "no-such-voice" });
    eq(r.status, 400, "status");
    assert(/voice/.test(r.buf.toString()), r.buf.toString());
  });

  await test("--tts-model without --tts-mmproj is refused", async () => {
    const p = spawnSync(BIN, ["serve", "-m", LLM, "--tts-model", TALKER], { encoding: "utf8", timeout: 60000 });
    assert(p.status !== 0 && /go together/.test(p.stderr), p.stderr);
  });

  await test("a talker that is not one is refused", async () => {
    const p = spawnSync(BIN, ["serve", "-m", LLM, "--tts-model", LLM, "--tts-mmproj", MMPROJ], { encoding: "utf8", timeout: 60000 });
    assert(p.status !== 0 && /qwen3tts|Qwen3-TTS/.test(p.stderr), p.stderr);
  });
} catch (e) {
  console.log("FAIL setup: " + (e && e.stack ? e.stack : e));
} finally {
  if (srv) await stopServer(srv);
  fs.rmSync(TMP, { recursive: true, force: true });
}
summary();
