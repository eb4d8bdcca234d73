// Built-in tools run by the server in a loop (call → result → continue), with the
// official openai client: the data_analysis tool (a Korean CSV in SQLite) and MCP servers
// (the official @modelcontextprotocol/sdk serving Streamable HTTP in this test, plus
// hostile servers that hang, answer garbage or too much). The random-weight model is
// forced to call (tool_choice naming the tool; arguments constrained by the tool's
// schema), so the loop, the runs, their output items and stream events are real.
import * as fs from "node:fs";
import * as http from "node:http";
import { randomUUID } from "node:crypto";
import OpenAI from "openai";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { spawnSync } from "node:child_process";
import { startServer, stopServer, makeCounter, assert, eq, MODELS, BIN } from "./server_helpers.mjs";
import { xlsxOf } from "./xlsx_helper.mjs";

const { test, summary } = makeCounter(18);

const CSV = "지역,제품,매출\n서울,사과,1200\n부산,배,800\n서울,배,1500\n";
// max_sql_length keeps the random model's SQL short, so its forced call ends well within the tokens
const DA = { type: "data_analysis", tables: [{ name: "sales", csv: CSV }], limits: { max_sql_length: 24, max_rows: 50 } };


// ---- an MCP server (the official SDK, stateful Streamable HTTP) ----
const WEATHER = { "Paris": "18°C, cloudy", "서울": "3°C, clear" };
const calls = [];   // what the MCP server was asked, in order
function makeMcp() {
  const s = new McpServer({ name: "omni-test", version: "1.0.0" });
  s.registerTool("weather", { description: "Weather now in a city", inputSchema: { city: z.enum(["Paris", "서울"]) } },
                 async ({ city }) => { calls.push(["weather", city]); return { content: [{ type: "text", text: `${city}: ${WEATHER[city]}` }] }; });
  s.registerTool("secret", { description: "Not allowed", inputSchema: { x: z.number() } },
                 async ({ x }) => { calls.push(["secret", x]); return { content: [{ type: "text", text: "no" }] }; });
  s.registerTool("broken", { description: "Always fails", inputSchema: { n: z.enum(["1"]) } },
                 async () => { calls.push(["broken"]); return { isError: true, content: [{ type: "text", text: "the tool broke" }] }; });
  return s;
}
const transports = {};
const mcpHttp = http.createServer(async (req, res) => {
  let body = "";
  for await (const ch of req) body += ch;
  const json = body ? JSON.parse(body) : undefined;
  const sid = req.headers["mcp-session-id"];
  let t = sid && transports[sid];
  if (!t) {
    if (!isInitializeRequest(json)) { res.writeHead(400).end("no session"); return; }
    t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => { transports[id] = t; } });
    await makeMcp().connect(t);
  }
  await t.handleRequest(req, res, json);
});
// ---- hostile servers ----
const HUGE = "[" + "1,".repeat(3 << 20) + "1]";   // 6 MiB, over the client's 4 MiB
const hostile = http.createServer(async (req, res) => {
  let body = "";
  for await (const ch of req) body += ch;
  if (req.url === "/hang") return;   // never answers
  if (req.url === "/garbage") { res.writeHead(200, { "content-type": "application/json" }); res.end("<html>not json"); return; }
  if (req.url === "/huge") { res.writeHead(200, { "content-type": "application/json" }); res.end(HUGE); return; }
  if (req.url === "/badcall") {   // a fine handshake and list, then garbage for tools/call
    const m = JSON.parse(body);
    if (!m.id) { res.writeHead(202).end(); return; }
    const result = m.method === "initialize" ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "bad", version: "1" } }
      : m.method === "tools/list" ? { tools: [{ name: "echo", inputSchema: { type: "object", properties: { v: { enum: ["a"] } }, required: ["v"], additionalProperties: false } }] }
      : null;
    res.writeHead(200, { "content-type": result ? "application/json" : "text/event-stream" });
    res.end(result ? JSON.stringify({ jsonrpc: "2.0", id: m.id, result }) : "data: {garbage\n\n");
    return;
  }
  res.writeHead(404).end();
});
const listen = (srv) => new Promise((r) => srv.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${srv.address().port}`)));
const mcpUrl = (await listen(mcpHttp)) + "/mcp";
const badUrl = await listen(hostile);

let srv;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`,
                           "--mcp", `local=${process.execPath} ${new URL("./mcp_stdio_server.mjs", import.meta.url).pathname}`]);
} catch (e) {
  await test("server starts", () => { throw e; });
  process.exit(summary());
}
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none" });
const MCP = (extra = {}) => ({ type: "mcp", server_label: "weather_srv", server_url: mcpUrl, require_approval: "never", ...extra });

function checkQuery(it) {
  eq(it.type, "data_analysis_call", "item type");
  assert(/^da_/.test(it.id), "id " + it.id);
  eq(it.name, "query", "name");
  const args = JSON.parse(it.arguments);
  eq(Object.keys(args), ["sql"], "arguments keys");
  assert(args.sql.length <= 24, "maxLength holds: " + args.sql);
  eq(it.sql, args.sql, "the SQL run is the model's");
  assert(typeof it.output === "string" && it.output.length > 0, "the model read something back");
  if (it.status === "completed") {
    assert(Array.isArray(it.result.columns) && Array.isArray(it.result.rows), "a table");
    eq(it.error, null, "no error");
  } else {
    eq(it.status, "failed", "status");
    assert(typeof it.error === "string" && it.error.length > 0 && it.output === "Error: " + it.error, "the error is what the model read: " + it.error);
  }
}

await test("data_analysis: a forced query runs in SQLite, its result goes back, the model continues", async () => {
  const r = await client.responses.create({ model: "", input: "매출 합계는?", tools: [DA], tool_choice: { type: "function", name: "query" },
                                            seed: 1, max_output_tokens: 150 });
  const kinds = r.output.map((o) => o.type);
  eq(kinds[0], "data_analysis_call", "the call comes first: " + kinds);
  checkQuery(r.output[0]);
  assert(r.output.length >= 2, "a second generation after the run: " + kinds);
  const single = await client.responses.create({ model: "", input: "매출 합계는?", tools: [DA], tool_choice: "none", seed: 1, max_output_tokens: 1 });
  assert(r.usage.input_tokens > 2 * single.usage.input_tokens, `two prompts counted: ${r.usage.input_tokens} vs one ${single.usage.input_tokens}`);
});

await test("data_analysis: a chart call gives a Vega-Lite spec or a clear error", async () => {
  const r = await client.responses.create({ model: "", input: "차트", tools: [DA], tool_choice: { type: "function", name: "chart" },
                                            seed: 2, max_output_tokens: 150 });
  const it = r.output[0];
  eq([it.type, it.name], ["data_analysis_call", "chart"], "the chart call");
  const args = JSON.parse(it.arguments);
  assert(["bar", "line", "point", "area", "arc"].includes(args.mark) && typeof args.sql === "string" && args.sql.length <= 24, "arguments " + it.arguments);
  if (it.status === "completed") eq(it.chart.$schema, "https://vega.github.io/schema/vega-lite/v5.json", "spec");
  else assert(typeof it.error === "string" && it.error.length > 0, "error");
});

await test("data_analysis streamed: the call's events in order, numbered, and the final response carries them", async () => {
  const stream = await client.responses.create({ model: "", input: "합계", tools: [DA], tool_choice: { type: "function", name: "query" },
                                                 seed: 3, max_output_tokens: 150, stream: true });
  const evs = [];
  for await (const e of stream) evs.push(e);
  evs.forEach((e, i) => eq(e.sequence_number, i, "sequence_number of " + e.type));
  const types = evs.map((e) => e.type);
  eq(types.slice(0, 3), ["response.created", "response.in_progress", "response.output_item.added"], "opening");
  eq(evs[2].item.type, "data_analysis_call", "the call opens");
  const id = evs[2].item.id;
  const mine = evs.filter((e) => e.item_id === id || (e.item && e.item.id === id)).map((e) => e.type);
  const want = ["response.output_item.added", "response.data_analysis_call_arguments.delta", "response.data_analysis_call_arguments.done",
                "response.data_analysis_call.in_progress"];
  eq(mine.filter((t, i) => i === 0 || t !== mine[i - 1]).slice(0, 4), want, "the call's events");
  assert(["response.data_analysis_call.completed", "response.data_analysis_call.failed"].includes(mine[mine.length - 2]), "ran: " + mine);
  eq(mine[mine.length - 1], "response.output_item.done", "done");
  const args = evs.filter((e) => e.type === "response.data_analysis_call_arguments.delta").map((e) => e.delta).join("");
  const done = evs.find((e) => e.type === "response.output_item.done" && e.item.id === id).item;
  eq(args, done.arguments, "deltas = arguments");
  checkQuery(done);
  const last = evs[evs.length - 1];
  assert(["response.completed", "response.incomplete"].includes(last.type), "last " + last.type);
  eq(last.response.output.map((o) => o.id), evs.filter((e) => e.type === "response.output_item.done").map((e) => e.item.id), "final = done items");
});

await test("data_analysis: tables arrive as input_file parts (CSV as a data: URI); a bad file is a 400 naming it", async () => {
  const file = (name, text) => ({ type: "input_file", filename: name, file_data: "data:text/csv;base64," + Buffer.from(text).toString("base64") });
  const input = (f) => [{ role: "user", content: [{ type: "input_text", text: "합계?" }, f] }];
  const r = await client.responses.create({ model: "", input: input(file("매출.csv", CSV)), tools: [{ type: "data_analysis", limits: DA.limits }],
                                            tool_choice: { type: "function", name: "query" }, seed: 1, max_output_tokens: 150 });
  checkQuery(r.output[0]);
  const cases = [[input(file("bad.csv", "a,b\n1\n")), [{ type: "data_analysis" }], 400, "tools[0].tables[0]", /table 'bad': malformed CSV at line 2/],
                 [input(file("x.csv", CSV)), [], 400, "input[0].content[1]", /data_analysis tool/],
                 [input({ type: "input_file", filename: "notes.pdf", file_data: "eA==" }), [{ type: "data_analysis" }], 400, "input[0].content[1]", /\.csv/]];
  for (const [inp, tools, status, param, re] of cases) {
    let err = null;
    try { await client.responses.create({ model: "", input: inp, tools }); } catch (e) { err = e; }
    assert(err && err.status === status && err.error.param === param && re.test(err.message), `${param}: ${err && err.status} ${err && err.message}`);
  }
});

await test("data_analysis: an XLSX table is the same table as its CSV (the model is shown the same schema)", async () => {
  const ask = (table) => client.responses.create({ model: "", input: "x", tools: [{ type: "data_analysis", tables: [table] }],
                                                   tool_choice: "none", seed: 1, max_output_tokens: 1 });
  const viaCsv = await ask({ name: "sales", csv: CSV });
  const viaXlsx = await ask({ name: "sales", xlsx: xlsxOf(CSV).toString("base64") });
  eq(viaXlsx.usage.input_tokens, viaCsv.usage.input_tokens, "the same prompt");
  const r = await client.responses.create({ model: "", input: [{ role: "user", content: [{ type: "input_text", text: "합계" },
    { type: "input_file", filename: "sales.xlsx", file_data: "data:application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64," +
      xlsxOf(CSV).toString("base64") }] }], tools: [{ type: "data_analysis", limits: DA.limits }], tool_choice: { type: "function", name: "query" },
    seed: 2, max_output_tokens: 150 });
  checkQuery(r.output[0]);
});

await test("chat completions: the data_analysis run is in message.tool_runs, the answer follows", async () => {
  const r = await client.chat.completions.create({ model: "", messages: [{ role: "user", content: "합계?" }], tools: [DA],
                                                   tool_choice: { type: "function", function: { name: "query" } }, seed: 4, max_tokens: 150 });
  const runs = r.choices[0].message.tool_runs;
  assert(Array.isArray(runs) && runs.length >= 1, "runs");
  checkQuery(runs[0]);
  assert(typeof r.choices[0].message.content === "string", "content");
  assert(["stop", "length"].includes(r.choices[0].finish_reason), "finish " + r.choices[0].finish_reason);
});

await test("chat completions streamed: the answer as content deltas, the runs in the last chunk", async () => {
  const body = { model: "", messages: [{ role: "user", content: "합계?" }], tools: [DA], seed: 4, max_tokens: 150,
                 tool_choice: { type: "function", function: { name: "query" } } };
  const chunks = [];
  for await (const ch of await client.chat.completions.create({ ...body, stream: true })) chunks.push(ch);
  eq(chunks[0].choices[0].delta.role, "assistant", "the first chunk names the role");
  const last = chunks[chunks.length - 1];
  assert(["stop", "length"].includes(last.choices[0].finish_reason), "finish " + last.choices[0].finish_reason);
  const runs = last.choices[0].delta.tool_runs;
  assert(Array.isArray(runs) && runs.length >= 1, "runs in the last chunk");
  checkQuery(runs[0]);
  const text = chunks.map((c) => c.choices[0].delta.content || "").join("");
  const whole = await client.chat.completions.create(body);
  eq(text, whole.choices[0].message.content, "stream = non-stream");
  eq(runs.map((r) => r.arguments), whole.choices[0].message.tool_runs.map((r) => r.arguments), "the same runs");
});

await test("mcp: tools listed, a forced call runs on the MCP server, its output goes back", async () => {
  calls.length = 0;
  const r = await client.responses.create({ model: "", input: "Weather?", tools: [MCP({ allowed_tools: ["weather", "broken"] })],
                                            tool_choice: { type: "mcp", server_label: "weather_srv", name: "weather" }, seed: 5, max_output_tokens: 100 });
  eq(r.output[0].type, "mcp_list_tools", "the list first");
  eq(r.output[0].server_label, "weather_srv", "label");
  eq(r.output[0].tools.map((t) => t.name).sort(), ["broken", "weather"], "allowed_tools filters the list");
  eq(r.output[0].tools.find((t) => t.name === "weather").input_schema.properties.city.enum, ["Paris", "서울"], "schema listed");
  const call = r.output[1];
  eq([call.type, call.name, call.server_label, call.status], ["mcp_call", "weather", "weather_srv", "completed"], "the call");
  const city = JSON.parse(call.arguments).city;
  eq(calls, [["weather", city]], "the MCP server got exactly that call");
  eq(call.output, `${city}: ${WEATHER[city]}`, "the server's answer");
  eq(call.error, null, "no error");
  assert(r.output.length >= 3, "the model continued");
});

await test("mcp streamed: list and call events in order", async () => {
  const stream = await client.responses.create({ model: "", input: "Weather?", tools: [MCP()], stream: true,
                                                 tool_choice: { type: "function", name: "weather" }, seed: 6, max_output_tokens: 100 });
  const evs = [];
  for await (const e of stream) evs.push(e);
  evs.forEach((e, i) => eq(e.sequence_number, i, "sequence_number"));
  const t = evs.map((e) => e.type);
  eq(t.slice(0, 6), ["response.created", "response.in_progress", "response.output_item.added", "response.mcp_list_tools.in_progress",
                     "response.mcp_list_tools.completed", "response.output_item.done"], "the list");
  const i = t.indexOf("response.mcp_call_arguments.done");
  assert(i > 0 && t[i + 1] === "response.mcp_call.in_progress" && t[i + 2] === "response.mcp_call.completed" &&
         t[i + 3] === "response.output_item.done", "the call's events: " + t.slice(6, i + 4));
  const done = evs[i + 3].item;
  eq(done.output, `${JSON.parse(done.arguments).city}: ${WEATHER[JSON.parse(done.arguments).city]}`, "output");
  eq(evs.filter((e) => e.type === "response.mcp_call_arguments.delta").map((e) => e.delta).join(""), done.arguments, "deltas");
});

await test("mcp approval: the call waits for mcp_approval_response; approved it runs, declined it does not", async () => {
  calls.length = 0;
  const first = await client.responses.create({ model: "", input: "Weather?", tools: [MCP({ require_approval: "always" })],
                                                tool_choice: { type: "function", name: "weather" }, seed: 7, max_output_tokens: 100 });
  eq(first.output.map((o) => o.type), ["mcp_list_tools", "mcp_approval_request"], "asks, does not run");
  eq(calls.length, 0, "the server was not called");
  const req = first.output[1];
  assert(/^mcpr_/.test(req.id) && req.name === "weather" && req.server_label === "weather_srv", "the request");
  const again = (approve) => client.responses.create({ model: "", tools: [MCP({ require_approval: "always" })], seed: 7, max_output_tokens: 8,
    input: [{ role: "user", content: "Weather?" }, req, { type: "mcp_approval_response", approval_request_id: req.id, approve }] });
  const yes = await again(true);
  const run = yes.output.find((o) => o.type === "mcp_call");
  assert(run && run.approval_request_id === req.id && run.arguments === req.arguments, "ran the approved call");
  const city = JSON.parse(req.arguments).city;
  eq(run.output, `${city}: ${WEATHER[city]}`, "output");
  eq(calls, [["weather", city]], "called once");
  const no = await again(false);
  eq(no.output.filter((o) => o.type === "mcp_call").length, 0, "declined: no run");
  eq(calls.length, 1, "not called again");
  let err = null;
  try {
    await client.responses.create({ model: "", tools: [MCP()], input: [{ role: "user", content: "x" },
      { type: "mcp_approval_response", approval_request_id: "mcpr_nope", approve: true }] });
  } catch (e) { err = e; }
  assert(err && err.status === 400 && /approval request/.test(err.message), "an unknown approval request is a 400");
});

await test("mcp: a tool's own error is a failed mcp_call and the response still completes", async () => {
  const r = await client.responses.create({ model: "", input: "x", tools: [MCP()], tool_choice: { type: "function", name: "broken" },
                                            seed: 8, max_output_tokens: 100 });
  const call = r.output.find((o) => o.type === "mcp_call");
  eq([call.status, call.error], ["failed", "the tool broke"], "failed with the tool's text");
  assert(["completed", "incomplete"].includes(r.status), "status " + r.status);
});

await test("hostile MCP servers: a hang, garbage, a huge answer, a closed port are 424s that say why", async () => {
  // only the hang waits for its deadline; the others have time to spare on a busy machine
  const cases = [["/hang", /did not answer within 700 ms/, 700], ["/garbage", /not the JSON-RPC response/, 60000],
                 ["/huge", /larger than/, 60000]];
  for (const [path, re, timeout_ms] of cases) {
    let err = null;
    try {
      await client.responses.create({ model: "", input: "x", tools: [{ type: "mcp", server_label: "bad", server_url: badUrl + path, timeout_ms }] });
    } catch (e) { err = e; }
    assert(err && err.status === 424, `${path}: ${err && err.status} ${err && err.message}`);
    assert(re.test(err.message), `${path}: ${err.message}`);
  }
  const closed = http.createServer();
  const url = await listen(closed);
  await new Promise((r) => closed.close(r));
  let err = null;
  try { await client.responses.create({ model: "", input: "x", tools: [{ type: "mcp", server_label: "gone", server_url: url + "/mcp" }] }); }
  catch (e) { err = e; }
  assert(err && err.status === 424 && /cannot reach/.test(err.message), "closed port: " + (err && err.message));
});

await test("hostile MCP server: garbage for tools/call is a failed mcp_call, not a crash", async () => {
  const r = await client.responses.create({ model: "", input: "x", tools: [{ type: "mcp", server_label: "bad", server_url: badUrl + "/badcall",
                                            require_approval: "never", timeout_ms: 60000 }], tool_choice: { type: "function", name: "echo" }, seed: 9, max_output_tokens: 100 });
  const call = r.output.find((o) => o.type === "mcp_call");
  eq(call.status, "failed", "failed");
  assert(/not the JSON-RPC response|did not answer/.test(call.error), "error " + call.error);
});

await test("mcp over stdio (omni serve --mcp local=COMMAND): one process, started on first use, serves the calls", async () => {
  const ask = (seed) => client.responses.create({ model: "", input: "count", tools: [{ type: "mcp", server_label: "local", require_approval: "never" }],
                                                  tool_choice: { type: "function", name: "count" }, seed, max_output_tokens: 100 });
  const outs = [];
  for (const seed of [11, 12]) {
    const r = await ask(seed);
    eq(r.output[0].type, "mcp_list_tools", "listed");
    eq(r.output[0].tools.map((t) => t.name), ["count"], "its tool");
    const call = r.output.find((o) => o.type === "mcp_call");
    eq([call.server_label, call.status], ["local", "completed"], "ran: " + call.error);
    outs.push([JSON.parse(call.arguments).word, call.output]);
  }
  const m = outs.map(([w, o]) => o.match(/^(\S+) #(\d+) from (\d+)$/));
  assert(m[0] && m[1], "outputs " + JSON.stringify(outs));
  eq([m[0][1], m[1][1]], [outs[0][0], outs[1][0]], "the words the model chose");
  eq([m[0][2], m[1][2]], ["1", "2"], "the same process counts on");
  eq(m[0][3], m[1][3], "one pid");
  // the command ends (killed here): the next request starts it again
  const pid = +m[0][3];
  process.kill(pid, "SIGKILL");
  const dead = () => { try { return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8")); } catch { return true; } };
  while (!dead()) await new Promise((r) => setTimeout(r, 20));
  const r = await ask(13);
  const call = r.output.find((o) => o.type === "mcp_call");
  const again = call.output.match(/^(\S+) #(\d+) from (\d+)$/);
  assert(again && again[2] === "1" && +again[3] !== pid, "a new process: " + call.output);
  // requests side by side share the one process; its exchanges take turns
  const rs = await Promise.all([21, 22, 23].map(ask));
  const got = rs.map((x) => x.output.find((o) => o.type === "mcp_call").output.match(/^(\S+) #(\d+) from (\d+)$/));
  eq(got.map((g) => +g[2]).sort(), [2, 3, 4], "each call counted once");
  eq(new Set(got.map((g) => g[3])).size, 1, "one process");
});

await test("bad built-in tool requests are 400s in OpenAI's shape", async () => {
  const cases = [[[{ type: "data_analysis" }], "tools[0].tables"],
                 [[{ type: "data_analysis", tables: [{ name: "t", csv: "a,b\n1,2\n3\n" }] }], "tools[0].tables[0]"],
                 [[{ type: "data_analysis", tables: [{ name: "t", xlsx: Buffer.from("not a zip").toString("base64") }] }], "tools[0].tables[0]"],
                 [[{ type: "data_analysis", tables: [{ name: "t", csv: "a\n1\n", limits: 1 }], limits: { max_rows: 0 } }], "tools[0].limits"],
                 [[{ type: "mcp", server_url: mcpUrl }], "tools[0].server_label"],
                 [[{ type: "mcp", server_label: "x", server_url: "file:///etc/passwd" }], "tools[0].server_url"],
                 [[{ type: "mcp", server_label: "x" }], "tools[0].server_url"],
                 [[{ type: "mcp", server_label: "x", server_url: mcpUrl, require_approval: "sometimes" }], "tools[0].require_approval"],
                 [[DA, { type: "function", name: "query", parameters: { type: "object" } }], "tools[0]"]];
  for (const [tools, param] of cases) {
    let err = null;
    try { await client.responses.create({ model: "", input: "x", tools }); } catch (e) { err = e; }
    assert(err && err.status === 400, `${param}: ${err && err.status} ${err && err.message}`);
    eq(err.error.param, param, "param");
    eq(err.error.type, "invalid_request_error", "type");
  }
  const r = await fetch(srv.url + "/v1/responses", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ input: "x", tools: [DA], max_tool_calls: 0 }) });
  eq(r.status, 400, "max_tool_calls 0");
  for (const bad of [["--mcp", "nocommand"], ["--mcp", "a=x", "--mcp", "a=y"]]) {
    const p = spawnSync(BIN, ["serve", "--port", "0", ...bad], { encoding: "utf8", timeout: 60000 });
    assert(p.status !== 0 && /--mcp/.test(p.stderr), `${bad.join(" ")}: exit ${p.status} ${p.stderr}`);
  }
});

await test("the caller's own function next to built-ins: its call ends the loop, its output continues it", async () => {
  const fn = { type: "function", name: "lookup", parameters: { type: "object", properties: { k: { enum: ["a", "b"] } }, required: ["k"],
                                                                 additionalProperties: false } };
  const r = await client.responses.create({ model: "", input: "x", tools: [DA, fn], tool_choice: { type: "function", name: "lookup" },
                                            seed: 14, max_output_tokens: 100 });
  eq(r.output.map((o) => o.type), ["function_call"], "the call, for the caller to answer");
  const call = r.output[0];
  assert(["a", "b"].includes(JSON.parse(call.arguments).k), "arguments " + call.arguments);
  const next = await client.responses.create({ model: "", tools: [DA, fn], seed: 14, max_output_tokens: 8,
    input: [{ role: "user", content: "x" }, call, { type: "function_call_output", call_id: call.call_id, output: "42" }] });
  assert(next.output.length >= 1 && next.usage.input_tokens > r.usage.input_tokens, "continued with the output in the prompt");
});

await test("the loop stops at max_tool_calls: the last step may not call", async () => {
  const r = await client.responses.create({ model: "", input: "x", tools: [DA], tool_choice: "required", max_tool_calls: 1, seed: 10,
                                            max_output_tokens: 150 });
  eq(r.output.filter((o) => o.type === "data_analysis_call").length, 1, "one run");
  eq(r.output[r.output.length - 1].type, "message", "then an answer");
});

await test("accounts: every step of the loop is counted in the key's usage", async () => {
  const dir = fs.mkdtempSync("/tmp/omni-agent-tools-");
  const acc = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--db", `sqlite:${dir}/omni.db`],
                                { env: { OMNI_TEST_FAST_PWHASH: "1" } });
  try {
    const post = (p, body, h = {}) => fetch(acc.url + p, { method: "POST", headers: { "Content-Type": "application/json", Origin: acc.url, ...h },
                                                          body: JSON.stringify(body) });
    const su = await post("/api/auth/signup", { email: "root@example.com", password: "admin-pass-1", name: "Root" });
    eq(su.status, 201, "signup");
    const cookie = su.headers.get("set-cookie").match(/omni_session=[^;]*/)[0];
    const key = (await (await post("/api/keys", { name: "k" }, { Cookie: cookie })).json()).key;
    const sdk = new OpenAI({ baseURL: acc.url + "/v1", apiKey: key, maxRetries: 0 });
    const r = await sdk.responses.create({ model: "", input: "합계?", tools: [DA], tool_choice: { type: "function", name: "query" },
                                           seed: 1, max_output_tokens: 150 });
    assert(r.output.length >= 2, "a run and a second step");
    const u = await (await fetch(acc.url + "/api/usage", { headers: { Cookie: cookie, Origin: acc.url } })).json();
    eq([u.total.prompt_tokens, u.total.completion_tokens], [r.usage.input_tokens, r.usage.output_tokens], "the usage of all the steps");
    assert(u.total.requests >= 2, "one count per generation: " + u.total.requests);
  } finally {
    eq(await stopServer(acc), 0, "accounts server exit");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

eq(await stopServer(srv), 0, "server exit");
mcpHttp.close();
hostile.close();
for (const t of Object.values(transports)) t.close();
process.exit(summary());
