// An assistant's citations are stored with its answer on the server (message_citations),
// on SQLite and on PostgreSQL: a user chats with a published assistant whose knowledge is
// a Korean manual (a PDF made here) in a stored conversation — streamed, not streamed, and
// through the server's tool loop (a built-in tool in the request) — and reading the
// conversation back (GET /api/conversations/{id} and .../messages) gives each answer the
// very citations the reply carried (file, page, heading, passage); a client that adds an
// answer itself (a stopped stream) may bring its citations, checked (400 in OpenAI's shape
// otherwise); another user's conversation id is a 404 and shows nothing; a share link names
// the sources without their passages; the account export carries them; deleting the
// conversation, then the account, removes their rows from the table itself.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { startPostgres } from "./pg_helpers.mjs";
import { pdf } from "./doc_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(2 * 8 + 1);
const MODEL = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-asst-cites-"));
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "free", tiers: { free: {} } }));
const pdfBytes = pdf(tmp, [
  ["ACME 로봇청소기 R-9 사용 설명서", 1],
  ["1장 충전", 2], ["충전대를 벽에 붙여 두고 전원 어댑터를 연결하세요. 완전히 충전하는 데 세 시간이 걸립니다.", 0],
  ["2장 배터리", 2], ["배터리를 완전히 충전하면 백이십 분 동안 청소할 수 있습니다. 배터리는 이 년마다 교체하세요.", 0],
]);
const Q = "배터리로 몇 분 동안 청소할 수 있나요?";
const CONFIG = {
  name: "ACME 청소기 도우미", description: "설명서로 답합니다", instructions: "당신은 ACME 고객 지원 도우미입니다.",
  category: "customer_support", starters: [], capabilities: { knowledge: true, data_analysis: false, voice: false, tools: [] },
  knowledge: { max_chunks: 2, threshold: 0, only_knowledge: true }, sampling: { temperature: 0, max_tokens: 4, seed: 1 },
  visibility: "public",
};

function client(base) {
  const c = { base, cookie: null };
  c.req = async (method, p, body, { raw, type, headers } = {}) => {
    const h = { Origin: base, ...(headers || {}) };
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
  return u;
}
function isError(res, status, re) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text.slice(0, 300)}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && e.message, "OpenAI error shape: " + res.text.slice(0, 300));
  if (re) assert(re.test(e.message), `the message says why (${re}): ${e.message}`);
}
// The chunks of a streamed reply (data: lines), in order.
function chunks(text) {
  return text.split("\n").filter((l) => l.startsWith("data: ") && l !== "data: [DONE]").map((l) => JSON.parse(l.slice(6)));
}
const answers = (conv) => conv.messages.filter((m) => m.role === "assistant");
const byId = (conv, id) => conv.messages.find((m) => m.id === id);

const badExits = [];
async function stop(srv) {
  const code = await stopServer(srv);
  if (code !== 0) badExits.push(`exit ${code}: ${srv.stderr().slice(-3000)}`);
}

async function suite(name, db, rows) {
  const srv = await startServer(["-m", MODEL, "--ctx", "4096", "--parallel", "2", "--db", db, "--tiers", TIERS]);
  const T = (n, f) => test(`${name}: ${n}`, f);
  let alice, bob, carol, A, conv1, conv2, conv3, streamed, plain;
  const chat = (u, conv, body) => u.req("POST", "/v1/chat/completions", { assistant: A.id, messages: [{ role: "user", content: Q }], ...body },
    { headers: { "X-Omni-Conversation": conv } });
  const read = async (u, id, sub = "") => (await u.req("GET", `/api/conversations/${id}${sub}`)).json;
  try {
    await T("an author publishes an assistant with a Korean manual; two other users", async () => {
      await user(srv.url, "root@example.com", "Root");   // the first account is the admin
      alice = await user(srv.url, "alice@example.com", "앨리스");
      bob = await user(srv.url, "bob@example.com", "Bob");
      carol = await user(srv.url, "carol@example.com", "Carol");
      let r = await alice.req("POST", "/api/assistants", CONFIG);
      eq(r.status, 201, "create: " + r.text);
      A = r.json;
      r = await alice.req("PUT", `/api/assistants/${A.id}/files/${encodeURIComponent("설명서.pdf")}`, undefined, { raw: pdfBytes, type: "application/pdf" });
      eq(r.status, 200, "pdf: " + r.text);
      eq(rows(), 0, "no citations stored yet");
    });

    await T("streamed in a conversation: the answer read back carries the stream's citations", async () => {
      conv1 = (await bob.req("POST", "/api/conversations", { title: "" })).json.id;
      const r = await chat(bob, conv1, { stream: true });
      eq(r.status, 200, "stream: " + r.text.slice(0, 300));
      streamed = chunks(r.text)[0].choices[0].delta.citations;
      assert(Array.isArray(streamed) && streamed.length >= 1, "the first chunk's citations: " + r.text.slice(0, 300));
      eq([streamed[0].index, streamed[0].file, streamed[0].page], [1, "설명서.pdf", 1], "[1] is the manual's page");
      assert(streamed[0].text.includes("백이십 분") && /2장 배터리/.test(streamed[0].heading), "the passage that answers");
      for (const sub of ["", "/messages"]) {
        const c = await read(bob, conv1, sub);
        const a = byId(c, c.current_leaf);
        eq(a.role, "assistant", "the answer is the leaf");
        eq(a.citations, streamed, `GET ${sub || "the conversation"}: the same citations, passages and all`);
        eq(c.messages.filter((m) => m.citations).length, 1, "only the answer has them");
      }
      eq(rows(), 1, "one row");
    });

    await T("not streamed ('conversation' field), and through the server's tool loop: stored as answered", async () => {
      conv2 = (await bob.req("POST", "/api/conversations", { title: "" })).json.id;
      let r = await bob.req("POST", "/v1/chat/completions", { assistant: A.id, conversation: conv2, messages: [{ role: "user", content: Q }] });
      eq(r.status, 200, "chat: " + r.text.slice(0, 300));
      plain = r.json.choices[0].message.citations;
      eq(plain, streamed, "the same passages for the same question");
      let c = await read(bob, conv2);
      eq(byId(c, c.current_leaf).citations, plain, "stored with the answer");
      // a built-in tool in the request: the tool loop answers (and now cites) as the plain chat does
      r = await chat(bob, conv2, { tools: [{ type: "current_time" }] });
      eq(r.status, 200, "tool loop: " + r.text.slice(0, 300));
      const looped = r.json.choices[0].message;
      assert(Array.isArray(looped.tool_runs), "the tool loop's reply: " + r.text.slice(0, 300));
      eq(looped.citations, streamed, "the tool loop's reply cites too");
      c = await read(bob, conv2);
      eq(byId(c, c.current_leaf).citations, looped.citations, "and its answer is stored with them");
      r = await chat(bob, conv2, { tools: [{ type: "current_time" }], stream: true });
      eq(r.status, 200, "tool loop streamed");
      eq(chunks(r.text)[0].choices[0].delta.citations, streamed, "its first chunk carries them");
      c = await read(bob, conv2);
      eq(answers(c).map((m) => m.citations), [streamed, streamed, streamed], "three answers, each with its citations");
      eq(rows(), 4, "four rows");
    });

    await T("another user: the conversation is a 404 and its citations appear nowhere", async () => {
      for (const sub of ["", "/messages"]) isError(await carol.req("GET", `/api/conversations/${conv1}${sub}`), 404);
      isError(await carol.req("POST", `/api/conversations/${conv1}/messages`,
        { role: "assistant", content: "x", citations: [{ index: 1, file: "a.txt", text: "y" }] }), 404);
      isError(await carol.req("POST", "/v1/chat/completions", { assistant: A.id, messages: [{ role: "user", content: Q }] },
        { headers: { "X-Omni-Conversation": conv1 } }), 404);
      const ex = await carol.req("GET", "/api/export");
      eq(ex.status, 200, "carol's export");
      assert(!ex.text.includes("백이십 분") && !ex.text.includes(conv1), "nothing of bob's in it");
      eq(rows(), 4, "nothing added");
    });

    await T("a client adds an answer with its citations (a stopped stream); bad ones are a 400", async () => {
      conv3 = (await bob.req("POST", "/api/conversations", { title: "" })).json.id;
      const q = await bob.req("POST", `/api/conversations/${conv3}/messages`, { role: "user", content: Q });
      eq(q.status, 201, "question: " + q.text);
      const mine = [{ index: 1, file: "설명서.pdf", page: 1, heading: "2장 배터리", chunk: 2, score: 0.5, text: "배터리를 완전히 충전하면 <b>백이십 분</b>" }];
      const post = (body) => bob.req("POST", `/api/conversations/${conv3}/messages`, { role: "assistant", content: "백이십 분", parent_id: q.json.id, ...body });
      for (const bad of [{ citations: "[1]" }, { citations: [{ index: 1 }] }, { citations: [{ index: 0, file: "a" }] },
                         { citations: [{ index: 1.5, file: "a" }] }, { citations: [{ index: 1, file: "a", text: 3 }] },
                         { citations: [{ index: 1, file: "a", page: "one" }] }, { citations: [1] },
                         { citations: Array.from({ length: 51 }, (_, i) => ({ index: i + 1, file: "a" })) }])
        isError(await post(bad), 400, /citations/);
      isError(await bob.req("POST", `/api/conversations/${conv3}/messages`, { role: "user", content: "q", citations: mine }), 400, /assistant/);
      isError(await bob.req("POST", `/api/conversations/${conv3}/messages`, { content: "q", reasoning: "r" }), 400, /role/);
      eq(rows(), 4, "none of those stored anything");
      const r = await post({ citations: mine });
      eq(r.status, 201, "added: " + r.text);
      eq(r.json.citations, mine, "the reply shows them");
      const c = await read(bob, conv3);
      eq(byId(c, r.json.id).citations, mine, "read back as given (text stays text)");
      const none = await post({ citations: [] });
      eq([none.status, "citations" in none.json], [201, false], "an empty list is none");
      eq(rows(), 5, "five rows");
    });

    await T("a share link names the sources without their passages", async () => {
      const s = await bob.req("POST", `/api/conversations/${conv1}/share`);
      eq(s.status, 201, "shared: " + s.text);
      const anon = client(srv.url);
      const r = await anon.req("GET", `/api/shared/${s.json.token}`);
      eq(r.status, 200, "read without login");
      const a = r.json.messages.filter((m) => m.role === "assistant").at(-1);
      eq(a.citations, streamed.map((x) => ({ index: x.index, file: x.file, page: x.page, heading: x.heading })), "where each source is");
      assert(!r.text.includes("백이십 분") && !r.text.includes("충전대를"), "no passage text in the shared copy");
    });

    await T("the account export carries each answer's citations", async () => {
      const r = await bob.req("GET", "/api/export");
      eq(r.status, 200, "export");
      const convs = Object.fromEntries(r.json.conversations.map((c) => [c.id, c]));
      const cited = (id) => convs[id].messages.filter((m) => m.citations).map((m) => m.citations);
      eq(cited(conv1), [streamed], "conversation 1");
      eq(cited(conv2), [streamed, streamed, streamed], "conversation 2");
      eq(cited(conv3)[0][0].text, "배터리를 완전히 충전하면 <b>백이십 분</b>", "conversation 3");
      assert(convs[conv1].messages.filter((m) => m.role === "user").every((m) => !("citations" in m)), "questions have none");
    });

    await T("deleting the conversation removes its citations; deleting the account removes the rest", async () => {
      eq((await bob.req("DELETE", `/api/conversations/${conv2}`)).status, 200, "deleted");
      isError(await bob.req("GET", `/api/conversations/${conv2}`), 404);
      eq(rows(), 2, "conversation 2's three rows gone, from the table itself");
      const ex = await bob.req("GET", "/api/export");
      eq(ex.json.conversations.flatMap((c) => c.messages).filter((m) => m.citations).length, 2, "the export has the other two");
      eq((await bob.req("DELETE", "/api/me")).status, 200, "account deleted");
      eq(rows(), 0, "and with the account, the rest");
    });
  } finally { await stop(srv); }
}

// Rows of message_citations, counted in the database itself.
const sqliteRows = (file) => () => +execFileSync("sqlite3", [file, "SELECT COUNT(*) FROM message_citations"], { encoding: "utf8" }).trim();
const pgRows = (url) => () => +execFileSync("psql", [url, "-tAc", "SELECT COUNT(*) FROM message_citations"], { encoding: "utf8" }).trim();

await suite("sqlite", `sqlite:${tmp}/omni.db`, sqliteRows(`${tmp}/omni.db`));
const pg = await startPostgres();
try { await suite("postgres", pg.url, pgRows(pg.url)); } finally { await pg.stop(); }
await test("every server exited cleanly at SIGTERM", async () => eq(badExits, [], "exits"));
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(summary());
