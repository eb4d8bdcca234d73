// `omni serve --mmproj`: image_url parts through the official openai client on the synth
// LLaVA-layout encoder + SmolLM2-shaped LLM: usage counts the image positions, the
// reply depends on the pixels and is deterministic, bad images and servers without an
// encoder answer 400.
import * as fs from "node:fs";
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter();
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
