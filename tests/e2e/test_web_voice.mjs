// Voice mode of the chat page in headless Chromium with a fake microphone playing an
// espeak-ng WAV: click the mic, see both transcripts appear and the answer's audio
// arrive (counted by the page), then the looping question cut in and the page truncate
// the answer at what was played. Screenshot in /tmp/omni-web-voice.png.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { startServer, stopServer, makeCounter, assert, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(4);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-voice-"));
let srv, browser;
try {
  // Chromium loops the file: speech, then enough silence to end the turn.
  execFileSync("espeak-ng", ["-v", "en-us", "-w", `${dir}/q.wav`, "Hello there, what time is it in London?"]);
  execFileSync("sox", [`${dir}/q.wav`, "-r", "48000", "-c", "1", "-b", "16", `${dir}/mic.wav`, "pad", "0.5", "3"]);
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`,
    "--asr-model", `${MODELS}/synth/synth-whisper-micro-f16.bin`, "--vad-model", `${MODELS}/vad/for-tests-silero-v6.2.0-ggml.bin`]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${dir}/mic.wav`],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/");
  await page.waitForFunction(() => document.getElementById("model-name").textContent.length > 0, null, { timeout: 10000 });

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
  await page.screenshot({ path: "/tmp/omni-web-voice.png" });
  await test("clicking the mic again stops voice mode; no page errors", async () => {
    await page.click("#mic");
    assert((await page.$eval("#voice-panel", (p) => p.dataset.state)) === "off", "state off");
    assert(errors.length === 0, errors.join("; "));
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
