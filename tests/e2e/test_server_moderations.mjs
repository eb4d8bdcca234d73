// POST /v1/moderations through the official OpenAI client: a policy's block list (Korean
// words with particles) flags in OpenAI's shape with the rule's category, PII is found
// and redacted in omni's extension, clean text passes, bad input is an OpenAI-shaped 400,
// a server without moderation says how to set it up, and a guard model runs through the
// engine (a small random model named as Qwen3Guard: its answer is not a guard verdict,
// so the result must say "unparsed" with a score in [0, 1], not invent one).
import OpenAI from "openai";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(6);
const MODEL = `${MODELS}/llm/stories260K.gguf`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-mod-"));
const policy = path.join(dir, "policy.json");
fs.writeFileSync(policy, JSON.stringify({ rules: [
  { name: "profanity", type: "words", words: ["바보", "idiot"], action: "block", category: "harassment",
    message: "욕설은 사용할 수 없습니다." },
  { name: "threats", type: "regex", pattern: "죽여\\s*버리", action: "block", category: "harassment/threatening" },
  { name: "pii", type: "pii", kinds: ["email", "phone", "kr_rrn"], action: "redact" },
] }));
const CATS = ["harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
  "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence", "violence/graphic"];

let srv;
try {
  srv = await startServer(["-m", MODEL, "--moderation", policy]);
  const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });

  await test("a block-list word flags, in OpenAI's shape", async () => {
    const r = await client.moderations.create({ input: "너 진짜 바보야" });
    assert(typeof r.id === "string" && r.id.startsWith("modr-"), `id ${r.id}`);
    eq(r.results.length, 1, "results");
    const x = r.results[0];
    eq(x.flagged, true, "flagged");
    eq(Object.keys(x.categories).sort().join(","), [...CATS].sort().join(","), "the 13 categories");
    eq(x.categories.harassment, true, "harassment");
    eq(x.categories.hate, false, "hate");
    eq(x.category_scores.harassment, 1, "score");
    eq(JSON.stringify(x.category_applied_input_types.harassment), '["text"]', "applied types");
    eq(x.omni.rules[0].rule, "profanity", "rule");
    eq(x.omni.message, "욕설은 사용할 수 없습니다.", "message");
  });

  await test("a list of inputs, each judged on its own; PII redacted", async () => {
    const r = await client.moderations.create({ input: ["안녕하세요", "죽여 버리겠다", "제 번호는 010-1234-5678 입니다"] });
    eq(r.results.length, 3, "results");
    eq(r.results[0].flagged, false, "clean text");
    eq(r.results[1].flagged, true, "threat");
    eq(r.results[1].categories["harassment/threatening"], true, "threat category");
    eq(r.results[2].flagged, false, "PII is redacted, not flagged");
    eq(r.results[2].omni.action, "redact", "action");
    eq(r.results[2].omni.redacted, "제 번호는 [PHONE] 입니다", "redacted text");
    eq(r.results[2].omni.rules[0].kind, "phone", "kind");
  });

  await test("content parts: text is read, images are refused clearly", async () => {
    const r = await client.moderations.create({ input: [{ type: "text", text: "idiot" }] });
    eq(r.results[0].flagged, true, "text part");
    let e;
    try {
      await client.moderations.create({ input: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] });
    } catch (x) { e = x; }
    assert(e && e.status === 400 && /image/.test(e.message), `image: ${e && e.message}`);
  });

  await test("bad input is an OpenAI-shaped 400", async () => {
    for (const body of ['{"input": 5}', '{"input": []}', "not json", '{"input": [{"type":"text"}]}']) {
      const r = await fetch(srv.url + "/v1/moderations", { method: "POST", headers: { "Content-Type": "application/json" }, body });
      const j = await r.json();
      eq(r.status, 400, `status for ${body}`);
      assert(j.error && typeof j.error.message === "string" && j.error.type === "invalid_request_error", `body for ${body}`);
    }
  });
  await stopServer(srv);
  srv = null;

  await test("a server without moderation says how to set it up", async () => {
    srv = await startServer(["-m", MODEL]);
    const r = await fetch(srv.url + "/v1/moderations", { method: "POST", body: '{"input":"x"}' });
    const j = await r.json();
    eq(r.status, 400, "status");
    assert(/--moderation/.test(j.error.message) && /--guard-model/.test(j.error.message), j.error.message);
    await stopServer(srv);
    srv = null;
  });

  await test("a guard model runs through the engine and reports what it said", async () => {
    const guard = path.join(dir, "Qwen3Guard-Gen-test.gguf");
    fs.copyFileSync(MODEL, guard);
    srv = await startServer(["-m", MODEL, "--guard-model", guard, "--moderation", policy]);
    const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
    const r = await client.moderations.create({ input: ["오늘 날씨 어때요?", "idiot"] });
    eq(r.model, "Qwen3Guard-Gen-test", "model");
    for (const x of r.results) {
      eq(x.omni.guard.length, 1, "one guard run");
      const g = x.omni.guard[0];
      assert(["safe", "unsafe", "controversial", "unparsed"].includes(g.safety), `safety ${g.safety}`);
      assert(g.score >= 0 && g.score <= 1, `score ${g.score}`);
      assert(typeof g.answer === "string", "answer");
    }
    eq(r.results[1].flagged, true, "the rule still flags");
    /* a file that is no guard model is refused at start with a clear message */
    let e;
    try { await startServer(["-m", MODEL, "--guard-model", MODEL]); } catch (x) { e = x; }
    assert(e && /not a guard model/.test(e.message), `non-guard: ${e && e.message}`);
  });
} catch (e) {
  console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
} finally {
  if (srv) await stopServer(srv);
  fs.rmSync(dir, { recursive: true, force: true });
}
summary();
