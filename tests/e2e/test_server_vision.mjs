// `omni serve --mmproj`: image_url parts through the official openai client on the synth
// LLaVA-layout encoder + SmolLM2-shaped LLM: usage counts the image positions, the
// reply depends on the pixels and is deterministic, bad images and servers without an
// encoder answer 400; --allow-image-dir lets local files in and nothing outside.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, BIN } from "./server_helpers.mjs";

const { test, summary } = makeCounter(11);
const LLM = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const MMPROJ = `${MODELS}/synth/synth-llava-mmproj-f16.gguf`;
const IMG = `${MODELS}/images`;
const N_IMAGE_POS = 64; // 112x112 image, 14-pixel patches

const dataUri = (file, mime = "image/png") => `data:${mime};base64,` + fs.readFileSync(file).toString("base64");
const imagePart = (url) => ({ type: "image_url", image_url: { url, detail: "low" } });
const ask = (parts, extra = {}) => ({
  messages: [{ role: "user", content: parts }], max_tokens: 12, temperature: 0, ...extra,
});

let srv, plain, client;
try {
  srv = await startServer(["-m", LLM, "--mmproj", MMPROJ, "--parallel", "2", "--ctx", "512"]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  const logo = dataUri(`${IMG}/logo112.png`), plasma = dataUri(`${IMG}/plasma112.png`);
  const question = { type: "text", text: "\nDescribe the image." };

  let logoReply;
  await test("image_url part: 200 with text, usage counts the 64 image positions", async () => {
    const withImg = await client.chat.completions.create(ask([imagePart(logo), question]));
    const textOnly = await client.chat.completions.create(ask([question]));
    logoReply = withImg.choices[0].message.content;
    assert(typeof logoReply === "string" && logoReply.length > 0, "reply text: " + logoReply);
    const d = withImg.usage.prompt_tokens - textOnly.usage.prompt_tokens;
    // The text around the image is tokenized in two runs, so a newline merge may differ by one.
    assert(d >= N_IMAGE_POS && d <= N_IMAGE_POS + 1, `image adds ${d} prompt tokens`);
  });

  await test("two images in one message add exactly 64 positions each", async () => {
    const one = await client.chat.completions.create(ask([imagePart(logo), question], { max_tokens: 1 }));
    const two = await client.chat.completions.create(ask([imagePart(logo), imagePart(plasma), question], { max_tokens: 1 }));
    eq(two.usage.prompt_tokens - one.usage.prompt_tokens, N_IMAGE_POS, "second image");
  });

  await test("greedy reply is deterministic and depends on the pixels", async () => {
    const again = await client.chat.completions.create(ask([imagePart(logo), question]));
    eq(again.choices[0].message.content, logoReply, "same image, same reply");
    const other = await client.chat.completions.create(ask([imagePart(plasma), question]));
    assert(other.choices[0].message.content !== logoReply, "a different image gives a different reply: " + logoReply);
    const jpeg = await client.chat.completions.create(ask([imagePart(dataUri(`${IMG}/logo112.jpg`, "image/jpeg")), question]));
    assert(jpeg.choices[0].message.content.length > 0, "JPEG data URI accepted");
  });

  await test("image_url as a plain string and streaming with usage", async () => {
    const stream = await client.chat.completions.create({
      ...ask([{ type: "image_url", image_url: logo }, question]), stream: true, stream_options: { include_usage: true },
    });
    let text = "", usage = null;
    for await (const ch of stream) {
      if (ch.choices && ch.choices[0] && ch.choices[0].delta.content) text += ch.choices[0].delta.content;
      if (ch.usage) usage = ch.usage;
    }
    eq(text, logoReply, "streamed text equals the non-streamed reply");
    assert(usage && usage.prompt_tokens > N_IMAGE_POS, "usage in the stream");
  });

  async function expect400(parts, paramRe, msgRe) {
    let err = null;
    try { await client.chat.completions.create(ask(parts)); } catch (e) { err = e; }
    assert(err && err.status === 400, "expected 400, got " + (err ? err.status : "200"));
    assert(paramRe.test(err.error.param), "param: " + err.error.param);
    assert(msgRe.test(err.error.message), "message: " + err.error.message);
  }

  await test("corrupt PNG, bad base64, non-image type, remote URL -> 400 naming the part", async () => {
    const png = fs.readFileSync(`${IMG}/logo112.png`);
    const cut = "data:image/png;base64," + png.subarray(0, 200).toString("base64");
    await expect400([question, imagePart(cut)], /^messages\[0\]\.content\[1\]\.image_url/, /image|png/i);
    await expect400([imagePart("data:image/png;base64,@@@not base64")], /^messages\[0\]\.content\[0\]/, /base64/);
    await expect400([imagePart("data:text/plain;base64,aGVsbG8=")], /content\[0\]/, /media type/);
    await expect400([imagePart("https://example.com/cat.png")], /content\[0\]/, /data: URI/);
    // Local paths need the operator's --allow-image-dir; this server has none.
    await expect400([imagePart(`file://${fs.realpathSync(IMG)}/logo112.png`)], /content\[0\]/, /--allow-image-dir/);
  });

  await test("the server still answers text after bad images", async () => {
    const r = await client.chat.completions.create(ask([question], { max_tokens: 4 }));
    assert(r.choices[0].message.content.length > 0, "text reply");
  });
} catch (e) {
  await test("server with --mmproj", () => { throw e; });
} finally {
  if (srv) await stopServer(srv);
}

// --allow-image-dir: local files inside the folder are read; anything that resolves
// outside it (absolute path, "..", a symlink) or does not exist is the same 400.
let local;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-allow-"));
try {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), "omni-outside-"));
  fs.copyFileSync(`${IMG}/logo112.png`, `${dir}/logo.png`);
  fs.copyFileSync(`${IMG}/logo112.png`, `${dir}/a b.png`);
  fs.copyFileSync(`${IMG}/plasma112.png`, `${outside}/plasma.png`);
  fs.symlinkSync(`${outside}/plasma.png`, `${dir}/escape.png`);
  fs.symlinkSync(`${dir}/logo.png`, `${dir}/alias.png`);
  local = await startServer(["-m", LLM, "--mmproj", MMPROJ, "--ctx", "512", "--allow-image-dir", dir]);
  const c3 = new OpenAI({ baseURL: local.url + "/v1", apiKey: "none", maxRetries: 0 });
  const question = { type: "text", text: "\nDescribe the image." };
  const reply = async (url) => (await c3.chat.completions.create(ask([imagePart(url), question]))).choices[0].message.content;
  await test("--allow-image-dir: file:// URL, plain path, %20 and an inside symlink read the same pixels as a data URI", async () => {
    const want = await reply(dataUri(`${IMG}/logo112.png`));
    eq(await reply(`file://${dir}/logo.png`), want, "file:// URL");
    eq(await reply(`${dir}/logo.png`), want, "plain path");
    eq(await reply(`file://${dir}/a%20b.png`), want, "percent-encoded space");
    eq(await reply(`${dir}/alias.png`), want, "symlink inside the folder");
  });
  await test("--allow-image-dir: outside path, '..', symlink out, missing file -> 400 with one message", async () => {
    const c3bad = async (url) => {
      let err = null;
      try { await c3.chat.completions.create(ask([imagePart(url), question])); } catch (e) { err = e; }
      assert(err && err.status === 400, `${url}: expected 400, got ${err ? err.status : 200}`);
      assert(/not a file inside the folder/.test(err.error.message), `${url}: ${err.error.message}`);
      eq(err.error.param, "messages[0].content[0].image_url.url", "param");
    };
    await c3bad(`${outside}/plasma.png`);
    await c3bad(`${dir}/../${path.basename(outside)}/plasma.png`);
    await c3bad(`file://${dir}/escape.png`);
    await c3bad(`${dir}/missing.png`);
    await c3bad("/etc/passwd");
  });
  await test("--allow-image-dir: a non-image file inside is a 400, and a folder that does not exist is refused at start", async () => {
    fs.writeFileSync(`${dir}/notes.png`, "not an image");
    let err = null;
    try { await c3.chat.completions.create(ask([imagePart(`${dir}/notes.png`), question])); } catch (e) { err = e; }
    assert(err && err.status === 400, "non-image: " + (err ? err.status : 200));
    const r = spawnSync(BIN, ["serve", "-m", LLM, "--port", "0", "--allow-image-dir", `${dir}/nope`], { encoding: "utf8" });
    assert(r.status !== 0 && /allow-image-dir/.test(r.stderr), "bad folder: " + r.status + " " + r.stderr);
  });
  fs.rmSync(outside, { recursive: true, force: true });
} catch (e) {
  await test("server with --allow-image-dir", () => { throw e; });
} finally {
  if (local) await stopServer(local);
  fs.rmSync(dir, { recursive: true, force: true });
}

// With accounts: the images of a chat are counted in the user's usage (per user, model, day).
let acct;
const adir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-vision-acct-"));
try {
  acct = await startServer(["-m", LLM, "--mmproj", MMPROJ, "--ctx", "512", "--db", `sqlite:${adir}/omni.db`]);
  await test("with accounts, the images of a message are counted in the user's usage", async () => {
    const h = { "Content-Type": "application/json", Origin: acct.url };
    const su = await fetch(acct.url + "/api/auth/signup", { method: "POST", headers: h,
      body: JSON.stringify({ email: "eye@x.org", password: "vision-pass-1" }) });
    eq(su.status, 201, "signup");
    const cookie = su.headers.get("set-cookie").match(/omni_session=[^;]*/)[0];
    const logo = dataUri(`${IMG}/logo112.png`), plasma = dataUri(`${IMG}/plasma112.png`);
    const question = { type: "text", text: "\nDescribe the image." };
    for (const parts of [[imagePart(logo), question], [imagePart(logo), imagePart(plasma), question]]) {
      const r = await fetch(acct.url + "/v1/chat/completions", { method: "POST", headers: { ...h, Cookie: cookie },
        body: JSON.stringify(ask(parts, { max_tokens: 1 })) });
      eq(r.status, 200, await r.clone().text());
    }
    const u = await (await fetch(acct.url + "/api/usage", { headers: { Cookie: cookie } })).json();
    const images = u.data.reduce((n, row) => n + row.images, 0), requests = u.data.reduce((n, row) => n + row.requests, 0);
    eq([images, requests], [3, 2], "images and requests in /api/usage");
  });
} finally {
  if (acct) await stopServer(acct);
  fs.rmSync(adir, { recursive: true, force: true });
}

try {
  plain = await startServer(["-m", LLM, "--ctx", "256"]);
  const c2 = new OpenAI({ baseURL: plain.url + "/v1", apiKey: "none", maxRetries: 0 });
  await test("without --mmproj an image part is a 400 saying the model cannot take images", async () => {
    let err = null;
    try {
      await c2.chat.completions.create(ask([imagePart(dataUri(`${IMG}/logo112.png`)), { type: "text", text: "hi" }]));
    } catch (e) { err = e; }
    assert(err && err.status === 400 && /cannot take images/.test(err.error.message), String(err && err.message));
  });
} finally {
  if (plain) await stopServer(plain);
}
process.exit(summary());
