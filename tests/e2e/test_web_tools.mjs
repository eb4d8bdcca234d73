// The web app's built-in tools in headless Chromium (tools.js): the Tools menu lists the
// server's built-ins and its --mcp servers (GET /api/tools) and remembers what is on; a
// Korean CSV attached becomes the data_analysis tool's table, a forced query runs on the
// server and the answer shows "ran query…" collapsed, with the SQL and the result table
// when opened; the run is logged with the stored answer (a reload and GET
// /api/conversations/{id} show it); an enabled MCP server's tool runs (forced, its enum
// argument makes the run certain); a chart run's Vega-Lite spec is drawn as SVG; nothing
// in a run (SQL, results, errors) becomes HTML. Screenshots under build/screenshots.
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";
import { launch, ready, idle, turns, shot } from "./web_helpers.mjs";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { xlsxOf } from "./xlsx_helper.mjs";

const { test, summary } = makeCounter(8);
const CSV = "지역,제품,매출\n서울,사과,1200\n부산,배,800\n서울,배,1500\n";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "omni-webtools-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
fs.writeFileSync(path.join(tmp, "매출.csv"), CSV);
fs.writeFileSync(path.join(tmp, "지점.xlsx"), xlsxOf(CSV));

// Every chat request: the tool forced, the data tool's SQL kept short (the random model's
// call then ends well within the tokens); what the page sent is kept.
async function force(page, name, sent) {
  await page.unroute("**/v1/chat/completions").catch(() => {});
  await page.route("**/v1/chat/completions", (route) => {
    const body = JSON.parse(route.request().postData());
    sent.push(JSON.parse(JSON.stringify(body)));
    for (const t of body.tools || []) if (t.type === "data_analysis") t.limits = { max_sql_length: 24 };
    Object.assign(body, { max_tokens: 120, seed: 1, tool_choice: { type: "function", function: { name } } });
    route.continue({ postData: JSON.stringify(body) });
  });
}
async function send(page, text) {
  const n = await turns(page);
  await page.fill("#input", text);
  await page.press("#input", "Enter");
  await idle(page, n);
  return page.locator(".msg.assistant").last();
}

let srv, browser;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--parallel", "2", "--ctx", "4096",
                           "--mcp", `local=${process.execPath} ${new URL("./mcp_stdio_server.mjs", import.meta.url).pathname}`]);
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/?lang=en");
  await ready(page);

  await test("the Tools menu: the server's built-ins and its MCP servers, remembered across a reload", async () => {
    const api = await (await fetch(srv.url + "/api/tools")).json();
    eq(api.builtin, ["calculator", "current_time", "data_analysis"], "GET /api/tools builtin");
    eq(api.mcp_servers.map((s) => s.label), ["local"], "the --mcp server");
    await page.click("#tools-btn");
    const boxes = await page.$$eval("#tools-menu input[type=checkbox]", (l) => l.map((b) => b.dataset.tool));
    eq(boxes, ["calculator", "current_time", "mcp:local"], "the menu's switches");
    await page.check('#tools-menu input[data-tool="mcp:local"]');
    await shot(page, "tools-menu");
    await page.reload();
    await ready(page);
    await page.click("#tools-btn");
    assert(await page.isChecked('#tools-menu input[data-tool="mcp:local"]'), "still on after a reload");
    assert(!(await page.isChecked('#tools-menu input[data-tool="calculator"]')), "the calculator stays off");
    await page.click("#messages");   // closes the menu
  });

  await test("an enabled MCP server: the request names it, its tool runs, the answer shows the call", async () => {
    const sent = [];
    await force(page, "count", sent);
    const m = await send(page, "세어 줘");
    eq(sent[0].tools, [{ type: "mcp", server_label: "local", require_approval: "never" }], "the tools sent");
    const run = m.locator("details.tool-run").first();
    await run.waitFor();
    eq(await run.getAttribute("data-type"), "mcp_call", "an MCP run");
    eq(await run.getAttribute("data-status"), "completed", "it ran");
    assert(/called count on local/.test(await run.locator("summary").textContent()), "summary");
    assert(!(await run.evaluate((d) => d.open)), "collapsed");
    await run.locator("summary").click();
    assert(/(하나|two) #\d+ from \d+/.test(await run.locator(".run-output").textContent()), "the server's answer shown");
    await page.click("#tools-btn");
    await page.uncheck('#tools-menu input[data-tool="mcp:local"]');
    await page.click("#messages");
  });

  let convId;
  await test("a Korean CSV attached: the data tool's table; a forced query shows “ran query…” with its SQL and result", async () => {
    await page.click("#new-chat").catch(() => {});
    const sent = [];
    await force(page, "query", sent);
    await page.setInputFiles("#file", path.join(tmp, "매출.csv"));
    await page.locator('#attachments .pending[data-kind="table"]').waitFor();
    const m = await send(page, "지역별 매출 합계는?");
    const da = sent[0].tools.find((t) => t.type === "data_analysis");
    assert(da && da.tables.length === 1, "the table sent: " + JSON.stringify(sent[0].tools).slice(0, 200));
    eq(da.tables[0].name, "매출", "named after the file");
    eq(Buffer.from(da.tables[0].file_data.split(",")[1], "base64").toString(), CSV, "the file's bytes");
    assert(/매출\.csv/.test(sent[0].messages[sent[0].messages.length - 1].content), "the question names the table");
    const run = m.locator('details.tool-run[data-type="data_analysis_call"]').first();
    await run.waitFor();
    eq(await run.locator("summary").evaluate((s) => s.firstChild.textContent), "ran query…", "summary");
    assert(!(await run.evaluate((d) => d.open)), "collapsed");
    await run.locator("summary").click();
    const sql = await run.locator("pre.run-sql").textContent();
    assert(sql.length > 0 && sql.length <= 24, "the SQL shown: " + sql);
    const st = await run.getAttribute("data-status");
    if (st === "completed") await run.locator(".run-table table").waitFor();
    else assert((await run.locator(".run-error").textContent()).length > 0, "the error shown");
    await shot(page, "tools-query");
    convId = new URL(page.url()).pathname.split("/").pop();
    // logged with the stored answer
    const tree = await (await fetch(`${srv.url}/api/conversations/${convId}`)).json();
    const ans = tree.messages.filter((x) => x.role === "assistant");
    eq(ans.length, 1, "one stored answer (the step that called the tool is not a message)");
    eq(ans[0].tool_runs[0].type, "data_analysis_call", "the run with the answer");
    eq(ans[0].tool_runs[0].sql, sql, "the same SQL");
    eq(ans[0].parent_id, tree.messages.find((x) => x.role === "user").id, "the answer answers the question");
  });

  await test("a later turn of the chat sends the table again; a reload shows the runs from the server", async () => {
    const sent = [];
    await force(page, "query", sent);
    await send(page, "서울은?");
    assert(sent[0].tools.some((t) => t.type === "data_analysis" && t.tables[0].name === "매출"), "the conversation's table");
    await page.reload();
    await ready(page);
    await page.locator(".msg.assistant").first().waitFor();
    eq(await page.locator('.msg.assistant details.tool-run[data-type="data_analysis_call"]').count(), 2, "both turns' runs shown");
  });

  await test("an XLSX workbook attached: sent as the chat's table, loaded by the server (the query runs on it)", async () => {
    await page.click("#new-chat");
    const sent = [];
    await force(page, "query", sent);
    await page.setInputFiles("#file", path.join(tmp, "지점.xlsx"));
    await page.locator('#attachments .pending[data-kind="table"]').waitFor();
    const m = await send(page, "지점별 합계");
    const da = sent[0].tools.find((t) => t.type === "data_analysis");
    eq([da.tables[0].name, da.tables[0].filename], ["지점", "지점.xlsx"], "the workbook's table");
    eq(Buffer.from(da.tables[0].file_data.split(",")[1], "base64").equals(xlsxOf(CSV)), true, "its bytes");
    // a workbook the server could not read would be a 400 for the whole turn: a run means it loaded
    await m.locator('details.tool-run[data-type="data_analysis_call"]').first().waitFor();
    eq(await page.locator(".msg.error").count(), 0, "no error");
  });

  await test("a chart run is drawn from its Vega-Lite spec (SVG marks), a run's text never becomes HTML", async () => {
    const spec = { $schema: "https://vega.github.io/schema/vega-lite/v5.json", title: "지역별 매출", mark: "bar",
                   data: { values: [{ 지역: "서울", 매출: 2700 }, { 지역: "부산", 매출: 800 }] },
                   encoding: { x: { field: "지역", type: "nominal" }, y: { field: "매출", type: "quantitative" } } };
    const runs = [{ type: "data_analysis_call", id: "da_1", status: "completed", name: "chart", sql: "SELECT 지역, <b>x</b>", chart: spec },
                  { type: "data_analysis_call", id: "da_2", status: "failed", name: "query", sql: "<img src=x onerror=\"window.__pwned=1\">",
                    error: "<img src=x onerror=\"window.__pwned=2\">", result: null },
                  { type: "calculator_call", id: "calc_1", status: "completed", name: "calculator", expression: "1/3 + 1/6",
                    result: { value: "0.5", result: "0.5" } }];
    await page.unroute("**/v1/chat/completions").catch(() => {});
    await page.route("**/v1/chat/completions", (route) => route.fulfill({
      status: 200, headers: { "Content-Type": "text/event-stream" },
      body: [{ content: "차트입니다." }, { tool_runs: runs }]
        .map((d) => "data: " + JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: d, finish_reason: null }] }) + "\n\n").join("") + "data: [DONE]\n\n",
    }));
    const m = await send(page, "차트 그려 줘");
    const chart = m.locator('details.tool-run[data-type="data_analysis_call"]').first();
    eq(await chart.locator("summary").textContent(), "drew a chart…", "summary");
    await chart.locator("summary").click();
    eq(await chart.locator("svg.run-chart").getAttribute("data-mark"), "bar", "an SVG chart");
    eq(await chart.locator("svg.run-chart rect.mark").count(), 2, "one bar per row");
    eq(await chart.locator("svg.run-chart .chart-title").textContent(), "지역별 매출", "its title");
    const h = await chart.locator("svg.run-chart rect.mark").evaluateAll((r) => r.map((x) => +x.getAttribute("height")));
    assert(h[0] > h[1] * 3 && h[0] < h[1] * 3.6, "heights follow the values (2700 vs 800): " + h);
    eq(await chart.locator("pre.run-sql").textContent(), "SELECT 지역, <b>x</b>", "SQL as text");
    const bad = m.locator("details.tool-run").nth(1);
    await bad.locator("summary").click();
    eq(await bad.locator(".run-error").textContent(), "<img src=x onerror=\"window.__pwned=2\">", "the error as text");
    eq(await m.locator("details.tool-run img").count(), 0, "no element from a run's text");
    const calc = m.locator('details.tool-run[data-type="calculator_call"]');
    eq(await calc.locator("summary").textContent(), "calculated…", "the calculator's run");
    await page.waitForTimeout(200);
    eq(await page.evaluate(() => window.__pwned), undefined, "nothing ran");
    await shot(page, "tools-chart");
  });

  await test("Korean interface: the menu and the runs in Korean; no page errors", async () => {
    await page.unroute("**/v1/chat/completions").catch(() => {});
    await page.goto(`${srv.url}/c/${convId}?lang=ko`);
    await ready(page);
    await page.locator(".msg.assistant details.tool-run").first().waitFor();
    eq(await page.locator(".msg.assistant details.tool-run summary").first().evaluate((s) => s.firstChild.textContent), "쿼리 실행…", "Korean summary");
    await page.click("#tools-btn");
    eq(await page.locator('#tools-menu input[data-tool="calculator"] + span').textContent(), "계산기", "Korean menu");
    eq(errors, [], "page errors");
  });
  await browser.close();
  browser = null;
  await test("the server exits cleanly (no sanitizer report under make check-asan)", async () => {
    const s = srv;
    srv = null;
    eq(await stopServer(s), 0, "exit code");
  });
} catch (e) {
  await test("web tools", () => { throw e; });
} finally {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
}
process.exit(summary());
