// The chat page with a thinking model, in headless Chromium: the model's thoughts arrive as
// delta.reasoning_content and show in a "Thinking" block that is folded by default (opened
// by a click), apart from the answer; the server stores them with the answer (a reload and
// another browser show them); in Korean the block says so in
// Korean; the "think first" setting sends enable_thinking false; and thoughts full of HTML
// are shown as text and run nothing. The server runs the random-weight Qwen3 file (Qwen3's
// real template); logit_bias makes its greedy reply "<think> thoughts </think> answer", as
// in test_server_reasoning.mjs. Screenshot under build/screenshots.
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, ask, shot } from "./web_helpers.mjs";

const { test, summary } = makeCounter(9);
const BIAS = { 16408: 15, 16409: 18.8 };   // "<think>", "</think>"
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--parallel", "2", "--ctx", "512"]);
  browser = await launch();
  // The biased reply is tuned to the bare prompt: memory off, so a stored chat gets no
  // memory tool (the page's chats are stored). What the API itself answers for the same
  // request in a stored conversation: the page must show exactly this.
  const json = { "Content-Type": "application/json", Origin: srv.url };
  const off = await fetch(srv.url + "/api/settings", { method: "PATCH", headers: json, body: JSON.stringify({ memory_enabled: false }) });
  assert(off.status === 200, "memory off: " + off.status);
  const conv = await (await fetch(srv.url + "/api/conversations", { method: "POST", headers: json, body: "{}" })).json();
  const api = await (await fetch(srv.url + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json", "X-Omni-Conversation": conv.id },
    body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], temperature: 0, max_tokens: 16, logit_bias: BIAS }),
  })).json();
  const want = api.choices[0].message;
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 }, locale: "en-US" });
  const page = await ctx.newPage();
  const errors = [], sent = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.route("**/v1/chat/completions", (route) => {
    const body = JSON.parse(route.request().postData());
    sent.push(body);
    Object.assign(body, { max_tokens: 16, temperature: 0, logit_bias: BIAS });
    route.continue({ postData: JSON.stringify(body) });
  });
  await page.goto(srv.url + "/");
  await ready(page);
  eq(await page.inputValue("#model-picker"), "synth-qwen3-f16", "the model");

  await test("thoughts go into a folded Thinking block, the answer below it", async () => {
    assert(want.reasoning_content && want.content, "the API reply has both: " + JSON.stringify(want));
    const m = await ask(page, "Hi");
    const d = m.locator("details.thinking");
    eq(await d.count(), 1, "one thinking block");
    eq(await d.evaluate((e) => e.open), false, "folded by default");
    eq(await d.locator("summary").textContent(), "Thinking", "summary");
    assert(await d.locator(".thinking-text").isHidden(), "thoughts hidden while folded");
    eq(await d.locator(".thinking-text").textContent(), want.reasoning_content, "the thoughts, as the API gives them");
    eq((await m.locator(".content").textContent()).trim(), want.content.trim(), "the answer (Markdown-rendered), without the thoughts");
    assert(!(await m.textContent()).includes("<think>"), "no tags on the page");
  });

  await test("a click opens the block", async () => {
    const d = page.locator(".msg.assistant details.thinking").first();
    await d.locator("summary").click();
    assert(await d.locator(".thinking-text").isVisible(), "thoughts visible when opened");
    await shot(page, "reasoning");
  });

  await test("the history sent back carries the answer only", async () => {
    await ask(page, "And then?");
    const prev = sent.at(-1).messages.filter((x) => x.role === "assistant");
    eq(prev.length, 1, "one earlier answer");
    eq(prev[0].content, want.content, "answer only");
    eq(prev[0].reasoning, undefined, "no thoughts in the request");
  });

  await test("the thoughts are stored with the answer on the server: a reload, another browser", async () => {
    const id = new URL(page.url()).pathname.slice(3);
    const tree = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    const answers = tree.path.map((x) => tree.messages.find((m) => m.id === x)).filter((m) => m.role === "assistant");
    eq(answers.length, 2, "two answers on the path");
    eq(answers[0].reasoning, want.reasoning_content, "the first answer's thoughts, stored by the server");
    eq(answers[0].content, want.content, "and its answer, apart");
    assert(tree.messages.filter((m) => m.role === "user").every((m) => m.reasoning === undefined), "a question has none");
    const exp = await (await fetch(`${srv.url}/api/export`)).json();
    const ec = exp.conversations.find((c) => c.id === id);
    eq(ec.messages.find((m) => m.id === answers[0].id).reasoning, want.reasoning_content, "in the data export too");
    await page.reload();
    await ready(page);
    await page.waitForSelector(".msg.assistant details.thinking");
    const d = page.locator(".msg.assistant details.thinking").first();
    eq(await d.evaluate((e) => e.open), false, "folded");
    eq(await d.locator(".thinking-text").textContent(), want.reasoning_content, "restored text");
    // a browser with nothing stored locally (another device): the same, from the server
    const other = await browser.newContext({ viewport: { width: 1100, height: 720 }, locale: "en-US" });
    const p2 = await other.newPage();
    p2.on("pageerror", (e) => errors.push("other: " + e));
    await p2.goto(`${srv.url}/c/${id}`);
    await ready(p2);
    await p2.waitForSelector(".msg.assistant details.thinking");
    eq(await p2.locator(".msg.assistant details.thinking .thinking-text").first().textContent(), want.reasoning_content, "on another device");
    eq(await p2.evaluate(() => Object.keys(localStorage).filter((k) => /thought/.test(k))), [], "nothing kept in the browser");
    await other.close();
  });

  await test("a stopped answer keeps its thoughts; 'reasoning' on a question is a 400", async () => {
    const id = new URL(page.url()).pathname.slice(3);
    const json = { "Content-Type": "application/json", Origin: srv.url };
    const tree = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    const r = await fetch(`${srv.url}/api/conversations/${id}/messages`, { method: "POST", headers: json,
      body: JSON.stringify({ role: "assistant", content: "partial", reasoning: "half a thought", parent_id: tree.path.at(-2) }) });
    eq(r.status, 201, "stored");
    const m = await r.json();
    eq(m.reasoning, "half a thought", "the reply has it");
    const t2 = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    eq(t2.messages.find((x) => x.id === m.id).reasoning, "half a thought", "read back");
    const bad = await fetch(`${srv.url}/api/conversations/${id}/messages`, { method: "POST", headers: json,
      body: JSON.stringify({ role: "user", content: "q", reasoning: "no" }) });
    eq(bad.status, 400, "a question has no thoughts");
    const bad2 = await fetch(`${srv.url}/api/conversations/${id}/messages`, { method: "POST", headers: json,
      body: JSON.stringify({ role: "assistant", content: "a", reasoning: 5 }) });
    eq(bad2.status, 400, "not a string");
    // back to the branch the page showed
    await fetch(`${srv.url}/api/conversations/${id}`, { method: "PATCH", headers: json, body: JSON.stringify({ current_leaf: tree.current_leaf }) });
    await page.reload();
    await ready(page);
  });

  await test("unticking 'think first' sends enable_thinking false", async () => {
    await page.click("#open-settings");
    await page.uncheck("#think");
    await page.click("#dialog-close");
    await page.click("#new-chat");
    await ask(page, "Quick answer please");
    const b = sent.at(-1);
    assert(b.chat_template_kwargs && b.chat_template_kwargs.enable_thinking === false, JSON.stringify(b));
    await page.click("#open-settings");
    await page.check("#think");
    await page.click("#dialog-close");
  });

  await test("in Korean the block and the setting speak Korean", async () => {
    const ko = await ctx.newPage();
    ko.on("pageerror", (e) => errors.push(String(e)));
    await ko.route("**/v1/chat/completions", (route) => {
      const body = JSON.parse(route.request().postData());
      Object.assign(body, { max_tokens: 16, temperature: 0, logit_bias: BIAS });
      route.continue({ postData: JSON.stringify(body) });
    });
    await ko.goto(srv.url + "/?lang=ko");
    await ready(ko);
    eq(await ko.evaluate(() => document.documentElement.lang), "ko", "html lang");
    await ko.click("#new-chat");
    const m = await ask(ko, "Hi");   // the prompt whose biased reply thinks first
    eq(await m.locator("details.thinking summary").textContent(), "생각 과정", "Korean summary");
    await ko.click("#open-settings");
    eq((await ko.textContent("#think-label")).trim(), "답하기 전에 모델이 생각하게 하기", "Korean setting");
    await ko.close();
  });

  await test("thoughts full of HTML are text: no element, no script runs", async () => {
    const p = await ctx.newPage();
    p.on("pageerror", (e) => errors.push(String(e)));
    const evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold?</b>';
    const chunk = (delta) => "data: " + JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: null }] }) + "\n\n";
    // The page's own rendering is under test here, so the stream is canned.
    await p.route("**/v1/chat/completions", (route) => route.fulfill({
      status: 200, headers: { "Content-Type": "text/event-stream" },
      body: chunk({ role: "assistant", content: "" }) + chunk({ reasoning_content: evil }) + chunk({ content: "fine <i>x</i>" }) + "data: [DONE]\n\n",
    }));
    await p.goto(srv.url + "/?lang=en");
    await ready(p);
    await p.click("#new-chat");
    const m = await ask(p, "attack");
    await m.locator("details.thinking summary").click();
    await p.waitForTimeout(300);
    eq(await m.locator("details.thinking .thinking-text").textContent(), evil, "shown literally");
    eq(await m.locator("details.thinking img, details.thinking script, details.thinking b").count(), 0, "no elements from the model");
    eq(await m.locator(".content i").count(), 0, "answer HTML escaped too");
    eq(await p.evaluate(() => window.__pwned), undefined, "nothing ran");
    await p.close();
  });

  await test("no page errors", async () => { assert(errors.length === 0, errors.join("; ")); });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
}
process.exit(summary());
