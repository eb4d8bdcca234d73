// Custom assistants in the web app (headless Chromium): the author builds one in the GPT
// builder (form, a Korean manual uploaded as PDF and HWPX made by the test, starters,
// capabilities, knowledge settings), tries it in the live preview beside the form (the
// answer cites the manual's passage; the citation opens that passage), publishes it (a new
// version in the history); another user finds it in the store (search, category), opens
// its detail page, uses it (a chat with it whose answer shows the sources, clickable to the
// passage; the sources are stored with the answer on the server: a new browser with fresh
// storage, logged in as the same user, shows them and opens the passage, and a share link
// names the sources without their passages), rates it with a review; the author sees its
// usage; the admin features it and
// hides it; names and passages with HTML stay text; the bundle exported from the builder and
// imported in the app of a second server retrieves the same. Screenshots under build/screenshots.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, shot, shapeChat } from "./web_helpers.mjs";
import { hwpx, pdf } from "./doc_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(10);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-web-gpts-"));
fs.writeFileSync(`${tmp}/tiers.json`, JSON.stringify({ default: "free", tiers: { free: {} } }));
const PDF = path.join(tmp, "설명서.pdf"), HWPX = path.join(tmp, "안내.hwpx");
fs.writeFileSync(PDF, pdf(tmp, [["ACME 로봇청소기 R-9 사용 설명서", 1], ["1장 충전", 2], ["충전대를 벽에 붙여 두고 전원 어댑터를 연결하세요.", 0],
  ["2장 배터리", 2], ["배터리를 완전히 충전하면 백이십 분 동안 청소할 수 있습니다.", 0]]));
fs.writeFileSync(HWPX, hwpx([["교환과 환불", true], ["제품을 받은 날부터 십사 일 안에 환불을 요청할 수 있습니다. &lt;b&gt;굵게&lt;/b&gt;", false]]));
const NAME = "ACME 청소기 도우미 <img src=x onerror=window.__pwned=1>";

let srv, browser;
const errors = [];
async function signup(ctx, name, email, base = srv.url) {
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => d.accept());
  await page.goto(base + "/?lang=ko");
  await page.waitForSelector("#login-view:not([hidden])");
  await page.click("#auth-toggle");
  await page.fill("#auth-name", name);
  await page.fill("#auth-email", email);
  await page.fill("#auth-password", "gpts-pass-" + email);
  await page.click("#auth-submit");
  await ready(page);
  await shapeChat(page, { max_tokens: 16, temperature: 0 });   // short answers: the test is about the page, not the text
  return page;
}
const body = (page, sel) => page.locator(sel).first();

try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--parallel", "2", "--ctx", "4096",
    "--db", `sqlite:${tmp}/omni.db`, "--tiers", `${tmp}/tiers.json`]);
  browser = await launch();
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const admin = await signup(ctxA, "Root", "root@example.com");   // the first account is the admin
  const ctxC = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const alice = await signup(ctxC, "앨리스", "alice@example.com");
  const bob = await signup(ctxB, "Bob", "bob@example.com");
  let id, bobConv;

  await test("the builder: form, knowledge upload (PDF + HWPX), starters, capabilities; saved as version 1", async () => {
    await alice.click("#open-gpts");
    await alice.waitForSelector("#gpts-view:not([hidden])");
    await alice.click("#gpt-create");
    await alice.waitForSelector("#gpt-form");
    await alice.fill("#gpt-form [name=name]", NAME);
    await alice.fill("#gpt-form [name=description]", "로봇청소기 설명서로 답합니다");
    await alice.fill("#gpt-form [name=instructions]", "당신은 ACME 고객 지원 도우미입니다.");
    await alice.fill("#gpt-form [name=starters]", "배터리는 몇 분 가나요?\n환불은 며칠 안에 하나요?");
    await alice.selectOption("#gpt-form [name=category]", "customer_support");
    await alice.check("#gpt-form [name=cap_knowledge]");
    await alice.fill("#gpt-form [name=max_chunks]", "3");
    await alice.check("#gpt-form [name=only_knowledge]");
    await alice.click("#gpt-save");
    await alice.waitForSelector("#gpt-status[data-version='1']");
    await alice.setInputFiles("#gpt-form [name=files]", [PDF, HWPX]);
    await alice.waitForSelector("#gpt-file-list[data-count='2']");
    const names = await alice.locator("#gpt-file-list li").evaluateAll((ls) => ls.map((l) => l.dataset.name).sort());
    eq(names, ["설명서.pdf", "안내.hwpx"].sort(), "both files listed");
    id = (await alice.evaluate(async () => (await (await fetch("/api/assistants")).json()).data[0].id));
    assert(/^asst_/.test(id), "an assistant id");
    await shot(alice, "gpts-builder");
  });

  await test("the live preview beside the form answers from the manual and cites it; the citation opens the passage", async () => {
    await alice.fill("#gpt-preview-input", "배터리로 몇 분 동안 청소할 수 있나요?");
    await alice.click("#gpt-preview-send");
    await alice.waitForSelector("#gpt-preview-messages[data-turns='1']", { timeout: 90000 });
    const cite = alice.locator("#gpt-preview-messages .citations .cite").first();
    eq([await cite.getAttribute("data-file"), await cite.getAttribute("data-index")], ["설명서.pdf", "1"], "[1] is the PDF");
    assert(/2장 배터리/.test(await cite.textContent()), "the heading in the citation: " + await cite.textContent());
    const passage = alice.locator("#gpt-preview-messages .citations .passage").first();
    assert(await passage.isHidden(), "closed until clicked");
    await cite.click();
    assert(await passage.isVisible() && (await passage.textContent()).includes("백이십 분"), "the passage that answers");
    await shot(alice, "gpts-preview-citation");
  });

  await test("publish: visibility public is a new version in the history", async () => {
    await alice.selectOption("#gpt-form [name=visibility]", "public");
    await alice.click("#gpt-save");
    await alice.waitForSelector("#gpt-status[data-version='2']");
    eq(await alice.locator("#gpt-versions li").count(), 2, "two versions listed");
    eq(await alice.evaluate(() => window.__pwned), undefined, "the name's HTML never ran");
  });

  await test("another user finds it in the store, opens it, uses it: the answer shows its sources", async () => {
    await bob.click("#open-gpts");
    await bob.waitForSelector("#gpts-grid[data-loaded]");
    await bob.fill("#gpts-q", "청소기");
    await bob.waitForFunction((id) => { const g = document.querySelectorAll("#gpts-grid .gpt-card"); return g.length === 1 && g[0].dataset.id === id; }, id);
    await bob.selectOption("#gpts-cat", "customer_support");
    await bob.waitForFunction((id) => [...document.querySelectorAll("#gpts-grid .gpt-card")].some((c) => c.dataset.id === id), id);
    const cardName = await bob.textContent(`#gpts-grid .gpt-card[data-id='${id}'] .gpt-name`);
    eq(cardName, NAME, "the name shown as text");
    await shot(bob, "gpts-store");
    await bob.click(`#gpts-grid .gpt-card[data-id='${id}']`);
    await bob.waitForSelector(`.gpt-detail[data-id='${id}']`);
    assert((await bob.textContent(".gpt-detail .gpt-stats")).includes("앨리스"), "the author on the detail page");
    eq(await bob.locator(".gpt-detail .gpt-starters .starter").count(), 2, "starters");
    await shot(bob, "gpts-detail");
    const before = +(await bob.evaluate(() => document.body.dataset.turns || 0));
    await bob.locator(".gpt-detail .gpt-starters .starter").first().click();
    await bob.waitForFunction((k) => +(document.body.dataset.turns || 0) > k, before, { timeout: 90000 });
    assert(await bob.isHidden("#gpts-view"), "the store closed for the chat");
    assert((await bob.textContent("#asst-bar")).includes("ACME"), "the chat names the assistant");
    const ans = bob.locator(".msg.assistant").last();
    const cite = ans.locator(".citations .cite").first();
    eq(await cite.getAttribute("data-file"), "설명서.pdf", "the answer cites the manual");
    await cite.click();
    assert((await ans.locator(".citations .passage").first().textContent()).includes("백이십 분"), "clickable to the passage");
    const convId = bobConv = new URL(bob.url()).pathname.slice(3);
    await bob.reload();
    await ready(bob);
    await bob.waitForSelector(".msg.assistant .citations .cite");
    eq(await bob.locator(".msg.assistant .citations .cite").first().getAttribute("data-file"), "설명서.pdf", "the sources are there after a reload");
    assert((await bob.textContent("#asst-bar")).includes("ACME"), "and the conversation still names its assistant");
    const conv = await bob.evaluate(async (c) => (await (await fetch(`/api/conversations/${c}`)).json()), convId);
    eq(conv.assistant_id, id, "the conversation records the assistant");
    await shot(bob, "gpts-chat-sources");
  });

  await test("the sources come from the server: a new browser (fresh storage, same login) shows them; a click opens the passage", async () => {
    const ctxB2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await ctxB2.newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(srv.url + "/?lang=ko");
      await page.waitForSelector("#login-view:not([hidden])");
      eq(await page.evaluate(() => Object.keys(localStorage).filter((k) => /cit/i.test(k))), [], "a browser that kept no sources");
      await page.fill("#auth-email", "bob@example.com");
      await page.fill("#auth-password", "gpts-pass-bob@example.com");
      await page.click("#auth-submit");
      await ready(page);
      await page.goto(`${srv.url}/c/${bobConv}`);   // a new document: ready again once it has loaded
      await ready(page);
      const ans = page.locator(".msg.assistant").last();
      const cite = ans.locator(".citations .cite").first();
      await cite.waitFor({ timeout: 30000 });
      eq([await cite.getAttribute("data-file"), await cite.getAttribute("data-index")], ["설명서.pdf", "1"], "[1] is the PDF, as in the first browser");
      assert(/2장 배터리/.test(await cite.textContent()), "the heading: " + await cite.textContent());
      const passage = ans.locator(".citations .passage").first();
      assert(await passage.isHidden(), "closed until clicked");
      await cite.click();
      assert(await passage.isVisible() && (await passage.textContent()).includes("백이십 분"), "the click opens the passage");
      eq(await page.evaluate(() => localStorage.getItem("omni.citations")), null, "nothing of them kept in this browser");
      const api = await page.evaluate(async (c) => (await (await fetch(`/api/conversations/${c}`)).json()), bobConv);
      const stored = api.messages.filter((m) => m.role === "assistant").at(-1).citations;
      eq(stored[0].file, "설명서.pdf", "the conversation's answer carries them");
      eq(await ans.locator(".citations .cite").count(), stored.length, "one source on the page per stored citation");
      await shot(page, "gpts-sources-new-browser");
    } finally { await ctxB2.close(); }
  });

  await test("a share link names the answer's sources without their passages (the reader is not a user of the assistant)", async () => {
    const share = await bob.evaluate(async (c) => (await (await fetch(`/api/conversations/${c}/share`, { method: "POST" })).json()), bobConv);
    const anon = await browser.newContext({ viewport: { width: 900, height: 700 } });
    try {
      const p = await anon.newPage();
      p.on("pageerror", (e) => errors.push("shared: " + e));
      await p.goto(srv.url + share.url);
      await p.waitForSelector("#shared-messages .msg.assistant .citations .cite-label");
      eq(await p.locator("#shared-messages .citations .cite-label").first().getAttribute("data-file"), "설명서.pdf", "the source named");
      eq(await p.locator("#shared-messages .citations .passage, #shared-messages button").count(), 0, "no passage, nothing to open");
      assert(!(await p.textContent("#shared-messages")).includes("백이십 분"), "the manual's text is not in the shared copy");
      const j = await p.evaluate(async (u) => (await (await fetch(u)).json()), "/api/shared/" + share.token);
      const c = j.messages.filter((m) => m.role === "assistant").at(-1).citations;
      eq(Object.keys(c[0]).sort(), ["file", "heading", "index", "page"], "the API's shared copy: where, not what");
    } finally { await anon.close(); }
  });

  await test("ratings: the user rates 5 with a review; the store shows it; the author sees usage", async () => {
    await bob.click("#open-gpts");
    await bob.waitForSelector("#gpts-grid[data-loaded]");
    await bob.click(`#gpts-grid .gpt-card[data-id='${id}']`);
    await bob.waitForSelector(`.gpt-detail[data-id='${id}']`);
    await bob.selectOption("#gpt-stars", "5");
    await bob.fill("#gpt-review", "설명서 그대로 알려 줘요 <script>window.__pwned=2</script>");
    await bob.click("#gpt-rate");
    await bob.waitForFunction(() => document.querySelectorAll("#gpt-reviews .gpt-review").length === 1);
    assert((await bob.textContent("#gpt-reviews")).includes("<script>"), "the review is text");
    assert((await bob.textContent(".gpt-detail .gpt-stats")).includes("★ 5 (1)"), "rating on the detail page");
    await alice.click("#gpts-view [data-tab=mine]");
    await alice.waitForSelector(`#gpts-mine .gpt-card[data-id='${id}'] .gpt-usage`);
    assert(/사용 [1-9]\d*회 · 사용자 [12]명 · 대화 1개/.test(await alice.textContent(`#gpts-mine .gpt-card[data-id='${id}'] .gpt-usage`)),
           "usage: " + await alice.textContent(`#gpts-mine .gpt-card[data-id='${id}'] .gpt-usage`));
    eq(await bob.evaluate(() => window.__pwned), undefined, "nothing ran");
  });

  await test("export the bundle from the builder, import it in the app of a second server: the same retrieval", async () => {
    await alice.click(`#gpts-mine .gpt-card[data-id='${id}']`);
    await alice.waitForSelector("#gpt-export:not([hidden])");
    const [dl] = await Promise.all([alice.waitForEvent("download"), alice.click("#gpt-export")]);
    const bundle = path.join(tmp, "bundle.omni-assistant");
    await dl.saveAs(bundle);
    assert(fs.readFileSync(bundle).subarray(0, 2).toString() === "PK", "a zip");
    const srv2 = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--ctx", "4096", "--db", `sqlite:${tmp}/two.db`, "--tiers", `${tmp}/tiers.json`]);
    try {
      const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const zed = await signup(ctx2, "Zed", "zed@example.com", srv2.url);
      await zed.click("#open-gpts");
      await zed.waitForSelector("#gpts-view:not([hidden])");
      await zed.setInputFiles("#gpt-import-file", bundle);
      await zed.waitForSelector("#gpt-form");
      await zed.waitForFunction(() => document.querySelectorAll("#gpt-file-list li").length === 2);
      eq(await zed.inputValue("#gpt-form [name=name]"), NAME, "the imported assistant in the builder");
      const q = "배터리로 몇 분 동안 청소할 수 있나요?";
      const search = (page) => page.evaluate(async (q) => {
        const a = (await (await fetch("/api/assistants")).json()).data[0];
        const r = await (await fetch(`/api/assistants/${a.id}/search`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ query: q }) })).json();
        return r.data.map((p) => [p.file, p.page, p.heading, p.text, p.score]);
      }, q);
      const one = await search(alice), two = await search(zed);
      assert(one.length > 0 && one[0][3].includes("백이십 분"), "the manual's passage first");
      eq(two, one, "the second server retrieves the same passages, same scores");
      await ctx2.close();
    } finally { await stopServer(srv2); }
  });

  await test("admin: feature it (badge in the store), hide it (gone for users)", async () => {
    await admin.click("#open-gpts");
    await admin.waitForSelector("#gpts-grid[data-loaded]");
    await admin.click(`#gpts-grid .gpt-card[data-id='${id}']`);
    await admin.waitForSelector("#gpt-feature");
    await admin.click("#gpt-feature");
    await admin.waitForSelector(`.gpt-detail[data-id='${id}']`);
    await admin.click("#gpts-view [data-tab=explore]");
    await admin.waitForSelector(`#gpts-grid .gpt-card[data-id='${id}'] .gpt-featured`);
    await shot(admin, "gpts-store-featured");
    await admin.click(`#gpts-grid .gpt-card[data-id='${id}']`);
    await admin.waitForSelector("#gpt-hide");
    await admin.click("#gpt-hide");
    await admin.waitForSelector(`.gpt-detail[data-id='${id}']`);
    await bob.click("#gpts-view [data-tab=explore]");
    await bob.waitForSelector("#gpts-grid[data-loaded]");
    eq(await bob.locator(`#gpts-grid .gpt-card[data-id='${id}']`).count(), 0, "hidden from the store");
    const files = await bob.evaluate(async (id) => (await fetch(`/api/assistants/${id}/files`)).status, id);
    eq(files, 404, "its knowledge files were never the user's to see");
  });

  await test("no page errors", async () => eq(errors, [], "page errors"));
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
}
process.exit(summary());
