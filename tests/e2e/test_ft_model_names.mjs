// Fine-tuned model names outside chat completions: alice's job (60 chats whose answer is
// always "Zip zap, said the moon.", on stories260K) gives ft:stories260K:moon:…, and
// "stories260K+moon" names it too. Both answer with the sentence in Anthropic's
// /v1/messages (the official @anthropic-ai/sdk), in /v1/responses (the openai client) and
// in ollama's /api/chat and /api/generate (the ollama client), as they do in chat
// completions, while the base model there does not. Bob, another user, gets each API's
// own not-found error for alice's names: Anthropic's {"type":"error","error":{"type":
// "not_found_error"}}, OpenAI's 404 model_not_found, ollama's 404 {"error": "..."}. A server
// without accounts given the job's adapter file as `--adapter moon=FILE` answers
// "stories260K+moon" the same way in all four, and refuses "ft:…" (a user's) with a 404.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI, { toFile } from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, signupKey, MOON_SENTENCE, moonChats } from "./server_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(7);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-ftnames-"));
const MODEL = `${MODELS}/llm/stories260K.gguf`;
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "open", tiers: { open: {} } }));
const SENTENCE = MOON_SENTENCE;
const lines = moonChats();
const QUESTION = "What did the little boy see?";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let srv, plain;

const signup = (email) => signupKey(srv.url, email, "ft-pass-1");

// One client of each API for a key; each asks greedily for 16 tokens and returns the text.
function apis(url, key) {
  const oai = new OpenAI({ baseURL: url + "/v1", apiKey: key, maxRetries: 0, timeout: 600000 });
  const ant = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0, timeout: 600000 });
  const oll = new Ollama({ host: url, headers: { Authorization: "Bearer " + key } });
  const opts = { temperature: 0, num_predict: 16 };
  return {
    chat: async (model) => (await oai.chat.completions.create({ model, messages: [{ role: "user", content: QUESTION }],
                                                                max_tokens: 16, temperature: 0 })).choices[0].message.content,
    messages: async (model) => {
      const r = await ant.messages.create({ model, max_tokens: 16, temperature: 0, messages: [{ role: "user", content: QUESTION }] });
      eq(r.model, model, "the reply names the model asked for");
      return r.content.map((b) => b.text || "").join("");
    },
    responses: async (model) => {
      const r = await oai.responses.create({ model, input: QUESTION, max_output_tokens: 16, temperature: 0, store: false });
      eq(r.model, model, "the reply names the model asked for");
      return r.output_text;
    },
    ollamaChat: async (model) => {
      const r = await oll.chat({ model, messages: [{ role: "user", content: QUESTION }], stream: false, options: opts });
      return r.message.content;
    },
    ollamaGenerate: async (model) => (await oll.generate({ model, prompt: QUESTION, stream: false, options: opts })).response,
  };
}
const NEW_APIS = ["messages", "responses", "ollamaChat", "ollamaGenerate"];

// The error each API's client raised for a model it may not use: status and body shape.
async function notFound(api, name, model) {
  let err = null;
  try { await api[name](model); } catch (e) { err = e; }
  assert(err, `${name} ${model}: expected a 404, it answered`);
  eq(err.status ?? err.status_code, 404, `${name} ${model}: status (${err.message})`);
  if (name === "messages") {
    eq(err.error?.type, "error", "Anthropic's error envelope: " + JSON.stringify(err.error));
    eq(err.error?.error?.type, "not_found_error", "Anthropic's error type");
    assert(/model/.test(err.error.error.message), "message: " + err.error.error.message);
  } else if (name === "responses" || name === "chat") {
    eq(err.code, "model_not_found", "OpenAI's code: " + JSON.stringify(err.error));
    eq(err.param, "model", "OpenAI's param");
  } else {
    // the ollama client throws ResponseError(error, status_code) from {"error": "..."}
    eq(err.name, "ResponseError", "ollama's error");
    assert(typeof err.error === "string" && /model/.test(err.error), "ollama's message: " + err.error);
  }
}

let ftModel, adapterFile, alice, bob;
try {
  srv = await startServer(["-m", MODEL, "--ctx", "256", "--parallel", "2", "--db", `sqlite:${tmp}/omni.db`,
                           "--tiers", TIERS, "--fine-tuning-dir", `${tmp}/ft`]);
  const aliceKey = await signup("alice@example.com"), bobKey = await signup("bob@example.com");
  alice = apis(srv.url, aliceKey);
  bob = apis(srv.url, bobKey);
  const oai = new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey, maxRetries: 0, timeout: 600000 });
  const file = await oai.files.create({ file: await toFile(Buffer.from(lines.join("\n") + "\n"), "moon.jsonl"),
                                        purpose: "fine-tune" });
  let job = await oai.fineTuning.jobs.create({ model: "stories260K", training_file: file.id, suffix: "moon", seed: 7,
                                               hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 30 } });
  // as long as it takes: wait for the status, not a time
  while (!["succeeded", "failed", "cancelled"].includes(job.status)) {
    await sleep(200);
    job = await oai.fineTuning.jobs.retrieve(job.id);
  }
  eq(job.status, "succeeded", "the job: " + JSON.stringify(job.error));
  ftModel = job.fine_tuned_model;
  assert(/^ft:stories260K:moon:/.test(ftModel), "model id " + ftModel);
  adapterFile = fs.readdirSync(`${tmp}/ft`, { recursive: true }).map((f) => path.join(`${tmp}/ft`, f))
    .find((f) => path.basename(f) === "adapter.gguf");
  assert(adapterFile, "the job's adapter file under --fine-tuning-dir");
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(summary() || 1);
}

try {
  await test("chat completions (the reference): ft:… and BASE+SUFFIX say the sentence, the base does not", async () => {
    assert((await alice.chat(ftModel)).includes(SENTENCE), "ft");
    assert((await alice.chat("stories260K+moon")).includes(SENTENCE), "base+suffix");
    assert(!(await alice.chat("stories260K")).includes("Zip zap"), "base");
  });

  for (const name of NEW_APIS) {
    await test(`${name}: the fine-tuned names answer as in chat completions, the base does not; bob gets a 404`, async () => {
      const [ft, plus, base] = await Promise.all([alice[name](ftModel), alice[name]("stories260K+moon"),
                                                  alice[name]("stories260K")]);
      assert(ft.includes(SENTENCE), `${ftModel}: '${ft}'`);
      assert(plus.includes(SENTENCE), `stories260K+moon: '${plus}'`);
      assert(!base.includes("Zip zap"), `the base: '${base}'`);
      eq(await alice[name]("stories260K"), base, "the base is unchanged after");
      await notFound(bob, name, ftModel);
      await notFound(bob, name, "stories260K+moon");
      assert(!(await bob[name]("stories260K")).includes("Zip zap"), "bob's base");
    });
  }

  await stopServer(srv);
  srv = null;

  await test("without accounts, --adapter moon=FILE: stories260K+moon in every API; ft:… is a 404", async () => {
    plain = await startServer(["-m", MODEL, "--ctx", "256", "--parallel", "2", "--adapter", `moon=${adapterFile}:1`]);
    const api = apis(plain.url, "none");
    for (const name of ["chat", ...NEW_APIS]) {
      const [plus, base] = await Promise.all([api[name]("stories260K+moon"), api[name]("stories260K")]);
      assert(plus.includes(SENTENCE), `${name} stories260K+moon: '${plus}'`);
      assert(!base.includes("Zip zap"), `${name} base: '${base}'`);
      let status = 0;
      try { await api[name](ftModel); } catch (e) { status = e.status ?? e.status_code; }
      eq(status, 404, `${name}: a user's ft model on a server without users`);
      status = 0;
      try { await api[name]("stories260K+nope"); } catch (e) { status = e.status ?? e.status_code; }
      eq(status, 404, `${name}: an adapter the base does not have`);
    }
  });

  await test("the server stops cleanly (exit 0: no sanitizer report)", async () => {
    const s0 = plain;
    plain = null;
    eq(await stopServer(s0), 0, "exit code; stderr: " + s0.stderr().slice(-3000));
  });
} finally {
  if (srv) await stopServer(srv);
  if (plain) await stopServer(plain);
  fs.rmSync(tmp, { recursive: true, force: true });
}
summary();
