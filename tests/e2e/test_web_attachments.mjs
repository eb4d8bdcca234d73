// Documents attached in the web app, in headless Chromium (--no-auth server): a Korean PDF
// (drawn by pango-view) goes up through /v1/files, the server extracts its text
// (GET /v1/files/{id}/text, poppler), and the text goes into the question inline, so the
// model reads it; the chip says how many pages; the question stored on the server carries
// the text; a broken PDF is refused with the extractor's message and nothing is sent; the
// text route itself: another type of file is a 400, a missing id a 404. Images (vision) are
// in test_web_chat.mjs, audio files (transcribed) in test_web_voice.mjs.
// Screenshot under build/screenshots.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, idle, turns, shapeChat, shot } from "./web_helpers.mjs";

const { test, summary } = makeCounter(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-webattach-"));
function pdf(text) {
  const out = `${tmp}/doc-${Math.random().toString(36).slice(2)}.pdf`;
  const r = spawnSync("pango-view", ["--font=Noto Sans CJK KR 12", "-q", "-o", out, "--text", text]);
  if (r.status !== 0) throw new Error("pango-view (Debian pango1.0-tools, scripts/setup.sh) failed: " + r.stderr);
  return fs.readFileSync(out);
}
let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--parallel", "2", "--ctx", "4096"]);
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const sent = await shapeChat(page, { max_tokens: 8, temperature: 0 });
  const uploads = [];
  page.on("request", (r) => { if (new URL(r.url()).pathname.startsWith("/v1/files")) uploads.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  await page.goto(srv.url + "/");
  await ready(page);

  await test("a PDF: uploaded to /v1/files, its text extracted by the server and sent inline", async () => {
    const n = await turns(page);
    await page.setInputFiles("#file", { name: "가습기.pdf", mimeType: "application/pdf",
      buffer: pdf("가습기 사용 설명서\n\n물통은 일주일에 한 번 구연산으로 세척하세요.\n\nThe filter lasts six months.") });
    await page.waitForSelector("#attachments .pending[data-kind=doc][data-ready='1']", { timeout: 60000 });
    const chip = await page.textContent("#attachments .pending .chip");
    assert(chip.includes("가습기.pdf") && / 1 page$/.test(chip.trim()), "the chip names the file and its pages: " + chip);
    assert(uploads.some((u) => u === "POST /v1/files") && uploads.some((u) => /^GET \/v1\/files\/file-[\w-]+\/text$/.test(u)),
      "through the Files API: " + uploads.join(", "));
    await shot(page, "attach_pdf");
    await page.fill("#input", "물통은 얼마나 자주 씻나요?");
    await page.press("#input", "Enter");
    await idle(page, n);
    const q = sent.at(-1).messages.at(-1).content;
    assert(typeof q === "string" && q.startsWith("물통은 얼마나 자주 씻나요?"), "the question first: " + q);
    assert(q.includes("[가습기.pdf]") && q.includes("구연산으로 세척하세요") && q.includes("six months"), "the PDF's text inline: " + q);
    assert(!q.includes("%PDF"), "text, not the file's bytes");
    eq(await page.locator(".msg.error").count(), 0, "no error");
    assert(await page.isHidden("#attachments"), "the strip is cleared after sending");
    const id = new URL(page.url()).pathname.slice(3);
    const tree = await (await fetch(`${srv.url}/api/conversations/${id}`)).json();
    const u = tree.messages.find((x) => x.role === "user");
    assert(u.content.includes("구연산으로 세척하세요"), "stored with the question: " + u.content);
  });

  await test("a broken PDF: the server's message, nothing attached, nothing sent", async () => {
    const n = sent.length;
    await page.setInputFiles("#file", { name: "broken.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.7\nthis is not a PDF body") });
    await page.waitForSelector("#attachments .pending[data-kind=doc][data-ready='1']", { timeout: 60000 });
    const err = await page.textContent("#attachments .pending .error-text");
    assert(err.includes("broken.pdf"), "the extractor's message names the file: " + err);
    const t0 = await turns(page);
    await page.fill("#input", "and this one?");
    await page.press("#input", "Enter");
    await idle(page, t0);
    const q = sent.length > n ? sent.at(-1).messages.at(-1).content : "";
    assert(!String(q).includes("not a PDF body"), "the broken file's bytes are never sent: " + q);
    await page.click("#new-chat");
  });

  await test("GET /v1/files/{id}/text: a PDF's text with its page count; a Markdown file's headings", async () => {
    const fd = new FormData();
    fd.append("purpose", "user_data");
    fd.append("file", new Blob([pdf("첫 쪽의 문장입니다.")], { type: "application/pdf" }), "one.pdf");
    const f = await (await fetch(srv.url + "/v1/files", { method: "POST", body: fd })).json();
    const r = await fetch(`${srv.url}/v1/files/${f.id}/text`);
    eq(r.status, 200, "200");
    const j = await r.json();
    eq([j.id, j.object, j.filename, j.format, j.pages], [f.id, "file.text", "one.pdf", "pdf", 1], "the fields");
    assert(j.text.includes("첫 쪽의 문장입니다"), "the text: " + j.text);
    // headings come back as Markdown
    const md = new FormData();
    md.append("purpose", "user_data");
    md.append("file", new Blob(["# 설치\n\n바닥에 두세요.\n\n## 세척\n\n일주일에 한 번."], { type: "text/markdown" }), "manual.md");
    const fm = await (await fetch(srv.url + "/v1/files", { method: "POST", body: md })).json();
    const jm = await (await fetch(`${srv.url}/v1/files/${fm.id}/text`)).json();
    eq([jm.format, jm.pages], ["md", 0], "a Markdown file");
    eq(jm.text, "# 설치\n\n바닥에 두세요.\n\n## 세척\n\n일주일에 한 번.", "headings and paragraphs");
  });

  await test("GET /v1/files/{id}/text: an image is a 400, a missing id a 404, POST a 405", async () => {
    const fd = new FormData();
    fd.append("purpose", "vision");
    fd.append("file", new Blob([fs.readFileSync(`${MODELS}/images/logo112.png`)], { type: "image/png" }), "logo.png");
    const f = await (await fetch(srv.url + "/v1/files", { method: "POST", body: fd })).json();
    const bad = await fetch(`${srv.url}/v1/files/${f.id}/text`);
    eq(bad.status, 400, "no text in an image");
    const e = (await bad.json()).error;
    assert(e && e.message.includes("logo.png") && e.code === "unsupported_file", JSON.stringify(e));
    eq((await fetch(`${srv.url}/v1/files/file-doesnotexist/text`)).status, 404, "missing");
    eq((await fetch(`${srv.url}/v1/files/${f.id}/text`, { method: "POST", headers: { Origin: srv.url } })).status, 405, "method");
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
