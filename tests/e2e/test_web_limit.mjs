// The web app on a server with two chat models and a tier whose big-model messages are
// limited, in headless Chromium: the admin sets another user's role and tier; the settings'
// default model and voice are stored on the
// server and used (the picker after a reload, the voice that "read aloud" asks for); when
// the limit is reached the page says so with the reset time and offers the smaller
// (fallback) model that the tier allows; one click on it and the question is answered by
// that model, stored with its name. Screenshots under build/screenshots.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, ask, idle, turns, shapeChat, shot } from "./web_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";   // minimum-cost password hashes (src/auth/secret.c)
const { test, summary } = makeCounter(6);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-weblimit-"));
const store = path.join(tmp, "store");
fs.mkdirSync(store);
// a second chat model in the store: the small model a limited user falls back to
const BIG = "synth-smollm2-f16", SMALL = "synth-llama-f16";
fs.copyFileSync(`${MODELS}/synth/${SMALL}.gguf`, path.join(store, `${SMALL}.gguf`));
fs.writeFileSync(`${tmp}/tiers.json`, JSON.stringify({
  default: "free",
  groups: { small: ["synth-llama-*"] },
  tiers: { free: { messages: [{ models: ["small"], limit: null }, { models: ["*"], limit: 1, window: "1h", fallback: SMALL }] }, plus: {} },
}));
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/${BIG}.gguf`, "--store", "--ctx", "2048", "--parallel", "2",
    "--db", `sqlite:${tmp}/omni.db`, "--tiers", `${tmp}/tiers.json`], { env: { OMNI_HOME: store } });
  browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 }, locale: "en-US" });
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const sent = await shapeChat(page, { max_tokens: 8, temperature: 0 });
  const getJson = (p) => page.evaluate(async (p) => (await fetch(p)).json(), p);

  await test("sign up; both models in the picker", async () => {
    await page.goto(srv.url + "/");
    await page.waitForSelector("#login-view:not([hidden])");
    await page.click("#auth-toggle");
    await page.fill("#auth-name", "Jisoo");
    await page.fill("#auth-email", "jisoo@example.com");
    await page.fill("#auth-password", "a long enough password");
    await page.click("#auth-submit");
    await ready(page);
    const opts = await page.$$eval("#model-picker option", (os) => os.map((o) => o.value));
    assert(opts.includes(BIG) && opts.includes(SMALL), "both chat models listed: " + opts);
  });

  await test("admin: another user's role and tier set from the users page", async () => {
    const r = await fetch(srv.url + "/api/auth/signup", { method: "POST", headers: { "Content-Type": "application/json", Origin: srv.url },
      body: JSON.stringify({ email: "dahye@example.com", password: "another long password", name: "Dahye" }) });
    assert(r.status === 200 || r.status === 201, "second sign-up: " + r.status);
    await page.click("#open-admin");
    const row = page.locator('table.admin-users tr[data-email="dahye@example.com"]');
    await row.waitFor();
    await row.locator("select").selectOption("admin");
    await row.locator("input.tier").fill("plus");
    await row.locator("input.tier").press("Enter");
    await page.waitForFunction(async () => {
      const u = (await (await fetch("/api/admin/users")).json()).data.find((x) => x.email === "dahye@example.com");
      return u && u.role === "admin" && u.tier === "plus";
    });
    await page.click("#dialog-tabs [data-tab=loadedModels]");
    await page.waitForSelector(`table.admin-models td >> text=${BIG}`);
    await page.click("#dialog-close");
  });

  await test("settings: the default model and the voice are stored on the server and used", async () => {
    await page.click("#open-settings");
    await page.waitForSelector("#set-model");
    await page.selectOption("#set-model", SMALL);
    await page.waitForFunction(async (m) => (await (await fetch("/api/settings")).json()).default_model === m, SMALL);
    const voices = await page.$$eval("#set-voice option", (os) => os.map((o) => o.value).filter(Boolean));
    assert(voices.length > 0, "the server's voices are offered");
    const voice = voices.at(-1);
    await page.selectOption("#set-voice", voice);
    await page.waitForFunction(async (v) => (await (await fetch("/api/settings")).json()).voice === v, voice);
    await shot(page, "settings_general");
    await page.click("#dialog-close");
    await page.reload();
    await ready(page);
    eq(await page.inputValue("#model-picker"), SMALL, "the default model picked after a reload");
    // read aloud asks for the chosen voice
    const speech = [];
    await page.route("**/v1/audio/speech", (route) => { speech.push(JSON.parse(route.request().postData())); route.continue(); });
    await ask(page, "Say hello");     // the small model: not limited
    await page.click(".msg.assistant .speak");
    await page.waitForFunction(() => +(document.body.dataset.spokenBytes || 0) > 0, null, { timeout: 60000 });
    eq(speech.at(-1).voice, voice, "read aloud uses the voice of the settings");
    await page.unroute("**/v1/audio/speech");
    // back to the big model as the default
    await page.click("#open-settings");
    await page.selectOption("#set-model", BIG);
    await page.waitForFunction(async (m) => (await (await fetch("/api/settings")).json()).default_model === m, BIG);
    await page.click("#dialog-close");
    eq(await page.inputValue("#model-picker"), BIG, "the picker follows the default");
  });

  await test("the limit reached: the reset time and the smaller model offered", async () => {
    await page.click("#new-chat");
    await ask(page, "one");              // the one big-model message of the hour
    eq(sent.at(-1).model, BIG, "asked the big model");
    const n = await turns(page);
    await page.fill("#input", "two");
    await page.press("#input", "Enter");
    await idle(page, n);
    await page.waitForSelector("#banner:not([hidden])");
    const b = await page.textContent("#banner");
    assert(/limit/.test(b) && /resets at \d/.test(b), "the limit and when it resets: " + b);
    const offer = page.locator("#banner button.use-fallback");
    eq(await offer.count(), 1, "one offer");
    eq(await offer.textContent(), `Continue with ${SMALL}`, "the smaller model offered");
    const me = await getJson("/api/me");
    assert(me.limits.some((l) => l.fallback_model === SMALL), "the tier allows it: " + JSON.stringify(me.limits));
    await shot(page, "limit_fallback");
  });

  await test("one click on the offer: the question is answered by the smaller model and stored with it", async () => {
    await page.click("#banner button.use-fallback");
    assert(await page.isHidden("#banner"), "the banner goes away");
    eq(await page.inputValue("#model-picker"), SMALL, "the picker shows the smaller model");
    const m = await ask(page, "two");
    eq(sent.at(-1).model, SMALL, "asked the smaller model");
    eq(await m.locator(".role").textContent(), SMALL, "the answer says which model wrote it");
    const id = new URL(page.url()).pathname.slice(3);
    const tree = await getJson(`/api/conversations/${id}`);
    const leaf = tree.messages.find((x) => x.id === tree.current_leaf);
    eq([leaf.role, leaf.model], ["assistant", SMALL], "stored as the smaller model's answer");
    assert(leaf.content.length > 0, "with text");
  });

  await test("no page errors", async () => { assert(errors.length === 0, errors.join("; ")); });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(summary());
