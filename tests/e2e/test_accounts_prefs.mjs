// The account features the web app's settings, sharing, feedback and memory pages use,
// end to end over HTTP (SQLite; storage itself runs on both back ends in
// tests/storage/test_prefs.c), and the tier limits on the generating APIs other than chat:
// - PATCH /api/me: name, email and password (current password required; a password change
//   ends the other sessions), 4xx for bad input;
// - settings: defaults, validation, the admin's training-consent default; custom
//   instructions and memories reach the prompt of stored chats (the prompt's token count
//   grows by them, and is back to the plain count when they are gone);
// - memories: CRUD, another user's ids 404, "remember …" / "… 기억해 줘" saved from a chat,
//   the built-in memory tool forced with tool_choice (JSON and streamed replies);
// - share links (read without login, un-share), feedback (one per user and answer, with
//   model and sampling; trainers see only consented users'), export;
// - limits and usage on /v1/completions, /v1/messages (Anthropic's 429), ollama's /api/chat
//   (ollama's 429), /v1/embeddings with a key (openai client): x-ratelimit-* headers,
//   resets_at, fallback_model naming the second model, usage rows per model and key.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI from "openai";
import WebSocket from "ws";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(16);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-prefs-"));
const store = path.join(tmp, "store");
fs.mkdirSync(store);
// a second chat model in the store: the small model a limited user falls back to
fs.copyFileSync(`${MODELS}/synth/synth-llama-f16.gguf`, path.join(store, "synth-llama-f16.gguf"));
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({
  default: "free",
  groups: { small: ["synth-llama-*"] },
  tiers: {
    free: { messages: [{ models: ["small"], limit: null }, { models: ["*"], limit: 2, window: "1h", fallback: "synth-llama-f16" }] },
    plus: {},
    keyed: { api: { requests_per_minute: 3, tokens_per_minute: null } },
    voice: { messages: [{ models: ["*"], limit: 1, window: "2h" }] },
  },
}));

function client(base) {
  const c = { base, cookie: null };
  c.req = async (method, p, body, { headers = {}, origin = true, cookie = c.cookie, key } = {}) => {
    const h = { ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (cookie) h.Cookie = cookie;
    if (key) h.Authorization = "Bearer " + key;
    if (origin) h.Origin = c.base;
    const opts = { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) };
    let r;
    try { r = await fetch(c.base + p, opts); } catch (e) { if (!(e instanceof TypeError)) throw e; r = await fetch(c.base + p, opts); }
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    const sc = r.headers.get("set-cookie");
    if (sc && /omni_session=/.test(sc)) {
      const v = sc.match(/omni_session=([^;]*)/)[1];
      c.cookie = v ? `omni_session=${v}` : null;
    }
    return { status: r.status, headers: r.headers, json, text };
  };
  return c;
}

function isError(res, status, code) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && "type" in e && "param" in e && "code" in e, "OpenAI error shape: " + res.text);
  if (code !== undefined) assert(e.code === code, `code ${e.code} != ${code}: ${res.text}`);
}

const chat = (text, extra = {}) => ({ messages: [{ role: "user", content: text }], max_tokens: 4, temperature: 0, ...extra });
const badExits = [];
const sseEvents = (text) => text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));

const srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--store", "--ctx", "2048", "--parallel", "2",
  "--embedding-model", `${MODELS}/synth/synth-bert-bge-f16.gguf`, "--db", `sqlite:${tmp}/omni.db`, "--tiers", TIERS],
  { env: { OMNI_HOME: store } });
const admin = client(srv.url), alice = client(srv.url), alice2 = client(srv.url), bob = client(srv.url), carol = client(srv.url);
let conv, answerId, userMsgId;
let models = [], MAIN, EMB;
const SMALL = "synth-llama-f16";

async function promptTokens(c, text, convId) {
  const r = await c.req("POST", "/v1/chat/completions", chat(text, convId ? { conversation: convId } : {}));
  eq(r.status, 200, r.text);
  return r.json.usage.prompt_tokens;
}

try {
  await test("sign-ups; the admin sets alice's tier", async () => {
    eq((await admin.req("POST", "/api/auth/signup", { email: "root@x.org", password: "admin-pass-1" })).status, 201);
    models = (await admin.req("GET", "/v1/models")).json.data.map((m) => m.id);
    MAIN = models.find((m) => /smollm2/.test(m));
    EMB = models.find((m) => /bge/.test(m));
    assert(models.includes(SMALL) && MAIN && EMB, "models: " + models.join(","));
    for (const [c, e] of [[alice, "alice@x.org"], [bob, "bob@x.org"], [carol, "carol@x.org"]])
      eq((await c.req("POST", "/api/auth/signup", { email: e, password: e + "-pw1", name: "n" })).status, 201);
    const users = (await admin.req("GET", "/api/admin/users")).json.data;
    const a = users.find((u) => u.email === "alice@x.org");
    eq((await admin.req("PATCH", `/api/admin/users/${a.id}`, { tier: "plus" })).status, 200);
    eq((await alice2.req("POST", "/api/auth/login", { email: "alice@x.org", password: "alice@x.org-pw1" })).status, 200);
  });

  await test("PATCH /api/me: name; email and password need the current password; other sessions end", async () => {
    let r = await alice.req("PATCH", "/api/me", { name: "앨리스" });
    eq([r.status, r.json.user.name], [200, "앨리스"], r.text);
    isError(await alice.req("PATCH", "/api/me", { email: "alice2@x.org" }), 403, "invalid_current_password");
    isError(await alice.req("PATCH", "/api/me", { password: "new-pass-123", current_password: "wrong" }), 403, "invalid_current_password");
    isError(await alice.req("PATCH", "/api/me", { email: "bob@x.org", current_password: "alice@x.org-pw1" }), 409);
    isError(await alice.req("PATCH", "/api/me", { email: "no-at-sign", current_password: "alice@x.org-pw1" }), 400);
    isError(await alice.req("PATCH", "/api/me", { name: 7 }), 400);
    isError(await alice.req("PATCH", "/api/me", { password: "short", current_password: "alice@x.org-pw1" }), 400);
    isError(await alice.req("PATCH", "/api/me", { name: "x" }, { origin: false }), 403, "csrf_origin_mismatch");
    r = await alice.req("PATCH", "/api/me", { password: "new-pass-123", current_password: "alice@x.org-pw1" });
    eq([r.status, r.json.sessions_revoked], [200, true], r.text);
    eq((await alice.req("GET", "/api/me")).status, 200, "the session that changed it goes on (new cookie)");
    eq((await alice2.req("GET", "/api/me")).status, 401, "the other session is over");
    isError(await alice2.req("POST", "/api/auth/login", { email: "alice@x.org", password: "alice@x.org-pw1" }), 401);
    eq((await alice2.req("POST", "/api/auth/login", { email: "alice@x.org", password: "new-pass-123" })).status, 200);
    eq((await alice.req("GET", "/api/me")).json.user.name, "앨리스");
  });

  await test("settings: defaults, changes, validation; the admin's consent default", async () => {
    let r = await alice.req("GET", "/api/settings");
    eq(r.status, 200, r.text);
    eq([r.json.about_me, r.json.response_style, r.json.default_model, r.json.voice, r.json.theme, r.json.language, r.json.memory_enabled,
      r.json.improve_model], ["", "", null, null, "system", "en", true, false], "defaults");
    r = await alice.req("PATCH", "/api/settings", { theme: "dark", language: "ko", default_model: MAIN, voice: "alloy" });
    eq([r.status, r.json.theme, r.json.language, r.json.default_model, r.json.voice], [200, "dark", "ko", MAIN, "alloy"], r.text);
    isError(await alice.req("PATCH", "/api/settings", { theme: "blue" }), 400, "invalid_value");
    isError(await alice.req("PATCH", "/api/settings", { language: "fr" }), 400, "invalid_value");
    isError(await alice.req("PATCH", "/api/settings", { memory_enabled: "yes" }), 400, "invalid_type");
    isError(await alice.req("PATCH", "/api/settings", { colour: 1 }), 400, "unknown_parameter");
    isError(await alice.req("PATCH", "/api/settings", { about_me: "가".repeat(1501) }), 400, "invalid_value");
    eq((await alice.req("PATCH", "/api/settings", { about_me: "가".repeat(1500) })).status, 200, "1500 characters are fine");
    isError(await alice.req("PATCH", "/api/settings", "[1]"), 400);
    eq((await alice.req("GET", "/api/settings")).json.theme, "dark", "a refused PATCH changed nothing");
    isError(await alice.req("PATCH", "/api/admin/settings", { improve_model_default: true }), 403, "admin_only");
    isError(await admin.req("PATCH", "/api/admin/settings", { improve_model_default: "on" }), 400);
    r = await admin.req("PATCH", "/api/admin/settings", { improve_model_default: true });
    eq([r.status, r.json.improve_model_default], [200, true], r.text);
    eq((await bob.req("GET", "/api/settings")).json.improve_model, true, "bob never chose: the server default");
    r = await alice.req("PATCH", "/api/settings", { improve_model: false });
    eq(r.json.improve_model, false, "alice's own choice wins");
    eq((await alice.req("PATCH", "/api/settings", { about_me: "" })).status, 200);
  });

  await test("custom instructions and memories reach the prompt of stored chats", async () => {
    conv = (await alice.req("POST", "/api/conversations", { title: "t" })).json.id;
    const plain = await promptTokens(alice, "hello there");
    eq(await promptTokens(alice, "hello there", conv), plain, "nothing set: the stored chat's prompt is the plain one");
    await alice.req("PATCH", "/api/settings", { about_me: "I am a gardener in Busan.", response_style: "Answer in one sentence." });
    const withInstr = await promptTokens(alice, "hello there", conv);
    assert(withInstr > plain + 10, `custom instructions add tokens: ${withInstr} vs ${plain}`);
    eq(await promptTokens(alice, "hello there"), plain, "a chat that is not stored gets none");
    const m = await alice.req("POST", "/api/memories", { content: "Alice grows tomatoes" });
    eq(m.status, 201, m.text);
    const withMem = await promptTokens(alice, "hello there", conv);
    assert(withMem > withInstr + 3, `the memory adds tokens: ${withMem} vs ${withInstr}`);
    await alice.req("PATCH", "/api/settings", { memory_enabled: false });
    eq(await promptTokens(alice, "hello there", conv), withInstr, "memory off: no memories in the prompt");
    await alice.req("PATCH", "/api/settings", { memory_enabled: true });
    // many memories: only 512 tokens' worth go in (newest first)
    for (let i = 0; i < 60; i++) eq((await alice.req("POST", "/api/memories", { content: `fact number ${i}: the user once visited city ${i} and liked it` })).status, 201);
    const capped = await promptTokens(alice, "hello there", conv);
    assert(capped > withMem + 300 && capped <= withInstr + 512 + 40, `memories within the budget: ${capped} vs ${withInstr}`);
    await alice.req("DELETE", "/api/memories");
    await alice.req("POST", "/api/memories", { content: "Alice grows tomatoes" }).then((x) => (m.json.id = x.json.id));
    await alice.req("PATCH", "/api/settings", { memory_enabled: false });
    await alice.req("PATCH", "/api/settings", { memory_enabled: true, about_me: "", response_style: "" });
    await alice.req("DELETE", `/api/memories/${m.json.id}`);
    eq(await promptTokens(alice, "hello there", conv), plain, "all gone: the plain prompt again");
  });

  await test("memories: create, list, edit, delete; another user's ids are 404; bad input 400", async () => {
    const a = await alice.req("POST", "/api/memories", { content: "좋아하는 색은 초록색" });
    const b = await alice.req("POST", "/api/memories", { content: "has a dog" });
    eq([a.status, b.status, a.json.object], [201, 201, "memory"], a.text);
    let l = await alice.req("GET", "/api/memories");
    eq(l.json.data.map((x) => x.content).sort(), ["has a dog", "좋아하는 색은 초록색"].sort(), "listed");
    const e = await alice.req("PATCH", `/api/memories/${b.json.id}`, { content: "has two dogs" });
    eq([e.status, e.json.content], [200, "has two dogs"], e.text);
    isError(await bob.req("PATCH", `/api/memories/${b.json.id}`, { content: "x" }), 404);
    isError(await bob.req("DELETE", `/api/memories/${b.json.id}`), 404);
    eq((await bob.req("GET", "/api/memories")).json.data.length, 0, "bob sees none");
    isError(await alice.req("POST", "/api/memories", { content: "" }), 400);
    isError(await alice.req("POST", "/api/memories", { content: 5 }), 400);
    isError(await alice.req("POST", "/api/memories", { content: "x".repeat(5000) }), 400);
    isError(await alice.req("PATCH", "/api/memories/mem_nope", { content: "x" }), 404);
    eq((await alice.req("DELETE", `/api/memories/${a.json.id}`)).json.deleted, true);
    l = await alice.req("GET", "/api/memories");
    eq(l.json.data.map((x) => x.content), ["has two dogs"], "one left");
    const all = await alice.req("DELETE", "/api/memories");
    eq([all.status, all.json.deleted], [200, 1], all.text);
  });

  await test("'remember …' and '… 기억해 줘' in a stored chat are saved; memory off saves nothing", async () => {
    let r = await alice.req("POST", "/v1/chat/completions", chat("Remember that my cat is called Nabi.", { conversation: conv }));
    eq([r.status, r.headers.get("x-omni-memory-updated")], [200, "1"], r.text);
    r = await alice.req("POST", "/v1/chat/completions", chat("내 생일은 5월 3일이야 기억해 줘", { conversation: conv, stream: true }));
    eq([r.status, r.headers.get("x-omni-memory-updated")], [200, "1"], r.text);
    const ev = sseEvents(r.text).find((j) => j.object === "omni.memory.updated");
    assert(ev && ev.memories.some((m) => m.content === "내 생일은 5월 3일이야"), "stream's memory event: " + r.text.slice(-400));
    let l = (await alice.req("GET", "/api/memories")).json.data.map((x) => x.content).sort();
    eq(l, ["my cat is called Nabi", "내 생일은 5월 3일이야"].sort(), "saved facts");
    const bobConv = (await bob.req("POST", "/api/conversations", {})).json.id;
    r = await alice.req("POST", "/v1/chat/completions", chat("remember that I own bob's chat", { conversation: bobConv }));
    eq([r.status, r.headers.get("x-omni-memory-updated")], [404, null], "another user's conversation: 404, nothing saved");
    r = await alice.req("POST", "/v1/chat/completions", chat("remember the milk"));
    eq([r.status, r.headers.get("x-omni-memory-updated")], [200, null], "not a stored chat: nothing saved");
    r = await alice.req("POST", "/v1/chat/completions", chat("hello", { conversation: conv }));
    eq(r.headers.get("x-omni-memory-updated"), null, "an ordinary question saves nothing");
    r = await alice.req("POST", "/v1/chat/completions", chat("Remember when we went to Jeju?", { conversation: conv }));
    eq(r.headers.get("x-omni-memory-updated"), null, "asking whether omni remembers saves nothing");
    await alice.req("PATCH", "/api/settings", { memory_enabled: false });
    r = await alice.req("POST", "/v1/chat/completions", chat("remember that I like jazz", { conversation: conv }));
    eq([r.status, r.headers.get("x-omni-memory-updated")], [200, null], "memory off");
    eq((await alice.req("GET", "/api/memories")).json.data.length, 2, "still two");
    await alice.req("PATCH", "/api/settings", { memory_enabled: true });
    await alice.req("DELETE", "/api/memories");
  });

  await test("the built-in memory tool, forced with tool_choice: the server saves the call's fact", async () => {
    const force = { tool_choice: { type: "function", function: { name: "memory" } }, max_tokens: 300, conversation: conv };
    let r = await alice.req("POST", "/v1/chat/completions", chat("I live in Busan", force));
    eq(r.status, 200, r.text);
    const call = r.json.choices[0].message.tool_calls && r.json.choices[0].message.tool_calls[0];
    assert(call && call.function.name === "memory", "a memory call: " + r.text);
    const args = JSON.parse(call.function.arguments);
    assert(typeof args.content === "string" && args.content.length > 0, "the call's content: " + call.function.arguments);
    eq(r.headers.get("x-omni-memory-updated"), "1", "memory updated header");
    let l = (await alice.req("GET", "/api/memories")).json.data;
    eq(l.map((x) => x.content), [args.content], "saved what the model wrote");
    // streamed: the fact is saved and the stream's last event says so
    r = await alice.req("POST", "/v1/chat/completions", chat("I have a bike", { ...force, stream: true }));
    eq(r.status, 200, r.text);
    const ev = sseEvents(r.text);
    const argText = ev.map((j) => j.choices && j.choices[0] && j.choices[0].delta.tool_calls && j.choices[0].delta.tool_calls[0].function.arguments || "").join("");
    const mem = ev.find((j) => j.object === "omni.memory.updated");
    assert(mem, "memory event in the stream");
    l = (await alice.req("GET", "/api/memories")).json.data;
    eq(l.length, 2, "two memories now");
    assert(l.some((x) => x.content === JSON.parse(argText).content), "the streamed call's fact: " + argText);
    eq(mem.memories.length, 2, "the event lists them");
    // tool_choice none: not offered, nothing saved
    r = await alice.req("POST", "/v1/chat/completions", chat("I live in Seoul", { conversation: conv, tool_choice: "none", max_tokens: 4 }));
    eq([r.status, r.headers.get("x-omni-memory-updated")], [200, null], r.text);
  });

  await test("share links: read without login, current branch, un-share; other users 404", async () => {
    const g = await alice.req("GET", `/api/conversations/${conv}`);
    let r = await alice.req("POST", `/api/conversations/${conv}/share`);
    eq(r.status, 201, r.text);
    const { token, url } = r.json;
    assert(/^shr_/.test(token) && url === `/shared/${token}`, r.text);
    r = await alice.req("POST", `/api/conversations/${conv}/share`);
    eq([r.status, r.json.token], [200, token], "sharing again: the same link");
    const pub = await fetch(srv.url + `/api/shared/${token}`);
    const pj = await pub.json();
    eq(pub.status, 200, JSON.stringify(pj));
    eq(pj.messages.map((m) => m.id), g.json.path, "the branch shown now");
    eq(pj.title, g.json.title);
    assert(!JSON.stringify(pj).includes("user_id") && !JSON.stringify(pj).includes("alice"), "no owner details");
    isError(await bob.req("POST", `/api/conversations/${conv}/share`), 404);
    isError(await bob.req("DELETE", `/api/conversations/${conv}/share`), 404);
    isError(await alice.req("POST", `/api/conversations/conv_nope/share`), 404);
    isError(await alice.req("GET", `/api/shared/shr_nope`, undefined, { cookie: null }), 404);
    isError(await alice.req("PUT", `/api/conversations/${conv}/share`), 405);
    r = await alice.req("DELETE", `/api/conversations/${conv}/share`);
    eq([r.status, r.json.shared], [200, false], r.text);
    isError(await alice.req("GET", `/api/shared/${token}`, undefined, { cookie: null }), 404);
  });

  await test("feedback: up then down on one answer (one row), with model, sampling and snapshot", async () => {
    const c2 = (await alice.req("POST", "/api/conversations", {})).json.id;
    const r0 = await alice.req("POST", "/v1/chat/completions", chat("안녕하세요", { conversation: c2, temperature: 0.5, top_p: 0.9, seed: 3 }));
    eq(r0.status, 200, r0.text);
    const g = (await alice.req("GET", `/api/conversations/${c2}`)).json;
    userMsgId = g.messages[0].id;
    answerId = g.messages[1].id;
    let r = await alice.req("POST", `/api/conversations/${c2}/messages/${answerId}/feedback`, { rating: "up", reasons: ["accurate", "clear"], comment: "좋아요" });
    eq(r.status, 200, r.text);
    const id = r.json.id;
    eq([r.json.rating, r.json.reasons, r.json.comment, r.json.model, r.json.conversation_id], ["up", ["accurate", "clear"], "좋아요", MAIN, c2], r.text);
    eq(r.json.sampling, { temperature: 0.5, top_p: 0.9, max_tokens: 4, seed: 3 }, "sampling settings");
    r = await alice.req("POST", `/api/conversations/${c2}/messages/${answerId}/feedback`, { rating: "down", reasons: ["wrong"] });
    eq([r.status, r.json.id, r.json.rating], [200, id, "down"], "updated, same row");
    const mine = await alice.req("GET", "/api/feedback");
    eq(mine.json.data.length, 1, "one per user and message");
    eq(mine.json.data[0].snapshot.messages.map((m) => m.role), ["user", "assistant"], "snapshot up to the answer");
    eq(mine.json.data[0].snapshot.messages[0].content, "안녕하세요");
    isError(await alice.req("POST", `/api/conversations/${c2}/messages/${userMsgId}/feedback`, { rating: "up" }), 400);
    isError(await alice.req("POST", `/api/conversations/${c2}/messages/${answerId}/feedback`, { rating: "meh" }), 400);
    isError(await alice.req("POST", `/api/conversations/${c2}/messages/${answerId}/feedback`, { rating: "up", reasons: "x" }), 400);
    isError(await alice.req("POST", `/api/conversations/${conv}/messages/${answerId}/feedback`, { rating: "up" }), 404);
    isError(await bob.req("POST", `/api/conversations/${c2}/messages/${answerId}/feedback`, { rating: "up" }), 404);
    isError(await alice.req("GET", "/api/feedback?all=1"), 403, "trainer_only");
    // trainers see consented users' feedback only: alice said no
    let all = await admin.req("GET", "/api/feedback?all=1");
    eq([all.status, all.json.data.length], [200, 0], all.text);
    await alice.req("PATCH", "/api/settings", { improve_model: true });
    all = await admin.req("GET", "/api/feedback?all=1");
    eq(all.json.data.map((f) => f.id), [id], "consent given: visible");
  });

  await test("export has settings and memories", async () => {
    await alice.req("POST", "/api/memories", { content: "exported fact" });
    const x = await alice.req("GET", "/api/export");
    eq(x.status, 200);
    eq(x.json.settings.theme, "dark", "settings");
    assert(x.json.memories.some((m) => m.content === "exported fact"), "memories");
  });

  await test("session limits on /v1/completions: headers, then 429 with resets_at and fallback_model", async () => {
    const body = { prompt: "once upon", max_tokens: 3, temperature: 0 };
    let r = await carol.req("POST", "/v1/completions", body);
    eq(r.status, 200, r.text);
    eq([r.headers.get("x-ratelimit-limit-requests"), r.headers.get("x-ratelimit-remaining-requests")], ["2", "1"], "headers");
    r = await carol.req("POST", "/v1/completions", body);
    eq([r.status, r.headers.get("x-ratelimit-remaining-requests")], [200, "0"], r.text);
    const t0 = Date.now();
    r = await carol.req("POST", "/v1/completions", body);
    isError(r, 429, "message_limit_reached");
    assert(+r.headers.get("retry-after") > 0, "Retry-After");
    assert(r.json.error.resets_at > t0 + 3000 * 1000 && r.json.error.resets_at <= Date.now() + 3600 * 1000 + 1000, "resets_at: " + r.text);
    eq(r.json.error.fallback_model, SMALL, "the small model is offered");
    const me = (await carol.req("GET", "/api/me")).json;
    eq(me.limits.map((l) => [l.limit, l.fallback_model === undefined ? "?" : l.fallback_model]), [[null, "?"], [2, SMALL]], "/api/me shows the fallback");
    eq(me.limits[1].remaining, 0, "none left");
    // the fallback works: that model's rule is unlimited
    r = await carol.req("POST", "/v1/completions", { ...body, model: SMALL });
    eq(r.status, 200, r.text);
  });

  await test("the same tier count on /v1/messages (Anthropic's 429), ollama's /api/chat (ollama's 429), chat and Responses", async () => {
    let r = await carol.req("POST", "/v1/messages", { model: MAIN, max_tokens: 3, messages: [{ role: "user", content: "hi" }] });
    eq(r.status, 429, r.text);
    eq([r.json.type, r.json.error.type, r.json.error.fallback_model], ["error", "rate_limit_error", SMALL], r.text);
    assert(r.json.error.resets_at > 0 && +r.headers.get("retry-after") > 0, "resets_at and Retry-After");
    r = await carol.req("POST", "/api/chat", { model: MAIN, stream: false, messages: [{ role: "user", content: "hi" }], options: { num_predict: 3 } });
    eq(r.status, 429, r.text);
    assert(typeof r.json.error === "string" && r.json.fallback_model === SMALL && r.json.resets_at > 0, "ollama's shape: " + r.text);
    // chat completions and Responses (counted in chat_store) answer the same way
    for (const [p, b] of [["/v1/chat/completions", chat("hi", { model: MAIN })], ["/v1/responses", { model: MAIN, input: "hi", max_output_tokens: 3 }]]) {
      r = await carol.req("POST", p, b);
      isError(r, 429, "message_limit_reached");
      eq(r.json.error.fallback_model, SMALL, p + " offers the small model");
    }
    // bob still has room: ollama chat works and is counted
    r = await bob.req("POST", "/api/chat", { model: MAIN, stream: false, messages: [{ role: "user", content: "hi" }], options: { num_predict: 3 } });
    eq([r.status, r.headers.get("x-ratelimit-remaining-requests")], [200, "1"], r.text);
    r = await bob.req("POST", "/v1/messages", { model: MAIN, max_tokens: 3, messages: [{ role: "user", content: "hi" }] });
    eq([r.status, r.headers.get("x-ratelimit-remaining-requests")], [200, "0"], r.text);
  });

  await test("usage rows per model for completions, Messages and ollama", async () => {
    const u = (await carol.req("GET", "/api/usage")).json;
    const byModel = Object.fromEntries(u.data.map((x) => [x.model, x]));
    eq(byModel[MAIN].requests, 2, "two allowed completions on the main model: " + JSON.stringify(u.data));
    eq(byModel[SMALL].requests, 1, "one on the small model");
    assert(byModel[MAIN].prompt_tokens > 0 && byModel[MAIN].completion_tokens > 0, "tokens counted");
    const b = (await bob.req("GET", "/api/usage")).json;
    eq(b.total.requests, 2, "bob: ollama chat + Messages");
    assert(b.total.completion_tokens > 0, "bob's tokens");
  });

  await test("an API key on /v1/embeddings (openai client): key rows, headers, 429 after the tier's rate", async () => {
    const users = (await admin.req("GET", "/api/admin/users")).json.data;
    const b = users.find((x) => x.email === "bob@x.org");
    eq((await admin.req("PATCH", `/api/admin/users/${b.id}`, { tier: "keyed" })).status, 200);
    const k = await bob.req("POST", "/api/keys", { name: "emb" });
    eq(k.status, 201, k.text);
    const oa = new OpenAI({ apiKey: k.json.key, baseURL: srv.url + "/v1", maxRetries: 0 });
    const { data: e1, response } = await oa.embeddings.create({ model: EMB, input: ["hello world", "안녕"] }).withResponse();
    eq(e1.data.length, 2);
    eq([response.headers.get("x-ratelimit-limit-requests"), response.headers.get("x-ratelimit-remaining-requests")], ["3", "2"], "key headers");
    await oa.embeddings.create({ model: EMB, input: "again" });
    await oa.embeddings.create({ model: EMB, input: "third" });
    let err = null;
    try { await oa.embeddings.create({ model: EMB, input: "fourth" }); } catch (x) { err = x; }
    assert(err && err.status === 429, "429: " + err);
    assert(+err.headers["retry-after"] > 0 || +(err.headers.get && err.headers.get("retry-after")) > 0, "Retry-After");
    const rows = (await bob.req("GET", "/api/usage")).json.data.filter((x) => x.key_id === k.json.id);
    eq(rows.map((x) => [x.model, x.requests]), [[EMB, 3]], "three embeddings under the key");
    assert(rows[0].prompt_tokens >= 4, "embedding tokens counted: " + rows[0].prompt_tokens);
  });
  await test("Realtime turns count against the tier (rate_limits.updated, then an error event); audio usage in seconds", async () => {
    // a second server with speech recognition (the Realtime API needs it), same database
    const rt = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`, "--asr-model", `${MODELS}/synth/synth-whisper-micro-f16.bin`,
      "--vad-model", `${MODELS}/vad/for-tests-silero-v6.2.0-ggml.bin`, "--ctx", "1024", "--db", `sqlite:${tmp}/omni.db`, "--tiers", TIERS]);
    try {
      const users = (await admin.req("GET", "/api/admin/users")).json.data;
      const cu = users.find((x) => x.email === "carol@x.org");
      eq((await admin.req("PATCH", `/api/admin/users/${cu.id}`, { tier: "voice" })).status, 200);
      const ws = new WebSocket(rt.url.replace("http", "ws") + "/v1/realtime", { headers: { Cookie: carol.cookie, Origin: rt.url } });
      const events = [], waiters = [];
      ws.on("message", (d) => {
        const ev = JSON.parse(d.toString());
        events.push(ev);
        for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
      });
      const waitFor = (type, ms = 60000) => new Promise((resolve, reject) => {
        const w = { pred: (e) => e.type === type, resolve };
        waiters.push(w);
        setTimeout(() => { if (waiters.includes(w)) reject(new Error(`no ${type}; got ${events.map((e) => e.type).join(",")}`)); }, ms);
      });
      await waitFor("session.created", 30000);
      ws.send(JSON.stringify({ type: "session.update", session: { type: "realtime", output_modalities: ["text"], turn_detection: null } }));
      ws.send(JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "Hi." }] } }));
      let rl = waitFor("rate_limits.updated"), done = waitFor("response.done");
      ws.send(JSON.stringify({ type: "response.create" }));
      const [r1, d1] = [await rl, await done];
      eq(r1.rate_limits.map((x) => [x.name, x.limit, x.remaining]), [["requests", 1, 0]], "one turn left of one");
      eq(d1.response.status, "completed", "the allowed turn");
      const err = waitFor("error");
      done = waitFor("response.done");
      ws.send(JSON.stringify({ type: "response.create" }));
      const e2 = await err;
      eq([e2.error.type, e2.error.code], ["rate_limit_error", "message_limit_reached"], JSON.stringify(e2));
      assert(e2.error.resets_at > Date.now() + 3600 * 1000, "resets in about 2 h: " + e2.error.resets_at);
      await done;
      ws.close();
      const u = (await carol.req("GET", "/api/usage")).json.data.filter((x) => x.model === MAIN);
      eq(u.map((x) => x.requests), [3], "two completions earlier + one Realtime turn (the refused one is not counted)");
      // the audio routes count audio seconds (not messages): a transcription and a speech
      const fd = new FormData();
      fd.append("model", "whisper-1");
      fd.append("file", new Blob([fs.readFileSync(`${MODELS}/audio/jfk.wav`)], { type: "audio/wav" }), "jfk.wav");
      let r = await fetch(rt.url + "/v1/audio/transcriptions", { method: "POST", body: fd, headers: { Cookie: carol.cookie, Origin: rt.url } });
      eq(r.status, 200, await r.text());
      r = await fetch(rt.url + "/v1/audio/speech", { method: "POST", headers: { Cookie: carol.cookie, Origin: rt.url, "Content-Type": "application/json" },
        body: JSON.stringify({ model: "tts-1", input: "Hello there.", voice: "alloy", response_format: "wav" }) });
      eq(r.status, 200, "speech");
      await r.arrayBuffer();
      const rows = (await carol.req("GET", "/api/usage")).json.data;
      const asr = rows.find((x) => /whisper/.test(x.model)), tts = rows.find((x) => x.model === "speech");
      assert(asr && asr.requests === 1 && asr.audio_seconds > 10 && asr.audio_seconds < 12, "transcription: " + JSON.stringify(rows));
      assert(tts && tts.requests === 1 && tts.audio_seconds > 0.3, "speech: " + JSON.stringify(rows));
    } finally {
      const code = await stopServer(rt);
      if (code !== 0) badExits.push(`realtime server exit ${code}: ${rt.stderr().slice(-3000)}`);
    }
  });
} finally {
  const code = await stopServer(srv);
  if (code !== 0) badExits.push(`server exit ${code}: ${srv.stderr().slice(-3000)}`);
  fs.rmSync(tmp, { recursive: true, force: true });
}
// under a sanitizer build a report (a leak, a bad access) makes the server exit non-zero
await test("every server exits 0 at SIGTERM", async () => eq(badExits, [], "exits"));
process.exit(summary());
