// Accounts end to end, on SQLite and on a throw-away PostgreSQL: sign up (the first is
// the admin), log in, chat through the app (stored in the conversation), search in
// Korean, branch by editing and regenerate, restart and find everything again, kill -9
// mid-stream and find the finished messages, export, delete the account; security
// (wrong password, lockout, another user's ids -> 404, CSRF Origin, expired session,
// revoked and model-limited keys); limits (the (n+1)-th message / request gets 429 with
// OpenAI's headers); and, on PostgreSQL, two replicas sharing logins, conversations and
// exact counts under 16 concurrent clients.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, BIN, MODELS } from "./server_helpers.mjs";
import { startPostgres } from "./pg_helpers.mjs";
import WebSocket from "ws";
import OpenAI from "openai";

// minimum-cost password hashes (src/auth/secret.c): dozens of sign-ups and logins in ms
process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(2 * 23 + 5);
const MODEL = `${MODELS}/synth/synth-smollm2-f16.gguf`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-accounts-"));
const TIERS = `${tmp}/tiers.json`;
// free: 3 app messages per hour on every model, 3 API requests per minute; plus: unlimited;
// crowd: 20 messages per hour (the replica count test)
fs.writeFileSync(TIERS, JSON.stringify({
  default: "free",
  tiers: {
    free: { messages: [{ models: ["*"], limit: 3, window: "1h" }], api: { requests_per_minute: 3, tokens_per_minute: null } },
    plus: {},
    crowd: { messages: [{ models: ["*"], limit: 20, window: "1h" }] },
    tok: { api: { requests_per_minute: null, tokens_per_minute: 5 } },
  },
}));

// A tiny HTTP client with a cookie jar per user.
function client(base) {
  const c = { base, cookie: null, key: null, origin: true };
  c.req = async (method, p, body, { headers = {}, origin = c.origin, key = c.key, cookie = c.cookie } = {}) => {
    const h = { ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (cookie) h.Cookie = cookie;
    if (key) h.Authorization = "Bearer " + key;
    if (origin === true) h.Origin = c.base;
    else if (typeof origin === "string") h.Origin = origin;
    const opts = { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) };
    let r;
    // a kept-alive socket the server closed while idle (after its 5 s keep-alive, e.g. while
    // the CLI ran) fails before anything was sent: one retry on a fresh connection
    try { r = await fetch(c.base + p, opts); } catch (e) { if (!(e instanceof TypeError)) throw e; r = await fetch(c.base + p, opts); }
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    const sc = r.headers.get("set-cookie");
    if (sc && /omni_session=/.test(sc)) {
      const v = sc.match(/omni_session=([^;]*)/)[1];
      c.cookie = v ? `omni_session=${v}` : null;
      c.setCookie = sc;
    }
    return { status: r.status, headers: r.headers, json, text };
  };
  return c;
}

function isError(res, status, code) {
  assert(res.status === status, `status ${res.status} != ${status}: ${res.text}`);
  const e = res.json && res.json.error;
  assert(e && typeof e.message === "string" && "type" in e && "param" in e && "code" in e, "OpenAI error shape: " + res.text);
  if (code !== undefined) assert(e.code === code, `code ${e.code} != ${code}`);
}

// Every server stopped with SIGTERM must exit 0: under a sanitizer build a report (a leak, a
// bad access) makes it exit non-zero; checked once at the end.
const badExits = [];
async function stop(srv) {
  const code = await stopServer(srv);
  if (code !== 0) badExits.push(`exit ${code}: ${srv.stderr().slice(-3000)}`);
}

const chatBody = (text, extra = {}) => ({ messages: [{ role: "user", content: text }], max_tokens: 6, temperature: 0, ...extra });

function omniUser(db, ...args) {
  return spawnSync(BIN, ["user", ...args, "--db", db], { encoding: "utf8", input: "" });
}

async function suite(name, db) {
  const srvArgs = ["-m", MODEL, "--ctx", "512", "--parallel", "4", "--db", db, "--tiers", TIERS];
  let srv = await startServer(srvArgs);
  let admin = client(srv.url), alice = client(srv.url), bob = client(srv.url);
  let conv, firstUser, aliceKey;
  const T = (n, f) => test(`${name}: ${n}`, f);

  await T("sign-up: the first account is the admin, then users; bad input is 4xx", async () => {
    let r = await admin.req("POST", "/api/auth/signup", { email: "root@example.com", password: "admin-pass-1", name: "Root" });
    eq(r.status, 201, r.text);
    eq(r.json.user.role, "admin", "first account");
    assert(/HttpOnly/.test(admin.setCookie) && /SameSite=Lax/.test(admin.setCookie) && /Path=\//.test(admin.setCookie), admin.setCookie);
    r = await alice.req("POST", "/api/auth/signup", { email: "alice@example.com", password: "alice-pass-1", name: "앨리스" });
    eq(r.status, 201, r.text);
    eq([r.json.user.role, r.json.user.tier], ["user", "free"], "second account");
    isError(await bob.req("POST", "/api/auth/signup", { email: "ALICE@example.com", password: "whatever-1" }), 409);
    isError(await bob.req("POST", "/api/auth/signup", { email: "not-an-email", password: "whatever-1" }), 400);
    isError(await bob.req("POST", "/api/auth/signup", { email: "bob@example.com", password: "short" }), 400);
    isError(await bob.req("POST", "/api/auth/signup", { email: 5 }), 400);
    r = await fetch(srv.url + "/api/auth/signup", { method: "POST", body: "{not json" });
    eq(r.status, 400, "bad JSON");
    r = await bob.req("POST", "/api/auth/signup", { email: "bob@example.com", password: "bob-pass-12" });
    eq(r.status, 201, r.text);
  });

  await T("login: wrong password 401, right one sets the session; /api/me", async () => {
    alice.cookie = null;
    isError(await alice.req("POST", "/api/auth/login", { email: "alice@example.com", password: "wrong-pass" }), 401, "invalid_credentials");
    isError(await alice.req("POST", "/api/auth/login", { email: "nobody@example.com", password: "wrong-pass" }), 401, "invalid_credentials");
    isError(await alice.req("GET", "/api/me"), 401);
    const r = await alice.req("POST", "/api/auth/login", { email: "alice@example.com", password: "alice-pass-1" });
    eq(r.status, 200, r.text);
    assert(alice.cookie && /HttpOnly/.test(alice.setCookie), "cookie set");
    const me = await alice.req("GET", "/api/me");
    eq(me.status, 200, me.text);
    eq([me.json.user.email, me.json.role, me.json.tier, me.json.user.name], ["alice@example.com", "user", "free", "앨리스"], "me");
    eq(me.json.limits[0].limit, 3, "tier limit shown");
    assert(!/password/.test(me.text), "no password hash in /api/me");
  });

  await T("admin changes tiers; non-admins cannot", async () => {
    const users = await admin.req("GET", "/api/admin/users");
    eq(users.status, 200, users.text);
    const a = users.json.data.find((u) => u.email === "alice@example.com");
    let r = await admin.req("PATCH", `/api/admin/users/${a.id}`, { tier: "plus" });
    eq([r.status, r.json.tier], [200, "plus"], r.text);
    isError(await admin.req("PATCH", `/api/admin/users/${a.id}`, { tier: "gold" }), 400);
    isError(await alice.req("GET", "/api/admin/users"), 403);
    isError(await admin.req("PATCH", "/api/admin/users/usr_nonexistent", { tier: "plus" }), 404);
  });

  await T("CSRF: a cookie write without our Origin is 403", async () => {
    isError(await alice.req("POST", "/api/conversations", { title: "x" }, { origin: false }), 403, "csrf_origin_mismatch");
    isError(await alice.req("POST", "/api/conversations", { title: "x" }, { origin: "http://evil.example" }), 403, "csrf_origin_mismatch");
    isError(await alice.req("POST", "/v1/chat/completions", chatBody("hi"), { origin: "http://evil.example" }), 403);
    const r = await alice.req("POST", "/api/conversations", { title: "" });
    eq(r.status, 201, r.text);
    conv = r.json.id;
    // a bearer key is not a cookie: no Origin needed (checked with the key test below)
  });

  await T("chat through the app is stored in the conversation", async () => {
    const r = await alice.req("POST", "/v1/chat/completions", chatBody("오늘 날씨가 정말 좋네요"), { headers: { "X-Omni-Conversation": conv } });
    eq(r.status, 200, r.text);
    eq(r.headers.get("x-omni-conversation"), conv, "conversation header");
    const answer = r.json.choices[0].message.content;
    const g = await alice.req("GET", `/api/conversations/${conv}`);
    eq(g.status, 200, g.text);
    eq(g.json.messages.map((m) => m.role), ["user", "assistant"], "stored messages");
    eq(g.json.messages[0].content, "오늘 날씨가 정말 좋네요", "user text");
    eq(g.json.messages[1].content, answer, "answer text");
    eq(g.json.messages[1].parent_id, g.json.messages[0].id, "answer is the question's child");
    eq(g.json.path, g.json.messages.map((m) => m.id), "current branch");
    assert(g.json.messages[1].usage.completion_tokens > 0, "token counts stored");
    assert(g.json.title.startsWith("오늘"), "titled by the first question: " + g.json.title);
    firstUser = g.json.messages[0].id;
    // the conversation field works as well as the header, streaming too
    const s = await alice.req("POST", "/v1/chat/completions", chatBody("second question", { stream: true, conversation: conv }));
    eq(s.status, 200, s.text);
    const g2 = await alice.req("GET", `/api/conversations/${conv}`);
    eq(g2.json.messages.length, 4, "streamed turn stored");
    const streamed = s.text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)))
      .map((j) => j.choices[0] && j.choices[0].delta.content || "").join("");
    eq(g2.json.messages[3].content, streamed, "streamed answer stored whole");
  });

  await T("search finds Korean text, and only the caller's", async () => {
    let r = await alice.req("GET", "/api/conversations?q=" + encodeURIComponent("날씨"));
    eq(r.status, 200, r.text);
    eq(r.json.data.map((c) => c.id), [conv], "Korean hit");
    assert(/날씨/.test(r.json.data[0].snippet), "snippet: " + r.json.data[0].snippet);
    r = await alice.req("GET", "/api/conversations?q=" + encodeURIComponent("비행기"));
    eq(r.json.data.length, 0, "no false hit");
    r = await bob.req("GET", "/api/conversations?q=" + encodeURIComponent("날씨"));
    eq([r.status, r.json.data.length], [200, 0], "bob sees none of alice's");
  });

  await T("branch by editing (a sibling question) and regenerate (a sibling answer)", async () => {
    let r = await alice.req("POST", `/api/conversations/${conv}/messages`, { role: "user", content: "edited question", parent_id: null });
    eq(r.status, 201, r.text);
    const edited = r.json.id;
    let g = await alice.req("GET", `/api/conversations/${conv}`);
    const e = g.json.messages.find((m) => m.id === edited), f = g.json.messages.find((m) => m.id === firstUser);
    eq([e.sibling_index, e.sibling_count, f.sibling_index, f.sibling_count], [2, 2, 1, 2], "‹ 2/2 ›");
    eq(g.json.path, [edited], "the edit is shown now");
    // answer the edit through the app, then regenerate it: a second answer beside the first
    r = await alice.req("POST", "/v1/chat/completions", chatBody("edited question", { conversation: conv }));
    eq(r.status, 200, r.text);
    r = await alice.req("POST", "/v1/chat/completions", chatBody("edited question", { conversation: conv, parent_id: edited, temperature: 1, seed: 7 }));
    eq(r.status, 200, r.text);
    g = await alice.req("GET", `/api/conversations/${conv}`);
    const answers = g.json.messages.filter((m) => m.parent_id === edited);
    eq(answers.map((m) => [m.role, m.sibling_index, m.sibling_count]), [["assistant", 1, 2], ["assistant", 2, 2]], "two answers");
    eq(g.json.messages.filter((m) => m.content === "edited question").length, 1, "the question is not duplicated");
    // switch back to the first branch
    const firstLeaf = g.json.messages.filter((m) => m.role === "assistant")[1].id;
    r = await alice.req("PATCH", `/api/conversations/${conv}`, { current_leaf: firstLeaf, title: "날씨 이야기" });
    eq(r.status, 200, r.text);
    eq(r.json.path[0], firstUser, "branch switched");
    eq(r.json.title, "날씨 이야기", "renamed");
  });

  await T("another user's ids answer 404, never 403", async () => {
    isError(await bob.req("GET", `/api/conversations/${conv}`), 404);
    isError(await bob.req("PATCH", `/api/conversations/${conv}`, { title: "mine" }), 404);
    isError(await bob.req("DELETE", `/api/conversations/${conv}`), 404);
    isError(await bob.req("POST", `/api/conversations/${conv}/messages`, { role: "user", content: "x" }), 404);
    isError(await bob.req("POST", "/v1/chat/completions", chatBody("x", { conversation: conv })), 404, "conversation_not_found");
    const b = await bob.req("POST", "/api/conversations", {});
    isError(await bob.req("POST", `/api/conversations/${b.json.id}/messages`, { role: "user", content: "x", parent_id: firstUser }), 404);
    isError(await alice.req("GET", "/api/conversations/conv_doesnotexist"), 404);
    const still = await alice.req("GET", `/api/conversations/${conv}`);
    eq([still.status, still.json.title], [200, "날씨 이야기"], "unchanged");
  });

  await T("API keys: shown once, listed by prefix, work on /v1, usage per key", async () => {
    let r = await alice.req("POST", "/api/keys", { name: "laptop" });
    eq(r.status, 201, r.text);
    aliceKey = { id: r.json.id, key: r.json.key };
    assert(/^sk-omni-[A-Za-z0-9_-]{43}$/.test(aliceKey.key), "key shape " + aliceKey.key);
    r = await alice.req("GET", "/api/keys");
    eq(r.json.data.length, 1, "listed");
    eq(r.json.data[0].prefix, aliceKey.key.slice(0, 12), "prefix");
    assert(!r.text.includes(aliceKey.key), "the secret is never listed");
    const k = client(srv.url);
    k.key = aliceKey.key;
    k.origin = false;
    r = await k.req("POST", "/v1/chat/completions", chatBody("by key", { conversation: conv }));
    eq(r.status, 200, r.text);
    r = await k.req("GET", "/v1/models");
    eq(r.status, 200, r.text);
    const sdk = new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey.key, maxRetries: 0 });
    const sc = await sdk.chat.completions.create({ model: "synth-smollm2-f16", ...chatBody("by the SDK") });
    assert(typeof sc.choices[0].message.content === "string", "the official client works with a user's key");
    isError(await bob.req("DELETE", `/api/keys/${aliceKey.id}`), 404);
    const u = await alice.req("GET", "/api/usage");
    eq(u.status, 200, u.text);
    const byKey = u.json.data.filter((x) => x.key_id === aliceKey.id), byApp = u.json.data.filter((x) => x.key_id === null);
    eq(byKey.reduce((a, x) => a + x.requests, 0), 2, "two requests by the key");
    eq(byApp.reduce((a, x) => a + x.requests, 0), 4, "four through the app");
    assert(u.json.total.completion_tokens > 0 && u.json.total.requests === 6, "totals " + JSON.stringify(u.json.total));
    isError(await alice.req("GET", "/api/usage?all=1"), 403);
    const all = await admin.req("GET", "/api/usage?all=1");
    eq(all.status, 200, all.text);
    assert(all.json.data.some((x) => x.user_id !== all.json.data[0].user_id) || all.json.data.length >= 1, "everyone's");
  });

  await T("a model-limited key asking for another model gets 403 model_not_found; a revoked key 401", async () => {
    let r = await alice.req("POST", "/api/keys", { name: "narrow", models: ["some-other-model"] });
    eq(r.status, 201, r.text);
    const narrow = client(srv.url);
    narrow.key = r.json.key;
    narrow.origin = false;
    isError(await narrow.req("POST", "/v1/chat/completions", chatBody("hi")), 403, "model_not_found");
    r = await alice.req("POST", "/api/keys", { name: "right", models: ["synth-smollm2-*"] });
    const right = client(srv.url);
    right.key = r.json.key;
    right.origin = false;
    eq((await right.req("POST", "/v1/chat/completions", chatBody("hi"))).status, 200, "pattern allows our model");
    r = await alice.req("DELETE", `/api/keys/${r.json.id}`);
    eq(r.status, 200, r.text);
    isError(await right.req("POST", "/v1/chat/completions", chatBody("hi")), 401, "invalid_api_key");
    isError(await alice.req("DELETE", "/api/keys/key_nonexistent"), 404);
    // the other generation routes check the key's models too
    isError(await narrow.req("POST", "/v1/completions", { prompt: "Once", max_tokens: 2 }), 403, "model_not_found");
  });

  await T("the Realtime socket wants a key or our own page's login too", async () => {
    // the first event says why a socket is refused (no --asr-model here: a valid login is
    // refused for that reason instead, after the credentials passed)
    const firstEvent = (headers) => new Promise((resolve, reject) => {
      const ws = new WebSocket(srv.url.replace("http", "ws") + "/v1/realtime", { headers });
      const t = setTimeout(() => { ws.terminate(); reject(new Error("no event")); }, 20000);
      ws.on("message", (d) => { clearTimeout(t); ws.close(); resolve(JSON.parse(d.toString())); });
      ws.on("error", (e) => { clearTimeout(t); reject(e); });
    });
    let ev = await firstEvent({});
    eq([ev.type, ev.error && ev.error.code], ["error", "invalid_api_key"], "anonymous");
    ev = await firstEvent({ Cookie: alice.cookie, Origin: "http://evil.example" });
    eq(ev.error && ev.error.code, "invalid_api_key", "cookie from a foreign page");
    ev = await firstEvent({ Cookie: alice.cookie, Origin: srv.url });
    eq(ev.error && ev.error.code, "asr_unavailable", "login from our page passes");
    ev = await firstEvent({ Authorization: "Bearer " + aliceKey.key });
    eq(ev.error && ev.error.code, "asr_unavailable", "a user's key passes");
  });

  await T("the 4th app message in the window gets 429 with OpenAI's headers", async () => {
    const rem = [];
    for (let i = 0; i < 3; i++) {
      const r = await bob.req("POST", "/v1/chat/completions", chatBody("count " + i));
      eq(r.status, 200, r.text);
      eq(r.headers.get("x-ratelimit-limit-requests"), "3", "limit header");
      rem.push(r.headers.get("x-ratelimit-remaining-requests"));
    }
    eq(rem, ["2", "1", "0"], "remaining counts down");
    const r = await bob.req("POST", "/v1/chat/completions", chatBody("one too many"));
    isError(r, 429, "message_limit_reached");
    eq(r.json.error.type, "rate_limit_error", "type");
    eq([r.headers.get("x-ratelimit-limit-requests"), r.headers.get("x-ratelimit-remaining-requests")], ["3", "0"], "headers");
    const ra = +r.headers.get("retry-after");
    assert(ra > 3000 && ra <= 3600, "Retry-After within the hour window: " + ra);
    assert(/^\d+m\d+s$|^1h0m0s$/.test(r.headers.get("x-ratelimit-reset-requests")), "reset " + r.headers.get("x-ratelimit-reset-requests"));
    const me = await bob.req("GET", "/api/me");
    eq([me.json.limits[0].used, me.json.limits[0].remaining], [3, 0], "me shows it");
    assert(me.json.limits[0].resets_at > Date.now(), "resets_at");
  });

  await T("the 4th API request in the minute gets 429 with OpenAI's headers", async () => {
    const r0 = await bob.req("POST", "/api/keys", { name: "k" });
    const k = client(srv.url);
    k.key = r0.json.key;
    k.origin = false;
    for (let i = 0; i < 3; i++) {
      const r = await k.req("POST", "/v1/chat/completions", chatBody("api " + i));
      eq(r.status, 200, r.text);
      eq(r.headers.get("x-ratelimit-remaining-requests"), String(2 - i), "remaining");
    }
    const r = await k.req("POST", "/v1/chat/completions", chatBody("api 4"));
    isError(r, 429, "rate_limit_exceeded");
    // the official client sees it as its RateLimitError, with the headers
    const sdk = new OpenAI({ baseURL: srv.url + "/v1", apiKey: k.key, maxRetries: 0 });
    const err = await sdk.chat.completions.create({ model: "synth-smollm2-f16", ...chatBody("sdk") }).catch((e) => e);
    assert(err instanceof OpenAI.RateLimitError && err.status === 429, "RateLimitError: " + err);
    eq(err.headers["x-ratelimit-remaining-requests"], "0", "SDK sees the headers");
    eq([r.headers.get("x-ratelimit-limit-requests"), r.headers.get("x-ratelimit-remaining-requests")], ["3", "0"], "headers");
    const ra = +r.headers.get("retry-after");
    assert(ra >= 1 && ra <= 60, "Retry-After within the minute: " + ra);
    // tokens per minute: the tier "tok" allows 5; one answer uses more, the next is refused
    const t = client(srv.url);
    eq((await t.req("POST", "/api/auth/signup", { email: "tina@example.com", password: "tina-pass-1" })).status, 201, "tina");
    const tid = (await t.req("GET", "/api/me")).json.user.id;
    eq((await admin.req("PATCH", `/api/admin/users/${tid}`, { tier: "tok" })).status, 200, "tier tok");
    const tk = client(srv.url);
    tk.key = (await t.req("POST", "/api/keys", {})).json.key;
    tk.origin = false;
    let x = await tk.req("POST", "/v1/chat/completions", chatBody("tokens"));
    eq([x.status, x.headers.get("x-ratelimit-limit-tokens"), x.headers.get("x-ratelimit-remaining-tokens")], [200, "5", "5"], "first");
    x = await tk.req("POST", "/v1/chat/completions", chatBody("tokens again"));
    isError(x, 429, "rate_limit_exceeded");
    eq([x.headers.get("x-ratelimit-limit-tokens"), x.headers.get("x-ratelimit-remaining-tokens")], ["5", "0"], "token headers");
    assert(+x.headers.get("retry-after") >= 1 && /s$/.test(x.headers.get("x-ratelimit-reset-tokens")), "reset");
  });

  await T("brute force: the 6th attempt on an account is locked out (429) even with the right password", async () => {
    const c = client(srv.url);
    eq((await c.req("POST", "/api/auth/signup", { email: "carol@example.com", password: "carol-pass-1" })).status, 201, "carol");
    for (let i = 0; i < 5; i++) isError(await c.req("POST", "/api/auth/login", { email: "carol@example.com", password: "guess-" + i }), 401);
    const r = await c.req("POST", "/api/auth/login", { email: "CAROL@example.com", password: "carol-pass-1" });
    isError(r, 429, "too_many_login_attempts");
    assert(+r.headers.get("retry-after") > 0, "Retry-After");
    const other = await client(srv.url).req("POST", "/api/auth/login", { email: "bob@example.com", password: "bob-pass-12" });
    eq(other.status, 200, "another account from the same address still logs in");
  });

  await T("metrics count per tier", async () => {
    const m = await (await fetch(srv.url + "/metrics")).text();
    assert(/omni_tier_requests_total\{tier="free"\} \d+/.test(m) && /omni_tier_rate_limited_total\{tier="free"\} [1-9]/.test(m), m.slice(-800));
    assert(/omni_tier_tokens_total\{tier="plus",kind="completion"\} [1-9]/.test(m), "plus tokens");
  });

  if (name === "sqlite") await T("bad --tiers, --signup and --db values stop the server with a message", async () => {
    const bad = `${tmp}/bad-tiers.json`;
    fs.writeFileSync(bad, JSON.stringify({ tiers: { a: { messages: [{ models: ["*"], limit: 1 }] } } }));
    for (const [args, re] of [[["--tiers", bad], /bad-tiers\.json: tier 'a': messages\[0\]\.window/],
                              [["--tiers", `${tmp}/none.json`], /cannot open the tiers file/],
                              [["--signup", "sometimes"], /--signup: 'sometimes' is not a valid value/],
                              [["--db", "mysql://x"], /unknown database URL/]]) {
      const r = spawnSync(BIN, ["serve", "-m", MODEL, "--port", "0", "--db", db, ...args], { encoding: "utf8", timeout: 60000 });
      assert(r.status === 1 && re.test(r.stderr), `${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
    }
  });

  await T("the CLI lists and adds accounts in the same database", async () => {
    let r = omniUser(db, "list");
    eq(r.status, 0, r.stderr);
    assert(/root@example\.com\s+admin/.test(r.stdout) && /alice@example\.com\s+user\s+plus/.test(r.stdout), r.stdout);
    r = omniUser(db, "add", "dave@example.com", "--password", "dave-pass-1", "--tier", "plus");
    eq(r.status, 0, r.stderr);
    r = omniUser(db, "add", "dave@example.com", "--password", "dave-pass-1");
    assert(r.status !== 0 && /exists/.test(r.stderr), "duplicate refused: " + r.stderr);
    const d = client(srv.url);
    eq((await d.req("POST", "/api/auth/login", { email: "dave@example.com", password: "dave-pass-1" })).status, 200, "dave logs in");
    r = omniUser(db, "set", "dave@example.com", "--role", "trainer");
    eq(r.status, 0, r.stderr);
    eq((await d.req("GET", "/api/me")).json.role, "trainer", "role changed");
    r = omniUser(db, "rm", "dave@example.com");
    eq(r.status, 0, r.stderr);
    isError(await d.req("GET", "/api/me"), 401);
  });

  // restart with a short session lifetime: old sessions keep theirs, new ones expire
  await stop(srv);
  srv = await startServer([...srvArgs, "--session-ttl", "3"]);
  for (const c of [admin, alice, bob]) c.base = srv.url;

  await T("after a restart everything is found again", async () => {
    const me = await alice.req("GET", "/api/me");
    eq([me.status, me.json.tier], [200, "plus"], "session survives");
    const l = await alice.req("GET", "/api/conversations");
    assert(l.json.data.some((c) => c.id === conv), "listed");
    const g = await alice.req("GET", `/api/conversations/${conv}`);
    eq(g.json.messages.length, 9, "every message (4 turns, an edit and a regenerated answer)");
    eq(g.json.path[0], firstUser, "the branch shown");
    const s = await alice.req("GET", "/api/conversations?q=" + encodeURIComponent("날씨"));
    eq(s.json.data.length, 1, "search");
    const k = client(srv.url);
    k.key = aliceKey.key;
    eq((await k.req("GET", "/v1/models")).status, 200, "key");
  });

  await T("an expired session is refused", async () => {
    const c = client(srv.url);
    eq((await c.req("POST", "/api/auth/login", { email: "bob@example.com", password: "bob-pass-12" })).status, 200, "login");
    eq((await c.req("GET", "/api/me")).status, 200, "fresh");
    await new Promise((r) => setTimeout(r, 4500));
    isError(await c.req("GET", "/api/me"), 401, "session_expired");
  });

  await T("kill -9 mid-stream keeps every finished message", async () => {
    const before = (await alice.req("GET", `/api/conversations/${conv}`)).json.messages.length;
    const ac = new AbortController();
    const r = await fetch(srv.url + "/v1/chat/completions", {
      method: "POST", signal: ac.signal,
      headers: { "Content-Type": "application/json", Cookie: alice.cookie, Origin: srv.url, "X-Omni-Conversation": conv },
      body: JSON.stringify({ messages: [{ role: "user", content: "a long story please" }], max_tokens: 400, stream: true }),
    });
    eq(r.status, 200, "stream started");
    const reader = r.body.getReader();
    await reader.read(); // the first chunk: the user message is stored before it is sent
    srv.proc.kill("SIGKILL");
    await new Promise((res) => srv.proc.once("exit", res));
    ac.abort();
    srv = await startServer([...srvArgs]);
    for (const c of [admin, alice, bob]) c.base = srv.url;
    const g = await alice.req("GET", `/api/conversations/${conv}`);
    eq(g.status, 200, g.text);
    const ms = g.json.messages;
    assert(ms.length === before + 1 || ms.length === before + 2, `the question (and a finished answer) kept: ${before} -> ${ms.length}`);
    const q = ms[before];
    eq([q.role, q.content, q.status], ["user", "a long story please", "finished"], "question");
    for (const m of ms) assert(m.status === "finished", "only finished messages: " + m.status);
  });

  await T("export is one JSON of everything of mine, without secrets", async () => {
    const r = await alice.req("GET", "/api/export");
    eq(r.status, 200, r.text.slice(0, 200));
    assert(/attachment/.test(r.headers.get("content-disposition")), "download");
    eq(r.json.user.email, "alice@example.com", "user");
    const c = r.json.conversations.find((x) => x.id === conv);
    assert(c && c.messages.length >= 9, "conversation with its tree");
    assert(r.json.keys.length >= 1 && !r.text.includes(aliceKey.key), "keys without secrets");
    assert(!/argon2/.test(r.text), "no password hash");
    assert(r.json.usage.length >= 1, "usage");
  });

  await T("delete my account: everything of mine goes", async () => {
    const cookie = alice.cookie;
    let r = await alice.req("DELETE", "/api/me");
    eq(r.status, 200, r.text);
    isError(await alice.req("GET", "/api/me", undefined, { cookie }), 401);
    isError(await alice.req("POST", "/api/auth/login", { email: "alice@example.com", password: "alice-pass-1" }), 401);
    const k = client(srv.url);
    k.key = aliceKey.key;
    isError(await k.req("GET", "/v1/models"), 401);
    r = await admin.req("GET", "/api/usage?all=1");
    const users = await admin.req("GET", "/api/admin/users");
    assert(!users.json.data.some((u) => u.email === "alice@example.com"), "gone from the users");
    const ids = new Set(users.json.data.map((u) => u.id));
    assert(r.json.data.every((x) => ids.has(x.user_id)), "no usage of a deleted user");
  });

  if (name === "sqlite") await T("sign-up policies: approval waits for an admin, closed refuses", async () => {
    await stop(srv);
    srv = await startServer([...srvArgs, "--signup", "approval"]);
    for (const c of [admin]) c.base = srv.url;
    const e = client(srv.url);
    let r = await e.req("POST", "/api/auth/signup", { email: "erin@example.com", password: "erin-pass-1" });
    eq([r.status, r.json.user.status], [201, "pending"], r.text);
    assert(!e.cookie, "no session while pending");
    isError(await e.req("POST", "/api/auth/login", { email: "erin@example.com", password: "erin-pass-1" }), 403, "account_pending");
    r = await admin.req("POST", `/api/admin/users/${r.json.user.id}/approve`);
    eq([r.status, r.json.status], [200, "active"], r.text);
    eq((await e.req("POST", "/api/auth/login", { email: "erin@example.com", password: "erin-pass-1" })).status, 200, "approved");
    await stop(srv);
    srv = await startServer([...srvArgs, "--signup", "closed", "--secure-cookie", "--api-key", "static-key-1"]);
    // the static --api-key list keeps working next to the accounts, for /v1 only
    const st = client(srv.url);
    st.key = "static-key-1";
    st.origin = false;
    eq((await st.req("POST", "/v1/chat/completions", chatBody("static"))).status, 200, "static key on /v1");
    isError(await st.req("GET", "/api/me"), 401, "invalid_api_key");
    const root = client(srv.url);
    eq((await root.req("POST", "/api/auth/login", { email: "root@example.com", password: "admin-pass-1" })).status, 200, "admin login");
    assert(/; Secure/.test(root.setCookie), "--secure-cookie: " + root.setCookie);
    assert(!/Secure/.test(admin.setCookie), "no Secure over plain HTTP by default: " + admin.setCookie);
    isError(await client(srv.url).req("POST", "/api/auth/signup", { email: "f@example.com", password: "frank-pass-1" }), 403, "signup_closed");
  });

  await T("unauthenticated /v1 and /api are 401 with accounts on", async () => {
    const anon = client(srv.url);
    anon.origin = false;
    isError(await anon.req("POST", "/v1/chat/completions", chatBody("hi")), 401);
    isError(await anon.req("GET", "/api/conversations"), 401);
    const bad = client(srv.url);
    bad.key = "sk-omni-" + "x".repeat(43);
    isError(await bad.req("GET", "/v1/models"), 401, "invalid_api_key");
    isError(await anon.req("GET", "/api/nonexistent"), 401);
  });
  await stop(srv);
  return srvArgs;
}

// --no-auth: today's single-user behaviour, as one local user with its conversations.
async function noAuth(db) {
  const srv = await startServer(["-m", MODEL, "--ctx", "512", "--db", db, "--no-auth"]);
  await test("--no-auth: no login, everything is the local user's", async () => {
    const c = client(srv.url);
    const me = await c.req("GET", "/api/me");
    eq([me.status, me.json.role, me.json.auth], [200, "admin", "none"], me.text);
    const conv = await c.req("POST", "/api/conversations", { title: "local" });
    eq(conv.status, 201, conv.text);
    const r = await c.req("POST", "/v1/chat/completions", chatBody("hello", { conversation: conv.json.id }), { origin: false });
    eq(r.status, 200, r.text);
    eq((await c.req("GET", `/api/conversations/${conv.json.id}`)).json.messages.length, 2, "stored");
    isError(await c.req("POST", "/api/conversations", {}, { origin: "http://evil.example" }), 403);
  });
  await stop(srv);
  const keyed = await startServer(["-m", MODEL, "--ctx", "512", "--db", db, "--no-auth", "--api-key", "laptop-key"]);
  await test("--no-auth with --api-key: the key guards /api as well as /v1", async () => {
    const c = client(keyed.url);
    isError(await c.req("GET", "/api/me"), 401);
    isError(await c.req("GET", "/v1/models"), 401);
    c.key = "laptop-key";
    eq((await c.req("GET", "/api/me")).status, 200, "with the key");
    eq((await c.req("GET", "/api/conversations")).json.data.length, 1, "the local user's conversation");
  });
  await stop(keyed);
}

// Two replicas on one PostgreSQL: a login on one works on the other, conversations are
// shared, and 16 concurrent clients split over both are counted exactly.
async function replicas(db) {
  const args = ["-m", MODEL, "--ctx", "256", "--parallel", "4", "--db", db, "--tiers", TIERS];
  const [a, b] = await Promise.all([startServer(args), startServer(args)]);
  try {
    await test("replicas: log in on one, continue the conversation on the other", async () => {
      const ca = client(a.url);
      eq((await ca.req("POST", "/api/auth/signup", { email: "rep@example.com", password: "rep-pass-12" })).status, 201, "signup on A");
      const cb = client(b.url);
      cb.cookie = ca.cookie;
      const me = await cb.req("GET", "/api/me");
      eq([me.status, me.json.user.email], [200, "rep@example.com"], "session on B");
      const conv = (await ca.req("POST", "/api/conversations", {})).json.id;
      eq((await cb.req("POST", "/v1/chat/completions", chatBody("on B", { conversation: conv }))).status, 200, "chat on B");
      const g = await ca.req("GET", `/api/conversations/${conv}`);
      eq(g.json.messages.length, 2, "A sees B's turn");
    });
    await test("replicas: 16 concurrent clients, 32 messages, a limit of 20: exactly 20 pass", async () => {
      const ca = client(a.url);
      eq((await ca.req("POST", "/api/auth/signup", { email: "crowd@example.com", password: "crowd-pass-1" })).status, 201, "signup");
      const root = client(a.url);
      eq((await root.req("POST", "/api/auth/login", { email: "root@example.com", password: "admin-pass-1" })).status, 200, "admin");
      const uid = (await ca.req("GET", "/api/me")).json.user.id;
      eq((await root.req("PATCH", `/api/admin/users/${uid}`, { tier: "crowd" })).status, 200, "tier");
      const conv = (await ca.req("POST", "/api/conversations", {})).json.id;
      const statuses = await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        const c = client(i % 2 ? b.url : a.url);
        c.cookie = ca.cookie;
        const out = [];
        for (let k = 0; k < 2; k++) {
          const r = await c.req("POST", "/v1/chat/completions", { ...chatBody(`client ${i} msg ${k}`, { conversation: conv }), max_tokens: 1 });
          out.push(r.status);
        }
        return out;
      }));
      const flat = statuses.flat();
      eq([flat.filter((s) => s === 200).length, flat.filter((s) => s === 429).length], [20, 12], "exact count across replicas");
      const u = await ca.req("GET", "/api/usage");
      eq(u.json.total.requests, 20, "usage counted exactly");
      const g = await client(b.url).req("GET", `/api/conversations/${conv}`, undefined, { cookie: ca.cookie });
      eq(g.json.messages.filter((m) => m.role === "user").length, 20, "20 questions stored");
    });
  } finally {
    await Promise.all([stop(a), stop(b)]);
  }
}

let pg = null;
try {
  await suite("sqlite", `sqlite:${tmp}/omni.db`);
  await noAuth(`sqlite:${tmp}/local.db`);
  pg = await startPostgres();
  await suite("postgres", pg.url);
  await replicas(pg.url);
  await test("every server exited 0 at SIGTERM (no sanitizer report)", async () => {
    assert(badExits.length === 0, badExits.join("\n----\n"));
  });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  if (pg) await pg.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(summary());
