// The Files and Vector Stores APIs and the file_search tool, end to end with the official
// openai client, on a server with accounts (two users) and an embedding model:
// uploads of a Korean TXT, a Korean PDF (drawn by pango-view), a DOCX and an HWPX (zipped
// here), listed / retrieved / downloaded byte for byte; vector stores indexed in the
// background (in_progress -> completed, or failed with last_error); hybrid search finds the
// passage that holds the answer first, for Korean and English queries, with attribute
// filters and score thresholds; file batches; file_search in responses.create gives a
// file_search_call item and file_citation annotations (streamed too); another user's ids are
// 404; hostile uploads (too large, zip bomb, corrupt PDF, invalid UTF-8, a PDF without text)
// get 4xx in OpenAI's error shape and nothing is stored.
//
// The embedding model has random weights, so the dense ranking is noise: each query's
// words occur in one passage only, which the keyword ranking then puts first, and fusion
// keeps first (a chunk first in one list and present in the other beats any chunk that is
// in only one list). What reaches the model is checked by its token count (the passages are
// in the prompt) and, for the fencing, by tests/api/test_file_search.c.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI, { toFile } from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, signupKey } from "./server_helpers.mjs";
import { zip, docx, hwpx } from "./doc_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(16);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-files-"));
const CHAT = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const EMB = `${MODELS}/synth/synth-bert-xlmr-f16.gguf`;

// ---- documents made here ----

function pdf(text) {
  const out = `${tmp}/doc-${Math.random().toString(36).slice(2)}.pdf`;
  const r = spawnSync("pango-view", ["--font=Noto Sans CJK KR 12", "-q", "-o", out, "--text", text]);
  if (r.status !== 0) throw new Error("pango-view (Debian pango1.0-tools, scripts/setup.sh) failed: " + r.stderr);
  return fs.readFileSync(out);
}

// The manual: each answer's words occur in one passage only.
const TXT_KO = [
  "# 스마트 가습기 사용 설명서",
  "## 1장 설치",
  "가습기를 평평한 바닥에 두고 전원 어댑터를 연결하세요. 벽에서 삼십 센티미터 이상 떨어뜨려 주세요.",
  "## 2장 물통 세척",
  "물통은 일주일에 한 번 구연산 용액으로 세척하세요. 세제는 사용하지 마십시오.",
  "## 3장 필터 교체",
  "항균 필터는 여섯 달마다 새것으로 교체해야 합니다. 필터 덮개를 시계 반대 방향으로 돌려 여세요.",
  "## 4장 보증",
  "보증 기간은 구매일로부터 이 년입니다. 영수증을 보관하세요.",
].join("\n\n");
const PDF_TEXT = "배터리 충전 안내\n\n무선 리모컨 배터리는 USB-C 케이블로 두 시간 충전합니다.\n\nThe remote control charges over USB-C in two hours.";
const DOCX_EN = [["Troubleshooting guide", true], ["If the display blinks red, the water tank is empty: refill it and press the reset button."],
                 ["Warranty claims are handled by the regional service centre in Busan."]];
const HWPX_KO = [["소음 문제", true], ["작동 중 딸깍거리는 소리가 나면 팬 고정 나사를 조여 주십시오."]];

// ---- the server and two users ----

const db = `${tmp}/omni.db`;
// no request limits: this file tests files, not tiers
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "open", tiers: { open: {} } }));
let srv, alice, bob, aliceKey, bobKey;

const signup = (email) => signupKey(srv.url, email, "files-pass-1");

async function apiError(promise, status, what) {
  try { await promise; } catch (e) {
    eq(e.status, status, `${what}: status (${e.message})`);
    assert(e.error && typeof e.error.message === "string" && e.error.message.length > 0, `${what}: OpenAI's error shape`);
    return e;
  }
  throw new Error(`${what}: expected HTTP ${status}, the call succeeded`);
}

async function settled(client, vsId, fileId) {
  // indexing is a background job: wait for it to leave in_progress (no clock involved)
  for (;;) {
    const f = await client.vectorStores.files.retrieve(vsId, fileId);
    if (f.status !== "in_progress") return f;
    await new Promise((r) => setTimeout(r, 100));
  }
}

try {
  srv = await startServer(["-m", CHAT, "--embedding-model", EMB, "--ctx", "2048", "--db", `sqlite:${db}`, "--tiers", TIERS,
                           "--max-file-size", "300000"]);
  aliceKey = await signup("alice@example.com");
  bobKey = await signup("bob@example.com");
  alice = new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey, maxRetries: 0 });
  bob = new OpenAI({ baseURL: srv.url + "/v1", apiKey: bobKey, maxRetries: 0 });
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
  process.exit(summary() || 1);
}

const ids = {};
const bytes = {
  "설명서.md": Buffer.from(TXT_KO, "utf8"),
  "battery.pdf": pdf(PDF_TEXT),
  "troubleshooting.docx": docx(DOCX_EN),
  "소음.hwpx": hwpx(HWPX_KO),
};

await test("upload Korean Markdown, a Korean PDF, a DOCX and an HWPX; list, retrieve, download", async () => {
  for (const [name, b] of Object.entries(bytes)) {
    const f = await alice.files.create({ file: await toFile(b, name), purpose: "assistants" });
    eq([f.object, f.filename, f.bytes, f.purpose, f.status], ["file", name, b.length, "assistants", "processed"], name);
    assert(/^file-/.test(f.id) && f.created_at > 1.7e9, "id and created_at " + JSON.stringify(f));
    ids[name] = f.id;
  }
  const list = await alice.files.list();
  eq(list.data.length, 4, "listed");
  eq(list.data[0].id, ids["소음.hwpx"], "newest first");
  const asc = await alice.files.list({ order: "asc", limit: 2 });
  eq(asc.data.map((f) => f.id), [ids["설명서.md"], ids["battery.pdf"]], "ascending, limited");
  const next = await alice.files.list({ order: "asc", limit: 2, after: ids["battery.pdf"] });
  eq(next.data.map((f) => f.id), [ids["troubleshooting.docx"], ids["소음.hwpx"]], "after the cursor");
  eq((await alice.files.list({ purpose: "batch" })).data.length, 0, "purpose filter");
  const got = await alice.files.retrieve(ids["battery.pdf"]);
  eq(got.filename, "battery.pdf", "retrieved");
  const content = Buffer.from(await (await alice.files.content(ids["battery.pdf"])).arrayBuffer());
  assert(content.equals(bytes["battery.pdf"]), "the bytes come back unchanged");
});

let vs;
await test("a vector store with the files indexes them in the background: in_progress -> completed", async () => {
  vs = await alice.vectorStores.create({ name: "가습기", file_ids: [ids["설명서.md"], ids["battery.pdf"]], metadata: { team: "cs" } });
  eq([vs.object, vs.name, vs.metadata.team, vs.file_counts.total], ["vector_store", "가습기", "cs", 2], "created");
  const f3 = await alice.vectorStores.files.create(vs.id, { file_id: ids["troubleshooting.docx"], attributes: { lang: "en", year: 2025 } });
  eq([f3.object, f3.status, f3.attributes.lang], ["vector_store.file", "in_progress", "en"], "attached");
  for (const id of [ids["설명서.md"], ids["battery.pdf"], ids["troubleshooting.docx"]]) {
    const f = await settled(alice, vs.id, id);
    eq([f.status, f.last_error], ["completed", null], "indexed " + id);
    assert(f.usage_bytes > 0, "usage bytes");
  }
  const again = await alice.vectorStores.retrieve(vs.id);
  eq([again.status, again.file_counts.completed, again.file_counts.in_progress], ["completed", 3, 0], "counts");
  const listed = await alice.vectorStores.files.list(vs.id, { filter: "completed" });
  eq(listed.data.length, 3, "listed by status");
  const r = await fetch(`${srv.url}/v1/vector_stores/${vs.id}/files/${ids["설명서.md"]}/content`, { headers: { Authorization: "Bearer " + aliceKey } });
  const page = await r.json();
  eq([r.status, page.object], [200, "vector_store.file_content.page"], "file content");
  assert(page.data.length > 0 && page.data.some((t) => t.type === "text" && t.text.includes("구연산")), "its parsed text");
});

async function search(q, opts = {}) {
  const page = await alice.vectorStores.search(vs.id, { query: q, ...opts });
  eq(page.object, "vector_store.search_results.page", "page object");
  return page.data;
}

await test("search: Korean queries find the passage with the answer first", async () => {
  let r = await search("필터 교체 주기");
  assert(r.length > 0, "results");
  eq(r[0].file_id, ids["설명서.md"], "from the manual");
  assert(r[0].content[0].text.includes("여섯 달마다"), "the filter passage: " + r[0].content[0].text);
  eq(r[0].heading, "스마트 가습기 사용 설명서 > 3장 필터 교체", "its heading path");
  assert(r[0].score > 0 && r[0].score <= 1, "score in 0..1");
  r = await search("물통 구연산 세척");
  assert(r[0].content[0].text.includes("구연산"), "the cleaning passage");
  r = await search("리모컨 배터리 충전");
  eq([r[0].file_id, r[0].filename], [ids["battery.pdf"], "battery.pdf"], "from the PDF");
  eq(r[0].page, 1, "with its page");
});

await test("search: an English query finds the DOCX passage; filters on attributes; max_num_results; threshold", async () => {
  let r = await search("display blinks red refill", { max_num_results: 2 });
  eq(r[0].file_id, ids["troubleshooting.docx"], "the docx");
  assert(r[0].content[0].text.includes("reset button"), "its passage");
  assert(r.length <= 2, "max_num_results");
  eq(r[0].attributes, { lang: "en", year: 2025 }, "attributes");
  r = await search("display blinks red refill", { filters: { type: "eq", key: "lang", value: "ko" } });
  assert(r.every((x) => x.file_id !== ids["troubleshooting.docx"]), "filtered out");
  r = await search("display blinks red refill", { filters: { type: "and", filters: [{ type: "gte", key: "year", value: 2024 }, { type: "in", key: "lang", value: ["en", "fr"] }] } });
  assert(r.length > 0 && r.every((x) => x.file_id === ids["troubleshooting.docx"]), "compound filter keeps only it");
  r = await search("display blinks red refill", { ranking_options: { score_threshold: 0.99 } });
  assert(r.every((x) => x.score >= 0.99), "threshold");
  await apiError(alice.vectorStores.search(vs.id, { query: "x", filters: { type: "near", key: "a", value: 1 } }), 400, "bad filter");
  await apiError(alice.vectorStores.search(vs.id, { query: "" }), 400, "empty query");
  await apiError(alice.vectorStores.search(vs.id, { query: "x", max_num_results: 99 }), 400, "too many results");
});

await test("file batches: HWPX added with a static chunking strategy, listed, completed", async () => {
  const b = await alice.vectorStores.fileBatches.create(vs.id, { file_ids: [ids["소음.hwpx"]],
    chunking_strategy: { type: "static", static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 20 } } });
  eq([b.object, b.vector_store_id, b.file_counts.total], ["vector_store.files_batch", vs.id, 1], "batch");
  const f = await settled(alice, vs.id, ids["소음.hwpx"]);
  eq(f.status, "completed", "indexed");
  eq(f.chunking_strategy, { type: "static", static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 20 } }, "strategy kept");
  const b2 = await alice.vectorStores.fileBatches.retrieve(vs.id, b.id);
  eq([b2.status, b2.file_counts.completed], ["completed", 1], "batch done");
  const files = await alice.vectorStores.fileBatches.listFiles(vs.id, b.id);
  eq(files.data.map((x) => x.id), [ids["소음.hwpx"]], "batch files");
  const r = await search("딸깍거리는 소리 팬 나사");
  eq(r[0].file_id, ids["소음.hwpx"], "the hwpx passage first");
  await apiError(alice.vectorStores.fileBatches.create(vs.id, { file_ids: [ids["소음.hwpx"]],
    chunking_strategy: { type: "static", static: { max_chunk_size_tokens: 50, chunk_overlap_tokens: 10 } } }), 400, "chunk size out of range");
});

await test("a file search cannot read fails: status failed with last_error, the store's other files untouched", async () => {
  const f = await alice.files.create({ file: await toFile(Buffer.from([0, 1, 2, 3, 255, 254]), "blob.bin"), purpose: "batch" });
  await alice.vectorStores.files.create(vs.id, { file_id: f.id });
  const s = await settled(alice, vs.id, f.id);
  eq(s.status, "failed", "failed");
  eq(s.last_error.code, "unsupported_file", "its code: " + JSON.stringify(s.last_error));
  const v = await alice.vectorStores.retrieve(vs.id);
  eq([v.file_counts.failed, v.file_counts.completed], [1, 4], "counts");
  await alice.vectorStores.files.del(vs.id, f.id);
  eq((await alice.vectorStores.retrieve(vs.id)).file_counts.failed, 0, "detached");
});

await test("another user's files and stores are 404, and their search finds nothing of hers", async () => {
  await apiError(bob.files.retrieve(ids["설명서.md"]), 404, "retrieve");
  await apiError(bob.files.content(ids["설명서.md"]), 404, "content");
  await apiError(bob.files.del(ids["설명서.md"]), 404, "delete");
  await apiError(bob.vectorStores.retrieve(vs.id), 404, "store");
  await apiError(bob.vectorStores.search(vs.id, { query: "필터" }), 404, "search");
  const mine = await bob.vectorStores.create({ name: "bob" });
  await apiError(bob.vectorStores.files.create(mine.id, { file_id: ids["설명서.md"] }), 404, "attach her file");
  eq((await bob.files.list()).data.length, 0, "his list is empty");
  eq((await bob.vectorStores.list()).data.map((v) => v.id), [mine.id], "only his store");
  eq((await alice.files.retrieve(ids["설명서.md"])).id, ids["설명서.md"], "hers is still there");
});

await test("hostile uploads: too large, zip bomb, corrupt PDF, a PDF without text, invalid UTF-8 -> 4xx, nothing stored", async () => {
  const before = (await alice.files.list()).data.length;
  await apiError(alice.files.create({ file: await toFile(Buffer.alloc(400000, 65), "big.txt"), purpose: "assistants" }), 413, "too large");
  const bomb = zip([["[Content_Types].xml", "<Types/>"], ["word/document.xml", Buffer.alloc(16 << 20, 0)]]);
  assert(bomb.length < 300000, "the bomb is small: " + bomb.length);
  let e = await apiError(alice.files.create({ file: await toFile(bomb, "bomb.docx"), purpose: "assistants" }), 400, "zip bomb");
  assert(/zip|expand|ratio|bomb/i.test(e.error.message), "says why: " + e.error.message);
  e = await apiError(alice.files.create({ file: await toFile(Buffer.from("%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage"), "broken.pdf"), purpose: "assistants" }), 400, "corrupt PDF");
  const blank = spawnSync("pango-view", ["--font=Noto Sans CJK KR 12", "-q", "-o", `${tmp}/blank.pdf`, "--text", " "]);
  eq(blank.status, 0, "blank pdf made");
  e = await apiError(alice.files.create({ file: await toFile(fs.readFileSync(`${tmp}/blank.pdf`), "scan.pdf"), purpose: "assistants" }), 400, "no text");
  assert(/text/i.test(e.error.message), "says there is no text: " + e.error.message);
  e = await apiError(alice.files.create({ file: await toFile(Buffer.from([0x61, 0xff, 0xfe, 0x62]), "bad.txt"), purpose: "assistants" }), 400, "invalid UTF-8");
  assert(/UTF-8/.test(e.error.message), "says invalid UTF-8: " + e.error.message);
  await apiError(alice.files.create({ file: await toFile(Buffer.from("x"), "a.txt"), purpose: "wrong" }), 400, "bad purpose");
  const r = await fetch(srv.url + "/v1/files", { method: "POST", headers: { Authorization: "Bearer " + aliceKey, "Content-Type": "application/json" }, body: "{}" });
  eq(r.status, 400, "not multipart");
  eq((await alice.files.list()).data.length, before, "nothing was stored");
  eq((await alice.vectorStores.retrieve(vs.id)).file_counts.completed, 4, "the store is untouched");
});

await test("responses.create with file_search: a file_search_call item, citations, the passages in the prompt", async () => {
  const q = "항균 필터는 언제 교체하나요?";
  const plain = await alice.responses.create({ model: "synth-smollm2-f16", input: q, max_output_tokens: 4, temperature: 0 });
  const r = await alice.responses.create({ model: "synth-smollm2-f16", input: q, max_output_tokens: 4, temperature: 0,
    tools: [{ type: "file_search", vector_store_ids: [vs.id], max_num_results: 3 }], include: ["file_search_call.results"] });
  eq(r.status === "completed" || r.status === "incomplete", true, "answered: " + r.status);
  const call = r.output[0];
  eq([call.type, call.status, call.queries], ["file_search_call", "completed", [q]], "the search item");
  assert(/^fs_/.test(call.id), "its id");
  assert(call.results.length > 0 && call.results.length <= 3, "results included");
  eq(call.results[0].file_id, ids["설명서.md"], "the manual first");
  assert(call.results[0].text.includes("여섯 달마다"), "the filter passage first");
  const msg = r.output.find((o) => o.type === "message");
  const ann = msg.content[0].annotations;
  assert(ann.length > 0 && ann[0].type === "file_citation", "citations: " + JSON.stringify(ann));
  eq([ann[0].file_id, ann[0].filename], [ids["설명서.md"], "설명서.md"], "cites the manual");
  assert(typeof ann[0].index === "number", "with an index");
  const kept = await alice.responses.retrieve(r.id);   // store defaults to true for an account
  eq(kept.output.find((o) => o.type === "message").content[0].annotations, ann, "the stored response keeps its citations");
  eq(kept.output[0].results, call.results, "and the passages they point to");
  assert(r.usage.input_tokens > plain.usage.input_tokens + 30,
         `the passages are in the prompt (${r.usage.input_tokens} vs ${plain.usage.input_tokens} tokens)`);
  const noResults = await alice.responses.create({ model: "synth-smollm2-f16", input: q, max_output_tokens: 2,
    tools: [{ type: "file_search", vector_store_ids: [vs.id] }] });
  eq(noResults.output[0].results, null, "results only with include");
  await apiError(alice.responses.create({ model: "synth-smollm2-f16", input: q, tools: [{ type: "file_search", vector_store_ids: [] }] }), 400, "no stores");
  await apiError(bob.responses.create({ model: "synth-smollm2-f16", input: q, tools: [{ type: "file_search", vector_store_ids: [vs.id] }] }), 404, "her store");
});

await test("responses.create with file_search, streamed: the search item's events, then the answer with citations", async () => {
  const stream = await alice.responses.create({ model: "synth-smollm2-f16", input: "리모컨 배터리 충전 시간", max_output_tokens: 4, stream: true,
    tools: [{ type: "file_search", vector_store_ids: [vs.id] }] });
  const types = [];
  let done = null;
  for await (const ev of stream) { types.push(ev.type); if (ev.type === "response.completed" || ev.type === "response.incomplete") done = ev.response; }
  const i = (t) => types.indexOf(t);
  assert(i("response.created") === 0, "created first");
  assert(i("response.file_search_call.in_progress") > 0 && i("response.file_search_call.searching") > i("response.file_search_call.in_progress") &&
         i("response.file_search_call.completed") > i("response.file_search_call.searching"), "search events in order: " + types.join(","));
  assert(i("response.file_search_call.completed") < i("response.output_text.delta") || i("response.output_text.delta") < 0, "search before the text");
  eq(done.output[0].type, "file_search_call", "completed response holds the item");
  const msg = done.output.find((o) => o.type === "message");
  if (msg) eq(msg.content[0].annotations[0].file_id, ids["battery.pdf"], "cites the PDF");
});

await test("file_search with a built-in tool (the calculator, forced): the search item, the run, citations, stored", async () => {
  const calc = { type: "calculator", limits: { max_expression_length: 16 } };
  const r = await alice.responses.create({ model: "synth-smollm2-f16", input: "필터 교체 주기를 일로 계산해 줘", max_output_tokens: 150, seed: 1,
    tools: [{ type: "file_search", vector_store_ids: [vs.id] }, calc], tool_choice: { type: "function", name: "calculator" } });
  eq(r.output[0].type, "file_search_call", "the search first");
  eq(r.output[0].status, "completed", "searched");
  const run = r.output.find((o) => o.type === "calculator_call");
  assert(run && JSON.parse(run.arguments).expression.length <= 16, "the calculator ran: " + r.output.map((o) => o.type));
  const msg = r.output.find((o) => o.type === "message");
  if (msg) eq(msg.content[0].annotations[0].type, "file_citation", "the answer cites");
  const g = await alice.responses.retrieve(r.id);
  eq(g.output.map((o) => o.id), r.output.map((o) => o.id), "stored with every item");
  const types = [];
  for await (const ev of await alice.responses.create({ model: "synth-smollm2-f16", input: "필터 교체 주기", max_output_tokens: 150, seed: 1, stream: true,
    tools: [{ type: "file_search", vector_store_ids: [vs.id] }, calc], tool_choice: { type: "function", name: "calculator" } })) types.push(ev.type);
  const i = (t) => types.indexOf(t);
  assert(i("response.file_search_call.in_progress") > 0 && i("response.file_search_call.searching") > i("response.file_search_call.in_progress") &&
         i("response.file_search_call.completed") < i("response.calculator_call.in_progress"), "search events, then the run's: " + types.join(","));
});

await test("deleting a file takes it out of the store and the search; deleting the store", async () => {
  await alice.files.del(ids["battery.pdf"]);
  await apiError(alice.files.retrieve(ids["battery.pdf"]), 404, "gone");
  const v = await alice.vectorStores.retrieve(vs.id);
  eq(v.file_counts.total, 3, "out of the store");
  const r = await search("리모컨 배터리 충전");
  assert(r.every((x) => x.file_id !== ids["battery.pdf"]), "not found any more");
  const d = await alice.vectorStores.del(vs.id);
  eq([d.id, d.object, d.deleted], [vs.id, "vector_store.deleted", true], "deleted");
  await apiError(alice.vectorStores.retrieve(vs.id), 404, "store gone");
  eq((await alice.files.retrieve(ids["설명서.md"])).id, ids["설명서.md"], "its files stay");
});

await test("vector store validation and modify: metadata limits, expires_after, name", async () => {
  await apiError(alice.vectorStores.create({ metadata: { a: 5 } }), 400, "metadata values are strings");
  await apiError(alice.vectorStores.create({ expires_after: { anchor: "created_at", days: 3 } }), 400, "bad anchor");
  await apiError(alice.vectorStores.create({ file_ids: ["file-nope"] }), 404, "unknown file");
  const v = await alice.vectorStores.create({ name: "x", expires_after: { anchor: "last_active_at", days: 7 } });
  eq(v.expires_after, { anchor: "last_active_at", days: 7 }, "expires_after");
  assert(v.expires_at >= v.last_active_at + 7 * 86400 - 1, "expires_at");
  const u = await alice.vectorStores.update(v.id, { name: "renamed", metadata: { k: "v" } });
  eq([u.name, u.metadata], ["renamed", { k: "v" }], "modified");
  const l = await alice.vectorStores.list({ limit: 1 });
  eq(l.data.length, 1, "limit");
});

await test("a restart keeps files, stores and chunks: search works the same", async () => {
  const v = await alice.vectorStores.create({ name: "durable", file_ids: [ids["설명서.md"]] });
  await settled(alice, v.id, ids["설명서.md"]);
  const before = (await alice.vectorStores.search(v.id, { query: "보증 기간 영수증" })).data.map((x) => [x.file_id, x.content[0].text]);
  eq(await stopServer(srv), 0, "the server exits cleanly (no sanitizer report)");
  srv = await startServer(["-m", CHAT, "--embedding-model", EMB, "--ctx", "2048", "--db", `sqlite:${db}`, "--tiers", TIERS]);
  alice = new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey, maxRetries: 0 });
  const after = (await alice.vectorStores.search(v.id, { query: "보증 기간 영수증" })).data.map((x) => [x.file_id, x.content[0].text]);
  eq(after, before, "same results");
  assert(after[0][1].includes("이 년"), "the warranty passage first");
});

await test("without an embedding model, attaching fails with a clear last_error and search says why", async () => {
  eq(await stopServer(srv), 0, "the server exits cleanly (no sanitizer report)");
  srv = await startServer(["-m", CHAT, "--ctx", "2048", "--db", `sqlite:${db}`, "--tiers", TIERS]);
  alice = new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey, maxRetries: 0 });
  const v = await alice.vectorStores.create({ name: "no model", file_ids: [ids["설명서.md"]] });
  const f = await settled(alice, v.id, ids["설명서.md"]);
  eq(f.status, "failed", "failed");
  assert(/embedding model/.test(f.last_error.message), "says why: " + f.last_error.message);
  const old = (await alice.vectorStores.list()).data.find((x) => x.name === "durable");
  const e = await apiError(alice.vectorStores.search(old.id, { query: "보증" }), 400, "search without a model");
  assert(/embedding model/.test(e.error.message), e.error.message);
});

await test("files are deleted with the account", async () => {
  const cookie = await (async () => {
    const r = await fetch(srv.url + "/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json", Origin: srv.url },
      body: JSON.stringify({ email: "alice@example.com", password: "files-pass-1" }) });
    return r.headers.get("set-cookie").match(/omni_session=[^;]*/)[0];
  })();
  const r = await fetch(srv.url + "/api/me", { method: "DELETE", headers: { Origin: srv.url, Cookie: cookie, "Content-Type": "application/json" },
    body: JSON.stringify({ password: "files-pass-1" }) });
  assert(r.status === 200 || r.status === 204, "account deleted: " + r.status + " " + (await r.text()));
  eq(await stopServer(srv), 0, "the server exits cleanly (no sanitizer report)");
  const q = spawnSync("sqlite3", [db, "SELECT (SELECT COUNT(*) FROM files), (SELECT COUNT(*) FROM file_data), (SELECT COUNT(*) FROM vs_chunks), (SELECT COUNT(*) FROM vector_stores)"]);
  if (q.status === 0) eq(q.stdout.toString().trim(), "0|0|0|1", "only bob's empty store is left");
  else {
    srv = await startServer(["-m", CHAT, "--ctx", "2048", "--db", `sqlite:${db}`, "--tiers", TIERS]);
    await apiError(new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey, maxRetries: 0 }).files.list(), 401, "her key is gone");
  }
});

if (srv) {
  const code = await stopServer(srv);
  if (code !== 0) console.log(`FAIL the server exited with ${code}:\n${srv.stderr()}`);
}
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(summary());
