// A throw-away PostgreSQL for the e2e tests, through tests/pg_temp.sh (initdb in a
// temporary folder, loopback only, no system service). Fails (never skips) when it
// cannot start: scripts/setup.sh installs PostgreSQL.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export async function startPostgres() {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "omni-pg-")), "pg");
  const url = execFileSync("sh", ["tests/pg_temp.sh", "start", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try { execFileSync("sh", ["tests/pg_temp.sh", "stop", dir], { stdio: "ignore" }); } catch {}
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  };
  process.on("exit", () => { if (!stopped) try { execFileSync("sh", ["tests/pg_temp.sh", "stop", dir], { stdio: "ignore" }); } catch {} });
  return { url, stop };
}
