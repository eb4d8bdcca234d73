// An assistant's knowledge end to end (the proof of custom assistants with knowledge): a
// Korean product manual made here as a PDF (pango-view, headings in larger type) and as an
// HWPX (zip + XML); questions whose answers are only in the manual; the passage that
// answers comes first, with its file, page and heading; a chat with the assistant cites it
// (message.citations, and the first chunk of a stream) and the passages are what reaches the
// model (prompt tokens equal to the explicit request with the same system message, never the
// wording of a random-weight model's answer); published, another user finds it in the store,
// uses it, rates it, and cannot read its files; the bundle imported on a second server gives
// the same retrieval. On a server with the (random-weight) embedding model and reranker the
// search is hybrid+rerank: every passage carries its keyword and dense ranks and the
// reranker's score, which equals /v1/rerank on the same pair. Hostile knowledge files (a
// 200 MB PDF, a PDF poppler cannot open, a zip bomb HWPX, a zip-slip bundle, invalid UTF-8)
// each get one clear 4xx and leave the assistant's files and retrieval as they were.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { zip, hwpx, pdf } from "./doc_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(10);
const MODEL = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const EMB = `${MODELS}/synth/synth-bert-xlmr-f16.gguf`;
const RERANK = `${MODELS}/synth/synth-bert-xlmr-rerank-f16.gguf`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-asst-kb-"));
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "free", tiers: { free: {} } }));

function client(base) {
  const c = { base, cookie: null };
  c.req = async (method, p, body, { raw, type } = {}) => {
    const h = { Origin: base };
    if (c.cookie) h.Cookie = c.cookie;
    let b;
    if (raw !== undefined) { b = raw; if (type) h["Content-Type"] = type; }
    else if (body !== undefined) { b = JSON.stringify(body); h["Content-Type"] = "application/json"; }
    const r = await fetch(base + p, { method, headers: h, body: b });
    const buf = Buffer.from(await r.arrayBuffer());
    let json = null;
    try { json = JSON.parse(buf.toString("utf8")); } catch {}
    const sc = r.headers.get("set-cookie");
    if (sc && /omni_session=/.test(sc)) c.cookie = `omni_session=${sc.match(/omni_session=([^;]*)/)[1]}`;
    return { status: r.status, headers: r.headers, json, buf, text: buf.toString("utf8") };
  };
  return c;
}
async function user(base, email, name) {
  const u = client(base);
  const r = await u.req("POST", "/api/auth/signup", { email, password: "pass-" + email, name });
  eq(r.status, 201, "signup " + email + ": " + r.text);
  const k = await u.req("POST", "/api/keys", { name: "test" });
  eq(k.status, 201, "key: " + k.text);
  u.key = k.json.key;
  u.openai = new OpenAI({ apiKey: u.key, baseURL: base + "/v1", maxRetries: 0 });
  return u;
}
function isError(res, status, re) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text.slice(0, 300)}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && e.message, "OpenAI error shape: " + res.text.slice(0, 300));
  if (re) assert(re.test(e.message), `the message says why (${re}): ${e.message}`);
}

// ---- the manual: each answer's words in one passage only ----
const PDF_BLOCKS = [
  ["ACME 로봇청소기 R-9 사용 설명서", 1],
  ["1장 충전", 2], ["충전대를 벽에 붙여 두고 전원 어댑터를 연결하세요. 완전히 충전하는 데 세 시간이 걸립니다.", 0],
  ["2장 배터리", 2], ["배터리를 완전히 충전하면 백이십 분 동안 청소할 수 있습니다. 배터리는 이 년마다 교체하세요.", 0],
  ["3장 먼지통", 2], ["먼지통은 청소가 끝날 때마다 비우고, 거름망은 흐르는 물에 씻어 그늘에서 말리세요.", 0],
];
const HWPX_PARAS = [
  ["교환과 환불", true], ["제품을 받은 날부터 십사 일 안에 환불을 요청할 수 있습니다. 포장을 뜯지 않은 제품만 교환됩니다.", false],
  ["서비스 센터", true], ["고장이 나면 부산 해운대구의 서비스 센터로 보내 주십시오. 수리비는 보증 기간 안에는 무료입니다.", false],
];
const INSTR = "당신은 ACME 로봇청소기 고객 지원 도우미입니다.";
const CONFIG = {
  name: "ACME 청소기 도우미", description: "로봇청소기 설명서로 답합니다", instructions: INSTR, category: "customer_support",
  starters: ["배터리는 몇 분 가나요?"], capabilities: { knowledge: true, data_analysis: false, voice: false, tools: [] },
  knowledge: { max_chunks: 3, threshold: 0, only_knowledge: true }, sampling: { temperature: 0, max_tokens: 4, seed: 1 },
  visibility: "private",
};
const QS = [
  { q: "배터리로 몇 분 동안 청소할 수 있나요?", file: "설명서.pdf", has: "백이십 분", heading: /2장 배터리/, page: 1 },
  { q: "환불은 며칠 안에 요청해야 하나요?", file: "안내.hwpx", has: "십사 일", heading: /교환과 환불/, page: null },
  { q: "먼지통은 언제 비우나요", file: "설명서.pdf", has: "먼지통은 청소가", heading: /3장 먼지통/, page: 1 },
];
const pdfBytes = pdf(tmp, PDF_BLOCKS), hwpxBytes = hwpx(HWPX_PARAS);

const badExits = [];
async function stop(srv) {
  const code = await stopServer(srv);
  if (code !== 0) badExits.push(`exit ${code}: ${srv.stderr().slice(-3000)}`);
}
const search = async (u, id, q) => (await u.req("POST", `/api/assistants/${id}/search`, { query: q })).json;
const shape = (r) => r.data.map((p) => [p.file, p.page, p.heading, p.chunk, p.text]);

const srv = await startServer(["-m", MODEL, "--ctx", "4096", "--db", `sqlite:${tmp}/a.db`, "--tiers", TIERS, "--max-body", "230000000"]);
const srvH = await startServer(["-m", MODEL, "--ctx", "4096", "--db", `sqlite:${tmp}/h.db`, "--tiers", TIERS,
                                "--embedding-model", EMB, "--rerank-model", RERANK]);
let admin, alice, bob, A, bundle, baseline;
try {
  await test("build an assistant with a Korean manual as PDF and HWPX", async () => {
    admin = await user(srv.url, "root@example.com", "Root");
    alice = await user(srv.url, "alice@example.com", "앨리스");
    bob = await user(srv.url, "bob@example.com", "Bob");
    let r = await alice.req("POST", "/api/assistants", CONFIG);
    eq(r.status, 201, "create: " + r.text);
    A = r.json;
    r = await alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent("설명서.pdf")}`, undefined, { raw: pdfBytes, type: "application/pdf" });
    eq(r.status, 200, "pdf: " + r.text);
    r = await alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent("안내.hwpx")}`, undefined, { raw: hwpxBytes, type: "application/hwp+zip" });
    eq(r.status, 200, "hwpx: " + r.text);
    eq(r.json.data.map((f) => f.name).sort(), ["설명서.pdf", "안내.hwpx"].sort(), "both files");
  });

  await test("retrieval: the passage that answers comes first, with its file, page and heading", async () => {
    for (const x of QS) {
      const r = await search(alice, A.id, x.q);
      eq(r.method, "keyword", "no embedding model on this server: keywords");
      const top = r.data[0];
      assert(top, "a passage for " + x.q);
      eq([top.file, top.page, top.index, top.keyword_rank], [x.file, x.page, 1, 1], "first for " + x.q);
      assert(top.text.includes(x.has), `the answer's passage (${x.has}): ${top.text}`);
      assert(x.heading.test(top.heading), "its heading: " + top.heading);
      assert(r.data.length <= CONFIG.knowledge.max_chunks, "at most max_chunks");
      const cite = `[1] ${x.file}${x.page ? `, p. ${x.page}` : ""}, ${top.heading}`;
      assert(r.context.includes(cite) && r.context.includes(x.has), "the context numbers it: " + r.context.slice(0, 200));
      assert(r.context.includes("say that you do not know"), "answer-only-from-knowledge rule");
    }
    baseline = await Promise.all(QS.map((x) => search(alice, A.id, x.q)));
  });

  await test("a chat with the assistant cites the passage and its prompt carries them", async () => {
    const x = QS[0];
    const ctx = (await search(alice, A.id, x.q)).context;
    const r = await alice.openai.chat.completions.create({ model: `asst:${A.id}`, messages: [{ role: "user", content: x.q }] });
    const cit = r.choices[0].message.citations;
    assert(Array.isArray(cit) && cit.length >= 1, "citations: " + JSON.stringify(r.choices[0].message));
    eq([cit[0].index, cit[0].file, cit[0].page], [1, x.file, x.page], "citation [1] is the manual's page");
    assert(cit[0].text.includes(x.has) && x.heading.test(cit[0].heading), "it points to the passage");
    const plain = await alice.openai.chat.completions.create({ model: r.model, temperature: 0, max_tokens: 4, seed: 1,
      messages: [{ role: "system", content: INSTR + "\n\n" + ctx }, { role: "user", content: x.q }] });
    eq(r.usage.prompt_tokens, plain.usage.prompt_tokens, "the prompt is the instructions + the cited passages + the question");
    eq(r.choices[0].message.content, plain.choices[0].message.content, "same greedy answer");
    // streamed: the first chunk carries the citations
    const s = await alice.openai.chat.completions.create({ model: `asst:${A.id}`, stream: true, messages: [{ role: "user", content: x.q }] });
    let first = null;
    for await (const ch of s) if (!first) first = ch;
    eq(first.choices[0].delta.citations.map((c) => c.file), cit.map((c) => c.file), "stream: citations first");
  });

  await test("publish; another user finds it in the store, uses it, rates it; the author sees usage; files stay the author's", async () => {
    let r = await alice.req("PATCH", `/api/assistants/${A.id}`, { visibility: "public" });
    eq([r.status, r.json.visibility], [200, "public"], "published: " + r.text);
    r = await bob.req("GET", "/api/store?q=" + encodeURIComponent("청소기") + "&category=customer_support");
    eq(r.json.data.map((a) => a.id), [A.id], "found by a Korean word in its category");
    const d = await bob.req("GET", `/api/assistants/${A.id}`);
    eq([d.json.name, d.json.author.name, d.json.starters], [CONFIG.name, "앨리스", CONFIG.starters], "detail");
    eq(d.json.knowledge, { enabled: true }, "a user sees only that it has knowledge (bundled files), not which");
    assert(!("instructions" in d.json), "nor its instructions");
    isError(await bob.req("GET", `/api/assistants/${A.id}/files`), 404);
    isError(await bob.req("POST", `/api/assistants/${A.id}/search`, { query: "배터리" }), 404);
    isError(await bob.req("POST", `/api/assistants/${A.id}/rating`, { stars: 5 }), 403);
    const conv = (await bob.req("POST", "/api/conversations", { title: "" })).json;
    const c = await fetch(srv.url + "/v1/chat/completions", { method: "POST",
      headers: { "Content-Type": "application/json", Cookie: bob.cookie, Origin: srv.url, "X-Omni-Conversation": conv.id },
      body: JSON.stringify({ assistant: A.id, starter: 0 }) });
    eq(c.status, 200, "bob chats with it");
    const cj = await c.json();
    eq(cj.choices[0].message.citations[0].file, "설명서.pdf", "bob's answer cites the manual (passages, not files)");
    r = await bob.req("POST", `/api/assistants/${A.id}/rating`, { stars: 5, review: "설명서 그대로 알려 줘요" });
    eq(r.status, 200, "rated: " + r.text);
    const st = (await bob.req("GET", "/api/store?q=" + encodeURIComponent("청소기"))).json.data[0].stats;
    assert(st.rating === 5 && st.rating_count === 1 && st.conversations === 1, "store shows rating and conversations: " + JSON.stringify(st));
    const mine = (await alice.req("GET", `/api/assistants/${A.id}`)).json.stats;
    assert(mine.uses >= 3 && mine.users === 2, "the author sees usage: " + JSON.stringify(mine));
    eq((await admin.req("GET", `/api/assistants/${A.id}/files`)).status, 200, "an admin sees the files");
  });

  await test("hostile knowledge files: each one clear 4xx; the assistant's files and retrieval untouched", async () => {
    const files = async () => (await alice.req("GET", `/api/assistants/${A.id}/files`)).json.data;
    const before = await files();
    const put = (name, raw, type) => alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent(name)}`, undefined, { raw, type });
    const big = Buffer.alloc(200 << 20, 0x20);
    Buffer.from("%PDF-1.7\n").copy(big);
    isError(await put("huge.pdf", big, "application/pdf"), 400, /bytes; at most/);
    isError(await put("broken.pdf", Buffer.from("%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage"), "application/pdf"), 400, /broken\.pdf: .*(PDF|pdf)/);
    const bomb = zip([["mimetype", "application/hwp+zip"], ["Contents/section0.xml", Buffer.alloc(16 << 20, 0x20)]]);
    assert(bomb.length < 300000, "a small bomb: " + bomb.length);
    isError(await put("bomb.hwpx", bomb, "application/hwp+zip"), 400, /zip|bomb|expand|ratio/i);
    isError(await put("bad.txt", Buffer.from([0x61, 0xff, 0xfe, 0x62]), "text/plain"), 400, /UTF-8/);
    const slip = zip([["manifest.json", JSON.stringify({ schema: 1 })], ["../../etc/evil.txt", "x"]]);
    isError(await alice.req("POST", "/api/assistants/import", undefined, { raw: slip, type: "application/zip" }), 400, /unsafe path|bundle/i);
    eq(await files(), before, "the files are as they were");
    for (let i = 0; i < QS.length; i++) eq(shape(await search(alice, A.id, QS[i].q)), shape(baseline[i]), "retrieval unchanged: " + QS[i].q);
    const big2 = await fetch(srv.url + "/api/assistants/" + A.id + "/files/x.bin", { method: "PUT", headers: { Cookie: alice.cookie, Origin: srv.url },
      body: Buffer.alloc(1 << 10) });
    eq(big2.status, 200, "an unknown small file is still carried");
    eq((await alice.req("DELETE", `/api/assistants/${A.id}/files/x.bin`)).status, 200, "and removed");
  });

  await test("export the bundle, import it on a second server: the same retrieval", async () => {
    const r = await alice.req("GET", `/api/assistants/${A.id}/export`);
    eq(r.status, 200, "export");
    bundle = r.buf;
    const srv2 = await startServer(["-m", MODEL, "--ctx", "4096", "--db", `sqlite:${tmp}/b.db`, "--tiers", TIERS]);
    try {
      const zed = await user(srv2.url, "zed@example.com", "Zed");
      const i = await zed.req("POST", "/api/assistants/import", undefined, { raw: bundle, type: "application/zip" });
      eq(i.status, 201, "import: " + i.text);
      for (let k = 0; k < QS.length; k++) {
        const s2 = await search(zed, i.json.id, QS[k].q);
        eq(shape(s2), shape(baseline[k]), "same passages: " + QS[k].q);
        eq(s2.data.map((p) => p.score), baseline[k].data.map((p) => p.score), "same scores");
      }
    } finally { await stop(srv2); }
  });

  await test("with an embedding model and a reranker: hybrid+rerank, ranks and reranker scores reported", async () => {
    const hal = await user(srvH.url, "hal@example.com", "Hal");
    const i = await hal.req("POST", "/api/assistants/import", undefined, { raw: bundle, type: "application/zip" });
    eq(i.status, 201, "import: " + i.text);
    await hal.req("PATCH", `/api/assistants/${i.json.id}`, { knowledge: { max_chunks: 10, threshold: 0, only_knowledge: true } });
    for (const x of QS) {
      const r = await search(hal, i.json.id, x.q);
      eq(r.method, "hybrid+rerank", "the method");
      assert(r.data.length >= 2, "passages");
      assert(r.data.every((p) => p.dense_rank >= 1), "every chunk has a vector: all in the dense list");
      assert(r.data.some((p) => p.keyword_rank === 1 && p.text.includes(x.has)), "the keyword-best passage is among the reranked");
      for (let k = 1; k < r.data.length; k++) assert(r.data[k].rerank_score <= r.data[k - 1].rerank_score, "reranker's order");
      const docs = r.data.map((p) => (p.heading || "") + "\n" + p.text);
      const rr = await fetch(srvH.url + "/v1/rerank", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + hal.key },
        body: JSON.stringify({ model: "synth-bert-xlmr-rerank-f16", query: x.q, documents: docs }) });
      eq(rr.status, 200, "/v1/rerank: " + (await rr.clone().text()).slice(0, 200));
      const res = (await rr.json()).results;
      for (const o of res) assert(Math.abs(o.relevance_score - r.data[o.index].rerank_score) < 1e-3, "the reranker's own score");
      for (const p of r.data) assert(Math.abs(p.score - 1 / (1 + Math.exp(-p.rerank_score))) < 1e-3, "relevance = sigmoid(logit)");
    }
    const c = await hal.openai.chat.completions.create({ model: `asst:${i.json.id}`, messages: [{ role: "user", content: QS[0].q }] });
    assert(c.choices[0].message.citations.length >= 2, "the chat cites the reranked passages");
  });

  await test("vector store search on the reranker's server: the fused best reordered by it, scored by its sigmoid; ranker none leaves the fusion", async () => {
    const hal = client(srvH.url);
    const r0 = await hal.req("POST", "/api/auth/login", { email: "hal@example.com", password: "pass-hal@example.com" });
    eq(r0.status, 200, "login: " + r0.text);
    const key = (await hal.req("POST", "/api/keys", { name: "vs" })).json.key;
    const oa = new OpenAI({ apiKey: key, baseURL: srvH.url + "/v1", maxRetries: 0 });
    const { toFile } = await import("openai");
    const f = await oa.files.create({ file: await toFile(pdfBytes, "설명서.pdf"), purpose: "assistants" });
    const vs = await oa.vectorStores.create({ name: "manual", file_ids: [f.id] });
    for (;;) {   // indexing is a background job: wait for it to leave in_progress
      const x = await oa.vectorStores.files.retrieve(vs.id, f.id);
      if (x.status !== "in_progress") { eq(x.status, "completed", "indexed: " + JSON.stringify(x.last_error)); break; }
      await new Promise((res) => setTimeout(res, 100));
    }
    const q = QS[0].q;
    const page = await oa.vectorStores.search(vs.id, { query: q, max_num_results: 5 });
    const hits = page.data;
    assert(hits.length >= 2, "hits: " + hits.length);
    const docs = hits.map((x) => x.content.map((c) => c.text).join(""));
    const rr = await fetch(srvH.url + "/v1/rerank", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
      body: JSON.stringify({ model: "synth-bert-xlmr-rerank-f16", query: q, documents: docs }) });
    const res = (await rr.json()).results;
    // the texts the search reranked carry their heading first: the order must be the reranker's
    for (let k = 1; k < hits.length; k++) assert(hits[k].score <= hits[k - 1].score, "sorted by the reranker's score");
    for (const x of hits) assert(x.score > 0 && x.score < 1, "a sigmoid: " + x.score);
    const plain = (await oa.vectorStores.search(vs.id, { query: q, max_num_results: 5, ranking_options: { ranker: "none" } })).data;
    assert(plain[0].score >= 0.5 && plain.every((x, k) => !k || x.score <= plain[k - 1].score), "ranker none: fused scores (the first of one list alone is 0.5)");
    assert(plain.map((x) => x.score).join() !== hits.map((x) => x.score).join(), "and not the reranker's");
    assert(res.length === docs.length, "the reranker answered for each hit");
  });

  await test("serve refuses a --rerank-model without a rerank head, in one line", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.env.OMNI_BIN || "build/omni", ["serve", "-m", MODEL, "--rerank-model", EMB, "--port", "0", "--db", `sqlite:${tmp}/c.db`], { encoding: "utf8", timeout: 120000 });
    assert(r.status !== 0 && /rerank head/.test(r.stderr), "refused: " + r.status + " " + r.stderr.slice(-300));
  });
} finally {
  await stop(srv);
  await stop(srvH);
}
await test("every server exited cleanly at SIGTERM", async () => eq(badExits, [], "exits"));
process.exit(summary());
