// Built-in tools in the chat: the menu that turns them on (calculator, current time, the
// MCP servers the admin configured; data analysis comes on with a CSV/TSV/XLSX attached),
// the tools a turn sends (/v1/chat/completions runs them server-side: GET /api/tools says
// which exist), and each run of an answer shown collapsed: "ran query…" with the SQL and
// its result table, a chart drawn from its Vega-Lite spec, a calculation, the time, an MCP
// call. Everything a run shows is text (textContent) or SVG built here: no model or user
// string becomes HTML.
import { t, addStrings } from "./i18n.js";

addStrings({
  en: {
    tools: "Tools", toolCalculator: "Calculator", toolTime: "Current time", toolData: "Data analysis (attach CSV or XLSX)",
    toolMcp: (l) => `MCP: ${l}`, noMcp: "No MCP servers configured",
    ranQuery: "ran query…", drewChart: "drew a chart…", calculated: "calculated…", checkedTime: "checked the time…",
    calledTool: (n, l) => `called ${n} on ${l}…`, runFailed: "failed", rows: (n) => `${n} rows`,
    tableAttached: (n) => `table “${n}” for data analysis`,
  },
  ko: {
    tools: "도구", toolCalculator: "계산기", toolTime: "현재 시각", toolData: "데이터 분석 (CSV·XLSX 첨부)",
    toolMcp: (l) => `MCP: ${l}`, noMcp: "설정된 MCP 서버 없음",
    ranQuery: "쿼리 실행…", drewChart: "차트 그림…", calculated: "계산함…", checkedTime: "시각 확인…",
    calledTool: (n, l) => `${l}의 ${n} 호출…`, runFailed: "실패", rows: (n) => `${n}행`,
    tableAttached: (n) => `데이터 분석용 표 “${n}”`,
  },
});

const KEY = "omni.tools";
let available = { builtin: [], mcp_servers: [] };
let enabled = {};
try { enabled = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch { enabled = {}; }
const tables = new Map();   // conversation id ("" before it exists) → [{name, filename, file_data}]

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
const save = () => { try { localStorage.setItem(KEY, JSON.stringify(enabled)); } catch {} };

// The composer's "Tools" button and its menu (after the attach button).
export async function initTools() {
  try {
    const r = await fetch("/api/tools", { credentials: "same-origin" });
    if (r.ok) available = await r.json();
  } catch {}
  const attach = document.getElementById("attach");
  if (!attach || document.getElementById("tools-btn")) return;
  const wrap = el("div", "tools-wrap");
  const btn = el("button", "icon tools-btn", "⚙︎");
  Object.assign(btn, { id: "tools-btn", type: "button", title: t("tools") });
  btn.setAttribute("aria-label", t("tools"));
  btn.setAttribute("aria-haspopup", "true");
  btn.setAttribute("aria-expanded", "false");
  const menu = el("div", "tools-menu");
  menu.id = "tools-menu";
  menu.hidden = true;
  menu.setAttribute("role", "menu");
  const item = (key, label, on) => {
    const lab = el("label", "tools-item");
    const box = el("input");
    Object.assign(box, { type: "checkbox", checked: !!on });
    box.dataset.tool = key;
    box.addEventListener("change", () => { enabled[key] = box.checked; save(); btn.classList.toggle("on", anyOn()); });
    lab.append(box, el("span", "", label));
    menu.append(lab);
  };
  const b = available.builtin || [];
  if (b.includes("calculator")) item("calculator", t("toolCalculator"), enabled.calculator);
  if (b.includes("current_time")) item("current_time", t("toolTime"), enabled.current_time);
  if (b.includes("data_analysis")) menu.append(el("div", "tools-note", t("toolData")));
  const servers = available.mcp_servers || [];
  for (const s of servers) item("mcp:" + s.label, t("toolMcp", s.label), enabled["mcp:" + s.label]);
  if (!servers.length) menu.append(el("div", "tools-note mcp-none", t("noMcp")));
  btn.addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    btn.setAttribute("aria-expanded", String(!menu.hidden));
  });
  document.addEventListener("click", (e) => { if (!wrap.contains(e.target)) { menu.hidden = true; btn.setAttribute("aria-expanded", "false"); } });
  btn.classList.toggle("on", anyOn());
  wrap.append(btn, menu);
  attach.after(wrap);
}
function anyOn() { return Object.values(enabled).some(Boolean); }

// A CSV, TSV or XLSX file is a table for the data analysis tool.
export const isTable = (f) => /\.(csv|tsv|xlsx)$/i.test(f.name);
export async function tableAttachment(f) {
  const url = await new Promise((res, rej) => { const rd = new FileReader(); rd.onload = () => res(rd.result); rd.onerror = () => rej(rd.error); rd.readAsDataURL(f); });
  const base = f.name.replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "") || "table";
  return { kind: "table", name: f.name, table: { name: base, filename: f.name, file_data: url }, ready: true };
}
// The question's line for an attached table (the model reads which table it is).
export function tableLine(a) { return `[${a.name}: ${t("tableAttached", a.table.name)}]`; }
// Tables sent with a question stay with its conversation for the later turns.
export function keepTables(convId, atts) {
  const list = tables.get(convId || "") || [];
  for (const a of atts) if (a.kind === "table" && !list.some((x) => x.name === a.table.name)) list.push(a.table);
  tables.set(convId || "", list);
}

// The tools a turn of conversation convId sends.
export function requestTools(convId) {
  if (tables.has("") && convId) { tables.set(convId, [...(tables.get(convId) || []), ...tables.get("")]); tables.delete(""); }
  const out = [];
  let zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch {}
  const b = available.builtin || [];
  if (enabled.calculator && b.includes("calculator")) out.push({ type: "calculator", timezone: zone });
  if (enabled.current_time && b.includes("current_time")) out.push({ type: "current_time", timezone: zone });
  for (const s of available.mcp_servers || []) if (enabled["mcp:" + s.label]) out.push({ type: "mcp", server_label: s.label, require_approval: "never" });
  const tb = tables.get(convId || "");
  if (tb && tb.length && b.includes("data_analysis")) out.push({ type: "data_analysis", tables: tb });
  return out;
}

// ---- runs ----

function summaryOf(run) {
  if (run.type === "data_analysis_call") return run.name === "chart" ? t("drewChart") : t("ranQuery");
  if (run.type === "calculator_call") return t("calculated");
  if (run.type === "current_time_call") return t("checkedTime");
  if (run.type === "mcp_call") return t("calledTool", run.name || "?", run.server_label || "?");
  return run.type || "?";
}

function tableEl(result) {
  const wrap = el("div", "run-table");
  const tb = el("table");
  const head = el("tr");
  for (const c of result.columns || []) head.append(el("th", "", String(c)));
  tb.append(head);
  for (const row of (result.rows || []).slice(0, 200)) {
    const tr = el("tr");
    for (const v of row) tr.append(el("td", "", v === null ? "NULL" : String(v)));
    tb.append(tr);
  }
  wrap.append(tb);
  const n = (result.rows || []).length;
  wrap.append(el("div", "run-meta", t("rows", n) + (result.truncated ? " …" : "")));
  return wrap;
}

// One run, collapsed: its summary line, then what it did and what came back.
function runEl(run) {
  const d = el("details", "tool-run");
  d.dataset.type = run.type || "";
  d.dataset.status = run.status || "";
  const s = el("summary", "", summaryOf(run));
  if (run.status === "failed") s.append(el("span", "run-failed", " · " + t("runFailed")));
  d.append(s);
  if (run.sql) d.append(el("pre", "run-sql", run.sql));
  if (run.expression) d.append(el("pre", "run-expr", run.expression));
  if (run.type === "mcp_call" && run.arguments) d.append(el("pre", "run-args", run.arguments));
  if (run.error) d.append(el("div", "run-error", run.error));
  else if (run.chart) d.append(chartEl(run.chart));
  else if (run.result && Array.isArray(run.result.columns)) d.append(tableEl(run.result));
  else if (run.result && run.result.result) d.append(el("div", "run-output", run.result.result));
  else if (run.result && run.result.datetime) d.append(el("div", "run-output", `${run.result.datetime} (${run.result.weekday}, ${run.result.timezone})`));
  else if (run.output) d.append(el("pre", "run-output", String(run.output).slice(0, 20000)));
  return d;
}

export function toolRunsEl(runs) {
  const box = el("div", "tool-runs");
  for (const r of runs || []) box.append(runEl(r));
  return box;
}

// ---- a Vega-Lite spec (the chart tool's: data.values, a mark, x/y or theta/color) as SVG ----

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
const COLORS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"];

export function chartEl(spec) {
  const W = 420, H = 240, L = 48, B = 36, T = spec.title ? 24 : 8, R = 12;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "run-chart" });
  const vals = (spec.data && Array.isArray(spec.data.values) ? spec.data.values : []).slice(0, 500);
  const mark = typeof spec.mark === "string" ? spec.mark : spec.mark && spec.mark.type;
  const enc = spec.encoding || {};
  svg.dataset.mark = mark || "";
  svg.setAttribute("aria-label", String(spec.title || mark || "chart"));
  if (spec.title) svg.append(s("text", { x: W / 2, y: 16, "text-anchor": "middle", class: "chart-title" }, String(spec.title)));
  if (mark === "arc") {
    const f = enc.theta && enc.theta.field, c = enc.color && enc.color.field;
    const nums = vals.map((v) => Math.max(0, Number(v[f]) || 0)), total = nums.reduce((a, b) => a + b, 0) || 1;
    let a0 = -Math.PI / 2;
    const cx = W / 2, cy = (H + T) / 2, r = Math.min(W, H - T) / 2 - 10;
    nums.forEach((n, i) => {
      const a1 = a0 + (n / total) * 2 * Math.PI, big = a1 - a0 > Math.PI ? 1 : 0;
      const p = `M${cx},${cy} L${cx + r * Math.cos(a0)},${cy + r * Math.sin(a0)} A${r},${r} 0 ${big} 1 ${cx + r * Math.cos(a1)},${cy + r * Math.sin(a1)} Z`;
      const path = s("path", { d: p, fill: COLORS[i % COLORS.length], class: "mark" });
      path.append(s("title", {}, `${vals[i][c]}: ${vals[i][f]}`));
      svg.append(path);
      a0 = a1;
    });
    return svg;
  }
  const xf = enc.x && enc.x.field, yf = enc.y && enc.y.field;
  const xq = enc.x && enc.x.type === "quantitative";
  const ys = vals.map((v) => Number(v[yf]) || 0);
  const ymax = Math.max(0, ...ys), ymin = Math.min(0, ...ys), span = ymax - ymin || 1;
  const pw = W - L - R, ph = H - T - B;
  const xs = xq ? vals.map((v) => Number(v[xf]) || 0) : null;
  const xmin = xq ? Math.min(...xs) : 0, xspan = xq ? (Math.max(...xs) - xmin || 1) : 1;
  const xAt = (i) => xq ? L + ((xs[i] - xmin) / xspan) * pw : L + (i + 0.5) * (pw / Math.max(1, vals.length));
  const yAt = (v) => T + ph - ((v - ymin) / span) * ph;
  svg.append(s("line", { x1: L, y1: T + ph, x2: L + pw, y2: T + ph, class: "axis" }), s("line", { x1: L, y1: T, x2: L, y2: T + ph, class: "axis" }));
  svg.append(s("text", { x: L - 4, y: T + 8, "text-anchor": "end", class: "tick" }, String(ymax)));
  svg.append(s("text", { x: L - 4, y: T + ph, "text-anchor": "end", class: "tick" }, String(ymin)));
  if (yf) svg.append(s("text", { x: 4, y: T + ph / 2, class: "axis-title" }, String(yf)));
  vals.forEach((v, i) => {
    const label = String(v[xf]);
    if (!xq && vals.length <= 24) svg.append(s("text", { x: xAt(i), y: T + ph + 14, "text-anchor": "middle", class: "tick" }, label.slice(0, 12)));
    let m;
    if (mark === "bar") {
      const bw = Math.max(2, (pw / Math.max(1, vals.length)) * 0.7);
      m = s("rect", { x: xAt(i) - bw / 2, y: Math.min(yAt(ys[i]), yAt(0)), width: bw, height: Math.abs(yAt(0) - yAt(ys[i])), fill: COLORS[0], class: "mark" });
    } else m = s("circle", { cx: xAt(i), cy: yAt(ys[i]), r: mark === "point" ? 4 : 2.5, fill: COLORS[0], class: "mark" });
    m.append(s("title", {}, `${label}: ${v[yf]}`));
    svg.append(m);
  });
  if ((mark === "line" || mark === "area") && vals.length) {
    const pts = vals.map((_, i) => `${xAt(i)},${yAt(ys[i])}`);
    if (mark === "area") svg.append(s("polygon", { points: `${xAt(0)},${yAt(0)} ${pts.join(" ")} ${xAt(vals.length - 1)},${yAt(0)}`, fill: COLORS[0], opacity: 0.3 }));
    svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[0], "stroke-width": 2 }));
  }
  if (xf) svg.append(s("text", { x: L + pw / 2, y: H - 4, "text-anchor": "middle", class: "axis-title" }, String(xf)));
  return svg;
}
