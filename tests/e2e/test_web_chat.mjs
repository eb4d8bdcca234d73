// The chat page in headless Chromium: type a message, watch the reply stream in,
// stop a long reply, and check IME composition does not send. Screenshot in /tmp.
import { chromium } from "playwright-core";
import { startServer, stopServer, makeCounter, assert, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(11);
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--parallel", "2", "--ctx", "4096"]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/");

  await test("page shows the model name", async () => {
    await page.waitForFunction(() => document.getElementById("model-name").textContent === "synth-smollm2-f16", null, { timeout: 10000 });
  });

  await test("no attach button when the server has no image encoder", async () => {
    await page.waitForTimeout(200);
    assert(await page.isHidden("#attach"), "attach hidden");
  });

  await test("Enter during IME composition does not send", async () => {
    await page.fill("#input", "안녕");
    await page.dispatchEvent("#input", "keydown", { key: "Enter", isComposing: true, keyCode: 229 });
    await page.waitForTimeout(300);
    assert((await page.locator(".msg.user").count()) === 0, "nothing sent while composing");
    assert((await page.inputValue("#input")) === "안녕", "text kept");
    await page.fill("#input", "");
  });

  // Keep the first reply short whatever the random-weight model does.
  await page.route("**/v1/chat/completions", (route) => {
    const body = JSON.parse(route.request().postData());
    body.max_tokens = 40;
    route.continue({ postData: JSON.stringify(body) });
  });
  await test("typing a message streams a reply", async () => {
    await page.click("#settings summary");
    await page.fill("#system-prompt", "Be brief.");
    await page.fill("#input", "Hello there! Tell me about `code` and **bold** <b>not html</b>");
    await page.press("#input", "Enter");
    await page.waitForSelector(".msg.user");
    const userText = await page.textContent(".msg.user .content");
    assert(userText.includes("<b>not html</b>"), "user text shown literally: " + userText);
    // The reply grows while streaming, then the stop button hides again.
    await page.waitForFunction(() => {
      const m = document.querySelector(".msg.assistant .content");
      return m && m.textContent.length > 0;
    }, null, { timeout: 20000 });
    await page.waitForSelector("#stop", { state: "hidden", timeout: 60000 });
    const reply = await page.textContent(".msg.assistant .content");
    assert(reply.length > 0, "reply text");
    assert((await page.locator(".msg.assistant b").count()) === 0, "no raw HTML from the model");
  });

  await test("stop ends a long reply", async () => {
    const before = await page.locator(".msg.assistant").count();
    await page.unroute("**/v1/chat/completions");
    // A random-weight model may end its reply at once; ban its end tokens
    // (SmolLM2: 0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>) so this one runs long.
    await page.route("**/v1/chat/completions", (route) => {
      const body = JSON.parse(route.request().postData());
      body.logit_bias = { 0: -100, 1: -100, 2: -100 };
      route.continue({ postData: JSON.stringify(body) });
    });
    await page.fill("#input", "Write a very long story about a dragon.");
    await page.click("#send");
    await page.waitForSelector("#stop", { state: "visible", timeout: 10000 });
    await page.waitForFunction((n) => {
      const ms = document.querySelectorAll(".msg.assistant .content");
      return ms.length > n && ms[n].textContent.length > 20;
    }, before, { timeout: 30000 });
    await page.click("#stop");
    await page.waitForSelector("#stop", { state: "hidden", timeout: 5000 });
    const len1 = (await page.locator(".msg.assistant .content").nth(before).textContent()).length;
    await page.waitForTimeout(700);
    const len2 = (await page.locator(".msg.assistant .content").nth(before).textContent()).length;
    assert(len1 === len2, "no more text after stop");
    assert(await page.isEnabled("#send"), "can send again");
    await page.unroute("**/v1/chat/completions");
  });

  await test("conversation survives a reload (localStorage) and New chat clears", async () => {
    await page.screenshot({ path: "/tmp/omni_web_chat.png" });
    await page.reload();
    await page.waitForSelector(".msg.user");
    assert((await page.locator(".msg.user").count()) === 2, "two user messages restored");
    assert((await page.locator("#conversations li").count()) >= 1, "listed in the sidebar");
    await page.click("#new-chat");
    assert((await page.locator(".msg").count()) === 0, "new chat is empty");
  });

  await test("Markdown renders code blocks and escapes HTML", async () => {
    const html = await page.evaluate(() => {
      const d = document.createElement("div");
      d.innerHTML = renderMarkdown("# T\n\nsome `x` and **b**\n\n```js\nlet a = '<script>';\n```\n- one\n- two\n<img src=x onerror=alert(1)>");
      return d.innerHTML;
    });
    assert(html.includes("<pre>") && html.includes("&lt;script&gt;"), "code block escaped: " + html);
    assert(html.includes("<h1>T</h1>") && html.includes("<code>x</code>") && html.includes("<strong>b</strong>"), html);
    assert(html.includes("<li>one</li>") && !html.includes("<img"), "list, no img: " + html);
  });

  await test("no page errors", async () => { assert(errors.length === 0, errors.join("; ")); });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
}

// Images: a server with an image encoder, attach via the file input, thumbnail, reply.
let vsrv, vbrowser;
try {
  vsrv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`,
    "--mmproj", `${MODELS}/synth/synth-llava-mmproj-f16.gguf`, "--ctx", "1024"]);
  vbrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await vbrowser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const sent = [];
  await page.route("**/v1/chat/completions", (route) => {
    const body = JSON.parse(route.request().postData());
    sent.push(body);
    body.max_tokens = 24;
    body.logit_bias = { 0: -100, 1: -100, 2: -100 };
    route.continue({ postData: JSON.stringify(body) });
  });
  await page.goto(vsrv.url + "/");

  await test("attach an image: thumbnail shown, sent as image_url, reply streams", async () => {
    await page.waitForSelector("#attach", { state: "visible", timeout: 10000 });
    await page.setInputFiles("#file", `${MODELS}/images/logo112.png`);
    await page.waitForSelector("#attachments img.thumb", { timeout: 5000 });
    await page.fill("#input", "What is in this picture?");
    await page.press("#input", "Enter");
    await page.waitForSelector(".msg.user img.thumb", { timeout: 5000 });
    assert(await page.isHidden("#attachments"), "pending strip cleared after sending");
    const ok = await page.evaluate(() => {
      const i = document.querySelector(".msg.user img.thumb");
      return i.complete && i.naturalWidth === 112;
    });
    assert(ok, "thumbnail decoded (112 px wide)");
    await page.waitForFunction(() => {
      const m = document.querySelector(".msg.assistant .content");
      return m && m.textContent.length > 0;
    }, null, { timeout: 30000 });
    await page.waitForSelector("#stop", { state: "hidden", timeout: 60000 });
    assert((await page.locator(".msg.error").count()) === 0, "no error reply");
    const parts = sent[0].messages.at(-1).content;
    assert(Array.isArray(parts) && parts[0].type === "image_url" &&
      parts[0].image_url.url.startsWith("data:image/png;base64,"), "image_url data URI sent");
    assert(parts[1].type === "text" && parts[1].text === "What is in this picture?", "text part sent");
    await page.screenshot({ path: "/tmp/omni_web_chat_image.png" });
  });

  await test("a conversation longer than the context: answered, with a note that old turns were left out", async () => {
    // 1024-token context: prepend 60 earlier turns to what the page sends.
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
    await page.fill("#input", "And what happened next?");
    await page.press("#input", "Enter");
    await page.waitForSelector(".msg.assistant .note", { timeout: 30000 });
    await page.waitForSelector("#stop", { state: "hidden", timeout: 60000 });
    const note = await page.textContent(".msg.assistant .note");
    assert(/\d+ earlier messages were left out/.test(note) && note.includes("메시지"), note);
    assert((await page.locator(".msg.error").count()) === 0, "no error reply");
  });

  await test("image pages: no page errors", async () => { assert(errors.length === 0, errors.join("; ")); });
} catch (e) {
  await test("vision setup", async () => { throw e; });
} finally {
  if (vbrowser) await vbrowser.close();
  if (vsrv) await stopServer(vsrv);
}
process.exit(summary());
