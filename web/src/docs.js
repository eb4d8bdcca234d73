// Documents attached to a conversation (PDF, DOCX, HWPX), as ChatGPT and Open WebUI do it:
// uploaded to /v1/files (GET /v1/files/{id}/text reads it first, so a file the server cannot
// read is refused at once with the extractor's message), then attached to the conversation
// (POST /api/conversations/{id}/files), which indexes it into the conversation's own vector
// store (made on the first document, deleted with the conversation). Each turn then asks
// the chat for the file_search tool on that store: the server puts the passages that match
// the question into the prompt as data (or the documents whole when they are small next to
// the model's context) and answers their citations, shown under the answer (gpts.js's
// citationsEl). The conversation's documents are chips above the composer; × removes one
// (DELETE .../files/{id}: out of the store, the file deleted). Only the HTTP API is used;
// names from the server are set as text.
import { t, addStrings } from "./i18n.js";

addStrings({
  en: { docsIndexing: "indexing…", docsFailed: "could not be indexed", docsRemove: (n) => `Remove ${n} from this chat`,
        docsLabel: "Documents in this chat" },
  ko: { docsIndexing: "색인 중…", docsFailed: "색인하지 못했습니다", docsRemove: (n) => `이 채팅에서 ${n} 빼기`,
        docsLabel: "이 채팅의 문서" },
});

let ctx = null;
const state = { conv: null, store: null, files: [], pages: new Map(), loading: null };
const $ = (id) => document.getElementById(id);

export function initDocs(c) {
  ctx = c;   // {api, h, toast, ensureConv}
  const strip = ctx.h("div", { id: "conv-docs", hidden: true, role: "list", "aria-label": t("docsLabel") });
  const att = $("attachments");
  att.parentNode.insertBefore(strip, att);
}

function render() {
  const strip = $("conv-docs");
  if (!strip) return;
  strip.textContent = "";
  strip.hidden = state.files.length === 0;
  strip.dataset.count = String(state.files.length);
  for (const f of state.files) {
    const pages = state.pages.get(f.id);
    const note = f.status === "in_progress" ? " · " + t("docsIndexing") : f.status === "failed" ? " · " + t("docsFailed") :
      pages ? " · " + t("pages", pages) : "";
    strip.append(ctx.h("span.conv-doc", { role: "listitem", dataset: { fileId: f.id, status: f.status, name: f.filename } },
      ctx.h("span.chip", { text: f.filename + note, title: f.last_error ? f.last_error.message : f.filename }),
      ctx.h("button.remove.icon", { type: "button", "aria-label": t("docsRemove", f.filename), onclick: () => remove(f) }, "×")));
  }
}

async function load(convId) {
  if (!convId) { state.store = null; state.files = []; return; }
  const r = await ctx.api("GET", `/api/conversations/${encodeURIComponent(convId)}/files`);
  if (state.conv !== convId) return;
  state.store = r.vector_store_id || null;
  state.files = r.data || [];
}

// The conversation shown changed (or was redrawn): its documents, read when it changes.
export async function showDocs(convId) {
  if (state.conv === (convId || null)) return;
  state.conv = convId || null;
  state.files = []; state.store = null;
  render();
  state.loading = load(state.conv).catch(() => {});
  await state.loading;
  render();
}

async function remove(f) {
  try {
    await ctx.api("DELETE", `/api/conversations/${encodeURIComponent(state.conv)}/files/${encodeURIComponent(f.id)}`);
    state.files = state.files.filter((x) => x.id !== f.id);
    render();
  } catch (e) { ctx.toast(e.message); }
}

// A document the user attached: read, then attached to the conversation (made now when
// there is none yet). a is its entry in the composer's pending strip while it is read;
// returns true once it is the conversation's (the entry can go), false on an error
// (a.error says why: the entry stays to show it).
export async function attachDocument(f, a) {
  const fd = new FormData();
  fd.append("purpose", "user_data");
  fd.append("file", f, f.name);
  let id = null;
  try {
    const r = await fetch("/v1/files", { method: "POST", credentials: "same-origin", body: fd });
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new Error((j && j.error && j.error.message) || `HTTP ${r.status}`);
    id = j.id;
    const x = await ctx.api("GET", `/v1/files/${encodeURIComponent(id)}/text`);   // the server can read it
    const conv = await ctx.ensureConv();
    const item = await ctx.api("POST", `/api/conversations/${encodeURIComponent(conv.id)}/files`, { file_id: id });
    state.pages.set(id, x.pages || 0);
    if (state.conv !== conv.id) { state.conv = conv.id; state.files = []; }
    state.store = item.vector_store_id;
    state.files = [...state.files.filter((y) => y.id !== id), item];
    render();
    settle(conv.id);
    return true;
  } catch (e) {
    a.error = `${f.name}: ${e.message}`;
    if (id) ctx.api("DELETE", `/v1/files/${encodeURIComponent(id)}`).catch(() => {});
    return false;
  }
}

// Until none of the conversation's documents is being indexed (asked again every
// 0.25..2 s), the chips following; one wait at a time.
let settling = null;
function settle(convId) {
  if (!settling) {
    settling = (async () => {
      for (let i = 0; i < 900 && state.conv === convId && state.files.some((f) => f.status === "in_progress"); i++) {
        await new Promise((r) => setTimeout(r, Math.min(250 * (i + 1), 2000)));
        try { await load(convId); } catch { break; }
        render();
      }
    })().finally(() => { settling = null; });
  }
  return settling;
}

// Before a turn of conversation convId: waits for its documents still being indexed and
// returns the file_search tool for its store, or null when it has no documents.
export async function docsTool(convId) {
  if (state.loading) await state.loading;
  if (!convId || state.conv !== convId || !state.files.length) return null;
  await settle(convId);
  if (!state.store || !state.files.some((f) => f.status === "completed")) return null;
  return { type: "file_search", vector_store_ids: [state.store] };
}
