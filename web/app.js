// The chat page: talks to this server's OpenAI-compatible API, streams replies over
// SSE, renders a safe subset of Markdown, and keeps conversations in localStorage.
"use strict";

const $ = (id) => document.getElementById(id);
const store = {
  load() { try { return JSON.parse(localStorage.getItem("omni.chats") || "[]"); } catch { return []; } },
  save(chats) {
    // Images make conversations large; a full localStorage must not break the chat.
    try { localStorage.setItem("omni.chats", JSON.stringify(chats.slice(0, 100))); }
    catch { try { localStorage.setItem("omni.chats", JSON.stringify(chats.slice(0, 100).map(stripImages))); } catch {} }
  },
  get(k, d) { const v = localStorage.getItem("omni." + k); return v === null ? d : v; },
  set(k, v) { localStorage.setItem("omni." + k, v); },
};

let chats = store.load();
let current = null;       // the conversation shown
let modelId = null;
let controller = null;    // aborts the running stream
let vision = false;       // the server takes images (/v1/models meta.vision)
let pendingImages = [];   // data: URIs attached to the next message

// The page speaks English, or Korean when asked (?lang=ko, remembered) or when the
// browser prefers Korean. Only the few strings below change.
const LANG = (() => {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "ko" || q === "en") { try { localStorage.setItem("omni.lang", q); } catch {} return q; }
  const saved = (() => { try { return localStorage.getItem("omni.lang"); } catch { return null; } })();
  if (saved === "ko" || saved === "en") return saved;
  return (navigator.language || "").toLowerCase().startsWith("ko") ? "ko" : "en";
})();
const STRINGS = {
  en: { thinking: "Thinking…", thought: "Thinking", think: "Let the model think before answering" },
  ko: { thinking: "생각하는 중…", thought: "생각 과정", think: "답하기 전에 모델이 생각하게 하기" },
};
const tr = (k) => STRINGS[LANG][k];
document.documentElement.lang = LANG;

function stripImages(c) {
  return { ...c, messages: c.messages.map((m) => (m.images ? { ...m, images: undefined, content: m.content + " [image]" } : m)) };
}

// ---- Markdown: escape everything first, then add the few tags we produce ourselves ----

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function inline(s) {  // s is already escaped
  const codes = [];
  s = s.replace(/`([^`\n]+)`/g, (_, c) => { codes.push(c); return "\u0000" + (codes.length - 1) + "\u0000"; });
  s = s.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
       .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>")
       .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)"]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => "<code>" + codes[+i] + "</code>");
}

function renderMarkdown(src) {
  const lines = src.split("\n");
  let html = "", para = [], list = null;
  const flushPara = () => { if (para.length) { html += "<p>" + para.map(inline).join("<br>") + "</p>"; para = []; } };
  const flushList = () => { if (list) { html += "<" + list.tag + ">" + list.items.map((i) => "<li>" + inline(i) + "</li>").join("") + "</" + list.tag + ">"; list = null; } };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
    if (fence) {
      flushPara(); flushList();
      const body = [];
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) body.push(lines[i++]);
      // An unterminated fence (still streaming) renders as code so far.
      const lang = fence[1] ? '<span class="lang">' + escapeHtml(fence[1]) + "</span>" : "";
      html += "<pre>" + lang + "<code>" + escapeHtml(body.join("\n")) + "</code></pre>";
      continue;
    }
    const esc = escapeHtml(line);
    const h = esc.match(/^(#{1,3})\s+(.*)$/);
    const ul = esc.match(/^\s*[-*]\s+(.*)$/);
    const ol = esc.match(/^\s*\d+[.)]\s+(.*)$/);
    if (h) { flushPara(); flushList(); html += "<h" + h[1].length + ">" + inline(h[2]) + "</h" + h[1].length + ">"; }
    else if (ul || ol) {
      flushPara();
      const tag = ul ? "ul" : "ol";
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push((ul || ol)[1]);
    } else if (!line.trim()) { flushPara(); flushList(); }
    else { flushList(); para.push(esc); }
  }
  flushPara(); flushList();
  return html;
}

// ---- conversations ----

function newChat() {
  current = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: "New chat", messages: [] };
  renderAll();
  $("input").focus();
}

function saveCurrent() {
  if (!current || !current.messages.length) return;
  chats = chats.filter((c) => c.id !== current.id);
  chats.unshift(current);
  store.save(chats);
  renderList();
}

function renderList() {
  const ul = $("conversations");
  ul.textContent = "";
  for (const c of chats) {
    const li = document.createElement("li");
    li.className = current && c.id === current.id ? "active" : "";
    const t = document.createElement("span");
    t.textContent = c.title;
    const del = document.createElement("button");
    del.className = "del"; del.textContent = "×"; del.title = "Delete";
    del.onclick = (e) => {
      e.stopPropagation();
      chats = chats.filter((x) => x.id !== c.id); store.save(chats);
      if (current && current.id === c.id) newChat(); else renderList();
    };
    li.append(t, del);
    li.onclick = () => { if (!controller) { current = c; renderAll(); } };
    ul.append(li);
  }
}

// A thinking model's thoughts: a "Thinking" block, folded away unless the reader opens it.
// The text is set with textContent, never as HTML: nothing the model writes can run.
function thinkingEl(msgEl, streaming) {
  let d = msgEl.querySelector("details.thinking");
  if (!d) {
    d = document.createElement("details");
    d.className = "thinking";
    const s = document.createElement("summary");
    const t = document.createElement("div");
    t.className = "thinking-text";
    d.append(s, t);
    msgEl.insertBefore(d, msgEl.querySelector(".content"));
  }
  d.querySelector("summary").textContent = streaming ? tr("thinking") : tr("thought");
  return d;
}

function addMessageEl(role, text, images, reasoning) {
  $("empty").hidden = true;
  const div = document.createElement("div");
  div.className = "msg " + role;
  const r = document.createElement("div");
  r.className = "role";
  r.textContent = role === "user" ? "You" : role === "assistant" ? (modelId || "assistant") : "Error";
  const c = document.createElement("div");
  c.className = "content";
  if (role === "assistant") c.innerHTML = renderMarkdown(text); else c.textContent = text;
  div.append(r);
  for (const src of images || []) {
    const img = document.createElement("img");
    img.className = "thumb"; img.src = src; img.alt = "attached image";
    div.append(img);
  }
  div.append(c);
  if (reasoning) thinkingEl(div, false).querySelector(".thinking-text").textContent = reasoning;
  $("messages").append(div);
  $("messages").scrollTop = $("messages").scrollHeight;
  return div;
}

function renderAll() {
  const box = $("messages");
  box.querySelectorAll(".msg").forEach((m) => m.remove());
  $("empty").hidden = current.messages.length > 0;
  for (const m of current.messages) addMessageEl(m.role, m.content, m.images, m.reasoning);
  renderList();
}

// ---- talking to the server ----

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function loadModel() {
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    const j = await r.json();
    if (!r.ok) throw new Error(j.error ? j.error.message : r.statusText);
    modelId = j.data[0].id;
    vision = !!(j.data[0].meta && j.data[0].meta.vision);
    $("attach").hidden = !vision;
    if (!vision) { pendingImages = []; renderPending(); }
    $("model-name").textContent = modelId;
    $("model-name").classList.remove("down");
  } catch (e) {
    $("model-name").textContent = "server unavailable: " + e.message;
    $("model-name").classList.add("down");
    setTimeout(loadModel, 3000);
  }
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("status").textContent = busy ? "generating…" : "";
}

// ---- images: attach button, paste, drag and drop ----

function renderPending() {
  const box = $("attachments");
  box.textContent = "";
  box.hidden = pendingImages.length === 0;
  pendingImages.forEach((src, i) => {
    const w = document.createElement("span");
    w.className = "pending";
    const img = document.createElement("img");
    img.className = "thumb"; img.src = src; img.alt = "image to send";
    const x = document.createElement("button");
    x.type = "button"; x.textContent = "×"; x.title = "Remove";
    x.onclick = () => { pendingImages.splice(i, 1); renderPending(); };
    w.append(img, x);
    box.append(w);
  });
}

function addImageFiles(files) {
  if (!vision) return;
  for (const f of files) {
    if (!f.type.startsWith("image/")) continue;
    const rd = new FileReader();
    rd.onload = () => { pendingImages.push(rd.result); renderPending(); };
    rd.readAsDataURL(f);
  }
}

// An image message in the OpenAI format: images first (where LLaVA-style models expect them), then the text.
function apiMessage(m) {
  if (!m.images || !m.images.length) return { role: m.role, content: m.content };
  const parts = m.images.map((url) => ({ type: "image_url", image_url: { url } }));
  if (m.content) parts.push({ type: "text", text: m.content });
  return { role: m.role, content: parts };
}

async function send(text) {
  if (!current) newChat();
  const images = pendingImages;
  pendingImages = [];
  renderPending();
  const um = { role: "user", content: text };
  if (images.length) um.images = images;
  current.messages.push(um);
  if (current.messages.length === 1) current.title = text ? text.slice(0, 40) : "Image";
  addMessageEl("user", text, images);
  saveCurrent();

  const sys = $("system-prompt").value.trim();
  const messages = (sys ? [{ role: "system", content: sys }] : []).concat(current.messages.map(apiMessage));
  const el = addMessageEl("assistant", "");
  el.classList.add("streaming");
  const content = el.querySelector(".content");
  let reply = "", reasoning = "", pending = false;
  // Re-render at most once per frame: a long reply arrives in thousands of pieces.
  const scheduleRender = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (reasoning) thinkingEl(el, !reply).querySelector(".thinking-text").textContent = reasoning;
      content.innerHTML = renderMarkdown(reply);
      $("messages").scrollTop = $("messages").scrollHeight;
    });
  };
  controller = new AbortController();
  setBusy(true);
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), signal: controller.signal,
      body: JSON.stringify({ model: modelId || undefined, messages, stream: true,
                             temperature: parseFloat($("temperature").value),
                             ...($("think").checked ? {} : { chat_template_kwargs: { enable_thinking: false },
                                                            reasoning_effort: "low" }) }),
    });
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const j = await r.json(); if (j.error) msg = j.error.message; } catch {}
      throw new Error(msg);
    }
    // The server left the oldest turns out to fit the model's context: say so, in both languages.
    const cut = parseInt(r.headers.get("X-Omni-Truncated") || "0", 10);
    if (cut > 0) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = `${cut} earlier message${cut > 1 ? "s were" : " was"} left out to fit the model's context · ` +
        `모델의 컨텍스트에 맞추려고 앞의 메시지 ${cut}개를 뺐습니다`;
      el.insertBefore(note, content);
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message);
          const d = j.choices && j.choices[0] && j.choices[0].delta;
          if (d && d.reasoning_content) {
            reasoning += d.reasoning_content;
            scheduleRender();
          }
          if (d && d.content) {
            reply += d.content;
            scheduleRender();
          }
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") {
      el.classList.add("error");
      content.textContent = (reply ? reply + "\n\n" : "") + "Error: " + e.message;
    }
  } finally {
    if (!el.classList.contains("error")) content.innerHTML = renderMarkdown(reply);
    if (reasoning) thinkingEl(el, false).querySelector(".thinking-text").textContent = reasoning;
    el.classList.remove("streaming");
    if (reply || reasoning) {
      // the thoughts are kept for the page only; the API gets the answer back (apiMessage)
      current.messages.push(reasoning ? { role: "assistant", content: reply, reasoning } : { role: "assistant", content: reply });
      saveCurrent();
    }
    controller = null;
    setBusy(false);
    $("input").focus();
  }
}

// ---- wiring ----

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if ((!text && !pendingImages.length) || controller) return;
  $("input").value = "";
  autosize();
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  // Korean/Japanese/Chinese IMEs use Enter to commit the composed syllable: that
  // Enter must not send (isComposing, or keyCode 229 on some browsers).
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
function autosize() { const t = $("input"); t.style.height = "auto"; t.style.height = Math.min(t.scrollHeight, 200) + "px"; }
$("input").addEventListener("input", autosize);
$("attach").addEventListener("click", () => $("file").click());
$("file").addEventListener("change", () => { addImageFiles($("file").files); $("file").value = ""; });
$("input").addEventListener("paste", (e) => {
  const files = [...(e.clipboardData ? e.clipboardData.files : [])].filter((f) => f.type.startsWith("image/"));
  if (files.length && vision) { e.preventDefault(); addImageFiles(files); }
});
$("main").addEventListener("dragover", (e) => {
  if (!vision || !e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
  e.preventDefault();
  $("main").classList.add("dropping");
});
$("main").addEventListener("dragleave", (e) => { if (e.target === $("main")) $("main").classList.remove("dropping"); });
$("main").addEventListener("drop", (e) => {
  $("main").classList.remove("dropping");
  if (!vision || !e.dataTransfer || !e.dataTransfer.files.length) return;
  e.preventDefault();
  addImageFiles(e.dataTransfer.files);
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("new-chat").addEventListener("click", () => { if (!controller) newChat(); });
for (const k of ["system-prompt", "api-key", "temperature"]) {
  $(k).value = store.get(k, $(k).value);
  $(k).addEventListener("change", () => { store.set(k, $(k).value); if (k === "api-key") loadModel(); });
}
$("think-label").textContent = tr("think");
$("think").checked = store.get("think", "1") === "1";
$("think").addEventListener("change", () => store.set("think", $("think").checked ? "1" : "0"));
$("temperature-value").textContent = $("temperature").value;
$("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });

current = chats[0] || null;
if (current) renderAll(); else newChat();
loadModel();
