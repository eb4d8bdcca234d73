// Shared by the web app's browser tests (test_web_*.mjs): Debian's Chromium through
// playwright-core, the page's usual moves (ask a question and wait for the answer to be
// stored), and where screenshots go (build/screenshots, for a reviewer to look at).
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";

export const SHOTS = path.join(process.env.BUILD || "build", "screenshots");
fs.mkdirSync(SHOTS, { recursive: true });
export const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name + ".png") });

export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs],
  });
}

// The app is ready: logged in (or --no-auth), models and the sidebar loaded. After a log-out
// the ready mark and the model picker keep their values: a log-in passes the mark read before
// it (`after`), so that the page is not taken as ready before its session cookie is set.
export async function ready(page, after = 0) {
  try {
    await page.waitForFunction((t) => window.__omniReady > t && document.getElementById("model-picker").value &&
      document.getElementById("login-view").hidden, after, { timeout: 90000 });
  } catch (e) {   // say what the page shows instead
    const st = await page.evaluate(() => ({ url: location.href, ready: window.__omniReady, login: !document.getElementById("login-view").hidden,
      authError: document.getElementById("auth-error").textContent, models: document.getElementById("model-picker").options.length,
      status: document.getElementById("status").textContent, toast: document.getElementById("toast").textContent })).catch((x) => String(x));
    throw new Error("the app did not become ready: " + JSON.stringify(st) + "\n" + e.message);
  }
}

// Types a question, presses Enter, waits until the turn is over (the answer stored and
// read back, the sidebar and usage refreshed). Returns the answer's element (a Locator).
export async function ask(page, text) {
  const n = await turns(page);
  await page.fill("#input", text);
  await page.press("#input", "Enter");
  await idle(page, n);
  return page.locator(".msg.assistant").last();
}
export const turns = (page) => page.evaluate(() => +(document.body.dataset.turns || 0));
export async function idle(page, n) {
  await page.waitForFunction((k) => +(document.body.dataset.turns || 0) > k, n, { timeout: 90000 });
}
// Every request to /v1/chat/completions gets these fields (a short, deterministic reply).
export async function shapeChat(page, extra, sent = []) {
  await page.unroute("**/v1/chat/completions").catch(() => {});
  await page.route("**/v1/chat/completions", (route) => {
    const body = JSON.parse(route.request().postData());
    sent.push(body);
    Object.assign(body, extra);
    route.continue({ postData: JSON.stringify(body) });
  });
  return sent;
}
