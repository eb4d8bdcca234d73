// omni's web app. It talks only to the documented HTTP API: /api/auth/*, /api/me,
// /api/conversations (the server keeps the history: the message tree, the branch shown,
// search), /v1/chat/completions with X-Omni-Conversation (streams and stores each turn),
// /v1/models, /v1/audio/*, /v1/realtime, /api/settings, /api/memories, /api/keys, feedback,
// share links and the admin routes. Anything it does, a script can do too.
import { renderMarkdown, escapeHtml, loadHeavy, onHeavyLoaded } from "./render.js";
import { t, LANG, setLang } from "./i18n.js";
import { initVoice } from "./voice.js";
import { initTools, isTable, tableAttachment, tableLine, keepTables, requestTools, toolRunsEl } from "./tools.js";
import { initGpts, citationsEl, assistantBar } from "./gpts.js";
import { showTrainer, workbenchNav, consentField } from "./trainer.js";
import { initFineTuning } from "./finetune.js";
import { moderationTab } from "./moderation.js";
import { initDocs, showDocs, attachDocument, docsTool } from "./docs.js";
import { whenNear, forgetAll } from "./lazy.js";

const $ = (id) => document.getElementById(id);
// A small element builder: h("button.copy", {onclick, "aria-label": …}, "text", child…)
function h(sel, attrs, ...kids) {
  const [tag, ...cls] = sel.split(".");
  const e = document.createElement(tag || "div");
  if (cls.length) e.className = cls.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (k === "html") e.innerHTML = v;      // only ever sanitized HTML (render.js)
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "value") e.value = v;
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}

// Icons: constant SVG markup (never data), so they draw without an emoji font.
const ICONS = {
  copy: '<rect x="9" y="9" width="11" height="11" rx="2"/><path d="M5 15V5a2 2 0 0 1 2-2h8"/>',
  speak: '<path d="M11 5 6 9H3v6h3l5 4z"/><path d="M15.5 8.5a5 5 0 0 1 0 7M18.5 5.5a9 9 0 0 1 0 13"/>',
  regen: '<path d="M20 12a8 8 0 1 1-2.3-5.7"/><path d="M20 4v5h-5"/>',
  up: '<path d="M7 11v9H4v-9zM7 11l4-8a2 2 0 0 1 2 2v4h6a2 2 0 0 1 2 2.3l-1.3 7A2 2 0 0 1 17.7 20H7"/>',
  down: '<path d="M7 13V4H4v9zM7 13l4 8a2 2 0 0 0 2-2v-4h6a2 2 0 0 0 2-2.3l-1.3-7A2 2 0 0 0 17.7 4H7"/>',
  edit: '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="m13.5 6.5 4 4"/>',
  info: '<circle cx="12" cy="12" r="9"/><path d="M12 11v6M12 7.5v.5"/>',
  trash: '<path d="M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13"/>',
};
function icon(name) {
  const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  s.setAttribute("viewBox", "0 0 24 24"); s.setAttribute("width", "16"); s.setAttribute("height", "16");
  s.setAttribute("fill", "none"); s.setAttribute("stroke", "currentColor"); s.setAttribute("stroke-width", "2");
  s.setAttribute("stroke-linecap", "round"); s.setAttribute("stroke-linejoin", "round"); s.setAttribute("aria-hidden", "true");
  s.innerHTML = ICONS[name];
  return s;
}

// ---- the API ----
class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.error && (body.error.message || body.error)) || `HTTP ${status}`);
    this.status = status; this.body = body; this.headers = headers;
    this.code = body && body.error && body.error.code;
  }
}
async function api(method, path, body) {
  const opt = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  let j = null;
  const text = await r.text();
  try { j = text ? JSON.parse(text) : null; } catch {}
  if (!r.ok) throw new ApiError(r.status, j, r.headers);
  return j;
}
const has = {};   // which optional backend features this server answers (settings, memory, …)

// ---- state ----
const S = {
  me: null, local: false, models: [], model: null, vision: false,
  convs: [], search: "", archived: false,
  conv: null, byId: new Map(),       // the conversation shown: its tree, messages by id
  busy: null,                         // the running turn: {controller}
  pending: [],                        // attachments for the next message: {kind, name, url|text, ready}
  settings: { theme: "system", language: LANG, default_model: null, voice: null, about_me: "", response_style: "",
              memory_enabled: true, think: true },
  stats: new Map(),                   // message id -> {tokens, secs, ttft} measured here while streaming
};
const LS = {
  get(k, d) { try { const v = localStorage.getItem("omni." + k); return v === null ? d : JSON.parse(v); } catch { return d; } },
  set(k, v) { try { localStorage.setItem("omni." + k, JSON.stringify(v)); } catch {} },
};

function toast(msg) {
  const el = $("toast");
  el.textContent = msg; el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 2500);
}
function fmtTime(ms) { return new Date(ms).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit" }); }

function translatePage() {
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  for (const e of document.querySelectorAll("[data-t-ph]")) e.placeholder = t(e.dataset.tPh);
  for (const e of document.querySelectorAll("[data-t-label]")) e.setAttribute("aria-label", t(e.dataset.tLabel));
  for (const e of document.querySelectorAll("[data-t-title]")) e.title = t(e.dataset.tTitle);
}
function applyTheme() {
  const th = S.settings.theme || "system";
  const dark = th === "dark" || (th === "system" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);

// ---- login ----
let signupMode = false;
function showLogin(msg) {
  $("app").hidden = true; $("shared-view").hidden = true; $("login-view").hidden = false;
  $("auth-error").textContent = msg || "";
  setAuthMode(signupMode);
  $("auth-email").focus();
}
function setAuthMode(signup) {
  signupMode = signup;
  $("auth-name-row").hidden = !signup;
  $("auth-title").textContent = t(signup ? "signup" : "login");
  $("auth-submit").textContent = t(signup ? "signup" : "login");
  $("auth-toggle").textContent = t(signup ? "haveAccount" : "noAccount");
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
}
$("auth-toggle").addEventListener("click", () => { setAuthMode(!signupMode); $("auth-error").textContent = ""; });
$("auth-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { email: $("auth-email").value.trim(), password: $("auth-password").value };
  if (signupMode) body.name = $("auth-name").value.trim() || body.email.split("@")[0];
  $("auth-submit").disabled = true;
  try {
    const r = await api("POST", signupMode ? "/api/auth/signup" : "/api/auth/login", body);
    if (r.user && r.user.status && r.user.status !== "active") { $("auth-error").textContent = t("pending"); return; }
    $("auth-password").value = "";
    await start();
  } catch (err) { $("auth-error").textContent = err.message; }
  finally { $("auth-submit").disabled = false; }
});

// ---- start ----
async function start() {
  // the first screen's requests all at once (each waits on a busy server)
  const early = { settings: api("GET", "/api/settings"), models: api("GET", "/v1/models"),
                  convs: api("GET", "/api/conversations?limit=200") };
  for (const p of Object.values(early)) p.catch(() => {});
  S.early = early;
  try { S.me = await api("GET", "/api/me"); }
  catch (e) {
    if (e.status === 401 || e.status === 403) return showLogin();
    $("login-view").hidden = false;
    $("auth-error").textContent = `${t("serverDown")}: ${e.message}`;
    return;
  }
  S.local = S.me.auth === "none";
  $("login-view").hidden = true; $("app").hidden = false;
  S.ft = S.ft || initFineTuning({ h, api, button: $("open-finetune") });   // the fine-tuning page (finetune.js)
  await loadSettings();
  renderMe();
  if (location.pathname === "/trainer") return showTrainer(S.me);
  await Promise.all([loadModels(), loadConvs(), initTools()]);
  const m = location.pathname.match(/^\/c\/([\w-]+)$/);
  if (m) await openConv(m[1], { replace: true }); else newChat({ replace: true });
  S.early = null;   // used once: later loads ask again
  window.__omniReady = performance.now();
  $("input").focus();
}

function renderMe() {
  const u = S.me.user || {};
  $("me-name").textContent = S.local ? "" : (u.name || u.email || "");
  $("me-tier").textContent = S.me.tier || "";
  $("logout").hidden = S.local;
  $("open-admin").hidden = S.me.role !== "admin" || S.local;
  workbenchNav(S.local ? null : S.me);
  renderUsage();
}

// The tier's message rule for the model in use, with what is left of it now.
function renderUsage() {
  const el = $("usage");
  const lim = (S.me && S.me.limits || []).find((x) => x.limit !== null && x.limit !== undefined);
  if (!lim || S.local) { el.textContent = S.me && S.me.tier && !S.local ? `${S.me.tier} · ${t("unlimited")}` : ""; return; }
  el.textContent = `${S.me.tier} · ${t("left", lim.remaining, lim.limit)}` + (lim.resets_at ? ` · ${t("resets", fmtTime(lim.resets_at))}` : "");
}
async function refreshMe() { try { S.me = await api("GET", "/api/me"); renderMe(); } catch {} }

async function loadSettings() {
  Object.assign(S.settings, LS.get("settings", {}));
  try {
    const s = await (S.early ? S.early.settings : api("GET", "/api/settings"));
    has.settings = true;
    for (const k of Object.keys(s)) if (s[k] !== null || !(k in S.settings)) S.settings[k] = s[k];
  } catch (e) { has.settings = false; }
  if (S.settings.language && S.settings.language !== LANG && !new URLSearchParams(location.search).get("lang")) setLang(S.settings.language);
  S.settings.language = LANG;
  applyTheme(); translatePage();
}
async function saveSetting(k, v) {
  S.settings[k] = v;
  LS.set("settings", S.settings);
  if (k === "theme") applyTheme();
  if (k === "language") { setLang(v); translatePage(); renderMe(); renderConvList(); renderConv(); }
  if (has.settings && k !== "think") {
    try { await api("PATCH", "/api/settings", { [k]: v }); } catch (e) { toast(e.message); }
  }
}

async function loadModels() {
  try {
    const j = await (S.early ? S.early.models : api("GET", "/v1/models"));
    S.models = (j.data || []).filter((m) => !m.meta || !m.meta.kind || m.meta.kind === "chat" || m.meta.kind === "llm");
    if (!S.models.length) S.models = j.data || [];
  } catch (e) { S.models = []; $("status").textContent = `${t("serverDown")}: ${e.message}`; }
  const sel = $("model-picker");
  sel.textContent = "";
  for (const m of S.models) sel.append(h("option", { value: m.id, text: m.id }));
  const want = S.settings.default_model;
  S.model = (S.models.find((m) => m.id === want) || S.models[0] || {}).id || null;
  if (S.model) sel.value = S.model;
  pickModel(S.model);
}
function pickModel(id) {
  S.model = id;
  const m = S.models.find((x) => x.id === id);
  S.vision = !!(m && m.meta && m.meta.vision);
  $("model-picker").value = id || "";
}
$("model-picker").addEventListener("change", (e) => pickModel(e.target.value));

// ---- the sidebar ----
async function loadConvs() {
  try {
    const q = S.search ? `?q=${encodeURIComponent(S.search)}&archived=all` : S.archived ? "?archived=1&limit=200" : "?limit=200";
    const early = !S.search && !S.archived && S.early && S.early.convs;
    S.convs = (await (early || api("GET", "/api/conversations" + q))).data || [];
  } catch (e) { if (e.status === 401) return showLogin(); S.convs = []; }
  renderConvList();
}
function dayGroup(ms) {
  const d0 = new Date(); d0.setHours(0, 0, 0, 0);
  const day = 86400000, t0 = d0.getTime();
  if (ms >= t0) return "today";
  if (ms >= t0 - day) return "yesterday";
  if (ms >= t0 - 7 * day) return "prev7";
  if (ms >= t0 - 30 * day) return "prev30";
  return "older";
}
function renderConvList() {
  const nav = $("conversations");
  nav.textContent = "";
  $("show-archived").textContent = t(S.archived ? "backToChats" : "showArchived");
  const groups = new Map();
  for (const c of S.convs) {
    const g = S.search ? "search" : S.archived ? "archived" : c.pinned ? "pinned" : dayGroup(c.updated);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(c);
  }
  const order = ["search", "archived", "pinned", "today", "yesterday", "prev7", "prev30", "older"];
  for (const g of order) {
    const list = groups.get(g);
    if (!list) continue;
    const sec = h("section.group", { dataset: { group: g } });
    if (g !== "search") sec.append(h("h3", { text: t(g) }));
    const ul = h("ul");
    for (const c of list) ul.append(convItem(c));
    sec.append(ul);
    nav.append(sec);
  }
}
function convItem(c) {
  const title = c.title || t("untitled");
  const li = h("li.conv", { dataset: { id: c.id }, class: "conv" + (S.conv && S.conv.id === c.id ? " active" : "") });
  const open = h("button.conv-open", { type: "button", onclick: () => { openConv(c.id); closeSidebar(); } },
    h("span.conv-title", { text: title }), c.snippet ? h("span.snippet", { text: c.snippet }) : null);
  if (S.conv && S.conv.id === c.id) open.setAttribute("aria-current", "page");
  const more = h("button.conv-more.icon", { type: "button", "aria-label": t("options", title), "aria-haspopup": "menu",
    onclick: (e) => { e.stopPropagation(); convMenu(li, c); } }, "⋯");
  li.append(open, more);
  return li;
}
function closeMenus() { for (const m of document.querySelectorAll(".menu")) m.remove(); }
document.addEventListener("click", (e) => { if (!e.target.closest(".menu")) closeMenus(); });
function convMenu(li, c) {
  closeMenus();
  const act = (cls, label, fn) => h("button." + cls, { type: "button", role: "menuitem", text: label,
    onclick: async (e) => { e.stopPropagation(); closeMenus(); try { await fn(); } catch (err) { toast(err.message); } } });
  const menu = h("div.menu", { role: "menu" },
    act("m-rename", t("rename"), () => renameConv(li, c)),
    act("m-pin", t(c.pinned ? "unpin" : "pin"), async () => { await api("PATCH", `/api/conversations/${c.id}`, { pinned: !c.pinned }); await loadConvs(); }),
    act("m-archive", t(c.archived ? "unarchive" : "archive"), async () => {
      await api("PATCH", `/api/conversations/${c.id}`, { archived: !c.archived });
      if (S.conv && S.conv.id === c.id && !c.archived) newChat();
      await loadConvs();
    }),
    act("m-share", t("share"), () => shareConv(c.id)),
    act("m-delete", t("del"), async () => {
      if (!confirm(t("confirmDelete", c.title || t("untitled")))) return;
      await api("DELETE", `/api/conversations/${c.id}`);
      if (S.conv && S.conv.id === c.id) newChat();
      await loadConvs();
    }));
  li.append(menu);
  menu.querySelector("button").focus();
}
function renameConv(li, c) {
  const input = h("input.rename-input", { value: c.title || "", "aria-label": t("rename") });
  const btn = li.querySelector(".conv-open");
  btn.replaceWith(input);
  input.focus(); input.select();
  let done = false;
  const finish = async (ok) => {
    if (done) return;
    done = true;
    const v = input.value.trim();
    if (ok && v && v !== c.title) {
      try { await api("PATCH", `/api/conversations/${c.id}`, { title: v }); } catch (e) { toast(e.message); }
    }
    await loadConvs();
  };
  input.addEventListener("keydown", (e) => {
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}
async function shareConv(id) {
  const r = await api("POST", `/api/conversations/${id}/share`);
  const url = new URL(r.url || `/shared/${r.token}`, location.origin).href;
  try { await navigator.clipboard.writeText(url); } catch {}
  document.body.dataset.shareUrl = url;
  toast(`${t("shareCopied")}: ${url}`);
}
let searchTimer = 0;
$("search").addEventListener("input", (e) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { S.search = e.target.value.trim(); loadConvs(); }, 200);
});
$("show-archived").addEventListener("click", () => { S.archived = !S.archived; loadConvs(); });

// ---- the conversation ----
function setUrl(path, replace) {
  if (location.pathname === path) return;
  if (replace) history.replaceState(null, "", path + location.search); else history.pushState(null, "", path + location.search);
}
window.addEventListener("popstate", () => {
  const m = location.pathname.match(/^\/c\/([\w-]+)$/);
  if (m) openConv(m[1], { replace: true }); else newChat({ replace: true });
});
function newChat({ replace, assistant = null } = {}) {
  if (S.busy) return;
  S.conv = null; S.byId = new Map();
  S.assistant = assistant; assistantBar(assistant, askStarter);
  setUrl("/", replace);
  renderConv(); renderConvList();
  $("input").focus();
}
function setTree(tree) {
  S.conv = tree;
  S.byId = new Map(tree.messages.map((m) => [m.id, m]));
}
async function openConv(id, { replace } = {}) {
  if (S.busy) return;
  try { setTree(await api("GET", `/api/conversations/${id}`)); }
  catch (e) { toast(e.message); return newChat({ replace: true }); }
  setUrl(`/c/${id}`, replace);
  S.assistant = S.conv.assistant_id ? { id: S.conv.assistant_id } : null; assistantBar(S.assistant, askStarter);
  if (S.conv.model && S.models.some((m) => m.id === S.conv.model)) pickModel(S.conv.model);
  const t0 = performance.now();
  renderConv();
  window.__omniRenderMs = performance.now() - t0;
  renderConvList();
}
async function reloadConv() { if (S.conv) setTree(await api("GET", `/api/conversations/${S.conv.id}`)); }
function pathMessages() { return S.conv ? (S.conv.path || []).map((id) => S.byId.get(id)).filter(Boolean) : []; }

// A stored user message is its text, or (with images) the content parts as JSON.
function parseContent(content) {
  if (typeof content === "string" && content.startsWith("[{")) {
    try {
      const parts = JSON.parse(content);
      if (Array.isArray(parts) && parts.every((p) => p && typeof p.type === "string")) {
        return { text: parts.filter((p) => p.type === "text").map((p) => p.text).join("\n"),
                 images: parts.filter((p) => p.type === "image_url").map((p) => p.image_url && p.image_url.url).filter(Boolean),
                 parts };
      }
    } catch {}
  }
  return { text: String(content ?? ""), images: [], parts: null };
}

// A long conversation renders its last WINDOW messages, and STEP more each time the
// reader scrolls up to the top (or presses "earlier messages"): opening one of 500 costs
// what opening one of 60 does, and a small step keeps each scrolling frame short. Only the
// last LIVE messages get their Markdown (and their buttons) at once; the others when they come near the
// viewport (lazy.js), and offscreen messages are neither laid out nor painted
// (content-visibility: auto in style.css).
const WINDOW = 60, STEP = 20, LIVE = 10;
let shownFrom = 0, shownMsgs = [];
const earlier = h("button.load-earlier.link", { type: "button", onclick: () => showEarlier() });
const earlierSeen = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) showEarlier(); }, { root: $("messages") });
earlierSeen.observe(earlier);
function renderConv() {
  const box = $("messages");
  for (const e of [...box.querySelectorAll(".msg")]) e.remove();
  forgetAll();
  shownMsgs = pathMessages().filter((m) => m.role === "user" || m.role === "assistant");
  $("empty").hidden = shownMsgs.length > 0;
  shownFrom = Math.max(0, shownMsgs.length - WINDOW);
  const frag = document.createDocumentFragment();
  shownMsgs.slice(shownFrom).forEach((m, i, all) => frag.append(messageEl(m, { lazy: i < all.length - LIVE })));
  box.append(frag);
  placeEarlier();
  box.scrollTop = box.scrollHeight;
  showDocs(S.conv && S.conv.id);
}
function placeEarlier() {
  const box = $("messages");
  earlier.textContent = t("earlier", shownFrom);
  if (shownFrom > 0) box.insertBefore(earlier, box.querySelector(".msg")); else earlier.remove();
}
function showEarlier() {
  if (shownFrom <= 0 || !earlier.isConnected) return;
  const box = $("messages"), first = box.querySelector(".msg");
  const from = Math.max(0, shownFrom - STEP);
  const frag = document.createDocumentFragment();
  for (const m of shownMsgs.slice(from, shownFrom)) frag.append(messageEl(m, { lazy: true }));
  const h0 = box.scrollHeight, top0 = box.scrollTop;
  box.insertBefore(frag, first);
  shownFrom = from;
  placeEarlier();
  box.scrollTop = top0 + (box.scrollHeight - h0);   // the reader stays where they were
}
// math or code met for the first time: the renderers have loaded, render what is shown again
const rawOf = new WeakMap();   // a rendered answer's .content -> its Markdown
onHeavyLoaded(() => {
  for (const c of document.querySelectorAll(".msg.assistant .content")) {
    if (rawOf.has(c) && !c.closest(".streaming")) c.innerHTML = renderMarkdown(rawOf.get(c));
  }
  document.body.dataset.heavy = "1";
});

function thinkingEl(el, streaming) {
  let d = el.querySelector("details.thinking");
  if (!d) {
    d = h("details.thinking", {}, h("summary"), h("div.thinking-text"));
    el.insertBefore(d, el.querySelector(".content"));
  }
  d.querySelector("summary").textContent = streaming ? t("thinking") : t("thought");
  return d;
}

function messageEl(m, { streaming = false, lazy = false } = {}) {
  const el = h("article.msg", { class: `msg ${m.role}`, dataset: { id: m.id || "" }, "aria-label": m.role === "user" ? t("you") : (m.model || "omni") });
  el.append(h("div.role", { text: m.role === "user" ? t("you") : (m.model || S.model || "omni") }));
  const { text, images } = m.role === "user" ? parseContent(m.content) : { text: m.content || "", images: [] };
  for (const src of images) el.append(h("img.thumb", { src, alt: "attached image" }));
  const content = h("div.content");
  const md = () => { content.innerHTML = renderMarkdown(text); rawOf.set(content, text); delete content.dataset.raw; };
  const actions = !streaming && m.id;
  if (m.role === "user") content.textContent = text;
  else if (lazy && text) { content.textContent = text; content.dataset.raw = "1"; }   // as text until near
  else md();
  // a message far from the viewport gets its Markdown and its buttons when it comes near (lazy.js)
  if (lazy && (content.dataset.raw || actions)) whenNear(el, () => { if (content.dataset.raw) md(); if (actions) el.append(actionsEl(m)); }, $("messages"));
  el.append(content);
  const seen = m.id && S.stats.get(m.id);   // the note of earlier turns left out stays after the answer is stored
  if (seen && seen.leftOut > 0) content.before(h("div.note", { text: t("left_out", seen.leftOut) }));
  if (m.tool_runs && m.tool_runs.length) content.before(toolRunsEl(m.tool_runs));
  const th = m.reasoning;   // a thinking model's thoughts, stored by the server with the answer
  if (th) thinkingEl(el, false).querySelector(".thinking-text").textContent = th;
  if (m.citations && m.citations.length) el.append(citationsEl(m.citations));   // stored with the answer
  if (actions && !lazy) el.append(actionsEl(m));
  return el;
}

function actionsEl(m) {
  const bar = h("div.actions");
  if (m.sibling_count > 1) {
    bar.append(h("div.branch-nav", {},
      h("button.branch-prev.icon", { type: "button", "aria-label": t("prevBranch"), disabled: m.sibling_index <= 1, onclick: () => switchBranch(m, -1) }, "‹"),
      h("span.branch-pos", { text: `${m.sibling_index}/${m.sibling_count}` }),
      h("button.branch-next.icon", { type: "button", "aria-label": t("nextBranch"), disabled: m.sibling_index >= m.sibling_count, onclick: () => switchBranch(m, 1) }, "›")));
  }
  const text = m.role === "user" ? parseContent(m.content).text : m.content;
  bar.append(h("button.copy.icon", { type: "button", "aria-label": t("copy"), title: t("copy"), onclick: (e) => copyText(text, e.currentTarget) }, icon("copy")));
  if (m.role === "user") {
    bar.append(h("button.edit.icon", { type: "button", "aria-label": t("edit"), title: t("edit"), onclick: (e) => editMessage(m, e.currentTarget.closest(".msg")) }, icon("edit")));
  } else {
    bar.append(h("button.speak.icon", { type: "button", "aria-label": t("readAloud"), title: t("readAloud"), onclick: (e) => readAloud(text, e.currentTarget) }, icon("speak")));
    bar.append(h("button.regen.icon", { type: "button", "aria-label": t("regenerate"), title: t("regenerate"), onclick: () => regenerate(m) }, icon("regen")));
    bar.append(h("button.fb-up.icon", { type: "button", "aria-label": t("good"), title: t("good"), onclick: (e) => feedback(m, "up", e.currentTarget) }, icon("up")));
    bar.append(h("button.fb-down.icon", { type: "button", "aria-label": t("bad"), title: t("bad"), onclick: (e) => feedback(m, "down", e.currentTarget) }, icon("down")));
    const u = m.usage || {}, st = S.stats.get(m.id);
    const parts = [m.model, u.completion_tokens ? t("tokens", u.completion_tokens) : null,
      u.prompt_tokens ? `prompt ${u.prompt_tokens}` + (u.cached_tokens ? ` (${u.cached_tokens} cached)` : "") : null,
      st && st.secs > 0 ? t("speed", (st.tokens / st.secs).toFixed(1)) : null,
      st && st.ttft ? `first token ${(st.ttft * 1000).toFixed(0)} ms` : null].filter(Boolean);
    bar.append(h("span.meta", { tabindex: "0", title: parts.join(" · "), "aria-label": parts.join(" · ") }, icon("info")));
  }
  return bar;
}
async function copyText(text, btn) {
  try { await navigator.clipboard.writeText(text); } catch {}
  document.body.dataset.copied = text;
  if (btn) { btn.classList.add("done"); setTimeout(() => btn.classList.remove("done"), 1200); }
  toast(t("copied"));
}
// The deepest message under id, following the newest child at each step.
function deepestLeaf(id) {
  let at = S.byId.get(id);
  for (let guard = 0; at && at.children && at.children.length && guard < 100000; guard++) {
    const kids = at.children.map((k) => S.byId.get(k)).filter(Boolean);
    if (!kids.length) break;
    at = kids.reduce((a, b) => (b.created >= a.created ? b : a));
  }
  return at ? at.id : id;
}
function siblings(m) { return S.conv.messages.filter((x) => (x.parent_id || null) === (m.parent_id || null)); }
async function switchBranch(m, dir) {
  if (S.busy) return;
  const sib = siblings(m)[m.sibling_index - 1 + dir];
  if (!sib) return;
  try {
    await api("PATCH", `/api/conversations/${S.conv.id}`, { current_leaf: deepestLeaf(sib.id) });
    await reloadConv();
  } catch (e) { toast(e.message); }
  renderConv();
}

// History up to (and with) message id, as the API takes it.
function historyTo(id) {
  const out = [];
  for (const pid of S.conv ? S.conv.path : []) {
    const m = S.byId.get(pid);
    if (!m) break;
    if (id === null) break;
    out.push(m);
    if (pid === id) return out;
  }
  // id is not on the path shown: walk up from it
  const chain = [];
  for (let at = id && S.byId.get(id); at; at = at.parent_id ? S.byId.get(at.parent_id) : null) chain.unshift(at);
  return chain;
}
function apiMessage(m) {
  if (m.role === "user") { const p = parseContent(m.content); return { role: "user", content: p.parts || p.text }; }
  return { role: m.role, content: m.content };
}

function editMessage(m, el) {
  if (S.busy) return;
  const old = parseContent(m.content);
  const ta = h("textarea.edit-box", { "aria-label": t("edit"), value: old.text, rows: 3 });
  const form = h("div.edit-form", {}, ta, h("div.row", {},
    h("button.edit-save.primary", { type: "button", text: t("save"), onclick: () => {
      const v = ta.value.trim();
      if (!v) return;
      const content = old.images.length ? [...old.parts.filter((p) => p.type !== "text"), { type: "text", text: v }] : v;
      turn({ parentId: m.parent_id || "", content, shownText: v, images: old.images });
    } }),
    h("button.edit-cancel", { type: "button", text: t("cancel"), onclick: () => renderConv() })));
  el.querySelector(".content").replaceWith(form);
  el.querySelector(".actions")?.remove();
  ta.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); form.querySelector(".edit-save").click(); }
    if (e.key === "Escape") renderConv();
  });
  ta.focus();
}
function regenerate(a) {
  if (S.busy) return;
  const u = S.byId.get(a.parent_id);
  if (!u) return;
  const p = parseContent(u.content);
  turn({ parentId: u.id, content: p.parts || p.text, regenerate: true, shownText: p.text, images: p.images });
}

// The system prompt: the custom instructions (when the server does not add them itself).
function systemPrompt() {
  if (has.settings) return null;   // the server puts custom instructions and memories in
  const s = S.settings, parts = [];
  if (s.about_me) parts.push("About the user: " + s.about_me);
  if (s.response_style) parts.push("How to respond: " + s.response_style);
  return parts.length ? parts.join("\n\n") : null;
}

function setBusy(b) {
  $("send").hidden = !!b; $("stop").hidden = !b;
  $("status").textContent = b ? "…" : "";
  document.body.classList.toggle("busy", !!b);
}

// The conversation shown, made on the server now when this is a new chat.
async function ensureConv() {
  if (!S.conv) {
    setTree({ ...(await api("POST", "/api/conversations", { model: S.model })), messages: [], path: [] });
    setUrl(`/c/${S.conv.id}`);
  }
  return S.conv;
}

// One turn: the question (new, edited or asked again) streamed into the conversation.
// parentId: where the question goes ("" = the root); regenerate: parentId is the question.
async function turn({ parentId, content, regenerate = false, shownText, images = [] }) {
  if (S.busy || !S.model) return;
  $("banner").hidden = true;
  try { await ensureConv(); }
  catch (e) { if (e.status === 401) return showLogin(); toast(e.message); return; }
  const conv = S.conv;
  const hist = regenerate ? historyTo(parentId).slice(0, -1) : parentId ? historyTo(parentId) : [];
  // show the history, the question and the answer growing
  const box = $("messages");
  for (const e of [...box.querySelectorAll(".msg")]) e.remove();
  forgetAll();
  $("empty").hidden = true;
  const frag = document.createDocumentFragment();
  hist.forEach((m, i) => { if (m.role === "user" || m.role === "assistant") frag.append(messageEl(m, { lazy: i < hist.length - LIVE })); });
  box.append(frag);
  const q = regenerate ? S.byId.get(parentId) : null;
  box.append(q ? messageEl(q, { streaming: true }) : messageEl({ role: "user", content: images.length ? JSON.stringify(content) : shownText }, { streaming: true }));
  const el = messageEl({ role: "assistant", content: "", model: S.model }, { streaming: true });
  el.classList.add("streaming");
  box.append(el);
  box.scrollTop = box.scrollHeight;
  const contentEl = el.querySelector(".content");

  const messages = [];
  const sys = systemPrompt();
  if (sys) messages.push({ role: "system", content: sys });
  for (const m of hist) messages.push(apiMessage(m));
  messages.push({ role: "user", content });
  const body = { model: S.model, messages, stream: true, stream_options: { include_usage: true }, parent_id: parentId };
  if (!S.settings.think) Object.assign(body, { chat_template_kwargs: { enable_thinking: false }, reasoning_effort: "low" });
  const tools = requestTools(conv.id);
  if (tools.length) body.tools = tools;
  if (S.assistant) body.assistant = S.assistant.id;   // a custom assistant (gpts.js): its instructions, knowledge, citations
  let cites = null;

  const controller = new AbortController();
  S.busy = { controller };
  setBusy(true);
  const docs = await docsTool(conv.id);   // the conversation's documents (docs.js): searched for this question
  if (docs) body.tools = [...(body.tools || []), docs];
  let reply = "", reasoning = "", usage = null, userMsgId = null, aborted = false, failed = null, memoryUpdated = false, leftOut = 0;
  const t0 = performance.now();
  let tFirst = 0, scheduled = false;
  const paint = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (reasoning) thinkingEl(el, !reply).querySelector(".thinking-text").textContent = reasoning;
      contentEl.innerHTML = renderMarkdown(reply);
      if (box.scrollHeight - box.scrollTop - box.clientHeight < 200) box.scrollTop = box.scrollHeight;
    });
  };
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", credentials: "same-origin", signal: controller.signal,
      headers: { "Content-Type": "application/json", "X-Omni-Conversation": conv.id }, body: JSON.stringify(body),
    });
    if (!r.ok) {
      let j = null;
      try { j = await r.json(); } catch {}
      throw new ApiError(r.status, j, r.headers);
    }
    userMsgId = r.headers.get("X-Omni-User-Message");
    if (r.headers.get("X-Omni-Memory-Updated")) memoryUpdated = true;
    const cut = leftOut = parseInt(r.headers.get("X-Omni-Truncated") || "0", 10);
    if (cut > 0) el.insertBefore(h("div.note", { text: t("left_out", cut) }), contentEl);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        for (const line of ev.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          let j;
          try { j = JSON.parse(data); } catch { continue; }
          if (j.error) throw new Error(j.error.message || String(j.error));
          if (j.object === "omni.memory.updated") { memoryUpdated = true; continue; }
          if (j.usage) usage = j.usage;
          const d = j.choices && j.choices[0] && j.choices[0].delta;
          if (!d) continue;
          if (d.citations) { cites = d.citations; el.append(citationsEl(cites)); }
          if (d.reasoning_content) { reasoning += d.reasoning_content; if (!tFirst) tFirst = performance.now(); paint(); }
          if (d.content) { reply += d.content; if (!tFirst) tFirst = performance.now(); paint(); }
          if (d.tool_runs && d.tool_runs.length) contentEl.before(toolRunsEl(d.tool_runs));
        }
      }
    }
  } catch (e) {
    if (e.name === "AbortError") aborted = true;
    else failed = e;
  }
  const tEnd = performance.now();
  // a stopped answer is not stored by the server (it was not finished): store what came
  if (aborted && reply && userMsgId) {
    try { await api("POST", `/api/conversations/${conv.id}/messages`, { role: "assistant", content: reply, parent_id: userMsgId, reasoning: reasoning || undefined, citations: cites || undefined }); } catch {}
  }
  const before = new Set(S.byId.keys());
  try { if (S.conv && S.conv.id === conv.id) await reloadConv(); } catch {}
  S.busy = null;
  setBusy(false);
  if (S.conv && S.conv.id === conv.id) {
    const leaf = S.conv.current_leaf && S.byId.get(S.conv.current_leaf);
    const stored = leaf && leaf.role === "assistant" && !before.has(leaf.id);
    if (stored && !failed) {
      const tokens = (usage && usage.completion_tokens) || leaf.usage?.completion_tokens || 0;
      S.stats.set(leaf.id, { tokens, secs: tFirst ? (tEnd - tFirst) / 1000 : 0, ttft: tFirst ? (tFirst - t0) / 1000 : 0, leftOut });
    }
    // the server's copy when it has the turn; else (not stored: an error, or a reply
    // that did not come from this server) what streamed stays on the page
    if (stored || (failed && !reply)) renderConv();
    else {
      el.classList.remove("streaming");
      if (!failed) { contentEl.innerHTML = renderMarkdown(reply); rawOf.set(contentEl, reply); }
      if (reasoning) thinkingEl(el, false).querySelector(".thinking-text").textContent = reasoning;
    }
    if (failed) showFailure(failed);
  }
  if (memoryUpdated) toast(t("memoryUpdated"));
  await Promise.all([loadConvs(), refreshMe()]);
  document.body.dataset.turns = String(+(document.body.dataset.turns || 0) + 1);   // tests wait on it
  $("input").focus();
}

function showFailure(e) {
  const box = $("messages");
  box.append(h("div.msg.error", { role: "alert" }, h("div.role", { text: t("error") }), h("div.content", { text: e.message })));
  box.scrollTop = box.scrollHeight;
  if (e.status === 429) {
    const b = e.body || {};
    const resets = b.resets_at || (b.error && b.error.resets_at);
    const fb = b.fallback_model || (b.error && b.error.fallback_model);
    const ra = e.headers && parseInt(e.headers.get("Retry-After") || "0", 10);
    const at = resets || (ra ? Date.now() + ra * 1000 : 0);
    const banner = $("banner");
    banner.textContent = "";
    banner.append(h("span", { text: t("limitReached", at ? fmtTime(at) : "") }));
    if (fb && fb !== S.model && S.models.some((m) => m.id === fb)) {
      banner.append(h("button.use-fallback", { type: "button", text: t("useModel", fb), onclick: () => { pickModel(fb); banner.hidden = true; $("input").focus(); } }));
    }
    banner.hidden = false;
  }
}

async function readAloud(text, btn) {
  btn.disabled = true;
  try {
    const r = await fetch("/v1/audio/speech", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "tts-1", input: text.slice(0, 4000), voice: S.settings.voice || undefined, response_format: "mp3" }) });
    if (!r.ok) { let j = null; try { j = await r.json(); } catch {} throw new ApiError(r.status, j, r.headers); }
    const blob = await r.blob();
    document.body.dataset.spokenBytes = String(blob.size);
    const audio = new Audio(URL.createObjectURL(blob));
    audio.play().catch(() => {});
  } catch (e) { toast(e.message); }
  finally { btn.disabled = false; }
}

function feedback(m, rating, btn) {
  const bar = btn.closest(".actions");
  bar.querySelector(".fb-form")?.remove();
  const post = async (reasons, comment) => {
    await api("POST", `/api/conversations/${S.conv.id}/messages/${m.id}/feedback`, { rating, reasons, comment });
    bar.querySelectorAll(".fb-up, .fb-down").forEach((b) => b.classList.remove("chosen"));
    btn.classList.add("chosen");
    toast(t("fbThanks"));
  };
  const reasons = h("fieldset.fb-reasons", {}, h("legend", { text: t("fbReason") }),
    ...t("fbReasons").map((r) => h("label", {}, h("input", { type: "checkbox", value: r }), " " + r)));
  const comment = h("textarea.fb-comment", { rows: 2, "aria-label": t("fbComment"), placeholder: t("fbComment") });
  const form = h("form.fb-form", { onsubmit: async (e) => {
    e.preventDefault();
    try { await post([...reasons.querySelectorAll("input:checked")].map((i) => i.value), comment.value.trim()); form.remove(); }
    catch (err) { toast(err.message); }
  } }, rating === "down" ? reasons : null, comment,
  h("div.row", {}, h("button.fb-send.primary", { type: "submit", text: t("fbSend") }), h("button", { type: "button", text: t("cancel"), onclick: () => form.remove() })));
  bar.append(form);
  comment.focus();
}

// ---- attachments: images (vision models), audio (transcribed), text files (inline), documents (docs.js) ----
const TEXT_EXT = /\.(txt|md|markdown|csv|tsv|json|jsonl|xml|html?|css|js|mjs|ts|py|c|h|cc|cpp|hpp|rs|go|java|rb|sh|ya?ml|toml|ini|log|sql|tex)$/i;
function renderPending() {
  const box = $("attachments");
  box.textContent = "";
  box.hidden = S.pending.length === 0;
  S.pending.forEach((a, i) => {
    box.append(h("span.pending", { dataset: { kind: a.kind, ready: a.ready ? "1" : "0" } },
      a.kind === "image" ? h("img.thumb", { src: a.url, alt: a.name }) : h("span.chip", { text: (a.kind === "audio" ? "♪ " : "") + a.name +
        (a.ready ? (a.pages ? " · " + t("pages", a.pages) : "") : " · " + t(a.kind === "doc" ? "reading" : "transcribing")) }),
      a.error ? h("span.error-text", { text: a.error }) : null,
      h("button.remove.icon", { type: "button", "aria-label": `${t("del")} ${a.name}`, onclick: () => { S.pending.splice(i, 1); renderPending(); } }, "×")));
  });
}
const DOC_EXT = /\.(pdf|docx|hwpx)$/i;
function readAs(f, how) {
  return new Promise((res, rej) => { const rd = new FileReader(); rd.onload = () => res(rd.result); rd.onerror = () => rej(rd.error); rd[how](f); });
}
async function addFiles(files) {
  for (const f of files) {
    if (isTable(f)) S.pending.push(await tableAttachment(f));
    else if (f.type.startsWith("image/")) {
      if (!S.vision) { toast(t("noImages")); continue; }
      S.pending.push({ kind: "image", name: f.name, url: await readAs(f, "readAsDataURL"), ready: true });
    } else if (f.type.startsWith("audio/") || /\.(wav|mp3|ogg|opus|flac|m4a|webm)$/i.test(f.name)) {
      const a = { kind: "audio", name: f.name, text: "", ready: false };
      S.pending.push(a);
      renderPending();
      const fd = new FormData();
      fd.append("file", f, f.name);
      fd.append("model", "whisper-1");
      try {
        const r = await fetch("/v1/audio/transcriptions", { method: "POST", credentials: "same-origin", body: fd });
        const j = await r.json().catch(() => null);
        if (!r.ok) throw new ApiError(r.status, j, r.headers);
        a.text = j.text || "";
      } catch (e) { a.error = e.message; }
      a.ready = true;
    } else if (f.type === "application/pdf" || DOC_EXT.test(f.name)) {
      // a document: the conversation's, searched at each turn (docs.js)
      const a = { kind: "doc", name: f.name, ready: false };
      S.pending.push(a);
      renderPending();
      if (await attachDocument(f, a)) S.pending.splice(S.pending.indexOf(a), 1);
      a.ready = true;
    } else if (f.type.startsWith("text/") || f.type === "application/json" || TEXT_EXT.test(f.name)) {
      S.pending.push({ kind: "text", name: f.name, text: (await readAs(f, "readAsText")).slice(0, 200000), ready: true });
    } else toast(`${f.name}: ?`);
    renderPending();
  }
}
$("attach").addEventListener("click", () => $("file").click());
$("file").addEventListener("change", async () => { await addFiles([...$("file").files]); $("file").value = ""; });
$("input").addEventListener("paste", (e) => {
  const files = [...(e.clipboardData ? e.clipboardData.files : [])];
  if (files.length) { e.preventDefault(); addFiles(files); }
});
$("main").addEventListener("dragover", (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) { e.preventDefault(); $("main").classList.add("dropping"); } });
$("main").addEventListener("dragleave", (e) => { if (e.target === $("main")) $("main").classList.remove("dropping"); });
$("main").addEventListener("drop", (e) => {
  $("main").classList.remove("dropping");
  if (e.dataTransfer && e.dataTransfer.files.length) { e.preventDefault(); addFiles([...e.dataTransfer.files]); }
});

// ---- the composer ----
function sendFromComposer() {
  const text = $("input").value.trim();
  if (S.busy || S.pending.some((a) => !a.ready)) return;
  const att = S.pending.filter((a) => !a.error);
  if (!text && !att.length) return;
  let full = text;
  for (const a of att) {
    if (a.kind === "audio") full += `\n\n[${a.name}]\n${a.text}`;
    if (a.kind === "text") full += `\n\n[${a.name}]\n\`\`\`\n${a.text}\n\`\`\``;
    if (a.kind === "table") full += `\n\n${tableLine(a)}`;
  }
  keepTables(S.conv && S.conv.id, att);
  full = full.trim();
  const images = att.filter((a) => a.kind === "image").map((a) => a.url);
  const content = images.length ? [...images.map((url) => ({ type: "image_url", image_url: { url } })), ...(full ? [{ type: "text", text: full }] : [])] : full;
  S.pending = [];
  renderPending();
  $("input").value = "";
  autosize();
  turn({ parentId: S.conv && S.conv.current_leaf ? S.conv.current_leaf : "", content, shownText: full, images });
}
$("composer").addEventListener("submit", (e) => { e.preventDefault(); sendFromComposer(); });
// Korean (and every other) IME: the Enter that commits a composed syllable must not send.
let composing = false;
$("input").addEventListener("compositionstart", () => { composing = true; });
$("input").addEventListener("compositionend", () => { composing = false; });
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !composing && e.keyCode !== 229) {
    e.preventDefault();
    sendFromComposer();
  }
});
function autosize() { const ta = $("input"); ta.style.height = "auto"; ta.style.height = Math.min(ta.scrollHeight, 200) + "px"; }
$("input").addEventListener("input", autosize);
$("stop").addEventListener("click", () => { if (S.busy) S.busy.controller.abort(); });
$("new-chat").addEventListener("click", () => { newChat(); closeSidebar(); });
$("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/auth/logout"); } catch {}
  S.me = null; S.conv = null; setUrl("/", true);
  showLogin();
});
// copy buttons inside rendered code blocks
$("messages").addEventListener("click", (e) => {
  const b = e.target.closest(".copy-code");
  if (b) copyText(b.closest(".code").querySelector("code").textContent, b);
});

// phone: the sidebar slides over the chat
function closeSidebar() { document.body.classList.remove("sidebar-open"); $("scrim").hidden = true; }
$("menu").addEventListener("click", () => {
  const open = !document.body.classList.contains("sidebar-open");
  document.body.classList.toggle("sidebar-open", open);
  $("scrim").hidden = !open;
  if (open) $("new-chat").focus();
});
$("scrim").addEventListener("click", closeSidebar);

// shortcuts: Ctrl/Cmd+Shift+O new chat, Ctrl/Cmd+K search, Esc stop
document.addEventListener("keydown", (e) => {
  const mod = e.ctrlKey || e.metaKey;
  if (mod && e.shiftKey && (e.key === "O" || e.key === "o")) { e.preventDefault(); newChat(); }
  else if (mod && !e.shiftKey && (e.key === "k" || e.key === "K")) {
    e.preventDefault();
    document.body.classList.add("sidebar-open");
    $("search").focus();
  } else if (e.key === "Escape" && S.busy) { e.preventDefault(); S.busy.controller.abort(); }
  else if (e.key === "Escape" && document.body.classList.contains("sidebar-open")) closeSidebar();
});

// ---- dialogs: settings, memory, admin ----
function dialog(title, tabs, initial) {
  const d = $("dialog");
  $("dialog-title").textContent = title;
  const tl = $("dialog-tabs");
  tl.textContent = "";
  const show = async (name) => {
    for (const b of tl.children) b.setAttribute("aria-selected", b.dataset.tab === name ? "true" : "false");
    const body = $("dialog-body");
    body.textContent = "";
    body.dataset.tab = name;
    try { await tabs[name](body); } catch (e) { body.append(h("p.error-text", { text: e.message })); }
  };
  const names = Object.keys(tabs);
  tl.hidden = names.length < 2;
  for (const n of names) tl.append(h("button.tab", { type: "button", role: "tab", dataset: { tab: n }, text: t(n), onclick: () => show(n) }));
  if (!d.open) d.showModal();
  return show(initial || names[0]);
}
$("dialog-close").addEventListener("click", () => $("dialog").close());
$("dialog").addEventListener("close", () => { $("input").focus(); });

function field(label, input) { return h("label.field", {}, h("span", { text: label }), input); }
function select(id, options, value, onchange) {
  const s = h("select", { id, onchange: (e) => onchange(e.target.value) });
  for (const [v, l] of options) s.append(h("option", { value: v, text: l }));
  s.value = value ?? "";
  return s;
}
const settingsTabs = {
  general: async (body) => {
    let voices = [];
    try { const j = await api("GET", "/v1/audio/voices"); voices = (j.voices || j.data || []).map((v) => v.id || v.name || v); } catch {}
    body.append(
      field(t("theme"), select("set-theme", [["system", t("system")], ["light", t("light")], ["dark", t("dark")]], S.settings.theme, (v) => saveSetting("theme", v))),
      field(t("language"), select("set-language", [["en", "English"], ["ko", "한국어"]], LANG, async (v) => { await saveSetting("language", v); dialog(t("settings"), settingsTabs, "general"); })),
      field(t("defaultModel"), select("set-model", S.models.map((m) => [m.id, m.id]), S.settings.default_model || S.model, (v) => { saveSetting("default_model", v); pickModel(v); })),
      voices.length ? field(t("voice"), select("set-voice", [["", "—"], ...voices.map((v) => [v, v])], S.settings.voice || "", (v) => saveSetting("voice", v || null))) : null,
      h("label.check", {}, h("input", { id: "think", type: "checkbox", checked: S.settings.think !== false, onchange: (e) => saveSetting("think", e.target.checked) }), h("span", { id: "think-label", text: " " + t("think") })),
      has.settings && !S.local ? consentField(S.settings.improve_model, (v) => saveSetting("improve_model", v)) : null,
      h("p.hint", { text: t("shortcuts") }));
  },
  personalization: async (body) => {
    const about = h("textarea", { id: "set-about", rows: 4, maxlength: 1500, value: S.settings.about_me || "" });
    const style = h("textarea", { id: "set-style", rows: 4, maxlength: 1500, value: S.settings.response_style || "" });
    about.addEventListener("change", () => saveSetting("about_me", about.value));
    style.addEventListener("change", () => saveSetting("response_style", style.value));
    body.append(field(t("aboutMe"), about), field(t("responseStyle"), style),
      h("button.primary", { type: "button", id: "set-save", text: t("save").split(" ")[0], onclick: async () => {
        await saveSetting("about_me", about.value); await saveSetting("response_style", style.value); toast("✓");
      } }));
  },
  apiKeys: async (body) => {
    const list = h("ul.keys");
    const refresh = async () => {
      const keys = (await api("GET", "/api/keys")).data || [];
      list.textContent = "";
      for (const k of keys) {
        list.append(h("li.key", { dataset: { id: k.id } }, h("span", { text: `${k.name || "key"} · ${k.masked || k.prefix || ""}` }),
          k.revoked ? h("span.badge", { text: t("revoked") }) :
            h("button.key-revoke", { type: "button", text: t("revoke"), onclick: async () => { await api("DELETE", `/api/keys/${k.id}`); refresh(); } })));
      }
    };
    const name = h("input", { id: "key-name", "aria-label": t("keyName"), placeholder: t("keyName") });
    const shown = h("div.key-once");
    body.append(h("div.row", {}, name, h("button.primary", { type: "button", id: "key-create", text: t("createKey"), onclick: async () => {
      const r = await api("POST", "/api/keys", { name: name.value.trim() || "key" });
      shown.textContent = "";
      shown.append(h("p", { text: t("keyOnce") }), h("code.key-secret", { text: r.key }),
        h("button.key-copy", { type: "button", text: t("copy"), onclick: (e) => copyText(r.key, e.currentTarget) }));
      name.value = "";
      refresh();
    } })), shown, list);
    await refresh();
  },
  account: async (body) => {
    body.append(h("p", { text: `${S.me.user?.email || ""} · ${S.me.role || ""} · ${S.me.tier || ""}` }),
      h("a.button", { id: "export", href: "/api/export", download: "omni-export.json", text: t("exportData") }),
      S.local ? null : h("button.danger", { type: "button", id: "delete-account", text: t("deleteAccount"), onclick: async () => {
        if (!confirm(t("confirmDeleteAccount"))) return;
        await api("DELETE", "/api/me");
        $("dialog").close();
        showLogin();
      } }));
  },
};
$("open-settings").addEventListener("click", () => dialog(t("settings"), settingsTabs));

const memoryTabs = {
  memory: async (body) => {
    if (has.settings) {
      body.append(h("label.check", {}, h("input", { id: "memory-on", type: "checkbox", checked: S.settings.memory_enabled !== false,
        onchange: (e) => saveSetting("memory_enabled", e.target.checked) }), " " + t("memoryOn")));
    }
    const list = h("ul.memories");
    const refresh = async () => {
      const ms = (await api("GET", "/api/memories")).data || [];
      list.textContent = "";
      if (!ms.length) list.append(h("li.none", { text: t("memoryEmpty") }));
      for (const m of ms) {
        const ta = h("input.memory-text", { value: m.content, "aria-label": t("memory") });
        ta.addEventListener("change", async () => { await api("PATCH", `/api/memories/${m.id}`, { content: ta.value }); toast("✓"); });
        list.append(h("li.memory", { dataset: { id: m.id } }, ta,
          h("button.memory-delete.icon", { type: "button", "aria-label": `${t("del")}: ${m.content}`, onclick: async () => { await api("DELETE", `/api/memories/${m.id}`); refresh(); } }, icon("trash"))));
      }
    };
    const add = h("input", { id: "memory-new", placeholder: t("memoryAdd"), "aria-label": t("memoryAdd") });
    body.append(h("div.row", {}, add, h("button.primary", { type: "button", id: "memory-add", text: "+", "aria-label": t("memoryAdd"), onclick: async () => {
      if (!add.value.trim()) return;
      await api("POST", "/api/memories", { content: add.value.trim() }); add.value = ""; refresh();
    } }), h("button.danger", { type: "button", id: "memory-clear", text: t("deleteAll"), onclick: async () => { await api("DELETE", "/api/memories"); refresh(); } })), list);
    await refresh();
  },
};
$("open-memory").addEventListener("click", () => dialog(t("memory"), memoryTabs));

// A tier: any name of the server's --tiers file (the list offers the ones seen so far).
function tierInput(value, tiers, onchange) {
  let dl = $("tier-names");
  if (!dl) { dl = h("datalist", { id: "tier-names" }); document.body.append(dl); }
  dl.textContent = "";
  for (const x of tiers) dl.append(h("option", { value: x }));
  const i = h("input.tier", { list: "tier-names", value, "aria-label": t("tier"), size: 8 });
  i.addEventListener("change", () => { if (i.value.trim()) onchange(i.value.trim()); });
  i.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); i.blur(); } });
  return i;
}
const adminTabs = {
  users: async (body) => {
    const users = (await api("GET", "/api/admin/users")).data || [];
    const tiers = [...new Set(["free", "plus", ...users.map((u) => u.tier)])];
    const table = h("table.admin-users", {}, h("tr", {}, h("th", { text: t("email") }), h("th", { text: t("role") }), h("th", { text: t("tier") }), h("th", { text: "status" })));
    for (const u of users) {
      const patch = (k) => async (v) => { try { await api("PATCH", `/api/admin/users/${u.id}`, { [k]: v }); toast("✓"); } catch (e) { toast(e.message); } };
      table.append(h("tr", { dataset: { id: u.id, email: u.email } }, h("td", { text: u.email }),
        h("td", {}, select(null, [["user", "user"], ["trainer", "trainer"], ["admin", "admin"], ...(!["user", "trainer", "admin"].includes(u.role) ? [[u.role, u.role]] : [])], u.role, patch("role"))),
        h("td", {}, tierInput(u.tier, tiers, patch("tier"))),
        h("td", { text: u.status || "" })));
    }
    body.append(table);
  },
  usage: async (body) => {
    const u = await api("GET", "/api/usage?all=1");
    const table = h("table.admin-usage", {}, h("tr", {}, ...["day", "user", "model", "requests", "prompt", "completion"].map((x) => h("th", { text: x }))));
    for (const r of u.data || []) table.append(h("tr", {}, ...[r.day, r.user_id, r.model, r.requests, r.prompt_tokens, r.completion_tokens].map((x) => h("td", { text: String(x ?? "") }))));
    body.append(table);
  },
  loadedModels: async (body) => {
    const p = await api("GET", "/v1/ps");
    const table = h("table.admin-models", {}, h("tr", {}, ...["id", "kind", "state", "MiB", "active"].map((x) => h("th", { text: x }))));
    for (const m of p.data || []) table.append(h("tr", {}, ...[m.id, m.kind, m.state, (m.memory / 1048576).toFixed(0), m.active].map((x) => h("td", { text: String(x ?? "") }))));
    body.append(table);
  },
  moderation: (body) => moderationTab(body, { api, h, toast }),
};
$("open-admin").addEventListener("click", () => dialog(t("admin"), adminTabs));

// ---- custom assistants (gpts.js): the store, the builder, chats with one and their sources ----
function askStarter(text) { $("input").value = text; $("composer").requestSubmit(); }
initDocs({ api, h, toast, ensureConv });
initGpts({ api, h, toast, me: () => S.me, useAssistant: (a, starter) => { newChat({ assistant: a }); if (starter) askStarter(starter); } });

// ---- voice mode: the spoken turns go into the conversation shown ----
let voiceChain = Promise.resolve();
initVoice({
  model: () => S.model,
  onTurn: (userText, botText) => {
    voiceChain = voiceChain.then(async () => {
      if (!userText && !botText) return;
      if (!S.conv) {
        setTree({ ...(await api("POST", "/api/conversations", { model: S.model, title: userText.slice(0, 80) || t("voiceMode") })), messages: [], path: [] });
        setUrl(`/c/${S.conv.id}`);
      }
      const u = await api("POST", `/api/conversations/${S.conv.id}/messages`, { role: "user", content: userText || "…", parent_id: S.conv.current_leaf || "" });
      S.conv.current_leaf = u.id;
      if (botText) {
        const a = await api("POST", `/api/conversations/${S.conv.id}/messages`, { role: "assistant", content: botText, parent_id: u.id });
        S.conv.current_leaf = a.id;
      }
      document.body.dataset.voiceTurns = String(+(document.body.dataset.voiceTurns || 0) + 1);
    }).catch((e) => toast(e.message));
  },
  onStop: () => voiceChain.then(async () => { if (S.conv) { await reloadConv(); renderConv(); loadConvs(); } }),
});

// ---- a shared conversation, read-only, without login ----
async function showShared(token) {
  $("app").hidden = true; $("login-view").hidden = true; $("shared-view").hidden = false;
  translatePage();
  try {
    const r = await api("GET", `/api/shared/${encodeURIComponent(token)}`);
    $("shared-title").textContent = r.title || "";
    document.title = `${r.title || ""} · omni`;
    const box = $("shared-messages");
    for (const m of r.messages || []) {
      if (m.role !== "user" && m.role !== "assistant") continue;
      const el = messageEl({ ...m, id: null });   // no id: no actions, read-only
      el.dataset.id = m.id;
      box.append(el);
    }
  } catch (e) { $("shared-title").textContent = e.status === 404 ? t("shareNotFound") : e.message; }
  window.__omniReady = performance.now();
}

translatePage();
applyTheme();
const shared = location.pathname.match(/^\/shared\/([\w-]+)$/);
if (shared) showShared(shared[1]); else start();
window.omni = { renderMarkdown, escapeHtml, loadHeavy, state: S };
