// Stored responses and conversations with accounts and on PostgreSQL (the rest is
// test_responses_stored.mjs), with the official openai client (v6, as "openai6"): each
// user's responses and conversations are their own (another user's id is a 404, as a
// missing one), and the same routes on a PostgreSQL database (a chain, a background run
// polled, a conversation, input items).
import OpenAI from "openai6";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { startPostgres } from "./pg_helpers.mjs";

const { test, summary } = makeCounter(2);
const MODEL = `${MODELS}/synth/synth-qwen3-f16.gguf`;
const base = { model: "", seed: 1, temperature: 0 };
const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-resp-"));
process.on("exit", () => fs.rmSync(dbDir, { recursive: true, force: true }));

async function status(p) {
  try { await p; } catch (e) { return e.status; }
  return 200;
}

async function pollDone(client, id) {
  for (let i = 0; i < 100000; i++) {
    const r = await client.responses.retrieve(id);
    if (!["queued", "in_progress"].includes(r.status)) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("never finished");
}

await test("accounts: each user's responses and conversations are their own (another's id is a 404)", async () => {
  const s2 = await startServer(["-m", MODEL, "--ctx", "512", "--db", `sqlite:${dbDir}/accounts.db`]);
  try {
    const keys = [];
    for (const who of ["ann", "ben"]) {
      const su = await fetch(s2.url + "/api/auth/signup", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: `${who}@example.com`, password: `${who}-pass-123` }) });
      eq(su.status, 201, "signup " + who);
      const cookie = su.headers.get("set-cookie").match(/omni_session=[^;]*/)[0];
      const k = await fetch(s2.url + "/api/keys", { method: "POST", headers: { "Content-Type": "application/json", Cookie: cookie, Origin: s2.url },
        body: JSON.stringify({ name: "k" }) });
      keys.push((await k.json()).key);
    }
    const [ann, ben] = keys.map((k) => new OpenAI({ baseURL: s2.url + "/v1", apiKey: k, maxRetries: 0 }));
    const r = await ann.responses.create({ ...base, input: "mine", max_output_tokens: 2 });
    const c = await ann.conversations.create({ items: [{ role: "user", content: "mine" }] });
    eq((await ann.responses.retrieve(r.id)).id, r.id, "ann reads hers");
    eq(await status(ben.responses.retrieve(r.id)), 404, "ben: response");
    eq(await status(ben.responses.inputItems.list(r.id)), 404, "ben: input items");
    eq(await status(ben.responses.delete(r.id)), 404, "ben: delete");
    eq(await status(ben.responses.create({ ...base, input: "x", previous_response_id: r.id })), 400, "ben: chain");
    eq(await status(ben.conversations.retrieve(c.id)), 404, "ben: conversation");
    eq(await status(ben.conversations.items.list(c.id)), 404, "ben: items");
    eq(await status(ben.responses.create({ ...base, input: "x", conversation: c.id })), 404, "ben: conversation param");
    eq(await status(ben.conversations.delete(c.id)), 404, "ben: delete conversation");
    eq((await ann.conversations.items.list(c.id)).data.length, 1, "ann's items untouched");
  } finally {
    eq(await stopServer(s2), 0, "accounts server exit");
  }
});

await test("PostgreSQL: a chain, a background run, a conversation and input items on a PostgreSQL database", async () => {
  const pg = await startPostgres();
  const s3 = await startServer(["-m", MODEL, "--ctx", "512", "--no-auth", "--db", pg.url]);
  try {
    const pc = new OpenAI({ baseURL: s3.url + "/v1", apiKey: "none", maxRetries: 0 });
    const r1 = await pc.responses.create({ ...base, input: [{ role: "user", content: "하나" }, { role: "user", content: "둘" }], max_output_tokens: 3 });
    const r2 = await pc.responses.create({ ...base, input: "셋", previous_response_id: r1.id, max_output_tokens: 3 });
    assert(r2.usage.input_tokens > r1.usage.input_tokens + r1.usage.output_tokens, "chained");
    eq((await pc.responses.inputItems.list(r1.id, { order: "asc", limit: 1 })).data[0].content[0].text, "하나", "input items");
    const bg = await pc.responses.create({ ...base, input: "x", background: true, max_output_tokens: 3 });
    assert(["completed", "incomplete"].includes((await pollDone(pc, bg.id)).status), "background done");
    const c = await pc.conversations.create({ metadata: { db: "pg" }, items: [{ role: "user", content: "안녕" }] });
    const r3 = await pc.responses.create({ ...base, conversation: c.id, input: "또", max_output_tokens: 3 });
    const items = await pc.conversations.items.list(c.id, { order: "asc", after: (await pc.conversations.items.list(c.id, { order: "asc", limit: 1 })).data[0].id });
    eq(items.data.length, 1 + r3.output.length, "appended after the first item");
    await pc.responses.delete(r1.id);
    eq(await status(pc.responses.retrieve(r1.id)), 404, "deleted");
    eq((await pc.conversations.delete(c.id)).deleted, true, "conversation deleted");
  } finally {
    eq(await stopServer(s3), 0, "postgres server exit");
    await pg.stop();
  }
});

process.exit(summary());
