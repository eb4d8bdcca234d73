// Custom assistants end to end over HTTP, on SQLite and on a throw-away PostgreSQL: build
// one (Korean), versions on every edit, visibility (private -> 404 for others, link, public),
// avatar checks, the store (Korean search, category, popular, featured, hidden), chatting
// with it through the official OpenAI client (model "asst:ID" and "assistant": ID) where the
// prompt that reaches the model is exactly the explicit request with its instructions as the
// system message and its sampling defaults (compared by prompt tokens and greedy output with
// a random-weight model, never by wording), conversations that record the assistant and
// version, ratings only after use, admin moderation, bundle export and import (on a second
// server, the same answer), and hostile bundles refused with one error, nothing stored.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { startPostgres } from "./pg_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(2 * 13 + 1);
const MODEL = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-assistants-"));
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "free", tiers: { free: {} } }));
const CORPUS = "tests/fuzz/corpus/bundle";
// a real 2x2 PNG (an avatar must decode)
const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001349444154789c63f8cfc0c000c20cff05140c001a94035edc92dbe90000000049454e44ae426082", "hex");

function client(base) {
  const c = { base, cookie: null };
  c.req = async (method, p, body, { raw, type, key } = {}) => {
    const h = { Origin: base };
    if (c.cookie && !key) h.Cookie = c.cookie;
    if (key) h.Authorization = "Bearer " + key;
    let b;
    if (raw !== undefined) { b = raw; if (type) h["Content-Type"] = type; }
    else if (body !== undefined) { b = JSON.stringify(body); h["Content-Type"] = "application/json"; }
    let r;
    try { r = await fetch(base + p, { method, headers: h, body: b }); }
    catch (e) { if (!(e instanceof TypeError)) throw e; r = await fetch(base + p, { method, headers: h, body: b }); }
    const buf = Buffer.from(await r.arrayBuffer());
    let json = null;
    try { json = JSON.parse(buf.toString("utf8")); } catch {}
    const sc = r.headers.get("set-cookie");
    if (sc && /omni_session=/.test(sc)) c.cookie = `omni_session=${sc.match(/omni_session=([^;]*)/)[1]}`;
    return { status: r.status, headers: r.headers, json, buf, text: buf.toString("utf8") };
  };
  return c;
}

function isError(res, status, code, param) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text.slice(0, 300)}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && e.message && "type" in e && "param" in e && "code" in e, "OpenAI error shape: " + res.text);
  if (code !== undefined) eq(e.code, code, "error code");
  if (param !== undefined) eq(e.param, param, "error param");
}

const badExits = [];
async function stop(srv) {
  const code = await stopServer(srv);
  if (code !== 0) badExits.push(`exit ${code}: ${srv.stderr().slice(-3000)}`);
}

async function user(base, email, name) {
  const u = client(base);
  const r = await u.req("POST", "/api/auth/signup", { email, password: "pass-" + email, name });
  eq(r.status, 201, "signup " + email + ": " + r.text);
  const k = await u.req("POST", "/api/keys", { name: "test" });
  eq(k.status, 201, "key: " + k.text);
  u.key = k.json.key;
  u.openai = new OpenAI({ apiKey: u.key, baseURL: base + "/v1", maxRetries: 0 });
  u.me = (await u.req("GET", "/api/me")).json;
  return u;
}

// the product manual (Markdown, Korean) and a distractor file; the answers are only in the manual
const MANUAL = "# ACME 세탁기 WM-7 설명서\n\n## 1장 설치\n\n세탁기는 평평한 바닥에 두고 수평을 맞추세요. 급수 호스를 수도꼭지에 연결합니다.\n\n" +
  "## 2장 필터 청소\n\n배수 필터는 한 달에 한 번 청소하세요. 아래쪽 덮개를 열고 필터를 시계 반대 방향으로 돌려 빼냅니다.\n\n" +
  "## 3장 보증\n\n보증 기간은 구입일로부터 2년입니다. 모터는 10년 동안 무상으로 수리해 드립니다.\n";
const FAQ = "자주 묻는 질문\n\n배송은 3일 안에 도착합니다. 색상은 흰색과 회색이 있습니다.\n";
const INSTR = "당신은 ACME 세탁기의 고객 지원 도우미입니다. 설명서에 있는 내용으로만 답하세요.";
const CONFIG = {
  name: "ACME 고객 지원 도우미",
  description: "세탁기 설명서로 답하는 고객 지원",
  instructions: INSTR,
  category: "customer_support",
  starters: ["보증 기간은 얼마인가요?", "필터 청소 방법은?"],
  capabilities: { knowledge: true, data_analysis: false, voice: false, tools: [] },
  knowledge: { file_ids: ["file_manual_ko"], max_chunks: 4, threshold: 0.2, only_knowledge: true },
  sampling: { temperature: 0, max_tokens: 5, seed: 3 },
  voice: "alloy",
  visibility: "private",
};

async function suite(name, db) {
  const srv = await startServer(["-m", MODEL, "--ctx", "4096", "--parallel", "2", "--db", db, "--tiers", TIERS]);
  const T = (n, f) => test(`${name}: ${n}`, f);
  let admin, alice, bob, carol, A, modelId, bundle;
  try {
    await T("users; building an assistant checks every field and starts at version 1", async () => {
      admin = await user(srv.url, "root@example.com", "Root");
      alice = await user(srv.url, "alice@example.com", "앨리스");
      bob = await user(srv.url, "bob@example.com", "Bob");
      carol = await user(srv.url, "carol@example.com", "Carol");
      eq(admin.me.user.role, "admin", "first user is admin");
      modelId = (await alice.openai.models.list()).data.find((m) => m.kind !== "embedding").id;
      isError(await alice.req("POST", "/api/assistants", { ...CONFIG, name: "" }), 400, "invalid_value", "name");
      isError(await alice.req("POST", "/api/assistants", { ...CONFIG, colour: "red" }), 400, "invalid_value", "colour");
      isError(await alice.req("POST", "/api/assistants", { ...CONFIG, sampling: { temperature: 9 } }), 400, "invalid_value", "sampling.temperature");
      isError(await alice.req("POST", "/api/assistants", { ...CONFIG, visibility: "friends" }), 400, "invalid_value", "visibility");
      isError(await alice.req("POST", "/api/assistants", undefined, { raw: "{not json", type: "application/json" }), 400);
      const r = await alice.req("POST", "/api/assistants", CONFIG);
      eq(r.status, 201, "create: " + r.text);
      A = r.json;
      eq([A.version, A.visibility, A.instructions, A.author.name, A.knowledge.max_chunks], [1, "private", INSTR, "앨리스", 4], "created");
      assert(/^asst_/.test(A.id) && /^lnk_/.test(A.link_token), "ids");
      eq((await alice.req("GET", "/api/assistants")).json.data.map((x) => x.id), [A.id], "mine");
    });

    await T("visibility: private is 404 to others, link by its token only, public in the store", async () => {
      isError(await bob.req("GET", `/api/assistants/${A.id}`), 404, "not_found");
      isError(await bob.req("PATCH", `/api/assistants/${A.id}`, { name: "mine now" }), 404);
      isError(await bob.req("DELETE", `/api/assistants/${A.id}`), 404);
      isError(await bob.req("GET", `/api/assistants/${A.id}/export`), 404);
      isError(await bob.req("GET", `/api/assistants/link/${A.link_token}`), 404);
      await bob.openai.chat.completions.create({ model: `asst:${A.id}`, messages: [{ role: "user", content: "hi" }] })
        .then(() => { throw new Error("chat with a private assistant of another user worked"); },
              (e) => { eq(e.status, 404, "private assistant chat"); eq(e.code, "assistant_not_found", "code"); });
      let r = await alice.req("PATCH", `/api/assistants/${A.id}`, { visibility: "link" });
      eq([r.status, r.json.version], [200, 2], "edit = version 2");
      isError(await bob.req("GET", `/api/assistants/${A.id}`), 404, "not_found");
      r = await bob.req("GET", `/api/assistants/link/${A.link_token}`);
      eq(r.status, 200, "by link: " + r.text);
      assert(!("instructions" in r.json) && !("link_token" in r.json), "instructions and link token stay the author's");
      eq(r.json.knowledge, { enabled: true }, "knowledge is the author's: users see only that there is some");
      eq((await bob.req("GET", "/api/store?q=" + encodeURIComponent("고객"))).json.data.length, 0, "link ones are not in the store");
      r = await alice.req("PATCH", `/api/assistants/${A.id}`, { visibility: "public", description: "ACME 세탁기 설명서로 답하는 고객 지원" });
      eq(r.json.version, 3, "version 3");
      A = r.json;
      isError(await alice.req("PATCH", `/api/assistants/${A.id}`, { sampling: { top_p: 7 } }), 400, "invalid_value", "sampling.top_p");
      eq((await alice.req("GET", `/api/assistants/${A.id}`)).json.version, 3, "a refused edit makes no version");
      r = await alice.req("GET", `/api/assistants/${A.id}/versions`);
      eq(r.json.data.map((v) => [v.version, v.config.visibility]), [[3, "public"], [2, "link"], [1, "private"]], "history");
      eq((await alice.req("GET", `/api/assistants/${A.id}/versions/1`)).json.config.description, CONFIG.description, "v1 kept");
      isError(await bob.req("GET", `/api/assistants/${A.id}/versions`), 404);
      r = await bob.req("GET", `/api/assistants/${A.id}`);
      eq(r.status, 200, "public");
      assert(!("instructions" in r.json), "public: instructions hidden");
    });

    await T("avatar: type and size checked, served as its image type", async () => {
      isError(await alice.req("PUT", `/api/assistants/${A.id}/avatar`, undefined, { raw: "<svg onload=alert(1)>", type: "image/svg+xml" }), 400);
      isError(await alice.req("PUT", `/api/assistants/${A.id}/avatar`, undefined, { raw: Buffer.concat([PNG, Buffer.alloc(600 * 1024)]), type: "image/png" }), 400);
      isError(await alice.req("PUT", `/api/assistants/${A.id}/avatar`, undefined, { raw: PNG.subarray(0, 40), type: "image/png" }), 400);
      isError(await bob.req("PUT", `/api/assistants/${A.id}/avatar`, undefined, { raw: PNG, type: "image/png" }), 404);
      let r = await alice.req("PUT", `/api/assistants/${A.id}/avatar`, undefined, { raw: PNG, type: "image/png" });
      eq([r.status, r.json.avatar_url], [200, `/api/assistants/${A.id}/avatar`], "avatar set");
      r = await bob.req("GET", `/api/assistants/${A.id}/avatar`);
      eq([r.status, r.headers.get("content-type"), r.headers.get("x-content-type-options")], [200, "image/png", "nosniff"], "served");
      assert(r.buf.equals(PNG), "same bytes");
      r = await alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent("설명서.md")}`, undefined,
                          { raw: MANUAL, type: "text/markdown" });
      eq([r.status, r.json.data.length, r.json.data[0].name], [200, 1, "설명서.md"], "knowledge file bundled");
      isError(await alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent("a/b.md")}`, undefined, { raw: "x" }), 400);
      r = await alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent("../x")}`, undefined, { raw: "x" });
      assert(r.status === 400 || r.status === 404, "a dot-dot name is refused: " + r.status);
      eq((await alice.req("GET", `/api/assistants/${A.id}/files`)).json.data.length, 1, "still one file");
      r = await alice.req("PUT", `/api/assistants/${A.id}/files/faq.txt`, undefined, { raw: FAQ, type: "text/plain" });
      eq(r.json.data.map((f) => f.name), ["faq.txt", "설명서.md"], "two files");
      isError(await bob.req("GET", `/api/assistants/${A.id}/files`), 404);
    });

    await T("the store: Korean search, category, starters, author; sorting", async () => {
      const other = await alice.req("POST", "/api/assistants", { name: "Writing Coach", description: "edits prose", category: "writing", visibility: "public" });
      eq(other.status, 201, "second");
      let r = await bob.req("GET", "/api/store?q=" + encodeURIComponent("세탁기 고객"));
      eq(r.json.data.map((x) => x.id), [A.id], "Korean terms");
      eq([r.json.data[0].author.name, r.json.data[0].starters.length], ["앨리스", 2], "detail");
      assert(!("instructions" in r.json.data[0]), "no instructions in the store");
      r = await bob.req("GET", "/api/store?q=" + encodeURIComponent("필터 청소")); // a starter
      eq(r.json.data.map((x) => x.id), [A.id], "starters are searched");
      r = await bob.req("GET", "/api/store?category=writing");
      eq(r.json.data.map((x) => x.name), ["Writing Coach"], "category");
      assert(r.json.categories.includes("customer_support"), "categories listed");
      isError(await bob.req("GET", "/api/store?category=cooking"), 400, "invalid_value", "category");
      isError(await bob.req("GET", "/api/store?sort=loudest"), 400, "invalid_value", "sort");
      eq((await bob.req("GET", "/api/store?q=PROSE")).json.data.length, 1, "ASCII case-insensitive");
    });

    await T("knowledge: the passage that answers comes first, with its file and heading", async () => {
      let r = await alice.req("POST", `/api/assistants/${A.id}/search`, { query: "보증 기간은 얼마인가요?" });
      eq(r.status, 200, "search: " + r.text);
      const top = r.json.data[0];
      eq([top.file, top.heading, top.index], ["설명서.md", "ACME 세탁기 WM-7 설명서 > 3장 보증", 1], "the warranty section first");
      assert(top.text.includes("2년") && r.json.data.length <= 4, "its text; at most max_chunks");
      assert(r.json.context.includes("[1] 설명서.md, ACME 세탁기 WM-7 설명서 > 3장 보증") && r.json.context.includes("say that you do not know"),
             "the context cites it and holds the only-from-knowledge rule");
      r = await alice.req("POST", `/api/assistants/${A.id}/search`, { query: "필터는 얼마나 자주 청소하나요" });
      eq(r.json.data[0].heading, "ACME 세탁기 WM-7 설명서 > 2장 필터 청소", "the filter section first");
      r = await alice.req("POST", `/api/assistants/${A.id}/search`, { query: "배송 며칠" });
      eq(r.json.data[0].file, "faq.txt", "the FAQ answers delivery");
      isError(await alice.req("POST", `/api/assistants/${A.id}/search`, {}), 400, "invalid_value", "query");
      isError(await bob.req("POST", `/api/assistants/${A.id}/search`, { query: "보증" }), 404);
    });

    // the system message a chat with question q gets: the instructions, then the passages
    const sysFor = async (q) => INSTR + "\n\n" + (await alice.req("POST", `/api/assistants/${A.id}/search`, { query: q })).json.context;

    await T("chat as the assistant: its instructions, knowledge, model and sampling defaults reach the model", async () => {
      const q = "보증 기간은?";
      const viaModel = await bob.openai.chat.completions.create({ model: `asst:${A.id}`, messages: [{ role: "user", content: q }] });
      // the same request spelled out: the instructions as the system message, temperature 0, 5 tokens, seed 3
      const explicit = await bob.openai.chat.completions.create({
        model: modelId, temperature: 0, max_tokens: 5, seed: 3,
        messages: [{ role: "system", content: await sysFor(q) }, { role: "user", content: q }] });
      const plain = await bob.openai.chat.completions.create({ model: modelId, temperature: 0, max_tokens: 5, messages: [{ role: "user", content: q }] });
      eq(viaModel.usage.prompt_tokens, explicit.usage.prompt_tokens, "the prompt is the explicit one");
      assert(plain.usage.prompt_tokens < explicit.usage.prompt_tokens, "the instructions are in the prompt");
      eq(viaModel.choices[0].message.content, explicit.choices[0].message.content, "greedy output the same");
      eq(viaModel.usage.completion_tokens <= 5, true, "max_tokens default applied");
      // "assistant": ID with the request's own system message (after the instructions) and a starter
      const r = await bob.req("POST", "/v1/chat/completions", {
        assistant: A.id, starter: 1, messages: [{ role: "system", content: "짧게." }] }, { key: bob.key });
      eq(r.status, 200, "assistant field: " + r.text);
      const ex2 = await bob.openai.chat.completions.create({
        model: modelId, temperature: 0, max_tokens: 5, seed: 3,
        messages: [{ role: "system", content: (await sysFor(CONFIG.starters[1])) + "\n\n짧게." }, { role: "user", content: CONFIG.starters[1] }] });
      eq(r.json.usage.prompt_tokens, ex2.usage.prompt_tokens, "starter + merged system message");
      eq(r.json.choices[0].message.content, ex2.choices[0].message.content, "same greedy output");
      // the request's own sampling wins over the defaults
      const longer = await bob.openai.chat.completions.create({ model: `asst:${A.id}`, max_tokens: 1, messages: [{ role: "user", content: q }] });
      eq(longer.usage.completion_tokens, 1, "request's max_tokens wins");
      isError(await bob.req("POST", "/v1/chat/completions", { assistant: A.id, starter: 9, messages: [] }, { key: bob.key }), 400, "invalid_value", "starter");
      isError(await bob.req("POST", "/v1/chat/completions", { assistant: 5, messages: [] }, { key: bob.key }), 400, "invalid_type", "assistant");
      isError(await bob.req("POST", "/v1/chat/completions", { assistant: "asst_nope", messages: [{ role: "user", content: "x" }] }, { key: bob.key }), 404, "assistant_not_found");
    });

    await T("allowed models: another one is refused; a conversation records assistant and version", async () => {
      let r = await alice.req("PATCH", `/api/assistants/${A.id}`, { model: modelId, models: [modelId] });
      eq(r.json.version, 4, "version 4");
      isError(await bob.req("POST", "/v1/chat/completions", { assistant: A.id, model: "some-other-model", messages: [{ role: "user", content: "x" }] },
                            { key: bob.key }), 400, "model_not_allowed", "model");
      const conv = (await bob.req("POST", "/api/conversations", { title: "" })).json;
      r = await fetch(srv.url + "/v1/chat/completions", { method: "POST",
        headers: { "Content-Type": "application/json", Cookie: bob.cookie, Origin: srv.url, "X-Omni-Conversation": conv.id },
        body: JSON.stringify({ assistant: A.id, starter: 0 }) });
      eq(r.status, 200, "chat in a conversation: " + (await r.clone().text()));
      const c2 = (await bob.req("GET", `/api/conversations/${conv.id}`)).json;
      eq([c2.assistant_id, c2.assistant_version], [A.id, 4], "the conversation records it");
      eq(c2.messages.map((m) => m.role), ["user", "assistant"], "stored turns");
      eq(c2.messages[0].content, CONFIG.starters[0], "the starter was the question");
      const st = (await alice.req("GET", `/api/assistants/${A.id}`)).json.stats;
      assert(st.uses >= 4 && st.users === 1 && st.conversations === 1, "stats: " + JSON.stringify(st));
    });

    await T("ratings: only after use, 1-5, one per user; popular and rating sorts", async () => {
      isError(await carol.req("POST", `/api/assistants/${A.id}/rating`, { stars: 5 }), 403, "not_used");
      isError(await bob.req("POST", `/api/assistants/${A.id}/rating`, { stars: 6 }), 400, "invalid_value", "stars");
      let r = await bob.req("POST", `/api/assistants/${A.id}/rating`, { stars: 3, review: "괜찮아요" });
      eq(r.status, 200, "rated: " + r.text);
      r = await bob.req("POST", `/api/assistants/${A.id}/rating`, { stars: 4, review: "설명서대로 답해요" });
      eq([r.json.stats.rating, r.json.stats.rating_count], [4, 1], "replaced, not added");
      r = await carol.req("GET", `/api/assistants/${A.id}/reviews`);
      eq(r.json.data.map((x) => [x.user_name, x.stars, x.review]), [["Bob", 4, "설명서대로 답해요"]], "reviews");
      r = await carol.req("GET", "/api/store?sort=popular");
      eq(r.json.data[0].id, A.id, "most used first");
      r = await carol.req("GET", "/api/store?sort=rating");
      eq(r.json.data[0].id, A.id, "best rated first");
    });

    await T("admin: feature, hide (gone from the store, 404 for users), remove", async () => {
      const w = (await alice.req("GET", "/api/assistants")).json.data.find((x) => x.name === "Writing Coach");
      isError(await bob.req("POST", `/api/assistants/${w.id}/moderate`, { featured: true }), 403, "forbidden");
      let r = await admin.req("POST", `/api/assistants/${w.id}/moderate`, { featured: true });
      eq([r.status, r.json.featured], [200, true], "featured");
      eq((await carol.req("GET", "/api/store")).json.data[0].id, w.id, "featured first");
      r = await admin.req("POST", `/api/assistants/${w.id}/moderate`, { hidden: true });
      eq(r.json.hidden, true, "hidden");
      eq((await carol.req("GET", "/api/store?q=prose")).json.data.length, 0, "hidden from the store");
      isError(await carol.req("GET", `/api/assistants/${w.id}`), 404);
      eq((await admin.req("GET", "/api/store?q=prose&hidden=1")).json.data.length, 1, "admins still find it");
      eq((await alice.req("GET", `/api/assistants/${w.id}`)).status, 200, "the author still sees it");
      eq((await admin.req("DELETE", `/api/assistants/${w.id}`)).status, 200, "admin removes");
      isError(await alice.req("GET", `/api/assistants/${w.id}`), 404);
    });

    await T("export a bundle; import it (private, new owner); hostile bundles get one error, nothing stored", async () => {
      let r = await alice.req("GET", `/api/assistants/${A.id}/export`);
      eq([r.status, r.headers.get("content-type")], [200, "application/zip"], "export");
      assert(/attachment; filename=".*\.omni-assistant"/.test(r.headers.get("content-disposition")), "file name");
      bundle = r.buf;
      eq(bundle.subarray(0, 2).toString(), "PK", "a zip");
      const before = (await bob.req("GET", "/api/assistants")).json.data.length;
      for (const bad of ["zip-slip", "absolute", "symlink", "exec-bit", "elf", "bad-hash", "ratio-bomb", "newer-schema",
                         "unlisted", "truncated", "not-zip", "manifest-not-json", "folder"]) {
        r = await bob.req("POST", "/api/assistants/import", undefined, { raw: fs.readFileSync(`${CORPUS}/${bad}`), type: "application/zip" });
        isError(r, 400, "invalid_bundle");
      }
      const flipped = Buffer.from(bundle);
      flipped[flipped.length >> 1] ^= 0xff;
      r = await bob.req("POST", "/api/assistants/import", undefined, { raw: flipped, type: "application/zip" });
      assert(r.status === 400 || r.status === 201, "a flipped byte: 400 or (in unchecked zip metadata) a good import: " + r.status);
      if (r.status === 201) await bob.req("DELETE", `/api/assistants/${r.json.id}`);
      eq((await bob.req("GET", "/api/assistants")).json.data.length, before, "nothing stored");
      r = await bob.req("POST", "/api/assistants/import", undefined, { raw: bundle, type: "application/zip" });
      eq(r.status, 201, "import: " + r.text);
      eq([r.json.visibility, r.json.author.name, r.json.instructions, r.json.version, r.json.starters], ["private", "Bob", INSTR, 1, CONFIG.starters], "imported");
      assert(r.json.id !== A.id && r.json.avatar_url, "a new id with the avatar");
      const files = (await bob.req("GET", `/api/assistants/${r.json.id}/files`)).json.data;
      eq(files.map((f) => f.name), ["faq.txt", "설명서.md"], "knowledge files carried");
      isError(await alice.req("GET", `/api/assistants/${r.json.id}`), 404, "not_found");
    });

    await T("the author deletes it: chats with it are 404, its conversations stay", async () => {
      const w = await alice.req("POST", "/api/assistants", { name: "temp", visibility: "public" });
      eq((await bob.req("POST", "/v1/chat/completions", { assistant: w.json.id, messages: [{ role: "user", content: "x" }], max_tokens: 1 }, { key: bob.key })).status, 200, "chat");
      eq((await alice.req("DELETE", `/api/assistants/${w.json.id}`)).status, 200, "deleted");
      isError(await bob.req("POST", "/v1/chat/completions", { assistant: w.json.id, messages: [{ role: "user", content: "x" }] }, { key: bob.key }), 404, "assistant_not_found");
      isError(await bob.req("GET", `/api/assistants/${w.json.id}/reviews`), 404);
    });

    await T("bundle on a second server: the same assistant answers the same", async () => {
      const d2 = fs.mkdtempSync(path.join(tmp, "second-"));
      const srv2 = await startServer(["-m", MODEL, "--ctx", "4096", "--db", `sqlite:${d2}/omni.db`, "--tiers", TIERS]);
      try {
        const zed = await user(srv2.url, "zed@example.com", "Zed");
        const r = await zed.req("POST", "/api/assistants/import", undefined, { raw: bundle, type: "application/zip" });
        eq(r.status, 201, "import on the second server: " + r.text);
        const q = [{ role: "user", content: "필터 청소 방법은?" }];
        const there = await zed.openai.chat.completions.create({ model: `asst:${r.json.id}`, messages: q });
        const here = await alice.openai.chat.completions.create({ model: `asst:${A.id}`, messages: q });
        eq([there.usage.prompt_tokens, there.choices[0].message.content], [here.usage.prompt_tokens, here.choices[0].message.content], "same prompt and answer");
      } finally { await stop(srv2); }
    });

    await T("deleting an account takes its assistants", async () => {
      const d = await user(srv.url, "dave@example.com", "Dave");
      const a = (await d.req("POST", "/api/assistants", { name: "Dave's", visibility: "public" })).json;
      eq((await d.req("DELETE", "/api/me")).status, 200, "account deleted");
      isError(await alice.req("GET", `/api/assistants/${a.id}`), 404);
    });
  } finally { await stop(srv); }
}

await suite("sqlite", `sqlite:${tmp}/omni.db`);
const pg = await startPostgres();
try { await suite("postgres", pg.url.replace(/\/postgres$/, "/postgres")); } finally { await pg.stop(); }
await test("every server exited cleanly at SIGTERM", async () => eq(badExits, [], "exits"));
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(summary());
