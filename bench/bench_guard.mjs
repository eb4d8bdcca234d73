// Guardrails' cost (bench/run.sh): what a guard model adds to a chat request, with a
// Qwen3Guard-Gen-0.6B-shape model made by `omni synth --shape qwen3guard-gen-0.6b` (Qwen3-0.6B's
// shape and Qwen3Guard-Gen's template; random weights cost what real ones do) on
// BENCH_GUARD_THREADS (2) threads. A check costs what a real guard's does whatever the weights
// say (src/moderation/guard_run.h): one prefill of the guard prompt ending in "Safety:" and a
// token per label step; categories are decoded only after an unsafe label, which random
// weights do not give (the labels hold little of their probability: the verdict is UNPARSED),
// so the figures are those of a safe verdict, the common case. One server, three policies (set through the
// server's --moderation file, one server per policy, the same guard file):
//   none    no checks: the baseline
//   input   the guard reads the user's message before generation: added time to first token
//   output  the guard reads each sentence of the answer before it is shown: ms per sentence,
//           and the longest gap between two streamed pieces (a stall)
// and, for the input policy, the first request's time to first token (the server's first check:
// nothing of the guard's prompt computed yet, unless the server computed its fixed beginning
// at start, which the bench waits for when the server says it does), and a short request's
// right after a long message's check (the engine's slots keep a long prompt's slot for it).
// Each in wall time and in the server's CPU time (/proc: user + system, all its threads),
// which a busy machine disturbs far less. Prints a Markdown table. No npm packages.
//   node bench/bench_guard.mjs   (OMNI_BIN, OMNI_MODELS, BENCH_MODELS, BENCH_GUARD_ROUNDS)
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const BIN = process.env.OMNI_BIN || "build/omni";
const MODELS = process.env.OMNI_MODELS || "../shared/models";
const DIR = process.env.BENCH_MODELS || "build/bench-models";
const THREADS = process.env.BENCH_GUARD_THREADS || "2";
const ROUNDS = +(process.env.BENCH_GUARD_ROUNDS || 3);
const TICK_MS = 1000 / +(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || 100);
const LLM = `${MODELS}/llm/stories260K.gguf`;   // a tiny chat model: the time measured is the guard's
const GUARD = `${DIR}/Qwen3Guard-Gen-0.6B-shape-q8_0.gguf`;   // the name (and template) tell omni its family

fs.mkdirSync(DIR, { recursive: true });
if (!fs.existsSync(GUARD)) execFileSync(BIN, ["synth", "--shape", "qwen3guard-gen-0.6b", "--type", "q8_0", "-o", GUARD], { stdio: "ignore" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-bench-guard-"));

let s_out = () => "";
function start(policy) {
  const file = path.join(tmp, "policy.json");
  fs.writeFileSync(file, JSON.stringify(policy));
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ["serve", "--port", "0", "--no-auth", "--db", `sqlite:${tmp}/omni.db`, "-m", LLM, "--threads", THREADS,
                             "--moderation", file, "--guard-model", GUARD],
                       { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OMNI_LOG: process.env.OMNI_LOG || "info" } });
    let out = "";
    const t = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("no start: " + out)); }, 300000);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+?:\d+)/);
      if (m) { clearTimeout(t); resolve({ proc, url: m[1] }); }
    });
    proc.stderr.on("data", (d) => { out += d; });
    s_out = () => out;
    proc.on("exit", (c) => { clearTimeout(t); reject(new Error(`exited ${c}: ${out}`)); });
  });
}
const stop = (s) => new Promise((r) => { s.proc.removeAllListeners("exit"); s.proc.on("exit", r); s.proc.kill("SIGTERM"); });

// The server's CPU time so far (ms).
function cpuMs(pid) {
  const st = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return (+f[11] + +f[12]) * TICK_MS;   // utime, stime (fields 14 and 15)
}

// One streamed chat: time to the first content, the arrival time of every piece, the text.
async function chat(url, i, maxTokens = 60) {
  const t0 = performance.now();
  const res = await fetch(url + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: `Tell me story number ${i} about a little dog.` }],
                           max_tokens: maxTokens, temperature: 0, stream: true }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const at = [];
  let text = "", buf = "";
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let k;
    while ((k = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, k).trim();
      buf = buf.slice(k + 1);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const j = JSON.parse(line.slice(6));
      const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
      if (c) { at.push(performance.now() - t0); text += c; }
    }
  }
  return { ttft: at.length ? at[0] : -1, total: performance.now() - t0, at, text };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const sentences = (t) => (t.match(/[.!?]+(\s|$)|\n/g) || []).length || 1;

// Waits (up to 10 minutes) for the server's lines saying the guard's fixed prompt beginnings
// (prompt and response checks) are computed, when it said at start that it computes them.
async function guardReady() {
  const ended = () => (s_out().match(/guard's prompt beginning is cached|guard warm-up failed/g) || []).length;
  const started = () => (s_out().match(/warming the guard/g) || []).length;
  for (let t = 0; started() > ended(); t++) {
    if (t > 6000) throw new Error("the guard's warm-up did not end");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function measure(policy) {
  const s = await start(policy);
  try {
    await guardReady();
    const f0 = cpuMs(s.proc.pid);
    const first = await chat(s.url, -1, 8);   // warm: the model's pages in memory, the prompt cache's first fill
    first.cpu = cpuMs(s.proc.pid) - f0;
    const runs = [];
    for (let i = 0; i < ROUNDS; i++) {
      const c0 = cpuMs(s.proc.pid);
      const r = await chat(s.url, i);
      r.cpu = cpuMs(s.proc.pid) - c0;
      runs.push(r);
    }
    runs.first = first;
    if (policy.input) {   // a long message checked (through /v1/moderations), then a short chat's check
      const long = "The little dog ran to the park and played with a red ball all day long. ".repeat(10);
      const m = await fetch(s.url + "/v1/moderations", { method: "POST", headers: { "Content-Type": "application/json" },
                                                           body: JSON.stringify({ input: long }) });
      if (m.status !== 200) throw new Error(`moderations: HTTP ${m.status}: ${await m.text()}`);
      const c0 = cpuMs(s.proc.pid);
      runs.afterLong = await chat(s.url, 99);
      runs.afterLong.cpu = cpuMs(s.proc.pid) - c0;
    }
    const w = s_out().match(/beginning is cached for prompt checks \((\d+) tokens, (\d+) ms\)/);
    runs.warm = w ? `${w[2]} ms for ${w[1]} tokens` : "";
    return runs;
  } finally { await stop(s); }
}

try {
  const none = await measure({ input: false, output: false, guard: true });
  const input = await measure({ input: true, output: false, guard: true });
  const output = await measure({ input: false, output: true, guard: true });
  const ttft0 = median(none.map((r) => r.ttft)), ttft1 = median(input.map((r) => r.ttft));
  const total0 = median(none.map((r) => r.total)), total2 = median(output.map((r) => r.total));
  const nsent = median(output.map((r) => sentences(r.text)));
  const gap = Math.max(...output.map((r) => Math.max(...r.at.map((t, k) => (k ? t - r.at[k - 1] : t)))));
  const cpu0 = median(none.map((r) => r.cpu)), cpu1 = median(input.map((r) => r.cpu)), cpu2 = median(output.map((r) => r.cpu));
  console.log(`\n## Guardrails: a Qwen3Guard-Gen-0.6B-shape guard (q8_0, ${THREADS} threads), median of ${ROUNDS}\n`);
  console.log("| measure | without | with | added |");
  console.log("|---|---|---|---|");
  console.log(`| time to first token, input check (ms) | ${ttft0.toFixed(0)} | ${ttft1.toFixed(0)} | ${(ttft1 - ttft0).toFixed(0)} |`);
  console.log(`| time to first token of the server's first request, input check (ms) | ${none.first.ttft.toFixed(0)} | ${input.first.ttft.toFixed(0)} | ${(input.first.ttft - none.first.ttft).toFixed(0)} |`);
  console.log(`| server CPU of the first request, input check (ms) | ${none.first.cpu.toFixed(0)} | ${input.first.cpu.toFixed(0)} | ${(input.first.cpu - none.first.cpu).toFixed(0)} |`);
  console.log(`| time to first token right after a long message's check, input check (ms) | ${ttft0.toFixed(0)} | ${input.afterLong.ttft.toFixed(0)} | ${(input.afterLong.ttft - ttft0).toFixed(0)} |`);
  console.log(`| server CPU of that request, input check (ms) | ${cpu0.toFixed(0)} | ${input.afterLong.cpu.toFixed(0)} | ${(input.afterLong.cpu - cpu0).toFixed(0)} |`);
  if (input.warm) console.log(`| the guard's prompt beginning, computed at the server's start (before the first request) | | ${input.warm} | |`);
  console.log(`| server CPU per request, input check (ms) | ${cpu0.toFixed(0)} | ${cpu1.toFixed(0)} | ${(cpu1 - cpu0).toFixed(0)} |`);
  console.log(`| whole streamed answer, output checks (ms; ${nsent} sentences) | ${total0.toFixed(0)} | ${total2.toFixed(0)} | ` +
              `${((total2 - total0) / nsent).toFixed(0)} per sentence |`);
  console.log(`| server CPU per request, output checks (ms) | ${cpu0.toFixed(0)} | ${cpu2.toFixed(0)} | ${((cpu2 - cpu0) / nsent).toFixed(0)} per sentence |`);
  console.log(`| longest gap between streamed pieces with output checks (ms) | | ${gap.toFixed(0)} | |`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
