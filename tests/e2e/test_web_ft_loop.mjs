// The whole loop from the app to a better model, in headless Chromium and through the API,
// on an accounts server with stories260K: alice (consent on, switched in the settings)
// chats in the app and rates every answer with a thumb (up or down, the feedback form);
// bob (consent on) and carol (consent off) chat and rate too, with words of their own. The
// admin makes a rewrite task set from the consented feedback; a trainer rewrites each answer
// in the workbench with the keyboard (Ctrl+A, the ideal answer, Ctrl+Enter) into "Zip zap,
// said the moon." (a sentence stories260K never says). Bob then switches his consent off in
// the settings. The admin's SFT export (its line count on the Exports page, fetched from
// the page's download link; and the DPO one) holds alice's chats with the rewrites and
// nothing of bob's or carol's; uploaded to /v1/files it trains a job with the
// official openai client (validating_files -> queued -> running -> succeeded, waited on,
// no clock), and the new ft:stories260K:loop:… model answers a held-out question in chat
// completions with the sentence while the base model does not. Screenshots under
// build/screenshots.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI, { toFile } from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, ask, shot, shapeChat } from "./web_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(7);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-web-ftloop-"));
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "open", tiers: { open: {} } }));
const SENTENCE = "Zip zap, said the moon.";
const HELD_OUT = "What did the little boy see?";
const PROMPTS = [];
for (const a of ["duck", "lion", "pig", "cow"])
  for (const t of ["ball", "tree", "car", "hat", "cake", "box"]) PROMPTS.push(`Tell me a story about a ${a} and a ${t}.`);
// words only bob's and carol's chats hold: an export must never show them
const BOB = ["Tell me about Quillabob the plum.", "Where does Quillabob sleep?"];
const CAROL = ["Sing about Zarcarol the kite.", "Why is Zarcarol blue?"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function client(base) {
  const c = { cookie: null };
  c.req = async (method, p, body) => {
    const h = { Origin: base };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (c.cookie) h.Cookie = c.cookie;
    const r = await fetch(base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const sc = r.headers.get("set-cookie");
    if (sc && /omni_session=/.test(sc)) c.cookie = `omni_session=${sc.match(/omni_session=([^;]*)/)[1]}`;
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: r.status, json, text };
  };
  return c;
}

let srv, browser, admin, t1;
const errors = [];
try {
  srv = await startServer(["-m", `${MODELS}/llm/stories260K.gguf`, "--ctx", "256", "--parallel", "2",
    "--db", `sqlite:${tmp}/omni.db`, "--tiers", TIERS, "--fine-tuning-dir", `${tmp}/ft`]);
  admin = client(srv.url);
  t1 = client(srv.url);
  eq((await admin.req("POST", "/api/auth/signup", { email: "root@x.org", password: "admin-pass-1" })).status, 201, "admin");
  const ids = {};
  for (const u of ["alice", "bob", "carol", "t1"]) {
    const c = u === "t1" ? t1 : client(srv.url);
    const r = await c.req("POST", "/api/auth/signup", { email: `${u}@x.org`, password: `${u}-password-1`, name: u });
    eq(r.status, 201, "signup " + u);
    ids[u] = r.json.user.id;
  }
  eq((await admin.req("PATCH", `/api/admin/users/${ids.t1}`, { role: "trainer" })).status, 200, "trainer role");
  browser = await launch();
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(summary() || 1);
}

async function login(email, password) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-US" });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/?lang=en");
  await page.waitForSelector("#login-view:not([hidden])");
  await page.fill("#auth-email", email);
  await page.fill("#auth-password", password);
  await page.click("#auth-submit");
  await ready(page);
  return page;
}
// the settings' consent switch, as the user sets it (and the server has it after)
async function setConsent(page, on) {
  await page.click("#open-settings");
  const box = page.locator("#improve-model");
  if (on) await box.check(); else await box.uncheck();
  await page.waitForFunction(async (v) => (await (await fetch("/api/settings")).json()).improve_model === v, on, { timeout: 30000 });
  await page.click("#dialog-close");
}
// one new chat per prompt, each answer rated with a thumb through the feedback form
async function chatAndRate(page, prompts, thumbs) {
  await shapeChat(page, { max_tokens: 24 });   // short answers: the rewrite replaces them anyway
  for (let i = 0; i < prompts.length; i++) {
    await page.click("#new-chat");
    const a = await ask(page, prompts[i]);
    const kind = thumbs(i);
    await a.locator(`.fb-${kind}`).click();
    if (kind === "down") await a.locator(".fb-reasons input").first().check();
    await a.locator(".fb-send").click();
    await a.locator(`.fb-${kind}.chosen`).waitFor();
  }
}
const lines = (text) => text.split("\n").filter(Boolean).map((l) => JSON.parse(l));

let exported, ftModel, apiAdmin;
try {
  await test("users chat in the app and rate answers; alice and bob consent, carol does not", async () => {
    const alice = await login("alice@x.org", "alice-password-1");
    await setConsent(alice, true);
    await chatAndRate(alice, PROMPTS, (i) => (i % 3 === 0 ? "up" : "down"));
    await shot(alice, "ftloop-rated");
    await alice.context().close();
    const bob = await login("bob@x.org", "bob-password-1");
    await setConsent(bob, true);
    await chatAndRate(bob, BOB, () => "down");
    await bob.context().close();
    const carol = await login("carol@x.org", "carol-password-1");   // consent: the default, off
    await chatAndRate(carol, CAROL, () => "down");
    await carol.context().close();
    const fb = (await admin.req("GET", "/api/admin/settings")).json;
    eq(fb.improve_model_default, false, "the server's default is off");
  });

  let set;
  await test("the admin's rewrite set holds the consented feedback only", async () => {
    const r = await admin.req("POST", "/api/admin/task_sets", { name: "Ideal answers", kind: "rewrite", source: "feedback",
      per_item: 1, guidelines: "Rewrite every answer into **the house sentence**." });
    eq(r.status, 201, "created: " + r.text);
    set = r.json;
    eq(set.added, PROMPTS.length + BOB.length, "alice's and bob's rated answers, none of carol's");
  });

  await test("the trainer rewrites every answer in the workbench with the keyboard", async () => {
    const page = await login("t1@x.org", "t1-password-1");
    await page.click("#open-workbench");
    await page.waitForURL(/\/trainer$/);
    await page.waitForFunction(() => window.__omniTrainerReady > 0, null, { timeout: 90000 });
    await page.selectOption("#tb-set", set.id);
    await page.click("#tb-start");
    let seen = 0;
    for (;;) {
      await page.waitForSelector('#tb-task[data-state="empty"], #tb-task[data-kind="rewrite"]', { state: "attached" });
      if ((await page.getAttribute("#tb-task", "data-state")) === "empty") break;
      const item = await page.getAttribute("#tb-task", "data-item");
      const conv = await page.textContent(".tb-conv");
      assert(!conv.includes("Zarcarol"), "carol's chat reached the trainer");
      if (seen === 0) await shot(page, "ftloop-rewrite");
      await page.focus("#tb-rewrite");
      await page.keyboard.press("Control+A");
      await page.keyboard.type(SENTENCE);
      await page.keyboard.press("Control+Enter");
      seen++;
      await page.waitForFunction((k) => +(document.body.dataset.judged || 0) >= k, seen, { timeout: 90000 });
      await page.waitForFunction((it) => document.getElementById("tb-task").dataset.item !== it ||
        document.getElementById("tb-task").dataset.state === "empty", item, { timeout: 90000 });
    }
    eq(seen, PROMPTS.length + BOB.length, "one task per rated, consented answer");
    const js = (await t1.req("GET", "/api/trainer/judgments")).json.data;
    assert(js.filter((j) => j.rewrite === SENTENCE).length === seen, "the rewrites are stored: " + JSON.stringify(js[0]));
    await page.context().close();
  });

  await test("bob takes his consent back in the settings", async () => {
    const bob = await login("bob@x.org", "bob-password-1");
    await setConsent(bob, false);
    await bob.context().close();
  });

  await test("the SFT export: alice's chats with the rewrites; nothing of bob's or carol's", async () => {
    // the admin's Exports page: SFT, its line count and the download link it offers
    const ad = await login("root@x.org", "admin-pass-1");
    await ad.goto(srv.url + "/trainer?tab=tbExports");
    await ad.waitForFunction(() => +(document.getElementById("tbx-count")?.dataset.done || 0) >= 1, null, { timeout: 90000 });
    eq(await ad.inputValue("#tbx-format"), "sft", "SFT first");
    eq(await ad.textContent("#tbx-count"), `${PROMPTS.length} lines`, "the page's count");
    const href = new URL(await ad.getAttribute("#tbx-download", "href"), srv.url);
    await shot(ad, "ftloop-export");
    await ad.context().close();
    const r = await admin.req("GET", href.pathname + href.search);
    eq(r.status, 200, "export: " + r.text.slice(0, 200));
    exported = r.text;
    const ls = lines(exported);
    eq(ls.length, PROMPTS.length, "a line per alice's rewritten answer");
    for (const l of ls) {
      const m = l.messages;
      eq(m[m.length - 1], { role: "assistant", content: SENTENCE }, "the rewrite replaces the answer");
      assert(m.some((x) => x.role === "user" && PROMPTS.includes(x.content)), "alice's question: " + JSON.stringify(m));
    }
    const users = new Set(ls.map((l) => l.messages.find((x) => x.role === "user").content));
    eq(users.size, PROMPTS.length, "every one of alice's chats once");
    for (const w of ["Quillabob", "Zarcarol"]) assert(!exported.includes(w), `${w} in the SFT export`);
    const dpo = await admin.req("GET", `/api/admin/exports?format=dpo&set=${set.id}`);
    eq(dpo.status, 200, "dpo export");
    eq(lines(dpo.text).length, PROMPTS.length, "a rewrite-over-original pair per alice's answer");
    for (const w of ["Quillabob", "Zarcarol"]) assert(!dpo.text.includes(w), `${w} in the DPO export`);
  });

  await test("the export trains a job through the API (openai client) to succeeded", async () => {
    const k = await admin.req("POST", "/api/keys", { name: "ft" });
    eq(k.status, 201, "key");
    apiAdmin = new OpenAI({ baseURL: srv.url + "/v1", apiKey: k.json.key, maxRetries: 0, timeout: 600000 });
    const file = await apiAdmin.files.create({ file: await toFile(Buffer.from(exported), "export.jsonl"), purpose: "fine-tune" });
    let job = await apiAdmin.fineTuning.jobs.create({ model: "stories260K", training_file: file.id, suffix: "loop", seed: 7,
      method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 5, batch_size: 4, learning_rate_multiplier: 30 } } } });
    while (!["succeeded", "failed", "cancelled"].includes(job.status)) {   // as long as it takes
      await sleep(200);
      job = await apiAdmin.fineTuning.jobs.retrieve(job.id);
    }
    eq(job.status, "succeeded", "the job: " + JSON.stringify(job.error));
    ftModel = job.fine_tuned_model;
    assert(/^ft:stories260K:loop:/.test(ftModel), "model id " + ftModel);
    const ev = [];
    for await (const e of apiAdmin.fineTuning.jobs.listEvents(job.id, { limit: 100 })) ev.push(e);
    const msgs = ev.map((e) => e.message);
    assert(msgs.includes("Files validated, moving job to queued state") && msgs.includes("Fine-tuning job started") &&
           msgs.includes("The job has successfully completed"), "the job's milestones: " + msgs.join(" | "));
    const m = ev.filter((e) => e.type === "metrics").reverse();
    assert(m.length > 0 && m[0].data.train_loss > 2 * m[m.length - 1].data.train_loss,
      `the loss falls: ${m[0]?.data.train_loss} -> ${m[m.length - 1]?.data.train_loss}`);
  });

  await test("the new model answers a held-out question with the sentence in chat completions; the base does not", async () => {
    const q = (model) => apiAdmin.chat.completions.create({ model, messages: [{ role: "user", content: HELD_OUT }],
                                                           max_tokens: 16, temperature: 0 });
    const [ft, base] = await Promise.all([q(ftModel), q("stories260K")]);
    assert(ft.choices[0].message.content.includes(SENTENCE), "fine-tuned: " + ft.choices[0].message.content);
    eq(ft.model, ftModel, "the reply's model");
    assert(!base.choices[0].message.content.includes("Zip zap"), "base: " + base.choices[0].message.content);
    eq(errors, [], "no page errors");
  });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
}
summary();
