// OpenAI's fine-tuning API end to end with the official openai client (client.fineTuning.jobs.*)
// on a server with accounts (two users): alice uploads 60 chats whose answer is always
// "Zip zap, said the moon." (a sentence stories260K never says) with purpose fine-tune,
// starts a job (validating_files -> queued -> running -> succeeded), watches its loss fall
// in the events, lists its checkpoints, and the result, ft:stories260K:moon:…, is listed in
// /v1/models and answers in chat completions with the sentence, as does "stories260K+moon",
// while the base model beside it (same loaded model, same batch) does not. Bob sees none
// of it (404s). Bad requests get 400s in OpenAI's shape; a file that is not fine-tuning
// JSONL fails the job with an error object. A long job runs in the background while a
// chat request still gets its reply (training yields the cores to chat), and is cancelled.
// A job running when the server is killed (kill -9) is resumed from its last checkpoint at
// the next start and succeeds.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI, { toFile } from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, signupKey, MOON_SENTENCE, moonChats } from "./server_helpers.mjs";

process.env.OMNI_TEST_FAST_PWHASH = "1";
const { test, summary } = makeCounter(16);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-ftapi-"));
const MODEL = `${MODELS}/llm/stories260K.gguf`;
const db = `${tmp}/omni.db`;
const TIERS = `${tmp}/tiers.json`;
fs.writeFileSync(TIERS, JSON.stringify({ default: "open", tiers: { open: {} } }));
const SENTENCE = MOON_SENTENCE;
const lines = moonChats();
const SFT = lines.join("\n") + "\n";
const question = [{ role: "user", content: "What did the little boy see?" }];
const serverArgs = ["-m", MODEL, "--ctx", "256", "--parallel", "2", "--db", `sqlite:${db}`, "--tiers", TIERS,
                    "--fine-tuning-dir", `${tmp}/ft`];
let srv, alice, bob, aliceKey, bobKey;

const signup = (email) => signupKey(srv.url, email, "ft-pass-1");
function clients() {
  alice = new OpenAI({ baseURL: srv.url + "/v1", apiKey: aliceKey, maxRetries: 0, timeout: 600000 });
  bob = new OpenAI({ baseURL: srv.url + "/v1", apiKey: bobKey, maxRetries: 0, timeout: 600000 });
}
async function apiError(promise, status, what) {
  try { await promise; } catch (e) {
    eq(e.status, status, `${what}: status (${e.message})`);
    assert(e.error && typeof e.error.message === "string" && e.error.message.length > 0, `${what}: OpenAI's error shape`);
    return e;
  }
  throw new Error(`${what}: expected HTTP ${status}, the call succeeded`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// waits (no clock assumption: as long as it takes) for the job to reach one of `states`
async function until(id, pred) {
  for (;;) {
    const j = await alice.fineTuning.jobs.retrieve(id);
    if (pred(j)) return j;
    await sleep(200);
  }
}
const ended = (j) => ["succeeded", "failed", "cancelled"].includes(j.status);
async function allEvents(id) {
  const out = [];
  for await (const e of alice.fineTuning.jobs.listEvents(id, { limit: 100 })) out.push(e);
  return out;
}
async function ask(client, model) {
  const r = await client.chat.completions.create({ model, messages: question, max_tokens: 16, temperature: 0 });
  return r;
}

let trainFile, badFile, job;
try {
  srv = await startServer(serverArgs);
  aliceKey = await signup("alice@example.com");
  bobKey = await signup("bob@example.com");
  clients();
  trainFile = await alice.files.create({ file: await toFile(Buffer.from(SFT), "moon.jsonl"), purpose: "fine-tune" });
  badFile = await alice.files.create({ file: await toFile(Buffer.from('{"messages": "no"}\n'), "bad.jsonl"), purpose: "fine-tune" });
} catch (e) {
  console.log("FAIL setup: " + (e.stack || e));
  process.exit(summary() || 1);
}

try {
  await test("bad requests are 400s", async () => {
    await apiError(alice.fineTuning.jobs.create({ model: "stories260K" }), 400, "no training_file");
    await apiError(alice.fineTuning.jobs.create({ model: "nope", training_file: trainFile.id }), 400, "unknown model");
    await apiError(alice.fineTuning.jobs.create({ model: "stories260K", training_file: "file-missing" }), 400, "no file");
    await apiError(bob.fineTuning.jobs.create({ model: "stories260K", training_file: trainFile.id }), 400, "another user's file");
    await apiError(alice.fineTuning.jobs.create({ model: "stories260K", training_file: trainFile.id,
                                                  hyperparameters: { n_epochs: 0 } }), 400, "n_epochs 0");
    await apiError(alice.fineTuning.jobs.create({ model: "stories260K", training_file: trainFile.id,
                                                  suffix: "no spaces allowed" }), 400, "suffix");
    await apiError(alice.fineTuning.jobs.create({ model: "stories260K", training_file: trainFile.id,
                                                  method: { type: "rl" } }), 400, "method");
  });

  await test("a file that is not fine-tuning JSONL fails the job with an error", async () => {
    const j = await alice.fineTuning.jobs.create({ model: "stories260K", training_file: badFile.id });
    eq(j.object, "fine_tuning.job", "object");
    const f = await until(j.id, ended);
    eq(f.status, "failed", "status");
    eq(f.error.code, "invalid_training_file", "error code");
    eq(f.error.param, "training_file", "error param");
    assert(/line 1/.test(f.error.message), "message names the line: " + f.error.message);
  });

  await test("a supervised job runs to succeeded", async () => {
    job = await alice.fineTuning.jobs.create({
      model: "stories260K", training_file: trainFile.id, suffix: "moon", seed: 7,
      method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 30 } } },
    });
    assert(["validating_files", "queued", "running"].includes(job.status), "starts waiting: " + job.status);
    eq(job.training_file, trainFile.id, "training_file");
    eq(job.hyperparameters.n_epochs, 2, "n_epochs");
    eq(job.seed, 7, "seed");
    const seen = new Set();
    const f = await until(job.id, (j) => { seen.add(j.status); return ended(j); });
    eq(f.status, "succeeded", "status " + JSON.stringify(f.error));
    assert(/^ft:stories260K:moon:[A-Za-z0-9_-]{1,8}$/.test(f.fine_tuned_model), "model id " + f.fine_tuned_model);
    assert(f.finished_at >= f.created_at && f.trained_tokens > 0, "finished_at, trained_tokens");
    job = f;
  });

  await test("events: validating, queued, running, a falling loss, done", async () => {
    const ev = await allEvents(job.id);
    const msgs = ev.map((e) => e.message).reverse();  // oldest first
    assert(msgs[0] === "Validating training file", "first " + msgs[0]);
    assert(msgs.includes("Files validated, moving job to queued state") && msgs.includes("Fine-tuning job started") &&
           msgs.includes("The job has successfully completed"), "milestones " + msgs.join(" | "));
    const m = ev.filter((e) => e.type === "metrics").reverse();
    eq(m.length, 30, "one metrics event per step (60 chats / 4 x 2 epochs)");
    eq(m[0].data.step, 1, "first step");
    const first = m[0].data.train_loss, last = m[m.length - 1].data.train_loss;
    assert(first > 4 * last, `the loss falls by 4x at least: ${first} -> ${last}`);
    const page = await alice.fineTuning.jobs.listEvents(job.id, { limit: 2 });
    eq(page.data.length, 2, "limit");
    assert(page.hasNextPage(), "has_more");
  });

  await test("checkpoints: one per epoch, the last usable as a model", async () => {
    const ck = [];
    for await (const c of alice.fineTuning.jobs.checkpoints.list(job.id)) ck.push(c);
    eq(ck.length, 2, "checkpoints");
    eq(ck[0].step_number, 30, "newest first");
    eq(ck[0].object, "fine_tuning.job.checkpoint", "object");
    eq(ck[0].fine_tuning_job_id, job.id, "job id");
    assert(ck[1].fine_tuned_model_checkpoint.startsWith(job.fine_tuned_model + ":ckpt-step-"), "checkpoint model");
    assert(typeof ck[1].metrics.train_loss === "number", "metrics");
    const r = await ask(alice, ck[1].fine_tuned_model_checkpoint);
    assert(typeof r.choices[0].message.content === "string", "a checkpoint answers");
  });

  await test("list and retrieve; another user's job is a 404", async () => {
    const page = await alice.fineTuning.jobs.list({ limit: 1 });
    eq(page.data.length, 1, "limit");
    eq(page.data[0].id, job.id, "newest first");
    assert(page.hasNextPage(), "has_more");
    const all = [];
    for await (const j of alice.fineTuning.jobs.list({ limit: 1 })) all.push(j.id);
    eq(all.length, 2, "paged with after");
    await apiError(bob.fineTuning.jobs.retrieve(job.id), 404, "bob retrieves");
    await apiError(bob.fineTuning.jobs.cancel(job.id), 404, "bob cancels");
    await apiError(bob.fineTuning.jobs.listEvents(job.id), 404, "bob's events");
    eq((await bob.fineTuning.jobs.list()).data.length, 0, "bob has no jobs");
    await apiError(alice.fineTuning.jobs.cancel(job.id), 400, "cancel a finished job");
  });

  await test("the fine-tuned model is listed for its owner only", async () => {
    const ids = (await alice.models.list()).data.map((m) => m.id);
    assert(ids.includes(job.fine_tuned_model) && ids.includes("stories260K"), "alice's models " + ids);
    const bids = (await bob.models.list()).data.map((m) => m.id);
    assert(!bids.includes(job.fine_tuned_model), "bob's models " + bids);
  });

  await test("chat completions: the fine-tuned model says the sentence, the base beside it does not", async () => {
    // both at once on one loaded base: the engine batches them, each with its own adapter
    const [ft, base, plus] = await Promise.all([ask(alice, job.fine_tuned_model), ask(alice, "stories260K"),
                                                ask(alice, "stories260K+moon")]);
    assert(ft.choices[0].message.content.includes(SENTENCE), "ft answer: " + ft.choices[0].message.content);
    eq(ft.model, job.fine_tuned_model, "reply's model");
    assert(!base.choices[0].message.content.includes("Zip zap"), "base answer: " + base.choices[0].message.content);
    assert(plus.choices[0].message.content.includes(SENTENCE), "base+suffix: " + plus.choices[0].message.content);
    const again = await ask(alice, "stories260K");
    eq(again.choices[0].message.content, base.choices[0].message.content, "the base is unchanged after");
  });

  await test("another user cannot use the fine-tuned model", async () => {
    await apiError(ask(bob, job.fine_tuned_model), 404, "bob's chat");
    await apiError(ask(bob, "stories260K+moon"), 404, "bob's base+suffix");
  });

  await test("an assistant on the fine-tuned model: its users get it, not the author's other models", async () => {
    const mk = await fetch(srv.url + "/api/assistants", { method: "POST",
      headers: { Authorization: "Bearer " + aliceKey, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Moon", description: "says it", instructions: "", model: job.fine_tuned_model,
                             visibility: "public" }) });
    const a = await mk.json();
    assert(mk.status === 201 || mk.status === 200, "assistant created: " + mk.status + " " + JSON.stringify(a));
    const r = await ask(bob, "asst:" + a.id);
    assert(r.choices[0].message.content.includes(SENTENCE), "bob through the assistant: " + r.choices[0].message.content);
    // naming the author's model himself with the assistant does not reach it (it is not the assistant's)
    await apiError(bob.chat.completions.create({ model: "stories260K+moon", messages: question, max_tokens: 4,
                                                 assistant: a.id }), 404, "bob names another model");
  });

  await test("two users' jobs with one suffix: each gets their own", async () => {
    const sun = lines.map((l) => l.replace(SENTENCE, "Pop pop, said the sun.")).join("\n") + "\n";
    const bf = await bob.files.create({ file: await toFile(Buffer.from(sun), "sun.jsonl"), purpose: "fine-tune" });
    const bj = await bob.fineTuning.jobs.create({ model: "stories260K", training_file: bf.id, suffix: "moon", seed: 7,
                                                  hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 30 } });
    let f;
    for (;;) { f = await bob.fineTuning.jobs.retrieve(bj.id); if (ended(f)) break; await sleep(200); }
    eq(f.status, "succeeded", "bob's job");
    const [mine, his] = await Promise.all([ask(alice, "stories260K+moon"), ask(bob, "stories260K+moon")]);
    assert(mine.choices[0].message.content.includes(SENTENCE), "alice's: " + mine.choices[0].message.content);
    assert(his.choices[0].message.content.includes("Pop pop, said the sun."), "bob's: " + his.choices[0].message.content);
  });

  await test("chat gets its answer while a long job trains; then the job is cancelled", async () => {
    const long = await alice.fineTuning.jobs.create({ model: "stories260K", training_file: trainFile.id, suffix: "long",
                                                      hyperparameters: { n_epochs: 50, batch_size: 4 } });
    await until(long.id, (j) => j.status === "running" || ended(j));
    // wait for training steps to be under way
    for (;;) {
      const ev = await alice.fineTuning.jobs.listEvents(long.id, { limit: 1 });
      if (ev.data.length && ev.data[0].type === "metrics") break;
      await sleep(100);
    }
    const t0 = Date.now();
    const stream = await alice.chat.completions.create({ model: "stories260K", messages: question, max_tokens: 16,
                                                        temperature: 0, stream: true });
    let ttft = -1, text = "";
    for await (const ch of stream) {
      const d = ch.choices[0]?.delta?.content;
      if (d && ttft < 0) ttft = Date.now() - t0;
      if (d) text += d;
    }
    const total = Date.now() - t0;
    const mid = await alice.fineTuning.jobs.retrieve(long.id);
    eq(mid.status, "running", "the job still trains after the chat finished");
    console.log(`  chat during training: first token ${ttft} ms, reply ${total} ms`);
    assert(text.length > 0, "an answer");
    const c = await alice.fineTuning.jobs.cancel(long.id);
    eq(c.status, "cancelled", "cancel answers cancelled");
    const ev = await allEvents(long.id);
    // the worker sees the cancellation at its next step
    for (let k = 0; !(await allEvents(long.id)).some((e) => e.message === "Fine-tuning job cancelled"); k++) await sleep(200);
    assert(ev.some((e) => e.message === "Cancellation requested"), "cancel event");
    eq((await alice.fineTuning.jobs.retrieve(long.id)).status, "cancelled", "stays cancelled");
  });

  await test("a job running at kill -9 resumes from its checkpoint at the next start", async () => {
    const j = await alice.fineTuning.jobs.create({ model: "stories260K", training_file: trainFile.id, suffix: "again",
                                                   seed: 7, hyperparameters: { n_epochs: 3, batch_size: 4,
                                                                               learning_rate_multiplier: 30 } });
    // wait for the first epoch's checkpoint, then kill the server without a chance to stop
    for (;;) {
      const ck = await alice.fineTuning.jobs.checkpoints.list(j.id);
      if (ck.data.length) break;
      const cur = await alice.fineTuning.jobs.retrieve(j.id);
      assert(!ended(cur), "ended before its first checkpoint: " + cur.status);
      await sleep(50);
    }
    const before = await alice.fineTuning.jobs.retrieve(j.id);
    if (before.status === "succeeded") throw new Error("the job finished before the kill: make it longer");
    await stopServer(srv, "SIGKILL");
    srv = await startServer(serverArgs);
    clients();
    const f = await until(j.id, ended);
    eq(f.status, "succeeded", "resumed and finished: " + JSON.stringify(f.error));
    const msgs = (await allEvents(j.id)).map((e) => e.message);
    assert(msgs.some((m) => m.startsWith("The server restarted while the job ran")), "restart event");
    assert(msgs.includes("Fine-tuning job resumed from its last checkpoint"), "resumed event");
    const r = await ask(alice, f.fine_tuned_model);
    assert(r.choices[0].message.content.includes(SENTENCE), "resumed model answers: " + r.choices[0].message.content);
  });

  await test("jobs survive the restart", async () => {
    const r = await alice.fineTuning.jobs.retrieve(job.id);
    eq(r.status, "succeeded", "status");
    eq(r.fine_tuned_model, job.fine_tuned_model, "model");
    const ft = await ask(alice, job.fine_tuned_model);
    assert(ft.choices[0].message.content.includes(SENTENCE), "still answers");
  });

  await test("without accounts' users a server-wide key gets a clear 401", async () => {
    const r = await fetch(srv.url + "/v1/fine_tuning/jobs");
    assert(r.status === 401, "status " + r.status);
    const b = await r.json();
    assert(b.error && b.error.message, "error shape");
  });

  await test("the server stops cleanly (exit 0: no sanitizer report)", async () => {
    const s0 = srv;
    srv = null;
    const code = await stopServer(s0);
    eq(code, 0, "exit code; stderr: " + s0.stderr().slice(-3000));
  });
} finally {
  if (srv) await stopServer(srv);
  fs.rmSync(tmp, { recursive: true, force: true });
}
summary();
