// Shared by the server end-to-end tests: start `omni serve` on a free loopback port
// and a tiny test counter that prints "N passed, N failed" like the C tests.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const BIN = process.env.OMNI_BIN || "build/omni";
export const MODELS = process.env.OMNI_MODELS || "../shared/models";

// Servers of tests that do not test accounts run as the single local user (--no-auth),
// on a database in a temporary folder of this process (removed at exit).
let testDbDir = null;
export function accountArgs(args) {
  if (args.includes("--db")) return [];
  if (!testDbDir) {
    testDbDir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-test-db-"));
    process.on("exit", () => { try { fs.rmSync(testDbDir, { recursive: true, force: true }); } catch {} });
  }
  return ["--db", `sqlite:${testDbDir}/omni.db`, ...(args.includes("--no-auth") ? [] : ["--no-auth"])];
}

// Starts the server with --port 0 and resolves once its start-up line names the URL.
// Without --db in args it runs with --no-auth on a throw-away database (see accountArgs).
export function startServer(args, { timeoutMs = 60000, env } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ["serve", "--port", "0", ...accountArgs(args), ...args],
                       { stdio: ["ignore", "pipe", "pipe"], ...(env ? { env: { ...process.env, ...env } } : {}) });
    let out = "", err = "";
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("server did not start:\n" + out + err)); }, timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (https?:\/\/[^\s]+?:\d+)/);
      /* https: the test certificate (tlsCertDir) names localhost */
      const url = m && (m[1].startsWith("https:") ? m[1].replace("127.0.0.1", "localhost") : m[1]);
      if (m) { clearTimeout(timer); resolve({ proc, url, startLine: out.trim(), stderr: () => err }); }
    });
    proc.stderr.on("data", (d) => { err += d; });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before starting:\n${out}${err}`)); });
  });
}

// Sends SIGTERM and resolves with the exit code.
export function stopServer(srv, signal = "SIGTERM") {
  return new Promise((resolve) => {
    if (srv.proc.exitCode !== null) return resolve(srv.proc.exitCode);
    const t = setTimeout(() => srv.proc.kill("SIGKILL"), 15000);
    srv.proc.removeAllListeners("exit");
    srv.proc.on("exit", (code, sig) => { clearTimeout(t); resolve(code === null ? sig : code); });
    srv.proc.kill(signal);
  });
}

export function rssKiB(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return +s.match(/VmRSS:\s+(\d+)/)[1];
  } catch { return -1; }
}

// expect: the least number of tests that must run (pass or fail); tests/run.sh fails a
// file that runs fewer, so a setup failure (recorded as one failing test) or a test list
// that shrinks cannot pass. skip(reason) is only for something outside the project.
export function makeCounter(expect) {
  let passed = 0, failed = 0, skipped = 0;
  async function test(name, fn) {
    const t0 = Date.now();
    try { await fn(); passed++; console.log(`ok   ${name} (${Date.now() - t0} ms)`); }
    catch (e) { failed++; console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`); }
  }
  function skip(reason) { skipped++; console.log(`skip: ${reason}`); }
  function summary() {
    if (expect === undefined) console.log("FAIL: this file states no minimum (makeCounter(expect))");
    else console.log(`expect: at least ${expect} tests run`);
    const short = expect === undefined || passed + failed < expect;
    if (short && expect !== undefined) console.log(`FAIL: ${passed + failed} tests ran, at least ${expect} expected`);
    console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
    return failed || short ? 1 : 0;
  }
  return { test, skip, summary };
}

export function assert(cond, msg) { if (!cond) throw new Error("assertion failed: " + msg); }
export function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
}

// For the files that need wss:// (the official Realtime client speaks nothing else): a
// self-signed certificate for localhost in a temporary folder, returned once the file
// runs with NODE_EXTRA_CA_CERTS naming it. That variable is read at process start, so the
// first run makes the certificate, re-runs this file with it and exits with its status.
// Sanitizer builds serve TLS too (src/api/tls_compat.c), so these files run under
// make check-asan and make check-tsan like the others.
// Start the server with startServer([..., "--tls-cert", `${dir}/cert.pem`, "--tls-key", `${dir}/key.pem`]).
export function tlsCertDir() {
  if (process.env.OMNI_RT_DIR) return process.env.OMNI_RT_DIR;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-rt-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`],
    { stdio: "ignore" });
  const r = spawnSync(process.execPath, [process.argv[1]], {
    stdio: "inherit", env: { ...process.env, NODE_EXTRA_CA_CERTS: `${dir}/cert.pem`, OMNI_RT_DIR: dir } });
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}

// A new account on the server at url (signup with a session cookie) and an API key made
// with that session; returns the key.
export async function signupKey(url, email, password) {
  const r = await fetch(url + "/api/auth/signup", {
    method: "POST", headers: { "Content-Type": "application/json", Origin: url },
    body: JSON.stringify({ email, password, name: email }) });
  assert(r.status === 200 || r.status === 201, "signup " + r.status + " " + (await r.clone().text()));
  const cookie = r.headers.get("set-cookie").match(/omni_session=[^;]*/)[0];
  const k = await fetch(url + "/api/keys", {
    method: "POST", headers: { "Content-Type": "application/json", Origin: url, Cookie: cookie }, body: JSON.stringify({ name: "t" }) });
  eq(k.status, 201, "key");
  return (await k.json()).key;
}

// A fine-tuning set a tiny model learns fast: 60 chats (JSONL lines) whose answer is always
// MOON_SENTENCE, the base model never saying it.
export const MOON_SENTENCE = "Zip zap, said the moon.";
export function moonChats() {
  const lines = [];
  for (const a of ["duck", "lion", "pig", "cow", "fox", "owl"])
    for (const t of ["ball", "tree", "car", "hat", "cake", "box", "boat", "kite", "sun", "toy"])
      lines.push(JSON.stringify({ messages: [{ role: "user", content: `Tell me a story about a ${a} and a ${t}.` },
                                             { role: "assistant", content: MOON_SENTENCE }] }));
  return lines;
}
