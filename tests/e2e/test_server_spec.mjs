// Speculative decoding through the server and the CLI, on the shared real TinyStories-656K
// model: with --lookup (prompt lookup) and with --draft-model (its Q8_0 file), greedy
// replies to several requests at once over 4 slots are the same text, token count and
// finish as a server without speculation; usage reports the guesses
// (completion_tokens_details.accepted_prediction_tokens / rejected_prediction_tokens) and
// /metrics the totals; `omni run --lookup/--draft-model --verbose` prints the acceptance
// and the same text as without, and `omni chat` gives the same replies; a draft with another vocabulary is refused at start.
import { spawnSync } from "node:child_process";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, BIN } from "./server_helpers.mjs";

const { test, summary } = makeCounter(8);
const TARGET = `${MODELS}/llm/TinyStories-656K.f16.gguf`;
const DRAFT = `${MODELS}/llm/tinystories-656k-q8_0.gguf`;
const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her " +
  "dog. One day, Lily saw a big red ball under a tree. She ran to the ball and picked it up. Her dog barked and " +
  "wagged his tail. Lily threw the ball and the dog ran after it. They played all day until the sun went down.\n";
const PROMPTS = [STORY + "Once upon a time, there was a little girl named Lily. She",
  STORY + "One day, Lily saw", "Tom had a small boat. He liked to sail the boat on the lake.", "The cat sat on the mat."];

async function complete(srv, prompt) {
  const r = await fetch(srv.url + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: 64, temperature: 0, logit_bias: { "2": -100 } }) });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(j)}`);
  return j;
}
const all = (srv) => Promise.all(PROMPTS.map((p) => complete(srv, p)));
const metric = (text, name) => +(text.match(new RegExp(`^${name} ([0-9.]+)`, "m")) || [0, -1])[1];

let plain, look, draft;
try {
  plain = await startServer(["-m", TARGET, "--parallel", "4", "--ctx", "512"]);
  look = await startServer(["-m", TARGET, "--parallel", "4", "--ctx", "512", "--lookup"]);
  draft = await startServer(["-m", TARGET, "--parallel", "4", "--ctx", "512", "--draft-model", DRAFT, "--draft-max", "6"]);
  let ref;
  await test("reference: greedy replies without speculation (one at a time)", async () => {
    ref = [];
    for (const p of PROMPTS) ref.push(await complete(plain, p));
    assert(ref.every((r) => r.usage.completion_tokens === 64), "64 tokens each");
    assert(ref.every((r) => !r.usage.completion_tokens_details), "no guesses reported without speculation");
  });
  for (const [name, srv] of [["--lookup", () => look], ["--draft-model", () => draft]]) {
    await test(`${name}: 4 concurrent requests give the same replies, guesses reported`, async () => {
      const got = await all(srv());
      let acc = 0, rej = 0;
      got.forEach((r, i) => {
        eq(r.choices[0].text, ref[i].choices[0].text, `prompt ${i} text`);
        eq(r.usage.completion_tokens, ref[i].usage.completion_tokens, `prompt ${i} tokens`);
        eq(r.choices[0].finish_reason, ref[i].choices[0].finish_reason, `prompt ${i} finish`);
        const d = r.usage.completion_tokens_details;
        if (d) { acc += d.accepted_prediction_tokens; rej += d.rejected_prediction_tokens; }
      });
      console.log(`  ${name}: ${acc} guesses accepted, ${rej} rejected (${(100 * acc / Math.max(1, acc + rej)).toFixed(0)}%)`);
      assert(acc > 0, "some guesses accepted");
      const m = await (await fetch(srv().url + "/metrics")).text();
      assert(metric(m, "omni_draft_tokens_total") >= acc + rej, "omni_draft_tokens_total");
      assert(metric(m, "omni_draft_accepted_tokens_total") >= acc, "omni_draft_accepted_tokens_total");
      const rate = metric(m, "omni_draft_acceptance_rate");
      assert(rate > 0 && rate <= 1, "omni_draft_acceptance_rate " + rate);
    });
  }
  await test("a draft with another vocabulary, or no draft file, is refused at start with a clear message", async () => {
    const r = spawnSync(BIN, ["serve", "--port", "0", "-m", TARGET, "--draft-model", `${MODELS}/llm/stories260K.gguf`],
      { encoding: "utf8", timeout: 60000 });
    assert(r.status !== 0, "exit status");
    assert(/vocabulary/.test(r.stderr), "message: " + r.stderr);
    const bad = spawnSync(BIN, ["serve", "--port", "0", "-m", TARGET, "--draft-model", "/nonexistent/draft.gguf"],
      { encoding: "utf8", timeout: 60000 });
    assert(bad.status !== 0 && /--draft-model: .*nonexistent/.test(bad.stderr), "missing draft: " + bad.stderr);
  });
  await test("bad --draft-max is refused", async () => {
    const r = spawnSync(BIN, ["serve", "--port", "0", "-m", TARGET, "--draft-max", "0"], { encoding: "utf8", timeout: 60000 });
    assert(r.status !== 0 && /--draft-max/.test(r.stderr), "message: " + r.stderr);
  });
  await test("omni run --lookup / --draft-model --verbose: same text, acceptance printed", async () => {
    // stories260K loops in its greedy stories: lookup has something to find
    const run = (model, prompt, n, extra) => spawnSync(BIN, ["run", "-m", model, "-p", prompt, "-n", n, "--temp", "0",
      "--raw", ...extra], { encoding: "utf8", timeout: 60000 });
    const SMALL = `${MODELS}/llm/stories260K.gguf`;
    const a = run(SMALL, "Once upon a time", "200", []), b = run(SMALL, "Once upon a time", "200", ["--lookup", "--verbose"]);
    const c = run(TARGET, PROMPTS[0], "48", []), d = run(TARGET, PROMPTS[0], "48", ["--draft-model", DRAFT, "--verbose"]);
    for (const [r, what] of [[a, "plain"], [b, "lookup"], [c, "plain 656K"], [d, "draft"]]) eq(r.status, 0, what + ": " + r.stderr);
    eq(b.stdout, a.stdout, "lookup text");
    eq(d.stdout, c.stdout, "draft text");
    const m = b.stderr.match(/speculative decoding: (\d+) of (\d+) guessed tokens accepted/);
    assert(m && +m[1] > 0 && +m[1] <= +m[2], "acceptance line: " + b.stderr);
    const k = d.stderr.match(/speculative decoding: (\d+) of (\d+) guessed tokens accepted/);
    assert(k && +k[1] > 0, "draft acceptance line: " + d.stderr);
    assert(/decode [0-9.]+ tok\/s/.test(b.stderr), "decode speed line");
    // --draft-min 4: only steps with 4 or more guesses speculate; still the same text
    const e = run(SMALL, "Once upon a time", "200", ["--lookup", "--draft-min", "4", "--draft-max", "8", "--verbose"]);
    eq(e.status, 0, "draft-min run: " + e.stderr);
    eq(e.stdout, a.stdout, "draft-min text");
    const g = e.stderr.match(/speculative decoding: (\d+) of (\d+) guessed/);
    assert(g && +g[2] >= 4 && +g[1] > 0, "draft-min guesses: " + e.stderr);
  });
  await test("omni chat --draft-model / --lookup: the same replies over two turns", async () => {
    const SM = `${MODELS}/synth/synth-smollm2-f16.gguf`; // ChatML template, random weights
    const chat = (extra) => spawnSync(BIN, ["chat", "-m", SM, "--temp", "0", "-n", "24", ...extra],
      { input: "Hello there\nTell me more\n", encoding: "utf8", timeout: 60000 });
    const a = chat([]), b = chat(["--draft-model", SM]), c = chat(["--lookup"]);
    for (const [r, what] of [[a, "plain"], [b, "draft"], [c, "lookup"]]) eq(r.status, 0, what + ": " + r.stderr);
    assert(a.stdout.trim().split("\n").length >= 2, "two replies: " + a.stdout);
    eq(b.stdout, a.stdout, "draft replies");
    eq(c.stdout, a.stdout, "lookup replies");
  });
  await test("the servers stop cleanly (exit 0: no sanitizer report in a sanitizer build)", async () => {
    const codes = [];
    for (const srv of [plain, look, draft]) codes.push(await stopServer(srv));
    plain = look = draft = null;
    eq(codes, [0, 0, 0], "exit codes");
  });
} catch (e) {
  await test("setup", async () => { throw e; });
} finally {
  for (const s of [plain, look, draft]) if (s) await stopServer(s);
}
process.exit(summary());
