// The web app's moderation page (web/src/moderation.js) in Chromium: a message blocked by
// the tier's policy is refused in the chat with the policy's plain-words reason; the admin's
// Moderation tab lists it (who, API, stage, rule, action, the text as text: a script in it
// does not run), pages to older items, and sets the log's retention; in Korean the page
// speaks Korean. Screenshots under build/screenshots.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, ask, shapeChat, shot } from "./web_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(4);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-webmod-"));
fs.writeFileSync(`${tmp}/tiers.json`, JSON.stringify({ default: "free", tiers: { free: {} } }));
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--ctx", "2048",
    "--db", `sqlite:${tmp}/omni.db`, "--tiers", `${tmp}/tiers.json`]);
  browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 }, locale: "en-US" });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => d.accept());
  await shapeChat(page, { max_tokens: 6, temperature: 0 });
  const api = async (method, p, body) => page.evaluate(async ([method, p, body]) => {
    const r = await fetch(p, { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  }, [method, p, body]);

  await test("a blocked message is refused in the chat with the policy's reason", async () => {
    await page.goto(srv.url + "/");
    await page.waitForSelector("#login-view:not([hidden])");
    await page.click("#auth-toggle");
    await page.fill("#auth-name", "Admin");
    await page.fill("#auth-email", "admin@example.com");
    await page.fill("#auth-password", "correct horse battery");
    await page.click("#auth-submit");
    await ready(page);
    const r = await api("PUT", "/api/admin/moderation/policies/tier/free", { rules: [
      { name: "no-secrets", type: "words", words: ["topsecret"], action: "block", message: "Secrets are not discussed here." }] });
    eq(r.status, 200, JSON.stringify(r.json));
    await ask(page, "tell me the topsecret plan");
    const err = await page.textContent(".msg.error .content");
    eq(err, "Secrets are not discussed here.", "the reason shown");
    // an item whose text is markup: shown as text in the log, never run
    await ask(page, "topsecret <img src=x onerror=\"window.__pwned=1\">");
  });

  await test("the admin's Moderation tab lists flagged items, newest first, the text as text", async () => {
    await page.click("#open-admin");
    await page.click("#dialog-tabs [data-tab=moderation]");
    await page.waitForSelector("table.admin-moderation tr[data-id]");
    const rows = page.locator("table.admin-moderation tr[data-id]");
    eq(await rows.count(), 2, "two items");
    const first = rows.nth(0);
    eq(await first.getAttribute("data-action"), "block", "action");
    const cells = await first.locator("td").allTextContents();
    assert(cells.includes("chat.completions") && cells.includes("input") && cells.some((c) => /no-secrets/.test(c)), JSON.stringify(cells));
    assert(cells.includes("admin@example.com"), "who, by e-mail: " + JSON.stringify(cells));
    assert(cells.some((c) => c.includes("<img src=x")), "the markup is shown as text: " + JSON.stringify(cells));
    eq(await page.evaluate(() => window.__pwned || 0), 0, "no script ran");
    eq(await page.locator("table.admin-moderation img").count(), 0, "no element made from the text");
    assert(await page.isHidden("#mod-older"), "no older page yet");
    await shot(page, "admin-moderation");
  });

  await test("the retention is set from the page", async () => {
    await page.fill("#mod-retention", "30");
    await page.press("#mod-retention", "Tab");
    await page.waitForFunction(async () => (await (await fetch("/api/admin/moderation/retention")).json()).days === 30);
  });

  await test("in Korean the page speaks Korean", async () => {
    await page.click("#dialog-close");
    await page.goto(srv.url + "/?lang=ko");
    await ready(page);
    await page.click("#open-admin");
    await page.click("#dialog-tabs [data-tab=moderation]");
    await page.waitForSelector("table.admin-moderation tr[data-id]");
    eq(await page.textContent("#dialog-tabs [data-tab=moderation]"), "콘텐츠 정책", "the tab's name");
    const heads = await page.locator("table.admin-moderation th").allTextContents();
    assert(heads.includes("규칙") && heads.includes("조치"), JSON.stringify(heads));
    assert((await page.locator("table.admin-moderation td").allTextContents()).includes("입력"), "stage in Korean");
    await shot(page, "admin-moderation-ko");
    eq(errors, [], "no page errors");
  });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
}
summary();
