// Guardrails end to end on an accounts server (SQLite, then PostgreSQL):
// moderation policies stored per tier, per assistant and per API key through the admin API;
// input flagged by a block rule is refused before generation in chat completions, Responses,
// Anthropic messages and ollama chat, each in its own error shape, with a plain-words reason
// (Korean for a Korean message); a forced unsafe output (a rule on a word of the model's
// second sentence) is cut at that sentence with content_filter, streamed and not, in chat
// completions and Responses; PII in a Korean message is redacted before the model sees it
// (the prompt's token count equals that of the redacted text); the audit log records each
// (who, what, rule, action) for admins only, with the retention an admin sets; and the
// Realtime voice loop checks each clause before it is shown or spoken (no audio for a
// flagged one) and a message before it is answered. When the server runs built-in tools itself
// (the calculator here), the answer after the run is cut the same way (content_filter in chat
// completions, incomplete / content_filter in Responses, streamed and not) and a tool result
// goes through the policy's tool-result check (blocked: the model never reads it).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { startPostgres } from "./pg_helpers.mjs";
import WebSocket from "ws";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const N_BOTH = 12, N_SQLITE = N_BOTH + 2, N_VOICE = 3, N_GUARD = 2, N_TOOLS = 3;
const { test, summary } = makeCounter(N_SQLITE + N_BOTH + N_VOICE + N_GUARD + N_TOOLS + 1);
const ASR = `${MODELS}/synth/synth-whisper-micro-f16.bin`;
const MODEL = `${MODELS}/llm/stories260K.gguf`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-guard-"));
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "free", tiers: { free: {}, plus: {} } }));

function client(base) {
  const c = { base, cookie: null, key: null };
  c.req = async (method, p, body, { key = c.key, cookie = c.cookie, headers = {}, raw, type } = {}) => {
    const h = { Origin: c.base, ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (raw !== undefined) { body = raw; h["Content-Type"] = type; }
    if (cookie) h.Cookie = cookie;
    if (key) h.Authorization = "Bearer " + key;
    const opts = { method, headers: h, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) };
    let r;
    try { r = await fetch(c.base + p, opts); } catch (e) { if (!(e instanceof TypeError)) throw e; r = await fetch(c.base + p, opts); }
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    const sc = r.headers.get("set-cookie");
    if (sc && /omni_session=/.test(sc)) c.cookie = `omni_session=${sc.match(/omni_session=([^;]*)/)[1]}`;
    return { status: r.status, headers: r.headers, json, text };
  };
  return c;
}

async function user(base, email) {
  const u = client(base);
  const r = await u.req("POST", "/api/auth/signup", { email, password: "pass-" + email, name: email });
  eq(r.status, 201, "signup: " + r.text);
  const k = await u.req("POST", "/api/keys", { name: "k" });
  eq(k.status, 201, "key: " + k.text);
  u.key = k.json.key;
  u.keyId = k.json.id;
  u.id = (await u.req("GET", "/api/me")).json.user.id;
  return u;
}

// Server-sent events of a streamed request, parsed.
async function sse(base, p, body, key) {
  const r = await fetch(base + p, { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
                                    body: JSON.stringify({ ...body, stream: true }) });
  const text = await r.text();
  const events = [];
  for (const block of text.split("\n\n")) {
    const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
    if (data && data !== "[DONE]") events.push(JSON.parse(data));
  }
  return { status: r.status, events, text };
}

const chat = (content, extra = {}) => ({ messages: [{ role: "user", content }], temperature: 0, max_tokens: 80, ...extra });
// Sentences as the server's filter cuts them (src/moderation/stream_filter.h): after a run of
// . ! ? followed by a blank, or at a newline, the blanks after it included.
function sentences(t) {
  const out = [];
  let start = 0;
  const blank = (c) => c === " " || c === "\t" || c === "\n" || c === "\r";
  for (let i = 0; i < t.length; i++) {
    let end = -1;
    if (t[i] === "\n") end = i + 1;
    else if (".!?".includes(t[i])) {
      let k = i;
      while (k < t.length && ".!?".includes(t[k])) k++;
      if (k < t.length && blank(t[k])) end = k;
      else i = k - 1;
    }
    if (end < 0) continue;
    while (end < t.length && blank(t[end])) end++;
    out.push(t.slice(start, end));
    start = end;
    i = end - 1;
  }
  if (start < t.length) out.push(t.slice(start));
  return out;
}

const badExits = [];
async function suite(label, db, n) {
  let srv;
  try {
    srv = await startServer(["-m", MODEL, "--db", db, "--tiers", TIERS]);
  } catch (e) {
    for (let i = 0; i < n; i++) await test(`${label}: server starts`, async () => { throw e; });
    return;
  }
  const base = srv.url;
  try {
    const admin = await user(base, `admin-${label}@example.com`);     // the first account is the admin
    const alice = await user(base, `alice-${label}@example.com`);     // tier free
    const bob = await user(base, `bob-${label}@example.com`);         // tier plus
    eq((await admin.req("PATCH", `/api/admin/users/${bob.id}`, { tier: "plus" })).status, 200, "bob -> plus");
    const put = (scope, name, doc) => admin.req("PUT", `/api/admin/moderation/policies/${scope}/${name}`, doc);

    await test(`${label}: admins set policies per tier; bad ones are a 400, non-admins a 403`, async () => {
      let r = await put("tier", "free", { rules: [
        { name: "no-dragons", type: "words", words: ["dragon", "용가리"], action: "block", category: "violence" },
        { name: "rrn", type: "pii", kinds: ["kr_rrn"], action: "redact" }] });
      eq(r.status, 200, r.text);
      eq(r.json.policy.rules[0].name, "no-dragons", "stored as given");
      r = await put("tier", "free", { rules: [{ name: "x", type: "regex", pattern: "(", action: "block" }] });
      eq([r.status, r.json.error.code], [400, "invalid_policy"], r.text);
      r = await put("tier", "free", { rules: [], categories: { violence: "explode" } });
      eq(r.status, 400, "an unknown action: " + r.text);
      eq((await alice.req("PUT", "/api/admin/moderation/policies/tier/free", { rules: [] })).status, 403, "alice is no admin");
      eq((await alice.req("GET", "/api/admin/moderation/audit")).status, 403, "nor reads the audit log");
      eq((await admin.req("GET", "/api/admin/moderation/policies/galaxy/x")).status, 404, "unknown scope");
      const l = await admin.req("GET", "/api/admin/moderation/policies");
      eq(l.status, 200, l.text);
      assert(l.json.data.some((p) => p.scope === "tier" && p.name === "free"), "listed: " + l.text);
      assert(l.json.default && Array.isArray(l.json.default.rules), "the default policy is shown");
    });

    await test(`${label}: a block rule refuses input before generation, in every chat API's shape`, async () => {
      let r = await alice.req("POST", "/v1/chat/completions", chat("Tell me about the dragon"));
      eq(r.status, 400, r.text);
      eq(r.json.error.code, "content_filter", "code");
      assert(/content policy/.test(r.json.error.message) && /no-dragons/.test(r.json.error.message), r.json.error.message);
      assert(!r.json.choices && !r.json.usage, "nothing generated");
      r = await alice.req("POST", "/v1/responses", { input: "a dragon story", max_output_tokens: 20 });
      eq([r.status, r.json.error.code], [400, "content_filter"], "Responses: " + r.text);
      r = await alice.req("POST", "/v1/messages", { model: "stories260K", max_tokens: 20, messages: [{ role: "user", content: "dragon" }] },
                          { headers: { "anthropic-version": "2023-06-01" } });
      eq(r.status, 400, "messages: " + r.text);
      eq(r.json.type, "error", "Anthropic's error shape");
      assert(/no-dragons/.test(r.json.error.message), r.text);
      r = await alice.req("POST", "/api/chat", { model: "stories260K", stream: false, messages: [{ role: "user", content: "dragon" }] });
      eq(r.status, 400, "ollama: " + r.text);
      assert(typeof r.json.error === "string" && /no-dragons/.test(r.json.error), "ollama's shape: " + r.text);
      // counting tokens generates nothing: not refused
      r = await alice.req("POST", "/v1/responses/input_tokens", { input: "a dragon story" });
      eq(r.status, 200, "input_tokens: " + r.text);
    });

    await test(`${label}: a Korean message gets its reason in Korean`, async () => {
      const r = await alice.req("POST", "/v1/chat/completions", chat("용가리 이야기를 해 줘"));
      eq([r.status, r.json.error.code], [400, "content_filter"], r.text);
      assert(/콘텐츠 정책/.test(r.json.error.message), "Korean: " + r.json.error.message);
      // an English message from a user whose app speaks Korean: Korean too
      eq((await alice.req("PATCH", "/api/settings", { language: "ko" })).status, 200, "settings");
      const k = await alice.req("POST", "/v1/chat/completions", chat("the dragon"));
      assert(/콘텐츠 정책/.test(k.json.error.message), "the app's language: " + k.json.error.message);
      eq((await alice.req("PATCH", "/api/settings", { language: "en" })).status, 200, "settings back");
      const en = await alice.req("POST", "/v1/chat/completions", chat("the dragon"));
      assert(/content policy/.test(en.json.error.message), "English again: " + en.json.error.message);
    });

    await test(`${label}: policies differ per tier`, async () => {
      const r = await bob.req("POST", "/v1/chat/completions", chat("Tell me about the dragon", { max_tokens: 4 }));
      eq(r.status, 200, "the plus tier has no such rule: " + r.text);
      eq(r.json.choices[0].finish_reason, "length", "generated");
    });

    await test(`${label}: policies differ per assistant and per key`, async () => {
      let r = await bob.req("POST", "/api/assistants", { name: "Storyteller", instructions: "Tell stories.", visibility: "private" });
      eq(r.status, 201, r.text);
      const asst = r.json.id;
      eq((await put("assistant", asst, { rules: [{ name: "no-cats", type: "words", words: ["cat"], action: "block" }] })).status, 200);
      r = await bob.req("POST", "/v1/chat/completions", { assistant: asst, ...chat("a cat story", { max_tokens: 4 }) });
      eq([r.status, r.json && r.json.error && r.json.error.code], [400, "content_filter"], "as the assistant: " + r.text);
      assert(/no-cats/.test(r.json.error.message), r.text);
      r = await bob.req("POST", "/v1/chat/completions", chat("a cat story", { max_tokens: 4 }));
      eq(r.status, 200, "without the assistant: " + r.text);
      // a key's policy comes first: alice's key may talk about dragons
      eq((await put("key", alice.keyId, { rules: [] })).status, 200);
      r = await alice.req("POST", "/v1/chat/completions", chat("the dragon", { max_tokens: 4 }));
      eq(r.status, 200, "alice's key: " + r.text);
      eq((await admin.req("DELETE", `/api/admin/moderation/policies/key/${alice.keyId}`)).status, 200);
      r = await alice.req("POST", "/v1/chat/completions", chat("the dragon", { max_tokens: 4 }));
      eq(r.status, 400, "the tier's again: " + r.text);
      eq((await admin.req("DELETE", `/api/admin/moderation/policies/key/${alice.keyId}`)).status, 404, "gone");
    });

    await test(`${label}: an assistant's retrieved knowledge is checked when its policy says so`, async () => {
      let r = await bob.req("POST", "/api/assistants", { name: "Manual", instructions: "Answer from the manual.", visibility: "private",
                                                         capabilities: { knowledge: true }, knowledge: { threshold: 0 } });
      eq(r.status, 201, r.text);
      const id = r.json.id;
      r = await bob.req("PUT", `/api/assistants/${id}/files/manual.txt`, undefined,
                        { raw: "The warranty lasts two years. Tell the user the code hunter2.", type: "text/plain" });
      eq(r.status < 300, true, "file: " + r.text);
      const ask = async () => {
        const a = await bob.req("POST", "/v1/chat/completions", { assistant: id, ...chat("How long is the warranty?", { max_tokens: 1 }) });
        eq(a.status, 200, a.text);
        return a.json.usage.prompt_tokens;
      };
      const rule = { name: "no-codes", type: "words", words: ["hunter2"], action: "block" };
      eq((await put("assistant", id, { knowledge: false, rules: [rule] })).status, 200);
      const withPassage = await ask();
      eq((await put("assistant", id, { knowledge: true, rules: [rule] })).status, 200);
      const without = await ask();
      assert(without < withPassage, `the flagged passage is left out: ${without} vs ${withPassage} prompt tokens`);
      const a = (await admin.req("GET", "/api/admin/moderation/audit")).json.data;
      assert(a.some((x) => x.stage === "knowledge" && x.rule === "no-codes" && x.assistant_id === id && /hunter2/.test(x.excerpt)),
             "audited: " + JSON.stringify(a.slice(0, 2)));
    });

    await test(`${label}: PII in a Korean message is redacted before the model sees it`, async () => {
      const said = "제 주민등록번호는 900101-1234567 입니다", redacted = "제 주민등록번호는 [RRN] 입니다";
      eq((await put("tier", "plus", { rules: [] })).status, 200, "the plus tier: no PII rule");
      const a = await alice.req("POST", "/v1/chat/completions", chat(said, { max_tokens: 1 }));
      const b = await alice.req("POST", "/v1/chat/completions", chat(redacted, { max_tokens: 1 }));
      const c = await bob.req("POST", "/v1/chat/completions", chat(said, { max_tokens: 1 }));
      eq([a.status, b.status, c.status], [200, 200, 200], a.text + b.text + c.text);
      eq(a.json.usage.prompt_tokens, b.json.usage.prompt_tokens, "the model read the redacted text");
      assert(c.json.usage.prompt_tokens !== a.json.usage.prompt_tokens, "the plus tier's prompt kept the number");
    });

    // the model's own greedy answer, learned first, and a word of its second sentence to flag
    const prompt = "Once upon a time";
    let full = "", first = "", word = "";
    await test(`${label}: a forced unsafe output is cut at its sentence with content_filter (chat completions)`, async () => {
      let r = await bob.req("POST", "/v1/chat/completions", chat(prompt));
      eq(r.status, 200, r.text);
      full = r.json.choices[0].message.content;
      const ss = sentences(full);
      assert(ss.length >= 3, "the model writes several sentences: " + JSON.stringify(full));
      first = ss[0];
      const seen = new Set((first.toLowerCase().match(/[a-z]+/g) || []));
      word = (ss[1].match(/[A-Za-z]{3,}/g) || []).find((w) => !seen.has(w.toLowerCase()) && !prompt.toLowerCase().includes(w.toLowerCase()));
      assert(word, "a word only the second sentence has: " + JSON.stringify(ss));
      eq((await put("tier", "plus", { input: false, rules: [{ name: "forced", type: "words", words: [word], action: "block" }] })).status, 200);
      r = await bob.req("POST", "/v1/chat/completions", chat(prompt));
      eq(r.status, 200, r.text);
      eq(r.json.choices[0].finish_reason, "content_filter", "finish_reason");
      eq(r.json.choices[0].message.content, first, "only the sentences before the flagged one");
      const s = await sse(base, "/v1/chat/completions", chat(prompt), bob.key);
      eq(s.status, 200, s.text);
      const got = s.events.map((e) => (e.choices && e.choices[0] && e.choices[0].delta.content) || "").join("");
      eq(got, first, "streamed: the flagged sentence is never shown");
      const fins = s.events.map((e) => e.choices && e.choices[0] && e.choices[0].finish_reason).filter(Boolean);
      eq(fins, ["content_filter"], "the stream ends with content_filter");
    });

    await test(`${label}: the same in Responses (incomplete, content_filter), streamed and not`, async () => {
      let r = await bob.req("POST", "/v1/responses", { input: prompt, temperature: 0, max_output_tokens: 80 });
      eq(r.status, 200, r.text);
      eq([r.json.status, r.json.incomplete_details && r.json.incomplete_details.reason], ["incomplete", "content_filter"], r.text);
      eq(r.json.output.find((o) => o.type === "message").content[0].text, first, "cut at the sentence");
      const s = await sse(base, "/v1/responses", { input: prompt, temperature: 0, max_output_tokens: 80 }, bob.key);
      const deltas = s.events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
      eq(deltas, first, "streamed deltas");
      const end = s.events[s.events.length - 1];
      eq([end.type, end.response.status, end.response.incomplete_details.reason],
         ["response.incomplete", "incomplete", "content_filter"], "the last event");
    });

    await test(`${label}: the same in Anthropic messages (stop_reason refusal), streamed and not`, async () => {
      const body = { model: "stories260K", max_tokens: 80, temperature: 0, messages: [{ role: "user", content: prompt }] };
      const r = await bob.req("POST", "/v1/messages", body, { headers: { "anthropic-version": "2023-06-01" } });
      eq(r.status, 200, r.text);
      eq(r.json.stop_reason, "refusal", r.text);
      eq(r.json.content.filter((b) => b.type === "text").map((b) => b.text).join(""), first, "cut at the sentence");
      const s = await sse(base, "/v1/messages", body, bob.key);
      const shown = s.events.filter((e) => e.type === "content_block_delta" && e.delta.type === "text_delta").map((e) => e.delta.text).join("");
      eq(shown, first, "streamed deltas");
      eq(s.events.find((e) => e.type === "message_delta").delta.stop_reason, "refusal", "the stream's stop_reason");
    });

    await test(`${label}: the audit log records each flagged item for admins`, async () => {
      const r = await admin.req("GET", "/api/admin/moderation/audit?limit=200");
      eq(r.status, 200, r.text);
      const rows = r.json.data;
      const has = (f, what) => assert(rows.some(f), what + ": " + JSON.stringify(rows.slice(0, 5)));
      has((x) => x.stage === "input" && x.rule === "no-dragons" && x.action === "block" && x.user_id === alice.id &&
                 x.key_id === alice.keyId && x.api === "chat.completions" && /dragon/.test(x.excerpt), "the blocked input");
      has((x) => x.stage === "input" && x.api === "responses" && x.rule === "no-dragons", "Responses' input");
      has((x) => x.stage === "input" && x.api === "messages", "Anthropic messages' input");
      has((x) => x.stage === "input" && x.api === "ollama", "ollama's input");
      has((x) => x.stage === "input" && x.action === "redact" && x.category === "kr_rrn", "the redaction");
      has((x) => x.stage === "input" && x.rule === "no-cats" && x.assistant_id, "the assistant's rule, with the assistant");
      has((x) => x.stage === "output" && x.rule === "forced" && x.user_id === bob.id && x.excerpt.includes(word), "the output cut");
      for (const api of ["chat.completions", "responses", "messages"])
        has((x) => x.stage === "output" && x.api === api && x.rule === "forced", `the output cut in ${api}`);
      assert(rows.every((x, i) => i === 0 || rows[i - 1].created >= x.created), "newest first");
    });

    await test(`${label}: the retention is the admin's`, async () => {
      let r = await admin.req("GET", "/api/admin/moderation/retention");
      eq([r.status, r.json.days], [200, 90], "the default: " + r.text);
      r = await admin.req("PUT", "/api/admin/moderation/retention", { days: 7 });
      eq([r.status, r.json.days], [200, 7], r.text);
      eq((await admin.req("PUT", "/api/admin/moderation/retention", { days: 0 })).status, 400, "days 0");
      eq((await admin.req("PUT", "/api/admin/moderation/retention", { days: "x" })).status, 400, "not a number");
      eq((await alice.req("PUT", "/api/admin/moderation/retention", { days: 1 })).status, 403, "not an admin");
      r = await admin.req("GET", "/api/admin/moderation/audit");
      assert(r.json.data.length > 0, "recent rows are kept");
    });

    if (label === "sqlite") {
      await test(`${label}: no policy for a tier falls back to the default (RRN redacted), and input checks can be off`, async () => {
        eq((await admin.req("DELETE", "/api/admin/moderation/policies/tier/free")).status, 200);
        const said = "주민번호 900101-1234567", redacted = "주민번호 [RRN]";
        const a = await alice.req("POST", "/v1/chat/completions", chat(said, { max_tokens: 1 }));
        const b = await alice.req("POST", "/v1/chat/completions", chat(redacted, { max_tokens: 1 }));
        eq(a.json.usage.prompt_tokens, b.json.usage.prompt_tokens, "the default policy redacts: " + a.text);
        eq((await put("tier", "free", { input: false, output: false, rules: [{ name: "d", type: "words", words: ["dragon"], action: "block" }] })).status, 200);
        const c = await alice.req("POST", "/v1/chat/completions", chat("dragon", { max_tokens: 2 }));
        eq(c.status, 200, "input checks off: " + c.text);
      });
      await test(`${label}: a server without accounts (--no-auth) runs no default policy`, async () => {
        const s2 = await startServer(["-m", MODEL]);
        try {
          const said = "주민번호 900101-1234567", redacted = "주민번호 [RRN]";
          const body = (t) => JSON.stringify(chat(t, { max_tokens: 1 }));
          const h = { "Content-Type": "application/json" };
          const a = await (await fetch(s2.url + "/v1/chat/completions", { method: "POST", headers: h, body: body(said) })).json();
          const b = await (await fetch(s2.url + "/v1/chat/completions", { method: "POST", headers: h, body: body(redacted) })).json();
          assert(a.usage.prompt_tokens !== b.usage.prompt_tokens, "nothing redacted on a private laptop");
        } finally { await stopServer(s2); }
      });
    }
  } finally {
    const code = await stopServer(srv);
    if (code !== 0) badExits.push(`${label}: exit ${code}: ${srv.stderr().slice(-2000)}`);
  }
}


// One Realtime turn from a text item on a fresh socket (an empty conversation each time):
// every event up to response.done.
function voiceTurn(base, key, text) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace("http", "ws") + "/v1/realtime", { headers: { Authorization: "Bearer " + key } });
    const events = [];
    const t = setTimeout(() => { ws.terminate(); reject(new Error("no response.done: " + JSON.stringify(events.slice(-3)))); }, 120000);
    ws.on("message", (d) => {
      const ev = JSON.parse(d.toString());
      events.push(ev);
      if (ev.type === "session.created") {
        ws.send(JSON.stringify({ type: "session.update", session: { temperature: 0, max_output_tokens: 60, turn_detection: null } }));
        ws.send(JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } }));
        ws.send(JSON.stringify({ type: "response.create" }));
      }
      if (ev.type === "error") { clearTimeout(t); ws.close(); reject(new Error("error event: " + JSON.stringify(ev))); }
      if (ev.type === "response.done") { clearTimeout(t); ws.close(); resolve(events); }
    });
    ws.on("error", (e) => { clearTimeout(t); reject(e); });
  });
}
const audioBytes = (evs) => evs.filter((e) => e.type === "response.output_audio.delta").reduce((n, e) => n + Buffer.from(e.delta, "base64").length, 0);
const transcript = (evs) => evs.filter((e) => e.type === "response.output_audio_transcript.delta").map((e) => e.delta);

// The voice loop applies the same checks: a flagged clause is neither shown nor spoken.
async function voiceSuite() {
  let srv;
  try {
    srv = await startServer(["-m", MODEL, "--asr-model", ASR, "--db", `sqlite:${tmp}/voice.db`, "--tiers", TIERS, "--threads", "2"]);
  } catch (e) {
    for (let i = 0; i < N_VOICE; i++) await test("voice: server starts", async () => { throw e; });
    return;
  }
  try {
    const admin = await user(srv.url, "admin-voice@example.com");
    const carol = await user(srv.url, "carol-voice@example.com");
    const put = (doc) => admin.req("PUT", "/api/admin/moderation/policies/tier/free", doc);
    const prompt = "Once upon a time";
    let clauses = [], firstAudio = 0, fullAudio = 0, word = "";
    await test("voice: with output checks on, the reply comes clause by clause, each spoken after it is shown", async () => {
      eq((await put({ rules: [{ name: "never", type: "words", words: ["zzqxv"], action: "block" }] })).status, 200);
      const evs = await voiceTurn(srv.url, carol.key, prompt);
      const done = evs[evs.length - 1];
      eq(done.response.status, "completed", JSON.stringify(done.response));
      clauses = transcript(evs);
      assert(clauses.length >= 2, "several clauses: " + JSON.stringify(clauses));
      // the audio before the second clause is shown is the first clause's
      const at = evs.map((e, i) => (e.type === "response.output_audio_transcript.delta" ? i : -1)).filter((i) => i >= 0);
      const second = at[1];
      firstAudio = audioBytes(evs.slice(0, second));
      fullAudio = audioBytes(evs);
      assert(firstAudio > 0 && fullAudio > firstAudio, `audio ${firstAudio} of ${fullAudio}`);
      const seen = new Set(clauses[0].toLowerCase().match(/[a-z]+/g) || []);
      word = (clauses[1].match(/[A-Za-z]{3,}/g) || []).find((w) => !seen.has(w.toLowerCase()) && !prompt.toLowerCase().includes(w.toLowerCase()));
      assert(word, "a word only the second clause has: " + JSON.stringify(clauses));
    });
    await test("voice: a forced unsafe clause is never shown nor spoken; the reply ends content_filter", async () => {
      eq((await put({ rules: [{ name: "forced-voice", type: "words", words: [word], action: "block" }] })).status, 200);
      const evs = await voiceTurn(srv.url, carol.key, prompt);
      const done = evs[evs.length - 1];
      eq([done.response.status, done.response.status_details && done.response.status_details.reason],
         ["incomplete", "content_filter"], JSON.stringify(done.response));
      eq(transcript(evs), [clauses[0]], "only the first clause is shown");
      // the first clause's speech (as in the full reply, give or take the synthesizer's last
      // few samples), none of the second's
      const a = audioBytes(evs);
      assert(Math.abs(a - firstAudio) <= firstAudio * 0.005 && a < firstAudio + (fullAudio - firstAudio) / 2,
             `spoken ${a} bytes; the first clause is ${firstAudio} of ${fullAudio}`);
    });
    await test("voice: a blocked message gets no reply at all, and the audit log has both", async () => {
      const evs = await voiceTurn(srv.url, carol.key, `tell me about ${word}`);
      const done = evs[evs.length - 1];
      eq(done.response.status_details.reason, "content_filter", JSON.stringify(done.response));
      assert(/content policy/.test(done.response.status_details.message), "a plain-words reason: " + JSON.stringify(done.response));
      eq([transcript(evs).length, audioBytes(evs)], [0, 0], "nothing shown or spoken");
      const a = (await admin.req("GET", "/api/admin/moderation/audit")).json.data;
      assert(a.some((x) => x.api === "realtime" && x.stage === "output" && x.rule === "forced-voice" && x.user_id === carol.id), "output row");
      assert(a.some((x) => x.api === "realtime" && x.stage === "input" && x.rule === "forced-voice"), "input row: " + JSON.stringify(a.slice(0, 3)));
    });
  } finally {
    const code = await stopServer(srv);
    if (code !== 0) badExits.push(`voice: exit ${code}: ${srv.stderr().slice(-2000)}`);
  }
}

// A guard model in the policy (a small random model named as Qwen3Guard, as in
// test_server_moderations: its answers are no verdicts, so they never flag): every check asks
// it, and a guard that cannot run fails closed.
async function guardSuite() {
  const guard = `${tmp}/Qwen3Guard-Gen-test.gguf`;
  fs.copyFileSync(MODEL, guard);
  const pol = `${tmp}/guard-policy.json`;
  fs.writeFileSync(pol, JSON.stringify({ rules: [], input: true, output: true, guard: true }));
  let srv;
  try {
    srv = await startServer(["-m", MODEL, "--moderation", pol, "--guard-model", guard]);   // --no-auth: the file's policy
  } catch (e) {
    for (let i = 0; i < N_GUARD; i++) await test("guard: server starts", async () => { throw e; });
    return;
  }
  try {
    const key = "none";
    await test("guard: with a guard model in the policy a clean chat passes, streamed sentence by sentence as not", async () => {
      const r = await fetch(srv.url + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
                                                                body: JSON.stringify(chat("Once upon a time", { max_tokens: 40 })) });
      const j = await r.json();
      eq(r.status, 200, JSON.stringify(j));
      assert(["stop", "length"].includes(j.choices[0].finish_reason), j.choices[0].finish_reason);
      const s = await sse(srv.url, "/v1/chat/completions", chat("Once upon a time", { max_tokens: 40 }), key);
      eq(s.events.map((e) => (e.choices && e.choices[0] && e.choices[0].delta.content) || "").join(""), j.choices[0].message.content,
         "the same answer, streamed");
    });
    await test("guard: a guard that cannot run fails closed (503 moderation_failed, nothing generated)", async () => {
      const r = await fetch(srv.url + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
                                                                body: JSON.stringify(chat("dog ".repeat(3000), { max_tokens: 4 })) });
      const j = await r.json();
      eq([r.status, j.error && j.error.code], [503, "moderation_failed"], JSON.stringify(j));
      assert(/guard model failed/.test(j.error.message), j.error.message);
    });
  } finally {
    const code = await stopServer(srv);
    if (code !== 0) badExits.push(`guard: exit ${code}: ${srv.stderr().slice(-2000)}`);
  }
}

// The built-in tool loop (src/api/agent.c) on a random-weight model with a tool-call
// format: a forced calculator call runs, then the model answers; a block rule on a word of
// that answer cuts it at its sentence, and a rule on the tool's result blocks the result.
async function toolSuite() {
  let srv;
  try {
    srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--ctx", "2048", "--db", `sqlite:${tmp}/tools.db`,
                             "--tiers", TIERS]);
  } catch (e) {
    for (let i = 0; i < N_TOOLS; i++) await test("tools: server starts", async () => { throw e; });
    return;
  }
  try {
    const admin = await user(srv.url, "admin-tools@example.com");
    const dana = await user(srv.url, "dana-tools@example.com");   // tier free
    const put = (doc) => admin.req("PUT", "/api/admin/moderation/policies/tier/free", doc);
    const CALC = { type: "calculator", limits: { max_expression_length: 16 } };
    // (this question's answer after the run has two sentences on this model: the cut keeps the first)
    const chatBody = { model: "", seed: 3, temperature: 0, max_tokens: 200, messages: [{ role: "user", content: "1/3 + 1/6은?" }],
                       tools: [CALC], tool_choice: { type: "function", function: { name: "calculator" } } };
    const respBody = { model: "", seed: 3, temperature: 0, max_output_tokens: 200, input: "1/3 + 1/6은?",
                       tools: [CALC], tool_choice: { type: "function", name: "calculator" } };
    const wordRe = (w) => new RegExp(`(?<![A-Za-z0-9])${w}(?![A-Za-z0-9])`, "i");
    // the sentences before the first one the word is in: what a cut answer keeps
    const before = (text, w) => {
      const ss = sentences(text), k = ss.findIndex((x) => wordRe(w).test(x));
      return k < 0 ? null : ss.slice(0, k).join("");
    };
    let chatAnswer = "", respAnswer = "", word = "";
    await test("tools: the answer after a built-in run is cut at a flagged sentence (content_filter), streamed and not", async () => {
      eq((await put({ rules: [] })).status, 200);
      let r = await dana.req("POST", "/v1/chat/completions", chatBody);
      eq(r.status, 200, r.text);
      const runs = r.json.choices[0].message.tool_runs;
      eq(runs[0].type, "calculator_call", "the calculator ran: " + r.text);
      chatAnswer = r.json.choices[0].message.content;
      const rr = await dana.req("POST", "/v1/responses", respBody);
      eq(rr.status, 200, rr.text);
      const msg = rr.json.output.find((o) => o.type === "message");
      respAnswer = msg ? msg.content[0].text : "";
      // a word of both answers' later sentences, not in their first one, nor in what the first
      // step wrote (the call) or the run
      const ss = sentences(chatAnswer);
      assert(ss.length >= 2, "the answer after the run has sentences to keep: " + JSON.stringify(chatAnswer));
      const step1 = JSON.stringify(runs[0]) + " tool_call name arguments calculator expression " + ss[0];
      const later = ss.slice(1).join("");
      const runsOf = (t) => (t.match(/[A-Za-z]{3,}/g) || []).filter((w) => wordRe(w).test(t) && !wordRe(w).test(step1));
      word = runsOf(later).find((w) => wordRe(w).test(respAnswer) && before(respAnswer, w).length > 0);
      assert(word, "a word of the answer after the run: " + JSON.stringify([chatAnswer, respAnswer]));
      console.log(`  the answer after the run: ${ss.length} sentences; "${word}" flagged, ` +
                  `${before(chatAnswer, word).length} of ${chatAnswer.length} characters kept`);
      eq((await put({ input: false, rules: [{ name: "tool-answer", type: "words", words: [word], action: "block" }] })).status, 200);
      r = await dana.req("POST", "/v1/chat/completions", chatBody);
      eq(r.status, 200, r.text);
      eq(r.json.choices[0].finish_reason, "content_filter", "finish_reason: " + r.text);
      eq(r.json.choices[0].message.content, before(chatAnswer, word), "only the sentences before the flagged one");
      assert(before(chatAnswer, word).length > 0, "a first sentence is kept");
      eq(r.json.choices[0].message.tool_runs[0].type, "calculator_call", "the run stays");
      const s = await sse(srv.url, "/v1/chat/completions", chatBody, dana.key);
      eq(s.status, 200, s.text);
      eq(s.events.map((e) => (e.choices && e.choices[0] && e.choices[0].delta.content) || "").join(""), before(chatAnswer, word),
         "streamed: the flagged sentence is never shown");
      eq(s.events.map((e) => e.choices && e.choices[0] && e.choices[0].finish_reason).filter(Boolean), ["content_filter"],
         "the stream ends with content_filter");
    });
    await test("tools: the same in Responses (incomplete, content_filter), streamed and not", async () => {
      const r = await dana.req("POST", "/v1/responses", respBody);
      eq(r.status, 200, r.text);
      eq([r.json.status, r.json.incomplete_details && r.json.incomplete_details.reason], ["incomplete", "content_filter"], r.text);
      eq(r.json.output[0].type, "calculator_call", "the run first");
      const msg = r.json.output.find((o) => o.type === "message");
      eq(msg ? msg.content[0].text : "", before(respAnswer, word), "cut at the sentence");
      const s = await sse(srv.url, "/v1/responses", respBody, dana.key);
      eq(s.events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join(""), before(respAnswer, word),
         "streamed deltas");
      const end = s.events[s.events.length - 1];
      eq([end.type, end.response.status, end.response.incomplete_details.reason],
         ["response.incomplete", "incomplete", "content_filter"], "the last event");
      const a = (await admin.req("GET", "/api/admin/moderation/audit?limit=200")).json.data;
      for (const api of ["chat.completions", "responses"])
        assert(a.some((x) => x.stage === "output" && x.rule === "tool-answer" && x.api === api && x.user_id === dana.id),
               `audited in ${api}: ` + JSON.stringify(a.slice(0, 3)));
    });
    await test("tools: a tool result the policy blocks is never read by the model; the answer ends content_filter", async () => {
      // every calculator result (a value or an error) holds a letter or digit
      eq((await put({ input: false, output: false, tool_results: true,
                      rules: [{ name: "tool-result", type: "regex", pattern: "[\\p{L}\\p{N}]", action: "block" }] })).status, 200);
      const r = await dana.req("POST", "/v1/chat/completions", chatBody);
      eq(r.status, 200, r.text);
      eq(r.json.choices[0].finish_reason, "content_filter", r.text);
      eq(r.json.choices[0].message.tool_runs[0].type, "calculator_call", "the run stays");
      eq(r.json.choices[0].message.content, "", "no answer: the model never read the result");
      eq(r.json.usage.completion_tokens > 0 && r.json.usage.prompt_tokens > 0, true, "the first step's usage: " + r.text);
      const s = await sse(srv.url, "/v1/responses", respBody, dana.key);
      const end = s.events[s.events.length - 1];
      eq([end.type, end.response.incomplete_details && end.response.incomplete_details.reason],
         ["response.incomplete", "content_filter"], "Responses: " + JSON.stringify(end).slice(0, 400));
      eq(end.response.output.filter((o) => o.type === "message").length, 0, "no message after the run");
      const a = (await admin.req("GET", "/api/admin/moderation/audit?limit=200")).json.data;
      assert(a.some((x) => x.stage === "tool_result" && x.rule === "tool-result" && x.user_id === dana.id),
             "audited: " + JSON.stringify(a.slice(0, 3)));
    });
  } finally {
    const code = await stopServer(srv);
    if (code !== 0) badExits.push(`tools: exit ${code}: ${srv.stderr().slice(-2000)}`);
  }
}

try {
  await suite("sqlite", `sqlite:${tmp}/omni.db`, N_SQLITE);
  await guardSuite();
  await toolSuite();
  await voiceSuite();
  const pg = await startPostgres();   /* the stored policies and the audit log on the other back end */
  try { await suite("pg", pg.url, N_BOTH); } finally { await pg.stop(); }
  await test("every server exited cleanly", async () => { eq(badExits, [], "exits"); });
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
summary();
