// `make bench`'s web app section: the first load of / (bytes on the wire, compressed, and
// time to interactive, median of 5 cold loads), and a 500-message conversation (open, then
// scroll to the first message and back: frame times). A --no-auth server on the synth
// model; headless Debian Chromium. Prints a Markdown table.
import * as path from "node:path";
import { fileURLToPath } from "node:url";
const here = path.dirname(fileURLToPath(import.meta.url));
const { startServer, stopServer, MODELS } = await import(path.join(here, "../tests/e2e/server_helpers.mjs"));
const { launch } = await import(path.join(here, "../tests/e2e/web_helpers.mjs"));

const srv = await startServer(["-m", `${MODELS}/synth/synth-smollm2-f16.gguf`]);
const browser = await launch();
const rows = [];
try {
  const ttis = [];
  let bytes = 0;
  for (let i = 0; i < 5; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    const p = await ctx.newPage();
    let b = 0;
    p.on("response", (r) => { b += Number(r.headers()["content-length"] || 0); });
    await p.goto(srv.url + "/");
    await p.waitForFunction(() => window.__omniReady > 0);
    ttis.push(await p.evaluate(() => window.__omniReady));
    bytes = b;
    await ctx.close();
  }
  ttis.sort((a, b) => a - b);
  const met = (ok) => (ok ? "met" : "NOT met");
  rows.push(["first load of / (HTML, JS, CSS, API calls; compressed)", `${(bytes / 1024).toFixed(1)} KiB`, `< 300 KB: ${met(bytes < 300000)}`]);
  rows.push(["time to interactive, median of 5 cold loads", `${ttis[2].toFixed(0)} ms`, `< 1 s: ${met(ttis[2] < 1000)}`]);

  const post = (p, body) => fetch(srv.url + p, { method: "POST", headers: { "Content-Type": "application/json", Origin: srv.url }, body: JSON.stringify(body) }).then((r) => r.json());
  const conv = await post("/api/conversations", { title: "bench" });
  let parent = "";
  for (let i = 0; i < 500; i++) {
    const content = i % 2 ? `Answer ${i}: **tides** come from the moon.\n\n- one\n- two\n\n\`\`\`js\nlet t = ${i};\n\`\`\`\n\n$E = mc^2$` : `Question ${i}: how do tides work?`;
    parent = (await post(`/api/conversations/${conv.id}/messages`, { role: i % 2 ? "assistant" : "user", content, parent_id: parent })).id;
  }
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const p = await ctx.newPage();
  await p.goto(`${srv.url}/c/${conv.id}`);
  await p.waitForFunction(() => window.__omniReady > 0 && document.body.dataset.heavy);
  const m = await p.evaluate(async () => {
    const box = document.getElementById("messages"), frames = [], tasks = [];
    // Chromium's long tasks (over 50 ms on the main thread) while scrolling
    const po = new PerformanceObserver((l) => { for (const e of l.getEntries()) tasks.push(e.duration); });
    po.observe({ type: "longtask" });
    const frame = async () => { const t0 = performance.now(); await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))); frames.push(performance.now() - t0); };
    let steps = 0;
    while ((document.querySelectorAll(".msg").length < 500 || box.scrollTop > 0) && steps < 5000) { box.scrollTop = Math.max(0, box.scrollTop - box.clientHeight); await frame(); steps++; }
    while (box.scrollTop + box.clientHeight < box.scrollHeight - 1 && steps < 10000) { box.scrollTop += box.clientHeight; await frame(); steps++; }
    await new Promise((r) => setTimeout(r, 100));
    po.disconnect();
    frames.sort((a, b) => a - b);
    return { open: window.__omniRenderMs, steps, median: frames[frames.length >> 1], p95: frames[Math.floor(frames.length * 0.95)], worst: frames.at(-1),
             longTasks: tasks.length, longest: tasks.length ? Math.max(...tasks) : 0 };
  });
  rows.push(["500-message conversation: open (the last 60 rendered)", `${m.open.toFixed(0)} ms`, `< 1 s: ${met(m.open < 1000)}`]);
  rows.push([`scroll to the first message and back (${m.steps} screens): frame median / p95 / worst`, `${m.median.toFixed(1)} / ${m.p95.toFixed(1)} / ${m.worst.toFixed(1)} ms`,
    `no stall (worst frame < 200 ms): ${met(m.worst < 200)}`]);
  rows.push(["the same scroll: long tasks (> 50 ms) / the longest", `${m.longTasks} / ${m.longest.toFixed(0)} ms`, "(Chromium's long-task timing)"]);
  if (process.env.WEB_BENCH_JSON) console.log("WEB_BENCH_JSON " + JSON.stringify(m));
  await ctx.close();
} finally {
  await browser.close();
  await stopServer(srv);
}
console.log("\n## Web app (headless Chromium)\n\n| measure | value | target |\n|---|---|---|");
for (const [k, v, goal] of rows) console.log(`| ${k} | ${v} | ${goal} |`);
