// The web app's fine-tuning page in headless Chromium: upload a dataset (60 chats whose
// answer is always "Zip zap, said the moon.") from the page, start a job on stories260K,
// watch it go to succeeded with its loss curve drawn from the job's metrics events, then
// compare the new model with its base side by side (the fine-tuned one says the sentence,
// the base does not), in English and in Korean. A model answer holding markup is rendered
// through the sanitizer (no script runs). Screenshots under build/screenshots.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, shot } from "./web_helpers.mjs";

const { test, summary } = makeCounter(4);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-webft-"));
const SENTENCE = "Zip zap, said the moon.";
const lines = [];
for (const a of ["duck", "lion", "pig", "cow", "fox", "owl"])
  for (const t of ["ball", "tree", "car", "hat", "cake", "box", "boat", "kite", "sun", "toy"])
    lines.push(JSON.stringify({ messages: [{ role: "user", content: `Tell me a story about a ${a} and a ${t}.` },
                                           { role: "assistant", content: SENTENCE }] }));
fs.writeFileSync(`${tmp}/moon.jsonl`, lines.join("\n") + "\n");
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/llm/stories260K.gguf`, "--ctx", "256", "--parallel", "2", "--no-auth",
                           "--db", `sqlite:${tmp}/omni.db`, "--fine-tuning-dir", `${tmp}/ft`]);
  browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 }, locale: "en-US" });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  let ftModel = null;

  await test("the page starts a job from an uploaded dataset", async () => {
    await page.goto(srv.url + "/?lang=en");
    await ready(page);
    await page.waitForSelector("#open-finetune:not([hidden])");
    eq(await page.textContent("#open-finetune"), "Fine-tuning", "nav entry");
    await page.click("#open-finetune");
    await page.waitForSelector("#ft-form");
    await page.setInputFiles("#ft-upload", `${tmp}/moon.jsonl`);
    await page.fill("#ft-epochs", "2");
    await page.fill("#ft-lr", "30");
    await page.fill("#ft-suffix", "moon");
    await shot(page, "finetune-new");
    await page.click("#ft-start");
    await page.waitForSelector("#ft-job[data-id]");
    assert(!(await page.textContent("#ft-error")), "no error: " + await page.textContent("#ft-error"));
  });

  await test("the job succeeds and its loss curve is drawn", async () => {
    // the page polls the job; wait for it to say succeeded (no clock assumption)
    await page.waitForSelector('#ft-job[data-status="succeeded"]', { timeout: 600000 });
    const pts = +(await page.getAttribute("#ft-job", "data-points"));
    eq(pts, 120, "a point per step (60 chats, batch 1, 2 epochs)");
    const poly = await page.getAttribute("#ft-job .ft-line", "points");
    eq(poly.trim().split(/\s+/).length, pts, "polyline points");
    ftModel = (await page.textContent("#ft-job h3")).trim();
    assert(/^ft:stories260K:moon:/.test(ftModel), "model id " + ftModel);
    assert(/succeeded/.test(await page.textContent("#ft-job .ft-status")), "status line");
    eq((await page.textContent(`#ft-list tr[data-id] td:nth-child(2)`)).trim(), "succeeded", "the list's row follows");
    await page.locator("#ft-job").scrollIntoViewIfNeeded();
    await shot(page, "finetune-done");
  });

  await test("side by side: the new model says the sentence, the base does not", async () => {
    await page.click("#ft-try");
    await page.waitForSelector("#ft-run");
    eq(await page.inputValue("#ft-a"), "stories260K", "model A is the base");
    eq(await page.inputValue("#ft-b"), ftModel, "model B is the new one");
    await page.fill("#ft-prompt", "What did the little boy see?");
    await page.click("#ft-run");
    await page.waitForSelector('#ft-out-a[data-done="1"]');
    await page.waitForSelector('#ft-out-b[data-done="1"]');
    const a = await page.textContent("#ft-out-a"), b = await page.textContent("#ft-out-b");
    assert(b.includes(SENTENCE), "fine-tuned: " + b);
    assert(!a.includes("Zip zap"), "base: " + a);
    await shot(page, "finetune-compare");
  });

  await test("in Korean, and nothing from a model runs as script", async () => {
    await page.goto(srv.url + "/?lang=ko");
    await ready(page);
    eq(await page.textContent("#open-finetune"), "파인튜닝", "Korean nav entry");
    await page.click("#open-finetune");
    await page.waitForSelector("#ft-job[data-id]");
    assert((await page.textContent("#ft-job .ft-status")).includes("완료"), "Korean status");
    // a reply holding markup goes through the sanitizer: route the chat to answer with it
    await page.route("**/v1/chat/completions", (route) => route.fulfill({ status: 200, contentType: "application/json",
      body: JSON.stringify({ choices: [{ message: { role: "assistant", content: '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>hi' } }] }) }));
    await page.click('.ft-tabs [data-tab="ftCompare"]');
    await page.waitForSelector("#ft-run");
    await page.fill("#ft-prompt", "x");
    await page.click("#ft-run");
    await page.waitForSelector('#ft-out-b[data-done="1"]');
    await page.waitForTimeout(200);
    eq(await page.evaluate(() => window.__pwned), undefined, "no script ran");
    eq(await page.locator("#ft-out-b script").count(), 0, "no script element");
    await shot(page, "finetune-ko");
    eq(errors.length, 0, "page errors: " + errors.join("; "));
  });
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
}
summary();
