// The trainers' workbench (/trainer) and the admin's pages for their work: task sets,
// agreement between trainers, the model leaderboard, throughput and exports. It talks
// only to /api/trainer/… and /api/admin/… (src/api/routes_trainer.c). Keyboard-driven:
// number keys rate (the criterion marked, then the next one) or toggle tags, a / b / t / x
// choose in a comparison, s skips, Enter submits (Ctrl+Enter inside the rewrite box).
// Every text from a model or a user goes through render.js's sanitizer or textContent.
import { renderMarkdown } from "./render.js";
import { t, addStrings } from "./i18n.js";

addStrings({ en: {
  workbench: "Workbench", tbTasks: "Tasks", tbSets: "Task sets", tbAgreement: "Agreement", tbLeaderboard: "Leaderboard",
  tbThroughput: "Throughput", tbExports: "Exports", tbBack: "Back to chats", tbAnySet: "Any task set", tbStart: "Start",
  tbNoTasks: "No task is waiting for you. Thank you!", tbGuidelines: "Guidelines", tbTimer: "Time on this task",
  tbAnswer: "Answer", tbAnswerA: "Answer A", tbAnswerB: "Answer B", tbSubmit: "Submit (Enter)", tbSkip: "Skip (s)",
  tbABetter: "A is better (a)", tbBBetter: "B is better (b)", tbTie: "Tie (t)", tbBothBad: "Both bad (x)",
  tbRewrite: "Rewrite the answer into the ideal one (Ctrl+Enter submits)", tbTags: "Problems (number keys)", tbTagsClick: "Problems",
  tbComment: "Comment (optional)", tbKeys: "Keys: 1-7 rate · a/b/t/x choose · s skip · Enter submit",
  tbCriteria: { helpful: "Helpful", correct: "Correct", harmless: "Harmless", follows_instructions: "Follows instructions",
    korean_naturalness: "Korean naturalness" },
  tbTagNames: { factual_error: "Factual error", unsafe: "Unsafe", refusal: "Needless refusal", off_topic: "Off topic",
    unnatural_korean: "Unnatural Korean", incomplete: "Incomplete", formatting: "Formatting", pii: "Personal data" },
  tbNeedScores: "Rate every criterion first (1-7).", tbNeedChoice: "Choose a, b, t or x first.", tbNeedRewrite: "Write the ideal answer first.",
  tbSaved: "Saved", tbName: "Name", tbKind: "Kind", tbKinds: { rating: "Rubric rating", compare: "Side by side", rewrite: "Rewrite", tags: "Problem tags" },
  tbPerItem: "Trainers per item", tbSource: "Items from", tbFromFeedback: "Consented feedback", tbFromConvs: "Consented conversations", tbFromPrompts: "Prompts (one per line)",
  tbOnlyDown: "Only thumbs-down", tbModelA: "Model A", tbModelB: "Model B (compare)", tbTopic: "Topic tag", tbCreate: "Create task set",
  tbItems: "Items", tbJudgments: "Judgments", tbActive: "Active", tbSet: "Task set", tbPairs: "Trainer pairs",
  tbPercent: "Agreement %", tbKappa: "Cohen's kappa", tbOverall: "Overall", tbModel: "Model", tbScore: "Score",
  tbInterval: "95% interval", tbRecord: "Won / lost / tied", tbGames: "Votes", tbAll: "All topics",
  tbTrainer: "Trainer", tbDone: "Done", tbSkipped: "Skipped", tbMean: "Mean time", tbPerHour: "Per hour",
  tbFormat: "Format", tbFrom: "From", tbTo: "To", tbAssistant: "Assistant", tbTag: "Tag", tbMinRating: "Min rating (SFT)",
  tbDownload: "Download JSONL", tbLines: (n) => (n === 1 ? "1 line" : `${n} lines`), tbConsent: "Let my conversations be used to improve the model",
  tbConsentDefault: "Server default for users who have not chosen: their conversations may be used to improve the model",
}, ko: {
  workbench: "작업대", tbTasks: "작업", tbSets: "작업 묶음", tbAgreement: "평가자 일치도", tbLeaderboard: "모델 순위",
  tbThroughput: "처리량", tbExports: "내보내기", tbBack: "채팅으로 돌아가기", tbAnySet: "모든 작업 묶음", tbStart: "시작",
  tbNoTasks: "기다리는 작업이 없습니다. 감사합니다!", tbGuidelines: "지침", tbTimer: "이 작업에 쓴 시간",
  tbAnswer: "답변", tbAnswerA: "답변 A", tbAnswerB: "답변 B", tbSubmit: "제출 (Enter)", tbSkip: "건너뛰기 (s)",
  tbABetter: "A가 낫다 (a)", tbBBetter: "B가 낫다 (b)", tbTie: "비슷하다 (t)", tbBothBad: "둘 다 나쁘다 (x)",
  tbRewrite: "답변을 이상적인 답변으로 고쳐 쓰세요 (Ctrl+Enter로 제출)", tbTags: "문제점 (숫자 키)", tbTagsClick: "문제점",
  tbComment: "의견 (선택)", tbKeys: "키: 1-7 평가 · a/b/t/x 선택 · s 건너뛰기 · Enter 제출",
  tbCriteria: { helpful: "도움이 됨", correct: "정확함", harmless: "무해함", follows_instructions: "지시를 따름",
    korean_naturalness: "한국어 자연스러움" },
  tbTagNames: { factual_error: "사실 오류", unsafe: "안전하지 않음", refusal: "불필요한 거절", off_topic: "주제에서 벗어남",
    unnatural_korean: "어색한 한국어", incomplete: "불완전함", formatting: "형식 문제", pii: "개인정보" },
  tbNeedScores: "먼저 모든 기준을 평가하세요 (1-7).", tbNeedChoice: "먼저 a, b, t, x 중 하나를 고르세요.", tbNeedRewrite: "먼저 이상적인 답변을 쓰세요.",
  tbSaved: "저장했습니다", tbName: "이름", tbKind: "종류", tbKinds: { rating: "기준별 평가", compare: "나란히 비교", rewrite: "고쳐 쓰기", tags: "문제점 태그" },
  tbPerItem: "항목당 평가자 수", tbSource: "항목 출처", tbFromFeedback: "동의한 피드백", tbFromConvs: "동의한 대화", tbFromPrompts: "프롬프트 (한 줄에 하나)",
  tbOnlyDown: "싫어요만", tbModelA: "모델 A", tbModelB: "모델 B (비교)", tbTopic: "주제 태그", tbCreate: "작업 묶음 만들기",
  tbItems: "항목", tbJudgments: "평가", tbActive: "활성", tbSet: "작업 묶음", tbPairs: "평가자 쌍",
  tbPercent: "일치율 %", tbKappa: "코헨 카파", tbOverall: "전체", tbModel: "모델", tbScore: "점수",
  tbInterval: "95% 구간", tbRecord: "승 / 패 / 무", tbGames: "표", tbAll: "모든 주제",
  tbTrainer: "평가자", tbDone: "완료", tbSkipped: "건너뜀", tbMean: "평균 시간", tbPerHour: "시간당",
  tbFormat: "형식", tbFrom: "시작일", tbTo: "종료일", tbAssistant: "어시스턴트", tbTag: "태그", tbMinRating: "최소 점수 (SFT)",
  tbDownload: "JSONL 내려받기", tbLines: (n) => `${n}줄`, tbConsent: "내 대화를 모델 개선에 사용하도록 허용",
  tbConsentDefault: "선택하지 않은 사용자의 서버 기본값: 대화를 모델 개선에 사용할 수 있음",
} });

const CRITERIA = ["helpful", "correct", "harmless", "follows_instructions", "korean_naturalness"];
const TAGS = ["factual_error", "unsafe", "refusal", "off_topic", "unnatural_korean", "incomplete", "formatting", "pii"];
const CHOICE_KEYS = { a: "a", b: "b", t: "tie", x: "both_bad" };

const CSS = `
#trainer-view { max-width: 1100px; margin: 0 auto; padding: 12px 18px 40px; }
#trainer-view header { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; border-bottom: 1px solid var(--border); padding-bottom: 8px; }
#trainer-view header .brand { margin-right: 12px; }
#trainer-view .tb-tab[aria-selected="true"] { background: var(--accent); color: var(--accent-fg); }
#trainer-view .tb-back { margin-left: auto; }
.tb-bar { display: flex; gap: 10px; align-items: center; margin: 12px 0; flex-wrap: wrap; }
.tb-timer { font-variant-numeric: tabular-nums; font-size: 20px; font-weight: 600; }
.tb-guide { background: var(--bg2); border-radius: 10px; padding: 8px 14px; margin: 8px 0; }
.tb-conv .tb-msg { border-left: 3px solid var(--bg3); padding: 2px 12px; margin: 6px 0; }
.tb-conv .tb-msg.user { border-color: var(--accent); }
.tb-answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.tb-answer { border: 1px solid var(--border); border-radius: 10px; padding: 6px 14px; }
.tb-crit { display: flex; align-items: center; gap: 6px; margin: 4px 0; padding: 2px 6px; border-radius: 8px; }
.tb-crit.current { background: var(--bg3); }
.tb-crit span.tb-crit-name { width: 190px; }
.tb-crit button[aria-pressed="true"], .tb-choices button[aria-pressed="true"], .tb-tag[aria-pressed="true"] { background: var(--accent); color: var(--accent-fg); }
.tb-choices, .tb-tags { display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0; }
.tb-rewrite { width: 100%; min-height: 160px; }
#trainer-view table { border-collapse: collapse; margin: 8px 0 16px; }
#trainer-view th, #trainer-view td { border-bottom: 1px solid var(--border); padding: 4px 10px; text-align: left; }
.tb-form { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 4px 14px; margin: 10px 0; }
.tb-form textarea { min-height: 80px; }
`;

// ---- small helpers (the page keeps to itself) ----
function h(sel, attrs, ...kids) {   // sel: "tag.class.class#id" (any order after the tag)
  const id = (sel.match(/#([\w-]+)/) || [])[1];
  const [tag, ...cls] = sel.replace(/#[\w-]+/, "").split(".");
  const e = document.createElement(tag || "div");
  if (cls.length) e.className = cls.join(" ");
  if (id) e.id = id;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (k === "md") e.innerHTML = renderMarkdown(String(v));   // sanitized by render.js
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "value") e.value = v;
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}
async function api(method, path, body) {
  const opt = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch {}
  if (!r.ok) { const e = new Error((j && j.error && j.error.message) || `HTTP ${r.status}`); e.status = r.status; e.code = j && j.error && j.error.code; throw e; }
  return j;
}
const fmtMs = (ms) => { const s = Math.floor(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
const num = (v, d = 2) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));
function table(cls, head, rows) {
  return h(`table.${cls}`, {}, h("tr", {}, ...head.map((x) => h("th", { text: x }))),
    ...rows.map((r) => h("tr", {}, ...r.map((x) => h("td", { text: String(x ?? "") })))));
}
function field(label, input) { return h("label.field", {}, h("span", { text: label }), input); }
function say(el, msg) { el.textContent = msg; el.hidden = !msg; }

// ---- for main.js: the nav entry and the consent setting ----
export function workbenchNav(me) {
  if (!me || !["trainer", "admin"].includes(me.role) || document.getElementById("open-workbench")) return;
  const row = document.querySelector("#sidebar .side-bottom .row");
  if (row) row.prepend(h("button", { id: "open-workbench", type: "button", text: t("workbench"), onclick: () => { location.href = "/trainer"; } }));
}
export function consentField(checked, onchange) {
  return h("label.check", {}, h("input", { id: "improve-model", type: "checkbox", checked: !!checked, onchange: (e) => onchange(e.target.checked) }),
    h("span", { text: " " + t("tbConsent") }));
}

// ---- the view ----
const V = { me: null, task: null, shownAt: 0, timer: null, scores: {}, crit: 0, choice: null, tags: new Set(), busy: false };

export async function showTrainer(me) {
  V.me = me;
  document.getElementById("app").hidden = true;
  document.head.append(h("style", { text: CSS }));
  const admin = me.role === "admin";
  const tabs = { tbTasks: tasksTab, ...(admin ? { tbSets: setsTab, tbAgreement: agreementTab, tbLeaderboard: leaderboardTab, tbThroughput: throughputTab, tbExports: exportsTab } : {}) };
  const body = h("section#tb-body");
  const nav = h("header", {}, h("span.brand", { text: "omni" }), h("strong", { text: t("workbench") }),
    ...Object.keys(tabs).map((k) => h("button.tb-tab", { type: "button", dataset: { tab: k }, text: t(k), onclick: () => open(k) })),
    h("a.button.tb-back", { href: "/", text: t("tbBack") }));
  const view = h("div#trainer-view", {}, nav, body);
  document.body.append(view);
  async function open(k) {
    for (const b of nav.querySelectorAll(".tb-tab")) b.setAttribute("aria-selected", b.dataset.tab === k ? "true" : "false");
    clearInterval(V.timer);
    V.task = null;
    body.textContent = "";
    body.dataset.tab = k;
    try { await tabs[k](body); } catch (e) { body.append(h("p.error-text", { text: e.message })); }
    view.dataset.ready = k;
  }
  if (!["trainer", "admin"].includes(me.role)) { body.append(h("p.error-text", { text: "403" })); window.__omniReady = performance.now(); return; }
  document.addEventListener("keydown", onKey);
  await open(new URLSearchParams(location.search).get("tab") || "tbTasks");
  window.__omniTrainerReady = performance.now();
}

// ---- tasks: the queue ----
async function tasksTab(body) {
  const sets = (await api("GET", "/api/trainer/sets")).data || [];
  const pick = h("select#tb-set", { "aria-label": t("tbSet") }, h("option", { value: "", text: t("tbAnySet") }),
    ...sets.map((s) => h("option", { value: s.id, text: `${s.name} · ${t("tbKinds")[s.kind] || s.kind}` })));
  const card = h("div#tb-task");
  const status = h("p#tb-status", { hidden: true });
  body.append(h("div.tb-bar", {}, pick, h("button.primary#tb-start", { type: "button", text: t("tbStart"), onclick: () => next(card, status, pick.value) }),
    h("span.hint", { text: t("tbKeys") })), status, card);
  await next(card, status, pick.value);
}

async function next(card, status, setId) {
  clearInterval(V.timer);
  card.textContent = "";
  say(status, "");
  V.task = null;
  let task;
  try { task = await api("GET", "/api/trainer/next" + (setId ? `?set=${encodeURIComponent(setId)}` : "")); }
  catch (e) {
    say(status, e.code === "no_tasks" ? t("tbNoTasks") : e.message);
    card.dataset.state = "empty";
    return;
  }
  Object.assign(V, { task, card, status, setId, scores: {}, crit: 0, choice: null, tags: new Set(), shownAt: performance.now() });
  const timer = h("span.tb-timer#tb-timer", { "aria-label": t("tbTimer"), text: "0:00" });
  V.timer = setInterval(() => { timer.textContent = fmtMs(performance.now() - V.shownAt); }, 250);
  const conv = h("div.tb-conv", {}, ...(task.messages || []).map((m) => h(`div.tb-msg.${m.role === "user" ? "user" : "other"}`, {},
    h("small", { text: m.role }), h("div.md", { md: m.content || "" }))));
  const answers = h("div.tb-answers", {}, h("div.tb-answer#tb-answer-a", {}, h("h4", { text: task.kind === "compare" ? t("tbAnswerA") : t("tbAnswer") }), h("div.md", { md: task.answer_a || "" })),
    task.kind === "compare" ? h("div.tb-answer#tb-answer-b", {}, h("h4", { text: t("tbAnswerB") }), h("div.md", { md: task.answer_b || "" })) : null);
  card.dataset.state = "task";
  card.dataset.kind = task.kind;
  card.dataset.item = task.item_id;
  card.dataset.order = task.order || "";   // a side by side may show the stored B first (the server maps back)
  card.append(...[h("div.tb-bar", {}, h("strong", { text: `${task.set_name} · ${t("tbKinds")[task.kind] || task.kind}` }), task.topic ? h("span.badge", { text: task.topic }) : null, timer),
    task.guidelines ? h("details.tb-guide", { open: true }, h("summary", { text: t("tbGuidelines") }), h("div.md", { md: task.guidelines })) : null,
    conv, answers, controls(task),
    h("div.tb-bar", {}, h("button.primary#tb-submit", { type: "button", text: t("tbSubmit"), onclick: submit }),
      h("button#tb-skip", { type: "button", text: t("tbSkip"), onclick: skip }))].filter(Boolean));
}

function controls(task) {
  const box = h("div#tb-controls");
  if (task.kind === "rating") {
    CRITERIA.forEach((c, i) => box.append(h("div.tb-crit", { dataset: { crit: c }, class: "tb-crit" + (i === 0 ? " current" : "") },
      h("span.tb-crit-name", { text: t("tbCriteria")[c] }),
      ...[1, 2, 3, 4, 5, 6, 7].map((n) => h("button", { type: "button", text: String(n), "aria-pressed": "false", dataset: { score: n },
        onclick: () => { V.crit = i; rate(n); } })))));
  } else if (task.kind === "compare") {
    box.append(h("div.tb-choices", {}, ...[["a", "tbABetter"], ["b", "tbBBetter"], ["tie", "tbTie"], ["both_bad", "tbBothBad"]].map(([v, k]) =>
      h("button", { type: "button", dataset: { choice: v }, "aria-pressed": "false", text: t(k), onclick: () => choose(v) }))));
  } else if (task.kind === "rewrite") {
    box.append(field(t("tbRewrite"), h("textarea.tb-rewrite#tb-rewrite", { value: task.answer_a || "" })));
  }
  const keyed = task.kind !== "rating";   // in a rating the number keys rate; tags are clicked
  box.append(h("p", { text: t(keyed ? "tbTags" : "tbTagsClick") }), h("div.tb-tags", {}, ...TAGS.map((g, i) => h("button.tb-tag", { type: "button", dataset: { tag: g }, "aria-pressed": "false",
    text: `${keyed ? `${i + 1} ` : ""}${t("tbTagNames")[g]}`, onclick: () => toggleTag(g) }))),
    field(t("tbComment"), h("input#tb-comment", { maxlength: 8000 })));
  return box;
}

function rate(n) {
  const c = CRITERIA[V.crit];
  V.scores[c] = n;
  const rows = V.card.querySelectorAll(".tb-crit");
  for (const b of rows[V.crit].querySelectorAll("button")) b.setAttribute("aria-pressed", String(+b.dataset.score === n));
  V.crit = Math.min(V.crit + 1, CRITERIA.length - 1);
  rows.forEach((r, i) => r.classList.toggle("current", i === V.crit));
}
function choose(v) {
  V.choice = v;
  for (const b of V.card.querySelectorAll(".tb-choices button")) b.setAttribute("aria-pressed", String(b.dataset.choice === v));
}
function toggleTag(g) {
  if (V.tags.has(g)) V.tags.delete(g); else V.tags.add(g);
  for (const b of V.card.querySelectorAll(".tb-tag")) b.setAttribute("aria-pressed", String(V.tags.has(b.dataset.tag)));
}

async function send(body) {
  if (V.busy || !V.task) return;
  V.busy = true;
  try {
    await api("POST", `/api/trainer/items/${encodeURIComponent(V.task.item_id)}/judgment`, { ...body, time_ms: Math.round(performance.now() - V.shownAt) });
    document.body.dataset.judged = String(+(document.body.dataset.judged || 0) + 1);
    await next(V.card, V.status, V.setId);
  } catch (e) { say(V.status, e.message); }
  finally { V.busy = false; }
}
function submit() {
  const k = V.task && V.task.kind;
  if (!k) return;
  const body = { status: "done", tags: [...V.tags], comment: V.card.querySelector("#tb-comment").value };
  if (k === "rating") {
    if (CRITERIA.some((c) => !V.scores[c])) return say(V.status, t("tbNeedScores"));
    body.scores = { ...V.scores };
  } else if (k === "compare") {
    if (!V.choice) return say(V.status, t("tbNeedChoice"));
    body.choice = V.choice;
  } else if (k === "rewrite") {
    body.rewrite = V.card.querySelector("#tb-rewrite").value;
    if (!body.rewrite.trim()) return say(V.status, t("tbNeedRewrite"));
  }
  return send(body);
}
function skip() { return send({ status: "skipped" }); }

function onKey(e) {
  if (!V.task || e.ctrlKey && e.key !== "Enter" || e.metaKey || e.altKey || e.isComposing) return;
  const typing = /^(TEXTAREA|INPUT|SELECT)$/.test(e.target.tagName);
  if (e.key === "Enter" && (!typing || e.ctrlKey || e.target.id === "tb-comment")) { e.preventDefault(); submit(); return; }
  if (typing) return;
  const k = e.key.toLowerCase();
  if (k === "s") { e.preventDefault(); skip(); }
  else if (V.task.kind === "rating" && /^[1-7]$/.test(k)) { e.preventDefault(); rate(+k); }
  else if (V.task.kind !== "rating" && /^[1-8]$/.test(k)) { e.preventDefault(); toggleTag(TAGS[+k - 1]); }
  else if (V.task.kind === "compare" && CHOICE_KEYS[k]) { e.preventDefault(); choose(CHOICE_KEYS[k]); }
}

// ---- admin: task sets ----
async function setsTab(body) {
  const list = h("div#tb-sets");
  const refresh = async () => {
    const sets = (await api("GET", "/api/admin/task_sets")).data || [];
    list.textContent = "";
    const tb = table("tb-sets-table", [t("tbName"), t("tbKind"), t("tbItems"), t("tbJudgments"), t("tbPerItem"), t("tbActive")], []);
    for (const s of sets)
      tb.append(h("tr", { dataset: { id: s.id } }, h("td", { text: s.name }), h("td", { text: t("tbKinds")[s.kind] || s.kind }),
        h("td", { text: String(s.items) }), h("td", { text: String(s.judgments) }), h("td", { text: String(s.per_item) }),
        h("td", {}, h("input", { type: "checkbox", checked: s.active, "aria-label": `${t("tbActive")}: ${s.name}`,
          onchange: async (e) => { await api("PATCH", `/api/admin/task_sets/${s.id}`, { active: e.target.checked }); } }))));
    list.append(tb);
  };
  const name = h("input#tbs-name"), kind = h("select#tbs-kind", {}, ...Object.entries(t("tbKinds")).map(([v, l]) => h("option", { value: v, text: l })));
  const guide = h("textarea#tbs-guidelines"), per = h("input#tbs-per", { type: "number", min: 1, max: 10, value: "2" });
  const source = h("select#tbs-source", {}, h("option", { value: "feedback", text: t("tbFromFeedback") }),
    h("option", { value: "conversations", text: t("tbFromConvs") }), h("option", { value: "prompts", text: t("tbFromPrompts") }));
  const onlyDown = h("input#tbs-down", { type: "checkbox" }), prompts = h("textarea#tbs-prompts"), topic = h("input#tbs-topic");
  const ma = h("input#tbs-model-a"), mb = h("input#tbs-model-b");
  const err = h("p.error-text#tbs-error", { hidden: true });
  const dflt = h("input#tbs-consent-default", { type: "checkbox", checked: !!(await api("GET", "/api/admin/settings")).improve_model_default,
    onchange: async (e) => { try { await api("PATCH", "/api/admin/settings", { improve_model_default: e.target.checked }); } catch (x) { say(err, x.message); } } });
  body.append(h("label.check", {}, dflt, h("span", { text: " " + t("tbConsentDefault") })),h("div.tb-form", {}, field(t("tbName"), name), field(t("tbKind"), kind), field(t("tbPerItem"), per), field(t("tbSource"), source),
    h("label.check", {}, onlyDown, h("span", { text: " " + t("tbOnlyDown") })), field(t("tbModelA"), ma), field(t("tbModelB"), mb),
    field(t("tbTopic"), topic), field(t("tbGuidelines"), guide), field(t("tbFromPrompts"), prompts)), err,
  h("button.primary#tbs-create", { type: "button", text: t("tbCreate"), onclick: async () => {
    say(err, "");
    const b = { name: name.value.trim(), kind: kind.value, guidelines: guide.value, per_item: +per.value, model_a: ma.value.trim(), model_b: mb.value.trim(), source: source.value };
    if (source.value === "feedback") b.only_down = onlyDown.checked;
    else if (source.value === "prompts") b.prompts = prompts.value.split("\n").map((x) => x.trim()).filter(Boolean).map((p) => ({ prompt: p, ...(topic.value.trim() ? { topic: topic.value.trim() } : {}) }));
    try { await api("POST", "/api/admin/task_sets", b); name.value = ""; prompts.value = ""; await refresh(); } catch (e) { say(err, e.message); }
  } }), list);
  await refresh();
}

async function setPicker(kinds, onpick) {
  const sets = ((await api("GET", "/api/admin/task_sets")).data || []).filter((s) => !kinds || kinds.includes(s.kind));
  const s = h("select#tb-pick-set", { "aria-label": t("tbSet"), onchange: (e) => onpick(e.target.value) },
    ...sets.map((x) => h("option", { value: x.id, text: `${x.name} · ${t("tbKinds")[x.kind] || x.kind}` })));
  return { el: s, first: sets.length ? sets[0].id : null };
}
async function emails() {
  const m = new Map();
  try { for (const u of (await api("GET", "/api/admin/users")).data || []) m.set(u.id, u.email); } catch {}
  return m;
}

async function agreementTab(body) {
  const who = await emails();
  const out = h("div#tb-agreement");
  const show = async (id) => {
    out.textContent = "";
    if (!id) return;
    const a = await api("GET", `/api/admin/task_sets/${id}/agreement`);
    const rows = (a.pairs || []).map((p) => [p.trainers.map((x) => who.get(x) || x).join(" · "), p.items, num(p.percent_agreement, 1), num(p.kappa, 3)]);
    if (a.overall) rows.push([t("tbOverall"), a.overall.items, num(a.overall.percent_agreement, 1), num(a.overall.kappa, 3)]);
    out.append(table("tb-agreement-table", [t("tbPairs"), t("tbItems"), t("tbPercent"), t("tbKappa")], rows));
  };
  const p = await setPicker(null, show);
  body.append(h("div.tb-bar", {}, p.el), out);
  await show(p.first);
}

async function leaderboardTab(body) {
  const b = await api("GET", "/api/admin/leaderboard");
  const rows = (list) => list.map((m) => [m.model, num(m.score, 1), `${num(m.ci_low, 1)} – ${num(m.ci_high, 1)}`, `${m.wins} / ${m.losses} / ${m.ties}`, m.games]);
  const head = [t("tbModel"), t("tbScore"), t("tbInterval"), t("tbRecord"), t("tbGames")];
  body.append(h("h3", { text: t("tbAll") }), table("tb-leaderboard", head, rows(b.models || [])));
  for (const [topic, list] of Object.entries(b.topics || {})) body.append(h("h4", { text: topic }), table("tb-leaderboard-topic", head, rows(list)));
}

async function throughputTab(body) {
  const r = await api("GET", "/api/admin/throughput");
  body.append(table("tb-throughput", [t("tbTrainer"), t("tbDone"), t("tbSkipped"), t("tbMean"), t("tbPerHour")],
    (r.data || []).map((x) => [x.email || x.trainer_id, x.done, x.skipped, x.mean_ms === null ? "—" : fmtMs(x.mean_ms), num(x.per_hour, 1)])));
}

async function exportsTab(body) {
  const fmt = h("select#tbx-format", {}, h("option", { value: "sft", text: "SFT (chat JSONL)" }), h("option", { value: "dpo", text: "DPO (preference JSONL)" }));
  const inputs = { from: h("input#tbx-from", { type: "date" }), to: h("input#tbx-to", { type: "date" }), model: h("input#tbx-model"),
    assistant: h("input#tbx-assistant"), tag: h("input#tbx-tag"), min_rating: h("input#tbx-min", { type: "number", min: 1, max: 7, step: "0.5" }) };
  const link = h("a.button#tbx-download", { text: t("tbDownload") });
  const count = h("span#tbx-count");
  const update = async () => {
    const q = new URLSearchParams({ format: fmt.value });
    for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) q.set(k, el.value.trim());
    link.href = `/api/admin/exports?${q}`;
    link.setAttribute("download", `omni-${fmt.value}.jsonl`);
    try {
      const r = await fetch(link.href, { credentials: "same-origin" });
      const text = await r.text();
      count.textContent = r.ok ? t("tbLines", text.split("\n").filter(Boolean).length) : text;
    } catch (e) { count.textContent = e.message; }
    count.dataset.done = String(+(count.dataset.done || 0) + 1);
  };
  fmt.addEventListener("change", update);
  for (const el of Object.values(inputs)) el.addEventListener("change", update);
  body.append(h("div.tb-form", {}, field(t("tbFormat"), fmt), field(t("tbFrom"), inputs.from), field(t("tbTo"), inputs.to), field(t("tbModel"), inputs.model),
    field(t("tbAssistant"), inputs.assistant), field(t("tbTag"), inputs.tag), field(t("tbMinRating"), inputs.min_rating)), h("div.tb-bar", {}, link, count));
  await update();
}
