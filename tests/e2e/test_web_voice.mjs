// Voice mode of the chat page in headless Chromium with a fake microphone playing an
// espeak-ng WAV: click the mic, see both transcripts appear and the answer's audio
// arrive (counted by the page), then the looping question cut in and the page truncate
// the answer at what was played; the spoken turns are stored in the conversation shown and
// appear in the chat when voice mode ends. Screenshot under build/screenshots.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, shot, turns, idle } from "./web_helpers.mjs";

const { test, summary } = makeCounter(6);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-voice-"));
let srv, browser;
try {
  // Chromium loops the file: speech, then enough silence to end the turn.
  execFileSync("espeak-ng", ["-v", "en-us", "-w", `${dir}/q.wav`, "Hello there, what time is it in London?"]);
  execFileSync("sox", [`${dir}/q.wav`, "-r", "48000", "-c", "1", "-b", "16", `${dir}/mic.wav`, "pad", "0.5", "3"]);
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`,
    "--asr-model", `${MODELS}/synth/synth-whisper-micro-f16.bin`, "--vad-model", `${MODELS}/vad/for-tests-silero-v6.2.0-ggml.bin`]);
  browser = await launch(["--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${dir}/mic.wav`]);
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/");
  await ready(page);

  await test("the mic button starts voice mode and connects", async () => {
    await page.click("#mic");
    await page.waitForFunction(() => document.getElementById("voice-panel").dataset.state !== "starting", null, { timeout: 10000 });
    const st = await page.$eval("#voice-panel", (p) => p.dataset.state);
    assert(!st.startsWith("error") && st !== "disconnected", "state " + st);
  });
  await test("user transcript, assistant transcript and audio chunks arrive", async () => {
    await page.waitForFunction(() => {
      const p = document.getElementById("voice-panel").dataset;
      return +p.userTranscripts > 0 && p.assistantText && +p.audioChunks > 0 && +p.responses > 0;
    }, null, { timeout: 45000 });
    const d = await page.$eval("#voice-panel", (p) => ({ ...p.dataset, user: p.querySelector(".voice-line.user")?.textContent,
      bot: p.querySelector(".voice-line.assistant")?.textContent }));
    assert(d.user !== undefined && d.bot && d.bot.length > 0, JSON.stringify(d));
    console.log(`     ${d.audioChunks} audio chunks, ${d.responses} responses, state ${d.state}`);
  });
  await test("speaking over the answer: playback stops and conversation.item.truncate is accepted", async () => {
    // the fake mic loops: the question comes again while the (long, random-weight) answer plays
    await page.waitForFunction(() => +document.getElementById("voice-panel").dataset.truncated > 0, null,
      { timeout: 45000 });
    const d = await page.$eval("#voice-panel", (p) => ({ ...p.dataset,
      errors: [...p.querySelectorAll(".voice-line.error")].map((e) => e.textContent) }));
    assert(+d.truncates >= +d.truncated && d.errors.length === 0, JSON.stringify(d));
  });
  await shot(page, "voice");
  await test("clicking the mic again stops voice mode; no page errors", async () => {
    await page.click("#mic");
    assert((await page.$eval("#voice-panel", (p) => p.dataset.state)) === "off", "state off");
    assert(errors.length === 0, errors.join("; "));
  });
  await test("the spoken turns are in the conversation: stored on the server, shown in the chat", async () => {
    await page.waitForFunction(() => +document.body.dataset.voiceTurns > 0 && document.querySelectorAll(".msg.assistant").length > 0,
      null, { timeout: 20000 });
    const id = new URL(page.url()).pathname.slice(3);
    const tree = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    const roles = tree.path.map((m) => tree.messages.find((x) => x.id === m).role);
    assert(roles.length >= 2 && roles[0] === "user" && roles[1] === "assistant", JSON.stringify(roles));
    const bot = tree.messages.find((x) => x.id === tree.path[1]).content;
    assert(bot.length > 0, "the answer's transcript stored");
  });
  await test("an audio file attached is transcribed (/v1/audio/transcriptions) and sent with the question", async () => {
    const sent = [];
    await page.route("**/v1/chat/completions", (route) => {
      const body = JSON.parse(route.request().postData());
      sent.push(body);
      body.max_tokens = 8;
      route.continue({ postData: JSON.stringify(body) });
    });
    const tr = page.waitForResponse((r) => r.url().endsWith("/v1/audio/transcriptions"));
    await page.setInputFiles("#file", `${dir}/q.wav`);
    eq((await tr).status(), 200, "transcribed");
    await page.waitForSelector("#attachments .pending[data-kind=audio][data-ready='1']");
    assert(await page.locator("#attachments .error-text").count() === 0, "no transcription error");
    const n = await turns(page);
    await page.fill("#input", "What does the recording say?");
    await page.press("#input", "Enter");
    await idle(page, n);
    const q = sent.at(-1).messages.at(-1).content;
    assert(q.startsWith("What does the recording say?") && q.includes("[q.wav]"), q);
  });
} catch (e) {
  // the speech tools, the server, Chromium or the page failing is a failing test, not a quiet exit
  await test("setup", async () => { throw e; });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(summary());
