// Shared by the server end-to-end tests: start `omni serve` on a free loopback port
// and a tiny test counter that prints "N passed, N failed" like the C tests.
import { spawn } from "node:child_process";
import * as fs from "node:fs";

export const BIN = process.env.OMNI_BIN || "build/omni";
export const MODELS = process.env.OMNI_MODELS || "../shared/models";

// Starts the server with --port 0 and resolves once its start-up line names the URL.
export function startServer(args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ["serve", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("server did not start:\n" + out + err)); }, timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+?:\d+)/);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1], startLine: out.trim(), stderr: () => err }); }
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
