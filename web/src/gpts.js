// Custom assistants ("GPTs") in the web app: the store (/api/store: categories, search,
// featured, sort by rating or use; a detail page with description, starters, author,
// rating, conversations and reviews; "use" opens a chat with it; ratings 1-5 with a review;
// admin feature / hide / remove), the author's list with usage, the builder (create/edit
// with a live preview chat beside the form, knowledge upload, starters, capabilities,
// knowledge settings, visibility, version history, bundle export/import), and the
// citations under an answer that used an assistant's knowledge, each clickable to its
// passage. Only the HTTP API is used. Everything from the server or a model is set as text
// (textContent) or through render.js's sanitizer, never as raw HTML.
import { renderMarkdown } from "./render.js";
import { t, addStrings } from "./i18n.js";

addStrings({
  en: {
    gpts: "GPTs", gptsExplore: "Explore", gptsMine: "My GPTs", gptsCreate: "Create", gptsSearch: "Search GPTs",
    gptsAll: "All categories", gptsSortFeatured: "Featured", gptsSortPopular: "Most used", gptsSortRating: "Top rated",
    gptsSortNew: "Newest", gptsFeatured: "Featured", gptsBy: (n) => `by ${n}`, gptsConvs: (n) => `${n} conversations`,
    gptsRating: (r, n) => n ? `★ ${r} (${n})` : "no ratings yet", gptsUse: "Use", gptsStarters: "Conversation starters",
    gptsReviews: "Reviews", gptsRate: "Rate", gptsReview: "A short review (optional)", gptsRated: "Thanks for rating",
    gptsFeature: "Feature", gptsUnfeature: "Unfeature", gptsHide: "Hide", gptsUnhide: "Unhide", gptsRemove: "Remove",
    gptsConfirmRemove: (n) => `Remove “${n}” for everyone?`, gptsEdit: "Edit", gptsBack: "Back", gptsEmpty: "Nothing here yet.",
    gptsUsage: (u, us, c) => `${u} uses · ${us} users · ${c} conversations`, gptsName: "Name", gptsDesc: "Description",
    gptsInstr: "Instructions", gptsCategory: "Category", gptsStartersHelp: "Conversation starters (one per line)",
    gptsCaps: "Capabilities", gptsCapKnowledge: "Knowledge search", gptsCapData: "Data analysis", gptsCapVoice: "Voice",
    gptsKnowledge: "Knowledge", gptsUpload: "Upload files", gptsChunks: "Passages per answer", gptsThreshold: "Relevance threshold (0-1)",
    gptsOnly: "Answer only from knowledge", gptsVisibility: "Visibility", gptsPrivate: "Only me", gptsLink: "Anyone with the link",
    gptsPublic: "Everyone on this server (store)", gptsSave: "Save", gptsSaved: (v) => `Saved: version ${v}`,
    gptsVersions: "Version history", gptsRestore: "Restore", gptsPreview: "Preview", gptsPreviewHint: "Save to try it here.",
    gptsAsk: "Ask the preview", gptsExport: "Export bundle", gptsImport: "Import bundle", gptsImported: "Imported",
    gptsSources: "Sources", gptsChattingWith: (n) => `Chatting with ${n}`, gptsPage: (p) => `p. ${p}`, gptsClose: "Close",
    gptsFileDelete: "Remove file",
  },
  ko: {
    gpts: "GPT", gptsExplore: "탐색", gptsMine: "내 GPT", gptsCreate: "만들기", gptsSearch: "GPT 검색",
    gptsAll: "모든 분류", gptsSortFeatured: "추천", gptsSortPopular: "많이 쓴 순", gptsSortRating: "평점 순",
    gptsSortNew: "최신 순", gptsFeatured: "추천", gptsBy: (n) => `만든 사람: ${n}`, gptsConvs: (n) => `대화 ${n}개`,
    gptsRating: (r, n) => n ? `★ ${r} (${n})` : "아직 평가 없음", gptsUse: "사용하기", gptsStarters: "대화 시작 문구",
    gptsReviews: "리뷰", gptsRate: "평가하기", gptsReview: "짧은 리뷰 (선택)", gptsRated: "평가해 주셔서 감사합니다",
    gptsFeature: "추천하기", gptsUnfeature: "추천 해제", gptsHide: "숨기기", gptsUnhide: "숨김 해제", gptsRemove: "삭제",
    gptsConfirmRemove: (n) => `모든 사용자에게서 “${n}”을(를) 삭제할까요?`, gptsEdit: "편집", gptsBack: "뒤로", gptsEmpty: "아직 없습니다.",
    gptsUsage: (u, us, c) => `사용 ${u}회 · 사용자 ${us}명 · 대화 ${c}개`, gptsName: "이름", gptsDesc: "설명",
    gptsInstr: "지침", gptsCategory: "분류", gptsStartersHelp: "대화 시작 문구 (한 줄에 하나)",
    gptsCaps: "기능", gptsCapKnowledge: "지식 검색", gptsCapData: "데이터 분석", gptsCapVoice: "음성",
    gptsKnowledge: "지식", gptsUpload: "파일 올리기", gptsChunks: "답변당 구절 수", gptsThreshold: "관련도 기준 (0-1)",
    gptsOnly: "지식에 있는 내용으로만 답하기", gptsVisibility: "공개 범위", gptsPrivate: "나만", gptsLink: "링크가 있는 사람",
    gptsPublic: "이 서버의 모든 사람 (스토어)", gptsSave: "저장", gptsSaved: (v) => `저장됨: 버전 ${v}`,
    gptsVersions: "버전 기록", gptsRestore: "되돌리기", gptsPreview: "미리 보기", gptsPreviewHint: "저장하면 여기서 써 볼 수 있습니다.",
    gptsAsk: "미리 보기에 질문", gptsExport: "번들 내보내기", gptsImport: "번들 가져오기", gptsImported: "가져왔습니다",
    gptsSources: "출처", gptsChattingWith: (n) => `${n}와(과) 대화 중`, gptsPage: (p) => `${p}쪽`, gptsClose: "닫기",
    gptsFileDelete: "파일 삭제",
  },
});

const CSS = `
#gpts-view { position: fixed; inset: 0; z-index: 30; background: var(--bg); overflow-y: auto; }
#gpts-view .gpts-head { display: flex; gap: 8px; align-items: center; padding: 10px 16px; border-bottom: 1px solid var(--border); position: sticky; top: 0; background: var(--bg); }
#gpts-view .gpts-head .grow { flex: 1; }
#gpts-view .gpts-head button.on { background: var(--bg3); }
#gpts-body { padding: 16px max(16px, calc((100% - 1100px) / 2)); }
.gpts-controls { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 14px; }
.gpts-controls input { flex: 1; min-width: 200px; }
.gpt-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; }
.gpt-card { text-align: left; border: 1px solid var(--border); border-radius: 12px; padding: 12px; background: var(--bg2); display: flex; flex-direction: column; gap: 4px; cursor: pointer; }
.gpt-card .gpt-name { font-weight: 600; } .gpt-card .gpt-desc, .gpt-meta { font-size: 13px; color: var(--fg2); }
.gpt-avatar { width: 40px; height: 40px; border-radius: 50%; object-fit: cover; }
.gpt-detail h2 { margin: 4px 0; } .gpt-detail .row { margin: 8px 0; }
.gpt-starters button { display: block; margin: 4px 0; text-align: left; }
.gpt-review { border-top: 1px solid var(--border); padding: 6px 0; font-size: 14px; }
.gpt-builder { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
@media (max-width: 800px) { .gpt-builder { grid-template-columns: 1fr; } }
.gpt-form label { display: flex; flex-direction: column; gap: 4px; margin-bottom: 10px; font-size: 14px; color: var(--fg2); }
.gpt-form label.check { flex-direction: row; align-items: center; }
.gpt-form fieldset { border: 1px solid var(--border); border-radius: 10px; margin: 0 0 10px; }
.gpt-preview { border: 1px solid var(--border); border-radius: 12px; padding: 10px; display: flex; flex-direction: column; min-height: 420px; }
.gpt-preview .messages { flex: 1; padding: 8px; }
.gpt-files li, .gpt-versions li { display: flex; gap: 8px; align-items: center; font-size: 14px; }
.citations { margin-top: 6px; font-size: 13px; }
.citations .cite-label { display: block; padding: 2px 0; color: var(--fg2); }
.citations .cite { display: block; text-align: left; background: none; border: none; color: var(--accent); padding: 2px 0; }
.citations .passage { white-space: pre-wrap; border-left: 3px solid var(--accent); margin: 4px 0 6px; padding: 4px 8px; color: var(--fg); background: var(--bg2); }
#asst-bar { padding: 8px 16px; border-bottom: 1px solid var(--border); font-size: 14px; }
#asst-bar .gpt-starters { display: flex; gap: 6px; flex-wrap: wrap; }
`;

let ctx = null;         // from main.js: { api, h, toast, me, useAssistant }
let view = null;

const CATEGORY_NAMES = {
  en: { writing: "Writing", productivity: "Productivity", research: "Research", programming: "Programming",
        education: "Education", lifestyle: "Lifestyle", customer_support: "Customer support", other: "Other" },
  ko: { writing: "글쓰기", productivity: "생산성", research: "연구", programming: "프로그래밍",
        education: "교육", lifestyle: "라이프스타일", customer_support: "고객 지원", other: "기타" },
};
const catName = (c) => (CATEGORY_NAMES[document.documentElement.lang] || CATEGORY_NAMES.en)[c] || c;

// The sources an answer used: "[n] file, p. N, heading", each opening its passage. They
// come with the answer from the server (message.citations, stored with it, so a reload or
// another device shows them); a shared copy has the sources without passages: plain labels.
export function citationsEl(cites) {
  const h = ctx.h;
  const box = h("div.citations", { "aria-label": t("gptsSources") }, h("div.citations-title", { text: t("gptsSources") }));
  for (const c of cites) {
    const label = `[${c.index}] ${c.file}` + (c.page ? `, ${t("gptsPage", c.page)}` : "") + (c.heading ? `, ${c.heading}` : "");
    if (!c.text) { box.append(h("span.cite-label", { text: label, dataset: { file: c.file, index: String(c.index) } })); continue; }
    const passage = h("blockquote.passage", { text: c.text || "", hidden: true, dataset: { index: String(c.index) } });
    const b = h("button.cite", { type: "button", text: label, "aria-expanded": "false",
      dataset: { file: c.file, page: String(c.page || ""), index: String(c.index) },
      onclick: () => { passage.hidden = !passage.hidden; b.setAttribute("aria-expanded", String(!passage.hidden));
                       if (!passage.hidden) passage.scrollIntoView({ block: "nearest" }); } });
    box.append(b, passage);
  }
  return box;
}

// The line above the chat while it uses an assistant: its name and starters.
export async function assistantBar(a, onStarter) {
  let bar = document.getElementById("asst-bar");
  if (!a) { if (bar) bar.remove(); return; }
  if (!bar) {
    bar = ctx.h("div", { id: "asst-bar" });
    const msgs = document.getElementById("messages");
    msgs.parentNode.insertBefore(bar, msgs);
  }
  bar.textContent = "";
  let full = a;
  if (!a.name) { try { full = await ctx.api("GET", `/api/assistants/${encodeURIComponent(a.id)}`); } catch { full = { id: a.id, name: a.id, starters: [] }; } }
  bar.dataset.id = full.id;
  bar.append(ctx.h("strong", { text: t("gptsChattingWith", full.name) }));
  if (full.description) bar.append(ctx.h("div.gpt-meta", { text: full.description }));
  const st = ctx.h("div.gpt-starters");
  for (const s of full.starters || []) st.append(ctx.h("button.starter", { type: "button", text: s, onclick: () => onStarter(s) }));
  bar.append(st);
}

export function initGpts(c) {
  ctx = c;
  try { localStorage.removeItem("omni.citations"); } catch {}   // this browser's old copy: the server keeps them now
  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.append(style);
  const btn = ctx.h("button", { id: "open-gpts", type: "button", text: t("gpts"), onclick: () => open("explore") });
  document.querySelector(".side-top").append(btn);
}

function open(tab, arg) {
  const h = ctx.h;
  if (!view) {
    view = h("section", { "aria-label": t("gpts") });
    view.id = "gpts-view";
    document.body.append(view);
  }
  view.hidden = false;
  view.textContent = "";
  const tabBtn = (name, label) => h("button", { type: "button", class: tab === name ? "on" : "", text: label, dataset: { tab: name }, onclick: () => open(name) });
  const imp = h("input", { type: "file", accept: ".omni-assistant,.zip,application/zip", hidden: true, onchange: async () => {
    const f = imp.files[0];
    if (!f) return;
    try {
      const r = await fetch("/api/assistants/import", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/zip" }, body: await f.arrayBuffer() });
      const j = await r.json();
      if (!r.ok) throw new Error(j.error?.message || `HTTP ${r.status}`);
      ctx.toast(t("gptsImported"));
      open("builder", j.id);
    } catch (e) { ctx.toast(e.message); }
  } });
  imp.id = "gpt-import-file";
  view.append(h("header.gpts-head", {},
    h("strong", { text: t("gpts") }), tabBtn("explore", t("gptsExplore")), tabBtn("mine", t("gptsMine")),
    h("button", { id: "gpt-create", type: "button", class: "primary", text: t("gptsCreate"), onclick: () => open("builder", null) }),
    h("button", { id: "gpt-import", type: "button", text: t("gptsImport"), onclick: () => imp.click() }), imp,
    h("span.grow"), h("button", { id: "gpts-close", type: "button", "aria-label": t("gptsClose"), text: "✕", onclick: close })));
  const body = h("div");
  body.id = "gpts-body";
  view.append(body);
  ({ explore: renderStore, mine: renderMine, detail: renderDetail, builder: renderBuilder })[tab](body, arg);
}
function close() { if (view) view.hidden = true; }

function stars(a) { return t("gptsRating", a.stats?.rating || 0, a.stats?.rating_count || 0); }

function card(a, onclick) {
  const h = ctx.h;
  const c = h("div.gpt-card", { role: "button", tabindex: "0", dataset: { id: a.id }, onclick, onkeydown: (e) => { if (e.key === "Enter") onclick(); } });
  if (a.avatar_url) c.append(h("img.gpt-avatar", { src: a.avatar_url, alt: "" }));
  c.append(h("div.gpt-name", { text: a.name }));
  if (a.featured) c.append(h("span.badge.gpt-featured", { text: t("gptsFeatured") }));
  c.append(h("div.gpt-desc", { text: a.description || "" }));
  c.append(h("div.gpt-meta", { text: `${t("gptsBy", a.author?.name || "")} · ${stars(a)} · ${t("gptsConvs", a.stats?.conversations || 0)}` }));
  return c;
}

async function renderStore(body) {
  const h = ctx.h;
  const q = h("input", { type: "search", placeholder: t("gptsSearch"), "aria-label": t("gptsSearch") });
  q.id = "gpts-q";
  const cat = h("select", { "aria-label": t("gptsCategory") }, h("option", { value: "", text: t("gptsAll") }));
  cat.id = "gpts-cat";
  const sort = h("select", { "aria-label": "sort" },
    ...[["featured", "gptsSortFeatured"], ["popular", "gptsSortPopular"], ["rating", "gptsSortRating"], ["new", "gptsSortNew"]]
      .map(([v, k]) => h("option", { value: v, text: t(k) })));
  sort.id = "gpts-sort";
  const grid = h("div.gpt-grid");
  grid.id = "gpts-grid";
  body.append(h("div.gpts-controls", {}, q, cat, sort), grid);
  let seq = 0, cats = false;
  const load = async () => {
    const my = ++seq;
    const p = new URLSearchParams({ q: q.value, category: cat.value, sort: sort.value });
    let r;
    try { r = await ctx.api("GET", "/api/store?" + p); } catch (e) { ctx.toast(e.message); return; }
    if (my !== seq) return;
    if (!cats) { cats = true; for (const c of r.categories || []) cat.append(h("option", { value: c, text: catName(c) })); }
    grid.textContent = "";
    for (const a of r.data) grid.append(card(a, () => open("detail", a.id)));
    if (!r.data.length) grid.append(h("div.gpt-meta", { text: t("gptsEmpty") }));
    grid.dataset.loaded = String(+(grid.dataset.loaded || 0) + 1);
  };
  let timer = null;
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  cat.addEventListener("change", load);
  sort.addEventListener("change", load);
  await load();
}

async function renderMine(body) {
  const h = ctx.h;
  let r;
  try { r = await ctx.api("GET", "/api/assistants"); } catch (e) { ctx.toast(e.message); return; }
  const grid = h("div.gpt-grid");
  grid.id = "gpts-mine";
  for (const a of r.data) {
    const c = card(a, () => open("builder", a.id));
    const s = a.stats || {};
    c.append(h("div.gpt-meta.gpt-usage", { text: t("gptsUsage", s.uses || 0, s.users || 0, s.conversations || 0) }));
    grid.append(c);
  }
  if (!r.data.length) grid.append(h("div.gpt-meta", { text: t("gptsEmpty") }));
  body.append(grid);
}

async function renderDetail(body, id) {
  const h = ctx.h;
  let a, rv;
  try { [a, rv] = await Promise.all([ctx.api("GET", `/api/assistants/${id}`), ctx.api("GET", `/api/assistants/${id}/reviews`)]); }
  catch (e) { ctx.toast(e.message); return open("explore"); }
  const me = ctx.me();
  const d = h("div.gpt-detail", { dataset: { id: a.id } });
  d.append(h("button", { type: "button", text: "← " + t("gptsBack"), onclick: () => open("explore") }));
  if (a.avatar_url) d.append(h("img.gpt-avatar", { src: a.avatar_url, alt: "" }));
  d.append(h("h2.gpt-name", { text: a.name }));
  d.append(h("div.gpt-desc", { text: a.description || "" }));
  d.append(h("div.gpt-meta.gpt-stats", { text: `${t("gptsBy", a.author?.name || "")} · ${catName(a.category)} · ${stars(a)} · ${t("gptsConvs", a.stats?.conversations || 0)}` }));
  const use = h("button.primary", { type: "button", text: t("gptsUse"), onclick: () => { close(); ctx.useAssistant(a); } });
  use.id = "gpt-use";
  const row = h("div.row", {}, use);
  if (a.author?.id === me.user?.id) row.append(h("button", { type: "button", text: t("gptsEdit"), onclick: () => open("builder", a.id) }));
  if (me.role === "admin") {
    const mod = async (f) => { try { await ctx.api("POST", `/api/assistants/${a.id}/moderate`, f); open("detail", a.id); } catch (e) { ctx.toast(e.message); } };
    const fb = h("button", { type: "button", text: a.featured ? t("gptsUnfeature") : t("gptsFeature"), onclick: () => mod({ featured: !a.featured }) });
    fb.id = "gpt-feature";
    const hb = h("button", { type: "button", text: a.hidden ? t("gptsUnhide") : t("gptsHide"), onclick: () => mod({ hidden: !a.hidden }) });
    hb.id = "gpt-hide";
    const rb = h("button", { type: "button", text: t("gptsRemove"), onclick: async () => {
      if (!confirm(t("gptsConfirmRemove", a.name))) return;
      try { await ctx.api("DELETE", `/api/assistants/${a.id}`); open("explore"); } catch (e) { ctx.toast(e.message); } } });
    rb.id = "gpt-remove";
    row.append(fb, hb, rb);
  }
  d.append(row);
  if ((a.starters || []).length) {
    d.append(h("h3", { text: t("gptsStarters") }));
    const st = h("div.gpt-starters");
    for (const s of a.starters) st.append(h("button.starter", { type: "button", text: s, onclick: () => { close(); ctx.useAssistant(a, s); } }));
    d.append(st);
  }
  // rating: 1-5 and a review (the server takes it from users who chatted with it)
  const sel = h("select", { "aria-label": t("gptsRate") }, ...[5, 4, 3, 2, 1].map((n) => h("option", { value: String(n), text: "★".repeat(n) })));
  sel.id = "gpt-stars";
  const txt = h("textarea", { rows: 2, placeholder: t("gptsReview"), "aria-label": t("gptsReview") });
  txt.id = "gpt-review";
  const rate = h("button", { type: "button", text: t("gptsRate"), onclick: async () => {
    try { await ctx.api("POST", `/api/assistants/${a.id}/rating`, { stars: +sel.value, review: txt.value }); ctx.toast(t("gptsRated")); open("detail", a.id); }
    catch (e) { ctx.toast(e.message); } } });
  rate.id = "gpt-rate";
  d.append(h("h3", { text: t("gptsReviews") }), h("div.row", {}, sel, txt, rate));
  const list = h("div.gpt-reviews");
  list.id = "gpt-reviews";
  for (const r of rv.data || []) list.append(h("div.gpt-review", {}, h("strong", { text: `${"★".repeat(r.stars)} ${r.user || r.user_name || ""}` }), h("div", { text: r.review || "" })));
  d.append(list);
  body.append(d);
}

// ---- the builder ----
async function renderBuilder(body, id) {
  const h = ctx.h;
  let a = null, files = [], versions = [], cats = [];
  try {
    cats = (await ctx.api("GET", "/api/store?limit=1")).categories || [];
    if (id) [a, files, versions] = await Promise.all([ctx.api("GET", `/api/assistants/${id}`),
      ctx.api("GET", `/api/assistants/${id}/files`).then((r) => r.data), ctx.api("GET", `/api/assistants/${id}/versions`).then((r) => r.data)]);
  } catch (e) { ctx.toast(e.message); return; }
  const cfg = a || { name: "", description: "", instructions: "", category: "other", starters: [], visibility: "private",
    capabilities: { knowledge: true, data_analysis: false, voice: false, tools: [] }, knowledge: { max_chunks: 5, threshold: 0, only_knowledge: false } };
  const field = (label, el) => h("label", {}, h("span", { text: label }), el);
  const inp = (name, value, tag = "input") => { const e = h(tag, { name, value: value ?? "" }); if (tag === "textarea") e.rows = name === "instructions" ? 6 : 3; return e; };
  const f = {
    name: inp("name", cfg.name), description: inp("description", cfg.description, "textarea"),
    instructions: inp("instructions", cfg.instructions, "textarea"), starters: inp("starters", (cfg.starters || []).join("\n"), "textarea"),
    category: h("select", { name: "category" }, ...cats.map((c) => h("option", { value: c, text: catName(c), selected: c === cfg.category }))),
    knowledge: h("input", { type: "checkbox", name: "cap_knowledge", checked: !!cfg.capabilities?.knowledge }),
    data: h("input", { type: "checkbox", name: "cap_data", checked: !!cfg.capabilities?.data_analysis }),
    voice: h("input", { type: "checkbox", name: "cap_voice", checked: !!cfg.capabilities?.voice }),
    chunks: h("input", { type: "number", name: "max_chunks", min: "1", max: "50", value: String(cfg.knowledge?.max_chunks ?? 5) }),
    threshold: h("input", { type: "number", name: "threshold", min: "0", max: "1", step: "0.05", value: String(cfg.knowledge?.threshold ?? 0) }),
    only: h("input", { type: "checkbox", name: "only_knowledge", checked: !!cfg.knowledge?.only_knowledge }),
    visibility: h("select", { name: "visibility" }, ...[["private", "gptsPrivate"], ["link", "gptsLink"], ["public", "gptsPublic"]]
      .map(([v, k]) => h("option", { value: v, text: t(k), selected: v === cfg.visibility }))),
  };
  const check = (el, label) => h("label.check", {}, el, h("span", { text: label }));
  const upload = h("input", { type: "file", multiple: true, name: "files", "aria-label": t("gptsUpload") });
  const fileList = h("ul.gpt-files");
  fileList.id = "gpt-file-list";
  const showFiles = () => {
    fileList.textContent = "";
    for (const x of files) fileList.append(h("li", { dataset: { name: x.name } }, h("span", { text: `${x.name} (${Math.ceil(x.size / 1024)} KiB)` }),
      h("button.icon", { type: "button", "aria-label": t("gptsFileDelete"), text: "✕", onclick: async () => {
        try { files = (await ctx.api("DELETE", `/api/assistants/${a.id}/files/${encodeURIComponent(x.name)}`)).data; showFiles(); } catch (e) { ctx.toast(e.message); } } })));
  };
  showFiles();
  const status = h("div.gpt-meta", { role: "status" });
  status.id = "gpt-status";
  const config = () => ({
    name: f.name.value, description: f.description.value, instructions: f.instructions.value, category: f.category.value,
    starters: f.starters.value.split("\n").map((s) => s.trim()).filter(Boolean),
    capabilities: { ...(cfg.capabilities || {}), knowledge: f.knowledge.checked, data_analysis: f.data.checked, voice: f.voice.checked },
    knowledge: { ...(cfg.knowledge || {}), max_chunks: +f.chunks.value || 5, threshold: +f.threshold.value || 0, only_knowledge: f.only.checked },
    visibility: f.visibility.value,
  });
  const save = async () => {
    try {
      a = a ? await ctx.api("PATCH", `/api/assistants/${a.id}`, config()) : await ctx.api("POST", "/api/assistants", config());
      versions = (await ctx.api("GET", `/api/assistants/${a.id}/versions`)).data;
      showVersions();
      status.textContent = t("gptsSaved", a.version);   /* saved: the history already shows it */
      status.dataset.version = String(a.version);
      preview.enable();
      return true;
    } catch (e) { status.textContent = e.message; return false; }
  };
  upload.addEventListener("change", async () => {
    if (!a && !(await save())) return;
    for (const file of upload.files) {
      const r = await fetch(`/api/assistants/${a.id}/files/${encodeURIComponent(file.name)}`, { method: "PUT", credentials: "same-origin",
        headers: { "Content-Type": file.type || "application/octet-stream" }, body: await file.arrayBuffer() });
      const j = await r.json().catch(() => null);
      if (!r.ok) { status.textContent = `${file.name}: ${j?.error?.message || r.status}`; continue; }
      files = j.data;
    }
    upload.value = "";
    showFiles();
    fileList.dataset.count = String(files.length);
  });
  const verList = h("ul.gpt-versions");
  verList.id = "gpt-versions";
  const showVersions = () => {
    verList.textContent = "";
    for (const v of versions) verList.append(h("li", { dataset: { version: String(v.version) } },
      h("span", { text: `v${v.version} · ${new Date(v.created * 1000).toLocaleString()} · ${v.config?.name || ""}` }),
      v.version !== a?.version ? h("button", { type: "button", text: t("gptsRestore"), onclick: async () => {
        const { name, description, instructions, category, starters, capabilities, knowledge, visibility } = v.config;
        try { a = await ctx.api("PATCH", `/api/assistants/${a.id}`, { name, description, instructions, category, starters, capabilities, knowledge, visibility }); open("builder", a.id); }
        catch (e) { ctx.toast(e.message); } } }) : null));
  };
  showVersions();
  const saveBtn = h("button.primary", { type: "button", text: t("gptsSave"), onclick: save });
  saveBtn.id = "gpt-save";
  const exportA = h("a", { id: "gpt-export", text: t("gptsExport"), href: a ? `/api/assistants/${a.id}/export` : "#", download: "", hidden: !a });
  const form = h("form.gpt-form", { onsubmit: (e) => { e.preventDefault(); save(); } },
    field(t("gptsName"), f.name), field(t("gptsDesc"), f.description), field(t("gptsInstr"), f.instructions),
    field(t("gptsStartersHelp"), f.starters), field(t("gptsCategory"), f.category),
    h("fieldset", {}, h("legend", { text: t("gptsCaps") }), check(f.knowledge, t("gptsCapKnowledge")), check(f.data, t("gptsCapData")), check(f.voice, t("gptsCapVoice"))),
    h("fieldset", {}, h("legend", { text: t("gptsKnowledge") }), field(t("gptsUpload"), upload), fileList,
      field(t("gptsChunks"), f.chunks), field(t("gptsThreshold"), f.threshold), check(f.only, t("gptsOnly"))),
    field(t("gptsVisibility"), f.visibility), h("div.row", {}, saveBtn, exportA), status,
    h("h3", { text: t("gptsVersions") }), verList);
  form.id = "gpt-form";
  const preview = previewChat(() => a);
  body.append(h("div.gpt-builder", {}, form, preview.el));
  if (a) preview.enable();
}

// The preview beside the form: a chat with the saved assistant (its latest version), the
// answers rendered through the sanitizer, their citations under them.
function previewChat(current) {
  const h = ctx.h;
  const msgs = h("div.messages");
  msgs.id = "gpt-preview-messages";
  const hint = h("div.gpt-meta", { text: t("gptsPreviewHint") });
  const input = h("textarea", { rows: 2, placeholder: t("gptsAsk"), "aria-label": t("gptsAsk"), disabled: true });
  input.id = "gpt-preview-input";
  const hist = [];
  const send = async () => {
    const a = current(), q = input.value.trim();
    if (!a || !q) return;
    input.value = "";
    msgs.append(h("article.msg.user", {}, h("div.content", { text: q })));
    hist.push({ role: "user", content: q });
    const out = h("article.msg.assistant", {}, h("div.content"));
    msgs.append(out);
    try {
      const r = await ctx.api("POST", "/v1/chat/completions", { assistant: a.id, messages: hist });
      const m = r.choices[0].message;
      out.querySelector(".content").innerHTML = renderMarkdown(m.content || "");
      if (m.citations) out.append(citationsEl(m.citations));
      hist.push({ role: "assistant", content: m.content || "" });
    } catch (e) { out.classList.add("error"); out.querySelector(".content").textContent = e.message; }
    msgs.dataset.turns = String(+(msgs.dataset.turns || 0) + 1);
  };
  const btn = h("button.primary", { type: "button", text: t("send"), disabled: true, onclick: send });
  btn.id = "gpt-preview-send";
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
  const el = h("div.gpt-preview", {}, h("h3", { text: t("gptsPreview") }), hint, msgs, h("div.row", {}, input, btn));
  return { el, enable() { hint.hidden = true; input.disabled = false; btn.disabled = false; } };
}
