// The web app in headless Chromium on a --no-auth server (the private-laptop mode: no
// login): a question streams its answer and is stored on the server (a reload finds it,
// the sidebar lists it under Today), stop ends a long answer and keeps what came, Markdown
// with tables, highlighted code with a copy button and KaTeX math, no HTML from the model
// runs, Korean IME composition (a real composition through the DevTools protocol) never
// sends, Korean text has its glyphs, keyboard shortcuts, and images on a vision server.
// Screenshots under build/screenshots.
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, ask, idle, turns, shapeChat, shot } from "./web_helpers.mjs";

const { test, summary } = makeCounter(14);
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--parallel", "2", "--ctx", "4096"]);
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/");

  await test("no login in --no-auth mode: the chat opens with the server's model", async () => {
    await ready(page);
    eq(await page.inputValue("#model-picker"), "synth-smollm2-f16", "model picker");
    assert(await page.isHidden("#login-view"), "no login form");
    assert(await page.isHidden("#logout"), "no log-out button");
  });

  await test("Korean IME: Enter while composing does not send (real composition events)", async () => {
    const cdp = await page.context().newCDPSession(page);
    await page.focus("#input");
    await page.evaluate(() => {
      window.__ime = [];
      const i = document.getElementById("input");
      for (const k of ["compositionstart", "compositionupdate", "compositionend"]) i.addEventListener(k, () => window.__ime.push(k));
      i.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.keyCode === 229) window.__ime.push("keydown:" + e.isComposing); });
    });
    await cdp.send("Input.imeSetComposition", { text: "ㅎ", selectionStart: 1, selectionEnd: 1 });
    await cdp.send("Input.imeSetComposition", { text: "하", selectionStart: 1, selectionEnd: 1 });
    await cdp.send("Input.imeSetComposition", { text: "한", selectionStart: 1, selectionEnd: 1 });
    // the Enter that an IME turns into "commit": keyCode 229 while the composition is open
    await cdp.send("Input.dispatchKeyEvent", { type: "rawKeyDown", key: "Enter", code: "Enter", windowsVirtualKeyCode: 229, nativeVirtualKeyCode: 229 });
    await cdp.send("Input.insertText", { text: "한" });
    await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13 });
    await page.waitForTimeout(300);
    const ev = await page.evaluate(() => window.__ime);
    assert(ev.includes("compositionstart") && ev.includes("compositionend"), "a real composition happened: " + ev.join(","));
    assert(ev.some((e) => e.startsWith("keydown:")), "the Enter reached the page: " + ev.join(","));
    eq(await page.locator(".msg.user").count(), 0, "nothing sent while composing");
    eq(await page.inputValue("#input"), "한", "the composed syllable stays in the box");
    await page.fill("#input", "");
  });

  await test("Korean text renders with real glyphs (no tofu)", async () => {
    const ok = await page.evaluate(async () => {
      await document.fonts.ready;
      const font = getComputedStyle(document.body).fontFamily;
      const c = document.createElement("canvas").getContext("2d");
      c.font = "20px " + font;
      const w = (s) => c.measureText(s).width;
      // an unassigned code point draws the missing-glyph box; Hangul must not
      const tofu = w("\u{10FFFD}"), han = ["한", "국", "어", "채", "팅"].map(w);
      return { tofu, han, ok: han.every((x) => x > 0 && Math.abs(x - tofu) > 0.5) && document.fonts.check("20px 'Noto Sans CJK KR'") };
    });
    assert(ok.ok, JSON.stringify(ok));
  });

  const sent = await shapeChat(page, { max_tokens: 40 });
  await test("a question streams its answer, stored on the server", async () => {
    const m = await ask(page, "Hello there! Tell me about `code` and **bold** <b>not html</b>");
    const userText = await page.textContent(".msg.user .content");
    assert(userText.includes("<b>not html</b>"), "user text shown literally: " + userText);
    assert((await m.locator(".content").textContent()).length > 0, "answer text");
    eq(await page.locator(".msg.assistant .content b").count(), 0, "no raw HTML from the model");
    assert(/^\/c\/[\w-]+$/.test(new URL(page.url()).pathname), "the URL names the conversation: " + page.url());
    assert(sent[0].stream === true && sent[0].messages.at(-1).content.startsWith("Hello there"), "streamed request");
    const id = new URL(page.url()).pathname.slice(3);
    const tree = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    eq(tree.path.length, 2, "question and answer stored");
    const a = tree.messages.find((x) => x.id === tree.path[1]);
    assert(a.role === "assistant" && a.content.length > 0, "the stored answer: " + JSON.stringify(a));
    await page.hover(".msg.assistant .meta");
    const meta = await page.getAttribute(".msg.assistant .meta", "title");
    assert(/tokens/.test(meta) && /tokens\/s/.test(meta), "token count and speed on hover: " + meta);
    await shot(page, "chat");
  });

  await test("stop ends a long answer and keeps what came", async () => {
    // ban SmolLM2's end tokens (0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>) so it runs long
    await shapeChat(page, { max_tokens: 2000, logit_bias: { 0: -100, 1: -100, 2: -100 } }, sent);
    const n = await turns(page);
    await page.fill("#input", "Write a very long story about a dragon.");
    await page.click("#send");
    await page.waitForSelector("#stop", { state: "visible", timeout: 10000 });
    await page.waitForFunction(() => {
      const m = document.querySelector(".msg.assistant.streaming .content");
      return m && m.textContent.length > 20;
    }, null, { timeout: 30000 });
    await page.keyboard.press("Escape");   // the shortcut for stop
    await idle(page, n);
    const last = page.locator(".msg.assistant").last();
    const len1 = (await last.locator(".content").textContent()).length;
    await page.waitForTimeout(500);
    eq((await last.locator(".content").textContent()).length, len1, "no more text after stop");
    assert(len1 > 20, "the partial answer is kept");
    assert(await page.isVisible("#send"), "can send again");
    const id = new URL(page.url()).pathname.slice(3);
    const tree = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    eq(tree.path.length, 4, "the stopped answer is stored too");
    await shapeChat(page, { max_tokens: 40 }, sent);
  });

  await test("the conversation survives a reload; the sidebar lists it under Today; New chat clears", async () => {
    await page.reload();
    await ready(page);
    eq(await page.locator(".msg.user").count(), 2, "two questions restored");
    eq(await page.locator("#conversations section[data-group=today] li.conv").count(), 1, "listed under Today");
    await page.keyboard.press("Control+Shift+O");
    eq(await page.locator(".msg").count(), 0, "new chat is empty");
    eq(new URL(page.url()).pathname, "/", "back at /");
  });

  await test("Markdown: tables, highlighted code with a copy button, KaTeX; no script, no handler", async () => {
    eq(await page.evaluate(() => document.body.dataset.heavy || ""), "", "KaTeX and highlight.js not loaded before the first math or code");
    const html = await page.evaluate(async () => (await omni.loadHeavy(), omni.renderMarkdown(
      "# T\n\nsome `x` and **b**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```js\nlet a = '<script>';\n```\n\n" +
      "Euler: $e^{i\\pi} + 1 = 0$\n\n$$\\int_0^1 x^2\\,dx$$\n\n<img src=x onerror=\"window.__x=1\"><script>window.__x=2</script>[l](javascript:alert(1))")));
    assert(html.includes("<h1>T</h1>") && html.includes("<code>x</code>") && html.includes("<strong>b</strong>"), html);
    assert(html.includes("<table>") && html.includes("<td>1</td>"), "table: " + html);
    assert(html.includes('class="hljs language-js"') && html.includes("hljs-keyword") && html.includes("&lt;script&gt;"), "highlighted, escaped: " + html);
    assert(html.includes('class="copy-code"'), "copy button");
    assert((html.match(/class="katex"/g) || []).length >= 2 && html.includes("katex-display"), "inline and display math");
    const bad = await page.evaluate((h) => { const d = document.createElement("div"); d.innerHTML = h;
      return d.querySelectorAll("script, img, [onerror], a[href^='javascript']").length; }, html);
    eq(bad, 0, "no script, no image, no handler, no javascript: link: " + html);
    assert(html.includes("&lt;img src=x onerror="), "the HTML shown as text");
  });

  await test("a rendered answer: the code copy button copies the code", async () => {
    await page.route("**/v1/chat/completions", (route) => route.fulfill({
      status: 200, headers: { "Content-Type": "text/event-stream" },
      body: ["| k | v |\n|---|---|\n| 가 | 1 |\n\n```python\nprint('hi')\n```\n\n$a^2+b^2=c^2$ <img src=x onerror=\"window.__pwned=1\">"]
        .map((c) => "data: " + JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: c }, finish_reason: null }] }) + "\n\n").join("") + "data: [DONE]\n\n",
    }));
    const n = await turns(page);
    await page.fill("#input", "show me");
    await page.press("#input", "Enter");
    await idle(page, n);
    const m = page.locator(".msg.assistant").last();
    await m.locator(".content table td").first().waitFor();
    await m.locator(".content .katex").first().waitFor();   // math rendered
    await m.locator(".content .hljs-built_in, .content .hljs-string").first().waitFor();   // code highlighted
    await m.locator(".copy-code").click();
    await page.waitForFunction(() => document.body.dataset.copied === "print('hi')", null, { timeout: 30000 }).catch(() => {});
    eq(await page.evaluate(() => document.body.dataset.copied), "print('hi')", "copied the code");
    eq(await page.evaluate(() => window.__pwned), undefined, "nothing ran");
    await shot(page, "markdown");
    await shapeChat(page, { max_tokens: 40 }, sent);
  });

  await test("Ctrl+K focuses the search box", async () => {
    await page.keyboard.press("Control+k");
    eq(await page.evaluate(() => document.activeElement.id), "search", "search focused");
    await page.keyboard.press("Escape");
  });

  await test("an image on a model without vision: refused with a note, nothing attached", async () => {
    await page.setInputFiles("#file", `${MODELS}/images/logo112.png`);
    await page.waitForSelector("#toast:not([hidden])");
    assert(await page.isHidden("#attachments"), "no pending image");
  });

  await test("a text file is attached inline", async () => {
    const n = await turns(page);
    await page.setInputFiles("#file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("the harbour has 3 boats") });
    await page.waitForSelector("#attachments .pending[data-kind=text]");
    await page.fill("#input", "Summarize the file");
    await page.press("#input", "Enter");
    await idle(page, n);
    const q = sent.at(-1).messages.at(-1).content;
    assert(q.startsWith("Summarize the file") && q.includes("[notes.txt]") && q.includes("the harbour has 3 boats"), q);
  });

  await test("no page errors", async () => { assert(errors.length === 0, errors.join("; ")); });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
}

// Images: a server with an image encoder, attach via the file input, thumbnail, reply; and
// a conversation longer than the context.
let vsrv, vbrowser;
try {
  vsrv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`,
    "--mmproj", `${MODELS}/synth/synth-llava-mmproj-f16.gguf`, "--ctx", "1024"]);
  vbrowser = await launch();
  const page = await vbrowser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const sent = await shapeChat(page, { max_tokens: 24, logit_bias: { 0: -100, 1: -100, 2: -100 } });
  await page.goto(vsrv.url + "/");
  await ready(page);

  await test("attach an image: thumbnail shown, sent as image_url, reply streams, stored with it", async () => {
    await page.setInputFiles("#file", `${MODELS}/images/logo112.png`);
    await page.waitForSelector("#attachments img.thumb", { timeout: 5000 });
    await ask(page, "What is in this picture?");
    assert(await page.isHidden("#attachments"), "pending strip cleared after sending");
    await page.waitForFunction(() => { const i = document.querySelector(".msg.user img.thumb"); return i && i.complete && i.naturalWidth === 112; });
    eq(await page.locator(".msg.error").count(), 0, "no error reply");
    const parts = sent[0].messages.at(-1).content;
    assert(Array.isArray(parts) && parts[0].type === "image_url" && parts[0].image_url.url.startsWith("data:image/png;base64,"), "image_url data URI sent");
    assert(parts[1].type === "text" && parts[1].text === "What is in this picture?", "text part sent");
    await page.reload();
    await ready(page);
    await page.waitForFunction(() => { const i = document.querySelector(".msg.user img.thumb"); return i && i.complete && i.naturalWidth === 112; });
    await shot(page, "chat_image");
  });

  await test("a conversation longer than the context: answered, with a note that old turns were left out", async () => {
    await page.unroute("**/v1/chat/completions");
    await page.route("**/v1/chat/completions", (route) => {
      const body = JSON.parse(route.request().postData());
      const old = [];
      for (let i = 0; i < 30; i++) {
        old.push({ role: "user", content: `Earlier question ${i} about the harbour, the lighthouse and the boats at night.` });
        old.push({ role: "assistant", content: `Earlier answer ${i}: the lighthouse turns slowly over the water.` });
      }
      body.messages = old.concat(body.messages.filter((m) => typeof m.content === "string"));
      body.max_tokens = 16;
      route.continue({ postData: JSON.stringify(body) });
    });
    await page.click("#new-chat");
    const n = await turns(page);
    await page.fill("#input", "And what happened next?");
    await page.press("#input", "Enter");
    await page.waitForSelector(".msg.assistant .note", { timeout: 30000 });
    await idle(page, n);
    /* read once the answer is stored and drawn again: the note stays with it */
    const note = await page.textContent(".msg.assistant .note", { timeout: 5000 });
    assert(/\d+ earlier messages were left out/.test(note), note);
    eq(await page.locator(".msg.error").count(), 0, "no error reply");
  });

  await test("image pages: no page errors", async () => { assert(errors.length === 0, errors.join("; ")); });
} catch (e) {
  await test("vision setup", async () => { throw e; });
} finally {
  if (vbrowser) await vbrowser.close();
  if (vsrv) await stopServer(vsrv);
}
process.exit(summary());
