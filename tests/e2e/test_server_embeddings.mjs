// /v1/embeddings and /v1/rerank against llama.cpp's goldens (../shared/golden/embed; the
// tolerances of its README: every component within 2e-3, cosine >= 0.9999), through the
// official OpenAI client (float, base64, and its default, which asks for base64 and decodes
// it), Matryoshka `dimensions`, OpenAI-shaped 400s for bad input, an embedding-only server
// (-m with a BERT file: chat answers 400) and one serving a chat model next to a reranker.
import OpenAI from "openai";
import * as fs from "node:fs";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(13);
const GOLDEN = process.env.OMNI_GOLDEN || "../shared/golden";
const BGE = `${MODELS}/synth/synth-bert-bge-f16.gguf`, RERANK = `${MODELS}/synth/synth-bert-xlmr-rerank-f16.gguf`;
const readJsonl = (f) => fs.readFileSync(`${GOLDEN}/embed/${f}`, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
const golden = readJsonl("synth-bert-bge-f16.jsonl");
const rerankGolden = readJsonl("synth-bert-xlmr-rerank-f16.rerank.jsonl");

function close(vec, g, what) {
  eq(vec.length, g.embedding.length, `${what}: length`);
  let dot = 0, gg = 0, maxd = 0;
  for (let i = 0; i < vec.length; i++) {
    maxd = Math.max(maxd, Math.abs(vec[i] - g.embedding[i]));
    dot += vec[i] * g.embedding[i];
    gg += g.embedding[i] ** 2;
  }
  const cos = dot / Math.sqrt(gg) / Math.hypot(...vec);
  assert(maxd <= 2e-3, `${what}: a component is ${maxd} from the golden`);
  assert(cos >= 0.9999, `${what}: cosine ${cos}`);
  return maxd;
}

let srv;
async function raw(path, body) {
  const r = await fetch(srv.url + path, { method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text };
}
const isOpenAIError = (r, status) => r.status === status && r.json && r.json.error && typeof r.json.error.message === "string"
  && typeof r.json.error.type === "string";

try {
  srv = await startServer(["-m", BGE]);
  const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  const ids = golden.map((g) => g.tokens);

  await test("float vectors of every golden case equal llama.cpp's", async () => {
    const r = await client.embeddings.create({ model: "synth-bert-bge-f16", input: ids, encoding_format: "float" });
    eq(r.object, "list", "object");
    eq(r.data.length, golden.length, "one vector per input");
    let maxd = 0;
    r.data.forEach((d, i) => { eq(d.index, i, "index"); maxd = Math.max(maxd, close(d.embedding, golden[i], `case ${i}`)); });
    const n = ids.reduce((a, t) => a + t.length, 0);
    eq(r.usage, { prompt_tokens: n, total_tokens: n }, "usage");
    console.log(`  float: max |d| ${maxd.toExponential(2)} over ${golden.length} cases`);
  });

  await test("the client's default (base64 on the wire, decoded by the SDK) gives the same vectors", async () => {
    const r = await client.embeddings.create({ model: "synth-bert-bge-f16", input: ids.slice(0, 3) });
    r.data.forEach((d, i) => close(d.embedding, golden[i], `case ${i}`));
  });

  await test("encoding_format base64 is little-endian float32", async () => {
    const r = await client.embeddings.create({ input: ids[1], encoding_format: "base64" });
    assert(typeof r.data[0].embedding === "string", "a base64 string");
    const b = Buffer.from(r.data[0].embedding, "base64");
    const v = Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
    close(v, golden[1], "base64");
  });

  await test("dimensions truncates and renormalises (Matryoshka)", async () => {
    const r = await client.embeddings.create({ input: [ids[0]], dimensions: 16, encoding_format: "float" });
    const v = r.data[0].embedding;
    eq(v.length, 16, "length");
    assert(Math.abs(Math.hypot(...v) - 1) < 1e-5, "unit length");
    const head = golden[0].embedding.slice(0, 16), hn = Math.hypot(...head);
    v.forEach((x, i) => assert(Math.abs(x - head[i] / hn) < 2e-3, `component ${i}`));
  });

  await test("bad input is a 400 in OpenAI's shape", async () => {
    for (const [body, what] of [[{ input: [] }, "empty list"], [{ input: "" }, "empty string"], [{}, "no input"],
      [{ input: [[]] }, "empty token list"], [{ input: [[101, 999999]] }, "id outside the vocabulary"],
      [{ input: [Array(513).fill(1000)] }, "longer than 512 positions"], [{ input: [ids[0]], encoding_format: "int8" }, "encoding_format"],
      [{ input: [ids[0]], dimensions: 65 }, "dimensions > n_embd"], [{ input: [ids[0]], dimensions: 0 }, "dimensions 0"],
      [{ input: 42 }, "a number"]]) {
      const r = await raw("/v1/embeddings", body);
      assert(isOpenAIError(r, 400), `${what}: ${r.status} ${r.text}`);
    }
    const nf = await raw("/v1/embeddings", { model: "nope", input: [ids[0]] });
    assert(isOpenAIError(nf, 404), `unknown model: ${nf.status}`);
    let threw = null;
    try { await client.embeddings.create({ input: [] }); } catch (e) { threw = e; }
    assert(threw && threw.status === 400 && /input/.test(threw.message), `the SDK raises BadRequestError: ${threw}`);
  });

  await test("text input (WordPiece in the server) gives the golden's vectors and token counts", async () => {
    const r = await client.embeddings.create({ input: golden.map((g) => g.prompt), encoding_format: "float" });
    r.data.forEach((d, i) => close(d.embedding, golden[i], `text case ${i}`));
    const n = ids.reduce((a, t) => a + t.length, 0);
    eq(r.usage.prompt_tokens, n, "the golden's token count");
    const one = await client.embeddings.create({ input: golden[0].prompt, encoding_format: "float" });
    close(one.data[0].embedding, golden[0], "a single string");
  });

  await test("an embedding-only server: /v1/models lists it, chat answers a clear 400, rerank too", async () => {
    const m = await raw("/v1/models");
    eq(m.json.data.map((d) => d.id), ["synth-bert-bge-f16"], "models");
    eq(m.json.data[0].meta.kind, "embedding", "kind");
    eq(m.json.data[0].meta.n_embd, 64, "n_embd");
    const c = await raw("/v1/chat/completions", { messages: [{ role: "user", content: "hi" }] });
    assert(isOpenAIError(c, 400) && /embeddings/.test(c.json.error.message), `chat: ${c.status} ${c.text}`);
    const rr = await raw("/v1/rerank", { query: "q", documents: ["a"] });
    assert(isOpenAIError(rr, 400) && /rerank/.test(rr.json.error.message), `rerank on an embedder: ${rr.text}`);
    const h = await raw("/health");
    eq(h.status, 200, "health");
  });

  await test("a batch is the same as one at a time", async () => {
    const all = await client.embeddings.create({ input: ids, encoding_format: "float" });
    for (const i of [0, 6]) {
      const one = await client.embeddings.create({ input: [ids[i]], encoding_format: "float" });
      one.data[0].embedding.forEach((x, k) => assert(Math.abs(x - all.data[i].embedding[k]) < 1e-6, `case ${i}`));
    }
  });
  await stopServer(srv);

  // a chat model with a reranker next to it
  srv = await startServer(["-m", `${MODELS}/llm/stories260K.gguf`, "--embedding-model", RERANK, "--ctx", "128"]);
  const client2 = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  await test("/v1/models lists the chat model and the reranker", async () => {
    const m = await raw("/v1/models");
    eq(m.json.data.map((d) => d.id), ["stories260K", "synth-bert-xlmr-rerank-f16"], "ids");
    eq(m.json.data[1].meta.kind, "rerank", "kind");
  });
  await test("chat still works next to it", async () => {
    const r = await client2.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 4, temperature: 0 });
    assert(r.choices[0].text.length > 0, "text");
  });
  await test("/v1/rerank and /v1/reranking: the golden's scores, ranking and token counts (unigram tokenizer in the server)", async () => {
    for (const q of rerankGolden) {
      const docs = q.results.map((r) => r.document);
      for (const path of ["/v1/rerank", "/v1/reranking"]) {
        const r = await raw(path, { model: "synth-bert-xlmr-rerank-f16", query: q.query, documents: docs, return_documents: true });
        eq(r.status, 200, `${path}: ${r.text}`);
        eq(r.json.results.map((x) => x.index), q.ranking, "ranking");
        r.json.results.forEach((x) => {
          assert(Math.abs(x.relevance_score - q.results[x.index].score) <= 0.03, `score of ${x.index}`);
          eq(x.document.text, docs[x.index], "document");
        });
        const n = q.results.reduce((a, x) => a + x.tokens.length, 0);
        eq(r.json.usage.prompt_tokens, n, "usage");
      }
      const top = await raw("/v1/rerank", { query: q.query, documents: docs, top_n: 2 });
      eq(top.json.results.map((x) => x.index), q.ranking.slice(0, 2), "top_n 2");
      assert(top.json.results.every((x) => x.document === undefined), "no documents unless asked");
    }
  });
  await test("/v1/rerank bad input and top_n", async () => {
    for (const [body, what] of [[{ documents: ["a"] }, "no query"], [{ query: "q" }, "no documents"],
      [{ query: "q", documents: [] }, "empty documents"], [{ query: "q", documents: [""] }, "empty document"],
      [{ query: "q", documents: ["a"], top_n: 0 }, "top_n 0"], [{ query: "q", documents: [3] }, "a number"]]) {
      const r = await raw("/v1/rerank", body);
      assert(isOpenAIError(r, 400), `${what}: ${r.status} ${r.text}`);
    }
  });
  await test("/v1/embeddings on a reranker is a 400 that says so", async () => {
    const r = await raw("/v1/embeddings", { model: "synth-bert-xlmr-rerank-f16", input: [[0, 5, 2]] });
    assert(isOpenAIError(r, 400) && /rerank/.test(r.json.error.message), `${r.status} ${r.text}`);
    const c = await raw("/v1/embeddings", { model: "stories260K", input: [[0, 5, 2]] });
    assert(isOpenAIError(c, 400) && /chat model/.test(c.json.error.message), `${c.status} ${c.text}`);
  });
} catch (e) {
  await test("setup", () => { throw e; });
} finally {
  if (srv) await stopServer(srv);
}
process.exit(summary());
