// The web app with accounts, in headless Chromium, as a person would use it: sign up (the
// first account is the admin), chat, edit a question and regenerate an answer (branches
// with ‹ 2/3 › navigation), search in Korean, rename / pin / archive / delete from the
// sidebar, a share link opened logged out (read-only; a message with <img onerror> and
// <script> runs nothing), feedback, memory, settings (custom instructions, theme, language,
// API keys create / copy once / revoke, export), the admin page (a user's tier changed, so
// the next message meets the limit and the page says when it resets), log out and in,
// a phone-sized screen, and the account deleted. Measured and printed: the first load's
// compressed bytes, time to interactive, a 500-message conversation's render and scroll.
// Screenshots under build/screenshots.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, ask, idle, turns, shapeChat, shot } from "./web_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";   // minimum-cost password hashes (src/auth/secret.c)
const { test, summary } = makeCounter(19);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-webapp-"));
// free: plenty; tiny: one message per hour (the limit test)
fs.writeFileSync(`${tmp}/tiers.json`, JSON.stringify({
  default: "free",
  tiers: { free: { messages: [{ models: ["*"], limit: 1000, window: "1h" }] }, plus: {},
           tiny: { messages: [{ models: ["*"], limit: 1, window: "1h" }] } },
}));
const EMAIL = "minji@example.com", PASSWORD = "correct horse battery";
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--parallel", "2", "--ctx", "4096",
    "--db", `sqlite:${tmp}/omni.db`, "--tiers", `${tmp}/tiers.json`]);
  browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 }, locale: "en-US" });
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // the page's own requests, for the checks on what it sends
  const sent = await shapeChat(page, { max_tokens: 12, temperature: 0 });
  const api = async (method, p, body) => {   // as the logged-in page would call it
    const r = await page.evaluate(async ([method, p, body]) => {
      const r = await fetch(p, { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
      return { status: r.status, text: await r.text() };
    }, [method, p, body]);
    return { status: r.status, json: r.text ? JSON.parse(r.text) : null };
  };

  await test("sign up: the first account is the admin", async () => {
    await page.goto(srv.url + "/");
    await page.waitForSelector("#login-view:not([hidden])");
    await shot(page, "login");
    await page.click("#auth-toggle");
    await page.fill("#auth-name", "Minji");
    await page.fill("#auth-email", EMAIL);
    await page.fill("#auth-password", PASSWORD);
    await page.click("#auth-submit");
    await ready(page);
    eq(await page.textContent("#me-name"), "Minji", "name in the sidebar");
    assert(await page.isVisible("#open-admin"), "admin button for the first account");
    assert(/free/.test(await page.textContent("#usage")), "tier and what is left: " + await page.textContent("#usage"));
  });

  let convId;
  await test("chat: the answer streams and is stored in the conversation", async () => {
    await ask(page, "What is a lighthouse?");
    convId = new URL(page.url()).pathname.slice(3);
    const tree = (await api("GET", `/api/conversations/${convId}`)).json;
    eq(tree.path.length, 2, "question and answer stored");
    eq(tree.title, "What is a lighthouse?", "named by the first question");
    assert(sent.at(-1).parent_id === "", "first question at the root");
  });

  await test("edit a question: a new branch, ‹ 2/2 › switches between them", async () => {
    const u = page.locator(".msg.user").first();
    await u.hover();
    await u.locator("button.edit").click();
    await page.fill(".edit-box", "What is a harbour?");
    const n = await turns(page);
    await page.click(".edit-save");
    await idle(page, n);
    eq(await page.textContent(".msg.user .content"), "What is a harbour?", "the edited question shown");
    eq(await page.textContent(".msg.user .branch-pos"), "2/2", "second of two versions");
    await page.click(".msg.user .branch-prev");
    await page.waitForFunction(() => document.querySelector(".msg.user .branch-pos")?.textContent === "1/2");
    eq(await page.textContent(".msg.user .content"), "What is a lighthouse?", "the first version back");
    eq(await page.locator(".msg.assistant").count(), 1, "with its answer");
    await page.click(".msg.user .branch-next");
    await page.waitForFunction(() => document.querySelector(".msg.user .branch-pos")?.textContent === "2/2");
    const tree = (await api("GET", `/api/conversations/${convId}`)).json;
    eq(tree.messages.filter((m) => m.role === "user").length, 2, "two sibling questions stored");
  });

  await test("regenerate an answer: a sibling answer, 2/2, and back to 1/2", async () => {
    const first = await page.textContent(".msg.assistant .content");
    await shapeChat(page, { max_tokens: 12, temperature: 1.5, seed: 7 }, sent);
    const n = await turns(page);
    await page.click(".msg.assistant .regen");
    await idle(page, n);
    eq(await page.textContent(".msg.assistant .branch-pos"), "2/2", "second answer");
    eq(sent.at(-1).messages.at(-1).content, "What is a harbour?", "the same question asked again");
    await page.click(".msg.assistant .branch-prev");
    await page.waitForFunction(() => document.querySelector(".msg.assistant .branch-pos")?.textContent === "1/2");
    eq(await page.textContent(".msg.assistant .content"), first, "the first answer back");
    await shapeChat(page, { max_tokens: 12, temperature: 0 }, sent);
    await shot(page, "branches");
  });

  await test("copy and read aloud on an answer", async () => {
    await page.locator(".msg.assistant .copy").first().click();
    await page.waitForFunction(() => (document.body.dataset.copied || "").length > 0, null, { timeout: 30000 }).catch(() => {});
    assert((await page.evaluate(() => document.body.dataset.copied || "")).length > 0, "copied the answer");
    const speech = page.waitForResponse((r) => r.url().endsWith("/v1/audio/speech"));
    await page.locator(".msg.assistant .speak").first().click();
    eq((await speech).status(), 200, "/v1/audio/speech answered");
    await page.waitForFunction(() => +document.body.dataset.spokenBytes > 1000);
  });

  await test("feedback: thumbs down with a reason and a comment is stored", async () => {
    const a = page.locator(".msg.assistant").first();
    const mid = await a.getAttribute("data-id");
    await a.locator(".fb-down").click();
    await a.locator(".fb-reasons input").first().check();
    await a.locator(".fb-comment").fill("too short");
    await a.locator(".fb-send").click();
    await page.waitForSelector(".msg.assistant .fb-down.chosen");
    const fb = (await api("GET", "/api/feedback")).json.data;
    const mine = fb.find((f) => f.message_id === mid);
    assert(mine && mine.rating === "down" && mine.comment === "too short" && mine.reasons.length === 1, JSON.stringify(fb));
  });

  await test("search in Korean finds the conversation", async () => {
    await page.click("#new-chat");
    await ask(page, "서울의 날씨는 어때요?");
    await page.fill("#search", "날씨");
    await page.waitForFunction(() => document.querySelector("#conversations section[data-group=search] li.conv .conv-title")?.textContent.includes("날씨"));
    eq(await page.locator("#conversations li.conv").count(), 1, "one hit");
    await page.fill("#search", "");
    await page.waitForFunction(() => document.querySelectorAll("#conversations li.conv").length === 2);
  });

  const menu = async (title, item) => {
    const li = page.locator("li.conv", { hasText: title }).first();
    await li.locator(".conv-more").click();
    await li.locator(".menu ." + item).click();
  };
  await test("rename, pin, archive and delete from the sidebar", async () => {
    await menu("서울의 날씨", "m-rename");
    await page.fill(".rename-input", "날씨 이야기");
    await page.press(".rename-input", "Enter");
    await page.waitForSelector("li.conv >> text=날씨 이야기");
    await menu("lighthouse", "m-pin");   // a conversation is named by its first question
    await page.waitForSelector("#conversations section[data-group=pinned] li.conv");
    await menu("날씨 이야기", "m-archive");
    await page.waitForFunction(() => ![...document.querySelectorAll(".conv-title")].some((e) => e.textContent.includes("날씨")));
    await page.click("#show-archived");
    await page.waitForSelector("#conversations section[data-group=archived] li.conv >> text=날씨 이야기");
    await menu("날씨 이야기", "m-delete");
    await page.waitForFunction(() => !document.querySelector("#conversations li.conv"));
    await page.click("#show-archived");
    await page.waitForSelector("#conversations li.conv");
    const list = (await api("GET", "/api/conversations?archived=all")).json.data;
    eq(list.length, 1, "one conversation left");
    assert(list[0].pinned, "pinned");
    await shot(page, "sidebar");
  });

  let shareUrl;
  await test("share: a logged-out visitor sees a read-only copy, and no script from it runs", async () => {
    // a message with markup in it, stored through the API as a model's answer would be
    const evil = 'look <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> **bold**';
    const tree = (await api("GET", `/api/conversations/${convId}`)).json;
    await api("POST", `/api/conversations/${convId}/messages`, { role: "assistant", content: evil, parent_id: tree.path.at(-2) });
    await page.goto(`${srv.url}/c/${convId}`);
    await ready(page);
    await menu("lighthouse", "m-share");
    await page.waitForFunction(() => document.body.dataset.shareUrl);
    shareUrl = await page.evaluate(() => document.body.dataset.shareUrl);
    assert(/\/shared\/[\w-]+$/.test(shareUrl), shareUrl);
    const anon = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const p = await anon.newPage();
    p.on("pageerror", (e) => errors.push("shared: " + e));
    await p.goto(shareUrl);
    await p.waitForFunction(() => document.querySelectorAll("#shared-messages .msg").length >= 2);
    assert(await p.isHidden("#login-view") && await p.isHidden("#app"), "no login, no app");
    eq(await p.locator("#shared-messages .actions, #shared-messages button, #shared-messages textarea").count(), 0, "read-only: no controls");
    assert((await p.textContent("#shared-messages")).includes("look"), "the content is there");
    eq(await p.locator("#shared-messages strong").count(), 1, "Markdown rendered");
    eq(await p.locator("#shared-messages script, #shared-messages [onerror]").count(), 0, "no script, no handler");
    await p.waitForTimeout(300);
    eq(await p.evaluate(() => window.__pwned), undefined, "nothing ran");
    await shot(p, "shared");
    await anon.close();
  });

  await test("settings: custom instructions stored; dark theme; Korean interface", async () => {
    await page.click("#open-settings");
    await page.click("#dialog-tabs [data-tab=personalization]");
    await page.fill("#set-about", "I live in Busan and like short answers.");
    await page.click("#set-save");
    await page.waitForFunction(async () => (await (await fetch("/api/settings")).json()).about_me.includes("Busan"));
    await page.click("#dialog-tabs [data-tab=general]");
    await page.selectOption("#set-theme", "dark");
    eq(await page.evaluate(() => document.documentElement.dataset.theme), "dark", "dark theme");
    await page.selectOption("#set-language", "ko");
    await page.waitForFunction(() => document.getElementById("new-chat").textContent === "새 채팅");
    eq(await page.evaluate(() => document.documentElement.lang), "ko", "html lang");
    await page.click("#dialog-close");
    await shot(page, "dark_korean");
    const s = (await api("GET", "/api/settings")).json;
    eq([s.theme, s.language], ["dark", "ko"], "stored on the server");
    await page.reload();
    await ready(page);
    eq(await page.textContent("#new-chat"), "새 채팅", "Korean after a reload (from the server)");
    await page.click("#open-settings");
    await page.selectOption("#set-language", "en");
    await page.waitForFunction(() => document.getElementById("new-chat").textContent === "New chat");
    await page.selectOption("#set-theme", "light");
    await page.click("#dialog-close");
  });

  await test("memory: 'remember …' says memory updated; the memory page adds, edits and deletes", async () => {
    await page.click("#new-chat");
    await ask(page, "remember that my cat is called Nabi");
    await page.waitForFunction(() => document.getElementById("toast").textContent === "Memory updated");
    await page.click("#open-memory");
    await page.waitForSelector("li.memory");
    assert((await page.inputValue("li.memory .memory-text")).includes("Nabi"), "the remembered fact is listed");
    await page.click("#memory-clear");
    await page.waitForSelector("li.none");
    await page.fill("#memory-new", "Lives in Busan");
    await page.click("#memory-add");
    await page.waitForSelector("li.memory");
    await page.fill("li.memory .memory-text", "Lives in Busan, near the sea");
    await page.press("li.memory .memory-text", "Tab");
    await page.waitForFunction(async () => (await (await fetch("/api/memories")).json()).data[0]?.content === "Lives in Busan, near the sea");
    await page.click("li.memory .memory-delete");
    await page.waitForSelector("li.none");
    eq((await api("GET", "/api/memories")).json.data.length, 0, "deleted on the server");
    await page.click("#dialog-close");
  });

  await test("API keys: created and shown once, copied, works, revoked", async () => {
    await page.click("#open-settings");
    await page.click("#dialog-tabs [data-tab=apiKeys]");
    await page.fill("#key-name", "laptop");
    await page.click("#key-create");
    const key = await page.textContent(".key-secret");
    assert(key.startsWith("sk-omni-"), key);
    await page.click(".key-copy");
    // the page marks the copy once the clipboard write has settled (it is asynchronous)
    await page.waitForFunction((k) => document.body.dataset.copied === k, key, { timeout: 30000 }).catch(() => {});
    eq(await page.evaluate(() => document.body.dataset.copied), key, "copied");
    const models = await fetch(srv.url + "/v1/models", { headers: { Authorization: "Bearer " + key } });
    eq(models.status, 200, "the key works");
    assert(!(await page.textContent("ul.keys")).includes(key), "the list shows it masked");
    await page.click("li.key .key-revoke");
    await page.waitForSelector("li.key .badge");
    const after = await fetch(srv.url + "/v1/models", { headers: { Authorization: "Bearer " + key } });
    eq(after.status, 401, "revoked");
    await page.click("#dialog-tabs [data-tab=account]");
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    const exp = JSON.parse(fs.readFileSync(await dl.path(), "utf8"));
    assert(JSON.stringify(exp).includes("harbour"), "the export has my conversations");
    await page.click("#dialog-close");
  });

  await test("admin: the users page sets a tier; the limit reached is said with its reset time", async () => {
    await page.click("#open-admin");
    await page.waitForSelector("table.admin-users tr[data-email]");
    const row = page.locator(`table.admin-users tr[data-email="${EMAIL}"]`);
    await row.locator("input.tier").fill("tiny");
    await row.locator("input.tier").press("Enter");
    await page.waitForFunction(async () => (await (await fetch("/api/me")).json()).tier === "tiny");
    await page.click("#dialog-tabs [data-tab=loadedModels]");
    await page.waitForSelector("table.admin-models td >> text=synth-smollm2-f16");
    await page.click("#dialog-tabs [data-tab=usage]");
    await page.waitForSelector("table.admin-usage tr:nth-child(2)");
    await shot(page, "admin");
    await page.click("#dialog-close");
    await page.click("#new-chat");
    await ask(page, "one");              // the one message of the hour
    const n = await turns(page);
    await page.fill("#input", "two");
    await page.press("#input", "Enter");
    await idle(page, n);
    await page.waitForSelector("#banner:not([hidden])");
    const b = await page.textContent("#banner");
    assert(/limit/.test(b) && /resets at \d/.test(b), "the limit and when it resets: " + b);
    assert(/0\/1 left/.test(await page.textContent("#usage")), await page.textContent("#usage"));
    await shot(page, "limit");
  });

  await test("log out, log in again", async () => {
    await page.click("#logout");
    await page.waitForSelector("#login-view:not([hidden])");
    eq((await api("GET", "/api/me")).status, 401, "logged out on the server");
    await page.fill("#auth-email", EMAIL);
    await page.fill("#auth-password", "wrong password");
    await page.click("#auth-submit");
    await page.waitForFunction(() => document.getElementById("auth-error").textContent.length > 0);
    await page.fill("#auth-password", PASSWORD);
    const before = await page.evaluate(() => window.__omniReady || 0);
    await page.click("#auth-submit");
    await ready(page, before);
    assert((await page.locator("#conversations li.conv").count()) >= 1, "my conversations are back");
  });

  await test("a phone-sized screen: the sidebar collapses behind the menu button", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 780 }, storageState: await ctx.storageState(), isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    p.on("pageerror", (e) => errors.push("phone: " + e));
    await p.goto(`${srv.url}/c/${convId}`);
    await ready(p);
    const box = await p.locator("#sidebar").boundingBox();
    assert(box.x + box.width <= 1, "sidebar off screen: " + JSON.stringify(box));
    assert(await p.isVisible("#menu"), "menu button");
    await p.click("#menu");
    await p.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().x >= 0);
    await shot(p, "phone_sidebar");
    await p.click("#scrim", { position: { x: 370, y: 400 } });
    await p.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().right <= 1);
    const sw = await p.evaluate(() => document.documentElement.scrollWidth);
    assert(sw <= 390, "no horizontal scrolling: " + sw);
    await shot(p, "phone_chat");
    await phone.close();
  });

  await test("accessibility: every control has a name; Tab reaches the composer; text contrast at least 4.5:1", async () => {
    const unnamed = await page.evaluate(() => [...document.querySelectorAll("#app button, #app input, #app select, #app textarea")]
      .filter((e) => e.offsetParent !== null)
      .filter((e) => !(e.getAttribute("aria-label") || e.textContent.trim() || e.labels?.length || e.placeholder || e.title))
      .map((e) => e.outerHTML.slice(0, 80)));
    eq(unnamed, [], "controls without an accessible name");
    await page.focus("#search");
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) { await page.keyboard.press("Tab"); reached = await page.evaluate(() => document.activeElement.id === "input"); }
    assert(reached, "the composer is reachable by Tab");
    // WCAG contrast (at least 4.5:1) of the page's text, in the light and the dark theme
    for (const theme of ["light", "dark"]) {
      const low = await page.evaluate((theme) => {
        document.documentElement.dataset.theme = theme;
        const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
        const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
        const out = [];
        for (const sel of ["body", ".msg.user .content", ".msg.assistant .content", ".msg .role", "#usage", "#conversations h3", ".conv-title",
                           "#new-chat", "#send", "#show-archived", "#me-tier", "#search", "#input", ".actions button"]) {
          for (const e of [...document.querySelectorAll(sel)].slice(0, 3)) {
            const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            if (ratio < 4.5) out.push(`${sel}: ${ratio.toFixed(2)}`);
          }
        }
        return out;
      }, theme);
      eq(low, [], `text below 4.5:1 contrast in the ${theme} theme`);
    }
    await page.evaluate(() => { document.documentElement.dataset.theme = "light"; });
  });

  await test("measured: first load bytes (compressed), time to interactive, a 500-message conversation", async () => {
    const fresh = await browser.newContext({ viewport: { width: 1100, height: 720 }, storageState: await ctx.storageState() });
    const p = await fresh.newPage();
    let bytes = 0;
    p.on("response", async (r) => {
      if (!new URL(r.url()).pathname.match(/^\/(|index\.html|app\.js|app\.css|c\/.*)$/)) return;
      try { bytes += Number(r.headers()["content-length"] || (await r.body()).length); } catch {}
    });
    await p.goto(srv.url + "/");
    await ready(p);
    const tti = await p.evaluate(() => window.__omniReady);
    const loaded = bytes;
    const enc = await p.evaluate(async () => (await fetch("/app.js")).headers.get("content-encoding"));
    bytes = loaded;
    console.log(`     first load: ${(bytes / 1024).toFixed(1)} KiB compressed (${enc}), time to interactive ${tti.toFixed(0)} ms`);
    assert(bytes > 0 && bytes < 300 * 1024, `first load ${bytes} bytes`);
    assert(tti > 0, "the page says when it is interactive");   // timing is printed, not held: the machine is shared
    // 500 messages, stored through the API
    const conv = (await api("POST", "/api/conversations", { title: "long" })).json;
    await p.evaluate(async (cid) => {
      let parent = "";
      for (let i = 0; i < 500; i++) {
        const role = i % 2 ? "assistant" : "user";
        const content = role === "user" ? `Question ${i}: how do tides work?` : `Answer ${i}: **tides** come from the moon.\n\n- one\n- two\n\n\`\`\`js\nlet t = ${i};\n\`\`\``;
        const r = await fetch(`/api/conversations/${cid}/messages`, { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ role, content, parent_id: parent }) });
        parent = (await r.json()).id;
      }
    }, conv.id);
    await p.goto(`${srv.url}/c/${conv.id}`);
    await ready(p);
    await p.waitForFunction(() => document.querySelectorAll(".msg").length > 0 && document.body.dataset.heavy);
    // scroll up, a screen at a time, until the first message is there, then back down:
    // each frame's time is measured (earlier messages render as they come into view)
    const m = await p.evaluate(async () => {
      const box = document.getElementById("messages");
      const frames = [], tasks = [];
      const po = new PerformanceObserver((l) => { for (const e of l.getEntries()) tasks.push(e.duration); });   // Chromium's long tasks
      po.observe({ type: "longtask" });
      const frame = async () => { const t0 = performance.now(); await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))); frames.push(performance.now() - t0); };
      let steps = 0;
      while ((document.querySelectorAll(".msg").length < 500 || box.scrollTop > 0) && steps < 5000) {
        box.scrollTop = Math.max(0, box.scrollTop - box.clientHeight);
        await frame();
        steps++;
      }
      const first = box.querySelector(".msg .content").textContent;
      while (box.scrollTop + box.clientHeight < box.scrollHeight - 1 && steps < 10000) { box.scrollTop += box.clientHeight; await frame(); steps++; }
      await new Promise((r) => setTimeout(r, 100));
      po.disconnect();
      frames.sort((a, b) => a - b);
      return { render: window.__omniRenderMs, steps, first, n: document.querySelectorAll(".msg").length, longTasks: tasks.length, longest: tasks.length ? Math.max(...tasks) : 0,
               median: frames[frames.length >> 1], p95: frames[Math.floor(frames.length * 0.95)], worst: frames[frames.length - 1] };
    });
    eq(m.n, 500, "all 500 messages reached by scrolling");
    assert(m.first.startsWith("Question 0:"), "the first message at the top: " + m.first);
    console.log(`     500 messages: opened in ${m.render.toFixed(0)} ms (the last 60 rendered); scrolled to the first and back in ${m.steps} screens: ` +
      `frame median ${m.median.toFixed(1)} ms, p95 ${m.p95.toFixed(1)} ms, worst ${m.worst.toFixed(1)} ms; ${m.longTasks} long tasks, the longest ${m.longest.toFixed(0)} ms`);
    fs.writeFileSync(path.join(process.env.BUILD || "build", "web_bench.txt"),
      `first_load_kib ${(bytes / 1024).toFixed(1)}\ntti_ms ${tti.toFixed(0)}\nrender_500_ms ${m.render.toFixed(0)}\nscroll_median_frame_ms ${m.median.toFixed(1)}\nscroll_p95_frame_ms ${m.p95.toFixed(1)}\nscroll_worst_frame_ms ${m.worst.toFixed(1)}\nscroll_long_tasks ${m.longTasks}\nscroll_longest_task_ms ${m.longest.toFixed(0)}\n`);
    assert(m.render > 0 && m.worst > 0, "measured");
    await fresh.close();
  });

  await test("delete the account: logged out, and the login no longer works", async () => {
    await page.click("#open-settings");
    await page.click("#dialog-tabs [data-tab=account]");
    await page.click("#delete-account");
    await page.waitForSelector("#login-view:not([hidden])");
    const r = await fetch(srv.url + "/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json", Origin: srv.url },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }) });
    eq(r.status, 401, "no such account");
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
